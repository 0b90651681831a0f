"""A paused investigation outlives its process: one ``flowsleuth investigate`` pauses for
approval and exits; later processes approve (which resumes and applies through the HTTP
executor, once), reject (which finishes it) and are refused after that. On SQLite (the
checkpoints beside the store) and on PostgreSQL (the checkpoints in the store's
database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import InvestigationFinishedError, resume_incident
from agent.graph import AgentDeps, checkpoint_target, open_checkpointer
from agent.graph.build import build_graph
from agent.graph.run import result_of, thread_config
from tests.conftest import PG_URL, pg_schema_url
from tests.helpers.simstore import AT, AT_US, Template, build_template, clone, load_into
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.runbooks import ApprovalSettings, approve, default_executors, get_proposal, reject
from tools.store import Store, open_store

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = "expired_vendor_token"
APPROVERS = ApprovalSettings(users={"alice": ["data-lead"]})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), SCENARIO)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="FLOWSLEUTH_TEST_PG_URL not set"),
            ],
        ),
    ]
)
def store_url(request: pytest.FixtureRequest, template: Template, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{clone(template, tmp_path)}"
        return
    assert PG_URL is not None
    for url in pg_schema_url(PG_URL):
        store = open_store(url)
        try:
            load_into(store, tmp_path, SCENARIO)
        finally:
            store.dispose()
        yield url


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        yield fake


def flowsleuth(url: str, api: FakeApi, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLOWSLEUTH_LLM_", "FLOWSLEUTH_CHECKPOINT", "FLOWSLEUTH_POLICY"))
    }
    env |= {
        "FLOWSLEUTH_SECRET_REVERSE_ETL_URL": api.url,
        "FLOWSLEUTH_SECRET_NOTIFIER_URL": api.url,
        "FLOWSLEUTH_SECRET_DESTINATION_API_KEY": "new-key",
        "FLOWSLEUTH_APPROVALS_USERS": json.dumps({"alice": ["data-lead"]}),
    }
    return subprocess.run(
        [sys.executable, "-m", "agent", "--db", url, "--at", AT, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def credential_puts(api: FakeApi) -> int:
    return sum(1 for c in api.writes() if c.path.endswith("/credential"))


def test_pause_in_one_process_resume_in_others(store_url: str, api: FakeApi) -> None:
    started = flowsleuth(store_url, api, "investigate", "--json")
    assert started.returncode == 0, started.stderr
    [incident] = json.loads(started.stdout)["incidents"]
    agent: dict[str, Any] = incident["agent"]
    assert agent["status"] == "awaiting_approval"
    by_action = {p["action"]: p for p in incident["proposals"]}
    refresh, rerun = by_action["refresh_credential"]["id"], by_action["rerun_sync"]["id"]
    assert by_action["notify_owner"]["status"] == "applied"
    assert sorted(agent["awaiting_approval"]) == sorted([refresh, rerun])
    assert incident["explanation"]["source"] == "narrator"
    assert credential_puts(api) == 0

    approved = flowsleuth(
        store_url, api, "approvals", "approve", str(refresh), "--as", "alice", "--json"
    )
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["apply"]["status"] == "applied"
    assert credential_puts(api) == 1

    # The rest in this process: a second approval, the rejection that finishes the
    # investigation, and a late decision that is refused.
    store = open_store(store_url)
    try:
        again = approve(store, refresh, "alice", settings=APPROVERS, now_us=AT_US)
        assert not again.won
        deps = AgentDeps(store=store, executors=default_executors(), now_us=AT_US)
        no = reject(store, rerun, "alice", settings=APPROVERS, now_us=AT_US)
        done = resume_incident(store, incident["id"], no, deps=deps)
        assert done.status == "complete"
        assert [d["outcome"] for d in done.decisions] == ["approved", "rejected"]
        assert get_proposal(store, refresh).status == "applied"
        late = {"proposal_id": refresh, "outcome": "approved", "decided_by": "alice"}
        with pytest.raises(InvestigationFinishedError):
            resume_incident(store, incident["id"], late, deps=deps)
        with open_checkpointer(store) as saver:
            final = result_of(build_graph(saver), thread_config(incident["id"]), incident["id"])
        assert final.status == "complete"
    finally:
        store.dispose()
    assert credential_puts(api) == 1


def test_checkpoints_live_beside_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWSLEUTH_CHECKPOINT_DB", raising=False)
    sqlite = open_store(f"sqlite:///{tmp_path / 'fs.db'}")
    try:
        assert checkpoint_target(sqlite) == str(tmp_path / "fs.checkpoints.db")
        assert checkpoint_target(sqlite, str(tmp_path / "x.db")) == str(tmp_path / "x.db")
        assert checkpoint_target(sqlite, "postgresql://u@h/db").startswith("postgresql://")
        monkeypatch.setenv("FLOWSLEUTH_CHECKPOINT_DB", f"sqlite:///{tmp_path / 'y.db'}")
        assert checkpoint_target(sqlite) == str(tmp_path / "y.db")
    finally:
        sqlite.dispose()


def test_a_bad_checkpoint_location_is_named(tmp_path: Path) -> None:
    from agent.graph import CheckpointConfigError

    store: Store = open_store(f"sqlite:///{tmp_path / 'fs.db'}")
    try:
        with pytest.raises(CheckpointConfigError, match="FLOWSLEUTH_CHECKPOINT_DB"):
            checkpoint_target(store, "redis://localhost/0")
    finally:
        store.dispose()
