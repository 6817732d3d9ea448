"""Iterated local search on an order's peak, on the clock (the bench's path, not
``solve_order``'s: its result depends on the machine's load).

Each round kicks the current order (moves a few units near its peak step to random valid
positions), runs ``refine_order`` on the result and keeps it when its peak is no higher, so
the search walks across orders of equal peak as well as down.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from modelopt_mlir.solver.order.heuristics import refine_order
from modelopt_mlir.solver.order.peak import OrderLiveness
from modelopt_mlir.solver.problem import OrderPlan, ScheduleProblem

KICK_RADIUS = 16  # kicked units lie within this many steps of a peak step
REFINE_WORK_PER_ROUND = 1_000_000


@dataclass(frozen=True)
class LocalSearch:
    order: tuple[int, ...]
    peak: int
    rounds: int
    improvements: int
    seconds: float


def iterated_local_search(
    problem: ScheduleProblem,
    start: Sequence[int],
    seconds: float,
    lower: int = 0,
    kicks: int = 2,
    seed: int = 0,
) -> LocalSearch:
    """The lowest-peak order found from ``start`` in ``seconds``; never worse than it."""
    began = time.perf_counter()
    deadline = began + seconds
    rng = random.Random(seed)
    n = problem.num_units
    live = OrderLiveness(problem)
    preds = [sorted(set(p)) for p in problem.predecessors()]
    succs = [sorted(set(s)) for s in problem.successors()]
    current = list(start)
    memory = live.evaluate(current)[0]
    peak = int(memory.max()) if n else 0
    best, best_peak = tuple(current), peak
    rounds = improvements = 0
    while best_peak > lower and n > 2 and time.perf_counter() < deadline:
        rounds += 1
        candidate = list(current)
        peak_steps = [int(s) for s in (memory == memory.max()).nonzero()[0]]
        for _ in range(kicks):
            step = rng.choice(peak_steps)
            at = min(max(step + rng.randint(-KICK_RADIUS, KICK_RADIUS), 0), n - 1)
            unit = candidate.pop(at)
            position = {u: i for i, u in enumerate(candidate)}
            lo = max((position[p] + 1 for p in preds[unit]), default=0)
            hi = min((position[s] for s in succs[unit]), default=n - 1)
            candidate.insert(rng.randint(lo, hi), unit)
        kicked = int(live.evaluate(candidate)[0].max())
        refined = refine_order(
            problem, OrderPlan(tuple(candidate), kicked, ""), REFINE_WORK_PER_ROUND
        )
        if refined.peak <= peak:
            current = list(refined.order)
            memory = live.evaluate(current)[0]
            peak = int(memory.max())
            if peak < best_peak:
                best, best_peak = tuple(current), peak
                improvements += 1
    return LocalSearch(best, best_peak, rounds, improvements, time.perf_counter() - began)
