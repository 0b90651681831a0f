"""Output bounding: paging by limit and by budget, clipping an oversized item or view."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from tools.server.mcp.budget import Budget, clip, json_size


class Item(BaseModel):
    key: int
    text: str = ""
    tags: list[str] = Field(default_factory=list)


class View(BaseModel):
    title: str
    rows: list[Item]
    needed: list[str] = Field(min_length=1)


def test_everything_fits_untruncated() -> None:
    page = Budget().page([Item(key=i) for i in range(3)], offset=0, limit=10)
    assert [i.key for i in page.items] == [0, 1, 2]
    assert not page.page.truncated and page.page.next_offset is None and page.page.note is None


def test_limit_cuts_and_names_the_next_offset() -> None:
    fetched = [Item(key=i) for i in range(10, 16)]  # from offset 10, one more than asked
    page = Budget().page(fetched, offset=10, limit=5)
    assert [i.key for i in page.items] == [10, 11, 12, 13, 14]
    assert page.page.truncated and page.page.next_offset == 15
    assert "offset=15" in (page.page.note or "")


def test_budget_cuts_before_the_limit() -> None:
    budget = Budget(500)
    items = [Item(key=i, text="x" * 300) for i in range(20)]
    page = budget.page(items, offset=0, limit=20)
    assert 0 < len(page.items) < 20
    assert json_size(page) <= budget.chars
    assert page.page.next_offset == len(page.items) and "fit ~500 tokens" in (page.page.note or "")


def test_an_item_larger_than_the_budget_is_clipped_not_skipped() -> None:
    budget = Budget(500)
    huge = Item(key=1, text="y" * 10_000, tags=[str(i) for i in range(500)])
    page = budget.page([huge, Item(key=2)], offset=0, limit=2)
    (got,) = page.items
    assert got.key == 1 and "chars clipped" in got.text and len(got.tags) < 500
    assert json_size(page) <= budget.chars
    assert page.page.truncated and page.page.next_offset == 1
    assert "clipped" in (page.page.note or "")


def test_view_pages_its_list_and_counts_the_total() -> None:
    view = View(title="t", rows=[Item(key=i) for i in range(30)], needed=["a"])
    first = Budget().view(view, "rows", offset=0, limit=10)
    assert [r.key for r in first.result.rows] == list(range(10))
    assert first.page.total == 30 and first.page.next_offset == 10 and first.page.field == "rows"
    last = Budget().view(view, "rows", offset=25, limit=10)
    assert [r.key for r in last.result.rows] == list(range(25, 30))
    assert not last.page.truncated and last.page.next_offset is None


def test_single_clips_only_when_oversized() -> None:
    small = Budget().single(Item(key=1, text="ok"))
    assert not small.page.truncated and small.result.text == "ok"
    big = Budget(500).single(Item(key=1, text="z" * 50_000))
    assert big.page.truncated and json_size(big.result) < 2000


def test_clip_keeps_the_schema_valid() -> None:
    view = View(title="t" * 5000, rows=[], needed=["n" * 5000] * 3)
    clipped = clip(view, 300)
    assert len(clipped.needed) >= 1  # min_length holds: cutting stops where it must
    assert json_size(clipped) < json_size(view)


def test_an_unusably_small_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="under 500 tokens"):
        Budget(100)
