"""One prepared store of simulated telemetry per test session, shared read-only; tests
that write get their own copy of the file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.server.mcp.support import Facts, facts, prepare_store
from tools.store import Store, open_store


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return prepare_store(tmp_path_factory.mktemp("mcp-sim"))


@pytest.fixture(scope="session")
def sim_facts(sim_url: str) -> Facts:
    return facts(sim_url)


@pytest.fixture(scope="session")
def sim_store(sim_url: str) -> Iterator[Store]:
    """The shared store: tests must not write to it (use ``sim_copy``)."""
    store = open_store(sim_url, migrate_schema=False)
    yield store
    store.dispose()


@pytest.fixture
def sim_copy(sim_url: str, tmp_path: Path) -> str:
    """A private copy of the prepared store, for tests that write."""
    source = Path(sim_url.removeprefix("sqlite:///"))
    target = tmp_path / "copy.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"
