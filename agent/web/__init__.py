"""The web application: the tools' HTTP API plus the pages people use."""

from __future__ import annotations

from fastapi import FastAPI

from tools.config import Settings
from tools.server.app import create_app
from tools.store.db import Store


def create_web_app(store: Store, settings: Settings | None = None) -> FastAPI:
    """The app ``flowsleuth serve`` runs; the operator pages mount here as they land."""
    return create_app(store, settings)
