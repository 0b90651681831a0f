"""What an injected fault changes, node by node, and the ground truth it leaves behind.

Propagation (propagation.py) turns a scenario into a list of Effects; behaviour renders
telemetry from the baseline with those effects applied, so the truth file and the data
come from the same list and cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Signals an Effect can carry, and what behaviour does with them.
FAIL = "fail"  # job: runs end in FAIL (two tries), detail = error message
SKIP = "skip"  # job: no run at all (upstream failed)
DELAY = "delay"  # job: runs start `value` hours late
SQL = "sql"  # job: the sql facet becomes `detail`
ROWS = "rows"  # dataset: row counts times `value`
NULLS = "nulls"  # dataset: column `key` null fraction becomes `value`
DUPES = "dupes"  # dataset: key column `key` duplicate fraction becomes `value`
RENAME = "rename"  # dataset: column `key` is renamed to `detail`
LATE = "late"  # source dataset: files arrive `value` hours late
METRIC = "metric"  # dataset: OTLP metric `key` (points matching `attrs`) changed by op/value
ERRORS = "errors"  # dataset: sync error code `key` rejects a `value` share of records


@dataclass(frozen=True, slots=True)
class Effect:
    node: int  # index into Topology.jobs (job signals) or Topology.datasets
    signal: str
    onset_h: int
    value: float = 0.0
    key: str = ""
    attrs: str = ""  # "name=value" a metric point's attributes must contain, or ""
    op: str = ""  # metric: scale | add | set
    detail: str = ""
    # A remediation ends an effect: active in [onset_h, until_h); None = to the end.
    until_h: int | None = None

    @property
    def on_job(self) -> bool:
        return self.signal in (FAIL, SKIP, DELAY, SQL)


@dataclass(frozen=True, slots=True)
class Symptom:
    """One consequence a detector can see at ``node`` from ``onset_us``.

    ``metric`` is an OTLP metric name of TELEMETRY.md §3 (matching ``attrs``), or a signal
    read from OpenLineage: ``run.state`` (FAIL events), ``freshness`` (outputs overdue
    against their schedule), ``schema`` (fields renamed), ``job.sql`` (a new sql facet),
    ``data.row_count`` (outputStatistics / dataQualityMetrics rowCount), and
    ``data.null_fraction`` / ``data.duplicate_fraction`` (from dataQualityMetrics, also
    sent as OTLP metrics for staging tables).
    """

    node: str
    kind: str
    metric: str
    onset_us: int
    attrs: tuple[tuple[str, str], ...] = ()

    def as_json(self, iso: Callable[[int], str | None]) -> dict[str, Any]:
        return {
            "node": self.node,
            "kind": self.kind,
            "metric": self.metric,
            "onset": iso(self.onset_us),
            "attributes": dict(self.attrs),
        }


@dataclass(slots=True)
class Case:
    """One injected scenario: its root, the effects it causes and the symptoms they show."""

    scenario: str
    kind: str
    root: str
    start_us: int
    effects: list[Effect] = field(default_factory=list)
    symptoms: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], Symptom] = field(
        default_factory=dict
    )
    at_risk: list[str] = field(default_factory=list)

    def add(self, effect: Effect) -> None:
        for i, old in enumerate(self.effects):
            same = (old.node, old.signal, old.key, old.attrs, old.op) == (
                effect.node, effect.signal, effect.key, effect.attrs, effect.op)
            if same:
                # Two paths reach one node: keep the earlier onset, and the larger change.
                if effect.onset_h < old.onset_h or (
                    effect.onset_h == old.onset_h and abs(effect.value - 1) > abs(old.value - 1)
                ):
                    self.effects[i] = effect
                return
        self.effects.append(effect)

    def note(self, symptom: Symptom) -> None:
        key = (symptom.node, symptom.kind, symptom.metric, symptom.attrs)
        old = self.symptoms.get(key)
        if old is None or symptom.onset_us < old.onset_us:
            self.symptoms[key] = symptom

    def truth(self, iso: Callable[[int], str | None]) -> dict[str, Any]:
        symptoms = sorted(self.symptoms.values(), key=lambda s: (s.onset_us, s.node, s.metric))
        impacted: list[str] = []
        for s in symptoms:
            if s.node not in impacted:
                impacted.append(s.node)
        return {
            "scenario": self.scenario,
            "root": self.root,
            "kind": self.kind,
            "start": iso(self.start_us),
            "impacted": impacted,
            "at_risk": self.at_risk,
            "symptoms": [s.as_json(iso) for s in symptoms],
        }


class EffectIndex:
    """Effects by (is_job, node, signal) for cheap lookups while rendering each hour."""

    def __init__(self, effects: list[Effect]) -> None:
        self._by: dict[tuple[bool, int, str], list[Effect]] = defaultdict(list)
        for e in effects:
            self._by[(e.on_job, e.node, e.signal)].append(e)
        self.job_nodes = {e.node for e in effects if e.on_job}
        self.dataset_nodes = {e.node for e in effects if not e.on_job}

    def active(self, on_job: bool, node: int, signal: str, h: int) -> list[Effect]:
        found = self._by.get((on_job, node, signal))
        if not found:
            return []
        return [e for e in found if e.onset_h <= h and (e.until_h is None or h < e.until_h)]

    def job(self, node: int, signal: str, h: int) -> list[Effect]:
        if node not in self.job_nodes:
            return []
        return self.active(True, node, signal, h)

    def dataset(self, node: int, signal: str, h: int) -> list[Effect]:
        if node not in self.dataset_nodes:
            return []
        return self.active(False, node, signal, h)

    def rows_factor(self, node: int, h: int) -> float:
        factor = 1.0
        for e in self.dataset(node, ROWS, h):
            factor *= e.value
        return factor

    def metric(self, node: int, name: str, attrs: dict[str, str], h: int, value: float) -> float:
        """``value`` with every active change to this metric point applied (scale, add, set)."""
        found = [
            e for e in self.dataset(node, METRIC, h)
            if e.key == name and (not e.attrs or _attr_match(e.attrs, attrs))
        ]
        if not found:
            return value
        for op in ("scale", "add", "set"):
            for e in found:
                if e.op == op:
                    value = value * e.value if op == "scale" else (
                        value + e.value if op == "add" else e.value)
        return value


def _attr_match(spec: str, attrs: dict[str, str]) -> bool:
    name, _, want = spec.partition("=")
    return attrs.get(name) == want
