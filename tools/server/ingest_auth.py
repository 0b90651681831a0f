"""Who may send telemetry: bearer tokens on the ingestion routes.

Tokens come from ``FLOWSLEUTH_INGEST_TOKENS`` (JSON) or the file named by
``FLOWSLEUTH_INGEST_TOKENS_FILE`` (JSON or YAML), in any of these forms::

    ["<secret>", "<other secret>"]
    [{"token": "<secret>", "client_id": "airflow-prod"}]
    {"<secret>": ["write"]}

The last two are the shapes ``FLOWSLEUTH_MCP_TOKENS`` takes, so one file can serve both;
scopes are accepted and ignored here, since an ingestion token can only ingest. With no
tokens configured every ingestion request is refused, as MCP refuses every request:
telemetry from anyone who can reach the port would be both a disk-filling hole and a way
to forge the evidence the investigator reasons from.

A refused request is answered before its body is read, and is not kept as a dead letter:
dead letters are for senders we know, not for strangers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ConfigDict, Field

from tools.config import Settings
from tools.server.tokens import (
    DigestTable,
    TokenModel,
    mapping_or_list,
    read_token_config,
    token_digest,
    validate_entries,
)

log = logging.getLogger(__name__)

TOKENS_VAR = "FLOWSLEUTH_INGEST_TOKENS"
SECURITY_SCHEME = "ingestToken"


class IngestAuthError(Exception):
    """An ingestion request without a valid token (answered 401)."""

    def __init__(self, reason: str, *, invalid_token: bool = False) -> None:
        self.reason = reason
        # RFC 6750: a token was presented but is not valid; a missing one carries no error.
        self.www_authenticate = (
            'Bearer realm="flowsleuth", error="invalid_token"'
            if invalid_token
            else 'Bearer realm="flowsleuth"'
        )
        super().__init__(reason)


class IngestTokenEntry(TokenModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(None, min_length=1, max_length=128)
    # Only so that an MCP-shaped token list parses; an ingestion token only ingests.
    scopes: list[str] | None = None


def parse_ingest_tokens(raw: Any, origin: str) -> list[IngestTokenEntry]:
    if isinstance(raw, list):
        items = [{"token": item} if isinstance(item, str) else item for item in raw]
    else:
        items = mapping_or_list(
            raw,
            origin,
            "a list of tokens, a list of {token, client_id}, or a mapping token -> scopes",
        )
    return validate_entries(items, IngestTokenEntry, origin)


def load_ingest_tokens(settings: Settings) -> list[IngestTokenEntry]:
    """The configured tokens (none when neither variable is set). Raises TokenConfigError."""
    found = read_token_config(TOKENS_VAR, settings.ingest_tokens, settings.ingest_tokens_file)
    return [] if found is None else parse_ingest_tokens(*found)


class IngestAuth:
    """The token check of the ingestion routes, over a fixed set of tokens."""

    def __init__(self, entries: list[IngestTokenEntry]) -> None:
        self._tokens = DigestTable(
            (e.token, e.client_id or f"token-{token_digest(e.token).hex()[:8]}") for e in entries
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestAuth:
        auth = cls(load_ingest_tokens(settings))
        if not auth.count:
            log.warning(
                "ingestion: no tokens configured (%s or %s_FILE); every POST to "
                "/api/v1/lineage and /v1/metrics|logs|traces will be refused",
                TOKENS_VAR,
                TOKENS_VAR,
            )
        return auth

    @property
    def count(self) -> int:
        return len(self._tokens)

    def client_of(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        """The client the bearer token belongs to; raises IngestAuthError otherwise."""
        if not self.count:
            raise IngestAuthError(
                f"ingestion is disabled: no tokens are configured; set {TOKENS_VAR} or "
                f"{TOKENS_VAR}_FILE on the server and send 'Authorization: Bearer <token>'"
            )
        if credentials is None:
            raise IngestAuthError(
                "missing bearer token: send 'Authorization: Bearer <token>' with a token "
                f"from the server's {TOKENS_VAR}"
            )
        client = self._tokens.match(credentials.credentials)
        if client is None:
            raise IngestAuthError(
                "the bearer token is not a valid ingestion token", invalid_token=True
            )
        return client

    def dependency(self) -> Callable[..., Awaitable[str]]:
        """A FastAPI dependency that yields the client id (and puts the bearer scheme in
        the OpenAPI document, so /docs and API clients know to send it)."""
        bearer = HTTPBearer(
            scheme_name=SECURITY_SCHEME,
            description=f"An ingestion token from the server's {TOKENS_VAR}",
            auto_error=False,
        )

        async def ingest_client(
            credentials: HTTPAuthorizationCredentials | None = Security(bearer),
        ) -> str:
            return self.client_of(credentials)

        return ingest_client


__all__ = [
    "SECURITY_SCHEME",
    "TOKENS_VAR",
    "IngestAuth",
    "IngestAuthError",
    "IngestTokenEntry",
    "load_ingest_tokens",
    "parse_ingest_tokens",
]
