"""Decisions resume paused investigations, exactly once.

An investigation that proposed actions needing a person pauses (a LangGraph interrupt,
checkpointed). Whoever records a decision through the runbook engine (CLI, web, Slack)
then calls :func:`resume_incident`, or :func:`apply_decision` which falls back to a plain
apply when no investigation waits for that proposal. :func:`resume_hook` does the same
from :func:`tools.runbooks.add_decision_hook` for in-process surfaces.

Exactly once: the graph applies only proposals the engine shows approved, and the
engine's status claim lets a single caller apply; a decision for an investigation that
already finished, or that no longer waits for that proposal, is refused with an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from agent.graph.build import build_graph
from agent.graph.checkpoint import checkpoints_exist, open_checkpointer, thread_lock
from agent.graph.run import AgentResult, catch_up, is_paused, result_of, thread_config
from agent.graph.state import AgentDeps
from tools.runbooks import ApplyResult, Decision, apply, expire_stale, get_proposal
from tools.runbooks.executors import ExecutorRegistry
from tools.store.db import Store
from tools.store.models import now_micros


class ResumeError(RuntimeError):
    """A decision that cannot resume an investigation; the message says why."""


class NoInvestigationError(ResumeError, LookupError):
    pass


class InvestigationFinishedError(ResumeError):
    pass


class NotAwaitedError(ResumeError):
    pass


class UndecidedError(ResumeError):
    pass


class InvestigationBusyError(ResumeError):
    """Another process is moving the investigation on right now; try again shortly."""


def _value(decision: Decision | Mapping[str, Any], apply_now: bool) -> dict[str, Any]:
    data = decision.model_dump() if isinstance(decision, Decision) else dict(decision)
    if not isinstance(data.get("proposal_id"), int):
        raise ResumeError(f"a decision needs an integer proposal_id, got {data!r}")
    return {
        "proposal_id": data["proposal_id"],
        "outcome": data.get("outcome") or data.get("status"),
        "decided_by": data.get("decided_by"),
        "reason": data.get("reason"),
        "apply": apply_now,
        "source": "decision",
    }


def resume_incident(
    store: Store,
    incident_id: int,
    decision: Decision | Mapping[str, Any],
    *,
    executors: ExecutorRegistry | None = None,
    deps: AgentDeps | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    apply_now: bool = True,
) -> AgentResult:
    """Pass a recorded decision to the investigation of ``incident_id`` and run it on
    (apply, verify, report, or pause again for the next awaited proposal).

    Raises NoInvestigationError (no such thread), InvestigationFinishedError (it already
    ended: the decision is refused), NotAwaitedError (it does not wait for that
    proposal, e.g. a second resume with the same decision) and UndecidedError (the engine
    has no decision for the proposal yet: decide through the approval queue first).
    """
    value = _value(decision, apply_now)
    run_deps = deps or AgentDeps(store=store, executors=executors or ExecutorRegistry())
    if checkpointer is None:
        with open_checkpointer(store) as saver:
            return _resume(run_deps, incident_id, value, saver)
    return _resume(run_deps, incident_id, value, checkpointer)


def _resume(
    deps: AgentDeps, incident_id: int, value: dict[str, Any], saver: BaseCheckpointSaver[Any]
) -> AgentResult:
    with thread_lock(deps.store, incident_id):
        return _resume_locked(deps, incident_id, value, saver)


def _resume_locked(
    deps: AgentDeps, incident_id: int, value: dict[str, Any], saver: BaseCheckpointSaver[Any]
) -> AgentResult:
    graph = build_graph(saver)
    config = thread_config(incident_id)
    snapshot = graph.get_state(config)
    pid = value["proposal_id"]
    if not snapshot.values:
        raise NoInvestigationError(f"incident {incident_id} has no investigation to resume")
    if snapshot.next and not is_paused(snapshot):
        raise InvestigationBusyError(
            f"the investigation of incident {incident_id} is being moved on right now "
            f"(at {', '.join(snapshot.next)}); the decision on proposal {pid} was not passed in"
        )
    if not is_paused(snapshot):
        status = snapshot.values.get("status", "unknown")
        finished = (snapshot.values.get("report") or {}).get("finished_at") or "earlier"
        raise InvestigationFinishedError(
            f"the investigation of incident {incident_id} is {status} (finished {finished}); "
            f"the decision on proposal {pid} is refused: nothing is waiting for it"
        )
    awaiting = list(snapshot.values.get("awaiting") or [])
    if pid not in awaiting:
        raise NotAwaitedError(
            f"the investigation of incident {incident_id} is not waiting for proposal {pid} "
            f"(waiting for: {', '.join(map(str, awaiting)) or 'nothing'}); "
            "it may have been decided and resumed already"
        )
    current = get_proposal(deps.store, pid)
    if current.status == "proposed":
        raise UndecidedError(
            f"proposal {pid} has no recorded decision; approve or reject it through the "
            "approval queue (flowsleuth approvals approve|reject) before resuming"
        )
    graph.invoke(Command(resume=value), config, context=deps, durability="sync", version="v2")
    return result_of(graph, config, incident_id)


def awaited_by(store: Store, incident_id: int, proposal_id: int) -> bool:
    """Does a paused investigation of ``incident_id`` wait for ``proposal_id``?"""
    if not checkpoints_exist(store):
        return False
    with open_checkpointer(store) as saver:
        snapshot = build_graph(saver).get_state(thread_config(incident_id))
    return is_paused(snapshot) and proposal_id in (snapshot.values.get("awaiting") or [])


def apply_decision(
    store: Store,
    decision: Decision,
    executors: ExecutorRegistry,
    *,
    apply_now: bool = True,
    actor: str | None = None,
    now_us: int | None = None,
) -> ApplyResult | None:
    """What an approval surface calls after a winning decision.

    When an investigation waits for the proposal it is resumed (and applies, verifies
    and reports); otherwise an approved proposal is applied directly unless
    ``apply_now`` is False. Returns the apply result, or None when nothing was applied.
    """
    if not decision.won:
        return None
    pid = decision.proposal_id
    if awaited_by(store, decision.incident_id, pid):
        deps = AgentDeps(store=store, executors=executors, now_us=now_us)
        result = resume_incident(
            store, decision.incident_id, decision, deps=deps, apply_now=apply_now
        )
        for entry in result.applied:
            if entry.get("proposal_id") == pid:
                return ApplyResult.model_validate(entry)
        return None
    if apply_now and decision.outcome == "approved":
        return apply(store, pid, executors, actor=actor or decision.decided_by, now_us=now_us)
    return None


def settle_decision(
    store: Store,
    decision: Decision,
    executors: Callable[[], ExecutorRegistry],
    *,
    actor: str,
    now_us: int | None = None,
) -> ApplyResult | None:
    """What the web queue and Slack do after a winning decision: :func:`apply_decision`
    with a registry made for it and closed after; an approval is applied now, a rejection
    only moves the waiting investigation on."""
    registry = executors()
    try:
        return apply_decision(
            store,
            decision,
            registry,
            apply_now=decision.outcome == "approved",
            actor=actor,
            now_us=now_us,
        )
    finally:
        registry.close()


def expire_and_resume(
    store: Store, executors: ExecutorRegistry, *, now_us: int | None = None
) -> list[int]:
    """Expire stale proposals and move on the investigations that waited for them."""
    now = now_micros() if now_us is None else now_us
    expired = expire_stale(store, now)
    incidents = sorted({get_proposal(store, pid).incident_id for pid in expired})
    if incidents:
        deps = AgentDeps(store=store, executors=executors, now_us=now)
        with open_checkpointer(store) as saver:
            graph = build_graph(saver)
            for incident_id in incidents:
                with thread_lock(store, incident_id):
                    catch_up(graph, thread_config(incident_id), deps)
    return expired


def resume_hook(
    store: Store, executors: Callable[[], ExecutorRegistry]
) -> Callable[[Decision], None]:
    """A decision hook (for :func:`tools.runbooks.add_decision_hook`) that resumes the
    investigation waiting for the decided proposal, if any."""

    def hook(decision: Decision) -> None:
        if decision.won and awaited_by(store, decision.incident_id, decision.proposal_id):
            registry = executors()
            try:
                deps = AgentDeps(store=store, executors=registry)
                resume_incident(store, decision.incident_id, decision, deps=deps)
            finally:
                registry.close()

    return hook


__all__ = [
    "InvestigationBusyError",
    "InvestigationFinishedError",
    "NoInvestigationError",
    "NotAwaitedError",
    "ResumeError",
    "UndecidedError",
    "apply_decision",
    "awaited_by",
    "expire_and_resume",
    "resume_hook",
    "resume_incident",
    "settle_decision",
]
