"""A planned action bound to the systems it acts on: check, dry run, execute, verify, undo.

The approval queue drives these through status transitions; code that runs an action
outside the queue (an evaluation harness, a notebook) uses the same object, so there is
one implementation of each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from tools.runbooks.context import RemediationContext
from tools.runbooks.executors.base import Executor, ExecutorRegistry, UnknownExecutorError
from tools.runbooks.models import (
    ActionError,
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)
from tools.runbooks.preconditions import check_preconditions
from tools.runbooks.secrets import Secrets
from tools.runbooks.verification import verify_action
from tools.store.db import Store

# Executors talk to other systems; any of these means "it did not work", never a crash.
EXECUTOR_ERRORS = (
    ActionError,
    SQLAlchemyError,
    httpx.HTTPError,
    OSError,
    KeyError,
    ValueError,
    UnknownExecutorError,
)


class Execution(BaseModel):
    """What running an action did, with the handle that undoes it (the prior state)."""

    outcome: ActionOutcome
    prior: dict[str, Any] = Field(default_factory=dict)
    preconditions: list[CheckResult] = Field(default_factory=list)


@dataclass
class BoundAction:
    action: PlannedAction
    store: Store
    executors: ExecutorRegistry
    secrets: Secrets
    context: RemediationContext | None = None

    def executor(self) -> Executor:
        return self.executors.get(self.action.executor)

    def preconditions(self) -> list[CheckResult]:
        return check_preconditions(
            self.action,
            store=self.store,
            executors=self.executors,
            secrets=self.secrets,
            context=self.context,
        )

    def dry_run(self) -> DryRun:
        """What would happen; reads at most, and a failure to read is shown, not raised."""
        try:
            return self.executor().dry_run(self.action)
        except EXECUTOR_ERRORS as exc:
            return DryRun(summary=f"dry run failed: {exc}", steps=[])

    def execute(self) -> Execution:
        """Check preconditions again, capture the prior state, then act."""
        checks = self.preconditions()
        failed = [c.detail for c in checks if not c.ok]
        if failed:
            detail = "preconditions failed: " + "; ".join(failed)
            return Execution(outcome=ActionOutcome(ok=False, detail=detail), preconditions=checks)
        prior: dict[str, Any] = {}
        try:
            executor = self.executor()
            prior = executor.capture(self.action)
            outcome = executor.execute(self.action, prior)
        except EXECUTOR_ERRORS as exc:
            outcome = ActionOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
        return Execution(outcome=outcome, prior=prior, preconditions=checks)

    def verify(
        self, prior: dict[str, Any], *, applied_at_us: int, now_us: int
    ) -> VerificationResult:
        executor = self.executor() if self.action.executor in self.executors else None
        return verify_action(
            self.action,
            prior,
            store=self.store,
            executor=executor,
            applied_at_us=applied_at_us,
            now_us=now_us,
        )

    def rollback(self, prior: dict[str, Any]) -> ActionOutcome:
        if self.action.rollback.mode == "none":
            return ActionOutcome(ok=False, detail=f"not reversible: {self.action.rollback.reason}")
        try:
            return self.executor().rollback(self.action, prior)
        except EXECUTOR_ERRORS as exc:
            return ActionOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
