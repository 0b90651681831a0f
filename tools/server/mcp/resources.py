"""Resources: the telemetry contract, incidents and playbooks, as documents to read.

Resources are what an IDE shows a person or attaches to a conversation; the tools remain
the way to query. Documents are bounded by the same budget as tool results.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from tools.incidents import UnknownIncidentError, get_incident, list_incidents
from tools.server.mcp.contract import contract_text
from tools.server.mcp.incidents import INCIDENT_SCAN, summarize
from tools.server.mcp.registry import ToolDeps
from tools.server.mcp.runbooks import summarize_playbook

JSON = "application/json"


def register_resources(server: MCPServer, deps: ToolDeps, families: Collection[str]) -> None:
    @server.resource(
        "flowsleuth://contract",
        name="telemetry-contract",
        title="Telemetry contract",
        description="What flowsleuth ingests (OpenLineage, OTLP, dbt, catalog), node ids, "
        "metric names and the fault-kind vocabulary",
        mime_type="text/markdown",
    )
    def contract() -> str:
        return contract_text()

    if "incidents" in families:
        _incidents(server, deps)
    if "runbooks" in families:
        _playbooks(server, deps)


def _dump(deps: ToolDeps, value: BaseModel) -> str:
    return deps.budget.single(value).model_dump_json(by_alias=True)


def _incidents(server: MCPServer, deps: ToolDeps) -> None:
    @server.resource(
        "flowsleuth://incidents",
        name="open-incidents",
        title="Open incidents",
        description="Open incidents, most severe and most costly first",
        mime_type=JSON,
    )
    def open_incidents() -> str:
        views = list_incidents(deps.store, status="open", limit=INCIDENT_SCAN)
        page = deps.budget.page([summarize(v) for v in views], offset=0, limit=INCIDENT_SCAN)
        return page.model_dump_json()

    @server.resource(
        "flowsleuth://incidents/{incident_id}",
        name="incident",
        title="Incident",
        description="One incident: symptoms, root causes with evidence, blast radius",
        mime_type=JSON,
    )
    def incident(incident_id: str) -> str:
        try:
            view = get_incident(deps.store, int(incident_id))
        except (ValueError, UnknownIncidentError):
            raise ResourceNotFoundError(f"no incident {incident_id!r}") from None
        return _dump(deps, view)


def _playbooks(server: MCPServer, deps: ToolDeps) -> None:
    @server.resource(
        "flowsleuth://playbooks",
        name="playbooks",
        title="Playbooks",
        description="Remediation playbooks: triggers, actions and base risk tiers",
        mime_type=JSON,
    )
    def playbooks() -> str:
        loaded = deps.playbooks()
        items = [summarize_playbook(b) for b in loaded.playbooks]
        return deps.budget.page(items, offset=0, limit=len(items) or 1).model_dump_json()

    @server.resource(
        "flowsleuth://playbooks/{playbook_id}",
        name="playbook",
        title="Playbook",
        description="One playbook in full, as loaded from playbooks/",
        mime_type=JSON,
    )
    def playbook(playbook_id: str) -> str:
        for book in deps.playbooks().playbooks:
            if book.id == playbook_id:
                return _dump(deps, book)
        raise ResourceNotFoundError(f"no playbook {playbook_id!r}")
