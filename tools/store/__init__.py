"""The store: typed models, engine set-up, migrations and queries."""

from tools.store.db import Store, make_engine, migrate, open_store
from tools.store.models import from_micros, now_micros, to_micros

__all__ = [
    "Store",
    "from_micros",
    "make_engine",
    "migrate",
    "now_micros",
    "open_store",
    "to_micros",
]
