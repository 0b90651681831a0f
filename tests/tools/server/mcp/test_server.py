"""The MCP server in process, through the real MCP client: tools, annotations, errors,
selection of families and tools, output budget and paging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from tests.tools.server.mcp.calls import BAD_CALLS, read_calls, run_bad_calls, run_read_calls
from tests.tools.server.mcp.support import NOW_US, Facts, structured, with_client
from tools.server.mcp import build_mcp_server
from tools.server.mcp.server import FAMILIES
from tools.store import Store
from tools.store.queries import list_assets

WRITE_TOOLS = {"propose_remediation", "request_approval", "apply_low_risk_proposal",
               "run_detection"}


def server_for(store: Store, **options: Any) -> Any:
    return build_mcp_server(store, clock=lambda: NOW_US, **options)


def test_read_only_by_default_with_annotations_and_schemas(sim_store: Store) -> None:
    async def body(client: Client) -> None:
        tools = (await client.list_tools()).tools
        names = {t.name for t in tools}
        assert not names & WRITE_TOOLS
        for t in tools:
            assert t.description and t.title and t.output_schema, t.name
            # Published in plain form (the client validated every result against it).
            assert "$ref" not in json.dumps(t.output_schema), t.name
            a = t.annotations
            assert a is not None and a.read_only_hint is True, t.name
            assert a.destructive_hint is False and a.idempotent_hint is True
            assert a.open_world_hint is False

    with_client(server_for(sim_store), body)


def test_enable_writes_adds_write_tools(sim_store: Store) -> None:
    async def body(client: Client) -> None:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= WRITE_TOOLS
        for name in WRITE_TOOLS:
            a = tools[name].annotations
            assert a is not None and a.read_only_hint is False, name
        apply = tools["apply_low_risk_proposal"].annotations
        assert apply is not None and apply.destructive_hint is True
        assert apply.idempotent_hint is False
        request = tools["request_approval"].annotations
        assert request is not None and request.destructive_hint is False

    with_client(server_for(sim_store, enable_writes=True), body)


def test_every_read_tool_answers_on_simulated_data(sim_store: Store, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        offered = {t.name for t in (await client.list_tools()).tools}
        called = await run_read_calls(client, sim_facts)
        assert called == offered  # every tool the server offers is exercised
        for call in read_calls(sim_facts):
            text = (await client.call_tool(call.tool, call.args)).content[0].text  # type: ignore[union-attr]
            assert len(text) <= 8000 * 4, call.tool

    with_client(server_for(sim_store), body)


def test_bad_arguments_are_tool_errors_and_the_session_goes_on(sim_store: Store) -> None:
    async def body(client: Client) -> None:
        await run_bad_calls(client)
        invalid = await client.call_tool("list_assets", {"limit": 0})
        assert invalid.is_error and "limit" in invalid.content[0].text  # type: ignore[union-attr]
        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error
        # The session survives all of it.
        assert structured(await client.call_tool("list_assets", {"limit": 1}))["items"]

    with_client(server_for(sim_store), body)
    assert len(BAD_CALLS) >= 5


def test_families_and_disabled_tools_choose_what_is_offered(sim_store: Store) -> None:
    async def body(client: Client) -> None:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            "lineage_upstream", "lineage_downstream", "column_lineage", "assess_impact",
            "root_cause_candidates",
        }
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert "assess_blast_radius" in prompts
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert resources == {"flowsleuth://contract"}

    server = server_for(sim_store, families=["lineage"], disabled=["lineage_path"])
    with_client(server, body)


def test_unknown_family_or_tool_is_refused_with_the_valid_names(sim_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown tool family bogus; choose from telemetry"):
        server_for(sim_store, families=["bogus"])
    with pytest.raises(ValueError, match=r"unknown tool nope; tools are .*list_assets"):
        server_for(sim_store, disabled=["nope"])
    assert set(FAMILIES) == {"telemetry", "lineage", "incidents", "runbooks", "detection"}


def test_small_budget_truncates_and_offset_pages_through_everything(sim_store: Store) -> None:
    expected = [a.id for a in list_assets(sim_store)]
    seen: list[str] = []

    async def body(client: Client) -> None:
        offset: int | None = 0
        pages = 0
        while offset is not None:
            data = structured(
                await client.call_tool("list_assets", {"offset": offset, "limit": 500})
            )
            page = data["page"]
            assert len(json.dumps(data)) <= 500 * 4 + 200
            seen.extend(a["id"] for a in data["items"])
            if page["next_offset"] is not None:
                assert page["truncated"] and f"offset={page['next_offset']}" in page["note"]
            offset = page["next_offset"]
            pages += 1
        assert pages > 3

    with_client(server_for(sim_store, budget_tokens=500), body)
    assert seen == expected


def test_a_view_is_paged_over_its_main_list(sim_store: Store) -> None:
    async def body(client: Client) -> None:
        args = {"node": "dataset:s3://acme-crm-exports:crm/contacts", "limit": 3}
        first = structured(await client.call_tool("lineage_downstream", args))
        page = first["page"]
        assert page["field"] == "downstream" and page["returned"] == 3 and page["truncated"]
        rest = structured(
            await client.call_tool("lineage_downstream", args | {"offset": 3, "limit": 500})
        )
        both = first["result"]["downstream"] + rest["result"]["downstream"]
        assert len(both) == page["total"] == rest["page"]["total"]
        assert len({n["node"] for n in both}) == len(both)

    with_client(server_for(sim_store), body)
