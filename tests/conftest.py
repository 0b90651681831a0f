"""Shared fixtures: a fresh store per test on SQLite, and on PostgreSQL when configured.

PostgreSQL tests run when FLOWSLEUTH_TEST_PG_URL is set; each test gets its own schema, so
tests stay parallel-safe under pytest-xdist.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tools.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_URL = os.environ.get("FLOWSLEUTH_TEST_PG_URL")


def pg_schema_url(base: str) -> Iterator[str]:
    """Create a throwaway schema; yield a URL whose connections use it; drop it after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = base.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _backends() -> list[object]:
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="FLOWSLEUTH_TEST_PG_URL not set"),
            ],
        ),
    ]


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flowsleuth.db'}"
    else:
        assert PG_URL is not None
        yield from pg_schema_url(PG_URL)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'flowsleuth.db'}")
    yield s
    s.dispose()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
