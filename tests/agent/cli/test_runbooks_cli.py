"""The runbook CLI: playbooks, propose, approvals, rollback, audit verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from agent.cli import app
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tests.tools.runbooks.support import CAMPAIGN, SOURCE, make_context
from tools.runbooks.loader import DEFAULT_DIR
from tools.store import open_store
from tools.store.models_runbooks import AuditRow

runner = CliRunner()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        for target in ("NOTIFIER", "CAMPAIGNS", "ORCHESTRATOR", "REVERSE_ETL"):
            monkeypatch.setenv(f"FLOWSLEUTH_SECRET_{target}_URL", fake.url)
        monkeypatch.setenv(
            "FLOWSLEUTH_APPROVALS_USERS",
            json.dumps({"lead": ["data-lead"], "eng": ["data-engineer"]}),
        )
        monkeypatch.setenv("FLOWSLEUTH_USER", "agent")
        fake.campaigns["spring_sale"] = "active"
        yield fake


def _run(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, *args])
    assert result.exit_code == code, result.output
    # Rich wraps error lines at the terminal width; compare words, not line breaks.
    return " ".join(result.output.split())


def _json(db: str, *args: str) -> Any:
    return json.loads(_run(db, *args, "--json"))


def _context_file(tmp_path: Path) -> Path:
    ctx = make_context(
        root_cause=SOURCE,
        root_cause_kind="consent_mismatch",
        at_risk=[{"node": CAMPAIGN, "kind": "campaign", "owner": "crm"}],
        campaigns_affected=1,
        owners=["crm"],
    )
    path = tmp_path / "ctx.json"
    path.write_text(ctx.model_dump_json())
    return path


def test_playbooks_list_and_validate(tmp_path: Path, db_url: str) -> None:
    assert f"{len(list(DEFAULT_DIR.glob('*.yaml')))} valid, 0 invalid" in _run(
        db_url, "playbooks", "validate", str(DEFAULT_DIR)
    )
    listed = _json(db_url, "playbooks", "list", str(DEFAULT_DIR))
    assert "campaign_pause" in {p["id"] for p in listed["playbooks"]}
    (tmp_path / "ok.yaml").write_text((DEFAULT_DIR / "job_failure_retry.yaml").read_text())
    (tmp_path / "bad.yaml").write_text(
        "id: bad\ntitle: x\ntrigger: {fault_kinds: [nope]}\nactions: []\n"
    )
    out = _run(db_url, "playbooks", "validate", str(tmp_path), code=1)
    assert f"{tmp_path / 'bad.yaml'}:3: trigger.fault_kinds.0: Input should be" in out
    assert "1 valid, 1 invalid" in out


def test_propose_approve_rollback_and_audit(tmp_path: Path, db_url: str, api: FakeApi) -> None:
    proposals = _json(db_url, "propose", "--context", str(_context_file(tmp_path)))
    status = {p["action_type"]: (p["id"], p["status"]) for p in proposals}
    assert status["notify_owner"][1] == "applied" and status["pause_campaign"][1] == "proposed"
    pause_id = str(status["pause_campaign"][0])
    shown = _run(db_url, "approvals", "show", pause_id)
    assert "[high] proposed" in shown and "never automatic: it pauses a live campaign" in shown
    assert [p["id"] for p in _json(db_url, "approvals", "list", "--status", "proposed")] == [
        int(pause_id)
    ]
    refused = _run(db_url, "approvals", "approve", pause_id, "--as", "agent", code=2)
    assert "cannot approve it themselves" in refused
    refused = _run(db_url, "approvals", "approve", pause_id, "--as", "eng", code=2)
    assert "needs one of [data-lead]" in refused
    done = _json(db_url, "approvals", "approve", pause_id, "--as", "lead", "--reason", "consent")
    assert done["decision"]["won"] and done["apply"]["status"] == "applied"
    assert api.campaigns["spring_sale"] == "paused"
    again = _run(db_url, "approvals", "approve", pause_id, "--as", "lead", code=1)
    assert "is applied; nothing to decide" in again
    assert "passed" in _run(db_url, "approvals", "verify", pause_id)
    assert "rolled_back" in _run(db_url, "rollback", pause_id, "--as", "lead", "--reason", "oops")
    assert api.campaigns["spring_sale"] == "active"
    assert "audit chain intact" in _run(db_url, "audit", "verify")
    store = open_store(db_url)
    with store.write() as conn:
        conn.execute(update(AuditRow).where(AuditRow.seq == 4).values(actor="mallory"))
    store.dispose()
    out = _run(db_url, "audit", "verify", code=1)
    assert "audit chain broken at row 4" in out


def test_propose_needs_one_source_and_a_known_incident(tmp_path: Path, db_url: str) -> None:
    assert "give exactly one of" in _run(db_url, "propose", code=2)
    assert "no incident 999" in _run(db_url, "propose", "--incident", "999", code=2)
    assert "no proposal 5" in _run(db_url, "approvals", "show", "5", code=2)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert "incident_id: Field required" in _run(db_url, "propose", "--context", str(bad), code=2)
