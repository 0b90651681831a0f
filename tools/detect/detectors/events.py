"""Event collection health: consent consistency, event loss, end-to-end latency."""

from __future__ import annotations

from tools.detect.detectors.base import Detector, MetricRule

CONSENT = MetricRule("consent.mismatch_fraction", up="consent_mismatch", down=None,
                     noun="consent mismatch ({consent_purpose})", unit="fraction",
                     min_abs_change=0.005, min_rel_change=0.05)
LOSS = MetricRule("event.loss_fraction", up="event_loss", down=None,
                  noun="event loss", unit="fraction", min_abs_change=0.01,
                  min_rel_change=0.05)
LATENCY = MetricRule("event.end_to_end.latency", up="latency_breach", down=None,
                     noun="end-to-end latency at stage {stage}", unit="s",
                     min_abs_change=120.0, min_rel_change=0.1)


class EventsDetector(Detector):
    name = "events"
    rules = (CONSENT, LOSS, LATENCY)
