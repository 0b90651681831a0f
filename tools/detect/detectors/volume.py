"""Row volumes: drops and spikes of ``data.row_count`` (dataset versions or OTLP) and of
``activation.audience.size``.

A fall on an audience or activation asset (catalog kind) is ``audience_drop``; any other
fall is ``volume_drop``; a rise is ``volume_spike``. The floors keep tiny tables quiet: a
change must be at least 15% of the expected count and at least ten rows. A move of 20% or
more is reported once it is k_onset sigmas out, even when a short history (a daily load
seen for a week) leaves the band wider than that.
"""

from __future__ import annotations

from tools.anomalies import Detection
from tools.detect.detectors.base import (
    DetectContext,
    Detector,
    Finding,
    MetricRule,
    change_severity,
    finding_detection,
    max_severity,
    ratio_severity,
)

ROWS = MetricRule("data.row_count", up="volume_spike", down="volume_drop", noun="row count",
                  min_abs_change=10.0, min_rel_change=0.15, max_rel_band=0.2)
AUDIENCE = MetricRule("activation.audience.size", up="volume_spike", down="audience_drop",
                      noun="audience size", min_abs_change=10.0, min_rel_change=0.15,
                      max_rel_band=0.2)
AUDIENCE_KINDS = frozenset({"audience", "activation"})


class VolumeDetector(Detector):
    name = "volume"
    rules = (ROWS, AUDIENCE)

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        out = []
        for f in findings:
            kind = f.rule.kind(f.direction)
            if f.direction == "down" and ctx.catalog_kind(f.key.node) in AUDIENCE_KINDS:
                kind = "audience_drop"
            # Volume is noisy in absolute terms: the size of the move decides as much as
            # how unusual it is.
            severity = max_severity(ratio_severity(f.peak, f.k_alert),
                                    change_severity(f.observed, f.expected, f.rule))
            det = finding_detection(f, kind, severity=severity)
            if det is not None:
                out.append(det)
        return out
