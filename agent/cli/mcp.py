"""``flowsleuth mcp``: the MCP server on stdio, for IDE assistants and the agent.

stdout carries the protocol, so nothing else may print there: messages go to stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.context import err_console, state
from tools.server.mcp import FAMILIES, build_mcp_server


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def mcp(
    ctx: typer.Context,
    enable_writes: Annotated[
        bool,
        typer.Option(
            "--enable-writes",
            envvar="FLOWSLEUTH_MCP_ENABLE_WRITES",
            help="Offer the tools that propose remediation, request approval and apply "
            "low-risk actions (read-only without it)",
        ),
    ] = False,
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools", help=f"Tool families to offer, comma-separated: {', '.join(FAMILIES)}"
        ),
    ] = None,
    disable: Annotated[
        str | None, typer.Option("--disable", help="Tools to leave out, comma-separated")
    ] = None,
) -> None:
    """Serve flowsleuth's MCP tools, resources and prompts on stdio."""
    st = state(ctx)
    try:
        server = build_mcp_server(
            st.store,
            enable_writes=enable_writes,
            families=_names(tools),
            disabled=_names(disable),
            clock=lambda: st.now_us,  # --at replays history
        )
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    server.run("stdio")
