"""Simulator executor: actions applied to a simulated stack through a small protocol.

The simulator implements :class:`SimulatorControl`; this executor only forwards and keeps
a journal of every call, so evaluations can assert exactly what the engine did.
:class:`InMemorySimulator` is a reference implementation that keeps per-target state.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from pydantic import BaseModel

from tools.runbooks.models import (
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)


class SimulatorControl(Protocol):
    """What a simulated stack offers the runbook engine."""

    def capture(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The state ``rollback`` would restore (read-only)."""
        ...

    def apply(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Carry out the action; return what changed. Raise to report failure."""
        ...

    def rollback(
        self, action: str, params: dict[str, Any], prior: dict[str, Any]
    ) -> dict[str, Any]:
        """Put back ``prior`` as captured before ``apply``."""
        ...

    def check(self, check: str, params: dict[str, Any]) -> bool:
        """Answer a precondition (``node_exists``, ``snapshot_exists``, ...)."""
        ...


class JournalEntry(BaseModel):
    call: str
    action: str
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None


class SimulatorExecutor:
    name = "simulator"

    def __init__(self, control: SimulatorControl) -> None:
        self.control = control
        self.journal: list[JournalEntry] = []

    def check(self, action: PlannedAction, check: str, params: dict[str, Any]) -> CheckResult:
        merged = action.params | params
        try:
            ok = bool(self.control.check(check, merged))
        except Exception as exc:  # the simulator's failure is a failed check, not a crash
            return CheckResult(check=check, ok=False, detail=f"simulator: {exc}")
        return CheckResult(check=check, ok=ok, detail=f"simulator says {check}: {ok}")

    def dry_run(self, action: PlannedAction) -> DryRun:
        return DryRun(
            summary=f"simulator: {action.type}",
            steps=[f"simulator.apply({action.type!r}, {action.params!r})"],
            observed={"prior": self.control.capture(action.type, dict(action.params))},
        )

    def capture(self, action: PlannedAction) -> dict[str, Any]:
        prior = self.control.capture(action.type, dict(action.params))
        self.journal.append(
            JournalEntry(call="capture", action=action.type, params=action.params, result=prior)
        )
        return prior

    def execute(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        return self._call(
            "apply", action, lambda: self.control.apply(action.type, dict(action.params))
        )

    def rollback(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        return self._call(
            "rollback",
            action,
            lambda: self.control.rollback(action.type, dict(action.params), prior),
        )

    def verify(self, action: PlannedAction, prior: dict[str, Any]) -> VerificationResult:
        try:
            ok = bool(
                self.control.check("recovered", dict(action.params) | {"action": action.type})
            )
        except Exception as exc:
            return VerificationResult(status="failed", detail=f"simulator: {exc}")
        if ok:
            return VerificationResult(status="passed", detail="simulator reports recovery")
        return VerificationResult(status="pending", detail="simulator reports no recovery yet")

    def _call(self, call: str, action: PlannedAction, fn: Any) -> ActionOutcome:
        try:
            result = fn()
        except Exception as exc:
            self.journal.append(
                JournalEntry(call=call, action=action.type, params=action.params, error=str(exc))
            )
            return ActionOutcome(ok=False, detail=f"simulator {call} failed: {exc}")
        self.journal.append(
            JournalEntry(call=call, action=action.type, params=action.params, result=result)
        )
        return ActionOutcome(ok=True, detail=f"simulator {call}: {action.type}", data=result)


class InMemorySimulator:
    """A stand-in stack: a dict of state per target, changed by actions, restorable.

    The target of an action is its first identifying param (job, view, table, campaign,
    destination, node), and ``apply`` records ``{action: count}`` plus a status flag, so
    tests can tell a rollback restored the exact prior state.
    """

    TARGET_KEYS = ("job", "view", "table", "campaign", "destination", "node", "owners")

    def __init__(self, known: set[str] | None = None) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.known = known
        self.recovered: set[str] = set()

    def _target(self, params: dict[str, Any]) -> str:
        for key in self.TARGET_KEYS:
            if params.get(key):
                return str(params[key])
        return "stack"

    def capture(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(self.state.get(self._target(params), {}))

    def apply(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        entry = self.state.setdefault(target, {})
        entry[action] = int(entry.get(action, 0)) + 1
        entry["status"] = {"pause_campaign": "paused"}.get(action, "remediated")
        self.recovered.add(target)
        return {"target": target, "state": copy.deepcopy(entry)}

    def rollback(
        self, action: str, params: dict[str, Any], prior: dict[str, Any]
    ) -> dict[str, Any]:
        target = self._target(params)
        if prior:
            self.state[target] = copy.deepcopy(prior)
        else:
            self.state.pop(target, None)
        self.recovered.discard(target)
        return {"target": target, "restored": copy.deepcopy(prior)}

    def check(self, check: str, params: dict[str, Any]) -> bool:
        if check == "recovered":
            return self._target(params) in self.recovered
        if self.known is None:
            return True
        names = {str(v) for v in params.values() if isinstance(v, str)}
        return bool(names & self.known)
