"""Risk tiers from a table of cases: type, blast radius, confidence, window, switch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.tools.runbooks.support import T0, make_context
from tools.runbooks.policy import ACTION_RULES, PolicyConfig, decide
from tools.runbooks.schema import ACTION_TYPES

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str, bool]] = [
    # (case, action, context overrides, params, tier, auto)
    ("retry, small, sure", "retry_job", {}, {}, "low", True),
    ("notify ignores blast", "notify_owner", {"revenue_at_risk_per_day": 1e6}, {}, "low", True),
    (
        "notify without a cause",
        "notify_owner",
        {"root_cause": None, "root_cause_kind": None},
        {},
        "low",
        True,
    ),
    ("revenue medium", "retry_job", {"revenue_at_risk_per_day": 5_000}, {}, "medium", False),
    ("revenue high", "rerun_sync", {"revenue_at_risk_per_day": 30_000}, {}, "high", False),
    ("one campaign", "retry_job", {"campaigns_affected": 1}, {}, "medium", False),
    ("three campaigns", "retry_job", {"campaigns_affected": 3}, {}, "high", False),
    ("unsure", "retry_job", {"confidence": 0.7}, {}, "medium", False),
    ("guessing", "retry_job", {"confidence": 0.3}, {}, "high", False),
    (
        "no root cause",
        "retry_job",
        {"root_cause": None, "root_cause_kind": None},
        {},
        "high",
        False,
    ),
    ("credential", "refresh_credential", {}, {}, "high", False),
    ("pause", "pause_campaign", {}, {}, "high", False),
    (
        "backfill short",
        "backfill_partition",
        {},
        {"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
        "medium",
        False,
    ),
    (
        "backfill long",
        "backfill_partition",
        {},
        {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        "high",
        False,
    ),
    (
        "backfill long window",
        "backfill_partition",
        {"window": {"start": T0 - timedelta(days=9), "end": T0}},
        {},
        "high",
        False,
    ),
    ("snapshot fallback", "fallback_audience_snapshot", {}, {}, "medium", False),
    ("rehydrate", "rehydrate_table_from_snapshot", {}, {}, "high", False),
    ("unknown type fails closed", "drop_everything", {}, {}, "high", False),
]


@pytest.mark.parametrize(
    ("action", "overrides", "params", "tier", "auto"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_policy_table(
    action: str, overrides: dict[str, Any], params: dict[str, Any], tier: str, auto: bool
) -> None:
    decision = decide(action, params, make_context(**overrides), PolicyConfig())
    assert (decision.tier, decision.auto_apply_allowed) == (tier, auto), decision.reasons
    assert decision.reasons  # every decision explains itself
    assert decision.required_roles == PolicyConfig().tier_roles[tier]


def test_reasons_name_the_rule_that_fired() -> None:
    decision = decide("backfill_partition", {"days": 10}, make_context(campaigns_affected=1))
    text = " | ".join(decision.reasons)
    assert "window of 10.0 days exceeds 7" in text
    assert "1 campaign(s) affected" in text
    assert "never automatic" in text
    credential = decide("refresh_credential", {}, make_context())
    assert "never automatic: it touches credentials" in credential.reasons


def test_global_switch_and_env_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    off = decide("retry_job", {}, make_context(), PolicyConfig(auto_apply=False))
    assert (off.tier, off.auto_apply_allowed) == ("low", False)
    assert any("switched off" in r for r in off.reasons)
    monkeypatch.setenv("FLOWSLEUTH_POLICY_MEDIUM_REVENUE_PER_DAY", "10")
    monkeypatch.setenv("FLOWSLEUTH_POLICY_TIER_ROLES", '{"medium": ["sre"]}')
    decision = decide("retry_job", {}, make_context(revenue_at_risk_per_day=50))
    assert (decision.tier, decision.required_roles) == ("medium", ["sre"])


def test_every_action_type_has_a_rule() -> None:
    assert set(ACTION_RULES) == set(ACTION_TYPES)
