"""Shared builders for the web tests: operators, a queued high-tier proposal, a client."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.web import create_web_app
from agent.web.auth import hash_password
from tests.tools.runbooks.fake_api import FakeApi
from tests.tools.runbooks.support import CAMPAIGN, SOURCE, make_context
from tools.runbooks import Proposal, default_executors, load_playbooks, propose
from tools.runbooks.loader import DEFAULT_DIR
from tools.store import Store

PASSWORD = "correct horse"
# A low iteration count keeps logins fast in tests; production hashes use the default.
HASH = hash_password(PASSWORD, iterations=1_000)
USERS = {
    "users": {
        "lead": {"password": HASH, "roles": ["data-lead"]},
        "eng": {"password": HASH, "roles": ["data-engineer"]},
    }
}


def configure(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> None:
    for target in ("NOTIFIER", "CAMPAIGNS", "ORCHESTRATOR", "REVERSE_ETL"):
        monkeypatch.setenv(f"FLOWSLEUTH_SECRET_{target}_URL", api.url)
    monkeypatch.setenv("FLOWSLEUTH_WEB_USERS", json.dumps(USERS))
    monkeypatch.setenv("FLOWSLEUTH_WEB_SECRET", "test-secret")
    api.campaigns["spring_sale"] = "active"


def queue_pause(store: Store, now_us: int | None = None) -> Proposal:
    """Propose for a consent mismatch: the campaign pause waits for a data-lead."""
    ctx = make_context(
        root_cause=SOURCE,
        root_cause_kind="consent_mismatch",
        at_risk=[{"node": CAMPAIGN, "kind": "campaign", "owner": "crm"}],
        campaigns_affected=1,
        revenue_at_risk_per_day=1200.0,
        owners=["crm"],
    )
    registry = default_executors()
    try:
        queued = propose(
            store,
            ctx,
            playbooks=load_playbooks(DEFAULT_DIR).playbooks,
            executors=registry,
            requested_by="agent",
            now_us=now_us,
        )
    finally:
        registry.close()
    return next(p for p in queued if p.action_type == "pause_campaign")


def client(store: Store, **kwargs: Any) -> TestClient:
    return TestClient(create_web_app(store, **kwargs), follow_redirects=False)


def login(c: TestClient, user: str, password: str = PASSWORD) -> str:
    """Log in; return the session's CSRF token (read from a page's hidden field)."""
    page = c.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    resp = c.post(
        "/ui/login",
        data={"csrf": token.group(1), "username": user, "password": password, "next": ""},
    )
    assert resp.status_code == 303, resp.text
    return csrf_of(c.get("/ui/approvals").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)
