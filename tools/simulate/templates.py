"""The shapes a simulated MarTech stack is built from: tables, audiences, destinations.

Each source, staging model and mart has a fixed column list (with the usual share of
nulls in its identifier columns), so schema, null and duplicate telemetry look like the
real thing and column lineage can carry a broken column downstream.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    null_frac: float | None = None  # reported in dataQualityMetrics when set
    key: bool = False  # reported with distinctCount; duplicates = 1 - distinct / rows
    source: str | None = None  # the upstream column it is selected from, if renamed


def _cols(*specs: tuple[str, str] | tuple[str, str, float] | Column) -> tuple[Column, ...]:
    out = []
    for spec in specs:
        if isinstance(spec, Column):
            out.append(spec)
        elif len(spec) == 3:
            out.append(Column(spec[0], spec[1], null_frac=spec[2]))
        else:
            out.append(Column(spec[0], spec[1]))
    return tuple(out)


def _key(name: str) -> Column:
    return Column(name, "string", null_frac=0.0, key=True)


# role -> columns. Identifier columns carry their normal null share.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "src_web": _cols(
        _key("event_id"), ("anonymous_id", "string", 0.001), ("user_id", "string", 0.72),
        ("email", "string", 0.78), ("event_name", "string"), ("page_url", "string"),
        ("ip_address", "string"), ("user_agent", "string"), ("event_ts", "timestamp"),
    ),
    "src_app": _cols(
        _key("event_id"), ("device_id", "string", 0.002), ("user_id", "string", 0.55),
        ("event_name", "string"), ("app_version", "string"), ("os", "string"),
        ("event_ts", "timestamp"),
    ),
    "src_crm": _cols(
        _key("contact_id"), ("email", "string", 0.03), ("phone", "string", 0.35),
        ("first_name", "string"), ("last_name", "string"), ("country", "string"),
        ("updated_at", "timestamp"),
    ),
    "src_pos": _cols(
        _key("order_id"), ("customer_id", "string", 0.25), ("email", "string", 0.4),
        ("store_id", "string"), ("amount", "decimal(12,2)"), ("currency", "string"),
        ("ordered_at", "timestamp"),
    ),
    "src_consent": _cols(
        _key("consent_id"), ("subject_email", "string", 0.0), ("purpose", "string"),
        ("status", "string"), ("source", "string"), ("updated_at", "timestamp"),
    ),
    "stg_web": _cols(
        _key("event_id"), ("anonymous_id", "varchar", 0.001), ("user_id", "varchar", 0.72),
        ("email", "varchar", 0.78), ("event_name", "varchar"), ("page_url", "varchar"),
        ("event_ts", "timestamp_ntz"),
    ),
    "stg_app": _cols(
        _key("event_id"), ("device_id", "varchar", 0.002), ("user_id", "varchar", 0.55),
        ("event_name", "varchar"), ("app_version", "varchar"), ("event_ts", "timestamp_ntz"),
    ),
    "stg_crm": _cols(
        _key("contact_id"), ("email", "varchar", 0.03), ("phone", "varchar", 0.35),
        ("country", "varchar"), ("updated_at", "timestamp_ntz"),
    ),
    "stg_pos": _cols(
        _key("order_id"), ("customer_id", "varchar", 0.25), ("email", "varchar", 0.4),
        ("store_id", "varchar"), Column("amount_eur", "number(12,2)", source="amount"),
        ("ordered_at", "timestamp_ntz"),
    ),
    "stg_consent": _cols(
        _key("consent_id"), Column("email", "varchar", 0.0, source="subject_email"),
        ("purpose", "varchar"), Column("granted", "boolean", source="status"),
        ("updated_at", "timestamp_ntz"),
    ),
    "fct_sessions": _cols(
        _key("session_id"), ("anonymous_id", "varchar"), ("user_id", "varchar", 0.6),
        ("started_at", "timestamp_ntz"), ("page_views", "number"), ("cart_adds", "number"),
    ),
    "fct_orders": _cols(
        _key("order_id"), ("customer_id", "varchar", 0.25), ("email", "varchar", 0.4),
        ("amount_eur", "number(12,2)"), ("ordered_at", "timestamp_ntz"),
    ),
    "dim_customers": _cols(
        Column("customer_id", "varchar", 0.0, key=True, source="contact_id"),
        ("email", "varchar", 0.03), ("phone", "varchar", 0.35), ("country", "varchar"),
        ("first_order_at", "timestamp_ntz"),
    ),
    "identity_graph": _cols(
        _key("identifier"), ("identifier_type", "varchar"), ("person_id", "varchar", 0.0),
        ("match_confidence", "float"), ("linked_at", "timestamp_ntz"),
    ),
    "unified_profiles": _cols(
        _key("person_id"), ("email", "varchar", 0.2), ("phone", "varchar", 0.5),
        ("device_count", "number"), ("lifetime_value", "number(12,2)"),
        ("consent_email", "boolean"), ("consent_ads", "boolean"),
        ("updated_at", "timestamp_ntz"),
    ),
    "audience": _cols(
        _key("person_id"), ("email", "varchar", 0.05), ("email_sha256", "varchar"),
        ("joined_at", "timestamp_ntz"),
    ),
    "activation": _cols(
        _key("external_id"), ("email_sha256", "string"), ("synced_at", "timestamp"),
    ),
    "campaign": _cols(
        _key("delivery_id"), ("external_id", "string"), ("variant", "string"),
        ("delivered_at", "timestamp"),
    ),
}

# Staging model -> the source role it selects from.
STAGING_OF = {
    "stg_web": "src_web",
    "stg_app": "src_app",
    "stg_crm": "src_crm",
    "stg_pos": "src_pos",
    "stg_consent": "src_consent",
}
STREAM_SOURCES = frozenset({"src_web", "src_app"})

# How much of the unified profiles' email comes from each staging model: a column going
# null upstream thins the profiles' email (and so identity matching) in this proportion.
EMAIL_SHARE = {"stg_crm": 0.6, "stg_pos": 0.15, "stg_web": 0.15, "stg_consent": 0.1}
IDENTIFIERS = frozenset({"email", "user_id", "device_id", "anonymous_id", "customer_id"})


@dataclass(frozen=True, slots=True)
class Destination:
    name: str  # also the dataset namespace scheme: braze://acme
    purpose: str  # the consent purpose it needs
    team: str
    webhook: bool
    host: str


DESTINATIONS = {
    d.name: d
    for d in (
        Destination("braze", "email_marketing", "lifecycle-marketing", True,
                    "rest.fra-01.braze.eu"),
        Destination("salesforce", "email_marketing", "crm-marketing", False,
                    "acme.my.salesforce.com"),
        Destination("meta_ads", "ad_personalization", "paid-media", False, "graph.facebook.com"),
        Destination("google_ads", "ad_personalization", "paid-media", False,
                    "googleads.googleapis.com"),
    )
}


@dataclass(frozen=True, slots=True)
class AudienceTemplate:
    name: str
    builder: str  # warehouse (dbt model, synced by Hightouch) | segment (Segment Engage)
    inputs: tuple[str, ...]  # roles besides unified_profiles; the first present is used
    share: float  # of unified profiles
    targets: tuple[tuple[str, str], ...]  # (destination, campaign)
    sensitivity: float  # volume transfer weight from its behavioural input (may be < 0)
    revenue: float  # typical campaign revenue per day, EUR


AUDIENCES: tuple[AudienceTemplate, ...] = (
    AudienceTemplate("cart_abandoners", "warehouse", ("fct_sessions", "stg_web"), 0.02,
                     (("braze", "cart_recovery_flow"), ("meta_ads", "cart_retargeting")),
                     0.5, 18_500),
    AudienceTemplate("high_value_customers", "warehouse", ("fct_orders",), 0.05,
                     (("google_ads", "high_value_search"), ("salesforce", "vip_outreach")),
                     0.5, 24_000),
    AudienceTemplate("high_intent_app_users", "segment", ("stg_app",), 0.03,
                     (("google_ads", "app_reengagement"), ("meta_ads", "app_lookalike")),
                     0.6, 9_500),
    AudienceTemplate("lapsed_buyers", "warehouse", ("fct_orders",), 0.08,
                     (("braze", "winback_series"),), -0.4, 6_200),
    AudienceTemplate("newsletter_optins", "warehouse", ("stg_consent",), 0.3,
                     (("braze", "weekly_newsletter"),), 0.5, 4_800),
    AudienceTemplate("browse_abandoners", "segment", ("stg_web",), 0.04,
                     (("meta_ads", "browse_retargeting"),), 0.6, 7_300),
    AudienceTemplate("loyalty_members", "warehouse", ("dim_customers",), 0.12,
                     (("salesforce", "loyalty_journey"), ("braze", "loyalty_rewards")),
                     0.5, 12_000),
    AudienceTemplate("vip_lookalike_seed", "warehouse", ("fct_orders",), 0.01,
                     (("meta_ads", "vip_lookalike"),), 0.5, 15_500),
)

BRANDS = (
    "acme", "northwind", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
    "tyrell", "cyberdyne", "soylent", "oscorp", "vandelay", "contoso", "fabrikam", "gringotts",
    "monarch", "pied_piper", "dunder", "bluth", "prestige", "massive", "duff", "krusty",
)
# Region -> hour offset of its batch schedule (local night) and the consent export folder.
REGIONS: tuple[tuple[str, int], ...] = (
    ("eu", 0), ("us", 6), ("uk", 1), ("de", 0), ("apac", 16), ("fr", 0), ("latam", 4),
    ("nordics", 23),
)

# Where each stage's jobs run, and the teams that own them.
JOB_NAMESPACE = {
    "staging": "dbt://acme",
    "model": "dbt://acme",
    "identity": "airflow://acme",
    "warehouse_audience": "dbt://acme",
    "segment_audience": "segment://acme",
    "warehouse_sync": "hightouch://acme",
    "segment_sync": "segment://acme",
}
WAREHOUSE = "snowflake://acme.eu-west-1"
SOURCE_NAMESPACE = {
    "src_web": "kafka://events.acme",
    "src_app": "kafka://events.acme",
    "src_crm": "s3://acme-crm-exports",
    "src_pos": "s3://acme-pos",
    "src_consent": "s3://acme-consent-exports",
}
SOURCE_OWNER = {
    "src_web": "data-platform",
    "src_app": "mobile-platform",
    "src_crm": "crm-engineering",
    "src_pos": "retail-data",
    "src_consent": "privacy-office",
}

# Typical rows per run (per hour for streams, per day for batch) of a brand of scale 1.
BASE_ROWS = {
    "src_web": 180_000.0,
    "src_app": 90_000.0,
    "src_crm": 42_000.0,
    "src_pos": 65_000.0,
    "src_consent": 12_000.0,
    "fct_sessions": 210_000.0,
    "fct_orders": 64_000.0,
    "dim_customers": 1_450_000.0,
    "identity_graph": 9_800_000.0,
    "unified_profiles": 3_100_000.0,
}
# Share of profiles a destination can match (the rest are not addressable there).
MATCH_RATE = {"braze": 0.93, "salesforce": 0.88, "meta_ads": 0.62, "google_ads": 0.55}

# A 24-hour traffic shape (local time) for event streams; mean 1.
_DIURNAL_RAW = (
    0.35, 0.25, 0.2, 0.18, 0.2, 0.3, 0.5, 0.8, 1.05, 1.2, 1.3, 1.35,
    1.4, 1.35, 1.3, 1.3, 1.35, 1.45, 1.6, 1.7, 1.6, 1.35, 0.95, 0.6,
)
DIURNAL = tuple(v * 24 / sum(_DIURNAL_RAW) for v in _DIURNAL_RAW)
# Day-of-week factors (Monday first): shops sell more at the weekend, offices export less.
WEEKLY_STREAM = (0.96, 0.97, 0.98, 1.0, 1.03, 1.06, 1.0)
WEEKLY_BATCH = (1.02, 1.03, 1.03, 1.02, 1.0, 0.94, 0.96)
