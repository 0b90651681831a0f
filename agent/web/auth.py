"""Operators: who may log in, signed-cookie sessions and CSRF tokens for the web pages.

Users come from ``FLOWSLEUTH_WEB_USERS_FILE`` (YAML or JSON) and/or ``FLOWSLEUTH_WEB_USERS``
(JSON), both shaped ``{"users": {"alice": {"password": "<hash>", "roles": [...],
"teams": [...]}}}``. Roles and teams are the runbook approver roles: the web app builds
its :class:`ApproverDirectory` from them, so the approval rules stay in tools.runbooks.

Hashes are ``pbkdf2_sha256$<iterations>$<salt hex>$<digest hex>``; make one with
``python -m agent.web.auth`` (it prompts for the password).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, Field, ValidationError

from tools.runbooks.roles import ApproverDirectory, UserEntry

ITERATIONS = 200_000
SESSION_COOKIE = "flowsleuth_session"
SESSION_MAX_AGE_S = 12 * 3600


class WebConfigError(ValueError):
    """The web users or secret are missing or malformed; the message names the problem."""


class WebUser(BaseModel):
    password: str = Field(description="pbkdf2_sha256$iterations$salt$digest")
    roles: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class WebUsersFile(BaseModel):
    users: dict[str, WebUser] = Field(default_factory=dict)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    if not password:
        raise ValueError("a password may not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def _parse(raw: Any, where: str) -> dict[str, WebUser]:
    try:
        return WebUsersFile.model_validate(raw or {}).users
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise WebConfigError(f"{where}: {loc}: {first['msg']}") from None


def load_users(env: dict[str, str] | None = None) -> dict[str, WebUser]:
    """Users from the file and the env variable (the variable wins for a name in both)."""
    env = dict(os.environ) if env is None else env
    users: dict[str, WebUser] = {}
    path = env.get("FLOWSLEUTH_WEB_USERS_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
            raw = yaml.safe_load(text)
        except OSError as exc:
            raise WebConfigError(f"FLOWSLEUTH_WEB_USERS_FILE {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise WebConfigError(f"FLOWSLEUTH_WEB_USERS_FILE {path}: {exc}") from None
        users.update(_parse(raw, f"FLOWSLEUTH_WEB_USERS_FILE {path}"))
    inline = env.get("FLOWSLEUTH_WEB_USERS")
    if inline:
        try:
            raw = json.loads(inline)
        except json.JSONDecodeError as exc:
            raise WebConfigError(f"FLOWSLEUTH_WEB_USERS is not JSON: {exc}") from None
        users.update(_parse(raw, "FLOWSLEUTH_WEB_USERS"))
    return users


def directory_of(users: dict[str, WebUser]) -> ApproverDirectory:
    return ApproverDirectory(
        {name: UserEntry(roles=u.roles, teams=u.teams) for name, u in users.items()}
    )


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def cookie_secure_setting(value: str | None) -> bool:
    """FLOWSLEUTH_WEB_COOKIE_SECURE as a boolean; anything else is a WebConfigError."""
    word = (value or "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise WebConfigError(f"FLOWSLEUTH_WEB_COOKIE_SECURE must be true or false, got {value!r}")


class Sessions:
    """Signed (not encrypted) session cookies: a username and its CSRF token.

    Without FLOWSLEUTH_WEB_SECRET a random per-process secret is used, so sessions end
    when the server restarts; that is safe, merely inconvenient.

    Cookies are marked ``Secure`` when the request came over HTTPS, or always with
    FLOWSLEUTH_WEB_COOKIE_SECURE=true: behind a TLS-terminating proxy that does not send
    X-Forwarded-Proto the server only ever sees plain HTTP.
    """

    def __init__(self, secret: str | None = None, *, cookie_secure: bool | None = None) -> None:
        key = secret or os.environ.get("FLOWSLEUTH_WEB_SECRET") or secrets.token_hex(32)
        self._signer = URLSafeTimedSerializer(key, salt="flowsleuth-web-session")
        self.cookie_secure = (
            cookie_secure_setting(os.environ.get("FLOWSLEUTH_WEB_COOKIE_SECURE"))
            if cookie_secure is None
            else cookie_secure
        )

    def secure_for(self, scheme: str) -> bool:
        """Whether a cookie set in answer to a request over ``scheme`` gets ``Secure``."""
        return self.cookie_secure or scheme == "https"

    def issue(self, username: str) -> str:
        return self._signer.dumps({"u": username, "csrf": secrets.token_urlsafe(24)})

    def read(self, cookie: str | None) -> dict[str, str] | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        return {"user": data["u"], "csrf": str(data.get("csrf", ""))}


def same_token(expected: str, submitted: str | None) -> bool:
    """Constant-time equality of two tokens; False when ``expected`` is empty."""
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500 on a form).
    return bool(expected) and hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"),
        (submitted or "").encode("utf-8", "surrogatepass"),
    )


def csrf_ok(session: dict[str, str], submitted: str | None) -> bool:
    return same_token(session.get("csrf", ""), submitted)


if __name__ == "__main__":  # pragma: no cover - the documented hashing command
    # Prompted rather than taken from argv, which other users can read in the process list.
    import getpass

    if len(sys.argv) != 1:
        sys.exit("usage: python -m agent.web.auth   (prompts for the password)")
    print(hash_password(getpass.getpass("password: ")))
