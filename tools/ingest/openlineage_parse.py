"""Validation of OpenLineage events (spec 2-0-2) and extraction of what the store keeps.

Validation is written by hand rather than through the JSON schema: it runs at thousands of
events per second, accepts what Marquez accepts (a missing ``schemaURL``, an
``eventTime`` without a zone), and names the exact field that is wrong.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from tools.ingest.result import InputError
from tools.nodes import NodeRef
from tools.timeutil import FUTURE_TOLERANCE_US, parse_micros

EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})
TERMINAL = frozenset({"COMPLETE", "ABORT", "FAIL"})


@dataclass(slots=True)
class DatasetObservation:
    """One dataset as an event saw it: schema, volume, quality, column lineage."""

    ref: NodeRef
    role: str  # input | output | dataset
    facets: dict[str, Any]
    schema_fields: list[Any] | None = None
    row_count: float | None = None
    byte_count: float | None = None
    column_metrics: dict[str, Any] | None = None
    assertions: list[Any] | None = None
    column_lineage: list[tuple[str, NodeRef, str, str | None]] = field(default_factory=list)

    @property
    def has_version(self) -> bool:
        return any(
            v is not None
            for v in (
                self.schema_fields,
                self.row_count,
                self.byte_count,
                self.column_metrics,
                self.assertions,
            )
        )


@dataclass(slots=True)
class ParsedEvent:
    kind: str  # run | dataset | job
    event_hash: str
    payload: bytes
    event_time: int
    event_type: str | None = None
    run_uuid: str | None = None
    job: NodeRef | None = None
    job_facets: dict[str, Any] = field(default_factory=dict)
    run_facets: dict[str, Any] = field(default_factory=dict)
    datasets: list[DatasetObservation] = field(default_factory=list)
    nominal_start: int | None = None
    nominal_end: int | None = None
    parent_run_uuid: str | None = None
    parent_job: str | None = None
    error_message: str | None = None
    stack_trace: str | None = None


def _obj(value: Any, path: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if value is None:
        raise InputError("is required", path)
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {_type_name(value)}", path)
    return value


def _str(value: Any, path: str, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise InputError("is required", path)
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {_type_name(value)}", path)
    if required and not value.strip():
        raise InputError("must not be empty", path)
    return value


def _number(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"expected a number, got {_type_name(value)}", path)
    if not math.isfinite(value) or value < 0:
        raise InputError(f"expected a finite non-negative number, got {value}", path)
    return float(value)


def _time(value: Any, path: str, now_us: int, *, required: bool = True) -> int | None:
    text = _str(value, path, required=required)
    if text is None:
        return None
    try:
        micros = parse_micros(text)
    except ValueError as exc:
        raise InputError(str(exc), path) from None
    if micros > now_us + FUTURE_TOLERANCE_US:
        raise InputError(f"{text} is more than 24h in the future", path)
    return micros


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _node(value: Any, path: str, node_type: str) -> NodeRef:
    obj = _obj(value, path)
    namespace = _str(obj.get("namespace"), f"{path}.namespace")
    name = _str(obj.get("name"), f"{path}.name")
    assert namespace is not None and name is not None
    return NodeRef(node_type, namespace, name)


def canonical_hash(obj: Any) -> tuple[bytes, str]:
    payload = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return payload, hashlib.sha256(payload).hexdigest()


def parse_event(obj: Any, now_us: int) -> ParsedEvent:
    """Validate one decoded event; raise InputError naming the first bad field."""
    event = _obj(obj, "event")
    if "run" in event:
        kind = "run"
    elif "dataset" in event:
        kind = "dataset"
    elif "job" in event:
        kind = "job"
    else:
        keys = ", ".join(sorted(event)[:8]) or "none"
        raise InputError(
            "not an OpenLineage event: expected 'run' and 'job' (RunEvent), "
            f"'dataset' (DatasetEvent) or 'job' (JobEvent); top-level keys: {keys}",
            "event",
        )
    event_time = _time(event.get("eventTime"), "eventTime", now_us)
    assert event_time is not None
    _str(event.get("producer"), "producer")
    _str(event.get("schemaURL"), "schemaURL", required=False)
    payload, digest = canonical_hash(event)
    parsed = ParsedEvent(kind=kind, event_hash=digest, payload=payload, event_time=event_time)

    if kind == "dataset":
        ds = _obj(event.get("dataset"), "dataset")
        parsed.datasets.append(_dataset(ds, "dataset", "dataset", now_us))
        return parsed

    parsed.job = _node(event.get("job"), "job", "job")
    parsed.job_facets = _obj(event["job"].get("facets"), "job.facets", required=False)
    if kind == "run":
        run = _obj(event.get("run"), "run")
        run_id = _str(run.get("runId"), "run.runId")
        assert run_id is not None
        try:
            parsed.run_uuid = str(uuid.UUID(run_id))
        except ValueError:
            raise InputError(f"{run_id!r} is not a UUID", "run.runId") from None
        event_type = _str(event.get("eventType"), "eventType", required=False)
        if event_type is not None and event_type not in EVENT_TYPES:
            raise InputError(
                f"{event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}", "eventType"
            )
        parsed.event_type = event_type
        parsed.run_facets = _obj(run.get("facets"), "run.facets", required=False)
        _run_facets(parsed, now_us)
    for key in ("inputs", "outputs"):
        items = event.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InputError(f"expected an array, got {_type_name(items)}", key)
        for i, item in enumerate(items):
            parsed.datasets.append(_dataset(item, f"{key}[{i}]", key[:-1], now_us))
    return parsed


def _run_facets(parsed: ParsedEvent, now_us: int) -> None:
    facets = parsed.run_facets
    nominal = facets.get("nominalTime")
    if nominal is not None:
        nominal = _obj(nominal, "run.facets.nominalTime")
        parsed.nominal_start = _time(
            nominal.get("nominalStartTime"), "run.facets.nominalTime.nominalStartTime", now_us
        )
        parsed.nominal_end = _time(
            nominal.get("nominalEndTime"),
            "run.facets.nominalTime.nominalEndTime",
            now_us,
            required=False,
        )
    parent = facets.get("parent")
    if parent is not None:
        parent = _obj(parent, "run.facets.parent")
        prun = _obj(parent.get("run"), "run.facets.parent.run", required=False)
        parsed.parent_run_uuid = _str(
            prun.get("runId"), "run.facets.parent.run.runId", required=False
        )
        if "job" in parent:
            parsed.parent_job = str(_node(parent["job"], "run.facets.parent.job", "job"))
    error = facets.get("errorMessage")
    if error is not None:
        error = _obj(error, "run.facets.errorMessage")
        parsed.error_message = _str(
            error.get("message"), "run.facets.errorMessage.message", required=False
        )
        parsed.stack_trace = _str(
            error.get("stackTrace"), "run.facets.errorMessage.stackTrace", required=False
        )


def _dataset(value: Any, path: str, role: str, now_us: int) -> DatasetObservation:
    ref = _node(value, path, "dataset")
    facets = _obj(value.get("facets"), f"{path}.facets", required=False)
    obs = DatasetObservation(ref=ref, role=role, facets=facets)
    schema = facets.get("schema")
    if schema is not None:
        fields = _obj(schema, f"{path}.facets.schema").get("fields")
        if not isinstance(fields, list):
            raise InputError("expected an array", f"{path}.facets.schema.fields")
        for i, fld in enumerate(fields):
            _str(
                _obj(fld, f"{path}.facets.schema.fields[{i}]").get("name"),
                f"{path}.facets.schema.fields[{i}].name",
            )
        obs.schema_fields = fields
    _quality(obs, facets.get("dataQualityMetrics"), f"{path}.facets.dataQualityMetrics")
    for facet_key in ("inputFacets", "outputFacets"):
        extra = _obj(value.get(facet_key), f"{path}.{facet_key}", required=False)
        if not extra:
            continue
        stats = extra.get("outputStatistics")
        if stats is not None:
            stats = _obj(stats, f"{path}.{facet_key}.outputStatistics")
            obs.row_count = _number(
                stats.get("rowCount"), f"{path}.{facet_key}.outputStatistics.rowCount"
            )
            obs.byte_count = _number(stats.get("size"), f"{path}.{facet_key}.outputStatistics.size")
        _quality(obs, extra.get("dataQualityMetrics"), f"{path}.{facet_key}.dataQualityMetrics")
        assertions = extra.get("dataQualityAssertions")
        if assertions is not None:
            items = _obj(assertions, f"{path}.{facet_key}.dataQualityAssertions").get("assertions")
            if not isinstance(items, list):
                raise InputError(
                    "expected an array", f"{path}.{facet_key}.dataQualityAssertions.assertions"
                )
            obs.assertions = items
    lineage = facets.get("columnLineage")
    if lineage is not None:
        lin_fields = _obj(lineage, f"{path}.facets.columnLineage").get("fields")
        lin_fields = _obj(lin_fields, f"{path}.facets.columnLineage.fields")
        for column, spec in lin_fields.items():
            cpath = f"{path}.facets.columnLineage.fields.{column}"
            inputs = _obj(spec, cpath).get("inputFields")
            if not isinstance(inputs, list):
                raise InputError("expected an array", f"{cpath}.inputFields")
            for j, src in enumerate(inputs):
                src_ref = _node(src, f"{cpath}.inputFields[{j}]", "dataset")
                src_col = _str(src.get("field"), f"{cpath}.inputFields[{j}].field")
                assert src_col is not None
                trans = src.get("transformations")
                kind = None
                if isinstance(trans, list) and trans and isinstance(trans[0], dict):
                    kind = "/".join(
                        str(trans[0].get(k)) for k in ("type", "subtype") if trans[0].get(k)
                    )
                elif isinstance(spec.get("transformationType"), str):
                    kind = spec["transformationType"]
                obs.column_lineage.append((column, src_ref, src_col, kind))
    return obs


def _quality(obs: DatasetObservation, facet: Any, path: str) -> None:
    if facet is None:
        return
    facet = _obj(facet, path)
    rows = _number(facet.get("rowCount"), f"{path}.rowCount")
    if rows is not None and obs.row_count is None:
        obs.row_count = rows
    size = _number(facet.get("bytes"), f"{path}.bytes")
    if size is not None and obs.byte_count is None:
        obs.byte_count = size
    columns = facet.get("columnMetrics")
    if columns is None:
        return
    columns = _obj(columns, f"{path}.columnMetrics")
    for column, metrics in columns.items():
        metrics = _obj(metrics, f"{path}.columnMetrics.{column}")
        for key in ("nullCount", "distinctCount", "count", "sum", "min", "max"):
            if key in metrics and metrics[key] is not None:
                value = metrics[key]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                ):
                    raise InputError(
                        f"expected a finite number, got {value!r}",
                        f"{path}.columnMetrics.{column}.{key}",
                    )
    obs.column_metrics = {**(obs.column_metrics or {}), **columns}
