"""The exact overlap check of offset plans, in Python integers: what every solver's plan passes
before it is returned (floating-point solvers included)."""

from __future__ import annotations

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays


def overlapping_pairs(arrays: IntervalArrays) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of sized buffers live at the same time (sweep over lower ends)."""
    index = np.flatnonzero(arrays.size > 0)
    by_lower = index[np.argsort(arrays.lower[index], kind="stable")].tolist()
    lower, upper = arrays.lower.tolist(), arrays.upper.tolist()
    pairs: list[tuple[int, int]] = []
    active: list[int] = []
    for b in by_lower:
        active = [a for a in active if upper[a] > lower[b]]
        pairs.extend((min(a, b), max(a, b)) for a in active)
        active.append(b)
    return pairs


def count_overlapping_pairs(arrays: IntervalArrays) -> int:
    """How many pairs :func:`overlapping_pairs` would list, in O(n log n)."""
    index = np.flatnonzero(arrays.size > 0)
    lower, upper = np.sort(arrays.lower[index]), np.sort(arrays.upper[index])
    # Buffers that start before b ends, minus those that end by the time b starts, minus b.
    live_with = np.searchsorted(lower, arrays.upper[index]) - np.searchsorted(
        upper, arrays.lower[index], side="right"
    )
    return int((live_with.sum() - index.size) // 2)


def offsets_are_valid(
    arrays: IntervalArrays,
    offsets: np.ndarray,
    capacity: int | None = None,
    pairs: list[tuple[int, int]] | None = None,
) -> bool:
    """Exact check in Python integers: every sized buffer at a non-negative multiple of its
    alignment, no two live at the same time sharing a byte, every top within ``capacity``."""
    n = len(arrays)
    if len(offsets) != n:
        return False
    offset = [int(o) for o in offsets.tolist()]
    size, align = arrays.size.tolist(), arrays.alignment.tolist()
    for i in range(n):
        if size[i] > 0:
            if offset[i] < 0 or offset[i] % align[i] != 0:
                return False
            if capacity is not None and offset[i] + size[i] > capacity:
                return False
    for i, j in overlapping_pairs(arrays) if pairs is None else pairs:
        if offset[i] < offset[j] + size[j] and offset[j] < offset[i] + size[i]:
            return False
    return True
