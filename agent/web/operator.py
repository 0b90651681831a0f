"""Wiring the operator pages from configuration (users, secret, executors)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from agent.web.auth import Sessions, directory_of, load_users
from agent.web.pages import Pages, mount_pages
from tools.runbooks import default_executors
from tools.runbooks.executors import ExecutorRegistry
from tools.store.db import Store


def mount_operator(
    app: FastAPI,
    store: Store,
    *,
    clock: Callable[[], int],
    executors: Callable[[], ExecutorRegistry] | None = None,
    env: dict[str, str] | None = None,
) -> Pages:
    """Mount ``/ui``. With no users configured every page redirects to a login nobody can
    pass: the pages are off, never open. Raises WebConfigError for malformed config."""
    users = load_users(env)
    secret = (env or {}).get("FLOWSLEUTH_WEB_SECRET") if env is not None else None
    return mount_pages(
        app,
        store,
        users,
        directory_of(users),
        clock=clock,
        sessions=Sessions(secret),
        executors=executors or default_executors,
    )
