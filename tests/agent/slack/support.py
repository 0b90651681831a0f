"""Shared pieces of the Slack unit tests: simulated stores with incidents and proposals."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.simstore import AT_US, END, Template
from tools.anomalies import sync_anomalies
from tools.incidents import list_incidents, refresh_incidents
from tools.incidents.investigate import investigate
from tools.runbooks import Proposal, context_from_incident, propose
from tools.runbooks.executors import ExecutorRegistry
from tools.simulate import FaultSpec, SimConfig
from tools.simulate.load import load_simulation
from tools.store import Store, open_store

HOUR_US = 3_600_000_000
# Two faults in separate corners of a 40-node stack: three open incidents, each naming
# its own nodes (a Meta Ads sync, two consent mismatches on different audiences).
THREE_FAULTS = ("expired_vendor_token", "consent_export_missing_withdrawals")


def build_multi_template(folder: Path, faults: tuple[str, ...] = THREE_FAULTS) -> Template:
    """Like simstore.build_template, with several faults at once."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "template.db"
    store = open_store(f"sqlite:///{path}")
    try:
        config = SimConfig(
            end=END, size=40, days=5, seed=7, scenarios=[FaultSpec(f) for f in faults]
        )
        load_simulation(store, config, folder)
        investigate(store, AT_US)
        ids = [i.id for i in list_incidents(store, status="open")]
    finally:
        store.dispose()
    return Template(path=path, at_us=AT_US, incident_ids=ids)


def queue_proposals(store: Store, incident_id: int, now_us: int = AT_US) -> list[Proposal]:
    """The incident's remediation, planned from its record and queued for people (no
    executors: nothing is applied or previewed)."""
    return propose(
        store,
        context_from_incident(store, incident_id),
        executors=ExecutorRegistry(),
        auto_apply=False,
        now_us=now_us,
    )


def resolve_everything(store: Store, at_us: int) -> None:
    """Every detector quiet at ``at_us``: the anomalies resolve, then their incidents."""
    sync_anomalies(store, [], at_us)
    refresh_incidents(store, at_us)
