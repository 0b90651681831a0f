"""The simulation loop: hour after hour, every signal of the stack as wire-format payloads.

Memory stays bounded by one hour of output: nothing is kept between hours except the
topology, the planned effects and a few timestamps per destination.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import orjson

from tools.simulate.behaviour import Behaviour, Benign, plan_benign
from tools.simulate.catalog import catalog_yaml
from tools.simulate.config import HOUR_US, Clock, SimConfig, SimConfigError, check_config
from tools.simulate.effects import Case, EffectIndex
from tools.simulate.emit import LineageEmitter
from tools.simulate.faults import plan_faults
from tools.simulate.interventions import Intervention, InterventionPlan, plan_interventions
from tools.simulate.metrics import MetricSource
from tools.simulate.otlp import logs_request, metrics_request, traces_request
from tools.simulate.propagation import Propagator
from tools.simulate.stack import Topology
from tools.simulate.stages import StageTracer
from tools.simulate.topology import build_topology
from tools.simulate.values import Values
from tools.store.models import to_micros
from tools.timeutil import iso

# Effects are planned this far past the horizon: longer than any run, delay included.
PLAN_AHEAD_H = 48

PayloadKind = Literal["openlineage", "otlp.metrics", "otlp.logs", "otlp.traces", "catalog"]


@dataclass(frozen=True, slots=True)
class Payload:
    """One body as it would go over the wire.

    ``openlineage``: JSON lines, one RunEvent per line; ``otlp.*``: one OTLP/JSON export
    request; ``catalog``: the catalog YAML. ``count`` is events, data points, log records,
    spans or catalog entries; ``time`` is the start of the simulated hour (None: catalog).
    """

    kind: PayloadKind
    body: bytes
    count: int
    time: datetime | None = None


class Simulation:
    """A checked config with its topology, faults and benign changes, ready to generate.

    ``horizon`` (a whole hour at or after ``config.end``) lets the stack run on past its
    configured end, and ``interventions`` are remediations applied along the way; the
    output of any window is a pure function of the config, the interventions and the
    window, so a live simulation can be generated piece by piece (``payloads(since=)``).
    """

    def __init__(self, config: SimConfig, *, interventions: Sequence[Intervention] = (),
                 horizon: datetime | None = None) -> None:
        self.config = config
        self.clock: Clock = check_config(config)
        self.topology: Topology = build_topology(config.seed, config.size)
        self.live = horizon is not None
        # Output ends at the horizon; effects are planned beyond it, so that a run
        # straddling the horizon is the same run whichever window emits its end.
        self.out_clock = self.clock if horizon is None else extend(self.clock, horizon)
        plan_clock = (self.clock if horizon is None
                      else replace(self.out_clock, hours=self.out_clock.hours + PLAN_AHEAD_H))
        self.cases: list[Case] = plan_faults(config.scenarios, self.topology, self.clock,
                                             plan_clock=plan_clock)
        self.benign: Benign = plan_benign(self.topology, self.clock, config.seed)
        self.interventions = sorted(interventions, key=Intervention.sort_key)
        self.plan: InterventionPlan = plan_interventions(
            self.cases, self.interventions, Propagator(self.topology, plan_clock))

    def truth(self) -> list[dict[str, Any]]:
        """The ground truth of every injected case (an empty list without faults).

        A live simulation lists only symptoms shown by its horizon, and the remediations
        that repaired each case (``remediations``) once there are any.
        """
        out = []
        end = self.out_clock.end_us
        for i, case in enumerate(self.cases):
            if self.live:
                case = replace(case, symptoms={k: s for k, s in case.symptoms.items()
                                               if s.onset_us < end})
            item = case.truth(iso)
            fixes = self.plan.remedied.get(i)
            if fixes:
                item["remediations"] = [
                    {"action": f.action, "target": f.target, "at": iso(f.at_us),
                     "rolled_back": iso(f.until_us) if f.until_us is not None else None}
                    for f in fixes]
            out.append(item)
        return out

    def benign_changes(self) -> list[dict[str, object]]:
        return self.benign.as_json(self.topology, self.clock, iso)

    def payloads(self, since: datetime | None = None) -> Iterator[Payload]:
        """The catalog, then every hour's telemetry up to the horizon.

        With ``since``, only what happened after it (and no catalog): the continuation of
        an earlier call whose horizon was ``since``. Earlier hours are still simulated,
        unseen, because destinations remember their last sync.
        """
        after = None if since is None else to_micros(since)
        with _young_only_gc():
            yield from self._payloads(after)

    def _payloads(self, after: int | None) -> Iterator[Payload]:
        topo, clock = self.topology, self.out_clock
        index = EffectIndex(self.plan.effects)
        values = Values(topo, clock, index)
        # Benign reruns avoid jobs a fault touches within the configured period, however far
        # the horizon has moved since (otherwise a later window could drop an earlier rerun).
        faulty = ({e.node for e in self.plan.effects if e.on_job and e.onset_h < self.clock.hours}
                  if self.live else None)
        behaviour = Behaviour(topo, clock, index, values, self.benign, manual=self.plan.manual,
                              faulty_jobs=faulty)
        metrics = MetricSource(topo, clock, index, values)
        tracer = StageTracer(topo, clock, index, values)
        lineage = LineageEmitter(topo)
        if after is None:
            yield Payload("catalog", catalog_yaml(topo), topo.node_count)
        lo = -1 if after is None else after
        end = clock.end_us
        for h in range(clock.hours):
            when = clock.when(h)
            runs = behaviour.runs(h)
            events = [(t, ev) for run in runs if run.end_us > lo
                      for t, ev in lineage.events(run) if lo < t <= end]
            if events:
                events.sort(key=lambda te: te[0])
                body = b"\n".join(orjson.dumps(ev) for _t, ev in events) + b"\n"
                yield Payload("openlineage", body, len(events), when)
            finished = [r for r in runs if r.end_us <= end]
            points = [p for p in metrics.hour(h, finished) if p.time_us > lo]
            if points:
                yield Payload("otlp.metrics", orjson.dumps(metrics_request(points)),
                              len(points), when)
            spans = [s for s in tracer.spans(h) if s.end_us > lo]
            if spans:
                yield Payload("otlp.traces", orjson.dumps(traces_request(spans)), len(spans),
                              when)
            logs = [r for r in tracer.logs(finished, behaviour.skipped, h)
                    if lo < r.time_us <= end]
            if logs:
                yield Payload("otlp.logs", orjson.dumps(logs_request(logs)), len(logs), when)


@contextmanager
def _young_only_gc() -> Iterator[None]:
    """Keep the cyclic collector off the static topology while the loop runs.

    The loop allocates millions of short-lived, acyclic dicts; each allocation burst makes
    Python's collector rescan every long-lived object (10,000 nodes' facets and caches),
    which at large sizes costs more than generating the data. Freezing what exists now and
    collecting young objects less often halves the run time; both are undone afterwards.
    """
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(old[0], 50_000), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def extend(clock: Clock, horizon: datetime) -> Clock:
    """``clock`` run on to ``horizon``: a whole hour at or after its end."""
    if not isinstance(horizon, datetime) or horizon.tzinfo is None:
        raise SimConfigError(f"horizon must be a timezone-aware datetime, got {horizon!r}")
    end_us = to_micros(horizon)
    if end_us < clock.end_us or (end_us - clock.t0_us) % HOUR_US:
        raise SimConfigError(
            f"horizon {horizon.isoformat()} must be a whole hour at or after the configured "
            f"end {iso(clock.end_us)}")
    return replace(clock, hours=(end_us - clock.t0_us) // HOUR_US)


def simulate(config: SimConfig) -> Iterator[Payload]:
    """Stream the simulated telemetry of ``config``: the catalog first, then hour by hour."""
    return Simulation(config).payloads()
