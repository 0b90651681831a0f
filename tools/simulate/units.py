"""One brand-region unit of the stack: what it contains for a node budget, and building it.

The plan is greedy over a fixed priority list, so a small budget gives the essential path
(event stream -> identity -> audience -> sync -> campaign) and every extra node buys the
next most typical piece (CRM export, consent, marts, POS, app events, more audiences and
destinations). Units after the first shuffle their optional audiences for variety.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tools.simulate import rand
from tools.simulate.stack import Dataset, Job, Schedule, Unit
from tools.simulate.templates import (
    AUDIENCES,
    BASE_ROWS,
    COLUMNS,
    DESTINATIONS,
    EMAIL_SHARE,
    IDENTIFIERS,
    JOB_NAMESPACE,
    MATCH_RATE,
    SOURCE_NAMESPACE,
    SOURCE_OWNER,
    STAGING_OF,
    STREAM_SOURCES,
    WAREHOUSE,
    AudienceTemplate,
)

CORE_COST = 13  # web source + staging, identity (2 jobs + 2), one audience, sync, campaign
_TEMPLATES = {t.name: t for t in AUDIENCES}
_STAGING_NAME = {
    "stg_web": "stg_web_events",
    "stg_app": "stg_app_events",
    "stg_crm": "stg_crm_contacts",
    "stg_pos": "stg_pos_orders",
    "stg_consent": "stg_consent",
}
_MART_INPUTS = {
    "fct_sessions": (("stg_web", 0.8),),
    "fct_orders": (("stg_pos", 1.0),),
    "dim_customers": (("stg_crm", 0.3), ("stg_pos", 0.05)),
}


@dataclass(slots=True)
class UnitPlan:
    sources: list[str] = field(default_factory=lambda: ["src_web"])
    marts: list[str] = field(default_factory=list)
    # audience template -> destinations, in the order they were added
    audiences: dict[str, list[str]] = field(default_factory=lambda: {"cart_abandoners": ["braze"]})

    def has(self, role: str) -> bool:
        if role.startswith("stg_"):
            return STAGING_OF[role] in self.sources
        return role in self.sources or role in self.marts


_CORE_STEPS: tuple[tuple[str, ...], ...] = (
    ("source", "src_crm"), ("source", "src_consent"), ("mart", "fct_sessions"),
    ("source", "src_pos"), ("mart", "fct_orders"), ("source", "src_app"),
)
_EXTRA_STEPS: tuple[tuple[str, ...], ...] = (
    ("target", "cart_abandoners", "meta_ads"), ("audience", "high_value_customers"),
    ("target", "high_value_customers", "salesforce"), ("audience", "high_intent_app_users"),
    ("target", "high_intent_app_users", "meta_ads"), ("audience", "lapsed_buyers"),
    ("audience", "newsletter_optins"), ("mart", "dim_customers"),
    ("audience", "loyalty_members"), ("target", "loyalty_members", "braze"),
    ("audience", "browse_abandoners"), ("audience", "vip_lookalike_seed"),
)
_MART_NEEDS = {"fct_sessions": ("stg_web",), "fct_orders": ("stg_pos",),
               "dim_customers": ("stg_crm", "stg_pos")}


def plan_unit(budget: int, *, shuffle_key: int | None, shared_consent: bool) -> UnitPlan:
    """Choose a unit's parts so that its node count stays within ``budget`` (core excepted)."""
    plan = UnitPlan()
    used = CORE_COST
    extras = list(_EXTRA_STEPS)
    if shuffle_key is not None:
        extras.sort(key=lambda s: rand.bits(shuffle_key, hash_text("|".join(s))))
    steps = list(_CORE_STEPS) + extras
    done: set[tuple[str, ...]] = set()
    changed = True
    while changed:
        changed = False
        for step in steps:
            if step in done:
                continue
            cost = _cost(step, plan, shared_consent)
            if cost is None or used + cost > budget:
                continue
            _apply(step, plan)
            used += cost
            done.add(step)
            changed = True
    return plan


def hash_text(text: str) -> int:
    return rand.key_of(0, text)


def _cost(step: tuple[str, ...], plan: UnitPlan, shared_consent: bool) -> int | None:
    """Nodes the step adds, or None while its prerequisites are missing."""
    what, name = step[0], step[1]
    if what == "source":
        return 0 if name == "src_consent" and shared_consent else 3
    if what == "mart":
        return 2 if all(plan.has(r) for r in _MART_NEEDS[name]) else None
    tpl = _TEMPLATES[name]
    if what == "audience":
        return 6 if any(plan.has(r) for r in tpl.inputs) else None
    return 4 if name in plan.audiences else None


def _apply(step: tuple[str, ...], plan: UnitPlan) -> None:
    what, name = step[0], step[1]
    if what == "source":
        plan.sources.append(name)
    elif what == "mart":
        plan.marts.append(name)
    elif what == "audience":
        plan.audiences[name] = [_TEMPLATES[name].targets[0][0]]
    else:
        plan.audiences[name].append(step[2])


class UnitBuilder:
    """Accumulates the datasets and jobs of successive units into one graph."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.datasets: list[Dataset] = []
        self.jobs: list[Job] = []
        self._consent: dict[str, int] = {}  # region -> stg_consent dataset idx

    def has_consent(self, region: str) -> bool:
        return region in self._consent

    # -- node factories ------------------------------------------------------------------

    def _dataset(self, ns: str, name: str, kind: str, role: str, unit: int, owner: str,
                 tier: int, base_rows: float, noise_from: Dataset | None = None) -> Dataset:
        key = rand.key_of(self.seed, f"dataset:{ns}:{name}")
        ds = Dataset(
            idx=len(self.datasets), namespace=ns, name=name, kind=kind, role=role, unit=unit,
            owner=owner, tier=tier, key=key, base_rows=base_rows,
            noise_key=noise_from.noise_key if noise_from else key,
            columns=COLUMNS[role if role in COLUMNS else kind],
        )
        self.datasets.append(ds)
        return ds

    def _job(self, ns: str, name: str, kind: str, role: str, unit: int, owner: str, tier: int,
             schedule: Schedule, engine: str, sql: str, inputs: list[tuple[Dataset, float]],
             outputs: list[Dataset]) -> Job:
        job = Job(
            idx=len(self.jobs), namespace=ns, name=name, kind=kind, role=role, unit=unit,
            owner=owner, tier=tier, key=rand.key_of(self.seed, f"job:{ns}:{name}"),
            schedule=schedule, engine=engine, sql=sql,
        )
        for ds, weight in inputs:
            job.inputs.append(ds.idx)
            job.weights[ds.idx] = weight
            ds.consumers.append(job.idx)
        for ds in outputs:
            job.outputs.append(ds.idx)
            ds.producer = job.idx
        self.jobs.append(job)
        return job

    # -- one unit --------------------------------------------------------------------------

    def build(self, u: int, brand: str, region: str, offset: int, scale: float,
              plan: UnitPlan) -> Unit:
        tag = "" if u == 0 else f"{brand}_{region}"
        db = "analytics" if not tag else f"analytics_{tag}"
        key = rand.key_of(self.seed, f"unit-build|{u}")
        roles: dict[str, int] = {}

        def team(name: str) -> str:
            return name if not tag else f"{name}-{brand}"

        def at(hour: int) -> int:
            return (hour + offset) % 24

        # Sources and their staging models.
        for src_role in plan.sources:
            stg_role = next(k for k, v in STAGING_OF.items() if v == src_role)
            if src_role == "src_consent" and region in self._consent:
                roles[stg_role] = self._consent[region]
                continue
            src = self._dataset(
                SOURCE_NAMESPACE[src_role], _source_name(src_role, brand, region, u == 0),
                "source", src_role, u, SOURCE_OWNER[src_role],
                1 if src_role in STREAM_SOURCES else 2,
                BASE_ROWS[src_role] * (1.0 if src_role == "src_consent" else scale),
            )
            if src_role not in STREAM_SOURCES:
                arrival = {"src_crm": 0, "src_pos": 1, "src_consent": 0}[src_role]
                src.arrival = (at(arrival), 10 + int(30 * rand.uniform(key, src.idx)))
            stg_db = "analytics" if src_role == "src_consent" else db
            stg_name = _STAGING_NAME[stg_role] + (
                f"_{region}" if src_role == "src_consent" and region != "eu" else "")
            stg = self._dataset(
                WAREHOUSE, f"{stg_db}.staging.{stg_name}", "staging", stg_role, u,
                "analytics-engineering", 2, src.base_rows * 0.995, noise_from=src,
            )
            stg.lineage = {
                c.name: [(src.idx, c.source or c.name)] for c in stg.columns
            }
            if src_role in STREAM_SOURCES:
                sched = Schedule(1, 0, 5, 4.0)
            else:
                sched = Schedule(24, at(2), 15 + int(20 * rand.uniform(key, stg.idx)), 7.0)
            self._job(JOB_NAMESPACE["staging"], stg.name, "staging", "staging", u,
                      "analytics-engineering", 2, sched, "dbt", _select_sql(stg, src),
                      [(src, 1.0)], [stg])
            roles[src_role] = src.idx
            roles[stg_role] = stg.idx
            if src_role == "src_consent":
                self._consent[region] = stg.idx

        # Marts.
        for mart in plan.marts:
            ds = self._dataset(WAREHOUSE, f"{db}.marts.{mart}", "model", mart, u,
                               "analytics-engineering", 2, BASE_ROWS[mart] * scale)
            ins = [(self.datasets[roles[r]], w) for r, w in _MART_INPUTS[mart]]
            ds.lineage = _mart_lineage(mart, {r: roles[r] for r, _ in _MART_INPUTS[mart]})
            self._job(JOB_NAMESPACE["model"], ds.name, "model", "model", u,
                      "analytics-engineering", 2,
                      Schedule(24, at(3), 5 + int(20 * rand.uniform(key, ds.idx)), 9.0),
                      "dbt", _select_sql(ds, *[d for d, _ in ins]), ins, [ds])
            roles[mart] = ds.idx

        # Identity resolution: fan-in from every staging model with identifiers.
        graph = self._dataset(WAREHOUSE, f"{db}.identity.identity_graph", "identity",
                              "identity_graph", u, "identity-team", 1,
                              BASE_ROWS["identity_graph"] * scale)
        profiles = self._dataset(WAREHOUSE, f"{db}.identity.unified_profiles", "identity",
                                 "unified_profiles", u, "identity-team", 1,
                                 BASE_ROWS["unified_profiles"] * scale)
        stg_inputs = [self.datasets[roles[r]] for r in STAGING_OF if r in roles]
        graph.lineage = {"identifier": [
            (d.idx, c.name) for d in stg_inputs for c in d.columns if c.name in IDENTIFIERS]}
        profiles.lineage = {
            "email": [(d.idx, "email") for d in stg_inputs if d.role in EMAIL_SHARE],
            "phone": [(d.idx, "phone") for d in stg_inputs if d.role == "stg_crm"],
        }
        dag = "identity_resolution" if not tag else f"identity_resolution_{tag}"
        self._job(JOB_NAMESPACE["identity"], f"{dag}.resolve_identities", "identity", "identity",
                  u, "identity-team", 1, Schedule(24, at(4), 0, 32.0), "airflow",
                  identity_sql(db, 1), [(d, 0.05) for d in stg_inputs], [graph])
        # Profiles are rebuilt from the graph, with consent flags joined in.
        profile_inputs = [(graph, 0.3)]
        if "stg_consent" in roles:
            profile_inputs.append((self.datasets[roles["stg_consent"]], 0.05))
        profiles.lineage["person_id"] = [(graph.idx, "person_id")]
        self._job(JOB_NAMESPACE["model"], profiles.name, "identity", "profiles", u,
                  "identity-team", 1, Schedule(24, at(5), 0, 12.0), "dbt",
                  _select_sql(profiles, graph), profile_inputs, [profiles])
        roles["identity_graph"], roles["unified_profiles"] = graph.idx, profiles.idx

        # Audiences -> syncs -> destinations -> campaigns.
        trace: list[int] = []
        for aud_name, dests in plan.audiences.items():
            tpl = _TEMPLATES[aud_name]
            aud, aud_revenue = self._audience(u, tag, db, tpl, dests, roles, scale, key, at,
                                              team)
            roles.setdefault("audience", aud.idx)
            if not trace:
                act = self.datasets[self.jobs[aud.consumers[0]].outputs[0]]
                trace = [roles["src_web"], roles["stg_web"], graph.idx, aud.idx, act.idx]
            aud.revenue_per_day = aud_revenue
            aud.tier = 1 if aud_revenue >= 10_000 else 2
        return Unit(u, brand, region, offset, scale, roles, trace)

    def _audience(self, u: int, tag: str, db: str, tpl: AudienceTemplate, dests: list[str],
                  roles: dict[str, int], scale: float, key: int, at: Callable[[int], int],
                  team: Callable[[str], str]) -> tuple[Dataset, float]:
        behaviour = next(r for r in tpl.inputs if r in roles)
        profiles = self.datasets[roles["unified_profiles"]]
        base = profiles.base_rows * tpl.share
        if tpl.builder == "warehouse":
            ns, name, engine = WAREHOUSE, f"{db}.audiences.aud_{tpl.name}", "dbt"
            job_ns = JOB_NAMESPACE["warehouse_audience"]
        else:
            ns, engine = "segment://acme", "segment"
            name = f"audience.{tag + '.' if tag else ''}{tpl.name}"
            job_ns = JOB_NAMESPACE["segment_audience"]
        aud = self._dataset(ns, name, "audience", "audience", u, "growth-analytics", 2, base)
        aud.audience = tpl.name
        aud.lineage = {"person_id": [(profiles.idx, "person_id")],
                       "email": [(profiles.idx, "email")]}
        inputs = [(profiles, 0.6), (self.datasets[roles[behaviour]], tpl.sensitivity)]
        self._job(job_ns, name, "audience", "audience", u, "growth-analytics", 2,
                  Schedule(24, at(6), 5 + int(15 * rand.uniform(key, aud.idx)), 5.0), engine,
                  _audience_sql(aud, profiles, self.datasets[roles[behaviour]]) if engine == "dbt"
                  else "", inputs, [aud])
        total = 0.0
        for dest_name in dests:
            dest = DESTINATIONS[dest_name]
            campaign = dict(tpl.targets).get(dest_name, f"{tpl.name}_{dest_name}")
            act_name = f"audience.{tag + '.' if tag else ''}{tpl.name}"
            act = self._dataset(f"{dest_name}://acme", act_name, "activation", "activation", u,
                                team(dest.team), 2, base * MATCH_RATE[dest_name])
            act.destination, act.audience, act.campaign = dest_name, tpl.name, campaign
            sync_ns = JOB_NAMESPACE[f"{tpl.builder}_sync"]
            self._job(sync_ns, f"sync.{tag + '.' if tag else ''}{tpl.name}_to_{dest_name}",
                      "activation", "sync", u, team(dest.team), 2,
                      Schedule(6, at(0), 30 + int(10 * rand.uniform(key, act.idx)), 6.0),
                      "hightouch" if tpl.builder == "warehouse" else "segment",
                      f"select person_id, email_sha256 from {aud.name}" if engine == "dbt" else "",
                      [(aud, 1.0)], [act])
            camp_name = f"campaign.{tag + '.' if tag else ''}{campaign}"
            camp = self._dataset(f"{dest_name}://acme", camp_name, "campaign", "campaign", u,
                                 team(dest.team), 2, act.base_rows * 0.25)
            camp.destination, camp.campaign, camp.audience = dest_name, campaign, tpl.name
            revenue = round(tpl.revenue * scale * (0.75 + 0.5 * rand.uniform(key, camp.idx)), -2)
            for node in (act, camp):
                node.revenue_per_day = revenue
                node.tier = 1 if revenue >= 10_000 else 2
            self._job(f"{dest_name}://acme", camp_name, "campaign", "campaign", u,
                      team(dest.team), 2, Schedule(24, at(9), 0, 20.0), dest_name, "",
                      [(act, 0.9)], [camp])
            total += revenue
        return aud, total


def _source_name(role: str, brand: str, region: str, first: bool) -> str:
    if role == "src_consent":
        return "onetrust/consent_records" if region == "eu" else (
            f"onetrust/{region}/consent_records")
    base = {"src_web": "web.clickstream", "src_app": "app.events", "src_crm": "crm/contacts",
            "src_pos": "orders/daily"}[role]
    if first:
        return base
    return f"{brand}.{region}.{base}" if role in STREAM_SOURCES else f"{brand}/{region}/{base}"


def _mart_lineage(mart: str, inputs: dict[str, int]) -> dict[str, list[tuple[int, str]]]:
    if mart == "fct_sessions":
        web = inputs["stg_web"]
        return {"session_id": [(web, "event_id")], "anonymous_id": [(web, "anonymous_id")],
                "user_id": [(web, "user_id")], "started_at": [(web, "event_ts")]}
    if mart == "fct_orders":
        pos = inputs["stg_pos"]
        return {c: [(pos, c)] for c in ("order_id", "customer_id", "email", "amount_eur",
                                        "ordered_at")}
    crm, pos = inputs["stg_crm"], inputs["stg_pos"]
    return {"customer_id": [(crm, "contact_id")], "email": [(crm, "email")],
            "phone": [(crm, "phone")], "country": [(crm, "country")],
            "first_order_at": [(pos, "ordered_at")]}


DEDUP_PREFIX = "qualify row_number() over (partition by "


def _select_sql(out: Dataset, *ins: Dataset) -> str:
    cols = ",\n    ".join(c.name for c in out.columns)
    src = ins[0].name.replace("/", "_").replace(".", "_") if ins[0].is_source else ins[0].name
    joins = "".join(f"\nleft join {d.name} using (customer_id)" for d in ins[1:])
    sql = f"select\n    {cols}\nfrom {src}{joins}"
    key = next((c.name for c in out.columns if c.key), None)
    if ins[0].role in STREAM_SOURCES and key:
        # Streams deliver at least once: staging keeps one copy of each event.
        sql += f"\n{DEDUP_PREFIX}{key} order by _loaded_at desc) = 1"
    return sql


def _audience_sql(aud: Dataset, profiles: Dataset, behaviour: Dataset) -> str:
    return (
        f"select p.person_id, p.email, sha2(lower(p.email)) as email_sha256, current_timestamp "
        f"as joined_at\nfrom {profiles.name} p\njoin {behaviour.name} b on b.user_id = "
        f"p.person_id\nwhere p.consent_email and b.updated_at > dateadd(day, -7, current_date)"
    )


def identity_sql(db: str, version: int) -> str:
    """The identity job's matching query; version 2 is the risky rule change (code_change)."""
    rules = ["deterministic: email", "deterministic: user_id", "deterministic: device_id"]
    if version > 1:
        rules += ["probabilistic: ip_address + user_agent within 24h", "fuzzy: last_name + zip"]
    rule_sql = "\n    or ".join(f"-- {r}\n    a.{r.split(': ')[1].split(' ')[0]} = "
                                f"b.{r.split(': ')[1].split(' ')[0]}" for r in rules)
    return (
        f"-- identity resolution v{version}\ninsert overwrite into {db}.identity.identity_graph\n"
        f"select a.identifier, a.identifier_type, min(b.person_id) as person_id\n"
        f"from {db}.identity.identifiers a\njoin {db}.identity.identifiers b\n  on {rule_sql}\n"
        f"group by 1, 2"
    )
