"""One entry point for the order with the least peak: heuristics, lower bounds, then the ILP.

Anytime: the best heuristic order is ready first, the bound next, and the ILP only ever
replaces the order with a better one before the time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from modelopt_mlir.solver.graph import GraphProblem, to_schedule_problem
from modelopt_mlir.solver.liveness import live_intervals
from modelopt_mlir.solver.offsets.heuristics import best_offsets
from modelopt_mlir.solver.order.bounds import peak_lower_bound
from modelopt_mlir.solver.order.heuristics import best_order
from modelopt_mlir.solver.order.ilp import order_ilp
from modelopt_mlir.solver.order.joint_ilp import joint_fits, joint_ilp
from modelopt_mlir.solver.problem import IntervalProblem, OrderPlan, ScheduleProblem
from modelopt_mlir.solver.work import Budget, as_budget

OrderStatus = Literal["optimal", "feasible", "timeout"]
OrderMode = Literal["two-phase", "joint"]

# Share of the work the cut bound may use before the ILP starts. At 0.2 the bundled GPT-2 step
# (760 units) stopped its cut bound after 11 of 20 min-cuts (a 10 s limit's 4M units, 0.76M of
# them used in all) and reported "timeout"; all 20 take 0.72M units (0.4 s).
BOUND_TIME_SHARE = 0.5


@dataclass(frozen=True)
class OrderResult:
    order: tuple[int, ...]
    peak: int
    lower_bound: int
    bound_kind: str  # "op-local", "cut" or "ilp"
    status: OrderStatus
    algorithm: str
    seconds: float
    program_order_peak: int = 0
    offsets: dict[int, int] | None = None  # joint mode only
    arena_size: int | None = None  # joint mode only
    clock_stopped: bool = False  # the clock's safety stop fired: may differ between runs

    @property
    def gap(self) -> float:
        if self.lower_bound == 0:
            return 0.0
        return (self.peak - self.lower_bound) / self.lower_bound


@dataclass(frozen=True)
class GraphOrderResult:
    order: tuple[str, ...]  # op names
    peak: int  # bytes, pinned bytes included
    lower_bound: int  # pinned bytes included
    pinned_bytes: int
    bound_kind: str
    status: OrderStatus
    algorithm: str
    seconds: float
    program_order_peak: int = 0
    clock_stopped: bool = False

    @property
    def gap(self) -> float:
        if self.lower_bound == 0:
            return 0.0
        return (self.peak - self.lower_bound) / self.lower_bound


ILP_EXACT_BYTES = 2**53


def solve_order(
    problem: ScheduleProblem,
    time_limit: float | Budget = 10.0,
    mode: OrderMode = "two-phase",
    use_ilp: bool = True,
    initial: tuple[OrderPlan, OrderPlan] | None = None,
) -> OrderResult:
    """The lowest-peak order found with the work ``time_limit`` buys (seconds, or a work
    :class:`Budget`; the clock is only a safety stop), with a proven lower bound.

    ``two-phase`` minimises the peak (offsets are chosen later, over the order's intervals);
    ``joint`` minimises the arena with order and offsets together (small graphs; larger ones
    get the two-phase order and best-fit offsets). Never worse than the best heuristic.
    ``initial``: the best heuristic order and program order when the caller has them already.
    """
    if mode not in ("two-phase", "joint"):
        raise ValueError(f"unknown mode '{mode}' (expected 'two-phase' or 'joint')")
    start = time.perf_counter()
    budget = as_budget(time_limit)
    if initial is None:
        initial = best_order(problem, budget=budget)
    best, baseline = initial
    # HiGHS works in doubles: beyond 2**53 bytes in all, sizes are no longer exact (and the
    # solver fails outright on some); the heuristics and the bounds stay exact.
    use_ilp = use_ilp and sum(problem.sizes) < ILP_EXACT_BYTES
    order, peak, algorithm = best.order, best.peak, best.algorithm

    bound = peak_lower_bound(problem, order, time_limit=budget.share(BOUND_TIME_SHARE))
    lower, bound_kind = bound.value, bound.kind
    timed_out = not bound.cut_complete

    if use_ilp and peak > lower and not budget.exhausted():
        ilp = order_ilp(problem, order, budget, lower)
        if ilp.peak < peak:
            order, peak, algorithm = ilp.order, ilp.peak, f"{algorithm}+{ilp.algorithm}"
        if ilp.bound > lower:
            lower, bound_kind = min(ilp.bound, peak), "ilp"
        timed_out = timed_out or ilp.status == "timeout"
    status: OrderStatus = "optimal" if peak <= lower else "timeout" if timed_out else "feasible"

    offsets: dict[int, int] | None = None
    arena_size: int | None = None
    if mode == "joint":
        if use_ilp and joint_fits(problem) and not budget.exhausted():
            # The joint status is about the arena: "optimal" means no smaller arena exists.
            joint = joint_ilp(problem, order, budget)
            order, peak = joint.order, joint.peak
            offsets, arena_size, status = joint.offsets, joint.arena_size, joint.status
            algorithm = f"{algorithm}+{joint.algorithm}"
        else:
            plan = best_offsets(IntervalProblem(live_intervals(problem, order)))
            offsets, arena_size = dict(plan.offsets), plan.arena_size
            algorithm = f"{algorithm}+{plan.algorithm}"
    return OrderResult(
        order=tuple(order),
        peak=peak,
        lower_bound=min(lower, peak),
        bound_kind=bound_kind,
        status=status,
        algorithm=algorithm,
        seconds=time.perf_counter() - start,
        program_order_peak=baseline.peak,
        offsets=offsets,
        arena_size=arena_size,
        clock_stopped=budget.clock_stopped,
    )


def solve_graph(
    graph: GraphProblem, time_limit: float | Budget = 10.0, use_ilp: bool = True
) -> GraphOrderResult:
    """``solve_order`` on a named graph: the order as op names, peaks with pinned bytes."""
    problem, pinned_bytes, units = to_schedule_problem(graph)
    result = solve_order(problem, time_limit=time_limit, use_ilp=use_ilp)
    return GraphOrderResult(
        order=units.op_order(result.order),
        peak=result.peak + pinned_bytes,
        lower_bound=result.lower_bound + pinned_bytes,
        pinned_bytes=pinned_bytes,
        bound_kind=result.bound_kind,
        status=result.status,
        algorithm=result.algorithm,
        seconds=result.seconds,
        program_order_peak=result.program_order_peak + pinned_bytes,
        clock_stopped=result.clock_stopped,
    )
