"""Incidents: anomalies grouped through lineage and time, with ranked root causes and the
blast radius in revenue."""

from tools.incidents.blast import BlastRadius, blast_radius
from tools.incidents.grouping import group_anomalies
from tools.incidents.model import EvidenceItem, ImpactedNode, IncidentView, RootCause
from tools.incidents.rca import rank_root_causes
from tools.incidents.service import (
    UnknownIncidentError,
    get_incident,
    list_incidents,
    refresh_incidents,
)

__all__ = [
    "BlastRadius",
    "EvidenceItem",
    "ImpactedNode",
    "IncidentView",
    "RootCause",
    "UnknownIncidentError",
    "blast_radius",
    "get_incident",
    "group_anomalies",
    "list_incidents",
    "rank_root_causes",
    "refresh_incidents",
]
