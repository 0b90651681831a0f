"""Column lineage from the spec's ColumnLineageDatasetFacet examples, wrapped in RunEvents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tools.lineage.lineage_helpers import ds, ingest, job, run_event
from tools.lineage import column_lineage
from tools.nodes import NodeIdError
from tools.store import Store
from tools.store.queries import UnknownNodeError

OUTPUT = ds("DISCOUNTED_CUSTOMERS")
Column = tuple[str, str]  # (node id, column)


def facet_example(shared_data: Path, name: str) -> dict[str, Any]:
    path = shared_data / "openlineage" / "spec-tests" / "ColumnLineageDatasetFacet" / name
    facets: dict[str, Any] = json.loads(path.read_text())
    return facets


def wrapped(facets: dict[str, Any]) -> dict[str, Any]:
    """A RunEvent whose output carries the facet and whose inputs are its sources."""
    fields = facets["columnLineage"]["fields"]
    sources = sorted(
        {
            f"dataset:{src['namespace']}:{src['name']}"
            for spec in fields.values()
            for src in spec["inputFields"]
        }
    )
    return run_event("transform", sources, [OUTPUT], output_facets=facets)


def truth(facets: dict[str, Any]) -> dict[Column, set[tuple[Column, str | None]]]:
    """Output column -> its (source column, transformation) pairs, read from the facet."""
    out: dict[Column, set[tuple[Column, str | None]]] = {}
    for column, spec in facets["columnLineage"]["fields"].items():
        for src in spec["inputFields"]:
            first = (src.get("transformations") or [{}])[0]
            how = "/".join(first[k] for k in ("type", "subtype") if first.get(k)) or None
            out.setdefault((OUTPUT, column), set()).add(
                ((f"dataset:{src['namespace']}:{src['name']}", src["field"]), how)
            )
    return out


@pytest.mark.parametrize("example", ["1.json", "2.json"])
def test_spec_examples(store: Store, shared_data: Path, example: str) -> None:
    facets = facet_example(shared_data, example)
    ingest(store, [wrapped(facets)])
    expected = truth(facets)
    assert len(expected) >= 4
    for (node, column), sources in expected.items():
        view = column_lineage(store, node, column)
        assert {(c.node, c.column) for c in view.columns} == {s for s, _ in sources}
        assert all(c.distance == 1 for c in view.columns)
        assert {((e.src_node, e.src_column), e.transformation) for e in view.edges} == sources
        assert all((e.dst_node, e.dst_column) == (node, column) for e in view.edges)
        assert not view.cycle
    # Downstream: each source column feeds exactly the outputs that name it.
    feeds: dict[Column, set[Column]] = {}
    for out, sources in expected.items():
        for src, _ in sources:
            feeds.setdefault(src, set()).add(out)
    for (node, column), outs in feeds.items():
        view = column_lineage(store, node, column, "downstream")
        assert {(c.node, c.column) for c in view.columns} == outs


def test_recursive_across_datasets(store: Store, shared_data: Path) -> None:
    facets = facet_example(shared_data, "1.json")
    report = ds("CUSTOMER_REPORT")
    ingest(
        store,
        [
            wrapped(facets),
            run_event(
                "report",
                [OUTPUT],
                [report],
                output_facets={
                    "columnLineage": {
                        "fields": {
                            "CUSTOMER_NAME": {
                                "inputFields": [
                                    {
                                        "namespace": "warehouse",
                                        "name": "DISCOUNTED_CUSTOMERS",
                                        "field": "NAME",
                                    }
                                ]
                            },
                        }
                    }
                },
            ),
        ],
    )
    view = column_lineage(store, report, "CUSTOMER_NAME")
    customers = "dataset:SnowflakeOpenLineage:CUSTOMERS"
    discounts = "dataset:SnowflakeOpenLineage:DISCOUNTS"
    assert [(c.node, c.column, c.distance) for c in view.columns] == [
        (OUTPUT, "NAME", 1),
        (customers, "ID", 2),
        (customers, "NAME", 2),
        (discounts, "CUSTOMERS_ID", 2),
    ]
    assert len(view.edges) == 4
    near = column_lineage(store, report, "CUSTOMER_NAME", depth=1)
    assert [(c.node, c.column) for c in near.columns] == [(OUTPUT, "NAME")]
    down = column_lineage(store, customers, "NAME", "downstream")
    assert [(c.node, c.column, c.distance) for c in down.columns] == [
        (OUTPUT, "NAME", 1),
        (report, "CUSTOMER_NAME", 2),
    ]
    assert column_lineage(store, customers, "NAME", "downstream", depth=0).columns == []


def test_column_cycles_and_unknowns(store: Store) -> None:
    def lineage(src: str, col: str) -> dict[str, Any]:
        return {
            "columnLineage": {
                "fields": {
                    col: {"inputFields": [{"namespace": "warehouse", "name": src, "field": "v"}]}
                }
            }
        }

    ingest(
        store,
        [
            run_event("x_to_y", [ds("x")], [ds("y")], output_facets=lineage("x", "v")),
            run_event("y_to_x", [ds("y")], [ds("x")], output_facets=lineage("y", "v")),
        ],
    )
    view = column_lineage(store, ds("x"), "v")
    assert [(c.node, c.column) for c in view.columns] == [(ds("y"), "v")]
    assert view.cycle and len(view.edges) == 2
    assert column_lineage(store, ds("x"), "no_such_column").columns == []
    with pytest.raises(UnknownNodeError):
        column_lineage(store, ds("nope"), "v")
    with pytest.raises(NodeIdError):
        column_lineage(store, "nope", "v")
    with pytest.raises(ValueError, match="is a job"):
        column_lineage(store, job("x_to_y"), "v")
    with pytest.raises(ValueError, match="direction"):
        column_lineage(store, ds("x"), "v", "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        column_lineage(store, ds("x"), " ")
