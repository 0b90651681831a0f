"""Building the RemediationContext from a stored incident or a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from tests.tools.runbooks.support import AUDIENCE, CAMPAIGN, JOB, SOURCE, T0, seed_node
from tools.runbooks.context import ContextError, context_from_incident, load_context_file
from tools.store import Store, to_micros
from tools.store.models import AnomalyRow, IncidentAnomaly, IncidentRow


def _incident(store: Store, root_causes: list[object], at_risk: list[object]) -> int:
    at = to_micros(T0)
    with store.write() as conn:
        return int(
            conn.execute(
                insert(IncidentRow)
                .values(
                    status="open",
                    severity="high",
                    title="t",
                    opened_at=at,
                    updated_at=at + 3_600_000_000,
                    root_causes=root_causes,
                    impacted=[SOURCE],
                    at_risk=at_risk,
                    revenue_at_risk_per_day=18_500.0,
                )
                .returning(IncidentRow.id)
            ).scalar_one()
        )


def test_context_from_incident_fills_from_catalog_and_anomalies(store: Store) -> None:
    seed_node(store, JOB, owner="data-platform", kind="model", tier=2)
    src = seed_node(store, SOURCE)
    seed_node(store, AUDIENCE, owner="lifecycle", kind="audience", tier=1, revenue_per_day=18500.0)
    seed_node(store, CAMPAIGN, owner="crm", kind="campaign", tier=1)
    incident = _incident(
        store,
        [{"node": JOB, "kind": "job_failure", "confidence": 0.82, "score": 3.1}],
        [AUDIENCE, {"node": CAMPAIGN, "revenue_per_day": 100.0}],
    )
    onset = to_micros(T0) - 1_800_000_000
    with store.write() as conn:
        aid = conn.execute(
            insert(AnomalyRow)
            .values(
                dedup_key="k",
                node_id=src,
                kind="late_data",
                metric="data.freshness.lag",
                attributes={},
                status="open",
                onset_at=onset,
                detected_at=onset,
                updated_at=onset,
                score=4.0,
                severity="high",
                summary="late",
                evidence={},
            )
            .returning(AnomalyRow.id)
        ).scalar_one()
        conn.execute(insert(IncidentAnomaly).values(incident_id=incident, anomaly_id=aid))
    ctx = context_from_incident(store, incident)
    assert (ctx.root_cause, ctx.root_cause_kind, ctx.confidence) == (JOB, "job_failure", 0.82)
    assert ctx.root_cause_catalog_kind == "model"
    assert [(s.node, s.kind) for s in ctx.symptoms] == [(SOURCE, "late_data")]
    assert [(a.node, a.kind, a.owner, a.revenue_per_day) for a in ctx.at_risk] == [
        (AUDIENCE, "audience", "lifecycle", 18500.0),
        (CAMPAIGN, "campaign", "crm", 100.0),
    ]
    assert ctx.campaigns_affected == 1
    assert ctx.owners == ["data-platform", "lifecycle", "crm"]
    assert ctx.window is not None and ctx.window.start < T0 < ctx.window.end
    assert ctx.template_vars()["at_risk_by_kind"]["audience"][0]["name"] == "audience_cart"


def test_incident_without_root_cause_is_tolerated(store: Store) -> None:
    incident = _incident(store, [], [])
    ctx = context_from_incident(store, incident)
    assert ctx.root_cause is None and ctx.root_cause_kind is None and ctx.confidence == 0.0
    with pytest.raises(ContextError, match="no incident 999"):
        context_from_incident(store, 999)


def test_context_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "ctx.json"
    path.write_text(
        json.dumps(
            {"incident_id": 1, "root_cause": "table_x", "detected_at": "2026-01-01T00:00:00Z"}
        )
    )
    with pytest.raises(
        ContextError, match="root_cause: Value error, node id 'table_x' must look like"
    ):
        load_context_file(path)
    path.write_text(
        json.dumps({"incident_id": 1, "confidence": 2, "detected_at": "2026-01-01T00:00:00Z"})
    )
    with pytest.raises(ContextError, match="confidence: Input should be less than or equal to 1"):
        load_context_file(path)
    path.write_text("{not json")
    with pytest.raises(ContextError, match="not readable JSON"):
        load_context_file(path)
