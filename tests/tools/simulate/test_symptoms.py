"""Each scenario's truth is visible in the raw telemetry it comes with.

For every symptom a truth file claims, the payloads themselves (not the simulator's
internals) must show it after its onset and not before: FAIL events, a changed schema or
sql facet, overdue outputs, or a metric series that moved far outside its normal range.

The view of the payloads below (Observed) is built from the wire bytes alone: OpenLineage
JSON lines and OTLP/JSON, never the simulator's internals.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tools.simulate import FaultSpec, Payload, SimConfig, Simulation, list_scenarios
from tools.timeutil import parse_micros

END = datetime(2025, 3, 13, tzinfo=UTC)
UP = {"volume_spike", "null_spike", "duplicates", "latency_breach", "webhook_latency",
      "event_loss", "consent_mismatch", "orphan_profiles"}
DOWN = {"volume_drop", "audience_drop"}
LINEAGE_METRICS = {"data.row_count", "data.null_fraction", "data.duplicate_fraction"}


# -- a view of the raw payloads ------------------------------------------------------

HOUR_US = 3_600_000_000
ASSET_KEYS = ("openlineage.dataset.namespace", "openlineage.dataset.name")


@dataclass
class Observed:
    events: list[dict[str, Any]] = field(default_factory=list)
    # node id -> [(nominal_us, event_time_us, dataset as the event carried it)]
    seen: dict[str, list[tuple[int, int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list))
    completions: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    fails: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # nominal
    sql: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    # (node id, metric, sorted point attributes) -> [(time_us, value)]
    series: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list))
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    end_us: int = 0


def observe(payloads: Iterable[Payload]) -> Observed:
    obs = Observed()
    for p in payloads:
        if p.kind == "openlineage":
            for line in p.body.splitlines():
                _event(obs, orjson.loads(line))
        elif p.kind == "otlp.metrics":
            _metrics(obs, orjson.loads(p.body))
        elif p.kind == "otlp.traces":
            for rs in orjson.loads(p.body)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    obs.spans.extend(ss["spans"])
        elif p.kind == "otlp.logs":
            for rl in orjson.loads(p.body)["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    obs.logs.extend(sl["logRecords"])
    return obs


def _event(obs: Observed, ev: dict[str, Any]) -> None:
    obs.events.append(ev)
    job = f"job:{ev['job']['namespace']}:{ev['job']['name']}"
    t = parse_micros(ev["eventTime"])
    nominal = parse_micros(ev["run"]["facets"]["nominalTime"]["nominalStartTime"])
    obs.end_us = max(obs.end_us, t)
    if ev["eventType"] == "START" and "sql" in ev["job"].get("facets", {}):
        obs.sql[job].append((nominal, ev["job"]["facets"]["sql"]["query"]))
    if ev["eventType"] == "FAIL":
        obs.fails[job].append(nominal)
    if ev["eventType"] != "COMPLETE":
        return
    for role in ("inputs", "outputs"):
        for ds in ev.get(role, []):
            if "facets" not in ds:
                continue
            node = f"dataset:{ds['namespace']}:{ds['name']}"
            obs.seen[node].append((nominal, t, ds))
            if role == "outputs":
                obs.completions[node].append(t)


def _metrics(obs: Observed, body: dict[str, Any]) -> None:
    for rm in body["resourceMetrics"]:
        res = {a["key"]: a["value"]["stringValue"] for a in rm["resource"]["attributes"]}
        node = f"dataset:{res[ASSET_KEYS[0]]}:{res[ASSET_KEYS[1]]}"
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                for pt in m["gauge"]["dataPoints"]:
                    attrs = tuple(sorted((a["key"], a["value"]["stringValue"])
                                         for a in pt.get("attributes", [])))
                    obs.series[(node, m["name"], attrs)].append(
                        (int(pt["timeUnixNano"]) // 1000, float(pt["asDouble"])))


# -- series derived from OpenLineage ---------------------------------------------------


def quality(ds: dict[str, Any]) -> dict[str, Any]:
    facets = ds.get("inputFacets") or ds["facets"]
    found: dict[str, Any] = facets["dataQualityMetrics"]
    return found


def lineage_series(obs: Observed, node: str, metric: str,
                   attrs: dict[str, str]) -> list[tuple[int, float]]:
    out = []
    for nominal, _t, ds in obs.seen.get(node, []):
        q = quality(ds)
        rows = q["rowCount"]
        if metric == "data.row_count":
            out.append((nominal, float(rows)))
        elif metric == "data.null_fraction":
            col = q["columnMetrics"].get(attrs["column"], {"nullCount": rows})
            out.append((nominal, col["nullCount"] / rows if rows else 0.0))
        elif metric == "data.duplicate_fraction":
            col = q["columnMetrics"][attrs["column"]]
            out.append((nominal, 1 - col["distinctCount"] / rows if rows else 0.0))
    return out


def staleness_peaks(completions: list[int], onset: int, end: int, step: int = 300_000_000,
                    start: int | None = None) -> tuple[float, float]:
    """Largest 'time since the last completion' before and after ``onset``, in hours."""
    done = sorted(completions)
    if not done:
        return 0.0, 0.0
    t = start if start is not None else done[0]
    i, before, after = 0, 0.0, 0.0
    while t <= end:
        while i + 1 < len(done) and done[i + 1] <= t:
            i += 1
        if done[i] <= t:
            lag = (t - done[i]) / HOUR_US
            if t < onset:
                before = max(before, lag)
            else:
                after = max(after, lag)
        t += step
    return before, after


# -- a robust before/after shift --------------------------------------------------------


def shift(points: list[tuple[int, float]], onset: int) -> tuple[float, float]:
    """(robust z, relative change) of the points at/after ``onset`` against those before.

    Points are compared within their hour-of-day bucket when the series is sub-daily, so a
    daily traffic curve is not mistaken for a change.
    """
    before = [(t, v) for t, v in points if t < onset]
    after = [(t, v) for t, v in points if t >= onset]
    assert len(before) >= 3 and after, f"too few points: {len(before)} before, {len(after)}"
    hourly = len(before) >= 72
    buckets: dict[int, list[float]] = defaultdict(list)
    for t, v in before:
        buckets[(t // HOUR_US) % 24 if hourly else 0].append(v)
    med = {k: statistics.median(vs) for k, vs in buckets.items()}
    overall = statistics.median(v for _t, v in before)

    def base(t: int) -> float:
        return med.get((t // HOUR_US) % 24 if hourly else 0, overall)

    resid = [v - base(t) for t, v in before]
    centre = statistics.median(resid)
    mad = statistics.median(abs(r - centre) for r in resid) * 1.4826
    scale = max(mad, 1e-6 * max(abs(overall), 1.0))
    moved = statistics.median(v - base(t) for t, v in after) - centre
    rel = moved / abs(overall) if overall else float("inf") if moved else 0.0
    return moved / scale, rel


# -- the checks -------------------------------------------------------------------------


def _run(name: str) -> tuple[dict[str, Any], Observed]:
    sim = Simulation(SimConfig(end=END, size=40, days=10, scenarios=[FaultSpec(name)]))
    [case] = sim.truth()
    return case, observe(sim.payloads())


def _otlp_series(obs: Observed, node: str, metric: str,
                 attrs: dict[str, str]) -> list[tuple[int, float]]:
    want = set(attrs.items())
    found = [pts for (n, m, a), pts in obs.series.items()
             if n == node and m == metric and want <= set(a)]
    assert found, f"no {metric} series {attrs} at {node}"
    return sorted(p for pts in found for p in pts)


def _check(obs: Observed, symptom: dict[str, Any]) -> None:
    node, metric, kind = symptom["node"], symptom["metric"], symptom["kind"]
    attrs, onset = symptom["attributes"], parse_micros(symptom["onset"])
    where = f"{kind} {metric} {attrs} at {node}"
    if metric == "run.state":
        assert [t for t in obs.fails[node] if t >= onset], where
        assert not [t for t in obs.fails[node] if t < onset], where
    elif metric == "job.sql":
        queries_before = {q for t, q in obs.sql[node] if t < onset}
        queries_after = {q for t, q in obs.sql[node] if t >= onset}
        assert len(queries_before) == 1 and queries_after, where
        assert not queries_after & queries_before, where
    elif metric == "schema":
        fields = [(t, tuple(f["name"] for f in ds["facets"]["schema"]["fields"]))
                  for t, _e, ds in obs.seen[node]]
        assert {f for t, f in fields if t < onset}.isdisjoint(
            {f for t, f in fields if t >= onset}), where
    elif metric == "freshness" or (metric == "data.freshness.lag" and kind == "late_data"
                                   and node in obs.completions):
        before, after = staleness_peaks(obs.completions[node], onset, obs.end_us)
        assert after >= before + 0.4, f"{where}: stale {before:.2f}h before, {after:.2f}h after"
    elif metric == "activation.sync.errors" and not [
            p for p in _otlp_series(obs, node, metric, attrs) if p[0] < onset and p[1] > 0]:
        # A vendor error code that never occurred before is the symptom itself.
        assert any(v > 0 for t, v in _otlp_series(obs, node, metric, attrs) if t >= onset), where
    else:
        if metric in LINEAGE_METRICS:
            points = lineage_series(obs, node, metric, attrs)
        else:
            points = _otlp_series(obs, node, metric, attrs)
        z, rel = shift(points, onset)
        assert abs(z) >= 4 and abs(rel) >= 0.1, f"{where}: z={z:.1f} rel={rel:.2f}"
        if kind in UP or (metric == "activation.sync.errors"):
            assert z > 0, where
        if kind in DOWN or metric == "activation.sync.success_ratio":
            assert z < 0, where


@pytest.mark.parametrize("name", [s.name for s in list_scenarios()])
def test_raw_telemetry_shows_every_claimed_symptom(name: str) -> None:
    case, obs = _run(name)
    assert case["symptoms"]
    for symptom in case["symptoms"]:
        _check(obs, symptom)


def test_symptom_checks_fail_on_a_healthy_run() -> None:
    """The same checks against a run without the fault find nothing (they can fail)."""
    case, _ = _run("renamed_source_column")
    healthy = observe(Simulation(SimConfig(end=END, size=40, days=10)).payloads())
    misses = 0
    for symptom in case["symptoms"]:
        try:
            _check(healthy, symptom)
        except AssertionError:
            misses += 1
    assert misses == len(case["symptoms"])


def test_a_no_fault_run_has_no_failures_and_a_flat_schema() -> None:
    obs = observe(Simulation(SimConfig(end=END, size=40, days=10)).payloads())
    assert not any(obs.fails.values())
    assert all(len({q for _t, q in runs}) == 1 for runs in obs.sql.values())
