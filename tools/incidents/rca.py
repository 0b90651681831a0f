"""Root-cause ranking for one incident, grounded in lineage and onset order.

Every node with a symptom is a candidate (and, for faults that belong to a job rather
than to its data, the job writing that node). A candidate scores for:

* coverage: the share of the incident's symptoms at or downstream of it;
* being upstream-most: no anomalous node above it started before it did;
* onset order: a cause starts before its effects (symptoms downstream of it that began
  well before it are contradictions);
* change evidence: a schema change, a code change or a failed run is something that
  happened, not just a number that moved;
* kind fit: the symptoms downstream are ones its kind can produce (a change downstream
  is never explained by an upstream symptom; it is a cause of its own).

Scores become confidences with a softmax, so two independent causes of one incident
share the confidence while a clear single cause takes nearly all of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tools.anomalies import AnomalyView
from tools.faults import CHANGE_KINDS
from tools.incidents.model import EvidenceItem, RootCause
from tools.lineage.graph import LineageGraph
from tools.timeutil import iso, parse_micros

# Faults that belong to the job that runs, though their symptoms show on its output.
JOB_KINDS = frozenset({"job_failure", "code_change", "sync_failure", "latency_breach"})
# Which kind names a node's root cause when it shows several: changes first.
KIND_PRIORITY = ("code_change", "schema_drift", "job_failure", "webhook_latency", "sync_failure")
# A slow destination makes its syncs time out: the failure is the destination's.
DESTINATION_KINDS = frozenset({"webhook_latency"})
ONSET_TOLERANCE_US = 6 * 3_600_000_000
WEIGHTS = {"coverage": 0.40, "upstream": 0.25, "order": 0.15, "change": 0.12, "fit": 0.08}
TEMPERATURE = 0.08
MAX_CANDIDATES = 5


@dataclass
class _Candidate:
    nid: int
    kind: str
    onset_us: int
    own: list[AnomalyView]
    via_output: int | None = None  # the dataset whose symptoms a job candidate stands for
    score: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    explains: list[AnomalyView] = field(default_factory=list)
    supports: list[EvidenceItem] = field(default_factory=list)
    contradicts: list[EvidenceItem] = field(default_factory=list)


def primary_kind(anomalies: Sequence[AnomalyView]) -> str:
    kinds = {a.kind for a in anomalies}
    for kind in KIND_PRIORITY:
        if kind in kinds:
            return kind
    return min(anomalies, key=lambda a: (a.onset, -a.score)).kind


def rank_root_causes(symptoms: Sequence[AnomalyView], graph: LineageGraph) -> list[RootCause]:
    """Candidates for the incident made of ``symptoms``, best first."""
    if not symptoms:
        return []
    by_node: dict[int, list[AnomalyView]] = {}
    for a in symptoms:
        by_node.setdefault(graph.resolve(a.node), []).append(a)
    onset = {a.id: parse_micros(a.onset) for a in symptoms}
    merged: dict[int, _Candidate] = {}
    for nid, own in by_node.items():
        cand = _candidate(nid, own, graph, by_node, onset)
        prev = merged.get(cand.nid)
        if prev is None:
            merged[cand.nid] = cand
        else:  # one job standing for several of its outputs
            prev.own = prev.own + cand.own
            prev.onset_us = min(prev.onset_us, cand.onset_us)
    candidates = list(merged.values())
    downstream: dict[int, set[int]] = {}
    for c in candidates:
        reach = graph.reach([c.nid], "downstream") | {c.nid}
        downstream[c.nid] = reach
    for c in candidates:
        _score(c, symptoms, by_node, onset, downstream, graph)
    candidates.sort(key=lambda c: (-c.score, c.onset_us, c.nid))
    top = candidates[:MAX_CANDIDATES]
    exps = [math.exp((c.score - top[0].score) / TEMPERATURE) for c in top]
    total = sum(exps)
    out = []
    for c, e in zip(top, exps, strict=True):
        paths = []
        for a in c.explains:
            p = graph.shortest_path(c.nid, graph.resolve(a.node))
            if p is not None and len(p) > 1:
                paths.append([str(graph.ref(n)) for n in p])
        unique_paths = sorted({tuple(p) for p in paths}, key=lambda p: (len(p), p))
        out.append(
            RootCause(
                node=str(graph.ref(c.nid)),
                kind=c.kind,
                confidence=round(e / total, 4),
                score=round(c.score, 4),
                onset=iso(c.onset_us),
                explains=sorted(a.id for a in c.explains),
                evidence=c.supports,
                contradictions=c.contradicts,
                paths=[list(p) for p in unique_paths],
            )
        )
    return out


def _candidate(
    nid: int,
    own: list[AnomalyView],
    graph: LineageGraph,
    by_node: dict[int, list[AnomalyView]],
    onset: dict[int, int],
) -> _Candidate:
    kind = primary_kind(own)
    first = min(onset[a.id] for a in own)
    if graph.is_job(nid) and kind in ("sync_failure", "job_failure"):
        for out in graph.graph.successors(nid):
            slow = [
                a
                for a in by_node.get(out, [])
                if a.kind in DESTINATION_KINDS and onset[a.id] <= first + ONSET_TOLERANCE_US
            ]
            if slow:
                return _Candidate(
                    out, slow[0].kind, min(first, *(onset[a.id] for a in slow)), own + by_node[out]
                )
    if kind == "late_data" and not graph.is_job(nid):
        writers = [w for w in graph.graph.predecessors(nid) if graph.is_job(w)]
        inputs = {i for w in writers for i in graph.graph.predecessors(w)}
        # Late output from a job whose inputs are on time: the job itself is slow or
        # stuck. (A late input would be a candidate of its own, upstream and earlier.)
        if (
            len(writers) == 1
            and writers[0] not in by_node
            and not any(a.kind == "late_data" for i in inputs for a in by_node.get(i, []))
        ):
            return _Candidate(writers[0], "latency_breach", first, own, via_output=nid)
    if kind in JOB_KINDS and not graph.is_job(nid):
        writers = [w for w in graph.graph.predecessors(nid) if graph.is_job(w)]
        # A job fault seen on its output: blame the one job that writes it, unless that
        # job has symptoms of its own (then it is a candidate already).
        if len(writers) == 1 and writers[0] not in by_node:
            return _Candidate(writers[0], kind, first, own, via_output=nid)
    return _Candidate(nid, kind, first, own)


def _score(
    c: _Candidate,
    symptoms: Sequence[AnomalyView],
    by_node: dict[int, list[AnomalyView]],
    onset: dict[int, int],
    downstream: dict[int, set[int]],
    graph: LineageGraph,
) -> None:
    reach = downstream[c.nid]
    explains = [a for nid, items in by_node.items() if nid in reach for a in items]
    c.explains = explains
    n = len(symptoms)
    coverage = len(explains) / n
    c.supports.append(
        EvidenceItem(
            ref=f"node:{graph.ref(c.nid)}",
            text=f"{len(explains)} of {n} symptoms are at or downstream of it",
        )
    )
    # Anomalous nodes upstream of the candidate that began no later than it did.
    earlier_above = [
        a
        for nid, items in by_node.items()
        if nid != c.nid and c.nid in downstream.get(nid, set()) and nid != c.via_output
        for a in items
        if onset[a.id] <= c.onset_us + ONSET_TOLERANCE_US and a.kind not in ("code_change",)
    ]
    above_nodes = {graph.resolve(a.node) for a in earlier_above}
    upstream = 1.0 if not earlier_above else 0.0
    for a in earlier_above[:3]:
        c.contradicts.append(
            EvidenceItem(
                ref=f"anomaly:{a.id}",
                text=f"upstream {a.node} shows {a.kind} from {a.onset}, no later than this node",
            )
        )
    if not earlier_above:
        c.supports.append(
            EvidenceItem(
                ref=f"node:{graph.ref(c.nid)}",
                text="no anomalous node upstream of it started earlier",
            )
        )
    before = [a for a in explains if onset[a.id] < c.onset_us - ONSET_TOLERANCE_US]
    order = 1.0 - len(before) / max(1, len(explains))
    for a in before[:3]:
        c.contradicts.append(
            EvidenceItem(
                ref=f"anomaly:{a.id}",
                text=f"{a.kind} on {a.node} began at {a.onset}, "
                f"before this candidate ({iso(c.onset_us)})",
            )
        )
    changes = [a for a in c.own if a.kind in CHANGE_KINDS]
    change = 1.0 if changes else 0.0
    for a in changes[:2]:
        c.supports.append(EvidenceItem(ref=f"anomaly:{a.id}", text=f"{a.kind}: {a.summary}"))
    unexplained = [
        a
        for a in explains
        if a not in c.own
        and (a.kind == "code_change" or (a.kind == "schema_drift" and c.kind != "schema_drift"))
    ]
    fit = 1.0 - len(unexplained) / max(1, len(explains))
    for a in unexplained[:2]:
        c.contradicts.append(
            EvidenceItem(
                ref=f"anomaly:{a.id}",
                text=f"{a.kind} on {a.node} is a change of its own, not an effect of {c.kind}",
            )
        )
    c.parts = {
        "coverage": coverage,
        "upstream": upstream,
        "order": order,
        "change": change,
        "fit": fit,
    }
    c.score = sum(WEIGHTS[k] * v for k, v in c.parts.items())
    if above_nodes:
        # Each earlier anomalous ancestor is one more reason to look further up.
        c.score -= 0.02 * (len(above_nodes) - 1)
