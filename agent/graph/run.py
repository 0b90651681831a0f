"""Running investigations: start one, pick up a paused one, read where one stands.

The thread id of an investigation is its incident id, so every process sharing the store
(and so the checkpoints) finds the same paused graph. Every step is persisted before the
next starts (``durability="sync"``): a process killed while an approval is pending loses
nothing, and any other process can resume it.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StateSnapshot
from pydantic import BaseModel, Field

from agent.graph.build import Graph, build_graph
from agent.graph.checkpoint import checkpoints_exist, open_checkpointer, thread_lock
from agent.graph.state import AgentDeps, InvestigationState
from tools.incidents import UnknownIncidentError, get_incident
from tools.incidents.model import IncidentView
from tools.runbooks import expire_stale, get_proposal
from tools.store.db import Store
from tools.store.models import now_micros

AWAIT_NODE = "await_approval"


class AgentResult(BaseModel):
    """Where one investigation stands: what the agent found, proposed and did."""

    incident_id: int
    thread_id: str
    status: str  # running | awaiting_approval | complete
    awaiting: list[int] = Field(default_factory=list)
    explanation: dict[str, Any] | None = None
    hypotheses: list[dict[str, Any]] = Field(default_factory=list)
    proposals: list[dict[str, Any]] = Field(default_factory=list)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    applied: list[dict[str, Any]] = Field(default_factory=list)
    verification: list[dict[str, Any]] = Field(default_factory=list)
    llm: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, int] = Field(default_factory=dict)
    evidence_errors: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    interrupt: dict[str, Any] | None = None
    report: dict[str, Any] = Field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def thread_config(incident_id: int) -> RunnableConfig:
    return {"configurable": {"thread_id": str(incident_id)}}


def is_paused(snapshot: StateSnapshot) -> bool:
    return AWAIT_NODE in snapshot.next


def investigate_incident(
    deps: AgentDeps,
    incident_id: int,
    at_us: int,
    checkpointer: BaseCheckpointSaver[Any],
    *,
    checkpoint_override: str | None = None,
) -> AgentResult:
    """Run the investigation of one incident, or report the one already there.

    A thread paused for approval is not restarted (that would forget who is waiting for
    what): decisions already taken in the store are passed in, and the result says what
    is still awaited. A finished thread is reported as it ended while the incident is the
    same (same symptoms, same leading cause), so decisions people made are not asked for
    again; once the incident has changed it is investigated afresh.
    """
    began = time.perf_counter()
    graph = build_graph(checkpointer)
    config = thread_config(incident_id)
    with thread_lock(deps.store, incident_id, checkpoint_override):
        snapshot = graph.get_state(config)
        if is_paused(snapshot):
            catch_up(graph, config, deps)
        elif not (snapshot.values and unchanged(snapshot.values, deps, incident_id)):
            start: InvestigationState = {"incident_id": incident_id, "at_us": at_us}
            graph.invoke(start, config, context=deps, durability="sync", version="v2")
    return result_of(graph, config, incident_id, time.perf_counter() - began)


def unchanged(values: dict[str, Any], deps: AgentDeps, incident_id: int) -> bool:
    """Is the incident the one this finished thread investigated?"""
    if values.get("status") != "complete" or not values.get("incident"):
        return False
    try:
        now = get_incident(deps.store, incident_id)
    except UnknownIncidentError:
        return False
    return _fingerprint(IncidentView.model_validate(values["incident"])) == _fingerprint(now)


def _fingerprint(incident: IncidentView) -> tuple[Any, ...]:
    top = incident.root_causes[0] if incident.root_causes else None
    return (
        incident.status,
        sorted(s.id for s in incident.symptoms),
        (top.node, top.kind) if top else None,
    )


def catch_up(graph: Graph, config: RunnableConfig, deps: AgentDeps) -> None:
    """Resume a paused thread when any awaited proposal was decided (or expired) outside
    it; the risk gate then reads every decision from the store."""
    snapshot = graph.get_state(config)
    if not is_paused(snapshot):
        return
    expire_stale(deps.store, deps.now_us if deps.now_us is not None else now_micros())
    for pid in snapshot.values.get("awaiting", []):
        current = get_proposal(deps.store, pid)
        if current.status != "proposed":
            value = {
                "proposal_id": pid,
                "outcome": current.status,
                "decided_by": current.decided_by or "system",
                "reason": current.reason,
                "apply": True,
                "source": "store",
            }
            graph.invoke(
                Command(resume=value), config, context=deps, durability="sync", version="v2"
            )
            return


def result_of(
    graph: Graph, config: RunnableConfig, incident_id: int, elapsed_s: float = 0.0
) -> AgentResult:
    snapshot = graph.get_state(config)
    values: dict[str, Any] = dict(snapshot.values or {})
    paused = is_paused(snapshot)
    pending = [i.value for task in snapshot.tasks for i in task.interrupts]
    evidence = values.get("evidence") or {}
    return AgentResult(
        incident_id=incident_id,
        thread_id=str(config.get("configurable", {}).get("thread_id")),
        status="awaiting_approval" if paused else str(values.get("status") or "running"),
        awaiting=list(values.get("awaiting") or []) if paused else [],
        explanation=values.get("explanation"),
        hypotheses=list(values.get("hypotheses") or []),
        proposals=list(values.get("proposals") or []),
        decisions=list(values.get("decisions") or []),
        applied=list(values.get("applied") or []),
        verification=list(values.get("verification") or []),
        llm=dict(values.get("llm") or {}),
        evidence={family: len(items) for family, items in evidence.items()},
        evidence_errors={k: v for k, v in (values.get("evidence_errors") or {}).items() if v},
        notes=list(values.get("notes") or []),
        interrupt=pending[0] if pending else None,
        report=dict(values.get("report") or {}),
        elapsed_s=round(elapsed_s, 3),
    )


__all__ = [
    "AWAIT_NODE",
    "AgentResult",
    "catch_up",
    "investigate_incident",
    "is_paused",
    "result_of",
    "thread_config",
    "unchanged",
]


def saved_explanation(store: Store, incident_id: int) -> dict[str, Any] | None:
    """The explanation the last investigation of ``incident_id`` wrote (checkpointed),
    or None when none ran. Reads only: nothing is resumed or re-run."""
    if not checkpoints_exist(store):
        return None
    with open_checkpointer(store) as saver:
        values = build_graph(saver).get_state(thread_config(incident_id)).values or {}
    found = values.get("explanation")
    return found if isinstance(found, dict) else None
