"""Has a remediated node recovered? Answered from the store, never from the simulator's truth.

The runbook engine verifies some actions through their executor (a snapshot fallback, a
quarantine, a rehydrated table); the simulated stack answers by reading the telemetry that
arrived after the action, exactly as a check against a real warehouse would have to:

* a job recovered when its latest run since the action completed;
* a dataset recovered when its latest observation since the action is back within the
  normal band of the week before (row count, null shares, duplicate share);
* an asset's gauges recovered when each one's latest point is back in that band.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import DatasetVersion, MetricPoint, MetricSeries, Node, Run

BASELINE_US = 7 * 86_400_000_000  # the week before the action is "normal"
ROW_BAND = (0.8, 1.25)  # latest / baseline row count
NULL_SLACK = 0.05  # null share may exceed its baseline by this much
DUPLICATE_SLACK = 0.02
GAUGE_SLACK = 0.25  # relative distance of a gauge from its baseline median


def _node_id(store: Store, node: str) -> int | None:
    ref = NodeRef.parse(node)
    with store.read() as conn:
        found = conn.execute(
            select(Node.id).where(
                Node.type == ref.type, Node.namespace == ref.namespace, Node.name == ref.name
            )
        ).scalar_one_or_none()
    return None if found is None else int(found)


def job_recovered(store: Store, job: str, since_us: int) -> bool:
    """The latest run of ``job`` heard of since ``since_us`` completed."""
    nid = _node_id(store, job)
    if nid is None:
        return False
    with store.read() as conn:
        state = conn.execute(
            select(Run.state)
            .where(Run.job_id == nid, Run.last_event_at >= since_us)
            .order_by(Run.last_event_at.desc())
            .limit(1)
        ).scalar_one_or_none()
    return state == "COMPLETE"


def dataset_recovered(store: Store, dataset: str, since_us: int) -> bool:
    """The latest observation of ``dataset`` since ``since_us`` looks like the week before."""
    nid = _node_id(store, dataset)
    if nid is None:
        return False
    with store.read() as conn:
        rows = conn.execute(
            select(DatasetVersion.observed_at, DatasetVersion.row_count,
                   DatasetVersion.column_metrics)
            .where(
                DatasetVersion.node_id == nid,
                DatasetVersion.observed_at >= since_us - BASELINE_US,
                DatasetVersion.row_count.is_not(None),
            )
            .order_by(DatasetVersion.observed_at)
        ).all()
    before = [r for r in rows if r.observed_at < since_us]
    after = [r for r in rows if r.observed_at >= since_us]
    if not before or not after:
        return False
    latest = after[-1]
    base_rows = statistics.median(float(r.row_count) for r in before)
    if base_rows > 0 and not ROW_BAND[0] <= float(latest.row_count) / base_rows <= ROW_BAND[1]:
        return False
    return _quality_ok(latest.row_count, latest.column_metrics, before)


def _share(name: str, count: float, rows: float) -> float:
    """Null share from a nullCount, duplicate share from a distinctCount."""
    return count / rows if name == "nullCount" else 1 - count / rows


def _quality_ok(rows: float, metrics: dict[str, Any] | None, before: Sequence[Any]) -> bool:
    for column, stats in (metrics or {}).items():
        if not isinstance(stats, dict) or not rows:
            continue
        for name, slack in (("nullCount", NULL_SLACK), ("distinctCount", DUPLICATE_SLACK)):
            if stats.get(name) is None:
                continue
            usual = [
                _share(name, float(b.column_metrics[column][name]), float(b.row_count))
                for b in before
                if b.row_count and (b.column_metrics or {}).get(column, {}).get(name) is not None
            ]
            latest = _share(name, float(stats[name]), float(rows))
            if usual and latest > statistics.median(usual) + slack:
                return False
    return True


def gauges_recovered(store: Store, node: str, since_us: int) -> bool:
    """Every metric series of ``node`` reported since ``since_us`` is back in its usual band."""
    nid = _node_id(store, node)
    if nid is None:
        return False
    seen = False
    with store.read() as conn:
        series = conn.execute(select(MetricSeries.id).where(MetricSeries.node_id == nid)).all()
        for (sid,) in series:
            points = conn.execute(
                select(MetricPoint.ts, MetricPoint.value)
                .where(MetricPoint.series_id == sid, MetricPoint.ts >= since_us - BASELINE_US)
                .order_by(MetricPoint.ts)
            ).all()
            before = [p.value for p in points if p.ts < since_us]
            after = [p.value for p in points if p.ts >= since_us]
            if not before or not after:
                continue
            seen = True
            base = statistics.median(before)
            if abs(after[-1] - base) > GAUGE_SLACK * abs(base) + 1e-9:
                return False
    return seen


def no_run_since(store: Store, job: str, since_us: int) -> bool:
    """No run of ``job`` started at or after ``since_us`` (a paused delivery)."""
    nid = _node_id(store, job)
    if nid is None:
        return False
    with store.read() as conn:
        found = conn.execute(
            select(Run.id).where(Run.job_id == nid, Run.started_at >= since_us).limit(1)
        ).first()
    return found is None
