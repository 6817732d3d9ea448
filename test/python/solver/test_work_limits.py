"""Searches stop on counted work, not on the clock: a loaded machine gets the same plan.

A loaded machine is simulated by a clock that jumps ahead by a random amount at every reading;
with the safety stop out of reach, any decision that read the clock would change the plan.
"""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest

from modelopt_mlir.solver.arena_planner import plan_arena
from modelopt_mlir.solver.offsets.driver import solve_offsets
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem
from modelopt_mlir.solver.work import Budget, Clock


def layered_problem(seed: int, layers: int = 14, width: int = 6) -> ScheduleProblem:
    """A forward/backward-like DAG: layers of units, each reading a few buffers of the layer
    before, and buffers of random sizes; large enough that the searches hit their limits."""
    rng = np.random.default_rng(seed)
    users: list[tuple[int, ...]] = []
    sizes: list[int] = []
    previous: list[int] = []
    unit = 0
    for _ in range(layers):
        current = []
        for _ in range(width):
            readers = [unit]
            for b in previous:
                if rng.random() < 0.3:
                    users[b] = (*users[b], unit)
            users.append(tuple(readers))
            sizes.append(int(rng.integers(1, 64)) * 64)
            current.append(len(sizes) - 1)
            unit += 1
        previous = current
    # Every buffer is read by some later unit or by the last one.
    for b in range(len(users)):
        if len(users[b]) == 1 and users[b][0] < unit - 1:
            users[b] = (*users[b], int(rng.integers(users[b][0] + 1, unit)))
    users = [tuple(sorted(set(u))) for u in users]
    # Each buffer's first user writes it; the others read it afterwards.
    edges = sorted({(u[0], reader) for u in users for reader in u[1:]})
    return ScheduleProblem(
        num_units=unit,
        edges=tuple(edges),
        sizes=tuple(sizes),
        users=tuple(users),
        alignment=(64,) * len(sizes),
    )


def random_intervals(seed: int, count: int = 160) -> IntervalProblem:
    rng = np.random.default_rng(seed)
    buffers = []
    for i in range(count):
        lower = int(rng.integers(0, 300))
        upper = lower + int(rng.integers(1, 50))
        buffers.append(IntervalBuffer(i, lower, upper, int(rng.integers(1, 64)) * 1024, 64))
    return IntervalProblem(tuple(buffers))


@pytest.fixture
def loaded_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that runs ahead by up to 50 ms at each reading, as on a very busy machine."""
    real = time.perf_counter
    jitter = random.Random(7)
    state = {"ahead": 0.0}

    def busy() -> float:
        state["ahead"] += jitter.uniform(0.0, 0.05)
        return real() + state["ahead"]

    monkeypatch.setattr(time, "perf_counter", busy)


def _plan_key(problem: ScheduleProblem) -> tuple:
    plan = plan_arena(problem, time_limit=1.0, deadline=math.inf)
    assert not plan.clock_stopped
    return (
        plan.order,
        sorted(plan.offsets.items()),
        plan.arena_size,
        plan.status,
        plan.order_algorithm,
        plan.offset_algorithm,
        plan.order_lower_bound,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_planner_does_not_read_the_clock(seed: int, request: pytest.FixtureRequest) -> None:
    problem = layered_problem(seed)
    idle = _plan_key(problem)
    request.getfixturevalue("loaded_clock")
    assert _plan_key(problem) == idle


def test_offset_solver_does_not_read_the_clock(request: pytest.FixtureRequest) -> None:
    problem = random_intervals(3)
    live = max(sum(b.size for b in problem.buffers if b.lower <= t < b.upper) for t in range(400))

    def solve() -> tuple:
        budget = Budget(400_000, Clock(math.inf))
        result = solve_offsets(problem, time_limit=budget, capacity=live)
        plan = result.plan
        offsets = None if plan is None else sorted(plan.offsets.items())
        return result.status, result.lower_bound, offsets, budget.used

    idle = solve()
    request.getfixturevalue("loaded_clock")
    assert solve() == idle


def test_the_safety_stop_is_reported() -> None:
    problem = layered_problem(0)
    plan = plan_arena(problem, time_limit=1.0, deadline=time.perf_counter() - 1.0)
    assert plan.clock_stopped
    assert plan.arena_size >= plan.best_bound  # still a complete, valid-looking plan


def test_shares_spend_in_their_parents() -> None:
    budget = Budget(1_000, Clock(math.inf))
    share = budget.share(0.5)
    assert share.left == 500
    share.spend(200)
    assert (share.left, budget.left) == (300, 800)
    assert budget.units(10_000).left == 800
    assert not budget.affords(801) and budget.affords(800)
