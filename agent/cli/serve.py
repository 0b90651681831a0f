"""``flowsleuth serve``: the HTTP server (ingestion, queries, and later the web app)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.context import console, fail, state


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    mcp: Annotated[
        bool, typer.Option("--mcp/--no-mcp", help="Serve MCP (streamable HTTP) at /mcp")
    ] = True,
    enable_writes: Annotated[
        bool,
        typer.Option(
            "--enable-writes",
            envvar="FLOWSLEUTH_MCP_ENABLE_WRITES",
            help="Offer MCP tools that propose remediation and request approval",
        ),
    ] = False,
) -> None:
    """Serve OpenLineage (/api/v1/lineage), OTLP/HTTP (/v1/metrics|logs|traces), the API
    and MCP (/mcp; bearer tokens from FLOWSLEUTH_MCP_TOKENS or FLOWSLEUTH_MCP_TOKENS_FILE)."""
    import uvicorn

    from agent.web import create_web_app
    from tools.server.mcp import TokenConfigError

    st = state(ctx)
    try:
        app = create_web_app(
            st.store, st.settings, mcp=mcp, enable_writes=enable_writes, clock=lambda: st.now_us
        )
    except TokenConfigError as exc:
        fail(str(exc))
        raise
    console.print(
        f"flowsleuth serving on http://{host}:{port}  (store: "
        f"{st.store.engine.url.render_as_string(hide_password=True)}; docs at /docs"
        f"{'; MCP at /mcp' if mcp else ''})"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
