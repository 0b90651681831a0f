"""The Alembic revisions build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tools.store import Store, open_store
from tools.store.schema import Base


def test_migrated_schema_matches_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(db_url: str) -> None:
    first = open_store(db_url)
    tables = set(inspect(first.engine).get_table_names())
    first.dispose()
    second = open_store(db_url)
    assert set(inspect(second.engine).get_table_names()) == tables
    assert "alembic_version" in tables
    second.dispose()
