"""Property-based run (schemathesis) against the OpenAPI of the app ``flowsleuth serve``
runs: every operation in the schema, positive and negative data, with a valid ingestion
token and without one, on each store backend. Nothing may answer 5xx; answers must match
the documented status codes, content types and response schemas; without a token
ingestion must be refused.

Deterministic (derandomised Hypothesis, no example database) and bounded: EXAMPLES cases
per operation, data mode and body media type (fewer without a token, where every
ingestion answer is the same refusal).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agent.web import create_web_app
from tests.conftest import PG_URL, pg_schema_url
from tools.config import Settings
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import ingest_otlp
from tools.store import Store, open_store

TOKEN = "fuzz-ingest-token-0123456789abcdef"
EXAMPLES = {"token": 20, "anonymous": 8}
NAMESPACE, NAME = "kafka://fuzz", "web_events"
DATASET = f"dataset:{NAMESPACE}:{NAME}"
JOB = "job:airflow://fuzz:load_events"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
INGEST_PATHS = {"/api/v1/lineage", "/v1/metrics", "/v1/logs", "/v1/traces"}
# Strings that broke or could break something, mixed into every generated string field:
# a NUL (PostgreSQL text cannot hold one), URL and path tricks, odd times and numbers.
NASTY = [
    "\x00",
    "job\x00name",
    "%00",
    "dataset:kafka://fuzz:web_events",
    "9999-12-31T23:59:59Z",
    "-1",
    "x" * 1200,
]
CONFIG = schemathesis.Config.from_dict(
    {
        "dictionaries": {"nasty": {"values": NASTY}},
        "generation": {"dictionaries": {"string": {"dictionary": "nasty", "probability": 0.25}}},
        # Query strings are bound by name: the type-wide binding above reaches only bodies.
        "parameters": {
            f"query.{name}": {"dictionary": "nasty", "probability": 0.25}
            for name in ("search", "node", "name", "since", "until")
        },
    }
)
TIME = st.one_of(
    st.integers(0, 2**64 - 1), st.integers(1_700_000_000 * 10**9, 1_800_000_000 * 10**9)
)
TEXT = st.text(max_size=24)


@st.composite
def otlp_protobuf(draw: st.DrawFn) -> bytes:
    """Protobuf bodies: well-formed OTLP requests with fuzzed content, or random bytes."""
    kind = draw(st.sampled_from(["metrics", "logs", "traces", "bytes"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=256)))
    attrs = [
        KeyValue(key=draw(TEXT), value=AnyValue(string_value=draw(TEXT)))
        for _ in range(draw(st.integers(0, 3)))
    ]
    if draw(st.booleans()):
        attrs += [
            KeyValue(key="openlineage.dataset.namespace", value=AnyValue(string_value=NAMESPACE)),
            KeyValue(key="openlineage.dataset.name", value=AnyValue(string_value=NAME)),
        ]
    request: Any
    if kind == "metrics":
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(attrs)
        point = NumberDataPoint(
            time_unix_nano=draw(TIME),
            as_double=draw(st.floats(allow_nan=True, allow_infinity=True)),
        )
        metric = Metric(name=draw(TEXT), unit=draw(TEXT), gauge=Gauge(data_points=[point]))
        rm.scope_metrics.add().metrics.append(metric)
    elif kind == "logs":
        request = ExportLogsServiceRequest()
        rl = request.resource_logs.add()
        rl.resource.attributes.extend(attrs)
        record = LogRecord(
            time_unix_nano=draw(TIME),
            severity_number=draw(st.integers(0, 24)),
            body=AnyValue(string_value=draw(TEXT)),
        )
        rl.scope_logs.add().log_records.append(record)
    else:
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(attrs)
        start = draw(TIME)
        span = Span(
            trace_id=draw(st.binary(min_size=0, max_size=16)),
            span_id=draw(st.binary(min_size=0, max_size=8)),
            name=draw(TEXT),
            start_time_unix_nano=start,
            end_time_unix_nano=draw(st.one_of(st.just(start), TIME)),
        )
        rs.scope_spans.add().spans.append(span)
    return bytes(request.SerializeToString())


# Global to schemathesis: teaches it to generate the protobuf body the schema declares.
schemathesis.openapi.media_type("application/x-protobuf", otlp_protobuf())


def _seed(store: Store) -> None:
    """A job writing a dataset, runs and metric points, so queries have something to find."""
    events = [
        {
            "eventType": state,
            "eventTime": f"2026-01-0{day}T10:00:00Z",
            "run": {"runId": str(uuid.UUID(int=day))},
            "job": {"namespace": "airflow://fuzz", "name": "load_events"},
            "outputs": [{"namespace": NAMESPACE, "name": NAME}],
            "producer": "https://example.com/fuzz",
        }
        for day in (1, 2)
        for state in ("START", "COMPLETE")
    ]
    ingest_openlineage(store, b"\n".join(orjson.dumps(e) for e in events))
    points = [
        {"timeUnixNano": str((1_767_225_600 + 3600 * i) * 10**9), "asDouble": i * 0.5}
        for i in range(24)
    ]
    resource = {
        "attributes": [
            {"key": "openlineage.dataset.namespace", "value": {"stringValue": NAMESPACE}},
            {"key": "openlineage.dataset.name", "value": {"stringValue": NAME}},
        ]
    }
    metric = {"name": "event.count", "gauge": {"dataPoints": points}}
    body = {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [metric]}]}]}
    ingest_otlp(store, "metrics", orjson.dumps(body))


@dataclass
class Target:
    schema: Any
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="FLOWSLEUTH_TEST_PG_URL not set"),
            ],
        ),
    ],
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fs.db'}"])
    else:
        assert PG_URL is not None
        urls = pg_schema_url(PG_URL)
    store = open_store(next(urls))
    _seed(store)
    yield store
    store.dispose()
    for _ in urls:  # drops the PostgreSQL schema
        pass


@pytest.fixture
def target(seeded: Store) -> Iterator[Target]:
    # A new app per test: schemathesis' pytest plugin ends every ASGI lifespan it started
    # when a test ends, and the MCP session manager of an app runs only once.
    settings = Settings(db=str(seeded.engine.url), ingest_tokens=json.dumps([TOKEN]))
    app = create_web_app(seeded, settings, mcp=True)
    yield Target(schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG))
    asgi.shutdown_lifespans()


def _variants(operation: Any) -> list[dict[str, Any]]:
    """Strategy arguments per operation: as generated, plus each request body media type
    on its own and a real node for the queries that take one (so that the code past the
    node lookup is fuzzed too)."""
    out: list[dict[str, Any]] = [{}]
    media = [body.media_type for body in operation.body]
    if len(media) > 1:
        out = [{"media_type": m} for m in media]
    if "node" in {p.name for p in operation.query}:
        node = JOB if operation.path == "/api/v1/runs" else DATASET
        out.append({"query": {"node": node}})
    return out


def _has_inputs(operation: Any) -> bool:
    return bool(operation.query or operation.body or operation.headers or operation.path_parameters)


def _run(
    target: Target,
    operation: Any,
    mode: GenerationMode,
    strategy_kwargs: dict[str, Any],
    token: str | None,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else None

    @settings(
        max_examples=EXAMPLES["token" if token else "anonymous"],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=operation.as_strategy(generation_mode=mode, **strategy_kwargs))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        target.statuses[(operation.label, mode.value, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if token is None and operation.path in INGEST_PATHS:
            assert response.status_code == 401, f"ingestion without a token: {response.text}"

    run()


def _fuzz(target: Target, token: str | None) -> tuple[list[str], set[str]]:
    failures: list[str] = []
    covered: set[str] = set()
    for result in target.schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue  # nothing to make invalid
            for kwargs in _variants(operation):
                covered.add(operation.label)
                try:
                    _run(target, operation, mode, kwargs, token)
                except Exception as exc:  # one report for every operation that failed
                    failures.append(f"{operation.label} [{mode.value} {kwargs}]:\n{exc}")
    return failures, covered


@pytest.mark.parametrize("credential", ["token", "anonymous"])
def test_no_operation_answers_5xx(target: Target, credential: str) -> None:
    failures, covered = _fuzz(target, TOKEN if credential == "token" else None)
    assert not failures, "\n\n".join(failures)
    operations = {r.ok().label for r in target.schema.get_all_operations()}
    assert covered == operations
    assert {"POST /api/v1/lineage", "POST /v1/metrics", "GET /api/v1/runs"} <= operations
    if credential == "token":
        # The token opened ingestion: bodies were stored, not only refused.
        stored = {op for (op, _, status), n in target.statuses.items() if status in (200, 201)}
        assert {"POST /api/v1/lineage", "POST /v1/metrics", "POST /v1/logs"} <= stored
        # The seeded node let queries past the lookup.
        assert target.statuses[("GET /api/v1/runs", "positive", 200)] > 0
        assert target.statuses[("GET /api/v1/metrics", "positive", 200)] > 0


def test_the_schema_documents_ingestion_auth(target: Target) -> None:
    raw = target.schema.raw_schema
    assert raw["components"]["securitySchemes"]["ingestToken"]["scheme"] == "bearer"
    for path in INGEST_PATHS:
        post = raw["paths"][path]["post"]
        assert post["security"] == [{"ingestToken": []}]
        assert {"400", "401", "413", "415"} <= set(post["responses"])
        assert post["requestBody"]["required"] is True
