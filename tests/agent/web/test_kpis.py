"""KPIs on a hand-built month whose answers are worked out below; page, CLI and /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from agent.cli import app as cli_app
from agent.web.kpis import compute_kpis
from tests.agent.web.support import client, configure, login, queue_pause
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tests.tools.runbooks.support import T0, seed_node
from tools.runbooks import apply, approve, default_executors
from tools.store import Store, to_micros
from tools.store.models import (
    AnomalyRow,
    Edge,
    IncidentAnomaly,
    IncidentRow,
    MetricPoint,
    MetricSeries,
)

MIN = 60_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
START = to_micros(T0)  # 2026-03-02 12:00
AT = START + 20 * DAY  # the 30-day window reaches back before START

SRC = "dataset:postgres://wh:5432:profiles"
JOB = "job:airflow:build_audience"
CAMPAIGN_HIT = "dataset:braze://acme:spring_sale"
CAMPAIGN_OK = "dataset:braze://acme:winback"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        configure(monkeypatch, fake)
        yield fake


def _anomaly(node_id: int, kind: str, onset: int, detected: int, status: str) -> dict[str, Any]:
    return {
        "dedup_key": f"{kind}-{onset}",
        "node_id": node_id,
        "kind": kind,
        "metric": "identity.fragmentation_ratio",
        "attributes": {},
        "status": status,
        "onset_at": onset,
        "detected_at": detected,
        "updated_at": detected,
        "resolved_at": None if status == "open" else detected + HOUR,
        "lower": 1.0,
        "upper": 1.3,
        "observed": 1.5,
        "score": 5.0,
        "severity": "high",
        "summary": f"{kind} on profiles",
        "evidence": {},
    }


def _incident(opened: int, resolved: int | None, causes: list[Any]) -> dict[str, Any]:
    return {
        "status": "open" if resolved is None else "resolved",
        "severity": "high",
        "title": "profiles fragmenting",
        "opened_at": opened,
        "updated_at": opened,
        "resolved_at": resolved,
        "root_causes": causes,
        "impacted": [SRC],
        "at_risk": [
            {"node": CAMPAIGN_HIT, "kind": "campaign", "owner": "crm", "symptomatic": False}
        ],
        "revenue_at_risk_per_day": 900.0,
        "report": None,
    }


def build_month(store: Store) -> dict[str, int]:
    src = seed_node(store, SRC, kind="identity")
    job = seed_node(store, JOB)
    hit = seed_node(store, CAMPAIGN_HIT, kind="campaign")
    seed_node(store, CAMPAIGN_OK, kind="campaign")
    cause = {
        "node": SRC,
        "kind": "identity_fragmentation",
        "confidence": 0.8,
        "score": 3.0,
        "onset": T0.isoformat(),
        "explains": [],
        "evidence": [{"ref": "anomaly:1", "text": "fragmentation ratio above band"}],
        "contradictions": [],
        "paths": [[SRC, JOB, CAMPAIGN_HIT]],
    }
    with store.write() as conn:
        for a, b in ((src, job), (job, hit)):
            conn.execute(
                insert(Edge).values(
                    src_id=a, dst_id=b, source="openlineage", first_seen=START, last_seen=START
                )
            )
        # Detected after 10 and 20 minutes: MTTD 15 min. One before the window is ignored.
        a_open = conn.execute(
            insert(AnomalyRow)
            .values(_anomaly(src, "identity_fragmentation", START, START + 10 * MIN, "open"))
            .returning(AnomalyRow.id)
        ).scalar_one()
        a_drift = conn.execute(
            insert(AnomalyRow)
            .values(
                _anomaly(src, "schema_drift", START + HOUR, START + HOUR + 20 * MIN, "resolved")
            )
            .returning(AnomalyRow.id)
        ).scalar_one()
        conn.execute(
            insert(AnomalyRow).values(
                _anomaly(src, "volume_drop", AT - 40 * DAY, AT - 39 * DAY, "resolved")
            )
        )
        # Resolved after 2 h and 1 h: MTTR 1.5 h; one schema-drift incident; one still open.
        drift = conn.execute(
            insert(IncidentRow)
            .values(_incident(START + HOUR, START + 3 * HOUR, []))
            .returning(IncidentRow.id)
        ).scalar_one()
        frag = conn.execute(
            insert(IncidentRow)
            .values(_incident(START + 2 * DAY, START + 2 * DAY + HOUR, []))
            .returning(IncidentRow.id)
        ).scalar_one()
        live = conn.execute(
            insert(IncidentRow).values(_incident(START, None, [cause])).returning(IncidentRow.id)
        ).scalar_one()
        conn.execute(
            insert(IncidentAnomaly),
            [
                {"incident_id": drift, "anomaly_id": a_drift},
                {"incident_id": frag, "anomaly_id": a_open},
                {"incident_id": live, "anomaly_id": a_open},
            ],
        )
        # Event loss points 0.1 and 0.3 in the window (mean 0.2); 0.9 before it.
        loss = conn.execute(
            insert(MetricSeries)
            .values(
                node_key=0,
                node_id=None,
                name="event.loss_fraction",
                unit="1",
                kind="gauge",
                attr_hash="l",
                attributes={},
            )
            .returning(MetricSeries.id)
        ).scalar_one()
        frag_series = conn.execute(
            insert(MetricSeries)
            .values(
                node_key=src,
                node_id=src,
                name="identity.fragmentation_ratio",
                unit="1",
                kind="gauge",
                attr_hash="f",
                attributes={},
            )
            .returning(MetricSeries.id)
        ).scalar_one()
        conn.execute(
            insert(MetricPoint),
            [
                {"series_id": loss, "ts": START, "value": 0.1},
                {"series_id": loss, "ts": START + DAY, "value": 0.3},
                {"series_id": loss, "ts": AT - 31 * DAY, "value": 0.9},
                # Latest identity figure at AT is 1.2; the later 2.0 lies in the future.
                {"series_id": frag_series, "ts": START - HOUR, "value": 1.1},
                {"series_id": frag_series, "ts": START, "value": 1.5},
                {"series_id": frag_series, "ts": START + DAY, "value": 1.2},
                {"series_id": frag_series, "ts": AT + DAY, "value": 2.0},
            ],
        )
    return {"live": int(live)}


def _remediate(store: Store) -> None:
    """One low-tier action applied by policy (notify_owner), one high-tier by a person."""
    pause = queue_pause(store, now_us=START + 3 * HOUR)
    approve(store, pause.id, "lead", "consent", now_us=START + 4 * HOUR)
    registry = default_executors()
    try:
        assert apply(store, pause.id, registry, actor="lead", now_us=START + 4 * HOUR).done
    finally:
        registry.close()


def test_kpis_of_a_known_month(store: Store, api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLEUTH_APPROVALS_USERS", json.dumps({"lead": ["data-lead"]}))
    build_month(store)
    _remediate(store)
    k = compute_kpis(store, AT)
    assert k.mttd_seconds == pytest.approx(15 * 60)
    assert k.mttr_seconds == pytest.approx(1.5 * 3600)
    assert k.applied_actions == 2 and k.auto_remediated_pct == pytest.approx(50.0)
    assert k.duplicate_profile_rate == pytest.approx(1.2)
    assert k.schema_drift_incidents_per_month == pytest.approx(1.0)
    assert k.event_loss_rate == pytest.approx(0.2)
    assert (k.campaigns_verified, k.campaigns_total) == (1, 2)
    # A 10-day window ending at AT sees none of it but the open anomaly's campaigns.
    later = compute_kpis(store, AT, window_us=10 * DAY)
    assert later.mttd_seconds is None and later.applied_actions == 0
    assert later.schema_drift_incidents_per_month == 0.0
    with pytest.raises(ValueError, match="window must be positive"):
        compute_kpis(store, AT, window_us=0)


def test_kpis_page_cli_and_metrics(store: Store, api: FakeApi, db_url: str) -> None:
    build_month(store)
    c = client(store, clock=lambda: AT)
    assert c.get("/ui/kpis").status_code == 303
    login(c, "lead")
    page = c.get("/ui/kpis").text
    assert '<td id="kpi-mttd">15.0 min</td>' in page
    assert '<td id="kpi-campaigns">1 / 2</td>' in page
    metrics = c.get("/metrics").text
    assert "flowsleuth_mttd_seconds 900.0" in metrics
    assert "flowsleuth_event_loss_rate 0.2" in metrics
    assert "flowsleuth_campaigns_verified 1.0" in metrics
    assert "flowsleuth_auto_remediated_percent" not in metrics  # nothing applied yet
    at = (T0 + timedelta(days=20)).isoformat()
    out = CliRunner().invoke(cli_app, ["--db", db_url, "--at", at, "kpis", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["mttr_seconds"] == pytest.approx(5400)
    bad = CliRunner().invoke(cli_app, ["--db", db_url, "kpis", "--days", "0"])
    assert bad.exit_code == 2 and "--days must be positive" in bad.output


def test_incident_page_shows_lineage_charts_and_both_views(store: Store, api: FakeApi) -> None:
    ids = build_month(store)
    c = client(store, clock=lambda: AT)
    login(c, "eng")
    listing = c.get("/ui/incidents").text
    assert f'href="/ui/incidents/{ids["live"]}"' in listing
    page = c.get(f"/ui/incidents/{ids['live']}").text
    assert 'class="lineage"' in page and 'class="root"' in page
    assert "<title>" + CAMPAIGN_HIT + "</title>" in page
    assert 'class="band"' in page and "polyline" in page
    assert "fragmentation ratio above band" in page  # hypothesis evidence
    assert "Engineer view" in page and "Marketer view" in page
    assert "Campaigns that may target the wrong people: spring_sale" in page
    assert c.get("/ui/incidents/999").status_code == 404
