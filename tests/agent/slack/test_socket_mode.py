"""Socket Mode: ``flowsleuth serve`` connects out to Slack over a WebSocket, receives a
button click as an envelope, acknowledges it and decides through the runbook engine.

The WebSocket endpoint and ``apps.connections.open`` are fakes on loopback; the client
side is slack-bolt's own Socket Mode handler, unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from agent.slack.blocks import APPROVE
from agent.slack.settings import load_slack_settings
from agent.web import create_web_app
from tests.agent.slack.conftest import CHANNEL, SLACK_USERS, paused, remediation_env
from tests.agent.slack.fake_slack import (
    FakeSlack,
    FakeSocket,
    block_action,
    serve_fake_slack,
    serve_fake_socket,
)
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.simstore import AT_US, Template
from tests.tools.runbooks.fake_api import serve_fake_api
from tools.runbooks import get_proposal
from tools.store import open_store


@pytest.fixture
def socket_world(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FakeSlack, FakeSocket, str, list[int]]]:
    db, _, awaiting = paused(template, tmp_path)
    store = open_store(f"sqlite:///{db}")
    with serve_fake_api() as api, serve_fake_slack() as slack, serve_fake_socket() as socket:
        remediation_env(monkeypatch, api)
        slack.socket_url = socket.url
        settings = load_slack_settings(
            {
                "FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-test",
                "FLOWSLEUTH_SLACK_APP_TOKEN": "xapp-test",
                "FLOWSLEUTH_SLACK_API_URL": slack.api_url,
                "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL": CHANNEL,
                "FLOWSLEUTH_SLACK_USERS": json.dumps(SLACK_USERS),
                "FLOWSLEUTH_SLACK_SYNC_INTERVAL_S": "3600",
            }
        )
        app = create_web_app(store, slack=settings, clock=lambda: AT_US)
        try:
            with serve_asgi(app) as url:
                yield url, slack, socket, db, awaiting
        finally:
            store.dispose()


def test_a_click_over_socket_mode_is_acknowledged_and_decided(
    socket_world: tuple[str, FakeSlack, FakeSocket, str, list[int]],
) -> None:
    url, slack, socket, db, awaiting = socket_world
    assert socket.connected.wait(15), "serve did not open the Socket Mode connection"
    assert slack.of("apps.connections.open"), "the WebSocket URL is asked of the Web API"
    store = open_store(f"sqlite:///{db}")
    try:
        pid = next(p for p in awaiting if get_proposal(store, p).tier == "high")
        form = parse_qs(block_action(APPROVE, pid, user="U0LEAD", channel=CHANNEL))
        payload = json.loads(form["payload"][0])
        socket.send(
            {
                "envelope_id": "env-1",
                "type": "interactive",
                "accepts_response_payload": False,
                "payload": payload,
            }
        )
        deadline = time.monotonic() + 20
        while "env-1" not in socket.acks() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "env-1" in socket.acks()
        said = slack.wait_for(
            "chat.postMessage", where=lambda a: f"approved proposal #{pid}" in str(a.get("text"))
        )
        assert len(said) == 1
        assert get_proposal(store, pid).decided_by == "lead"
    finally:
        store.dispose()
    # Without a signing secret there is no HTTP endpoint to forge requests against.
    assert httpx.post(f"{url}/slack/events", content=b"{}").status_code in (404, 405)
