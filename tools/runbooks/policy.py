"""Risk tiers, decided in code from tables: never by a prompt, never by a playbook.

An action's tier starts from its type (:data:`ACTION_RULES`) and is only ever raised, by
blast radius (revenue at risk per day, campaigns affected), by a weak root-cause
confidence and by a long time window. Some actions are never automatic whatever their
tier (credentials, pausing campaigns, long backfills). Only ``low`` may auto-apply, and
only while the global ``auto_apply`` switch is on.

Thresholds come from ``FLOWSLEUTH_POLICY_*`` (pydantic-settings); the defaults below are
the documented starting point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.runbooks.context import RemediationContext
from tools.timeutil import parse_timestamp

Tier = Literal["low", "medium", "high"]
TIERS: tuple[Tier, ...] = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class ActionRule:
    base: Tier
    # Informational actions (a notification) change nothing, so blast radius and
    # confidence do not make them riskier.
    blast_sensitive: bool = True
    never_auto: str | None = None  # why it always needs a human, when it does


ACTION_RULES: dict[str, ActionRule] = {
    "notify_owner": ActionRule("low", blast_sensitive=False),
    "retry_job": ActionRule("low"),
    "rerun_sync": ActionRule("low"),
    "quarantine_batch": ActionRule("medium"),
    "backfill_partition": ActionRule("medium"),
    "fallback_audience_snapshot": ActionRule("medium"),
    "rehydrate_table_from_snapshot": ActionRule("high"),
    "refresh_credential": ActionRule("high", never_auto="it touches credentials"),
    "pause_campaign": ActionRule("high", never_auto="it pauses a live campaign"),
}

# Actions whose window is a data range they rewrite; long ones are never automatic.
WINDOWED_ACTIONS = frozenset({"backfill_partition", "quarantine_batch"})


class PolicyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_POLICY_", extra="ignore")

    auto_apply: bool = Field(True, description="Global switch: low-tier actions may auto-apply")
    medium_revenue_per_day: float = Field(
        1_000.0, description="Revenue at risk per day above which an action is at least medium"
    )
    high_revenue_per_day: float = Field(
        25_000.0, description="Revenue at risk per day above which an action is high"
    )
    medium_campaigns: int = Field(1, description="Campaigns affected from which: medium")
    high_campaigns: int = Field(3, description="Campaigns affected from which: high")
    auto_min_confidence: float = Field(
        0.8, description="Root-cause confidence under which nothing is automatic (>= medium)"
    )
    high_below_confidence: float = Field(
        0.5, description="Root-cause confidence under which an action is high"
    )
    max_window_days: float = Field(
        7.0, description="Windowed actions (backfills) longer than this are high, never auto"
    )
    tier_roles: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "low": ["operator", "data-engineer", "data-lead"],
            "medium": ["data-engineer", "data-lead"],
            "high": ["data-lead"],
        },
        description="Roles any one of which may approve an action of the tier",
    )


class TierDecision(BaseModel):
    tier: Tier
    auto_apply_allowed: bool
    reasons: list[str]
    required_roles: list[str]


def _raise(current: Tier, to: Tier) -> Tier:
    return to if TIERS.index(to) > TIERS.index(current) else current


def window_days(params: dict[str, Any], context: RemediationContext) -> float | None:
    """Days an action's data range spans: its own start/end params, else the incident's."""
    start, end = params.get("start"), params.get("end")
    if isinstance(start, str) and isinstance(end, str):
        try:
            return (_time(end) - _time(start)).total_seconds() / 86_400
        except ValueError:
            return None
    if "days" in params:
        try:
            return float(params["days"])
        except (TypeError, ValueError):
            return None
    return context.window.days if context.window else None


def _time(text: str) -> datetime:
    return parse_timestamp(text)


def decide(
    action_type: str,
    params: dict[str, Any],
    context: RemediationContext,
    config: PolicyConfig | None = None,
) -> TierDecision:
    """The tier of one planned action, whether it may auto-apply, and why."""
    cfg = config or PolicyConfig()
    rule = ACTION_RULES.get(action_type)
    if rule is None:
        # Unknown actions cannot be planned, but a policy that fails open is no policy.
        return TierDecision(
            tier="high",
            auto_apply_allowed=False,
            reasons=[f"unknown action type {action_type!r}: high, never automatic"],
            required_roles=list(cfg.tier_roles.get("high", [])),
        )
    tier: Tier = rule.base
    reasons = [f"{action_type} is {rule.base} risk by type"]
    never_auto: list[str] = []
    if rule.never_auto:
        never_auto.append(f"never automatic: {rule.never_auto}")
    if rule.blast_sensitive:
        tier = _blast_radius(tier, context, cfg, reasons)
        tier = _confidence(tier, context, cfg, reasons, never_auto)
    if action_type in WINDOWED_ACTIONS:
        days = window_days(params, context)
        if days is not None and days > cfg.max_window_days:
            tier = _raise(tier, "high")
            reasons.append(f"window of {days:.1f} days exceeds {cfg.max_window_days:g}: high")
            never_auto.append(f"never automatic: window over {cfg.max_window_days:g} days")
    reasons.extend(never_auto)
    auto = tier == "low" and not never_auto and cfg.auto_apply
    if tier == "low" and not never_auto and not cfg.auto_apply:
        reasons.append("auto-apply is switched off (FLOWSLEUTH_POLICY_AUTO_APPLY)")
    elif auto:
        reasons.append("low risk: may auto-apply")
    else:
        reasons.append("needs human approval")
    return TierDecision(
        tier=tier,
        auto_apply_allowed=auto,
        reasons=reasons,
        required_roles=list(cfg.tier_roles.get(tier, [])),
    )


def _blast_radius(
    tier: Tier, context: RemediationContext, cfg: PolicyConfig, reasons: list[str]
) -> Tier:
    revenue = context.revenue_at_risk_per_day
    if revenue > cfg.high_revenue_per_day:
        tier = _raise(tier, "high")
        reasons.append(f"revenue at risk {revenue:,.0f}/day > {cfg.high_revenue_per_day:,.0f}")
    elif revenue > cfg.medium_revenue_per_day:
        tier = _raise(tier, "medium")
        reasons.append(f"revenue at risk {revenue:,.0f}/day > {cfg.medium_revenue_per_day:,.0f}")
    campaigns = context.campaigns_affected
    if campaigns >= cfg.high_campaigns:
        tier = _raise(tier, "high")
        reasons.append(f"{campaigns} campaigns affected >= {cfg.high_campaigns}")
    elif campaigns >= cfg.medium_campaigns:
        tier = _raise(tier, "medium")
        reasons.append(f"{campaigns} campaign(s) affected >= {cfg.medium_campaigns}")
    return tier


def _confidence(
    tier: Tier,
    context: RemediationContext,
    cfg: PolicyConfig,
    reasons: list[str],
    never_auto: list[str],
) -> Tier:
    confidence = context.confidence
    if context.root_cause is None:
        never_auto.append("never automatic: no root cause")
        return _raise(tier, "high")
    if confidence < cfg.high_below_confidence:
        reasons.append(f"root-cause confidence {confidence:.2f} < {cfg.high_below_confidence}")
        return _raise(tier, "high")
    if confidence < cfg.auto_min_confidence:
        reasons.append(f"root-cause confidence {confidence:.2f} < {cfg.auto_min_confidence}")
        return _raise(tier, "medium")
    return tier
