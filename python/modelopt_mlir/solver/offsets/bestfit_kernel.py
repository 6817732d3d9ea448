"""Best-fit placement (:func:`heuristics.best_fit_order`) compiled with numba.

Same placements and the same counted work as the numpy pass in :mod:`heuristics` (which stays as
the reference and the fallback). The numpy pass gathers, for each buffer, the placed buffers it
overlaps in time and sorts them by offset: on the largest instances (62,000 buffers, five
thousand overlapping each) the sorts take most of its six seconds. Here the placed buffers are
kept sorted by offset in a blocked list (rows of at most ``BLOCK`` entries, split in two when
full), so a placement scans them in offset order without sorting, skips rows that no buffer of
its lifetime is in, and stops at a gap that fits exactly.

A call places the buffers ``order[begin:end]`` and returns; the caller calls again for the next
chunk (and checks the clock in between), the state living in the arrays of :class:`State`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 512


class State:
    """The placed buffers, by offset: row ``rows[r]`` (in offset order) holds ``length[row]``
    entries sorted by start offset, with the smallest lower and largest upper step of its
    entries kept for skipping rows that a lifetime does not meet."""

    def __init__(self, n: int) -> None:
        capacity = n // (BLOCK // 2) + 2
        self.lower = np.zeros((capacity, BLOCK), np.int64)
        self.upper = np.zeros((capacity, BLOCK), np.int64)
        self.start = np.zeros((capacity, BLOCK), np.int64)
        self.end = np.zeros((capacity, BLOCK), np.int64)
        self.length = np.zeros(capacity, np.int64)
        self.min_lower = np.full(capacity, np.iinfo(np.int64).max, np.int64)
        self.max_upper = np.full(capacity, np.iinfo(np.int64).min, np.int64)
        self.rows = np.zeros(capacity, np.int64)
        self.counts = np.zeros(2, np.int64)  # rows in use, entries placed
        self.counts[0] = 1

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays the kernel functions take, as one tuple."""
        return (
            self.lower,
            self.upper,
            self.start,
            self.end,
            self.length,
            self.min_lower,
            self.max_upper,
            self.rows,
            self.counts,
        )


@njit(cache=True)
def _insert(state, lo, hi, s, e):
    """Insert the entry after every entry whose start is <= s."""
    lower, upper, start, end, length, min_lower, max_upper, rows, counts = state
    used = counts[0]
    # the last row (in offset order) whose first start is <= s, or the first row
    position = 0
    for r in range(1, used):
        row = rows[r]
        if length[row] > 0 and start[row, 0] <= s:
            position = r
        else:
            break
    row = rows[position]
    if length[row] == lower.shape[1]:  # full: move its upper half to a new row after it
        half = length[row] // 2
        fresh = used
        moved = length[row] - half
        lower[fresh, :moved] = lower[row, half : length[row]]
        upper[fresh, :moved] = upper[row, half : length[row]]
        start[fresh, :moved] = start[row, half : length[row]]
        end[fresh, :moved] = end[row, half : length[row]]
        length[fresh] = moved
        length[row] = half
        for target in (row, fresh):
            min_lower[target] = lower[target, : length[target]].min()
            max_upper[target] = upper[target, : length[target]].max()
        for r in range(used, position + 1, -1):
            rows[r] = rows[r - 1]
        rows[position + 1] = fresh
        counts[0] = used + 1
        if start[fresh, 0] <= s:
            row = fresh
    k = length[row]
    while k > 0 and start[row, k - 1] > s:
        lower[row, k] = lower[row, k - 1]
        upper[row, k] = upper[row, k - 1]
        start[row, k] = start[row, k - 1]
        end[row, k] = end[row, k - 1]
        k -= 1
    lower[row, k] = lo
    upper[row, k] = hi
    start[row, k] = s
    end[row, k] = e
    length[row] += 1
    if lo < min_lower[row]:
        min_lower[row] = lo
    if hi > max_upper[row]:
        max_upper[row] = hi
    counts[1] += 1


@njit(cache=True)
def place(
    order, begin, end_at, lower_of, upper_of, size_of, align_of, lowest, offsets, state, arena
):
    """Place ``order[begin:end_at]``; returns (arena, work), work counted as the numpy pass
    counts it (every placed buffer scanned, eight per overlapping buffer sorted). ``state``
    is :meth:`State.arrays`."""
    lower, upper, start, end, length, min_lower, max_upper, rows, counts = state
    work = 0
    for position in range(begin, end_at):
        i = order[position]
        padded = size_of[i]
        if padded == 0:
            continue
        lo = lower_of[i]
        hi = upper_of[i]
        align = align_of[i]
        hits = 0
        cursor = 0
        best = -1
        best_slack = np.int64(-1)
        done = False
        for r in range(counts[0]):
            row = rows[r]
            if max_upper[row] <= lo or min_lower[row] >= hi:
                continue
            for k in range(length[row]):
                if lower[row, k] < hi and upper[row, k] > lo:
                    hits += 1
                    if not done:
                        candidate = cursor
                        if align > 1:
                            candidate = -(-candidate // align) * align
                        slack = start[row, k] - candidate - padded
                        if slack >= 0 and (best < 0 or slack < best_slack):
                            best = candidate
                            best_slack = slack
                            if lowest or slack == 0:
                                done = True
                        if end[row, k] > cursor:
                            cursor = end[row, k]
        work += counts[1] + 8 * hits
        if best >= 0:
            offset = best
        elif align > 1:
            offset = -(-cursor // align) * align
        else:
            offset = cursor
        offsets[i] = offset
        _insert(state, lo, hi, offset, offset + padded)
        if offset + padded > arena:
            arena = offset + padded
    return arena, work


def insert_fixed(state: State, lower: int, upper: int, start: int, end: int) -> None:
    _insert(state.arrays(), lower, upper, start, end)
