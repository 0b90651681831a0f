"""OpenLineage ingestion on the shared spec examples and Marquez events, and on bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from sqlalchemy import func, select

from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.openlineage_parse import parse_event
from tools.ingest.result import InputError
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.models import (
    ColumnLineage,
    DatasetVersion,
    DeadLetter,
    Edge,
    LineageEvent,
    Node,
    Run,
    RunStateChange,
)
from tools.store.queries import list_runs


def _count(store: Store, model: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def _event(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-20T10:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://prod", "name": "load_crm"},
        "inputs": [{"namespace": "s3://acme-crm", "name": "exports/contacts"}],
        "outputs": [{"namespace": "snowflake://acme", "name": "raw.crm_contacts"}],
        "producer": "https://example.com/test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    ev.update(over)
    return ev


def test_every_valid_shared_event_is_ingested_and_invalid_ones_dead_lettered(
    store: Store, shared_data: Path
) -> None:
    schema = json.loads((shared_data / "openlineage" / "OpenLineage.json").read_bytes())
    validator = jsonschema.validators.validator_for(schema)(schema)
    files = sorted((shared_data / "openlineage").rglob("*.json"))
    valid, invalid = [], []
    for f in files:
        obj = json.loads(f.read_bytes())
        # The official schema is the oracle, with the one leniency Marquez has too: a
        # missing schemaURL is accepted.
        if isinstance(obj, dict) and "eventTime" in obj:
            obj.setdefault("schemaURL", "https://openlineage.io/spec/2-0-2/OpenLineage.json")
        is_event = validator.is_valid(obj)
        result = ingest_openlineage(store, f.read_bytes(), origin=str(f))
        if is_event:
            valid.append(f)
            assert result.accepted == 1, (f, [r.reason for r in result.rejected])
        else:
            invalid.append(f)
            assert result.accepted == 0 and len(result.rejected) == 1, f
            assert "not an OpenLineage event" in result.rejected[0].reason
    assert len(valid) == 13 and len(invalid) == len(files) - 13
    assert _count(store, LineageEvent) == len(valid)
    with store.read() as conn:
        kept = conn.execute(select(DeadLetter.origin, DeadLetter.reason)).all()
    assert sorted(o for o, _ in kept) == sorted(str(f) for f in invalid)


def test_marquez_events_map_to_runs_lineage_and_facets(store: Store, shared_data: Path) -> None:
    folder = shared_data / "openlineage" / "marquez-events"
    for f in sorted(folder.glob("*.json")):
        ingest_openlineage(store, f.read_bytes())
    runs = list_runs(store, NodeRef.job("my-scheduler-namespace", "myjob.buggy_task🕷"))
    assert [r.state for r in runs] == ["COMPLETE"]
    with store.read() as conn:
        full = conn.execute(
            select(Run).where(Run.run_uuid == "ea041791-68bc-4ae1-bd89-4c8106a157e4")
        ).one()
        assert full.nominal_start is not None and full.parent_run_uuid is not None
        # Unknown facets are kept on the raw event.
        payloads = [p for (p,) in conn.execute(select(LineageEvent.payload))]
    assert any("nominalTime" in p for p in payloads)
    extra = json.loads((folder / "event_additional_facet.json").read_bytes())
    stored = next(json.loads(p) for p in payloads if extra["run"]["runId"] in p)
    assert stored == extra


def test_lineage_edges_run_state_versions_and_column_lineage(store: Store) -> None:
    run_id = str(uuid.uuid4())
    start = _event(eventType="START", run={"runId": run_id}, eventTime="2026-11-20T10:00:00Z")
    out = {
        "namespace": "snowflake://acme",
        "name": "raw.crm_contacts",
        "facets": {
            "schema": {
                "fields": [{"name": "email", "type": "VARCHAR"}, {"name": "id", "type": "INT"}]
            },
            "columnLineage": {
                "fields": {
                    "email": {
                        "inputFields": [
                            {
                                "namespace": "s3://acme-crm",
                                "name": "exports/contacts",
                                "field": "EMAIL",
                                "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                            }
                        ]
                    }
                }
            },
            "x_custom": {"anything": [1, 2, 3]},
        },
        "outputFacets": {"outputStatistics": {"rowCount": 1200, "size": 4096}},
    }
    complete = _event(run={"runId": run_id}, eventTime="2026-11-20T10:05:00Z", outputs=[out])
    # Out of order on purpose: COMPLETE arrives before START.
    assert ingest_openlineage(store, orjson.dumps(complete)).accepted == 1
    assert ingest_openlineage(store, orjson.dumps(start)).accepted == 1
    with store.read() as conn:
        run = conn.execute(select(Run)).one()
        assert run.state == "COMPLETE"
        assert run.ended_at - run.started_at == 300_000_000
        states = conn.execute(select(RunStateChange.state).order_by(RunStateChange.at)).scalars()
        assert list(states) == ["START", "COMPLETE"]
        version = conn.execute(select(DatasetVersion)).one()
        assert version.row_count == 1200 and version.byte_count == 4096
        assert [f["name"] for f in version.schema_fields] == ["email", "id"]
        col = conn.execute(select(ColumnLineage)).one()
        assert (col.dst_column, col.src_column, col.transformation) == (
            "email",
            "EMAIL",
            "DIRECT/IDENTITY",
        )
        facets = conn.execute(
            select(Node.facets).where(Node.name == "raw.crm_contacts")
        ).scalar_one()
        assert facets["x_custom"] == {"anything": [1, 2, 3]}
    assert _count(store, Edge) == 2


def test_same_event_twice_is_stored_once(store: Store) -> None:
    ev = orjson.dumps(_event())
    first = ingest_openlineage(store, ev)
    second = ingest_openlineage(store, ev)
    # Key order does not make an event new.
    reordered = json.dumps(dict(reversed(list(json.loads(ev).items())))).encode()
    third = ingest_openlineage(store, reordered)
    assert (first.accepted, second.duplicates, third.duplicates) == (1, 1, 1)
    assert _count(store, LineageEvent) == 1


def test_array_and_json_lines_with_one_bad_line(store: Store) -> None:
    events = [_event(), _event(), _event()]
    assert ingest_openlineage(store, orjson.dumps(events)).accepted == 3
    lines = b"\n".join([orjson.dumps(_event()), b'{"eventTime": "2026-', orjson.dumps(_event())])
    result = ingest_openlineage(store, lines)
    assert result.accepted == 2 and len(result.rejected) == 1
    assert "invalid JSON line" in result.rejected[0].reason
    assert _count(store, DeadLetter) == 1


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda e: e.pop("eventTime"), "eventTime", "is required"),
        (lambda e: e.update(eventTime="yesterday"), "eventTime", "not an ISO 8601"),
        (lambda e: e.update(eventTime="2999-01-01T00:00:00Z"), "eventTime", "in the future"),
        (lambda e: e.update(eventType="DONE"), "eventType", "is not one of"),
        (lambda e: e["run"].update(runId=42), "run.runId", "expected a string"),
        (lambda e: e["run"].update(runId="not-a-uuid"), "run.runId", "is not a UUID"),
        (lambda e: e["job"].pop("name"), "job.name", "is required"),
        (lambda e: e.update(inputs={"a": 1}), "inputs", "expected an array"),
        (
            lambda e: e["outputs"][0].update(
                outputFacets={"outputStatistics": {"rowCount": "many"}}
            ),
            "outputs[0].outputFacets.outputStatistics.rowCount",
            "expected a number",
        ),
        (
            lambda e: e["outputs"][0].update(
                facets={"dataQualityMetrics": {"columnMetrics": {"c": {"nullCount": -0.5e400}}}}
            ),
            "outputs[0].facets.dataQualityMetrics.columnMetrics.c.nullCount",
            "finite",
        ),
        (lambda e: e.pop("producer"), "producer", "is required"),
    ],
)
def test_bad_events_name_the_field(mutate: Any, field: str, fragment: str) -> None:
    ev = _event()
    mutate(ev)
    with pytest.raises(InputError) as info:
        parse_event(ev, now_us=1_800_000_000_000_000)
    assert info.value.field == field
    assert fragment in info.value.reason


def test_nan_and_truncated_json_are_rejected_and_nothing_stored_is_harmed(store: Store) -> None:
    assert ingest_openlineage(store, orjson.dumps(_event())).accepted == 1
    nan_body = orjson.dumps(_event()).replace(b'"eventType"', b'"x":NaN,"eventType"')
    for body in (nan_body, b'{"eventType": "START", "eventTime"', b"", b"[1, 2]", b"null"):
        result = ingest_openlineage(store, body)
        assert result.accepted == 0 and result.rejected, body
    assert _count(store, LineageEvent) == 1
    assert _count(store, Run) == 1
