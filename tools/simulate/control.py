"""A live simulated stack the runbook engine can act on (``SimulatorControl``).

The stack holds a simulation config, the store its telemetry goes into and the simulated
"now". Its history is loaded once; :meth:`SimulatedStack.advance` simulates and ingests
the next hours through the same ingestion functions as real input. Runbook actions
applied to it are recorded as interventions at the current simulated time, and every
later hour is generated with them in effect: the right action at the fault's root ends
the fault there and its symptoms recover downstream with the usual schedule lags, while a
wrong one changes nothing but the runs it triggers, so verification fails honestly.

Driving it from the runbook engine::

    stack = SimulatedStack.start(store, SimConfig(end=..., scenarios=[FaultSpec(...)]))
    registry = simulator_executors(stack)          # http, sql and simulator all route here
    proposals = propose(store, context, executors=registry, now_us=stack.now_us)
    apply(store, pid, registry, now_us=stack.now_us)   # once approved
    stack.advance(2)
    verify(store, pid, registry, now_us=stack.now_us)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from tools.ingest.result import IngestResult
from tools.runbooks.context import RemediationContext
from tools.runbooks.executors import ExecutorRegistry, SimulatorExecutor
from tools.simulate import recovery
from tools.simulate.config import DAY_HOURS, HOUR_US, SimConfig, SimConfigError, check_config
from tools.simulate.engine import Simulation
from tools.simulate.interventions import (
    ACTIONS,
    RELOAD_ACTIONS,
    SYNC_ACTIONS,
    Intervention,
    target_node,
    triggered_runs,
)
from tools.simulate.load import check_accepted, ingest_payload, merge_payloads
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.topology import build_topology
from tools.store.db import Store
from tools.store.models import from_micros, to_micros
from tools.timeutil import iso

# The parameter naming an action's target, as the shipped playbooks pass it.
TARGET_PARAM = {
    "retry_job": "job",
    "rerun_sync": "destination",
    "refresh_credential": "destination",
    "backfill_partition": "node",
    "fallback_audience_snapshot": "view",
    "rehydrate_table_from_snapshot": "table",
    "quarantine_batch": "table",
    "pause_campaign": "campaign",
}
# State a reversible action changes on its target: (field, value before any action).
STATE_FIELD = {
    "refresh_credential": ("credential_id", "credential-1"),
    "fallback_audience_snapshot": ("source", "live"),
    "rehydrate_table_from_snapshot": ("source", "live"),
    "quarantine_batch": ("quarantined", "none"),
    "pause_campaign": ("status", "active"),
}
MAX_ADVANCE_HOURS = 31 * DAY_HOURS
Node = Dataset | Job


class SimulatedStack:
    """A simulated MarTech stack, live: it moves on in time and takes remediations."""

    def __init__(self, store: Store, config: SimConfig) -> None:
        check_config(config)
        self.store = store
        self.config = config
        self.topology: Topology = build_topology(config.seed, config.size)
        self.now_us = to_micros(config.end)
        self.interventions: list[Intervention] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.loaded = False

    @classmethod
    def start(cls, store: Store, config: SimConfig) -> SimulatedStack:
        """A stack whose history (the configured period) is already in ``store``."""
        stack = cls(store, config)
        stack.load_history()
        return stack

    @property
    def now(self) -> datetime:
        return from_micros(self.now_us)

    def simulation(self) -> Simulation:
        """The simulation as of now: its horizon is now, with every intervention so far."""
        return Simulation(self.config, interventions=self.interventions, horizon=self.now)

    def truth(self) -> list[dict[str, Any]]:
        """Ground truth of the injected cases as of now, with the remediations that fixed
        each (for evaluation: verification itself reads only the store)."""
        return self.simulation().truth()

    def load_history(self) -> IngestResult:
        """Ingest the configured period (catalog included); only once."""
        if self.loaded:
            raise RuntimeError("the stack's history is already loaded")
        result = self._ingest(self.simulation(), None)
        self.loaded = True
        return result

    def advance(self, hours: int) -> IngestResult:
        """Simulate the next ``hours`` with every intervention in effect and ingest them."""
        if not self.loaded:
            raise RuntimeError("load the stack's history (load_history) before advancing it")
        if isinstance(hours, bool) or not isinstance(hours, int):
            raise SimConfigError(f"hours must be an integer, got {hours!r}")
        if not 1 <= hours <= MAX_ADVANCE_HOURS:
            raise SimConfigError(f"hours must be between 1 and {MAX_ADVANCE_HOURS}, got {hours}")
        since = self.now
        self.now_us += hours * HOUR_US
        return self._ingest(self.simulation(), since)

    def _ingest(self, sim: Simulation, since: datetime | None) -> IngestResult:
        result = IngestResult()
        for payload in merge_payloads(sim.payloads(since)):
            result.merge(ingest_payload(self.store, payload, self.now_us))
        check_accepted(result)
        return result

    # -- SimulatorControl ----------------------------------------------------------------

    def capture(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        node = self._target(action, params)
        if node is None:
            return {}
        return {"target": node.id, **self._state(action, node)}

    def apply(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        node = self._target(action, params)
        if node is None:
            return {"action": action, "at": iso(self.now_us), "changed": "nothing"}
        self.interventions.append(Intervention(self.now_us, action, node.id))
        out: dict[str, Any] = {"target": node.id, "at": iso(self.now_us)}
        runs = triggered_runs(action, node, self.topology)
        if runs:
            out["triggered_runs"] = [job.id for job, _forced in runs]
        if action in STATE_FIELD:
            name, _first = STATE_FIELD[action]
            state = self._state(action, node)
            state[name] = self._new_value(action, node)
            self.state[node.id] = state
            out[name] = state[name]
        return out

    def _new_value(self, action: str, node: Node) -> str:
        if action == "refresh_credential":
            done = sum(1 for i in self.interventions if i.action == action and i.target == node.id)
            return f"credential-{done + 1}"  # the first one installed was credential-1
        if action == "pause_campaign":
            return "paused"
        if action == "quarantine_batch":
            return f"rows loaded before {iso(self.now_us)}"
        return "snapshot"

    def rollback(
        self, action: str, params: dict[str, Any], prior: dict[str, Any]
    ) -> dict[str, Any]:
        node = self._target(action, params)
        if node is None:
            raise ValueError(f"{action} changed nothing; there is nothing to roll back")
        for i in range(len(self.interventions) - 1, -1, -1):
            iv = self.interventions[i]
            if iv.action == action and iv.target == node.id and iv.until_us is None:
                self.interventions[i] = replace(iv, until_us=self.now_us)
                break
        else:
            raise ValueError(f"no {action} on {node.id} is in effect to roll back")
        if action in STATE_FIELD:
            name, _first = STATE_FIELD[action]
            self.state[node.id] = {name: prior[name]} if name in prior else {}
        return {"target": node.id, "at": iso(self.now_us), "restored": copy.deepcopy(prior)}

    def check(self, check: str, params: dict[str, Any]) -> bool:
        if check == "recovered":
            return self._recovered(str(params.get("action", "")), params)
        answers: dict[str, Callable[[], bool]] = {
            "target_configured": lambda: True,  # every logical target is this stack
            "node_exists": lambda: self._exists(params.get("node") or params.get("job"), "node"),
            "no_run_in_progress": lambda: self._exists(params.get("job"), "job"),
            "view_exists": lambda: self._exists(params.get("view"), "view"),
            "table_exists": lambda: self._exists(params.get("table"), "table"),
            "credential_present": lambda: self._exists(params.get("destination"), "destination"),
            "snapshot_exists": lambda: self._snapshot_exists(params),
        }
        answer = answers.get(check)
        if answer is None:
            raise ValueError(f"the simulated stack cannot answer {check!r}; it knows "
                             f"recovered, {', '.join(sorted(answers))}")
        return answer()

    # -- helpers ---------------------------------------------------------------------------

    def _target(self, action: str, params: dict[str, Any]) -> Node | None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; the simulated stack takes "
                             f"{', '.join(ACTIONS)}")
        param = TARGET_PARAM.get(action)
        if param is None:
            return None  # notify_owner: nothing in the stack changes
        value = params.get(param)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{action} needs param {param!r} naming its target")
        node = target_node(action, self.resolve(value, param).id, self.topology)
        if action == "retry_job" and not isinstance(node, Job):
            raise ValueError(f"retry_job needs a job; {node.id} is a dataset")
        return node

    def resolve(self, value: str, role: str = "node") -> Node:
        """A node from a node id or a bare name; ``role`` (a TARGET_PARAM value, ``node``)
        narrows which nodes a bare name may mean. Raises ValueError if none or several."""
        if value.startswith(("dataset:", "job:")):
            return self.topology.node(value)
        accept = _ROLE_TEST.get(role, _any_node)
        found = [n for n in self.topology.nodes() if n.name == value and accept(n)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ValueError(f"no {role} named {value!r} in the simulated stack")
        raise ValueError(f"{role} name {value!r} is ambiguous in the simulated stack: "
                         f"{', '.join(n.id for n in found)}; give the node id")

    def _exists(self, value: Any, role: str) -> bool:
        if not isinstance(value, str) or not value:
            return False
        try:
            self.resolve(value, role)
        except ValueError:
            return False
        return True

    def _snapshot_exists(self, params: dict[str, Any]) -> bool:
        """Snapshots are taken nightly: one exists once the stack has run for a day."""
        value = params.get("view") or params.get("table")
        role = "view" if params.get("view") else "table"
        if not self._exists(value, role):
            return False
        t0 = to_micros(self.config.end) - self.config.days * DAY_HOURS * HOUR_US
        return self.now_us - t0 >= DAY_HOURS * HOUR_US

    def _state(self, action: str, node: Node) -> dict[str, Any]:
        state = copy.deepcopy(self.state.get(node.id, {}))
        if action in STATE_FIELD:
            name, first = STATE_FIELD[action]
            state.setdefault(name, first)
        return state

    def _recovered(self, action: str, params: dict[str, Any]) -> bool:
        """Whether the target of the latest ``action`` in effect recovered since it ran."""
        node = self._target(action, params)
        if node is None:
            return True
        applied = [i for i in self.interventions
                   if i.action == action and i.target == node.id and i.until_us is None]
        if not applied:
            return False
        since = applied[-1].at_us
        if action == "pause_campaign":
            return self._state(action, node)["status"] == "paused" and recovery.no_run_since(
                self.store, node.id, since)
        if isinstance(node, Job):
            jobs = [node]
        else:
            jobs = [job for job, _forced in triggered_runs(action, node, self.topology)]
        if action in ("retry_job", *SYNC_ACTIONS) or (action in RELOAD_ACTIONS and not
                                                       isinstance(node, Dataset)):
            return all(recovery.job_recovered(self.store, j.id, since) for j in jobs)
        if action == "rehydrate_table_from_snapshot":
            return recovery.gauges_recovered(self.store, node.id, since)
        return recovery.dataset_recovered(self.store, node.id, since) and all(
            recovery.job_recovered(self.store, j.id, since) for j in jobs)


def _any_node(n: Node) -> bool:
    return True


def _sync_or_destination(n: Node) -> bool:
    return (isinstance(n, Job) and n.role == "sync") or (
        isinstance(n, Dataset) and n.kind == "activation")


_ROLE_TEST: dict[str, Callable[[Node], bool]] = {
    "job": lambda n: isinstance(n, Job),
    "destination": _sync_or_destination,
    "view": lambda n: isinstance(n, Dataset) and n.kind == "audience",
    "table": lambda n: isinstance(n, Dataset),
    "campaign": lambda n: isinstance(n, Dataset) and n.kind == "campaign",
}


def simulator_executors(stack: SimulatedStack) -> ExecutorRegistry:
    """One simulator executor under every executor name the shipped playbooks bind
    (``http``, ``sql``, ``simulator``), so they run against the stack unchanged."""
    executor = SimulatorExecutor(stack)
    registry = ExecutorRegistry()
    for name in ("simulator", "http", "sql"):
        registry.add(executor, as_name=name)
    return registry


def truth_context(
    stack: SimulatedStack,
    case: int = 0,
    *,
    incident_id: int,
    root: str | None = None,
    kind: str | None = None,
    confidence: float = 0.95,
) -> RemediationContext:
    """A remediation context for injected case ``case`` built from the simulator's ground
    truth, for driving runbooks before (or without) detection and root-cause analysis.

    ``root``/``kind`` override the true root cause, to rehearse a misdiagnosis or to name
    the node an RCA would (the dataset that carries a job fault's symptoms).
    """
    cases = stack.truth()
    if not 0 <= case < len(cases):
        raise ValueError(f"case {case} is not injected; the stack has {len(cases)} case(s)")
    truth = cases[case]
    at_risk = [_at_risk(stack.topology.node(n)) for n in truth["at_risk"]]
    owners = _unique([stack.topology.node(truth["root"]).owner,
                      *(a["owner"] for a in at_risk)])
    onsets = [s["onset"] for s in truth["symptoms"]]
    return RemediationContext.model_validate({
        "incident_id": incident_id,
        "root_cause": root or truth["root"],
        "root_cause_kind": kind or truth["kind"],
        "confidence": confidence,
        "symptoms": [{k: s[k] for k in ("node", "kind", "metric", "onset")}
                     for s in truth["symptoms"]],
        "impacted": truth["impacted"],
        "at_risk": at_risk,
        "revenue_at_risk_per_day": sum(a["revenue_per_day"] for a in at_risk
                                       if a["kind"] == "campaign"),
        "campaigns_affected": sum(1 for a in at_risk if a["kind"] == "campaign"),
        "owners": owners,
        "window": {"start": min(onsets, default=truth["start"]), "end": iso(stack.now_us)},
        "detected_at": iso(stack.now_us),
    })


def _at_risk(node: Node) -> dict[str, Any]:
    return {"node": node.id, "kind": node.kind, "tier": node.tier, "owner": node.owner,
            "revenue_per_day": (node.revenue_per_day or 0.0) if isinstance(node, Dataset)
            else 0.0}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
