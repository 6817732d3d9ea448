"""From a schedule problem to a complete arena plan. Solvers plug in here.

``greedy`` runs the order and offset heuristics. ``auto`` and ``ilp`` also search: the order
solver (heuristics, lower bounds, the ILP for the remaining gap) gets half of the time limit,
the offset solver (heuristics, search, ILP) the rest. Offsets are chosen for the best order and
for program order, and the smaller arena wins, so the result is never worse than ``greedy``
or than program order packed by the same solver.
"""

from __future__ import annotations

import time
from typing import Literal

from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.offsets import best_offsets
from modelopt_mlir.solver.order import best_order, padded_sizes
from modelopt_mlir.solver.problem import ArenaPlan, IntervalProblem, OffsetPlan, ScheduleProblem

SolverName = Literal["auto", "greedy", "ilp"]
ModeName = Literal["two-phase", "joint"]
ORDER_TIME_SHARE = 0.5


def _candidate(
    problem: ScheduleProblem,
    order: tuple[int, ...],
    offsets: OffsetPlan,
    order_algorithm: str,
    program_order_peak: int,
) -> ArenaPlan:
    padded = padded_sizes(problem)
    # Every solver's arena is measured the same way: the end of the highest padded buffer, so
    # that arena >= lower bound (max live of padded sizes) always compares like with like.
    arena = max(
        (offsets.offsets[b] + padded[b] for b, users in enumerate(problem.users) if users),
        default=0,
    )
    return ArenaPlan(
        order=order,
        offsets=dict(offsets.offsets),
        arena_size=arena,
        lower_bound=max_live(live_intervals(problem, order, padded)),
        program_order_peak=program_order_peak,
        order_algorithm=order_algorithm,
        offset_algorithm=offsets.algorithm,
        solve_seconds=0.0,
        intervals=live_intervals(problem, order),
    )


def plan_arena(
    problem: ScheduleProblem,
    reorder: bool = True,
    solver: SolverName = "auto",
    time_limit: float = 10.0,
    mode: ModeName = "two-phase",
) -> ArenaPlan:
    """The smallest arena found within ``time_limit`` seconds, with its bounds."""
    if solver not in ("auto", "greedy", "ilp"):
        raise ValueError(f"unknown solver '{solver}'")
    if mode not in ("two-phase", "joint"):
        raise ValueError(f"unknown mode '{mode}'")
    start = time.perf_counter()
    deadline = start + max(time_limit, 0.0)
    chosen, baseline = best_order(problem, reorder=reorder)
    orders = {chosen.order: chosen.algorithm, baseline.order: baseline.algorithm}
    order_bound = chosen.peak if not reorder else None
    status = "heuristic"
    timed_out = False

    if solver != "greedy" and reorder:
        from modelopt_mlir.solver.order_solver import solve_order

        result = solve_order(
            problem, time_limit=ORDER_TIME_SHARE * time_limit, mode=mode, use_ilp=True
        )
        orders.setdefault(result.order, result.algorithm)
        order_bound = result.lower_bound
        timed_out = result.status == "timeout"
        if mode == "joint" and result.offsets is not None and result.arena_size is not None:
            joint = OffsetPlan(result.offsets, result.arena_size, "joint-ilp")
            plans = [_candidate(problem, result.order, joint, result.algorithm, baseline.peak)]
        else:
            plans = []
    else:
        plans = []

    for order, algorithm in orders.items():
        intervals = IntervalProblem(live_intervals(problem, order))
        if solver == "greedy":
            offsets = best_offsets(intervals)
        else:
            from modelopt_mlir.solver.offset_solver import solve_offsets

            remaining = max(deadline - time.perf_counter(), 0.0) / max(len(orders), 1)
            found = solve_offsets(intervals, time_limit=remaining)
            assert found.plan is not None  # no capacity given: there is always a plan
            offsets = found.plan
            timed_out |= found.status == "timeout"
        plans.append(_candidate(problem, order, offsets, algorithm, baseline.peak))

    best = min(plans, key=lambda plan: (plan.arena_size, plan.lower_bound))
    bound = best.lower_bound if order_bound is None else min(order_bound, best.lower_bound)
    if solver != "greedy":
        status = "optimal" if best.arena_size <= bound else "timeout" if timed_out else "feasible"
    return ArenaPlan(
        order=best.order,
        offsets=best.offsets,
        arena_size=best.arena_size,
        lower_bound=best.lower_bound,
        program_order_peak=baseline.peak,
        order_algorithm=best.order_algorithm,
        offset_algorithm=best.offset_algorithm,
        solve_seconds=time.perf_counter() - start,
        intervals=best.intervals,
        order_lower_bound=bound,
        status=status,
    )
