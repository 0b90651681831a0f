"""Where paused investigations live: LangGraph checkpoints beside the store.

* SQLite store (the default): a SQLite file next to it, ``<store>.checkpoints.db``.
* PostgreSQL store: the same database (LangGraph's tables beside ours), so every
  ``flowsleuth`` process sharing the store shares the paused investigations too.
* ``FLOWSLEUTH_CHECKPOINT_DB`` overrides either: a SQLite path / ``sqlite:///`` URL, or
  a ``postgresql://`` URL.

An in-memory SQLite store gets an in-memory checkpointer (gone with the process).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import make_url

from tools.store.db import Store

ENV_VAR = "FLOWSLEUTH_CHECKPOINT_DB"


class CheckpointConfigError(ValueError):
    """A checkpoint location that cannot be used; the message says why."""


def checkpoint_target(store: Store, override: str | None = None) -> str:
    """The checkpoint location for ``store``: a SQLite path, ':memory:' or a PG URL."""
    target = override or os.environ.get(ENV_VAR)
    if target:
        return _normalise(target)
    url = store.engine.url
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    if url.get_backend_name() != "sqlite":
        raise CheckpointConfigError(
            f"no default checkpoint location for a {url.get_backend_name()} store; set {ENV_VAR}"
        )
    database = url.database
    if not database or database == ":memory:":
        return ":memory:"
    path = Path(database)
    return str(path.with_name(path.stem + ".checkpoints.db"))


def _normalise(target: str) -> str:
    if target.startswith(("postgresql://", "postgres://", "postgresql+")):
        url = make_url(target)
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    if target.startswith("sqlite:"):
        database = make_url(target).database
        return database or ":memory:"
    if "://" in target:
        raise CheckpointConfigError(
            f"{ENV_VAR}={target!r}: expected a SQLite path, sqlite:///path or postgresql:// URL"
        )
    return target


def checkpoints_exist(store: Store, override: str | None = None) -> bool:
    """Could any investigation of ``store`` be checkpointed? (False for a SQLite file not
    created yet, so asking does not create one.)"""
    target = checkpoint_target(store, override)
    if target.startswith("postgresql://") or target == ":memory:":
        return True
    return Path(target).exists()


@contextmanager
def open_checkpointer(
    store: Store, override: str | None = None
) -> Iterator[BaseCheckpointSaver[str]]:
    """A checkpointer for ``store``'s investigations, set up and closed with the block."""
    target = checkpoint_target(store, override)
    if target.startswith("postgresql://"):
        with _postgres(target) as saver:
            yield saver
        return
    with _sqlite(target) as saver:
        yield saver


_LOCAL_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()
# Advisory-lock namespace for investigation threads (the first key of pg_advisory_lock).
_PG_NAMESPACE = int.from_bytes(
    hashlib.sha256(b"flowsleuth-investigation").digest()[:4], "big", signed=True
)


@contextmanager
def thread_lock(store: Store, thread_id: int, override: str | None = None) -> Iterator[None]:
    """Hold the investigation thread ``thread_id`` alone while a graph runs on it.

    Two resumes of one paused investigation must not run side by side (each would see
    it waiting); this serialises them across threads and processes: a PostgreSQL
    advisory lock, or a POSIX record lock on one byte of a lock file beside the SQLite
    checkpoints (record locks belong to a process, so a thread lock is taken too).
    """
    target = checkpoint_target(store, override)
    with _LOCAL_GUARD:
        local = _LOCAL_LOCKS.setdefault((target, str(thread_id)), threading.Lock())
    with local:
        if target.startswith("postgresql://"):
            from psycopg import Connection

            with Connection.connect(target, autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (_PG_NAMESPACE, thread_id))
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_PG_NAMESPACE, thread_id))
            return
        if target == ":memory:":
            yield
            return
        with open(target + ".lock", "a+b") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX, 1, thread_id)
            try:
                yield
            finally:
                fcntl.lockf(handle, fcntl.LOCK_UN, 1, thread_id)


@contextmanager
def _sqlite(path: str) -> Iterator[BaseCheckpointSaver[str]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # The saver serialises access with its own lock; the graph's worker threads share it.
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextmanager
def _postgres(url: str) -> Iterator[BaseCheckpointSaver[str]]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg.rows import dict_row

    with Connection.connect(
        url, autocommit=True, prepare_threshold=0, row_factory=dict_row
    ) as conn:
        saver = PostgresSaver(conn)
        saver.setup()
        yield saver


__all__ = [
    "ENV_VAR",
    "CheckpointConfigError",
    "checkpoint_target",
    "checkpoints_exist",
    "open_checkpointer",
    "thread_lock",
]
