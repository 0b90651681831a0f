"""``flowsleuth detect``, ``detect series``, ``slo`` and ``profile``: thin adapters over
``tools.detect``; ``--json`` prints what the APIs return."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from agent.cli.context import console, fail, print_json, state
from tools.anomalies import AnomalyView, sync_anomalies
from tools.detect import DetectInputError
from tools.detect.csvseries import analyse_series_file
from tools.detect.engine import detect_report
from tools.detect.profile import ProfileError, profile_table
from tools.detect.settings import DetectSettingsError, load_detect_settings
from tools.detect.slo import slo_status
from tools.nodes import NodeIdError, NodeRef
from tools.timeutil import iso

app = typer.Typer(
    help="Detect anomalies across the store (as of now or --at) and persist them; "
    "'detect series FILE.csv' scores one CSV series.",
    invoke_without_command=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Detect as of this ISO 8601 time or a duration back, e.g. 6h "
                 "(also the global --at)"),
]


@app.callback()
def detect(ctx: typer.Context, at: AtOpt = None, as_json: JsonOpt = False) -> None:
    """Run every detector on the data up to now (or --at), update the anomalies table and
    print the anomalies open afterwards."""
    if ctx.invoked_subcommand is not None:
        return
    st = state(ctx)
    at_us = st.time_us(at, "--at") if at else st.now_us
    assert at_us is not None
    try:
        report = detect_report(st.store, at_us, load_detect_settings())
    except DetectSettingsError as exc:
        fail(str(exc))
        raise
    open_now = sync_anomalies(st.store, report.detections, at_us)
    if as_json:
        print_json({"at": iso(at_us), "run": report.as_json(),
                    "anomalies": [a.model_dump() for a in open_now]})
        return
    _anomaly_table(open_now, f"open anomalies as of {iso(at_us)}")
    console.print(f"{len(report.detections)} detection(s) from {report.series_scored} scored "
                  f"series in {report.total_seconds:.2f}s")


def _anomaly_table(rows: list[AnomalyView], title: str) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    table.add_column("severity", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("onset", no_wrap=True)
    table.add_column("node", overflow="fold")
    table.add_column("what", overflow="fold")
    for a in rows:
        # Text, not str: a node such as dataset:snowflake://... must not turn into an emoji.
        table.add_row(a.severity, a.kind, a.onset[:16], Text(a.node), Text(a.summary))
    console.print(table)


@app.command("series")
def series(
    path: Annotated[Path, typer.Argument(help="CSV of timestamp,value rows (header optional)")],
    as_json: JsonOpt = False,
) -> None:
    """Score one CSV series with the seasonal robust baseline and list its anomalies."""
    try:
        report = analyse_series_file(path)
    except DetectInputError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json(report.as_json())
        return
    for issue in report.diagnostics.issues:
        console.print(f"[yellow]{issue.code}:[/] {issue.message}")
    if not report.anomalies:
        console.print(f"{path}: no anomalies in {report.result.values.size} points")
        return
    table = Table("onset", "alert", "direction", "observed", "expected", "band", "score",
                  "severity", title=str(path))
    for a in report.anomalies:
        table.add_row(iso(a.onset_ts * 1_000_000) or "", iso(a.alert_ts * 1_000_000) or "",
                      a.direction, f"{a.observed:.6g}", f"{a.expected:.6g}",
                      f"{a.lower:.6g} .. {a.upper:.6g}", f"{a.score:.2f}", a.severity)
    console.print(table)


def register(root: typer.Typer) -> None:
    root.command("slo")(slo)
    root.command("profile")(profile)


def slo(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Option(help="Only this node's SLOs")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Catalog SLOs: attainment over the window, error budget left, burn rates and alerts."""
    st = state(ctx)
    ref = None
    if node is not None:
        try:
            ref = NodeRef.parse(node)
        except NodeIdError as exc:
            fail(str(exc))
    try:
        rows = slo_status(st.store, st.now_us, load_detect_settings(), node=ref)
    except DetectSettingsError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    if not rows:
        console.print("no SLOs in the catalog" + (f" for {node}" if node else ""))
        return
    table = Table(title=f"SLOs as of {iso(st.now_us)}")
    table.add_column("status", no_wrap=True)
    table.add_column("node", overflow="fold")
    table.add_column("objective", overflow="fold")
    table.add_column("attained", no_wrap=True)
    table.add_column("budget", no_wrap=True)
    table.add_column("burn 1h/6h", no_wrap=True)
    for r in rows:
        attrs = "".join(f" {k}={v}" for k, v in r.attributes.items())
        table.add_row(
            r.status, Text(r.node),
            Text(f"{r.metric}{attrs} {r.objective} for {r.target:.2%} of {r.window}"),
            "" if r.attainment is None else f"{r.attainment:.3%}",
            "" if r.error_budget_remaining is None else f"{r.error_budget_remaining:.0%}",
            f"{_burn(r.burn_rates.get('1h'))}/{_burn(r.burn_rates.get('6h'))}")
    console.print(table)


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:g}x"


def profile(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="Warehouse URL (SQLAlchemy)")],
    table: Annotated[str, typer.Option("--table", help="Table, or schema.table")],
    key: Annotated[str | None, typer.Option("--key", help="Key column: duplicates")] = None,
    timestamp: Annotated[
        str | None, typer.Option("--timestamp", help="Time column: freshness")
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Store the profile as this node (default: "
                     "dataset:<dialect>://<host or file>:<schema.table>)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Profile a warehouse table (rows, nulls per column, duplicate keys, freshness) and
    store it as the node's telemetry."""
    st = state(ctx)
    try:
        result = profile_table(st.store, source, table, key=key, timestamp=timestamp,
                               node=node, at_us=st.now_us)
    except ProfileError as exc:
        fail(str(exc))
        raise
    if as_json:
        print_json(result.model_dump())
        return
    console.print(Text(f"{result.node}: {result.row_count:,} rows at {result.profiled_at}"))
    if result.duplicate_fraction is not None:
        console.print(f"duplicates on {result.key}: {result.duplicate_fraction:.3%} "
                      f"({result.distinct_keys:,} distinct)")
    if result.freshness_lag_s is not None:
        console.print(f"newest {result.timestamp}: {result.newest} "
                      f"(lag {result.freshness_lag_s:,.0f}s)")
    cols = Table("column", "type", "nullable", "nulls", "null fraction")
    for c in result.columns:
        cols.add_row(c.name, c.type, "yes" if c.nullable else "no", f"{c.null_count:,}",
                     "" if c.null_fraction is None else f"{c.null_fraction:.3%}")
    console.print(cols)
