"""Normal values of every signal (volume, nulls, identity, latency, ...) with faults applied.

Volumes follow a daily traffic curve for streams, a weekly curve for batch loads and a
slow growth for accumulating tables, times a little noise; the effect index then bends
them. Noise is keyed by node and hour, so a staging table shares its source's noise and
stays in step with it.
"""

from __future__ import annotations

import math

from tools.simulate import rand
from tools.simulate.config import HOUR_US, MINUTE_US, Clock
from tools.simulate.effects import DUPES, LATE, NULLS, RENAME, EffectIndex
from tools.simulate.stack import Dataset, Topology
from tools.simulate.templates import DIURNAL, WEEKLY_BATCH, WEEKLY_STREAM

_STREAM = frozenset({"src_web", "src_app", "stg_web", "stg_app"})
_CUMULATIVE = frozenset({"dim_customers", "identity_graph", "unified_profiles"})
_NOISE = {"stream": 0.04, "batch": 0.025, "cumulative": 0.004, "audience": 0.012}
BASE_DUPLICATES = 0.0004
BYTES_PER_ROW = {"source": 420, "staging": 310, "model": 260, "identity": 180,
                 "audience": 120, "activation": 96, "campaign": 150}

# Gauges: (base, relative noise) per metric name.
IDENTITY = {
    "identity.merge_rate": (0.32, 0.03),
    "identity.fragmentation_ratio": (1.18, 0.01),
    "identity.match_confidence": (0.91, 0.005),
}
ORPHAN_SHARE = 0.021
STAGE_LATENCY_S = {"collect": 2.5, "warehouse": 1500.0, "identity": 5400.0,
                   "audience": 21600.0, "activation": 28800.0}
WEBHOOK_MS = {"0.5": 120.0, "0.95": 450.0, "0.99": 900.0}
LOSS = {"src_web": 0.002, "src_app": 0.004}


class Values:
    def __init__(self, topo: Topology, clock: Clock, index: EffectIndex) -> None:
        self.topo = topo
        self.clock = clock
        self.fx = index

    def profile(self, ds: Dataset) -> str:
        if ds.role in _STREAM:
            return "stream"
        if ds.role in _CUMULATIVE:
            return "cumulative"
        if ds.kind in ("audience", "activation"):
            return "audience"
        return "batch"

    def rows(self, ds: Dataset, h: int) -> int:
        """Rows of one run's output (or of one hour / one file for a source) at hour h."""
        prof = self.profile(ds)
        dow = self.clock.day_of_week(h)
        if prof == "stream":
            local = (self.clock.hour_of_day(h) - 1 - self.topo.units[ds.unit].hour_offset) % 24
            season = DIURNAL[local] * WEEKLY_STREAM[dow]
        elif prof == "batch":
            season = WEEKLY_BATCH[dow]
        else:
            season = 1.0 + 0.0015 * (h / 24)
        noise = 1 + _NOISE[prof] * rand.normal(ds.noise_key, h)
        return max(0, round(ds.base_rows * season * noise * self.fx.rows_factor(ds.idx, h)))

    def columns(self, ds: Dataset, h: int) -> tuple[list[tuple[str, str]], dict[str, float]]:
        """Schema fields (renames applied) and the null share of each reported column."""
        renamed = {e.key: e.detail for e in self.fx.dataset(ds.idx, RENAME, h)}
        nulls = {e.key: e.value for e in self.fx.dataset(ds.idx, NULLS, h)}
        fields = []
        fracs: dict[str, float] = {}
        for i, c in enumerate(ds.columns):
            name = renamed.get(c.name, c.name)
            fields.append((name, c.type))
            if c.null_frac is None or c.key:
                continue
            base = c.null_frac * (1 + 0.04 * rand.normal(ds.noise_key, h, i, 3))
            fracs[name] = min(1.0, max(0.0, nulls.get(c.name, base)))
        return fields, fracs

    def duplicate_share(self, ds: Dataset, h: int) -> float:
        found = self.fx.dataset(ds.idx, DUPES, h)
        if found:
            return max(e.value for e in found)
        return BASE_DUPLICATES * (1 + 0.5 * abs(rand.normal(ds.noise_key, h, 0, 4)))

    # -- gauges --------------------------------------------------------------------------

    def gauge(self, ds: Dataset, name: str, attrs: dict[str, str], h: int, base: float,
              rel_noise: float, channel: int) -> float:
        value = base * (1 + rel_noise * rand.normal(ds.key, h, channel, 5))
        return self.fx.metric(ds.idx, name, attrs, h, value)

    def stage_latency(self, ds: Dataset, stage: str, h: int) -> float:
        return self.gauge(ds, "event.end_to_end.latency", {"stage": stage}, h,
                          STAGE_LATENCY_S[stage], 0.05, 11)

    def file_arrival_us(self, ds: Dataset, day_start_h: int) -> int:
        """When the file of the day starting at hour index ``day_start_h`` landed."""
        assert ds.arrival is not None
        hod, minute = ds.arrival
        ha = day_start_h + hod
        jitter = 8 * rand.normal(ds.key, ha, 0, 6)
        late = max((e.value for e in self.fx.dataset(ds.idx, LATE, ha)), default=0.0)
        return (self.clock.hour_start(ha) + int((minute + jitter) * MINUTE_US)
                + int(late * HOUR_US))

    def file_lag_s(self, ds: Dataset, t_us: int) -> float:
        """Seconds since the newest file of ``ds`` that had landed by ``t_us``."""
        h = self.clock.hour_of(t_us)
        day0 = h - self.clock.hour_of_day(h)
        for back in range(0, 4):
            arrived = self.file_arrival_us(ds, day0 - 24 * back)
            if arrived <= t_us:
                return (t_us - arrived) / 1e6
        return 4 * 86_400.0


def fraction_noise(key: int, h: int, channel: int, base: float, rel: float) -> float:
    """A small positive share (error or loss rates) with multiplicative noise."""
    return max(0.0, base * math.exp(rel * rand.normal(key, h, channel, 7)))
