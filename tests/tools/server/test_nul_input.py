"""NUL characters (U+0000), which the OpenAPI fuzz found answered 500 on PostgreSQL: in
telemetry they are a 400 naming the field, kept as a dead letter; in a URL a 400. Both
backends answer the same."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from sqlalchemy import select

from tools.config import Settings
from tools.ingest.deadletters import list_dead_letters
from tools.ingest.openlineage import ingest_openlineage
from tools.server.app import create_app
from tools.store import Store
from tools.store.models import DeadLetter, Run

TOKEN = "nul-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, Settings(ingest_tokens=json.dumps([TOKEN])))) as c:
        yield c


def _event(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://prod", "name": "nul_job"},
        "producer": "https://example.com/test",
    }
    ev.update(over)
    return ev


def _runs(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(select(Run.run_uuid)).scalars())


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_event(job={"namespace": "airflow://prod", "name": "nul\x00job"}), "job.name"),
        (_event(producer="p\x00"), "producer"),
        (
            _event(run={"runId": str(uuid.uuid4()), "facets": {"x": {"v": ["a\x00"]}}}),
            "run.facets.x.v[0]",
        ),
        (_event(run={"runId": str(uuid.uuid4()), "facets": {"k\x00": {}}}), "run.facets.k\\u0000"),
    ],
)
def test_a_nul_in_an_event_is_refused_naming_the_field(
    store: Store, client: TestClient, event: dict[str, Any], field: str
) -> None:
    good = _event()
    resp = client.post("/api/v1/lineage", json=[good, event], headers=AUTH)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["field"] == field and "NUL" in body["error"]
    assert body["accepted"] == 1
    assert _runs(store) == {good["run"]["runId"]}
    [dead] = list_dead_letters(store)
    assert dead.source == "openlineage" and field in dead.reason


def test_the_file_path_refuses_it_too(store: Store) -> None:
    result = ingest_openlineage(store, orjson.dumps(_event(producer="\x00")))
    assert result.accepted == 0 and result.rejected[0].field == "producer"


def test_a_nul_in_otlp_json_or_protobuf_is_refused(store: Store, client: TestClient) -> None:
    log = {"timeUnixNano": "1767225600000000000", "body": {"stringValue": "sync \x00 failed"}}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [log]}]}]}
    resp = client.post("/v1/logs", json=body, headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["field"] == "resourceLogs[0].scopeLogs[0].logRecords[0].body.stringValue"

    request = ExportLogsServiceRequest()
    record = LogRecord(time_unix_nano=1_767_225_600 * 10**9, body=AnyValue(string_value="a\x00"))
    request.resource_logs.add().scope_logs.add().log_records.append(record)
    resp = client.post(
        "/v1/logs",
        content=request.SerializeToString(),
        headers={**AUTH, "content-type": "application/x-protobuf"},
    )
    assert resp.status_code == 400 and "NUL" in resp.json()["error"]
    assert len(list_dead_letters(store)) == 2


def test_a_reason_quoting_a_nul_is_kept_escaped(store: Store, client: TestClient) -> None:
    """Decoding errors quote what they could not read: the reason is stored all the same."""
    resp = client.post("/v1/traces", json={"bad\x00key": []}, headers=AUTH)
    assert resp.status_code == 400
    with store.read() as conn:
        [reason] = conn.execute(select(DeadLetter.reason)).scalars()
    assert "\x00" not in reason and "\\u0000" in reason


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/assets?search=%00",
        "/api/v1/runs?node=job:airflow://prod:nul%00job",
        "/api/v1/metrics?node=dataset:kafka://e:t&name=a%00",
        "/api/v1/runs?node=job:a:b&since=2026-01-01T00:00:00Z%00",
    ],
)
def test_a_nul_in_the_url_is_a_400(client: TestClient, url: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 400
    assert resp.json() == {"error": "the URL contains a NUL character (%00)", "field": "query"}
