"""Work limits: every search stops at the same place on an idle and on a loaded machine.

A search that stops when the clock says so returns a different plan on a busy machine. So
``time-limit`` seconds buy a budget of *work units* (``WORK_PER_SECOND`` per second), every
search counts what it does in those units, and every decision (stop, go on, how to share
what is left) depends on the counts only. A unit is about a microsecond of this project's
reference machine: a best-fit pass the buffers it scans and sorts (``best_fit_units``), a
branch-and-bound node, a guillotine step, a HiGHS node or a min-cut the constants below
(measured there). The budget is set at about 40% of what that machine does in the time
limit, so a machine two and a half times as slow still finishes the work in time.

The clock stays as a safety stop at the time limit. When it fires before the work is done,
the budget remembers it (``clock_stopped``) and the caller says so: that plan may not be
reproducible. Budgets nest: ``share(fraction)`` hands part of what is left to a sub-search,
and what the sub-search spends is spent by every budget above it.
"""

from __future__ import annotations

import math
import time

# Units per second of time limit (a unit is about a microsecond of the reference machine; 40%
# of that rate leaves room for a machine 2.5 times as slow or as loaded).
WORK_PER_SECOND = 400_000

# A best-fit pass (the compiled one, bestfit_kernel; the numpy fallback for machines without
# numba is five to ten times slower than these say, and the clock's safety stop covers it).
BEST_FIT_UNITS_PER_BUFFER = 2  # per buffer placed
BEST_FIT_WORK_PER_UNIT = 1_500  # buffers scanned (and 1/8 of those overlapping) per unit
SEARCH_NODE_UNITS = 50  # one node of the Python branch-and-bound
COMPILED_NODE_UNITS = 2  # one node of the compiled branch-and-bound (dsa_kernel)
GUILLOTINE_STEP_UNITS = 10  # one step of the guillotine search
# A HiGHS solve: its root (presolve, LP, cuts, heuristics; simplex iterations about twice the
# columns) and each branch-and-bound node after it (about as many simplex iterations as rows,
# up to a thousand), a simplex iteration costing about HIGHS_UNITS_PER_ITERATION_ROW per row.
HIGHS_UNITS_PER_ITERATION_ROW = 0.12
HIGHS_ROOT_ITERATIONS_PER_COLUMN = 3
HIGHS_NODE_ITERATIONS = (100, 1_000)
HIGHS_MIN_UNITS = 500
MIN_CUT_UNITS_PER_ARC = 20  # one max-flow min-cut (cut bound), per arc of its network


def best_fit_units(n: int, work: int) -> int:
    """Units of a best-fit pass over ``n`` buffers that counted ``work`` (buffers scanned, and
    eight per buffer sorted)."""
    return BEST_FIT_UNITS_PER_BUFFER * n + work // BEST_FIT_WORK_PER_UNIT


def best_fit_estimate(n: int) -> int:
    """Units of a best-fit pass over ``n`` buffers before one has run (each scans those
    placed before it)."""
    return best_fit_units(n, n * (n - 1) // 2 + 8 * n)


def highs_units(columns: int, rows: int) -> tuple[int, int]:
    """Units of a HiGHS solve's root and of each node after it, for a model of that size."""
    iteration = HIGHS_UNITS_PER_ITERATION_ROW * rows
    root = int(iteration * HIGHS_ROOT_ITERATIONS_PER_COLUMN * columns)
    low, high = HIGHS_NODE_ITERATIONS
    node = int(iteration * min(max(rows, low), high))
    return max(HIGHS_MIN_UNITS, root), max(HIGHS_MIN_UNITS, node)


def highs_spent(columns: int, rows: int, nodes: int, iterations: int) -> int:
    """Units a HiGHS solve used: its estimate for the nodes it ran, or its simplex iterations
    if those cost more (both are counts, so the result does not depend on load)."""
    root, node = highs_units(columns, rows)
    return max(root + nodes * node, int(HIGHS_UNITS_PER_ITERATION_ROW * rows * iterations))


class Clock:
    """The safety stop shared by a budget and all its shares."""

    __slots__ = ("deadline", "stopped")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.stopped = False

    def expired(self) -> bool:
        if not self.stopped and time.perf_counter() >= self.deadline:
            self.stopped = True
        return self.stopped


class Budget:
    """Work units left for a search, and the wall-clock safety stop."""

    __slots__ = ("clock", "limit", "parent", "used")

    def __init__(self, units: int, clock: Clock, parent: Budget | None = None) -> None:
        self.limit = max(int(units), 0)
        self.used = 0
        self.clock = clock
        self.parent = parent

    @classmethod
    def for_seconds(cls, time_limit: float, deadline: float | None = None) -> Budget:
        """The work ``time_limit`` seconds buy, with the safety stop at ``deadline`` (a
        ``time.perf_counter()`` value; default: ``time_limit`` from now)."""
        time_limit = max(float(time_limit), 0.0)
        if deadline is None:
            deadline = time.perf_counter() + time_limit
        units = time_limit * WORK_PER_SECOND if math.isfinite(time_limit) else 2**62
        return cls(int(units), Clock(deadline))

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(2**62, Clock(math.inf))

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def clock_stopped(self) -> bool:
        """Whether the safety stop has fired (anywhere under the same top budget)."""
        return self.clock.stopped

    def seconds_left(self) -> float:
        """Wall-clock seconds to the safety stop (for solvers that take a time limit)."""
        return max(self.clock.deadline - time.perf_counter(), 0.0)

    def spend(self, units: int) -> None:
        budget: Budget | None = self
        while budget is not None:
            budget.used += int(units)
            budget = budget.parent

    def out_of_time(self) -> bool:
        """The safety stop (records that it fired)."""
        return self.clock.expired()

    def exhausted(self) -> bool:
        return self.left <= 0 or self.out_of_time()

    def affords(self, units: int) -> bool:
        """Whether ``units`` more fit in the budget (and the safety stop has not fired)."""
        return self.used + units <= self.limit and not self.out_of_time()

    def share(self, fraction: float) -> Budget:
        """A sub-budget of ``fraction`` of what is left; its spending counts here too."""
        return Budget(int(self.left * min(max(fraction, 0.0), 1.0)), self.clock, self)

    def units(self, units: int) -> Budget:
        """A sub-budget of at most ``units`` (no more than what is left)."""
        return Budget(min(int(units), self.left), self.clock, self)


def as_budget(limit: Budget | float) -> Budget:
    """A budget as given, or the one ``limit`` seconds buy."""
    return limit if isinstance(limit, Budget) else Budget.for_seconds(limit)
