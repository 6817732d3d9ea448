"""Offset solver benchmark: every instance in the DSA data folder and generated tight instances.

Ratios are against max live (the lower bound) and against plain best-fit by size, computed in
this process. Run: .venv/bin/python bench/offsets_bench.py [--time-limit 50] [--tight 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from modelopt_mlir.solver.instances import read_problem, tight_instance
from modelopt_mlir.solver.offset_solver import solve_offsets
from modelopt_mlir.solver.offsets import (
    IntervalArrays,
    best_fit_order,
    heuristic_orders,
    padded_max_live,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/dsa"))
    parser.add_argument("--time-limit", type=float, default=50.0)
    parser.add_argument("--tight", type=int, default=20, help="generated tight instances")
    parser.add_argument("--tight-time-limit", type=float, default=30.0)
    parser.add_argument(
        "--tight-first-seed", type=int, default=0, help="seed of the first tight instance"
    )
    parser.add_argument("--only", default="", help="comma-separated instance names")
    args = parser.parse_args()

    print(
        f"{'instance':<18}{'buffers':>8}{'max live':>15}{'bf/ml':>9}{'final/ml':>10}"
        f"{'final/bf':>10}{'status':>10}{'bf s':>7}{'total s':>9}  algorithm"
    )
    names = [n for n in args.only.split(",") if n]
    for path in sorted(args.data.glob("*.csv")):
        if names and path.stem not in names:
            continue
        problem = read_problem(path)
        arrays = IntervalArrays.from_problem(problem)
        live = padded_max_live(arrays)
        start = time.perf_counter()
        _, baseline = best_fit_order(arrays, heuristic_orders(arrays)["size"])
        baseline_seconds = time.perf_counter() - start
        start = time.perf_counter()
        result = solve_offsets(problem, time_limit=args.time_limit)
        total = time.perf_counter() - start
        assert result.plan is not None
        arena = result.plan.arena_size
        print(
            f"{path.stem:<18}{len(problem.buffers):>8}{live:>15}{baseline / live:>9.6f}"
            f"{arena / live:>10.6f}{arena / baseline:>10.6f}{result.status:>10}"
            f"{baseline_seconds:>7.1f}{total:>9.1f}  {result.algorithm}",
            flush=True,
        )

    if args.tight:
        print()
        print(
            f"{'tight (W=1000,T=100)':<24}{'count':>6}{'bf/W':>8}{'status':>12}{'arena/W':>9}{'s':>7}"
        )
        solved = 0
        times = []
        for index in range(args.tight):
            seed = args.tight_first_seed + index
            count = 100 + (300 * index) // max(args.tight - 1, 1)
            problem = tight_instance(1000, 100, count, seed)
            arrays = IntervalArrays.from_problem(problem)
            _, baseline = best_fit_order(arrays, heuristic_orders(arrays)["size"])
            start = time.perf_counter()
            result = solve_offsets(problem, time_limit=args.tight_time_limit, capacity=1000)
            seconds = time.perf_counter() - start
            times.append(seconds)
            fits = result.plan is not None and result.plan.arena_size <= 1000
            solved += fits
            arena = f"{result.plan.arena_size / 1000:.3f}" if result.plan else "-"
            print(
                f"{'seed ' + str(seed):<24}{count:>6}{baseline / 1000:>8.3f}{result.status:>12}"
                f"{arena:>9}{seconds:>7.1f}",
                flush=True,
            )
        times.sort()
        print(
            f"solved at capacity: {solved}/{args.tight}; median {times[len(times) // 2]:.1f} s, "
            f"max {times[-1]:.1f} s"
        )


if __name__ == "__main__":
    main()
