"""Detection over the whole store as of one moment, and folding it into the anomalies table.

``detect`` reads what the store held at ``at_us`` (nothing later, so replaying an earlier
moment gives the answer detection would have given then), scores every metric series the
enabled detectors read in one vectorised pass, lets each detector turn its findings (and
its own signals: runs, schemas, code, SLOs) into Detections, and returns them.
``run_detection`` also persists them with ``sync_anomalies``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from tools.anomalies import AnomalyView, Detection, sync_anomalies
from tools.detect import DetectInputError, DetectorConfig
from tools.detect.detectors.base import DetectContext, Finding, load_context
from tools.detect.detectors.registry import DETECTORS, rules_by_metric
from tools.detect.detectors.scoring import ScoreItem, config_for_step, score_items
from tools.detect.settings import DetectSettings, DetectSettingsError, load_detect_settings
from tools.detect.signals import SERIES_BATCH, Series, iter_points
from tools.detect.slo import CONTEXT_KIND_METRICS
from tools.store.db import Store
from tools.store.models import now_micros
from tools.timeutil import iso

BASE_CONFIG = DetectorConfig()


@dataclass(slots=True)
class DetectReport:
    at_us: int
    detections: list[Detection]
    load_seconds: float = 0.0
    score_seconds: float = 0.0
    total_seconds: float = 0.0
    series_scored: int = 0
    series_skipped: int = 0
    score_groups: int = 0
    per_detector: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at_us),
            "detections": len(self.detections),
            "per_detector": self.per_detector,
            "series_scored": self.series_scored,
            "series_skipped": self.series_skipped,
            "score_groups": self.score_groups,
            "load_seconds": round(self.load_seconds, 3),
            "score_seconds": round(self.score_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
        }


class _Configs:
    """The core's config for a series: step defaults, the rule's floors, then settings.

    The absolute floor is expressed through the item's scale (values divided by their
    floor, against a config floor of 1), so series whose rules differ only in that floor
    are scored together.
    """

    def __init__(self, settings: DetectSettings, detector_of: dict[str, str]) -> None:
        self.settings = settings
        self.detector_of = detector_of
        self.cache: dict[tuple[Any, ...], DetectorConfig] = {}

    def __call__(self, item: ScoreItem, step_s: int) -> tuple[DetectorConfig, float]:
        rule, node = item.rule, item.series.key.node
        overrides = self.settings.overrides(self.detector_of[rule.metric], rule.metric, node)
        floor = overrides.pop("min_abs_change", rule.min_abs_change)
        fields: dict[str, Any] = {"min_abs_change": 1.0 if floor > 0 else 0.0,
                                  "min_rel_change": rule.min_rel_change, **overrides}
        key = (step_s, tuple(sorted(fields.items())))
        found = self.cache.get(key)
        if found is None:
            step_cfg = config_for_step(BASE_CONFIG, step_s)
            if "k_alert" in overrides:
                # The step's easing of slow series applies to the chosen threshold too.
                k_alert = overrides["k_alert"] * step_cfg.k_alert / BASE_CONFIG.k_alert
                fields["k_alert"] = k_alert
                fields["k_onset"] = min(step_cfg.k_onset, k_alert)
            try:
                found = replace(step_cfg, **fields)
            except DetectInputError as exc:
                raise DetectSettingsError(f"settings for {rule.metric} on {node}: {exc}") \
                    from None
            self.cache[key] = found
        return found, 1.0 / floor if floor > 0 else 1.0


def _rule_items(ctx: DetectContext, rules: dict[str, Any], series: list[Series]
                ) -> list[ScoreItem]:
    items = []
    for s in series:
        found = rules.get(s.key.metric)
        if found is not None and ctx.enabled(found[0].name, s.key.node):
            items.append(ScoreItem(s, found[1]))
    return items


def _version_items(ctx: DetectContext, rules: dict[str, Any]) -> list[ScoreItem]:
    """What dataset versions imply, where OTLP says nothing of the same series (a profile
    or a producer may send both) and a destination's audience size is not already its
    row count."""
    otlp = {m.key for m in ctx.metas}
    audience = {m.key.node for m in ctx.metas if m.key.metric == "activation.audience.size"}
    kept = [s for s in ctx.version_series if s.key not in otlp
            and not (s.key.metric == "data.row_count" and s.key.node in audience)]
    return _rule_items(ctx, rules, kept)


def _align_slo_kinds(detections: list[Detection]) -> None:
    """An SLO breach on a metric whose meaning depends on context (a match-confidence drop
    is over-merging or fragmentation) takes the kind its own detector gave the same series."""
    kinds: dict[tuple[str, str], str] = {}
    for d in detections:
        if "slo" not in d.attributes and d.metric is not None:
            kinds[(str(d.node), d.metric)] = d.kind
    for d in detections:
        if "slo" in d.attributes and d.metric in CONTEXT_KIND_METRICS:
            d.kind = kinds.get((str(d.node), d.metric), d.kind)


def detect_report(store: Store, at_us: int | None = None,
                  settings: DetectSettings | None = None) -> DetectReport:
    """Run every enabled detector on the data up to ``at_us`` (default: now)."""
    began = time.perf_counter()
    at = at_us if at_us is not None else now_micros()
    chosen = settings if settings is not None else load_detect_settings()
    enabled = [d for d in DETECTORS if chosen.enabled(d.name)]
    rules = rules_by_metric(enabled)
    ctx = load_context(store, at, chosen, set(rules),
                       slo_metrics=any(d.name == "slo" for d in enabled), points=False)
    report = DetectReport(at, [], load_seconds=ctx.load_seconds)
    configs = _Configs(chosen, {metric: det.name for metric, (det, _r) in rules.items()})
    findings: list[Finding] = []

    def score(items: list[ScoreItem]) -> None:
        began_scoring = time.perf_counter()
        scored = score_items(items, configs, at)
        findings.extend(scored.findings)
        report.series_scored += scored.scored
        report.series_skipped += scored.skipped
        report.score_groups += scored.groups
        report.score_seconds += time.perf_counter() - began_scoring

    # Points arrive in batches read ahead in a thread, so scoring one batch overlaps
    # reading the next; load_seconds counts only the time spent waiting for them. Small
    # stores fit in one batch, scored with the dataset-version series in one pass.
    pending: list[ScoreItem] = []
    waited = time.perf_counter()
    for batch in iter_points(store, ctx.metas, since_us=ctx.since_us, at_us=at):
        report.load_seconds += time.perf_counter() - waited
        ctx.series.extend(batch)
        pending.extend(_rule_items(ctx, rules, batch))
        if len(pending) >= SERIES_BATCH:
            score(pending)
            pending = []
        waited = time.perf_counter()
    report.load_seconds += time.perf_counter() - waited
    score(pending + _version_items(ctx, rules))
    by_detector: dict[str, list[Finding]] = {}
    for f in findings:
        by_detector.setdefault(configs.detector_of[f.rule.metric], []).append(f)
    for det in enabled:
        found = det.detect(ctx, by_detector.get(det.name, []))
        report.per_detector[det.name] = len(found)
        report.detections.extend(found)
    _align_slo_kinds(report.detections)
    report.detections.sort(key=lambda d: (d.onset_us, str(d.node), d.kind, d.metric or ""))
    report.total_seconds = time.perf_counter() - began
    return report


def detect(store: Store, at_us: int | None = None,
           settings: DetectSettings | None = None) -> list[Detection]:
    """Detections as of ``at_us`` (default: now), from data observed up to then only."""
    return detect_report(store, at_us, settings).detections


def run_detection(store: Store, at_us: int | None = None,
                  settings: DetectSettings | None = None) -> list[AnomalyView]:
    """Detect as of ``at_us`` and fold the result into the anomalies table: returns the
    anomalies open afterwards."""
    at = at_us if at_us is not None else now_micros()
    return sync_anomalies(store, detect(store, at, settings), at)


__all__ = ["DetectReport", "detect", "detect_report", "run_detection"]
