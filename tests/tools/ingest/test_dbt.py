"""dbt artifacts -> the store, checked against the official OpenLineage dbt integration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from tools.ingest.dbt import dbt_to_openlineage, ingest_dbt
from tools.ingest.result import InputError
from tools.store import Store
from tools.store.models import DatasetVersion, DeadLetter, Edge, LineageEvent, Node, Run
from tools.timeutil import parse_micros

SNOWFLAKE = "snowflake://ASDF1234.eu-central-1.aws"
JOB_NS = "job-namespace"
CASES = {"build": None, "fail": None, "large": SNOWFLAKE}
Pair = tuple[tuple[str, str], tuple[str, str]]


def lineage_pairs(store: Store) -> set[Pair]:
    """(input dataset, output dataset) pairs joined through a job in the edges table."""
    src, job, dst = aliased(Node), aliased(Node), aliased(Node)
    into, out_of = aliased(Edge), aliased(Edge)
    stmt = (
        select(src.namespace, src.name, dst.namespace, dst.name)
        .select_from(into)
        .join(src, src.id == into.src_id)
        .join(job, job.id == into.dst_id)
        .join(out_of, out_of.src_id == job.id)
        .join(dst, dst.id == out_of.dst_id)
        .where(src.type == "dataset", job.type == "job", dst.type == "dataset")
    )
    with store.read() as conn:
        return {((a, b), (c, d)) for a, b, c, d in conn.execute(stmt)}


def reference_pairs(events: list[dict[str, Any]]) -> set[Pair]:
    """The same pairs from OpenLineage events: each job's inputs x its outputs."""
    inputs: dict[tuple[str, str], set[tuple[str, str]]] = {}
    outputs: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for ev in events:
        job = (ev["job"]["namespace"], ev["job"]["name"])
        inputs.setdefault(job, set()).update(
            (d["namespace"], d["name"]) for d in ev.get("inputs") or []
        )
        outputs.setdefault(job, set()).update(
            (d["namespace"], d["name"]) for d in ev.get("outputs") or []
        )
    return {(i, o) for job, ins in inputs.items() for i in ins for o in outputs[job]}


def case_dir(shared_data: Path, case: str) -> Path:
    return shared_data / "dbt" / case


def ingest_case(store: Store, shared_data: Path, case: str, *, run_results: bool = True) -> Any:
    d = case_dir(shared_data, case)
    return ingest_dbt(
        store,
        d / "manifest.json",
        d / "run_results.json" if run_results else None,
        namespace=CASES[case],
        job_namespace=JOB_NS,
    )


def expected_pairs(shared_data: Path, case: str) -> set[Pair]:
    path = case_dir(shared_data, case) / "expected_openlineage_events.json"
    return reference_pairs(json.loads(path.read_text()))


def runs_by_job(store: Store) -> dict[str, dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(Node.name, Run).join(Run, Run.job_id == Node.id)).mappings()
        return {row["name"]: dict(row) for row in rows}


def count_rows(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Node, Edge, Run, DatasetVersion, LineageEvent)
        }


@pytest.mark.parametrize("case", sorted(CASES))
def test_lineage_equals_the_reference_integration(
    store: Store, shared_data: Path, case: str
) -> None:
    expected = expected_pairs(shared_data, case)
    assert expected  # the reference must have lineage for the comparison to mean anything
    result = ingest_case(store, shared_data, case)
    assert result.accepted > 0 and not result.rejected
    assert lineage_pairs(store) == expected


def test_failed_and_skipped_models(store: Store, shared_data: Path) -> None:
    ingest_case(store, shared_data, "fail")
    runs = runs_by_job(store)
    prefix = "random-gcp-project.dbt_test1.dbt_bigquery_test."
    failed = runs[prefix + "test_second_parallel_dbt_model"]
    assert failed["state"] == "FAIL"
    assert failed["error_message"].startswith(
        "Database Error in model test_second_parallel_dbt_model"
    )
    assert 'identifier "bork"' in failed["error_message"]
    # No timing in run_results for the failed node: the file's generation time stands in.
    assert failed["ended_at"] == parse_micros("2021-07-28T12:09:48.781634Z")
    assert prefix + "test_third_dbt_model" not in runs  # skipped: no run
    first = runs[prefix + "test_first_dbt_model"]
    assert first["state"] == "COMPLETE"
    assert first["started_at"] == parse_micros("2021-07-28T12:09:46.095543Z")
    assert first["ended_at"] == parse_micros("2021-07-28T12:09:47.994760Z")
    # The invocation is the parent run, failed because one of its models failed.
    parent = runs["dbt-run-dbt_bigquery_test"]
    assert parent["state"] == "FAIL"
    assert first["parent_run_uuid"] == parent["run_uuid"]


def test_rows_affected_and_sql(store: Store, shared_data: Path) -> None:
    ingest_case(store, shared_data, "fail")
    with store.read() as conn:
        counts = dict(
            conn.execute(
                select(Node.name, DatasetVersion.row_count)
                .join(DatasetVersion, DatasetVersion.node_id == Node.id)
                .where(DatasetVersion.role == "output")
            ).all()
        )
        facets = conn.execute(
            select(Node.facets).where(
                Node.name == "random-gcp-project.dbt_test1.dbt_bigquery_test.test_second_dbt_model"
            )
        ).scalar_one()
    assert counts["random-gcp-project.dbt_test1.test_first_dbt_model"] == 2  # CREATE TABLE
    # A view reports no rows written, whatever its adapter response says.
    assert counts["random-gcp-project.dbt_test1.test_second_dbt_model"] is None
    assert facets["sql"]["query"].startswith("select *\nfrom `random-gcp-project`")
    assert facets["jobType"]["jobType"] == "MODEL"


def test_reingest_adds_nothing(store: Store, shared_data: Path) -> None:
    first = ingest_case(store, shared_data, "build")
    before = count_rows(store)
    again = ingest_case(store, shared_data, "build")
    assert (again.accepted, again.duplicates) == (0, first.accepted)
    assert count_rows(store) == before


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_alone_gives_static_lineage(store: Store, shared_data: Path, case: str) -> None:
    result = ingest_case(store, shared_data, case, run_results=False)
    assert result.accepted > 0
    found = lineage_pairs(store)
    expected = expected_pairs(shared_data, case)
    assert expected <= found
    # Only models that did not run in the reference invocation add lineage.
    extra = {out for _, out in found - expected}
    assert extra <= {("bigquery", "random-gcp-project.dbt_test1.test_third_dbt_model")}
    assert count_rows(store)["runs"] == 0


def test_tests_become_assertions_on_the_tested_model(store: Store, shared_data: Path) -> None:
    ingest_case(store, shared_data, "build")
    model = "random-gcp-project.dbt_test1.test_first_dbt_model"
    with store.read() as conn:
        versions = conn.execute(
            select(DatasetVersion.assertions)
            .join(Node, Node.id == DatasetVersion.node_id)
            .where(Node.name == model)
        ).scalars()
        # JSON columns keep a missing value as JSON null, so filter in Python.
        [assertions] = [v for v in versions if v]
    assert sorted((a["assertion"], a["column"], a["success"]) for a in assertions) == [
        ("expect_column_median_to_be_between", "id", True),
        ("expect_column_quantile_values_to_be_between", "id", True),
        ("unique", "id", True),
    ]
    runs = runs_by_job(store)
    assert (
        runs["random-gcp-project.dbt_test1.dbt_bigquery_test.test_first_dbt_model.build.test"][
            "state"
        ]
        == "COMPLETE"
    )


def test_a_failing_test_fails_its_test_run(store: Store, shared_data: Path, tmp_path: Path) -> None:
    d = case_dir(shared_data, "build")
    results = json.loads((d / "run_results.json").read_text())
    for result in results["results"]:
        if result["unique_id"].startswith("test.dbt_bigquery_test.unique_"):
            result.update(status="fail", message="Got 1 result, configured to fail if != 0")
    (tmp_path / "run_results.json").write_text(json.dumps(results))
    ingest_dbt(store, d / "manifest.json", tmp_path / "run_results.json", job_namespace=JOB_NS)
    run = runs_by_job(store)[
        "random-gcp-project.dbt_test1.dbt_bigquery_test.test_first_dbt_model.build.test"
    ]
    assert run["state"] == "FAIL"
    assert "unique_test_first_dbt_model_id: Got 1 result" in run["error_message"]
    with store.read() as conn:
        [assertions] = [v for v in conn.execute(select(DatasetVersion.assertions)).scalars() if v]
    assert {a["assertion"]: a["success"] for a in assertions}["unique"] is False
    assert lineage_pairs(store) == expected_pairs(shared_data, "build")


def _v12_manifest() -> dict[str, Any]:
    """A dbt 1.8-style manifest: compiled_code, attached_node, an ephemeral model, a seed."""

    def node(uid: str, materialized: str, deps: list[str], **extra: Any) -> dict[str, Any]:
        name = uid.rsplit(".", 1)[1]
        return {
            "unique_id": uid,
            "name": name,
            "alias": name,
            "database": "analytics",
            "schema": "marts",
            "resource_type": uid.split(".")[0],
            "package_name": "shop",
            "config": {"materialized": materialized},
            "depends_on": {"nodes": deps},
            "columns": {},
            "description": "",
            **extra,
        }

    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.8.0",
            "generated_at": "2024-05-01T10:00:00Z",
            "invocation_id": "11111111-2222-3333-4444-555555555555",
            "adapter_type": "postgres",
            "project_name": "shop",
        },
        "nodes": {
            "seed.shop.raw_orders": node("seed.shop.raw_orders", "seed", []),
            "model.shop.base": node("model.shop.base", "ephemeral", ["source.shop.app.orders"]),
            "model.shop.orders": node(
                "model.shop.orders",
                "table",
                ["model.shop.base", "seed.shop.raw_orders"],
                compiled_code="select * from orders",
                raw_code="select * from {{ ref('base') }}",
                columns={"id": {"name": "id", "data_type": "integer", "description": "key"}},
            ),
            "test.shop.not_null_orders_id.abc": node(
                "test.shop.not_null_orders_id.abc",
                "test",
                ["model.shop.orders"],
                attached_node="model.shop.orders",
                test_metadata={"name": "not_null", "kwargs": {"column_name": "id"}},
            ),
        },
        "sources": {
            "source.shop.app.orders": {
                "unique_id": "source.shop.app.orders",
                "name": "orders",
                "identifier": "orders_v2",
                "database": "raw",
                "schema": "app",
                "resource_type": "source",
                "columns": {},
            }
        },
    }


def _v12_run_results() -> dict[str, Any]:
    timing = [
        {
            "name": "execute",
            "started_at": "2024-05-01T10:01:00Z",
            "completed_at": "2024-05-01T10:02:00Z",
        }
    ]
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.8.0",
            "generated_at": "2024-05-01T10:03:00Z",
            "invocation_id": "11111111-2222-3333-4444-555555555555",
        },
        "args": {"which": "build"},
        "results": [
            {"unique_id": "seed.shop.raw_orders", "status": "success", "timing": timing},
            {
                "unique_id": "model.shop.orders",
                "status": "success",
                "timing": timing,
                "adapter_response": {"rows_affected": 42},
            },
            {"unique_id": "test.shop.not_null_orders_id.abc", "status": "pass", "timing": timing},
        ],
    }


def test_newer_manifest_keys_and_ephemeral_models() -> None:
    events = dbt_to_openlineage(
        _v12_manifest(), _v12_run_results(), namespace=None, job_namespace="dbt"
    )
    assert reference_pairs(events) == {
        (("postgres", "raw.app.orders_v2"), ("postgres", "analytics.marts.orders"))
    }
    complete = next(
        e
        for e in events
        if e["eventType"] == "COMPLETE"
        and e["job"]["name"] == "analytics.marts.shop.orders.build.run"
    )
    assert complete["job"]["facets"]["sql"]["query"] == "select * from orders"
    assert complete["job"]["facets"]["sql"]["dialect"] == "postgres"
    assert complete["outputs"][0]["facets"]["schema"]["fields"] == [
        {"name": "id", "type": "integer", "description": "key"}
    ]
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 42
    test = next(
        e
        for e in events
        if e["job"]["name"].endswith(".build.test") and e["eventType"] == "COMPLETE"
    )
    facet = test["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    assert facet["assertions"] == [{"assertion": "not_null", "success": True, "column": "id"}]
    # Deterministic: the same artifacts translate to the same events.
    assert events == dbt_to_openlineage(
        _v12_manifest(), _v12_run_results(), namespace=None, job_namespace="dbt"
    )


def test_dataset_namespace_defaults_to_the_adapter(store: Store, shared_data: Path) -> None:
    d = case_dir(shared_data, "large")
    ingest_dbt(store, d / "manifest.json", d / "run_results.json")
    assert {src[0] for src, _ in lineage_pairs(store)} == {"snowflake"}
    with store.read() as conn:
        job_namespaces = set(
            conn.execute(select(Node.namespace).where(Node.type == "job")).scalars()
        )
    assert job_namespaces == {"dbt"}


def _write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize(
    ("manifest", "run_results", "field", "reason"),
    [
        (b"{not json", None, "manifest", "invalid JSON"),
        ({"nodes": {}}, None, "manifest.metadata.dbt_schema_version", "not a dbt manifest"),
        ([1, 2], None, "manifest", "expected a JSON object"),
        ("run_results", None, "manifest.metadata.dbt_schema_version", "not a dbt manifest"),
        ("no_schema", None, 'manifest.nodes["model.shop.orders"].schema', "non-empty string"),
        ("no_adapter", None, "manifest.metadata.adapter_type", "pass namespace"),
        ("v12", "foreign", "run_results.results[0].unique_id", "not in the manifest"),
        ("v12", "bad_status", "run_results.results[0].status", "unknown status 'exploded'"),
        ("v12", "compile", "run_results.args.which", "`dbt compile`"),
    ],
)
def test_bad_input_is_dead_lettered(
    store: Store, tmp_path: Path, manifest: Any, run_results: Any, field: str, reason: str
) -> None:
    good = _v12_manifest()
    variants: dict[str, Any] = {
        "run_results": _v12_run_results(),
        "v12": good,
        "no_schema": {
            **good,
            "nodes": {"model.shop.orders": {**good["nodes"]["model.shop.orders"], "schema": None}},
        },
        "no_adapter": {
            **good,
            "metadata": {k: v for k, v in good["metadata"].items() if k != "adapter_type"},
        },
        "foreign": {
            **_v12_run_results(),
            "results": [{"unique_id": "model.other.thing", "status": "success"}],
        },
        "bad_status": {
            **_v12_run_results(),
            "results": [{"unique_id": "model.shop.orders", "status": "exploded"}],
        },
        "compile": {**_v12_run_results(), "args": {"which": "compile"}},
    }
    manifest_path = _write(
        tmp_path,
        "manifest.json",
        variants.get(manifest, manifest) if isinstance(manifest, str) else manifest,
    )
    results_path = (
        _write(tmp_path, "run_results.json", variants[run_results]) if run_results else None
    )
    with pytest.raises(InputError) as err:
        ingest_dbt(store, manifest_path, results_path)
    assert err.value.field == field
    assert reason in err.value.reason
    with store.read() as conn:
        letters = conn.execute(
            select(DeadLetter.source, DeadLetter.origin, DeadLetter.reason, DeadLetter.payload)
        ).all()
    assert len(letters) == 1
    source, origin, stored_reason, payload = letters[0]
    assert source == "dbt" and reason in stored_reason
    blamed = results_path if results_path and field.startswith("run_results") else manifest_path
    assert origin == str(blamed)
    assert bytes(payload) == blamed.read_bytes()
    assert count_rows(store)["nodes"] == 0  # nothing of a rejected invocation is written
