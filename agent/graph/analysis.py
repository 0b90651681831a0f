"""From gathered facts to what the explanation reasons over: hypotheses (the ranking
from :mod:`tools.incidents`, each with its verdict), the business impact, the actions
playbooks would take, and the evidence pack handed to the narrator or the LLM."""

from __future__ import annotations

from typing import Any

from tools.incidents.model import IncidentView
from tools.runbooks import ContextError, PolicyConfig, context_from_incident, plan
from tools.runbooks.loader import load_playbooks
from tools.runbooks.schema import Playbook
from tools.store.db import Store

# A runner-up this confident cannot be ruled out: it is "possible", not "rejected".
POSSIBLE_CONFIDENCE = 0.25
MAX_AT_RISK = 8
FAMILY_RANK = {"runs": 0, "schema": 1, "metrics": 2, "logs": 3, "lineage": 4}


def hypotheses(
    incident: IncidentView, evidence: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The ranked root causes as hypotheses with a status and, for the losers, why."""
    out: list[dict[str, Any]] = []
    causes = incident.root_causes
    if not causes:
        return out
    top = causes[0]
    corroborating = _by_node(evidence)
    for rank, cause in enumerate(causes, start=1):
        support = [{"ref": e.ref, "text": e.text} for e in cause.evidence]
        support += [
            {"ref": item["id"], "text": item["text"]}
            for item in corroborating.get(cause.node, [])
            if item["family"] in ("runs", "schema", "logs") and _telling(item)
        ][:3]
        entry: dict[str, Any] = {
            "id": f"cause:{rank}",
            "rank": rank,
            "node": cause.node,
            "kind": cause.kind,
            "confidence": cause.confidence,
            "onset": cause.onset,
            "explains": [f"anomaly:{i}" for i in cause.explains],
            "status": "leading",
            "for": support,
            "against": [{"ref": e.ref, "text": e.text} for e in cause.contradictions],
        }
        if rank > 1:
            entry["status"] = "possible" if cause.confidence >= POSSIBLE_CONFIDENCE else "rejected"
            entry["why"] = _why_not(cause.contradictions, len(cause.explains), len(top.explains))
        out.append(entry)
    return out


def _telling(item: dict[str, Any]) -> bool:
    """Evidence that points at a node: a failure, a schema change, warning logs."""
    if item["family"] == "runs":
        return bool(item["data"].get("failed"))
    return True


def _why_not(contradictions: list[Any], explains: int, top_explains: int) -> str:
    if contradictions:
        return str(contradictions[0].text)
    if explains < top_explains:
        return f"it explains {explains} of the symptoms, the leading cause {top_explains}"
    return "its onset and position in lineage fit the symptoms less well"


def _by_node(evidence: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for items in evidence.values():
        for item in items:
            out.setdefault(item["node"], []).append(item)
    return out


def impact_summary(incident: IncidentView) -> dict[str, Any]:
    return {
        "revenue_at_risk_per_day": incident.revenue_at_risk_per_day,
        "campaigns_affected": incident.campaigns_affected,
        "owners": list(incident.owners),
        "impacted": list(incident.impacted),
        "at_risk": [
            {
                "node": n.node,
                "kind": n.kind,
                "tier": n.tier,
                "owner": n.owner,
                "revenue_per_day": n.revenue_per_day,
                "symptomatic": n.symptomatic,
            }
            for n in incident.at_risk[:MAX_AT_RISK]
        ],
    }


def candidate_actions(
    store: Store,
    incident_id: int,
    playbooks: list[Playbook] | None,
    policy: PolicyConfig | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """What the playbooks would do, with tiers from policy; planning only, nothing queued."""
    try:
        context = context_from_incident(store, incident_id)
    except ContextError as exc:
        return [], str(exc)
    books = playbooks if playbooks is not None else load_playbooks().playbooks
    planned = plan(context, books, policy=policy)
    return [
        {
            "action": a.type,
            "playbook": a.playbook,
            "tier": a.decision.tier,
            "auto_apply": a.decision.auto_apply_allowed,
            "description": a.description,
        }
        for a in planned.actions
    ], None


def evidence_pack(state: dict[str, Any]) -> dict[str, Any]:
    """The one document an explanation is written from (before redaction and budget)."""
    incident = IncidentView.model_validate(state["incident"])
    evidence = [
        item
        for family in sorted(state.get("evidence") or {}, key=lambda f: FAMILY_RANK.get(f, 9))
        for item in (state.get("evidence") or {})[family]
    ]
    hyps = state.get("hypotheses") or []
    symptoms = [
        {
            "id": f"anomaly:{s.id}",
            "node": s.node,
            "kind": s.kind,
            "metric": s.metric,
            "onset": s.onset,
            "observed": s.observed,
            "expected": s.expected,
            "severity": s.severity,
            "summary": s.summary,
        }
        for s in sorted(incident.symptoms, key=lambda s: (s.onset, s.id))
    ]
    impact = state.get("impact") or {}
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "opened_at": incident.opened_at,
        },
        "counts": {
            "symptoms": len(symptoms),
            "hypotheses": len(hyps),
            "alternatives": max(0, len(hyps) - 1),
            "evidence": len(evidence),
            "at_risk": len(incident.at_risk),
        },
        "symptoms": symptoms,
        "hypotheses": hyps,
        "evidence": evidence,
        "impact": {k: v for k, v in impact.items() if k != "impacted"},
        "candidate_actions": state.get("candidate_actions") or [],
    }


__all__ = [
    "candidate_actions",
    "evidence_pack",
    "hypotheses",
    "impact_summary",
]
