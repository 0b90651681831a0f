"""Prompt token budgets: estimate without a tokenizer download, trim evidence to fit.

No tokenizer is bundled (tiktoken fetches its tables from the network), so tokens are
estimated from characters. JSON evidence runs at roughly 3.5-4 characters per token in
common BPE vocabularies; 3 characters per token over-counts on purpose, so a prompt this
module passes stays under the real budget on any of them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import orjson
from langchain_core.messages import BaseMessage

CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD = 8  # role markers and separators per chat message
MAX_STRING = 400  # longer evidence strings are cut before anything is dropped

# Lists in an evidence pack, least important first: trimming takes from the end of each
# in this order, keeping at least ``floor`` entries, until the pack fits.
TRIM_ORDER: tuple[tuple[tuple[str, ...], int], ...] = (
    (("evidence",), 6),
    (("impact", "at_risk"), 3),
    (("symptoms",), 5),
    (("candidate_actions",), 2),
    (("hypotheses",), 2),
    (("evidence",), 0),
    (("symptoms",), 1),
)


class BudgetError(ValueError):
    """Even the smallest form of the prompt does not fit the budget."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_messages(messages: Sequence[BaseMessage]) -> int:
    total = 0
    for message in messages:
        content = message.content
        text = content if isinstance(content, str) else orjson.dumps(content).decode()
        total += estimate_tokens(text) + MESSAGE_OVERHEAD
    return total


def render(pack: dict[str, Any]) -> str:
    """The compact JSON the model reads (no indentation: whitespace costs tokens)."""
    return orjson.dumps(pack, option=orjson.OPT_SORT_KEYS).decode()


def fit_pack(pack: dict[str, Any], budget_tokens: int) -> tuple[dict[str, Any], int]:
    """A copy of ``pack`` whose rendering fits ``budget_tokens``, and its estimate.

    Long strings are cut first, then list entries dropped from the end (lists are ranked
    best first) in :data:`TRIM_ORDER`; what was dropped is counted under ``omitted`` so
    the reader knows the pack is partial. Raises BudgetError when nothing more can go.
    """
    out = _cut_strings(copy.deepcopy(pack))
    omitted: dict[str, int] = {}
    size = estimate_tokens(render(out))
    for path, floor in TRIM_ORDER:
        items = _list_at(out, path)
        while size > budget_tokens and items is not None and len(items) > floor:
            items.pop()
            key = ".".join(path)
            omitted[key] = omitted.get(key, 0) + 1
            out["omitted"] = dict(omitted)
            size = estimate_tokens(render(out))
        if size <= budget_tokens:
            return out, size
    raise BudgetError(f"evidence needs ~{size} tokens even trimmed; the budget is {budget_tokens}")


def _list_at(pack: dict[str, Any], path: tuple[str, ...]) -> list[Any] | None:
    node: Any = pack
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, list) else None


def _cut_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[: MAX_STRING - 1] + "…"
    if isinstance(value, dict):
        return {k: _cut_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v) for v in value]
    return value


__all__ = [
    "CHARS_PER_TOKEN",
    "BudgetError",
    "estimate_messages",
    "estimate_tokens",
    "fit_pack",
    "render",
]
