"""The typed values the runbook engine passes around and stores (all JSON-serialisable)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.runbooks.policy import TierDecision
from tools.runbooks.schema import (
    ActionType,
    ExecutorName,
    HttpRequestSpec,
    Precondition,
    Rollback,
    Verification,
)


class PlannedAction(BaseModel):
    """One concrete action: a playbook step with every placeholder filled from the context.

    Only the rollback may still hold ``{{ prior.* }}`` placeholders; they are filled with
    the state captured just before the action ran.
    """

    key: str = Field(description="playbook/action: stable within one incident")
    playbook: str
    action_id: str
    type: ActionType
    executor: ExecutorName
    description: str = ""
    params: dict[str, Any]
    http: HttpRequestSpec | None = None
    capture: HttpRequestSpec | None = None
    preconditions: list[Precondition] = Field(default_factory=list)
    verification: Verification
    rollback: Rollback
    decision: TierDecision
    evidence: dict[str, Any] = Field(default_factory=dict)
    # Unique per proposal once queued; executors name scratch objects after it.
    run_key: str = ""


class SkippedAction(BaseModel):
    """A playbook step that matched but could not be planned, and why."""

    playbook: str
    action_id: str
    reason: str


class CheckResult(BaseModel):
    check: str
    ok: bool
    detail: str


class DryRun(BaseModel):
    """Exactly what executing would do; producing it changes nothing anywhere."""

    summary: str
    steps: list[str]
    observed: dict[str, Any] = Field(default_factory=dict)


class ActionOutcome(BaseModel):
    ok: bool
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


VerifyStatus = Literal["passed", "pending", "failed"]


class VerificationResult(BaseModel):
    status: VerifyStatus
    detail: str
    observed: dict[str, Any] = Field(default_factory=dict)
    deadline: str | None = None


class ActionError(RuntimeError):
    """An executor could not do what it was asked; the message says what and where."""
