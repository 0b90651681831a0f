"""OTLP metrics -> metric series and points (TELEMETRY.md section 3).

Gauge and Sum points are stored as they are. A Histogram point becomes ``<name>.count``,
``<name>.sum`` and p50/p95/p99 estimated from its explicit buckets, stored under the
metric name with an added ``quantile`` attribute; a Summary point gives the same from its
own quantiles; an ExponentialHistogram gives count and sum.

This is the bulk path (OTLP/JSON files of hundreds of thousands of points), so the
per-point loop does as little as it can: attributes are parsed once per distinct attribute
list (keyed by its serialised bytes), points are appended to per-series column lists, and
they are written with a few big executemany statements.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import orjson
from sqlalchemy import Connection, select, tuple_

from tools.ingest.otlp_decode import (
    NAME_ATTR,
    NS_ATTR,
    SHAPES,
    as_dict,
    as_list,
    attributes,
    get,
    walk,
)
from tools.ingest.otlp_histograms import (
    Derived,
    exponential_values,
    histogram_values,
    summary_values,
)
from tools.ingest.otlp_rejects import Rejects
from tools.ingest.otlp_write import insert_tuples_counting
from tools.ingest.result import InputError
from tools.nodes import NodeRef
from tools.redact import redact_value
from tools.store.db import Store
from tools.store.models import MetricPoint, MetricSeries
from tools.store.writes import chunks, insert_ignore, resolve_nodes, widen
from tools.timeutil import FUTURE_TOLERANCE_US, iso

POINT_COLUMNS = ("series_id", "ts", "value")

SHAPE = SHAPES["metrics"]
# OTLP/JSON key (camelCase, snake_case) -> series kind.
DATA_KINDS = (
    ("gauge", "gauge", "gauge"),
    ("sum", "sum", "sum"),
    ("histogram", "histogram", "histogram"),
    ("exponentialHistogram", "exponential_histogram", "histogram"),
    ("summary", "summary", "summary"),
)
FLAG_NO_RECORDED_VALUE = 1
# Column sizes of metric_series (PostgreSQL enforces them); names leave room for ".count".
MAX_NAME, MAX_UNIT = 240, 64


def attr_hash(attrs: dict[str, Any]) -> str:
    """The series identity of an attribute set: sha256 of its canonical sorted JSON."""
    return hashlib.sha256(orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(slots=True)
class Series:
    """Points of one series in a batch, as two column lists (cheap to append to)."""

    ref: NodeRef | None
    name: str
    kind: str
    unit: str | None
    attrs: dict[str, Any]
    attr_hash: str
    # The series whose points stand for the OTLP data points (counted as accepted or
    # duplicate): the value itself, or a histogram's / summary's count.
    primary: bool
    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


# Parsed point attributes: (series attributes, their hash, point namespace, point name).
AttrInfo = tuple[dict[str, Any], str, str | None, str | None]


@dataclass(slots=True)
class MetricBatch:
    series: dict[tuple[NodeRef | None, str, str], Series] = field(default_factory=dict)
    rejects: Rejects = field(default_factory=lambda: Rejects(SHAPE))
    size: int = 0
    new_series_ids: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def merge(self, other: MetricBatch) -> None:
        for key, s in other.series.items():
            mine = self.series.get(key)
            if mine is None:
                self.series[key] = s
            else:
                mine.ts.extend(s.ts)
                mine.values.extend(s.values)
        self.rejects.extend(other.rejects)
        self.size += other.size

    def write(self, conn: Connection, store: Store) -> tuple[int, int]:
        """Store the batch's points; returns (accepted, duplicates) in OTLP data points."""
        seen: dict[NodeRef, int] = {}
        for s in self.series.values():
            if s.ref is not None and s.ts:
                widen(seen, s.ref, max(s.ts))
        node_ids = resolve_nodes(conn, store, seen) if seen else {}
        ids = self._series_ids(conn, store, node_ids)
        primary: list[tuple[int, int, float]] = []
        derived: list[tuple[int, int, float]] = []
        for key, s in self.series.items():
            rows = primary if s.primary else derived
            rows.extend(zip(repeat(ids[key], len(s.ts)), s.ts, s.values, strict=True))
        table = MetricPoint.__table__
        inserted = insert_tuples_counting(conn, table, POINT_COLUMNS, primary)  # type: ignore[arg-type]
        insert_tuples_counting(conn, table, POINT_COLUMNS, derived)  # type: ignore[arg-type]
        return inserted, len(primary) - inserted

    def after_commit(self, store: Store) -> None:
        # Only committed ids are cached: a rolled-back series id must not outlive it.
        store.series_ids.update(self.new_series_ids)
        self.new_series_ids.clear()

    def _series_ids(
        self, conn: Connection, store: Store, node_ids: dict[NodeRef, int]
    ) -> dict[tuple[NodeRef | None, str, str], int]:
        out: dict[tuple[NodeRef | None, str, str], int] = {}
        missing: dict[tuple[int, str, str], Series] = {}
        for key, s in self.series.items():
            node_key = node_ids[s.ref] if s.ref is not None else 0
            skey = (node_key, s.name, s.attr_hash)
            sid = store.series_ids.get(skey) or self.new_series_ids.get(skey)
            if sid is None:
                missing[skey] = s
            else:
                out[key] = sid
        if missing:
            insert_ignore(
                conn,
                MetricSeries.__table__,  # type: ignore[arg-type]
                [
                    {
                        "node_key": nk,
                        "node_id": nk or None,
                        "name": name,
                        "unit": s.unit,
                        "kind": s.kind,
                        "attr_hash": h,
                        "attributes": s.attrs,
                    }
                    for (nk, name, h), s in missing.items()
                ],
            )
            cols = (MetricSeries.node_key, MetricSeries.name, MetricSeries.attr_hash)
            for part in chunks(list(missing)):
                for sid, nk, name, h in conn.execute(
                    select(MetricSeries.id, *cols).where(tuple_(*cols).in_(part))
                ):
                    self.new_series_ids[(nk, name, h)] = sid
            for skey, s in missing.items():
                out[(s.ref, s.name, s.attr_hash)] = self.new_series_ids[skey]
        return out


@dataclass(slots=True)
class _Resource:
    """One resource's asset and the series its points have gone to so far."""

    namespace: str | None
    name: str | None
    series: dict[tuple[Any, ...], Series] = field(default_factory=dict)


def _asset_part(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class MetricsParser:
    """Turns OTLP metrics requests into MetricBatches, rejecting bad points one by one."""

    def __init__(self, now_us: int) -> None:
        self.limit = now_us + FUTURE_TOLERANCE_US
        self._attrs: dict[bytes, AttrInfo] = {}

    def parse(self, request: dict[str, Any]) -> MetricBatch:
        """One Export*ServiceRequest; raises InputError when its structure is broken."""
        batch = MetricBatch()
        resources: dict[int, _Resource] = {}
        for resource, scope, metrics, path in walk(SHAPE, request):
            res = resources.get(id(resource))
            if res is None:
                rattrs = attributes(resource.get("attributes"))
                res = resources[id(resource)] = _Resource(
                    _asset_part(rattrs.get(NS_ATTR)), _asset_part(rattrs.get(NAME_ATTR))
                )
            for mi, metric in enumerate(metrics):
                self._metric(
                    batch, res, resource, scope, as_dict(metric, f"{path}[{mi}]"), f"{path}[{mi}]"
                )
        return batch

    def _metric(
        self,
        batch: MetricBatch,
        res: _Resource,
        resource: dict[str, Any],
        scope: dict[str, Any],
        metric: dict[str, Any],
        path: str,
    ) -> None:
        name = metric.get("name")
        if not isinstance(name, str) or not name:
            batch.rejects.add("metric has no name", path, resource, scope, metric)
            return
        if len(name) > MAX_NAME:
            reason = f"metric name {name[:40]!r}... is longer than {MAX_NAME} characters"
            batch.rejects.add(reason, path, resource, scope, metric)
            return
        unit = str(metric.get("unit") or "")[:MAX_UNIT] or None
        for camel, snake, kind in DATA_KINDS:
            key = camel if camel in metric else snake if snake in metric else None
            if key is None:
                continue
            data = as_dict(metric[key], f"{path}.{key}")
            ppath = f"{path}.{key}.dataPoints"
            points = as_list(get(data, "dataPoints", "data_points"), ppath)
            ctx = _Ctx(self, batch, res, resource, scope, metric, key, ppath, name, unit, kind)
            if camel in ("gauge", "sum"):
                ctx.numbers(points)
            elif camel == "histogram":
                ctx.derived(points, histogram_values)
            elif camel == "summary":
                ctx.derived(points, summary_values)
            else:
                ctx.derived(points, exponential_values)
            return
        known = ", ".join(c for c, _, _ in DATA_KINDS)
        batch.rejects.add(
            f"metric {name!r} has no recognised data field (expected one of {known})",
            path,
            resource,
            scope,
            metric,
        )

    def attr_info(self, raw: Any) -> AttrInfo:
        """Point attributes (as sent) -> series attributes, hash and point-level asset."""
        key = orjson.dumps(raw) if raw else b""
        info = self._attrs.get(key)
        if info is None:
            attrs = attributes(raw)
            ns = _asset_part(attrs.pop(NS_ATTR, None))
            nm = _asset_part(attrs.pop(NAME_ATTR, None))
            attrs = redact_value(attrs)
            info = self._attrs[key] = (attrs, attr_hash(attrs), ns, nm)
        return info


class _Ctx:
    """Everything the points of one metric share, so the point loops stay tight."""

    __slots__ = (
        "batch",
        "data_key",
        "kind",
        "metric",
        "name",
        "parser",
        "path",
        "res",
        "resource",
        "scope",
        "unit",
    )

    def __init__(
        self,
        parser: MetricsParser,
        batch: MetricBatch,
        res: _Resource,
        resource: dict[str, Any],
        scope: dict[str, Any],
        metric: dict[str, Any],
        data_key: str,
        path: str,
        name: str,
        unit: str | None,
        kind: str,
    ) -> None:
        self.parser, self.batch, self.res = parser, batch, res
        self.resource, self.scope, self.metric = resource, scope, metric
        self.data_key, self.path, self.name, self.unit, self.kind = data_key, path, name, unit, kind

    def reject(self, reason: str, i: int, point: Any) -> None:
        self.batch.rejects.add_point(
            f"metric {self.name!r}: {reason}",
            f"{self.path}[{i}]",
            self.resource,
            self.scope,
            self.metric,
            self.data_key,
            point,
        )

    def series(
        self, raw: Any, suffix: str = "", quantile: str | None = None, primary: bool = True
    ) -> Series:
        """The batch's series for this metric (+ suffix) and these point attributes."""
        key = (self.name, suffix, quantile, orjson.dumps(raw) if raw else b"")
        s = self.res.series.get(key)
        if s is not None:
            return s
        attrs, h, ns, nm = self.parser.attr_info(raw)
        if quantile is not None:
            attrs = {**attrs, "quantile": quantile}
            h = attr_hash(attrs)
        ns = ns or self.res.namespace
        nm = nm or self.res.name
        ref = NodeRef.dataset(ns, nm) if ns and nm else None
        name = self.name + suffix
        skey = (ref, name, h)
        s = self.batch.series.get(skey)
        if s is None:
            unit = "1" if suffix == ".count" else self.unit
            s = self.batch.series[skey] = Series(ref, name, self.kind, unit, attrs, h, primary)
        self.res.series[key] = s
        return s

    def numbers(self, points: list[Any]) -> None:
        """Gauge / Sum points: the hot loop of the bulk path."""
        limit = self.parser.limit
        cache = self.res.series
        name = self.name
        isfinite = math.isfinite
        dumps = orjson.dumps
        n = 0
        for i, p in enumerate(points):
            if type(p) is not dict:
                raise InputError("expected a data point object", f"{self.path}[{i}]")
            t = p.get("timeUnixNano")
            if t is None:
                t = p.get("time_unix_nano")
            v = p.get("asDouble")
            if v is None:
                v = p.get("asInt")
                if v is None:
                    v = get(p, "as_double", "as_int")
            try:
                ts = int(t) // 1000  # type: ignore[arg-type]  # None is caught below
                value = float(v)
            except (TypeError, ValueError):
                self._bad_number(i, p, t, v)
                continue
            if ts <= 0 or ts > limit or not isfinite(value):
                self._bad_number(i, p, t, v)
                continue
            raw = p.get("attributes")
            s = cache.get((name, "", None, dumps(raw) if raw else b""))
            if s is None:
                s = self.series(raw)
            s.ts.append(ts)
            s.values.append(value)
            n += 1
        self.batch.size += n

    def _bad_number(self, i: int, p: dict[str, Any], t: Any, v: Any) -> None:
        if v is None:
            flags = p.get("flags")
            if isinstance(flags, int) and flags & FLAG_NO_RECORDED_VALUE:
                return  # a staleness marker: nothing was measured, nothing is wrong
            self.reject("data point has no value (asDouble or asInt)", i, p)
            return
        try:
            value = float(v)
        except (TypeError, ValueError):
            self.reject(f"value {v!r} is not a number", i, p)
            return
        if not math.isfinite(value):
            self.reject(f"value {v!r} is not a finite number", i, p)
            return
        self.time_error(i, p, t)

    def time_error(self, i: int, p: dict[str, Any], t: Any) -> bool:
        """Reject the point when its time is missing or too far ahead; True if rejected."""
        try:
            ts = int(t) // 1000
        except (TypeError, ValueError):
            ts = 0
        if ts <= 0:
            self.reject("data point has no timeUnixNano", i, p)
            return True
        if ts > self.parser.limit:
            self.reject(f"timeUnixNano {iso(ts)} is more than 24 h in the future", i, p)
            return True
        return False

    def derived(self, points: list[Any], derive: Callable[[dict[str, Any]], Derived]) -> None:
        """Histogram-like points: each gives a few derived values (suffix, quantile, value)."""
        n = 0
        for i, p in enumerate(points):
            if type(p) is not dict:
                raise InputError("expected a data point object", f"{self.path}[{i}]")
            t = get(p, "timeUnixNano", "time_unix_nano")
            if self.time_error(i, p, t):
                continue
            try:
                values = derive(p)
            except ValueError as exc:
                self.reject(str(exc), i, p)
                continue
            ts = int(t) // 1000
            raw = p.get("attributes")
            for suffix, quantile, value in values:
                s = self.series(raw, suffix, quantile, primary=suffix == ".count")
                s.ts.append(ts)
                s.values.append(value)
            n += 1
        self.batch.size += n


__all__ = [
    "MetricBatch",
    "MetricsParser",
    "Series",
    "attr_hash",
]
