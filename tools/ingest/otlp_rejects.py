"""Individually rejected OTLP items, kept as a request of just those items.

A rejected data point, log record or span is dead-lettered inside a valid OTLP/JSON
Export*ServiceRequest that holds only the rejected items with their resource, scope (and,
for metrics, metric) context. So a dead letter reads like what was sent and can be
replayed through the same path: a point refused for a far-future time is accepted once
its time has come, or after a fix upstream. Personal data in them is redacted as
ingestion would redact it, so the dead-letter table is no back door for PII.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tools.ingest.otlp_decode import NAME_ATTR, NS_ATTR, SignalShape
from tools.redact import redact_value


@dataclass(slots=True)
class Rejected:
    reason: str
    path: str


@dataclass(slots=True)
class _Scope:
    scope: dict[str, Any]
    items: list[Any] = field(default_factory=list)
    # Metric shells by id() of the metric as sent: several rejected points of one metric
    # go back into one metric.
    shells: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Resource:
    resource: dict[str, Any]
    scopes: dict[int, _Scope] = field(default_factory=dict)


class Rejects:
    """Rejected items of one signal, with a reason and a JSON path each."""

    def __init__(self, shape: SignalShape) -> None:
        self.shape = shape
        self.items: list[Rejected] = []
        # Keyed by id() of the objects as sent; the objects are held here, so ids stay unique.
        self._resources: dict[int, _Resource] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _scope(self, resource: dict[str, Any], scope: dict[str, Any]) -> _Scope:
        res = self._resources.get(id(resource))
        if res is None:
            res = self._resources[id(resource)] = _Resource(resource)
        sc = res.scopes.get(id(scope))
        if sc is None:
            sc = res.scopes[id(scope)] = _Scope(scope)
        return sc

    def add(
        self, reason: str, path: str, resource: dict[str, Any], scope: dict[str, Any], item: Any
    ) -> None:
        """Reject a whole item (a log record, a span, or a metric of unknown type)."""
        self.items.append(Rejected(reason, path))
        self._scope(resource, scope).items.append(item)

    def add_point(
        self,
        reason: str,
        path: str,
        resource: dict[str, Any],
        scope: dict[str, Any],
        metric: dict[str, Any],
        data_key: str,
        point: Any,
    ) -> None:
        """Reject one data point of ``metric`` (whose points sit under ``data_key``)."""
        self.items.append(Rejected(reason, path))
        sc = self._scope(resource, scope)
        shell = sc.shells.get(id(metric))
        if shell is None:
            data = metric.get(data_key)
            data = (
                {k: v for k, v in data.items() if k not in ("dataPoints", "data_points")}
                if isinstance(data, dict)
                else {}
            )
            data["dataPoints"] = []
            shell = {k: v for k, v in metric.items() if k != data_key}
            shell[data_key] = data
            sc.shells[id(metric)] = shell
            sc.items.append(shell)
        shell[data_key]["dataPoints"].append(point)

    def extend(self, other: Rejects) -> None:
        self.items.extend(other.items)
        for key, res in other._resources.items():
            mine = self._resources.setdefault(key, _Resource(res.resource))
            for skey, sc in res.scopes.items():
                have = mine.scopes.setdefault(skey, _Scope(sc.scope))
                have.items.extend(sc.items)
                have.shells.update(sc.shells)

    def payload(self) -> bytes:
        """The rejected items as one OTLP/JSON Export*ServiceRequest, PII redacted."""
        s = self.shape
        request = {
            s.resource_key: [
                {
                    "resource": res.resource,
                    s.scope_key: [
                        {"scope": sc.scope, s.items_key: sc.items} for sc in res.scopes.values()
                    ],
                }
                for res in self._resources.values()
            ]
        }
        return orjson.dumps(redact_otlp(request))

    def summary(self, unit: str, limit: int = 5) -> str:
        """'3 data points rejected: reason (x2); reason' -- distinct reasons, most common first."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return summarise(counts, len(self.items), unit, limit)


def redact_otlp(value: Any, key: str | None = None) -> Any:
    """An OTLP/JSON value with PII redacted, attribute by attribute.

    A KeyValue's value is redacted in the light of its key (so ``device.idfa`` loses its
    UUID); the asset attributes stay as sent, since they name the node a replay links to.
    Ingestion redacts the same way, so replaying a redacted item stores what the original
    would have.
    """
    if isinstance(value, dict):
        name = value.get("key")
        if isinstance(name, str) and "value" in value:
            if name in (NS_ATTR, NAME_ATTR):
                return value
            return {**value, "value": redact_otlp(value["value"], name)}
        return {k: redact_otlp(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_otlp(v, key) for v in value]
    if isinstance(value, str):
        return redact_value(value, key)
    return value


def summarise(counts: dict[str, int], total: int, unit: str, limit: int = 5) -> str:
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    parts = [f"{reason} (x{n})" if n > 1 else reason for reason, n in ranked[:limit]]
    if len(ranked) > limit:
        parts.append(f"and {len(ranked) - limit} more reasons")
    return f"{total} {unit} rejected: " + "; ".join(parts)


__all__ = ["Rejected", "Rejects", "redact_otlp", "summarise"]
