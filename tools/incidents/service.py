"""Incidents over time: built from open anomalies, kept in the store, resolved with them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update

from tools.anomalies import AnomalyView, get_anomalies, list_anomalies
from tools.faults import SEVERITIES
from tools.incidents.blast import blast_radius
from tools.incidents.grouping import DEFAULT_WINDOW_US, group_anomalies
from tools.incidents.model import ImpactedNode, IncidentView, RootCause
from tools.incidents.rca import rank_root_causes
from tools.lineage import get_graph
from tools.store.db import Store
from tools.store.models import IncidentAnomaly, IncidentRow
from tools.timeutil import iso, parse_micros

# A group of nothing but changes (a deploy, an added nullable column) is a change event
# for investigations to cite, not an incident; neither is a group of low-severity blips.
SYMPTOM_SEVERITIES = frozenset({"medium", "high", "critical"})
REVENUE_SEVERITY = ((20_000.0, "critical"), (5_000.0, "high"), (0.01, "medium"))


class UnknownIncidentError(LookupError):
    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"unknown incident {incident_id}")


def is_benign_change(anomaly: AnomalyView) -> bool:
    """A schema change that breaks nothing (an added nullable field is the common case):
    kept as an anomaly for the record, but neither a symptom nor a suspect."""
    return anomaly.kind == "schema_drift" and anomaly.severity in ("info", "low")


def is_incident(group: Sequence[AnomalyView]) -> bool:
    for a in group:
        if a.severity not in SYMPTOM_SEVERITIES:
            continue
        if a.kind == "code_change":
            continue
        if a.kind == "schema_drift" and a.severity == "medium":
            continue
        return True
    return False


def incident_severity(group: Sequence[AnomalyView], revenue: float) -> str:
    worst = max(
        (SEVERITIES.index(a.severity) for a in group if a.severity in SEVERITIES),
        default=SEVERITIES.index("medium"),
    )
    for threshold, level in REVENUE_SEVERITY:
        if revenue >= threshold:
            worst = max(worst, SEVERITIES.index(level))
            break
    return SEVERITIES[worst]


def title_for(causes: Sequence[RootCause], campaigns: int, revenue: float) -> str:
    if not causes:
        return "anomalies without a located cause"
    top = causes[0]
    name = top.node.rsplit(":", 1)[-1]
    hits = f"; {campaigns} campaign{'s' if campaigns != 1 else ''} hit" if campaigns else ""
    money = f", ${revenue:,.0f}/day at risk" if revenue else ""
    return f"{top.kind.replace('_', ' ')} at {name}{hits}{money}"


def refresh_incidents(
    store: Store, at_us: int, *, window_us: int = DEFAULT_WINDOW_US
) -> list[IncidentView]:
    """Group the open anomalies into incidents, rank causes, size the blast radius and save.

    An open incident sharing an anomaly with a new group is updated in place (same id);
    open incidents whose anomalies have all resolved are resolved at ``at_us``.
    """
    graph = get_graph(store)
    graph.refresh(force=True)
    anomalies = [a for a in list_anomalies(store, status="open", limit=100_000)
                 if not is_benign_change(a)]
    groups = [g for g in group_anomalies(anomalies, graph, window_us=window_us) if is_incident(g)]
    with store.read() as conn:
        open_rows = conn.execute(
            select(IncidentRow.id, IncidentAnomaly.anomaly_id)
            .join(IncidentAnomaly, IncidentAnomaly.incident_id == IncidentRow.id)
            .where(IncidentRow.status == "open")
        ).all()
    owner_of: dict[int, int] = {}
    for inc_id, anomaly_id in open_rows:
        owner_of.setdefault(anomaly_id, inc_id)
    open_ids = {inc_id for inc_id, _ in open_rows}
    kept: set[int] = set()
    for group in groups:
        causes = rank_root_causes(group, graph)
        blast = blast_radius(store, group, causes)
        values: dict[str, Any] = {
            "status": "open",
            "severity": incident_severity(group, blast.revenue_at_risk_per_day),
            "title": title_for(causes, blast.campaigns_affected, blast.revenue_at_risk_per_day),
            "updated_at": at_us,
            "resolved_at": None,
            "root_causes": [c.model_dump() for c in causes],
            "impacted": blast.impacted,
            "at_risk": [n.model_dump() for n in blast.at_risk],
            "revenue_at_risk_per_day": blast.revenue_at_risk_per_day,
        }
        matches = sorted({owner_of[a.id] for a in group if a.id in owner_of} - kept)
        with store.write() as conn:
            if matches:
                inc_id = matches[0]
                conn.execute(update(IncidentRow).where(IncidentRow.id == inc_id).values(**values))
                conn.execute(delete(IncidentAnomaly).where(IncidentAnomaly.incident_id == inc_id))
            else:
                opened = min(a.onset for a in group)
                inc_id = conn.execute(
                    insert(IncidentRow)
                    .values(opened_at=parse_micros(opened), **values)
                    .returning(IncidentRow.id)
                ).scalar_one()
            conn.execute(
                insert(IncidentAnomaly),
                [{"incident_id": inc_id, "anomaly_id": a.id} for a in group],
            )
        kept.add(inc_id)
    stale = open_ids - kept
    if stale:
        with store.write() as conn:
            conn.execute(
                update(IncidentRow)
                .where(IncidentRow.id.in_(stale))
                .values(status="resolved", resolved_at=at_us, updated_at=at_us)
            )
    return list_incidents(store, status="open")


def list_incidents(
    store: Store, *, status: str | None = None, limit: int = 200
) -> list[IncidentView]:
    """Most severe first. Three queries whatever the number of incidents."""
    stmt = select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(IncidentRow.status == status)
    with store.read() as conn:
        rows = list(conn.execute(stmt).mappings())
        members: dict[int, list[int]] = {}  # anomaly -> the incidents it belongs to
        if rows:
            for incident_id, anomaly_id in conn.execute(
                select(IncidentAnomaly.incident_id, IncidentAnomaly.anomaly_id).where(
                    IncidentAnomaly.incident_id.in_([r["id"] for r in rows])
                )
            ):
                members.setdefault(anomaly_id, []).append(incident_id)
    symptoms: dict[int, list[AnomalyView]] = {r["id"]: [] for r in rows}
    for anomaly in get_anomalies(store, list(members)):  # in onset order
        for incident_id in members[anomaly.id]:
            symptoms[incident_id].append(anomaly)
    return sorted((_incident_view(r, symptoms[r["id"]]) for r in rows), key=_rank)


def _rank(view: IncidentView) -> tuple[int, float, int]:
    return (-SEVERITIES.index(view.severity), -view.revenue_at_risk_per_day, view.id)


def get_incident(store: Store, incident_id: int) -> IncidentView:
    with store.read() as conn:
        row = (
            conn.execute(select(IncidentRow).where(IncidentRow.id == incident_id))
            .mappings()
            .first()
        )
        if row is None:
            raise UnknownIncidentError(incident_id)
        anomaly_ids = list(
            conn.execute(
                select(IncidentAnomaly.anomaly_id).where(IncidentAnomaly.incident_id == incident_id)
            ).scalars()
        )
    return _incident_view(row, get_anomalies(store, anomaly_ids))


def _incident_view(row: Any, symptoms: list[AnomalyView]) -> IncidentView:
    at_risk = [ImpactedNode(**n) for n in row["at_risk"] or []]
    campaigns = sum(1 for n in at_risk if n.kind == "campaign")
    owners: list[str] = []
    for n in at_risk:
        if n.owner and n.owner not in owners:
            owners.append(n.owner)
    return IncidentView(
        id=row["id"],
        status=row["status"],
        severity=row["severity"],
        title=row["title"],
        opened_at=iso(row["opened_at"]) or "",
        updated_at=iso(row["updated_at"]) or "",
        resolved_at=iso(row["resolved_at"]),
        symptoms=symptoms,
        root_causes=[RootCause(**c) for c in row["root_causes"] or []],
        impacted=list(row["impacted"] or []),
        at_risk=at_risk,
        campaigns_affected=campaigns,
        revenue_at_risk_per_day=row["revenue_at_risk_per_day"],
        owners=owners,
        report=row["report"],
    )
