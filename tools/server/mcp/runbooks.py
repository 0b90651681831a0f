"""Runbook tools: playbooks, proposals with their dry runs, and (with writes enabled)
proposing, asking a human for approval and applying what the policy alone allows.

No tool here decides a tier: :mod:`tools.runbooks.policy` does, in code. Proposing
applies nothing; applying goes through :func:`apply_if_policy_allows`, which refuses
anything the policy does not mark low risk and auto-applicable; everything else can only
be queued for a person with the right role (who decides in the CLI, web or Slack).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tools.faults import FAULT_KINDS, FaultKind
from tools.runbooks import (
    PlaybookError,
    Proposal,
    context_from_incident,
    get_proposal,
    list_proposals,
    propose,
)
from tools.runbooks.delegation import (
    ApprovalRequest,
    PolicyApplyResult,
    apply_if_policy_allows,
    request_approval,
)
from tools.runbooks.policy import ACTION_RULES
from tools.runbooks.schema import Playbook
from tools.server.mcp.args import IncidentArg, LimitArg, OffsetArg, ProposalArg
from tools.server.mcp.budget import Page, Result
from tools.server.mcp.registry import ToolDeps, tool

FAMILY = "runbooks"

ProposalStatus = Literal[
    "proposed", "approved", "rejected", "expired", "applying", "applied", "failed",
    "rolling_back", "rolled_back", "rollback_failed",
]


class ActionSummary(BaseModel):
    id: str
    type: str
    executor: str
    description: str
    base_tier: str = Field(description="Risk tier by action type, before blast radius raises it")
    never_automatic: str | None = Field(None, description="Why a person must always approve")


class PlaybookSummary(BaseModel):
    id: str
    title: str
    description: str
    fault_kinds: list[str]
    any_fault: bool
    catalog_kinds: list[str]
    min_confidence: float
    actions: list[ActionSummary]


class PlaybookCatalog(BaseModel):
    playbooks: list[PlaybookSummary]
    errors: list[PlaybookError] = Field(description="Playbook files that failed to load")


class ProposalSummary(BaseModel):
    id: int
    incident_id: int
    action_key: str
    action_type: str
    tier: str
    auto_apply_allowed: bool
    status: str
    preconditions_ok: bool
    dry_run: str | None
    required_roles: list[str]
    created_at: str
    expires_at: str
    decided_by: str | None


class RemediationProposals(BaseModel):
    incident_id: int
    proposals: list[ProposalSummary]
    applied: int = Field(description="Always 0: proposing applies nothing")
    next_steps: str


def summarize_playbook(book: Playbook) -> PlaybookSummary:
    actions = []
    for a in book.actions:
        rule = ACTION_RULES.get(a.type)
        actions.append(
            ActionSummary(
                id=a.id,
                type=a.type,
                executor=a.executor,
                description=a.description,
                base_tier=rule.base if rule else "high",
                never_automatic=rule.never_auto if rule else "unknown action type",
            )
        )
    return PlaybookSummary(
        id=book.id,
        title=book.title,
        description=book.description.strip(),
        fault_kinds=list(book.trigger.fault_kinds),
        any_fault=book.trigger.any_fault,
        catalog_kinds=list(book.trigger.catalog_kinds),
        min_confidence=book.trigger.min_confidence,
        actions=actions,
    )


def summarize_proposal(p: Proposal) -> ProposalSummary:
    return ProposalSummary(
        id=p.id,
        incident_id=p.incident_id,
        action_key=p.action_key,
        action_type=p.action_type,
        tier=p.tier,
        auto_apply_allowed=p.auto_apply_allowed,
        status=p.status,
        preconditions_ok=p.preconditions_ok,
        dry_run=p.dry_run.summary if p.dry_run else None,
        required_roles=p.plan.decision.required_roles,
        created_at=p.created_at,
        expires_at=p.expires_at,
        decided_by=p.decided_by,
    )


class RunbookTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.budget = deps.budget

    @tool("List playbooks")
    def list_playbooks(
        self,
        fault_kind: Annotated[
            FaultKind | None,
            Field(description=f"Only playbooks triggered by this kind: {', '.join(FAULT_KINDS)}"),
        ] = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 50,
    ) -> Result[PlaybookCatalog]:
        """Remediation playbooks: what triggers each (fault kinds, catalog kinds, minimum
        confidence) and its actions with their base risk tier. Files that fail to load
        are listed under `errors`."""
        loaded = self.deps.playbooks()
        books = [
            summarize_playbook(b)
            for b in loaded.playbooks
            if fault_kind is None or b.trigger.any_fault or fault_kind in b.trigger.fault_kinds
        ]
        view = PlaybookCatalog(playbooks=books, errors=loaded.errors)
        return self.budget.view(view, "playbooks", offset=offset, limit=limit)

    @tool("List remediation proposals")
    def list_proposals(
        self,
        status: Annotated[ProposalStatus | None, Field(description="Only this status")] = None,
        incident_id: Annotated[int | None, Field(ge=1, description="Only this incident")] = None,
        offset: OffsetArg = 0,
        limit: LimitArg = 20,
    ) -> Page[ProposalSummary]:
        """Remediation proposals (the approval queue), newest first: action, risk tier,
        whether policy lets it auto-apply, status, preconditions and dry-run summary."""
        found = list_proposals(
            self.store, status=status, incident_id=incident_id, limit=offset + limit + 1
        )
        items = [summarize_proposal(p) for p in found[offset:]]
        return self.budget.page(items, offset=offset, limit=limit)

    @tool("Show a proposal with its dry run")
    def get_proposal(self, proposal_id: ProposalArg) -> Result[Proposal]:
        """One proposal in full: the planned action and its parameters, the policy's tier
        decision with reasons and required approver roles, evidence, blast radius,
        precondition checks, the dry run (exactly what applying would do), the rollback
        plan, and its decision and result if any."""
        return self.budget.single(get_proposal(self.store, proposal_id))

    @tool("Propose remediation for an incident", write=True, idempotent=True, open_world=True)
    def propose_remediation(self, incident_id: IncidentArg) -> Result[RemediationProposals]:
        """Plan remediation for an incident from the playbooks and queue each action as a
        proposal with its risk tier, preconditions and dry run. Applies nothing. An action
        already open for the incident is returned instead of queued twice."""
        loaded = self.deps.playbooks()
        context = context_from_incident(self.store, incident_id)
        with self.deps.executors() as registry:
            proposals = propose(
                self.store,
                context,
                playbooks=loaded.playbooks,
                executors=registry,
                policy=self.deps.policy,
                settings=self.deps.approval_settings,
                requested_by=self.deps.actor(),
                auto_apply=False,
                now_us=self.deps.now_us(),
            )
        low = [p.id for p in proposals if p.auto_apply_allowed and p.status == "proposed"]
        steps = (
            f"nothing was applied. Low-risk proposals the policy allows ({low}) can be applied "
            "with apply_low_risk_proposal; every other one needs a person: call "
            "request_approval and let an approver decide."
            if proposals
            else "no playbook matched this incident; nothing was queued."
        )
        view = RemediationProposals(
            incident_id=incident_id,
            proposals=[summarize_proposal(p) for p in proposals],
            applied=0,
            next_steps=steps,
        )
        return self.budget.view(view, "proposals", offset=0, limit=100)

    @tool("Request human approval", write=True, idempotent=False)
    def request_approval(
        self,
        proposal_id: ProposalArg,
        note: Annotated[
            str | None, Field(max_length=2000, description="Why approval is asked for")
        ] = None,
    ) -> Result[ApprovalRequest]:
        """Ask a person to decide a queued proposal (recorded in the audit log for the
        approval queue). Approves nothing and applies nothing; says which roles may
        approve it."""
        return self.budget.single(
            request_approval(self.store, proposal_id, self.deps.actor(), note)
        )

    @tool(
        "Apply a low-risk proposal", write=True, destructive=True, idempotent=False,
        open_world=True,
    )
    def apply_low_risk_proposal(self, proposal_id: ProposalArg) -> Result[PolicyApplyResult]:
        """Apply a proposal only if the policy marks it low risk and auto-applicable
        (decided again in code at call time). Anything else is refused with the roles
        that must approve it: use request_approval for those."""
        with self.deps.executors() as registry:
            result = apply_if_policy_allows(
                self.store,
                proposal_id,
                registry,
                requester=self.deps.actor(),
                policy=self.deps.policy,
                settings=self.deps.approval_settings,
                now_us=self.deps.now_us(),
            )
        return self.budget.single(result)
