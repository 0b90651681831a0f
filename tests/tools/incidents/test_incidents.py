"""Incidents from anomalies: grouping, root-cause ranking, blast radius, lifecycle."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tools.anomalies import Detection, sync_anomalies
from tools.incidents import get_incident, list_incidents, refresh_incidents
from tools.ingest.catalog import ingest_catalog
from tools.ingest.openlineage import ingest_openlineage
from tools.nodes import NodeRef
from tools.store import Store
from tools.timeutil import parse_micros

H = 3_600_000_000
T0 = parse_micros("2026-11-18T02:00:00Z")
S = NodeRef.dataset("s3://crm", "contacts")
S2 = NodeRef.dataset("kafka://events", "web")
D1 = NodeRef.dataset("snowflake://acme", "stg_contacts")
D2 = NodeRef.dataset("snowflake://acme", "stg_web")
A = NodeRef.dataset("braze://acme", "audience.cart")
C = NodeRef.dataset("braze://acme", "campaign.recovery")
LONE = NodeRef.dataset("s3://other", "unrelated")
SYNC = NodeRef.job("hightouch://acme", "sync.cart_to_braze")
A_OUT = NodeRef.dataset("braze://acme", "synced.cart")


def _run(job: str, inputs: list[NodeRef], outputs: list[NodeRef]) -> bytes:
    return orjson.dumps(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-17T00:00:00Z",
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "dbt://acme", "name": job},
            "inputs": [{"namespace": n.namespace, "name": n.name} for n in inputs],
            "outputs": [{"namespace": n.namespace, "name": n.name} for n in outputs],
            "producer": "test",
        }
    )


def _stack(store: Store) -> None:
    for body in (
        _run("stg_contacts", [S], [D1]),
        _run("stg_web", [S2], [D2]),
        _run("aud_cart", [D1, D2], [A]),
        _run("campaign", [A], [C]),
        _run("lonely", [LONE], []),
    ):
        assert ingest_openlineage(store, body).accepted == 1
    sync = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-17T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": SYNC.namespace, "name": SYNC.name},
        "inputs": [{"namespace": A.namespace, "name": A.name}],
        "outputs": [{"namespace": A_OUT.namespace, "name": A_OUT.name}],
        "producer": "test",
    }
    assert ingest_openlineage(store, orjson.dumps(sync)).accepted == 1
    catalog = f"""
assets:
  - node: "{A}"
    kind: audience
    tier: 1
    owner: lifecycle
    revenue_per_day: 1000
  - node: "{C}"
    kind: campaign
    tier: 1
    owner: growth
    revenue_per_day: 5000
"""
    assert ingest_catalog(store, catalog.encode()).accepted == 2


def _det(node: NodeRef, kind: str, hours: float, severity: str = "high", **extra: Any) -> Detection:
    return Detection(
        node=node,
        kind=kind,
        metric=extra.pop("metric", kind),
        onset_us=T0 + int(hours * H),
        score=5.0,
        severity=severity,
        summary=f"{kind} on {node}",
        **extra,
    )


def test_one_fault_one_incident_with_root_and_blast_radius(store: Store) -> None:
    _stack(store)
    now = T0 + 8 * H
    sync_anomalies(
        store,
        [
            _det(S, "schema_drift", 0, evidence={"removed": ["email"]}),
            _det(D1, "null_spike", 1, attributes={"column": "email"}),
            _det(A, "audience_drop", 3),
            _det(LONE, "volume_drop", 30),  # unrelated in lineage: an incident of its own
        ],
        now,
    )
    incidents = refresh_incidents(store, now)
    assert len(incidents) == 2
    main = next(i for i in incidents if len(i.symptoms) == 3)
    top = main.root_causes[0]
    assert (top.node, top.kind) == (str(S), "schema_drift")
    assert top.confidence > 0.6
    assert top.paths and all(p[0] == str(S) for p in top.paths)
    assert {p[-1] for p in top.paths} == {str(D1), str(A)}
    assert set(main.impacted) == {str(S), str(D1), str(A)}
    assert {n.node for n in main.at_risk} >= {str(A), str(C)}
    assert main.revenue_at_risk_per_day == 5000  # the campaign's, not audience + campaign
    assert main.campaigns_affected == 1 and main.severity == "high"
    assert "schema drift" in main.title
    # Another refresh with the same anomalies keeps the same incident ids.
    again = refresh_incidents(store, now + H)
    assert {i.id for i in again} == {i.id for i in incidents}
    # The batched listing says exactly what each incident's own read says.
    assert again == [get_incident(store, i.id) for i in again]


def test_incident_resolves_when_its_anomalies_do(store: Store) -> None:
    _stack(store)
    sync_anomalies(store, [_det(S, "volume_drop", 0), _det(A, "audience_drop", 2)], T0 + 4 * H)
    [incident] = refresh_incidents(store, T0 + 4 * H)
    sync_anomalies(store, [], T0 + 30 * H)
    assert refresh_incidents(store, T0 + 30 * H) == []
    closed = get_incident(store, incident.id)
    assert closed.status == "resolved" and closed.resolved_at is not None
    assert [i.id for i in list_incidents(store, status="resolved")] == [incident.id]


def test_two_independent_causes_are_both_ranked(store: Store) -> None:
    _stack(store)
    now = T0 + 10 * H
    sync_anomalies(
        store,
        [
            _det(S, "null_spike", 0),
            _det(S2, "event_loss", 0.5),
            _det(D1, "null_spike", 1),
            _det(D2, "volume_drop", 1.5),
            _det(A, "audience_drop", 3),
        ],
        now,
    )
    [incident] = refresh_incidents(store, now)
    top2 = {c.node for c in incident.root_causes[:2]}
    assert top2 == {str(S), str(S2)}
    assert all(c.confidence > 0.3 for c in incident.root_causes[:2])


def test_job_fault_seen_on_its_output_is_blamed_on_the_job(store: Store) -> None:
    _stack(store)
    now = T0 + 5 * H
    sync_anomalies(
        store,
        [
            _det(
                A_OUT,
                "sync_failure",
                0,
                metric="activation.sync.errors",
                attributes={"error.code": "401"},
            )
        ],
        now,
    )
    [incident] = refresh_incidents(store, now)
    assert (incident.root_causes[0].node, incident.root_causes[0].kind) == (
        str(SYNC),
        "sync_failure",
    )


def test_changes_alone_and_low_blips_make_no_incident(store: Store) -> None:
    _stack(store)
    sync_anomalies(
        store,
        [
            _det(SYNC, "code_change", 0, severity="info"),
            _det(S, "schema_drift", 0, severity="medium"),
            _det(D2, "volume_spike", 1, severity="low"),
        ],
        T0 + 2 * H,
    )
    assert refresh_incidents(store, T0 + 2 * H) == []


def test_cycles_in_lineage_do_not_break_grouping_or_ranking(store: Store) -> None:
    _stack(store)
    assert ingest_openlineage(store, _run("loop_back", [A], [D1])).accepted == 1
    now = T0 + 6 * H
    sync_anomalies(store, [_det(D1, "null_spike", 0), _det(A, "audience_drop", 1)], now)
    [incident] = refresh_incidents(store, now)
    assert incident.root_causes[0].node == str(D1)
