from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from sqlalchemy import func, select

from tools.ingest.openlineage import ingest_openlineage
from tools.simulate import FaultSpec, SimConfig, simulate
from tools.store import Store
from tools.store.models import DatasetVersion, Run
from tools.timeutil import parse_micros

END = datetime(2025, 3, 12, tzinfo=UTC)
CONFIG = SimConfig(end=END, size=40, days=4, scenarios=[
    FaultSpec("failed_staging_job"), FaultSpec("identity_rule_change")])


def _events(config: SimConfig = CONFIG) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in simulate(config):
        if p.kind == "openlineage":
            lines = p.body.splitlines()
            assert len(lines) == p.count
            out.extend(orjson.loads(ln) for ln in lines)
    return out


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return _events()


def test_events_validate_against_the_openlineage_schema(shared_data: Path,
                                                        events: list[dict[str, Any]]) -> None:
    schema = json.loads((shared_data / "openlineage" / "OpenLineage.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    # Every FAIL, and a spread of the rest (every 3rd event) keeps this quick.
    sample = [e for i, e in enumerate(events) if e["eventType"] == "FAIL" or i % 3 == 0]
    assert len(sample) > 150
    for ev in sample:
        errors = sorted(validator.iter_errors(ev), key=str)
        assert not errors, f"{ev['job']['name']} {ev['eventType']}: {errors[0].message}"


def _facets(ev: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*ev["run"].get("facets", {}).values(), *ev["job"].get("facets", {}).values()]
    for ds in [*ev["inputs"], *ev["outputs"]]:
        for key in ("facets", "inputFacets", "outputFacets"):
            found.extend(ds.get(key, {}).values())
    return found


def test_every_event_is_well_formed(events: list[dict[str, Any]]) -> None:
    end_us = parse_micros("2025-03-12T00:00:00Z")
    states: dict[str, list[str]] = {}
    for ev in events:
        uuid.UUID(ev["run"]["runId"])
        assert parse_micros(ev["eventTime"]) <= end_us
        assert "nominalTime" in ev["run"]["facets"]
        for f in _facets(ev):
            assert f["_producer"].startswith("https://") and f["_schemaURL"].startswith("https://")
        states.setdefault(ev["run"]["runId"], []).append(ev["eventType"])
    for seq in states.values():
        assert seq[0] == "START" and len(seq) <= 2
        assert seq[1:] in ([], ["COMPLETE"], ["FAIL"])
    kinds = {e["eventType"] for e in events}
    assert kinds == {"START", "COMPLETE", "FAIL"}


def test_outputs_carry_schema_volume_quality_and_lineage(events: list[dict[str, Any]]) -> None:
    completes = [e for e in events if e["eventType"] == "COMPLETE"]
    stg = [o for e in completes for o in e["outputs"] if o["name"].endswith("stg_crm_contacts")]
    assert stg
    out = stg[0]
    assert [f["name"] for f in out["facets"]["schema"]["fields"]][:2] == ["contact_id", "email"]
    rows = out["outputFacets"]["outputStatistics"]["rowCount"]
    quality = out["facets"]["dataQualityMetrics"]
    assert quality["rowCount"] == rows > 1000
    assert 0 < quality["columnMetrics"]["email"]["nullCount"] < rows * 0.1
    assert quality["columnMetrics"]["contact_id"]["distinctCount"] <= rows
    lineage = out["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]
    assert (lineage["namespace"], lineage["name"]) == ("s3://acme-crm-exports", "crm/contacts")
    # Sources are observed where they are read: schema and input quality facets.
    src = [i for e in completes for i in e["inputs"] if i["name"] == "crm/contacts"]
    assert src and src[0]["inputFacets"]["dataQualityMetrics"]["rowCount"] > 0
    # Job facets travel on START: type, owner and the sql of that run.
    start = next(e for e in events if e["eventType"] == "START"
                 and e["job"]["name"].endswith("resolve_identities"))
    assert {"jobType", "ownership", "sql"} <= set(start["job"]["facets"])


def test_failures_carry_an_error_message(events: list[dict[str, Any]]) -> None:
    fails = [e for e in events if e["eventType"] == "FAIL"]
    assert fails
    assert all(e["job"]["name"] == "analytics.staging.stg_crm_contacts" for e in fails)
    assert "Numeric value 'N/A'" in fails[0]["run"]["facets"]["errorMessage"]["message"]


def test_events_ingest_cleanly_into_the_store(store: Store) -> None:
    body = b"".join(p.body for p in simulate(CONFIG) if p.kind == "openlineage")
    count = body.count(b"\n")
    result = ingest_openlineage(store, body, now_us=parse_micros("2025-03-12T00:00:00Z"))
    assert (result.accepted, result.duplicates, result.rejected) == (count, 0, [])
    with store.read() as conn:
        failed = conn.execute(select(func.count()).select_from(Run).where(
            Run.state == "FAIL")).scalar_one()
        with_rows = conn.execute(select(func.count()).select_from(DatasetVersion).where(
            DatasetVersion.row_count.is_not(None))).scalar_one()
        nominal = conn.execute(select(func.count()).select_from(Run).where(
            Run.nominal_start.is_not(None))).scalar_one()
        runs = conn.execute(select(func.count()).select_from(Run)).scalar_one()
    assert failed > 0 and with_rows > 0 and nominal == runs
