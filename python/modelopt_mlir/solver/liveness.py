"""Live intervals and peak memory of a schedule."""

from __future__ import annotations

from collections.abc import Sequence

from modelopt_mlir.solver.problem import IntervalBuffer, ScheduleProblem


def live_intervals(
    problem: ScheduleProblem, order: Sequence[int], sizes: Sequence[int] | None = None
) -> tuple[IntervalBuffer, ...]:
    """Each buffer is live from its first user's step through its last user's step."""
    position = [0] * problem.num_units
    for step, unit in enumerate(order):
        position[unit] = step
    sizes = problem.sizes if sizes is None else sizes
    intervals = []
    for buffer, users in enumerate(problem.users):
        if not users:
            continue
        steps = [position[u] for u in users]
        intervals.append(
            IntervalBuffer(
                buffer, min(steps), max(steps) + 1, sizes[buffer], problem.buffer_alignment(buffer)
            )
        )
    return tuple(intervals)


def max_live(intervals: Sequence[IntervalBuffer]) -> int:
    """Largest total size of buffers live at one step (a lower bound for any placement)."""
    events: list[tuple[int, int]] = []
    for buf in intervals:
        if buf.size:
            events.append((buf.lower, buf.size))
            events.append((buf.upper, -buf.size))
    # Frees at a step come before allocations at the same step: [a, b) and [b, c) do not overlap.
    events.sort(key=lambda e: (e[0], e[1]))
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak
