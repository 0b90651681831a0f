"""``flowsleuth mcp`` as a subprocess on stdio, through the real MCP client."""

from __future__ import annotations

import sys

from mcp import Client, StdioServerParameters

from tests.tools.server.mcp.calls import run_bad_calls, run_read_calls
from tests.tools.server.mcp.support import Facts, structured, with_client

AT = "2026-03-02T12:00:00Z"


def _params(url: str, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "agent", "--db", url, "--at", AT, "mcp", *args]
    )


def test_every_read_tool_over_stdio(sim_url: str, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        offered = {t.name for t in (await client.list_tools()).tools}
        assert await run_read_calls(client, sim_facts) == offered
        await run_bad_calls(client)
        # --at is 'now' for relative times: the last day holds the failed-runs-free tail.
        recent = structured(await client.call_tool("list_anomalies", {"since": "1d"}))
        assert recent["items"]

    with_client(_params(sim_url), body)


def test_stdio_flags_select_tools_and_enable_writes(sim_url: str) -> None:
    async def body(client: Client) -> None:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            "list_playbooks", "list_proposals", "get_proposal", "propose_remediation",
            "request_approval", "apply_low_risk_proposal", "lineage_upstream",
            "lineage_downstream", "lineage_path", "column_lineage", "root_cause_candidates",
        }

    args = ("--enable-writes", "--tools", "lineage,runbooks", "--disable", "assess_impact")
    with_client(_params(sim_url, *args), body)
