"""Service level objectives from the catalog: attainment, error budget and burn-rate alerts.

An SLO says a metric stays within its objective for ``target`` of the time over ``window``
(TELEMETRY.md §6). The SLI is measured as time: ``freshness`` is the age of the newest
successful write (exact between writes, from the writers' runs; a source's own
``data.freshness.lag`` gauge when nothing we see writes it); any other metric holds each
observed value until the next one (for at most three of its usual spacings, after which
the time counts as unmeasured).

Burn rate over a window is the bad share of measured time divided by the error budget
(1 - target). Alerts follow the multiwindow, multi-burn-rate recipe of the SRE workbook: a
rule fires when both its long and its short window burn faster than its threshold, the
short window making the alert stop soon after the burning does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from tools.anomalies import Detection
from tools.detect.detectors.base import (
    DetectContext,
    Detector,
    Finding,
    duration,
    fmt,
    load_context,
    short_time,
    slo_metric_names,
)
from tools.detect.settings import DetectSettings, load_detect_settings
from tools.detect.signals import Landing, Series, SeriesKey
from tools.ingest.catalog import CatalogAsset, Slo, list_catalog
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import now_micros
from tools.timeutil import iso, parse_duration_us, parse_micros

IntArray = npt.NDArray[np.int64]

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US


@dataclass(frozen=True, slots=True)
class BurnRule:
    long: str
    short: str
    burn: float
    severity: str

    @property
    def name(self) -> str:
        return f"{self.long}/{self.short} at {self.burn:g}x"


# The SRE workbook's recommended set (2%, 5%, 10% and 10% of a 30-day budget).
BURN_RULES = (
    BurnRule("1h", "5m", 14.4, "high"),
    BurnRule("6h", "30m", 6.0, "high"),
    BurnRule("1d", "2h", 3.0, "medium"),
    BurnRule("3d", "6h", 1.0, "low"),
)
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# SLO metric -> the fault kind a breach is (for objectives bounding the metric from above;
# see BELOW_KINDS for metrics where a breach from the other side means something else).
SLO_KINDS = {
    "freshness": "late_data",
    "data.freshness.lag": "late_data",
    "data.row_count": "volume_drop",
    "data.null_fraction": "null_spike",
    "data.duplicate_fraction": "duplicates",
    "consent.mismatch_fraction": "consent_mismatch",
    "event.loss_fraction": "event_loss",
    "event.end_to_end.latency": "latency_breach",
    "identity.merge_rate": "identity_overmerge",
    "identity.fragmentation_ratio": "identity_fragmentation",
    "identity.orphan_profiles": "orphan_profiles",
    "identity.match_confidence": "identity_fragmentation",
    "activation.sync.success_ratio": "sync_failure",
    "activation.sync.errors": "sync_failure",
    "activation.webhook.latency": "webhook_latency",
    "activation.audience.size": "audience_drop",
    "activation.delivery.variance": "delivery_variance",
}
# Identity gauges move both ways in both identity failure modes: a breach of their SLO
# takes the kind the identity detector gave the same series (see engine).
CONTEXT_KIND_METRICS = frozenset({"identity.match_confidence", "identity.merge_rate",
                                  "identity.fragmentation_ratio"})
# Volume SLOs with an upper bound ("<= 2M rows") are breached by too much, not too little.
UPPER_BOUND_KINDS = {"data.row_count": "volume_spike", "activation.audience.size": "volume_spike"}


class SloStatus(BaseModel):
    node: str
    metric: str
    attributes: dict[str, str]
    objective: str
    target: float
    window: str
    current: float | None
    met_now: bool | None
    attainment: float | None  # share of measured time within the objective over the window
    measured_hours: float
    error_budget_remaining: float | None  # 1 = untouched, 0 = spent, < 0 = overspent
    burn_rates: dict[str, float | None]
    alerts: list[str]  # burn rules firing now
    status: str  # ok | burning | exhausted | no_data
    onset: str | None = None  # start of the bad stretch behind a firing alert


@dataclass(slots=True)
class Track:
    """Where the SLI was measured and where it was bad: disjoint [start, end) intervals."""

    measured: IntArray  # (k, 2)
    bad: IntArray  # (m, 2), merged
    current: float | None

    def overlap(self, which: IntArray, lo: int, hi: int) -> int:
        if which.size == 0:
            return 0
        return int(np.clip(np.minimum(which[:, 1], hi) - np.maximum(which[:, 0], lo), 0,
                           None).sum())

    def bad_share(self, lo: int, hi: int) -> float | None:
        measured = self.overlap(self.measured, lo, hi)
        return self.overlap(self.bad, lo, hi) / measured if measured > 0 else None


def freshness_track(landed: list[Landing], slo: Slo, start: int, at: int) -> Track | None:
    """Age of the newest write over time: bad from thr after each write to the next one."""
    times = sorted({x.landed_us for x in landed if x.landed_us <= at})
    if not times or slo.operator not in ("<=", "<"):
        return None
    thr = int(slo.threshold * 1e6)
    bad = []
    for i, t in enumerate(times):
        nxt = times[i + 1] if i + 1 < len(times) else at
        bad.append((max(start, t + thr), min(at, nxt)))
    measured = _merge_array(np.asarray([(max(start, times[0]), at)], dtype=np.int64))
    return Track(measured, _merge_array(np.asarray(bad, dtype=np.int64).reshape(-1, 2)),
                 (at - times[-1]) / 1e6)


def metric_track(series: Series, slo: Slo, start: int, at: int) -> Track | None:
    """Each value holds until the next one, for at most three usual spacings."""
    ts, values = series.ts_us, series.values
    keep = ts <= at
    ts, values = ts[keep], values[keep]
    if ts.size == 0:
        return None
    gaps = np.diff(ts)
    hold = int(3 * np.median(gaps)) if gaps.size else HOUR_US
    hold = max(hold, HOUR_US)
    ends = np.minimum(np.minimum(np.append(ts[1:], at), ts + hold), at)
    starts = np.maximum(ts, start)
    spans = np.stack([starts, ends], axis=1)
    met = met_mask(slo, values)
    return Track(_merge_array(spans), _merge_array(spans[~met]), float(values[-1]))


def met_mask(slo: Slo, values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """``slo.met_by`` for many values at once."""
    thr = slo.threshold
    ops = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}
    if slo.operator in ops:
        return np.asarray(ops[slo.operator](values, thr))
    return np.asarray(np.isclose(values, thr))


def _merge_array(spans: IntArray) -> IntArray:
    """Sorted, non-empty spans merged where they touch (consecutive readings do)."""
    spans = spans[spans[:, 1] > spans[:, 0]]
    if spans.size == 0:
        return spans.reshape(0, 2)
    spans = spans[np.argsort(spans[:, 0], kind="stable")]
    reach = np.maximum.accumulate(spans[:, 1])
    new = np.ones(len(spans), dtype=bool)
    new[1:] = spans[1:, 0] > reach[:-1]
    first = np.nonzero(new)[0]
    last = np.append(first[1:] - 1, len(spans) - 1)
    return np.stack([spans[first, 0], reach[last]], axis=1)


def _tracks(ctx: DetectContext, asset: CatalogAsset, slo: Slo, start: int
            ) -> list[tuple[dict[str, str], Track | None]]:
    node = asset.node
    if slo.metric == "freshness" and node in ctx.landings:
        return [({}, freshness_track(ctx.landings[node], slo, start, ctx.at_us))]
    name = "data.freshness.lag" if slo.metric == "freshness" else slo.metric
    found: dict[SeriesKey, Series] = {}
    for s in ctx.version_series:
        if s.key.node == node and s.key.metric == name:
            found[s.key] = s
    for s in ctx.series:  # OTLP points win over what dataset versions imply
        if s.key.node == node and s.key.metric == name:
            found[s.key] = s
    if not found:
        return [({}, None)]
    return [(key.attrs, metric_track(s, slo, start, ctx.at_us))
            for key, s in sorted(found.items(), key=lambda kv: kv[0].attributes)]


def evaluate(ctx: DetectContext, asset: CatalogAsset, slo: Slo) -> list[SloStatus]:
    window_us = int(slo.window_seconds * 1e6)
    start = ctx.at_us - window_us
    budget = 1 - slo.target
    out = []
    for attrs, track in _tracks(ctx, asset, slo, start):
        common = {"node": str(asset.node), "metric": slo.metric, "attributes": attrs,
                  "objective": slo.objective, "target": slo.target, "window": slo.window}
        measured = track.overlap(track.measured, start, ctx.at_us) if track else 0
        if track is None or measured == 0:
            out.append(SloStatus(**common, current=None, met_now=None, attainment=None,
                                 measured_hours=0.0, error_budget_remaining=None,
                                 burn_rates=dict.fromkeys(BURN_WINDOWS), alerts=[],
                                 status="no_data"))
            continue
        bad_share = track.bad_share(start, ctx.at_us) or 0.0
        # The budget is time: (1 - target) of the whole window may be bad, however much of
        # the window has been measured so far.
        bad_us = track.overlap(track.bad, start, ctx.at_us)
        burns: dict[str, float | None] = {}
        for w in BURN_WINDOWS:
            share = track.bad_share(ctx.at_us - parse_duration_us(w), ctx.at_us)
            burns[w] = None if share is None else round(share / budget, 3)
        firing = [r for r in BURN_RULES if parse_duration_us(r.long) <= window_us
                  and (burns[r.long] or 0) >= r.burn and (burns[r.short] or 0) >= r.burn]
        remaining = 1 - bad_us / (budget * window_us)
        onset = None
        if firing:
            long_us = max(parse_duration_us(r.long) for r in firing)
            hits = track.bad[track.bad[:, 1] > ctx.at_us - long_us]
            onset = iso(int(hits[0, 0])) if hits.size else None
        status = "burning" if firing else "exhausted" if remaining <= 0 else "ok"
        current = track.current
        out.append(SloStatus(
            **common, current=current,
            met_now=slo.met_by(current) if current is not None else None,
            attainment=round(1 - bad_share, 6), measured_hours=round(measured / 3.6e9, 3),
            error_budget_remaining=round(remaining, 4), burn_rates=burns,
            alerts=[r.name for r in firing], status=status, onset=onset))
    return out


def slo_kind(slo: Slo) -> str | None:
    if slo.operator in ("<=", "<") and slo.metric in UPPER_BOUND_KINDS:
        return UPPER_BOUND_KINDS[slo.metric]
    return SLO_KINDS.get(slo.metric)


def _detection(asset: CatalogAsset, slo: Slo, status: SloStatus) -> Detection | None:
    kind = slo_kind(slo)
    if kind is None or not status.alerts or status.onset is None:
        return None
    fired = [r for r in BURN_RULES if r.name in status.alerts]
    severity = max((r.severity for r in fired), key=("info", "low", "medium", "high").index)
    if fired[0].burn >= 14.4 and asset.tier == 1:
        severity = "critical"
    rule = fired[0]
    unit = "s" if slo.metric in ("freshness", "data.freshness.lag",
                                 "event.end_to_end.latency") else ""
    burn = status.burn_rates.get(rule.long) or 0.0
    summary = (f"SLO {slo.metric} {slo.objective} ({slo.target:.2%} over {slo.window}) burning "
               f"{burn:g}x its error budget over {rule.long}: now {fmt(status.current, unit)}, "
               f"budget left {status.error_budget_remaining:.0%}")
    onset_us = parse_micros(status.onset)
    return Detection(
        node=asset.node,
        kind=kind,
        metric=slo.metric,
        attributes={**status.attributes, "slo": slo.objective},
        onset_us=onset_us,
        score=round(burn, 3),
        severity=severity,
        summary=summary + f" (bad since {short_time(onset_us)})",
        observed=status.current,
        expected=slo.threshold,
        lower=slo.threshold if slo.operator in (">=", ">") else None,
        upper=slo.threshold if slo.operator in ("<=", "<") else None,
        evidence={
            "slo": {"metric": slo.metric, "objective": slo.objective, "target": slo.target,
                    "window": slo.window},
            "burn_rates": status.burn_rates,
            "alerts": status.alerts,
            "attainment": status.attainment,
            "error_budget_remaining": status.error_budget_remaining,
            "measured": duration(status.measured_hours * 3600),
        },
    )


class SloDetector(Detector):
    """Burn-rate alerts of every catalog SLO, as Detections."""

    name = "slo"

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        out = []
        for asset in ctx.catalog.values():
            if not ctx.enabled(self.name, asset.node):
                continue
            for slo in asset.slos:
                for status in evaluate(ctx, asset, slo):
                    det = _detection(asset, slo, status)
                    if det is not None:
                        out.append(det)
        return out


def slo_status(store: Store, at_us: int | None = None, settings: DetectSettings | None = None,
               *, node: NodeRef | None = None) -> list[SloStatus]:
    """Every catalog SLO (of ``node``, if given) as of ``at_us`` (default: now)."""
    at = at_us if at_us is not None else now_micros()
    catalog = list_catalog(store)
    if node is not None:
        catalog = [a for a in catalog if a.node == node]
    if not catalog:
        return []
    longest = max((parse_duration_us(s.window) for a in catalog for s in a.slos), default=0)
    chosen = settings or load_detect_settings()
    lookback = max(chosen.lookback_us, longest)
    chosen = chosen.model_copy(update={"lookback": f"{lookback // 1_000_000}s"})
    ctx = load_context(store, at, chosen, slo_metric_names(catalog))
    return [st for a in catalog for slo in a.slos for st in evaluate(ctx, a, slo)]


__all__ = [
    "BURN_RULES",
    "CONTEXT_KIND_METRICS",
    "SLO_KINDS",
    "BurnRule",
    "SloDetector",
    "SloStatus",
    "Track",
    "evaluate",
    "freshness_track",
    "metric_track",
    "slo_kind",
    "slo_status",
]
