"""A paused investigation served by a real ``create_web_app`` with the Slack app on, a
fake Slack Web API and a fake remediation API on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from agent.cli.app import app as cli_app
from agent.slack.settings import SlackSettings, load_slack_settings
from agent.web import create_web_app
from tests.agent.slack.fake_slack import (
    SIGNING_SECRET,
    FakeSlack,
    serve_fake_slack,
    signed_headers,
)
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.simstore import AT, AT_US, Template, build_template, clone
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.runbooks import default_executors
from tools.runbooks.executors import ExecutorRegistry
from tools.store import Store, open_store

CHANNEL = "C0INCIDENTS"
# Slack user -> flowsleuth user; roles come from FLOWSLEUTH_APPROVALS_USERS below.
SLACK_USERS = {"U0LEAD": "lead", "U0ENG": "eng"}
ROLES = {"lead": ["data-lead"], "eng": ["data-engineer"]}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


def slack_settings(fake: FakeSlack, **extra: str) -> SlackSettings:
    return load_slack_settings(
        {
            "FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-test",
            "FLOWSLEUTH_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "FLOWSLEUTH_SLACK_API_URL": fake.api_url,
            "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL": CHANNEL,
            "FLOWSLEUTH_SLACK_USERS": json.dumps(SLACK_USERS),
            "FLOWSLEUTH_SLACK_PUBLIC_URL": "https://flowsleuth.example.com",
            # One sync at start-up; the tests drive the rest.
            "FLOWSLEUTH_SLACK_SYNC_INTERVAL_S": "3600",
            **extra,
        }
    )


@dataclass
class World:
    url: str
    store: Store
    slack: FakeSlack
    api: FakeApi
    incident_id: int
    awaiting: list[int]
    gate: threading.Event = field(default_factory=threading.Event)

    def post(self, path: str, body: str, **header_options: Any) -> httpx.Response:
        headers = signed_headers(body, **header_options)
        return httpx.post(f"{self.url}{path}", content=body, headers=headers, timeout=30)


def gated(gate: threading.Event) -> Callable[[], ExecutorRegistry]:
    """Executors that wait for ``gate``: lets a test hold a listener mid-work."""

    def factory() -> ExecutorRegistry:
        assert gate.wait(30), "the test never opened the gate"
        return default_executors()

    return factory


def paused(template: Template, folder: Path) -> tuple[str, int, list[int]]:
    """A copy of the template whose investigation paused for people: (db path,
    incident id, awaited proposal ids)."""
    db = str(clone(template, folder))
    run = CliRunner().invoke(cli_app, ["--db", db, "--at", AT, "investigate", "--json"])
    assert run.exit_code == 0, run.output
    [incident] = json.loads(run.stdout)["incidents"]
    awaiting = incident["agent"]["awaiting_approval"]
    assert awaiting, "the scenario should pause for a person"
    return db, int(incident["id"]), list(awaiting)


def remediation_env(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> None:
    """Roles for the mapped users, and the remediation API's address and secret."""
    monkeypatch.setenv("FLOWSLEUTH_APPROVALS_USERS", json.dumps(ROLES))
    for target in ("NOTIFIER", "CAMPAIGNS", "ORCHESTRATOR", "REVERSE_ETL"):
        monkeypatch.setenv(f"FLOWSLEUTH_SECRET_{target}_URL", api.url)
    monkeypatch.setenv("FLOWSLEUTH_SECRET_DESTINATION_API_KEY", "rotated-key")


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FLOWSLEUTH_LLM_MODEL", "FLOWSLEUTH_LLM_BASE_URL", "FLOWSLEUTH_CHECKPOINT_DB"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def world(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    db, incident_id, awaiting = paused(template, tmp_path)
    store = open_store(f"sqlite:///{db}")
    with serve_fake_api() as api, serve_fake_slack() as slack:
        remediation_env(monkeypatch, api)
        gate = threading.Event()
        gate.set()
        app = create_web_app(
            store, slack=slack_settings(slack), clock=lambda: AT_US, executors=gated(gate)
        )
        try:
            with serve_asgi(app) as url:
                yield World(url, store, slack, api, incident_id, awaiting, gate)
        finally:
            store.dispose()
