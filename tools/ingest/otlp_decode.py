"""OTLP bodies -> OTLP/JSON-shaped dicts, and the value helpers every signal shares.

Both wire formats end up as the same Python shape (the OTLP/JSON mapping), so each signal
is parsed by one code path. JSON is decoded with orjson (it is the bulk-file path, where
speed matters); protobuf is decoded with the opentelemetry-proto classes and mapped with
:func:`message_dict` (ids as hex, like OTLP/JSON). :func:`hex_id` also takes base64 ids,
as ``json_format.MessageToJson`` and some hand-written producers write them.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tools.ingest.result import InputError

Signal = Literal["metrics", "logs", "traces"]

JSON_TYPES = frozenset({"application/json"})
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})

# A gzip body may not inflate past this: a few KiB of zeros must not become gigabytes.
MAX_INFLATED_BYTES = 1 << 30

_GZIP_MAGIC = b"\x1f\x8b"

# The attributes that tie a point, log record or span to an asset (TELEMETRY.md section 3).
NS_ATTR = "openlineage.dataset.namespace"
NAME_ATTR = "openlineage.dataset.name"


@dataclass(frozen=True, slots=True)
class SignalShape:
    """Where a signal's items sit in its request: resource -> scope -> items."""

    resource_key: str
    scope_key: str
    items_key: str
    request_name: str
    request_type: type[Message]

    def key(self, camel: str) -> str:
        return {
            self.resource_key: _snake(self.resource_key),
            self.scope_key: _snake(self.scope_key),
            self.items_key: _snake(self.items_key),
        }[camel]


SHAPES: dict[str, SignalShape] = {
    "metrics": SignalShape(
        "resourceMetrics",
        "scopeMetrics",
        "metrics",
        "ExportMetricsServiceRequest",
        metrics_service_pb2.ExportMetricsServiceRequest,
    ),
    "logs": SignalShape(
        "resourceLogs",
        "scopeLogs",
        "logRecords",
        "ExportLogsServiceRequest",
        logs_service_pb2.ExportLogsServiceRequest,
    ),
    "traces": SignalShape(
        "resourceSpans",
        "scopeSpans",
        "spans",
        "ExportTraceServiceRequest",
        trace_service_pb2.ExportTraceServiceRequest,
    ),
}


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


@dataclass(slots=True)
class RawRequest:
    """One decoded Export*ServiceRequest; ``line`` is its 1-based line in JSON lines."""

    value: dict[str, Any] | None
    raw: bytes
    line: int | None = None
    error: str | None = None


def media_type(content_type: str | None) -> str:
    """'application/json; charset=utf-8' -> 'application/json'."""
    return (content_type or "application/json").split(";", 1)[0].strip().lower()


def inflate(data: bytes) -> bytes:
    """Undo gzip when the body starts with its magic bytes (Content-Encoding: gzip)."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        decomp = zlib.decompressobj(wbits=31)
        out = decomp.decompress(data, MAX_INFLATED_BYTES)
        if decomp.unconsumed_tail:
            raise InputError(f"gzip body inflates past {MAX_INFLATED_BYTES} bytes")
        if not decomp.eof:
            raise InputError("gzip body is truncated")
    except zlib.error as exc:
        raise InputError(f"gzip body could not be decompressed: {exc}") from None
    return out


def decode_body(signal: Signal, data: bytes, content_type: str | None) -> Iterator[RawRequest]:
    """Raw body -> requests. Raises InputError when nothing in it can be read.

    JSON lines (one request per line, as the collector's file exporter writes) give one
    RawRequest per line, decoded as they are iterated (a large file is never held decoded
    whole); a broken line carries its error and spoils only itself.
    """
    shape = SHAPES[signal]
    mtype = media_type(content_type)
    if mtype not in JSON_TYPES and mtype not in PROTOBUF_TYPES:
        raise InputError(
            f"unsupported content type {mtype!r}: OTLP/HTTP takes application/json or "
            "application/x-protobuf"
        )
    data = inflate(data)
    if mtype in PROTOBUF_TYPES:
        return iter([RawRequest(decode_protobuf(shape, data), data)])
    return decode_json(shape, data)


def decode_protobuf(shape: SignalShape, data: bytes) -> dict[str, Any]:
    try:
        message = shape.request_type.FromString(data)
    except DecodeError as exc:
        raise InputError(f"invalid protobuf {shape.request_name}: {exc}") from None
    value = message_dict(message)
    if data and not value.get(shape.resource_key):
        # Every byte string parses as *some* message with unknown fields; a non-empty
        # body that yields no resources is not this signal's request.
        raise InputError(
            f"protobuf body holds no {shape.resource_key}: not an OTLP {shape.request_name}"
        )
    return value


# Per field: (JSON name, kind, repeated); kind 0 scalar, 1 message, 2 id bytes, 3 bytes.
_FIELDS: dict[Any, tuple[str, int, bool]] = {}


def _field(fd: FieldDescriptor) -> tuple[str, int, bool]:
    meta = _FIELDS.get(fd)
    if meta is None:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            kind = 1
        elif fd.type == FieldDescriptor.TYPE_BYTES:
            kind = 2 if fd.name.endswith("_id") else 3
        else:
            kind = 0
        meta = _FIELDS[fd] = (fd.json_name, kind, fd.is_repeated)
    return meta


def message_dict(message: Message) -> dict[str, Any]:
    """A protobuf message -> the dict its OTLP/JSON form decodes to.

    Several times faster than ``json_format.MessageToDict`` (only set fields are visited,
    through the C ``ListFields``), and closer to OTLP/JSON: trace and span ids come out
    as hex, as the spec writes them, 64-bit integers and enums as ints. Other bytes are
    base64, as in the JSON mapping.
    """
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        name, kind, repeated = _field(fd)
        if kind == 1:
            out[name] = [message_dict(v) for v in value] if repeated else message_dict(value)
        elif kind == 0:
            out[name] = list(value) if repeated else value
        elif kind == 2:
            out[name] = [v.hex() for v in value] if repeated else value.hex()
        else:
            out[name] = (
                [base64.b64encode(v).decode() for v in value]
                if repeated
                else base64.b64encode(value).decode()
            )
    return out


def decode_json(shape: SignalShape, data: bytes) -> Iterator[RawRequest]:
    lines = _json_lines(data)
    if lines is not None:
        return (_json_line(shape, ln, n) for n, ln in enumerate(lines, 1))
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}") from None
    if isinstance(value, list):
        # Not OTLP/JSON proper, but what concatenating exported requests gives.
        return iter([_json_request(shape, v, orjson.dumps(v), n) for n, v in enumerate(value, 1)])
    request = _json_request(shape, value, data, None)
    if request.error is not None:
        raise InputError(request.error)
    return iter([request])


def _json_lines(data: bytes) -> list[bytes] | None:
    """The lines of a JSON-lines body; None for a single (maybe pretty-printed) document.

    It is JSON lines when there is more than one line and the first is a whole object by
    itself (the first line of a pretty-printed document never is).
    """
    head, sep, rest = data.lstrip().partition(b"\n")
    if not sep or not rest.strip() or not head.rstrip().endswith(b"}"):
        return None
    try:
        orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    return [ln for ln in data.splitlines() if ln.strip()]


def _json_line(shape: SignalShape, line: bytes, n: int) -> RawRequest:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return RawRequest(None, line, n, f"line {n}: invalid JSON: {exc}")
    return _json_request(shape, value, line, n)


def _json_request(shape: SignalShape, value: Any, raw: bytes, n: int | None) -> RawRequest:
    where = f"line {n}: " if n is not None else ""
    if not isinstance(value, dict):
        return RawRequest(
            None,
            raw,
            n,
            f"{where}expected an OTLP/JSON {shape.request_name} object, got {_type_name(value)}",
        )
    if value and shape.resource_key not in value and shape.key(shape.resource_key) not in value:
        other = _other_signal(shape, value)
        hint = f" (this is an OTLP {other} request)" if other else ""
        keys = ", ".join(sorted(map(str, value))[:5])
        return RawRequest(
            None,
            raw,
            n,
            f"{where}expected an OTLP/JSON {shape.request_name} "
            f"with a {shape.resource_key!r} array{hint}; found keys: "
            f"{keys}",
        )
    return RawRequest(value, raw, n)


def _other_signal(shape: SignalShape, value: dict[str, Any]) -> str | None:
    for name, other in SHAPES.items():
        if other is not shape and (
            other.resource_key in value or other.key(other.resource_key) in value
        ):
            return name
    return None


def _type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


def get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under its lowerCamelCase name, or the snake_case one OTLP/JSON also allows."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def as_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"expected an array, got {_type_name(value)}", path)
    return value


def as_dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {_type_name(value)}", path)
    return value


Scope = tuple[dict[str, Any], dict[str, Any], list[Any], str]

# Stands for every absent resource or scope; never mutated.
_ABSENT: dict[str, Any] = {}


def walk(shape: SignalShape, request: dict[str, Any]) -> Iterator[Scope]:
    """Yield (resource, scope, items, path) for each scope of a request.

    ``resource`` and ``scope`` are the objects as sent (for dead letters), or one shared
    empty dict when absent, so that callers may cache by ``id()`` while the request lives;
    containers of the wrong type raise InputError naming their path.
    """
    rkey, skey, ikey = shape.resource_key, shape.scope_key, shape.items_key
    resources = as_list(get(request, rkey, shape.key(rkey)), rkey)
    for ri, entry in enumerate(resources):
        rpath = f"{rkey}[{ri}]"
        entry = as_dict(entry, rpath)
        resource = as_dict(entry.get("resource"), f"{rpath}.resource") or _ABSENT
        scopes = as_list(get(entry, skey, shape.key(skey)), f"{rpath}.{skey}")
        for si, sentry in enumerate(scopes):
            spath = f"{rpath}.{skey}[{si}]"
            sentry = as_dict(sentry, spath)
            scope = as_dict(sentry.get("scope"), f"{spath}.scope") or _ABSENT
            items = as_list(get(sentry, ikey, shape.key(ikey)), f"{spath}.{ikey}")
            yield resource, scope, items, f"{spath}.{ikey}"


def any_value(value: Any) -> Any:
    """An OTLP AnyValue (JSON form) -> the plain Python value it holds."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "string_value"):
        if key in value:
            return value[key]
    for key in ("intValue", "int_value"):
        if key in value:
            try:
                return int(value[key])
            except (TypeError, ValueError):
                return value[key]
    for key in ("doubleValue", "double_value"):
        if key in value:
            v = value[key]
            return float(v) if isinstance(v, int) else v
    for key in ("boolValue", "bool_value"):
        if key in value:
            return bool(value[key])
    for key in ("arrayValue", "array_value"):
        if key in value:
            inner = value[key] if isinstance(value[key], dict) else {}
            return [any_value(v) for v in inner.get("values") or []]
    for key in ("kvlistValue", "kvlist_value"):
        if key in value:
            inner = value[key] if isinstance(value[key], dict) else {}
            return attributes(inner.get("values"))
    for key in ("bytesValue", "bytes_value"):
        if key in value:
            return value[key]  # base64 text, as the JSON mapping writes bytes
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    """A list of OTLP KeyValue -> dict (later duplicates win, as the SDKs do)."""
    out: dict[str, Any] = {}
    if not isinstance(kvs, list):
        return out
    for kv in kvs:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = any_value(kv.get("value"))
    return out


def nanos(value: Any) -> int | None:
    """A fixed64 nanosecond time (number or decimal string) -> int; None when absent/0."""
    if value is None:
        return None
    try:
        t = int(value)
    except (TypeError, ValueError):
        return None
    return t or None


def hex_id(value: Any, size: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id -> lowercase hex; None when absent or zero.

    OTLP/JSON sends hex; protobuf mapped through MessageToDict (and many hand-written
    tools) send base64. Raises ValueError for anything else.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a hex string, got {_type_name(value)}")
    if len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{value!r} is not hex") from None
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != size:
            raise ValueError(f"{value!r} is not a {size}-byte id ({2 * size} hex digits)")
    if not any(raw):
        return None
    return raw.hex()


__all__ = [
    "NAME_ATTR",
    "NS_ATTR",
    "SHAPES",
    "RawRequest",
    "Signal",
    "SignalShape",
    "any_value",
    "as_dict",
    "as_list",
    "attributes",
    "decode_body",
    "get",
    "hex_id",
    "inflate",
    "media_type",
    "message_dict",
    "nanos",
    "walk",
]
