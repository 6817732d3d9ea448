"""The memory of an order: each buffer is live from its first to its last user; the peak is the
largest sum of (padded) sizes live at one step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.problem import ScheduleProblem, align_up


def padded_sizes(problem: ScheduleProblem) -> list[int]:
    """Sizes rounded up to each buffer's alignment: what a buffer really takes in the arena."""
    return [align_up(size, problem.buffer_alignment(b)) for b, size in enumerate(problem.sizes)]


def peak_of_order(problem: ScheduleProblem, order: Sequence[int]) -> int:
    return max_live(live_intervals(problem, order, padded_sizes(problem)))


def step_memory(problem: ScheduleProblem, order: Sequence[int], padded: bool = True) -> list[int]:
    """Bytes (padded by default) live at each step of ``order``; the maximum is its peak."""
    return OrderLiveness(problem, padded).evaluate(order)[0].tolist()


def is_valid_order(problem: ScheduleProblem, order: Sequence[int]) -> bool:
    if sorted(order) != list(range(problem.num_units)):
        return False
    position = [0] * problem.num_units
    for step, unit in enumerate(order):
        position[unit] = step
    return all(position[before] < position[after] for before, after in problem.edges)


class OrderLiveness:
    """Step memory of orders of one problem: each buffer is live from its first to its last
    user, summed by a prefix sum. Set up once; one evaluation is O(n + users) in numpy."""

    def __init__(self, problem: ScheduleProblem, padded: bool = True) -> None:
        self.n = problem.num_units
        sizes = padded_sizes(problem) if padded else problem.sizes
        kept = [b for b, users in enumerate(problem.users) if users and sizes[b]]
        self.sizes = np.array([sizes[b] for b in kept], dtype=np.int64)
        lengths = [len(problem.users[b]) for b in kept]
        self.flat = np.array([u for b in kept for u in problem.users[b]], dtype=np.int64)
        self.starts = np.zeros(len(kept), dtype=np.int64)
        if kept:
            self.starts[1:] = np.cumsum(lengths)[:-1]
        self.work = self.n + len(self.flat)

    def evaluate(self, order: Sequence[int]) -> tuple[Any, Any, Any]:
        """(memory per step, first step, last step per kept buffer)."""
        position = np.empty(self.n, dtype=np.int64)
        position[np.asarray(order, dtype=np.int64)] = np.arange(self.n, dtype=np.int64)
        if not len(self.flat):
            return np.zeros(self.n, dtype=np.int64), self.flat, self.flat
        steps = position[self.flat]
        first = np.minimum.reduceat(steps, self.starts)
        last = np.maximum.reduceat(steps, self.starts)
        delta = np.zeros(self.n + 1, dtype=np.int64)
        np.add.at(delta, first, self.sizes)
        np.add.at(delta, last + 1, -self.sizes)
        return np.cumsum(delta[: self.n]), first, last
