"""The nodes of a simulated stack (datasets, jobs, units) and the graph that holds them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from tools.simulate.config import SimConfigError
from tools.simulate.templates import Column

KINDS = ("source", "staging", "model", "identity", "audience", "activation", "campaign")


@dataclass(frozen=True, slots=True)
class Schedule:
    """Runs every ``period_h`` hours at hour-of-day ``offset_h`` (mod period), ``minute``."""

    period_h: int
    offset_h: int
    minute: int
    runtime_min: float

    def runs_at(self, hour_of_day: int) -> bool:
        return hour_of_day % self.period_h == self.offset_h % self.period_h

    @property
    def cron(self) -> str:
        if self.period_h == 1:
            return f"{self.minute} * * * *"
        if self.period_h == 24:
            return f"{self.minute} {self.offset_h} * * *"
        return f"{self.minute} {self.offset_h % self.period_h}/{self.period_h} * * *"


@dataclass(slots=True, eq=False)
class Dataset:
    idx: int
    namespace: str
    name: str
    kind: str
    role: str
    unit: int
    owner: str
    tier: int
    key: int
    base_rows: float
    noise_key: int
    columns: tuple[Column, ...] = ()
    producer: int | None = None
    consumers: list[int] = field(default_factory=list)
    # output column -> [(input dataset idx, input column)]
    lineage: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    revenue_per_day: float | None = None
    destination: str | None = None
    campaign: str | None = None
    audience: str | None = None
    arrival: tuple[int, int] | None = None  # file drops: (hour of day, minute)

    @property
    def id(self) -> str:
        return f"dataset:{self.namespace}:{self.name}"

    @property
    def is_source(self) -> bool:
        return self.producer is None


@dataclass(slots=True, eq=False)
class Job:
    idx: int
    namespace: str
    name: str
    kind: str
    role: str
    unit: int
    owner: str
    tier: int
    key: int
    schedule: Schedule
    engine: str  # dbt | airflow | hightouch | segment | <destination>
    sql: str
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    weights: dict[int, float] = field(default_factory=dict)  # input -> volume transfer

    @property
    def id(self) -> str:
        return f"job:{self.namespace}:{self.name}"

    @property
    def streaming(self) -> bool:
        return self.schedule.period_h == 1


@dataclass(slots=True)
class Unit:
    index: int
    brand: str
    region: str
    hour_offset: int
    scale: float
    roles: dict[str, int]  # dataset role -> dataset idx (the unit's first of that role)
    trace_path: list[int]  # src_web -> stg_web -> identity graph -> audience -> activation


@dataclass(slots=True)
class Topology:
    seed: int
    size: int
    datasets: list[Dataset]
    jobs: list[Job]  # in topological order
    units: list[Unit]
    by_id: dict[str, Dataset | Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {n.id: n for n in self.nodes()}

    def nodes(self) -> Iterator[Dataset | Job]:
        yield from self.datasets
        yield from self.jobs

    @property
    def node_count(self) -> int:
        return len(self.datasets) + len(self.jobs)

    def node(self, node_id: str) -> Dataset | Job:
        try:
            return self.by_id[node_id]
        except KeyError:
            sample = ", ".join(list(self.by_id)[:3])
            raise SimConfigError(
                f"unknown node {node_id!r} in this topology (seed {self.seed}, size "
                f"{self.size}); node ids look like {sample}"
            ) from None

    def downstream(self, node: Dataset | Job) -> list[Dataset | Job]:
        """Every node reachable from ``node`` (excluding it), breadth first."""
        seen: set[str] = {node.id}
        out: list[Dataset | Job] = []
        frontier: list[Dataset | Job] = [node]
        while frontier:
            nxt: list[Dataset | Job] = []
            for cur in frontier:
                if isinstance(cur, Dataset):
                    children: list[Dataset | Job] = [self.jobs[j] for j in cur.consumers]
                else:
                    children = [self.datasets[d] for d in cur.outputs]
                for child in children:
                    if child.id not in seen:
                        seen.add(child.id)
                        out.append(child)
                        nxt.append(child)
            frontier = nxt
        return out

    def kind_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for node in self.nodes():
            counts[node.kind] += 1
        return counts
