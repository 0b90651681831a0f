"""What the detectors read from the store, as it was at one moment (``at_us``).

Everything is filtered to observations at or before ``at_us`` and after ``since_us``, so
replaying detection at an earlier time sees exactly what the store held then: metric
points by time, dataset versions by when they were observed, runs by their state changes.

Metric points are the bulk (10,000 series x 30 days hourly is 7.2 million rows). Building
a Python tuple per row would cost more than scoring them, so a batch of series comes back
as one JSON text built by the database, parsed by orjson, while the caller scores the
previous batch.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Connection, bindparam, select, text

from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import DatasetVersion, Edge, MetricSeries, Node, Run, RunStateChange

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Attrs = tuple[tuple[str, str], ...]

TERMINAL_STATES = frozenset({"COMPLETE", "FAIL", "ABORT"})
# Runs whose last event is this long before the window still matter: a daily job that
# started before the window and failed inside it.
RUN_MARGIN_US = 2 * 86_400_000_000
SERIES_BATCH = 2_000


def attrs_key(attributes: dict[str, Any] | None) -> Attrs:
    return tuple(sorted((str(k), str(v)) for k, v in (attributes or {}).items()))


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One series of one node: metric name plus attributes (as the anomaly is keyed)."""

    node: NodeRef
    metric: str
    attributes: Attrs = ()

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.attributes)

    def __str__(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.attributes)
        return f"{self.node} {self.metric}{{{inner}}}"


@dataclass(slots=True)
class Series:
    """Observations of one series, oldest first (epoch microseconds)."""

    key: SeriesKey
    ts_us: IntArray
    values: FloatArray
    source: str  # otlp | dataset_versions
    unit: str | None = None


@dataclass(slots=True)
class VersionRow:
    """One dataset version: what a run (or a profile) saw of a dataset."""

    node: NodeRef
    role: str
    observed_at: int
    run_id: int | None
    schema_fields: list[Any] | None
    row_count: float | None
    column_metrics: dict[str, Any] | None
    slot_us: int | None = None  # the nominal start of the run that saw it

    @property
    def data_time(self) -> int:
        """The time the version's data belongs to: its run's schedule slot when known (a
        delayed run still loads the data of its slot), else when it was observed."""
        return self.slot_us if self.slot_us is not None else self.observed_at


@dataclass(slots=True)
class RunAsOf:
    """A run as it stood at ``at_us``: its state is the last change at or before then."""

    id: int
    job: NodeRef
    state: str
    nominal_start: int | None
    started_at: int | None
    ended_at: int | None  # when it reached its terminal state, None while running
    error_message: str | None
    facets: dict[str, Any] = field(default_factory=dict)

    @property
    def scheduled_at(self) -> int | None:
        """The run's slot: its nominal start, else when it started."""
        return self.nominal_start if self.nominal_start is not None else self.started_at


class NodeNames:
    """node id -> NodeRef for the whole store, read once per detection run."""

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute(select(Node.id, Node.type, Node.namespace, Node.name))
        self.by_id: dict[int, NodeRef] = {r[0]: NodeRef(r[1], r[2], r[3]) for r in rows}
        self.ids: dict[NodeRef, int] = {ref: nid for nid, ref in self.by_id.items()}

    def __getitem__(self, node_id: int) -> NodeRef:
        return self.by_id[node_id]


# -- metric points ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesMeta:
    id: int
    key: SeriesKey
    unit: str | None


def list_metric_series(
    conn: Connection, nodes: NodeNames, names: Collection[str] | None = None
) -> list[SeriesMeta]:
    """Series attached to a node (a detection names a node), optionally by metric name."""
    stmt = select(
        MetricSeries.id, MetricSeries.node_id, MetricSeries.name, MetricSeries.unit,
        MetricSeries.attributes,
    ).where(MetricSeries.node_id.is_not(None))
    if names is not None:
        stmt = stmt.where(MetricSeries.name.in_(sorted(names)))
    out = []
    # By name, so that batches hold series one detector configuration scores together.
    order = stmt.order_by(MetricSeries.name, MetricSeries.node_id, MetricSeries.id)
    for sid, nid, name, unit, attributes in conn.execute(order):
        out.append(SeriesMeta(sid, SeriesKey(nodes[nid], name, attrs_key(attributes)), unit))
    return out


def _points_sql(dialect: str) -> Any:
    # A whole batch comes back as one JSON text, [[id, [ts...], [value...]], ...]: the
    # database builds it without the GIL (one row, so no per-row hand-back that would stall
    # a thread scoring meanwhile) and orjson parses it in C, several times faster than a
    # Python tuple per point.
    if dialect == "postgresql":
        sql = (
            "SELECT '[' || string_agg(s, ',') || ']' FROM (SELECT '[' || series_id || ',[' "
            "|| string_agg(ts::text, ',' ORDER BY ts) || '],[' || string_agg(value::text, "
            "',' ORDER BY ts) || ']]' AS s FROM metric_points WHERE series_id IN :ids "
            "AND ts > :since AND ts <= :at GROUP BY series_id) AS per_series"
        )
    else:
        # group_concat's order is unspecified but the same for both columns of a group.
        sql = (
            "SELECT '[' || group_concat(s, ',') || ']' FROM (SELECT '[' || series_id || ',[' "
            "|| group_concat(ts) || '],[' || group_concat(value) || ']]' AS s "
            "FROM metric_points WHERE series_id IN :ids AND ts > :since AND ts <= :at "
            "GROUP BY series_id)"
        )
    return text(sql).bindparams(bindparam("ids", expanding=True))


Rows = list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64]]]


def parse_batch(joined: str) -> Rows:
    """``[[series_id, [ts...], [value...]], ...]`` -> (id, timestamps, values) per series.

    Non-finite values (printed Inf / NaN / Infinity, which JSON does not have) are read
    the slow way rather than lost.
    """
    try:
        rows = orjson.loads(joined)
    except orjson.JSONDecodeError:
        rows = None
    if rows is not None:
        return [(int(sid), np.asarray(ts, dtype=np.int64), np.asarray(vs, dtype=np.float64))
                for sid, ts, vs in rows]
    out: Rows = []
    for part in joined[2:-2].split("]],["):
        sid, ts, vs = part.split(",[", 2)
        out.append((int(sid), np.asarray([int(x) for x in ts.rstrip("]").split(",")],
                                         dtype=np.int64),
                    np.asarray([float(x) for x in vs.strip("[]").split(",")])))
    return out


def _query_batch(conn: Connection, metas: Sequence[SeriesMeta], since_us: int, at_us: int
                 ) -> str | None:
    return conn.execute(_points_sql(conn.dialect.name),
                        {"ids": [m.id for m in metas], "since": since_us, "at": at_us}).scalar()


def _series(metas: Sequence[SeriesMeta], rows: Rows) -> list[Series]:
    by_id = {m.id: m for m in metas}
    out = []
    for sid, ts, values in sorted(rows, key=lambda r: r[0]):
        if ts.size == 0:
            continue
        if np.any(ts[1:] < ts[:-1]):
            order = np.argsort(ts, kind="stable")
            ts, values = ts[order], values[order]
        meta = by_id[sid]
        out.append(Series(meta.key, ts, values, "otlp", meta.unit))
    return out


def _read_batch(conn: Connection, metas: Sequence[SeriesMeta], since_us: int, at_us: int
                ) -> list[Series]:
    joined = _query_batch(conn, metas, since_us, at_us)
    return _series(metas, parse_batch(joined)) if joined else []


def read_points(
    conn: Connection, metas: Sequence[SeriesMeta], *, since_us: int, at_us: int
) -> list[Series]:
    """The points of ``metas`` in (since_us, at_us]; series without points are left out."""
    out = []
    for batch in iter_batches(metas, SERIES_BATCH):
        out.extend(_read_batch(conn, batch, since_us, at_us))
    return out


def iter_points(
    store: Store, metas: Sequence[SeriesMeta], *, since_us: int, at_us: int,
    batch: int = SERIES_BATCH,
) -> Iterator[list[Series]]:
    """Batches of series with their points; the next batches' queries run in a background
    thread while the caller works on the current one (the database does its part without
    holding the GIL, so reading overlaps scoring)."""
    batches = list(iter_batches(metas, batch))
    if not batches:
        return
    if len(batches) == 1:
        with store.read() as conn:
            yield _read_batch(conn, batches[0], since_us, at_us)
        return

    def query(part: Sequence[SeriesMeta]) -> str | None:
        with store.read() as conn:
            return _query_batch(conn, part, since_us, at_us)

    # A reader thread runs the queries (the database works without the GIL) while the
    # caller scores; the JSON parse, which needs the GIL, is done here, between scorings,
    # so the two threads do not fight over it. A worker process for the parse was
    # measured slower on two cores.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowsleuth-points") as pool:
        # Two queries ahead at most: a batch's text is tens of megabytes.
        ahead: deque[Future[str | None]] = deque(pool.submit(query, b) for b in batches[:2])
        for i, part in enumerate(batches):
            joined = ahead.popleft().result()
            if i + 2 < len(batches):
                ahead.append(pool.submit(query, batches[i + 2]))
            yield _series(part, parse_batch(joined)) if joined else []


def load_metric_series(
    store: Store, *, at_us: int, since_us: int, names: Collection[str] | None = None
) -> list[Series]:
    """Metric series of nodes, as of ``at_us``."""
    with store.read() as conn:
        nodes = NodeNames(conn)
        metas = list_metric_series(conn, nodes, names)
        return read_points(conn, metas, since_us=since_us, at_us=at_us)


# -- dataset versions -----------------------------------------------------------------------


def load_versions(
    conn: Connection, nodes: NodeNames, *, at_us: int, since_us: int
) -> list[VersionRow]:
    """Dataset versions observed in (since_us, at_us], oldest first."""
    stmt = (
        select(
            DatasetVersion.node_id, DatasetVersion.role, DatasetVersion.observed_at,
            DatasetVersion.run_id, DatasetVersion.schema_fields, DatasetVersion.row_count,
            DatasetVersion.column_metrics, Run.nominal_start,
        )
        .outerjoin(Run, Run.id == DatasetVersion.run_id)
        .where(DatasetVersion.observed_at > since_us, DatasetVersion.observed_at <= at_us)
        .order_by(DatasetVersion.observed_at, DatasetVersion.id)
    )
    return [
        VersionRow(nodes[r[0]], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        for r in conn.execute(stmt)
    ]


# Roles that describe the dataset as written (or measured); inputs are what a reader saw.
WRITTEN_ROLES = frozenset({"output", "dataset", "profile", "dbt"})


def primary_versions(versions: list[VersionRow]) -> dict[NodeRef, list[VersionRow]]:
    """Per dataset, the versions that describe it best: as written when it is written by
    something we see, else as its readers saw it (sources)."""
    written: dict[NodeRef, list[VersionRow]] = defaultdict(list)
    read: dict[NodeRef, list[VersionRow]] = defaultdict(list)
    for v in versions:
        (written if v.role in WRITTEN_ROLES else read)[v.node].append(v)
    out = dict(written)
    for node, rows in read.items():
        out.setdefault(node, rows)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def version_series(versions: list[VersionRow]) -> list[Series]:
    """Row counts, null fractions (nullCount / rowCount) and duplicate fractions
    (1 - distinctCount / rowCount) per dataset, from its primary versions."""
    points: dict[SeriesKey, list[tuple[int, float]]] = defaultdict(list)
    for node, rows in primary_versions(versions).items():
        for v in rows:
            rc = v.row_count
            if rc is None:
                continue
            t = v.data_time
            points[SeriesKey(node, "data.row_count")].append((t, rc))
            if rc <= 0:
                continue
            for column, stats in (v.column_metrics or {}).items():
                if not isinstance(stats, dict):
                    continue
                nulls = _number(stats.get("nullCount"))
                if nulls is not None:
                    key = SeriesKey(node, "data.null_fraction", (("column", str(column)),))
                    points[key].append((t, min(1.0, max(0.0, nulls / rc))))
                distinct = _number(stats.get("distinctCount"))
                if distinct is not None:
                    key = SeriesKey(node, "data.duplicate_fraction", (("column", str(column)),))
                    points[key].append((t, min(1.0, max(0.0, 1 - distinct / rc))))
    out = []
    for key, pts in points.items():
        pts.sort(key=lambda p: p[0])
        arr = np.asarray(pts, dtype=np.float64)
        out.append(Series(key, arr[:, 0].astype(np.int64), arr[:, 1], "dataset_versions"))
    return out


# -- runs and schedules ---------------------------------------------------------------------


def load_runs(
    conn: Connection, nodes: NodeNames, *, at_us: int, since_us: int
) -> list[RunAsOf]:
    """Runs with a state change in the window, folded to their state at ``at_us``."""
    stmt = (
        select(
            Run.id, Run.job_id, Run.nominal_start, Run.error_message, Run.facets,
            RunStateChange.state, RunStateChange.at,
        )
        .join(RunStateChange, RunStateChange.run_id == Run.id)
        .where(RunStateChange.at <= at_us, Run.last_event_at > since_us - RUN_MARGIN_US)
        .order_by(RunStateChange.at, RunStateChange.id)
    )
    runs: dict[int, RunAsOf] = {}
    for rid, job_id, nominal, error, facets, state, at in conn.execute(stmt):
        run = runs.get(rid)
        if run is None:
            run = runs[rid] = RunAsOf(rid, nodes[job_id], state, nominal, at, None, None,
                                      facets or {})
        run.state = state
        if state in TERMINAL_STATES:
            run.ended_at = at
            run.error_message = error if state == "FAIL" else None
        else:
            run.ended_at = None
    return sorted(runs.values(), key=lambda r: (r.scheduled_at or 0, r.id))


def load_writers(conn: Connection, nodes: NodeNames, *, at_us: int) -> dict[NodeRef, list[NodeRef]]:
    """dataset -> the jobs that write it (job -> dataset edges seen by ``at_us``)."""
    stmt = (
        select(Edge.src_id, Edge.dst_id)
        .join(Node, Node.id == Edge.src_id)
        .where(Node.type == "job", Edge.first_seen <= at_us)
    )
    out: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for src, dst in conn.execute(stmt):
        out[nodes[dst]].append(nodes[src])
    return dict(out)


def load_readers(conn: Connection, nodes: NodeNames, *, at_us: int) -> dict[NodeRef, list[NodeRef]]:
    """dataset -> the jobs that read it."""
    stmt = (
        select(Edge.src_id, Edge.dst_id)
        .join(Node, Node.id == Edge.src_id)
        .where(Node.type == "dataset", Edge.first_seen <= at_us)
    )
    out: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for src, dst in conn.execute(stmt):
        out[nodes[src]].append(nodes[dst])
    return dict(out)


@dataclass(frozen=True, slots=True)
class Landing:
    """One successful write of a dataset: the slot it was for and when it finished."""

    slot_us: int
    landed_us: int
    job: NodeRef


def landings(runs: list[RunAsOf], writers: dict[NodeRef, list[NodeRef]]
             ) -> dict[NodeRef, list[Landing]]:
    """Per written dataset, its successful writes by ``at_us``, in slot order."""
    done: dict[NodeRef, list[RunAsOf]] = defaultdict(list)
    for run in runs:
        if run.state == "COMPLETE" and run.ended_at is not None:
            done[run.job].append(run)
    out: dict[NodeRef, list[Landing]] = {}
    for ds, jobs in writers.items():
        found = [
            Landing(r.scheduled_at or r.ended_at or 0, r.ended_at or 0, r.job)
            for j in jobs for r in done.get(j, [])
        ]
        if found:
            out[ds] = sorted(found, key=lambda x: (x.slot_us, x.landed_us))
    return out


def freshness_lag_s(landed: Sequence[Landing], at_us: int) -> float | None:
    """Seconds since the newest successful write (None when nothing landed yet)."""
    times = [x.landed_us for x in landed if x.landed_us <= at_us]
    return (at_us - max(times)) / 1e6 if times else None


def schedule_interval(slots: Sequence[int], min_slots: int = 3) -> int | None:
    """The usual spacing of a job's scheduled slots (median of distinct gaps), in us."""
    distinct = np.unique(np.asarray([x for x in slots if x is not None], dtype=np.int64))
    if distinct.size < min_slots:
        return None
    return int(np.median(np.diff(distinct)))


def iter_batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = [
    "Landing",
    "NodeNames",
    "RunAsOf",
    "Series",
    "SeriesKey",
    "SeriesMeta",
    "VersionRow",
    "freshness_lag_s",
    "iter_points",
    "landings",
    "list_metric_series",
    "load_metric_series",
    "load_readers",
    "load_runs",
    "load_versions",
    "load_writers",
    "primary_versions",
    "read_points",
    "schedule_interval",
    "version_series",
]
