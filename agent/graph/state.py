"""The investigation's typed state and the run-time dependencies its nodes use.

State is what a checkpoint keeps: plain JSON (dicts, lists, strings, numbers), so a
paused investigation can be resumed by another process, or another release, reading it
back. Dependencies (the store, executors, the chat model) are not state: each process
passes its own through :class:`AgentDeps` as LangGraph run context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel

from tools.runbooks import ApprovalSettings, PolicyConfig
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.schema import Playbook
from tools.store.db import Store

Family = Literal["runs", "metrics", "schema", "lineage", "logs"]
FAMILIES: tuple[Family, ...] = ("runs", "metrics", "schema", "lineage", "logs")
Status = Literal["running", "awaiting_approval", "complete"]


def merge_evidence(
    current: dict[str, list[dict[str, Any]]] | None, update: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Evidence branches run in parallel, each writing its own family's key."""
    return {**(current or {}), **update}


def merge_errors(current: dict[str, str] | None, update: dict[str, str]) -> dict[str, str]:
    return {**(current or {}), **update}


class InvestigationState(TypedDict, total=False):
    incident_id: int
    at_us: int
    started_at: str
    incident: dict[str, Any]  # IncidentView as JSON
    families: list[str]  # which evidence families triage asked for
    evidence: Annotated[dict[str, list[dict[str, Any]]], merge_evidence]
    evidence_errors: Annotated[dict[str, str], merge_errors]  # family -> "" or the error
    hypotheses: list[dict[str, Any]]
    impact: dict[str, Any]
    candidate_actions: list[dict[str, Any]]
    explanation: dict[str, Any]  # agent.llm.Explanation as JSON
    llm: dict[str, Any]  # agent.llm.LLMUsage as JSON
    proposals: list[dict[str, Any]]
    awaiting: list[int]  # proposal ids waiting for a person
    decisions: list[dict[str, Any]]  # resume values, in the order they arrived
    applied: list[dict[str, Any]]  # ApplyResult JSON of what this graph applied
    verification: list[dict[str, Any]]
    status: Status
    notes: list[str]
    report: dict[str, Any]


@dataclass
class AgentDeps:
    """What nodes need from the process running them (never checkpointed)."""

    store: Store
    executors: ExecutorRegistry
    model: BaseChatModel | None = None
    playbooks: list[Playbook] | None = None
    policy: PolicyConfig | None = None
    settings: ApprovalSettings | None = None
    requested_by: str = "flowsleuth-agent"
    auto_apply: bool = True
    now_us: int | None = None  # "now" for proposals, expiry, apply and verify
    budget_tokens: int = 8000


__all__ = [
    "FAMILIES",
    "AgentDeps",
    "Family",
    "InvestigationState",
    "Status",
    "merge_errors",
    "merge_evidence",
]
