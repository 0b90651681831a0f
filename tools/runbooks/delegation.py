"""What an automated caller (an IDE assistant over MCP, the agent) may do with a proposal.

It may ask a human to decide (:func:`request_approval`: audited, changes nothing else),
and it may apply an action only when the policy alone allows it
(:func:`apply_if_policy_allows`). The tier is decided again here, in code, from the
proposal's stored context and the current :class:`PolicyConfig`; both that decision and
the one stored at proposal time must say low risk and auto-applicable. Anything else
stays queued for a person with the right role, whatever the caller asks.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select

from tools.runbooks import audit
from tools.runbooks.context import RemediationContext
from tools.runbooks.executors.base import ExecutorRegistry
from tools.runbooks.intake import _auto_apply
from tools.runbooks.models import ActionOutcome
from tools.runbooks.policy import PolicyConfig, TierDecision, decide
from tools.runbooks.proposals import NotAllowedError, Proposal, get_proposal
from tools.runbooks.roles import ApprovalSettings
from tools.runbooks.secrets import EnvSecrets, Secrets
from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_runbooks import ProposalRow


class ApprovalRequest(BaseModel):
    """A queued proposal a human was asked to decide; nothing was approved or applied."""

    proposal_id: int
    incident_id: int
    action_key: str
    tier: str
    status: str
    required_roles: list[str]
    reasons: list[str]
    requested_by: str
    audit_seq: int
    message: str


def request_approval(
    store: Store, proposal_id: int, requester: str, note: str | None = None
) -> ApprovalRequest:
    """Record that ``requester`` asks a human to decide ``proposal_id``.

    Only a proposal still waiting (``proposed``) can be put to a human; the request is an
    audit entry (``approval_requested``) that the approval queue and notifiers read.
    """
    current = get_proposal(store, proposal_id)
    if current.status != "proposed":
        raise NotAllowedError(
            f"proposal {proposal_id} is {current.status}: only a proposed action awaits a decision"
        )
    decision = current.plan.decision
    entry = audit.record(
        store,
        actor=requester,
        event="approval_requested",
        rationale=note or "",
        payload={"tier": current.tier, "required_roles": decision.required_roles},
        proposal_id=proposal_id,
        incident_id=current.incident_id,
    )
    roles = ", ".join(decision.required_roles) or "none configured"
    return ApprovalRequest(
        proposal_id=proposal_id,
        incident_id=current.incident_id,
        action_key=current.action_key,
        tier=current.tier,
        status=current.status,
        required_roles=decision.required_roles,
        reasons=decision.reasons,
        requested_by=requester,
        audit_seq=entry.seq,
        message=(
            f"proposal {proposal_id} ({current.action_key}, {current.tier} risk) is queued for "
            f"a human with one of the roles [{roles}]"
        ),
    )


class PolicyApplyResult(BaseModel):
    proposal_id: int
    applied: bool
    status: str
    tier: str
    decision: TierDecision
    message: str
    outcome: ActionOutcome | None = None


def apply_if_policy_allows(
    store: Store,
    proposal_id: int,
    executors: ExecutorRegistry,
    *,
    requester: str,
    policy: PolicyConfig | None = None,
    settings: ApprovalSettings | None = None,
    secrets: Secrets | None = None,
    now_us: int | None = None,
) -> PolicyApplyResult:
    """Apply ``proposal_id`` if, and only if, the policy lets it apply without a person.

    Raises NotAllowedError (audited as ``policy_apply_refused``) for anything the policy
    does not mark low risk and auto-applicable, for failed preconditions and for a
    proposal no longer waiting. Otherwise the proposal goes through the same approve and
    apply transitions as intake's auto-apply, with the policy as the approver.
    """
    now = now_micros() if now_us is None else now_us
    cfg = settings or ApprovalSettings()
    current = get_proposal(store, proposal_id)
    context = _context(store, proposal_id)
    decision = decide(current.action_type, current.plan.params, context, policy)
    why = _refusal(current, decision)
    if why is not None:
        audit.record(
            store,
            actor=requester,
            event="policy_apply_refused",
            rationale=why,
            payload={"tier": decision.tier, "stored_tier": current.tier},
            proposal_id=proposal_id,
            incident_id=current.incident_id,
            at_us=now,
        )
        raise NotAllowedError(why)
    audit.record(
        store,
        actor=requester,
        event="policy_apply_requested",
        rationale="; ".join(decision.reasons),
        payload={"tier": decision.tier},
        proposal_id=proposal_id,
        incident_id=current.incident_id,
        at_us=now,
    )
    after = _auto_apply(store, current, executors, secrets or EnvSecrets(), cfg, now)
    outcome = ActionOutcome.model_validate(after.result) if after.result else None
    return PolicyApplyResult(
        proposal_id=proposal_id,
        applied=after.status == "applied",
        status=after.status,
        tier=after.tier,
        decision=decision,
        message=outcome.detail if outcome else f"proposal {proposal_id} is {after.status}",
        outcome=outcome,
    )


def _refusal(current: Proposal, decision: TierDecision) -> str | None:
    if current.status != "proposed":
        return f"proposal {current.id} is {current.status}: only a proposed action can be applied"
    roles = ", ".join(decision.required_roles) or "none configured"
    human = f"it needs a human with one of the roles [{roles}]; ask with request_approval"
    if decision.tier != "low" or current.tier != "low":
        tier = decision.tier if decision.tier != "low" else current.tier
        return f"{current.action_type} is {tier} risk ({'; '.join(decision.reasons)}): {human}"
    if not decision.auto_apply_allowed or not current.auto_apply_allowed:
        return f"the policy does not let {current.action_type} apply automatically: {human}"
    if not current.preconditions_ok:
        failed = "; ".join(c.detail for c in current.preconditions if not c.ok)
        return f"preconditions failed ({failed}): nothing was applied"
    return None


def _context(store: Store, proposal_id: int) -> RemediationContext:
    with store.read() as conn:
        raw = conn.execute(
            select(ProposalRow.context).where(ProposalRow.id == proposal_id)
        ).scalar_one()
    return RemediationContext.model_validate(raw)


__all__ = [
    "ApprovalRequest",
    "PolicyApplyResult",
    "apply_if_policy_allows",
    "request_approval",
]
