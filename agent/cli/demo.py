"""``flowsleuth demo``: a simulated MarTech stack breaks, and flowsleuth explains it.

Everything runs in-process on a fresh SQLite file: no server, no key. The simulated
telemetry goes through the same ingestion, detection, lineage and runbook code as real
input does.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TimeElapsedColumn

from agent.cli.context import CliState, console, fail, print_json, state
from agent.cli.simulate import build_config, default_end, print_scenarios
from agent.report import print_incident
from tools.incidents.investigate import investigate
from tools.runbooks import context_from_incident, list_proposals, propose
from tools.simulate import SimConfigError, list_scenarios
from tools.simulate.load import load_simulation
from tools.store import open_store, to_micros

DEFAULT_SCENARIO = "renamed_source_column"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="Fault to inject; see --list")] = DEFAULT_SCENARIO,
    list_: Annotated[bool, typer.Option("--list", help="List the fault scenarios")] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder for the demo store (default: a new temporary folder)"),
    ] = None,
    size: Annotated[int, typer.Option(help="Approximate number of nodes")] = 40,
    days: Annotated[int, typer.Option(help="Days of history")] = 21,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the investigation as JSON")
    ] = False,
) -> None:
    """Simulate a MarTech stack with one injected incident, then find and explain it."""
    if list_:
        print_scenarios()
        return
    if scenario not in {s.name for s in list_scenarios()}:
        fail(f"unknown scenario {scenario!r}; see flowsleuth demo --list")
    began = time.perf_counter()
    target = folder or Path(tempfile.mkdtemp(prefix="flowsleuth-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    db_path = target / "flowsleuth.db"
    if db_path.exists():
        fail(f"{db_path} exists; the demo starts from a fresh store (choose another --dir)")
    st = state(ctx)
    try:
        config = build_config(
            size=size,
            days=days,
            seed=seed,
            end=default_end(st.now),
            scenarios=[scenario],
            node=None,
            start=None,
        )
    except (SimConfigError, ValueError) as exc:
        fail(str(exc))
        raise
    store = open_store(f"sqlite:///{db_path}")
    if not as_json:
        console.print(
            f"[bold]flowsleuth demo[/]: simulating {days} days of a MarTech stack "
            f"(~{size} nodes) with one injected fault, into {db_path}"
        )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total} h",
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("simulating + ingesting telemetry", total=days * 24)
        summary, ingested = load_simulation(
            store, config, target, on_payload=lambda done, _t: bar.update(task, completed=done)
        )
    at_us = to_micros(config.end)
    with console.status("detecting, grouping, ranking root causes", spinner="dots"):
        doc = investigate(store, at_us)
        proposals = {}
        for inc in doc.incidents:
            proposals[inc.id] = propose(
                store, context_from_incident(store, inc.id), auto_apply=False, now_us=at_us
            )
    elapsed = time.perf_counter() - began
    if as_json:
        out = doc.as_json()
        for inc in out["incidents"]:
            inc["proposals"] = [
                p.model_dump(mode="json") for p in list_proposals(store, incident_id=inc["id"])
            ]
        out["truth"] = summary.truth
        out["elapsed_s"] = round(elapsed, 2)
        print_json(out)
        return
    counts = ", ".join(f"{v:,} {k}" for k, v in sorted(summary.counts.items()))
    console.print(
        f"ingested {ingested.accepted:,} items ({counts}); "
        f"{doc.anomalies_open} anomalies open, {len(doc.incidents)} incident(s)\n"
    )
    for inc in doc.incidents:
        print_incident(inc, proposals.get(inc.id, []), console=console)
    _truth(summary.truth_path)
    _next_steps(st, db_path, elapsed, doc.incidents[0].id if doc.incidents else None)


def _truth(path: Path) -> None:
    truth = json.loads(path.read_text())
    for t in truth:
        console.print(
            f"[dim]The simulator injected [bold]{t['kind']}[/bold] at {t['root']} "
            f"from {t['start']} ({t['scenario']}); see {path}[/]"
        )


def _next_steps(st: CliState, db_path: Path, elapsed: float, incident: int | None) -> None:
    db = f"--db {db_path}"
    lines = [
        f"Done in {elapsed:.1f} s. Try next:",
        f"  flowsleuth {db} investigate --json            # the same, as JSON",
        f"  flowsleuth {db} approvals list                # proposals waiting for a human",
        f"  flowsleuth {db} lineage impact <node>         # revenue downstream of any node",
        f"  flowsleuth {db} serve                         # HTTP API + OpenAPI docs at /docs",
        f"  flowsleuth {db} mcp                           # MCP server for your IDE assistant",
        "  flowsleuth demo --list                         # other faults to inject",
    ]
    if incident is not None:
        lines.insert(2, f"  flowsleuth {db} propose --incident {incident}      # remediation plan")
    console.print("\n".join(lines))
