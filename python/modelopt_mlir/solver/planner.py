"""From a schedule problem to a complete arena plan. Solvers plug in here."""

from __future__ import annotations

import time
from typing import Literal

from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.offsets import best_offsets
from modelopt_mlir.solver.order import best_order, padded_sizes
from modelopt_mlir.solver.problem import ArenaPlan, IntervalProblem, ScheduleProblem

SolverName = Literal["greedy"]


def plan_arena(
    problem: ScheduleProblem,
    reorder: bool = True,
    solver: SolverName = "greedy",
    time_limit: float = 10.0,
) -> ArenaPlan:
    """Choose an order (lowest-peak heuristic), then offsets over its live intervals."""
    if solver != "greedy":
        raise ValueError(f"unknown solver '{solver}'")
    start = time.perf_counter()
    chosen, baseline = best_order(problem, reorder=reorder)
    sizes = padded_sizes(problem)
    intervals = live_intervals(problem, chosen.order)
    offsets = best_offsets(IntervalProblem(intervals))
    return ArenaPlan(
        order=chosen.order,
        offsets=offsets.offsets,
        arena_size=offsets.arena_size,
        lower_bound=max_live(live_intervals(problem, chosen.order, sizes)),
        program_order_peak=baseline.peak,
        order_algorithm=chosen.algorithm,
        offset_algorithm=offsets.algorithm,
        solve_seconds=time.perf_counter() - start,
        intervals=intervals,
    )
