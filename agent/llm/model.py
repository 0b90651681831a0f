"""The chat model, when one is configured: any OpenAI-compatible endpoint.

``FLOWSLEUTH_LLM_MODEL`` turns the LLM on (with ``FLOWSLEUTH_LLM_BASE_URL`` for a local or
self-hosted server, ``OPENAI_API_KEY`` for the key). Without it the investigator writes its
explanations with the deterministic narrator and chat mode is unavailable; nothing leaves
the machine.
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Local servers (vLLM, llama.cpp, Ollama) ignore the key, but the client insists on one.
PLACEHOLDER_KEY = "not-needed"


class LLMConfigError(ValueError):
    """The LLM settings cannot work together; the message names the variable to fix."""


class LLMSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_LLM_", extra="ignore")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. .../v1")
    model: str | None = Field(None, description="Model name; setting it turns the LLM on")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout in seconds")
    max_retries: int = Field(1, ge=0, description="Client retries on transient errors")
    max_input_tokens: int = Field(
        8000, gt=500, description="Budget for the one narrative call per investigation"
    )
    chat_max_input_tokens: int = Field(
        16000, gt=2000, description="Budget for each chat-mode model call, tools included"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.model)


def chat_model_from_env(settings: LLMSettings | None = None) -> BaseChatModel | None:
    """A ChatOpenAI for the configured endpoint, or None when no model is configured."""
    cfg = settings or LLMSettings()
    if not cfg.model:
        if cfg.base_url:
            raise LLMConfigError(
                "FLOWSLEUTH_LLM_BASE_URL is set but FLOWSLEUTH_LLM_MODEL is not: "
                "name the model the endpoint serves"
            )
        return None
    from langchain_openai import ChatOpenAI

    key = os.environ.get("OPENAI_API_KEY")
    if not key and not cfg.base_url:
        raise LLMConfigError(
            "FLOWSLEUTH_LLM_MODEL is set without FLOWSLEUTH_LLM_BASE_URL, so OpenAI itself "
            "would be called: set OPENAI_API_KEY, or point FLOWSLEUTH_LLM_BASE_URL at a "
            "local OpenAI-compatible server"
        )
    return ChatOpenAI(
        model=cfg.model,
        base_url=cfg.base_url,
        api_key=SecretStr(key or PLACEHOLDER_KEY),
        # Local servers speak Chat Completions, not the Responses API.
        use_responses_api=False,
        temperature=0.0,
        timeout=cfg.timeout_s,
        max_retries=cfg.max_retries,
    )


__all__ = ["LLMConfigError", "LLMSettings", "chat_model_from_env"]
