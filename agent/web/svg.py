"""Server-side SVG: a layered lineage picture and sparklines with expected bands.

Drawn as markup strings (escaped) so pages need no JavaScript charting library.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from tools.lineage import get_graph
from tools.store.db import Store

MAX_NODES = 60
BOX_W, BOX_H, GAP_X, GAP_Y = 170, 26, 60, 12


def _label(node: str) -> str:
    name = node.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return name if len(name) <= 24 else name[:22] + ".."


def lineage_svg(store: Store, root: str, symptomatic: set[str]) -> str:
    """The downstream subgraph of ``root``, one column per hop, symptoms highlighted."""
    graph = get_graph(store)
    start = graph.resolve(root)
    dist = graph.distances(start, "downstream", include_jobs=True)
    chosen = sorted(dist, key=lambda n: (dist[n], str(graph.ref(n))))[:MAX_NODES]
    columns: dict[int, list[int]] = {}
    for nid in chosen:
        columns.setdefault(dist[nid], []).append(nid)
    pos: dict[int, tuple[int, int]] = {}
    for col, nids in columns.items():
        for row, nid in enumerate(nids):
            pos[nid] = (10 + col * (BOX_W + GAP_X), 10 + row * (BOX_H + GAP_Y))
    width = 20 + len(columns) * (BOX_W + GAP_X)
    height = 20 + max((len(v) for v in columns.values()), default=1) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="lineage downstream of {escape(root)}">'
    ]
    for src in chosen:
        for dst in graph.graph.successors(src):
            if dst in pos:
                (x1, y1), (x2, y2) = pos[src], pos[dst]
                parts.append(
                    f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" '
                    f'y2="{y2 + BOX_H // 2}" class="edge"/>'
                )
    for nid in chosen:
        ref = str(graph.ref(nid))
        x, y = pos[nid]
        cls = "root" if nid == start else "symptom" if ref in symptomatic else "node"
        if graph.is_job(nid):
            cls += " job"
        parts.append(
            f'<g class="{cls}"><title>{escape(ref)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
            f'<text x="{x + 6}" y="{y + 17}">{escape(_label(ref))}</text></g>'
        )
    if len(dist) > MAX_NODES:
        parts.append(f'<text x="10" y="{height - 2}">{len(dist) - MAX_NODES} more not shown</text>')
    parts.append("</svg>")
    return "".join(parts)


def sparkline_svg(
    values: Sequence[float],
    *,
    lower: float | None = None,
    upper: float | None = None,
    width: int = 320,
    height: int = 60,
) -> str:
    """A line of ``values`` over the expected band [lower, upper] (shaded) when known."""
    if not values:
        return '<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="0" height="0"/>'
    bounds = [*values, *(b for b in (lower, upper) if b is not None)]
    lo, hi = min(bounds), max(bounds)
    span = (hi - lo) or 1.0

    def y(v: float) -> float:
        return round(height - 4 - (v - lo) / span * (height - 8), 2)

    step = (width - 8) / max(1, len(values) - 1)
    points = " ".join(f"{round(4 + i * step, 2)},{y(v)}" for i, v in enumerate(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    if lower is not None and upper is not None:
        top, tall = y(upper), round(y(lower) - y(upper), 2)
        parts.append(f'<rect class="band" x="0" y="{top}" width="{width}" height="{tall}"/>')
    parts.append(f'<polyline class="series" fill="none" points="{points}"/>')
    parts.append("</svg>")
    return "".join(parts)
