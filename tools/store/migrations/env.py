"""Alembic environment: runs against the engine handed over by tools.store.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from tools.store.schema import Base

config = context.config
engine: Engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
