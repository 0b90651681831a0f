"""The MCP servers chat mode talks to: flowsleuth's own (in-process, or ``flowsleuth mcp``
on stdio) and any extra ones configured in ``FLOWSLEUTH_CHAT_MCP_SERVERS``.

The variable holds a JSON object in the usual MCP client format::

    {"mcpServers": {"warehouse": {"url": "https://mcp.example.com/mcp"},
                    "dbt": {"command": "dbt-mcp", "args": ["--read-only"]}}}
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from fastmcp.client.transports import StdioTransport
from fastmcp.mcp_config import MCPConfig
from mcp.server.mcpserver import MCPServer
from pydantic import ValidationError

from tools.server.mcp import build_mcp_server
from tools.store.db import Store
from tools.store.models import now_micros

ENV_VAR = "FLOWSLEUTH_CHAT_MCP_SERVERS"


class ChatConfigError(ValueError):
    """Chat mode's server configuration is unusable; the message names the problem."""


def extra_servers(raw: str | None = None) -> dict[str, Any] | None:
    """The configured extra servers as an MCP config dict, or None when there are none."""
    text = raw if raw is not None else os.environ.get(ENV_VAR)
    if not text or not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChatConfigError(f"{ENV_VAR} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ChatConfigError(f"{ENV_VAR} must be a JSON object of MCP servers")
    try:
        config = MCPConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ChatConfigError(f"{ENV_VAR}: {where}: {first['msg']}") from None
    if not config.mcpServers:
        return None
    return config.model_dump(exclude_none=True)


def own_server(store: Store, clock: Callable[[], int] = now_micros) -> MCPServer:
    """flowsleuth's server in-process. Writes are on so ``propose_remediation`` exists;
    chat binds only the tools :mod:`agent.chat.tools` allows."""
    return build_mcp_server(store, enable_writes=True, clock=clock)


def own_stdio(db_url: str, at: str | None = None) -> StdioTransport:
    """``flowsleuth mcp`` as a subprocess on stdio (the same server, another process)."""
    args = ["-m", "agent", "--db", db_url]
    if at:
        args += ["--at", at]
    return StdioTransport(
        command=sys.executable,
        args=[*args, "mcp", "--enable-writes"],
        env=dict(os.environ),
        keep_alive=False,
    )


__all__ = ["ENV_VAR", "ChatConfigError", "extra_servers", "own_server", "own_stdio"]
