"""OTLP traces -> spans, with attributes and status messages redacted before storing.

A span per pipeline stage sharing one trace id per sampled event is the per-event lineage
of TELEMETRY.md section 4; the same (trace id, span id) sent again is a duplicate.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.trace.v1 import trace_pb2

from tools.ingest.otlp_decode import SHAPES, as_dict, attributes, get, hex_id, nanos, walk
from tools.ingest.otlp_logs import asset, enum_number
from tools.ingest.otlp_rejects import Rejects
from tools.ingest.otlp_write import RowBatch
from tools.nodes import NodeRef
from tools.redact import redact, redact_value
from tools.store.models import Span
from tools.timeutil import FUTURE_TOLERANCE_US, iso

SHAPE = SHAPES["traces"]


def new_batch() -> RowBatch:
    return RowBatch(Span.__table__, ("trace_id", "span_id"), "start_ts", Rejects(SHAPE))  # type: ignore[arg-type]


class TracesParser:
    def __init__(self, now_us: int) -> None:
        self.limit = now_us + FUTURE_TOLERANCE_US

    def parse(self, request: dict[str, Any]) -> RowBatch:
        batch = new_batch()
        rattrs_by_id: dict[int, dict[str, Any]] = {}
        for resource, scope, spans, path in walk(SHAPE, request):
            rattrs = rattrs_by_id.get(id(resource))
            if rattrs is None:
                rattrs = rattrs_by_id[id(resource)] = attributes(resource.get("attributes"))
            for i, span in enumerate(spans):
                spath = f"{path}[{i}]"
                span = as_dict(span, spath)
                try:
                    batch.rows.append(self._span(span, rattrs))
                except ValueError as exc:
                    name = span.get("name")
                    what = f"span {name!r}" if isinstance(name, str) and name else "span"
                    batch.rejects.add(f"{what}: {exc}", spath, resource, scope, span)
        return batch

    def _span(
        self, span: dict[str, Any], rattrs: dict[str, Any]
    ) -> tuple[NodeRef | None, dict[str, Any]]:
        trace_id = _required_id(get(span, "traceId", "trace_id"), 16, "traceId")
        span_id = _required_id(get(span, "spanId", "span_id"), 8, "spanId")
        try:
            parent = hex_id(get(span, "parentSpanId", "parent_span_id"), 8)
        except ValueError as exc:
            raise ValueError(f"parentSpanId: {exc}") from None
        start_ns = nanos(get(span, "startTimeUnixNano", "start_time_unix_nano"))
        end_ns = nanos(get(span, "endTimeUnixNano", "end_time_unix_nano"))
        if start_ns is None or start_ns < 1000:
            raise ValueError("has no startTimeUnixNano")
        if end_ns is None:
            raise ValueError("has no endTimeUnixNano")
        if end_ns < start_ns:
            raise ValueError("ends (endTimeUnixNano) before it starts")
        start, end = start_ns // 1000, end_ns // 1000
        if start > self.limit:
            raise ValueError(f"startTimeUnixNano {iso(start)} is more than 24 h in the future")
        status = as_dict(span.get("status"), "status")
        code = enum_number(status.get("code"), trace_pb2.Status.StatusCode, "status.code") or 0
        message = status.get("message")
        name = span.get("name")
        attrs = attributes(span.get("attributes"))
        ref = asset(attrs, rattrs)
        return ref, {
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent,
            "name": redact(str(name))[:512] if name else "",
            "start_ts": start,
            "end_ts": end,
            "status_code": code,
            "status_message": redact(str(message)) if message else None,
            "attributes": redact_value(attrs),
        }


def _required_id(value: Any, size: int, what: str) -> str:
    try:
        out = hex_id(value, size)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if out is None:
        raise ValueError(f"has no {what} (or an all-zero one)")
    return out


__all__ = ["TracesParser", "new_batch"]
