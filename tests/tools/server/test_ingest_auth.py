"""Ingestion needs a bearer token: refusals store nothing and leave no dead letter."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.live_server import live_server
from tools.config import Settings
from tools.server.app import create_app
from tools.server.ingest_auth import load_ingest_tokens, parse_ingest_tokens
from tools.server.tokens import TokenConfigError
from tools.store import Store
from tools.store.models import DeadLetter, LineageEvent, LogRecord, MetricPoint, Run, Span

TOKEN = "ingest-token-0123456789abcdef"
OTHER = "second-token-0123456789abcdef"
OTLP = {
    "/v1/metrics": {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "event.loss_fraction",
                                "gauge": {
                                    "dataPoints": [
                                        {"timeUnixNano": "1767225600000000000", "asDouble": 0.5}
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    },
    "/v1/logs": {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": "1767225600000000000", "body": {"stringValue": "x"}}
                        ]
                    }
                ]
            }
        ]
    },
    "/v1/traces": {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "sync",
                                "startTimeUnixNano": "1767225600000000000",
                                "endTimeUnixNano": "1767225601000000000",
                            }
                        ]
                    }
                ]
            }
        ]
    },
}


def _event() -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://prod", "name": "auth_job"},
        "producer": "https://example.com/test",
    }


def _counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            model.__tablename__: int(
                conn.execute(select(func.count()).select_from(model)).scalar_one()
            )
            for model in (LineageEvent, Run, MetricPoint, LogRecord, Span, DeadLetter)
        }


def _client(store: Store, tokens: Any = (TOKEN,)) -> TestClient:
    settings = Settings(ingest_tokens=None if tokens is None else json.dumps(list(tokens)))
    return TestClient(create_app(store, settings))


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with _client(store) as c:
        yield c


def _bodies() -> list[tuple[str, bytes]]:
    return [("/api/v1/lineage", orjson.dumps(_event()))] + [
        (path, orjson.dumps(body)) for path, body in OTLP.items()
    ]


BAD_CREDENTIALS: list[tuple[str, dict[str, str], str]] = [
    ("none", {}, 'Bearer realm="flowsleuth"'),
    ("wrong token", {"Authorization": f"Bearer {OTHER}"}, 'error="invalid_token"'),
    ("empty bearer", {"Authorization": "Bearer "}, "Bearer"),
    ("basic scheme", {"Authorization": f"Basic {TOKEN}"}, "Bearer"),
    ("token without scheme", {"Authorization": TOKEN}, "Bearer"),
    ("a prefix of the token", {"Authorization": f"Bearer {TOKEN[:-1]}"}, "invalid_token"),
]


@pytest.mark.parametrize(
    ("label", "headers", "challenge"), BAD_CREDENTIALS, ids=[b[0] for b in BAD_CREDENTIALS]
)
def test_requests_without_a_valid_token_are_refused_and_leave_nothing(
    store: Store, client: TestClient, label: str, headers: dict[str, str], challenge: str
) -> None:
    before = _counts(store)
    for path, body in _bodies():
        resp = client.post(
            path, content=body, headers={"content-type": "application/json", **headers}
        )
        assert resp.status_code == 401, (label, path, resp.text)
        assert resp.headers["www-authenticate"].startswith("Bearer"), label
        assert challenge in resp.headers["www-authenticate"], label
        assert resp.json()["error"], label
    assert _counts(store) == before


def test_unauthenticated_garbage_and_huge_bodies_are_not_dead_lettered(
    store: Store, client: TestClient
) -> None:
    """A stranger cannot fill the dead-letter table: the token is checked before the body
    is read, for bodies that an authenticated sender would have had kept."""
    before = _counts(store)
    huge = b'{"eventTime": "' + b"x" * (9 << 20) + b'"}'
    for path in ("/api/v1/lineage", "/v1/metrics"):
        for body in (b"{not json", huge):
            resp = client.post(path, content=body, headers={"content-type": "application/json"})
            assert resp.status_code == 401, (path, resp.text)
    assert _counts(store) == before
    # The same with the token: an authenticated sender's rejects are kept for inspection.
    auth = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    assert client.post("/api/v1/lineage", content=b"{not json", headers=auth).status_code == 400
    assert client.post("/api/v1/lineage", content=huge, headers=auth).status_code == 413
    assert _counts(store)["dead_letters"] == before["dead_letters"] + 2


def test_the_right_token_is_accepted_on_every_route(store: Store, client: TestClient) -> None:
    before = _counts(store)
    for path, body in _bodies():
        resp = client.post(
            path,
            content=body,
            # Scheme names are case-insensitive (RFC 7235).
            headers={"content-type": "application/json", "Authorization": f"bearer {TOKEN}"},
        )
        assert resp.status_code in (200, 201), (path, resp.text)
    after = _counts(store)
    for table in ("lineage_events", "runs", "metric_points", "log_records", "spans"):
        assert after[table] == before[table] + 1, table
    assert after["dead_letters"] == before["dead_letters"]


def test_every_configured_token_works(store: Store) -> None:
    with _client(store, [TOKEN, OTHER]) as c:
        for token in (TOKEN, OTHER):
            resp = c.post(
                "/api/v1/lineage", json=_event(), headers={"Authorization": f"Bearer {token}"}
            )
            assert resp.status_code == 201


def test_no_tokens_configured_refuses_everything_and_says_what_to_set(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="tools.server.ingest_auth"):
        c = _client(store, None)
    assert any("no tokens configured" in r.getMessage() for r in caplog.records)
    before = _counts(store)
    with c:
        for path, body in _bodies():
            resp = c.post(
                path,
                content=body,
                headers={"content-type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            )
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith("Bearer")
            message = resp.json()["error"]
            assert "FLOWSLEUTH_INGEST_TOKENS" in message and "no tokens" in message
        # Reading stays open: only ingestion needs a token.
        assert c.get("/healthz").status_code == 200
    assert _counts(store) == before


def test_the_openapi_document_declares_the_bearer_scheme(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    [(name, scheme)] = doc["components"]["securitySchemes"].items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path in ("/api/v1/lineage", "/v1/metrics", "/v1/logs", "/v1/traces"):
        assert doc["paths"][path]["post"]["security"] == [{name: []}], path
        assert "401" in doc["paths"][path]["post"]["responses"], path
    assert "security" not in doc["paths"]["/api/v1/runs"]["get"]


# Token configuration ------------------------------------------------------------------


def test_every_token_shape_parses() -> None:
    plain = parse_ingest_tokens([TOKEN, OTHER], "t")
    assert [(e.token, e.client_id) for e in plain] == [(TOKEN, None), (OTHER, None)]
    # The shapes FLOWSLEUTH_MCP_TOKENS takes, so one file can serve both.
    listed = parse_ingest_tokens(
        [{"token": TOKEN, "client_id": "airflow", "scopes": ["read"]}], "t"
    )
    assert listed[0].client_id == "airflow"
    mapped = parse_ingest_tokens({TOKEN: ["write"], OTHER: ["read"]}, "t")
    assert [e.token for e in mapped] == [TOKEN, OTHER]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["short"], "token #1: token: String should have at least 16"),
        ([TOKEN, TOKEN], "the same token is listed twice"),
        ([{"token": TOKEN, "clientid": "typo"}], "token #1: clientid: Extra inputs"),
        ([{"client_id": "x"}], "token #1: token: Field required"),
        ([42], "token #1"),
        ("just-a-string", "expected a list of tokens"),
        (None, "expected a list of tokens"),
    ],
)
def test_bad_token_config_names_the_problem(raw: object, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message):
        parse_ingest_tokens(raw, "FLOWSLEUTH_INGEST_TOKENS")


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_ingest_tokens(Settings(ingest_tokens=None, ingest_tokens_file=None)) == []
    with pytest.raises(TokenConfigError, match="FLOWSLEUTH_INGEST_TOKENS is not valid JSON"):
        load_ingest_tokens(Settings(ingest_tokens="[nope"))
    path = tmp_path / "tokens.yaml"
    path.write_text(f"- {TOKEN}\n- token: {OTHER}\n  client_id: dbt\n")
    with pytest.raises(TokenConfigError, match="not both"):
        load_ingest_tokens(Settings(ingest_tokens=f'["{TOKEN}"]', ingest_tokens_file=path))
    assert [e.client_id for e in load_ingest_tokens(Settings(ingest_tokens_file=path))] == [
        None,
        "dbt",
    ]
    with pytest.raises(TokenConfigError, match="FLOWSLEUTH_INGEST_TOKENS_FILE"):
        load_ingest_tokens(Settings(ingest_tokens_file=tmp_path / "missing.yaml"))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(TokenConfigError, match="expected a list"):
        load_ingest_tokens(Settings(ingest_tokens_file=empty))
    # Settings read the environment, as `flowsleuth serve` does.
    monkeypatch.setenv("FLOWSLEUTH_INGEST_TOKENS", json.dumps([TOKEN]))
    assert [e.token for e in load_ingest_tokens(Settings())] == [TOKEN]


def test_bad_token_config_stops_the_app_from_being_built(store: Store) -> None:
    with pytest.raises(TokenConfigError, match="FLOWSLEUTH_INGEST_TOKENS"):
        create_app(store, Settings(ingest_tokens='["short"]'))


def test_a_real_server_without_tokens_refuses_ingestion(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'flowsleuth.db'}"
    with live_server(db, ("FLOWSLEUTH_INGEST_TOKENS", "")) as server:
        assert server.token is None
        resp = httpx.post(
            f"{server.url}/api/v1/lineage",
            json=_event(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status_code == 401
        assert "FLOWSLEUTH_INGEST_TOKENS" in resp.json()["error"]
