"""What every executor offers the runbook engine, and the registry that picks one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from tools.runbooks.models import (
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)


class Executor(Protocol):
    """Carries out actions on one kind of system (an HTTP API, a database, the simulator).

    ``dry_run`` and ``check`` may read but never write. ``capture`` reads the state that
    ``rollback`` will put back; ``execute`` gets it too (a SQL swap keeps a backup).
    """

    name: str

    def check(self, action: PlannedAction, check: str, params: dict[str, Any]) -> CheckResult: ...

    def dry_run(self, action: PlannedAction) -> DryRun: ...

    def capture(self, action: PlannedAction) -> dict[str, Any]: ...

    def execute(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome: ...

    def verify(self, action: PlannedAction, prior: dict[str, Any]) -> VerificationResult: ...

    def rollback(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome: ...


class UnknownExecutorError(LookupError):
    pass


class ExecutorRegistry:
    """Executors by name; an action bound to an absent executor cannot run."""

    def __init__(self, executors: Iterable[Executor] = ()) -> None:
        self._by_name: dict[str, Executor] = {}
        for executor in executors:
            self.add(executor)

    def add(self, executor: Executor, *, as_name: str | None = None) -> None:
        """Register ``executor``; ``as_name`` routes another binding to it (the simulator
        can stand in for ``http`` and ``sql`` so unchanged playbooks run against it)."""
        self._by_name[as_name or executor.name] = executor

    def get(self, name: str) -> Executor:
        found = self._by_name.get(name)
        if found is None:
            configured = ", ".join(sorted(self._by_name)) or "none"
            raise UnknownExecutorError(
                f"executor {name!r} is not configured here (configured: {configured})"
            )
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def close(self) -> None:
        """Release connections and clients of executors that hold any."""
        for executor in {id(e): e for e in self._by_name.values()}.values():
            close = getattr(executor, "close", None)
            if callable(close):
                close()
