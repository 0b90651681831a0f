"""detect / run_detection over the store: bad and empty input, the anomaly lifecycle,
settings, and replay (detecting as of T ignores everything observed after T)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tools.detect.storedata import (
    DAY,
    HOUR,
    SIM_END,
    T0,
    Point,
    send_catalog,
    send_points,
)
from tools.anomalies import Detection, list_anomalies
from tools.detect.engine import detect, detect_report, run_detection
from tools.detect.settings import DetectSettings
from tools.ingest.catalog import ingest_catalog
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import ingest_otlp
from tools.simulate import FaultSpec, SimConfig, Simulation
from tools.store import Store, open_store, to_micros

NS, NAME = "kafka://events.test", "web.clickstream"
NODE = f"dataset:{NS}:{NAME}"
STEP_AT = T0 + 8 * DAY  # the loss fraction jumps here...
STEP_END = STEP_AT + 10 * HOUR  # ...and is back to normal from here


def loss_fraction(hour: int) -> float:
    """A small daily-cycling loss rate with noise; 30% during the step."""
    t = T0 + hour * HOUR
    if STEP_AT <= t < STEP_END:
        return 0.3
    rng = np.random.default_rng(hour)
    return float(0.004 * (1 + 0.3 * np.sin(2 * np.pi * hour / 24)) * (1 + 0.1 * rng.normal()))


@pytest.fixture
def loss_store(store: Store) -> Store:
    send_points(store, [Point(NS, NAME, "event.loss_fraction", T0 + h * HOUR + 55 * 60_000_000,
                              float(loss_fraction(h))) for h in range(11 * 24)])
    return store


def test_empty_store_detects_nothing(store: Store) -> None:
    report = detect_report(store, T0, DetectSettings())
    assert report.detections == []
    assert report.series_scored == 0
    assert run_detection(store, T0, DetectSettings()) == []


def test_nodes_without_telemetry_are_skipped(store: Store) -> None:
    send_catalog(store, [
        {"node": NODE, "kind": "source", "slos": [
            {"metric": "freshness", "objective": "<= 15m", "target": 0.99, "window": "28d"},
            {"metric": "event.loss_fraction", "objective": "<= 0.01", "target": 0.99,
             "window": "28d"}]},
        {"node": "job:dbt://x:never_ran", "kind": "staging"},
    ])
    assert detect(store, T0 + 30 * DAY, DetectSettings()) == []


def test_too_short_series_are_counted_not_scored(store: Store) -> None:
    send_points(store, [Point(NS, NAME, "event.loss_fraction", T0 + h * HOUR, 0.01)
                        for h in range(3)])
    report = detect_report(store, T0 + DAY, DetectSettings())
    assert report.series_skipped == 1 and report.detections == []


def test_a_step_is_detected_with_its_onset(loss_store: Store) -> None:
    found = detect(loss_store, STEP_AT + 3 * HOUR, DetectSettings())
    (det,) = [d for d in found if d.kind == "event_loss"]
    assert str(det.node) == NODE and det.metric == "event.loss_fraction"
    assert det.onset_us == STEP_AT + 55 * 60_000_000, "the first departing point"
    assert det.observed == pytest.approx(0.3)
    assert det.lower is not None and det.upper is not None and det.expected is not None
    assert det.lower <= det.expected <= det.upper < 0.3
    assert det.severity in ("medium", "high")
    assert "event loss rose to 30.0%" in det.summary
    assert det.evidence["points"][-1][1] == pytest.approx(0.3)


def test_replay_before_the_step_sees_nothing(loss_store: Store) -> None:
    assert detect(loss_store, STEP_AT - HOUR, DetectSettings()) == []


def test_lifecycle_one_anomaly_updates_then_resolves(loss_store: Store) -> None:
    settings = DetectSettings()
    assert run_detection(loss_store, STEP_AT - HOUR, settings) == []
    (first,) = run_detection(loss_store, STEP_AT + 2 * HOUR, settings)
    (again,) = run_detection(loss_store, STEP_AT + 6 * HOUR, settings)
    assert again.id == first.id and again.status == "open"
    assert again.onset == first.onset
    assert again.updated_at > first.updated_at
    # Back to normal: still open during the hold (one good reading is not recovery)...
    assert run_detection(loss_store, STEP_END + 2 * HOUR, settings)
    # ...and resolved once the series has been calm for longer.
    assert run_detection(loss_store, STEP_END + 9 * HOUR, settings) == []
    (done,) = list_anomalies(loss_store)
    assert done.id == first.id and done.status == "resolved"
    assert done.resolved_at is not None


def test_disabled_detector_and_node(loss_store: Store) -> None:
    at = STEP_AT + 3 * HOUR
    assert detect(loss_store, at, DetectSettings(detectors={"events": {"enabled": False}})) == []
    assert detect(loss_store, at, DetectSettings(nodes={NODE: {"disabled": ["events"]}})) == []
    assert detect(loss_store, at, DetectSettings(nodes={
        "dataset:other:ns": {"disabled": ["events"]}}))


def test_sensitivity_settings_change_what_alerts(loss_store: Store) -> None:
    at = STEP_AT + 3 * HOUR
    # A floor above the step silences it; per metric and per node alike.
    quiet = {"events": {"metrics": {"event.loss_fraction": {"min_abs_change": 0.5}}}}
    assert detect(loss_store, at, DetectSettings(detectors=quiet)) == []
    assert detect(loss_store, at, DetectSettings(nodes={NODE: {"min_abs_change": 0.5}})) == []
    assert detect(loss_store, at, DetectSettings(k_alert=3.0))


def test_a_threshold_below_the_onset_level_still_works(loss_store: Store) -> None:
    """k_alert under the core's onset threshold (2.0) takes the onset threshold down too."""
    sensitive = detect(loss_store, STEP_AT + 3 * HOUR, DetectSettings(k_alert=1.5))
    assert any(d.kind == "event_loss" for d in sensitive)


def _ingest(store: Store, sim: Simulation, before: SimConfig | None, cut_us: int) -> None:
    """Ingest the simulation's payloads; with ``before`` only the hours before cut_us."""
    now = to_micros(SIM_END)
    for payload in sim.payloads():
        if before is not None and payload.time is not None and to_micros(payload.time) >= cut_us:
            continue
        if payload.kind == "catalog":
            ingest_catalog(store, payload.body, now_us=now)
        elif payload.kind == "openlineage":
            ingest_openlineage(store, payload.body, now_us=now)
        else:
            ingest_otlp(store, payload.kind.split(".")[1], payload.body,  # type: ignore[arg-type]
                        now_us=now)


def _key(d: Detection) -> tuple[object, ...]:
    return (str(d.node), d.kind, d.metric, sorted(d.attributes.items()), d.onset_us,
            d.severity, d.observed, d.expected, d.summary)


def test_replay_ignores_what_was_observed_later(tmp_path: Path) -> None:
    """Detection as of T on the whole history equals detection on a store that only ever
    received the telemetry of the hours before T (plus the runs then still finishing)."""
    config = SimConfig(end=SIM_END, size=40, days=14,
                       scenarios=[FaultSpec("failed_staging_job"), FaultSpec("bot_traffic_spike")])
    cut = to_micros(SIM_END) - 20 * HOUR
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    partial = open_store(f"sqlite:///{tmp_path / 'partial.db'}")
    try:
        _ingest(full, Simulation(config), None, cut)
        _ingest(partial, Simulation(config), config, cut)
        at = cut - 30 * 60_000_000
        settings = DetectSettings()
        seen_then = sorted(map(_key, detect(partial, at, settings)))
        seen_later = sorted(map(_key, detect(full, at, settings)))
        assert seen_then == seen_later
        assert any(k[1] == "job_failure" for k in seen_then)
        assert any(k[1] == "volume_spike" for k in seen_then)
    finally:
        full.dispose()
        partial.dispose()
