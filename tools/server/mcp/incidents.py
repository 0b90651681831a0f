"""Incident tools: anomalies, incidents and one incident in full."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tools.anomalies import AnomalyView, list_anomalies
from tools.faults import FAULT_KINDS, SEVERITIES, FaultKind, Severity
from tools.incidents import IncidentView, get_incident, list_incidents
from tools.server.mcp.args import IncidentArg, LimitArg, OffsetArg, OptionalNodeArg, SinceArg
from tools.server.mcp.budget import Page, Result
from tools.server.mcp.registry import ToolDeps, parse_node, tool
from tools.store.queries import node_id
from tools.timeutil import parse_micros

FAMILY = "incidents"
# list_incidents reads each incident in full; this many is plenty for any listing.
INCIDENT_SCAN = 200


class CauseSummary(BaseModel):
    node: str
    kind: str
    confidence: float


class IncidentSummary(BaseModel):
    """One incident in a listing; get_incident has the symptoms, causes and evidence."""

    id: int
    status: str
    severity: str
    title: str
    opened_at: str
    updated_at: str
    resolved_at: str | None
    symptoms: int
    top_cause: CauseSummary | None
    campaigns_affected: int
    revenue_at_risk_per_day: float
    owners: list[str]


def summarize(view: IncidentView) -> IncidentSummary:
    top = view.root_causes[0] if view.root_causes else None
    return IncidentSummary(
        id=view.id,
        status=view.status,
        severity=view.severity,
        title=view.title,
        opened_at=view.opened_at,
        updated_at=view.updated_at,
        resolved_at=view.resolved_at,
        symptoms=len(view.symptoms),
        top_cause=(
            CauseSummary(node=top.node, kind=top.kind, confidence=top.confidence) if top else None
        ),
        campaigns_affected=view.campaigns_affected,
        revenue_at_risk_per_day=view.revenue_at_risk_per_day,
        owners=view.owners,
    )


class IncidentTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.budget = deps.budget

    @tool("List anomalies")
    def list_anomalies(
        self,
        status: Annotated[
            Literal["open", "resolved"] | None, Field(description="open or resolved")
        ] = "open",
        node: OptionalNodeArg = None,
        kind: Annotated[
            FaultKind | None, Field(description=f"Fault kind, one of: {', '.join(FAULT_KINDS)}")
        ] = None,
        since: Annotated[
            str | None,
            Field(description="Only anomalies updated since (ISO 8601 or a duration: '24h')"),
        ] = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 50,
    ) -> Page[AnomalyView]:
        """Detected anomalies, oldest onset first: node, fault kind, metric, observed vs
        expected (with bounds), score, severity, summary and evidence."""
        ref = parse_node(node) if node else None
        if ref is not None:
            node_id(self.store, ref)  # an unknown node is an error, not an empty answer
        found = list_anomalies(
            self.store,
            status=status,
            node=ref,
            kind=kind,
            since_us=self.deps.time(since, "since"),
            limit=offset + limit + 1,
        )
        return self.budget.page(found[offset:], offset=offset, limit=limit)

    @tool("List incidents")
    def list_incidents(
        self,
        status: Annotated[
            Literal["open", "resolved"] | None,
            Field(description="open or resolved (all when omitted)"),
        ] = None,
        min_severity: Annotated[
            Severity | None, Field(description=f"At least this severity: {', '.join(SEVERITIES)}")
        ] = None,
        since: SinceArg = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 20,
    ) -> Page[IncidentSummary]:
        """Incidents (anomalies grouped through lineage and time), most severe and most
        costly first: title, severity, top root cause, campaigns and revenue at risk."""
        since_us = self.deps.time(since, "since")
        views = list_incidents(self.store, status=status, limit=INCIDENT_SCAN)
        floor = SEVERITIES.index(min_severity) if min_severity else 0
        chosen = [
            summarize(v)
            for v in views
            if SEVERITIES.index(v.severity) >= floor
            and (since_us is None or parse_micros(v.updated_at) >= since_us)
        ]
        return self.budget.page(
            chosen[offset:], offset=offset, limit=limit, total=len(chosen)
        )

    @tool("Get an incident")
    def get_incident(
        self,
        incident_id: IncidentArg,
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=1, le=200, description="At most this many symptoms")] = 50,
    ) -> Result[IncidentView]:
        """One incident in full: its symptoms (anomalies), ranked root causes with
        evidence and lineage paths, impacted and at-risk assets with owners, campaigns
        affected and revenue at risk per day. Paged over symptoms."""
        view = get_incident(self.store, incident_id)
        return self.budget.view(view, "symptoms", offset=offset, limit=limit)
