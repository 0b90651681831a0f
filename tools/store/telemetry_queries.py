"""Read-side questions about one asset: schema history, freshness, failed runs.

Each function returns pydantic views, so the CLI, HTTP routes and MCP tools share shapes.
A node the store does not know raises ``UnknownNodeError`` (via ``node_id``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select

from tools.ingest.catalog import get_catalog_entry
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import DatasetVersion, Edge, MetricPoint, MetricSeries, Node, Run
from tools.store.queries import RunView, node_id
from tools.timeutil import iso

FAILED_STATES = ("FAIL", "ABORT")
SUCCESS_STATE = "COMPLETE"
SOURCE_LAG_METRIC = "data.freshness.lag"


# -- schema versions ----------------------------------------------------------------------


class SchemaField(BaseModel):
    name: str
    type: str | None


class Retyped(BaseModel):
    name: str
    before: str | None
    after: str | None


class SchemaDiff(BaseModel):
    """What changed from the previous schema version to this one."""

    added: list[SchemaField]
    removed: list[SchemaField]
    retyped: list[Retyped]


class SchemaVersion(BaseModel):
    """One schema as observed without interruption from ``first_observed`` to
    ``last_observed``; ``diff`` compares it with the version just before (None for the
    oldest version the store holds)."""

    schema_hash: str
    first_observed: str
    last_observed: str
    observations: int
    fields: list[SchemaField]
    diff: SchemaDiff | None


class SchemaHistory(BaseModel):
    """Newest version first. ``total_versions`` counts every change the store saw;
    ``versions`` holds the newest ``limit`` of them."""

    node: str
    versions: list[SchemaVersion]
    total_versions: int
    observations: int


def schema_versions(store: Store, ref: NodeRef, limit: int = 10) -> SchemaHistory:
    """The schema versions of dataset ``ref``, newest first, each with its diff from the one
    before. Observations of the same schema in a row are one version, so a schema that
    changes and changes back shows as three versions."""
    if ref.type != "dataset":
        raise ValueError(f"{ref} is a job: schema versions are kept for datasets")
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")
    nid = node_id(store, ref)
    with store.read() as conn:
        rows = conn.execute(
            select(DatasetVersion.observed_at, DatasetVersion.schema_hash)
            .where(DatasetVersion.node_id == nid, DatasetVersion.schema_hash.is_not(None))
            .order_by(DatasetVersion.observed_at, DatasetVersion.id)
        ).all()
        runs: list[list[Any]] = []  # [hash, first, last, count]
        for observed, digest in rows:
            if runs and runs[-1][0] == digest:
                runs[-1][2] = observed
                runs[-1][3] += 1
            else:
                runs.append([digest, observed, observed, 1])
        first_shown = max(0, len(runs) - limit)
        # The version before the oldest shown is read too, so that one still gets a diff.
        needed = {r[0] for r in runs[max(0, first_shown - 1) :]}
        fields = _fields_by_hash(conn, nid, needed)
    versions: list[SchemaVersion] = []
    for j in range(first_shown, len(runs)):
        digest, first, last, count = runs[j]
        previous = runs[j - 1][0] if j > 0 else None
        versions.append(
            SchemaVersion(
                schema_hash=digest,
                first_observed=iso(first) or "",
                last_observed=iso(last) or "",
                observations=count,
                fields=fields.get(digest, []),
                diff=(
                    diff_schemas(fields.get(previous, []), fields.get(digest, []))
                    if previous is not None
                    else None
                ),
            )
        )
    versions.reverse()
    return SchemaHistory(
        node=str(ref), versions=versions, total_versions=len(runs), observations=len(rows)
    )


def _fields_by_hash(conn: Any, nid: int, digests: set[str]) -> dict[str, list[SchemaField]]:
    out: dict[str, list[SchemaField]] = {}
    if not digests:
        return out
    stmt = select(DatasetVersion.schema_hash, DatasetVersion.schema_fields).where(
        DatasetVersion.node_id == nid,
        DatasetVersion.schema_hash.in_(sorted(digests)),
        DatasetVersion.schema_fields.is_not(None),
    )
    for digest, raw in conn.execute(stmt):
        if digest not in out:
            out[digest] = _parse_fields(raw)
        if len(out) == len(digests):
            break
    return out


def _parse_fields(raw: Any) -> list[SchemaField]:
    out = []
    for item in raw or []:
        if isinstance(item, dict) and item.get("name") is not None:
            kind = item.get("type")
            name = str(item["name"])
            out.append(SchemaField(name=name, type=None if kind is None else str(kind)))
    return out


def diff_schemas(before: list[SchemaField], after: list[SchemaField]) -> SchemaDiff:
    """Fields added, removed and retyped going from ``before`` to ``after`` (by name)."""
    old = {f.name: f for f in before}
    new = {f.name: f for f in after}
    return SchemaDiff(
        added=[f for f in after if f.name not in old],
        removed=[f for f in before if f.name not in new],
        retyped=[
            Retyped(name=f.name, before=old[f.name].type, after=f.type)
            for f in after
            if f.name in old and old[f.name].type != f.type
        ],
    )


# -- freshness ----------------------------------------------------------------------------


class FreshnessObjective(BaseModel):
    objective: str
    threshold_s: float
    target: float
    window: str


class FreshnessView(BaseModel):
    """How stale ``node`` is at ``as_of``.

    ``lag_s`` is the contract's freshness: how far the newest successful output lags
    behind now, measured from the time it was scheduled for (``nominal_start``) when the
    run carried a schedule, else from when the run ended. Without runs (a source nobody
    in the lineage writes) it comes from the source's own ``data.freshness.lag`` metric,
    aged to ``as_of``, and failing that from the newest observation of the dataset.
    ``basis`` says which. ``overdue_s`` is how long ago the next run was due (the end of
    the newest successful run's scheduled period), 0 when it is not due yet.
    """

    node: str
    as_of: str
    lag_s: float | None
    basis: str | None  # run | metric | observation
    last_success_at: str | None
    last_success_run: str | None
    last_success_job: str | None
    nominal_start: str | None
    nominal_end: str | None
    finished_after_schedule_s: float | None  # run end minus its scheduled start
    overdue_s: float | None
    last_failure_at: str | None
    last_observed_at: str | None
    source_reported_lag_s: float | None
    source_reported_at: str | None
    objective: FreshnessObjective | None
    within_objective: bool | None


def freshness(store: Store, ref: NodeRef, now_us: int) -> FreshnessView:
    """The freshness of a dataset (through the jobs that write it) or of a job itself."""
    nid = node_id(store, ref)
    with store.read() as conn:
        if ref.type == "job":
            jobs = select(Node.id).where(Node.id == nid)
        else:
            jobs = select(Edge.src_id).where(Edge.dst_id == nid)
        ok = conn.execute(
            select(Run, Node.namespace, Node.name)
            .join(Node, Node.id == Run.job_id)
            .where(Run.job_id.in_(jobs), Run.state == SUCCESS_STATE, Run.ended_at.is_not(None))
            .order_by(Run.ended_at.desc())
            .limit(1)
        ).mappings().first()
        failed_at = conn.execute(
            select(Run.last_event_at)
            .where(Run.job_id.in_(jobs), Run.state.in_(FAILED_STATES))
            .order_by(Run.last_event_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        observed = conn.execute(
            select(DatasetVersion.observed_at)
            .where(DatasetVersion.node_id == nid)
            .order_by(DatasetVersion.observed_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        reported = conn.execute(
            select(MetricPoint.ts, MetricPoint.value)
            .join(MetricSeries, MetricSeries.id == MetricPoint.series_id)
            .where(MetricSeries.node_id == nid, MetricSeries.name == SOURCE_LAG_METRIC)
            .order_by(MetricPoint.ts.desc())
            .limit(1)
        ).first()
    lag_s: float | None = None
    basis: str | None = None
    if ok is not None:
        anchor = ok["nominal_start"] or ok["ended_at"]
        lag_s, basis = (now_us - anchor) / 1e6, "run"
    elif reported is not None:
        lag_s, basis = float(reported.value) + (now_us - reported.ts) / 1e6, "metric"
    elif observed is not None:
        lag_s, basis = (now_us - observed) / 1e6, "observation"
    objective = _freshness_objective(store, ref)
    return FreshnessView(
        node=str(ref),
        as_of=iso(now_us) or "",
        lag_s=lag_s,
        basis=basis,
        last_success_at=iso(ok["ended_at"]) if ok else None,
        last_success_run=ok["run_uuid"] if ok else None,
        last_success_job=str(NodeRef("job", ok["namespace"], ok["name"])) if ok else None,
        nominal_start=iso(ok["nominal_start"]) if ok else None,
        nominal_end=iso(ok["nominal_end"]) if ok else None,
        finished_after_schedule_s=(
            (ok["ended_at"] - ok["nominal_start"]) / 1e6 if ok and ok["nominal_start"] else None
        ),
        overdue_s=(
            max(0.0, (now_us - ok["nominal_end"]) / 1e6) if ok and ok["nominal_end"] else None
        ),
        last_failure_at=iso(failed_at),
        last_observed_at=iso(observed),
        source_reported_lag_s=float(reported.value) if reported is not None else None,
        source_reported_at=iso(reported.ts) if reported is not None else None,
        objective=objective,
        within_objective=(
            lag_s <= objective.threshold_s if objective is not None and lag_s is not None else None
        ),
    )


def _freshness_objective(store: Store, ref: NodeRef) -> FreshnessObjective | None:
    entry = get_catalog_entry(store, ref)
    for slo in entry.slos if entry is not None else []:
        if slo.metric == "freshness" and slo.operator in ("<=", "<"):
            return FreshnessObjective(
                objective=slo.objective,
                threshold_s=slo.threshold,
                target=slo.target,
                window=slo.window,
            )
    return None


# -- runs with errors ---------------------------------------------------------------------


def runs_with_errors(
    store: Store,
    ref: NodeRef,
    *,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[RunView]:
    """Failed or aborted runs (or runs that reported an error message) of a job, or of the
    jobs writing a dataset, newest first."""
    nid = node_id(store, ref)
    stmt = (
        select(Run, Node.namespace, Node.name)
        .join(Node, Node.id == Run.job_id)
        .where(or_(Run.state.in_(FAILED_STATES), Run.error_message.is_not(None)))
    )
    if ref.type == "job":
        stmt = stmt.where(Run.job_id == nid)
    else:
        stmt = stmt.where(Run.job_id.in_(select(Edge.src_id).where(Edge.dst_id == nid)))
    if since_us is not None:
        stmt = stmt.where(Run.last_event_at >= since_us)
    if until_us is not None:
        stmt = stmt.where(Run.last_event_at <= until_us)
    stmt = stmt.order_by(Run.last_event_at.desc(), Run.id.desc()).offset(offset).limit(limit)
    with store.read() as conn:
        return [run_view(row) for row in conn.execute(stmt).mappings()]


def run_view(row: Any) -> RunView:
    """A ``runs`` row joined with its job's namespace and name, as a RunView."""
    started, ended = row["started_at"], row["ended_at"]
    return RunView(
        run_id=row["run_uuid"],
        job=str(NodeRef("job", row["namespace"], row["name"])),
        state=row["state"],
        started_at=iso(started),
        ended_at=iso(ended),
        nominal_start=iso(row["nominal_start"]),
        nominal_end=iso(row["nominal_end"]),
        duration_s=(ended - started) / 1e6 if started and ended else None,
        parent_run_id=row["parent_run_uuid"],
        parent_job=row["parent_job"],
        error_message=row["error_message"],
    )


__all__ = [
    "FreshnessObjective",
    "FreshnessView",
    "Retyped",
    "SchemaDiff",
    "SchemaField",
    "SchemaHistory",
    "SchemaVersion",
    "diff_schemas",
    "freshness",
    "run_view",
    "runs_with_errors",
    "schema_versions",
]
