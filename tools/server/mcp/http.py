"""The MCP server on streamable HTTP at ``/mcp`` inside ``flowsleuth serve``'s app.

Every request needs a bearer token from the configured set (no tokens configured: every
request is refused with 401). Host and Origin headers are checked against loopback plus
``FLOWSLEUTH_MCP_ALLOWED_HOSTS`` / ``..._ORIGINS`` (DNS-rebinding protection), so a
deployment behind a name must list that name. The transport is stateless with JSON
responses: any number of ``flowsleuth serve`` processes can answer any request.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from tools.server.lifespan import chain_lifespan
from tools.server.mcp.auth import McpSettings, StaticTokenVerifier, load_tokens, split_list
from tools.server.mcp.server import build_mcp_server
from tools.store.db import Store

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def transport_security(settings: McpSettings) -> TransportSecuritySettings:
    hosts = split_list(settings.allowed_hosts)
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*LOOPBACK_HOSTS, *hosts],
        allowed_origins=[*LOOPBACK_ORIGINS, *split_list(settings.allowed_origins)],
    )


def mount_mcp(
    app: FastAPI,
    store: Store,
    *,
    enable_writes: bool = False,
    settings: McpSettings | None = None,
    **server_options: Any,
) -> MCPServer:
    """Serve flowsleuth's MCP server at ``/mcp`` of ``app`` and run its session manager
    with the app's lifespan. Raises TokenConfigError for unusable token configuration."""
    cfg = settings or McpSettings()
    verifier = StaticTokenVerifier(load_tokens(cfg))
    if not verifier.count:
        log.warning(
            "MCP at %s: no tokens configured (FLOWSLEUTH_MCP_TOKENS or "
            "FLOWSLEUTH_MCP_TOKENS_FILE); every request will be refused",
            MCP_PATH,
        )
    server = build_mcp_server(
        store,
        enable_writes=enable_writes,
        token_verifier=verifier,
        # The issuer is only advertised with OAuth metadata, which static tokens do not
        # publish (no resource_server_url); the field is required all the same.
        auth=AuthSettings(
            issuer_url="http://127.0.0.1", resource_server_url=None, required_scopes=["read"]
        ),
        **server_options,
    )
    mcp_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(cfg),
    )
    # The MCP app (auth middleware, transport) answers this one path; FastAPI keeps the rest.
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp_app))
    chain_lifespan(app, server.session_manager.run)
    return server


__all__ = ["MCP_PATH", "mount_mcp", "transport_security"]
