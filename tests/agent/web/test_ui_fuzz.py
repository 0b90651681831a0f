"""The operator pages under /ui are not in the OpenAPI schema, so schemathesis does not
reach them: this is the same property for their forms and pages. Random form fields,
bodies, ids, query strings and cookies (none, forged, or a real session with its CSRF
token) never get a 5xx, and strangers change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from agent.web import create_web_app
from agent.web.auth import SESSION_COOKIE, Sessions
from agent.web.pages import LOGIN_CSRF_COOKIE
from tests.agent.web.support import PASSWORD, USERS, configure, queue_pause
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.config import Settings
from tools.runbooks import get_proposal
from tools.store import Store
from tools.store.models_runbooks import ProposalRow

SECRET = "ui-fuzz-secret"
FIELDS = ("csrf", "reason", "username", "password", "next")
TEXT = st.text(max_size=40) | st.sampled_from(["\x00", "a\x00b", "%00", "", "x" * 5000])
# Cookie names are tokens on the wire; a client cannot send others (values are quoted).
COOKIE_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12)
IDS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from(["0", "-1", "1.5", "abc", "%00", "9" * 40]),
)
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        configure(monkeypatch, fake)
        monkeypatch.setenv("FLOWSLEUTH_WEB_USERS", json.dumps(USERS))
        monkeypatch.setenv("FLOWSLEUTH_WEB_SECRET", SECRET)
        yield fake


def _client(store: Store) -> TestClient:
    # raise_server_exceptions (the default): an unhandled error fails the example outright.
    app = create_web_app(store, Settings(db=str(store.engine.url)))
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


@st.composite
def identities(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    """Cookies to send and the CSRF token a form may carry."""
    # Weighted towards a real session, whose requests get furthest into the handlers.
    kind = draw(st.sampled_from(["none", "forged", "session-other-key", "session", "session"]))
    cookies: dict[str, str] = {}
    csrf = draw(TEXT)
    if kind == "forged":
        cookies[SESSION_COOKIE] = draw(st.text(alphabet="abcdefXYZ0123456789.-_", max_size=80))
    elif kind.startswith("session"):
        sessions = Sessions(SECRET if kind == "session" else "another-key")
        user = draw(st.sampled_from(["lead", "eng", "nobody"]))
        cookies[SESSION_COOKIE] = sessions.issue(user)
        session = Sessions(SECRET).read(cookies[SESSION_COOKIE])
        if session is not None and draw(st.integers(0, 3)) > 0:
            csrf = session["csrf"]  # the real token: the request gets past the guard
    if draw(st.booleans()):
        cookies[LOGIN_CSRF_COOKIE] = csrf if draw(st.booleans()) else draw(TEXT)
    return cookies, csrf


@st.composite
def form_bodies(draw: st.DrawFn, csrf: str) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return bytes(draw(st.binary(max_size=200)))  # not a form at all
    fields = draw(st.dictionaries(st.sampled_from(FIELDS) | TEXT, TEXT, max_size=6))
    if draw(st.integers(0, 3)) > 0:
        fields["csrf"] = csrf
    if draw(st.booleans()):
        fields.update(username=draw(st.sampled_from(["lead", "eng"])), password=PASSWORD)
    return urlencode(fields).encode()


def _send(client: TestClient, cookies: dict[str, str], method: str, url: str, **kw: Any) -> int:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, quote(value, safe=""))
    status = client.request(method, url, **kw).status_code
    assert status < 500, (method, url, kw, cookies, status)
    return status


def test_form_posts_never_answer_5xx(store: Store, api: FakeApi) -> None:
    proposal = queue_pause(store)
    with _client(store) as client:

        @FUZZ
        @given(data=st.data())
        def post(data: st.DataObject) -> None:
            cookies, csrf = data.draw(identities())
            action = data.draw(st.sampled_from(["login", "logout", "approve", "reject"]))
            if action in ("login", "logout"):
                url = f"/ui/{action}"
            else:
                pid = data.draw(st.just(str(proposal.id)) | IDS.map(str))
                url = f"/ui/approvals/{quote(pid, safe='')}/{action}"
            body = data.draw(form_bodies(csrf))
            content_type = data.draw(
                st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""])
            )
            headers = {"content-type": content_type} if content_type else {}
            _send(client, cookies, "POST", url, content=body, headers=headers)

        post()
    # Only a real session with its CSRF token and the data-lead role could decide it.
    assert get_proposal(store, proposal.id).status in (
        "proposed",
        "approved",
        "applied",
        "rejected",
    )


def test_pages_never_answer_5xx(store: Store, api: FakeApi) -> None:
    queue_pause(store)
    with _client(store) as client:

        @FUZZ
        @given(data=st.data())
        def get(data: st.DataObject) -> None:
            cookies, _ = data.draw(identities())
            page = data.draw(
                st.sampled_from(["login", "approvals", "incidents", "incident", "kpis", "home"])
            )
            path = {
                "incident": f"/ui/incidents/{quote(str(data.draw(IDS)), safe='')}",
                "home": "/ui/",
            }.get(page, f"/ui/{page}")
            params = data.draw(
                st.dictionaries(
                    st.sampled_from(["next", "status", "msg", "err"]) | TEXT, TEXT, max_size=3
                )
            )
            _send(client, cookies, "GET", path, params=params)

        get()


def test_a_stranger_cannot_decide(store: Store, api: FakeApi) -> None:
    """The same fuzz without a valid session: the proposal stays where it was."""
    proposal = queue_pause(store)
    with _client(store) as client:

        @FUZZ
        @given(
            cookies=st.dictionaries(
                st.sampled_from([SESSION_COOKIE, LOGIN_CSRF_COOKIE]) | COOKIE_NAME, TEXT, max_size=3
            ),
            body=form_bodies("guessed"),
            action=st.sampled_from(["approve", "reject"]),
        )
        def post(cookies: dict[str, str], body: bytes, action: str) -> None:
            status = _send(
                client,
                cookies,
                "POST",
                f"/ui/approvals/{proposal.id}/{action}",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert status in (401, 403)

        post()
    assert get_proposal(store, proposal.id).status == "proposed"


def test_an_operators_decisions_never_answer_5xx(store: Store, api: FakeApi) -> None:
    """A logged-in data lead with the right CSRF token: random proposal ids and reasons.
    The proposal is put back in the queue before every example, so each one is decided
    for real (a decided proposal refuses before it stores anything)."""
    proposal = queue_pause(store).id
    sessions = Sessions(SECRET)
    cookie = sessions.issue("lead")
    session = sessions.read(cookie)
    assert session is not None
    decided: list[int] = []
    with _client(store) as client:

        @FUZZ
        @given(
            pid=st.just(str(proposal)) | IDS.map(str),
            action=st.sampled_from(["approve", "reject"]),
            reason=TEXT,
        )
        def decide(pid: str, action: str, reason: str) -> None:
            with store.write() as conn:
                conn.execute(
                    update(ProposalRow)
                    .where(ProposalRow.id == proposal)
                    .values(status="proposed", decided_by=None, decided_at=None, reason=None)
                )
            status = _send(
                client,
                {SESSION_COOKIE: cookie},
                "POST",
                f"/ui/approvals/{quote(pid, safe='')}/{action}",
                data={"csrf": session["csrf"], "reason": reason},
            )
            if pid == str(proposal) and status == 303:
                decided.append(status)

        decide()
    assert decided  # the fuzz got past the guard and decided the proposal
