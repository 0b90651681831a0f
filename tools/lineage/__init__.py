"""Lineage: the graph built from the store, and the queries over it.

Upstream / downstream / path (``queries``), column lineage (``columns``) and business
impact (``impact``) each return pydantic views that the CLI prints and the MCP tools
return. ``get_graph(store)`` gives the process-wide graph for code that walks it directly
(incidents, root-cause ranking).
"""

from tools.lineage.columns import ColumnEdge, ColumnLineageView, LineageColumn, column_lineage
from tools.lineage.graph import LineageGraph, get_graph
from tools.lineage.impact import REVENUE_RULE, ImpactedAsset, ImpactView, impact
from tools.lineage.queries import (
    DownstreamView,
    LineageNode,
    PathView,
    UpstreamView,
    downstream,
    path,
    upstream,
)

__all__ = [
    "REVENUE_RULE",
    "ColumnEdge",
    "ColumnLineageView",
    "DownstreamView",
    "ImpactView",
    "ImpactedAsset",
    "LineageColumn",
    "LineageGraph",
    "LineageNode",
    "PathView",
    "UpstreamView",
    "column_lineage",
    "downstream",
    "get_graph",
    "impact",
    "path",
    "upstream",
]
