"""The simulation loop: hour after hour, every signal of the stack as wire-format payloads.

Memory stays bounded by one hour of output: nothing is kept between hours except the
topology, the planned effects and a few timestamps per destination.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from tools.simulate.behaviour import Behaviour, Benign, plan_benign
from tools.simulate.catalog import catalog_yaml
from tools.simulate.config import Clock, SimConfig, check_config
from tools.simulate.effects import Case, EffectIndex
from tools.simulate.emit import LineageEmitter
from tools.simulate.faults import plan_faults
from tools.simulate.metrics import MetricSource
from tools.simulate.otlp import logs_request, metrics_request, traces_request
from tools.simulate.stack import Topology
from tools.simulate.stages import StageTracer
from tools.simulate.topology import build_topology
from tools.simulate.values import Values
from tools.timeutil import iso

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
    """A checked config with its topology, faults and benign changes, ready to generate."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock: Clock = check_config(config)
        self.topology: Topology = build_topology(config.seed, config.size)
        self.cases: list[Case] = plan_faults(config.scenarios, self.topology, self.clock)
        self.benign: Benign = plan_benign(self.topology, self.clock, config.seed)

    def truth(self) -> list[dict[str, Any]]:
        """The ground truth of every injected case (an empty list without faults)."""
        return [c.truth(iso) for c in self.cases]

    def benign_changes(self) -> list[dict[str, object]]:
        return self.benign.as_json(self.topology, self.clock, iso)

    def payloads(self) -> Iterator[Payload]:
        with _young_only_gc():
            yield from self._payloads()

    def _payloads(self) -> Iterator[Payload]:
        topo, clock = self.topology, self.clock
        index = EffectIndex([e for c in self.cases for e in c.effects])
        values = Values(topo, clock, index)
        behaviour = Behaviour(topo, clock, index, values, self.benign)
        metrics = MetricSource(topo, clock, index, values)
        tracer = StageTracer(topo, clock, index, values)
        lineage = LineageEmitter(topo)
        yield Payload("catalog", catalog_yaml(topo), topo.node_count)
        end = clock.end_us
        for h in range(clock.hours):
            when = clock.when(h)
            runs = behaviour.runs(h)
            events = [(t, ev) for run in runs for t, ev in lineage.events(run) if t <= end]
            if events:
                events.sort(key=lambda te: te[0])
                body = b"\n".join(orjson.dumps(ev) for _t, ev in events) + b"\n"
                yield Payload("openlineage", body, len(events), when)
            finished = [r for r in runs if r.end_us <= end]
            points = metrics.hour(h, finished)
            if points:
                yield Payload("otlp.metrics", orjson.dumps(metrics_request(points)),
                              len(points), when)
            spans = tracer.spans(h)
            if spans:
                yield Payload("otlp.traces", orjson.dumps(traces_request(spans)), len(spans),
                              when)
            logs = [r for r in tracer.logs(finished, behaviour.skipped, h) if r.time_us <= end]
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


def simulate(config: SimConfig) -> Iterator[Payload]:
    """Stream the simulated telemetry of ``config``: the catalog first, then hour by hour."""
    return Simulation(config).payloads()
