"""Log search (redacted on the way out) and traces, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.tools.store.seed import T0, log, node, span
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.observability_queries import (
    UnknownTraceError,
    get_trace,
    list_traces,
    search_logs,
    severity_number,
)

WEB = "dataset:kafka://events:web"
STG = "dataset:snowflake://acme:stg_web"
TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "1bf7651916cd43dd8448eb211c80319d"
MS = 1000


def test_search_logs_filters_and_redacts(store: Store) -> None:
    web, stg = node(store, WEB), node(store, STG)
    log(store, web, T0, "collected 100 events", 9)
    # Stored before a redaction rule existed: the reader must still not see the address.
    log(store, stg, T0 + MS, "load FAILED for jane@example.com", 17, TRACE,
        {"user.email": "jane@example.com"})
    log(store, stg, T0 + 2 * MS, "retrying in 300 s", 13)
    log(store, None, T0 + 3 * MS, "100% of 50_done", 9)

    found = search_logs(store, text="failed")
    assert [r.body for r in found] == ["load FAILED for <email>"]
    assert found[0].attributes == {"user.email": "<email>"} and found[0].node == STG

    assert [r.body for r in search_logs(store, node=NodeRef.parse(STG), min_severity="warn")] == [
        "retrying in 300 s", "load FAILED for <email>"
    ]
    assert [r.ts for r in search_logs(store, since_us=T0 + 2 * MS)] == [
        "2026-03-01T00:00:00.003000Z", "2026-03-01T00:00:00.002000Z"
    ]
    # LIKE wildcards in the text are literal characters.
    assert [r.body for r in search_logs(store, text="0%")] == ["100% of 50_done"]
    assert len(search_logs(store, limit=2, offset=3)) == 1
    assert [r.trace_id for r in search_logs(store, trace_id=TRACE.upper())] == [TRACE]


def test_bad_log_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="severity 'loud' is not one of"):
        search_logs(store, min_severity="loud")
    with pytest.raises(ValueError, match="is after until"):
        search_logs(store, since_us=T0 + 1, until_us=T0)
    assert severity_number("WARNING") == 13 and severity_number("21") == 21


def test_traces_list_and_detail(store: Store) -> None:
    web, stg = node(store, WEB), node(store, STG)
    span(store, TRACE, "a" * 16, None, "collect web", web, T0, T0 + 200 * MS,
         attributes={"client.address": "10.1.2.3"})
    span(store, TRACE, "b" * 16, "a" * 16, "warehouse stg_web", stg, T0 + 200 * MS,
         T0 + 900 * MS, status=2)
    span(store, OTHER, "c" * 16, None, "collect web", web, T0 + 5000 * MS, T0 + 5100 * MS)
    log(store, stg, T0 + 300 * MS, "row rejected", 17, TRACE)

    listed = list_traces(store)
    assert [t.trace_id for t in listed] == [OTHER, TRACE]
    assert [t.trace_id for t in list_traces(store, errors_only=True)] == [TRACE]
    assert [t.trace_id for t in list_traces(store, node=NodeRef.parse(STG))] == [TRACE]
    assert list_traces(store, since_us=T0 + 1000 * MS)[0].trace_id == OTHER

    trace = get_trace(store, TRACE)
    assert trace.path == [WEB, STG] and trace.duration_ms == 900 and trace.errors == 1
    first, second = trace.spans
    assert first.attributes == {"client.address": "<ip>"}
    assert (second.offset_ms, second.duration_ms, second.status) == (200, 700, "error")
    assert [r.body for r in trace.logs] == ["row rejected"]

    with pytest.raises(UnknownTraceError, match="no spans with trace id"):
        get_trace(store, "f" * 32)
    with pytest.raises(ValueError, match="32 hexadecimal"):
        get_trace(store, "not-a-trace")
