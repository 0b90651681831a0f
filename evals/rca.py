"""Root-cause accuracy on simulated incidents: flowsleuth next to a BARO-style baseline.

A case is one simulated stack (seed, size) with one injected scenario, or none. For each
case the stack is simulated into a fresh SQLite store through the real ingestion, then
investigated as of the simulated end, and the answer is compared with the simulator's
truth:

* top-1 / top-3: the truth root node is the first / among the first three candidates of
  the incident that contains the truth's symptoms (the best-matching incident);
* kind@1: the first candidate's fault kind equals the truth kind;
* blast radius: precision and recall of (impacted + at-risk nodes) against the truth's;
* false incidents: incidents opened on a no-fault case.

The baseline follows BARO (Pham et al., FSE 2024) as the issue allows: the robust z-score
of every node's series after the incident start against before it (median and MAD of a
week of history), nodes ranked by their largest score. It knows the true start time,
which flowsleuth does not get.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from tools.incidents.investigate import investigate
from tools.nodes import NodeRef
from tools.simulate import FaultSpec, SimConfig, list_scenarios
from tools.simulate.load import load_simulation
from tools.store import Store, open_store, to_micros
from tools.store.models import DatasetVersion, MetricPoint, MetricSeries, Node
from tools.timeutil import parse_micros

END = datetime(2026, 3, 16, tzinfo=UTC)
WEEK_US = 7 * 86_400_000_000


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str | None  # None: a no-fault run
    seed: int
    size: int
    days: int = 14

    @property
    def name(self) -> str:
        return f"{self.scenario or 'no_fault'}/seed{self.seed}/size{self.size}"


@dataclass(slots=True)
class Outcome:
    case: Case
    truth_root: str | None = None
    truth_kind: str | None = None
    ranked: list[str] = field(default_factory=list)
    kind_at_1: str | None = None
    baro_ranked: list[str] = field(default_factory=list)
    blast_precision: float | None = None
    blast_recall: float | None = None
    incidents: int = 0
    seconds: float = 0.0

    @property
    def top1(self) -> bool:
        return bool(self.ranked) and self.ranked[0] == self.truth_root

    @property
    def top3(self) -> bool:
        return self.truth_root in self.ranked[:3]

    @property
    def kind_ok(self) -> bool:
        return self.kind_at_1 == self.truth_kind

    @property
    def baro_top1(self) -> bool:
        return bool(self.baro_ranked) and self.baro_ranked[0] == self.truth_root

    @property
    def baro_top3(self) -> bool:
        return self.truth_root in self.baro_ranked[:3]


def make_cases(
    seeds: Iterable[int], sizes: Iterable[int], *, no_fault: int = 0, days: int = 14
) -> list[Case]:
    """Every scenario on every (seed, size), plus ``no_fault`` clean runs per size."""
    cases = []
    for size in sizes:
        for seed in seeds:
            cases.extend(Case(s.name, seed, size, days) for s in list_scenarios())
        cases.extend(Case(None, 1000 + i, size, days) for i in range(no_fault))
    return cases


def run_case(case: Case, folder: Path | None = None) -> Outcome:
    began = time.perf_counter()
    work = Path(folder or tempfile.mkdtemp(prefix="flowsleuth-eval-"))
    store = open_store(f"sqlite:///{work / 'eval.db'}")
    try:
        out = _evaluate(store, case, work)
    finally:
        store.dispose()
    out.seconds = time.perf_counter() - began
    return out


def _evaluate(store: Store, case: Case, work: Path) -> Outcome:
    config = SimConfig(
        end=END,
        seed=case.seed,
        size=case.size,
        days=case.days,
        scenarios=[FaultSpec(case.scenario)] if case.scenario else [],
    )
    summary, _ = load_simulation(store, config, work)
    doc = investigate(store, to_micros(END))
    out = Outcome(case, incidents=len(doc.incidents))
    if not summary.truth:
        return out
    truth = summary.truth[0]
    out.truth_root, out.truth_kind = truth["root"], truth["kind"]
    truth_nodes = set(truth["impacted"]) | set(truth["at_risk"])
    symptom_nodes = {s["node"] for s in truth["symptoms"]} | {truth["root"]}
    best = _best_incident(doc.incidents, symptom_nodes)
    if best is not None:
        out.ranked = [c.node for c in best.root_causes]
        out.kind_at_1 = best.root_causes[0].kind if best.root_causes else None
        predicted = set(best.impacted) | {n.node for n in best.at_risk}
        hit = len(predicted & truth_nodes)
        out.blast_precision = hit / len(predicted) if predicted else 0.0
        out.blast_recall = hit / len(truth_nodes) if truth_nodes else 1.0
    out.baro_ranked = baro_rank(store, parse_micros(truth["start"]), to_micros(END))
    return out


def _best_incident(incidents: list[Any], truth_nodes: set[str]) -> Any:
    scored = [(len({a.node for a in inc.symptoms} & truth_nodes), inc) for inc in incidents]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return None
    return max(scored, key=lambda s: (s[0], -s[1].id))[1]


def baro_rank(store: Store, start_us: int, end_us: int, limit: int = 10) -> list[str]:
    """Nodes by the largest robust z-score of any of their series after ``start_us``."""
    series: dict[tuple[int, str], list[tuple[int, float]]] = {}
    with store.read() as conn:
        rows = conn.execute(
            select(MetricSeries.node_id, MetricSeries.id, MetricPoint.ts, MetricPoint.value)
            .join(MetricPoint, MetricPoint.series_id == MetricSeries.id)
            .where(
                MetricSeries.node_id.is_not(None),
                MetricPoint.ts >= start_us - WEEK_US,
                MetricPoint.ts <= end_us,
            )
        )
        for node_id, sid, ts, value in rows:
            series.setdefault((node_id, f"m{sid}"), []).append((ts, value))
        versions = conn.execute(
            select(
                DatasetVersion.node_id,
                DatasetVersion.observed_at,
                DatasetVersion.row_count,
                DatasetVersion.column_metrics,
            ).where(
                DatasetVersion.observed_at >= start_us - WEEK_US,
                DatasetVersion.observed_at <= end_us,
            )
        )
        for node_id, ts, rows_, cols in versions:
            if rows_ is not None:
                series.setdefault((node_id, "rows"), []).append((ts, rows_))
            for col, metrics in (cols or {}).items():
                nulls = metrics.get("nullCount") if isinstance(metrics, dict) else None
                if nulls is not None and rows_:
                    series.setdefault((node_id, f"null:{col}"), []).append((ts, nulls / rows_))
        names = {
            nid: str(NodeRef(t, ns, n))
            for nid, t, ns, n in conn.execute(select(Node.id, Node.type, Node.namespace, Node.name))
        }
    best: dict[int, float] = {}
    for (node_id, _), points in series.items():
        ts = np.array([p[0] for p in points])
        vals = np.array([p[1] for p in points], dtype=float)
        before, after = vals[ts < start_us], vals[ts >= start_us]
        if len(before) < 3 or len(after) == 0:
            continue
        med = float(np.median(before))
        mad = float(np.median(np.abs(before - med))) * 1.4826
        scale = mad if mad > 1e-9 else max(abs(med) * 0.01, 1e-9)
        z = float(np.max(np.abs(after - med)) / scale)
        best[node_id] = max(best.get(node_id, 0.0), z)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])[:limit]
    return [names[nid] for nid, _ in ranked]


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome]

    def _faulty(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.scenario is not None]

    def table(self) -> dict[str, dict[str, float]]:
        faulty = self._faulty()
        clean = [o for o in self.outcomes if o.case.scenario is None]
        n = max(1, len(faulty))
        prec = [o.blast_precision for o in faulty if o.blast_precision is not None]
        rec = [o.blast_recall for o in faulty if o.blast_recall is not None]
        return {
            "flowsleuth": {
                "top1": sum(o.top1 for o in faulty) / n,
                "top3": sum(o.top3 for o in faulty) / n,
                "kind_at_1": sum(o.kind_ok for o in faulty) / n,
                "blast_precision": float(np.mean(prec)) if prec else 0.0,
                "blast_recall": float(np.mean(rec)) if rec else 0.0,
                "false_incident_rate": (sum(o.incidents > 0 for o in clean) / len(clean))
                if clean
                else 0.0,
            },
            "baro": {
                "top1": sum(o.baro_top1 for o in faulty) / n,
                "top3": sum(o.baro_top3 for o in faulty) / n,
            },
        }

    def misses(self) -> list[str]:
        return [
            f"{o.case.name}: truth {o.truth_root} ({o.truth_kind}); got "
            f"{o.ranked[:3]} ({o.kind_at_1})"
            for o in self._faulty()
            if not o.top1
        ]
