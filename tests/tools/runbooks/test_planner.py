"""Matching playbooks to incidents and filling their params."""

from __future__ import annotations

from tests.tools.runbooks.support import AUDIENCE, CAMPAIGN, JOB, SOURCE, make_context, playbook
from tools.runbooks.loader import DEFAULT_DIR, load_playbooks
from tools.runbooks.planner import plan, why_not

RETRY = """
id: retry
title: Retry
trigger:
  fault_kinds: [job_failure]
  nodes: [{type: job, namespace: "air*", name: "load_*"}]
  min_confidence: 0.5
diagnosis:
  - {name: runs, query: runs, params: {node: "{{ root_cause.node }}"}}
actions:
  - id: retry
    type: retry_job
    executor: http
    params: {job: "{{ root_cause.node }}"}
    http:
      target: orchestrator
      path: "/jobs/{{ root_cause.namespace }}/{{ root_cause.name }}"
      json: {job: "{{ params.job }}", owners: "{{ owners }}"}
    verification: {signal: run_succeeded, params: {job: "{{ params.job }}"}}
    rollback: {mode: none, reason: idempotent}
"""


class FakeDiagnosis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def run(self, query: str, params: dict[str, object]) -> object:
        self.calls.append((query, params))
        return [{"state": "FAIL"}]


def test_selectors_kinds_and_confidence_decide_matching() -> None:
    book = playbook(RETRY)
    assert why_not(book, make_context()) is None
    assert "not in" in (why_not(book, make_context(root_cause_kind="late_data")) or "")
    assert "confidence" in (why_not(book, make_context(confidence=0.4)) or "")
    other = make_context(root_cause="job:dagster:load_orders")
    assert "matches no node selector" in (why_not(book, other) or "")
    assert "needs one" in (why_not(book, make_context(root_cause=None, root_cause_kind=None)) or "")


def test_plan_renders_params_runs_diagnosis_and_decides_tier() -> None:
    runner = FakeDiagnosis()
    result = plan(make_context(), [playbook(RETRY)], diagnosis=runner)
    assert runner.calls == [("runs", {"node": JOB})]
    [action] = result.actions
    assert action.params == {"job": JOB}
    assert action.http is not None and action.http.path == "/jobs/airflow/load_orders"
    assert action.http.json_body == {"job": JOB, "owners": ["data-platform"]}
    assert action.evidence == {"runs": [{"state": "FAIL"}]}
    assert (action.decision.tier, action.decision.auto_apply_allowed) == ("low", True)


def test_without_root_cause_only_notifications_are_planned() -> None:
    books = load_playbooks(DEFAULT_DIR).playbooks
    ctx = make_context(root_cause=None, root_cause_kind=None, confidence=0.0)
    result = plan(ctx, books)
    assert [a.type for a in result.actions] == ["notify_owner"]
    assert result.matched == ["notify_owners"]


def test_shipped_playbooks_plan_for_a_schema_drift() -> None:
    books = load_playbooks(DEFAULT_DIR).playbooks
    ctx = make_context(
        root_cause=SOURCE,
        root_cause_kind="schema_drift",
        at_risk=[{"node": AUDIENCE, "kind": "audience"}, {"node": CAMPAIGN, "kind": "campaign"}],
        campaigns_affected=1,
    )
    result = plan(ctx, books)
    by_type = {a.type: a for a in result.actions}
    assert set(by_type) == {"notify_owner", "fallback_audience_snapshot"}
    fallback = by_type["fallback_audience_snapshot"]
    assert fallback.params["view"] == "audience_cart"
    assert fallback.params["snapshot_prefix"] == "audience_cart__snapshot_"
    assert fallback.decision.tier == "medium"


def test_missing_context_skips_the_action_with_the_reason() -> None:
    books = load_playbooks(DEFAULT_DIR).playbooks
    ctx = make_context(root_cause=SOURCE, root_cause_kind="schema_drift", at_risk=[])
    result = plan(ctx, books)
    [skipped] = [s for s in result.skipped if s.playbook == "snapshot_fallback"]
    assert "at_risk_by_kind.audience" in skipped.reason


def test_identical_actions_from_two_playbooks_are_planned_once() -> None:
    second = RETRY.replace("id: retry\ntitle", "id: retry_again\ntitle")
    result = plan(make_context(), [playbook(RETRY), playbook(second)])
    assert [a.key for a in result.actions] == ["retry/retry"]
    assert result.skipped[0].reason == "same action as retry/retry"
