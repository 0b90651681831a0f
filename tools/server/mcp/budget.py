"""Bounding tool output: every result fits a token budget and says how to get the rest.

A token is estimated as four characters of compact JSON, the usual rule of thumb for
English and JSON with common tokenizers. A result's main list is paged: items are taken
from ``offset`` until ``limit`` or the budget is reached, and ``page.next_offset`` names
the offset that continues. One item larger than the whole budget is still returned (so
paging always advances) with its long strings and lists clipped, and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET_TOKENS = 8000
# Room kept for the envelope (page info, the view's own scalar fields).
ENVELOPE_CHARS = 600

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class PageInfo(BaseModel):
    """How this result relates to the whole answer."""

    field: str | None = Field(None, description="The list that offset/limit page through")
    offset: int = 0
    limit: int = 0
    returned: int = 0
    total: int | None = Field(None, description="Items in the whole answer, when known")
    truncated: bool = Field(False, description="True when more items (or clipped text) exist")
    next_offset: int | None = Field(None, description="Call again with this offset for more")
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    note: str | None = None


class Page(BaseModel, Generic[T]):
    """A list result: ``items`` from ``page.offset``, at most ``page.limit`` of them."""

    items: list[T]
    page: PageInfo


class Result(BaseModel, Generic[T]):
    """A single result; when it holds a list, ``page`` says which and how it was cut."""

    result: T
    page: PageInfo


def json_size(value: Any) -> int:
    if isinstance(value, BaseModel):
        return len(value.model_dump_json())
    from pydantic_core import to_json

    return len(to_json(value))


class Budget:
    """A size limit in estimated tokens, and the helpers that cut results to it."""

    def __init__(self, tokens: int = DEFAULT_BUDGET_TOKENS) -> None:
        if tokens < 500:
            raise ValueError(f"an output budget under 500 tokens is unusable, got {tokens}")
        self.tokens = tokens

    @property
    def chars(self) -> int:
        return self.tokens * CHARS_PER_TOKEN

    def page(
        self,
        fetched: Sequence[T],
        *,
        offset: int,
        limit: int,
        more: bool = False,
        total: int | None = None,
        size_of: Callable[[T], int] = json_size,
        field: str = "items",
    ) -> Page[T]:
        """``fetched`` holds the items from ``offset`` on (possibly more than ``limit``);
        ``more`` says the source has items beyond those fetched."""
        items, info = self.cut(
            fetched, offset=offset, limit=limit, more=more, total=total, size_of=size_of,
            room=self.chars - ENVELOPE_CHARS, field=field,
        )
        return Page[T](items=items, page=info)

    def cut(
        self,
        fetched: Sequence[T],
        *,
        offset: int,
        limit: int,
        more: bool = False,
        total: int | None = None,
        size_of: Callable[[T], int] = json_size,
        room: int | None = None,
        field: str | None = None,
    ) -> tuple[list[T], PageInfo]:
        """The leading items of ``fetched`` that fit ``room`` characters (at most ``limit``,
        at least one), and the page info that goes with them."""
        space = self.chars - ENVELOPE_CHARS if room is None else room
        window = list(fetched[:limit])
        beyond = more or len(fetched) > limit
        taken: list[T] = []
        used = 0
        clipped = False
        for item in window:
            size = size_of(item) + 1
            if used + size > space:
                if taken:
                    break
                # A first item larger than the whole budget: shrink it rather than stall.
                if isinstance(item, BaseModel):
                    item = clip(item, max(space, 200))
                    clipped = True
                taken.append(item)
                break
            taken.append(item)
            used += size
        cut_by_budget = len(taken) < len(window)
        truncated = cut_by_budget or beyond or clipped
        next_offset = offset + len(taken) if (cut_by_budget or beyond) else None
        notes = []
        if cut_by_budget:
            notes.append(
                f"cut to {len(taken)} item(s) to fit ~{self.tokens} tokens; "
                f"call again with offset={next_offset} for the rest"
            )
        elif beyond:
            notes.append(f"more items exist: call again with offset={next_offset}")
        if clipped:
            notes.append("the item was larger than the budget: its long text and lists are clipped")
        info = PageInfo(
            field=field,
            offset=offset,
            limit=limit,
            returned=len(taken),
            total=total,
            truncated=truncated,
            next_offset=next_offset,
            budget_tokens=self.tokens,
            note="; ".join(notes) or None,
        )
        return taken, info

    def view(self, view: M, field: str, *, offset: int, limit: int) -> Result[M]:
        """``view`` with its list ``field`` paged from ``offset``; the view's other fields are
        kept whole unless they alone exceed the budget, in which case they are clipped."""
        items: list[Any] = list(getattr(view, field))
        base = view.model_copy(update={field: []})
        note: str | None = None
        if json_size(base) > self.chars // 2:
            base = clip(base, self.chars // 2)
            note = f"fields other than {field} were clipped to fit the budget"
        room = self.chars - ENVELOPE_CHARS - json_size(base)
        taken, info = self.cut(
            items[offset:], offset=offset, limit=limit, total=len(items), room=room, field=field
        )
        if note:
            info.truncated = True
            info.note = f"{info.note}; {note}" if info.note else note
        return Result[M](result=base.model_copy(update={field: taken}), page=info)

    def single(self, value: M) -> Result[M]:
        """One object, clipped only if it exceeds the budget on its own."""
        info = PageInfo(returned=1, limit=1, budget_tokens=self.tokens)
        if json_size(value) > self.chars - ENVELOPE_CHARS:
            value = clip(value, self.chars - ENVELOPE_CHARS)
            info.truncated = True
            info.note = "larger than the budget: long text and lists are clipped"
        return Result[M](result=value, page=info)


def clip(model: M, max_chars: int) -> M:
    """A copy of ``model`` whose JSON fits ``max_chars``: long strings are shortened and
    long lists cut (with ever tighter limits), then the model is validated again so the
    result keeps its schema."""
    data = model.model_dump(mode="json", by_alias=True)
    best = model
    for max_str, max_list in ((2000, 100), (500, 20), (160, 5), (60, 2), (20, 1), (8, 0)):
        try:
            candidate = type(model).model_validate(_shrink(data, max_str, max_list))
        except ValidationError:
            # A constraint (a required list, a pattern) forbids cutting this far.
            return best
        best = candidate
        if json_size(candidate) <= max_chars:
            break
    return best


def _shrink(value: Any, max_str: int, max_list: int) -> Any:
    if isinstance(value, str):
        if len(value) <= max_str:
            return value
        return value[:max_str] + f"...[{len(value) - max_str} chars clipped]"
    if isinstance(value, list):
        return [_shrink(v, max_str, max_list) for v in value[:max_list]]
    if isinstance(value, dict):
        return {k: _shrink(v, max_str, max_list) for k, v in value.items()}
    return value


__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_BUDGET_TOKENS",
    "Budget",
    "Page",
    "PageInfo",
    "Result",
    "clip",
    "json_size",
]
