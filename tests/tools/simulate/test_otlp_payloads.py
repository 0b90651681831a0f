"""Every OTLP body the simulator makes is a valid OTLP/JSON export request.

Proof by round trip through the opentelemetry-proto classes: parse (strictly: unknown
fields fail), serialise back, and get the same document; OTLP/JSON's only departure from
the proto3 JSON mapping (hex, not base64, trace and span ids) is converted both ways.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tools.simulate import FaultSpec, Payload, SimConfig, simulate

END = datetime(2025, 3, 12, tzinfo=UTC)
ID_KEYS = ("traceId", "spanId", "parentSpanId")
MESSAGES: dict[str, type[Message]] = {
    "otlp.metrics": ExportMetricsServiceRequest,
    "otlp.traces": ExportTraceServiceRequest,
    "otlp.logs": ExportLogsServiceRequest,
}


@pytest.fixture(scope="module")
def payloads() -> list[Payload]:
    config = SimConfig(end=END, size=40, days=4, scenarios=[
        FaultSpec("expired_vendor_token"), FaultSpec("webhook_slowdown")])
    return [p for p in simulate(config) if p.kind in MESSAGES]


def _ids(value: Any, convert: Any) -> Any:
    if isinstance(value, dict):
        return {k: convert(v) if k in ID_KEYS else _ids(v, convert) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids(v, convert) for v in value]
    return value


def _hex_to_b64(text: str) -> str:
    return base64.b64encode(bytes.fromhex(text)).decode()


def _b64_to_hex(text: str) -> str:
    return base64.b64decode(text).hex()


def _count(kind: str, msg: Any) -> int:
    if kind == "otlp.metrics":
        return sum(len(m.gauge.data_points) for rm in msg.resource_metrics
                   for sm in rm.scope_metrics for m in sm.metrics)
    if kind == "otlp.traces":
        return sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
    return sum(len(sl.log_records) for rl in msg.resource_logs for sl in rl.scope_logs)


def test_every_payload_round_trips_through_the_proto_classes(payloads: list[Payload]) -> None:
    assert {p.kind for p in payloads} == set(MESSAGES)
    for p in payloads:
        original = orjson.loads(p.body)
        msg = MESSAGES[p.kind]()
        json_format.Parse(orjson.dumps(_ids(original, _hex_to_b64)), msg,
                          ignore_unknown_fields=False)
        assert _count(p.kind, msg) == p.count
        back = _ids(json_format.MessageToDict(msg, use_integers_for_enums=True), _b64_to_hex)
        assert back == original
        assert msg.SerializeToString()  # the same content as application/x-protobuf


def test_points_are_tied_to_assets_and_carry_contract_attributes(
        payloads: list[Payload]) -> None:
    seen: dict[str, set[str]] = {}
    for p in payloads:
        if p.kind != "otlp.metrics":
            continue
        msg = ExportMetricsServiceRequest()
        json_format.Parse(p.body, msg)
        for rm in msg.resource_metrics:
            res = {a.key: a.value.string_value for a in rm.resource.attributes}
            assert res["openlineage.dataset.namespace"] and res["openlineage.dataset.name"]
            for m in rm.scope_metrics[0].metrics:
                for dp in m.gauge.data_points:
                    seen.setdefault(m.name, set()).update(a.key for a in dp.attributes)
    expected = {
        "identity.merge_rate": set(), "identity.fragmentation_ratio": set(),
        "identity.orphan_profiles": set(), "identity.match_confidence": set(),
        "consent.mismatch_fraction": {"consent.purpose"}, "event.loss_fraction": set(),
        "event.end_to_end.latency": {"stage"}, "activation.sync.success_ratio": {"destination"},
        "activation.sync.errors": {"error.code"}, "activation.webhook.latency": {"quantile"},
        "activation.audience.size": set(), "activation.delivery.variance": {"campaign"},
        "data.null_fraction": {"column"}, "data.duplicate_fraction": {"column"},
        "data.freshness.lag": set(),
    }
    for name, attrs in expected.items():
        assert seen.get(name) == attrs, name


def test_traces_follow_one_event_across_the_stages(payloads: list[Payload]) -> None:
    spans = []
    for p in payloads:
        if p.kind == "otlp.traces":
            for rs in orjson.loads(p.body)["resourceSpans"]:
                spans.extend(rs["scopeSpans"][0]["spans"])
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        assert len(s["traceId"]) == 32 and len(s["spanId"]) == 16
        by_trace.setdefault(s["traceId"], []).append(s)
    full = [t for t in by_trace.values() if len(t) == 5]
    assert full
    stages = [next(a["value"]["stringValue"] for a in s["attributes"] if a["key"] == "stage")
              for s in full[0]]
    assert stages == ["collect", "warehouse", "identity", "audience", "activation"]
    for trace in by_trace.values():
        for parent, child in itertools.pairwise(trace):
            assert child["parentSpanId"] == parent["spanId"]
            assert int(child["startTimeUnixNano"]) >= int(parent["endTimeUnixNano"]) - 1
    keys = {a["key"] for s in spans for a in s["attributes"]}
    assert {"user.email", "client.address"} <= keys  # personal data, for redaction to catch


def test_failing_runs_leave_logs_with_personal_data_in_them(payloads: list[Payload]) -> None:
    records = []
    for p in payloads:
        if p.kind == "otlp.logs":
            for rl in orjson.loads(p.body)["resourceLogs"]:
                records.extend(rl["scopeLogs"][0]["logRecords"])
    bodies = [r["body"]["stringValue"] for r in records]
    assert any("401" in b and "@" in b for b in bodies)
    assert any("webhook" in b and "ms" in b for b in bodies)
    assert any(r["severityText"] == "ERROR" and r["severityNumber"] == 17 for r in records)
    assert all(any(a["key"] == "openlineage.dataset.name" for a in r["attributes"])
               for r in records)
