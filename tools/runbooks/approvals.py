"""The approval queue: decide exactly once, apply, verify, roll back; all audited.

The LLM never holds the pen: it may propose (:mod:`tools.runbooks.intake`), but tiers come
from policy,
only low-tier actions the policy allows are applied without a person, everything else
waits for :func:`approve` by a user whose roles allow it, and only the one caller that
wins the status transition acts. Each step writes its audit row in the same transaction
as its state change.

Adapters (CLI, MCP, web, the agent) call these functions; ``on_decision`` callbacks (and
:func:`add_decision_hook`) let a paused investigation resume once a decision lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select

from tools.runbooks import audit
from tools.runbooks.actions import BoundAction
from tools.runbooks.context import RemediationContext
from tools.runbooks.executors.base import ExecutorRegistry
from tools.runbooks.models import ActionOutcome, CheckResult, VerificationResult
from tools.runbooks.proposals import (
    NotAllowedError,
    Proposal,
    claim,
    get_proposal,
    list_proposals,
    read_proposal,
)
from tools.runbooks.roles import ApprovalSettings, ApproverDirectory, refusal
from tools.runbooks.secrets import EnvSecrets, Secrets
from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_runbooks import ProposalRow

log = logging.getLogger(__name__)


class Decision(BaseModel):
    """The outcome of one approve/reject call. ``won`` is True for exactly one caller."""

    proposal_id: int
    incident_id: int
    action_key: str
    outcome: Literal["approved", "rejected", "expired", "already_decided"]
    won: bool
    status: str
    decided_by: str
    decided_at: str | None
    reason: str | None
    message: str


class ApplyResult(BaseModel):
    proposal_id: int
    done: bool
    status: str
    message: str
    outcome: ActionOutcome | None = None
    preconditions: list[CheckResult] = []


DecisionHook = Callable[[Decision], None]
_HOOKS: list[DecisionHook] = []


def add_decision_hook(hook: DecisionHook) -> None:
    """Call ``hook`` after every winning decision commits (e.g. resume a paused graph)."""
    _HOOKS.append(hook)


def remove_decision_hook(hook: DecisionHook) -> None:
    if hook in _HOOKS:
        _HOOKS.remove(hook)


# -- decide -------------------------------------------------------------------------------


def approve(
    store: Store,
    proposal_id: int,
    user: str,
    reason: str | None = None,
    *,
    settings: ApprovalSettings | None = None,
    directory: ApproverDirectory | None = None,
    on_decision: DecisionHook | None = None,
    now_us: int | None = None,
) -> Decision:
    """Approve a proposal. Exactly one of any number of concurrent approvers wins.

    Raises NotAllowedError when the user's roles do not allow it (audited as refused).
    """
    return _decide(
        store, proposal_id, user, reason, "approved", settings, directory, on_decision, now_us
    )


def reject(
    store: Store,
    proposal_id: int,
    user: str,
    reason: str | None = None,
    *,
    settings: ApprovalSettings | None = None,
    directory: ApproverDirectory | None = None,
    on_decision: DecisionHook | None = None,
    now_us: int | None = None,
) -> Decision:
    """Reject a proposal (the requester may withdraw their own)."""
    return _decide(
        store, proposal_id, user, reason, "rejected", settings, directory, on_decision, now_us
    )


def _decide(
    store: Store,
    proposal_id: int,
    user: str,
    reason: str | None,
    outcome: Literal["approved", "rejected"],
    settings: ApprovalSettings | None,
    directory: ApproverDirectory | None,
    on_decision: DecisionHook | None,
    now_us: int | None,
) -> Decision:
    now = now_micros() if now_us is None else now_us
    cfg = settings or ApprovalSettings()
    people = directory or ApproverDirectory.from_settings(cfg)
    current = get_proposal(store, proposal_id)
    why = refusal(
        user,
        tier=current.plan.decision.tier,
        required_roles=current.plan.decision.required_roles,
        requested_by=current.requested_by,
        owners=list(current.blast_radius.get("owners") or []),
        directory=people,
        settings=cfg,
        deciding=outcome == "approved",
    )
    if why is not None:
        audit.record(
            store,
            actor=user,
            event="approval_refused" if outcome == "approved" else "rejection_refused",
            rationale=why,
            payload={"attempted": outcome, "reason": reason},
            proposal_id=proposal_id,
            incident_id=current.incident_id,
            at_us=now,
        )
        raise NotAllowedError(why)
    if current.status == "proposed" and current.expires_at_us <= now:
        expire_stale(store, now)
        current = get_proposal(store, proposal_id)
    values = {"status": outcome, "decided_by": user, "decided_at": now, "reason": reason}
    with store.write() as conn:
        won = claim(conn, proposal_id, "proposed", values | {"updated_at": now})
        if won:
            audit.append(
                conn,
                actor=user,
                event=outcome,
                rationale=reason or "",
                payload={"tier": current.tier, "action": current.action_key},
                proposal_id=proposal_id,
                incident_id=current.incident_id,
                at_us=now,
            )
    after = get_proposal(store, proposal_id)
    decision = Decision(
        proposal_id=proposal_id,
        incident_id=after.incident_id,
        action_key=after.action_key,
        outcome=outcome if won else ("expired" if after.status == "expired" else "already_decided"),
        won=won,
        status=after.status,
        decided_by=after.decided_by or user,
        decided_at=after.decided_at,
        reason=after.reason,
        message=(
            f"proposal {proposal_id} {outcome} by {user}"
            if won
            else f"proposal {proposal_id} is {after.status}; nothing to decide"
        ),
    )
    if won:
        for hook in [*_HOOKS, *([on_decision] if on_decision else [])]:
            try:
                hook(decision)
            except Exception:  # a broken listener must not undo a committed decision
                log.exception("decision hook failed for proposal %s", proposal_id)
    return decision


def expire_stale(store: Store, now_us: int | None = None) -> list[int]:
    """Expire every proposal still undecided at its ``expires_at``; return their ids."""
    now = now_micros() if now_us is None else now_us
    with store.read() as conn:
        due = conn.execute(
            select(ProposalRow.id, ProposalRow.incident_id).where(
                ProposalRow.status == "proposed", ProposalRow.expires_at <= now
            )
        ).all()
    expired = []
    for pid, incident in due:
        with store.write() as conn:
            if claim(conn, pid, "proposed", {"status": "expired", "updated_at": now}):
                audit.append(
                    conn,
                    actor="system",
                    event="expired",
                    rationale="no decision before expires_at",
                    proposal_id=pid,
                    incident_id=incident,
                    at_us=now,
                )
                expired.append(int(pid))
    return expired


# -- act ----------------------------------------------------------------------------------


def apply(
    store: Store,
    proposal_id: int,
    executors: ExecutorRegistry,
    *,
    secrets: Secrets | None = None,
    actor: str = "flowsleuth",
    now_us: int | None = None,
) -> ApplyResult:
    """Run an approved proposal. Only the caller that moves it to 'applying' runs it."""
    now = now_micros() if now_us is None else now_us
    with store.write() as conn:
        won = claim(conn, proposal_id, "approved", {"status": "applying", "updated_at": now})
        current = read_proposal(conn, proposal_id)
        if won:
            audit.append(
                conn,
                actor=actor,
                event="apply_started",
                proposal_id=proposal_id,
                incident_id=current.incident_id,
                at_us=now,
            )
    if not won:
        return ApplyResult(
            proposal_id=proposal_id,
            done=False,
            status=current.status,
            message=f"proposal {proposal_id} is {current.status}: not applied by this call",
        )
    context = RemediationContext.model_validate(_context_of(store, proposal_id))
    run = BoundAction(current.plan, store, executors, secrets or EnvSecrets(), context).execute()
    outcome, prior, checks = run.outcome, run.prior, run.preconditions
    status = "applied" if outcome.ok else "failed"
    done_at = now_micros() if now_us is None else now_us
    values = {
        "status": status,
        "applied_at": done_at if outcome.ok else None,
        "result": outcome.model_dump() | {"preconditions": [c.model_dump() for c in checks]},
        "prior_state": prior,
        "updated_at": done_at,
    }
    with store.write() as conn:
        claim(conn, proposal_id, "applying", values)
        audit.append(
            conn,
            actor=actor,
            event="applied" if outcome.ok else "apply_failed",
            rationale=outcome.detail,
            payload={"result": outcome.data, "prior_state": prior},
            proposal_id=proposal_id,
            incident_id=current.incident_id,
            at_us=done_at,
        )
    return ApplyResult(
        proposal_id=proposal_id,
        done=outcome.ok,
        status=status,
        message=outcome.detail,
        outcome=outcome,
        preconditions=checks,
    )


def _context_of(store: Store, proposal_id: int) -> dict[str, Any]:
    with store.read() as conn:
        found = conn.execute(
            select(ProposalRow.context).where(ProposalRow.id == proposal_id)
        ).scalar_one()
    return dict(found)


def verify(
    store: Store,
    proposal_id: int,
    executors: ExecutorRegistry,
    *,
    now_us: int | None = None,
) -> VerificationResult:
    """Check an applied action's verification signal; final results are audited."""
    now = now_micros() if now_us is None else now_us
    current = get_proposal(store, proposal_id)
    if current.status != "applied" or current.applied_at_us is None:
        return VerificationResult(status="failed", detail=f"proposal is {current.status}")
    bound = BoundAction(current.plan, store, executors, EnvSecrets())
    result = bound.verify(
        current.prior_state or {}, applied_at_us=current.applied_at_us, now_us=now
    )
    with store.write() as conn:
        claim(
            conn, proposal_id, "applied", {"verification": result.model_dump(), "updated_at": now}
        )
        if result.status != "pending" and (
            current.verification is None or current.verification.status != result.status
        ):
            audit.append(
                conn,
                actor="system",
                event=f"verification_{result.status}",
                rationale=result.detail,
                payload={"observed": result.observed},
                proposal_id=proposal_id,
                incident_id=current.incident_id,
                at_us=now,
            )
    return result


def rollback(
    store: Store,
    proposal_id: int,
    executors: ExecutorRegistry,
    user: str,
    reason: str | None = None,
    *,
    settings: ApprovalSettings | None = None,
    directory: ApproverDirectory | None = None,
    now_us: int | None = None,
) -> ApplyResult:
    """Undo an applied action with the prior state captured when it ran."""
    now = now_micros() if now_us is None else now_us
    cfg = settings or ApprovalSettings()
    current = get_proposal(store, proposal_id)
    why = refusal(
        user,
        tier=current.plan.decision.tier,
        required_roles=current.plan.decision.required_roles,
        requested_by=current.requested_by,
        owners=list(current.blast_radius.get("owners") or []),
        directory=directory or ApproverDirectory.from_settings(cfg),
        settings=cfg,
        deciding=False,
    )
    if why is None and current.plan.rollback.mode == "none":
        why = f"{current.action_type} is not reversible: {current.plan.rollback.reason}"
    if why is not None:
        audit.record(
            store,
            actor=user,
            event="rollback_refused",
            rationale=why,
            proposal_id=proposal_id,
            incident_id=current.incident_id,
            at_us=now,
        )
        raise NotAllowedError(why)
    with store.write() as conn:
        won = claim(conn, proposal_id, "applied", {"status": "rolling_back", "updated_at": now})
        if won:
            audit.append(
                conn,
                actor=user,
                event="rollback_started",
                rationale=reason or "",
                proposal_id=proposal_id,
                incident_id=current.incident_id,
                at_us=now,
            )
    if not won:
        latest = get_proposal(store, proposal_id)
        return ApplyResult(
            proposal_id=proposal_id,
            done=False,
            status=latest.status,
            message=f"proposal {proposal_id} is {latest.status}: only applied actions roll back",
        )
    bound = BoundAction(current.plan, store, executors, EnvSecrets())
    outcome = bound.rollback(current.prior_state or {})
    status = "rolled_back" if outcome.ok else "rollback_failed"
    with store.write() as conn:
        claim(
            conn,
            proposal_id,
            "rolling_back",
            {"status": status, "rolled_back_by": user, "rolled_back_at": now, "updated_at": now},
        )
        audit.append(
            conn,
            actor=user,
            event=status,
            rationale=outcome.detail,
            payload={"result": outcome.data},
            proposal_id=proposal_id,
            incident_id=current.incident_id,
            at_us=now,
        )
    return ApplyResult(
        proposal_id=proposal_id,
        done=outcome.ok,
        status=status,
        message=outcome.detail,
        outcome=outcome,
    )


__all__ = [
    "ApplyResult",
    "Decision",
    "NotAllowedError",
    "Proposal",
    "add_decision_hook",
    "apply",
    "approve",
    "expire_stale",
    "get_proposal",
    "list_proposals",
    "reject",
    "remove_decision_hook",
    "rollback",
    "verify",
]
