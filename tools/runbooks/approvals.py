"""The approval queue: propose, decide exactly once, apply, verify, roll back; all audited.

The LLM never holds the pen: it may call :func:`propose`, but tiers come from policy,
only low-tier actions the policy allows are applied without a person, everything else
waits for :func:`approve` by a user whose roles allow it, and only the one caller that
wins the status transition acts. Each step writes its audit row in the same transaction
as its state change.

Adapters (CLI, MCP, web, the agent) call these functions; ``on_decision`` callbacks (and
:func:`add_decision_hook`) let a paused investigation resume once a decision lands.
"""

from __future__ import annotations

import hashlib
import logging
import secrets as pysecrets
from collections.abc import Callable
from typing import Any, Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from tools.runbooks import audit
from tools.runbooks.context import RemediationContext
from tools.runbooks.diagnosis import DiagnosisRunner, StoreDiagnosisRunner
from tools.runbooks.executors.base import ExecutorRegistry, UnknownExecutorError
from tools.runbooks.loader import load_playbooks
from tools.runbooks.models import (
    ActionError,
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)
from tools.runbooks.planner import plan
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.preconditions import all_ok, check_preconditions
from tools.runbooks.proposals import (
    OPEN_STATUSES,
    NotAllowedError,
    Proposal,
    claim,
    get_proposal,
    list_proposals,
    read_proposal,
)
from tools.runbooks.roles import ApprovalSettings, ApproverDirectory, refusal
from tools.runbooks.schema import Playbook
from tools.runbooks.secrets import EnvSecrets, Secrets
from tools.runbooks.verification import verify_action
from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_runbooks import ProposalRow

log = logging.getLogger(__name__)
# Executors talk to other systems; any of these means "it did not work", never a crash.
EXECUTOR_ERRORS = (ActionError, SQLAlchemyError, httpx.HTTPError, OSError, KeyError, ValueError)


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


# -- propose ------------------------------------------------------------------------------


def propose(
    store: Store,
    context: RemediationContext,
    *,
    playbooks: list[Playbook] | None = None,
    executors: ExecutorRegistry | None = None,
    secrets: Secrets | None = None,
    diagnosis: DiagnosisRunner | None = None,
    policy: PolicyConfig | None = None,
    settings: ApprovalSettings | None = None,
    requested_by: str = "flowsleuth",
    auto_apply: bool = True,
    now_us: int | None = None,
) -> list[Proposal]:
    """Plan actions for ``context`` and queue each; low-risk ones the policy allows apply.

    An action already open for the incident (same playbook step, same params) is not
    queued twice; its existing proposal is returned instead.
    """
    now = now_micros() if now_us is None else now_us
    cfg = settings or ApprovalSettings()
    registry = executors or ExecutorRegistry()
    vault = secrets or EnvSecrets()
    books = playbooks if playbooks is not None else load_playbooks().playbooks
    planned = plan(
        context,
        books,
        diagnosis=diagnosis or StoreDiagnosisRunner(store, now),
        policy=policy,
    )
    out: list[Proposal] = []
    for action in planned.actions:
        action = action.model_copy(update={"run_key": pysecrets.token_hex(5)})
        dedup = _dedup_key(context.incident_id, action)
        existing = _open_proposal(store, dedup)
        if existing is not None:
            out.append(existing)
            continue
        checks = check_preconditions(
            action, store=store, executors=registry, secrets=vault, context=context
        )
        preview = _dry_run(action, registry) if all_ok(checks) else None
        proposal = _insert(store, context, action, checks, preview, dedup, requested_by, now, cfg)
        if auto_apply and action.decision.auto_apply_allowed and all_ok(checks):
            proposal = _auto_apply(store, proposal, registry, vault, cfg, now)
        out.append(proposal)
    return out


def _dedup_key(incident_id: int, action: PlannedAction) -> str:
    text = audit.canonical([incident_id, action.key, action.type, action.params])
    return hashlib.sha256(text.encode()).hexdigest()


def _open_proposal(store: Store, dedup: str) -> Proposal | None:
    with store.read() as conn:
        found = conn.execute(
            select(ProposalRow.id)
            .where(ProposalRow.dedup_key == dedup, ProposalRow.status.in_(OPEN_STATUSES))
            .order_by(ProposalRow.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if found is None else read_proposal(conn, int(found))


def _dry_run(action: PlannedAction, registry: ExecutorRegistry) -> DryRun:
    try:
        return registry.get(action.executor).dry_run(action)
    except (*EXECUTOR_ERRORS, UnknownExecutorError) as exc:
        return DryRun(summary=f"dry run failed: {exc}", steps=[])


def _insert(
    store: Store,
    context: RemediationContext,
    action: PlannedAction,
    checks: list[CheckResult],
    preview: DryRun | None,
    dedup: str,
    requested_by: str,
    now: int,
    cfg: ApprovalSettings,
) -> Proposal:
    blast = {
        "revenue_at_risk_per_day": context.revenue_at_risk_per_day,
        "campaigns_affected": context.campaigns_affected,
        "at_risk": [a.model_dump(mode="json") for a in context.at_risk],
        "impacted": context.impacted,
        "owners": context.owners,
    }
    rollback_plan = action.rollback.model_dump(by_alias=True) | {
        "summary": _rollback_summary(action)
    }
    values = {
        "incident_id": context.incident_id,
        "dedup_key": dedup,
        "action_key": action.key,
        "playbook": action.playbook,
        "action_type": action.type,
        "executor": action.executor,
        "tier": action.decision.tier,
        "auto_apply_allowed": action.decision.auto_apply_allowed,
        "status": "proposed",
        "plan": action.model_dump(mode="json", by_alias=True),
        "context": context.model_dump(mode="json"),
        "evidence": action.evidence,
        "blast_radius": blast,
        "preconditions": [c.model_dump() for c in checks],
        "dry_run": preview.model_dump() if preview else None,
        "rollback_plan": rollback_plan,
        "requested_by": requested_by,
        "created_at": now,
        "updated_at": now,
        "expires_at": now + cfg.ttl_us,
    }
    with store.write() as conn:
        pid = int(
            conn.execute(
                insert(ProposalRow).values(**values).returning(ProposalRow.id)
            ).scalar_one()
        )
        audit.append(
            conn,
            actor=requested_by,
            event="proposed",
            rationale="; ".join(action.decision.reasons),
            payload={
                "action": action.key,
                "type": action.type,
                "params": action.params,
                "tier": action.decision.tier,
                "preconditions_ok": all_ok(checks),
            },
            proposal_id=pid,
            incident_id=context.incident_id,
            at_us=now,
        )
        return read_proposal(conn, pid)


def _rollback_summary(action: PlannedAction) -> str:
    if action.rollback.mode == "restore":
        return "put back the state captured just before applying"
    if action.rollback.mode == "request" and action.rollback.http is not None:
        spec = action.rollback.http
        return f"{spec.method} {spec.target}{spec.path}"
    return f"not reversible: {action.rollback.reason}"


def _auto_apply(
    store: Store,
    proposal: Proposal,
    registry: ExecutorRegistry,
    vault: Secrets,
    cfg: ApprovalSettings,
    now: int,
) -> Proposal:
    values = {"status": "approved", "decided_by": cfg.auto_actor, "decided_at": now}
    values |= {"reason": "auto-applied by policy", "updated_at": now}
    with store.write() as conn:
        if not claim(conn, proposal.id, "proposed", values):
            return read_proposal(conn, proposal.id)
        audit.append(
            conn,
            actor=cfg.auto_actor,
            event="approved",
            rationale="; ".join(proposal.plan.decision.reasons),
            payload={"auto": True},
            proposal_id=proposal.id,
            incident_id=proposal.incident_id,
            at_us=now,
        )
    apply(store, proposal.id, registry, secrets=vault, actor=cfg.auto_actor, now_us=now)
    return get_proposal(store, proposal.id)


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
    action = current.plan
    context = RemediationContext.model_validate(_context_of(store, proposal_id))
    checks = check_preconditions(
        action, store=store, executors=executors, secrets=secrets or EnvSecrets(), context=context
    )
    prior: dict[str, Any] = {}
    if not all_ok(checks):
        failed = [c.detail for c in checks if not c.ok]
        outcome = ActionOutcome(ok=False, detail="preconditions failed: " + "; ".join(failed))
    else:
        try:
            executor = executors.get(action.executor)
            prior = executor.capture(action)
            outcome = executor.execute(action, prior)
        except (*EXECUTOR_ERRORS, UnknownExecutorError) as exc:
            outcome = ActionOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
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
    result = verify_action(
        current.plan,
        current.prior_state or {},
        store=store,
        executor=executors.get(current.executor),
        applied_at_us=current.applied_at_us,
        now_us=now,
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
    try:
        outcome = executors.get(current.executor).rollback(current.plan, current.prior_state or {})
    except (*EXECUTOR_ERRORS, UnknownExecutorError) as exc:
        outcome = ActionOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
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
    "propose",
    "reject",
    "remove_decision_hook",
    "rollback",
    "verify",
]
