"""Lineage tools: upstream, downstream, path, column lineage, impact, root-cause candidates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tools.incidents import RootCause, get_incident
from tools.lineage import (
    ColumnEdge,
    ColumnLineageView,
    DownstreamView,
    ImpactView,
    LineageColumn,
    PathView,
    UpstreamView,
    column_lineage,
    downstream,
    impact,
    path,
    upstream,
)
from tools.server.mcp.args import IncidentArg, NodeArg, OffsetArg
from tools.server.mcp.budget import ENVELOPE_CHARS, Result, json_size
from tools.server.mcp.registry import ToolDeps, parse_node, tool

FAMILY = "lineage"

DepthArg = Annotated[
    int | None,
    Field(ge=0, le=100, description="Stop this many dataset hops away (all when omitted)"),
]
IncludeJobsArg = Annotated[
    bool, Field(description="List jobs too (then every hop counts in the distance)")
]
NodesLimit = Annotated[int, Field(ge=1, le=1000, description="At most this many nodes")]


class RootCauseCandidates(BaseModel):
    """Ranked root-cause hypotheses of an incident, best first, each with the anomalies it
    explains, the evidence for and against it, and the lineage paths from it to each
    symptom."""

    incident_id: int
    title: str
    status: str
    symptoms: int
    candidates: list[RootCause]


class LineageTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.budget = deps.budget

    @tool("Upstream lineage")
    def lineage_upstream(
        self,
        node: NodeArg,
        depth: DepthArg = None,
        include_jobs: IncludeJobsArg = False,
        offset: OffsetArg = 0,
        limit: NodesLimit = 200,
    ) -> Result[UpstreamView]:
        """Everything that feeds `node`, nearest first, with its distance in hops;
        `cycle` says the walk met a lineage cycle."""
        view = upstream(self.store, parse_node(node), depth=depth, include_jobs=include_jobs)
        return self.budget.view(view, "upstream", offset=offset, limit=limit)

    @tool("Downstream lineage")
    def lineage_downstream(
        self,
        node: NodeArg,
        depth: DepthArg = None,
        include_jobs: IncludeJobsArg = False,
        offset: OffsetArg = 0,
        limit: NodesLimit = 200,
    ) -> Result[DownstreamView]:
        """Everything `node` feeds, nearest first, with its distance in hops."""
        view = downstream(self.store, parse_node(node), depth=depth, include_jobs=include_jobs)
        return self.budget.view(view, "downstream", offset=offset, limit=limit)

    @tool("Lineage path between two assets")
    def lineage_path(
        self,
        start: Annotated[str, Field(description="One asset id ('dataset:<ns>:<name>')")],
        end: Annotated[str, Field(description="The other asset id")],
    ) -> Result[PathView]:
        """The shortest directed lineage path between two assets, jobs included, in the
        direction data flows (`direction` says which way), or `found: false`."""
        view = path(self.store, parse_node(start, "start"), parse_node(end, "end"))
        return self.budget.view(view, "path", offset=0, limit=10_000)

    @tool("Column lineage")
    def column_lineage(
        self,
        node: NodeArg,
        column: Annotated[str, Field(min_length=1, description="Column of that dataset")],
        direction: Annotated[
            Literal["upstream", "downstream"],
            Field(description="upstream: the source columns feeding it; downstream: the "
                  "columns it feeds"),
        ] = "upstream",
        depth: DepthArg = None,
        offset: OffsetArg = 0,
        limit: NodesLimit = 200,
    ) -> Result[ColumnLineageView]:
        """Which columns feed (or are fed by) a dataset column, across datasets, nearest
        first, with each column edge's transformation. Use it to find which source column
        a broken column comes from."""
        view = column_lineage(
            self.store, parse_node(node), column, direction=direction, depth=depth
        )
        edges_of: dict[tuple[str, str], list[ColumnEdge]] = {}
        for e in view.edges:
            far = (e.src_node, e.src_column) if direction == "upstream" else (
                e.dst_node, e.dst_column
            )
            edges_of.setdefault(far, []).append(e)

        def size(c: LineageColumn) -> int:
            return json_size(c) + sum(json_size(e) for e in edges_of.get((c.node, c.column), []))

        base = view.model_copy(update={"columns": [], "edges": []})
        taken, info = self.budget.cut(
            view.columns[offset:],
            offset=offset,
            limit=limit,
            total=len(view.columns),
            size_of=size,
            room=self.budget.chars - ENVELOPE_CHARS - json_size(base),
            field="columns",
        )
        edges = [e for c in taken for e in edges_of.get((c.node, c.column), [])]
        return Result[ColumnLineageView](
            result=base.model_copy(update={"columns": taken, "edges": edges}), page=info
        )

    @tool("Impact and revenue at risk")
    def assess_impact(
        self, node: NodeArg, offset: OffsetArg = 0, limit: NodesLimit = 200
    ) -> Result[ImpactView]:
        """Blast radius of a broken asset: the audiences, activations and campaigns at or
        downstream of it with tier, owner and revenue per day, the campaigns affected,
        the revenue per day at risk (counted once per funnel) and the owners to notify."""
        view = impact(self.store, parse_node(node))
        return self.budget.view(view, "impacted", offset=offset, limit=limit)

    @tool("Root-cause candidates of an incident")
    def root_cause_candidates(
        self,
        incident_id: IncidentArg,
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=1, le=50, description="At most this many")] = 5,
    ) -> Result[RootCauseCandidates]:
        """Ranked root-cause hypotheses for an incident, best first: node, fault kind,
        confidence, the anomalies it explains, evidence and contradictions (each citing
        an anomaly, node or run) and the lineage paths from the cause to each symptom."""
        incident = get_incident(self.store, incident_id)
        view = RootCauseCandidates(
            incident_id=incident.id,
            title=incident.title,
            status=incident.status,
            symptoms=len(incident.symptoms),
            candidates=incident.root_causes,
        )
        return self.budget.view(view, "candidates", offset=offset, limit=limit)
