"""From a schedule problem to a complete arena plan. Solvers plug in here.

``greedy`` runs the order and offset heuristics. ``auto`` and ``ilp`` also search, within the
work the time limit buys (:mod:`work`: counted work, not seconds, so the same problem gets the
same plan on any load; the clock is only a safety stop): the order solver (heuristics, lower
bounds, the ILP for the remaining gap) gets half of the work, the offsets the rest: best-fit, then (when it misses the max live bytes) the peak-first
construction of :mod:`peak_window`, then the offset solver (heuristics, search, ILP). Offsets
are chosen for the best order and for program order, and the smaller arena wins, so the result
is never worse than ``greedy`` or than program order packed by the same solver.
"""

from __future__ import annotations

import time
from typing import Literal

from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.offsets.arrays import IntervalArrays, padded_max_live
from modelopt_mlir.solver.offsets.heuristics import best_offsets, run_heuristics
from modelopt_mlir.solver.order.heuristics import candidate_orders
from modelopt_mlir.solver.order.peak import padded_sizes, peak_of_order
from modelopt_mlir.solver.problem import ArenaPlan, IntervalProblem, OffsetPlan, ScheduleProblem
from modelopt_mlir.solver.work import Budget

SolverName = Literal["auto", "greedy", "ilp"]
ModeName = Literal["two-phase", "joint"]
ORDER_TIME_SHARE = 0.5
# The lowest-peak orders offsets are fitted to (besides program order and the order solver's).
CANDIDATE_ORDERS = 4
# Of each order's offset work, for the peak-first construction (when best-fit misses the bound).
WINDOW_TIME_SHARE = 0.25
QUICK_TIME_SHARE = 0.1


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


def _first_fit_arena(problem: ScheduleProblem, order: tuple[int, ...]) -> int:
    """The arena of one best-fit pass over ``order`` (the offset solver only improves on it)."""
    arrays = IntervalArrays.from_problem(IntervalProblem(live_intervals(problem, order)))
    return run_heuristics(arrays)[0].arena  # no budget: the first pass only


def _solve_offsets(intervals: IntervalProblem, budget: Budget) -> tuple[OffsetPlan, bool]:
    """Offsets for one order and whether the search stopped at its work limit. When best-fit
    misses the max live bytes, the peak-first construction gets WINDOW_TIME_SHARE of the work
    first (it either reaches that bound, and ends the search, or is kept as a candidate); the
    offset solver gets the rest."""
    from modelopt_mlir.solver.offsets.driver import solve_offsets
    from modelopt_mlir.solver.offsets.peak_window import peak_window_offsets

    arrays = IntervalArrays.from_problem(intervals)
    bound = padded_max_live(arrays)
    # The offset solver starts with the same best-fit passes: keep this first look short.
    quick = run_heuristics(arrays, budget.share(QUICK_TIME_SHARE), target=bound)[0]
    if quick.arena <= bound:
        return arrays.plan(quick.offsets, quick.algorithm), False
    window = peak_window_offsets(intervals, time_limit=budget.share(WINDOW_TIME_SHARE))
    if window is not None and window.arena_size <= bound:
        return window, False
    found = solve_offsets(intervals, time_limit=budget)
    assert found.plan is not None  # no capacity given: there is always a plan
    timed_out = found.status == "timeout"
    # The quick pass always finishes; after the clock's safety stop it can beat what the
    # searches were cut down to.
    first = arrays.plan(quick.offsets, quick.algorithm)
    best = min(
        (plan for plan in (found.plan, window, first) if plan is not None),
        key=lambda plan: plan.arena_size,
    )
    return best, timed_out


def plan_arena(
    problem: ScheduleProblem,
    reorder: bool = True,
    solver: SolverName = "auto",
    time_limit: float = 10.0,
    mode: ModeName = "two-phase",
    deadline: float | None = None,
) -> ArenaPlan:
    """The smallest arena found with the work ``time_limit`` seconds buy, with its bounds.
    The same problem and options give the same plan on any load unless the clock's safety
    stop fired (``ArenaPlan.clock_stopped``): at ``deadline`` (a ``time.perf_counter()``
    value), by default ``time_limit`` from now."""
    if solver not in ("auto", "greedy", "ilp"):
        raise ValueError(f"unknown solver '{solver}'")
    if mode not in ("two-phase", "joint"):
        raise ValueError(f"unknown mode '{mode}'")
    start = time.perf_counter()
    budget = Budget.for_seconds(time_limit, deadline)
    candidates, baseline = candidate_orders(problem, reorder=reorder, budget=budget)
    chosen = candidates[0]
    orders = {plan.order: plan.algorithm for plan in candidates[:CANDIDATE_ORDERS]}
    orders.setdefault(baseline.order, baseline.algorithm)
    if not reorder:
        order_bound: int | None = chosen.peak  # the one order allowed
    else:
        # Greedy searches nothing, but the bytes one unit uses must be live together in every
        # order: a cheap bound over all orders, so the gap greedy reports is against a bound.
        from modelopt_mlir.solver.order.bounds import op_local_bound

        order_bound = op_local_bound(problem)
    status = "heuristic"
    timed_out = False

    if solver != "greedy" and reorder:
        from modelopt_mlir.solver.order.driver import solve_order

        result = solve_order(
            problem,
            time_limit=budget.share(ORDER_TIME_SHARE),
            mode=mode,
            use_ilp=True,
            initial=(chosen, baseline),
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

    pending = list(orders.items())
    if solver != "greedy":
        # Lowest peak first: the peak bounds the arena from below, so that order is the most
        # promising, and an order whose peak is no less than an arena already found cannot win.
        # Each order gets an equal share of the work left: what one leaves goes to the next.
        peaks = {order: peak_of_order(problem, order) for order in orders}
        pending.sort(key=lambda item: peaks[item[0]])
        if len(pending) > 1:
            first = {order: _first_fit_arena(problem, order) for order in orders}
            cutoff = min(first.values())
            pending = [
                (order, algorithm)
                for order, algorithm in pending
                if peaks[order] < cutoff or first[order] == cutoff
            ]
    for index, (order, algorithm) in enumerate(pending):
        intervals = IntervalProblem(live_intervals(problem, order))
        if solver == "greedy":
            offsets = best_offsets(intervals)
        else:
            if plans and peaks[order] >= min(plan.arena_size for plan in plans):
                continue
            share = budget.share(1 / (len(pending) - index))
            offsets, out_of_time = _solve_offsets(intervals, share)
            timed_out |= out_of_time
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
        clock_stopped=budget.clock_stopped,
    )
