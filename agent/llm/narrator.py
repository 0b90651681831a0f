"""The deterministic narrator: an explanation written from the evidence pack alone.

Used whenever no LLM is configured, and whenever an LLM's explanation fails the grounding
check. It separates what is known (measured, cited) from what is suspected (the ranked
root cause and its confidence), says why the alternatives lost, and what to do. Every
fact it states comes from the pack, so its own output passes the grounding check.
"""

from __future__ import annotations

import math
from typing import Any

MAX_SYMPTOMS = 6
MAX_FACTS_PER_FAMILY = 3
MAX_QUOTE = 240
FAMILY_ORDER = ("runs", "schema", "metrics", "logs", "lineage")


def narrate(pack: dict[str, Any]) -> str:
    sections = [
        ("What we know", _known(pack)),
        ("What we suspect", _suspected(pack)),
        ("Alternatives rejected", _alternatives(pack)),
        ("Impact", _impact(pack)),
        ("What to do", _todo(pack)),
    ]
    return "\n".join(
        f"{title}\n" + "\n".join(f"- {line}" for line in lines) for title, lines in sections
    )


def short(node: str) -> str:
    return node.rsplit(":", 1)[-1]


def when(timestamp: str | None) -> str:
    """'2026-03-09T02:40:50.229402Z' -> '2026-03-09 02:40Z' (minutes are enough to read)."""
    if not timestamp:
        return "an unknown time"
    date, _, clock = timestamp.partition("T")
    return f"{date} {clock[:5]}Z" if len(clock) >= 5 else date


def fmt_number(value: Any) -> str:
    """Three significant digits in fixed point (exponents would not read as numbers)."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "?"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return str(int(value))
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _known(pack: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    symptoms = pack.get("symptoms") or []
    for s in symptoms[:MAX_SYMPTOMS]:
        metric = f" ({s['metric']})" if s.get("metric") and s["metric"] != s["kind"] else ""
        line = f"{s['kind']} on {short(s['node'])}{metric} since {when(s['onset'])}"
        if s.get("observed") is not None and s.get("expected") is not None:
            seen, usual = fmt_number(s["observed"]), fmt_number(s["expected"])
            line += f": observed {seen} against {usual} expected"
        lines.append(f"{line} [{s['id']}]")
    total = (pack.get("counts") or {}).get("symptoms", len(symptoms))
    if total > min(len(symptoms), MAX_SYMPTOMS):
        lines.append(f"{total} symptoms in all; the earliest are listed")
    by_family: dict[str, list[dict[str, Any]]] = {}
    for item in pack.get("evidence") or []:
        by_family.setdefault(item.get("family", ""), []).append(item)
    for family in FAMILY_ORDER:
        for item in by_family.get(family, [])[:MAX_FACTS_PER_FAMILY]:
            lines.append(f"{_quote_safe(item['text'])} [{item['id']}]")
    if not lines:
        lines.append("no symptom details are available")
    return lines


def _quote_safe(text: str) -> str:
    """Evidence text as data: cut, one line, so telemetry cannot reshape the report."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_QUOTE else flat[: MAX_QUOTE - 1] + "…"


def _suspected(pack: dict[str, Any]) -> list[str]:
    hypotheses = pack.get("hypotheses") or []
    if not hypotheses:
        return ["no root cause could be located from lineage and onset order"]
    top = hypotheses[0]
    word = "likely" if top["confidence"] >= 0.5 else "uncertain, but the best candidate"
    lines = [
        f"{top['kind']} at {short(top['node'])} ({top['node']}), {word}: confidence "
        f"{top['confidence']:.0%}, since {when(top.get('onset'))} [{top['id']}]"
    ]
    for ev in (top.get("for") or [])[:3]:
        lines.append(f"for it: {_quote_safe(ev['text'])}{_cite(ev, pack)}")
    for ev in (top.get("against") or [])[:2]:
        lines.append(f"against it: {_quote_safe(ev['text'])}{_cite(ev, pack)}")
    return lines


def _cite(ev: dict[str, Any], pack: dict[str, Any]) -> str:
    ref = ev.get("ref") or ""
    return f" [{ref}]" if ref.startswith(("anomaly:", "run:", "log:", "schema:")) else ""


def _alternatives(pack: dict[str, Any]) -> list[str]:
    others = (pack.get("hypotheses") or [])[1:]
    if not others:
        return ["none: only one candidate explains the symptoms"]
    lines = []
    for h in others:
        verdict = "not ruled out" if h.get("status") == "possible" else "rejected"
        why = h.get("why") or "it explains less of the incident"
        lines.append(
            f"{h['kind']} at {short(h['node'])}, confidence {h['confidence']:.0%}: {verdict}, "
            f"{_quote_safe(why)} [{h['id']}]"
        )
    return lines


def _impact(pack: dict[str, Any]) -> list[str]:
    impact = pack.get("impact") or {}
    revenue = impact.get("revenue_at_risk_per_day") or 0
    campaigns = impact.get("campaigns_affected") or 0
    owners = ", ".join(impact.get("owners") or []) or "no owner on record"
    lines = [f"${revenue:,.0f} per day at risk across {campaigns} campaign(s); tell: {owners}"]
    for node in (impact.get("at_risk") or [])[:3]:
        state = "already showing symptoms" if node.get("symptomatic") else "not yet affected"
        money = f", ${node['revenue_per_day']:,.0f}/day" if node.get("revenue_per_day") else ""
        lines.append(f"{node.get('kind') or 'asset'} {short(node['node'])}{money}: {state}")
    return lines


def _todo(pack: dict[str, Any]) -> list[str]:
    actions = pack.get("candidate_actions") or []
    if not actions:
        return ["no playbook matches; investigate by hand from the root cause above"]
    lines = []
    for a in actions:
        gate = "may apply automatically" if a.get("auto_apply") else "needs approval"
        line = f"{a['action']} ({a['tier']} risk, {gate})"
        if a.get("description"):
            line += f": {_quote_safe(a['description'])}"
        lines.append(line)
    return lines


__all__ = ["fmt_number", "narrate", "short", "when"]
