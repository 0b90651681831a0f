"""``flowsleuth investigate`` with the agent, and ``flowsleuth demo`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from tests.helpers.simstore import AT, Template, build_template, clone


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


@pytest.fixture
def db(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("FLOWSLEUTH_LLM_MODEL", "FLOWSLEUTH_LLM_BASE_URL", "FLOWSLEUTH_CHECKPOINT_DB"):
        monkeypatch.delenv(var, raising=False)
    return str(clone(template, tmp_path))


def cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_investigate_json_carries_explanation_hypotheses_and_proposals(db: str) -> None:
    doc = cli("--db", db, "--at", AT, "investigate", "--json")
    [incident] = doc["incidents"]
    assert incident["explanation"]["source"] == "narrator"
    assert incident["explanation"]["text"].startswith("What we know")
    assert incident["hypotheses"][0]["status"] == "leading"
    proposals = {p["action"]: p for p in incident["proposals"]}
    assert {"notify_owner", "refresh_credential", "rerun_sync"} <= set(proposals)
    credential = proposals["refresh_credential"]
    assert credential["tier"] == "high" and credential["status"] == "proposed"
    assert credential["requires_approval"] and "dry_run" in credential
    agent = incident["agent"]
    assert agent["status"] == "awaiting_approval" and agent["llm"]["calls"] == 0
    assert agent["thread_id"] == str(incident["id"])
    assert Path(db).with_name("flowsleuth.checkpoints.db").exists()

    # Asking again reports the same pause: nothing is restarted or proposed twice.
    again = cli("--db", db, "--at", AT, "investigate", "--json")
    [same] = again["incidents"]
    assert same["agent"]["awaiting_approval"] == agent["awaiting_approval"]
    assert [p["id"] for p in same["proposals"]] == [p["id"] for p in incident["proposals"]]


def test_investigate_for_people_prints_the_explanation_and_the_queue(db: str) -> None:
    result = CliRunner().invoke(app, ["--db", db, "--at", AT, "investigate"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "What we suspect" in out and "Alternatives rejected" in out
    assert "refresh credential" in out and "waiting for approval" in out


def test_investigate_without_the_agent_is_detection_only(db: str) -> None:
    doc = cli("--db", db, "--at", AT, "investigate", "--no-agent", "--json")
    [incident] = doc["incidents"]
    assert "explanation" not in incident and incident["root_causes"]
    assert not Path(db).with_name("flowsleuth.checkpoints.db").exists()


def test_demo_fixes_what_policy_allows_and_queues_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("FLOWSLEUTH_LLM_MODEL", "FLOWSLEUTH_LLM_BASE_URL", "FLOWSLEUTH_CHECKPOINT_DB"):
        monkeypatch.delenv(var, raising=False)
    doc = cli(
        "--at",
        "2026-03-10T00:30:00Z",
        "demo",
        "--dir",
        str(tmp_path / "d"),
        "--days",
        "7",
        "--json",
    )
    incidents = doc["incidents"]
    assert isinstance(incidents, list) and len(incidents) == 2
    proposals = [p for inc in incidents for p in inc["proposals"]]
    retry = next(p for p in proposals if p["action"] == "retry_job")
    assert retry["tier"] == "low" and retry["status"] == "applied"
    checks = doc["verification_after_hours"]["results"]
    assert checks[str(retry["id"])]["status"] == "passed"
    credential = next(p for p in proposals if p["action"] == "refresh_credential")
    assert credential["tier"] == "high" and credential["status"] == "proposed"
    waiting = [inc["agent"]["awaiting_approval"] for inc in incidents]
    assert [credential["id"]] in waiting
    assert all(inc["explanation"]["text"] for inc in incidents)


def test_a_finished_investigation_is_reported_not_repeated(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWSLEUTH_APPROVALS_USERS", json.dumps({"alice": ["data-lead"]}))
    [incident] = cli("--db", db, "--at", AT, "investigate", "--json")["incidents"]
    for pid in incident["agent"]["awaiting_approval"]:
        rejected = CliRunner().invoke(
            app, ["--db", db, "--at", AT, "approvals", "reject", str(pid), "--as", "alice"]
        )
        assert rejected.exit_code == 0, rejected.output
    [done] = cli("--db", db, "--at", AT, "investigate", "--json")["incidents"]
    agent = done["agent"]
    assert agent["status"] == "complete" and agent["awaiting_approval"] == []
    awaited = incident["agent"]["awaiting_approval"]
    assert [d["proposal_id"] for d in agent["decisions"]] == awaited
    assert {d["outcome"] for d in agent["decisions"]} == {"rejected"}
    assert agent["report"]["explained_by"] == "narrator"
    # Rejected actions are not proposed again while the incident stays the same.
    assert [p["id"] for p in done["proposals"]] == [p["id"] for p in incident["proposals"]]
    assert {p["status"] for p in done["proposals"] if p["id"] in awaited} == {"rejected"}
