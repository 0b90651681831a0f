"""The investigation graph's nodes.

Reading nodes (triage, evidence, localize, impact, explain) only read. The nodes that
change anything go through the runbook engine, whose status transitions make each change
happen once: ``propose`` queues (an open proposal is never queued twice; low-risk actions
auto-apply by policy), ``apply`` runs only proposals the engine shows as approved (the
claim from 'approved' to 'applying' lets one caller through), ``verify`` only reads the
recovery signal. A node that re-runs after a crash or a resume therefore repeats no
action. ``await_approval`` is the only node that pauses; it records what it was told
and leaves the truth to the store.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.graph.analysis import candidate_actions, evidence_pack, hypotheses, impact_summary
from agent.graph.evidence import GATHERERS
from agent.graph.state import FAMILIES, AgentDeps, InvestigationState
from agent.llm.explain import explain as write_explanation
from tools.incidents import get_incident
from tools.incidents.model import IncidentView
from tools.runbooks import (
    ContextError,
    Proposal,
    apply,
    context_from_incident,
    expire_stale,
    get_proposal,
    propose,
    verify,
)
from tools.store.models import now_micros
from tools.timeutil import iso

log = logging.getLogger(__name__)


class Node(Protocol):
    def __call__(
        self, state: InvestigationState, *, runtime: Runtime[AgentDeps]
    ) -> dict[str, Any]: ...


def _now(deps: AgentDeps) -> int:
    return deps.now_us if deps.now_us is not None else now_micros()


def _incident(state: InvestigationState) -> IncidentView:
    return IncidentView.model_validate(state["incident"])


def triage(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Load the incident and reset what a previous run on this thread left behind."""
    deps = runtime.context
    incident = get_incident(deps.store, state["incident_id"])
    return {
        "incident": incident.model_dump(mode="json"),
        "families": list(FAMILIES),
        "status": "running",
        "started_at": iso(_now(deps)) or "",
        "notes": [],
        "proposals": [],
        "awaiting": [],
        "decisions": [],
        "applied": [],
        "verification": [],
        "report": {},
    }


def evidence_node(family: str) -> Node:
    gather = GATHERERS[family]

    def node(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
        if family not in state.get("families", FAMILIES):
            return {"evidence": {family: []}, "evidence_errors": {family: ""}}
        try:
            items = gather(runtime.context.store, _incident(state), state["at_us"])
        except Exception as exc:  # one broken family must not cost the whole explanation
            log.exception("gathering %s evidence failed", family)
            return {"evidence": {family: []}, "evidence_errors": {family: f"{exc}"}}
        return {"evidence": {family: items}, "evidence_errors": {family: ""}}

    node.__name__ = f"evidence_{family}"
    return node


def localize(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    return {"hypotheses": hypotheses(_incident(state), state.get("evidence") or {})}


def impact(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    deps = runtime.context
    actions, problem = candidate_actions(
        deps.store, state["incident_id"], deps.playbooks, deps.policy
    )
    notes = list(state.get("notes") or [])
    if problem:
        notes.append(f"no remediation planned: {problem}")
    return {
        "impact": impact_summary(_incident(state)),
        "candidate_actions": actions,
        "notes": notes,
    }


def explain(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    deps = runtime.context
    explanation, usage = write_explanation(
        evidence_pack(dict(state)), deps.model, budget_tokens=deps.budget_tokens
    )
    return {"explanation": explanation.model_dump(), "llm": usage.model_dump()}


def propose_actions(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    deps = runtime.context
    try:
        context = context_from_incident(deps.store, state["incident_id"])
    except ContextError as exc:
        return {"proposals": [], "notes": [*state.get("notes", []), str(exc)]}
    queued = propose(
        deps.store,
        context,
        playbooks=deps.playbooks,
        executors=deps.executors,
        policy=deps.policy,
        settings=deps.settings,
        requested_by=deps.requested_by,
        auto_apply=deps.auto_apply,
        now_us=_now(deps),
    )
    return {"proposals": [summary(p) for p in queued]}


def risk_gate(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Which proposals still wait for a person. The store decides, not the state: a
    proposal decided elsewhere (the web queue, another CLI, expiry) counts as decided,
    and its decision is recorded here from the store."""
    deps = runtime.context
    expire_stale(deps.store, _now(deps))
    current = [summary(get_proposal(deps.store, p["id"])) for p in state.get("proposals", [])]
    decisions = list(state.get("decisions", []))
    recorded = {d.get("proposal_id") for d in decisions}
    waited = set(state.get("awaiting", [])) - recorded
    decisions += [
        decision_from_store(p) for p in current if p["id"] in waited and p["status"] != "proposed"
    ]
    awaiting = [p["id"] for p in current if p["status"] == "proposed"]
    return {
        "proposals": current,
        "awaiting": awaiting,
        "decisions": decisions,
        "status": "awaiting_approval" if awaiting else "running",
    }


def decision_from_store(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "proposal_id": p["id"],
        "outcome": p["status"],
        "decided_by": p.get("decided_by") or "system",
        "reason": p.get("reason"),
        "apply": True,
        "source": "store",
    }


def route_after_verify(state: InvestigationState) -> str:
    return "await_approval" if state.get("awaiting") else "report"


def await_approval(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Pause until a decision on one of the awaited proposals is passed back in.

    The resume value is recorded; what happens next is decided by re-reading proposal
    statuses in the risk gate, so a forged or stale resume value cannot approve anything.
    """
    waiting = [p for p in state.get("proposals", []) if p["id"] in state.get("awaiting", [])]
    answer = interrupt(
        {
            "type": "approval",
            "incident_id": state["incident_id"],
            "awaiting": [
                {k: p[k] for k in ("id", "action", "tier", "status", "reasons")} for p in waiting
            ],
            "message": (
                f"{len(waiting)} action(s) need a decision: "
                + ", ".join(f"flowsleuth approvals approve {p['id']}" for p in waiting)
            ),
        }
    )
    decision = answer if isinstance(answer, dict) else {"value": answer}
    return {"decisions": [*state.get("decisions", []), decision]}


def apply_approved(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Apply what a person approved while this investigation waited for them.

    Only proposals with a decision passed to this thread are considered, and only when
    the engine shows them approved; one approved with "approve only" stays unapplied.
    """
    deps = runtime.context
    decided = {
        int(d["proposal_id"]): d
        for d in state.get("decisions", [])
        if isinstance(d.get("proposal_id"), int)
    }
    done = list(state.get("applied", []))
    for entry in state.get("proposals", []):
        decision = decided.get(entry["id"])
        if decision is None or decision.get("apply") is False:
            continue
        current = get_proposal(deps.store, entry["id"])
        if current.status != "approved":
            continue
        result = apply(
            deps.store,
            current.id,
            deps.executors,
            actor=current.decided_by or deps.requested_by,
            now_us=_now(deps),
        )
        done.append(result.model_dump(mode="json"))
    return {"applied": done}


def verify_applied(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Check the recovery signal of everything applied (by policy or after approval)."""
    deps = runtime.context
    results = []
    for entry in state.get("proposals", []):
        current = get_proposal(deps.store, entry["id"])
        if current.status != "applied":
            continue
        outcome = verify(deps.store, current.id, deps.executors, now_us=_now(deps))
        results.append({"proposal_id": current.id} | outcome.model_dump(mode="json"))
    current_all = [summary(get_proposal(deps.store, p["id"])) for p in state.get("proposals", [])]
    return {"verification": results, "proposals": current_all}


def report(state: InvestigationState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    deps = runtime.context
    current = [summary(get_proposal(deps.store, p["id"])) for p in state.get("proposals", [])]
    return {
        "proposals": current,
        "awaiting": [],
        "status": "complete",
        "report": {
            "incident_id": state["incident_id"],
            "finished_at": iso(_now(deps)),
            "decisions": len(state.get("decisions", [])),
            "applied": [a["proposal_id"] for a in state.get("applied", []) if a.get("done")],
            "verification": {
                str(v["proposal_id"]): v["status"] for v in state.get("verification", [])
            },
            "llm": state.get("llm", {}),
            "explained_by": (state.get("explanation") or {}).get("source"),
        },
    }


def summary(p: Proposal) -> dict[str, Any]:
    """A proposal as the investigation reports it: risk, status, dry run, decision."""
    return {
        "id": p.id,
        "action": p.action_type,
        "action_key": p.action_key,
        "playbook": p.playbook,
        "description": p.plan.description,
        "tier": p.tier,
        "auto_apply_allowed": p.auto_apply_allowed,
        "requires_approval": not (p.auto_apply_allowed and p.preconditions_ok),
        "required_roles": list(p.plan.decision.required_roles),
        "reasons": list(p.plan.decision.reasons),
        "status": p.status,
        "preconditions_ok": p.preconditions_ok,
        "preconditions": [c.model_dump() for c in p.preconditions],
        "dry_run": p.dry_run.model_dump() if p.dry_run else None,
        "rollback": p.rollback_plan.get("summary"),
        "decided_by": p.decided_by,
        "reason": p.reason,
        "expires_at": p.expires_at,
        "result": (p.result or {}).get("detail"),
        "verification": p.verification.model_dump() if p.verification else None,
    }


__all__ = [
    "apply_approved",
    "await_approval",
    "decision_from_store",
    "evidence_node",
    "explain",
    "impact",
    "localize",
    "propose_actions",
    "report",
    "risk_gate",
    "route_after_verify",
    "summary",
    "triage",
    "verify_applied",
]
