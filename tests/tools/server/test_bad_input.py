"""Bad input over HTTP: always a 4xx naming the problem, never a 5xx, nothing harmed."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("bad") / "flowsleuth.db"
    with live_server(f"sqlite:///{db}") as srv:
        yield srv


def _event(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-20T10:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://prod", "name": "good_job"},
        "producer": "https://example.com/test",
    }
    ev.update(over)
    return ev


def _stored_runs(server: LiveServer) -> list[dict[str, Any]]:
    resp = httpx.get(f"{server.url}/api/v1/runs", params={"node": "job:airflow://prod:good_job"})
    assert resp.status_code == 200
    return list(resp.json())


BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("truncated", b'{"eventType": "START", "eventTime": "2026-', 400, "invalid JSON"),
    ("empty", b"", 400, "invalid JSON"),
    (
        "nan",
        orjson.dumps(_event()).replace(b'"eventType"', b'"x": NaN, "eventType"'),
        400,
        "invalid JSON",
    ),
    ("infinity", b'{"eventTime": "2026-11-20T10:00:00Z", "x": Infinity}', 400, "invalid JSON"),
    ("wrong type", orjson.dumps(_event(run={"runId": 12})), 400, "expected a string"),
    (
        "missing field",
        orjson.dumps({k: v for k, v in _event().items() if k != "job"}),
        400,
        "job: is required",
    ),
    ("far future", orjson.dumps(_event(eventTime="2999-01-01T00:00:00Z")), 400, "future"),
    (
        "row count NaN-like",
        orjson.dumps(
            _event(
                outputs=[
                    {
                        "namespace": "n",
                        "name": "t",
                        "outputFacets": {"outputStatistics": {"rowCount": -3}},
                    }
                ]
            )
        ),
        400,
        "non-negative",
    ),
    ("scalar", b"42", 400, "expected an object"),
]


@pytest.mark.parametrize(
    ("label", "body", "status", "fragment"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_lineage_bodies_get_4xx_with_reason(
    server: LiveServer, label: str, body: bytes, status: int, fragment: str
) -> None:
    good = server.post("/api/v1/lineage", json=_event())
    assert good.status_code == 201
    before = _stored_runs(server)
    resp = server.post(
        "/api/v1/lineage", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status, (label, resp.text)
    assert fragment in resp.text, (label, resp.text)
    assert _stored_runs(server) == before


def test_ten_megabyte_body_is_refused_with_413(server: LiveServer) -> None:
    huge = b'{"eventTime": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    resp = server.post(
        "/api/v1/lineage",
        content=huge,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 413
    assert "exceeds" in resp.json()["error"]
    # A gzip bomb is refused after decompression, too.
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))
    resp = server.post(
        "/api/v1/lineage",
        content=bomb,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        timeout=30,
    )
    assert resp.status_code == 413


def test_gzip_and_unknown_encoding(server: LiveServer) -> None:
    body = gzip.compress(orjson.dumps(_event()))
    resp = server.post(
        "/api/v1/lineage",
        content=body,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert resp.status_code == 201
    resp = server.post(
        "/api/v1/lineage",
        content=b"x",
        headers={"content-type": "application/json", "content-encoding": "br"},
    )
    assert resp.status_code == 415
    resp = server.post(
        "/api/v1/lineage",
        content=b"\x1f\x8bnot gzip",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert resp.status_code == 400


def test_array_with_one_bad_event_stores_the_good_ones(server: LiveServer) -> None:
    good = [_event(), _event()]
    resp = server.post("/api/v1/lineage", json=[good[0], {"nope": 1}, good[1]])
    assert resp.status_code == 400
    body = resp.json()
    assert body["accepted"] == 2 and len(body["rejected"]) == 1
    ids = {r["run_id"] for r in _stored_runs(server)}
    assert {g["run"]["runId"] for g in good} <= ids


def test_query_errors_are_4xx(server: LiveServer) -> None:
    for params, status in (
        ({"node": "bogus"}, 400),
        ({"node": "job:x:y"}, 404),
        ({"node": "job:airflow://prod:good_job", "since": "soon"}, 400),
    ):
        resp = httpx.get(f"{server.url}/api/v1/runs", params=params)
        assert resp.status_code == status, (params, resp.text)
    assert httpx.get(f"{server.url}/api/v1/runs").status_code == 400


def test_server_survives(server: LiveServer, tmp_path: Path) -> None:
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"


def _otlp_metrics(
    points: list[dict[str, Any]], extra_metrics: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [
                        {
                            "key": "openlineage.dataset.namespace",
                            "value": {"stringValue": "kafka://e"},
                        },
                        {"key": "openlineage.dataset.name", "value": {"stringValue": "web_events"}},
                    ]
                },
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "event.loss_fraction",
                                "unit": "1",
                                "gauge": {"dataPoints": points},
                            },
                            *(extra_metrics or []),
                        ]
                    }
                ],
            }
        ]
    }


def test_otlp_partial_success_for_bad_points(server: LiveServer) -> None:
    ok = {"timeUnixNano": "1767225600000000000", "asDouble": 0.01}
    body = _otlp_metrics(
        [
            ok,
            {"timeUnixNano": "1767225660000000000", "asDouble": "NaN"},
            {"timeUnixNano": "1767225720000000000", "asDouble": "Infinity"},
            {"timeUnixNano": str(4102444800 * 10**9), "asDouble": 0.5},
        ],
        [{"name": "mystery", "unknownType": {"dataPoints": [ok]}}],
    )
    resp = server.post("/v1/metrics", json=body)
    assert resp.status_code == 200, resp.text
    partial = resp.json()["partialSuccess"]
    assert int(partial["rejectedDataPoints"]) == 4
    message = partial["errorMessage"]
    assert "NaN" in message or "finite" in message
    assert "future" in message and "mystery" in message
    series = httpx.get(
        f"{server.url}/api/v1/metrics", params={"node": "dataset:kafka://e:web_events"}
    ).json()
    assert [p["value"] for s in series for p in s["points"]] == [0.01]


@pytest.mark.parametrize(
    ("label", "body", "ctype", "status"),
    [
        ("truncated json", b'{"resourceMetrics": [{"resource": ', "application/json", 400),
        ("garbage protobuf", b"\xff\xfe\x00garbage", "application/x-protobuf", 400),
        ("wrong shape", b'{"resourceMetrics": 7}', "application/json", 400),
        ("wrong content type", b"{}", "text/plain", 415),
    ],
)
def test_otlp_bad_bodies(
    server: LiveServer, label: str, body: bytes, ctype: str, status: int
) -> None:
    resp = server.post("/v1/metrics", content=body, headers={"content-type": ctype})
    assert resp.status_code == status, (label, resp.text)
    assert resp.json()["error"]


def test_otlp_ten_megabytes_is_413(server: LiveServer) -> None:
    huge = b'{"resourceMetrics": [' + b" " * (10 * 1024 * 1024) + b"]}"
    resp = server.post(
        "/v1/logs",
        content=huge,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 413
