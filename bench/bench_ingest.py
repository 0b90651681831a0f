"""Ingestion throughput: OpenLineage events/s and OTLP metric points/s, files and HTTP,
on SQLite and (when FLOWSLEUTH_TEST_PG_URL or --pg is given) PostgreSQL.

    .venv/bin/python -m bench.bench_ingest [--events 20000] [--pg URL]

HTTP numbers come from a real ``flowsleuth serve`` subprocess on loopback and one client
process, every request carrying an ingestion bearer token: sequential single-event POSTs
(what the OpenLineage HTTP transport does), the official OpenLineage async transport
(concurrent single-event POSTs from one client), JSON arrays of 100 events per POST, and
OTLP/HTTP protobuf requests of 1,000 points each (what an OTel SDK exporter batches).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.bench_otlp_file import make_file
from bench.ol_events import make_events
from tests.conftest import pg_schema_url
from tests.live_server import live_server
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import ingest_otlp
from tools.store import open_store


@contextmanager
def backend(name: str, pg: str | None, folder: Path) -> Iterator[str]:
    if name == "sqlite":
        yield f"sqlite:///{folder / f'bench-{time.monotonic_ns()}.db'}"
    else:
        assert pg is not None
        yield from pg_schema_url(pg)


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def ol_file(url: str, data: bytes, n: int) -> float:
    store = open_store(url)
    rate = timed(lambda: ingest_openlineage(store, data).accepted)
    store.dispose()
    return rate


def otlp_file(url: str, data: bytes) -> float:
    store = open_store(url)
    rate = timed(lambda: ingest_otlp(store, "metrics", data, "application/json").accepted)
    store.dispose()
    return rate


def ol_http_sequential(url: str, bodies: list[bytes]) -> float:
    with live_server(url) as srv, httpx.Client(base_url=srv.url, headers=srv.auth) as client:
        headers = {"content-type": "application/json"}

        def run() -> int:
            for body in bodies:
                assert (
                    client.post("/api/v1/lineage", content=body, headers=headers).status_code == 201
                )
            return len(bodies)

        return timed(run)


def ol_http_batched(url: str, events: list[dict[str, Any]], batch: int = 100) -> float:
    """JSON arrays of ``batch`` events per POST (what the simulator's --send does)."""
    bodies = [orjson.dumps(events[i : i + batch]) for i in range(0, len(events), batch)]
    with live_server(url) as srv, httpx.Client(base_url=srv.url, headers=srv.auth) as client:
        headers = {"content-type": "application/json"}

        def run() -> int:
            for body in bodies:
                assert (
                    client.post("/api/v1/lineage", content=body, headers=headers).status_code == 201
                )
            return len(events)

        return timed(run)


def ol_http_async_client(url: str, events: list[dict[str, Any]]) -> float:
    """openlineage-python's AsyncHttpTransport: one client, concurrent requests."""
    from openlineage.client.transport.async_http import AsyncHttpConfig, AsyncHttpTransport
    from openlineage.client.transport.http import ApiKeyTokenProvider

    with live_server(url) as srv:
        auth = ApiKeyTokenProvider({"apiKey": srv.token or ""})
        transport = AsyncHttpTransport(
            AsyncHttpConfig(url=srv.url, max_concurrent_requests=64, auth=auth)
        )

        def run() -> int:
            for ev in events:
                transport.emit(_RawEvent(ev))  # type: ignore[arg-type]
            transport.close(120)
            stats = transport.get_stats()
            assert stats["failed"] == 0, stats
            return int(stats["success"])

        return timed(run)


class _RawEvent:
    """Lets the official transport send our prepared dicts (it serialises with Serde)."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event


def _patch_serde() -> None:
    from openlineage.client import serde

    original = serde.Serde.to_json

    def to_json(cls: Any, obj: Any) -> str:
        if isinstance(obj, _RawEvent):
            return orjson.dumps(obj.event).decode()
        return original(obj)

    serde.Serde.to_json = classmethod(to_json)  # type: ignore[method-assign,assignment]


def otlp_http(url: str, bodies: list[bytes], points_per_body: int) -> float:
    with live_server(url) as srv, httpx.Client(base_url=srv.url, headers=srv.auth) as client:
        headers = {"content-type": "application/x-protobuf"}

        def run() -> int:
            for body in bodies:
                assert client.post("/v1/metrics", content=body, headers=headers).status_code == 200
            return len(bodies) * points_per_body

        return timed(run)


def protobuf_bodies(count: int, points: int) -> list[bytes]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint

    out = []
    t0 = 1_767_225_600 * 10**9
    for b in range(count):
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        rm.resource.attributes.extend(
            [
                KeyValue(
                    key="openlineage.dataset.namespace", value=AnyValue(string_value="kafka://e")
                ),
                KeyValue(
                    key="openlineage.dataset.name", value=AnyValue(string_value=f"stream_{b % 20}")
                ),
            ]
        )
        sm = rm.scope_metrics.add()
        per_metric = points // 10
        for m in range(10):
            metric = Metric(name=f"bench.metric_{m}", unit="1", gauge=Gauge())
            for k in range(per_metric):
                metric.gauge.data_points.append(
                    NumberDataPoint(
                        time_unix_nano=t0 + (b * per_metric + k) * 10**9, as_double=k * 0.5
                    )
                )
            sm.metrics.append(metric)
        out.append(req.SerializeToString())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--http-events", type=int, default=3_000)
    parser.add_argument("--pg", default=os.environ.get("FLOWSLEUTH_TEST_PG_URL"))
    args = parser.parse_args()
    _patch_serde()
    folder = Path(tempfile.mkdtemp(prefix="flowsleuth-bench-"))
    events = make_events(args.events)
    ol_data = b"\n".join(orjson.dumps(e) for e in events)
    http_events = make_events(args.http_events, seed=2)
    http_bodies = [orjson.dumps(e) for e in http_events]
    metrics_path = folder / "metrics.jsonl"
    points = make_file(metrics_path, series=500, points=400, lines=20)
    otlp_data = metrics_path.read_bytes()
    pb_bodies = protobuf_bodies(100, 1000)

    rows: list[tuple[str, str, float, str]] = []
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])
    for name in backends:
        with backend(name, args.pg, folder) as url:
            rows.append(("OpenLineage file", name, ol_file(url, ol_data, len(events)), "events/s"))
        with backend(name, args.pg, folder) as url:
            rows.append(
                (
                    "OpenLineage HTTP, sequential",
                    name,
                    ol_http_sequential(url, http_bodies),
                    "events/s",
                )
            )
        with backend(name, args.pg, folder) as url:
            rows.append(
                (
                    "OpenLineage HTTP, async client",
                    name,
                    ol_http_async_client(url, make_events(args.http_events, seed=3)),
                    "events/s",
                )
            )
        with backend(name, args.pg, folder) as url:
            batched = ol_http_batched(url, make_events(args.events, seed=4))
            rows.append(("OpenLineage HTTP, arrays of 100", name, batched, "events/s"))
        with backend(name, args.pg, folder) as url:
            rows.append(
                (f"OTLP/JSON file ({points:,} pts)", name, otlp_file(url, otlp_data), "points/s")
            )
        with backend(name, args.pg, folder) as url:
            rows.append(
                (
                    "OTLP/HTTP protobuf, 1k pts/req",
                    name,
                    otlp_http(url, pb_bodies, 1000),
                    "points/s",
                )
            )
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'store':<10}  rate")
    for what, store, rate, unit in rows:
        print(f"{what:<{width}}  {store:<10}  {rate:>10,.0f} {unit}")


if __name__ == "__main__":
    main()
