"""The tool layer on SQLite and PostgreSQL: a small hand-built store, read through the MCP
client in process (the simulated store of the other tests is SQLite only)."""

from __future__ import annotations

from typing import Any

from mcp import Client

from tests.tools.server.mcp.support import structured, with_client
from tests.tools.store.seed import T0, H, edge, log, node, run, series, span, version
from tools.anomalies import Detection, sync_anomalies
from tools.incidents import refresh_incidents
from tools.nodes import NodeRef
from tools.server.mcp import build_mcp_server
from tools.store import Store

SRC = "dataset:s3://crm:contacts"
JOB = "job:dbt://acme:stg_contacts"
STG = "dataset:snowflake://acme:stg_contacts"
TRACE = "0af7651916cd43dd8448eb211c80319c"


def _seed(store: Store) -> None:
    src, job, stg = node(store, SRC), node(store, JOB), node(store, STG)
    edge(store, src, job)
    edge(store, job, stg)
    run(store, job, "r1", "COMPLETE", T0, T0 + 60_000_000, nominal_start=T0)
    run(store, job, "r2", "FAIL", T0 + H, T0 + H + 1, error_message="column email missing")
    version(store, src, T0, [("id", "int"), ("email", "string")])
    version(store, src, T0 + H, [("id", "int"), ("email_address", "string")])
    series(store, stg, "data.null_fraction", [(T0 + i * H, i / 10) for i in range(10)],
           column="email")
    log(store, stg, T0 + H, "load failed for ann@example.org", 17, TRACE)
    span(store, TRACE, "a" * 16, None, "collect", src, T0, T0 + 1000)
    span(store, TRACE, "b" * 16, "a" * 16, "warehouse", stg, T0 + 1000, T0 + 5000)
    detections = [
        Detection(node=NodeRef.parse(SRC), kind="schema_drift", metric="schema",
                  onset_us=T0 + H, score=5.0, severity="high", summary="email renamed"),
        Detection(node=NodeRef.parse(STG), kind="null_spike", metric="data.null_fraction",
                  onset_us=T0 + 2 * H, score=5.0, severity="high", summary="email null",
                  attributes={"column": "email"}),
    ]
    sync_anomalies(store, detections, T0 + 10 * H)
    refresh_incidents(store, T0 + 10 * H)


def test_tools_read_the_same_on_every_backend(store: Store) -> None:
    _seed(store)
    server = build_mcp_server(store, clock=lambda: T0 + 10 * H)

    async def body(client: Client) -> None:
        async def call(tool: str, **args: object) -> Any:
            return structured(await client.call_tool(tool, args))

        up = await call("lineage_upstream", node=STG)
        assert [n["node"] for n in up["result"]["upstream"]] == [SRC]
        fresh = await call("get_freshness", node=STG)
        assert fresh["result"]["lag_s"] == 10 * 3600
        runs = await call("list_runs", node=STG, errors_only=True)
        assert [r["run_id"] for r in runs["items"]] == ["r2"]
        schema = await call("get_schema_versions", node=SRC)
        diff = schema["result"]["versions"][0]["diff"]
        assert [f["name"] for f in diff["added"]] == ["email_address"]
        metrics = await call("query_metrics", node=STG, buckets=5)
        (only,) = metrics["result"]["series"]
        assert [b["count"] for b in only["buckets"]] == [2, 2, 2, 2, 2]
        logs = await call("search_logs", text="FAILED")
        assert [r["body"] for r in logs["items"]] == ["load failed for <email>"]
        trace = await call("get_trace", trace_id=TRACE)
        assert trace["result"]["path"] == [SRC, STG]
        incidents = await call("list_incidents")
        (incident,) = incidents["items"]
        assert incident["top_cause"]["node"] == SRC
        causes = await call("root_cause_candidates", incident_id=incident["id"])
        assert causes["result"]["candidates"][0]["paths"] == [[SRC, JOB, STG]]

    with_client(server, body)
