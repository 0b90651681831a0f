"""Metric series downsampled to a fixed number of time buckets, aggregated in SQL.

A week of minutely points is ten thousand rows per series; a reader (a person, an LLM)
wants its shape: per bucket the count, min, max and mean. The grouping runs in the
database (integer bucket index = (ts - start) // width), so only the buckets travel.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import MetricPoint, MetricSeries
from tools.store.queries import node_id
from tools.timeutil import iso

MAX_BUCKETS = 1000
SECOND = 1_000_000


class Bucket(BaseModel):
    start: str
    count: int
    min: float
    max: float
    mean: float


class BucketedSeries(BaseModel):
    node: str | None
    name: str
    unit: str | None
    kind: str
    attributes: dict[str, Any]
    buckets: list[Bucket]  # only buckets holding points, oldest first


class BucketedMetrics(BaseModel):
    """Series of one node over [since, until), cut into buckets of ``bucket_s`` seconds."""

    node: str | None
    since: str | None
    until: str | None
    bucket_s: float | None
    series: list[BucketedSeries]


def metric_buckets(
    store: Store,
    ref: NodeRef | None,
    *,
    name: str | None = None,
    attributes: dict[str, str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    buckets: int = 60,
) -> BucketedMetrics:
    """The series of ``ref`` (unattached series when None), optionally one metric ``name``
    and only series whose attributes include ``attributes``, downsampled to at most
    ``buckets`` buckets. A missing ``since``/``until`` is taken from the data itself (the
    oldest / newest point of the chosen series in range)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, got {buckets}")
    if since_us is not None and until_us is not None and since_us >= until_us:
        raise ValueError(f"since ({iso(since_us)}) must be before until ({iso(until_us)})")
    nid = node_id(store, ref) if ref is not None else None
    stmt = select(MetricSeries).where(
        MetricSeries.node_id == nid if nid is not None else MetricSeries.node_id.is_(None)
    )
    if name:
        stmt = stmt.where(MetricSeries.name == name)
    node = str(ref) if ref is not None else None
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(MetricSeries.name, MetricSeries.id)).mappings().all()
        series = [r for r in rows if _matches(r["attributes"] or {}, attributes or {})]
        ids = [r["id"] for r in series]
        if not ids:
            return BucketedMetrics(
                node=node, since=iso(since_us), until=iso(until_us), bucket_s=None, series=[]
            )
        start, end = since_us, until_us
        if start is None or end is None:
            span = select(func.min(MetricPoint.ts), func.max(MetricPoint.ts)).where(
                MetricPoint.series_id.in_(ids)
            )
            if start is not None:
                span = span.where(MetricPoint.ts >= start)
            if end is not None:
                span = span.where(MetricPoint.ts < end)
            low, high = conn.execute(span).one()
            if low is None:
                return BucketedMetrics(
                    node=node,
                    since=iso(start),
                    until=iso(end),
                    bucket_s=None,
                    series=[_series(r, node, []) for r in series],
                )
            start = low if start is None else start
            end = high + 1 if end is None else end
        # Whole seconds (rounded up) keep bucket starts readable.
        width = max(1, -(-(end - start) // (buckets * SECOND))) * SECOND
        index = ((MetricPoint.ts - start) // width).label("b")
        grouped = conn.execute(
            select(
                MetricPoint.series_id,
                index,
                func.count(),
                func.min(MetricPoint.value),
                func.max(MetricPoint.value),
                func.avg(MetricPoint.value),
            )
            .where(
                MetricPoint.series_id.in_(ids), MetricPoint.ts >= start, MetricPoint.ts < end
            )
            .group_by(MetricPoint.series_id, index)
            .order_by(MetricPoint.series_id, index)
        ).all()
    by_series: dict[int, list[Bucket]] = {}
    for sid, b, count, low_v, high_v, mean in grouped:
        by_series.setdefault(sid, []).append(
            Bucket(
                start=iso(start + int(b) * width) or "",
                count=int(count),
                min=float(low_v),
                max=float(high_v),
                mean=float(mean),
            )
        )
    return BucketedMetrics(
        node=node,
        since=iso(start),
        until=iso(end) if until_us is not None else iso(start + width * buckets),
        bucket_s=width / 1e6,
        series=[_series(r, node, by_series.get(r["id"], [])) for r in series],
    )


def _matches(have: dict[str, Any], want: dict[str, str]) -> bool:
    return all(str(have.get(k)) == v for k, v in want.items())


def _series(row: Any, node: str | None, buckets: list[Bucket]) -> BucketedSeries:
    return BucketedSeries(
        node=node,
        name=row["name"],
        unit=row["unit"],
        kind=row["kind"],
        attributes=row["attributes"] or {},
        buckets=buckets,
    )


__all__ = ["MAX_BUCKETS", "Bucket", "BucketedMetrics", "BucketedSeries", "metric_buckets"]
