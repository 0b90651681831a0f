"""Runs of every job, hour by hour: schedules, runtimes, failures, skips, delays, reruns.

A run is a record (what happened); emit.py turns it into OpenLineage events. Benign
changes (a manual rerun of a healthy run, a new nullable column) are planned here from the
seed and listed in ``benign.json`` so detectors can be tested for not alerting on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tools.simulate import rand
from tools.simulate.config import MINUTE_US, Clock
from tools.simulate.effects import DELAY, FAIL, SKIP, SQL, EffectIndex
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.values import Values

BENIGN_COLUMN = ("utm_campaign", "varchar", 0.62)


@dataclass(slots=True)
class Observation:
    """One dataset as a run saw it: schema, rows, column metrics."""

    ds: Dataset
    rows: int
    fields: list[tuple[str, str]]
    null_counts: dict[str, int]
    key: str | None = None
    distinct: int | None = None


@dataclass(slots=True)
class RunRecord:
    job: Job
    h: int
    run_id: str
    nominal_us: int
    start_us: int
    end_us: int
    state: str  # COMPLETE | FAIL
    sql: str
    error: str | None = None
    attempt: int = 1
    rerun: bool = False
    inputs: list[Observation] = field(default_factory=list)  # sources only
    outputs: list[Observation] = field(default_factory=list)


@dataclass(slots=True)
class Skip:
    job: Job
    nominal_us: int
    reason: str = ""  # "" = upstream failed; otherwise the SKIP effect's detail (paused)


@dataclass(frozen=True, slots=True)
class ManualRun:
    """A run somebody triggered outside the schedule (a retry, a backfill, a resync).

    ``forced`` runs copy a snapshot rather than run the job's logic, so neither its failure
    nor a failed upstream stops them.
    """

    job: Job
    start_us: int
    forced: bool = False


@dataclass(slots=True)
class Benign:
    reruns: dict[tuple[int, int], str] = field(default_factory=dict)  # (job, h) -> reason
    new_columns: dict[int, int] = field(default_factory=dict)  # dataset -> from hour

    def as_json(self, topo: Topology, clock: Clock,
                iso: Callable[[int], str | None]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for (j, h), reason in sorted(self.reruns.items(), key=lambda kv: kv[0][1]):
            job = topo.jobs[j]
            out.append({"kind": "rerun", "node": job.id,
                        "at": iso(clock.hour_start(h) + job.schedule.minute * MINUTE_US),
                        "detail": reason})
        for d, h in sorted(self.new_columns.items()):
            out.append({"kind": "new_nullable_column", "node": topo.datasets[d].id,
                        "at": iso(clock.hour_start(h)),
                        "detail": f"column {BENIGN_COLUMN[0]} ({BENIGN_COLUMN[1]}, nullable) "
                                  "added by a routine model change"})
        return out


def plan_benign(topo: Topology, clock: Clock, seed: int) -> Benign:
    """A few harmless changes early in the period, away from where faults usually start."""
    key = rand.key_of(seed, "benign")
    benign = Benign()
    batch = [j for j in topo.jobs if j.schedule.period_h == 24 and j.role in ("staging", "model")]
    limit = max(clock.hours * 3 // 5, 25)
    for i in range(min(len(batch), 2 + len(topo.units) // 20)):
        job = batch[rand.choice_index(key, i, len(batch))]
        day = 1 + rand.choice_index(key, i, max(1, limit // 24 - 1), channel=1)
        h = next((x for x in range(day * 24, day * 24 + 24)
                  if job.schedule.runs_at(clock.hour_of_day(x))), None)
        if h is not None and h < clock.hours:
            benign.reruns[(job.idx, h)] = "manual rerun of a successful run (same inputs)"
    staging = [d for d in topo.datasets if d.kind == "staging" and d.role != "stg_consent"]
    for i in range(min(len(staging), 1 + len(topo.units) // 50)):
        ds = staging[rand.choice_index(key, 100 + i, len(staging))]
        benign.new_columns[ds.idx] = max(24, clock.hours * 2 // 5 + i)
    return benign


class Behaviour:
    """Generates the runs of one hour, keeping the little state freshness needs."""

    def __init__(self, topo: Topology, clock: Clock, index: EffectIndex, values: Values,
                 benign: Benign, *, manual: dict[int, list[ManualRun]] | None = None,
                 faulty_jobs: set[int] | None = None) -> None:
        self.topo = topo
        self.clock = clock
        self.fx = index
        self.values = values
        self.benign = benign
        self.manual = manual or {}
        # Jobs a benign rerun never lands on (it would blur the injected fault's runs).
        self.faulty_jobs = index.job_nodes if faulty_jobs is None else faulty_jobs
        self.by_hour: list[list[Job]] = [
            [j for j in topo.jobs if j.schedule.runs_at(hod)] for hod in range(24)
        ]
        self.skipped: list[Skip] = []

    def runs(self, h: int) -> list[RunRecord]:
        out: list[RunRecord] = []
        self.skipped = []
        for job in self.by_hour[self.clock.hour_of_day(h)]:
            out.extend(self._runs_of(job, h))
        for k, manual in enumerate(self.manual.get(h, [])):
            out.extend(self._manual(manual, h, k))
        return out

    def _runs_of(self, job: Job, h: int) -> list[RunRecord]:
        sched = job.schedule
        nominal = self.clock.hour_start(h) + sched.minute * MINUTE_US
        skips = self.fx.job(job.idx, SKIP, h)
        if skips:
            self.skipped.append(Skip(job, nominal, skips[0].detail))
            return []
        delay_h = max((e.value for e in self.fx.job(job.idx, DELAY, h)), default=0.0)
        start = nominal + int((1.5 * rand.uniform(job.key, h, 0, 1) + delay_h * 60) * MINUTE_US)
        runtime = sched.runtime_min * (0.8 + 0.4 * rand.uniform(job.key, h, 0, 2))
        sql_changes = self.fx.job(job.idx, SQL, h)
        sql = max(sql_changes, key=lambda e: e.onset_h).detail if sql_changes else job.sql
        failures = self.fx.job(job.idx, FAIL, h)
        if failures:
            return self._failed(job, h, nominal, start, runtime, sql, failures[0].detail)
        run = RunRecord(job, h, self._run_id(job, h, 0, start), nominal, start,
                        start + int(runtime * MINUTE_US), "COMPLETE", sql)
        run.inputs = [self._observe(self.topo.datasets[i], h) for i in job.inputs
                      if self.topo.datasets[i].is_source]
        run.outputs = [self._observe(self.topo.datasets[o], h) for o in job.outputs]
        runs = [run]
        reason = self.benign.reruns.get((job.idx, h))
        if reason and job.idx not in self.faulty_jobs:
            again = start + int((runtime + 40) * MINUTE_US)
            runs.append(RunRecord(job, h, self._run_id(job, h, 9, again), nominal, again,
                                  again + int(runtime * MINUTE_US), "COMPLETE", sql, rerun=True,
                                  inputs=run.inputs, outputs=run.outputs))
        return runs

    def _failed(self, job: Job, h: int, nominal: int, start: int, runtime: float, sql: str,
                message: str, channel: int = 0) -> list[RunRecord]:
        """Two tries (the orchestrator retries once), each its own run, both FAIL."""
        runs = []
        t = start
        for attempt in (1, 2):
            end = t + int(runtime * 0.4 * MINUTE_US)
            runs.append(RunRecord(job, h, self._run_id(job, h, channel + attempt, t), nominal,
                                  t, end, "FAIL", sql, error=message, attempt=attempt))
            t = end + 5 * MINUTE_US
        return runs

    def _manual(self, manual: ManualRun, h: int, k: int) -> list[RunRecord]:
        """A triggered run: fails while its fault lasts, is skipped while upstream fails."""
        job = manual.job
        channel = 20 + 3 * k  # run ids apart from the scheduled runs of the same hour
        nominal = self._last_nominal(job, h)
        if not manual.forced:
            skips = self.fx.job(job.idx, SKIP, h)
            if skips:
                self.skipped.append(Skip(job, manual.start_us, skips[0].detail))
                return []
        runtime = job.schedule.runtime_min * (0.8 + 0.4 * rand.uniform(job.key, h, channel, 2))
        sql_changes = self.fx.job(job.idx, SQL, h)
        sql = max(sql_changes, key=lambda e: e.onset_h).detail if sql_changes else job.sql
        failures = [] if manual.forced else self.fx.job(job.idx, FAIL, h)
        if failures:
            return self._failed(job, h, nominal, manual.start_us, runtime, sql,
                                failures[0].detail, channel)
        start = manual.start_us
        run = RunRecord(job, h, self._run_id(job, h, channel, start), nominal, start,
                        start + int(runtime * MINUTE_US), "COMPLETE", sql)
        run.inputs = [self._observe(self.topo.datasets[i], h) for i in job.inputs
                      if self.topo.datasets[i].is_source]
        run.outputs = [self._observe(self.topo.datasets[o], h) for o in job.outputs]
        return [run]

    def _last_nominal(self, job: Job, h: int) -> int:
        """The schedule slot a triggered run stands in for: the latest one at or before h."""
        sched = job.schedule
        back = next((b for b in range(sched.period_h)
                     if sched.runs_at(self.clock.hour_of_day(h - b))), 0)
        return self.clock.hour_start(h - back) + sched.minute * MINUTE_US

    def _run_id(self, job: Job, h: int, attempt: int, start_us: int) -> str:
        return rand.uuid7(job.key, h, attempt, start_us // 1000)

    def _observe(self, ds: Dataset, h: int) -> Observation:
        rows = self.values.rows(ds, h)
        fields, fracs = self.values.columns(ds, h)
        since = self.benign.new_columns.get(ds.idx)
        if since is not None and h >= since:
            fields.append(BENIGN_COLUMN[:2])
            fracs[BENIGN_COLUMN[0]] = BENIGN_COLUMN[2]
        obs = Observation(ds, rows, fields, {c: round(rows * f) for c, f in fracs.items()})
        key = next((c.name for c in ds.columns if c.key), None)
        if key is not None:
            obs.key = key
            obs.distinct = round(rows * (1 - self.values.duplicate_share(ds, h)))
        return obs
