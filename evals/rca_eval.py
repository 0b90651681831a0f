"""Root-cause accuracy table: flowsleuth vs a BARO-style baseline on simulated incidents.

    .venv/bin/python -m evals.rca_eval [--seeds 3] [--sizes 30,60] [--no-fault 5] [--workers 2]

Seeds and sizes are generated, never a fixed list tuned against: --seed-base moves them.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

from evals.rca import Report, make_cases, run_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-base", type=int, default=11)
    parser.add_argument("--sizes", default="30,60")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--no-fault", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seeds = range(args.seed_base, args.seed_base + args.seeds)
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = make_cases(seeds, sizes, no_fault=args.no_fault, days=args.days)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        outcomes = list(pool.map(run_case, cases))
    report = Report(outcomes)
    table = report.table()
    if args.json:
        print(
            json.dumps({"cases": len(cases), "table": table, "misses": report.misses()}, indent=2)
        )
        return
    faulty = sum(1 for c in cases if c.scenario)
    print(
        f"{faulty} fault cases ({len(sizes)} sizes x {args.seeds} seeds x every scenario), "
        f"{len(cases) - faulty} no-fault cases"
    )
    print(f"{'metric':<22}{'flowsleuth':>12}{'BARO':>10}")
    for metric in (
        "top1",
        "top3",
        "kind_at_1",
        "blast_precision",
        "blast_recall",
        "false_incident_rate",
    ):
        baro = table["baro"].get(metric)
        print(
            f"{metric:<22}{table['flowsleuth'][metric]:>12.3f}"
            f"{'' if baro is None else f'{baro:.3f}':>10}"
        )
    for miss in report.misses():
        print("miss:", miss)


if __name__ == "__main__":
    main()
