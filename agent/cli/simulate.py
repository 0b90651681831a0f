"""``flowsleuth simulate``: a MarTech stack and its telemetry, with faults on request."""

from __future__ import annotations

import json
import tempfile
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TimeElapsedColumn
from rich.table import Table

from agent.cli.context import console, fail, print_json, state
from tools.simulate import (
    FaultSpec,
    SendError,
    SimConfig,
    SimConfigError,
    SimSummary,
    list_scenarios,
    send_simulation,
    write_simulation,
)
from tools.simulate.load import SimulationRejectedError, load_simulation
from tools.timeutil import parse_timestamp


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def default_end(now: datetime) -> datetime:
    """The last whole hour before now: simulated history ends where the present starts."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def build_config(
    *,
    size: int,
    days: int,
    seed: int,
    end: datetime,
    scenarios: list[str],
    node: str | None,
    start: str | None,
) -> SimConfig:
    start_at = parse_timestamp(start) if start else None
    faults = [FaultSpec(name, node=node, start=start_at) for name in scenarios]
    return SimConfig(end=end, seed=seed, size=size, days=days, scenarios=faults)


def print_scenarios() -> None:
    table = Table("scenario", "kind", "where", "what happens")
    for s in list_scenarios():
        table.add_row(s.name, s.kind, s.target, s.description)
    console.print(table)


def simulate(
    ctx: typer.Context,
    size: Annotated[int, typer.Option(help="Approximate number of nodes (12 to 10,000+)")] = 40,
    days: Annotated[int, typer.Option(help="Days of history")] = 21,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same output)")] = 7,
    end: Annotated[
        str | None,
        typer.Option(
            help="End of the period, ISO 8601 on a whole "
            "hour (default: the last whole hour before now / --at)"
        ),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="Fault scenario to inject (repeatable); see --list"),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(help="Node to inject the fault at (default: the scenario's usual place)"),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Fault start, ISO 8601 (default: 36 hours before the end)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write files (OpenLineage JSON lines, "
            "OTLP/JSON, catalog.yaml, truth.json) to this folder"
        ),
    ] = None,
    send: Annotated[
        str | None,
        typer.Option(help="POST to a running flowsleuth serve, e.g. http://127.0.0.1:8080"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FLOWSLEUTH_INGEST_TOKEN",
            help="Ingestion token of the server --send posts to",
            show_default=False,
        ),
    ] = None,
    ingest: Annotated[
        bool,
        typer.Option(
            "--ingest",
            help="Ingest straight into the store "
            "(--db); files still go to --out or a temporary folder",
        ),
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the fault scenarios")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Simulate a MarTech stack (sources -> warehouse -> identity -> audiences ->
    activations -> campaigns) and its telemetry, optionally with injected faults."""
    if list_:
        if as_json:
            print_json(
                [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "target": s.target,
                        "description": s.description,
                    }
                    for s in list_scenarios()
                ]
            )
        else:
            print_scenarios()
        return
    if send and ingest:
        fail("choose one of --send and --ingest")
    if not (out or send or ingest):
        fail("say where the telemetry goes: --out DIR, --send URL or --ingest")
    st = state(ctx)
    try:
        end_at = parse_timestamp(end) if end else default_end(st.now)
        config = build_config(
            size=size,
            days=days,
            seed=seed,
            end=end_at,
            scenarios=scenario or [],
            node=node,
            start=start,
        )
        if send:
            summary = send_simulation(config, send, out_dir=out, token=token)
        elif ingest:
            folder = out or Path(tempfile.mkdtemp(prefix="flowsleuth-sim-"))
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                "{task.completed}/{task.total} h",
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=as_json,
            ) as bar:
                task = bar.add_task("simulating and ingesting", total=days * 24)
                summary, _ = load_simulation(
                    st.store,
                    config,
                    folder,
                    on_payload=lambda done, _total: bar.update(task, completed=done),
                )
        else:
            assert out is not None
            with console.status("simulating", spinner="dots") if not as_json else nullcontext():
                summary = write_simulation(config, out)
    except (SimConfigError, ValueError) as exc:
        fail(str(exc))
        raise
    except (SendError, SimulationRejectedError) as exc:
        fail(str(exc), code=1)
        raise
    _report(summary, as_json)


def _report(summary: SimSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_json())
        return
    console.print(
        f"simulated {summary.nodes} nodes in {summary.elapsed_s:.1f} s "
        f"(peak memory {summary.peak_rss_mb:.0f} MB)"
    )
    for kind, count in sorted(summary.counts.items()):
        console.print(f"  {kind:<14} {count:>12,}")
    console.print(f"catalog: {summary.catalog_path}\ntruth:   {summary.truth_path}")
    if summary.truth:
        console.print(
            json.dumps(
                [{k: t[k] for k in ("scenario", "root", "kind", "start")} for t in summary.truth],
                indent=2,
            )
        )
