"""Token configuration, the static token verifier, and the Host/Origin allow-lists."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tools.server.mcp.auth import (
    McpSettings,
    StaticTokenVerifier,
    TokenConfigError,
    load_tokens,
    parse_tokens,
)
from tools.server.mcp.http import transport_security

LONG = "a" * 24
OTHER = "b" * 24


def test_list_and_mapping_forms_and_write_implies_read() -> None:
    listed = parse_tokens(
        [{"token": LONG, "client_id": "ide", "scopes": ["read"]},
         {"token": OTHER, "scopes": ["write"]}],
        "test",
    )
    mapped = parse_tokens({LONG: ["read"], OTHER: ["write"]}, "test")
    assert [e.scopes for e in listed] == [e.scopes for e in mapped] == [["read"], ["write"]]

    verifier = StaticTokenVerifier(listed)
    ide = anyio.run(verifier.verify_token, LONG)
    bot = anyio.run(verifier.verify_token, OTHER)
    assert ide is not None and ide.client_id == "ide" and ide.scopes == ["read"]
    assert bot is not None and bot.client_id.startswith("token-")
    assert bot.scopes == ["read", "write"]
    assert anyio.run(verifier.verify_token, "c" * 24) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"token": "short", "scopes": ["read"]}], "token #1: token: String should have at least"),
        ([{"token": LONG, "scopes": ["admin"]}], "token #1: scopes.0"),
        ([{"token": LONG, "scopes": []}], "token #1: scopes"),
        ([{"token": LONG, "scopes": ["read"]}, {"token": LONG, "scopes": ["write"]}],
         "the same token is listed twice"),
        ("just-a-string", "expected a list"),
    ],
)
def test_bad_token_config_names_the_problem(raw: object, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message):
        parse_tokens(raw, "FLOWSLEUTH_MCP_TOKENS")


def test_token_settings_sources() -> None:
    assert load_tokens(McpSettings()) == []
    with pytest.raises(TokenConfigError, match="not valid JSON"):
        load_tokens(McpSettings(tokens="{nope"))
    with pytest.raises(TokenConfigError, match="not both"):
        load_tokens(McpSettings(tokens="[]", tokens_file=Path("x.json")))
    with pytest.raises(TokenConfigError, match="FLOWSLEUTH_MCP_TOKENS_FILE"):
        load_tokens(McpSettings(tokens_file=Path("/nonexistent/tokens.json")))


def test_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLEUTH_MCP_TOKENS", f'{{"{LONG}": ["read"]}}')
    assert [e.scopes for e in load_tokens(McpSettings())] == [["read"]]


def test_host_allow_list_adds_to_loopback_or_switches_off() -> None:
    default = transport_security(McpSettings())
    assert default.enable_dns_rebinding_protection and "127.0.0.1:*" in default.allowed_hosts
    named = transport_security(
        McpSettings(allowed_hosts="flowsleuth.internal:8080, flowsleuth.internal:*",
                    allowed_origins="https://ops.example")
    )
    assert {"flowsleuth.internal:8080", "flowsleuth.internal:*"} <= set(named.allowed_hosts)
    assert "https://ops.example" in named.allowed_origins
    assert not transport_security(McpSettings(allowed_hosts="*")).enable_dns_rebinding_protection
