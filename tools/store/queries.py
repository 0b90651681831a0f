"""Read-side queries over the store: assets, runs, metric series.

Each returns pydantic models, so the CLI, the HTTP routes and the MCP tools serialise the
same shapes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import CatalogEntry, Edge, MetricPoint, MetricSeries, Node, Run
from tools.timeutil import iso


class UnknownNodeError(LookupError):
    """A node id that is not in the store."""

    def __init__(self, ref: NodeRef) -> None:
        self.ref = ref
        super().__init__(f"unknown node {ref}: no telemetry has named it")


class AssetView(BaseModel):
    id: str
    type: str
    namespace: str
    name: str
    first_seen: str | None
    last_seen: str | None
    kind: str | None = None
    tier: int | None = None
    owner: str | None = None
    revenue_per_day: float | None = None


class RunView(BaseModel):
    run_id: str
    job: str
    state: str
    started_at: str | None
    ended_at: str | None
    nominal_start: str | None
    nominal_end: str | None
    duration_s: float | None
    parent_run_id: str | None
    parent_job: str | None
    error_message: str | None


class PointView(BaseModel):
    ts: str
    value: float


class SeriesView(BaseModel):
    node: str | None
    name: str
    unit: str | None
    kind: str
    attributes: dict[str, Any]
    points: list[PointView]
    truncated: bool = False


def node_id(store: Store, ref: NodeRef) -> int:
    cached = store.node_ids.get(ref.key)
    if cached is not None:
        return cached
    with store.read() as conn:
        found = conn.execute(
            select(Node.id).where(
                Node.type == ref.type, Node.namespace == ref.namespace, Node.name == ref.name
            )
        ).scalar_one_or_none()
    if found is None:
        raise UnknownNodeError(ref)
    store.node_ids[ref.key] = found
    return int(found)


def list_assets(
    store: Store, *, node_type: str | None = None, search: str | None = None, limit: int = 1000
) -> list[AssetView]:
    stmt = (
        select(Node, CatalogEntry)
        .outerjoin(CatalogEntry, CatalogEntry.node_id == Node.id)
        .order_by(Node.type, Node.namespace, Node.name)
        .limit(limit)
    )
    if node_type:
        stmt = stmt.where(Node.type == node_type)
    if search:
        stmt = stmt.where(func.lower(Node.namespace + ":" + Node.name).contains(search.lower()))
    out = []
    with store.read() as conn:
        for row in conn.execute(stmt).mappings():
            ref = NodeRef(row["type"], row["namespace"], row["name"])
            out.append(
                AssetView(
                    id=str(ref),
                    type=ref.type,
                    namespace=ref.namespace,
                    name=ref.name,
                    first_seen=iso(row["first_seen"]),
                    last_seen=iso(row["last_seen"]),
                    kind=row["kind"],
                    tier=row["tier"],
                    owner=row["owner"],
                    revenue_per_day=row["revenue_per_day"],
                )
            )
    return out


def list_runs(
    store: Store,
    ref: NodeRef,
    *,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 100,
) -> list[RunView]:
    """Runs of a job, newest first; for a dataset, the runs of the jobs that write it."""
    nid = node_id(store, ref)
    stmt = select(Run, Node.namespace, Node.name).join(Node, Node.id == Run.job_id)
    if ref.type == "job":
        stmt = stmt.where(Run.job_id == nid)
    else:
        writers = select(Edge.src_id).where(Edge.dst_id == nid)
        stmt = stmt.where(Run.job_id.in_(writers))
    if since_us is not None:
        stmt = stmt.where(Run.last_event_at >= since_us)
    if until_us is not None:
        stmt = stmt.where(Run.last_event_at <= until_us)
    stmt = stmt.order_by(Run.last_event_at.desc()).limit(limit)
    out = []
    with store.read() as conn:
        for row in conn.execute(stmt).mappings():
            started, ended = row["started_at"], row["ended_at"]
            out.append(
                RunView(
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
            )
    return out


def query_metrics(
    store: Store,
    ref: NodeRef | None,
    *,
    name: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    max_points: int = 10_000,
) -> list[SeriesView]:
    """Series of a node (or unattached series when ``ref`` is None), oldest point first.

    A series with more than ``max_points`` points in range keeps the newest ones and says
    it was truncated.
    """
    nid = node_id(store, ref) if ref is not None else None
    stmt = select(MetricSeries).where(
        MetricSeries.node_id == nid if nid is not None else MetricSeries.node_id.is_(None)
    )
    if name:
        stmt = stmt.where(MetricSeries.name == name)
    out = []
    with store.read() as conn:
        series_rows = (
            conn.execute(stmt.order_by(MetricSeries.name, MetricSeries.id)).mappings().all()
        )
        for s in series_rows:
            pstmt = select(MetricPoint.ts, MetricPoint.value).where(
                MetricPoint.series_id == s["id"]
            )
            if since_us is not None:
                pstmt = pstmt.where(MetricPoint.ts >= since_us)
            if until_us is not None:
                pstmt = pstmt.where(MetricPoint.ts <= until_us)
            pts = conn.execute(pstmt.order_by(MetricPoint.ts.desc()).limit(max_points + 1)).all()
            truncated = len(pts) > max_points
            pts = pts[:max_points][::-1]
            out.append(
                SeriesView(
                    node=str(ref) if ref is not None else None,
                    name=s["name"],
                    unit=s["unit"],
                    kind=s["kind"],
                    attributes=s["attributes"] or {},
                    points=[PointView(ts=iso(ts) or "", value=v) for ts, v in pts],
                    truncated=truncated,
                )
            )
    return out
