"""openlineage-python's own client, HTTP transport, against ``flowsleuth serve``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run, schema_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from tests.live_server import LiveServer, live_server
from tools.nodes import NodeRef
from tools.store import open_store
from tools.store.queries import list_runs


def _client(server: LiveServer) -> OpenLineageClient:
    # auth type api_key is what sends "Authorization: Bearer <key>".
    auth = ApiKeyTokenProvider({"apiKey": server.token or ""})
    return OpenLineageClient(
        transport=HttpTransport(HttpConfig(url=server.url, timeout=5, auth=auth))
    )


def test_openlineage_client_events_land_in_the_store(db_url: str) -> None:
    run_id = str(uuid.uuid4())
    job = Job(namespace="airflow://prod", name="crm_export.load")
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name="email", type="VARCHAR")]
    )
    inputs = [InputDataset(namespace="s3://acme-crm", name="exports/contacts")]
    outputs = [
        OutputDataset(namespace="snowflake://acme", name="raw.contacts", facets={"schema": schema})
    ]
    with live_server(db_url) as server:
        client = _client(server)
        now = datetime.now(UTC).isoformat()
        client.emit(
            RunEvent(
                eventType=RunState.START,
                eventTime=now,
                run=Run(runId=run_id),
                job=job,
                producer="https://example.com/t",
                inputs=inputs,
                outputs=outputs,
            )
        )
        err = error_message_run.ErrorMessageRunFacet(
            message="boom: quota", programmingLanguage="py"
        )
        client.emit(
            RunEvent(
                eventType=RunState.FAIL,
                eventTime=now,
                run=Run(runId=run_id, facets={"errorMessage": err}),
                job=job,
                producer="https://example.com/t",
                inputs=inputs,
                outputs=outputs,
            )
        )
        # Readable back over the API as soon as the POST returned.
        runs = httpx.get(
            f"{server.url}/api/v1/runs", params={"node": "job:airflow://prod:crm_export.load"}
        ).json()
        assert runs[0]["state"] == "FAIL"
        assert runs[0]["error_message"] == "boom: quota"
    store = open_store(db_url)
    [run] = list_runs(store, NodeRef.job("airflow://prod", "crm_export.load"))
    assert run.run_id == run_id and run.state == "FAIL"
    store.dispose()


def test_bad_event_gets_400_naming_the_field(db_url: str) -> None:
    with live_server(db_url) as server:
        resp = server.post(
            "/api/v1/lineage",
            json={
                "eventTime": "2026-01-01T00:00:00Z",
                "producer": "x",
                "run": {"runId": "nope"},
                "job": {"namespace": "n", "name": "j"},
            },
        )
        assert resp.status_code == 400
        assert resp.json()["field"] == "run.runId"
        assert "UUID" in resp.json()["error"]
        dead = httpx.get(f"{server.url}/healthz").json()
        assert dead["status"] == "ok"


def test_client_configured_from_the_environment(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPENLINEAGE_URL + OPENLINEAGE_API_KEY, what the README tells producers to set."""
    job = Job(namespace="airflow://prod", name="env_configured")

    def event() -> RunEvent:
        return RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=str(uuid.uuid4())),
            job=job,
            producer="https://example.com/t",
        )

    with live_server(db_url) as server:
        monkeypatch.setenv("OPENLINEAGE_URL", server.url)
        monkeypatch.setenv("OPENLINEAGE_API_KEY", server.token or "")
        OpenLineageClient().emit(event())
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "not-the-token-0123456789")
        with pytest.raises(requests.HTTPError, match="401"):
            OpenLineageClient().emit(event())
    store = open_store(db_url)
    assert len(list_runs(store, NodeRef.job("airflow://prod", "env_configured"))) == 1
    store.dispose()
