"""``flowsleuth serve``: the HTTP server (ingestion, queries, and later the web app)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.context import console, fail, state

if TYPE_CHECKING:
    from agent.slack.settings import SlackSettings


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
    """Serve OpenLineage (/api/v1/lineage) and OTLP/HTTP (/v1/metrics|logs|traces) with
    bearer tokens from FLOWSLEUTH_INGEST_TOKENS[_FILE], the API, the operator pages (/ui)
    and MCP (/mcp; bearer tokens from FLOWSLEUTH_MCP_TOKENS or FLOWSLEUTH_MCP_TOKENS_FILE)."""
    import uvicorn

    from agent.llm import LLMConfigError, chat_model_from_env
    from agent.slack.settings import SlackConfigError, load_slack_settings
    from agent.web import create_web_app
    from agent.web.auth import WebConfigError
    from tools.server.tokens import TokenConfigError

    st = state(ctx)
    try:
        slack = load_slack_settings()
        app = create_web_app(
            st.store,
            st.settings,
            mcp=mcp,
            enable_writes=enable_writes,
            clock=lambda: st.now_us,
            slack=slack,
            # Slack questions are answered by chat mode when a model is configured.
            chat_model=chat_model_from_env() if slack.enabled else None,
        )
    except (TokenConfigError, WebConfigError, SlackConfigError, LLMConfigError) as exc:
        # Ingestion and MCP tokens, web users, Slack, LLM: a config mistake, not a crash.
        fail(str(exc))
        raise
    console.print(
        f"flowsleuth serving on http://{host}:{port}  (store: "
        f"{st.store.engine.url.render_as_string(hide_password=True)}; docs at /docs"
        f"{'; MCP at /mcp' if mcp else ''}{_slack_note(slack)})"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def _slack_note(slack: SlackSettings) -> str:
    if not slack.enabled:
        return ""
    modes = (["/slack/events"] if slack.signing_secret else []) + (
        ["Socket Mode"] if slack.socket_mode else []
    )
    return f"; Slack app via {' and '.join(modes)}"
