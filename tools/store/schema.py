"""Every table of the store, for Alembic: importing this registers all model modules."""

import tools.store.models_notifications  # registers the notification table
import tools.store.models_runbooks  # noqa: F401  (registers the runbook tables)
from tools.store.models import Base

__all__ = ["Base"]
