"""Offsets as an integer program (PuLP + HiGHS, CBC as fallback).

One address variable per buffer (a multiple of its alignment), one binary per pair of buffers
live at the same time with big-M non-overlap in both directions, identical buffers ordered,
and the arena either minimised or bounded by a given capacity. A heuristic plan is the warm
start (HiGHS gets it as a starting solution) and its arena bounds the big-M.

The solver works in floating point with tolerances: a binary within its integrality tolerance
of 0 or 1, times a big-M of hundreds of megabytes, lets two buffers overlap by hundreds of
bytes, and a model whose numbers come near 1e9 is one where a double's spacing exceeds the
feasibility tolerance, so that HiGHS can call a feasible capacity infeasible. So:

- the model counts in units of the gcd of all sizes and alignments, each big-M is the smallest
  that is valid for its pair, and the tolerances are as tight as the magnitudes allow;
- every plan that comes back is checked in integer arithmetic; one that fails is rebuilt from
  the solver's vertical order (its binaries, else its offsets) by longest path, which is valid
  by construction (or replaced by the warm start when that is lower); it is reported as
  "feasible" unless it meets the proven bound, and not at all when it no longer fits a given
  capacity;
- proofs (infeasibility, the dual bound) are believed only for models whose largest number,
  in units, is at most :data:`TRUSTED_MAGNITUDE`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pulp

from modelopt_mlir.solver.highs import WarmStartHiGHS
from modelopt_mlir.solver.native_output import native_stdout_silenced
from modelopt_mlir.solver.offsets.arrays import IntervalArrays
from modelopt_mlir.solver.offsets.check import offsets_are_valid, overlapping_pairs
from modelopt_mlir.solver.work import Budget, as_budget, highs_spent, highs_units

IlpStatus = Literal["optimal", "feasible", "infeasible", "timeout"]

# Above this (in units), a double's spacing is within a few dozen of HiGHS's feasibility
# tolerance (1e-7): its infeasibility proofs and dual bounds are not believed, only checked plans.
TRUSTED_MAGNITUDE = 2**24
TOLERANCE_ULPS = 1000.0  # tolerances at least this many spacings of the largest number


def highs_options(magnitude: int) -> dict[str, float]:
    """HiGHS options for a model whose numbers reach ``magnitude``. Its defaults (1e-6 for
    integrality, 1e-7 for rows, a relative gap of 1e-4) let a binary times a big-M of 1e7 open
    an overlap of several units and call a plan 1e-4 above its bound optimal; tighter is only
    safe while a double resolves the numbers well below the tolerance."""
    spacing = TOLERANCE_ULPS * math.ulp(float(max(magnitude, 1)))
    return {
        "mip_feasibility_tolerance": min(max(spacing, 1e-9), 1e-6),
        "primal_feasibility_tolerance": min(max(spacing, 1e-9), 1e-7),
        "mip_rel_gap": 0.0,
        "mip_abs_gap": 0.5,  # the arena in units is an integer: a gap below 1 proves it
    }


@dataclass(frozen=True)
class IlpResult:
    """``offsets`` (indexed like the arrays) are checked exactly whenever they are not None:
    aligned, non-overlapping where lifetimes overlap, and within the capacity if one was given.
    ``status`` is "optimal" only for a checked plan whose arena equals ``lower_bound`` (or,
    with a capacity, one the solver found without repair)."""

    status: IlpStatus
    offsets: np.ndarray | None
    arena: int | None
    lower_bound: int  # proven by the solver (0 when it proved nothing)
    seconds: float


def stack_in_order(
    arrays: IntervalArrays, offsets: np.ndarray, pairs: list[tuple[int, int]] | None = None
) -> np.ndarray:
    """A valid plan keeping the vertical order of ``offsets`` (lower offset below, ties by
    index) between buffers live at the same time: each buffer at the lowest aligned address
    above every such buffer below it (the longest path in that order)."""
    given = [int(o) for o in offsets.tolist()]
    edges = [
        (i, j) if (given[i], i) < (given[j], j) else (j, i)
        for i, j in (overlapping_pairs(arrays) if pairs is None else pairs)
    ]
    stacked = stack_edges(arrays, edges)
    assert stacked is not None  # an order by (offset, index) has no cycle
    return stacked


def stack_edges(arrays: IntervalArrays, edges: list[tuple[int, int]]) -> np.ndarray | None:
    """Offsets by longest path over ``edges`` (``(low, high)``: high sits above low), each
    buffer at the lowest aligned address above all below it; None when the edges have a
    cycle. Valid whenever every pair of buffers live together is an edge one way or the other."""
    n = len(arrays)
    size, align = arrays.size.tolist(), arrays.alignment.tolist()
    above: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for low, high in edges:
        above[low].append(high)
        waiting[high] += 1
    ready = [i for i in range(n) if waiting[i] == 0]
    placed = [0] * n
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        placed[i] = -(-placed[i] // align[i]) * align[i]  # the highest top below, aligned
        for j in above[i]:
            placed[j] = max(placed[j], placed[i] + size[i])
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if done < n:
        return None
    return np.array(placed, dtype=np.int64)


def _solver(time_limit: float, options: dict[str, float]) -> pulp.LpSolver:
    highs = pulp.HiGHS(msg=False, timeLimit=max(time_limit, 0.1))
    if highs.available():
        # No threads option: HiGHS refuses to run when it differs from its global scheduler.
        return WarmStartHiGHS(msg=False, timeLimit=max(time_limit, 0.1), **options)
    return pulp.PULP_CBC_CMD(
        msg=False, timeLimit=max(time_limit, 1.0), warmStart=True, gapRel=0.0, gapAbs=0.5
    )


def _proven(dual_bound: float) -> int:
    """The smallest integer the dual bound proves, allowing for floating-point error."""
    return max(math.ceil(dual_bound - 1e-6 - 1e-9 * abs(dual_bound)), 0)


def solve_ilp(
    arrays: IntervalArrays,
    time_limit: float | Budget,
    warm_offsets: np.ndarray | None = None,
    capacity: int | None = None,
    lower_bound: int = 0,
) -> IlpResult:
    """Minimise the arena (or, with ``capacity``, find any plan within it), within the work
    ``time_limit`` buys (seconds or a :class:`Budget`): HiGHS gets a node limit from it, so
    the result does not depend on the machine's load; the clock is only a safety stop."""
    start = time.perf_counter()
    budget = as_budget(time_limit)
    n = len(arrays)
    size_bytes = [int(s) for s in arrays.size.tolist()]
    align_bytes = [int(a) for a in arrays.alignment.tolist()]
    sized = [i for i in range(n) if size_bytes[i] > 0]
    if not sized:
        return IlpResult("optimal", np.zeros(n, dtype=np.int64), 0, 0, time.perf_counter() - start)
    # Every size and alignment is a multiple of unit, so is every offset and top: count in units.
    unit = math.gcd(*(size_bytes[i] for i in sized), *(align_bytes[i] for i in sized))
    size = [s // unit for s in size_bytes]
    align = [a // unit for a in align_bytes]
    pairs = overlapping_pairs(arrays)
    warm_arena: int | None = None
    if warm_offsets is not None:
        warm_arena = int((warm_offsets + arrays.size).max(initial=0))
        if not offsets_are_valid(arrays, warm_offsets, pairs=pairs):
            warm_offsets, warm_arena = None, None  # an invalid plan neither starts nor bounds
    big = warm_arena if warm_arena is not None else sum(size_bytes)
    if capacity is not None and (warm_arena is None or warm_arena > capacity):
        big = capacity
    big //= unit  # tops are multiples of unit, so a top <= big bytes iff it is <= big // unit
    floor = -(-max(lower_bound, 0) // unit)
    if floor > big or any(size[i] > big for i in sized):
        if capacity is not None:
            return IlpResult("infeasible", None, None, 0, time.perf_counter() - start)
        return IlpResult("timeout", None, None, 0, time.perf_counter() - start)
    model = pulp.LpProblem("offsets", pulp.LpMinimize)
    arena = model.add_variable("arena", floor, big, "Integer")
    # offset = alignment * slot keeps every address aligned.
    top_slot = {i: (big - size[i]) // align[i] for i in sized}
    slot = {i: model.add_variable(f"o{i}", 0, top_slot[i], "Integer") for i in sized}
    offset = {i: align[i] * slot[i] for i in sized}
    model += arena if capacity is None else 0 * arena
    for i in sized:
        model += offset[i] + size[i] <= arena
    lower, upper = arrays.lower.tolist(), arrays.upper.tolist()
    twins: dict[tuple[int, int, int, int], int] = {}
    for i in sized:
        key = (lower[i], upper[i], size[i], align[i])
        twin = twins.get(key)
        twins[key] = i
        if twin is not None:  # identical buffers: the earlier one sits lower
            model += offset[twin] + size[twin] <= offset[i]
    below: dict[tuple[int, int], pulp.LpVariable] = {}
    for i, j in pairs:
        if (lower[i], upper[i], size[i], align[i]) == (lower[j], upper[j], size[j], align[j]):
            continue  # ordered above
        z = model.add_variable(f"z{i}_{j}", 0, 1, "Binary")  # 1: i below j
        below[i, j] = z
        # The smallest valid big-M: the largest top of the upper buffer (the other is >= 0).
        model += offset[i] + size[i] <= offset[j] + (align[i] * top_slot[i] + size[i]) * (1 - z)
        model += offset[j] + size[j] <= offset[i] + (align[j] * top_slot[j] + size[j]) * z
    if warm_offsets is not None and warm_arena is not None and warm_arena // unit <= big:
        warm = [int(o) for o in warm_offsets.tolist()]
        for i in sized:
            slot[i].setInitialValue(warm[i] // align_bytes[i])
        for (i, j), z in below.items():
            z.setInitialValue(1 if (warm[i], i) < (warm[j], j) else 0)
        arena.setInitialValue(warm_arena // unit)

    def no_solution(seconds: float) -> IlpResult:
        """HiGHS returned no usable plan. Without a capacity the warm start (checked above) is
        one: HiGHS has given none on such a model (sizes 1 and 999,999,999 bytes)."""
        if capacity is None and warm_offsets is not None and warm_arena is not None:
            return IlpResult("feasible", warm_offsets, warm_arena, 0, seconds)
        return IlpResult("timeout", None, None, 0, seconds)

    columns, rows = len(sized) + len(below) + 1, len(model.constraints)
    root_units, node_units = highs_units(columns, rows)
    max_nodes = (budget.left - root_units) // node_units
    remaining = budget.seconds_left()
    if max_nodes < 1 or remaining <= 0.05:
        return IlpResult("timeout", None, None, 0, time.perf_counter() - start)
    solver = _solver(remaining, {**highs_options(big), "mip_max_nodes": max_nodes})
    with native_stdout_silenced():
        model.solve(solver)
    budget.spend(
        highs_spent(
            columns, rows, getattr(solver, "nodes", max_nodes), getattr(solver, "iterations", 0)
        )
    )
    budget.out_of_time()  # records a safety stop that fired inside HiGHS, for the caller
    seconds = time.perf_counter() - start
    trusted = big <= TRUSTED_MAGNITUDE
    if model.status == pulp.constants.LpStatusInfeasible:
        if capacity is not None:
            # HiGHS has called feasible capacities infeasible (sizes 1.5e8 and 1 byte with
            # alignments 64 and 256, at max live): a best-fit plan within the capacity
            # refutes the claim, and is returned instead.
            from modelopt_mlir.solver.offsets.heuristics import run_heuristics

            refuted = [
                r
                for r in run_heuristics(arrays, Budget.unlimited(), capacity)
                if r.arena <= capacity and offsets_are_valid(arrays, r.offsets, capacity, pairs)
            ]
            if refuted:
                return IlpResult("feasible", refuted[0].offsets, refuted[0].arena, 0, seconds)
        if capacity is not None and trusted:
            return IlpResult("infeasible", None, None, 0, seconds)
        return no_solution(seconds)
    if model.sol_status not in (
        pulp.constants.LpSolutionOptimal,
        pulp.constants.LpSolutionIntegerFeasible,
    ):
        return no_solution(seconds)
    offsets = np.zeros(n, dtype=np.int64)
    for i in sized:
        value = slot[i].varValue
        if value is None or not math.isfinite(value):
            return no_solution(seconds)
        offsets[i] = min(max(round(value), 0), top_slot[i]) * align_bytes[i]
    repaired = not offsets_are_valid(arrays, offsets, capacity, pairs)
    if repaired:
        fixed = repair(arrays, offsets, pairs, below, capacity, warm_offsets)
        if fixed is None:
            return IlpResult("timeout", None, None, 0, seconds)  # over the capacity
        offsets = fixed
    found = max(int(offsets[i]) + size_bytes[i] for i in sized)
    solved = model.sol_status == pulp.constants.LpSolutionOptimal
    if capacity is not None:
        status = "optimal" if solved and not repaired else "feasible"
        return IlpResult(status, offsets, found, 0, seconds)
    # CBC gives no dual bound: its proof of optimality (for the tolerant model) is all there is.
    dual = getattr(solver, "dual_bound", None)
    bound = found if solved and not repaired else 0
    if dual is not None:
        bound = _proven(dual) * unit
    if not trusted or bound > found:  # a valid plan below a "proven" bound: it is wrong
        bound = 0
    return IlpResult("optimal" if found == bound else "feasible", offsets, found, bound, seconds)


def repair(
    arrays: IntervalArrays,
    offsets: np.ndarray,
    pairs: list[tuple[int, int]],
    below: dict[tuple[int, int], pulp.LpVariable],
    capacity: int | None,
    warm_offsets: np.ndarray | None,
) -> np.ndarray | None:
    """The lowest valid plan within ``capacity`` of: the solver's vertical order rebuilt by
    longest path, from its offsets and from its binaries (when they form no cycle); and the
    warm start (never worse than what came in). None when none fits."""
    candidates = [stack_in_order(arrays, offsets, pairs)]
    edges = []
    for i, j in pairs:
        z = below.get((i, j))
        # No binary: identical buffers, ordered by index in the model.
        edges.append((j, i) if z is not None and (z.varValue or 0.0) < 0.5 else (i, j))
    by_binaries = stack_edges(arrays, edges)
    if by_binaries is not None:
        candidates.append(by_binaries)
    if warm_offsets is not None:
        candidates.append(warm_offsets.astype(np.int64))
    valid = [c for c in candidates if offsets_are_valid(arrays, c, capacity, pairs)]
    if not valid:
        return None
    return min(valid, key=lambda c: int((c + arrays.size).max(initial=0)))
