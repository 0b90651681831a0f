"""``flowsleuth slack sync|check`` against a fake Slack Web API, and ``serve`` refusing a
Slack configuration that cannot work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli import app
from tests.agent.slack.fake_slack import FakeSlack, serve_fake_slack
from tests.helpers.simstore import AT, load_into
from tools.store import open_store

runner = CliRunner()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("FLOWSLEUTH_SLACK_SIGNING_SECRET", "FLOWSLEUTH_SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with serve_fake_slack() as slack:
        monkeypatch.setenv("FLOWSLEUTH_SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("FLOWSLEUTH_SLACK_SIGNING_SECRET", "s")
        monkeypatch.setenv("FLOWSLEUTH_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("FLOWSLEUTH_SLACK_DEFAULT_CHANNEL", "C1")
        yield slack


def test_sync_posts_then_leaves_unchanged_messages_alone(fake: FakeSlack, tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    store = open_store(f"sqlite:///{db}")
    try:
        ids = load_into(store, tmp_path / "sim", "expired_vendor_token")
    finally:
        store.dispose()
    first = runner.invoke(app, ["--db", str(db), "--at", AT, "slack", "sync", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["posted"] == ids
    assert [a["channel"] for a in fake.of("chat.postMessage")] == ["C1"] * len(ids)
    again = runner.invoke(app, ["--db", str(db), "--at", AT, "slack", "sync", "--json"])
    assert json.loads(again.stdout)["unchanged"] == ids
    assert len(fake.of("chat.postMessage")) == len(ids) and not fake.of("chat.update")


def test_sync_exits_1_when_slack_refuses(fake: FakeSlack, tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    store = open_store(f"sqlite:///{db}")
    try:
        load_into(store, tmp_path / "sim", "expired_vendor_token")
    finally:
        store.dispose()
    fake.failing["chat.postMessage"] = "channel_not_found"
    run = runner.invoke(app, ["--db", str(db), "--at", AT, "slack", "sync"])
    assert run.exit_code == 1
    assert "channel_not_found" in run.output


def test_check_reports_the_bot_and_mode(fake: FakeSlack) -> None:
    run = runner.invoke(app, ["slack", "check"])
    assert run.exit_code == 0, run.output
    assert "UBOT" in run.output and "HTTP (/slack/events)" in run.output
    fake.failing["auth.test"] = "invalid_auth"
    refused = runner.invoke(app, ["slack", "check"])
    assert refused.exit_code == 2 and "invalid_auth" in refused.output


def test_unconfigured_slack_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWSLEUTH_SLACK_BOT_TOKEN", raising=False)
    run = runner.invoke(app, ["slack", "check"])
    assert run.exit_code == 2 and "FLOWSLEUTH_SLACK_BOT_TOKEN" in run.output


def test_serve_refuses_a_slack_config_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **_: served.append(app))
    monkeypatch.setenv("FLOWSLEUTH_SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.delenv("FLOWSLEUTH_SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("FLOWSLEUTH_SLACK_APP_TOKEN", raising=False)
    run = runner.invoke(app, ["--db", str(tmp_path / "f.db"), "serve"])
    assert run.exit_code == 2
    assert "FLOWSLEUTH_SLACK_SIGNING_SECRET" in run.output and "Traceback" not in run.output
    assert served == []


def test_serve_mounts_the_slack_events_route(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **_: served.append(app))
    run = runner.invoke(app, ["--db", str(tmp_path / "f.db"), "serve"])
    assert run.exit_code == 0, run.output
    assert "Slack app via /slack/events" in run.output
    [served_app] = served
    assert "/slack/events" in {getattr(r, "path", "") for r in served_app.routes}
