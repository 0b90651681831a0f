"""The CLI adapters: ingest, assets, runs, deadletters (replay included)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()


def _cli(db: str, *args: str) -> Any:
    result = runner.invoke(app, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_ingest_folder_then_query_assets_and_runs(db_url: str, shared_data: Path) -> None:
    summary = _cli(db_url, "ingest", "openlineage", str(shared_data / "openlineage"), "--json")
    assert summary["accepted"] == 13
    assert summary["rejected"] == summary["rejected"] and summary["rejected"] > 0
    again = _cli(db_url, "ingest", "openlineage", str(shared_data / "openlineage"), "--json")
    assert (again["accepted"], again["duplicates"]) == (0, 13)
    assets = _cli(db_url, "assets", "--json")
    ids = {a["id"] for a in assets}
    assert "job:my-scheduler-namespace:myjob" in ids
    assert "dataset:my-datasource-namespace:instance.schema.output-1" in ids
    runs = _cli(db_url, "runs", "job:my-scheduler-namespace:myjob", "--json")
    assert runs and all(r["job"] == "job:my-scheduler-namespace:myjob" for r in runs)
    jobs_only = _cli(db_url, "assets", "--type", "job", "--json")
    assert jobs_only and all(a["type"] == "job" for a in jobs_only)


def test_unknown_node_and_bad_node_id_are_clear_errors(db_url: str) -> None:
    result = runner.invoke(app, ["--db", db_url, "runs", "job:nowhere:nothing"])
    assert result.exit_code == 2 and "unknown node job:nowhere:nothing" in result.output
    result = runner.invoke(app, ["--db", db_url, "runs", "table_without_type"])
    assert result.exit_code == 2 and "must look like" in result.output
    result = runner.invoke(app, ["--db", db_url, "ingest", "openlineage", "/no/such/file.json"])
    assert result.exit_code == 2 and "no such file" in result.output


def test_deadletters_replay_accepts_what_is_now_valid(db_url: str, tmp_path: Path) -> None:
    # An event rejected for a far-future time becomes valid once that time has come:
    # replay with --at in the future re-reads it.
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2030-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "n", "name": "future_job"},
        "producer": "p",
    }
    path = tmp_path / "future.json"
    path.write_text(json.dumps(event))
    first = _cli(db_url, "ingest", "openlineage", str(path), "--json")
    assert first["rejected"] == 1 and "in the future" in first["rejections"][0]["reason"]
    letters = _cli(db_url, "deadletters", "--json")
    assert [d["source"] for d in letters] == ["openlineage"]
    assert letters[0]["replayed_at"] is None
    still = _cli(db_url, "deadletters", "--replay", "--json")
    assert still == {"replayed": 0, "still_rejected": 1, "skipped": 0}
    assert _cli(db_url, "deadletters", "--pending", "--json")[0]["id"] == letters[0]["id"]
    replayed = _cli(db_url, "--at", "2030-01-01T12:00:00Z", "deadletters", "--replay", "--json")
    assert replayed == {"replayed": 1, "still_rejected": 0, "skipped": 0}
    assert _cli(db_url, "deadletters", "--pending", "--json") == []
    assert _cli(db_url, "runs", "job:n:future_job", "--json")[0]["state"] == "COMPLETE"
