"""``flowsleuth kpis``: the operator KPIs (the same figures as the web page and /metrics)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agent.cli.context import console, fail, print_json, state
from agent.web.kpis import DAY_US, compute_kpis


def register(app: typer.Typer) -> None:
    app.command("kpis")(kpis)


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.4g}{unit}"


def kpis(
    ctx: typer.Context,
    days: Annotated[float, typer.Option(help="Length of the trailing window in days")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """MTTD, MTTR, auto-remediation, duplicate profiles, schema drift, event loss, and
    campaigns with verified audience integrity, over the window ending now (or --at)."""
    if days <= 0:
        fail(f"--days must be positive, got {days}")
    st = state(ctx)
    result = compute_kpis(st.store, st.now_us, window_us=int(days * DAY_US))
    if as_json:
        print_json(result)
        return
    table = Table("KPI", "value")
    table.add_row("MTTD (onset -> detected)", _fmt(result.mttd_seconds, " s"))
    table.add_row("MTTR (opened -> resolved)", _fmt(result.mttr_seconds, " s"))
    table.add_row(
        "auto-remediated", f"{_fmt(result.auto_remediated_pct, '%')} of {result.applied_actions}"
    )
    table.add_row("duplicate profile rate", _fmt(result.duplicate_profile_rate))
    table.add_row("schema-drift incidents / month", _fmt(result.schema_drift_incidents_per_month))
    table.add_row("event loss rate", _fmt(result.event_loss_rate))
    table.add_row("campaigns verified", f"{result.campaigns_verified} / {result.campaigns_total}")
    console.print(table)
