"""Bearer tokens for the HTTP transport, their scopes, and the scope check on tools.

Tokens come from ``FLOWSLEUTH_MCP_TOKENS`` (JSON) or the file named by
``FLOWSLEUTH_MCP_TOKENS_FILE`` (JSON or YAML), in either form::

    [{"token": "<secret>", "client_id": "alice-ide", "scopes": ["read"]},
     {"token": "<secret>", "client_id": "ops-agent", "scopes": ["read", "write"]}]

    {"<secret>": ["read"], "<other secret>": ["read", "write"]}

Scopes are ``read`` (every read tool, resource and prompt) and ``write`` (the proposal
and approval-request tools, when the server has writes enabled); ``write`` implies
``read``. Tokens are kept as SHA-256 digests and compared in constant time. Over stdio
there is no token: the local user who started the process owns it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from tools.server.tokens import (
    MIN_TOKEN_CHARS,
    DigestTable,
    TokenConfigError,
    TokenModel,
    mapping_or_list,
    read_token_config,
    token_digest,
    validate_entries,
)

Scope = Literal["read", "write"]


class McpSettings(BaseSettings):
    """``FLOWSLEUTH_MCP_*``: tokens and the Host/Origin allow-lists of the HTTP transport."""

    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_MCP_", extra="ignore")

    tokens: str | None = Field(None, description="Tokens and scopes as JSON")
    tokens_file: Path | None = Field(None, description="A JSON or YAML file of tokens")
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host header values accepted besides loopback, e.g. "
        "'flowsleuth.internal:8080,flowsleuth.internal:*'; '*' turns the check off",
    )
    allowed_origins: str | None = Field(
        None, description="Comma-separated browser Origins accepted besides loopback"
    )


class TokenEntry(TokenModel):
    client_id: str | None = Field(None, min_length=1, max_length=128)
    scopes: list[Scope] = Field(min_length=1)


class StaticTokenVerifier:
    """A TokenVerifier over a fixed set of tokens."""

    def __init__(self, entries: Collection[TokenEntry]) -> None:
        pairs: list[tuple[str, AccessToken]] = []
        for entry in entries:
            scopes = set(entry.scopes) | ({"read"} if "write" in entry.scopes else set())
            client = entry.client_id or f"token-{token_digest(entry.token).hex()[:8]}"
            pairs.append(
                (entry.token, AccessToken(token="", client_id=client, scopes=sorted(scopes)))
            )
        self._tokens = DigestTable(pairs)

    @property
    def count(self) -> int:
        # Not __len__: an empty verifier must still be truthy where the SDK checks for one.
        return len(self._tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        access = self._tokens.match(token)
        return None if access is None else access.model_copy(update={"token": token})


def load_tokens(settings: McpSettings) -> list[TokenEntry]:
    """The configured tokens (none when neither variable is set)."""
    found = read_token_config("FLOWSLEUTH_MCP_TOKENS", settings.tokens, settings.tokens_file)
    return [] if found is None else parse_tokens(*found)


def parse_tokens(raw: Any, origin: str) -> list[TokenEntry]:
    items = mapping_or_list(
        raw, origin, "a list of {token, client_id, scopes} or a mapping token -> scopes"
    )
    return validate_entries(items, TokenEntry, origin)


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def write_refusal(tool: str) -> str | None:
    """Why the caller may not run write tool ``tool``, or None. Only a bearer token
    without the ``write`` scope is refused: stdio and in-process callers hold no token."""
    token = get_access_token()
    if token is None or "write" in token.scopes:
        return None
    return (
        f"tool {tool} needs the 'write' scope; this token ({token.client_id}) has "
        f"[{', '.join(token.scopes)}]. Ask an operator for a write token."
    )


def hide_write_tools(write_tools: frozenset[str]) -> Any:
    """Server middleware: a token without the ``write`` scope is not shown write tools
    (calling one is refused by the tool itself, see :func:`write_refusal`)."""

    async def hide(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        token = get_access_token()
        if ctx.method != "tools/list" or token is None or "write" in token.scopes:
            return result
        # The chain returns the wire form: a dict whose "tools" are dicts.
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            tools = [t for t in result["tools"] if t.get("name") not in write_tools]
            result = {**result, "tools": tools}
        return result

    return hide


__all__ = [
    "MIN_TOKEN_CHARS",
    "McpSettings",
    "StaticTokenVerifier",
    "TokenConfigError",
    "TokenEntry",
    "hide_write_tools",
    "load_tokens",
    "parse_tokens",
    "split_list",
    "write_refusal",
]
