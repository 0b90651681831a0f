"""``flowsleuth serve``: configuration mistakes end with a message and exit code 2, never a
traceback; a server without ingestion tokens starts, says so, and refuses ingestion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()
TOKEN = "ingest-token-0123456789abcdef"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Stands in for uvicorn.run: records the app instead of serving it."""
    apps: list[Any] = []

    def run(app: Any, **_: Any) -> None:
        apps.append(app)

    monkeypatch.setattr("uvicorn.run", run)
    for name in (
        "FLOWSLEUTH_INGEST_TOKENS",
        "FLOWSLEUTH_INGEST_TOKENS_FILE",
        "FLOWSLEUTH_MCP_TOKENS",
        "FLOWSLEUTH_MCP_TOKENS_FILE",
        "FLOWSLEUTH_WEB_USERS",
        "FLOWSLEUTH_WEB_USERS_FILE",
        "FLOWSLEUTH_WEB_COOKIE_SECURE",
    ):
        monkeypatch.delenv(name, raising=False)
    return apps


def _serve(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(tmp_path / "fs.db"), "serve", *args])
    # Rich wraps error lines at the terminal width; compare words, not line breaks.
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FLOWSLEUTH_WEB_USERS", "{not json", "FLOWSLEUTH_WEB_USERS is not JSON"),
        (
            "FLOWSLEUTH_WEB_USERS",
            '{"users": {"ann": {"roles": ["data-lead"]}}}',
            "FLOWSLEUTH_WEB_USERS: users.ann.password: Field required",
        ),
        ("FLOWSLEUTH_WEB_USERS_FILE", "/nonexistent/users.yaml", "FLOWSLEUTH_WEB_USERS_FILE"),
        ("FLOWSLEUTH_WEB_COOKIE_SECURE", "sometimes", "FLOWSLEUTH_WEB_COOKIE_SECURE must be"),
        ("FLOWSLEUTH_INGEST_TOKENS", "[nope", "FLOWSLEUTH_INGEST_TOKENS is not valid JSON"),
        ("FLOWSLEUTH_INGEST_TOKENS", '["short"]', "token #1: token: String should have"),
        ("FLOWSLEUTH_INGEST_TOKENS_FILE", "/nonexistent/t.yaml", "FLOWSLEUTH_INGEST_TOKENS_FILE"),
        ("FLOWSLEUTH_MCP_TOKENS", '[{"token": "short"}]', "FLOWSLEUTH_MCP_TOKENS: token #1"),
    ],
)
def test_bad_configuration_fails_with_exit_code_2(
    tmp_path: Path,
    started: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, output = _serve(tmp_path)
    assert code == 2, output
    assert "error:" in output and message in output
    assert "Traceback" not in output
    assert started == []


def test_serves_without_ingestion_tokens_but_warns_and_refuses(
    tmp_path: Path, started: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        code, output = _serve(tmp_path)
    assert code == 0, output
    assert any(
        "no tokens configured" in r.getMessage() and "FLOWSLEUTH_INGEST_TOKENS" in r.getMessage()
        for r in caplog.records
        if r.name == "tools.server.ingest_auth"
    )
    [served] = started
    with TestClient(served) as client:
        resp = client.post("/api/v1/lineage", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 401 and "FLOWSLEUTH_INGEST_TOKENS" in resp.json()["error"]


def test_serves_with_ingestion_tokens(
    tmp_path: Path, started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWSLEUTH_INGEST_TOKENS", json.dumps([TOKEN]))
    code, output = _serve(tmp_path, "--no-mcp")
    assert code == 0, output
    [served] = started
    with TestClient(served) as client:
        resp = client.post(
            "/api/v1/lineage",
            json={
                "eventType": "START",
                "eventTime": "2026-01-01T00:00:00Z",
                "run": {"runId": "3f1c8b8e-8f3a-4a41-9a8e-6c7d1f0e2b11"},
                "job": {"namespace": "n", "name": "j"},
                "producer": "p",
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert resp.status_code == 201, resp.text
