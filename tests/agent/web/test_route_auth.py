"""No route of ``flowsleuth serve`` changes state without authentication.

The routes are read from the app ``flowsleuth serve`` builds, not listed here: every route
that accepts POST, PUT, PATCH or DELETE (or any method, such as a mounted ASGI app) must
fall under one of the GUARDS below, and a request that carries no credentials, or forged
ones, must be refused there without changing a row of the store. A new state-changing
route therefore fails this test until its author says how it authenticates, by adding a
guard for its path prefix, and shows that a stranger is refused. Mount every optional
surface in :func:`_app` (e.g. Slack at ``/slack/events`` with its signing secret set) so
its routes are audited too.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from starlette.routing import BaseRoute

from agent.slack.blocks import APPROVE
from agent.slack.settings import load_slack_settings
from agent.web import create_web_app
from agent.web.auth import SESSION_COOKIE
from agent.web.pages import LOGIN_CSRF_COOKIE
from tests.agent.slack.fake_slack import (
    SIGNING_SECRET,
    FakeSlack,
    block_action,
    serve_fake_slack,
)
from tests.agent.web.support import USERS, configure, queue_pause
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.config import Settings
from tools.ingest.deadletters import record_dead_letter
from tools.store import Store
from tools.store.models import Base

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
INGEST_TOKEN = "route-audit-ingest-token-0123456789"
MCP_TOKEN = "route-audit-mcp-token-0123456789"
WEB_SECRET = "route-audit-web-secret"


def _event() -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://prod", "name": "stranger_job"},
        "producer": "https://example.com/stranger",
    }


def _otlp() -> dict[str, Any]:
    point = {"timeUnixNano": "1767225600000000000", "asDouble": 1.0}
    metric = {"name": "stranger.metric", "gauge": {"dataPoints": [point]}}
    return {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}


def _mcp_call() -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def _form() -> dict[str, str]:
    # What a logged-in operator's form would carry, with a guessed CSRF token.
    return {"csrf": "guessed", "reason": "stranger", "username": "lead", "password": "guess"}


def _bearer_refusal(resp: httpx.Response) -> bool:
    return resp.status_code == 401 and resp.headers.get("www-authenticate", "").startswith("Bearer")


def _session_refusal(resp: httpx.Response) -> bool:
    if resp.status_code in (401, 403):
        return True
    return resp.status_code in (302, 303) and resp.headers.get("location", "").startswith(
        "/ui/login"
    )


@dataclass(frozen=True)
class Guard:
    """How the routes under ``prefix`` authenticate, and what a stranger gets."""

    prefix: str
    how: str
    refused: Callable[[httpx.Response], bool]
    request: Callable[[int], dict[str, Any]]


# The longest matching prefix wins. Add a row when you mount a new kind of route.
GUARDS = (
    Guard(
        "/api/v1/lineage", "ingestion bearer token", _bearer_refusal, lambda _: {"json": _event()}
    ),
    Guard("/v1/", "ingestion bearer token", _bearer_refusal, lambda _: {"json": _otlp()}),
    Guard("/mcp", "MCP bearer token", _bearer_refusal, lambda _: {"json": _mcp_call()}),
    Guard(
        "/ui/login",
        "login form: CSRF cookie + password",
        lambda r: r.status_code == 403,
        lambda _: {"data": _form()},
    ),
    Guard(
        "/ui/static",
        "static files: read-only",
        lambda r: r.status_code in (404, 405),
        lambda _: {"content": b"x"},
    ),
    Guard("/ui/", "operator session + CSRF", _session_refusal, lambda _: {"data": _form()}),
    Guard(
        "/slack/",
        "Slack request signature",
        lambda r: r.status_code == 401,
        # A click that would approve the queued proposal as a mapped data-lead.
        lambda pid: {
            "content": block_action(APPROVE, pid, user="U0LEAD"),
            "headers_extra": {"content-type": "application/x-www-form-urlencoded"},
        },
    ),
)


def _forged_credentials() -> dict[str, Any]:
    """Credentials of every kind the app knows, none of them valid: a bearer token that
    is not configured, a session for a real user signed with another key, a login-CSRF
    cookie that does not match the form, and a Slack signature of nothing."""
    forged_session = URLSafeTimedSerializer("not-the-secret", salt="flowsleuth-web-session").dumps(
        {"u": "lead", "csrf": "guessed"}
    )
    return {
        "headers": {
            "Authorization": "Bearer forged-token-0123456789abcdef",
            "X-Slack-Signature": "v0=" + "0" * 64,
            "X-Slack-Request-Timestamp": "1767225600",
        },
        "cookies": {SESSION_COOKIE: forged_session, LOGIN_CSRF_COOKIE: "other"},
    }


@dataclass(frozen=True)
class Target:
    path: str
    methods: tuple[str, ...]
    kind: str


def state_changing_routes(app: FastAPI) -> list[Target]:
    """Every route that may change state, read from the app (routers included)."""
    iterate: Callable[[list[BaseRoute]], Iterator[Any]] | None = getattr(
        fastapi.routing, "iter_route_contexts", None
    )
    routes: list[Any] = list(iterate(app.routes)) if iterate else list(app.routes)
    found: list[Target] = []
    for route in routes:
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None)
        kind = type(getattr(route, "original_route", route)).__name__
        if methods is None:
            # A mounted app or a plain ASGI endpoint answers whatever method it likes.
            found.append(Target(path, STATE_CHANGING, kind))
        elif changing := tuple(m for m in STATE_CHANGING if m in methods):
            found.append(Target(path, changing, kind))
    return found


def guard_for(path: str) -> Guard | None:
    matching = [g for g in GUARDS if path.startswith(g.prefix)]
    return max(matching, key=lambda g: len(g.prefix)) if matching else None


def _concrete(target: Target, proposal_id: int) -> str:
    path = re.sub(r"\{[^}]+\}", str(proposal_id), target.path)
    # A mount answers below its path, not at it.
    return f"{path}/style.css" if target.kind == "Mount" else path


def snapshot(store: Store) -> dict[str, list[str]]:
    """Every row of every table, so an update shows as much as an insert."""
    with store.read() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def audit(app: FastAPI, store: Store, proposal_id: int) -> tuple[list[str], list[Target]]:
    """Send every state-changing route a stranger's request; return what went wrong."""
    problems: list[str] = []
    targets = state_changing_routes(app)
    before = snapshot(store)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        for target in targets:
            guard = guard_for(target.path)
            if guard is None:
                problems.append(
                    f"{'/'.join(target.methods)} {target.path}: no guard says how it "
                    "authenticates; add one to GUARDS"
                )
                continue
            for method in target.methods:
                for label, creds in (("no credentials", {}), ("forged", _forged_credentials())):
                    client.cookies.clear()
                    for name, value in creds.get("cookies", {}).items():
                        client.cookies.set(name, value)
                    options = guard.request(proposal_id)
                    headers = {**options.pop("headers_extra", {}), **creds.get("headers", {})}
                    resp = client.request(
                        method,
                        _concrete(target, proposal_id),
                        headers=headers or None,
                        **options,
                    )
                    if not guard.refused(resp):
                        problems.append(
                            f"{method} {target.path} with {label} ({guard.how}) answered "
                            f"{resp.status_code}: {resp.text[:200]!r}"
                        )
    after = snapshot(store)
    changed = [t for t in before if before[t] != after[t]]
    if changed:
        problems.append(f"strangers' requests changed the store: tables {changed}")
    return problems, targets


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        configure(monkeypatch, fake)
        monkeypatch.setenv("FLOWSLEUTH_WEB_USERS", json.dumps(USERS))
        monkeypatch.setenv("FLOWSLEUTH_WEB_SECRET", WEB_SECRET)
        monkeypatch.setenv(
            "FLOWSLEUTH_MCP_TOKENS",
            json.dumps([{"token": MCP_TOKEN, "client_id": "ops", "scopes": ["write"]}]),
        )
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with serve_fake_slack() as fake:
        yield fake


def _app(store: Store, slack: FakeSlack) -> FastAPI:
    """The app as ``flowsleuth serve`` builds it, every credential configured (so a
    refusal is the auth check at work, not a surface that is switched off)."""
    settings = Settings(db=str(store.engine.url), ingest_tokens=json.dumps([INGEST_TOKEN]))
    slack_settings = load_slack_settings(
        {
            "FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-test",
            "FLOWSLEUTH_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "FLOWSLEUTH_SLACK_API_URL": slack.api_url,
            "FLOWSLEUTH_SLACK_USERS": json.dumps({"U0LEAD": "lead"}),
        }
    )
    return create_web_app(store, settings, mcp=True, enable_writes=True, slack=slack_settings)


def test_no_state_changing_route_works_without_authentication(
    store: Store, api: FakeApi, slack: FakeSlack
) -> None:
    proposal_id = queue_pause(store).id  # proposing notifies the owners: a write of its own
    writes = len(api.writes())
    problems, targets = audit(_app(store, slack), store, proposal_id)
    assert not problems, "\n".join(problems)
    # The audit saw the routes it is meant to protect (through included routers too).
    audited = {t.path for t in targets}
    assert {
        "/api/v1/lineage",
        "/v1/metrics",
        "/v1/logs",
        "/v1/traces",
        "/mcp",
        "/ui/login",
        "/ui/logout",
        "/ui/approvals/{proposal_id}/approve",
        "/ui/approvals/{proposal_id}/reject",
        "/slack/events",
    } <= audited
    assert len(api.writes()) == writes  # the campaign was not paused


def test_every_guard_protects_a_mounted_route(
    store: Store, api: FakeApi, slack: FakeSlack
) -> None:
    """A guard whose routes are gone (or were never mounted here) is a stale promise."""
    audited = {t.path for t in state_changing_routes(_app(store, slack))}
    unused = [g.prefix for g in GUARDS if not any(p.startswith(g.prefix) for p in audited)]
    assert not unused


def test_the_audit_catches_an_open_route(
    store: Store, api: FakeApi, slack: FakeSlack
) -> None:
    """The audit fails for a state-changing route that lets strangers in, whether its
    prefix is unknown or it hides under a guarded one."""
    app = _app(store, slack)
    proposal_id = queue_pause(store).id

    def open_route() -> dict[str, str]:
        record_dead_letter(store, source="test", payload=b"x", reason="an open route wrote")
        return {"ok": "yes"}

    app.add_api_route("/api/v1/admin/reset", open_route, methods=["DELETE"])
    app.add_api_route("/ui/reset", open_route, methods=["POST"])
    problems, _ = audit(app, store, proposal_id)
    assert any("DELETE /api/v1/admin/reset: no guard" in p for p in problems), problems
    assert any(p.startswith("POST /ui/reset with no credentials") for p in problems), problems
    assert any("changed the store: tables ['dead_letters']" in p for p in problems), problems
