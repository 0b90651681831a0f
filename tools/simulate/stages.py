"""Per-event traces across pipeline stages, and the log lines failing runs leave behind.

Every three hours each unit samples one web event and follows it: collect -> warehouse ->
identity -> audience -> activation, one span per stage, one trace id per event, with
durations taken from the same stage-latency gauges the metrics report. Log records carry
the sort of personal data real error messages leak (emails, client IPs), so redaction is
exercised on ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.simulate import rand
from tools.simulate.behaviour import RunRecord, Skip
from tools.simulate.config import MINUTE_US, Clock
from tools.simulate.effects import FAIL, EffectIndex
from tools.simulate.metrics import STAGES
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.templates import DESTINATIONS
from tools.simulate.values import Values

SAMPLE_EVERY_H = 3
_FIRST = ("jane", "omar", "li", "sofia", "lukas", "amara", "mateo", "noor", "erik", "yuki")
_LAST = ("doe", "haddad", "wei", "rossi", "muller", "okafor", "garcia", "khan", "berg", "sato")
_DOMAINS = ("example.com", "example.org", "mail.example.net")
_EVENTS = ("page_view", "product_view", "add_to_cart", "checkout_started", "search")

# OTLP severity numbers.
INFO, WARN, ERROR = 9, 13, 17


@dataclass(slots=True)
class SpanRecord:
    ds: Dataset
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_us: int
    end_us: int
    error: str | None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LogRecord:
    ds: Dataset | None
    job: Job | None
    time_us: int
    severity: int
    body: str
    attrs: dict[str, str] = field(default_factory=dict)


def fake_email(key: int, a: int, b: int = 0) -> str:
    first = _FIRST[rand.choice_index(key, a, len(_FIRST), b, 30)]
    last = _LAST[rand.choice_index(key, a, len(_LAST), b, 31)]
    domain = _DOMAINS[rand.choice_index(key, a, len(_DOMAINS), b, 32)]
    return f"{first}.{last}@{domain}"


def fake_ip(key: int, a: int, b: int = 0) -> str:
    # Documentation ranges (RFC 5737): look real, belong to no one.
    net = ("203.0.113", "198.51.100", "192.0.2")[rand.choice_index(key, a, 3, b, 33)]
    return f"{net}.{1 + rand.choice_index(key, a, 253, b, 34)}"


class StageTracer:
    def __init__(self, topo: Topology, clock: Clock, index: EffectIndex, values: Values) -> None:
        self.topo = topo
        self.clock = clock
        self.fx = index
        self.values = values
        self.paths = [u.trace_path for u in topo.units if len(u.trace_path) == len(STAGES)]
        self.webhooks = [d for d in topo.datasets if d.kind == "activation"
                         and DESTINATIONS[d.destination or "braze"].webhook]

    def spans(self, h: int) -> list[SpanRecord]:
        if h % SAMPLE_EVERY_H:
            return []
        out: list[SpanRecord] = []
        for path in self.paths:
            src = self.topo.datasets[path[0]]
            key = src.key
            t0 = self.clock.hour_start(h) + int(50 * rand.uniform(key, h, 0, 40) * MINUTE_US)
            trace_id = rand.hex_id(key, h, 1, 16)
            event_id = rand.uuid7(key, h, 2, t0 // 1000)
            begin, parent = t0, ""
            for pos, d in enumerate(path):
                ds = self.topo.datasets[d]
                stage = STAGES[pos]
                reached = t0 + int(self.values.stage_latency(ds, stage, h) * 1e6)
                end = max(reached, begin + 1000)
                if end > self.clock.end_us:
                    break  # the event has not reached this stage yet
                span_id = rand.hex_id(key, h, 10 + pos, 8)
                attrs = {"stage": stage, "event.id": event_id,
                         "event.name": _EVENTS[rand.choice_index(key, h, len(_EVENTS), 0, 41)]}
                if pos == 0:
                    attrs["user.email"] = fake_email(key, h)
                    attrs["client.address"] = fake_ip(key, h)
                error = self._stage_error(ds, h)
                out.append(SpanRecord(ds, trace_id, span_id, parent, f"{stage} {ds.name}",
                                      begin, end, error, attrs))
                begin, parent = end, span_id
        return out

    def _stage_error(self, ds: Dataset, h: int) -> str | None:
        if ds.producer is None:
            return None
        job = self.topo.jobs[ds.producer]
        failing = self.fx.job(job.idx, FAIL, h)
        return failing[0].detail.splitlines()[0] if failing else None

    def logs(self, runs: list[RunRecord], skipped: list[Skip], h: int) -> list[LogRecord]:
        out: list[LogRecord] = []
        for run in runs:
            if run.state == "FAIL":
                out.extend(self._failure_logs(run))
        for skip in skipped:
            ds = self.topo.datasets[skip.job.outputs[0]]
            why = skip.reason or "dependencies not met (upstream_failed)"
            out.append(LogRecord(ds, skip.job, skip.nominal_us + MINUTE_US, INFO,
                                 f"Task {skip.job.name} skipped: {why}", {}))
        t = self.clock.hour_start(h) + 50 * MINUTE_US
        for ds in self.webhooks:
            p99 = self.values.gauge(ds, "activation.webhook.latency", {"quantile": "0.99"}, h,
                                    900.0, 0.0, 0)
            if p99 > 3000:
                host = DESTINATIONS[ds.destination or "braze"].host
                out.append(LogRecord(ds, None, t, WARN,
                                     f"webhook POST https://{host}/messages/send took "
                                     f"{p99:.0f} ms (timeout 5000 ms) for subscriber "
                                     f"{fake_email(ds.key, h)}", {}))
        return out

    def _failure_logs(self, run: RunRecord) -> list[LogRecord]:
        job = run.job
        ds = self.topo.datasets[job.outputs[0]]
        error = run.error or "failed"
        first_line = error.splitlines()[0]
        email, ip = fake_email(job.key, run.h, run.attempt), fake_ip(job.key, run.h, run.attempt)
        base = {"openlineage.run.id": run.run_id}
        records = [
            LogRecord(ds, job, run.start_us + MINUTE_US, INFO,
                      f"Starting {job.name} (try {run.attempt} of 2)", base),
            LogRecord(ds, job, run.end_us, ERROR,
                      f"{job.name} failed: {first_line}; last record processed for {email} "
                      f"from {ip}", {**base, "exception.type": "RunError"}),
        ]
        if run.attempt == 1:
            records.append(LogRecord(ds, job, run.end_us + 1000, WARN,
                                     f"Retrying {job.name} in 300 s", base))
        else:
            records.append(LogRecord(ds, job, run.end_us + 1000, ERROR,
                                     f"Giving up on {job.name} after 2 tries; downstream tasks "
                                     "marked upstream_failed", base))
        return records
