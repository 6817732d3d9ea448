"""Order heuristics: program order and a memory-aware list schedule."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.problem import OrderPlan, ScheduleProblem, align_up


def padded_sizes(problem: ScheduleProblem) -> list[int]:
    """Sizes rounded up to each buffer's alignment: what a buffer really takes in the arena."""
    return [align_up(size, problem.buffer_alignment(b)) for b, size in enumerate(problem.sizes)]


def peak_of_order(problem: ScheduleProblem, order: Sequence[int]) -> int:
    return max_live(live_intervals(problem, order, padded_sizes(problem)))


def program_order(problem: ScheduleProblem) -> OrderPlan:
    order = tuple(range(problem.num_units))
    return OrderPlan(order, peak_of_order(problem, order), "program-order")


def memory_aware_list_schedule(problem: ScheduleProblem) -> OrderPlan:
    """Schedule the ready unit that frees the most bytes net of what it starts; ties in
    program order. Scores are kept up to date incrementally, so this is O((n + E) log n)."""
    n = problem.num_units
    sizes = padded_sizes(problem)
    succs = problem.successors()
    indegree = [0] * n
    for _, after in problem.edges:
        indegree[after] += 1
    buffers_of = problem.buffers_of_unit()
    users_of = [sorted(set(users)) for users in problem.users]
    remaining = [len(users) for users in users_of]
    started = [False] * len(sizes)
    scheduled = [False] * n

    # score = bytes freed by running the unit now - bytes it brings to life.
    score = [0] * n
    for buffer, users in enumerate(users_of):
        if len(users) == 1:
            continue  # starts and ends at the same unit: net zero
        for unit in users:
            score[unit] -= sizes[buffer]

    heap: list[tuple[int, int]] = [(-score[u], u) for u in range(n) if indegree[u] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        neg_score, unit = heapq.heappop(heap)
        if scheduled[unit] or -neg_score != score[unit]:
            continue  # stale entry
        scheduled[unit] = True
        order.append(unit)
        touched: set[int] = set()
        for buffer in buffers_of[unit]:
            if len(users_of[buffer]) == 1:
                continue
            if not started[buffer]:
                started[buffer] = True
                for other in users_of[buffer]:
                    if other != unit:
                        score[other] += sizes[buffer]
                        touched.add(other)
            remaining[buffer] -= 1
            if remaining[buffer] == 1:
                for other in users_of[buffer]:
                    if not scheduled[other]:
                        score[other] += sizes[buffer]
                        touched.add(other)
        for succ in succs[unit]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                touched.add(succ)
        for other in touched:
            if not scheduled[other] and indegree[other] == 0:
                heapq.heappush(heap, (-score[other], other))
    if len(order) != n:
        raise ValueError("dependence graph has a cycle")
    order_tuple = tuple(order)
    return OrderPlan(order_tuple, peak_of_order(problem, order_tuple), "memory-aware-list")


def best_order(problem: ScheduleProblem, reorder: bool = True) -> tuple[OrderPlan, OrderPlan]:
    """The lower-peak order among the heuristics, and program order for reference."""
    baseline = program_order(problem)
    if not reorder:
        return baseline, baseline
    candidates = [baseline, memory_aware_list_schedule(problem)]
    best = min(candidates, key=lambda plan: plan.peak)
    return best, baseline
