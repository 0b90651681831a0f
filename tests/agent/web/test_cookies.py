"""The operator pages' cookies: HttpOnly and SameSite always, Secure over HTTPS or when
FLOWSLEUTH_WEB_COOKIE_SECURE says so."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from agent.web import create_web_app
from agent.web.auth import SESSION_COOKIE, Sessions, WebConfigError, cookie_secure_setting
from agent.web.pages import LOGIN_CSRF_COOKIE
from tests.agent.web.support import PASSWORD, USERS
from tools.store import Store


def _attributes(set_cookie: list[str], name: str) -> set[str]:
    """The attributes of cookie ``name``: lower-case names, plus samesite=<value>."""
    [header] = [h for h in set_cookie if h.startswith(f"{name}=")]
    found: set[str] = set()
    for part in header.split(";")[1:]:
        key, _, value = part.strip().lower().partition("=")
        found.add(f"{key}={value}" if key == "samesite" else key)
    return found


def _log_in(store: Store, base_url: str) -> tuple[set[str], set[str]]:
    """Log in as lead; the attributes of the login-CSRF and of the session cookie."""
    with TestClient(create_web_app(store), base_url=base_url, follow_redirects=False) as c:
        page = c.get("/ui/login")
        csrf_attrs = _attributes(page.headers.get_list("set-cookie"), LOGIN_CSRF_COOKIE)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        # Set by hand: the client keeps a Secure cookie from a plain-HTTP page to itself.
        c.cookies.set(LOGIN_CSRF_COOKIE, token.group(1))
        resp = c.post(
            "/ui/login", data={"csrf": token.group(1), "username": "lead", "password": PASSWORD}
        )
        assert resp.status_code == 303, resp.text
        return csrf_attrs, _attributes(resp.headers.get_list("set-cookie"), SESSION_COOKIE)


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLEUTH_WEB_USERS", json.dumps(USERS))
    monkeypatch.setenv("FLOWSLEUTH_WEB_SECRET", "cookie-test-secret")
    monkeypatch.delenv("FLOWSLEUTH_WEB_COOKIE_SECURE", raising=False)


def test_plain_http_cookies_are_httponly_and_samesite_but_not_secure(
    sqlite_store: Store,
) -> None:
    login_csrf, session = _log_in(sqlite_store, "http://testserver")
    assert {"httponly", "samesite=lax"} <= session and "secure" not in session
    assert {"httponly", "samesite=strict"} <= login_csrf and "secure" not in login_csrf


def test_https_requests_get_secure_cookies(sqlite_store: Store) -> None:
    login_csrf, session = _log_in(sqlite_store, "https://testserver")
    assert {"httponly", "samesite=lax", "secure"} <= session
    assert {"httponly", "samesite=strict", "secure"} <= login_csrf


def test_the_setting_forces_secure_behind_a_tls_proxy(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWSLEUTH_WEB_COOKIE_SECURE", "true")
    login_csrf, session = _log_in(sqlite_store, "http://testserver")
    assert {"httponly", "samesite=lax", "secure"} <= session
    assert "secure" in login_csrf


@pytest.mark.parametrize(
    ("value", "secure"), [("", False), ("0", False), ("off", False), ("TRUE", True), ("1", True)]
)
def test_the_setting_reads_booleans(value: str, secure: bool) -> None:
    assert cookie_secure_setting(value) is secure
    assert cookie_secure_setting(None) is False


def test_a_bad_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLEUTH_WEB_COOKIE_SECURE", "https-only")
    with pytest.raises(WebConfigError, match="FLOWSLEUTH_WEB_COOKIE_SECURE must be true or false"):
        Sessions("k")
