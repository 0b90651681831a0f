"""One call from telemetry to explained incidents: detect as of T, group, rank, size.

The document this returns is the JSON of ``flowsleuth investigate --json``, the MCP tools
and the agent; the agent adds its explanation and proposals to the same document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tools.detect.engine import run_detection
from tools.incidents.model import IncidentView
from tools.incidents.service import UnknownIncidentError, get_incident, refresh_incidents
from tools.store.db import Store
from tools.timeutil import iso


class Investigation(BaseModel):
    at: str
    anomalies_open: int
    incidents: list[IncidentView]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def investigate(store: Store, at_us: int, *, incident_id: int | None = None) -> Investigation:
    """Detect anomalies as of ``at_us``, fold them into incidents, and return them most
    severe first (or just ``incident_id``, which must exist)."""
    anomalies = run_detection(store, at_us)
    incidents = refresh_incidents(store, at_us)
    if incident_id is not None:
        chosen = [i for i in incidents if i.id == incident_id]
        incidents = chosen or [get_incident(store, incident_id)]
    return Investigation(at=iso(at_us) or "", anomalies_open=len(anomalies), incidents=incidents)


__all__ = ["Investigation", "UnknownIncidentError", "investigate"]
