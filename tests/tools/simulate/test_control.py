"""The simulated stack under the runbook engine: a right fix verifies, a wrong one does not.

Every step goes through the public runbook API (propose, approve, apply, verify,
rollback) with the shipped playbooks and the simulator registered under http and sql.
The job failure goes all the way from detection; the other incidents are built from the
simulator's truth (``truth_context``) with the root cause the playbooks can act on.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from tools.detect.engine import run_detection
from tools.incidents import refresh_incidents
from tools.nodes import NodeRef
from tools.runbooks import (
    ApprovalSettings,
    Proposal,
    apply,
    approve,
    context_from_incident,
    propose,
    rollback,
    verify,
)
from tools.runbooks.context import RemediationContext
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.secrets import StaticSecrets
from tools.simulate import FaultSpec, Payload, SimConfig, SimConfigError, Simulation
from tools.simulate.control import SimulatedStack, simulator_executors, truth_context
from tools.simulate.interventions import Intervention
from tools.store import Store, to_micros
from tools.store.models import DatasetVersion, Node
from tools.store.queries import list_runs, query_metrics

END = datetime(2025, 3, 10, tzinfo=UTC)
SETTINGS = ApprovalSettings(users={"lead": ["data-lead"]})
VAULT = StaticSecrets({"DESTINATION_API_KEY": "rotated-key"})
STG_CRM = "job:dbt://acme:analytics.staging.stg_crm_contacts"
IDENTITY = "job:airflow://acme:identity_resolution.resolve_identities"
SYNC = "job:hightouch://acme:sync.high_value_customers_to_google_ads"
DESTINATION = "dataset:google_ads://acme:audience.high_value_customers"
AUDIENCE = "dataset:snowflake://acme.eu-west-1:analytics.audiences.aud_cart_abandoners"
BRAZE = "dataset:braze://acme:audience.cart_abandoners"


def _stack(store: Store, spec: FaultSpec) -> SimulatedStack:
    return SimulatedStack.start(store, SimConfig(end=END, days=3, size=40, scenarios=[spec]))


def _propose(store: Store, stack: SimulatedStack, registry: ExecutorRegistry,
             context: RemediationContext) -> dict[str, Proposal]:
    found = propose(store, context, executors=registry, secrets=VAULT, now_us=stack.now_us)
    return {p.action_type: p for p in found}


def _apply(store: Store, stack: SimulatedStack, registry: ExecutorRegistry,
           proposal: Proposal) -> None:
    """Approve when the policy asks for a person, then apply at the simulated now."""
    if proposal.status == "proposed":
        assert approve(store, proposal.id, "lead", settings=SETTINGS, now_us=stack.now_us).won
        result = apply(store, proposal.id, registry, secrets=VAULT, now_us=stack.now_us)
        assert result.done, result.message
    else:
        assert proposal.status == "applied"  # auto-applied by policy


def _runs(store: Store, job: str, since: datetime) -> list[str]:
    """States of the runs of ``job`` heard of since ``since``, oldest first."""
    runs = list_runs(store, NodeRef.parse(job), since_us=to_micros(since))
    return [r.state for r in reversed(runs)]


def _points(store: Store, node: str, metric: str, since: datetime) -> list[float]:
    series = query_metrics(store, NodeRef.parse(node), name=metric, since_us=to_micros(since))
    points = sorted((p.ts, p.value) for s in series for p in s.points)
    return [v for _ts, v in points]


def _row_counts(store: Store, node: str, since: datetime) -> list[float]:
    ref = NodeRef.parse(node)
    with store.read() as conn:
        rows = conn.execute(
            select(DatasetVersion.row_count)
            .join(Node, Node.id == DatasetVersion.node_id)
            .where(Node.namespace == ref.namespace, Node.name == ref.name,
                   DatasetVersion.role == "output",
                   DatasetVersion.observed_at >= to_micros(since))
            .order_by(DatasetVersion.observed_at)
        ).scalars().all()
    return [float(r) for r in rows if r is not None]


def _open_anomaly_kinds(store: Store, at_us: int) -> set[str]:
    return {a.kind for a in run_detection(store, at_us)}


def test_retrying_the_failed_job_verifies_and_its_incident_resolves(store: Store) -> None:
    """Detection -> incident -> playbook -> apply -> advance -> verify, all from the store."""
    stack = _stack(store, FaultSpec("failed_staging_job"))
    registry = simulator_executors(stack)
    fault_day = END - timedelta(days=1)
    assert _runs(store, STG_CRM, fault_day) == ["FAIL", "FAIL"]
    assert _runs(store, IDENTITY, fault_day) == []  # skipped: upstream failed
    assert {"job_failure", "late_data"} <= _open_anomaly_kinds(store, stack.now_us)
    [incident] = refresh_incidents(store, stack.now_us)
    context = context_from_incident(store, incident.id)
    assert (context.root_cause, context.root_cause_kind) == (STG_CRM, "job_failure")
    retry = _propose(store, stack, registry, context)["retry_job"]
    assert retry.plan.params == {"job": STG_CRM}
    _apply(store, stack, registry, retry)
    assert verify(store, retry.id, registry, now_us=stack.now_us).status == "pending"
    stack.advance(2)
    assert verify(store, retry.id, registry, now_us=stack.now_us).status == "passed"
    assert _runs(store, STG_CRM, END) == ["COMPLETE"]
    # The next scheduled runs downstream read the repaired table instead of skipping.
    stack.advance(6)
    assert _runs(store, IDENTITY, END) == ["COMPLETE"]
    assert _runs(store, STG_CRM, END) == ["COMPLETE", "COMPLETE"]
    stack.advance(16)
    assert not {"job_failure", "late_data"} & _open_anomaly_kinds(store, stack.now_us)
    assert incident.id not in {i.id for i in refresh_incidents(store, stack.now_us)}
    [case] = stack.truth()
    assert [r["action"] for r in case["remediations"]] == ["retry_job"]


def test_retrying_a_job_downstream_of_the_failure_does_not_verify(store: Store) -> None:
    stack = _stack(store, FaultSpec("failed_staging_job"))
    registry = simulator_executors(stack)
    # A misdiagnosis: the skipped identity job is blamed instead of the failing load.
    context = truth_context(stack, incident_id=2, root=IDENTITY)
    retry = _propose(store, stack, registry, context)["retry_job"]
    assert retry.plan.params == {"job": IDENTITY}
    _apply(store, stack, registry, retry)
    stack.advance(3)
    result = verify(store, retry.id, registry, now_us=stack.now_us)
    assert result.status == "failed" and "no run" in result.detail
    assert _runs(store, IDENTITY, END) == []  # the orchestrator would not run it
    assert _runs(store, STG_CRM, END) == ["FAIL", "FAIL"]  # the fault goes on
    assert "remediations" not in stack.truth()[0]


def test_refreshing_the_expired_token_verifies_and_rollback_reopens_it(store: Store) -> None:
    stack = _stack(store, FaultSpec("expired_vendor_token", node=SYNC))
    registry = simulator_executors(stack)
    assert _points(store, DESTINATION, "activation.sync.success_ratio", END - timedelta(hours=12)
                   ) == [0.0, 0.0]
    # Root cause named where the symptoms are: the playbooks verify a metric on it.
    proposals = _propose(store, stack, registry,
                         truth_context(stack, incident_id=3, root=DESTINATION))
    rerun, refresh = proposals["rerun_sync"], proposals["refresh_credential"]
    assert refresh.tier == "high" and refresh.status == "proposed"

    # Re-running a sync with an expired token fails again: the wrong fix does not verify.
    _apply(store, stack, registry, rerun)
    stack.advance(2)
    wrong = verify(store, rerun.id, registry, now_us=stack.now_us)
    assert wrong.status == "failed" and wrong.observed["value"] == 0.0
    assert _runs(store, SYNC, END) == ["FAIL"] * 4  # the rerun, then the 00:33 sync: 2 tries each

    _apply(store, stack, registry, refresh)
    applied_at = stack.now
    stack.advance(1)
    assert verify(store, refresh.id, registry, now_us=stack.now_us).status == "passed"
    assert _points(store, DESTINATION, "activation.sync.success_ratio", applied_at)[-1] >= 0.95
    assert _runs(store, SYNC, applied_at) == ["COMPLETE"]

    undone = rollback(store, refresh.id, registry, "lead", settings=SETTINGS,
                      now_us=stack.now_us)
    assert undone.status == "rolled_back"
    reopened_at = stack.now
    stack.advance(8)  # the next scheduled sync uses the old, expired credential again
    assert _runs(store, SYNC, reopened_at) == ["FAIL", "FAIL"]
    assert _points(store, DESTINATION, "activation.sync.success_ratio", reopened_at) == [0.0]
    [case] = stack.truth()
    assert case["remediations"][0]["rolled_back"] == "2025-03-10T03:00:00Z"


def test_audience_fallback_restores_its_size_downstream_until_rolled_back(store: Store) -> None:
    stack = _stack(store, FaultSpec("audience_definition_bug"))
    registry = simulator_executors(stack)
    normal = _row_counts(store, AUDIENCE, END - timedelta(days=4))[0]
    assert _row_counts(store, AUDIENCE, END - timedelta(days=1)) == [pytest.approx(
        normal * 0.25, rel=0.1)]
    broken = _points(store, BRAZE, "activation.audience.size", END - timedelta(hours=12))
    fallback = _propose(store, stack, registry, truth_context(stack, incident_id=4))[
        "fallback_audience_snapshot"]
    assert all(c.ok for c in fallback.preconditions), fallback.preconditions
    _apply(store, stack, registry, fallback)
    assert verify(store, fallback.id, registry, now_us=stack.now_us).status == "pending"
    stack.advance(1)
    assert verify(store, fallback.id, registry, now_us=stack.now_us).status == "passed"
    assert _row_counts(store, AUDIENCE, END) == [pytest.approx(normal, rel=0.1)]
    stack.advance(7)  # the destinations pick it up at their next syncs
    sizes = _points(store, BRAZE, "activation.audience.size", END)
    assert len(sizes) == 2 and min(sizes) > 3 * max(broken)

    assert rollback(store, fallback.id, registry, "lead", settings=SETTINGS,
                    now_us=stack.now_us).status == "rolled_back"
    reopened_at = stack.now
    stack.advance(24)  # the audience's next build shows the definition bug again
    assert _row_counts(store, AUDIENCE, reopened_at) == [pytest.approx(normal * 0.25, rel=0.1)]


def test_a_wrong_audience_fallback_leaves_the_broken_one_broken(sqlite_store: Store) -> None:
    store = sqlite_store
    stack = _stack(store, FaultSpec("audience_definition_bug"))
    stack.apply("fallback_audience_snapshot",
                {"view": "analytics.audiences.aud_high_value_customers"})
    stack.advance(8)
    assert "remediations" not in stack.truth()[0]
    assert not stack.check("recovered", {"action": "fallback_audience_snapshot",
                                         "view": "analytics.audiences.aud_cart_abandoners"})
    sizes = _points(store, BRAZE, "activation.audience.size", END)
    normal = _points(store, BRAZE, "activation.audience.size", END - timedelta(days=3))[0]
    assert sizes and max(sizes) < 0.5 * normal


def test_a_paused_campaign_stops_delivering_until_resumed(sqlite_store: Store) -> None:
    stack = SimulatedStack.start(sqlite_store, SimConfig(end=END, days=3, size=40))
    campaign = "job:braze://acme:campaign.cart_recovery_flow"
    params = {"campaign": "campaign.cart_recovery_flow"}
    assert stack.capture("pause_campaign", params) == {"target": campaign, "status": "active"}
    prior = stack.capture("pause_campaign", params)
    assert stack.apply("pause_campaign", params)["status"] == "paused"
    stack.advance(12)  # its daily delivery at 09:00 does not happen
    assert _runs(sqlite_store, campaign, END) == []
    assert stack.check("recovered", {"action": "pause_campaign", **params})
    stack.rollback("pause_campaign", params, prior)
    assert stack.capture("pause_campaign", params)["status"] == "active"
    resumed = stack.now
    stack.advance(24)
    assert _runs(sqlite_store, campaign, resumed) == ["COMPLETE"]


def _leaves(payloads: list[Payload]) -> Counter[bytes]:
    """Every event, data point, span and log record of some payloads, as canonical bytes."""
    out: Counter[bytes] = Counter()
    for p in payloads:
        if p.kind != "openlineage":
            body = orjson.loads(p.body) if p.kind != "catalog" else {}
            for resource in [*body.get("resourceMetrics", []), *body.get("resourceSpans", []),
                             *body.get("resourceLogs", [])]:
                scopes = [*resource.get("scopeMetrics", []), *resource.get("scopeSpans", []),
                          *resource.get("scopeLogs", [])]
                for scope in scopes:
                    for item in [*scope.get("metrics", []), *scope.get("spans", []),
                                 *scope.get("logRecords", [])]:
                        out[orjson.dumps([resource["resource"], item])] += 1
            continue
        out.update(line for line in p.body.splitlines() if line)
    return out


def test_windows_resume_into_the_same_telemetry_as_one_run() -> None:
    config = SimConfig(end=END, days=3, size=40, scenarios=[FaultSpec("failed_staging_job")])
    fix_at, undo_at = to_micros(END + timedelta(hours=3)), to_micros(END + timedelta(hours=9))
    fixed = Intervention(fix_at, "retry_job", STG_CRM)
    undone = Intervention(fix_at, "retry_job", STG_CRM, until_us=undo_at)
    # Window by window as a live stack sees it: an intervention is known once it happened.
    known = {3: [], 5: [fixed], 9: [fixed], 30: [undone]}
    pieces: list[Payload] = []
    since = None
    for hours, interventions in known.items():
        horizon = END + timedelta(hours=hours)
        sim = Simulation(config, interventions=interventions, horizon=horizon)
        pieces.extend(sim.payloads(since))
        since = horizon
    whole = Simulation(config, interventions=[undone], horizon=END + timedelta(hours=30))
    assert _leaves(pieces) == _leaves(list(whole.payloads()))
    again = Simulation(config, interventions=[undone], horizon=END + timedelta(hours=30))
    assert [p.body for p in again.payloads(END)] == [p.body for p in whole.payloads(END)]


def test_a_horizon_before_the_end_or_off_the_hour_is_refused() -> None:
    config = SimConfig(end=END, days=3, size=40)
    with pytest.raises(SimConfigError, match="whole hour at or after"):
        Simulation(config, horizon=END - timedelta(hours=1))
    with pytest.raises(SimConfigError, match="whole hour at or after"):
        Simulation(config, horizon=END + timedelta(minutes=30))


def test_targets_checks_and_misuse_give_clear_answers(sqlite_store: Store) -> None:
    stack = SimulatedStack(sqlite_store, SimConfig(end=END, days=3, size=40))
    with pytest.raises(RuntimeError, match="load the stack's history"):
        stack.advance(1)
    with pytest.raises(ValueError, match=r"ambiguous.*braze.*meta_ads"):
        stack.apply("refresh_credential", {"destination": "audience.cart_abandoners"})
    with pytest.raises(ValueError, match="no job named 'nope'"):
        stack.apply("retry_job", {"job": "nope"})
    with pytest.raises(ValueError, match="retry_job needs a job"):
        stack.apply("retry_job", {"job": AUDIENCE})
    with pytest.raises(ValueError, match="unknown action 'reboot'"):
        stack.apply("reboot", {})
    with pytest.raises(ValueError, match=r"no rerun_sync on .* to roll back"):
        stack.rollback("rerun_sync", {"destination": SYNC}, {})
    with pytest.raises(ValueError, match="cannot answer 'disk_free'"):
        stack.check("disk_free", {})
    view = {"view": "analytics.audiences.aud_cart_abandoners"}
    assert stack.check("view_exists", view) and stack.check("snapshot_exists", view)
    assert not stack.check("view_exists", {"view": "analytics.audiences.nope"})
    assert stack.check("node_exists", {"node": SYNC})
    assert not stack.check("recovered", {"action": "rerun_sync", "destination": SYNC})
    assert stack.capture("refresh_credential", {"destination": DESTINATION}) == {
        "target": SYNC, "credential_id": "credential-1"}
    assert stack.apply("notify_owner", {"owners": ["crm"]})["changed"] == "nothing"
    assert stack.interventions == []
