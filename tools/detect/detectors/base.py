"""What every detector shares: the context it reads, the metric rules it declares, the
findings the scoring pass hands back, and how values read in a summary."""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.anomalies import Detection
from tools.detect.settings import DetectSettings
from tools.detect.signals import (
    Landing,
    NodeNames,
    RunAsOf,
    Series,
    SeriesKey,
    SeriesMeta,
    VersionRow,
    landings,
    list_metric_series,
    load_readers,
    load_runs,
    load_versions,
    load_writers,
    read_points,
    version_series,
)
from tools.ingest.catalog import CatalogAsset, list_catalog
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.timeutil import iso

Direction = Literal["up", "down"]
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")
EVIDENCE_POINTS = 48
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


@dataclass(frozen=True, slots=True)
class MetricRule:
    """How one metric is read: which fault kind a rise or a fall means, the smallest
    change worth an alert (absolute, in the metric's unit, and relative to the expected
    value), and the words for it."""

    metric: str
    up: str | None
    down: str | None
    noun: str
    unit: str = ""  # "" count | "fraction" | "s" | "ms" | "ratio"
    min_abs_change: float = 0.0
    min_rel_change: float = 0.05
    # Departing points an excursion needs before it is reported: 2 for series where one
    # odd reading is expected now and then (a file landing just after the gauge's sample).
    min_points: int = 1
    # A relative move this large is reported once it is k_onset sigmas out, even when the
    # band is wider (a short history overstates the noise; None: no such cap).
    max_rel_band: float | None = None

    def kind(self, direction: Direction) -> str | None:
        return self.up if direction == "up" else self.down


@dataclass(slots=True)
class Finding:
    """An excursion of one series that is still going on at the detection time."""

    series: Series
    rule: MetricRule
    direction: Direction
    onset_us: int  # the first departing point
    alert_us: int  # where the score first crossed the alert threshold
    last_us: int  # the latest point
    observed: float
    expected: float
    lower: float
    upper: float
    score: float  # latest robust z-score
    peak: float  # largest |score| of the excursion so far (signed)
    k_alert: float
    evidence: dict[str, Any]

    @property
    def key(self) -> SeriesKey:
        return self.series.key


@dataclass(slots=True)
class DetectContext:
    """Everything one detection run reads, loaded once as of ``at_us``."""

    store: Store
    at_us: int
    since_us: int
    settings: DetectSettings
    nodes: NodeNames
    catalog: dict[NodeRef, CatalogAsset]
    runs: list[RunAsOf]
    versions: list[VersionRow]
    writers: dict[NodeRef, list[NodeRef]]
    readers: dict[NodeRef, list[NodeRef]]
    landings: dict[NodeRef, list[Landing]]
    metas: list[SeriesMeta] = field(default_factory=list)  # OTLP series listed
    series: list[Series] = field(default_factory=list)  # OTLP series with their points
    version_series: list[Series] = field(default_factory=list)  # from dataset versions
    load_seconds: float = 0.0

    def catalog_kind(self, node: NodeRef) -> str | None:
        asset = self.catalog.get(node)
        return asset.kind if asset is not None else None

    def enabled(self, detector: str, node: NodeRef | None = None) -> bool:
        return self.settings.enabled(detector, node)


def slo_metric_names(catalog: Collection[CatalogAsset]) -> set[str]:
    """Metric series the catalog's SLOs read (freshness: a source's own lag gauge)."""
    names = {s.metric for a in catalog for s in a.slos}
    if "freshness" in names:
        names.add("data.freshness.lag")
    names.discard("freshness")
    return names


def load_context(store: Store, at_us: int, settings: DetectSettings,
                 metric_names: Collection[str] | None, *, slo_metrics: bool = False,
                 points: bool = True) -> DetectContext:
    """Read what detection needs as of ``at_us``: ``metric_names`` (None: every metric),
    plus the metrics of catalog SLOs when ``slo_metrics``. With ``points`` False the
    metric series are only listed (``metas``), for the caller to stream their points."""
    began = time.perf_counter()
    since_us = at_us - settings.lookback_us
    assets = list_catalog(store)
    catalog = {a.node: a for a in assets}
    if slo_metrics and metric_names is not None:
        metric_names = set(metric_names) | slo_metric_names(assets)
    with store.read() as conn:
        nodes = NodeNames(conn)
        runs = load_runs(conn, nodes, at_us=at_us, since_us=since_us)
        versions = load_versions(conn, nodes, at_us=at_us, since_us=since_us)
        writers = load_writers(conn, nodes, at_us=at_us)
        readers = load_readers(conn, nodes, at_us=at_us)
        metas = list_metric_series(conn, nodes, metric_names)
        series = read_points(conn, metas, since_us=since_us, at_us=at_us) if points else []
    return DetectContext(
        store=store, at_us=at_us, since_us=since_us, settings=settings, nodes=nodes,
        catalog=catalog, runs=runs, versions=versions, writers=writers, readers=readers,
        landings=landings(runs, writers), metas=metas, series=series,
        version_series=version_series(versions), load_seconds=time.perf_counter() - began,
    )


class Detector:
    """A detector: metric rules scored in the shared pass, plus its own logic.

    ``detect`` receives the findings of its rules' series (already filtered to the
    excursions ongoing at the detection time) and returns Detections.
    """

    name: str = ""
    rules: tuple[MetricRule, ...] = ()

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        return [d for f in findings if (d := finding_detection(f)) is not None]


# -- turning findings into detections ---------------------------------------------------------


def ratio_severity(score: float, k_alert: float) -> str:
    """How far past the threshold the excursion went: < 1.5x low, < 3x medium, else high."""
    ratio = abs(score) / k_alert
    return "low" if ratio < 1.5 else "medium" if ratio < 3 else "high"


def change_severity(observed: float, expected: float, rule: MetricRule) -> str:
    """A large relative move is at least medium, whatever the noise was."""
    base = max(abs(expected), rule.min_abs_change, 1e-12)
    rel = abs(observed - expected) / base
    return "high" if rel >= 0.5 else "medium" if rel >= 0.2 else "low"


def max_severity(*levels: str) -> str:
    return max(levels, key=SEVERITY_ORDER.index)


def finding_detection(f: Finding, kind: str | None = None, *, summary: str | None = None,
                      severity: str | None = None) -> Detection | None:
    """The Detection for a finding: kind from the rule's direction unless given."""
    chosen = kind or f.rule.kind(f.direction)
    if chosen is None:
        return None
    if severity is None:
        severity = ratio_severity(f.peak, f.k_alert)
    return Detection(
        node=f.key.node,
        kind=chosen,
        metric=f.key.metric,
        attributes=f.key.attrs,
        onset_us=f.onset_us,
        score=round(abs(f.peak), 3),
        severity=severity,
        summary=summary or describe(f),
        observed=f.observed,
        expected=f.expected,
        lower=f.lower,
        upper=f.upper,
        evidence=f.evidence,
    )


def describe(f: Finding) -> str:
    """'null fraction of email rose to 65% (expected 3.1%, normal 2.5%-3.7%) since ...'."""
    verb = "rose" if f.direction == "up" else "fell"
    noun = series_noun(f.rule, f.key)
    unit = f.rule.unit
    return (
        f"{noun} {verb} to {fmt(f.observed, unit)} (expected {fmt(f.expected, unit)}, normal "
        f"{fmt(f.lower, unit)} to {fmt(f.upper, unit)}) since {short_time(f.onset_us)}"
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def series_noun(rule: MetricRule, key: SeriesKey) -> str:
    """The rule's noun with the series' attributes filled in ('.' in names reads '_')."""
    return rule.noun.format_map(_Blank({k.replace(".", "_"): v for k, v in key.attributes}))


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "fraction":
        pct = value * 100
        return f"{pct:.3g}%" if abs(pct) < 10 else f"{pct:.1f}%"
    if unit == "s":
        return duration(value)
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "ratio":
        return f"{value:.3g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 120:
        return f"{sign}{s:.0f}s"
    if s < 7200:
        return f"{sign}{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} d"


def short_time(us: int) -> str:
    """ISO to the minute: summaries are read by people."""
    text = iso(us) or ""
    return text[:16] + "Z" if len(text) >= 16 else text


def round6(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


__all__ = [
    "DAY_US",
    "EVIDENCE_POINTS",
    "HOUR_US",
    "DetectContext",
    "Detector",
    "Direction",
    "Finding",
    "MetricRule",
    "change_severity",
    "describe",
    "duration",
    "finding_detection",
    "fmt",
    "load_context",
    "max_severity",
    "ratio_severity",
    "round6",
    "series_noun",
    "short_time",
    "slo_metric_names",
]
