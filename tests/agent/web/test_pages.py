"""The operator pages: login, CSRF, role refusal, approve exactly once, incident pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.web.support import client, configure, login, queue_pause
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.runbooks import get_proposal
from tools.store import Store

STATE_CHANGING = [
    "/ui/logout",
    "/ui/approvals/1/approve",
    "/ui/approvals/1/reject",
]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        configure(monkeypatch, fake)
        yield fake


def test_pages_need_a_session(store: Store, api: FakeApi) -> None:
    pid = queue_pause(store).id
    c = client(store)
    for path in ("/ui/approvals", "/ui/incidents", "/ui/kpis", "/ui/incidents/1"):
        resp = c.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/ui/login")
    for path in STATE_CHANGING:
        assert c.post(path.replace("/1/", f"/{pid}/"), data={"csrf": "x"}).status_code == 401
    assert get_proposal(store, pid).status == "proposed"


def test_login_rejects_wrong_password_and_missing_csrf(store: Store, api: FakeApi) -> None:
    c = client(store)
    assert c.post("/ui/login", data={"username": "lead", "password": "x"}).status_code == 403
    token = c.get("/ui/login").cookies.get("flowsleuth_login_csrf")
    bad = c.post("/ui/login", data={"csrf": token, "username": "lead", "password": "nope"})
    assert bad.status_code == 401 and "wrong name or password" in bad.text
    assert c.get("/ui/approvals").status_code == 303


def test_wrong_csrf_is_forbidden(store: Store, api: FakeApi) -> None:
    pid = queue_pause(store).id
    c = client(store)
    login(c, "lead")
    for token in ("", "forged"):
        resp = c.post(f"/ui/approvals/{pid}/approve", data={"csrf": token, "reason": "x"})
        assert resp.status_code == 403
    assert get_proposal(store, pid).status == "proposed"


def test_queue_shows_evidence_and_refuses_a_role_not_allowed(store: Store, api: FakeApi) -> None:
    p = queue_pause(store)
    c = client(store)
    csrf = login(c, "eng")
    page = c.get("/ui/approvals").text
    assert f"#{p.id}" in page and "Rollback:" in page and "Dry run:" in page
    assert "1 campaigns" in page and "1,200/day" in page
    refused = c.post(f"/ui/approvals/{p.id}/approve", data={"csrf": csrf, "reason": "go"})
    assert refused.status_code == 403
    assert "needs one of [data-lead]" in refused.text
    assert get_proposal(store, p.id).status == "proposed"
    assert api.campaigns["spring_sale"] == "active"


def test_approve_applies_exactly_once(store: Store, api: FakeApi) -> None:
    p = queue_pause(store)
    c = client(store)
    csrf = login(c, "lead")
    first = c.post(f"/ui/approvals/{p.id}/approve", data={"csrf": csrf, "reason": "consent"})
    assert first.status_code == 303 and "msg=" in first.headers["location"]
    writes = len(api.writes())
    second = c.post(f"/ui/approvals/{p.id}/approve", data={"csrf": csrf, "reason": "again"})
    assert second.status_code == 303 and "err=" in second.headers["location"]
    assert len(api.writes()) == writes  # the double submit acted on nothing
    done = get_proposal(store, p.id)
    assert done.status == "applied" and done.decided_by == "lead" and done.reason == "consent"
    assert api.campaigns["spring_sale"] == "paused"
    page = c.get("/ui/approvals").text
    assert "Decided by <b>lead</b>" in page and "status-applied" in page


def test_reject_records_who_and_why(store: Store, api: FakeApi) -> None:
    p = queue_pause(store)
    c = client(store)
    csrf = login(c, "lead")
    resp = c.post(f"/ui/approvals/{p.id}/reject", data={"csrf": csrf, "reason": "false alarm"})
    assert resp.status_code == 303
    done = get_proposal(store, p.id)
    assert (done.status, done.decided_by, done.reason) == ("rejected", "lead", "false alarm")
    assert api.campaigns["spring_sale"] == "active"


def test_logout_ends_the_session(store: Store, api: FakeApi) -> None:
    c = client(store)
    csrf = login(c, "lead")
    assert c.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/ui/approvals").status_code == 303
