"""Grouping anomalies into incidents: connected through lineage and close in time.

Two anomalies belong together when one's node is upstream of the other's (or they are on
the same node) and their onsets are within ``window``. Sharing only a downstream node does
not join two anomalies by itself: two faults upstream of one audience become one incident
only through a symptom both reach, which is exactly when they hurt the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.anomalies import AnomalyView
from tools.lineage.graph import LineageGraph
from tools.timeutil import parse_micros

DEFAULT_WINDOW_US = 72 * 3_600_000_000


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_anomalies(
    anomalies: Sequence[AnomalyView],
    graph: LineageGraph,
    *,
    window_us: int = DEFAULT_WINDOW_US,
) -> list[list[AnomalyView]]:
    """Partition anomalies into groups, each sorted by onset; groups by earliest onset."""
    if not anomalies:
        return []
    node_ids = [graph.resolve(a.node) for a in anomalies]
    onsets = [parse_micros(a.onset) for a in anomalies]
    at_node: dict[int, list[int]] = {}
    for i, nid in enumerate(node_ids):
        at_node.setdefault(nid, []).append(i)
    uf = _UnionFind(len(anomalies))
    anomalous = set(at_node)
    for nid, members in at_node.items():
        reached = graph.reach([nid], "downstream", within=None) & anomalous
        reached.add(nid)
        for other in reached:
            for i in members:
                for j in at_node[other]:
                    if i != j and abs(onsets[i] - onsets[j]) <= window_us:
                        uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(len(anomalies)):
        groups.setdefault(uf.find(i), []).append(i)
    out = [
        sorted((anomalies[i] for i in g), key=lambda a: (a.onset, a.id)) for g in groups.values()
    ]
    return sorted(out, key=lambda g: (g[0].onset, g[0].id))
