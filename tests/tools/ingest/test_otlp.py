"""OTLP ingestion of metrics, logs and traces over JSON and protobuf, and its rejections."""

from __future__ import annotations

import base64
import gc
import gzip
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from sqlalchemy import func, select

from tools.ingest.deadletters import replay_dead_letters
from tools.ingest.otlp import OtlpInputError, OtlpResult, encode_otlp_response, ingest_otlp
from tools.ingest.result import InputError, Rejection
from tools.store import Store
from tools.store.models import DeadLetter, LogRecord, MetricPoint, MetricSeries, Node, Span

NOW_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
T0 = NOW_US * 1000 - 3_600 * 10**9  # an hour before "now", in nanoseconds
NS, NAME = "snowflake://acme", "analytics.orders"
ASSET = [("openlineage.dataset.namespace", NS), ("openlineage.dataset.name", NAME)]
JSON, PROTO = "application/json", "application/x-protobuf"
TRACE_ID = bytes(range(16))
SPAN_ID = bytes(range(1, 9))
PARENT_ID = bytes(range(2, 10))


# --- building requests with the opentelemetry-proto classes ---------------------------


def kvs(pairs: list[tuple[str, Any]]) -> list[common_pb2.KeyValue]:
    out = []
    for key, value in pairs:
        if isinstance(value, bool):
            any_value = common_pb2.AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = common_pb2.AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = common_pb2.AnyValue(double_value=value)
        else:
            any_value = common_pb2.AnyValue(string_value=value)
        out.append(common_pb2.KeyValue(key=key, value=any_value))
    return out


def number_point(
    t_ns: int, value: float | int, attrs: list[tuple[str, Any]] | None = None
) -> metrics_pb2.NumberDataPoint:
    point = metrics_pb2.NumberDataPoint(time_unix_nano=t_ns, attributes=kvs(attrs or []))
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def gauge(
    name: str, points: list[metrics_pb2.NumberDataPoint], unit: str = "1"
) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, unit=unit, gauge=metrics_pb2.Gauge(data_points=points))


def metrics_request(
    metrics: list[metrics_pb2.Metric], resource: list[tuple[str, Any]] | None = None
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(
                    attributes=kvs(resource if resource is not None else ASSET)
                ),
                scope_metrics=[metrics_pb2.ScopeMetrics(metrics=metrics)],
            )
        ]
    )


def otlp_json(message: Message) -> bytes:
    """OTLP/JSON as the spec writes it: MessageToDict, with bytes ids as hex, not base64."""
    value = json_format.MessageToDict(message)

    def fix(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {
                k: (
                    base64.b64decode(v).hex()
                    if k in ("traceId", "spanId", "parentSpanId")
                    else fix(v)
                )
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        return obj

    return orjson.dumps(fix(value))


def encode(message: Message, content_type: str) -> bytes:
    return bytes(message.SerializeToString()) if content_type == PROTO else otlp_json(message)


def count(store: Store, model: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def series_points(store: Store) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(series name, sorted attribute JSON) -> [(ts, value)] over the whole store."""
    with store.read() as conn:
        rows = conn.execute(
            select(MetricSeries.name, MetricSeries.attributes, MetricPoint.ts, MetricPoint.value)
            .join(MetricPoint, MetricPoint.series_id == MetricSeries.id)
            .order_by(MetricPoint.ts)
        ).all()
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for name, attrs, ts, value in rows:
        key = (name, orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode())
        out.setdefault(key, []).append((ts, value))
    return out


def dataset_id(store: Store, ns: str = NS, name: str = NAME) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                select(Node.id).where(
                    Node.type == "dataset", Node.namespace == ns, Node.name == name
                )
            ).scalar_one()
        )


def rows_of(store: Store, model: Any) -> list[SimpleNamespace]:
    with store.read() as conn:
        return [SimpleNamespace(**m) for m in conn.execute(select(model)).mappings().all()]


def dead_letters(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(select(DeadLetter).order_by(DeadLetter.id)).all())


def ingest(
    store: Store, signal: Any, body: bytes, content_type: str = JSON, **kw: Any
) -> OtlpResult:
    return ingest_otlp(store, signal, body, content_type, now_us=NOW_US, **kw)


# --- metrics ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, PROTO])
def test_gauge_and_sum_points_are_stored_per_series_on_the_resource_asset(
    store: Store, content_type: str
) -> None:
    req = metrics_request(
        [
            gauge(
                "data.null_fraction",
                [
                    number_point(T0, 0.25, [("column", "email")]),
                    number_point(T0 + 60 * 10**9, 0.5, [("column", "email")]),
                    number_point(T0, 0.0, [("column", "phone")]),
                ],
            ),
            metrics_pb2.Metric(
                name="data.row_count",
                unit="1",
                sum=metrics_pb2.Sum(
                    data_points=[number_point(T0, 1200)],
                    is_monotonic=False,
                    aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
                ),
            ),
        ],
        resource=[("service.name", "loader"), *ASSET],
    )

    result = ingest(store, "metrics", encode(req, content_type), content_type)

    assert (result.accepted, result.duplicates, result.rejected) == (4, 0, [])
    t0_us = T0 // 1000
    assert series_points(store) == {
        ("data.null_fraction", '{"column":"email"}'): [(t0_us, 0.25), (t0_us + 60_000_000, 0.5)],
        ("data.null_fraction", '{"column":"phone"}'): [(t0_us, 0.0)],
        ("data.row_count", "{}"): [(t0_us, 1200.0)],
    }
    node_id = dataset_id(store)
    with store.read() as conn:
        rows = conn.execute(
            select(
                MetricSeries.name,
                MetricSeries.kind,
                MetricSeries.unit,
                MetricSeries.node_id,
                MetricSeries.node_key,
            )
        ).all()
        last_seen = conn.execute(select(Node.last_seen).where(Node.id == node_id)).scalar_one()
    assert sorted(rows) == [
        ("data.null_fraction", "gauge", "1", node_id, node_id),
        ("data.null_fraction", "gauge", "1", node_id, node_id),
        ("data.row_count", "sum", "1", node_id, node_id),
    ]
    assert last_seen == t0_us + 60_000_000


def test_point_attributes_name_the_asset_before_the_resource(store: Store) -> None:
    point_asset = [
        ("openlineage.dataset.namespace", "braze://acme"),
        ("openlineage.dataset.name", "audience.cart_abandoners"),
    ]
    req = metrics_request(
        [
            gauge(
                "activation.sync.success_ratio",
                [
                    number_point(T0, 0.9, [("destination", "braze"), *point_asset]),
                    number_point(T0, 0.8, [("destination", "braze")]),
                ],
            ),
        ]
    )
    ingest(store, "metrics", otlp_json(req))

    braze = dataset_id(store, "braze://acme", "audience.cart_abandoners")
    with store.read() as conn:
        rows = conn.execute(select(MetricSeries.node_id, MetricSeries.attributes)).all()
    assert sorted(rows, key=lambda r: r[0]) == sorted(
        [(braze, {"destination": "braze"}), (dataset_id(store), {"destination": "braze"})],
        key=lambda r: r[0],
    )


def test_points_without_an_asset_get_node_key_zero(store: Store) -> None:
    req = metrics_request([gauge("event.loss_fraction", [number_point(T0, 0.01)])], resource=[])
    assert ingest(store, "metrics", otlp_json(req)).accepted == 1
    with store.read() as conn:
        assert conn.execute(select(MetricSeries.node_key, MetricSeries.node_id)).one() == (0, None)
    assert count(store, Node) == 0


@pytest.mark.parametrize("content_type", [JSON, PROTO])
def test_histogram_gives_count_sum_and_bucket_quantiles(store: Store, content_type: str) -> None:
    point = metrics_pb2.HistogramDataPoint(
        time_unix_nano=T0,
        count=100,
        sum=2500.0,
        explicit_bounds=[10, 20, 50],
        bucket_counts=[10, 60, 25, 5],
        min=1.0,
        max=100.0,
        attributes=kvs([("stage", "cdp")]),
    )
    req = metrics_request(
        [
            metrics_pb2.Metric(
                name="event.end_to_end.latency",
                unit="s",
                histogram=metrics_pb2.Histogram(
                    data_points=[point],
                    aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_DELTA,
                ),
            )
        ]
    )

    result = ingest(store, "metrics", encode(req, content_type), content_type)

    assert (result.accepted, result.duplicates) == (1, 0)
    got = {k: v[0][1] for k, v in series_points(store).items()}
    name = "event.end_to_end.latency"
    assert got[(f"{name}.count", '{"stage":"cdp"}')] == 100
    assert got[(f"{name}.sum", '{"stage":"cdp"}')] == 2500
    # p50: rank 50 lies 40/60 into (10, 20]; p95: rank 95 ends (20, 50]; p99: rank 99 is
    # 4/5 into the last bucket, closed above by max = 100.
    assert got[(name, '{"quantile":"0.5","stage":"cdp"}')] == pytest.approx(10 + 10 * 40 / 60)
    assert got[(name, '{"quantile":"0.95","stage":"cdp"}')] == pytest.approx(50)
    assert got[(name, '{"quantile":"0.99","stage":"cdp"}')] == pytest.approx(50 + 50 * 4 / 5)
    with store.read() as conn:
        kinds = dict(conn.execute(select(MetricSeries.name, MetricSeries.kind)).all())
        units = conn.execute(select(MetricSeries.name, MetricSeries.unit)).all()
    assert set(kinds.values()) == {"histogram"}
    assert sorted(set(units)) == [(name, "s"), (f"{name}.count", "1"), (f"{name}.sum", "s")]


def test_summary_and_exponential_histogram_points(store: Store) -> None:
    summary = metrics_pb2.Metric(
        name="activation.webhook.latency",
        unit="ms",
        summary=metrics_pb2.Summary(
            data_points=[
                metrics_pb2.SummaryDataPoint(
                    time_unix_nano=T0,
                    count=40,
                    sum=4000.0,
                    quantile_values=[
                        metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=80.0),
                        metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=450.0),
                    ],
                )
            ]
        ),
    )
    expo = metrics_pb2.Metric(
        name="identity.match_latency",
        unit="s",
        exponential_histogram=metrics_pb2.ExponentialHistogram(
            data_points=[
                metrics_pb2.ExponentialHistogramDataPoint(
                    time_unix_nano=T0, count=7, sum=3.5, scale=2
                )
            ]
        ),
    )

    result = ingest(store, "metrics", otlp_json(metrics_request([summary, expo])))

    assert result.accepted == 2
    got = {k: v[0][1] for k, v in series_points(store).items()}
    assert got == {
        ("activation.webhook.latency.count", "{}"): 40.0,
        ("activation.webhook.latency.sum", "{}"): 4000.0,
        ("activation.webhook.latency", '{"quantile":"0.5"}'): 80.0,
        ("activation.webhook.latency", '{"quantile":"0.99"}'): 450.0,
        ("identity.match_latency.count", "{}"): 7.0,
        ("identity.match_latency.sum", "{}"): 3.5,
    }


def test_resent_points_are_duplicates(store: Store) -> None:
    points = [number_point(T0 + i * 10**9, float(i), [("column", "c")]) for i in range(50)]
    hist = metrics_pb2.Metric(
        name="lat",
        histogram=metrics_pb2.Histogram(
            data_points=[
                metrics_pb2.HistogramDataPoint(
                    time_unix_nano=T0, count=2, sum=3.0, explicit_bounds=[1.0], bucket_counts=[1, 1]
                )
            ]
        ),
    )
    body = otlp_json(metrics_request([gauge("data.null_fraction", points), hist]))

    first = ingest(store, "metrics", body)
    stored = count(store, MetricPoint)
    second = ingest(store, "metrics", body)

    assert (first.accepted, first.duplicates) == (51, 0)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 51, [])
    assert count(store, MetricPoint) == stored
    assert count(store, MetricSeries) == 1 + 5


def test_duplicates_within_one_body_are_counted(store: Store) -> None:
    point = number_point(T0, 1.0)
    body = otlp_json(metrics_request([gauge("m", [point, point]), gauge("m", [point])]))
    result = ingest(store, "metrics", body)
    assert (result.accepted, result.duplicates) == (1, 2)
    assert count(store, MetricPoint) == 1


def _bad_points_request() -> dict[str, Any]:
    far = T0 + 3 * 86_400 * 10**9
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in ASSET]
                },
                "scopeMetrics": [
                    {
                        "scope": {"name": "loader"},
                        "metrics": [
                            {
                                "name": "data.null_fraction",
                                "unit": "1",
                                "gauge": {
                                    "dataPoints": [
                                        {"timeUnixNano": str(T0), "asDouble": 0.1},
                                        {"timeUnixNano": str(T0 + 1000), "asDouble": "NaN"},
                                        {"timeUnixNano": str(T0 + 2000), "asDouble": "Infinity"},
                                        {"timeUnixNano": str(far), "asDouble": 0.2},
                                        {"asDouble": 0.3},
                                        {"timeUnixNano": T0 + 3000, "asInt": "7"},
                                    ]
                                },
                            },
                            {"name": "data.mystery", "unit": "1"},
                        ],
                    }
                ],
            }
        ]
    }


def test_bad_points_are_rejected_one_by_one_and_dead_lettered_together(store: Store) -> None:
    result = ingest(store, "metrics", orjson.dumps(_bad_points_request()), origin="/v1/metrics")

    assert result.accepted == 2
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 5
    assert "metric 'data.null_fraction': value 'NaN' is not a finite number" in reasons
    assert "metric 'data.null_fraction': value 'Infinity' is not a finite number" in reasons
    assert "metric 'data.null_fraction': data point has no timeUnixNano" in reasons
    assert any("more than 24 h in the future" in r for r in reasons)
    assert any("'data.mystery' has no recognised data field" in r for r in reasons)
    assert result.rejected[0].field == (
        "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1]"
    )
    assert [v for pts in series_points(store).values() for _, v in pts] == [0.1, 7.0]

    (dl,) = dead_letters(store)
    assert dl.source == "otlp.metrics" and dl.origin == "/v1/metrics"
    assert dl.reason.startswith("5 data points rejected: ")
    assert "not a finite number" in dl.reason and "no recognised data field" in dl.reason
    assert {r.dead_letter_id for r in result.rejected} == {dl.id}
    kept = orjson.loads(dl.payload)
    (scope,) = kept["resourceMetrics"][0]["scopeMetrics"]
    assert kept["resourceMetrics"][0]["resource"]["attributes"][0]["value"]["stringValue"] == NS
    gauge_kept, mystery = scope["metrics"]
    assert len(gauge_kept["gauge"]["dataPoints"]) == 4
    assert mystery == {"name": "data.mystery", "unit": "1"}


def test_dead_lettered_points_replay_once_their_time_has_come(store: Store) -> None:
    ingest(store, "metrics", orjson.dumps(_bad_points_request()))
    # Three days later the far-future point is in the past; NaN/Infinity/no-time stay bad.
    later = NOW_US + 4 * 86_400_000_000
    replays = replay_dead_letters(
        store,
        {
            "otlp.metrics": lambda body, ctype: ingest_otlp(
                store, "metrics", body, ctype or JSON, dead_letter=False, now_us=later
            ),
        },
    )
    assert replays == {"replayed": 0, "still_rejected": 1, "skipped": 0}
    assert sorted(v for pts in series_points(store).values() for _, v in pts) == [0.1, 0.2, 7.0]


@pytest.mark.parametrize("content_type", [JSON, PROTO])
def test_partial_success_in_the_response(store: Store, content_type: str) -> None:
    result = ingest(store, "metrics", orjson.dumps(_bad_points_request()))
    body = encode_otlp_response("metrics", result, content_type)
    if content_type == PROTO:
        response = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
        assert response.partial_success.rejected_data_points == 5
        message = response.partial_success.error_message
    else:
        value = orjson.loads(body)["partialSuccess"]
        assert int(value["rejectedDataPoints"]) == 5
        message = value["errorMessage"]
    assert message.startswith("5 data points rejected: ")
    assert "not a finite number" in message


@pytest.mark.parametrize(
    ("signal", "message", "field"),
    [
        ("metrics", metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
        ("logs", logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
        ("traces", trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    ],
)
def test_full_success_response_is_empty(signal: Any, message: Any, field: str) -> None:
    result = OtlpResult(accepted=3, signal=signal)
    assert encode_otlp_response(signal, result, PROTO) == b""
    assert orjson.loads(encode_otlp_response(signal, result, "application/json")) == {}
    assert not message.FromString(b"").HasField("partial_success")
    rejected = OtlpResult(signal=signal)
    rejected.rejected.append(Rejection("bad"))
    decoded = message.FromString(encode_otlp_response(signal, rejected, PROTO))
    assert getattr(decoded.partial_success, field) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"resourceMetrics": [{"scopeMetrics": [', JSON, "invalid JSON"),
        (b"\xff\xff\xff\xff garbage", PROTO, "invalid protobuf ExportMetricsServiceRequest"),
        (b"\x28\x01\x30\x02", PROTO, "holds no resourceMetrics"),  # only unknown fields
        (b'{"resourceMetrics": []}', "text/plain", "unsupported content type 'text/plain'"),
        (b'{"resourceLogs": []}', JSON, "this is an OTLP logs request"),
        (b"[1, 2]", JSON, "got a number"),
        (b'{"resourceMetrics": {"a": 1}}', JSON, "expected an array"),
        (
            b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": '
            b'{"dataPoints": [5]}}]}]}]}',
            JSON,
            "expected a data point object",
        ),
        (gzip.compress(b"not json at all", mtime=0)[:-6], JSON, "gzip body"),
    ],
)
def test_unreadable_bodies_raise_and_are_dead_lettered_whole(
    store: Store, body: bytes, content_type: str, reason: str | None
) -> None:
    with pytest.raises(InputError) as info:
        ingest(store, "metrics", body, content_type, origin="metrics.json")
    if reason is not None:
        assert reason in str(info.value)
    assert isinstance(info.value, OtlpInputError)
    (dl,) = dead_letters(store)
    assert (dl.source, dl.origin, bytes(dl.payload)) == ("otlp.metrics", "metrics.json", body)
    assert info.value.dead_letter_id == dl.id
    assert count(store, MetricPoint) == 0


def test_no_dead_letter_when_asked_not_to(store: Store) -> None:
    with pytest.raises(InputError):
        ingest(store, "metrics", b"{", dead_letter=False)
    result = ingest(store, "metrics", orjson.dumps(_bad_points_request()), dead_letter=False)
    assert len(result.rejected) == 5 and result.rejected[0].dead_letter_id is None
    assert dead_letters(store) == []


def test_gzip_bodies_json_lines_and_snake_case(store: Store) -> None:
    snake = {
        "resource_metrics": [
            {
                "scope_metrics": [
                    {
                        "metrics": [
                            {
                                "name": "m",
                                "gauge": {
                                    "data_points": [
                                        {
                                            "time_unix_nano": T0,
                                            "as_int": 3,
                                            "attributes": [
                                                {"key": "k", "value": {"string_value": "v"}}
                                            ],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    camel = orjson.loads(otlp_json(metrics_request([gauge("m", [number_point(T0 + 1000, 4.0)])])))
    lines = b"\n".join([orjson.dumps(snake), b'{"resourceMetrics": [', orjson.dumps(camel)])

    result = ingest(store, "metrics", gzip.compress(lines), origin="m.jsonl")

    assert result.accepted == 2
    (rej,) = result.rejected
    assert rej.reason.startswith("line 2: invalid JSON")
    assert series_points(store) == {
        ("m", '{"k":"v"}'): [(T0 // 1000, 3.0)],
        ("m", "{}"): [(T0 // 1000 + 1, 4.0)],
    }
    (dl,) = dead_letters(store)
    assert bytes(dl.payload) == b'{"resourceMetrics": ['


def test_sdk_exporter_protobuf_is_ingested(store: Store) -> None:
    """Protobuf exactly as the OpenTelemetry SDK's OTLP exporter encodes it."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(dict(ASSET)))
    meter = provider.get_meter("test")
    meter.create_histogram("activation.webhook.latency", unit="ms").record(
        120.0, {"destination": "braze"}
    )
    meter.create_counter("activation.sync.errors").add(3, {"error.code": "429"})
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    body = bytes(encode_metrics(data).SerializeToString())

    result = ingest_otlp(store, "metrics", body, PROTO)

    assert (result.accepted, result.rejected) == (2, [])
    names = {name for name, _ in series_points(store)}
    assert {
        "activation.sync.errors",
        "activation.webhook.latency.count",
        "activation.webhook.latency.sum",
        "activation.webhook.latency",
    } <= names


# --- logs ---------------------------------------------------------------------------

PII = [
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "203.0.113.7",
    "6D92078A-8246-4BA4-AE5B-76104861E7DC",
]


def logs_request(
    records: list[logs_pb2.LogRecord], resource: list[tuple[str, Any]] | None = None
) -> logs_service_pb2.ExportLogsServiceRequest:
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource_pb2.Resource(
                    attributes=kvs(resource if resource is not None else ASSET)
                ),
                scope_logs=[logs_pb2.ScopeLogs(log_records=records)],
            )
        ]
    )


def pii_record(t_ns: int = T0) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        time_unix_nano=t_ns,
        severity_number=logs_pb2.SEVERITY_NUMBER_ERROR,
        severity_text="ERROR",
        body=common_pb2.AnyValue(
            string_value=(f"sync failed for {PII[0]} (phone {PII[1]}, card {PII[2]}) from {PII[3]}")
        ),
        attributes=kvs(
            [
                ("user.email", PII[0]),
                ("device.idfa", PII[4]),
                ("run.id", "123e4567-e89b-12d3-a456-426614174000"),
                ("error.code", "INVALID_EMAIL"),
            ]
        ),
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
    )


def raw_table_text(store: Store, table: str) -> str:
    with store.read() as conn:
        return repr(conn.exec_driver_sql(f"SELECT * FROM {table}").all())


@pytest.mark.parametrize("content_type", [JSON, PROTO])
def test_log_records_are_stored_redacted_and_linked(store: Store, content_type: str) -> None:
    req = logs_request([pii_record()])

    result = ingest(store, "logs", encode(req, content_type), content_type)

    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    (rec,) = rows_of(store, LogRecord)
    assert rec.node_id == dataset_id(store)
    assert rec.ts == T0 // 1000
    assert (rec.severity_number, rec.severity_text) == (17, "ERROR")
    assert rec.body == "sync failed for <email> (phone <phone>, card <card>) from <ip>"
    assert rec.attributes == {
        "user.email": "<email>",
        "device.idfa": "<ad_id>",
        "run.id": "123e4567-e89b-12d3-a456-426614174000",
        "error.code": "INVALID_EMAIL",
    }
    assert (rec.trace_id, rec.span_id) == (TRACE_ID.hex(), SPAN_ID.hex())
    text = raw_table_text(store, "log_records")
    for secret in PII:
        assert secret not in text and secret.lower() not in text


def test_structured_log_bodies_are_redacted_and_resent_records_deduplicated(
    store: Store,
) -> None:
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "observedTimeUnixNano": str(T0),
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {
                                    "kvlistValue": {
                                        "values": [
                                            {
                                                "key": "to",
                                                "value": {"stringValue": "bob@example.org"},
                                            },
                                            {"key": "attempts", "value": {"intValue": "3"}},
                                        ]
                                    }
                                },
                                "attributes": [
                                    {"key": k, "value": {"stringValue": v}} for k, v in ASSET
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    first = ingest(store, "logs", orjson.dumps(body))
    second = ingest(store, "logs", orjson.dumps(body))
    assert (first.accepted, second.accepted, second.duplicates) == (1, 0, 1)
    (rec,) = rows_of(store, LogRecord)
    assert orjson.loads(rec.body) == {"to": "<email>", "attempts": 3}
    assert rec.severity_number == 13 and rec.attributes == {}
    assert rec.node_id == dataset_id(store)
    assert "bob@example.org" not in raw_table_text(store, "log_records")


def test_bad_log_records_are_rejected_and_dead_lettered_without_pii(
    store: Store,
) -> None:
    far = pii_record(T0 + 2 * 86_400 * 10**9)
    no_time = logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value="hello"))
    bad_id = orjson.loads(otlp_json(logs_request([pii_record()])))
    records = bad_id["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records[0]["traceId"] = "xyz"
    records.extend(
        orjson.loads(otlp_json(logs_request([far, no_time, pii_record(T0 + 1)])))["resourceLogs"][
            0
        ]["scopeLogs"][0]["logRecords"]
    )

    result = ingest(store, "logs", orjson.dumps(bad_id))

    assert result.accepted == 1
    reasons = sorted(r.reason for r in result.rejected)
    assert len(reasons) == 3
    assert reasons[0] == "log record: has neither timeUnixNano nor observedTimeUnixNano"
    assert "more than 24 h in the future" in reasons[1]
    assert reasons[2].startswith("log record: traceId: 'xyz'")
    (dl,) = dead_letters(store)
    assert dl.source == "otlp.logs"
    kept = orjson.loads(dl.payload)["resourceLogs"][0]
    assert len(kept["scopeLogs"][0]["logRecords"]) == 3
    assert kept["resource"]["attributes"][0]["value"]["stringValue"] == NS  # asset kept
    text = raw_table_text(store, "dead_letters") + raw_table_text(store, "log_records")
    for secret in PII:
        assert secret not in text and secret.lower() not in text

    # Replayed once its time has come, the far-future record is stored as if sent then.
    later = NOW_US + 3 * 86_400_000_000
    replayed = ingest_otlp(store, "logs", bytes(dl.payload), JSON, now_us=later, dead_letter=False)
    assert (replayed.accepted, len(replayed.rejected)) == (1, 2)
    bodies = {r.body for r in rows_of(store, LogRecord)}
    assert bodies == {"sync failed for <email> (phone <phone>, card <card>) from <ip>"}
    assert {r.node_id for r in rows_of(store, LogRecord)} == {dataset_id(store)}


# --- traces -------------------------------------------------------------------------


def span(
    name: str = "cdp.ingest",
    span_id: bytes = SPAN_ID,
    start: int = T0,
    attrs: list[tuple[str, Any]] | None = None,
    **kw: Any,
) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 250 * 10**6,
        attributes=kvs(attrs or []),
        **kw,
    )


def traces_request(
    spans: list[trace_pb2.Span], resource: list[tuple[str, Any]] | None = None
) -> trace_service_pb2.ExportTraceServiceRequest:
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=kvs(resource or [("service.name", "cdp")])
                ),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )


@pytest.mark.parametrize("content_type", [JSON, PROTO])
def test_spans_are_stored_with_hex_ids_status_and_redacted_attributes(
    store: Store, content_type: str
) -> None:
    root = span("event.generate", span_id=PARENT_ID)
    child = span(
        "cdp.ingest",
        parent_span_id=PARENT_ID,
        start=T0 + 10**9,
        attrs=[*ASSET, ("user.email", PII[0]), ("client.ip", PII[3])],
        status=trace_pb2.Status(
            code=trace_pb2.Status.STATUS_CODE_ERROR, message=f"rejected {PII[0]}"
        ),
    )
    result = ingest(
        store, "traces", encode(traces_request([root, child]), content_type), content_type
    )

    assert (result.accepted, result.rejected) == (2, [])
    rows = {s.name: s for s in rows_of(store, Span)}
    assert rows["event.generate"].parent_span_id is None
    assert rows["event.generate"].node_id is None
    got = rows["cdp.ingest"]
    assert (got.trace_id, got.span_id, got.parent_span_id) == (
        TRACE_ID.hex(),
        SPAN_ID.hex(),
        PARENT_ID.hex(),
    )
    assert (got.start_ts, got.end_ts) == ((T0 + 10**9) // 1000, (T0 + 10**9) // 1000 + 250_000)
    assert (got.status_code, got.status_message) == (2, "rejected <email>")
    assert got.attributes == {"user.email": "<email>", "client.ip": "<ip>"}
    assert got.node_id == dataset_id(store)
    text = raw_table_text(store, "spans")
    assert PII[0] not in text and PII[3] not in text


def test_resent_spans_are_duplicates_and_bad_spans_rejected(store: Store) -> None:
    good = traces_request([span()], resource=[("service.name", "cdp"), *ASSET])
    assert ingest(store, "traces", otlp_json(good)).accepted == 1
    again = ingest(store, "traces", otlp_json(good))
    assert (again.accepted, again.duplicates) == (0, 1)

    bad = orjson.loads(
        otlp_json(
            traces_request(
                [
                    span("no.trace", span_id=bytes(range(3, 11))),
                    span("backwards", span_id=bytes(range(4, 12))),
                    span("fine", span_id=bytes(range(5, 13))),
                ]
            )
        )
    )
    spans = bad["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "00" * 16
    spans[1]["endTimeUnixNano"] = str(T0 - 1)
    result = ingest(store, "traces", orjson.dumps(bad))
    assert result.accepted == 1
    assert sorted(r.reason for r in result.rejected) == [
        "span 'backwards': ends (endTimeUnixNano) before it starts",
        "span 'no.trace': has no traceId (or an all-zero one)",
    ]
    assert count(store, Span) == 2
    with store.read() as conn:
        last_seen = conn.execute(select(Node.last_seen)).scalar_one()
    assert last_seen == T0 // 1000


def test_sdk_spans_round_trip_through_protobuf(store: Store) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(dict(ASSET)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("segment.build") as parent,
        tracer.start_as_current_span(
            "activation.sync", attributes={"customer.phone": "(202) 555-0143"}
        ),
    ):
        pass
    provider.shutdown()
    finished = exporter.get_finished_spans()
    body = bytes(encode_spans(finished).SerializeToString())

    result = ingest_otlp(store, "traces", body, PROTO)

    assert (result.accepted, result.rejected) == (2, [])
    rows = {s.name: s for s in rows_of(store, Span)}
    trace_hex = f"{parent.get_span_context().trace_id:032x}"
    assert {r.trace_id for r in rows.values()} == {trace_hex}
    assert rows["activation.sync"].parent_span_id == f"{parent.get_span_context().span_id:016x}"
    assert rows["activation.sync"].attributes == {"customer.phone": "<phone>"}
    assert all(r.node_id == dataset_id(store) for r in rows.values())


def test_signal_names_are_checked(store: Store) -> None:
    with pytest.raises(InputError, match="unknown OTLP signal"):
        ingest_otlp(store, "profiles", b"{}")  # type: ignore[arg-type]


def test_large_bodies_leave_the_garbage_collector_as_they_found_it(store: Store) -> None:
    points = [
        number_point(T0 + i * 10**6, float(i), [("column", f"c{i % 7}")]) for i in range(6000)
    ]
    body = otlp_json(metrics_request([gauge("data.null_fraction", points)]))
    assert len(body) > 256 * 1024
    assert gc.isenabled()
    assert ingest(store, "metrics", body).accepted == 6000
    assert gc.isenabled()
    with pytest.raises(InputError):
        ingest(store, "metrics", body[:-1])
    assert gc.isenabled()
