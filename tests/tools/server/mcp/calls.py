"""One call of every read tool with a check of its structured result, shared by the
in-process, stdio and HTTP tests so every transport answers the same questions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp import Client

from tests.tools.server.mcp.support import (
    AUDIENCE,
    CAMPAIGN,
    CRM,
    STG_CRM,
    STG_WEB_JOB,
    WEB,
    Facts,
    structured,
)

Data = dict[str, Any]


@dataclass(frozen=True)
class Call:
    tool: str
    args: Data
    check: Callable[[Data], None]


def _assets(d: Data) -> None:
    assert d["items"] and all("crm" in a["id"] for a in d["items"])
    assert d["page"]["returned"] == len(d["items"])


def _catalog(d: Data) -> None:
    r = d["result"]
    assert r["in_catalog"] and r["node"] == AUDIENCE
    assert r["kind"] and r["owner"] and r["slos"]


def _metrics(d: Data) -> None:
    (series,) = d["result"]["series"]
    assert series["name"] == "data.null_fraction" and series["attributes"] == {"column": "email"}
    buckets = series["buckets"]
    assert 1 < len(buckets) <= 12
    # The rename turns every email null: the last buckets peak at 1, the first do not.
    assert buckets[-1]["max"] > 0.99 and buckets[0]["mean"] < 0.9


def _freshness(d: Data) -> None:
    r = d["result"]
    assert r["basis"] == "metric" and r["lag_s"] > 0 and r["objective"] is not None


def _failed_runs(d: Data) -> None:
    assert d["items"]
    for run in d["items"]:
        assert run["state"] == "FAIL" and run["job"] == STG_WEB_JOB
        assert "Numeric value" in run["error_message"]


def _schema(d: Data) -> None:
    newest = d["result"]["versions"][0]
    assert [f["name"] for f in newest["diff"]["removed"]] == ["email"]
    assert [f["name"] for f in newest["diff"]["added"]] == ["email_address"]


def _logs(d: Data) -> None:
    assert d["items"]
    for rec in d["items"]:
        assert rec["severity_number"] >= 17 and "failed" in rec["body"].lower()
        assert "@" not in rec["body"]
    assert any("<email>" in rec["body"] for rec in d["items"])


def _traces(d: Data) -> None:
    assert len(d["items"]) == 3
    assert d["page"]["truncated"] and d["page"]["next_offset"] == 3


def _trace(d: Data) -> None:
    r = d["result"]
    assert r["spans"] and r["path"][0] == WEB
    assert r["duration_ms"] >= max(s["duration_ms"] for s in r["spans"])


def _upstream(d: Data) -> None:
    first = d["result"]["upstream"][0]
    assert (first["node"], first["distance"]) == (AUDIENCE, 1)
    assert all(n["distance"] <= 2 for n in d["result"]["upstream"])


def _downstream(d: Data) -> None:
    found = {n["node"]: n["distance"] for n in d["result"]["downstream"]}
    assert found[STG_CRM] == 1 and CAMPAIGN in found


def _path(d: Data) -> None:
    r = d["result"]
    assert r["found"] and r["direction"] == "downstream"
    assert r["path"][0]["node"] == CRM and r["path"][-1]["node"] == CAMPAIGN


def _columns(d: Data) -> None:
    r = d["result"]
    assert (r["columns"][0]["node"], r["columns"][0]["column"]) == (CRM, "email")
    assert r["edges"] and r["edges"][0]["src_node"] == CRM


def _impact(d: Data) -> None:
    r = d["result"]
    assert r["revenue_at_risk_per_day"] > 0 and r["campaigns_affected"] >= 1
    assert CAMPAIGN in {a["node"] for a in r["impacted"]}


def _causes(d: Data) -> None:
    top = d["result"]["candidates"][0]
    assert (top["node"], top["kind"]) == (CRM, "schema_drift")
    assert top["paths"] and all(p[0] == CRM for p in top["paths"]) and top["evidence"]


def _anomalies(d: Data) -> None:
    (a,) = d["items"]
    assert (a["node"], a["kind"], a["attributes"]) == (STG_CRM, "null_spike", {"column": "email"})


def _incidents(d: Data) -> None:
    causes = {i["top_cause"]["node"] for i in d["items"]}
    assert causes == {CRM, STG_WEB_JOB}
    assert d["page"]["total"] == 2


def _incident(d: Data) -> None:
    r = d["result"]
    assert len(r["symptoms"]) == 4 and r["root_causes"][0]["node"] == CRM
    assert r["revenue_at_risk_per_day"] > 0


def _playbooks(d: Data) -> None:
    books = d["result"]["playbooks"]
    assert "job_failure_retry" in {b["id"] for b in books}
    assert all(b["any_fault"] or "job_failure" in b["fault_kinds"] for b in books)


def _proposals(d: Data) -> None:
    assert d["items"] and all(p["status"] == "proposed" for p in d["items"])
    assert {p["tier"] for p in d["items"]} >= {"low", "high"}


def _proposal(d: Data) -> None:
    r = d["result"]
    assert r["dry_run"]["summary"] and r["plan"]["decision"]["tier"] == r["tier"]
    assert r["status"] == "proposed"


def _slos(d: Data) -> None:
    assert d["items"]
    assert all(s["status"] in {"ok", "burning", "exhausted", "no_data"} for s in d["items"])


def read_calls(f: Facts) -> list[Call]:
    return [
        Call("list_assets", {"search": "crm"}, _assets),
        Call("get_catalog_entry", {"node": AUDIENCE}, _catalog),
        Call(
            "query_metrics",
            {"node": STG_CRM, "name": "data.null_fraction", "attributes": {"column": "email"},
             "buckets": 12},
            _metrics,
        ),
        Call("get_freshness", {"node": CRM}, _freshness),
        Call("list_runs", {"node": STG_WEB_JOB, "errors_only": True, "limit": 5}, _failed_runs),
        Call("get_schema_versions", {"node": CRM}, _schema),
        Call("search_logs", {"text": "failed", "min_severity": "error", "limit": 5}, _logs),
        Call("list_traces", {"node": WEB, "limit": 3}, _traces),
        Call("get_trace", {"trace_id": f.trace_id}, _trace),
        Call("lineage_upstream", {"node": CAMPAIGN, "depth": 2}, _upstream),
        Call("lineage_downstream", {"node": CRM}, _downstream),
        Call("lineage_path", {"start": CRM, "end": CAMPAIGN}, _path),
        Call("column_lineage", {"node": STG_CRM, "column": "email"}, _columns),
        Call("assess_impact", {"node": CRM}, _impact),
        Call("root_cause_candidates", {"incident_id": f.schema_incident}, _causes),
        Call("list_anomalies", {"status": "open", "kind": "null_spike"}, _anomalies),
        Call("list_incidents", {"status": "open"}, _incidents),
        Call("get_incident", {"incident_id": f.schema_incident}, _incident),
        Call("list_playbooks", {"fault_kind": "job_failure"}, _playbooks),
        Call("list_proposals", {"status": "proposed"}, _proposals),
        Call("get_proposal", {"proposal_id": min(f.proposals.values())}, _proposal),
        Call("slo_status", {}, _slos),
    ]


# Errors each transport must return as tool errors, naming the problem.
BAD_CALLS: list[tuple[str, Data, str]] = [
    ("lineage_upstream", {"node": "dataset:nowhere:nothing"}, "unknown node"),
    ("lineage_upstream", {"node": "orders"}, "must look like 'dataset:"),
    ("list_runs", {"node": STG_WEB_JOB, "since": "2026-03-02T00:00:00Z",
                   "until": "2026-03-01T00:00:00Z"}, "bad time range"),
    ("list_runs", {"node": STG_WEB_JOB, "since": "last tuesday"}, "since:"),
    ("get_incident", {"incident_id": 999}, "unknown incident 999"),
    ("get_trace", {"trace_id": "xyz"}, "32 hexadecimal"),
    ("get_schema_versions", {"node": STG_WEB_JOB}, "is a job"),
]


async def run_read_calls(client: Client, f: Facts) -> set[str]:
    """Call every read tool and check its result; returns the tools called."""
    for call in read_calls(f):
        result = await client.call_tool(call.tool, call.args)
        try:
            call.check(structured(result))
        except AssertionError as exc:
            raise AssertionError(f"{call.tool}({call.args}): {exc}") from exc
    return {c.tool for c in read_calls(f)}


async def run_bad_calls(client: Client) -> None:
    for tool, args, expected in BAD_CALLS:
        result = await client.call_tool(tool, args)
        assert result.is_error, (tool, args)
        text = result.content[0].text  # type: ignore[union-attr]
        assert expected in text, (tool, text)
