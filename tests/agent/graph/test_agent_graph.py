"""The investigation graph on a simulated incident (an expired vendor token): evidence,
explanation, proposals, the pause for approval, and resume on approve / reject / expire,
applying exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import (
    InvestigationFinishedError,
    NoInvestigationError,
    NotAwaitedError,
    UndecidedError,
    apply_decision,
    expire_and_resume,
    resume_incident,
)
from agent.graph import AgentDeps, AgentResult, investigate_incident, open_checkpointer
from agent.graph.build import build_graph
from agent.graph.run import result_of, thread_config
from agent.llm.grounding import check, facts_from_pack
from tests.helpers.simstore import AT_US, Template, build_template, clone
from tools.runbooks import ApprovalSettings, approve, get_proposal, reject
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.store import Store, open_store

HOUR_US = 3_600_000_000
APPROVERS = ApprovalSettings(users={"alice": ["data-lead"]})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


@pytest.fixture
def sim_store(template: Template, tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{clone(template, tmp_path)}")
    yield store
    store.dispose()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> InMemorySimulator:
    # refresh_credential checks that the operator stored the new credential.
    monkeypatch.setenv("FLOWSLEUTH_SECRET_DESTINATION_API_KEY", "new-key")
    return InMemorySimulator()


def registry(sim: InMemorySimulator) -> ExecutorRegistry:
    executor = SimulatorExecutor(sim)
    out = ExecutorRegistry()
    for name in ("simulator", "http", "sql"):
        out.add(executor, as_name=name)
    return out


def run(store: Store, sim: InMemorySimulator, incident: int) -> AgentResult:
    deps = AgentDeps(store=store, executors=registry(sim), now_us=AT_US)
    with open_checkpointer(store) as saver:
        return investigate_incident(deps, incident, AT_US, saver)


def deps(store: Store, sim: InMemorySimulator, now_us: int = AT_US) -> AgentDeps:
    return AgentDeps(store=store, executors=registry(sim), now_us=now_us)


def by_action(result: AgentResult) -> dict[str, dict[str, Any]]:
    return {str(p["action"]): p for p in result.proposals}


def applied_count(sim: InMemorySimulator, action: str) -> int:
    return sum(int(state.get(action, 0)) for state in sim.state.values())


def test_investigation_explains_proposes_and_pauses_for_approval(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    result = run(sim_store, stack, incident)

    assert result.status == "awaiting_approval"
    assert set(result.evidence) == {"runs", "metrics", "schema", "lineage", "logs"}
    assert result.evidence["runs"] >= 1 and not result.evidence_errors
    top = result.hypotheses[0]
    assert (top["kind"], top["status"]) == ("sync_failure", "leading")
    assert top["node"].endswith("sync.cart_abandoners_to_braze")
    assert all(h["status"] in ("rejected", "possible") for h in result.hypotheses[1:])

    explanation = result.explanation
    assert explanation is not None and explanation["source"] == "narrator"
    assert "What we suspect" in explanation["text"] and "401" in explanation["text"]
    assert explanation["citations"]
    assert result.llm["calls"] == 0

    actions = by_action(result)
    assert actions["notify_owner"]["status"] == "applied"  # low risk: policy applied it
    assert actions["refresh_credential"]["tier"] == "high"
    assert actions["refresh_credential"]["status"] == "proposed"
    assert actions["rerun_sync"]["status"] == "proposed"
    assert actions["refresh_credential"]["dry_run"] is not None
    assert sorted(result.awaiting) == sorted(
        [actions["refresh_credential"]["id"], actions["rerun_sync"]["id"]]
    )
    assert result.interrupt is not None and result.interrupt["type"] == "approval"
    assert applied_count(stack, "refresh_credential") == 0


def test_narrated_explanation_is_grounded_in_its_own_evidence(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    from agent.graph.analysis import evidence_pack

    [incident] = template.incident_ids
    run(sim_store, stack, incident)
    with open_checkpointer(sim_store) as saver:
        values = build_graph(saver).get_state(thread_config(incident)).values
    pack = evidence_pack(values)
    verdict = check(values["explanation"]["text"], facts_from_pack(pack))
    assert verdict.ok, verdict.problems


def test_approve_resumes_applies_once_then_reject_finishes(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    first = run(sim_store, stack, incident)
    refresh = int(by_action(first)["refresh_credential"]["id"])
    rerun = int(by_action(first)["rerun_sync"]["id"])

    decision = approve(sim_store, refresh, "alice", settings=APPROVERS, now_us=AT_US)
    after = resume_incident(sim_store, incident, decision, deps=deps(sim_store, stack))
    assert after.status == "awaiting_approval" and after.awaiting == [rerun]
    assert get_proposal(sim_store, refresh).status == "applied"
    assert applied_count(stack, "refresh_credential") == 1
    assert [a["proposal_id"] for a in after.applied] == [refresh]

    with pytest.raises(NotAwaitedError, match="not waiting for proposal"):
        resume_incident(sim_store, incident, decision, deps=deps(sim_store, stack))

    no = reject(
        sim_store, rerun, "alice", "a re-sync cannot fix a token", settings=APPROVERS, now_us=AT_US
    )
    done = resume_incident(sim_store, incident, no, deps=deps(sim_store, stack))
    assert done.status == "complete" and done.awaiting == []
    assert get_proposal(sim_store, rerun).status == "rejected"
    assert [d["outcome"] for d in done.decisions] == ["approved", "rejected"]
    assert done.report["applied"] == [refresh]

    with pytest.raises(InvestigationFinishedError, match="refused"):
        resume_incident(sim_store, incident, decision, deps=deps(sim_store, stack))
    assert applied_count(stack, "refresh_credential") == 1
    assert applied_count(stack, "rerun_sync") == 0


def test_resume_needs_a_recorded_decision_and_an_investigation(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    with pytest.raises(NoInvestigationError):
        resume_incident(sim_store, incident, {"proposal_id": 1}, deps=deps(sim_store, stack))
    first = run(sim_store, stack, incident)
    refresh = by_action(first)["refresh_credential"]["id"]
    forged = {"proposal_id": refresh, "outcome": "approved", "decided_by": "mallory"}
    with pytest.raises(UndecidedError, match="no recorded decision"):
        resume_incident(sim_store, incident, forged, deps=deps(sim_store, stack))
    assert get_proposal(sim_store, int(refresh)).status == "proposed"
    assert applied_count(stack, "refresh_credential") == 0


def test_approve_only_records_the_decision_without_applying(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    first = run(sim_store, stack, incident)
    refresh = int(by_action(first)["refresh_credential"]["id"])
    decision = approve(sim_store, refresh, "alice", settings=APPROVERS, now_us=AT_US)
    result = apply_decision(sim_store, decision, registry(stack), apply_now=False, now_us=AT_US)
    assert result is None
    assert get_proposal(sim_store, refresh).status == "approved"
    assert applied_count(stack, "refresh_credential") == 0


def test_expired_proposals_move_the_investigation_on(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    run(sim_store, stack, incident)
    later = AT_US + 25 * HOUR_US
    expired = expire_and_resume(sim_store, registry(stack), now_us=later)
    assert len(expired) == 2
    with open_checkpointer(sim_store) as saver:
        result = result_of(build_graph(saver), thread_config(incident), incident)
    assert result.status == "complete"
    assert sorted(d["outcome"] for d in result.decisions) == ["expired", "expired"]
    assert applied_count(stack, "refresh_credential") == 0
    assert applied_count(stack, "rerun_sync") == 0


def test_decision_taken_without_resume_is_caught_up(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    """A process that recorded the approval and died before resuming loses nothing: the
    next investigate picks the decision up from the store."""
    [incident] = template.incident_ids
    first = run(sim_store, stack, incident)
    refresh = int(by_action(first)["refresh_credential"]["id"])
    approve(sim_store, refresh, "alice", settings=APPROVERS, now_us=AT_US)
    again = run(sim_store, stack, incident)
    assert get_proposal(sim_store, refresh).status == "applied"
    assert again.decisions[0]["source"] == "store"
    assert again.awaiting == [int(by_action(first)["rerun_sync"]["id"])]
    assert applied_count(stack, "refresh_credential") == 1


def test_concurrent_resumes_apply_once(
    sim_store: Store, stack: InMemorySimulator, template: Template
) -> None:
    [incident] = template.incident_ids
    first = run(sim_store, stack, incident)
    refresh = int(by_action(first)["refresh_credential"]["id"])
    decision = approve(sim_store, refresh, "alice", settings=APPROVERS, now_us=AT_US)
    errors: list[Exception] = []

    def go() -> None:
        try:
            resume_incident(sim_store, incident, decision, deps=deps(sim_store, stack))
        except NotAwaitedError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Resumes of one thread are serialised: one moves it on, the rest find it no longer
    # waiting for that proposal.
    assert len(errors) == 3
    assert applied_count(stack, "refresh_credential") == 1
    assert get_proposal(sim_store, refresh).status == "applied"
