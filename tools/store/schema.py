"""Every table of the store, for Alembic: importing this registers all model modules."""

from tools.store.models import Base

__all__ = ["Base"]
