"""Simulated stores for agent tests: simulate + detect once per module, clone per test.

Loading a simulation and running detection takes a couple of seconds; a SQLite store is
a file, so a module builds one template and every test gets a byte copy of it.
PostgreSQL stores are loaded afresh into their own schema (see ``load_into``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.incidents import list_incidents
from tools.incidents.investigate import investigate
from tools.simulate import FaultSpec, SimConfig
from tools.simulate.load import load_simulation
from tools.store import Store, open_store, to_micros

END = datetime(2026, 3, 10, tzinfo=UTC)
AT_US = to_micros(END)
AT = "2026-03-10T00:00:00Z"


@dataclass(frozen=True)
class Template:
    path: Path
    at_us: int
    incident_ids: list[int]


def sim_config(scenario: str, size: int = 20, days: int = 5) -> SimConfig:
    return SimConfig(end=END, size=size, days=days, seed=7, scenarios=[FaultSpec(scenario)])


def load_into(store: Store, folder: Path, scenario: str, size: int = 20) -> list[int]:
    """Simulate ``scenario`` into ``store`` and detect; the open incident ids."""
    load_simulation(store, sim_config(scenario, size), folder)
    investigate(store, AT_US)
    return [i.id for i in list_incidents(store, status="open")]


def build_template(folder: Path, scenario: str, size: int = 20) -> Template:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "template.db"
    store = open_store(f"sqlite:///{path}")
    try:
        ids = load_into(store, folder, scenario, size)
    finally:
        store.dispose()  # the last connection's close folds the WAL into the file
    return Template(path=path, at_us=AT_US, incident_ids=ids)


def clone(template: Template, folder: Path) -> Path:
    """A private copy of the template store; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "flowsleuth.db"
    shutil.copyfile(template.path, target)
    return target


__all__ = ["AT", "AT_US", "END", "Template", "build_template", "clone", "load_into", "sim_config"]
