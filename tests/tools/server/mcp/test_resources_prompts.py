"""Resources (contract, incidents, playbooks) and prompts, through the MCP client."""

from __future__ import annotations

import json

import pytest
from mcp import Client, MCPError

from tests.tools.server.mcp.support import CRM, NOW_US, Facts, with_client
from tools.faults import FAULT_KINDS
from tools.server.mcp import build_mcp_server
from tools.store import Store


def test_resources_list_and_read(sim_store: Store, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        static = {str(r.uri) for r in (await client.list_resources()).resources}
        assert static == {"flowsleuth://contract", "flowsleuth://incidents",
                          "flowsleuth://playbooks"}
        templates = {t.uri_template for t in (await client.list_resource_templates())
                     .resource_templates}
        assert templates == {"flowsleuth://incidents/{incident_id}",
                             "flowsleuth://playbooks/{playbook_id}"}

        contract = (await client.read_resource("flowsleuth://contract")).contents[0]
        text = contract.text  # type: ignore[union-attr]
        assert "dataset:<namespace>:<name>" in text and all(k in text for k in FAULT_KINDS)

        listing = json.loads(
            (await client.read_resource("flowsleuth://incidents")).contents[0].text  # type: ignore[union-attr]
        )
        assert {i["id"] for i in listing["items"]} == {
            sim_facts.schema_incident, sim_facts.job_incident
        }
        one = json.loads(
            (await client.read_resource(f"flowsleuth://incidents/{sim_facts.schema_incident}"))
            .contents[0].text  # type: ignore[union-attr]
        )
        assert one["result"]["root_causes"][0]["node"] == CRM

        book = json.loads(
            (await client.read_resource("flowsleuth://playbooks/job_failure_retry"))
            .contents[0].text  # type: ignore[union-attr]
        )
        assert book["result"]["trigger"]["fault_kinds"] == ["job_failure"]

        for missing in ("flowsleuth://incidents/999", "flowsleuth://playbooks/nope"):
            with pytest.raises(MCPError, match=r"no (incident|playbook)"):
                await client.read_resource(missing)

    with_client(build_mcp_server(sim_store, clock=lambda: NOW_US), body)


def test_prompts_guide_through_the_enabled_tools(sim_store: Store, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        names = {p.name for p in (await client.list_prompts()).prompts}
        assert names == {"investigate_incident", "explain_anomaly", "assess_blast_radius"}

        got = await client.get_prompt(
            "investigate_incident", {"incident_id": str(sim_facts.schema_incident)}
        )
        text = got.messages[0].content.text  # type: ignore[union-attr]
        assert "schema drift at crm/contacts" in text and "schema_drift at " + CRM in text
        assert f"root_cause_candidates(incident_id={sim_facts.schema_incident})" in text
        # get_schema_versions is disabled, so the prompt does not send the assistant there.
        assert "get_schema_versions" not in text and "propose_remediation" not in text

        anomaly = {"anomaly_id": str(sim_facts.null_anomaly)}
        got = await client.get_prompt("explain_anomaly", anomaly)
        text = got.messages[0].content.text  # type: ignore[union-attr]
        assert "null_spike on dataset:snowflake" in text and "query_metrics(" in text

        got = await client.get_prompt("assess_blast_radius", {"node": CRM})
        assert f"assess_impact(node='{CRM}')" in got.messages[0].content.text  # type: ignore[union-attr]

        for name, args, message in (
            ("investigate_incident", {"incident_id": "999"}, "unknown incident 999"),
            ("investigate_incident", {"incident_id": "one"}, "whole number"),
            ("explain_anomaly", {"anomaly_id": "999"}, "no anomaly 999"),
            ("assess_blast_radius", {"node": "dataset:x:y"}, "unknown node"),
        ):
            with pytest.raises(MCPError, match=message):
                await client.get_prompt(name, args)

    server = build_mcp_server(sim_store, clock=lambda: NOW_US, disabled=["get_schema_versions"])
    with_client(server, body)
