"""The web application: the tools' HTTP API plus the pages people use."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from agent.web.metrics import mount_metrics
from agent.web.operator import mount_operator
from tools.config import Settings
from tools.runbooks.executors import ExecutorRegistry
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
    executors: Callable[[], ExecutorRegistry] | None = None,
) -> FastAPI:
    """The app ``flowsleuth serve`` runs: the API, the operator pages under ``/ui``
    (users from FLOWSLEUTH_WEB_USERS[_FILE]) and Prometheus KPIs at ``/metrics``.

    ``mcp`` adds the MCP server (streamable HTTP, bearer tokens) at ``/mcp``.
    """
    app = create_app(store, settings)
    if mcp:
        mount_mcp(app, store, enable_writes=enable_writes, clock=clock)
    mount_operator(app, store, clock=clock, executors=executors)
    mount_metrics(app, store, clock=clock)
    return app
