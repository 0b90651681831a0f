"""``flowsleuth detect``, ``detect series``, ``slo`` and ``profile``: JSON is the API's,
--at works locally and globally, bad input exits 2 with a clear message."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.cli import app
from tests.tools.detect.storedata import DAY, HOUR, T0, Point, send_catalog, send_points
from tools.detect.settings import CONFIG_ENV
from tools.store import open_store
from tools.timeutil import iso

runner = CliRunner()
NS, NAME = "kafka://events.test", "web.clickstream"
NODE = f"dataset:{NS}:{NAME}"
STEP = T0 + 8 * DAY


def cli(*args: str, code: int = 0) -> str:
    """The output; an error message with its line wrapping undone."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output if code == 0 else " ".join(result.output.split())


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json"))


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    rng = np.random.default_rng(0)
    send_points(store, [
        Point(NS, NAME, "event.loss_fraction", T0 + h * HOUR,
              0.3 if T0 + h * HOUR >= STEP else 0.004 * (1 + 0.1 * rng.normal()))
        for h in range(9 * 24)])
    send_catalog(store, [{"node": NODE, "kind": "source", "slos": [
        {"metric": "event.loss_fraction", "objective": "<= 0.01", "target": 0.99,
         "window": "28d"}]}])
    store.dispose()
    return str(path)


def test_detect_as_of_a_time_persists_and_prints(db: str) -> None:
    before = cli_json("--db", db, "detect", "--at", iso(STEP - HOUR) or "")
    assert before["anomalies"] == [] and before["at"] == iso(STEP - HOUR)
    after = cli_json("--db", db, "--at", iso(STEP + 3 * HOUR) or "", "detect")
    kinds = {(a["kind"], a["metric"]) for a in after["anomalies"]}
    assert ("event_loss", "event.loss_fraction") in kinds
    assert after["run"]["series_scored"] == 1
    loss = next(a for a in after["anomalies"] if a["metric"] == "event.loss_fraction"
                and "slo" not in a["attributes"])
    assert loss["node"] == NODE and loss["onset"] == iso(STEP)
    table = cli("--db", db, "--at", iso(STEP + 4 * HOUR) or "", "detect")
    assert "event_loss" in table and "open anomalies as of" in table and "detection(s)" in table


def test_detect_with_a_bad_settings_file(db: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "detect.yaml"
    bad.write_text("detectors: {nope: {enabled: false}}\n")
    monkeypatch.setenv(CONFIG_ENV, str(bad))
    out = cli("--db", db, "detect", code=2)
    assert "unknown detector(s) ['nope']" in out


def test_detect_bad_time(db: str) -> None:
    assert "--at" in cli("--db", db, "detect", "--at", "yesterday-ish", code=2)


def test_slo_status(db: str) -> None:
    (status,) = cli_json("--db", db, "--at", iso(STEP + 2 * HOUR) or "", "slo")
    assert status["node"] == NODE and status["status"] == "burning"
    assert status["burn_rates"]["1h"] == pytest.approx(100.0)
    assert "burning" in cli("--db", db, "--at", iso(STEP + 2 * HOUR) or "", "slo")
    assert cli_json("--db", db, "slo", "--node", "dataset:x:y") == []
    assert "must look like" in cli("--db", db, "slo", "--node", "nope", code=2)


def test_detect_series_csv(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    rng = np.random.default_rng(1)
    rows = ["timestamp,value"]
    for h in range(10 * 24):
        value = 100 + 10 * np.sin(2 * np.pi * h / 24) + rng.normal()
        rows.append(f"{iso(T0 + h * HOUR)},{value + (60 if h == 9 * 24 else 0):.3f}")
    path.write_text("\n".join(rows) + "\n")
    report = cli_json("detect", "series", str(path))
    (anomaly,) = report["anomalies"]
    assert anomaly["onset_time"] == iso(T0 + 9 * 24 * HOUR) and anomaly["direction"] == "up"
    assert "up" in cli("detect", "series", str(path))
    assert "none.csv: no such file" in cli("detect", "series", str(tmp_path / "none.csv"),
                                           code=2)


def test_profile_command(tmp_path: Path) -> None:
    source = tmp_path / "wh.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE users (id INTEGER, email TEXT)")
    conn.executemany("INSERT INTO users VALUES (?, ?)", [(i, None if i % 2 else "a@b.c")
                                                         for i in range(10)])
    conn.commit()
    conn.close()
    db = str(tmp_path / "store.db")
    out = cli_json("--db", db, "profile", "--source", f"sqlite:///{source}", "--table",
                   "users", "--key", "id", "--node", "dataset:wh://prod:public.users")
    assert out["node"] == "dataset:wh://prod:public.users" and out["row_count"] == 10
    assert {c["name"]: c["null_fraction"] for c in out["columns"]}["email"] == 0.5
    table = cli("--db", db, "profile", "--source", f"sqlite:///{source}", "--table", "users")
    assert "10 rows" in table and "50.000%" in table
    err = cli("--db", db, "profile", "--source", f"sqlite:///{source}", "--table", "nope",
              code=2)
    assert "no table 'nope'" in err
