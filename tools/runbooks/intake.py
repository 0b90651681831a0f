"""Intake: an incident's context becomes queued proposals, low-risk ones applied by policy.

Each planned action is checked (preconditions), previewed (dry run) and stored with its
evidence, blast radius and rollback plan, audited as ``proposed`` in the same
transaction. Actions the policy marks auto-applicable go through the same approve and
apply transitions as a person's decision, with the policy as the actor.
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets

from sqlalchemy import insert, select

from tools.runbooks import audit
from tools.runbooks.actions import BoundAction
from tools.runbooks.approvals import apply
from tools.runbooks.context import RemediationContext
from tools.runbooks.diagnosis import DiagnosisRunner, StoreDiagnosisRunner
from tools.runbooks.executors.base import ExecutorRegistry
from tools.runbooks.loader import load_playbooks
from tools.runbooks.models import CheckResult, DryRun, PlannedAction
from tools.runbooks.planner import plan
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.preconditions import all_ok
from tools.runbooks.proposals import (
    OPEN_STATUSES,
    Proposal,
    claim,
    get_proposal,
    read_proposal,
)
from tools.runbooks.roles import ApprovalSettings
from tools.runbooks.schema import Playbook
from tools.runbooks.secrets import EnvSecrets, Secrets
from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_runbooks import ProposalRow


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
        bound = BoundAction(action, store, registry, vault, context)
        checks = bound.preconditions()
        preview = bound.dry_run() if all_ok(checks) else None
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
