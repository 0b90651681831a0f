"""Schema drift between consecutive versions: added, removed, retyped, renamed; severity by
downstream use."""

from __future__ import annotations

from tests.tools.detect.storedata import DAY, HOUR, T0, Dataset, run_events, send_events
from tools.anomalies import Detection
from tools.detect.detectors.schema import diff_fields
from tools.detect.engine import detect
from tools.detect.settings import DetectSettings
from tools.store import Store

SNOW = "snowflake://acme"
STG = ("dbt://acme", "stg_crm")
MART = ("dbt://acme", "dim_customers")
BASE = [("contact_id", "varchar"), ("email", "varchar"), ("phone", "varchar")]


def test_diff_fields() -> None:
    old = dict(BASE)
    assert [c.change for c in diff_fields(old, {**old, "utm": "varchar"})] == ["added"]
    (renamed,) = diff_fields(old, {"contact_id": "varchar", "email_address": "varchar",
                                   "phone": "varchar"})
    assert (renamed.change, renamed.column, renamed.new_name) == ("renamed", "email",
                                                                   "email_address")
    changes = diff_fields(old, {"contact_id": "number", "phone": "varchar"})
    assert sorted((c.change, c.column) for c in changes) == [("removed", "email"),
                                                              ("retyped", "contact_id")]
    assert diff_fields(old, dict(old)) == []


def _history(store: Store, changed: list[tuple[str, str]], change_day: int,
             mart_fields: list[tuple[str, str]]) -> None:
    """stg_crm daily at 02:00 (schema changes on change_day), dim_customers reads it at
    04:00 and keeps its own schema."""
    events = []
    for d in range(8):
        slot = T0 + d * DAY + 2 * HOUR
        fields = changed if d >= change_day else BASE
        events += run_events(STG, slot, slot, slot + 600_000_000, "COMPLETE",
                             outputs=[Dataset(SNOW, "stg_crm", fields, rows=1000)])
        mslot = slot + 2 * HOUR
        events += run_events(MART, mslot, mslot, mslot + 600_000_000, "COMPLETE",
                             inputs=[Dataset(SNOW, "stg_crm")],
                             outputs=[Dataset(SNOW, "dim_customers", mart_fields, rows=900)])
    send_events(store, events)


def _drift(found: list[Detection]) -> list[Detection]:
    return [d for d in found if d.kind == "schema_drift"]


def test_removed_column_read_downstream_is_high(store: Store) -> None:
    _history(store, [("contact_id", "varchar"), ("phone", "varchar")], 6,
             [("customer_id", "varchar"), ("email", "varchar")])
    at = T0 + 6 * DAY + 5 * HOUR
    (d,) = _drift(detect(store, at, DetectSettings()))
    assert d.attributes == {"column": "email"} and d.metric == "schema"
    assert d.severity == "high"
    assert d.evidence["used_by"] == [f"dataset:{SNOW}:dim_customers.email"]
    assert d.onset_us == T0 + 6 * DAY + 2 * HOUR + 600_000_000
    assert "column email (varchar) removed" in d.summary


def test_removed_column_nobody_reads_is_medium(store: Store) -> None:
    _history(store, [("contact_id", "varchar"), ("email", "varchar")], 6,
             [("customer_id", "varchar")])
    (d,) = _drift(detect(store, T0 + 6 * DAY + 5 * HOUR, DetectSettings()))
    assert d.attributes == {"column": "phone"} and d.severity == "medium"


def test_added_column_is_info_and_closes_after_a_while(store: Store) -> None:
    _history(store, [*BASE, ("utm_campaign", "varchar")], 5, [("customer_id", "varchar")])
    (d,) = _drift(detect(store, T0 + 5 * DAY + 5 * HOUR, DetectSettings()))
    assert d.severity == "info" and d.attributes == {"column": "utm_campaign"}
    # Still news two days on; three days later it is history.
    assert _drift(detect(store, T0 + 7 * DAY + 5 * HOUR, DetectSettings()))
    assert _drift(detect(store, T0 + 8 * DAY + 6 * HOUR, DetectSettings())) == []
    assert _drift(detect(store, T0 + 5 * DAY, DetectSettings())) == [], "replay: not yet"
