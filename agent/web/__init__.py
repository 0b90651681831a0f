"""The web application: the tools' HTTP API plus the pages people use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI

from agent.slack.settings import SlackSettings, load_slack_settings
from agent.web.metrics import mount_metrics
from agent.web.operator import mount_operator
from tools.config import Settings
from tools.runbooks import default_executors
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.roles import ApprovalSettings, ApproverDirectory
from tools.server.app import create_app
from tools.server.mcp import mount_mcp
from tools.store.db import Store
from tools.store.models import now_micros

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def create_web_app(
    store: Store,
    settings: Settings | None = None,
    *,
    mcp: bool = False,
    enable_writes: bool = False,
    clock: Callable[[], int] = now_micros,
    executors: Callable[[], ExecutorRegistry] | None = None,
    slack: SlackSettings | None = None,
    chat_model: BaseChatModel | None = None,
) -> FastAPI:
    """The app ``flowsleuth serve`` runs: the API, the operator pages under ``/ui``
    (users from FLOWSLEUTH_WEB_USERS[_FILE]) and Prometheus KPIs at ``/metrics``.

    ``mcp`` adds the MCP server (streamable HTTP, bearer tokens) at ``/mcp``. The Slack
    app is added when ``slack`` (default: FLOWSLEUTH_SLACK_*) has a bot token; Slack users
    decide with the roles of the flowsleuth users they map to (web users and
    FLOWSLEUTH_APPROVALS_* alike). ``chat_model`` answers Slack questions when given.
    """
    app = create_app(store, settings)
    if mcp:
        mount_mcp(app, store, enable_writes=enable_writes, clock=clock)
    pages = mount_operator(app, store, clock=clock, executors=executors)
    mount_metrics(app, store, clock=clock)
    slack_settings = slack if slack is not None else load_slack_settings()
    if slack_settings.enabled:
        from agent.slack.mount import mount_slack  # Bolt and the agent, only when used

        directory = ApproverDirectory.from_settings(ApprovalSettings()).merged(pages.directory)
        mount_slack(
            app,
            store,
            slack_settings,
            directory=directory,
            executors=executors or default_executors,
            clock=clock,
            model=chat_model,
        )
    return app
