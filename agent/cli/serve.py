"""``flowsleuth serve``: the HTTP server (ingestion, queries, and later the web app)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.context import console, state


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve OpenLineage (/api/v1/lineage), OTLP/HTTP (/v1/metrics|logs|traces) and the API."""
    import uvicorn

    from agent.web import create_web_app

    st = state(ctx)
    app = create_web_app(st.store, st.settings)
    console.print(
        f"flowsleuth serving on http://{host}:{port}  (store: "
        f"{st.store.engine.url.render_as_string(hide_password=True)}; docs at /docs)"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
