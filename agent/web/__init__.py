"""The web application: the tools' HTTP API plus the pages people use."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from tools.config import Settings
from tools.server.app import create_app
from tools.server.mcp import mount_mcp
from tools.store.db import Store
from tools.store.models import now_micros


def create_web_app(
    store: Store,
    settings: Settings | None = None,
    *,
    mcp: bool = False,
    enable_writes: bool = False,
    clock: Callable[[], int] = now_micros,
) -> FastAPI:
    """The app ``flowsleuth serve`` runs; the operator pages mount here as they land.

    ``mcp`` adds the MCP server (streamable HTTP, bearer tokens) at ``/mcp``.
    """
    app = create_app(store, settings)
    if mcp:
        mount_mcp(app, store, enable_writes=enable_writes, clock=clock)
    return app
