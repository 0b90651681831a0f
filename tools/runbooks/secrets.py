"""Where executors get URLs, tokens and credentials: the environment or secret files.

Playbooks and prompts never carry them: a playbook names a logical target
(``orchestrator``) and the operator's deployment says where it is and how to log in.

Names: ``<TARGET>_URL`` and ``<TARGET>_TOKEN`` for HTTP targets, ``<TARGET>_DB_URL`` for
SQL targets, any other name for a credential. A name ``X`` is read from the environment
variable ``FLOWSLEUTH_SECRET_X``, else from the file ``X`` in ``FLOWSLEUTH_SECRETS_DIR``
(one value per file, as Docker and Kubernetes mount secrets).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Secrets(Protocol):
    def get(self, name: str) -> str | None: ...


def target_secret(target: str, suffix: str) -> str:
    """``orchestrator`` + ``URL`` -> ``ORCHESTRATOR_URL``."""
    return f"{target.upper()}_{suffix}"


class EnvSecrets:
    """Secrets from ``FLOWSLEUTH_SECRET_*`` variables and a secrets directory."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, directory: Path | None = None
    ) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        folder = directory or self._environ.get("FLOWSLEUTH_SECRETS_DIR")
        self._directory = Path(folder) if folder else None

    def get(self, name: str) -> str | None:
        if not _NAME.match(name):
            raise ValueError(f"secret name {name!r} must be UPPER_SNAKE_CASE")
        value = self._environ.get(f"FLOWSLEUTH_SECRET_{name}")
        if value:
            return value
        if self._directory is not None:
            path = self._directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8").strip() or None
        return None


class StaticSecrets:
    """A fixed mapping: for tests and embedding."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        return self._values.get(name)
