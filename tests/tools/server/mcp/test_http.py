"""MCP over streamable HTTP inside a real ``flowsleuth serve`` process: bearer tokens and
scopes, Host checks, every read tool, and the legacy (handshake) protocol IDEs speak."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agent.web import create_web_app
from tests.live_server import LiveServer, live_server
from tests.tools.server.mcp.calls import run_bad_calls, run_read_calls
from tests.tools.server.mcp.support import Facts, structured, with_client
from tools.server.mcp.auth import McpSettings, StaticTokenVerifier, load_tokens
from tools.store import Store

READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
TOKENS = [
    {"token": READ, "client_id": "ide", "scopes": ["read"]},
    {"token": WRITE, "client_id": "ops-agent", "scopes": ["write"]},
]


@pytest.fixture(scope="module")
def server(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # A private copy: write tools run in here.
    copy = tmp_path_factory.mktemp("mcp-http") / "copy.db"
    shutil.copyfile(Path(sim_url.removeprefix("sqlite:///")), copy)
    with live_server(
        f"sqlite:///{copy}",
        ("FLOWSLEUTH_MCP_TOKENS", json.dumps(TOKENS)),
        ("FLOWSLEUTH_MCP_ENABLE_WRITES", "1"),
        ("FLOWSLEUTH_AT", "2026-03-02T12:00:00Z"),
    ) as live:
        yield live


def _client(server: LiveServer, token: str | None, **options: object) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    return Client(
        streamable_http_client(f"{server.url}/mcp", http_client=http),
        **options,  # type: ignore[arg-type]
    )


def test_requests_without_a_valid_token_get_401(server: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer not-a-token-at-all-000"}):
        response = httpx.post(f"{server.url}/mcp", json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The rest of the server does not need a token.
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_foreign_host_header_is_refused(server: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(
        f"{server.url}/mcp",
        json=body,
        headers={"Authorization": f"Bearer {READ}", "Host": "attacker.example"},
    )
    assert response.status_code == 421


def test_read_token_reads_everything_and_cannot_write(
    server: LiveServer, sim_facts: Facts
) -> None:
    async def body(client: Client) -> None:
        offered = {t.name for t in (await client.list_tools()).tools}
        assert "propose_remediation" not in offered  # write tools are not shown
        assert await run_read_calls(client, sim_facts) == offered
        await run_bad_calls(client)
        for tool, args in (
            ("propose_remediation", {"incident_id": sim_facts.schema_incident}),
            ("request_approval", {"proposal_id": min(sim_facts.proposals.values())}),
            ("apply_low_risk_proposal", {"proposal_id": sim_facts.proposals["notify_owner"]}),
        ):
            refused = await client.call_tool(tool, args)
            assert refused.is_error, tool
            text = refused.content[0].text  # type: ignore[union-attr]
            assert "needs the 'write' scope" in text and "ide" in text

    with_client(_client(server, READ), body)


def test_write_token_sees_and_calls_write_tools(server: LiveServer, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        offered = {t.name for t in (await client.list_tools()).tools}
        assert {"propose_remediation", "request_approval", "run_detection"} <= offered
        high = sim_facts.proposals["fallback_audience_snapshot"]
        asked = structured(
            await client.call_tool("request_approval", {"proposal_id": high, "note": "please"})
        )["result"]
        assert asked["requested_by"] == "mcp:ops-agent" and asked["tier"] == "high"
        refused = await client.call_tool("apply_low_risk_proposal", {"proposal_id": high})
        assert refused.is_error and "high risk" in refused.content[0].text  # type: ignore[union-attr]

    with_client(_client(server, WRITE), body)


def test_legacy_handshake_clients_work_too(server: LiveServer, sim_facts: Facts) -> None:
    async def body(client: Client) -> None:
        assert client.protocol_version != "2026-07-28"
        offered = {t.name for t in (await client.list_tools()).tools}
        assert "get_incident" in offered and "request_approval" not in offered
        data = structured(
            await client.call_tool("get_incident", {"incident_id": sim_facts.schema_incident})
        )
        assert data["result"]["id"] == sim_facts.schema_incident

    with_client(_client(server, READ, mode="legacy"), body)


def test_tokens_come_from_a_file_too(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"- token: {WRITE}\n  client_id: bot\n  scopes: [write]\n")
    entries = load_tokens(McpSettings(tokens_file=path))
    assert [(e.client_id, e.scopes) for e in entries] == [("bot", ["write"])]
    assert StaticTokenVerifier(entries).count == 1


def test_create_web_app_mounts_mcp_only_when_asked(sim_store: Store) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with TestClient(create_web_app(sim_store), base_url="http://127.0.0.1") as plain:
        assert plain.post("/mcp", json=body).status_code == 404
    app = create_web_app(sim_store, mcp=True)
    # The MCP session manager runs with the app's own lifespan.
    with TestClient(app, base_url="http://127.0.0.1") as web:
        assert web.post("/mcp", json=body).status_code == 401
        assert web.get("/healthz").status_code == 200

