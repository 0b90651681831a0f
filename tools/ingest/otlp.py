"""OTLP ingestion (metrics, logs, traces): the entry point the HTTP routes and CLI call.

A body that cannot be read at all (bad protobuf, broken JSON, the wrong top-level shape,
an unsupported content type) raises :class:`OtlpInputError` and is dead-lettered whole.
Inside a readable body, bad items (NaN values, far-future or missing times, metrics of an
unknown type, malformed ids) are rejected one by one: the good ones are stored, the bad
ones are counted in the response's ``partial_success`` and kept together in one dead
letter as an OTLP/JSON request of just those items, with every reason.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tools.ingest.deadletters import add_dead_letter, record_dead_letter
from tools.ingest.nul import refuse_nul
from tools.ingest.otlp_decode import (
    JSON_TYPES,
    PROTOBUF_TYPES,
    SHAPES,
    RawRequest,
    Signal,
    decode_body,
    media_type,
)
from tools.ingest.otlp_logs import LogsParser
from tools.ingest.otlp_metrics import MetricsParser
from tools.ingest.otlp_rejects import Rejects, summarise
from tools.ingest.otlp_traces import TracesParser
from tools.ingest.otlp_write import Batch
from tools.ingest.result import IngestResult, InputError, Rejection
from tools.store.db import Store
from tools.store.models import now_micros

# Items parsed before they are written in one transaction: bounds memory on huge files
# while keeping each transaction large enough for executemany to pay off.
FLUSH_ITEMS = 100_000

# Bodies from this size on are decoded with the cyclic garbage collector paused.
GC_PAUSE_BYTES = 256 * 1024

UNITS = {"metrics": "data points", "logs": "log records", "traces": "spans"}


class OtlpInputError(InputError):
    """A body that could not be decoded at all; ``dead_letter_id`` is where it was kept."""

    def __init__(
        self, reason: str, field: str | None = None, dead_letter_id: int | None = None
    ) -> None:
        super().__init__(reason, field)
        self.dead_letter_id = dead_letter_id


@dataclass(slots=True)
class OtlpResult(IngestResult):
    """An IngestResult counted in data points, log records or spans."""

    signal: Signal = "metrics"

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def error_message(self) -> str:
        """What partial_success.error_message says: the distinct reasons, most common first."""
        if not self.rejected:
            return ""
        counts: dict[str, int] = {}
        for r in self.rejected:
            counts[r.reason] = counts.get(r.reason, 0) + 1
        return summarise(counts, len(self.rejected), UNITS[self.signal])

    def as_json(self) -> dict[str, Any]:
        out = IngestResult.as_json(self)
        out["signal"] = self.signal
        return out


class _Parser(Protocol):
    def parse(self, request: dict[str, Any]) -> Batch: ...


PARSERS: dict[str, Callable[[int], _Parser]] = {
    "metrics": MetricsParser,
    "logs": LogsParser,
    "traces": TracesParser,
}


def ingest_otlp(
    store: Store,
    signal: Signal,
    data: bytes,
    content_type: str = "application/json",
    *,
    origin: str | None = None,
    dead_letter: bool = True,
    now_us: int | None = None,
) -> OtlpResult:
    """Ingest one OTLP body: protobuf or OTLP/JSON (one request or JSON lines), maybe gzipped.

    Raises OtlpInputError (an InputError) when nothing in the body can be read.
    """
    if signal not in SHAPES:
        raise InputError(f"unknown OTLP signal {signal!r}: expected metrics, logs or traces")
    now = now_us if now_us is not None else now_micros()
    if len(data) < GC_PAUSE_BYTES:
        return _ingest(store, signal, data, content_type, now, origin, dead_letter)
    with _gc_paused():
        return _ingest(store, signal, data, content_type, now, origin, dead_letter)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a body's objects are built.

    Decoding a large OTLP/JSON body creates millions of small dicts and lists, each
    allocation counting towards the next collection; the collector then rescans the
    whole growing heap again and again, which costs several times the decoding itself.
    Nothing built here is cyclic, so reference counting frees it all anyway. In a server
    with overlapping requests the first one to finish turns collection back on, so the
    pause never outlives the ingestion that needed it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ingest(
    store: Store,
    signal: Signal,
    data: bytes,
    content_type: str,
    now: int,
    origin: str | None,
    dead_letter: bool,
) -> OtlpResult:
    source = f"otlp.{signal}"
    try:
        requests = decode_body(signal, data, content_type)
    except InputError as exc:
        raise _whole_body_reject(
            store, exc, source, data, content_type, origin, dead_letter
        ) from None
    parser = PARSERS[signal](now)
    binary = media_type(content_type) in PROTOBUF_TYPES
    result = OtlpResult(signal=signal)
    broken: list[tuple[RawRequest, str, str | None]] = []
    pending: Batch | None = None
    seen = 0
    for req in requests:
        seen += 1
        if req.value is None:
            broken.append((req, req.error or "unreadable request", None))
            continue
        try:
            # OTLP/JSON is searched as sent; protobuf has to be serialised to JSON first.
            refuse_nul(req.value, None if binary else req.raw)
            parsed = parser.parse(req.value)
        except InputError as exc:
            where = f"line {req.line}: " if req.line is not None else ""
            broken.append((req, where + exc.reason, exc.field))
            continue
        if pending is None:
            pending = parsed
        else:
            pending.merge(parsed)
        del parsed, req  # a decoded JSON line can be freed before the flush below
        if pending.size >= FLUSH_ITEMS:
            _flush(store, pending, result)
            rejects = pending.rejects
            pending = None
            _keep_rejects(store, result, rejects, source, origin, dead_letter)
    if seen and len(broken) == seen:
        req, reason, fld = broken[0]
        raise _whole_body_reject(
            store, InputError(reason, fld), source, data, content_type, origin, dead_letter
        )
    if pending is not None:
        _flush(store, pending, result)
        _keep_rejects(store, result, pending.rejects, source, origin, dead_letter)
    for req, reason, fld in broken:
        dl_id = (
            record_dead_letter(
                store,
                source=source,
                reason=reason,
                payload=req.raw,
                origin=origin,
                content_type=media_type(content_type),
            )
            if dead_letter
            else None
        )
        result.rejected.append(Rejection(reason, origin, dl_id, fld))
    return result


def _flush(store: Store, batch: Batch, result: OtlpResult) -> None:
    if batch.size:
        with store.write() as conn:
            accepted, duplicates = batch.write(conn, store)
        batch.after_commit(store)
        result.accepted += accepted
        result.duplicates += duplicates


def _keep_rejects(
    store: Store,
    result: OtlpResult,
    rejects: Rejects,
    source: str,
    origin: str | None,
    dead_letter: bool,
) -> None:
    """One dead letter for all items rejected one by one, and a Rejection for each."""
    if not rejects:
        return
    dl_id = None
    if dead_letter:
        with store.write() as conn:
            dl_id = add_dead_letter(
                conn,
                source=source,
                reason=rejects.summary(UNITS[result.signal], limit=50),
                payload=rejects.payload(),
                origin=origin,
                content_type="application/json",
            )
    result.rejected.extend(Rejection(r.reason, origin, dl_id, r.path) for r in rejects.items)


def _whole_body_reject(
    store: Store,
    exc: InputError,
    source: str,
    data: bytes,
    content_type: str | None,
    origin: str | None,
    dead_letter: bool,
) -> OtlpInputError:
    dl_id = (
        record_dead_letter(
            store,
            source=source,
            reason=str(exc),
            payload=data,
            origin=origin,
            content_type=content_type,
        )
        if dead_letter
        else None
    )
    return OtlpInputError(exc.reason, exc.field, dl_id)


_RESPONSES: dict[str, tuple[type[Message], str]] = {
    "metrics": (metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
    "logs": (logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
    "traces": (trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
}


def encode_otlp_response(signal: Signal, result: OtlpResult, content_type: str) -> bytes:
    """The Export*ServiceResponse for ``result``, in the request's encoding.

    ``partial_success`` is set only when something was rejected, as the OTLP spec asks
    (an empty response means full success; duplicates count as accepted).
    """
    if signal not in _RESPONSES:
        raise InputError(f"unknown OTLP signal {signal!r}: expected metrics, logs or traces")
    cls, count_field = _RESPONSES[signal]
    response: Any = cls()
    if result.rejected:
        setattr(response.partial_success, count_field, len(result.rejected))
        response.partial_success.error_message = result.error_message()
    mtype = media_type(content_type)
    if mtype in PROTOBUF_TYPES:
        return bytes(response.SerializeToString())
    if mtype in JSON_TYPES:
        return orjson.dumps(json_format.MessageToDict(response))
    raise InputError(f"unsupported content type {mtype!r} for an OTLP response")


__all__ = ["OtlpInputError", "OtlpResult", "Signal", "encode_otlp_response", "ingest_otlp"]
