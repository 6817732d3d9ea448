"""The canonical offsets search of :mod:`canonical_search`, compiled with numba.

Buffers are placed in non-decreasing order of offset, each at its minimum feasible offset (the
highest top of the placed buffers it meets in time, rounded up to its alignment). A node
branches over the unplaced buffers sorted by (minimum offset, rank in a static preorder) and
skips a candidate when

- symmetry: its (offset, rank) is below that of the buffer placed at the parent;
- dominance: its offset is at or above the lowest (minimum offset + size) of the unplaced
  buffers, since that buffer then fits entirely in the gap below it;

and a placement fails when, in some section, max(floor, offset just placed) + the sizes of
its unplaced buffers exceeds the capacity (section inference). When the buffer just placed
meets no unplaced buffer and its subtree fails, its siblings fail too (hatless pruning).
The recursion is an explicit stack; undo information lives on two trails.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FOUND, INFEASIBLE, LIMIT = 0, 1, 2


@njit(cache=True)
def _aligned(value, alignment):
    if alignment > 1:
        return -(-value // alignment) * alignment
    return value


@njit(cache=True)
def _children(out, key, placed, minoff, size, align, rank, parent_offset, parent_rank):
    """The candidates of a node, sorted, written to ``out``; returns how many."""
    n = size.shape[0]
    height = np.int64(1) << 62
    for b in range(n):
        if not placed[b]:
            h = _aligned(minoff[b], align[b]) + size[b]
            if h < height:
                height = h
    count = 0
    for b in range(n):
        if placed[b]:
            continue
        m = _aligned(minoff[b], align[b])
        if m >= height:
            continue
        if m < parent_offset or (m == parent_offset and rank[b] < parent_rank):
            continue
        out[count] = b
        key[count] = m * n + rank[b]
        count += 1
    if count > 1:
        sorted_index = np.argsort(key[:count])
        picked = out[:count].copy()
        for i in range(count):
            out[i] = picked[sorted_index[i]]
    return count


@njit(cache=True)
def _sections_fit(
    sections,
    floor,
    remaining,
    capacity,
    x,
    r,
    lo,
    hi,
    cover_ptr,
    cover_idx,
    placed,
    minoff,
    align,
    rank,
):
    """Section inference after a placement at offset ``x`` by a buffer of rank ``r``: in each
    section, everything unplaced stacks above max(floor, x), and some unplaced buffer must
    start at or below capacity - (unplaced total). A buffer whose (offset, rank) is below
    (x, r) starts above x if ever. Sections outside [lo, hi) whose room is above x saw no
    change in where their buffers can start."""
    for s in range(sections):
        left = remaining[s]
        if left == 0:
            continue
        reach = capacity - left
        if floor[s] > reach or x > reach:
            return False
        if reach > x and (s < lo or s >= hi):
            continue
        fits = False
        for k in range(cover_ptr[s], cover_ptr[s + 1]):
            b = cover_idx[k]
            if placed[b]:
                continue
            m = _aligned(minoff[b], align[b])
            if m < x or (m == x and rank[b] < r):
                m = x + 1
            if m <= reach:
                fits = True
                break
        if not fits:
            return False
    return True


@njit(cache=True)
def search(
    first,
    last,
    size,
    align,
    adj_ptr,
    adj_idx,
    cover_ptr,
    cover_idx,
    rank,
    capacity,
    node_limit,
    position,
):
    """Search until a plan is found (written to ``position``), the search space is exhausted
    (no plan within ``capacity``), or ``node_limit`` placements are tried.
    Returns (status, nodes)."""
    n = size.shape[0]
    sections = 0
    for b in range(n):
        if last[b] > sections:
            sections = last[b]
    floor = np.zeros(sections, np.int64)
    remaining = np.zeros(sections, np.int64)
    spans = 0
    for b in range(n):
        spans += last[b] - first[b]
        for s in range(first[b], last[b]):
            remaining[s] += size[b]
    minoff = np.zeros(n, np.int64)
    placed = np.zeros(n, np.bool_)
    cand = np.empty((n + 1, n), np.int64)
    ncand = np.zeros(n + 1, np.int64)
    next_index = np.zeros(n + 1, np.int64)
    stop = np.zeros(n + 1, np.bool_)
    at_depth = np.empty(n + 1, np.int64)
    hat = np.zeros(n + 1, np.bool_)
    trail_buffer = np.empty(adj_idx.shape[0] + 1, np.int64)
    trail_value = np.empty(adj_idx.shape[0] + 1, np.int64)
    trail_mark = np.zeros(n + 1, np.int64)
    floor_saved = np.empty(spans + 1, np.int64)
    floor_mark = np.zeros(n + 1, np.int64)
    key = np.empty(n, np.int64)
    trail_top = 0
    floor_top = 0
    nodes = 0
    if n == 0:
        return FOUND, 0
    ncand[0] = _children(cand[0], key, placed, minoff, size, align, rank, -1, -1)
    depth = 0
    while True:
        if stop[depth] or next_index[depth] >= ncand[depth]:
            if depth == 0:
                return INFEASIBLE, nodes
            depth -= 1
            undo = True
        else:
            c = cand[depth, next_index[depth]]
            next_index[depth] += 1
            nodes += 1
            if nodes > node_limit:
                return LIMIT, nodes
            x = _aligned(minoff[c], align[c])
            top = x + size[c]
            placed[c] = True
            position[c] = x
            at_depth[depth] = c
            trail_mark[depth] = trail_top
            met = False
            for k in range(adj_ptr[c], adj_ptr[c + 1]):
                e = adj_idx[k]
                if not placed[e]:
                    met = True
                    if minoff[e] < top:
                        trail_buffer[trail_top] = e
                        trail_value[trail_top] = minoff[e]
                        trail_top += 1
                        minoff[e] = top
            hat[depth] = met
            floor_mark[depth] = floor_top
            for s in range(first[c], last[c]):
                floor_saved[floor_top] = floor[s]
                floor_top += 1
                floor[s] = top
                remaining[s] -= size[c]
            ok = top <= capacity
            if ok:
                # Where the lowest unplaced buffers could start changed only around c.
                lo = first[c]
                hi = last[c]
                for k in range(adj_ptr[c], adj_ptr[c + 1]):
                    e = adj_idx[k]
                    if not placed[e]:
                        if first[e] < lo:
                            lo = first[e]
                        if last[e] > hi:
                            hi = last[e]
                ok = _sections_fit(
                    sections,
                    floor,
                    remaining,
                    capacity,
                    x,
                    rank[c],
                    lo,
                    hi,
                    cover_ptr,
                    cover_idx,
                    placed,
                    minoff,
                    align,
                    rank,
                )
            if ok:
                if depth + 1 == n:
                    return FOUND, nodes
                count = _children(
                    cand[depth + 1], key, placed, minoff, size, align, rank, x, rank[c]
                )
                if count > 0:
                    ncand[depth + 1] = count
                    next_index[depth + 1] = 0
                    stop[depth + 1] = False
                    depth += 1
                    continue
            undo = True
        if undo:
            c = at_depth[depth]
            while trail_top > trail_mark[depth]:
                trail_top -= 1
                minoff[trail_buffer[trail_top]] = trail_value[trail_top]
            floor_top = floor_mark[depth]
            for i in range(last[c] - first[c]):
                s = first[c] + i
                floor[s] = floor_saved[floor_top + i]
                remaining[s] += size[c]
            placed[c] = False
            if not hat[depth]:
                stop[depth] = True
