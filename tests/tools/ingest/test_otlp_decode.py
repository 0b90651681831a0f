"""Body decoding: content types, gzip, JSON lines, protobuf mapping and id/value helpers."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tools.ingest.otlp_decode import (
    any_value,
    attributes,
    decode_body,
    hex_id,
    inflate,
    media_type,
    message_dict,
)
from tools.ingest.result import InputError


def test_ids_are_read_from_hex_or_base64() -> None:
    raw = bytes(range(16))
    assert hex_id(raw.hex().upper(), 16) == raw.hex()
    assert hex_id(base64.b64encode(raw).decode(), 16) == raw.hex()
    assert hex_id("", 8) is None and hex_id(None, 8) is None
    assert hex_id("0" * 16, 8) is None  # all-zero ids are invalid per the spec
    for bad in ("xyz", "abcd", "zz" * 8, 12):
        with pytest.raises(ValueError):
            hex_id(bad, 8)


def test_any_values_and_attributes() -> None:
    kvs = [
        {"key": "s", "value": {"stringValue": "x"}},
        {"key": "i", "value": {"intValue": "9007199254740993"}},
        {"key": "d", "value": {"doubleValue": 1}},
        {"key": "b", "value": {"bool_value": True}},
        {"key": "a", "value": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "y"}]}}},
        {"key": "m", "value": {"kvlistValue": {"values": [{"key": "k", "value": {}}]}}},
        {"key": "raw", "value": {"bytesValue": "AAE="}},
        {"not": "a key value"},
    ]
    assert attributes(kvs) == {
        "s": "x",
        "i": 9007199254740993,
        "d": 1.0,
        "b": True,
        "a": [1, "y"],
        "m": {"k": None},
        "raw": "AAE=",
    }
    assert any_value("plain") == "plain"
    assert attributes(None) == {}


def test_message_dict_matches_otlp_json() -> None:
    req = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[
                            trace_pb2.Span(
                                trace_id=bytes(range(16)),
                                span_id=bytes(range(8)),
                                name="s",
                                kind=trace_pb2.Span.SPAN_KIND_SERVER,
                                start_time_unix_nano=5,
                                attributes=[
                                    common_pb2.KeyValue(
                                        key="k", value=common_pb2.AnyValue(bytes_value=b"\x00\x01")
                                    )
                                ],
                            )
                        ]
                    )
                ]
            )
        ]
    )
    span = message_dict(req)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span == {
        "traceId": bytes(range(16)).hex(),
        "spanId": bytes(range(8)).hex(),
        "name": "s",
        "kind": 2,
        "startTimeUnixNano": 5,
        "attributes": [{"key": "k", "value": {"bytesValue": "AAE="}}],
    }


def test_pretty_printed_json_is_one_document_and_json_lines_are_many() -> None:
    doc: dict[str, Any] = {"resourceMetrics": [{"scopeMetrics": []}]}
    pretty = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    assert [r.value for r in decode_body("metrics", pretty, "application/json")] == [doc]
    lines = orjson.dumps(doc) + b"\n\n" + orjson.dumps({}) + b"\n"
    got = list(decode_body("metrics", lines, "application/json; charset=utf-8"))
    assert [(r.value, r.line) for r in got] == [(doc, 1), ({}, 2)]


def test_gzip_and_content_types() -> None:
    assert inflate(gzip.compress(b"hello")) == b"hello"
    assert inflate(b"plain") == b"plain"
    with pytest.raises(InputError, match="gzip body"):
        inflate(b"\x1f\x8b\x08\x00garbage")
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(None) == "application/json"
    with pytest.raises(InputError, match="unsupported content type 'application/xml'"):
        decode_body("logs", b"<x/>", "application/xml")
