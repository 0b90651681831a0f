"""Operator KPIs over a trailing window: detection and repair speed, automation, data health.

One typed function, :func:`compute_kpis`, feeds the KPI page, ``flowsleuth kpis`` and the
Prometheus ``/metrics`` collector, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from sqlalchemy import func, select

from tools.lineage import get_graph
from tools.store.db import Store
from tools.store.models import (
    AnomalyRow,
    CatalogEntry,
    IncidentAnomaly,
    IncidentRow,
    MetricPoint,
    MetricSeries,
)
from tools.store.models_runbooks import ProposalRow
from tools.timeutil import iso

DAY_US = 86_400_000_000
MONTH_US = 30 * DAY_US
IDENTITY_METRICS = ("identity.fragmentation_ratio", "data.duplicate_fraction")


class Kpis(BaseModel):
    """Figures over ``[window_start, at]``; a None figure had nothing to measure."""

    at: str
    window_days: float
    mttd_seconds: float | None
    mttr_seconds: float | None
    applied_actions: int
    auto_remediated_pct: float | None
    duplicate_profile_rate: float | None
    schema_drift_incidents_per_month: float
    event_loss_rate: float | None
    campaigns_total: int
    campaigns_verified: int


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compute_kpis(store: Store, at_us: int, *, window_us: int = MONTH_US) -> Kpis:
    """KPIs for the ``window_us`` ending at ``at_us``.

    MTTD: anomalies detected in the window, detected - onset. MTTR: incidents resolved in
    the window, resolved - opened. Auto-remediated: applied proposals of tier low over all
    applied. Duplicate profile rate: the latest identity metric point on identity datasets.
    Campaigns verified: campaign nodes with no open anomaly on themselves or upstream.
    """
    if window_us <= 0:
        raise ValueError(f"the KPI window must be positive, got {window_us} us")
    start = at_us - window_us
    with store.read() as conn:
        detect = conn.execute(
            select(AnomalyRow.detected_at - AnomalyRow.onset_at).where(
                AnomalyRow.detected_at.between(start, at_us)
            )
        ).scalars()
        mttd = _mean([max(0, int(d)) / 1e6 for d in detect])
        repair = conn.execute(
            select(IncidentRow.resolved_at - IncidentRow.opened_at).where(
                IncidentRow.resolved_at.between(start, at_us)
            )
        ).scalars()
        mttr = _mean([max(0, int(d)) / 1e6 for d in repair if d is not None])
        tiers = list(
            conn.execute(
                select(ProposalRow.tier).where(ProposalRow.applied_at.between(start, at_us))
            ).scalars()
        )
        drift = conn.execute(
            select(func.count(func.distinct(IncidentRow.id)))
            .join(IncidentAnomaly, IncidentAnomaly.incident_id == IncidentRow.id)
            .join(AnomalyRow, AnomalyRow.id == IncidentAnomaly.anomaly_id)
            .where(IncidentRow.opened_at.between(start, at_us), AnomalyRow.kind == "schema_drift")
        ).scalar_one()
        loss = list(
            conn.execute(
                select(MetricPoint.value)
                .join(MetricSeries, MetricSeries.id == MetricPoint.series_id)
                .where(
                    MetricSeries.name == "event.loss_fraction",
                    MetricPoint.ts.between(start, at_us),
                )
            ).scalars()
        )
        duplicate = conn.execute(
            select(MetricPoint.value)
            .join(MetricSeries, MetricSeries.id == MetricPoint.series_id)
            .join(CatalogEntry, CatalogEntry.node_id == MetricSeries.node_id)
            .where(
                CatalogEntry.kind == "identity",
                MetricSeries.name.in_(IDENTITY_METRICS),
                MetricPoint.ts <= at_us,
            )
            .order_by(MetricPoint.ts.desc())
            .limit(1)
        ).scalar_one_or_none()
        campaigns = list(
            conn.execute(
                select(CatalogEntry.node_id).where(CatalogEntry.kind == "campaign")
            ).scalars()
        )
        anomalous = set(
            conn.execute(
                select(AnomalyRow.node_id).where(
                    AnomalyRow.status == "open", AnomalyRow.onset_at <= at_us
                )
            ).scalars()
        )
    return Kpis(
        at=iso(at_us) or "",
        window_days=window_us / DAY_US,
        mttd_seconds=mttd,
        mttr_seconds=mttr,
        applied_actions=len(tiers),
        auto_remediated_pct=(
            100.0 * sum(1 for t in tiers if t == "low") / len(tiers) if tiers else None
        ),
        duplicate_profile_rate=duplicate,
        schema_drift_incidents_per_month=drift * MONTH_US / window_us,
        event_loss_rate=_mean([float(v) for v in loss]),
        campaigns_total=len(campaigns),
        campaigns_verified=_verified(store, campaigns, anomalous),
    )


def _verified(store: Store, campaigns: list[int], anomalous: set[int]) -> int:
    if not campaigns:
        return 0
    if not anomalous:
        return len(campaigns)
    graph = get_graph(store)
    graph.ensure_loaded(campaigns)
    clean = 0
    for nid in campaigns:
        reach = graph.distances(nid, "upstream", depth=None, include_jobs=True)
        if not (set(reach) | {nid}) & anomalous:
            clean += 1
    return clean


# -- Prometheus ---------------------------------------------------------------------------

_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("mttd_seconds", "flowsleuth_mttd_seconds", "Mean time from anomaly onset to detection"),
    ("mttr_seconds", "flowsleuth_mttr_seconds", "Mean time from incident open to resolution"),
    ("auto_remediated_pct", "flowsleuth_auto_remediated_percent", "Applied actions of tier low"),
    ("duplicate_profile_rate", "flowsleuth_duplicate_profile_rate", "Latest identity dup rate"),
    (
        "schema_drift_incidents_per_month",
        "flowsleuth_schema_drift_incidents_per_month",
        "Incidents with schema drift, per 30 days",
    ),
    ("event_loss_rate", "flowsleuth_event_loss_rate", "Mean event.loss_fraction"),
    ("campaigns_total", "flowsleuth_campaigns", "Campaign nodes in the catalog"),
    (
        "campaigns_verified",
        "flowsleuth_campaigns_verified",
        "Campaigns with no open anomaly upstream",
    ),
    ("applied_actions", "flowsleuth_applied_actions", "Remediation actions applied"),
)


class KpiCollector(Collector):
    """Reads :func:`compute_kpis` at scrape time; figures with nothing measured are left out."""

    def __init__(self, store: Store, clock: Any) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = compute_kpis(self.store, self.clock()).model_dump()
        for field, name, doc in _GAUGES:
            value = figures[field]
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))
