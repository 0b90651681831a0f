"""Telemetry tools: assets, metrics, freshness, runs, schema history, logs and traces."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tools.ingest.catalog import get_catalog_entry
from tools.server.mcp.args import (
    LimitArg,
    NodeArg,
    OffsetArg,
    OptionalNodeArg,
    SinceArg,
    UntilArg,
)
from tools.server.mcp.budget import Page, Result
from tools.server.mcp.registry import ToolDeps, parse_node, tool
from tools.store.metric_buckets import MAX_BUCKETS, BucketedMetrics, metric_buckets
from tools.store.observability_queries import (
    LogView,
    TraceSummary,
    TraceView,
    get_trace,
    list_traces,
    search_logs,
)
from tools.store.queries import AssetView, RunView, list_assets, list_runs, node_id
from tools.store.telemetry_queries import (
    FreshnessView,
    SchemaHistory,
    freshness,
    runs_with_errors,
    schema_versions,
)

FAMILY = "telemetry"


class SloView(BaseModel):
    metric: str
    objective: str
    target: float
    window: str
    threshold: float = Field(description="The objective's bound in the metric's unit")


class CatalogView(BaseModel):
    """Business context of one asset, from the catalog file."""

    node: str
    in_catalog: bool
    kind: str | None = None
    tier: int | None = None
    owner: str | None = None
    revenue_per_day: float | None = None
    slos: list[SloView] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


class TelemetryTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.budget = deps.budget

    @tool("List assets")
    def list_assets(
        self,
        search: Annotated[
            str | None,
            Field(description="Case-insensitive text the id must contain, e.g. 'orders'"),
        ] = None,
        type: Annotated[
            Literal["dataset", "job"] | None, Field(description="Only datasets or only jobs")
        ] = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 50,
    ) -> Page[AssetView]:
        """Datasets and jobs flowsleuth has seen, with catalog kind, tier, owner and revenue
        per day. Use the returned `id` values as the `node` argument of other tools."""
        found = list_assets(self.store, node_type=type, search=search, limit=offset + limit + 1)
        return self.budget.page(found[offset:], offset=offset, limit=limit)

    @tool("Catalog entry of an asset")
    def get_catalog_entry(self, node: NodeArg) -> Result[CatalogView]:
        """The catalog's business context for one asset: kind (source, staging, model,
        identity, audience, activation, campaign), tier, owner team, revenue per day and
        its SLO definitions."""
        ref = parse_node(node)
        node_id(self.store, ref)
        entry = get_catalog_entry(self.store, ref)
        if entry is None:
            return self.budget.single(CatalogView(node=str(ref), in_catalog=False))
        view = CatalogView(
            node=str(ref),
            in_catalog=True,
            kind=entry.kind,
            tier=entry.tier,
            owner=entry.owner,
            revenue_per_day=entry.revenue_per_day,
            slos=[
                SloView(
                    metric=s.metric,
                    objective=s.objective,
                    target=s.target,
                    window=s.window,
                    threshold=s.threshold,
                )
                for s in entry.slos
            ],
            extra=entry.extras(),
        )
        return self.budget.single(view)

    @tool("Query metrics")
    def query_metrics(
        self,
        node: NodeArg,
        name: Annotated[
            str | None,
            Field(description="Metric name, e.g. 'data.null_fraction' or "
                  "'activation.sync.success_ratio'; all of the node's metrics when omitted"),
        ] = None,
        attributes: Annotated[
            dict[str, str] | None,
            Field(description="Only series with these attribute values, e.g. "
                  "{\"column\": \"email\"}"),
        ] = None,
        since: SinceArg = None,
        until: UntilArg = None,
        buckets: Annotated[
            int, Field(ge=1, le=MAX_BUCKETS, description="Downsample each series to this "
                       "many time buckets (count, min, max, mean per bucket)")
        ] = 48,
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=1, le=100, description="At most this many series")] = 20,
    ) -> Result[BucketedMetrics]:
        """A node's metric series over a time range, downsampled to `buckets` buckets. With
        no range, the whole stored history of the chosen series. Paged over series."""
        since_us, until_us = self.deps.time_range(since, until)
        view = metric_buckets(
            self.store,
            parse_node(node),
            name=name,
            attributes=attributes,
            since_us=since_us,
            until_us=until_us,
            buckets=buckets,
        )
        return self.budget.view(view, "series", offset=offset, limit=limit)

    @tool("Freshness of an asset")
    def get_freshness(self, node: NodeArg) -> Result[FreshnessView]:
        """How stale a dataset (through the jobs writing it) or a job is now: lag of the
        newest successful output behind its schedule, last success and failure, the
        source's own reported lag, and whether the catalog's freshness objective holds."""
        return self.budget.single(freshness(self.store, parse_node(node), self.deps.now_us()))

    @tool("Runs of a job")
    def list_runs(
        self,
        node: NodeArg,
        errors_only: Annotated[
            bool, Field(description="Only failed or aborted runs and runs reporting an error")
        ] = False,
        since: SinceArg = None,
        until: UntilArg = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 20,
    ) -> Page[RunView]:
        """Runs of a job (or of the jobs writing a dataset), newest first, with state,
        timing, schedule and error message."""
        ref = parse_node(node)
        since_us, until_us = self.deps.time_range(since, until)
        if errors_only:
            found = runs_with_errors(
                self.store, ref, since_us=since_us, until_us=until_us,
                limit=limit + 1, offset=offset,
            )
            return self.budget.page(found, offset=offset, limit=limit)
        runs = list_runs(
            self.store, ref, since_us=since_us, until_us=until_us, limit=offset + limit + 1
        )
        return self.budget.page(runs[offset:], offset=offset, limit=limit)

    @tool("Schema versions of a dataset")
    def get_schema_versions(
        self,
        node: NodeArg,
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=1, le=100, description="Versions, newest first")] = 5,
    ) -> Result[SchemaHistory]:
        """Recent schema versions of a dataset, newest first, each with the fields added,
        removed and retyped since the version before (schema drift)."""
        history = schema_versions(self.store, parse_node(node), limit=offset + limit)
        return self.budget.view(history, "versions", offset=offset, limit=limit)

    @tool("Search logs")
    def search_logs(
        self,
        node: OptionalNodeArg = None,
        text: Annotated[
            str | None, Field(description="Case-insensitive text the log body contains")
        ] = None,
        min_severity: Annotated[
            Literal["trace", "debug", "info", "warn", "error", "fatal"] | None,
            Field(description="Only records at or above this severity"),
        ] = None,
        trace_id: Annotated[
            str | None, Field(description="Only records of this trace (32 hex characters)")
        ] = None,
        since: SinceArg = None,
        until: UntilArg = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 50,
    ) -> Page[LogView]:
        """Pipeline log records, newest first, PII-redacted (emails, phones, IPs, cards,
        ad ids appear as <email>, <phone>, ...)."""
        since_us, until_us = self.deps.time_range(since, until)
        found = search_logs(
            self.store,
            node=parse_node(node) if node else None,
            text=text,
            since_us=since_us,
            until_us=until_us,
            min_severity=min_severity,
            trace_id=trace_id,
            limit=limit + 1,
            offset=offset,
        )
        return self.budget.page(found, offset=offset, limit=limit)

    @tool("List sampled event traces")
    def list_traces(
        self,
        node: OptionalNodeArg = None,
        errors_only: Annotated[bool, Field(description="Only traces with a failed span")] = False,
        since: SinceArg = None,
        until: UntilArg = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 20,
    ) -> Page[TraceSummary]:
        """Sampled events' traces (one span per pipeline stage), newest first; with `node`,
        only traces passing through it. Open one with get_trace."""
        since_us, until_us = self.deps.time_range(since, until)
        found = list_traces(
            self.store,
            node=parse_node(node) if node else None,
            since_us=since_us,
            until_us=until_us,
            errors_only=errors_only,
            limit=limit + 1,
            offset=offset,
        )
        return self.budget.page(found, offset=offset, limit=limit)

    @tool("Trace of a sampled event")
    def get_trace(
        self,
        trace_id: Annotated[str, Field(description="Trace id: 32 hexadecimal characters")],
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many spans")] = 100,
    ) -> Result[TraceView]:
        """One sampled event's end-to-end path: spans by stage in time order with
        durations and status, the assets it passed through, its total latency and the log
        records sharing its trace id (redacted). Paged over spans."""
        return self.budget.view(
            get_trace(self.store, trace_id), "spans", offset=offset, limit=limit
        )
