"""Opening a store: engine set-up per dialect and migrations to the latest schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Store:
    """A handle on one flowsleuth database.

    SQLite allows one writer at a time; a process-wide lock serialises our own writers so
    threads queue in Python instead of spinning on SQLITE_BUSY. PostgreSQL needs no lock.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.RLock() if self.is_sqlite else None
        # Caches of immutable ids (nodes and series are never deleted or renumbered).
        self.node_ids: dict[tuple[str, str, str], int] = {}
        self.series_ids: dict[tuple[int, str, str], int] = {}
        # Write-avoidance caches: the newest last_seen written per node, and a digest of
        # the facets last merged into each node (the same facets again change nothing).
        self.node_seen: dict[int, int] = {}
        self.node_facets: dict[int, str] = {}

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on exit; on return the data is durable."""
        try:
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    yield conn
                return
            with self._write_lock, self.engine.begin() as conn:
                yield conn
        except BaseException:
            # The caches may name rows the rollback just removed.
            self.reset_caches()
            raise

    def reset_caches(self) -> None:
        self.node_ids.clear()
        self.series_ids.clear()
        self.node_seen.clear()
        self.node_facets.clear()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every
    # committed transaction across a process crash (SIGKILL); only an OS crash or power
    # loss can drop the last commits. FLOWSLEUTH_SQLITE_SYNCHRONOUS=FULL closes that gap.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={_SQLITE_SYNC[0]}")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


_SQLITE_SYNC = ["NORMAL"]


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        _SQLITE_SYNC[0] = sqlite_synchronous.upper()
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (a no-op when it is there already)."""
    command.upgrade(alembic_config(engine), "head")


def open_store(
    url: str, *, migrate_schema: bool = True, sqlite_synchronous: str = "NORMAL"
) -> Store:
    engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
    if migrate_schema:
        migrate(engine)
    return Store(engine)


__all__ = ["NullPool", "Store", "make_engine", "migrate", "open_store"]
