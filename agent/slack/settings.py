"""Slack configuration (FLOWSLEUTH_SLACK_*), checked when the server starts.

HTTP mode needs the bot token and the signing secret; Socket Mode needs the bot token and
an app-level token (``xapp-...``) instead of a public URL. Channels and people map
flowsleuth's names onto Slack's ids:

* ``FLOWSLEUTH_SLACK_CHANNELS``: owner team -> channel id, e.g.
  ``{"growth-data": "C0123", "lifecycle-marketing": "C0456"}``; an incident goes to the
  first of its owners with a channel, else ``FLOWSLEUTH_SLACK_DEFAULT_CHANNEL``.
* ``FLOWSLEUTH_SLACK_USERS``: Slack user id -> flowsleuth user, e.g. ``{"U0ALICE":
  "alice"}``. A button click counts as that user's decision, so the runbook engine
  applies that user's roles; a Slack user not in the map can decide nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

SLACK_API = "https://slack.com/api/"


class SlackConfigError(ValueError):
    """The Slack settings cannot work; the message names the variable."""


class SlackSettings(BaseModel):
    """Built by :func:`load_slack_settings` from FLOWSLEUTH_SLACK_* variables."""

    model_config = ConfigDict(extra="forbid")

    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...)")
    signing_secret: SecretStr | None = Field(
        None, description="Verifies requests to /slack/events (HTTP mode)"
    )
    app_token: SecretStr | None = Field(None, description="App-level token for Socket Mode")
    api_url: str = Field(SLACK_API, description="Slack Web API base URL")
    channels: dict[str, str] = Field(default_factory=dict, description="owner -> channel id")
    default_channel: str | None = Field(None, description="Channel for incidents of no owner")
    users: dict[str, str] = Field(default_factory=dict, description="Slack user -> user")
    public_url: str | None = Field(None, description="Base URL of the web pages, for links")
    sync_interval_s: float = Field(30.0, gt=0, description="Seconds between message syncs")

    @field_validator("api_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value if value.endswith("/") else value + "/"

    @field_validator("channels", "users")
    @classmethod
    def _no_blanks(cls, value: dict[str, str]) -> dict[str, str]:
        # An empty channel id would be "configured" yet fail every post, forever.
        for key, item in value.items():
            if not key.strip() or not item.strip():
                raise ValueError(f"names and ids must not be empty, got {key!r}: {item!r}")
        return value

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def channel_for(self, owners: list[str]) -> str | None:
        for owner in owners:
            if owner in self.channels:
                return self.channels[owner]
        return self.default_channel

    def user_for(self, slack_user: str) -> str | None:
        return self.users.get(slack_user)


def load_slack_settings(env: Mapping[str, str] | None = None) -> SlackSettings:
    """The settings from the environment (or ``env``), checked for what cannot work."""
    source = os.environ if env is None else env
    prefix = "FLOWSLEUTH_SLACK_"
    values: dict[str, Any] = {}
    for key, raw in source.items():
        if not key.startswith(prefix) or not raw:
            continue
        field = key[len(prefix) :].lower()
        if field not in SlackSettings.model_fields:
            # Said plainly, with the names meant: pydantic would only say "extra inputs".
            known = ", ".join(prefix + name.upper() for name in SlackSettings.model_fields)
            raise SlackConfigError(f"{key} is not a Slack setting; the known ones: {known}")
        if field in ("channels", "users"):
            try:
                values[field] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SlackConfigError(f"{key} is not JSON: {exc}") from None
        else:
            values[field] = raw
    try:
        settings = SlackSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        name = prefix + loc[0].upper() if loc else prefix + "*"
        where = "".join(f"[{part}]" for part in loc[1:])  # e.g. the channel map's key
        raise SlackConfigError(f"{name}{where}: {first['msg']}") from None
    if not settings.enabled:
        if settings.signing_secret or settings.app_token:
            raise SlackConfigError(
                "FLOWSLEUTH_SLACK_BOT_TOKEN is not set: the Slack app cannot post without it"
            )
        return settings
    if not settings.signing_secret and not settings.app_token:
        raise SlackConfigError(
            "set FLOWSLEUTH_SLACK_SIGNING_SECRET (HTTP mode, /slack/events) or "
            "FLOWSLEUTH_SLACK_APP_TOKEN (Socket Mode): requests cannot be verified otherwise"
        )
    if settings.app_token and not settings.app_token.get_secret_value().startswith("xapp-"):
        raise SlackConfigError("FLOWSLEUTH_SLACK_APP_TOKEN must be an app-level token (xapp-...)")
    return settings
