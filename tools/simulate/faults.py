"""The fault catalogue: named scenarios covering every fault kind of TELEMETRY.md §7.

A scenario knows which nodes it can be injected at, picks a sensible default (in the first
brand-region unit), and starts the propagation that decides every downstream effect and
the ground truth. ``plan_faults`` turns a config's FaultSpecs into Cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tools.simulate.config import Clock, FaultSpec, SimConfigError, fault_start_us
from tools.simulate.effects import RENAME, SQL, Case, Effect
from tools.simulate.propagation import Propagator
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.templates import DESTINATIONS, STREAM_SOURCES
from tools.simulate.units import DEDUP_PREFIX, identity_sql

FAULT_KINDS = (
    "job_failure", "late_data", "schema_drift", "volume_drop", "volume_spike", "null_spike",
    "duplicates", "consent_mismatch", "event_loss", "latency_breach", "identity_overmerge",
    "identity_fragmentation", "orphan_profiles", "sync_failure", "webhook_latency",
    "audience_drop", "delivery_variance", "code_change",
)
AT_RISK_KINDS = ("audience", "activation", "campaign")
TRACE_STAGES = ("collect", "warehouse", "identity", "audience", "activation")

Node = Dataset | Job
Inject = Callable[[Propagator, Case, Node, int], None]


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """A named fault: its §7 kind, what it simulates, and where it can be injected."""

    name: str
    kind: str
    description: str
    target: str  # which nodes it accepts, in words


@dataclass(frozen=True, slots=True)
class _Scenario:
    info: ScenarioInfo
    accepts: Callable[[Node], bool]
    prefer: tuple[Callable[[Node], bool], ...]  # default node: first match of the first test
    inject: Inject


def _is_ds(role: str | None = None, kind: str | None = None) -> Callable[[Node], bool]:
    return lambda n: isinstance(n, Dataset) and (role is None or n.role == role) and (
        kind is None or n.kind == kind)


def _is_job(*roles: str) -> Callable[[Node], bool]:
    return lambda n: isinstance(n, Job) and n.role in roles


def _job_of(src_role: str) -> Callable[[Node], bool]:
    return lambda n: isinstance(n, Job) and n.role == "staging" and n.name.split(".")[-1] == {
        "src_web": "stg_web_events", "src_crm": "stg_crm_contacts", "src_pos": "stg_pos_orders",
        "src_app": "stg_app_events", "src_consent": "stg_consent"}[src_role]


def _dest(name: str) -> Callable[[Node], bool]:
    return lambda n: isinstance(n, Job) and n.role == "sync" and n.name.endswith(f"_to_{name}")


def _has_column(n: Node, names: tuple[str, ...] = ("email",)) -> bool:
    return isinstance(n, Dataset) and any(c.name in names for c in n.columns)


# -- injections -------------------------------------------------------------------------


def _job_failure(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Job)
    model = node.name.split(".")[-1]
    p.fail(case, node, h, f"Database Error in model {model} (models/{model}.sql)\n  100038 "
                          f"(22018): Numeric value 'N/A' is not recognized")


def _late_file(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    p.late_source(case, node, h, 9.0)


def _renamed_column(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    column = _identifier_column(node)
    case.add(Effect(node.idx, RENAME, h, key=column, detail=f"{column}_address"
                    if column == "email" else f"{column}_v2"))
    seen = p.observed_at(node, h)
    if seen is not None:
        p.symptom(case, node, "schema_drift", "schema", seen)
    # Readers select the old name; loads matching columns by name fill it with NULL.
    for j in node.consumers:
        job = p.topo.jobs[j]
        h2 = p.consumer_run(node, h, job)
        if h2 is None:
            continue
        for out_idx in job.outputs:
            out = p.topo.datasets[out_idx]
            for out_col, sources in out.lineage.items():
                if (node.idx, column) in sources and len(sources) == 1:
                    p.nulls(case, out, h2, out_col, 1.0)


def _identifier_column(ds: Dataset) -> str:
    for name in ("email", "user_id", "device_id", "customer_id", "subject_email"):
        if any(c.name == name for c in ds.columns):
            return name
    raise SimConfigError(f"{ds.id} has no identifier column to break")


def _volume(factor: float) -> Inject:
    def inject(p: Propagator, case: Case, node: Node, h: int) -> None:
        assert isinstance(node, Dataset)
        p.rows(case, node, h, factor)
    return inject


def _null_spike(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    p.nulls(case, node, h, _identifier_column(node), 0.65)


def _duplicates(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    key = next(c.name for c in node.columns if c.key)
    p.dupes(case, node, h, key, 0.5)


def _consent(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    p.rows(case, node, h, 0.8)  # the withdrawals are what is missing
    stg = node if not node.is_source else p.topo.datasets[p.topo.jobs[node.consumers[0]].outputs[0]]
    h1 = p.next_run(p.topo.jobs[stg.producer or 0], h)
    # Stale consent flags travel staging -> profiles -> audiences -> every sync after them.
    frontier = [(stg, h1)] if h1 is not None else []
    for role in ("profiles", "audience", "sync"):
        nxt: list[tuple[Dataset, int]] = []
        for ds, hd in frontier:
            for j in ds.consumers:
                job = p.topo.jobs[j]
                hj = p.consumer_run(ds, hd, job) if job.role == role else None
                if hj is not None:
                    nxt.extend((p.topo.datasets[o], hj) for o in job.outputs)
        frontier = nxt
    for act, hs in frontier:
        purpose = DESTINATIONS[act.destination or "braze"].purpose
        p.metric(case, act, hs, "consent.mismatch_fraction", "set", 0.07,
                 kind="consent_mismatch", attrs={"consent.purpose": purpose})


def _event_loss(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    p.metric(case, node, h, "event.loss_fraction", "set", 0.3, kind="event_loss")
    p.rows(case, node, h, 0.7)


def _consumer_lag(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Job)
    hh = p.next_run(node, h)
    if hh is None:
        return
    p.delay(case, node, hh, 1.5)
    path = p.topo.units[node.unit].trace_path
    out = node.outputs[0]
    if out in path:
        for pos in range(path.index(out), len(path)):
            ds = p.topo.datasets[path[pos]]
            p.metric(case, ds, hh + (pos > 1), "event.end_to_end.latency", "add", 5400.0,
                     kind="latency_breach", attrs={"stage": TRACE_STAGES[pos]},
                     match=f"stage={TRACE_STAGES[pos]}")


def _identity_job(p: Propagator, node: Node, h: int) -> tuple[Job, int] | None:
    job = node if isinstance(node, Job) else p.topo.jobs[node.producer or 0]
    hh = p.next_run(job, h)
    return None if hh is None else (job, hh)


def _overmerge(p: Propagator, case: Case, job: Job, hh: int) -> None:
    graph = p.topo.datasets[job.outputs[0]]
    for name, op, value in (("identity.merge_rate", "scale", 3.2),
                            ("identity.fragmentation_ratio", "scale", 0.8),
                            ("identity.match_confidence", "add", -0.12)):
        p.metric(case, graph, hh + 1, name, op, value, kind="identity_overmerge")
    for profiles, hp in p.profiles_of(graph, hh):
        p.rows(case, profiles, hp, 0.78, propagate=False)
        # Merged profiles pool the behaviour of several people: more of them qualify.
        p.audiences_of(case, profiles, hp, 1.35)


def _identity_overmerge(p: Propagator, case: Case, node: Node, h: int) -> None:
    found = _identity_job(p, node, h)
    if found:
        _overmerge(p, case, *found)


def _fragmentation(p: Propagator, case: Case, node: Node, h: int) -> None:
    found = _identity_job(p, node, h)
    if not found:
        return
    job, hh = found
    graph = p.topo.datasets[job.outputs[0]]
    p.metric(case, graph, hh + 1, "identity.fragmentation_ratio", "scale", 1.45,
             kind="identity_fragmentation")
    p.metric(case, graph, hh + 1, "identity.merge_rate", "scale", 0.55,
             kind="identity_fragmentation")
    for profiles, hp in p.profiles_of(graph, hh):
        p.rows(case, profiles, hp, 1.3, propagate=False)
        p.audiences_of(case, profiles, hp, 1.25)


def _orphans(p: Propagator, case: Case, node: Node, h: int) -> None:
    found = _identity_job(p, node, h)
    if not found:
        return
    job, hh = found
    profiles = p.topo.datasets[job.outputs[0]]
    p.metric(case, profiles, hh + 1, "identity.orphan_profiles", "scale", 6.0,
             kind="orphan_profiles")
    p.audiences_of(case, profiles, hh, 0.65)


def _code_change(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Job)
    hh = p.next_run(node, h)
    if hh is None:
        return
    db = p.topo.datasets[node.outputs[0]].name.split(".")[0]
    case.add(Effect(node.idx, SQL, hh, detail=identity_sql(db, 2)))
    p.symptom(case, node, "code_change", "job.sql", hh)
    _overmerge(p, case, node, hh)


def _dedup_removed(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Job)
    hh = p.next_run(node, h)
    if hh is None:
        return
    sql = "\n".join(ln for ln in node.sql.splitlines() if not ln.startswith(DEDUP_PREFIX))
    case.add(Effect(node.idx, SQL, hh, detail=sql))
    p.symptom(case, node, "code_change", "job.sql", hh)
    out = p.topo.datasets[node.outputs[0]]
    p.dupes(case, out, hh, next(c.name for c in out.columns if c.key), 0.2)


def _sync(code: str, success: float, share: float, fail: bool) -> Inject:
    def inject(p: Propagator, case: Case, node: Node, h: int) -> None:
        assert isinstance(node, Job)
        hh = p.next_run(node, h)
        if hh is None:
            return
        act = p.topo.datasets[node.outputs[0]]
        dest = DESTINATIONS[act.destination or "braze"]
        if fail:
            p.fail(case, node, hh, f"POST https://{dest.host}/ returned {code} Unauthorized: "
                                   "access token expired; re-authorise the destination",
                   kind="sync_failure")
        p.metric(case, act, hh, "activation.sync.success_ratio", "set", success,
                 kind="sync_failure", attrs={"destination": dest.name})
        p.sync_errors(case, act, hh, code, share)
    return inject


def _webhook(p: Propagator, case: Case, node: Node, h: int) -> None:
    assert isinstance(node, Dataset)
    for q, factor in (("0.5", 3.0), ("0.95", 8.0), ("0.99", 12.0)):
        p.metric(case, node, h, "activation.webhook.latency", "scale", factor,
                 kind="webhook_latency", attrs={"quantile": q}, match=f"quantile={q}")
    sync = p.topo.jobs[node.producer or 0]
    hs = p.next_run(sync, h)
    if hs is not None:
        p.metric(case, node, hs, "activation.sync.success_ratio", "set", 0.85,
                 kind="sync_failure", attrs={"destination": node.destination or ""})
        p.sync_errors(case, node, hs, "504", 0.15)
    for c in node.consumers:
        hc = p.next_run(p.topo.jobs[c], h)
        for camp in p.topo.jobs[c].outputs if hc is not None else []:
            ds = p.topo.datasets[camp]
            p.metric(case, ds, hc or 0, "activation.delivery.variance", "add", -0.2,
                     kind="delivery_variance", attrs={"campaign": ds.campaign or ""})


def _produced(factor: float) -> Inject:
    """Volume change in a dataset's own next run (audiences, campaigns)."""
    def inject(p: Propagator, case: Case, node: Node, h: int) -> None:
        assert isinstance(node, Dataset)
        hh = p.next_run(p.topo.jobs[node.producer or 0], h)
        if hh is not None:
            p.rows(case, node, hh, factor)
    return inject


_is_file = lambda n: isinstance(n, Dataset) and n.arrival is not None  # noqa: E731
_is_stream = lambda n: isinstance(n, Dataset) and n.role in STREAM_SOURCES  # noqa: E731
_is_source = lambda n: isinstance(n, Dataset) and n.is_source  # noqa: E731
_webhook_act = lambda n: isinstance(n, Dataset) and n.kind == "activation" and (  # noqa: E731
    DESTINATIONS[n.destination or "braze"].webhook)


def _s(name: str, kind: str, target: str, description: str, accepts: Callable[[Node], bool],
       prefer: tuple[Callable[[Node], bool], ...], inject: Inject) -> _Scenario:
    return _Scenario(ScenarioInfo(name, kind, description, target), accepts, prefer, inject)


SCENARIOS: tuple[_Scenario, ...] = (
    _s("failed_staging_job", "job_failure", "a warehouse job (staging, model, identity, audience)",
       "A dbt model starts failing (FAIL events with errorMessage, error logs); every job "
       "downstream skips, so tables, identity and audiences go stale.",
       _is_job("staging", "model", "identity", "audience"), (_job_of("src_crm"),
                                                            _is_job("staging")), _job_failure),
    _s("late_file_drop", "late_data", "a file-drop source",
       "The daily export lands 9 hours late; the staging load waits for it and every "
       "dependent job runs late.", _is_file, (_is_ds("src_pos"), _is_file), _late_file),
    _s("renamed_source_column", "schema_drift", "a source or table with an identifier column",
       "The CRM export renames email to email_address; staging loads by column name, so email "
       "turns NULL, identity matching weakens, orphans rise and audiences shrink.",
       lambda n: isinstance(n, Dataset) and n.kind in ("source", "staging") and _has_column(
           n, ("email", "user_id", "device_id", "customer_id", "subject_email")),
       (_is_ds("src_crm"), _is_ds("src_web")), _renamed_column),
    _s("partial_pos_load", "volume_drop", "a source dataset",
       "Only a third of the POS order file arrives; orders and the audiences built on them "
       "shrink.", _is_source, (_is_ds("src_pos"), _is_source), _volume(0.35)),
    _s("bot_traffic_spike", "volume_spike", "a source dataset",
       "Bot traffic multiplies web events; sessions and cart-abandoner audiences inflate and "
       "campaigns over-deliver.", _is_source, (_is_ds("src_web"), _is_source), _volume(2.5)),
    _s("null_emails_in_crm_export", "null_spike", "a source or table with an identifier column",
       "A CRM export bug blanks two thirds of email addresses; identity matching weakens and "
       "email audiences shrink.",
       lambda n: isinstance(n, Dataset) and n.kind in ("source", "staging") and _has_column(
           n, ("email", "user_id", "device_id", "customer_id", "subject_email")),
       (_is_ds("src_crm"), _is_ds("src_web")), _null_spike),
    _s("duplicate_file_replay", "duplicates", "a source or staging dataset",
       "The POS file is delivered twice; order keys repeat, revenue doubles and value-based "
       "audiences inflate.",
       lambda n: isinstance(n, Dataset) and n.kind in ("source", "staging"),
       (_is_ds("src_pos"), _is_source), _duplicates),
    _s("consent_export_missing_withdrawals", "consent_mismatch", "a consent source or staging",
       "The consent platform export drops withdrawal records; destinations keep messaging "
       "people who opted out (consent.mismatch_fraction rises).",
       lambda n: isinstance(n, Dataset) and n.role in ("src_consent", "stg_consent"),
       (_is_ds("src_consent"), _is_ds("stg_consent")), _consent),
    _s("collector_event_loss", "event_loss", "an event-stream source",
       "The web collector drops 30% of events before Kafka; event volumes and behavioural "
       "audiences fall.", _is_stream, (_is_ds("src_web"), _is_stream), _event_loss),
    _s("stream_consumer_lag", "latency_breach", "a streaming staging job",
       "The streaming load falls 1.5 hours behind; end-to-end event latency breaches at "
       "every later stage.",
       lambda n: isinstance(n, Job) and n.streaming and n.role == "staging",
       (_job_of("src_web"),), _consumer_lag),
    _s("shared_identifier_overmerge", "identity_overmerge", "an identity graph dataset",
       "A placeholder identifier links unrelated people: merge rate spikes, profiles shrink, "
       "audience sizes jump.", _is_ds("identity_graph"), (_is_ds("identity_graph"),),
       _identity_overmerge),
    _s("stitching_key_fragmentation", "identity_fragmentation", "an identity graph dataset",
       "A changed login id format stops stitching: profiles per person rise, profiles and "
       "audiences inflate with duplicates.", _is_ds("identity_graph"),
       (_is_ds("identity_graph"),), _fragmentation),
    _s("orphaned_profiles", "orphan_profiles", "a unified profiles dataset",
       "A backfill drops identifier links: orphan profiles multiply and addressable audiences "
       "shrink.", _is_ds("unified_profiles"), (_is_ds("unified_profiles"),), _orphans),
    _s("expired_vendor_token", "sync_failure", "a reverse-ETL sync job",
       "The destination's access token expires: syncs fail with 401, the success ratio "
       "collapses and the destination audience goes stale.", _is_job("sync"),
       (_dest("meta_ads"), _is_job("sync")), _sync("401", 0.0, 1.0, True)),
    _s("vendor_rate_limit", "sync_failure", "a reverse-ETL sync job",
       "The destination throttles the sync: 429 errors surge and only part of each sync lands.",
       _is_job("sync"), (_dest("salesforce"), _dest("google_ads"), _is_job("sync")),
       _sync("429", 0.55, 0.45, False)),
    _s("webhook_slowdown", "webhook_latency", "an activation dataset at a webhook destination",
       "Braze webhooks slow down tenfold: timeouts (504) cut the sync success ratio and the "
       "campaign under-delivers.", _webhook_act, (_webhook_act,), _webhook),
    _s("audience_definition_bug", "audience_drop", "an audience dataset",
       "An audience filter references a renamed event: the audience loses three quarters of "
       "its members, destinations and campaigns follow.", _is_ds(kind="audience"),
       (lambda n: _is_ds(kind="audience")(n) and n.namespace.startswith("segment"),
        _is_ds(kind="audience")), _produced(0.25)),
    _s("campaign_pacing_bug", "delivery_variance", "a campaign dataset",
       "A budget cap halves a campaign's deliveries against plan.", _is_ds(kind="campaign"),
       (_is_ds(kind="campaign"),), _produced(0.5)),
    _s("identity_rule_change", "code_change", "the identity resolution job",
       "A deploy adds loose probabilistic match rules (new sql facet): over-merging, profile "
       "count drop, audience size jump.", _is_job("identity"), (_is_job("identity"),),
       _code_change),
    _s("dedup_removed_in_staging", "code_change", "a streaming staging job",
       "A refactor drops the staging model's dedup (new sql facet): at-least-once duplicates "
       "reach the warehouse.",
       lambda n: isinstance(n, Job) and n.streaming and n.role == "staging",
       (_job_of("src_web"),), _dedup_removed),
)
_BY_NAME = {s.info.name: s for s in SCENARIOS}


def list_scenarios() -> list[ScenarioInfo]:
    """Every scenario in the catalogue (each §7 fault kind has at least one)."""
    return [s.info for s in SCENARIOS]


def scenario(name: str) -> _Scenario:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SimConfigError(
            f"unknown scenario {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


def plan_faults(specs: list[FaultSpec], topo: Topology, clock: Clock, *,
                plan_clock: Clock | None = None) -> list[Case]:
    """Resolve, check and propagate each FaultSpec; raise SimConfigError on a bad one.

    Starts are checked against the configured period (``clock``); ``plan_clock`` (default:
    the same) may run further, so a simulation that goes on past its configured end plans
    the effects that fall after it too.
    """
    prop = Propagator(topo, plan_clock or clock)
    cases = []
    for i, spec in enumerate(specs):
        sc = scenario(spec.scenario)
        node = _root(sc, spec, topo)
        start_us = fault_start_us(spec, clock, i)
        case = Case(sc.info.name, sc.info.kind, node.id, start_us)
        sc.inject(prop, case, node, clock.first_hour_at_or_after(start_us))
        if not any(s.onset_us < clock.end_us for s in case.symptoms.values()):
            raise SimConfigError(
                f"scenarios[{i}] ({sc.info.name}) at {node.id} shows no symptom before the end "
                "of the period (its next scheduled run is too late); start it earlier")
        risky = [n for n in [node, *topo.downstream(node)]
                 if isinstance(n, Dataset) and n.kind in AT_RISK_KINDS]
        case.at_risk = [n.id for n in risky]
        cases.append(case)
    return cases


def _root(sc: _Scenario, spec: FaultSpec, topo: Topology) -> Node:
    if spec.node is not None:
        node = topo.node(spec.node)
        if not sc.accepts(node):
            raise SimConfigError(
                f"scenario {sc.info.name!r} is injected at {sc.info.target}; {node.id} is a "
                f"{node.kind} {'job' if isinstance(node, Job) else 'dataset'} ({node.role})")
        return node
    for test in sc.prefer:
        for node in topo.nodes():
            if test(node) and sc.accepts(node):
                return node
    raise SimConfigError(
        f"scenario {sc.info.name!r} needs {sc.info.target}, and this topology (size "
        f"{topo.size}) has none; use a larger size (40 has every part)")
