"""Operator identities: password hashes, user config errors, signed sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.web.auth import (
    Sessions,
    WebConfigError,
    check_password,
    csrf_ok,
    directory_of,
    hash_password,
    load_users,
)


def test_hash_round_trip_and_salting() -> None:
    a, b = hash_password("s3cret", iterations=1000), hash_password("s3cret", iterations=1000)
    assert a != b  # salted
    assert check_password("s3cret", a) and not check_password("S3cret", a)
    assert not check_password("s3cret", "plain-text") and not check_password("x", "md5$1$aa$bb")
    with pytest.raises(ValueError, match="may not be empty"):
        hash_password("")


def test_users_from_file_and_env(tmp_path: Path) -> None:
    h = hash_password("pw", iterations=1000)
    path = tmp_path / "users.yaml"
    path.write_text(f"users:\n  ann: {{password: '{h}', roles: [data-lead], teams: [crm]}}\n")
    env = {
        "FLOWSLEUTH_WEB_USERS_FILE": str(path),
        "FLOWSLEUTH_WEB_USERS": json.dumps({"users": {"bo": {"password": h}}}),
    }
    users = load_users(env)
    assert sorted(users) == ["ann", "bo"]
    people = directory_of(users)
    assert people.roles_of("ann") == ["data-lead"] and people.teams_of("ann") == ["crm"]
    assert people.roles_of("bo") == []
    assert load_users({}) == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLOWSLEUTH_WEB_USERS": "{"}, "FLOWSLEUTH_WEB_USERS is not JSON"),
        (
            {"FLOWSLEUTH_WEB_USERS": '{"users": {"x": {"roles": []}}}'},
            "FLOWSLEUTH_WEB_USERS: users.x.password: Field required",
        ),
        ({"FLOWSLEUTH_WEB_USERS_FILE": "/nonexistent/users.yaml"}, "No such file"),
    ],
)
def test_bad_user_config_names_the_problem(env: dict[str, str], message: str) -> None:
    with pytest.raises(WebConfigError, match=message):
        load_users(env)


def test_sessions_are_signed_and_carry_a_csrf_token() -> None:
    sessions = Sessions("k1")
    cookie = sessions.issue("ann")
    data = sessions.read(cookie)
    assert data is not None and data["user"] == "ann"
    assert csrf_ok(data, data["csrf"]) and not csrf_ok(data, "guess") and not csrf_ok(data, None)
    assert Sessions("other-key").read(cookie) is None
    assert sessions.read(cookie[:-2] + "xx") is None and sessions.read(None) is None
