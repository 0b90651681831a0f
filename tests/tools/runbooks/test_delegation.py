"""What an automated caller may do: ask a human, or apply what the policy alone allows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.tools.runbooks.support import CAMPAIGN, JOB, T0, make_context, seed_node, seed_run
from tools.runbooks import NotAllowedError, get_proposal, list_audit, propose
from tools.runbooks.delegation import apply_if_policy_allows, request_approval
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.runbooks.loader import DEFAULT_DIR, load_playbook_file
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.proposals import Proposal
from tools.runbooks.schema import Playbook
from tools.store import Store, to_micros

NOW = to_micros(T0)


def _registry(executor: SimulatorExecutor) -> ExecutorRegistry:
    registry = ExecutorRegistry([executor])
    registry.add(executor, as_name="http")
    registry.add(executor, as_name="sql")
    return registry


def _books(*names: str) -> list[Playbook]:
    books = [load_playbook_file(DEFAULT_DIR / f"{n}.yaml") for n in names]
    assert all(isinstance(b, Playbook) for b in books)
    return books  # type: ignore[return-value]


def _queued(store: Store, executor: SimulatorExecutor) -> dict[str, Proposal]:
    seed_node(store, JOB)
    seed_node(store, CAMPAIGN, kind="campaign", revenue_per_day=50_000.0, owner="growth")
    job = seed_node(store, "job:airflow:other_job")
    seed_run(store, job, "COMPLETE", T0 - timedelta(hours=1), "r-1")
    proposals = propose(
        store,
        make_context(),
        playbooks=_books("job_failure_retry", "notify_owners"),
        executors=_registry(executor),
        auto_apply=False,
        now_us=NOW,
    )
    campaign = propose(
        store,
        make_context(
            incident_id=8,
            root_cause=CAMPAIGN,
            root_cause_kind="consent_mismatch",
            at_risk=[{"node": CAMPAIGN, "kind": "campaign", "revenue_per_day": 50_000}],
            revenue_at_risk_per_day=50_000.0,
            campaigns_affected=1,
        ),
        playbooks=_books("campaign_pause"),
        executors=_registry(executor),
        auto_apply=False,
        now_us=NOW,
    )
    return {p.action_type: p for p in [*proposals, *campaign]}


def test_low_risk_applies_through_the_policy(store: Store) -> None:
    executor = SimulatorExecutor(InMemorySimulator())
    queued = _queued(store, executor)
    retry = queued["retry_job"]
    assert (retry.tier, retry.auto_apply_allowed) == ("low", True)

    result = apply_if_policy_allows(
        store, retry.id, _registry(executor), requester="mcp:ide", now_us=NOW
    )
    assert result.applied and result.status == "applied" and result.decision.tier == "low"
    assert [e.action for e in executor.journal if e.call == "apply"] == ["retry_job"]
    after = get_proposal(store, retry.id)
    assert after.decided_by == "policy:auto"
    events = [e.event for e in reversed(list_audit(store, proposal_id=retry.id))]
    assert events == ["proposed", "policy_apply_requested", "approved", "apply_started",
                      "applied"]
    with pytest.raises(NotAllowedError, match="is applied: only a proposed action"):
        apply_if_policy_allows(store, retry.id, _registry(executor), requester="mcp:ide")


def test_high_impact_is_refused_and_only_queued(store: Store) -> None:
    executor = SimulatorExecutor(InMemorySimulator())
    pause = _queued(store, executor)["pause_campaign"]
    assert pause.tier == "high" and not pause.auto_apply_allowed

    with pytest.raises(NotAllowedError, match=r"pause_campaign is high risk .*\[data-lead\]"):
        apply_if_policy_allows(store, pause.id, _registry(executor), requester="mcp:ide")
    assert [e for e in executor.journal if e.call == "apply"] == []
    assert get_proposal(store, pause.id).status == "proposed"

    asked = request_approval(store, pause.id, "mcp:ide", "campaign emails unconsented people")
    assert asked.required_roles == ["data-lead"] and asked.status == "proposed"
    assert "queued for a human" in asked.message
    entry = list_audit(store, proposal_id=pause.id)[0]
    assert (entry.event, entry.actor, entry.rationale) == (
        "approval_requested", "mcp:ide", "campaign emails unconsented people"
    )
    assert get_proposal(store, pause.id).status == "proposed"


def test_the_current_policy_overrides_a_stale_low_tier(store: Store) -> None:
    executor = SimulatorExecutor(InMemorySimulator())
    retry = _queued(store, executor)["retry_job"]
    stricter = PolicyConfig(auto_min_confidence=0.95)  # the root cause is 0.9 sure
    with pytest.raises(NotAllowedError, match="retry_job is medium risk"):
        apply_if_policy_allows(
            store, retry.id, _registry(executor), requester="mcp:ide", policy=stricter
        )
    assert [e for e in executor.journal if e.call == "apply"] == []
    assert list_audit(store, proposal_id=retry.id)[0].event == "policy_apply_refused"
