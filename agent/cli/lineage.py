"""``flowsleuth lineage upstream|downstream|path|impact|columns``: thin adapters over
``tools.lineage``; ``--json`` prints exactly what the API returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from rich.tree import Tree

from agent.cli.context import console, fail, parse_node, print_json, state
from tools.lineage import (
    ColumnLineageView,
    LineageNode,
    column_lineage,
    downstream,
    impact,
    path,
    upstream,
)
from tools.lineage.columns import ColumnDirection
from tools.store.queries import UnknownNodeError

app = typer.Typer(
    help="Walk lineage: what feeds a node, what it feeds, paths, column lineage, impact.",
    no_args_is_help=True,
)

NodeArg = Annotated[str, typer.Argument(help="dataset:<ns>:<name> or job:<ns>:<name>")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
DepthOpt = Annotated[
    int | None, typer.Option("--depth", min=0, help="At most this many hops (default: all)")
]
JobsOpt = Annotated[
    bool, typer.Option("--jobs", help="List jobs too; every hop then counts in the distance")
]

T = TypeVar("T")


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (UnknownNodeError, ValueError) as exc:
        fail(str(exc))
        raise


def _nodes_table(title: str, nodes: list[LineageNode], cycle: bool) -> None:
    table = Table("distance", "type", title=title)
    table.add_column("node", overflow="fold")
    for n in nodes:
        table.add_row(str(n.distance), n.type, f"{n.namespace}:{n.name}")
    console.print(table if nodes else f"{title}: nothing")
    if cycle:
        console.print("[yellow]warning:[/] this lineage contains a cycle")


@app.command("upstream")
def upstream_cmd(
    ctx: typer.Context,
    node: NodeArg,
    depth: DepthOpt = None,
    jobs: JobsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What feeds NODE, nearest first (distance in dataset hops unless --jobs)."""
    st = state(ctx)
    ref = parse_node(node)
    view = _call(lambda: upstream(st.store, ref, depth=depth, include_jobs=jobs))
    if as_json:
        print_json(view.model_dump())
        return
    _nodes_table(f"upstream of {view.node}", view.upstream, view.cycle)


@app.command("downstream")
def downstream_cmd(
    ctx: typer.Context,
    node: NodeArg,
    depth: DepthOpt = None,
    jobs: JobsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What NODE feeds, nearest first (distance in dataset hops unless --jobs)."""
    st = state(ctx)
    ref = parse_node(node)
    view = _call(lambda: downstream(st.store, ref, depth=depth, include_jobs=jobs))
    if as_json:
        print_json(view.model_dump())
        return
    _nodes_table(f"downstream of {view.node}", view.downstream, view.cycle)


@app.command("path")
def path_cmd(ctx: typer.Context, a: NodeArg, b: NodeArg, as_json: JsonOpt = False) -> None:
    """The shortest directed path between A and B (A to B, else B to A)."""
    st = state(ctx)
    ref_a, ref_b = parse_node(a), parse_node(b)
    view = _call(lambda: path(st.store, ref_a, ref_b))
    if as_json:
        print_json(view.model_dump())
        return
    if not view.found:
        console.print(view.message)
        return
    console.print(f"{view.message} ({view.direction}):")
    for n in view.path:
        arrow = "  " if n.distance == 0 else "->"
        console.print(f"  {arrow} [bold]{n.type}[/] {n.namespace}:{n.name}", highlight=False)


@app.command("impact")
def impact_cmd(ctx: typer.Context, node: NodeArg, as_json: JsonOpt = False) -> None:
    """Audiences, activations and campaigns hurt if NODE breaks; revenue at risk; owners."""
    st = state(ctx)
    ref = parse_node(node)
    view = _call(lambda: impact(st.store, ref))
    if as_json:
        print_json(view.model_dump())
        return
    table = Table("dist", "kind", title=f"impact of {view.node}")
    table.add_column("node", overflow="fold", ratio=1)
    table.add_column("tier")
    table.add_column("owner", overflow="fold")
    table.add_column("revenue/day", justify="right", no_wrap=True)
    for a in view.impacted:
        revenue = "" if a.revenue_per_day is None else f"{a.revenue_per_day:,.0f}"
        table.add_row(
            str(a.distance),
            a.kind,
            f"{a.namespace}:{a.name}",
            "" if a.tier is None else str(a.tier),
            a.owner or "",
            f"{revenue} *" if a.counted else revenue,
        )
    if view.impacted:
        console.print(table)
        console.print("* counted in the revenue at risk")
    else:
        console.print(
            f"nothing catalogued as audience, activation or campaign at or below {view.node}"
        )
    console.print(
        f"campaigns affected: {view.campaigns_affected}   revenue at risk per day: "
        f"{view.revenue_at_risk_per_day:,.0f}   notify: {', '.join(view.owners) or 'nobody'}"
    )
    console.print(f"[dim]revenue rule: {view.revenue_rule}[/]")
    if view.cycle:
        console.print("[yellow]warning:[/] this lineage contains a cycle")


@app.command("columns")
def columns_cmd(
    ctx: typer.Context,
    node: NodeArg,
    column: Annotated[str, typer.Argument(help="Column of NODE")],
    downstream_: Annotated[
        bool, typer.Option("--downstream", help="Columns fed by COLUMN (default: its sources)")
    ] = False,
    depth: DepthOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Source columns feeding COLUMN of NODE, recursively (or with --downstream, the
    columns it feeds)."""
    st = state(ctx)
    ref = parse_node(node)
    direction: ColumnDirection = "downstream" if downstream_ else "upstream"
    view = _call(lambda: column_lineage(st.store, ref, column, direction, depth=depth))
    if as_json:
        print_json(view.model_dump())
        return
    console.print(_column_tree(view))
    if view.cycle:
        console.print("[yellow]warning:[/] this column lineage contains a cycle")


def _column_tree(view: ColumnLineageView) -> Tree | str:
    if not view.edges:
        return f"no column lineage {view.direction} of {view.node} column {view.column}"
    children: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
    for e in view.edges:
        src, dst = (e.src_node, e.src_column), (e.dst_node, e.dst_column)
        near, far = (dst, src) if view.direction == "upstream" else (src, dst)
        children.setdefault(near, []).append((*far, e.transformation))
    label = "fed by" if view.direction == "upstream" else "feeds"
    root = Tree(f"[bold]{view.node}[/] . {view.column}  ({label})", highlight=False)
    shown: set[tuple[str, str]] = {(view.node, view.column)}
    stack = [(root, (view.node, view.column))]
    while stack:
        branch, key = stack.pop()
        for node, col, transformation in sorted(children.get(key, []), key=lambda c: c[:2]):
            how = f"  [dim]{transformation}[/]" if transformation else ""
            if (node, col) in shown:  # reached before (a diamond or a cycle): no repeat
                branch.add(f"{node} . {col}{how}  [dim](see above)[/]")
                continue
            shown.add((node, col))
            stack.append((branch.add(f"{node} . {col}{how}"), (node, col)))
    return root
