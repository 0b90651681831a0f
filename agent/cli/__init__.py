"""The ``flowsleuth`` command line: a thin adapter over the typed APIs in ``tools``."""

from __future__ import annotations

from agent.cli.app import app, main

__all__ = ["app", "main"]
