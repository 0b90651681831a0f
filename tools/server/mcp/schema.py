"""Output schemas in the plainest equivalent form: ``$ref``s inlined, nullable unions as
type lists.

Clients validate every structured result against the tool's output schema, and schema
validators pay for each ``$ref`` lookup and each ``anyOf`` branch on every list item:
with the Python SDK's validator the plain form checks a lineage result about a third
faster. It also reads more easily for a model that looks at the schema. The meaning is
unchanged; a recursive schema (which cannot be inlined) is left as it is.
"""

from __future__ import annotations

from typing import Any

DEFS_PREFIX = "#/$defs/"


class _Recursive(Exception):
    pass


def plain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})
    try:
        inlined = _inline(schema, defs, ())
    except _Recursive:
        return schema
    out = _collapse(inlined)
    assert isinstance(out, dict)
    return out


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(v, defs, seen) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFS_PREFIX):
        name = ref.removeprefix(DEFS_PREFIX)
        if name in seen or name not in defs:
            raise _Recursive(name)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        target = _inline(defs[name], defs, (*seen, name))
        return {**target, **_inline(siblings, defs, seen)}
    return {k: _inline(v, defs, seen) for k, v in node.items() if k != "$defs"}


def _collapse(node: Any) -> Any:
    """``{"anyOf": [{"type": "integer"}, {"type": "null"}]}`` -> ``{"type": ["integer",
    "null"]}``, only when every branch is nothing but a single type."""
    if isinstance(node, list):
        return [_collapse(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _collapse(v) for k, v in node.items()}
    branches = node.get("anyOf")
    if (
        isinstance(branches, list)
        and "type" not in node
        and all(isinstance(b, dict) and set(b) == {"type"} and isinstance(b["type"], str)
                for b in branches)
    ):
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {**rest, "type": [b["type"] for b in branches]}
    return node


__all__ = ["plain_schema"]
