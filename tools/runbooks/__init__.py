"""Runbooks: playbooks as data, risk tiers in code, an exactly-once approval queue, audit.

The public API other code (CLI, MCP server, web UI, agent) adapts:

- :func:`load_playbooks` / :class:`Playbook`: the playbooks and their load errors.
- :class:`RemediationContext`, :func:`context_from_incident`: the engine's input.
- :func:`decide` / :class:`PolicyConfig`: the risk tier of an action.
- :func:`plan`: concrete actions for a context.
- :func:`propose`, :func:`approve`, :func:`reject`, :func:`apply`, :func:`verify`,
  :func:`rollback`, :func:`expire_stale`, :func:`list_proposals`, :func:`get_proposal`.
- :func:`verify_chain`, :func:`list_audit`: the hash-chained audit log.
"""

from tools.runbooks.actions import BoundAction, Execution
from tools.runbooks.approvals import (
    ApplyResult,
    Decision,
    add_decision_hook,
    apply,
    approve,
    expire_stale,
    reject,
    remove_decision_hook,
    rollback,
    verify,
)
from tools.runbooks.audit import AuditEntry, VerifyResult, list_audit, verify_chain
from tools.runbooks.context import (
    ContextError,
    RemediationContext,
    context_from_incident,
    load_context_file,
)
from tools.runbooks.intake import propose
from tools.runbooks.loader import LoadResult, PlaybookError, load_playbooks
from tools.runbooks.models import PlannedAction
from tools.runbooks.planner import Plan, plan
from tools.runbooks.policy import PolicyConfig, TierDecision, decide
from tools.runbooks.proposals import (
    NotAllowedError,
    Proposal,
    UnknownProposalError,
    get_proposal,
    list_proposals,
)
from tools.runbooks.roles import ApprovalSettings, ApproverDirectory
from tools.runbooks.runtime import default_executors
from tools.runbooks.schema import Playbook

__all__ = [
    "ApplyResult",
    "ApprovalSettings",
    "ApproverDirectory",
    "AuditEntry",
    "BoundAction",
    "ContextError",
    "Decision",
    "Execution",
    "LoadResult",
    "NotAllowedError",
    "Plan",
    "PlannedAction",
    "Playbook",
    "PlaybookError",
    "PolicyConfig",
    "Proposal",
    "RemediationContext",
    "TierDecision",
    "UnknownProposalError",
    "VerifyResult",
    "add_decision_hook",
    "apply",
    "approve",
    "context_from_incident",
    "decide",
    "default_executors",
    "expire_stale",
    "get_proposal",
    "list_audit",
    "list_proposals",
    "load_context_file",
    "load_playbooks",
    "plan",
    "propose",
    "reject",
    "remove_decision_hook",
    "rollback",
    "verify",
    "verify_chain",
]
