"""Rows written straight into the store, for read-query tests that need exact values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from tools.nodes import NodeRef
from tools.store import Store
from tools.store.models import (
    DatasetVersion,
    Edge,
    LogRecord,
    MetricPoint,
    MetricSeries,
    Node,
    Run,
    Span,
)
from tools.timeutil import parse_micros

T0 = parse_micros("2026-03-01T00:00:00Z")
H = 3_600_000_000


def node(store: Store, text: str) -> int:
    ref = NodeRef.parse(text)
    with store.write() as conn:
        return int(
            conn.execute(
                insert(Node)
                .values(type=ref.type, namespace=ref.namespace, name=ref.name,
                        first_seen=T0, last_seen=T0)
                .returning(Node.id)
            ).scalar_one()
        )


def edge(store: Store, src: int, dst: int) -> None:
    with store.write() as conn:
        conn.execute(
            insert(Edge).values(src_id=src, dst_id=dst, source="openlineage",
                                first_seen=T0, last_seen=T0)
        )


def run(store: Store, job: int, uuid: str, state: str, start: int, end: int | None,
        **extra: Any) -> int:
    with store.write() as conn:
        return int(
            conn.execute(
                insert(Run)
                .values(run_uuid=uuid, job_id=job, state=state, started_at=start, ended_at=end,
                        last_event_at=end or start, **extra)
                .returning(Run.id)
            ).scalar_one()
        )


def version(store: Store, dataset: int, at: int, fields: list[tuple[str, str]]) -> None:
    digest = "h" + "-".join(f"{n}:{t}" for n, t in fields)
    with store.write() as conn:
        conn.execute(
            insert(DatasetVersion).values(
                node_id=dataset, role="output", observed_at=at, schema_hash=digest[:64],
                schema_fields=[{"name": n, "type": t} for n, t in fields],
            )
        )


def series(store: Store, owner: int | None, name: str, points: list[tuple[int, float]],
           **attributes: str) -> int:
    with store.write() as conn:
        sid = int(
            conn.execute(
                insert(MetricSeries)
                .values(node_key=owner or 0, node_id=owner, name=name, unit="1", kind="gauge",
                        attr_hash=f"{name}{sorted(attributes.items())}"[:64],
                        attributes=attributes)
                .returning(MetricSeries.id)
            ).scalar_one()
        )
        conn.execute(insert(MetricPoint), [{"series_id": sid, "ts": t, "value": v}
                                           for t, v in points])
    return sid


def log(store: Store, owner: int | None, ts: int, body: str, severity: int,
        trace_id: str | None = None, attributes: dict[str, Any] | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            insert(LogRecord).values(
                record_hash=f"{ts}-{body}"[:64], node_id=owner, ts=ts, severity_number=severity,
                severity_text=None, body=body, attributes=attributes or {}, trace_id=trace_id,
                span_id=None,
            )
        )


def span(store: Store, trace_id: str, span_id: str, parent: str | None, name: str,
         owner: int | None, start: int, end: int, status: int = 1,
         attributes: dict[str, Any] | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            insert(Span).values(
                trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
                node_id=owner, start_ts=start, end_ts=end, status_code=status,
                status_message=None, attributes=attributes or {},
            )
        )
