"""The root Typer app: global options and the command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli import (
    ask,
    demo,
    detect,
    incidents,
    ingest,
    kpis,
    lineage,
    mcp,
    query,
    runbooks,
    serve,
    simulate,
    slack,
)
from agent.cli.context import CliState, fail
from tools.config import Settings
from tools.timeutil import parse_timestamp

app = typer.Typer(
    name="flowsleuth",
    help="Find, explain and fix leaks in MarTech data pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store URL or SQLite file path (default: $FLOWSLEUTH_DB or ./flowsleuth.db)",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Treat this ISO 8601 time as 'now' (replay history)")
    ] = None,
) -> None:
    settings = Settings()
    if db:
        settings.db = db
    if at:
        try:
            settings.at = parse_timestamp(at)
        except ValueError as exc:
            fail(f"--at: {exc}")
    ctx.obj = CliState(settings)


app.add_typer(ingest.app, name="ingest")
app.add_typer(lineage.app, name="lineage")
app.add_typer(detect.app, name="detect")
detect.register(app)  # slo, profile
query.register(app)
serve.register(app)
simulate.register(app)
runbooks.register(app)
mcp.register(app)
demo.register(app)
incidents.register(app)
ask.register(app)
kpis.register(app)
slack.register(app)


def main() -> None:
    app()
