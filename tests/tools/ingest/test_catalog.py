"""The catalog file: validation with YAML line numbers, upsert, SLO objective parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tools.ingest.catalog import (
    get_catalog_entry,
    ingest_catalog,
    list_catalog,
    load_catalog,
    parse_objective,
)
from tools.ingest.result import InputError
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.models import CatalogEntry, DeadLetter, Node

AUDIENCE = "dataset:braze://acme:audience.cart_abandoners"

VALID = f"""\
assets:
  - node: "{AUDIENCE}"
    kind: activation            # source | staging | model | ...
    tier: 1
    owner: lifecycle-marketing
    revenue_per_day: 18500
    runbook: https://wiki.example/cart
    slos:
      - metric: freshness
        objective: "<= 2h"
        target: 0.99
        window: 28d
      - metric: activation.sync.success_ratio
        objective: ">= 98%"
        target: 0.95
        window: 7d
  - node: "job:airflow:crm.sync_profiles"
    kind: source
"""

# Line numbers below are part of the test: each error must point at its own line.
MIXED = f"""\
assets:
  - node: "dataset:pg://db:5432:crm.contacts"
    tier: 0
  - node: not-a-node-id
    tier: 1
  - node: "dataset:pg://db:5432:crm.orders"
    tier: -2
    owner: data-eng
  - node: "dataset:pg://db:5432:crm.events"
    slos:
      - metric: data.null_fraction
        objective: "about 5%"
        target: 0.99
        window: 28d
  - just a string
  - node: "dataset:pg://db:5432:crm.contacts"
    kind: model
  - node: "{AUDIENCE}"
    revenue_per_day: lots
    kind: warehouse
"""


def test_valid_catalog_is_stored_and_read_back(store: Store) -> None:
    result = ingest_catalog(store, VALID.encode(), origin="catalog.yaml", now_us=1_000)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])
    asset = get_catalog_entry(store, NodeRef.parse(AUDIENCE))
    assert asset is not None
    assert (asset.kind, asset.tier, asset.owner, asset.revenue_per_day) == (
        "activation",
        1,
        "lifecycle-marketing",
        18500.0,
    )
    assert asset.extras() == {"runbook": "https://wiki.example/cart"}
    freshness, sync = asset.slos
    assert (freshness.operator, freshness.threshold, freshness.window_seconds) == (
        "<=",
        7200.0,
        28 * 86400.0,
    )
    assert freshness.objective == "<= 2h" and freshness.target == 0.99
    assert sync.operator == ">=" and sync.threshold == pytest.approx(0.98)
    assert sync.met_by(0.985) and not sync.met_by(0.97)
    assert [str(a.node) for a in list_catalog(store)] == [AUDIENCE, "job:airflow:crm.sync_profiles"]
    assert get_catalog_entry(store, NodeRef.dataset("braze://acme", "unknown")) is None
    with store.read() as conn:
        nodes = conn.execute(select(Node.type, Node.first_seen)).all()
    assert sorted(nodes) == [("dataset", 1_000), ("job", 1_000)]


def test_each_bad_entry_is_rejected_with_its_line(store: Store) -> None:
    assets, errors = load_catalog(MIXED)
    assert [str(a.node) for a in assets] == ["dataset:pg://db:5432:crm.contacts"]
    got = [(e.index, e.line) for e in errors]
    assert got == [(1, 4), (2, 7), (3, 12), (4, 15), (5, 16), (6, 19)]
    reasons = [e.reason for e in errors]
    assert "line 4: node: node id 'not-a-node-id' must look like" in reasons[0]
    assert "line 7: tier: Input should be greater than or equal to 0" in reasons[1]
    assert "line 12: slos[0].objective: objective 'about 5%' should be an operator" in reasons[2]
    assert "must be a mapping" in reasons[3]
    assert (
        "line 16: node dataset:pg://db:5432:crm.contacts is already defined at line 2"
        in (reasons[4])
    )
    assert reasons[5] == (
        "line 19: revenue_per_day: Input should be a valid number; line 20: kind: Input should "
        "be 'source', 'staging', 'model', 'identity', 'audience', 'activation' or 'campaign'"
    )

    result = ingest_catalog(store, MIXED.encode(), origin="mixed.yaml")
    assert result.accepted == 1 and len(result.rejected) == 6
    with store.read() as conn:
        letters = conn.execute(
            select(DeadLetter.source, DeadLetter.origin, DeadLetter.payload).order_by(DeadLetter.id)
        ).all()
    assert [(s, o) for s, o, _ in letters] == [("catalog", "mixed.yaml")] * 6
    assert [r.dead_letter_id for r in result.rejected] == sorted(
        r.dead_letter_id for r in result.rejected if r.dead_letter_id is not None
    )
    # A dead letter is a one-entry catalog: replaying it takes this same path.
    replayed, replay_errors = load_catalog(bytes(letters[1][2]))
    assert replayed == [] and replay_errors[0].reason.endswith(
        "tier: Input should be greater than or equal to 0"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("assets:\n  - node: [unclosed\n", "invalid YAML at line 3, column 1"),
        ("assets:\n  - node: x\n   bad: indent\n", "invalid YAML at line 3, column 4"),
        ("", "the catalog is empty"),
        ("- node: x\n", "line 1: the catalog must be a mapping"),
        ("asets:\n  - node: x\n", "no 'assets' key"),
        ("assets: 5\n", "line 1: 'assets' must be a list"),
        (b"assets: \xff\n", "not UTF-8 text"),
    ],
)
def test_unusable_file_raises_and_is_dead_lettered(
    store: Store, text: str | bytes, message: str
) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(InputError) as err:
        ingest_catalog(store, data, origin="broken.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("broken.yaml: ")
    with store.read() as conn:
        letters = conn.execute(select(DeadLetter.source, DeadLetter.payload)).all()
    assert [(s, bytes(p)) for s, p in letters] == [("catalog", data)]


def test_reload_upserts_by_node(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID)
    assert ingest_catalog(store, path, now_us=1_000).accepted == 2
    again = ingest_catalog(store, path, now_us=2_000)
    assert (again.accepted, again.duplicates) == (0, 2)

    path.write_text(VALID.replace("tier: 1", "tier: 2").replace("18500", "20000"))
    changed = ingest_catalog(store, path, now_us=3_000)
    assert (changed.accepted, changed.duplicates) == (1, 1)
    asset = get_catalog_entry(store, NodeRef.parse(AUDIENCE))
    assert asset is not None and (asset.tier, asset.revenue_per_day) == (2, 20000.0)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(CatalogEntry)).scalar_one() == 2
        updated = dict(
            conn.execute(
                select(Node.name, CatalogEntry.updated_at).join(
                    CatalogEntry, CatalogEntry.node_id == Node.id
                )
            ).all()
        )
        last_seen = conn.execute(select(func.max(Node.last_seen))).scalar_one()
    assert updated == {"audience.cart_abandoners": 3_000, "crm.sync_profiles": 1_000}
    assert last_seen == 1_000  # naming an asset is not observing it


def test_existing_node_is_reused(store: Store) -> None:
    text = VALID.split('  - node: "job:')[0]
    ingest_catalog(store, text.encode(), now_us=5_000)
    ingest_catalog(store, text.replace("tier: 1", "tier: 3").encode(), now_us=6_000)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(Node)).scalar_one() == 1


@pytest.mark.parametrize(
    ("objective", "metric", "expected"),
    [
        ("<= 2h", "freshness", ("<=", 7200.0)),
        ("< 90s", "data.freshness.lag", ("<", 90.0)),
        ("<=15m", "event.end_to_end.latency", ("<=", 900.0)),
        ("<= 1d", "freshness", ("<=", 86400.0)),
        ("< 250ms", "activation.webhook.latency", ("<", 250.0)),  # that metric is in ms
        ("< 2s", "activation.webhook.latency", ("<", 2000.0)),
        (">= 0.98", "activation.sync.success_ratio", (">=", 0.98)),
        (">= 98%", "activation.sync.success_ratio", (">=", 0.98)),
        ("< 5%", "data.null_fraction", ("<", 0.05)),
        ("< 0.5 %", "data.duplicate_fraction", ("<", 0.005)),
        ("> 1000", "data.row_count", (">", 1000.0)),
        ("== 0", "activation.sync.errors", ("==", 0.0)),
        ("≤ 2h", "freshness", ("<=", 7200.0)),
        ("<= 3h", "some.custom.metric", ("<=", 10800.0)),
    ],
)
def test_objective_parsing(objective: str, metric: str, expected: tuple[str, float]) -> None:
    op, threshold = parse_objective(objective, metric)
    assert op == expected[0]
    assert threshold == pytest.approx(expected[1])


@pytest.mark.parametrize(
    ("objective", "metric", "message"),
    [
        ("2h", "freshness", "should be an operator"),
        ("<= soon", "freshness", "should be an operator"),
        ("=< 2h", "freshness", "should be an operator"),
        ("<= 2 hours", "freshness", "should be an operator"),
        ("< 5%", "freshness", "is a percentage but freshness is a duration"),
        ("< 2h", "data.null_fraction", "is a duration but data.null_fraction is a fraction"),
    ],
)
def test_bad_objectives(objective: str, metric: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_objective(objective, metric)


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("target: 0", "target: Input should be greater than 0"),
        ("target: 1.01", "target: Input should be less than or equal to 1"),
        ("target: '0.9'", "target: Input should be a valid number"),
        ("window: 0d", "window: window '0d' must be longer than zero"),
        ("window: 4 weeks", "window: '4 weeks' is not a duration"),
    ],
)
def test_bad_slo_fields(slo: str, message: str) -> None:
    fields = {"metric": "freshness", "objective": "'<= 2h'", "target": "0.99", "window": "28d"}
    key, value = slo.split(": ", 1)
    fields[key] = value
    body = "\n".join(f"        {k}: {v}" for k, v in fields.items())
    text = f"assets:\n  - node: '{AUDIENCE}'\n    slos:\n      -\n{body}\n"
    assets, errors = load_catalog(text)
    assert assets == []
    line = 5 + list(fields).index(key)
    assert f"line {line}: slos[0].{message}" in errors[0].reason
