"""Log records and traces (OTLP logs and spans) as the store keeps them.

Bodies and attributes were redacted at ingestion; they are redacted again on the way
out, so records stored before a redaction rule existed do not leak through a reader.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, func, select

from tools.nodes import NodeRef
from tools.redact import redact, redact_value
from tools.store.db import Store
from tools.store.models import LogRecord, Node, Span
from tools.store.queries import node_id
from tools.timeutil import iso

# OTLP SeverityNumber ranges: the first number of each named band.
SEVERITY_LEVELS = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
SPAN_STATUS = {0: "unset", 1: "ok", 2: "error"}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


class UnknownTraceError(LookupError):
    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        super().__init__(f"no spans with trace id {trace_id}")


def severity_number(level: str) -> int:
    """'warn' -> 13 (OTLP SeverityNumber); a number in text is taken as is."""
    text = level.strip().lower()
    if text.isdigit() and 1 <= int(text) <= 24:
        return int(text)
    if text == "warning":
        text = "warn"
    if text not in SEVERITY_LEVELS:
        names = ", ".join(SEVERITY_LEVELS)
        raise ValueError(f"severity {level!r} is not one of {names} (or a number 1-24)")
    return SEVERITY_LEVELS[text]


class LogView(BaseModel):
    ts: str
    node: str | None
    severity_number: int | None
    severity_text: str | None
    body: str
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None


def search_logs(
    store: Store,
    *,
    node: NodeRef | None = None,
    text: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    min_severity: str | None = None,
    trace_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[LogView]:
    """Log records, newest first, filtered by asset, body text (case-insensitive
    substring), time range, minimum severity and trace id; redacted."""
    if since_us is not None and until_us is not None and since_us > until_us:
        raise ValueError(f"since ({iso(since_us)}) is after until ({iso(until_us)})")
    stmt = select(LogRecord, Node.type, Node.namespace, Node.name).outerjoin(
        Node, Node.id == LogRecord.node_id
    )
    if node is not None:
        stmt = stmt.where(LogRecord.node_id == node_id(store, node))
    if text:
        stmt = stmt.where(func.lower(LogRecord.body).contains(text.lower(), autoescape=True))
    if since_us is not None:
        stmt = stmt.where(LogRecord.ts >= since_us)
    if until_us is not None:
        stmt = stmt.where(LogRecord.ts <= until_us)
    if min_severity is not None:
        stmt = stmt.where(LogRecord.severity_number >= severity_number(min_severity))
    if trace_id is not None:
        stmt = stmt.where(LogRecord.trace_id == _trace_id(trace_id))
    stmt = stmt.order_by(LogRecord.ts.desc(), LogRecord.id.desc()).offset(offset).limit(limit)
    with store.read() as conn:
        return [_log_view(row) for row in conn.execute(stmt).mappings()]


def _log_view(row: Any) -> LogView:
    node = str(NodeRef(row["type"], row["namespace"], row["name"])) if row["type"] else None
    return LogView(
        ts=iso(row["ts"]) or "",
        node=node,
        severity_number=row["severity_number"],
        severity_text=row["severity_text"],
        body=redact(row["body"]),
        attributes=redact_value(row["attributes"] or {}),
        trace_id=row["trace_id"],
        span_id=row["span_id"],
    )


def _trace_id(value: str) -> str:
    text = value.strip().lower()
    if not _TRACE_ID.match(text):
        raise ValueError(f"trace id {value!r} must be 32 hexadecimal characters")
    return text


class TraceSummary(BaseModel):
    trace_id: str
    start: str
    duration_ms: float
    spans: int
    errors: int
    first_span: str


def list_traces(
    store: Store,
    *,
    node: NodeRef | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    errors_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[TraceSummary]:
    """Sampled traces (one per event), newest first; with ``node``, those passing through it."""
    if since_us is not None and until_us is not None and since_us > until_us:
        raise ValueError(f"since ({iso(since_us)}) is after until ({iso(until_us)})")
    errors = func.sum(case((Span.status_code == 2, 1), else_=0))
    stmt = select(
        Span.trace_id,
        func.min(Span.start_ts).label("start"),
        func.max(Span.end_ts).label("end"),
        func.count().label("spans"),
        errors.label("errors"),
    ).group_by(Span.trace_id)
    if node is not None:
        touching = select(Span.trace_id).where(Span.node_id == node_id(store, node))
        stmt = stmt.where(Span.trace_id.in_(touching))
    if since_us is not None:
        stmt = stmt.having(func.min(Span.start_ts) >= since_us)
    if until_us is not None:
        stmt = stmt.having(func.min(Span.start_ts) <= until_us)
    if errors_only:
        stmt = stmt.having(errors > 0)
    stmt = stmt.order_by(func.min(Span.start_ts).desc(), Span.trace_id).offset(offset).limit(limit)
    with store.read() as conn:
        rows = conn.execute(stmt).all()
        firsts = _first_spans(conn, [r.trace_id for r in rows])
    return [
        TraceSummary(
            trace_id=r.trace_id,
            start=iso(r.start) or "",
            duration_ms=(r.end - r.start) / 1e3,
            spans=int(r.spans),
            errors=int(r.errors or 0),
            first_span=firsts.get(r.trace_id, ""),
        )
        for r in rows
    ]


def _first_spans(conn: Any, trace_ids: list[str]) -> dict[str, str]:
    if not trace_ids:
        return {}
    out: dict[str, str] = {}
    rows = conn.execute(
        select(Span.trace_id, Span.name)
        .where(Span.trace_id.in_(trace_ids))
        .order_by(Span.trace_id, Span.start_ts, Span.id)
    )
    for trace_id, name in rows:
        out.setdefault(trace_id, name)
    return out


class SpanView(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    node: str | None
    start: str
    end: str
    duration_ms: float
    offset_ms: float  # from the start of the trace
    status: str
    status_message: str | None
    attributes: dict[str, Any]


class TraceView(BaseModel):
    """One sampled event's path through the pipeline: its spans in start order, the assets
    it passed through in that order, and the log records that carry its trace id."""

    trace_id: str
    start: str
    end: str
    duration_ms: float
    errors: int
    path: list[str]
    spans: list[SpanView]
    logs: list[LogView]


def get_trace(store: Store, trace_id: str, *, log_limit: int = 50) -> TraceView:
    tid = _trace_id(trace_id)
    with store.read() as conn:
        rows = conn.execute(
            select(
                Span,
                Node.type.label("node_type"),
                Node.namespace.label("node_namespace"),
                Node.name.label("node_name"),
            )
            .outerjoin(Node, Node.id == Span.node_id)
            .where(Span.trace_id == tid)
            .order_by(Span.start_ts, Span.id)
        ).mappings().all()
    if not rows:
        raise UnknownTraceError(tid)
    start = min(r["start_ts"] for r in rows)
    end = max(r["end_ts"] for r in rows)
    spans: list[SpanView] = []
    path: list[str] = []
    for r in rows:
        node = (
            str(NodeRef(r["node_type"], r["node_namespace"], r["node_name"]))
            if r["node_type"]
            else None
        )
        if node is not None and node not in path:
            path.append(node)
        spans.append(
            SpanView(
                span_id=r["span_id"],
                parent_span_id=r["parent_span_id"],
                name=redact(r["name"]),
                node=node,
                start=iso(r["start_ts"]) or "",
                end=iso(r["end_ts"]) or "",
                duration_ms=(r["end_ts"] - r["start_ts"]) / 1e3,
                offset_ms=(r["start_ts"] - start) / 1e3,
                status=SPAN_STATUS.get(r["status_code"], str(r["status_code"])),
                status_message=redact(r["status_message"]) if r["status_message"] else None,
                attributes=redact_value(r["attributes"] or {}),
            )
        )
    return TraceView(
        trace_id=tid,
        start=iso(start) or "",
        end=iso(end) or "",
        duration_ms=(end - start) / 1e3,
        errors=sum(1 for s in spans if s.status == "error"),
        path=path,
        spans=spans,
        logs=search_logs(store, trace_id=tid, limit=log_limit),
    )


__all__ = [
    "SEVERITY_LEVELS",
    "LogView",
    "SpanView",
    "TraceSummary",
    "TraceView",
    "UnknownTraceError",
    "get_trace",
    "list_traces",
    "search_logs",
    "severity_number",
]
