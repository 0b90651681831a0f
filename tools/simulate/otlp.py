"""OTLP/JSON request bodies (metrics, traces, logs) exactly as an OTLP/HTTP exporter sends.

The proto3 JSON mapping with OTLP's exceptions: lowerCamelCase keys, 64-bit integers as
decimal strings, enums as integers, trace and span ids as lowercase hex (not base64).
Dicts are built directly rather than through the proto classes because the generator
emits millions of points; the tests parse every body back into the opentelemetry-proto
messages to prove the shape.
"""

from __future__ import annotations

from typing import Any

from tools.simulate.metrics import UNITS, Point
from tools.simulate.stack import Dataset
from tools.simulate.stages import LogRecord, SpanRecord

SCOPE = {"name": "flowsleuth.simulate", "version": "0.1.0"}
ATTR_NAMESPACE = "openlineage.dataset.namespace"
ATTR_NAME = "openlineage.dataset.name"
SPAN_KIND_INTERNAL = 1
STATUS_OK, STATUS_ERROR = 1, 2
_SEVERITY_TEXT = {9: "INFO", 13: "WARN", 17: "ERROR"}


def attributes(items: dict[str, str] | tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    pairs = items.items() if isinstance(items, dict) else items
    return [{"key": k, "value": {"stringValue": v}} for k, v in pairs]


# Point attribute sets repeat endlessly (column=email, quantile=0.95, ...): build each once.
_ATTR_CACHE: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}


def _cached_attributes(items: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    found = _ATTR_CACHE.get(items)
    if found is None:
        if len(_ATTR_CACHE) > 100_000:
            _ATTR_CACHE.clear()
        found = _ATTR_CACHE[items] = attributes(items)
    return found


_SERVICES = {"kafka": "event-collector", "s3": "file-drops", "snowflake": "warehouse-monitor",
             "segment": "segment", "braze": "braze", "salesforce": "salesforce",
             "meta_ads": "meta-ads", "google_ads": "google-ads"}


def service_of(ds: Dataset) -> str:
    scheme = ds.namespace.split("://", 1)[0]
    return _SERVICES.get(scheme, scheme)


# Resources repeat every hour for every asset: build each once.
_RESOURCES: dict[tuple[str, str, str], dict[str, Any]] = {}


def _resource(ds: Dataset, service: str | None = None) -> dict[str, Any]:
    key = (ds.namespace, ds.name, service or "")
    found = _RESOURCES.get(key)
    if found is None:
        if len(_RESOURCES) > 200_000:
            _RESOURCES.clear()
        found = _RESOURCES[key] = {"attributes": attributes({
            "service.name": service or service_of(ds),
            ATTR_NAMESPACE: ds.namespace,
            ATTR_NAME: ds.name,
        })}
    return found


def metrics_request(points: list[Point]) -> dict[str, Any]:
    """One ExportMetricsServiceRequest: a resource per asset, a Gauge per metric name."""
    by_ds: dict[int, tuple[Dataset, dict[str, list[dict[str, Any]]]]] = {}
    for p in points:
        entry = by_ds.get(p.ds.idx)
        if entry is None:
            entry = by_ds[p.ds.idx] = (p.ds, {})
        point: dict[str, Any] = {"timeUnixNano": str(p.time_us * 1000), "asDouble": p.value}
        if p.attrs:
            point["attributes"] = _cached_attributes(p.attrs)
        entry[1].setdefault(p.name, []).append(point)
    return {"resourceMetrics": [
        {
            "resource": _resource(ds),
            "scopeMetrics": [{"scope": SCOPE, "metrics": [
                {"name": name, "unit": UNITS.get(name, "1"), "gauge": {"dataPoints": pts}}
                for name, pts in metrics.items()
            ]}],
        }
        for ds, metrics in by_ds.values()
    ]}


def traces_request(spans: list[SpanRecord]) -> dict[str, Any]:
    by_ds: dict[int, tuple[Dataset, list[dict[str, Any]]]] = {}
    for s in spans:
        attrs = {ATTR_NAMESPACE: s.ds.namespace, ATTR_NAME: s.ds.name, **s.attrs}
        span: dict[str, Any] = {
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "name": s.name,
            "kind": SPAN_KIND_INTERNAL,
            "startTimeUnixNano": str(s.start_us * 1000),
            "endTimeUnixNano": str(s.end_us * 1000),
            "attributes": attributes(attrs),
            "status": {"code": STATUS_ERROR, "message": s.error} if s.error
            else {"code": STATUS_OK},
        }
        if s.parent_id:
            span["parentSpanId"] = s.parent_id
        by_ds.setdefault(s.ds.idx, (s.ds, []))[1].append(span)
    return {"resourceSpans": [
        {"resource": _resource(ds), "scopeSpans": [{"scope": SCOPE, "spans": items}]}
        for ds, items in by_ds.values()
    ]}


def logs_request(records: list[LogRecord]) -> dict[str, Any]:
    groups: dict[tuple[int, str], tuple[Dataset, str, list[dict[str, Any]]]] = {}
    for r in records:
        assert r.ds is not None
        service = r.job.engine if r.job is not None else service_of(r.ds)
        attrs = dict(r.attrs)
        if r.job is not None:
            attrs = {"openlineage.job.namespace": r.job.namespace,
                     "openlineage.job.name": r.job.name, **attrs}
        record = {
            "timeUnixNano": str(r.time_us * 1000),
            "observedTimeUnixNano": str(r.time_us * 1000),
            "severityNumber": r.severity,
            "severityText": _SEVERITY_TEXT[r.severity],
            "body": {"stringValue": r.body},
            "attributes": attributes(
                {ATTR_NAMESPACE: r.ds.namespace, ATTR_NAME: r.ds.name, **attrs}),
        }
        groups.setdefault((r.ds.idx, service), (r.ds, service, []))[2].append(record)
    return {"resourceLogs": [
        {"resource": _resource(ds, service), "scopeLogs": [{"scope": SCOPE, "logRecords": items}]}
        for ds, service, items in groups.values()
    ]}
