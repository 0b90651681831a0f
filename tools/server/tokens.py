"""Static bearer tokens, shared by the MCP transport and HTTP ingestion.

Both read their tokens the same way: a JSON variable ``<NAME>`` or a JSON/YAML file named
by ``<NAME>_FILE`` (never both), validated entry by entry, kept only as SHA-256 digests and
compared in constant time. What an entry may contain is up to each caller's model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

MIN_TOKEN_CHARS = 16


class TokenConfigError(ValueError):
    """Token configuration that cannot be used; the message names the entry and the fix."""


class TokenModel(BaseModel):
    """An entry of a token list; callers add what else an entry carries."""

    token: str = Field(min_length=MIN_TOKEN_CHARS)


EntryT = TypeVar("EntryT", bound=TokenModel)
ValueT = TypeVar("ValueT")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def read_token_config(
    variable: str, inline: str | None, path: Path | None
) -> tuple[Any, str] | None:
    """The raw token configuration from ``variable`` (JSON) or the file its ``_FILE``
    variable names (JSON or YAML), with where it came from; None when neither is set."""
    if inline and path:
        raise TokenConfigError(f"set {variable} or {variable}_FILE, not both")
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenConfigError(f"{variable}_FILE {path}: {exc}") from None
        try:
            # YAML is a superset of JSON: one parser for both.
            return yaml.safe_load(text), str(path)
        except yaml.YAMLError as exc:
            raise TokenConfigError(f"{path}: not JSON or YAML ({exc})") from None
    if inline:
        try:
            return json.loads(inline), variable
        except json.JSONDecodeError as exc:
            raise TokenConfigError(f"{variable} is not valid JSON: {exc}") from None
    return None


def validate_entries(items: Iterable[Any], model: type[EntryT], origin: str) -> list[EntryT]:
    """Each item as ``model`` (which has a ``token`` field), or the first problem named by
    its position; the same token twice is an error too."""
    out: list[EntryT] = []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "entry"
            raise TokenConfigError(f"{origin}: token #{i + 1}: {loc}: {err['msg']}") from None
    digests = [token_digest(e.token) for e in out]
    if len(set(digests)) != len(digests):
        raise TokenConfigError(f"{origin}: the same token is listed twice")
    return out


class DigestTable(Generic[ValueT]):
    """Tokens by SHA-256 digest: the secrets themselves are not kept, and a lookup compares
    against every digest in constant time so timing tells nothing about near misses."""

    def __init__(self, pairs: Iterable[tuple[str, ValueT]] = ()) -> None:
        self._by_digest: dict[bytes, ValueT] = {token_digest(t): v for t, v in pairs}

    def __len__(self) -> int:
        return len(self._by_digest)

    def match(self, token: str) -> ValueT | None:
        digest = token_digest(token)
        found: ValueT | None = None
        for known, value in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                found = value
        return found


def mapping_or_list(raw: Any, origin: str, expected: str) -> list[Any]:
    """The entries of a list, or of a mapping ``token -> scopes`` as ``{token, scopes}``."""
    if isinstance(raw, Mapping):
        return [{"token": k, "scopes": v} for k, v in raw.items()]
    if isinstance(raw, list):
        return raw
    raise TokenConfigError(f"{origin}: expected {expected}")


__all__ = [
    "MIN_TOKEN_CHARS",
    "DigestTable",
    "TokenConfigError",
    "TokenModel",
    "mapping_or_list",
    "read_token_config",
    "token_digest",
    "validate_entries",
]
