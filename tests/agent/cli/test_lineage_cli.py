"""``flowsleuth lineage ...``: the JSON is the API's, the tables name the nodes, and bad
node ids are clear errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from agent.cli import app
from tools.lineage import column_lineage, downstream, impact, path, upstream
from tools.store import open_store

runner = CliRunner()
NS = "my-datasource-namespace"
OUT = f"dataset:{NS}:instance.schema.output-1"
IN1 = f"dataset:{NS}:instance.schema.input-1"
JOB = "job:my-scheduler-namespace:myjob"


def cli(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def cli_json(db: str, *args: str) -> Any:
    return json.loads(cli(db, *args, "--json"))


def setup(db: str, shared_data: Path, tmp_path: Path) -> None:
    cli(db, "ingest", "openlineage", str(shared_data / "openlineage" / "marquez-events"))
    columns = {
        "columnLineage": {
            "fields": {
                "total": {
                    "inputFields": [
                        {
                            "namespace": NS,
                            "name": "instance.schema.input-1",
                            "field": "amount",
                            "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}],
                        }
                    ]
                }
            }
        }
    }
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2025-03-01T00:00:00Z",
        "run": {"runId": "3f5e83fa-3480-44ff-99c5-ff943904e5e8"},
        "job": {"namespace": "my-scheduler-namespace", "name": "myjob"},
        "inputs": [{"namespace": NS, "name": "instance.schema.input-1"}],
        "outputs": [{"namespace": NS, "name": "instance.schema.output-1", "facets": columns}],
        "producer": "https://example.com/tests",
    }
    (tmp_path / "columns.json").write_bytes(orjson.dumps(event))
    cli(db, "ingest", "openlineage", str(tmp_path / "columns.json"))
    (tmp_path / "catalog.yaml").write_text(
        f'assets:\n  - node: "{OUT}"\n    kind: audience\n    tier: 1\n    owner: crm\n'
        "    revenue_per_day: 1200\n"
    )
    cli(db, "ingest", "catalog", str(tmp_path / "catalog.yaml"))


def test_json_is_the_api_answer(db_url: str, shared_data: Path, tmp_path: Path) -> None:
    setup(db_url, shared_data, tmp_path)
    store = open_store(db_url)
    try:
        assert cli_json(db_url, "lineage", "upstream", OUT) == upstream(store, OUT).model_dump()
        assert cli_json(db_url, "lineage", "downstream", IN1, "--jobs", "--depth", "1") == (
            downstream(store, IN1, depth=1, include_jobs=True).model_dump()
        )
        assert cli_json(db_url, "lineage", "path", OUT, IN1) == path(store, OUT, IN1).model_dump()
        assert cli_json(db_url, "lineage", "impact", IN1) == impact(store, IN1).model_dump()
        assert cli_json(db_url, "lineage", "columns", OUT, "total") == (
            column_lineage(store, OUT, "total").model_dump()
        )
        assert cli_json(db_url, "lineage", "columns", IN1, "amount", "--downstream") == (
            column_lineage(store, IN1, "amount", "downstream").model_dump()
        )
    finally:
        store.dispose()
    up = cli_json(db_url, "lineage", "upstream", OUT)
    assert [n["node"] for n in up["upstream"]] == [IN1, f"dataset:{NS}:instance.schema.input-2"]
    assert cli_json(db_url, "lineage", "impact", IN1)["revenue_at_risk_per_day"] == 1200


def test_tables_and_trees(db_url: str, shared_data: Path, tmp_path: Path) -> None:
    setup(db_url, shared_data, tmp_path)
    text = cli(db_url, "lineage", "upstream", OUT, "--jobs")
    assert "instance.schema.input-1" in text and "myjob" in text
    assert "nothing" in cli(db_url, "lineage", "downstream", OUT)
    text = cli(db_url, "lineage", "path", IN1, OUT)
    assert "2 hop(s)" in text and "myjob" in text
    assert "no path" in cli(db_url, "lineage", "path", IN1, "job:my-namespace:myjob")
    text = cli(db_url, "lineage", "impact", IN1)
    assert "audience" in text and "1,200 *" in text and "notify: crm" in text
    text = cli(db_url, "lineage", "columns", OUT, "total")
    assert "amount" in text and "DIRECT/AGGREGATION" in text
    assert "no column lineage" in cli(db_url, "lineage", "columns", OUT, "missing")
    assert "cycle" in cli(db_url, "lineage", "downstream", f"dataset:{NS}:instance.schema.table")


def test_bad_nodes_exit_2(db_url: str, shared_data: Path, tmp_path: Path) -> None:
    setup(db_url, shared_data, tmp_path)
    for args in (
        ("upstream", "dataset:nowhere:nothing"),
        ("downstream", "dataset:nowhere:nothing"),
        ("path", OUT, "dataset:nowhere:nothing"),
        ("impact", "dataset:nowhere:nothing"),
        ("columns", "dataset:nowhere:nothing", "c"),
    ):
        result = runner.invoke(app, ["--db", db_url, "lineage", *args])
        assert result.exit_code == 2 and "unknown node dataset:nowhere:nothing" in result.output
    for args in (("upstream", "no_type_here"), ("path", "x", OUT), ("columns", "bad", "c")):
        result = runner.invoke(app, ["--db", db_url, "lineage", *args])
        assert result.exit_code == 2 and "must look like" in result.output
    result = runner.invoke(app, ["--db", db_url, "lineage", "columns", JOB, "c"])
    assert result.exit_code == 2 and "is a job" in result.output
    result = runner.invoke(app, ["--db", db_url, "lineage", "upstream", OUT, "--depth", "-1"])
    assert result.exit_code == 2
