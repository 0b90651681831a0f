"""What an incident page shows, gathered from the store: timeline, pictures, two views.

The engineer view is about machinery (runs, errors, schema diffs, logs); the marketer view
about audiences, campaigns, revenue and what to tell stakeholders.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agent.web.svg import lineage_svg, sparkline_svg
from tools.incidents import IncidentView
from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import LogRecord, Node
from tools.store.queries import RunView, UnknownNodeError, list_runs, query_metrics
from tools.timeutil import iso, parse_micros

MAX_CHARTS = 8
CHART_LOOKBACK_US = 3 * 86_400_000_000
LOG_LIMIT = 50


def _hops(view: IncidentView) -> dict[str, int]:
    """Distance of each symptom's node from the top root cause along its lineage path."""
    if not view.root_causes:
        return {}
    hops: dict[str, int] = {view.root_causes[0].node: 0}
    for path in view.root_causes[0].paths:
        datasets = [n for n in path if not n.startswith("job:")]
        for i, node in enumerate(datasets):
            hops.setdefault(node, i)
    return hops


def _charts(store: Store, view: IncidentView) -> list[dict[str, Any]]:
    charts = []
    for a in [s for s in view.symptoms if s.metric][:MAX_CHARTS]:
        assert a.metric is not None
        since = parse_micros(a.onset) - CHART_LOOKBACK_US
        try:
            series = query_metrics(store, NodeRef.parse(a.node), name=a.metric, since_us=since)
        except (NodeIdError, UnknownNodeError):
            continue
        values = [p.value for s in series for p in s.points][-500:]
        charts.append(
            {
                "anomaly": a,
                "svg": sparkline_svg(values, lower=a.lower, upper=a.upper),
                "points": len(values),
            }
        )
    return charts


def _runs(store: Store, view: IncidentView) -> list[RunView]:
    runs: list[RunView] = []
    for node in dict.fromkeys([*(c.node for c in view.root_causes[:1]), *view.impacted]):
        try:
            runs.extend(list_runs(store, NodeRef.parse(node), limit=5))
        except (NodeIdError, UnknownNodeError):
            continue
    return runs[:30]


def _logs(store: Store, view: IncidentView) -> list[dict[str, Any]]:
    nodes = {c.node for c in view.root_causes[:3]} | set(view.impacted)
    refs = []
    for n in nodes:
        try:
            refs.append(NodeRef.parse(n))
        except NodeIdError:
            continue
    if not refs:
        return []
    since = min((parse_micros(s.onset) for s in view.symptoms), default=0) - 3_600_000_000
    with store.read() as conn:
        ids = [
            nid
            for ref in refs
            for nid in conn.execute(
                select(Node.id).where(
                    Node.type == ref.type, Node.namespace == ref.namespace, Node.name == ref.name
                )
            ).scalars()
        ]
        rows = conn.execute(
            select(LogRecord.ts, LogRecord.severity_text, LogRecord.body)
            .where(LogRecord.node_id.in_(ids), LogRecord.ts >= since)
            .where((LogRecord.severity_number >= 13) | (LogRecord.severity_number.is_(None)))
            .order_by(LogRecord.ts.desc())
            .limit(LOG_LIMIT)
        ).all()
    return [{"ts": iso(ts), "severity": sev or "", "body": body} for ts, sev, body in rows]


def stakeholder_note(view: IncidentView) -> str:
    campaigns = [n.node.rsplit(":", 1)[-1] for n in view.at_risk if n.kind == "campaign"]
    cause = view.root_causes[0].node if view.root_causes else "an unconfirmed cause"
    note = (
        f"Data issue under investigation since {view.opened_at}: {view.title}. "
        f"Likely origin: {cause}. "
    )
    if campaigns:
        note += f"Campaigns that may target the wrong people: {', '.join(campaigns)}. "
    note += f"Revenue at risk: about {view.revenue_at_risk_per_day:,.0f} per day. "
    note += "We will confirm when the audience data is verified again."
    return note


def incident_context(store: Store, view: IncidentView) -> dict[str, Any]:
    hops = _hops(view)
    timeline = sorted(view.symptoms, key=lambda a: (a.onset, hops.get(a.node, 99)))
    lineage, lineage_error = None, None
    if view.root_causes:
        try:
            lineage = lineage_svg(store, view.root_causes[0].node, {a.node for a in view.symptoms})
        except (NodeIdError, UnknownNodeError) as exc:
            lineage_error = str(exc)
    runs = _runs(store, view)
    report = view.report or {}
    explanation = report.get("explanation")
    if not isinstance(explanation, dict):
        # Imported here: LangGraph is heavy and only this page section needs it.
        from agent.graph.run import saved_explanation

        explanation = saved_explanation(store, view.id)
    return {
        "incident": view,
        "timeline": [(a, hops.get(a.node)) for a in timeline],
        "lineage_svg": lineage,
        "lineage_error": lineage_error,
        "charts": _charts(store, view),
        "explanation": explanation,
        "report": report,
        "runs": runs,
        "errors": [r for r in runs if r.error_message],
        "schema_diffs": [a for a in view.symptoms if a.kind == "schema_drift"],
        "logs": _logs(store, view),
        "audiences": [n for n in view.at_risk if n.kind in ("audience", "activation")],
        "campaigns": [n for n in view.at_risk if n.kind == "campaign"],
        "stakeholder_note": stakeholder_note(view),
    }
