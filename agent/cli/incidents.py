"""``flowsleuth incidents`` and ``flowsleuth investigate``: incidents as of a moment."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.context import console, fail, print_json, state
from agent.report import print_incident
from tools.incidents import UnknownIncidentError, list_incidents
from tools.incidents.investigate import investigate as run_investigation
from tools.timeutil import parse_timestamp

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Investigate as of this ISO time")]


def register(app: typer.Typer) -> None:
    app.command("incidents")(incidents)
    app.command("investigate")(investigate)


def _at(ctx: typer.Context, at: str | None) -> int:
    st = state(ctx)
    if at:
        try:
            st.settings.at = parse_timestamp(at)
        except ValueError as exc:
            fail(f"--at: {exc}")
    return st.now_us


def incidents(
    ctx: typer.Context,
    at: AtOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Detect as of --at, group anomalies into incidents, list them (most severe first)."""
    now = _at(ctx, at)
    st = state(ctx)
    run_investigation(st.store, now)
    rows = list_incidents(st.store, status=None if all_ else "open")
    if as_json:
        print_json({"incidents": [r.model_dump(mode="json") for r in rows]})
        return
    if not rows:
        console.print("no open incidents")
    for r in rows:
        top = r.root_causes[0] if r.root_causes else None
        cause = f"{top.kind} at {top.node} ({top.confidence:.0%})" if top else "cause unknown"
        console.print(
            f"[bold]#{r.id}[/] [{r.severity}] {r.title}\n    {cause}; "
            f"{len(r.symptoms)} symptoms, ${r.revenue_at_risk_per_day:,.0f}/day at risk"
        )


def investigate(
    ctx: typer.Context,
    at: AtOpt = None,
    incident: Annotated[int | None, typer.Option("--incident", help="Only this incident")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Detect as of --at, group, rank root causes and size the blast radius."""
    now = _at(ctx, at)
    st = state(ctx)
    try:
        doc = run_investigation(st.store, now, incident_id=incident)
    except UnknownIncidentError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json(doc.as_json())
        return
    if not doc.incidents:
        console.print(f"no incidents as of {doc.at} ({doc.anomalies_open} open anomalies)")
    for inc in doc.incidents:
        print_incident(inc)
