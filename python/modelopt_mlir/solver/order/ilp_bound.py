"""The order ILP run for its proof, on the clock: the bench's path, not ``solve_order``'s.

``whole_graph_ilp`` solves :class:`~modelopt_mlir.solver.order.ilp.OrderModel` (the
time-indexed create/preserve model: ``done[u, s]`` only inside u's ASAP..ALAP window, each
edge as a cumulative constraint ``done[b, s] <= done[a, s - 1]``) on the whole graph, warm
started from the best heuristic order, with a lower bound (the cut bound) on the peak, and
reports HiGHS's dual bound and what it spent: columns, rows, binaries, nodes, LP iterations.
``lp_relaxation`` is that model's LP optimum without the lower bound: when it is below the
lower bound, the root cannot help and only branching can raise the dual bound.
``window_search`` re-solves windows of consecutive steps around the peak of an order, each to
optimality or a few seconds, keeping a window's order when the peak drops (or fewer steps
reach it), growing the windows when none helps.

Both stop on the clock (seconds), not on a work budget, so results depend on the machine's
load: fine for a benchmark, wrong for the compiler (see :mod:`modelopt_mlir.solver.work`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import pulp

from modelopt_mlir.solver.highs import WarmStartHiGHS
from modelopt_mlir.solver.native_output import native_stdout_silenced
from modelopt_mlir.solver.order.heuristics import refine_order
from modelopt_mlir.solver.order.ilp import (
    full_window,
    make_window,
    order_model,
    scaled_bound,
    solve_window,
)
from modelopt_mlir.solver.order.peak import is_valid_order, peak_of_order, step_memory
from modelopt_mlir.solver.problem import OrderPlan, ScheduleProblem
from modelopt_mlir.solver.work import Budget, Clock


@dataclass(frozen=True)
class WholeGraphIlp:
    order: tuple[int, ...]
    peak: int  # never above the start's
    bound: int  # proven lower bound on the peak: max(HiGHS dual bound, ``lower``), <= peak
    dual_bound: int  # HiGHS's own dual bound in bytes (the given lower bound included)
    status: str  # "optimal" (bound == peak) or "bound" (stopped with a gap)
    columns: int
    rows: int
    binaries: int
    nodes: int
    lp_iterations: int
    seconds: float

    @property
    def proven_optimal(self) -> bool:
        return self.bound >= self.peak


def whole_graph_ilp(
    problem: ScheduleProblem, start: Sequence[int], seconds: float, lower: int = 0
) -> WholeGraphIlp:
    """The whole-graph order ILP from ``start`` for at most ``seconds`` (HiGHS's clock; it
    checks it between LP solves, so a long root LP can overrun it)."""
    began = time.perf_counter()
    start = tuple(start)
    start_peak = peak_of_order(problem, start)
    model, scale = order_model(full_window(problem, start), start_peak, lower)
    model.set_start(model.window.start_order, start_peak, scale)
    columns, rows = len(model.model.variables()), model.model.numConstraints()
    binaries = sum(1 for var in model.model.variables() if var.cat == pulp.LpInteger)
    solver = WarmStartHiGHS(True, msg=False, timeLimit=seconds, gapRel=0, gapAbs=0.99)
    with native_stdout_silenced():
        model.model.solve(solver)
    info = model.model.solverModel.getInfo()
    order, peak = start, start_peak
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        values = {var.name: float(var.varValue or 0.0) for var in model.model.variables()}
        local = model.local_order(values)
        candidate = tuple(model.window.units[u] for u in local)
        if is_valid_order(problem, candidate):
            candidate_peak = peak_of_order(problem, candidate)
            if candidate_peak < peak:
                order, peak = candidate, candidate_peak
    dual = info.mip_dual_bound
    dual_bytes = scaled_bound(dual, scale) if math.isfinite(dual) else 0
    bound = min(max(dual_bytes, lower), peak)
    return WholeGraphIlp(
        order=order,
        peak=peak,
        bound=bound,
        dual_bound=dual_bytes,
        status="optimal" if bound >= peak else "bound",
        columns=columns,
        rows=rows,
        binaries=binaries,
        nodes=max(int(info.mip_node_count), 0),
        lp_iterations=max(int(info.simplex_iteration_count), 0),
        seconds=time.perf_counter() - began,
    )


def lp_relaxation(problem: ScheduleProblem, start: Sequence[int], seconds: float) -> int | None:
    """The whole-graph model's LP optimum in bytes (rounded down), with no lower bound on the
    peak (interior point); None when HiGHS does not finish within ``seconds``."""
    start_peak = peak_of_order(problem, start)
    model, scale = order_model(full_window(problem, start), start_peak, 0)
    for var in model.model.variables():
        var.cat = pulp.LpContinuous
    with native_stdout_silenced():
        model.model.solve(pulp.HiGHS(msg=False, timeLimit=seconds, solver="ipm"))
    highs = model.model.solverModel
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return int(math.floor(highs.getInfo().objective_function_value * scale + 1e-6))


@dataclass(frozen=True)
class WindowSearch:
    order: tuple[int, ...]
    peak: int
    windows: int  # window models solved
    improved: int  # windows whose order was kept
    largest: int  # largest window tried
    seconds: float


def window_search(
    problem: ScheduleProblem,
    start: Sequence[int],
    seconds: float,
    lower: int = 0,
    window: int = 24,
    max_window: int = 48,
    window_seconds: float = 10.0,
) -> WindowSearch:
    """Lower ``start``'s peak by re-solving windows of ``window`` steps around its peak steps
    (centred, then ending at, then starting at the step), each for at most ``window_seconds``.

    A window's order changes only the memory of its own steps (a buffer's first and last
    steps move only if they lie inside it), so a window whose peak is below the global one
    never raises another step. After each kept window, ``refine_order`` runs again. When no window around any peak step helps, windows grow by
    half up to ``max_window``. Never worse than ``start``.
    """
    began = time.perf_counter()
    deadline = began + seconds
    order = list(start)
    n = len(order)
    memory = step_memory(problem, order)
    peak = max(memory, default=0)
    k = min(window, n)
    tried: set[tuple[int, ...]] = set()
    windows = kept = 0
    largest = k
    while peak > lower and time.perf_counter() < deadline - 0.5:
        candidate_lo = None
        for step in (s for s in range(n) if memory[s] == peak):
            for lo in (step - k // 2, step - k + 2, step - 1):
                lo = min(max(lo, 0), n - k)
                key = (lo, *order[lo : lo + k])
                if key not in tried:
                    candidate_lo = lo
                    break
            if candidate_lo is not None:
                break
        if candidate_lo is None:
            if k >= min(max_window, n):
                break
            k = min(int(k * 1.5), max_window, n)
            largest = k
            tried.clear()
            continue
        lo = candidate_lo
        tried.add((lo, *order[lo : lo + k]))
        local_window = make_window(problem, order, lo, lo + k)
        stop = min(time.perf_counter() + window_seconds, deadline)
        local, window_peak, _, _ = solve_window(
            local_window, peak, lower, Budget(2**62, Clock(stop))
        )
        windows += 1
        if window_peak < peak:
            candidate = order[:lo] + [local_window.units[u] for u in local] + order[lo + k :]
            new_memory = step_memory(problem, candidate)
            if max(new_memory) <= peak and is_valid_order(problem, candidate):
                # The local search may now find moves the old peak steps blocked.
                refined = refine_order(problem, OrderPlan(tuple(candidate), max(new_memory), ""))
                order = list(refined.order)
                memory = step_memory(problem, order)
                peak = max(memory)
                kept += 1
                tried.clear()
    return WindowSearch(tuple(order), peak, windows, kept, largest, time.perf_counter() - began)
