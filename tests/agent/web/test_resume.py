"""Deciding on the web resumes the paused agent investigation, exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.app import app as cli_app
from agent.graph.build import build_graph
from agent.graph.checkpoint import open_checkpointer
from agent.graph.run import thread_config
from tests.agent.web.support import HASH, client, login
from tests.helpers.simstore import AT, AT_US, Template, build_template, clone
from tools.runbooks import get_proposal
from tools.store import Store, open_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


def _state(store: Store, incident_id: int) -> dict[str, Any]:
    with open_checkpointer(store) as saver:
        values: dict[str, Any] = build_graph(saver).get_state(thread_config(incident_id)).values
    return values


def test_web_decision_resumes_the_investigation_once(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("FLOWSLEUTH_LLM_MODEL", "FLOWSLEUTH_LLM_BASE_URL", "FLOWSLEUTH_CHECKPOINT_DB"):
        monkeypatch.delenv(var, raising=False)
    users = {"users": {"lead": {"password": HASH, "roles": ["data-lead"]}}}
    monkeypatch.setenv("FLOWSLEUTH_WEB_USERS", json.dumps(users))
    db = str(clone(template, tmp_path))
    run = CliRunner().invoke(cli_app, ["--db", db, "--at", AT, "investigate", "--json"])
    assert run.exit_code == 0, run.output
    [incident] = json.loads(run.stdout)["incidents"]
    awaited = incident["agent"]["awaiting_approval"]
    assert awaited, "the scenario should pause for a person"
    store = open_store(f"sqlite:///{db}")
    try:
        c = client(store, clock=lambda: AT_US)
        csrf = login(c, "lead")
        pid = awaited[0]
        for attempt in ("first", "double submit"):
            resp = c.post(f"/ui/approvals/{pid}/reject", data={"csrf": csrf, "reason": attempt})
            assert resp.status_code == 303
        state = _state(store, incident["id"])
        decided = [d["proposal_id"] for d in state.get("decisions", [])]
        assert decided.count(pid) == 1
        assert pid not in (state.get("awaiting") or [])
        assert get_proposal(store, pid).reason == "first"
        page = c.get(f"/ui/incidents/{incident['id']}").text
        assert "What we know" in page  # the agent's explanation
        assert f"#{pid}" in page and "Decided by <b>lead</b>" in page
    finally:
        store.dispose()
