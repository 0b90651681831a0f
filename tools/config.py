"""Settings from the environment (FLOWSLEUTH_*) and CLI flags, via pydantic-settings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = "sqlite:///./flowsleuth.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_", extra="ignore")

    db: str = Field(DEFAULT_DB, description="Store URL: sqlite:///path or postgresql://...")
    at: datetime | None = Field(None, description="'Now' for replaying history (ISO 8601)")
    sqlite_synchronous: str = Field("NORMAL", description="SQLite synchronous pragma")
    max_body_bytes: int = Field(8 << 20, description="Largest HTTP ingestion body accepted")
    ingest_tokens: str | None = Field(
        None, description="Bearer tokens that may POST telemetry, as JSON (see tools.server)"
    )
    ingest_tokens_file: Path | None = Field(
        None, description="A JSON or YAML file of ingestion tokens"
    )


def db_url(value: str) -> str:
    """Accept a bare file path as a SQLite store, as users type it."""
    if "://" in value:
        return value
    return f"sqlite:///{value}"
