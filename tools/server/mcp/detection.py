"""Detection tools: SLO status (read) and a detection pass (a write: it opens, updates and
resolves anomalies and incidents in the store)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

# The engine first: importing the detectors through it avoids an import cycle between
# tools.detect.slo and the detector registry.
import tools.detect.engine  # noqa: F401
from tools.detect.slo import SloStatus, slo_status
from tools.incidents.investigate import investigate
from tools.server.mcp.args import LimitArg, OffsetArg, OptionalNodeArg
from tools.server.mcp.budget import Page, Result
from tools.server.mcp.incidents import IncidentSummary, summarize
from tools.server.mcp.registry import ToolDeps, parse_node, tool
from tools.store.queries import node_id

FAMILY = "detection"


class DetectionRun(BaseModel):
    """What one detection pass left open: anomalies, and incidents most severe first."""

    at: str
    anomalies_open: int
    incidents: list[IncidentSummary]


class DetectionTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.budget = deps.budget

    @tool("SLO status")
    def slo_status(
        self,
        node: OptionalNodeArg = None,
        status: Annotated[
            Literal["ok", "burning", "exhausted", "no_data"] | None,
            Field(description="Only SLOs in this state"),
        ] = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 50,
    ) -> Page[SloStatus]:
        """The catalog's SLOs now: current value, whether it is met, attainment over the
        window, error budget remaining, burn rates and the burn alerts firing."""
        ref = parse_node(node) if node else None
        if ref is not None:
            node_id(self.store, ref)
        found = slo_status(self.store, self.deps.now_us(), node=ref)
        chosen = [s for s in found if status is None or s.status == status]
        return self.budget.page(chosen[offset:], offset=offset, limit=limit, total=len(chosen))

    @tool("Run detection", write=True, idempotent=True)
    def run_detection(
        self, offset: OffsetArg = 0, limit: LimitArg = 20
    ) -> Result[DetectionRun]:
        """Run every detector on the telemetry up to now, fold the findings into the
        anomalies table and regroup incidents (ranked causes, blast radius). Returns the
        open incidents, most severe first."""
        run = investigate(self.store, self.deps.now_us())
        view = DetectionRun(
            at=run.at,
            anomalies_open=run.anomalies_open,
            incidents=[summarize(i) for i in run.incidents],
        )
        return self.budget.view(view, "incidents", offset=offset, limit=limit)
