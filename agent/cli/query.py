"""Read-only commands: ``assets``, ``runs``, ``metrics``, ``deadletters``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agent.cli.context import console, fail, parse_node, print_json, state
from tools.ingest.deadletters import list_dead_letters, replay_dead_letters
from tools.ingest.replay import replayers
from tools.store.queries import UnknownNodeError, list_assets, list_runs, query_metrics

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def register(app: typer.Typer) -> None:
    app.command("assets")(assets)
    app.command("runs")(runs)
    app.command("metrics")(metrics)
    app.command("deadletters")(deadletters)


def assets(
    ctx: typer.Context,
    node_type: Annotated[str | None, typer.Option("--type", help="dataset or job")] = None,
    search: Annotated[str | None, typer.Option(help="Substring of namespace:name")] = None,
    limit: int = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Datasets and jobs known to the store, with their catalog context."""
    if node_type not in (None, "dataset", "job"):
        fail("--type must be 'dataset' or 'job'")
    rows = list_assets(state(ctx).store, node_type=node_type, search=search, limit=limit)
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    table = Table("node", "kind", "tier", "owner", "last seen")
    for r in rows:
        table.add_row(
            r.id,
            r.kind or "",
            "" if r.tier is None else str(r.tier),
            r.owner or "",
            r.last_seen or "",
        )
    console.print(table)


def runs(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="job:<ns>:<name> (or a dataset: its writers' runs)")],
    since: Annotated[str | None, typer.Option(help="ISO time or a duration back, e.g. 7d")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or a duration back")] = None,
    limit: int = 100,
    as_json: JsonOpt = False,
) -> None:
    """Runs of a job, newest first, with state, timing and error message."""
    st = state(ctx)
    try:
        rows = list_runs(
            st.store,
            parse_node(node),
            since_us=st.time_us(since, "--since"),
            until_us=st.time_us(until, "--until"),
            limit=limit,
        )
    except UnknownNodeError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    table = Table("run", "state", "started", "ended", "error")
    for r in rows:
        table.add_row(
            r.run_id, r.state, r.started_at or "", r.ended_at or "", (r.error_message or "")[:80]
        )
    console.print(table)


def metrics(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="dataset:<ns>:<name>")],
    name: Annotated[str | None, typer.Option(help="Metric name, e.g. data.null_fraction")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or a duration back, e.g. 7d")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or a duration back")] = None,
    max_points: int = 10_000,
    as_json: JsonOpt = False,
) -> None:
    """Metric series of a node with their points."""
    st = state(ctx)
    try:
        rows = query_metrics(
            st.store,
            parse_node(node),
            name=name,
            since_us=st.time_us(since, "--since"),
            until_us=st.time_us(until, "--until"),
            max_points=max_points,
        )
    except UnknownNodeError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    table = Table("metric", "attributes", "points", "last", "last value")
    for s in rows:
        last = s.points[-1] if s.points else None
        table.add_row(
            s.name,
            ", ".join(f"{k}={v}" for k, v in s.attributes.items()),
            str(len(s.points)),
            last.ts if last else "",
            f"{last.value:g}" if last else "",
        )
    console.print(table)


def deadletters(
    ctx: typer.Context,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Feed pending dead letters back "
            "through ingestion; the accepted ones are marked replayed",
        ),
    ] = False,
    pending: Annotated[bool, typer.Option("--pending", help="Only those not replayed")] = False,
    limit: int = 100,
    as_json: JsonOpt = False,
) -> None:
    """Rejected input with its reason; ``--replay`` retries it."""
    st = state(ctx)
    if replay:
        counts = replay_dead_letters(st.store, replayers(st.store, st.now_us))
        if as_json:
            print_json(counts)
        else:
            console.print(", ".join(f"{k} {v}" for k, v in counts.items()))
        return
    rows = list_dead_letters(st.store, pending_only=pending, limit=limit)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    table = Table("id", "source", "received", "reason", "origin", "replayed")
    for r in rows:
        table.add_row(
            str(r.id),
            r.source,
            r.received_at or "",
            r.reason[:100],
            r.origin or "",
            r.replayed_at or "",
        )
    console.print(table)
