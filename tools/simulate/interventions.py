"""Remediations applied to a running simulation: what each one fixes, and from when.

An :class:`Intervention` is a runbook action recorded at a simulated time (and, once
rolled back, the time it was undone). Whether it fixes an injected case is decided from
the case's scenario and root alone (:data:`REMEDIES`): the right action at the wrong
node, or the wrong action at the right node, changes nothing but the runs it triggers.

Recovery travels the way the fault did: from the repaired node downstream, each node
heals at the first run that reads the repaired version (the schedule lags propagation
uses). A rollback re-opens the fault from its own time along the same paths.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tools.simulate.behaviour import ManualRun
from tools.simulate.config import MINUTE_US
from tools.simulate.effects import ROWS, SKIP, Case, Effect
from tools.simulate.propagation import Propagator
from tools.simulate.stack import Dataset, Job, Topology

# The runbook action types (tools.runbooks.schema.ActionType), named here so the
# simulator stays independent of the runbook engine.
ACTIONS = (
    "retry_job",
    "backfill_partition",
    "rerun_sync",
    "refresh_credential",
    "fallback_audience_snapshot",
    "rehydrate_table_from_snapshot",
    "pause_campaign",
    "quarantine_batch",
    "notify_owner",
)
# scenario -> (the action that repairs its root, where it must be aimed: the root itself
# or the job that writes it). Scenarios absent here have no repair among the actions
# (a vendor slowing down, a rule change): only mitigations touch them.
REMEDIES: dict[str, tuple[str, str]] = {
    "failed_staging_job": ("retry_job", "root"),
    "stream_consumer_lag": ("retry_job", "root"),
    "late_file_drop": ("backfill_partition", "root"),
    "partial_pos_load": ("backfill_partition", "root"),
    "collector_event_loss": ("backfill_partition", "root"),
    "expired_vendor_token": ("refresh_credential", "root"),
    "vendor_rate_limit": ("rerun_sync", "root"),
    "stitching_key_fragmentation": ("retry_job", "writer"),
    "orphaned_profiles": ("retry_job", "writer"),
    "shared_identifier_overmerge": ("rehydrate_table_from_snapshot", "root"),
    "duplicate_file_replay": ("quarantine_batch", "root"),
    "bot_traffic_spike": ("quarantine_batch", "root"),
    "null_emails_in_crm_export": ("quarantine_batch", "root"),
    "audience_definition_bug": ("fallback_audience_snapshot", "root"),
}
SYNC_ACTIONS = frozenset({"rerun_sync", "refresh_credential"})
RELOAD_ACTIONS = frozenset({"backfill_partition", "quarantine_batch"})
# A triggered run starts a little after the click, as orchestrators queue them.
TRIGGER_DELAY_US = 2 * MINUTE_US
PAUSED = "campaign paused by a runbook action"
_NEVER = 1 << 62

Node = Dataset | Job


@dataclass(frozen=True, slots=True)
class Intervention:
    """A runbook action applied at ``at_us`` to ``target`` (a node id), undone at
    ``until_us`` when it was rolled back."""

    at_us: int
    action: str
    target: str
    until_us: int | None = None

    def sort_key(self) -> tuple[int, str, str, bool, int]:
        """Time order, then a fixed order for actions taken in the same instant."""
        return (self.at_us, self.action, self.target, self.until_us is None, self.until_us or 0)


@dataclass(slots=True)
class InterventionPlan:
    """The cases' effects with every fix applied, the runs actions triggered (by hour) and,
    per case index, the interventions that repaired it."""

    effects: list[Effect] = field(default_factory=list)
    manual: dict[int, list[ManualRun]] = field(default_factory=dict)
    remedied: dict[int, list[Intervention]] = field(default_factory=dict)


def target_node(action: str, target: str, topo: Topology) -> Node:
    """The node an action really works on: a sync action names the destination, but it is
    the sync job that runs; a campaign is paused by stopping its delivery job."""
    node = topo.node(target)
    if isinstance(node, Dataset) and node.producer is not None:
        producer = topo.jobs[node.producer]
        if (action in SYNC_ACTIONS and producer.role == "sync") or (
            action == "pause_campaign" and producer.role == "campaign"
        ):
            return producer
    return node


def triggered_runs(action: str, node: Node, topo: Topology) -> list[tuple[Job, bool]]:
    """The jobs an action runs at once, each with whether the run is forced (a copy)."""
    if action in ("retry_job", *SYNC_ACTIONS):
        return [(node, False)] if isinstance(node, Job) else []
    if action in RELOAD_ACTIONS:
        if isinstance(node, Job):
            return [(node, False)]
        # Reloading a source re-runs the loads reading it; a table, the job writing it.
        jobs = node.consumers if node.producer is None else [node.producer]
        return [(topo.jobs[j], False) for j in jobs]
    if action == "fallback_audience_snapshot" and isinstance(node, Dataset):
        # The audience is rematerialised from its snapshot: a copy, whatever its builder's state.
        return [] if node.producer is None else [(topo.jobs[node.producer], True)]
    return []


def plan_interventions(
    cases: Sequence[Case], interventions: Iterable[Intervention], prop: Propagator
) -> InterventionPlan:
    """Apply ``interventions`` in time order to the effects of ``cases``."""
    topo, clock = prop.topo, prop.clock
    per_case = [list(c.effects) for c in cases]
    plan = InterventionPlan()
    manual: dict[int, list[ManualRun]] = defaultdict(list)
    pauses: list[Effect] = []
    for iv in sorted(interventions, key=Intervention.sort_key):
        node = target_node(iv.action, iv.target, topo)
        hf = clock.hour_of(iv.at_us)
        hr = None if iv.until_us is None else clock.hour_of(iv.until_us)
        runs = triggered_runs(iv.action, node, topo)
        for job, forced in runs:
            manual[hf].append(ManualRun(job, iv.at_us + TRIGGER_DELAY_US, forced))
        if iv.action == "pause_campaign" and isinstance(node, Job):
            pauses.append(Effect(node.idx, SKIP, hf, detail=PAUSED, until_h=hr))
        seeds: list[tuple[Node, int]] = [(node, hf)]
        seeds += [(job, hf) for job, forced in runs if not forced]
        for i, case in enumerate(cases):
            if not _repairs(iv, node, case, per_case[i], topo):
                continue
            fixed = wavefront(prop, seeds)
            reopened = None if hr is None else wavefront(prop, [(node, hr)])
            per_case[i] = [piece for e in per_case[i] for piece in _cut(e, fixed, reopened)]
            plan.remedied.setdefault(i, []).append(iv)
    plan.effects = [e for effects in per_case for e in effects] + pauses
    plan.manual = dict(manual)
    return plan


def _repairs(iv: Intervention, node: Node, case: Case, effects: list[Effect],
             topo: Topology) -> bool:
    if iv.at_us < case.start_us:
        return False  # a fix before the fault began prevents nothing
    if iv.action == "fallback_audience_snapshot":
        # A mitigation: whatever broke upstream, an audience served from its last good
        # snapshot has its usual size again, and so has everything it feeds.
        return isinstance(node, Dataset) and node.kind == "audience" and any(
            not e.on_job and e.node == node.idx and e.signal == ROWS for e in effects)
    remedy = REMEDIES.get(case.scenario)
    if remedy is None or remedy[0] != iv.action:
        return False
    aim = topo.node(case.root)
    if remedy[1] == "writer":
        if not isinstance(aim, Dataset) or aim.producer is None:
            return False
        aim = topo.jobs[aim.producer]
    return node is aim


Reached = tuple[dict[int, int], dict[int, int]]  # (job idx -> hour, dataset idx -> hour)


def wavefront(prop: Propagator, seeds: Sequence[tuple[Node, int]]) -> Reached:
    """When a change made at each seed (node, hour) reaches every node downstream: a
    dataset at once for a source or with the run that writes it, a job at its first run
    that can read the changed input."""
    topo = prop.topo
    jobs: dict[int, int] = {}
    datasets: dict[int, int] = {}
    heap: list[tuple[int, int]] = []

    def reach(d: int, h: int) -> None:
        if h < datasets.get(d, _NEVER):
            datasets[d] = h
            heapq.heappush(heap, (h, d))

    for node, h in seeds:
        if isinstance(node, Job):
            jobs[node.idx] = min(h, jobs.get(node.idx, _NEVER))
            for o in node.outputs:
                reach(o, h)
        else:
            reach(node.idx, h)
    while heap:
        h, d = heapq.heappop(heap)
        if h > datasets[d]:
            continue
        ds = topo.datasets[d]
        for j in ds.consumers:
            job = topo.jobs[j]
            hj = prop.consumer_run(ds, h, job)
            if hj is None or hj >= jobs.get(j, _NEVER):
                continue
            jobs[j] = hj
            for o in job.outputs:
                reach(o, hj)
    return jobs, datasets


def _cut(e: Effect, fixed: Reached, reopened: Reached | None) -> list[Effect]:
    """``e`` without the hours between its node's repair and its re-opening."""
    fix = (fixed[0] if e.on_job else fixed[1]).get(e.node)
    if fix is None:
        return [e]
    back: int | None = None
    if reopened is not None:
        # Re-opened but not reaching this node within the planned period: still repaired.
        back = (reopened[0] if e.on_job else reopened[1]).get(e.node, _NEVER)
        back = max(back, fix)
    out = []
    if e.onset_h < fix:
        out.append(e if e.until_h is not None and e.until_h <= fix else replace(
            e, until_h=fix if e.until_h is None else min(e.until_h, fix)))
    if back is not None and back < _NEVER:
        start = max(e.onset_h, back)
        if e.until_h is None or start < e.until_h:
            out.append(replace(e, onset_h=start))
    return out
