"""OTLP metric points of one hour: hourly gauges plus the metrics each run reports.

Hourly: event loss and freshness of sources, identity gauges, end-to-end latency per
stage, destination freshness and webhook latency. Per run: null and duplicate shares of
staging tables, sync success / errors / audience size / consent mismatch per sync, and
delivery variance per campaign.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.simulate import rand
from tools.simulate.behaviour import RunRecord
from tools.simulate.config import HOUR_US, MINUTE_US, Clock
from tools.simulate.effects import ERRORS, EffectIndex
from tools.simulate.stack import Dataset, Topology
from tools.simulate.templates import DESTINATIONS, STREAM_SOURCES
from tools.simulate.values import (
    IDENTITY,
    LOSS,
    ORPHAN_SHARE,
    WEBHOOK_MS,
    Values,
    fraction_noise,
)

UNITS = {
    "data.row_count": "1",
    "data.freshness.lag": "s",
    "data.null_fraction": "1",
    "data.duplicate_fraction": "1",
    "consent.mismatch_fraction": "1",
    "event.loss_fraction": "1",
    "event.end_to_end.latency": "s",
    "identity.merge_rate": "1",
    "identity.fragmentation_ratio": "1",
    "identity.orphan_profiles": "1",
    "identity.match_confidence": "1",
    "activation.sync.success_ratio": "1",
    "activation.sync.errors": "1",
    "activation.webhook.latency": "ms",
    "activation.audience.size": "1",
    "activation.delivery.variance": "1",
}
STAGES = ("collect", "warehouse", "identity", "audience", "activation")
BASELINE_ERRORS = (("429", 0.0004), ("INVALID_EMAIL", 0.0015))
OBSERVED_AT_MIN = 55  # hourly gauges are sampled near the end of their hour


@dataclass(frozen=True, slots=True)
class Point:
    ds: Dataset
    name: str
    attrs: tuple[tuple[str, str], ...]
    time_us: int
    value: float


class MetricSource:
    def __init__(self, topo: Topology, clock: Clock, index: EffectIndex, values: Values) -> None:
        self.topo = topo
        self.clock = clock
        self.fx = index
        self.values = values
        self.stage_of: dict[int, str] = {}
        for unit in topo.units:
            for pos, d in enumerate(unit.trace_path):
                self.stage_of[d] = STAGES[pos]
        self.streams = [d for d in topo.datasets if d.role in STREAM_SOURCES]
        self.files = [d for d in topo.datasets if d.arrival is not None]
        self.graphs = [d for d in topo.datasets if d.role == "identity_graph"]
        self.profiles = [d for d in topo.datasets if d.role == "unified_profiles"]
        self.activations = [d for d in topo.datasets if d.kind == "activation"]
        # Destination state: completed syncs (for freshness) and the last audience size.
        start = clock.t0_us - 2 * HOUR_US
        self.synced: dict[int, list[int]] = {d.idx: [start] for d in self.activations}
        self.size: dict[int, int] = {}

    def hour(self, h: int, runs: list[RunRecord]) -> list[Point]:
        points: list[Point] = []
        for run in runs:
            self._run_points(run, points)
        t = self.clock.hour_start(h) + OBSERVED_AT_MIN * MINUTE_US
        v = self.values
        for ds in self.streams:
            loss = fraction_noise(ds.key, h, 1, LOSS[ds.role], 0.25)
            points.append(self._p(ds, "event.loss_fraction", t, h, loss))
            lag = 75.0 * (1 + 0.3 * abs(rand.normal(ds.key, h, 2)))
            points.append(self._p(ds, "data.freshness.lag", t, h, lag))
        for ds in self.files:
            points.append(Point(ds, "data.freshness.lag", (), t, round(v.file_lag_s(ds, t), 1)))
        for d, stage in self.stage_of.items():
            ds = self.topo.datasets[d]
            points.append(Point(ds, "event.end_to_end.latency", (("stage", stage),), t,
                                _round(v.stage_latency(ds, stage, h))))
        for ds in self.graphs:
            for ch, (name, (base, noise)) in enumerate(IDENTITY.items()):
                points.append(self._p(ds, name, t, h, v.gauge(ds, name, {}, h, base, noise, ch),
                                      effects=False))
        for ds in self.profiles:
            base = ORPHAN_SHARE * ds.base_rows * (1 + 0.0015 * h / 24)
            orphans = v.gauge(ds, "identity.orphan_profiles", {}, h, base, 0.02, 9)
            points.append(Point(ds, "identity.orphan_profiles", (), t, float(round(orphans))))
        for ds in self.activations:
            done = [c for c in self.synced[ds.idx] if c <= t]
            points.append(Point(ds, "data.freshness.lag", (), t, (t - max(done)) / 1e6))
            if DESTINATIONS[ds.destination or "braze"].webhook:
                for ch, (q, base) in enumerate(WEBHOOK_MS.items()):
                    ms = v.gauge(ds, "activation.webhook.latency", {"quantile": q}, h, base,
                                 0.08, 20 + ch)
                    points.append(Point(ds, "activation.webhook.latency", (("quantile", q),),
                                        t, _round(ms)))
        return points

    def _p(self, ds: Dataset, name: str, t: int, h: int, value: float, *,
           effects: bool = True) -> Point:
        if effects:
            value = self.fx.metric(ds.idx, name, {}, h, value)
        return Point(ds, name, (), t, _round(value))

    def _run_points(self, run: RunRecord, points: list[Point]) -> None:
        job, h, t = run.job, run.h, run.end_us
        if job.role == "sync":
            self._sync_points(run, points)
            return
        if run.state != "COMPLETE" or run.rerun:
            return
        if job.role == "staging":
            for obs in run.outputs:
                for col, nulls in obs.null_counts.items():
                    frac = nulls / obs.rows if obs.rows else 0.0
                    points.append(Point(obs.ds, "data.null_fraction", (("column", col),), t,
                                        _round(frac)))
                if obs.key and obs.distinct is not None and obs.rows:
                    dup = 1 - obs.distinct / obs.rows
                    points.append(Point(obs.ds, "data.duplicate_fraction",
                                        (("column", obs.key),), t, _round(dup)))
        elif job.role == "campaign":
            camp = run.outputs[0].ds
            attrs = {"campaign": camp.campaign or ""}
            variance = self.fx.metric(camp.idx, "activation.delivery.variance", attrs, h,
                                      0.03 * rand.normal(camp.key, h, 0, 8))
            points.append(Point(camp, "activation.delivery.variance", tuple(attrs.items()), t,
                                _round(variance)))

    def _sync_points(self, run: RunRecord, points: list[Point]) -> None:
        act = self.topo.datasets[run.job.outputs[0]]
        h, t = run.h, run.end_us
        if run.state == "COMPLETE":
            self.synced[act.idx] = [*self.synced[act.idx][-3:], t]
            self.size[act.idx] = run.outputs[0].rows
        elif run.attempt < 2:
            return  # a failed first try is retried; the sync reports once, after the last
        size = self.size.get(act.idx) or self.values.rows(act, h)
        dest = DESTINATIONS[act.destination or "braze"]
        attrs = {"destination": dest.name}
        ratio = min(1.0, 0.995 + 0.002 * rand.normal(act.key, h, 0, 12))
        ratio = self.fx.metric(act.idx, "activation.sync.success_ratio", attrs, h, ratio)
        points.append(Point(act, "activation.sync.success_ratio", tuple(attrs.items()), t,
                            _round(ratio)))
        errors = {code: size * fraction_noise(act.key, h, 13 + i, share, 0.4)
                  for i, (code, share) in enumerate(BASELINE_ERRORS)}
        for e in self.fx.dataset(act.idx, ERRORS, h):
            errors[e.key] = errors.get(e.key, 0.0) + size * e.value
        for code, count in errors.items():
            points.append(Point(act, "activation.sync.errors", (("error.code", code),), t,
                                float(round(count))))
        points.append(Point(act, "activation.audience.size", (), t, float(size)))
        purpose = {"consent.purpose": dest.purpose}
        mismatch = self.fx.metric(act.idx, "consent.mismatch_fraction", purpose, h,
                                  fraction_noise(act.key, h, 16, 0.002, 0.3))
        points.append(Point(act, "consent.mismatch_fraction", tuple(purpose.items()), t,
                            _round(mismatch)))


def _round(value: float) -> float:
    """Six significant digits: plenty for telemetry, and a lot less JSON."""
    return float(f"{value:.6g}")
