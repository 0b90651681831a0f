"""FLOWSLEUTH_SLACK_* settings: off without a bot token, and every configuration that
cannot work refused at start-up with the variable named."""

from __future__ import annotations

import json
import os

import pytest

from agent.slack.settings import SLACK_API, SlackConfigError, load_slack_settings

HTTP = {"FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-1", "FLOWSLEUTH_SLACK_SIGNING_SECRET": "s3cret"}


def test_no_bot_token_means_slack_is_off() -> None:
    settings = load_slack_settings({"PATH": "/bin", "FLOWSLEUTH_DB": "x.db"})
    assert not settings.enabled and not settings.socket_mode
    # An empty value counts as unset (a blank line in an env file).
    assert not load_slack_settings({"FLOWSLEUTH_SLACK_BOT_TOKEN": ""}).enabled


def test_http_and_socket_mode_settings() -> None:
    http = load_slack_settings(
        HTTP
        | {
            "FLOWSLEUTH_SLACK_CHANNELS": json.dumps({"growth-data": "C0123"}),
            "FLOWSLEUTH_SLACK_USERS": json.dumps({"U0ALICE": "alice"}),
            "FLOWSLEUTH_SLACK_API_URL": "http://127.0.0.1:9/api",
            "FLOWSLEUTH_SLACK_SYNC_INTERVAL_S": "5",
        }
    )
    assert http.enabled and not http.socket_mode
    assert http.api_url == "http://127.0.0.1:9/api/"
    assert http.sync_interval_s == 5.0
    assert http.user_for("U0ALICE") == "alice" and http.user_for("U0BOB") is None
    assert http.bot_token is not None and "xoxb-1" not in repr(http)
    socket = load_slack_settings(
        {"FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-1", "FLOWSLEUTH_SLACK_APP_TOKEN": "xapp-1-A"}
    )
    assert socket.socket_mode and socket.signing_secret is None
    assert socket.api_url == SLACK_API


def test_the_channel_is_the_first_owners_with_one_else_the_default() -> None:
    settings = load_slack_settings(
        HTTP
        | {
            "FLOWSLEUTH_SLACK_CHANNELS": json.dumps({"paid-media": "C0PAID", "growth": "C0GROW"}),
            "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL": "C0ALL",
        }
    )
    assert settings.channel_for(["lifecycle", "growth", "paid-media"]) == "C0GROW"
    assert settings.channel_for(["paid-media", "growth"]) == "C0PAID"
    assert settings.channel_for(["lifecycle"]) == "C0ALL"
    assert settings.channel_for([]) == "C0ALL"
    bare = load_slack_settings(HTTP)
    assert bare.channel_for(["lifecycle"]) is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FLOWSLEUTH_SLACK_SIGNING_SECRET": "s"}, "FLOWSLEUTH_SLACK_BOT_TOKEN"),
        ({"FLOWSLEUTH_SLACK_APP_TOKEN": "xapp-1"}, "FLOWSLEUTH_SLACK_BOT_TOKEN"),
        ({"FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-1"}, "FLOWSLEUTH_SLACK_SIGNING_SECRET"),
        (
            {"FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-1", "FLOWSLEUTH_SLACK_APP_TOKEN": "xoxb-2"},
            "FLOWSLEUTH_SLACK_APP_TOKEN must be an app-level token (xapp-...)",
        ),
        (
            HTTP | {"FLOWSLEUTH_SLACK_USERS": "{U0ALICE: alice}"},
            "FLOWSLEUTH_SLACK_USERS is not JSON",
        ),
        (
            HTTP | {"FLOWSLEUTH_SLACK_CHANNELS": "{'a': 'C1'}"},
            "FLOWSLEUTH_SLACK_CHANNELS is not JSON",
        ),
        (HTTP | {"FLOWSLEUTH_SLACK_CHANNELS": '["C1"]'}, "FLOWSLEUTH_SLACK_CHANNELS: Input should"),
        (
            HTTP | {"FLOWSLEUTH_SLACK_CHANNELS": '{"growth": 123}'},
            "FLOWSLEUTH_SLACK_CHANNELS[growth]: Input should be a valid string",
        ),
        (HTTP | {"FLOWSLEUTH_SLACK_CHANNELS": '{"growth": " "}'}, "FLOWSLEUTH_SLACK_CHANNELS"),
        (HTTP | {"FLOWSLEUTH_SLACK_USERS": '{"": "alice"}'}, "FLOWSLEUTH_SLACK_USERS"),
        (
            HTTP | {"FLOWSLEUTH_SLACK_CHANELS": "{}"},
            "FLOWSLEUTH_SLACK_CHANELS is not a Slack setting",
        ),
        (
            HTTP | {"FLOWSLEUTH_SLACK_TOKEN": "xoxb-2"},
            "FLOWSLEUTH_SLACK_TOKEN is not a Slack setting",
        ),
        (HTTP | {"FLOWSLEUTH_SLACK_API_URL": "ftp://slack.com/api"}, "FLOWSLEUTH_SLACK_API_URL"),
        (HTTP | {"FLOWSLEUTH_SLACK_API_URL": "slack.com/api"}, "must be an http(s) URL"),
        (HTTP | {"FLOWSLEUTH_SLACK_SYNC_INTERVAL_S": "0"}, "FLOWSLEUTH_SLACK_SYNC_INTERVAL_S"),
        (HTTP | {"FLOWSLEUTH_SLACK_SYNC_INTERVAL_S": "often"}, "FLOWSLEUTH_SLACK_SYNC_INTERVAL_S"),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SlackConfigError) as caught:
        load_slack_settings(env)
    assert named in str(caught.value)
    for secret in ("xoxb-1", "xoxb-2", "s3cret"):
        assert secret not in str(caught.value), "an error message must not leak a token"


def test_a_misspelled_variable_lists_the_known_ones() -> None:
    with pytest.raises(SlackConfigError) as caught:
        load_slack_settings(HTTP | {"FLOWSLEUTH_SLACK_DEFAULT_CHANEL": "C1"})
    assert "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL" in str(caught.value).split("known ones:")[1]


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FLOWSLEUTH_SLACK_")]:
        monkeypatch.delenv(name)
    for name, value in HTTP.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLOWSLEUTH_SLACK_DEFAULT_CHANNEL", "C0ENV")
    assert load_slack_settings().default_channel == "C0ENV"
