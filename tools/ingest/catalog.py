"""The catalog file (TELEMETRY.md §6): tier, owner, revenue and SLOs per asset.

One bad entry must not cost the others, and the person fixing it needs to know where it
is, so every entry is validated on its own and a rejection names its YAML line (found in
the composed node tree, which keeps source marks that plain ``safe_load`` throws away).
Rejected entries go to the dead-letter table (source ``catalog``) as a one-entry catalog
file, so a replay goes through this same path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection, select, tuple_

from tools.ingest.deadletters import record_dead_letter
from tools.ingest.result import IngestResult, InputError, Rejection
from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import CatalogEntry, Node, now_micros
from tools.store.writes import chunks, dialect_insert, existing_values, resolve_nodes
from tools.timeutil import parse_duration_us

SOURCE = "catalog"
CONTENT_TYPE = "application/yaml"

Kind = Literal["source", "staging", "model", "identity", "audience", "activation", "campaign"]

# Metric units (TELEMETRY.md §3): a duration objective is converted to the metric's own
# unit (seconds unless listed here), and a unit that cannot fit the metric is an error.
DURATION_UNIT_SECONDS = {
    "freshness": 1.0,
    "data.freshness.lag": 1.0,
    "event.end_to_end.latency": 1.0,
    "activation.webhook.latency": 0.001,
}
FRACTION_METRICS = frozenset({
    "data.null_fraction",
    "data.duplicate_fraction",
    "consent.mismatch_fraction",
    "event.loss_fraction",
    "identity.match_confidence",
    "activation.sync.success_ratio",
    "activation.delivery.variance",
})
OPERATORS = ("<=", "<", ">=", ">", "==")
_OBJECTIVE = re.compile(
    r"^\s*(<=|>=|==|<|>|≤|≥)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%|us|ms|s|m|h|d|w)?\s*$"
)
_UNICODE_OPS = {"≤": "<=", "≥": ">="}
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
            "w": 604800.0}


def parse_objective(text: str, metric: str | None = None) -> tuple[str, float]:
    """``"<= 2h"`` -> ``("<=", 7200.0)``; ``"< 5%"`` -> ``("<", 0.05)``; ``">= 0.98"`` as is.

    Durations become the metric's unit (seconds, or ms for ``activation.webhook.latency``),
    percentages become fractions. Raises ValueError naming what is wrong.
    """
    match = _OBJECTIVE.match(text)
    if not match:
        raise ValueError(
            f"objective {text!r} should be an operator ({', '.join(OPERATORS)}) and a "
            "threshold, e.g. '<= 2h', '>= 0.98' or '< 5%'"
        )
    op, number, unit = match.groups()
    op = _UNICODE_OPS.get(op, op)
    value = float(number)
    if unit == "%":
        if metric in DURATION_UNIT_SECONDS:
            raise ValueError(f"objective {text!r} is a percentage but {metric} is a duration")
        return op, value / 100.0
    if unit is not None:
        if metric in FRACTION_METRICS:
            raise ValueError(f"objective {text!r} is a duration but {metric} is a fraction")
        return op, value * _SECONDS[unit] / DURATION_UNIT_SECONDS.get(metric or "", 1.0)
    return op, value


def _node_ref(value: Any) -> NodeRef:
    if isinstance(value, NodeRef):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a node id such as 'dataset:<namespace>:<name>'")
    try:
        return NodeRef.parse(value.strip())
    except NodeIdError as exc:
        raise ValueError(str(exc)) from None


NodeField = Annotated[NodeRef, PlainValidator(_node_ref), PlainSerializer(str, return_type=str)]


class Slo(BaseModel):
    """One objective: ``metric`` within ``objective`` for ``target`` of the ``window``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(min_length=1)
    objective: str
    target: float = Field(gt=0, le=1, strict=True, allow_inf_nan=False)
    window: str
    _operator: str = PrivateAttr(default="<=")
    _threshold: float = PrivateAttr(default=0.0)
    _window_seconds: float = PrivateAttr(default=0.0)

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, value: str, info: ValidationInfo) -> str:
        parse_objective(value, info.data.get("metric"))
        return value

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        if parse_duration_us(value) <= 0:
            raise ValueError(f"window {value!r} must be longer than zero")
        return value

    @model_validator(mode="after")
    def _derive(self) -> Slo:
        self._operator, self._threshold = parse_objective(self.objective, self.metric)
        self._window_seconds = parse_duration_us(self.window) / 1e6
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def operator(self) -> str:
        return self._operator

    @computed_field  # type: ignore[prop-decorator]
    @property
    def threshold(self) -> float:
        """In the metric's unit: seconds for durations, a fraction for percentages."""
        return self._threshold

    @computed_field  # type: ignore[prop-decorator]
    @property
    def window_seconds(self) -> float:
        return self._window_seconds

    def met_by(self, value: float) -> bool:
        """Whether one observed value is within the objective."""
        return {
            "<=": value <= self._threshold,
            "<": value < self._threshold,
            ">=": value >= self._threshold,
            ">": value > self._threshold,
            "==": math.isclose(value, self._threshold),
        }[self._operator]


SLO_INPUT_KEYS = ("metric", "objective", "target", "window")


class CatalogAsset(BaseModel):
    """One catalog entry. Keys beyond these are kept (``model_extra``), not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    node: NodeField
    kind: Kind | None = None
    tier: int | None = Field(default=None, ge=0, strict=True)
    owner: str | None = Field(default=None, min_length=1)
    revenue_per_day: float | None = Field(default=None, ge=0, strict=True, allow_inf_nan=False)
    slos: list[Slo] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        # YAML gives dates and non-string keys; the extra column is JSON.
        return _jsonable(data) if isinstance(data, dict) else data

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(frozen=True, slots=True)
class CatalogError:
    """A rejected entry: where it is (1-based YAML line) and everything wrong with it."""

    index: int
    line: int
    reason: str
    node: str | None = None
    entry_yaml: str = ""  # the entry alone, as a catalog file (kept as the dead letter)

    def __str__(self) -> str:
        return f"assets[{self.index}] ({self.node or 'no node'}): {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "line": self.line, "node": self.node, "reason": self.reason}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _locate(node: yaml.Node, loc: tuple[int | str, ...]) -> yaml.Node:
    """The deepest YAML node along a pydantic error location."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == str(part)),
                         None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if 0 <= part < len(node.value) else None
        else:
            found = None
        if found is None:
            break
        node = found
    return node


def _problems(exc: ValidationError, entry: yaml.Node) -> list[tuple[int, str]]:
    out = []
    for err in exc.errors(include_url=False):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        ctx = err.get("ctx") or {}
        # A ValueError from our validators reads better without pydantic's prefix.
        own = err["type"] == "value_error" and "error" in ctx
        message = str(ctx["error"]) if own else err["msg"]
        label = where.lstrip(".") or "entry"
        out.append((_line(_locate(entry, err["loc"])), f"{label}: {message}"))
    return sorted(out, key=lambda p: p[0])  # in file order, not the model's field order


def _parse_yaml(text: str, origin: str | None) -> tuple[yaml.Node | None, Any]:
    where = f"{origin}: " if origin else ""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unreadable YAML"
        raise InputError(f"{where}invalid YAML{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where}invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return root, data


def load_catalog(
    data: bytes | str, *, origin: str | None = None
) -> tuple[list[CatalogAsset], list[CatalogError]]:
    """Parse and validate a catalog file: the valid entries and the rejected ones.

    Raises InputError when the file as a whole is unusable (not UTF-8, invalid YAML, no
    ``assets`` list); the message names the line and column.
    """
    where = f"{origin}: " if origin else ""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}not UTF-8 text (byte {exc.start})") from None
    root, doc = _parse_yaml(data, origin)
    if root is None:
        raise InputError(f"{where}the catalog is empty: expected a mapping with an 'assets' list")
    if not isinstance(root, yaml.MappingNode) or not isinstance(doc, dict):
        raise InputError(f"{where}line {_line(root)}: the catalog must be a mapping with an "
                         "'assets' list")
    items = next((v for k, v in root.value if getattr(k, "value", None) == "assets"), None)
    if items is None:
        raise InputError(f"{where}line {_line(root)}: no 'assets' key (expected 'assets:' "
                         "followed by a list of entries)")
    raw_items = doc.get("assets")
    if raw_items is None:
        return [], []
    if not isinstance(items, yaml.SequenceNode) or not isinstance(raw_items, list):
        raise InputError(f"{where}line {_line(items)}: 'assets' must be a list of entries")

    assets: list[CatalogAsset] = []
    errors: list[CatalogError] = []
    first_line: dict[NodeRef, int] = {}
    for index, (entry, raw) in enumerate(zip(items.value, raw_items, strict=True)):
        problems: list[tuple[int, str]]
        node_text = raw.get("node") if isinstance(raw, dict) else None
        try:
            if not isinstance(raw, dict):
                raise TypeError
            asset = CatalogAsset.model_validate(raw)
        except TypeError:
            problems = [(_line(entry), "an entry must be a mapping with at least 'node'")]
        except ValidationError as exc:
            problems = _problems(exc, entry)
        else:
            seen_at = first_line.get(asset.node)
            if seen_at is None:
                first_line[asset.node] = _line(entry)
                assets.append(asset)
                continue
            problems = [(_line(entry), f"node {asset.node} is already defined at line {seen_at}")]
        errors.append(CatalogError(
            index=index,
            line=problems[0][0],
            reason="; ".join(f"line {line}: {text}" for line, text in problems),
            node=node_text if isinstance(node_text, str) else None,
            entry_yaml=yaml.safe_dump({"assets": [raw]}, sort_keys=False, allow_unicode=True),
        ))
    return assets, errors


def _row(asset: CatalogAsset) -> dict[str, Any]:
    return {
        "kind": asset.kind,
        "tier": asset.tier,
        "owner": asset.owner,
        "revenue_per_day": asset.revenue_per_day,
        "slos": [slo.model_dump() for slo in asset.slos],
        "extra": asset.extras(),
    }


def _node_ids(conn: Connection, store: Store, refs: list[NodeRef], now: int) -> dict[NodeRef, int]:
    """Ids of the nodes, creating unknown ones. Known nodes keep their last_seen: naming an
    asset in the catalog is not an observation of it."""
    ids: dict[NodeRef, int] = {}
    for part in chunks(refs):
        rows = conn.execute(select(Node.id, Node.type, Node.namespace, Node.name).where(
            tuple_(Node.type, Node.namespace, Node.name).in_([r.key for r in part])))
        for node_id, typ, ns, name in rows:
            ids[NodeRef(typ, ns, name)] = node_id
    missing = {ref: now for ref in refs if ref not in ids}
    if missing:
        ids.update(resolve_nodes(conn, store, missing))
    return ids


def ingest_catalog(
    store: Store,
    path_or_bytes: Path | str | bytes,
    *,
    origin: str | None = None,
    now_us: int | None = None,
) -> IngestResult:
    """Load a catalog file (a path, or its bytes) and upsert its entries by node.

    Counts entries: ``accepted`` were new or changed, ``duplicates`` were already stored
    as they are. Rejected entries are dead-lettered; a file unusable as a whole is
    dead-lettered and raises InputError.
    """
    now = now_us if now_us is not None else now_micros()
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        path = Path(path_or_bytes)
        origin = origin or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    try:
        assets, errors = load_catalog(data, origin=origin)
    except InputError as exc:
        record_dead_letter(store, source=SOURCE, reason=str(exc), payload=data, origin=origin,
                           content_type=CONTENT_TYPE)
        raise
    result = IngestResult()
    for err in errors:
        dl_id = record_dead_letter(store, source=SOURCE, reason=str(err),
                                   payload=err.entry_yaml.encode(), origin=origin,
                                   content_type=CONTENT_TYPE)
        result.rejected.append(Rejection(str(err), origin, dl_id))
    if not assets:
        return result
    with store.write() as conn:
        ids = _node_ids(conn, store, [a.node for a in assets], now)
        cols = [c for c in CatalogEntry.__table__.c if c.name not in ("node_id", "updated_at")]
        stored = existing_values(conn, CatalogEntry.node_id, list(ids.values()), *cols)
        rows = []
        for asset in assets:
            row = {"node_id": ids[asset.node], **_row(asset)}
            current = stored.get(row["node_id"])
            if current is not None and dict(zip([c.name for c in cols], current[1:],
                                                strict=True)) == _row(asset):
                result.duplicates += 1
                continue
            rows.append({**row, "updated_at": now})
        if rows:
            stmt = dialect_insert(conn, CatalogEntry.__table__)  # type: ignore[arg-type]
            stmt = stmt.on_conflict_do_update(
                index_elements=["node_id"],
                set_={k: stmt.excluded[k] for k in rows[0] if k != "node_id"},
            )
            conn.execute(stmt, rows)
        result.accepted += len(rows)
    return result


def _from_row(ref: NodeRef, row: Any) -> CatalogAsset:
    return CatalogAsset.model_validate({
        **(row.extra or {}),
        "node": ref,
        "kind": row.kind,
        "tier": row.tier,
        "owner": row.owner,
        "revenue_per_day": row.revenue_per_day,
        "slos": [{k: s[k] for k in SLO_INPUT_KEYS} for s in row.slos or []],
    })


_SELECT = select(
    Node.type, Node.namespace, Node.name, CatalogEntry.kind, CatalogEntry.tier,
    CatalogEntry.owner, CatalogEntry.revenue_per_day, CatalogEntry.slos, CatalogEntry.extra,
).join(CatalogEntry, CatalogEntry.node_id == Node.id)


def get_catalog_entry(store: Store, ref: NodeRef) -> CatalogAsset | None:
    """The catalog entry of one node, or None when the catalog does not name it."""
    stmt = _SELECT.where(Node.type == ref.type, Node.namespace == ref.namespace,
                         Node.name == ref.name)
    with store.read() as conn:
        row = conn.execute(stmt).first()
    return _from_row(ref, row) if row is not None else None


def list_catalog(store: Store) -> list[CatalogAsset]:
    """Every catalog entry, ordered by node id."""
    with store.read() as conn:
        rows = conn.execute(_SELECT.order_by(Node.type, Node.namespace, Node.name)).all()
    return [_from_row(NodeRef(r.type, r.namespace, r.name), r) for r in rows]


__all__ = [
    "CatalogAsset",
    "CatalogError",
    "Slo",
    "get_catalog_entry",
    "ingest_catalog",
    "list_catalog",
    "load_catalog",
    "parse_objective",
]
