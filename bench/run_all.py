"""``make bench``: every benchmark in turn (ingestion, detection, lineage, MCP, agent).

Each is a module under bench/ that prints its own table; run one alone with
``.venv/bin/python -m bench.<name>``. None of them is part of the test run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

BENCHES = [
    "bench.bench_ingest",
    "bench.bench_detect",
    "bench.bench_detect_store",
    "bench.bench_lineage",
    "bench.bench_mcp",
    "bench.bench_agent",
    "bench.bench_slack",
]


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    failed = []
    for name in BENCHES:
        if importlib.util.find_spec(name) is None:
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, "-m", name], cwd=root, env=env)
        if code != 0:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
