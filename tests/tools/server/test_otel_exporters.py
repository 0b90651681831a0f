"""The OpenTelemetry SDK's own OTLP/HTTP exporters (protobuf and JSON) against the server.

The protobuf exporters get the ingestion token through ``headers=``, the JSON ones
through OTEL_EXPORTER_OTLP_HEADERS, as the README tells a deployment to set it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import select

from tests.live_server import LiveServer, live_server
from tools.store import open_store
from tools.store.models import LogRecord, Span

NODE = "dataset:braze://acme:audience.cart_abandoners"
RESOURCE = Resource.create(
    {
        "service.name": "reverse-etl",
        "openlineage.dataset.namespace": "braze://acme",
        "openlineage.dataset.name": "audience.cart_abandoners",
    }
)


def _exporters(
    encoding: str, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, Any]:
    url = server.url
    headers: dict[str, str] | None = None
    if encoding == "protobuf":
        headers = server.auth
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.json.http._log_exporter import (  # type: ignore[no-redef]
            OTLPLogExporter,
        )
        from opentelemetry.exporter.otlp.json.http.metric_exporter import (  # type: ignore[no-redef]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.json.http.trace_exporter import (  # type: ignore[no-redef]
            OTLPSpanExporter,
        )

        # The exporters read the variable when they are built.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{server.token}")
    return (
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=headers),
        OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers),
        OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("otel") / "flowsleuth.db"
    with live_server(f"sqlite:///{db}") as srv:
        yield srv


def _series(server: LiveServer, name: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{server.url}/api/v1/metrics", params={"node": NODE, "name": name})
    assert resp.status_code == 200, resp.text
    return list(resp.json())


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_sdk_metric_exporter(
    server: LiveServer, encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    metric_exp, _, _ = _exporters(encoding, server, monkeypatch)
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("test")
    size = meter.create_gauge(f"activation.audience.size.{encoding}")
    errors = meter.create_counter(f"activation.sync.errors.{encoding}")
    latency = meter.create_histogram(f"activation.webhook.latency.{encoding}", unit="ms")
    size.set(48_250)
    errors.add(3, {"error.code": "401", "destination": "meta_ads"})
    for ms in (12, 15, 18, 22, 30, 45, 80, 120, 400, 900):
        latency.record(ms)
    assert provider.force_flush(10_000)
    provider.shutdown()

    [gauge] = _series(server, f"activation.audience.size.{encoding}")
    assert gauge["points"][-1]["value"] == 48_250
    [counter] = _series(server, f"activation.sync.errors.{encoding}")
    assert counter["attributes"] == {"error.code": "401", "destination": "meta_ads"}
    assert counter["points"][-1]["value"] == 3
    [count] = _series(server, f"activation.webhook.latency.{encoding}.count")
    assert count["points"][-1]["value"] == 10
    quantiles = {
        s["attributes"]["quantile"]: s["points"][-1]["value"]
        for s in _series(server, f"activation.webhook.latency.{encoding}")
    }
    assert set(quantiles) == {"0.5", "0.95", "0.99"}
    assert 10 <= quantiles["0.5"] <= 50 <= quantiles["0.95"] <= quantiles["0.99"]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_sdk_log_and_span_exporters(
    server: LiveServer, encoding: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, log_exp, span_exp = _exporters(encoding, server, monkeypatch)
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
    logger = logging.getLogger(f"flowsleuth.test.{encoding}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    logger.error("sync to meta_ads failed for jane.doe@example.com from 10.1.2.3 (%s)", encoding)
    logger_provider.shutdown()

    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exp))
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span(f"collect.{encoding}") as root:
        root.set_attribute("user.email", "john@example.org")
        with tracer.start_as_current_span(f"activate.{encoding}"):
            pass
    tracer_provider.shutdown()

    db = server_db(server)
    store = open_store(db)
    with store.read() as conn:
        bodies = [b for (b,) in conn.execute(select(LogRecord.body)) if encoding in b]
        spans = conn.execute(
            select(Span.name, Span.parent_span_id, Span.attributes, Span.trace_id).where(
                Span.name.like(f"%.{encoding}")
            )
        ).all()
    store.dispose()
    assert len(bodies) == 1
    assert "jane.doe@example.com" not in bodies[0] and "10.1.2.3" not in bodies[0]
    assert "<email>" in bodies[0] and "<ip>" in bodies[0]
    names = {s.name: s for s in spans}
    assert set(names) == {f"collect.{encoding}", f"activate.{encoding}"}
    assert names[f"collect.{encoding}"].attributes["user.email"] == "<email>"
    assert names[f"activate.{encoding}"].parent_span_id is not None
    assert len({s.trace_id for s in spans}) == 1 and len(spans[0].trace_id) == 32


def test_exporter_without_a_token_is_refused(server: LiveServer) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

    name = "activation.audience.size.untokened"
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    provider.get_meter("test").create_gauge(name).set(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics")
    assert exporter.export(data) is MetricExportResult.FAILURE
    exporter.shutdown()
    assert _series(server, name) == []


def server_db(server: LiveServer) -> str:
    args = server.process.args
    assert isinstance(args, list)
    return str(args[args.index("--db") + 1])
