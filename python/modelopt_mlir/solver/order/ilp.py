"""MODeL's create/preserve ILP for the order with the least peak, solved with PuLP + HiGHS.

One unit runs per step. ``done[u, s]`` (1 once unit u has run by step s) is monotone in s and
exists only inside u's ASAP..ALAP window (ASAP = number of ancestors, ALAP = n - 1 - number of
descendants): outside it the value is a constant, which is MODeL's sparse-timestep trick.
Exactly s + 1 units have run by step s; an edge (a, b) needs done[b, s] <= done[a, s - 1].
Per buffer, ``create[b, s]`` marks the step it comes to life (once, at one of its users) and
``preserve[b, s]`` keeps it alive (only after it was created or preserved the step before);
every user's step must find it created or preserved. Memory at each step <= peak, minimised.
The best heuristic order is the warm start and its peak the upper bound; the result is never
worse than the warm start (:mod:`joint_ilp` adds offsets to this model). Large graphs are
improved window by window: k consecutive steps of the current order around a peak step are
re-optimised with everything outside them fixed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import highspy
import pulp

from modelopt_mlir.solver.highs import WarmStartHiGHS
from modelopt_mlir.solver.native_output import native_stdout_silenced
from modelopt_mlir.solver.order.bounds import closures
from modelopt_mlir.solver.order.peak import is_valid_order, padded_sizes, peak_of_order, step_memory
from modelopt_mlir.solver.problem import ScheduleProblem
from modelopt_mlir.solver.work import (
    WORK_PER_SECOND,
    Budget,
    as_budget,
    highs_spent,
    highs_units,
)

IlpStatus = Literal["optimal", "feasible", "timeout"]

# Above this the whole-graph model is too big to improve on within seconds: use windows.
FULL_MODEL_MAX_VARIABLES = 1_500
MIN_WINDOW_UNITS = WORK_PER_SECOND // 5  # less than this left: no window model is built


@dataclass(frozen=True)
class IlpOrderResult:
    order: tuple[int, ...]
    peak: int
    bound: int  # the solver's proven lower bound on the peak (0 when it proved none)
    status: IlpStatus
    algorithm: str
    improved: bool
    offsets: dict[int, int] | None = None
    arena_size: int | None = None
    windows: int = 0  # window models solved (decomposition only)


@dataclass
class SolvedModel:
    values: dict[str, float]
    bound: float
    optimal: bool
    has_solution: bool


def solve_model(model: pulp.LpProblem, budget: Budget, warm_start: bool) -> SolvedModel:
    """Solve within the work ``budget``: a HiGHS node limit from it (the clock is only a
    safety stop), and spend the nodes HiGHS used."""
    time_limit = max(budget.seconds_left(), 0.05)
    columns, rows = len(model.variables()), len(model.constraints)
    root_units, node_units = highs_units(columns, rows)
    max_nodes = (budget.left - root_units) // node_units
    if max_nodes < 1:  # not even the root and a node fit in the budget
        return SolvedModel({}, 0.0, False, False)
    try:
        # The objective is integral in scaled units: an absolute gap under 1 proves optimality.
        solver = WarmStartHiGHS(
            warm_start,
            msg=False,
            timeLimit=time_limit,
            gapRel=0,
            gapAbs=0.99,
            mip_max_nodes=max_nodes,
        )
        with native_stdout_silenced():
            model.solve(solver)
        highs = model.solverModel
        status = highs.getModelStatus()
        info = highs.getInfo()
        optimal = status == highspy.HighsModelStatus.kOptimal
        budget.spend(
            highs_spent(
                columns, rows, max(int(info.mip_node_count), 0), int(info.simplex_iteration_count)
            )
        )
        budget.out_of_time()  # records a safety stop that fired inside HiGHS
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else 0.0
        if optimal and not model.isMIP():
            # Nothing to choose (one order only): HiGHS solved an LP, whose optimum is exact,
            # and reports a MIP bound of 0.
            bound = info.objective_function_value
    except (pulp.PulpSolverError, AttributeError):
        with native_stdout_silenced():
            model.solve(
                pulp.PULP_CBC_CMD(
                    msg=False, timeLimit=time_limit, warmStart=warm_start, gapRel=0, gapAbs=0.99
                )
            )
        optimal = model.status == pulp.LpStatusOptimal and model.sol_status == 1
        has_solution = model.sol_status in (1, 2)
        bound = 0.0
    values = {var.name: float(var.varValue or 0.0) for var in model.variables()}
    return SolvedModel(values, bound, optimal, has_solution)


class WindowBuffer(NamedTuple):
    """A buffer some unit of a window uses."""

    buffer: int  # global id
    size: int
    users: list[int]  # local ids of the window's units that use it
    before: bool  # live before the window (a user runs earlier)
    after: bool  # live after it (a user runs later)


@dataclass
class Window:
    """Units ``units`` (global ids) to permute over steps 0..k-1, everything else fixed.

    ``constant``: bytes live at every window step whatever the permutation.
    """

    units: list[int]
    edges: list[tuple[int, int]]
    buffers: list[WindowBuffer]
    constant: int
    start_order: list[int]  # local ids in the current order
    asap: list[int] = field(default_factory=list)
    alap: list[int] = field(default_factory=list)
    ancestors: list[int] = field(default_factory=list)  # bitsets over local ids
    descendants: list[int] = field(default_factory=list)


def make_window(
    problem: ScheduleProblem,
    order: Sequence[int],
    lo: int,
    hi: int,
    sizes: Sequence[int] | None = None,
) -> Window:
    position = [0] * problem.num_units
    for step, unit in enumerate(order):
        position[unit] = step
    units = list(order[lo:hi])
    # Local ids in program order keep every local edge pointing forwards.
    units.sort()
    local = {unit: index for index, unit in enumerate(units)}
    edges = sorted({(local[a], local[b]) for a, b in problem.edges if a in local and b in local})
    sizes = padded_sizes(problem) if sizes is None else sizes
    buffers: list[WindowBuffer] = []
    constant = 0
    for buffer, users in enumerate(problem.users):
        size = sizes[buffer]
        if not size or not users:
            continue
        steps = [position[u] for u in users]
        before = min(steps) < lo
        after = max(steps) >= hi
        inside = sorted({local[u] for u in users if u in local})
        if before and after:
            constant += size
        elif inside:
            buffers.append(WindowBuffer(buffer, size, inside, before, after))
    start_order = [local[u] for u in order[lo:hi]]
    k = len(units)
    ancestors, descendants = closures(k, edges)
    return Window(
        units,
        edges,
        buffers,
        constant,
        start_order,
        asap=[bits.bit_count() for bits in ancestors],
        alap=[k - 1 - bits.bit_count() for bits in descendants],
        ancestors=ancestors,
        descendants=descendants,
    )


def full_window(problem: ScheduleProblem, order: Sequence[int]) -> Window:
    return make_window(problem, order, 0, problem.num_units)


def _model_size(window: Window) -> int:
    """Rough variable count of the window's model."""
    count = sum(hi - lo for lo, hi in zip(window.asap, window.alap, strict=True))
    for item in window.buffers:
        lo = 0 if item.before else min(window.asap[u] for u in item.users)
        hi = len(window.units) - 1 if item.after else max(window.alap[u] for u in item.users)
        count += hi - lo + 1
    return count


class OrderModel:
    """The create/preserve model of one window (the whole problem is one window).

    Liveness is written so that the LP relaxation stays tight: with ``started[b, s]`` (>= every
    user's done[u, s]: the buffer exists once any user ran) and ``finished[b, s]`` (<= every
    user's done[w, s]), create[b, s] + preserve[b, s] >= started[b, s] - finished[b, s - 1].
    When one user precedes all others (a producer), started is that user's done and create is
    its step; when one follows all others, finished is that user's done: no extra variables.
    """

    def __init__(
        self, window: Window, scale: int, upper: int, lower: int, explicit_single: bool = False
    ) -> None:
        self.window = window
        k = len(window.units)
        self.k = k
        self.model = pulp.LpProblem("order", pulp.LpMinimize)
        self.peak = self.model.add_variable("peak", lower / scale, upper / scale)
        self.model += self.peak
        self.done: dict[tuple[int, int], pulp.LpVariable] = {}
        asap, alap = window.asap, window.alap
        for u in range(k):
            for s in range(asap[u], alap[u]):
                self.done[u, s] = self.model.add_variable(f"d_{u}_{s}", 0, 1, "Binary")
            for s in range(asap[u] + 1, alap[u]):
                self.model += self.done[u, s] >= self.done[u, s - 1]
        by_step: list[list[int]] = [[] for _ in range(k)]
        for u in range(k):
            for s in range(asap[u], k):
                by_step[s].append(u)
        for s in range(k):
            self.model += pulp.lpSum(self._done(u, s) for u in by_step[s]) == s + 1
        for a, b in window.edges:
            for s in range(asap[b], alap[b]):
                self.model += self._done(b, s) <= self._done(a, s - 1)

        self.live: dict[int, dict[int, Any]] = {}
        self.started: dict[tuple[int, int], pulp.LpVariable] = {}
        self.finished: dict[tuple[int, int], pulp.LpVariable] = {}
        self.preserve: dict[tuple[int, int], pulp.LpVariable] = {}
        single = [0] * k
        for index, item in enumerate(window.buffers):
            if len(item.users) == 1 and not item.before and not item.after:
                u = item.users[0]
                if explicit_single:  # live exactly at its one user's step
                    self.live[index] = {s: self._runs(u, s) for s in range(asap[u], alap[u] + 1)}
                else:
                    single[u] += item.size
                continue
            self.live[index] = self._liveness(index, item.users, item.before, item.after)
        for s in range(k):
            terms = [
                (item.size / scale) * self.live[index][s]
                for index, item in enumerate(window.buffers)
                if index in self.live and s in self.live[index]
            ]
            terms += [(single[u] / scale) * self._runs(u, s) for u in by_step[s] if single[u]]
            self.model += pulp.lpSum(terms) + window.constant / scale <= self.peak

    def _done(self, u: int, s: int) -> Any:
        if s < self.window.asap[u]:
            return 0
        if s >= self.window.alap[u]:
            return 1
        return self.done[u, s]

    def _runs(self, u: int, s: int) -> Any:
        return self._done(u, s) - self._done(u, s - 1)

    def _first_and_last(self, users: list[int]) -> tuple[int | None, int | None]:
        """A user that is an ancestor of every other user, and one that is a descendant."""
        bits = 0
        for u in users:
            bits |= 1 << u
        first = last = None
        for u in users:
            others = bits & ~(1 << u)
            if self.window.descendants[u] & others == others:
                first = u
            if self.window.ancestors[u] & others == others:
                last = u
        return first, last

    def _liveness(self, index: int, users: list[int], before: bool, after: bool) -> dict[int, Any]:
        asap, alap, k = self.window.asap, self.window.alap, self.k
        lo = 0 if before else min(asap[u] for u in users)
        hi = k - 1 if after else max(alap[u] for u in users)
        first, last = self._first_and_last(users)

        def create(s: int) -> Any:
            if before:
                return 0
            if first is not None:
                return self._runs(first, s)
            if s - 1 >= lo:
                return self.started[index, s] - self.started[index, s - 1]
            return self.started[index, s]

        def started(s: int) -> Any:
            if before:
                return 1
            if first is not None:
                return self._done(first, s)
            return self.started[index, s]

        def pending(s: int) -> Any:  # some user has not run before step s
            if after or s - 1 < lo:
                return 1
            if last is not None:
                return 1 - self._done(last, s - 1)
            return 1 - self.finished[index, s - 1]

        if not before and first is None:
            for s in range(lo, hi + 1):
                # Once any user has run, the buffer has been created: a monotone 0/1 step.
                self.started[index, s] = self.model.add_variable(f"c_{index}_{s}", 0, 1, "Binary")
                if s > lo:
                    self.model += self.started[index, s] >= self.started[index, s - 1]
                for u in users:
                    self.model += self.started[index, s] >= self._done(u, s)
        if not after and last is None:
            for s in range(lo, hi):
                finished = self.model.add_variable(f"f_{index}_{s}", 0, 1)
                self.finished[index, s] = finished
                for w in users:
                    self.model += finished <= self._done(w, s)
        live: dict[int, Any] = {}
        for s in range(lo, hi + 1):
            keep = self.model.add_variable(f"p_{index}_{s}", 0, 1, "Binary")
            self.preserve[index, s] = keep
            live[s] = create(s) + keep
            self.model += live[s] >= started(s) + pending(s) - 1
            self.model += live[s] <= 1
        return live

    def set_start(self, local_order: Sequence[int], peak: int, scale: int) -> None:
        position = [0] * self.k
        for step, u in enumerate(local_order):
            position[u] = step
        for (u, s), var in self.done.items():
            var.setInitialValue(1 if position[u] <= s else 0)
        spans = {}
        for index, item in enumerate(self.window.buffers):
            first = 0 if item.before else min(position[u] for u in item.users)
            last = self.k - 1 if item.after else max(position[u] for u in item.users)
            first_user = -1 if item.before else first
            spans[index] = (first, last, first_user)
        for (index, s), var in self.started.items():
            var.setInitialValue(1 if s >= spans[index][2] else 0)
        for (index, s), var in self.finished.items():
            var.setInitialValue(1 if s >= spans[index][1] else 0)
        for (index, s), var in self.preserve.items():
            first, last, first_user = spans[index]
            var.setInitialValue(1 if first <= s <= last and s != first_user else 0)
        self.peak.setInitialValue(peak / scale)

    def local_order(self, values: dict[str, float]) -> list[int]:
        def first_step(u: int) -> int:
            for s in range(self.window.asap[u], self.window.alap[u]):
                if values[self.done[u, s].name] > 0.5:
                    return s
            return self.window.alap[u]

        return sorted(range(self.k), key=lambda u: (first_step(u), u))


def gcd_scale(values: Sequence[int]) -> int:
    scale = 0
    for value in values:
        scale = math.gcd(scale, value)
    return max(scale, 1)


def scaled_bound(bound: float, scale: int) -> int:
    """A proven lower bound in scaled units, in bytes. Every size (and alignment) is a multiple
    of ``scale``, so the optimum is an integer in scaled units: round the bound up there, not
    after scaling (a bound of 8.2 units of 8 bytes proves 72 bytes, not 66)."""
    return max(math.ceil(bound - 1e-6), 0) * scale if bound else 0


def _window_peak(window: Window, local_order: Sequence[int]) -> int:
    k = len(window.units)
    position = [0] * k
    for step, u in enumerate(local_order):
        position[u] = step
    delta = [0] * (k + 1)
    for item in window.buffers:
        first = 0 if item.before else min(position[u] for u in item.users)
        last = k - 1 if item.after else max(position[u] for u in item.users)
        delta[first] += item.size
        delta[last + 1] -= item.size
    peak = live = 0
    for s in range(k):
        live += delta[s]
        peak = max(peak, live)
    return peak + window.constant


def order_model(window: Window, upper: int, lower: int) -> tuple[OrderModel, int]:
    """The window's create/preserve model, sizes divided by their gcd (returned), with the
    peak between ``lower`` (at most ``upper``) and ``upper``."""
    scale = gcd_scale([item.size for item in window.buffers] + [window.constant])
    return OrderModel(window, scale, upper, min(lower, upper)), scale


def solve_window(
    window: Window, upper: int, lower: int, budget: Budget
) -> tuple[list[int], int, int, bool]:
    """Best local order found, its window peak, the proven bound, and whether it is optimal,
    within the work ``budget``."""
    start_peak = _window_peak(window, window.start_order)
    model, scale = order_model(window, min(upper, start_peak), lower)
    model.set_start(window.start_order, start_peak, scale)
    solved = solve_model(model.model, budget, warm_start=True)
    bound = scaled_bound(solved.bound, scale)
    if not solved.has_solution:
        return list(window.start_order), start_peak, bound, solved.optimal
    local = model.local_order(solved.values)
    peak = _window_peak(window, local)
    if peak > start_peak or not _locally_valid(window, local):
        return list(window.start_order), start_peak, bound, False
    return local, peak, bound, solved.optimal


def _locally_valid(window: Window, local: Sequence[int]) -> bool:
    position = {u: step for step, u in enumerate(local)}
    return len(position) == len(window.units) and all(
        position[a] < position[b] for a, b in window.edges
    )


def full_order_ilp(
    problem: ScheduleProblem, start: Sequence[int], time_limit: float | Budget, lower: int = 0
) -> IlpOrderResult:
    """The whole-graph create/preserve ILP, warm-started from ``start``, within the work
    ``time_limit`` buys (seconds or a :class:`Budget`)."""
    budget = as_budget(time_limit)
    start_peak = peak_of_order(problem, start)
    window = full_window(problem, start)
    local, _, bound, optimal = solve_window(window, start_peak, lower, budget)
    order = tuple(window.units[u] for u in local)
    peak = peak_of_order(problem, order)
    if peak > start_peak or not is_valid_order(problem, order):
        order, peak = tuple(start), start_peak
    proven = min(peak, bound)
    # Claim optimality only from the dual bound, never from HiGHS's status: with a starting
    # solution it has reported "optimal" while returning values worse than its bound (see
    # highs.WarmStartHiGHS).
    status: IlpStatus = "optimal" if proven >= peak else "timeout"
    return IlpOrderResult(
        order, peak, max(proven, 0), status, "ilp-create-preserve", peak < start_peak
    )


def window_order_ilp(
    problem: ScheduleProblem,
    start: Sequence[int],
    time_limit: float | Budget,
    lower: int = 0,
    window_size: int = 12,
    max_window_size: int = 48,
    window_time: float = 2.0,
) -> IlpOrderResult:
    """Re-optimise windows of consecutive steps around the peak steps of the current order.

    Memory outside a window does not depend on the order inside it (a buffer's first and last
    steps move only if they lie inside), so accepting a window whose own peak drops below the
    global peak never raises any other step. When every window around every peak step fails,
    the windows grow by half, up to ``max_window_size``. Each window gets at most the work of
    ``window_time`` seconds; the whole search the work ``time_limit`` buys.
    """
    budget = as_budget(time_limit)
    order = list(start)
    n = len(order)
    memory = step_memory(problem, order)
    peak = max(memory, default=0)
    start_peak = peak
    k = min(window_size, n)
    tried: set[tuple[int, int]] = set()
    solved_windows = 0
    timed_out = False
    while peak > lower:
        if budget.left < MIN_WINDOW_UNITS or budget.out_of_time():  # too little for a model
            timed_out = True
            break
        candidates = []
        for step in range(n):
            if memory[step] == peak:
                lo = min(max(step - k // 2, 0), n - k)
                if (lo, k) not in tried:
                    candidates.append(lo)
        if not candidates:
            if k >= min(max_window_size, n):
                break
            k = min(int(k * 1.5) + 1, max_window_size, n)
            tried.clear()
            continue
        lo = candidates[0]
        tried.add((lo, k))
        window = make_window(problem, order, lo, lo + k)
        local, window_peak, _, _ = solve_window(
            window, peak, lower, budget.units(int(window_time * WORK_PER_SECOND))
        )
        solved_windows += 1
        if window_peak < peak:
            candidate = order[:lo] + [window.units[u] for u in local] + order[lo + k :]
            new_memory = step_memory(problem, candidate)
            if max(new_memory) <= peak and is_valid_order(problem, candidate):
                order, memory = candidate, new_memory
                peak = max(memory)
                tried.clear()
    final = tuple(order)
    final_peak = peak_of_order(problem, final)
    if final_peak > start_peak:
        final, final_peak = tuple(start), start_peak
    status: IlpStatus = "timeout" if timed_out else "feasible"
    if final_peak <= lower:
        status = "optimal"
    return IlpOrderResult(
        final,
        final_peak,
        0,
        status,
        f"ilp-windows(k<={k})",
        final_peak < start_peak,
        windows=solved_windows,
    )


def order_ilp(
    problem: ScheduleProblem, start: Sequence[int], time_limit: float | Budget, lower: int = 0
) -> IlpOrderResult:
    """The whole-graph ILP when it is small enough to improve on in time, else windows."""
    window = full_window(problem, start)
    if _model_size(window) <= FULL_MODEL_MAX_VARIABLES:
        return full_order_ilp(problem, start, time_limit, lower)
    return window_order_ilp(problem, start, time_limit, lower)
