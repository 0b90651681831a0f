"""NUL characters: valid in JSON strings and protobuf, impossible to store in PostgreSQL.

PostgreSQL text cannot hold U+0000, so such input used to fail inside the write (a 5xx
over HTTP, a traceback from the CLI) on PostgreSQL while SQLite kept it. It is refused
the same way on both backends instead, as input breaking the contract, naming the field.
"""

from __future__ import annotations

from typing import Any

import orjson

from tools.ingest.result import InputError

NUL_ESCAPE = b"\\u0000"


def nul_path(value: Any, path: str = "") -> str | None:
    """The JSON path of the first key or string in ``value`` that holds a NUL, or None."""
    if isinstance(value, str):
        return (path or "$") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            # The path goes into the rejection's reason, which is stored: no NUL in it.
            name = str(key).replace("\x00", "\\u0000")
            where = f"{path}.{name}" if path else name
            if isinstance(key, str) and "\x00" in key:
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def refuse_nul(value: Any, raw: bytes | None = None) -> None:
    """Raise InputError naming the field when ``value`` holds a NUL anywhere.

    ``raw`` is the JSON ``value`` was decoded from; a NUL can only be there escaped, so one
    byte search clears nearly every input without walking it. Without it the value is
    serialised for the same search (far cheaper than the walk).
    """
    if raw is None:
        try:
            raw = orjson.dumps(value)
        except TypeError:
            raw = NUL_ESCAPE  # not plain JSON data: walk it
    if NUL_ESCAPE not in raw:
        return
    where = nul_path(value)
    if where is not None:
        raise InputError("contains a NUL character (U+0000), which the store cannot keep", where)


__all__ = ["nul_path", "refuse_nul"]
