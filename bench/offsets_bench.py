"""Offset solver benchmark: every instance in the DSA data folder, generated tight (guillotine)
instances, and generated hard (non-guillotine) ones.

Ratios are against max live (the lower bound) and against plain best-fit by size, computed in
this process. Run: .venv/bin/python bench/offsets_bench.py [--time-limit 50] [--tight 20]
[--hard 40 --hard-slack 0 --hard-family walls,strips] (hard: brick walls and pinwheel
cuttings of 150-450 buffers, and random strip packings, :func:`generators.hard_instances`;
``--hard-slack -1`` gives each instance 1-6% slack in turn).
For each hard instance: best-fit's arena, the section search as it was before the canonical
search (guillotine + section branch-and-bound), the canonical search alone, and solve_offsets
at the capacity, each with the same work limit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from modelopt_mlir.solver.generators import hard_instances, tight_instance
from modelopt_mlir.solver.offsets.arrays import IntervalArrays, padded_max_live
from modelopt_mlir.solver.offsets.canonical_search import search_canonical
from modelopt_mlir.solver.offsets.check import offsets_are_valid
from modelopt_mlir.solver.offsets.driver import solve_offsets
from modelopt_mlir.solver.offsets.dsa_search import search_capacity
from modelopt_mlir.solver.offsets.heuristics import best_fit_order, placement_orders
from modelopt_mlir.solver.problem_files import read_problem
from modelopt_mlir.solver.work import Budget


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
    parser.add_argument("--hard", type=int, default=40, help="generated hard instances")
    parser.add_argument("--hard-time-limit", type=float, default=10.0)
    parser.add_argument("--hard-first-seed", type=int, default=0)
    parser.add_argument(
        "--hard-slack", type=float, default=0.0, help="percent above max live; -1: 1-6 in turn"
    )
    parser.add_argument(
        "--hard-columns", default="search,canonical,solve", help="which solvers to run"
    )
    parser.add_argument(
        "--hard-family", default="walls", help="walls (bricks and pinwheels), strips, or both"
    )
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
        _, baseline = best_fit_order(arrays, placement_orders(arrays)["size"])
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
            _, baseline = best_fit_order(arrays, placement_orders(arrays)["size"])
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

    if args.hard:
        hard(args)


def hard(args: argparse.Namespace) -> None:
    columns = [c for c in args.hard_columns.split(",") if c]
    print()
    print(
        f"{'hard (W=1 MiB)':<22}{'cap/ml':>8}{'bf/ml':>7}{'bf s':>6}"
        + "".join(f"{c:>18}" for c in columns)
    )
    instances = [
        one
        for family in args.hard_family.split(",")
        for one in hard_instances(args.hard, args.hard_first_seed, args.hard_slack, family)
    ]
    results: dict[str, list[tuple[bool, float]]] = {c: [] for c in columns}
    for name, problem in instances:
        arrays = IntervalArrays.from_problem(problem)
        live = padded_max_live(arrays)
        capacity = int(problem.capacity or live)
        start = time.perf_counter()
        _, baseline = best_fit_order(arrays, placement_orders(arrays)["size"])
        baseline_seconds = time.perf_counter() - start
        row = f"{name:<22}{capacity / live:>8.3f}{baseline / live:>7.3f}{baseline_seconds:>6.2f}"
        for column in columns:
            start = time.perf_counter()
            offsets = None
            budget = Budget.for_seconds(args.hard_time_limit)
            if column == "search":
                found = search_capacity(arrays, capacity, budget, canonical=False)
                status, offsets = found.status, found.offsets
            elif column == "canonical":
                found = search_canonical(arrays, capacity, budget)
                status, offsets = found.status, found.offsets
            else:
                result = solve_offsets(problem, time_limit=budget, capacity=capacity)
                status = result.status
                if result.plan is not None:
                    offsets = np.array([result.plan.offsets[i] for i in arrays.ids.tolist()])
            seconds = time.perf_counter() - start
            solved = offsets is not None and offsets_are_valid(arrays, offsets, capacity)
            assert offsets is None or solved, f"{name}: {column} returned an invalid plan"
            results[column].append((solved, seconds))
            row += f"{status:>11}{seconds:>7.2f}"
        print(row, flush=True)
    families = sorted({name.split("-")[0] for name, _ in instances})
    for column in columns:
        for family in [*families, "all"] if len(families) > 1 else families:
            rows = [
                r
                for (name, _), r in zip(instances, results[column], strict=True)
                if family == "all" or name.startswith(family + "-")
            ]
            done = [s for ok, s in rows if ok]
            times = sorted(s for _, s in rows)
            median = times[len(times) // 2] if times else 0.0
            print(
                f"{column} {family}: solved {len(done)}/{len(rows)} at capacity "
                f"(limit {args.hard_time_limit:g} s of work); median {median:.2f} s, "
                f"max {max(times, default=0.0):.2f} s; solved ones max "
                f"{max(done, default=0.0):.2f} s"
            )


if __name__ == "__main__":
    main()
