"""OpenLineage RunEvents (spec 2-0-2) for simulated runs.

START carries the job's facets (type, sql, ownership) and the run's schedule; COMPLETE
carries what the run wrote (schema, row count, column quality, column lineage) and, for
sources it read, what it saw of them; FAIL carries the errorMessage. Static facets are
built once per node and shared between events; orjson writes shared dicts as often as
they occur.
"""

from __future__ import annotations

from typing import Any

from tools.simulate import rand
from tools.simulate.behaviour import Observation, RunRecord
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.values import BYTES_PER_ROW
from tools.timeutil import iso

PRODUCER = "https://github.com/flowsleuth/flowsleuth/tree/main/tools/simulate"
EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets/"
FACET_SCHEMAS = {
    "nominalTime": "1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
    "errorMessage": "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "processing_engine": "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    "parent": "1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "jobType": "2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "sql": "1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
    "ownership": "1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
    "schema": "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "dataQualityMetrics": (
        "1-0-1/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"),
    "inputDataQualityMetrics": (
        "1-0-3/DataQualityMetricsInputDatasetFacet.json"
        "#/$defs/DataQualityMetricsInputDatasetFacet"),
    "outputStatistics": (
        "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"),
    "columnLineage": "1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
}
_ENGINES = {
    "dbt": ("dbt", "1.8.7", "SQL", "MODEL"),
    "airflow": ("Airflow", "2.10.3", "PYTHON", "TASK"),
    "hightouch": ("Hightouch", "2024.11", "SQL", "SYNC"),
    "segment": ("Segment", "2024.11", "SQL", "AUDIENCE"),
}


def facet(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A facet with the BaseFacet fields every OpenLineage facet must carry."""
    return {"_producer": PRODUCER, "_schemaURL": _FACETS + FACET_SCHEMAS[kind], **fields}


class LineageEmitter:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self._job_ref = [{"namespace": j.namespace, "name": j.name} for j in topo.jobs]
        self._job_facets_of = [self._job_facets(j) for j in topo.jobs]
        self._engine = [self._engine_facet(j) for j in topo.jobs]
        self._ds_ref = [{"namespace": d.namespace, "name": d.name} for d in topo.datasets]
        self._lineage = [self._lineage_facet(d) for d in topo.datasets]
        self._schemas: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        self._sql: dict[str, dict[str, Any]] = {}
        self._dag_keys = [rand.key_of(topo.seed, f"dag|{u.index}") for u in topo.units]

    def events(self, run: RunRecord) -> list[tuple[int, dict[str, Any]]]:
        """(event time in microseconds, event) for START and the terminal event."""
        job = run.job
        nominal = facet("nominalTime", nominalStartTime=iso(run.nominal_us),
                        nominalEndTime=iso(run.nominal_us + job.schedule.period_h * 3_600_000_000))
        run_facets: dict[str, Any] = {"nominalTime": nominal, **self._engine[job.idx]}
        if job.schedule.period_h == 24 and job.engine in ("dbt", "airflow"):
            run_facets["parent"] = self._parent(job, run)
        # Job facets (type, owner, sql) travel on START; the terminal event names the job.
        job_ref = self._job_ref[job.idx]
        job_facets = {**self._job_facets_of[job.idx]}
        if run.sql:
            job_facets["sql"] = self._sql_facet(run.sql)
        start_job = {**job_ref, "facets": job_facets}
        inputs = [self._ds_ref[i] for i in job.inputs]
        outputs = [self._ds_ref[o] for o in job.outputs]
        start = self._event("START", run.start_us, run, run_facets, start_job, inputs, outputs)
        end_facets: dict[str, Any] = {"nominalTime": nominal}
        if run.state == "FAIL":
            end_facets["errorMessage"] = facet(
                "errorMessage", message=run.error or "failed",
                programmingLanguage=_ENGINES.get(job.engine, ("", "", "SQL", ""))[2],
                stackTrace=f"Traceback (most recent call last):\n  task {job.name}\n"
                           f"RunError: {(run.error or 'failed').splitlines()[0]}")
            end = self._event("FAIL", run.end_us, run, end_facets, job_ref, inputs, outputs)
        else:
            sources = {o.ds.idx: o for o in run.inputs}
            full_inputs = [self._input(sources[i]) if i in sources else self._ds_ref[i]
                           for i in job.inputs]
            # Streaming jobs restate column lineage once a day, not every hour.
            lineage = not job.streaming or self.clock_hod(run) == 0
            end = self._event("COMPLETE", run.end_us, run, end_facets, job_ref, full_inputs,
                              [self._output(o, lineage) for o in run.outputs])
        return [(run.start_us, start), (run.end_us, end)]

    def _event(self, etype: str, t: int, run: RunRecord, run_facets: dict[str, Any],
               job_obj: dict[str, Any], inputs: list[dict[str, Any]],
               outputs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "eventType": etype,
            "eventTime": iso(t),
            "producer": PRODUCER,
            "schemaURL": EVENT_SCHEMA,
            "run": {"runId": run.run_id, "facets": run_facets},
            "job": job_obj,
            "inputs": inputs,
            "outputs": outputs,
        }

    # -- facets ----------------------------------------------------------------------------

    def _job_facets(self, job: Job) -> dict[str, Any]:
        name, _version, _lang, jtype = _ENGINES.get(job.engine, (job.engine, "", "", "DELIVERY"))
        return {
            "jobType": facet("jobType", processingType="STREAMING" if job.streaming
                             else "BATCH", integration=name.upper(), jobType=jtype),
            "ownership": facet("ownership", owners=[{"name": f"team:{job.owner}",
                                                     "type": "TEAM"}]),
        }

    def clock_hod(self, run: RunRecord) -> int:
        return (run.nominal_us // 3_600_000_000) % 24

    def _engine_facet(self, job: Job) -> dict[str, Any]:
        if job.engine not in _ENGINES:
            return {}
        name, version, _lang, _type = _ENGINES[job.engine]
        return {"processing_engine": facet("processing_engine", name=name, version=version,
                                           openlineageAdapterVersion="1.24.2")}

    def _parent(self, job: Job, run: RunRecord) -> dict[str, Any]:
        """Daily warehouse jobs run inside one orchestrator DAG run per unit and day."""
        unit = self.topo.units[job.unit]
        dag = "acme_daily" if job.unit == 0 else f"acme_daily_{unit.brand}_{unit.region}"
        day_start_ms = run.nominal_us // 86_400_000_000 * 86_400_000
        run_id = rand.uuid7(self._dag_keys[job.unit], day_start_ms, 0, day_start_ms)
        return facet("parent", run={"runId": run_id},
                     job={"namespace": "airflow://acme", "name": dag})

    def _sql_facet(self, sql: str) -> dict[str, Any]:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = facet("sql", query=sql, dialect="snowflake")
        return found

    def _schema(self, fields: list[tuple[str, str]]) -> dict[str, Any]:
        key = tuple(fields)
        found = self._schemas.get(key)
        if found is None:
            found = self._schemas[key] = facet(
                "schema", fields=[{"name": n, "type": t} for n, t in fields])
        return found

    def _lineage_facet(self, ds: Dataset) -> dict[str, Any] | None:
        if not ds.lineage:
            return None
        fields = {}
        for col, sources in ds.lineage.items():
            direct = len(sources) == 1
            fields[col] = {"inputFields": [
                {"namespace": self.topo.datasets[s].namespace, "name": self.topo.datasets[s].name,
                 "field": scol, "transformations": [
                     {"type": "DIRECT", "subtype": "IDENTITY" if direct else "AGGREGATION"}]}
                for s, scol in sources]}
        return facet("columnLineage", fields=fields)

    def _metrics(self, obs: Observation) -> dict[str, Any]:
        columns: dict[str, dict[str, int]] = {c: {"nullCount": n}
                                              for c, n in obs.null_counts.items()}
        if obs.key is not None and obs.distinct is not None:
            columns[obs.key] = {"nullCount": 0, "distinctCount": obs.distinct}
        return {"rowCount": obs.rows, "columnMetrics": columns}

    def _input(self, obs: Observation) -> dict[str, Any]:
        return {
            **self._ds_ref[obs.ds.idx],
            "facets": {"schema": self._schema(obs.fields)},
            "inputFacets": {"dataQualityMetrics": facet("inputDataQualityMetrics",
                                                        **self._metrics(obs))},
        }

    def _output(self, obs: Observation, with_lineage: bool) -> dict[str, Any]:
        facets: dict[str, Any] = {
            "schema": self._schema(obs.fields),
            "dataQualityMetrics": facet("dataQualityMetrics", **self._metrics(obs)),
        }
        lineage = self._lineage[obs.ds.idx]
        if lineage is not None and with_lineage:
            facets["columnLineage"] = lineage
        size = obs.rows * BYTES_PER_ROW[obs.ds.kind]
        return {
            **self._ds_ref[obs.ds.idx],
            "facets": facets,
            "outputFacets": {"outputStatistics": facet("outputStatistics", rowCount=obs.rows,
                                                       size=size)},
        }
