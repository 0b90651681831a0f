"""flowsleuth's MCP server: telemetry, lineage, incident and runbook tools for assistants.

- :func:`build_mcp_server`: the server over a store (stdio: ``flowsleuth mcp``).
- :func:`mount_mcp`: the same server on streamable HTTP at ``/mcp`` of a FastAPI app
  (``flowsleuth serve``), with bearer tokens and Host/Origin checks.
- :data:`FAMILIES`: the tool families (``telemetry``, ``lineage``, ``incidents``,
  ``runbooks``) that ``--tools`` selects.
"""

from tools.server.mcp.auth import McpSettings, StaticTokenVerifier, TokenConfigError, load_tokens
from tools.server.mcp.budget import DEFAULT_BUDGET_TOKENS, Budget, Page, PageInfo, Result
from tools.server.mcp.http import MCP_PATH, mount_mcp
from tools.server.mcp.server import FAMILIES, build_mcp_server

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "FAMILIES",
    "MCP_PATH",
    "Budget",
    "McpSettings",
    "Page",
    "PageInfo",
    "Result",
    "StaticTokenVerifier",
    "TokenConfigError",
    "build_mcp_server",
    "load_tokens",
    "mount_mcp",
]
