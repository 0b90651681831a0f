"""Did the action work? A signal that must recover within a deadline after applying.

``pending`` until the deadline (``applied_at + within``) while the signal has not
recovered; ``failed`` after it, or at once on a definite failure (the retried job failed
again). Signals read telemetry that arrives after the action, so a recovery seen before
it never counts.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from tools.nodes import NodeIdError, NodeRef
from tools.runbooks.executors.base import Executor
from tools.runbooks.models import PlannedAction, VerificationResult
from tools.store.db import Store
from tools.store.models import AnomalyRow, MetricPoint, MetricSeries, Run
from tools.store.queries import UnknownNodeError, node_id
from tools.timeutil import iso, parse_duration_us

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def verify_action(
    action: PlannedAction,
    prior: dict[str, Any],
    *,
    store: Store,
    executor: Executor | None,
    applied_at_us: int,
    now_us: int,
) -> VerificationResult:
    spec = action.verification
    deadline = applied_at_us + parse_duration_us(spec.within)
    try:
        if spec.signal == "none":
            result = VerificationResult(status="passed", detail="nothing to verify")
        elif spec.signal == "executor":
            if executor is None:
                detail = f"executor {action.executor!r} is not configured here"
                return VerificationResult(status="failed", detail=detail)
            result = executor.verify(action, prior)
        elif spec.signal == "run_succeeded":
            result = _run_succeeded(store, spec.params, applied_at_us)
        elif spec.signal == "metric":
            result = _metric(store, spec.params, applied_at_us)
        else:
            result = _anomaly_resolved(store, spec.params)
    except (UnknownNodeError, NodeIdError, ValueError) as exc:
        result = VerificationResult(status="pending", detail=str(exc))
    if result.status == "pending" and now_us >= deadline:
        result = VerificationResult(
            status="failed",
            detail=f"not recovered within {spec.within}: {result.detail}",
            observed=result.observed,
        )
    return result.model_copy(update={"deadline": iso(deadline)})


def _run_succeeded(store: Store, params: dict[str, Any], since_us: int) -> VerificationResult:
    ref = NodeRef.parse(str(params["job"]))
    job = node_id(store, ref)
    with store.read() as conn:
        rows = conn.execute(
            select(Run.run_uuid, Run.state, Run.last_event_at)
            .where(Run.job_id == job, Run.last_event_at >= since_us)
            .order_by(Run.last_event_at.desc())
        ).all()
    if not rows:
        return VerificationResult(status="pending", detail=f"no run of {ref} since the action")
    latest = rows[0]
    observed = {"run": latest.run_uuid, "state": latest.state, "at": iso(latest.last_event_at)}
    if latest.state == "COMPLETE":
        return VerificationResult(status="passed", detail=f"{ref} completed", observed=observed)
    if latest.state in ("FAIL", "ABORT"):
        return VerificationResult(
            status="failed", detail=f"{ref} ended {latest.state} again", observed=observed
        )
    return VerificationResult(
        status="pending", detail=f"{ref} is {latest.state}", observed=observed
    )


def _metric(store: Store, params: dict[str, Any], since_us: int) -> VerificationResult:
    ref = NodeRef.parse(str(params["node"]))
    nid = node_id(store, ref)
    name, op, target = str(params["metric"]), str(params["op"]), float(params["value"])
    attrs = params.get("attributes") or {}
    with store.read() as conn:
        series = conn.execute(
            select(MetricSeries.id, MetricSeries.attributes).where(
                MetricSeries.node_id == nid, MetricSeries.name == name
            )
        ).all()
        ids = [
            s.id for s in series if all((s.attributes or {}).get(k) == v for k, v in attrs.items())
        ]
        point = None
        if ids:
            point = conn.execute(
                select(MetricPoint.ts, MetricPoint.value)
                .where(MetricPoint.series_id.in_(ids), MetricPoint.ts >= since_us)
                .order_by(MetricPoint.ts.desc())
                .limit(1)
            ).first()
    if point is None:
        return VerificationResult(
            status="pending", detail=f"no {name} point on {ref} since the action"
        )
    observed = {"ts": iso(point.ts), "value": point.value}
    if OPS[op](point.value, target):
        return VerificationResult(
            status="passed", detail=f"{name} = {point.value:g} {op} {target:g}", observed=observed
        )
    return VerificationResult(
        status="pending", detail=f"{name} = {point.value:g}, not {op} {target:g}", observed=observed
    )


def _anomaly_resolved(store: Store, params: dict[str, Any]) -> VerificationResult:
    ref = NodeRef.parse(str(params["node"]))
    nid = node_id(store, ref)
    stmt = select(AnomalyRow.id, AnomalyRow.kind).where(
        AnomalyRow.node_id == nid, AnomalyRow.status == "open"
    )
    if params.get("kind"):
        stmt = stmt.where(AnomalyRow.kind == params["kind"])
    with store.read() as conn:
        open_rows = conn.execute(stmt).all()
    if open_rows:
        kinds = sorted({r.kind for r in open_rows})
        return VerificationResult(
            status="pending", detail=f"{len(open_rows)} open anomalies on {ref}: {kinds}"
        )
    return VerificationResult(status="passed", detail=f"no open anomaly on {ref}")
