"""The incident report for people, in the terminal (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tools.incidents.model import IncidentView

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
TIER_STYLE = {"low": "green", "medium": "yellow", "high": "bold red"}


def short(node: str) -> str:
    """dataset:braze://acme:audience.x -> audience.x (braze://acme)"""
    typ, _, rest = node.partition(":")
    ns, _, name = rest.rpartition(":")
    return f"{escape(name)} [dim]({escape(typ)} {escape(ns)})[/]"


def print_incident(
    inc: IncidentView,
    proposals: Sequence[Any] = (),
    *,
    console: Console | None = None,
    explanation: str | None = None,
) -> None:
    out = console or Console(emoji=False)
    sev = Text(f" {inc.severity.upper()} ", style=SEVERITY_STYLE.get(inc.severity, ""))
    header = Text.assemble(sev, f"  Incident #{inc.id}: {inc.title}")
    parts: list[Any] = []

    if explanation:
        parts.append(Text(explanation))
        parts.append(Text(""))

    parts.append(Text("Where it started", style="bold underline"))
    if inc.root_causes:
        for rank, cause in enumerate(inc.root_causes[:3], start=1):
            line = (
                f"{rank}. [bold]{escape(cause.kind)}[/] at {short(cause.node)} — confidence "
                f"{cause.confidence:.0%}, since {cause.onset}"
            )
            tree = Tree(line)
            for ev in cause.evidence[:4]:
                tree.add(f"[green]+[/] {escape(ev.text)}")
            for ev in cause.contradictions[:2]:
                tree.add(f"[red]-[/] {escape(ev.text)}")
            parts.append(tree)
    else:
        parts.append(Text("no candidate located"))

    parts.append(Text(""))
    parts.append(Text("What broke (symptoms, in order of onset)", style="bold underline"))
    table = Table(box=None, show_header=True, header_style="dim")
    for col in ("onset", "node", "kind", "observed", "expected"):
        table.add_column(col)
    for a in inc.symptoms[:15]:
        table.add_row(
            a.onset[5:16].replace("T", " "),
            short(a.node),
            a.kind,
            _num(a.observed),
            _num(a.expected),
        )
    parts.append(table)
    if len(inc.symptoms) > 15:
        parts.append(Text(f"... and {len(inc.symptoms) - 15} more"))

    if inc.root_causes and inc.root_causes[0].paths:
        parts.append(Text(""))
        parts.append(Text("How it travels (lineage)", style="bold underline"))
        longest = max(inc.root_causes[0].paths, key=len)
        parts.append(Text(" -> ".join(p.rsplit(":", 1)[-1] for p in longest)))

    parts.append(Text(""))
    parts.append(Text("What it hits downstream", style="bold underline"))
    if inc.at_risk:
        hits = Table(box=None, show_header=True, header_style="dim")
        for col in ("asset", "kind", "tier", "owner", "revenue/day", "showing symptoms"):
            hits.add_column(col)
        for n in inc.at_risk[:12]:
            hits.add_row(
                short(n.node),
                escape(n.kind or ""),
                "" if n.tier is None else str(n.tier),
                escape(n.owner or ""),
                f"${n.revenue_per_day:,.0f}" if n.revenue_per_day else "",
                "yes" if n.symptomatic else "not yet",
            )
        parts.append(hits)
    parts.append(
        Text(
            f"Revenue at risk: ${inc.revenue_at_risk_per_day:,.0f} per day across "
            f"{inc.campaigns_affected} campaign(s); tell: {', '.join(inc.owners) or '-'}",
            style="bold",
        )
    )

    if proposals:
        parts.append(Text(""))
        parts.append(Text("What to do", style="bold underline"))
        todo = Table(box=None, show_header=True, header_style="dim")
        for col in ("#", "action", "risk", "status", "why"):
            todo.add_column(col)
        for p in proposals:
            todo.add_row(
                str(p.id),
                p.action_type.replace("_", " "),
                Text(p.tier, style=TIER_STYLE.get(p.tier, "")),
                p.status,
                escape(p.playbook),
            )
        parts.append(todo)
    out.print(Panel(Group(*parts), title=header, title_align="left"))


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
