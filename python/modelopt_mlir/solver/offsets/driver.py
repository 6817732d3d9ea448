"""The offset solver: one entry point, anytime, never worse than the best heuristic.

Phases, each within its share of the work that ``time_limit`` buys (:mod:`work`):
1. best-fit in several orders (the first always runs) and a move pass on the best plan;
2. per independent time section (component of the interval graph) that is above the target:
   the exact branch-and-bound of :mod:`dsa_search` at the target, bisecting the capacity when
   minimising; proofs of infeasibility raise the lower bound;
3. small instances: the ILP of :mod:`ilp`, warm-started from the best plan;
4. whatever work is left: squeaky-wheel local search over the best-fit order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from modelopt_mlir.solver.offsets.arrays import IntervalArrays, load_profile
from modelopt_mlir.solver.offsets.check import count_overlapping_pairs, offsets_are_valid
from modelopt_mlir.solver.offsets.dsa_search import components, search_capacity
from modelopt_mlir.solver.offsets.heuristics import (
    HeuristicResult,
    relocate_top,
    run_heuristics,
    squeaky_wheel,
)
from modelopt_mlir.solver.offsets.ilp import solve_ilp
from modelopt_mlir.solver.problem import IntervalProblem, OffsetPlan
from modelopt_mlir.solver.work import Budget, as_budget, best_fit_estimate

OffsetStatus = Literal["optimal", "feasible", "infeasible", "timeout"]

HEURISTIC_SHARE = 0.4  # of the work, for best-fit orders beyond the first
SEARCH_MAX_BUFFERS = 600  # larger components are left to local search
ILP_MAX_PAIRS = 1500  # binaries; HiGHS closes such models in seconds
LOCAL_SEARCH_STARTS = 3  # best plan, then the next heuristics in turn
SMALL_PART = 400  # buffers; the search gets most of the time on parts this small
SMALL_PART_SHARE = 0.8
LARGE_PART_SHARE = 0.25
SEARCH_SHARE_BEFORE_ILP = 0.5  # of the work, for the search when the ILP phase follows


@dataclass(frozen=True)
class OffsetResult:
    """``plan`` is None only when a capacity was given and no plan within it was found; then
    ``status`` says whether that is proven ("infeasible") or not ("timeout")."""

    plan: OffsetPlan | None
    lower_bound: int
    status: OffsetStatus
    algorithm: str
    seconds: float
    # The clock's safety stop fired before the work limit: the result may differ between runs.
    clock_stopped: bool = False

    @property
    def gap(self) -> float:
        if self.plan is None:
            return float("inf")
        if self.lower_bound == 0:
            return 0.0
        return (self.plan.arena_size - self.lower_bound) / self.lower_bound


def solve_offsets(
    problem: IntervalProblem, time_limit: float | Budget = 10.0, capacity: int | None = None
) -> OffsetResult:
    """Offsets for every buffer, each a multiple of its alignment; sizes are padded to their
    alignment. Without a capacity (``problem.capacity`` is used when ``capacity`` is None) the
    arena is minimised until proven optimal or the work ``time_limit`` buys (seconds, or a
    :class:`Budget`) is spent; with one, the solver stops at the first plan that fits. The same
    problem and limit give the same result on any load, unless the clock's safety stop fires
    (``budget.clock_stopped``)."""
    start = time.perf_counter()
    budget = as_budget(time_limit)
    if capacity is None:
        capacity = problem.capacity
    arrays = IntervalArrays.from_problem(problem)
    profile = load_profile(arrays)
    bound = int(profile.max()) if len(profile) else 0
    bound = max(bound, int(arrays.size.max()) if len(arrays) else 0)

    def finish(
        best: HeuristicResult | None, lower: int, status: OffsetStatus | None = None
    ) -> OffsetResult:
        seconds = time.perf_counter() - start
        if best is None or (capacity is not None and best.arena > capacity):
            proven = lower > (capacity if capacity is not None else lower)
            return OffsetResult(
                None,
                lower,
                status or ("infeasible" if proven else "timeout"),
                "none",
                seconds,
                budget.clock_stopped,
            )
        plan = arrays.plan(best.offsets, best.algorithm)
        lower = min(lower, plan.arena_size)
        final = "optimal" if plan.arena_size <= lower else "feasible"
        return OffsetResult(plan, lower, final, best.algorithm, seconds, budget.clock_stopped)

    if capacity is not None and bound > capacity:
        return finish(None, bound, "infeasible")
    target = bound if capacity is None else capacity
    results = run_heuristics(arrays, budget.share(HEURISTIC_SHARE), target, reserve=budget)
    # After the clock's safety stop (a best-fit pass cut short stacks its last buffers, and
    # moving them down one by one would take long) nothing more is tried.
    if budget.out_of_time():
        return finish(results[0], bound)
    best = relocate_top(arrays, results[0], budget)
    if best.arena <= target or best.arena <= bound:
        return finish(best, bound)

    small = count_overlapping_pairs(arrays) <= ILP_MAX_PAIRS
    # On small instances the ILP often settles what the search cannot: keep work for it.
    search_budget = budget.share(SEARCH_SHARE_BEFORE_ILP) if small else budget
    best, bound, proven_infeasible = search_components(arrays, best, bound, capacity, search_budget)
    if proven_infeasible:
        return finish(None, bound, "infeasible")
    if best.arena <= bound or (capacity is not None and best.arena <= capacity):
        return finish(best, bound)

    if small and not budget.exhausted():
        found = solve_ilp(
            arrays,
            budget,
            warm_offsets=best.offsets,
            capacity=capacity,
            lower_bound=bound,
        )
        if found.status == "infeasible" and capacity is not None:
            return finish(None, capacity + 1, "infeasible")
        # solve_ilp checks its plans; check again here, exactly, before trusting the plan or
        # the bound that came with it (a solver that returns overlaps proves nothing either).
        if found.offsets is not None and offsets_are_valid(arrays, found.offsets, capacity):
            arena = int((found.offsets + arrays.size).max(initial=0))
            if arena < best.arena:
                best = HeuristicResult(found.offsets, arena, "ilp", best.order)
            if capacity is None and found.lower_bound <= arena:
                bound = max(bound, found.lower_bound)
        if best.arena <= bound or (capacity is not None and best.arena <= capacity):
            return finish(best, bound)

    best = _local_search(arrays, [best, *results], target, budget)
    return finish(best, bound)


def _local_search(
    arrays: IntervalArrays,
    starts: list[HeuristicResult],
    target: int,
    budget: Budget,
) -> HeuristicResult:
    """Squeaky-wheel runs from the best plans in turn (each a quarter of the work left, or a
    few dozen best-fit passes), keeping the best plan."""
    best = starts[0]
    round_index = 0
    one_pass = best_fit_estimate(len(arrays))
    while best.arena > target and budget.affords(one_pass):
        start = starts[round_index % min(len(starts), LOCAL_SEARCH_STARTS)]
        if round_index % min(len(starts), LOCAL_SEARCH_STARTS) == 0:
            start = best
        part = budget.units(max(budget.left // 4, min(budget.left, 30 * one_pass)))
        found = squeaky_wheel(arrays, start, target, part, seed=round_index)
        if found.arena < best.arena:
            best = found
        round_index += 1
    return best


def search_components(
    arrays: IntervalArrays,
    best: HeuristicResult,
    bound: int,
    capacity: int | None,
    budget: Budget,
) -> tuple[HeuristicResult, int, bool]:
    """Exact search per component above the target. Returns the improved plan, the raised
    lower bound and whether the capacity was proven infeasible."""
    parts = [p for p in components(arrays) if len(p) <= SEARCH_MAX_BUFFERS]
    offsets = best.offsets.copy()
    tops = offsets + arrays.size
    target = bound if capacity is None else capacity
    part_arena = {i: int(tops[p].max()) for i, p in enumerate(parts)}
    pending = sorted((i for i, a in part_arena.items() if a > target), key=lambda i: len(parts[i]))
    lower = bound
    changed = False
    for position, i in enumerate(pending):
        part = parts[i]
        # Large parts rarely close by search; keep most of their time for local search.
        fraction = SMALL_PART_SHARE if len(part) <= SMALL_PART else LARGE_PART_SHARE
        share = budget.share(fraction / (len(pending) - position))
        low, high = target, part_arena[i]  # the part needs at least low; high is achieved
        trial = low  # the bound first: usually it is the optimum; then bisect
        while low < high and not share.exhausted():
            result = search_capacity(arrays, trial, share, subset=part)
            if result.status == "found" and result.offsets is not None:
                offsets[part] = result.offsets[part]
                high = int((result.offsets[part] + arrays.size[part]).max())
                changed = True
            elif result.status == "infeasible":
                if capacity is not None:
                    return best, capacity + 1, True
                low = trial + 1
                lower = max(lower, low)
            else:
                break
            if capacity is not None:
                break
            trial = (low + high) // 2
        part_arena[i] = high
    if not changed:
        return best, lower, False
    arena = int((offsets + arrays.size).max())
    if arena >= best.arena:
        return best, lower, False
    return HeuristicResult(offsets, arena, f"{best.algorithm}+search", best.order), lower, False
