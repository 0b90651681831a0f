"""How a fault travels downstream, hop by hop, with schedule lags and attenuation.

Each carrier (row volume, nulls in a column, duplicate keys, staleness, lateness, identity
quality) has a transfer rule per hop: the next scheduled run of the consuming job is the
lag; the job's input weight, the column lineage or the identity email share is the
attenuation. A change too small to be seen against normal noise stops travelling, so the
ground truth lists only symptoms a detector could find in the telemetry.
"""

from __future__ import annotations

from tools.simulate.config import HOUR_US, MINUTE_US, Clock
from tools.simulate.effects import (
    DELAY,
    DUPES,
    ERRORS,
    FAIL,
    LATE,
    METRIC,
    NULLS,
    ROWS,
    SKIP,
    Case,
    Effect,
    Symptom,
)
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.templates import EMAIL_SHARE

MIN_REL = 0.2  # smallest relative volume change still worth a symptom
MIN_NULL = 0.1  # smallest absolute null-fraction rise still worth a symptom
MIN_DELAY_H = 0.75
_VENDOR_ROLES = frozenset({"sync", "campaign"})  # scheduled by vendors, blind to upstream state
PROFILE_EMAIL_NULL = 0.2


class Propagator:
    def __init__(self, topo: Topology, clock: Clock) -> None:
        self.topo = topo
        self.clock = clock

    # -- timing --------------------------------------------------------------------------

    def next_run(self, job: Job, h: int) -> int | None:
        """First run scheduled in hour h or later that can finish before the end, else None."""
        return self.next_run_at(job, self.clock.hour_start(h))

    def next_run_at(self, job: Job, t_us: int) -> int | None:
        """First run scheduled at ``t_us`` or later that can finish before the end."""
        sched = job.schedule
        h0 = max(self.clock.hour_of(t_us), 0)
        for hh in range(h0, min(self.clock.hours, h0 + sched.period_h + 1)):
            if not sched.runs_at(self.clock.hour_of_day(hh)):
                continue
            begin = self.clock.hour_start(hh) + sched.minute * MINUTE_US
            if begin < t_us:
                continue
            done = begin + int(sched.runtime_min * 1.5 * MINUTE_US)
            return hh if done < self.clock.end_us else None
        return None

    def ready_us(self, ds: Dataset, h: int) -> int:
        """When the version of ``ds`` changed at hour h can be read: a source at once, a
        table once the run writing it has finished."""
        if ds.producer is None:
            return self.clock.hour_start(h)
        sched = self.topo.jobs[ds.producer].schedule
        return self.clock.hour_start(h) + int((sched.minute + sched.runtime_min * 1.25)
                                              * MINUTE_US)

    def consumer_run(self, ds: Dataset, h: int, job: Job) -> int | None:
        """The first run of ``job`` to read the version of ``ds`` changed at hour h."""
        return self.next_run_at(job, self.ready_us(ds, h))

    def observed_at(self, ds: Dataset, h: int) -> int | None:
        """When a change at ``ds`` from hour h is first observed in OpenLineage."""
        if ds.producer is not None:
            return h
        runs = [r for j in ds.consumers if (r := self.next_run(self.topo.jobs[j], h)) is not None]
        return min(runs) if runs else None

    def symptom(self, case: Case, node: Dataset | Job, kind: str, metric: str, h: int,
                attrs: dict[str, str] | None = None) -> None:
        # Lateness shows only once data is clearly overdue: keep a late-data symptom only if
        # two hours of it fall inside the period.
        last = self.clock.hours - (2 if kind == "late_data" else 0)
        if 0 <= h < last:
            case.note(Symptom(node.id, kind, metric, self.clock.hour_start(h),
                              tuple(sorted((attrs or {}).items()))))

    # -- carriers ------------------------------------------------------------------------

    def rows(self, case: Case, ds: Dataset, h: int, factor: float, *, kind: str | None = None,
             propagate: bool = True) -> None:
        """Row counts at ``ds`` times ``factor`` from hour h; consumers follow by weight."""
        case.add(Effect(ds.idx, ROWS, h, factor))
        seen = self.observed_at(ds, h)
        if seen is not None:
            up = factor > 1
            if kind is None:
                if ds.kind in ("audience", "activation"):
                    kind = "volume_spike" if up else "audience_drop"
                else:
                    kind = "volume_spike" if up else "volume_drop"
            metric = "activation.audience.size" if ds.kind == "activation" else "data.row_count"
            self.symptom(case, ds, kind, metric, seen)
            if ds.kind == "campaign":
                self.metric(case, ds, seen, "activation.delivery.variance", "add",
                            (factor - 1) * 0.9, kind="delivery_variance",
                            attrs={"campaign": ds.campaign or ""})
        if not propagate:
            return
        for j in ds.consumers:
            job = self.topo.jobs[j]
            weight = job.weights.get(ds.idx, 0.0)
            nxt = max(0.05, 1 + (factor - 1) * weight)
            if abs(nxt - 1) < MIN_REL:
                continue
            h2 = self.consumer_run(ds, h, job)
            if h2 is None:
                continue
            for out in job.outputs:
                self.rows(case, self.topo.datasets[out], h2, nxt)

    def nulls(self, case: Case, ds: Dataset, h: int, column: str, frac: float) -> None:
        """Column ``column`` of ``ds`` becomes ``frac`` null; column lineage carries it on."""
        case.add(Effect(ds.idx, NULLS, h, frac, key=column))
        seen = self.observed_at(ds, h)
        if seen is not None:
            self.symptom(case, ds, "null_spike", "data.null_fraction", seen, {"column": column})
        base = _null_base(ds, column)
        for j in ds.consumers:
            job = self.topo.jobs[j]
            h2 = self.consumer_run(ds, h, job)
            if h2 is None:
                continue
            if job.role == "identity":
                share = EMAIL_SHARE.get(ds.role, 0.0) if column == "email" else 0.0
                severity = (frac - base) * share
                if severity >= MIN_NULL:
                    self.identity_degraded(case, job, h2, severity)
                continue
            for out_idx in job.outputs:
                out = self.topo.datasets[out_idx]
                for out_col, sources in out.lineage.items():
                    if (ds.idx, column) not in sources:
                        continue
                    out_base = _null_base(out, out_col)
                    new = min(1.0, out_base + (frac - base) / len(sources))
                    if new - out_base >= MIN_NULL:
                        self.nulls(case, out, h2, out_col, new)

    def identity_degraded(self, case: Case, job: Job, h: int, severity: float) -> None:
        """Identifiers thin out: matching weakens, profiles lose email, audiences shrink."""
        graph = self.topo.datasets[job.outputs[0]]
        # Identity gauges move once the run has rewritten the graph.
        self.metric(case, graph, h + 1, "identity.match_confidence", "add", -0.3 * severity,
                    kind="identity_fragmentation")
        self.metric(case, graph, h + 1, "identity.fragmentation_ratio", "add", 0.5 * severity,
                    kind="identity_fragmentation")
        for profiles, hp in self.profiles_of(graph, h):
            self.metric(case, profiles, hp + 1, "identity.orphan_profiles", "scale",
                        1 + 5 * severity, kind="orphan_profiles")
            email_null = min(1.0, PROFILE_EMAIL_NULL + severity * (1 - PROFILE_EMAIL_NULL))
            case.add(Effect(profiles.idx, NULLS, hp, email_null, key="email"))
            self.symptom(case, profiles, "null_spike", "data.null_fraction", hp,
                         {"column": "email"})
            self.audiences_of(case, profiles, hp, max(0.05, 1 - 0.9 * severity))

    def profiles_of(self, graph: Dataset, h: int) -> list[tuple[Dataset, int]]:
        """The profile tables rebuilt from ``graph`` after hour h, with their run hour."""
        out: list[tuple[Dataset, int]] = []
        for j in graph.consumers:
            job = self.topo.jobs[j]
            hp = self.consumer_run(graph, h, job) if job.role == "profiles" else None
            if hp is not None:
                out.extend((self.topo.datasets[o], hp) for o in job.outputs)
        return out

    def audiences_of(self, case: Case, profiles: Dataset, h: int, factor: float) -> None:
        for j in profiles.consumers:
            job = self.topo.jobs[j]
            h2 = self.consumer_run(profiles, h, job)
            if h2 is None:
                continue
            for out in job.outputs:
                self.rows(case, self.topo.datasets[out], h2, factor)

    def dupes(self, case: Case, ds: Dataset, h: int, column: str, frac: float) -> None:
        """A share ``frac`` of ``ds``'s rows repeat a key: more rows, same distinct keys."""
        factor = 1 / (1 - frac)
        case.add(Effect(ds.idx, DUPES, h, frac, key=column))
        case.add(Effect(ds.idx, ROWS, h, factor))
        seen = self.observed_at(ds, h)
        if seen is not None:
            self.symptom(case, ds, "duplicates", "data.duplicate_fraction", seen,
                         {"column": column})
            if factor - 1 >= MIN_REL:
                self.symptom(case, ds, "volume_spike", "data.row_count", seen)
        for j in ds.consumers:
            job = self.topo.jobs[j]
            if job.role == "identity":
                continue
            h2 = self.consumer_run(ds, h, job)
            if h2 is None:
                continue
            for out_idx in job.outputs:
                out = self.topo.datasets[out_idx]
                key = next((c.name for c in out.columns if c.key), "")
                if (ds.idx, column) in out.lineage.get(key, []):
                    self.dupes(case, out, h2, key, frac)
                    continue
                weight = job.weights.get(ds.idx, 0.0)
                nxt = 1 + (factor - 1) * weight
                # Repeated rows inflate counts and sums; nothing they feed gets smaller.
                if weight > 0 and nxt - 1 >= MIN_REL:
                    self.rows(case, out, h2, nxt)

    def fail(self, case: Case, job: Job, h: int, message: str, kind: str = "job_failure") -> None:
        hh = self.next_run(job, h)
        if hh is None:
            return
        case.add(Effect(job.idx, FAIL, hh, detail=message))
        self.symptom(case, job, kind, "run.state", hh)
        self._stale(case, job, hh)

    def _stale(self, case: Case, job: Job, hh: int) -> None:
        """Outputs of a job that stopped producing go stale; dependent jobs skip."""
        for out_idx in job.outputs:
            out = self.topo.datasets[out_idx]
            if out.kind in ("activation", "campaign"):
                # Hourly freshness gauges on destinations cross their normal peak one cycle on.
                self.symptom(case, out, "late_data", "data.freshness.lag",
                             hh + job.schedule.period_h)
                continue
            self.symptom(case, out, "late_data", "freshness", hh)
            for j in out.consumers:
                nxt = self.topo.jobs[j]
                if nxt.role in _VENDOR_ROLES:
                    continue
                h2 = self.consumer_run(out, hh, nxt)
                if h2 is None:
                    continue
                case.add(Effect(nxt.idx, SKIP, h2))
                self._stale(case, nxt, h2)

    def delay(self, case: Case, job: Job, h: int, hours: float) -> None:
        """Runs of ``job`` start ``hours`` late from h; jobs waiting on its outputs wait too."""
        hh = self.next_run(job, h)
        if hh is None:
            return
        case.add(Effect(job.idx, DELAY, hh, hours))
        sched = job.schedule
        done = (self.clock.hour_start(hh) + int((sched.minute + sched.runtime_min) * MINUTE_US)
                + int(hours * HOUR_US))
        for out_idx in job.outputs:
            out = self.topo.datasets[out_idx]
            self.symptom(case, out, "late_data", "freshness", hh)
            for j in out.consumers:
                nxt = self.topo.jobs[j]
                if nxt.role in _VENDOR_ROLES or nxt.streaming:
                    continue
                h2 = self.consumer_run(out, hh, nxt)  # the run that would have read it
                if h2 is None:
                    continue
                own = self.clock.hour_start(h2) + nxt.schedule.minute * MINUTE_US
                wait_h = (done + 5 * MINUTE_US - own) / HOUR_US
                if wait_h >= MIN_DELAY_H:
                    self.delay(case, nxt, h2, round(wait_h, 2))

    def late_source(self, case: Case, src: Dataset, h: int, hours: float) -> None:
        """File drops of ``src`` arrive ``hours`` late from h; readers wait for them."""
        assert src.arrival is not None
        arrival_hod, minute = src.arrival
        ha = next((x for x in range(h, min(h + 24, self.clock.hours))
                   if self.clock.hour_of_day(x) == arrival_hod), None)
        if ha is None:
            return
        case.add(Effect(src.idx, LATE, ha, hours))
        self.symptom(case, src, "late_data", "data.freshness.lag", ha)
        arrives = self.clock.hour_start(ha) + minute * MINUTE_US + int(hours * HOUR_US)
        for j in src.consumers:
            job = self.topo.jobs[j]
            h2 = self.next_run(job, ha)
            if h2 is None:
                continue
            own = self.clock.hour_start(h2) + job.schedule.minute * MINUTE_US
            wait_h = (arrives + 5 * MINUTE_US - own) / HOUR_US
            if wait_h >= MIN_DELAY_H:
                self.delay(case, job, h2, round(wait_h, 2))

    def metric(self, case: Case, ds: Dataset, h: int, name: str, op: str, value: float, *,
               kind: str | None = None, attrs: dict[str, str] | None = None,
               match: str = "") -> None:
        """Change OTLP metric ``name`` at ``ds`` from hour h (points matching ``match``)."""
        if h >= self.clock.hours:
            return
        case.add(Effect(ds.idx, METRIC, h, value, key=name, attrs=match, op=op))
        if kind is not None:
            self.symptom(case, ds, kind, name, h, attrs)

    def sync_errors(self, case: Case, act: Dataset, h: int, code: str, share: float,
                    kind: str = "sync_failure") -> None:
        case.add(Effect(act.idx, ERRORS, h, share, key=code))
        self.symptom(case, act, kind, "activation.sync.errors", h, {"error.code": code})


def _null_base(ds: Dataset, column: str) -> float:
    for c in ds.columns:
        if c.name == column:
            return c.null_frac or 0.0
    return 0.0
