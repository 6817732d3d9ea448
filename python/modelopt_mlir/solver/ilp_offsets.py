"""Offsets as an integer program (PuLP + HiGHS, CBC as fallback).

One address variable per buffer (a multiple of its alignment), one binary per pair of buffers
live at the same time with big-M non-overlap in both directions, identical buffers ordered,
and the arena either minimised or bounded by a given capacity. A heuristic plan is the warm
start (HiGHS gets it as a starting solution) and its arena bounds the big-M.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pulp

from modelopt_mlir.solver.native_output import native_stdout_silenced
from modelopt_mlir.solver.offsets import IntervalArrays

IlpStatus = Literal["optimal", "feasible", "infeasible", "timeout"]


@dataclass(frozen=True)
class IlpResult:
    status: IlpStatus
    offsets: np.ndarray | None  # indexed like the arrays
    arena: int | None
    lower_bound: int  # proven by the solver (0 when it proved nothing)
    seconds: float


def overlapping_pairs(arrays: IntervalArrays) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of sized buffers live at the same time (sweep over lower ends)."""
    index = np.flatnonzero(arrays.size > 0)
    by_lower = index[np.argsort(arrays.lower[index], kind="stable")].tolist()
    lower, upper = arrays.lower.tolist(), arrays.upper.tolist()
    pairs: list[tuple[int, int]] = []
    active: list[int] = []
    for b in by_lower:
        active = [a for a in active if upper[a] > lower[b]]
        pairs.extend((min(a, b), max(a, b)) for a in active)
        active.append(b)
    return pairs


def count_overlapping_pairs(arrays: IntervalArrays) -> int:
    """How many pairs :func:`overlapping_pairs` would list, in O(n log n)."""
    index = np.flatnonzero(arrays.size > 0)
    lower, upper = np.sort(arrays.lower[index]), np.sort(arrays.upper[index])
    # Buffers that start before b ends, minus those that end by the time b starts, minus b.
    live_with = np.searchsorted(lower, arrays.upper[index]) - np.searchsorted(
        upper, arrays.lower[index], side="right"
    )
    return int((live_with.sum() - index.size) // 2)


def _solver(time_limit: float) -> pulp.LpSolver:
    highs = pulp.HiGHS(msg=False, timeLimit=max(time_limit, 0.1))
    if highs.available():
        # No threads option: HiGHS refuses to run when it differs from its global scheduler.
        return _WarmHiGHS(msg=False, timeLimit=max(time_limit, 0.1))
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=max(time_limit, 1.0), warmStart=True)


class _WarmHiGHS(pulp.HiGHS):
    """PuLP's HiGHS interface drops initial values; hand them to HiGHS before it runs."""

    def callSolver(self, lp: pulp.LpProblem) -> None:
        try:
            import highspy

            values = [var.varValue if var.varValue is not None else 0.0 for var in lp.variables()]
            solution = highspy.HighsSolution()
            solution.col_value = values
            solution.value_valid = True
            lp.solverModel.setSolution(solution)
        except Exception:  # noqa: BLE001 - a warm start is only a hint
            pass
        super().callSolver(lp)


def solve_ilp(
    arrays: IntervalArrays,
    time_limit: float,
    warm_offsets: np.ndarray | None = None,
    capacity: int | None = None,
    lower_bound: int = 0,
) -> IlpResult:
    """Minimise the arena (or, with ``capacity``, find any plan within it)."""
    start = time.perf_counter()
    n = len(arrays)
    size = arrays.size.tolist()
    align = arrays.alignment.tolist()
    sized = [i for i in range(n) if size[i] > 0]
    if warm_offsets is not None:
        big = int((warm_offsets + arrays.size).max(initial=0))
    else:
        big = int(arrays.size.sum())
    if capacity is not None:
        big = min(big, capacity) if warm_offsets is not None and big <= capacity else capacity
    model = pulp.LpProblem("offsets", pulp.LpMinimize)
    arena = pulp.LpVariable("arena", lowBound=max(lower_bound, 0), upBound=big, cat="Integer")
    # offset = alignment * slot keeps every address aligned.
    slot = {
        i: pulp.LpVariable(f"o{i}", lowBound=0, upBound=(big - size[i]) // align[i], cat="Integer")
        for i in sized
    }
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
    for i, j in overlapping_pairs(arrays):
        if (lower[i], upper[i], size[i], align[i]) == (lower[j], upper[j], size[j], align[j]):
            continue  # ordered above
        z = pulp.LpVariable(f"z{i}_{j}", cat="Binary")  # 1: i below j
        below[i, j] = z
        model += offset[i] + size[i] <= offset[j] + big * (1 - z)
        model += offset[j] + size[j] <= offset[i] + big * z
    if warm_offsets is not None and int((warm_offsets + arrays.size).max(initial=0)) <= big:
        warm = warm_offsets.tolist()
        for i in sized:
            slot[i].setInitialValue(warm[i] // align[i])
        for (i, j), z in below.items():
            z.setInitialValue(1 if warm[i] < warm[j] else 0)
        arena.setInitialValue(int((warm_offsets + arrays.size).max(initial=0)))
    if not sized:
        return IlpResult("optimal", np.zeros(n, dtype=np.int64), 0, 0, time.perf_counter() - start)
    remaining = time_limit - (time.perf_counter() - start)
    if remaining <= 0.05:
        return IlpResult("timeout", None, None, 0, time.perf_counter() - start)
    with native_stdout_silenced():
        model.solve(_solver(remaining))
    seconds = time.perf_counter() - start
    if model.status == pulp.constants.LpStatusInfeasible:
        return IlpResult("infeasible", None, None, 0, seconds)
    if model.sol_status not in (
        pulp.constants.LpSolutionOptimal,
        pulp.constants.LpSolutionIntegerFeasible,
    ) or any(slot[i].varValue is None for i in sized):
        return IlpResult("timeout", None, None, 0, seconds)
    offsets = np.zeros(n, dtype=np.int64)
    for i in sized:
        offsets[i] = round(slot[i].varValue) * align[i]
    found = int((offsets + arrays.size).max()) if n else 0
    proven = model.sol_status == pulp.constants.LpSolutionOptimal
    bound = found if proven and capacity is None else 0
    return IlpResult("optimal" if proven else "feasible", offsets, found, bound, seconds)
