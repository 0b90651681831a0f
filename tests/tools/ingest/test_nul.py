"""Finding NUL characters in decoded telemetry, and only real ones."""

from __future__ import annotations

import orjson
import pytest

from tools.ingest.nul import nul_path, refuse_nul
from tools.ingest.result import InputError


def test_the_path_names_the_first_nul_in_keys_or_values() -> None:
    assert nul_path({"a": [1, {"b": "x"}, {"c": "y\x00"}]}) == "a[2].c"
    assert nul_path({"a": {"k\x00": 1}}) == "a.k\\u0000"
    assert nul_path("\x00") == "$"
    assert nul_path({"a": ["fine", 1.5, None, True]}) is None


def test_escaped_backslash_text_is_not_a_nul() -> None:
    """The text backslash-u-0-0-0-0 is legitimate; only the decoded character is refused."""
    value = {"sql": "SELECT '\\u0000'"}
    raw = orjson.dumps(value)
    assert b"\\u0000" in raw
    refuse_nul(value, raw)  # passes the byte search, then the walk finds no NUL
    refuse_nul(value)


def test_refusal_names_the_field_with_and_without_the_raw_bytes() -> None:
    value = {"job": {"name": "a\x00"}}
    for raw in (orjson.dumps(value), None):
        with pytest.raises(InputError, match="NUL") as err:
            refuse_nul(value, raw)
        assert err.value.field == "job.name"
