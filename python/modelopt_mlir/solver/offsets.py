"""Offset heuristics over live intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, OffsetPlan, align_up

SortKey = Callable[[IntervalBuffer], tuple[int, ...]]

SORT_KEYS: dict[str, SortKey] = {
    "size": lambda b: (-b.size, b.lower, -b.upper, b.id),
    "lifetime": lambda b: (-(b.upper - b.lower), -b.size, b.lower, b.id),
    "area": lambda b: (-(b.upper - b.lower) * b.size, -b.size, b.lower, b.id),
}


def best_fit(problem: IntervalProblem, key: str = "size") -> OffsetPlan:
    """Place buffers one by one (in ``key`` order) in the smallest gap among the buffers they
    overlap in time that still fits them, or on top when no gap does."""
    placed: list[tuple[IntervalBuffer, int]] = []
    offsets: dict[int, int] = {}
    arena = 0
    for buf in sorted(problem.buffers, key=SORT_KEYS[key]):
        padded = align_up(buf.size, buf.alignment)
        if padded == 0:
            offsets[buf.id] = 0
            continue
        busy = sorted(
            (off, off + align_up(other.size, other.alignment))
            for other, off in placed
            if other.size and other.overlaps_in_time(buf)
        )
        offset = _best_gap(busy, padded, buf.alignment)
        offsets[buf.id] = offset
        placed.append((buf, offset))
        arena = max(arena, offset + padded)
    return OffsetPlan(offsets, arena, f"best-fit-{key}")


def _best_gap(busy: Sequence[tuple[int, int]], size: int, alignment: int) -> int:
    best_offset = None
    best_slack = None
    cursor = 0
    for start, end in busy:
        candidate = align_up(cursor, alignment)
        if start - candidate >= size:
            slack = start - candidate - size
            if best_slack is None or slack < best_slack:
                best_offset, best_slack = candidate, slack
        cursor = max(cursor, end)
    if best_offset is not None:
        return best_offset
    return align_up(cursor, alignment)


def best_offsets(problem: IntervalProblem) -> OffsetPlan:
    """The smallest arena over the best-fit orderings."""
    plans = [best_fit(problem, key) for key in SORT_KEYS]
    return min(plans, key=lambda plan: plan.arena_size)
