"""OTLP logs -> log_records, with bodies and attributes redacted before they are stored."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from opentelemetry.proto.logs.v1 import logs_pb2

from tools.ingest.otlp_decode import (
    NAME_ATTR,
    NS_ATTR,
    SHAPES,
    any_value,
    as_dict,
    attributes,
    get,
    hex_id,
    nanos,
    walk,
)
from tools.ingest.otlp_rejects import Rejects
from tools.ingest.otlp_write import RowBatch
from tools.nodes import NodeRef
from tools.redact import redact, redact_value
from tools.store.models import LogRecord
from tools.timeutil import FUTURE_TOLERANCE_US, iso

SHAPE = SHAPES["logs"]


def asset(attrs: dict[str, Any], fallback: dict[str, Any]) -> NodeRef | None:
    """The dataset named by the two OpenLineage attributes, on the item or its resource.

    The two attributes are removed from ``attrs`` (the node id carries them).
    """
    ns = attrs.pop(NS_ATTR, None) or fallback.get(NS_ATTR)
    name = attrs.pop(NAME_ATTR, None) or fallback.get(NAME_ATTR)
    return NodeRef.dataset(str(ns), str(name)) if ns and name else None


def enum_number(value: Any, enum: Any, what: str) -> int | None:
    """An OTLP enum as JSON gives it: an int, or (leniently) its symbolic name."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(enum.Value(value))
        except ValueError:
            pass
    raise ValueError(f"{what} {value!r} is not a known enum value")


def record_hash(parts: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def new_batch() -> RowBatch:
    return RowBatch(LogRecord.__table__, ("record_hash",), "ts", Rejects(SHAPE))  # type: ignore[arg-type]


class LogsParser:
    def __init__(self, now_us: int) -> None:
        self.limit = now_us + FUTURE_TOLERANCE_US

    def parse(self, request: dict[str, Any]) -> RowBatch:
        batch = new_batch()
        rattrs_by_id: dict[int, dict[str, Any]] = {}
        for resource, scope, records, path in walk(SHAPE, request):
            rattrs = rattrs_by_id.get(id(resource))
            if rattrs is None:
                rattrs = rattrs_by_id[id(resource)] = attributes(resource.get("attributes"))
            for i, rec in enumerate(records):
                rpath = f"{path}[{i}]"
                rec = as_dict(rec, rpath)
                try:
                    batch.rows.append(self._record(rec, rattrs))
                except ValueError as exc:
                    batch.rejects.add(f"log record: {exc}", rpath, resource, scope, rec)
        return batch

    def _record(
        self, rec: dict[str, Any], rattrs: dict[str, Any]
    ) -> tuple[NodeRef | None, dict[str, Any]]:
        t_ns = nanos(get(rec, "timeUnixNano", "time_unix_nano")) or nanos(
            get(rec, "observedTimeUnixNano", "observed_time_unix_nano")
        )
        if t_ns is None or t_ns < 1000:
            raise ValueError("has neither timeUnixNano nor observedTimeUnixNano")
        ts = t_ns // 1000
        if ts > self.limit:
            raise ValueError(f"timeUnixNano {iso(ts)} is more than 24 h in the future")
        severity = enum_number(
            get(rec, "severityNumber", "severity_number"), logs_pb2.SeverityNumber, "severityNumber"
        )
        severity_text = get(rec, "severityText", "severity_text")
        severity_text = str(severity_text)[:32] if severity_text else None
        trace_id = _id(get(rec, "traceId", "trace_id"), 16, "traceId")
        span_id = _id(get(rec, "spanId", "span_id"), 8, "spanId")
        attrs = attributes(rec.get("attributes"))
        ref = asset(attrs, rattrs)
        attrs = redact_value(attrs)
        body_value = any_value(rec.get("body"))
        if body_value is None:
            body = ""
        elif isinstance(body_value, str):
            body = redact(body_value)
        else:
            body = orjson.dumps(redact_value(body_value)).decode()
        digest = record_hash(
            [
                t_ns,
                severity,
                severity_text,
                body,
                attrs,
                trace_id,
                span_id,
                str(ref) if ref else None,
            ]
        )
        return ref, {
            "record_hash": digest,
            "ts": ts,
            "severity_number": severity,
            "severity_text": severity_text,
            "body": body,
            "attributes": attrs,
            "trace_id": trace_id,
            "span_id": span_id,
        }


def _id(value: Any, size: int, what: str) -> str | None:
    try:
        return hex_id(value, size)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


__all__ = ["LogsParser", "asset", "enum_number", "new_batch", "record_hash"]
