"""dbt artifacts -> the OpenLineage events dbt-ol would have sent (see tools.ingest.dbt)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from tools.ingest.result import InputError
from tools.store.models import now_micros
from tools.timeutil import iso, parse_micros

JSON = dict[str, Any]

SOURCE = "dbt"
PRODUCER = "https://github.com/flowsleuth/flowsleuth/dbt"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
FACETS = "https://openlineage.io/spec/facets/"
_RUN_IDS = uuid.uuid5(uuid.NAMESPACE_URL, PRODUCER)

# Resource types by role (the prefix of a unique_id).
EXECUTED = frozenset({"model", "snapshot"})
LINEAGE_INPUTS = frozenset({"model", "snapshot", "source"})
DATASETS = frozenset({"model", "snapshot", "source", "seed"})

SUCCEEDED = frozenset({"success", "pass", "warn"})
FAILED = frozenset({"error", "fail", "runtime error"})
NOT_RUN = frozenset({"skipped", "no-op"})
EXEC_COMMANDS = frozenset({"run", "build", "seed", "snapshot", "retry"})
TEST_COMMANDS = frozenset({"test", "build", "retry"})
NOT_A_TABLE = frozenset({"view", "ephemeral"})


def _facet(schema: str, **fields: Any) -> JSON:
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS}{schema}", **fields}


def _error_facet(message: str) -> JSON:
    return _facet(
        "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
        message=message,
        programmingLanguage="SQL",
    )


def _job_type(job_type: str) -> JSON:
    return _facet(
        "2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
        jobType=job_type,
        integration="DBT",
        processingType="BATCH",
    )


_WANT: dict[type, str] = {str: "a non-empty string", dict: "an object", list: "an array"}


def _require(obj: JSON, key: str, path: str, kind: type = str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        want = _WANT[kind]
        raise InputError(f"expected {want}, got {value!r}"[:200], f"{path}.{key}")
    return value


def _schema_version(obj: Any, artifact: str) -> int:
    """``https://schemas.getdbt.com/dbt/manifest/v12.json`` -> 12, or InputError."""
    if not isinstance(obj, dict):
        raise InputError(f"not a dbt {artifact}: expected a JSON object", artifact)
    meta = obj.get("metadata")
    url = meta.get("dbt_schema_version") if isinstance(meta, dict) else None
    marker = f"/{artifact.replace('_', '-')}/v"
    if not isinstance(url, str) or marker not in url:
        keys = ", ".join(sorted(obj)[:8]) or "none"
        raise InputError(
            f"not a dbt {artifact}: metadata.dbt_schema_version should name a "
            f"'{marker[1:]}<n>.json' schema, got {url!r} (top-level keys: {keys})",
            f"{artifact}.metadata.dbt_schema_version",
        )
    try:
        return int(url.rsplit(marker, 1)[1].split(".", 1)[0])
    except ValueError:
        raise InputError(
            f"unreadable schema version in {url!r}", f"{artifact}.metadata.dbt_schema_version"
        ) from None


class _Translator:
    """One manifest (+ optional run_results) -> OpenLineage event dicts."""

    def __init__(self, manifest: Any, namespace: str | None, job_namespace: str) -> None:
        _schema_version(manifest, "manifest")
        self.meta: JSON = manifest["metadata"]
        nodes = _require(manifest, "nodes", "manifest", dict)
        sources = manifest.get("sources") or {}
        if not isinstance(sources, dict):
            raise InputError("expected an object", "manifest.sources")
        self.nodes: dict[str, JSON] = {**nodes, **sources}
        for uid, node in self.nodes.items():
            if not isinstance(node, dict):
                raise InputError("expected an object", f'manifest.nodes["{uid}"]')
        adapter = self.meta.get("adapter_type")
        self.dialect = adapter if isinstance(adapter, str) and adapter else None
        if namespace is None and self.dialect is None:
            raise InputError(
                "the manifest names no adapter_type, so the dataset namespace is unknown: "
                "pass namespace (e.g. 'postgres://host:5432')",
                "manifest.metadata.adapter_type",
            )
        self.namespace: str = namespace or self.dialect or ""
        self.job_namespace = job_namespace
        self.command = "run"
        self.run_facets: JSON = {}
        self.fallback_time = ""

    # --- nodes and datasets -------------------------------------------------------------

    def node(self, uid: str, path: str) -> JSON:
        node = self.nodes.get(uid)
        if node is None:
            raise InputError(
                f"{uid} is not in the manifest (are both files from the same "
                "dbt project and invocation?)",
                path,
            )
        return node

    @staticmethod
    def kind(uid: str) -> str:
        return uid.split(".", 1)[0]

    def is_ephemeral(self, node: JSON) -> bool:
        config = node.get("config")
        return isinstance(config, dict) and config.get("materialized") == "ephemeral"

    def dataset_name(self, uid: str) -> str:
        node = self.nodes[uid]
        where = f'manifest.nodes["{uid}"]'
        table = node.get("identifier" if self.kind(uid) == "source" else "alias")
        if not isinstance(table, str) or not table:
            table = _require(node, "name", where)
        schema = _require(node, "schema", where)
        database = node.get("database")
        # Some adapters (Spark, Databricks' hive metastore) have no database level.
        return f"{database}.{schema}.{table}" if database else f"{schema}.{table}"

    def dataset(self, uid: str, *, facets: bool) -> JSON:
        out: JSON = {"namespace": self.namespace, "name": self.dataset_name(uid)}
        if not facets:
            return out
        node = self.nodes[uid]
        found: JSON = {
            "dataSource": _facet(
                "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
                name=self.namespace,
                uri=self.namespace,
            ),
        }
        fields = _schema_fields(node.get("columns"))
        if fields:
            found["schema"] = _facet(
                "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet", fields=fields
            )
        description = node.get("description")
        if isinstance(description, str) and description.strip():
            found["documentation"] = _facet(
                "1-0-1/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
                description=description,
            )
        out["facets"] = found
        return out

    def inputs(self, uid: str) -> list[str]:
        """The datasets a node reads, looking through ephemeral models (inlined CTEs)."""
        found: list[str] = []
        stack = list(reversed(_parents(self.nodes[uid])))
        visited: set[str] = set()
        while stack:
            parent = stack.pop()
            if parent in visited or parent not in self.nodes:
                continue  # a disabled or foreign node: dbt-ol skips it as well
            visited.add(parent)
            if self.kind(parent) not in LINEAGE_INPUTS:
                continue
            if self.is_ephemeral(self.nodes[parent]):
                stack.extend(reversed(_parents(self.nodes[parent])))
            else:
                found.append(parent)
        return found

    # --- jobs ---------------------------------------------------------------------------

    def job(self, uid: str, suffix: str, job_type: str, *, sql: bool = True) -> JSON:
        node = self.nodes[uid]
        where = f'manifest.nodes["{uid}"]'
        database = node.get("database")
        schema = _require(node, "schema", where)
        # "model.<package>.<name>" -> "<package>.<name>", as dbt-ol names its jobs.
        local = uid.split(".", 1)[1] if "." in uid else uid
        prefix = f"{database}.{schema}" if database else schema
        facets: JSON = {"jobType": _job_type(job_type)}
        query = _sql(node) if sql else None
        if query:
            dialect = {"dialect": self.dialect} if self.dialect else {}
            facets["sql"] = _facet(
                "1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet", query=query, **dialect
            )
        return {
            "namespace": self.job_namespace,
            "name": f"{prefix}.{local}{suffix}",
            "facets": facets,
        }

    def suffix(self, kind: str) -> str:
        build = self.command == "build"
        if kind == "snapshot":
            return ".build.snapshot" if build else ".snapshot"
        if kind == "test":
            return ".build.test" if build else ".test"
        return ".build.run" if build else ""

    # --- events -------------------------------------------------------------------------

    def run_event(
        self,
        event_type: str,
        when: str,
        run: JSON,
        job: JSON,
        inputs: list[JSON],
        outputs: list[JSON],
    ) -> JSON:
        return {
            "eventType": event_type,
            "eventTime": when,
            "producer": PRODUCER,
            "schemaURL": f"{SPEC}RunEvent",
            "run": run,
            "job": job,
            "inputs": inputs,
            "outputs": outputs,
        }

    def static_lineage(self) -> list[JSON]:
        """Without run_results: one JobEvent per table-like model/snapshot (no run)."""
        when = self.fallback_time
        events = []
        for uid in sorted(self.nodes):
            kind = self.kind(uid)
            if kind not in EXECUTED or self.is_ephemeral(self.nodes[uid]):
                continue
            events.append(
                {
                    "eventTime": when,
                    "producer": PRODUCER,
                    "schemaURL": f"{SPEC}JobEvent",
                    "job": self.job(uid, ".snapshot" if kind == "snapshot" else "", kind.upper()),
                    "inputs": [self.dataset(p, facets=True) for p in self.inputs(uid)],
                    "outputs": [self.dataset(uid, facets=True)],
                }
            )
        return events

    def executions(
        self, results: list[tuple[str, JSON]], parent: JSON, invocation: str
    ) -> list[JSON]:
        events: list[JSON] = []
        for path, result in results:
            uid, status = result["unique_id"], result["status"]
            if self.kind(uid) not in EXECUTED or status in NOT_RUN:
                continue
            node = self.node(uid, f"{path}.unique_id")
            if self.is_ephemeral(node):
                continue
            start, end = _timing(result, self.fallback_time)
            run: JSON = {"runId": _run_id(invocation, uid), "facets": {**self.run_facets, **parent}}
            job = self.job(uid, self.suffix(self.kind(uid)), self.kind(uid).upper())
            inputs = self.inputs(uid)
            events.append(
                self.run_event(
                    "START",
                    start,
                    run,
                    {k: v for k, v in job.items() if k != "facets"},
                    [self.dataset(p, facets=False) for p in inputs],
                    [self.dataset(uid, facets=False)],
                )
            )
            full_inputs = [self.dataset(p, facets=True) for p in inputs]
            if status in FAILED:
                failed_run = {**run, "facets": {**run["facets"], "errorMessage": _error(result)}}
                # dbt-ol: a failed model wrote nothing, so its FAIL event has no output.
                events.append(self.run_event("FAIL", end, failed_run, job, full_inputs, []))
                continue
            output = self.dataset(uid, facets=True)
            rows = _rows_affected(result)
            if rows is not None and _materialized(node) not in NOT_A_TABLE:
                output["outputFacets"] = {
                    "outputStatistics": _facet(
                        "1-0-2/OutputStatisticsOutputDatasetFacet.json"
                        "#/$defs/OutputStatisticsOutputDatasetFacet",
                        rowCount=rows,
                    )
                }
            events.append(self.run_event("COMPLETE", end, run, job, full_inputs, [output]))
        return events

    def tests(self, results: list[tuple[str, JSON]], parent: JSON, invocation: str) -> list[JSON]:
        """The tests on each dataset -> one TEST run whose input carries the assertions."""
        groups: dict[str, list[tuple[JSON, JSON]]] = {}
        for path, result in results:
            uid = result["unique_id"]
            if self.kind(uid) != "test" or result["status"] in NOT_RUN:
                continue
            test = self.node(uid, f"{path}.unique_id")
            tested = self._tested(test)
            if tested is not None:  # a test on no dataset has nothing to attach to
                groups.setdefault(tested, []).append((test, result))
        events: list[JSON] = []
        for tested, items in groups.items():
            times = [_timing(result, self.fallback_time) for _, result in items]
            start = min((t[0] for t in times), key=_sort_key)
            end = max((t[1] for t in times), key=_sort_key)
            run: JSON = {
                "runId": _run_id(invocation, f"test/{tested}"),
                "facets": {**self.run_facets, **parent},
            }
            job = self.job(tested, self.suffix("test"), "TEST", sql=False)
            events.append(
                self.run_event(
                    "START",
                    start,
                    run,
                    {k: v for k, v in job.items() if k != "facets"},
                    [self.dataset(tested, facets=False)],
                    [],
                )
            )
            observed = self.dataset(tested, facets=False)
            observed["inputFacets"] = {
                "dataQualityAssertions": _facet(
                    "1-0-1/DataQualityAssertionsDatasetFacet.json"
                    "#/$defs/DataQualityAssertionsDatasetFacet",
                    assertions=[_assertion(test, result) for test, result in items],
                )
            }
            failed = [(test, result) for test, result in items if result["status"] in FAILED]
            if failed:
                lines = [
                    f"{test.get('name')}: {result.get('message') or result['status']}"
                    for test, result in failed
                ]
                message = f"{len(failed)} of {len(items)} tests failed: " + "; ".join(lines)
                run = {**run, "facets": {**run["facets"], "errorMessage": _error_facet(message)}}
            events.append(
                self.run_event("FAIL" if failed else "COMPLETE", end, run, job, [observed], [])
            )
        return events

    def _tested(self, test: JSON) -> str | None:
        attached = test.get("attached_node")  # manifest v10+: the node a generic test is on
        if not isinstance(attached, str) or attached not in self.nodes:
            # Older manifests: the last dataset parent, as dbt-ol picks it.
            parents = [p for p in _parents(test) if self.kind(p) in DATASETS and p in self.nodes]
            attached = parents[-1] if parents else None
        # An ephemeral model is no table, so there is no dataset to hold the results.
        if attached is None or self.is_ephemeral(self.nodes[attached]):
            return None
        return attached


def _parents(node: JSON) -> list[str]:
    depends = node.get("depends_on")
    parents = depends.get("nodes") if isinstance(depends, dict) else None
    return [p for p in parents or [] if isinstance(p, str)]


def _schema_fields(columns: Any) -> list[JSON]:
    if not isinstance(columns, dict):
        return []
    fields = []
    for key, column in columns.items():
        column = column if isinstance(column, dict) else {}
        field: JSON = {"name": column.get("name") or key}
        if isinstance(column.get("data_type"), str) and column["data_type"]:
            field["type"] = column["data_type"]
        if isinstance(column.get("description"), str) and column["description"]:
            field["description"] = column["description"]
        fields.append(field)
    return fields


def _sql(node: JSON) -> str | None:
    # compiled_code from manifest v7 (dbt 1.3), compiled_sql before; raw when not compiled.
    for key in ("compiled_code", "compiled_sql", "raw_code", "raw_sql"):
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _materialized(node: JSON) -> str | None:
    config = node.get("config")
    value = config.get("materialized") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def _timing(result: JSON, fallback: str) -> tuple[str, str]:
    """The execute step's (start, end); another step's when absent; else the fallback."""
    steps = [s for s in result.get("timing") or [] if isinstance(s, dict)]
    steps.sort(key=lambda s: s.get("name") != "execute")
    for step in steps:
        start, end = step.get("started_at"), step.get("completed_at")
        if isinstance(start, str) and isinstance(end, str):
            return start, end
    return fallback, fallback


def _sort_key(when: str) -> int:
    # A malformed time sorts first; parse_event then rejects its event with the reason.
    try:
        return parse_micros(when)
    except ValueError:
        return 0


def _rows_affected(result: JSON) -> int | None:
    response = result.get("adapter_response")
    rows = response.get("rows_affected") if isinstance(response, dict) else None
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        return None
    return rows


def _error(result: JSON) -> JSON:
    message = result.get("message")
    text = message if isinstance(message, str) and message else f"dbt status {result['status']}"
    return _error_facet(text)


def _assertion(test: JSON, result: JSON) -> JSON:
    meta = test.get("test_metadata")
    meta = meta if isinstance(meta, dict) else {}
    kwargs = meta.get("kwargs")
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    # Singular (SQL file) tests have no test_metadata: their own name says what they check.
    out: JSON = {
        "assertion": meta.get("name") or test.get("name") or test.get("unique_id"),
        "success": result["status"] == "pass",
    }
    column = kwargs.get("column_name") or test.get("column_name")
    if isinstance(column, str) and column:
        out["column"] = column
    return out


def _run_id(invocation: str, key: str) -> str:
    return str(uuid.uuid5(_RUN_IDS, f"{invocation}/{key}"))


def _results(run_results: Any) -> list[tuple[str, JSON]]:
    _schema_version(run_results, "run_results")
    items = _require(run_results, "results", "run_results", list)
    out = []
    for i, result in enumerate(items):
        path = f"run_results.results[{i}]"
        if not isinstance(result, dict):
            raise InputError("expected an object", path)
        _require(result, "unique_id", path)
        status = _require(result, "status", path)
        if status not in SUCCEEDED | FAILED | NOT_RUN:
            known = ", ".join(sorted(SUCCEEDED | FAILED | NOT_RUN))
            raise InputError(f"unknown status {status!r} (known: {known})", f"{path}.status")
        out.append((path, result))
    return out


def _project(tr: _Translator, results: list[tuple[str, JSON]]) -> str:
    name = tr.meta.get("project_name")  # manifest v10+
    if isinstance(name, str) and name:
        return name
    for _, result in results:
        package = tr.nodes.get(result["unique_id"], {}).get("package_name")
        if isinstance(package, str) and package:
            return package
    return "project"


def dbt_to_openlineage(
    manifest: Any,
    run_results: Any | None,
    *,
    namespace: str | None,
    job_namespace: str,
    now_us: int | None = None,
) -> list[JSON]:
    """Translate dbt artifacts (decoded JSON) into OpenLineage event dicts (spec 2-0-2).

    With run_results: RunEvents for what ran, one parent run for the invocation (job
    ``dbt-run-<project>``) and the TEST runs. Without: JobEvents carrying static lineage.
    Raises InputError (``field`` starts with ``manifest`` or ``run_results``) on bad input.
    """
    tr = _Translator(manifest, namespace, job_namespace)
    now = iso(now_us if now_us is not None else now_micros())
    assert now is not None
    generated = tr.meta.get("generated_at")
    tr.fallback_time = generated if isinstance(generated, str) and generated else now
    if run_results is None:
        return tr.static_lineage()

    results = _results(run_results)
    meta: JSON = run_results["metadata"]
    args = run_results.get("args")
    command = args.get("which") if isinstance(args, dict) else None
    tr.command = command if isinstance(command, str) else "run"
    if tr.command not in EXEC_COMMANDS | TEST_COMMANDS:
        raise InputError(
            f"run_results of `dbt {tr.command}` record no model runs or tests "
            "(expected run, build, test, seed, snapshot or retry); ingest the manifest alone "
            "for lineage",
            "run_results.args.which",
        )
    if isinstance(meta.get("generated_at"), str) and meta["generated_at"]:
        tr.fallback_time = meta["generated_at"]
    invocation = meta.get("invocation_id")
    if not isinstance(invocation, str) or not invocation:
        # Stable across re-ingestion of the same file, which is all the run ids need.
        invocation = hashlib.sha256(
            orjson.dumps(run_results["results"], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
    dbt_version = meta.get("dbt_version") or tr.meta.get("dbt_version")
    tr.run_facets = {
        "dbt_run": {
            "_producer": PRODUCER,
            "_schemaURL": f"{PRODUCER}/dbt-run-run-facet.json",
            "invocation_id": invocation,
        },
    }
    if isinstance(dbt_version, str):
        tr.run_facets["dbt_version"] = {
            "_producer": PRODUCER,
            "_schemaURL": f"{PRODUCER}/dbt-version-run-facet.json",
            "version": dbt_version,
        }
        tr.run_facets["processing_engine"] = _facet(
            "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
            name="dbt",
            version=dbt_version,
        )
    parent_job = {"namespace": job_namespace, "name": f"dbt-run-{_project(tr, results)}"}
    parent_id = _run_id(invocation, "invocation")
    parent = {
        "parent": _facet(
            "1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet",
            run={"runId": parent_id},
            job=parent_job,
        )
    }

    children: list[JSON] = []
    if tr.command in EXEC_COMMANDS:
        children += tr.executions(results, parent, invocation)
    if tr.command in TEST_COMMANDS:
        children += tr.tests(results, parent, invocation)
    if not children:
        return []
    failed = sorted({ev["job"]["name"] for ev in children if ev["eventType"] == "FAIL"})
    run: JSON = {"runId": parent_id, "facets": dict(tr.run_facets)}
    end_run = run
    if failed:
        message = f"{len(failed)} dbt job(s) failed: {', '.join(failed)}"
        end_run = {**run, "facets": {**run["facets"], "errorMessage": _error_facet(message)}}
    job = {**parent_job, "facets": {"jobType": _job_type("JOB")}}
    first = min((ev["eventTime"] for ev in children), key=_sort_key)
    last = max((ev["eventTime"] for ev in children), key=_sort_key)
    return [
        tr.run_event("START", first, run, parent_job, [], []),
        *children,
        tr.run_event("FAIL" if failed else "COMPLETE", last, end_run, job, [], []),
    ]
