"""SLOs from the catalog: attainment, error budget, multiwindow burn-rate alerts, and the
breaches they become."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tools.detect.storedata import (
    DAY,
    HOUR,
    T0,
    Dataset,
    Point,
    run_events,
    send_catalog,
    send_events,
    send_points,
)
from tools.detect.engine import detect
from tools.detect.settings import DetectSettings
from tools.detect.signals import Landing, Series, SeriesKey
from tools.detect.slo import freshness_track, met_mask, metric_track, slo_kind, slo_status
from tools.ingest.catalog import Slo
from tools.nodes import NodeRef
from tools.store import Store
from tools.timeutil import iso

MINUTE = 60_000_000
ACT = ("braze://acme", "audience.cart_abandoners")
ACT_ID = f"dataset:{ACT[0]}:{ACT[1]}"
SUCCESS = {"metric": "activation.sync.success_ratio", "objective": ">= 0.98", "target": 0.99,
           "window": "28d"}


def slo(**kw: object) -> Slo:
    return Slo.model_validate({**SUCCESS, **kw})


def test_metric_track_holds_each_value_until_the_next() -> None:
    ts = np.asarray([0, 10, 20, 30], dtype=np.int64) * MINUTE
    series = Series(SeriesKey(NodeRef.dataset(*ACT), "activation.sync.success_ratio"), ts,
                    np.asarray([0.99, 0.5, 0.5, 0.99]), "otlp")
    track = metric_track(series, slo(), 0, 40 * MINUTE)
    assert track is not None
    assert track.bad.tolist() == [[10 * MINUTE, 30 * MINUTE]]
    assert track.bad_share(0, 40 * MINUTE) == pytest.approx(0.5)
    assert track.bad_share(30 * MINUTE, 40 * MINUTE) == 0.0
    assert track.current == 0.99


def test_freshness_track_is_exact_between_writes() -> None:
    hourly = slo(metric="freshness", objective="<= 90m")
    landed = [Landing(t * HOUR, t * HOUR + 5 * MINUTE, NodeRef.job("j", "j")) for t in (0, 1, 4)]
    track = freshness_track(landed, hourly, 0, 5 * HOUR)
    assert track is not None
    # After the write at 1:05 nothing landed until 4:05: stale from 2:35.
    assert track.bad.tolist() == [[2 * HOUR + 35 * MINUTE, 4 * HOUR + 5 * MINUTE]]
    assert track.current == pytest.approx((55 * MINUTE) / 1e6)


def test_met_mask_matches_met_by() -> None:
    values = np.asarray([0.97, 0.98, 0.99])
    for objective in (">= 0.98", "> 0.98", "<= 0.98", "< 0.98", "== 0.98"):
        s = slo(objective=objective)
        assert met_mask(s, values).tolist() == [s.met_by(float(v)) for v in values]


def test_breach_kind_follows_the_metric_and_the_bound() -> None:
    assert slo_kind(slo()) == "sync_failure"
    assert slo_kind(slo(metric="freshness", objective="<= 2h")) == "late_data"
    assert slo_kind(slo(metric="data.row_count", objective=">= 1000")) == "volume_drop"
    assert slo_kind(slo(metric="data.row_count", objective="<= 1000")) == "volume_spike"
    assert slo_kind(slo(metric="custom.metric", objective="<= 1")) is None


def _success_ratio(store: Store, bad_from: int, until: int) -> None:
    """Syncs every 30 minutes: 0.995 until bad_from, then 0.4."""
    points = []
    t = T0
    while t <= until:
        value = 0.4 if t >= bad_from else 0.995
        points.append(Point(*ACT, "activation.sync.success_ratio", t, value,
                            (("destination", "braze"),)))
        t += 30 * MINUTE
    send_points(store, points)
    send_catalog(store, [{"node": ACT_ID, "kind": "activation", "tier": 1, "slos": [SUCCESS]}])


def test_fast_burn_pages_and_becomes_a_breach(store: Store) -> None:
    bad_from = T0 + 10 * DAY
    at = bad_from + 2 * HOUR
    _success_ratio(store, bad_from, at)
    (status,) = slo_status(store, at, DetectSettings())
    assert status.status == "burning" and status.met_now is False
    assert status.attributes == {"destination": "braze"}
    assert "1h/5m at 14.4x" in status.alerts and "6h/30m at 6x" in status.alerts
    assert status.burn_rates["1h"] == pytest.approx(100.0)
    assert status.onset == iso(bad_from)
    # 2 h bad of 10 d measured; the budget is 1% of 28 days (6.72 h).
    assert status.attainment == pytest.approx(1 - 2 / 242, abs=1e-3)
    assert status.error_budget_remaining == pytest.approx(1 - 2 / 6.72, abs=0.01)
    breaches = [d for d in detect(store, at, DetectSettings()) if "slo" in d.attributes]
    (breach,) = breaches
    assert breach.kind == "sync_failure" and breach.severity == "critical", "tier 1, 14.4x"
    assert breach.onset_us == bad_from
    assert breach.attributes == {"destination": "braze", "slo": ">= 0.98"}


def test_short_blip_does_not_page(store: Store) -> None:
    """Ten bad minutes burn the 5-minute window but not the hour at 14.4x."""
    at = T0 + 10 * DAY
    _success_ratio(store, at - 10 * MINUTE, at)
    (status,) = slo_status(store, at, DetectSettings())
    assert status.alerts == [] and status.status == "ok"
    assert not [d for d in detect(store, at, DetectSettings()) if "slo" in d.attributes]


def test_freshness_slo_from_the_writers_runs(store: Store) -> None:
    ds = ("snowflake://acme", "stg_web")
    events = []
    for h in range(48):
        slot = T0 + h * HOUR
        events += run_events(("dbt://acme", "stg_web"), slot, slot + MINUTE, slot + 5 * MINUTE,
                             "COMPLETE", outputs=[Dataset(*ds, rows=100)])
    send_events(store, events)
    send_catalog(store, [{"node": f"dataset:{ds[0]}:{ds[1]}", "kind": "staging", "slos": [
        {"metric": "freshness", "objective": "<= 2h", "target": 0.99, "window": "28d"}]}])
    fresh = slo_status(store, T0 + 48 * HOUR, DetectSettings())[0]
    assert fresh.status == "ok" and fresh.attainment == 1.0 and fresh.met_now
    stale_at = T0 + 47 * HOUR + 5 * MINUTE + 5 * HOUR  # 5 h after the last write
    stale = slo_status(store, stale_at, DetectSettings())[0]
    assert stale.status == "burning" and stale.met_now is False
    assert stale.onset == iso(T0 + 47 * HOUR + 5 * MINUTE + 2 * HOUR)
    assert stale.current == pytest.approx(5 * 3600)


def test_slo_without_data_says_so(store: Store) -> None:
    send_catalog(store, [{"node": ACT_ID, "kind": "activation", "slos": [SUCCESS]}])
    (status,) = slo_status(store, T0, DetectSettings())
    assert status.status == "no_data" and status.attainment is None
    assert slo_status(store, T0, DetectSettings(), node=NodeRef.dataset("x", "y")) == []
