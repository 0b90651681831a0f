"""Preconditions: facts that must hold right before an action runs, checked each time.

Checks about flowsleuth's own knowledge (the node exists, no run is in progress) read the
store; checks about the system acted on (a snapshot table exists, the target has a URL)
are answered by the action's executor. An HTTP action always checks its target is
configured, whatever the playbook lists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tools.nodes import NodeIdError, NodeRef
from tools.runbooks.context import RemediationContext
from tools.runbooks.executors.base import ExecutorRegistry, UnknownExecutorError
from tools.runbooks.models import CheckResult, PlannedAction
from tools.runbooks.policy import window_days
from tools.runbooks.schema import EXECUTOR_CHECKS, Precondition
from tools.runbooks.secrets import Secrets
from tools.store.db import Store
from tools.store.models import Run
from tools.store.queries import UnknownNodeError, node_id

IN_PROGRESS = frozenset({"START", "RUNNING"})


def check_preconditions(
    action: PlannedAction,
    *,
    store: Store,
    executors: ExecutorRegistry,
    secrets: Secrets,
    context: RemediationContext | None = None,
) -> list[CheckResult]:
    """Every precondition of ``action``, in order; none of them changes anything."""
    try:
        executor = executors.get(action.executor)
    except UnknownExecutorError as exc:
        return [CheckResult(check="executor_configured", ok=False, detail=str(exc))]
    checks = list(action.preconditions)
    if action.http is not None and not any(c.check == "target_configured" for c in checks):
        checks.insert(0, Precondition(check="target_configured", params={}))
    results = []
    for pre in checks:
        if pre.check in EXECUTOR_CHECKS:
            results.append(executor.check(action, pre.check, dict(pre.params)))
        else:
            results.append(_generic(pre.check, pre.params, action, store, secrets, context))
    return results


def _generic(
    check: str,
    params: dict[str, Any],
    action: PlannedAction,
    store: Store,
    secrets: Secrets,
    context: RemediationContext | None,
) -> CheckResult:
    try:
        if check == "node_exists":
            ref = NodeRef.parse(str(params["node"]))
            node_id(store, ref)
            return CheckResult(check=check, ok=True, detail=f"{ref} is known")
        if check == "no_run_in_progress":
            return _no_run_in_progress(store, NodeRef.parse(str(params["job"])))
        if check == "secret_present":
            name = str(params["name"])
            present = secrets.get(name) is not None
            detail = f"secret {name} is {'set' if present else 'not set'}"
            return CheckResult(check=check, ok=present, detail=detail)
        if check == "window_max_days":
            limit = float(params["max_days"])
            days = window_days(action.params, context) if context else None
            if days is None:
                return CheckResult(check=check, ok=False, detail="no window to measure")
            return CheckResult(
                check=check, ok=days <= limit, detail=f"window {days:.1f} days (max {limit:g})"
            )
    except KeyError as exc:
        return CheckResult(check=check, ok=False, detail=f"{check} needs param {exc}")
    except (UnknownNodeError, NodeIdError, ValueError) as exc:
        return CheckResult(check=check, ok=False, detail=str(exc))
    return CheckResult(check=check, ok=False, detail=f"no such precondition {check!r}")


def _no_run_in_progress(store: Store, ref: NodeRef) -> CheckResult:
    if ref.type != "job":
        return CheckResult(check="no_run_in_progress", ok=False, detail=f"{ref} is not a job")
    job = node_id(store, ref)
    with store.read() as conn:
        latest = conn.execute(
            select(Run.run_uuid, Run.state)
            .where(Run.job_id == job)
            .order_by(Run.last_event_at.desc())
            .limit(1)
        ).first()
    if latest is not None and latest.state in IN_PROGRESS:
        return CheckResult(
            check="no_run_in_progress",
            ok=False,
            detail=f"run {latest.run_uuid} of {ref} is {latest.state}",
        )
    state = latest.state if latest is not None else "none"
    return CheckResult(check="no_run_in_progress", ok=True, detail=f"latest run state: {state}")


def all_ok(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results)
