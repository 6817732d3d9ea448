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

Decomposition: where no unplaced buffer crosses the boundary between two sections, the
unplaced buffers on either side never meet again, and what is placed already is fixed, so the
two sides are independent problems. The search keeps a *partition* (a span of sections) in
focus: candidates, dominance and inference look at its buffers and sections only. When a
placement splits it, the search goes on in the first part and keeps the others on a stack,
each with the (offset, rank) at the split as its own symmetry threshold. When a part is fully
placed, the next one is taken from the stack; if that part has no plan, neither has the node
that split it whatever the earlier parts did, so the search jumps back there (instead of
trying every other plan of the earlier parts).

Beyond MiniMalloc, for zero-slack sections (where max live is the capacity): the valley
inference (:func:`_valleys_fit`), hole branching on the most constrained tight section
(:func:`_hole_children`), and two symmetries: identical buffers go up in rank order, and a
buffer never rests directly on one of the same sections and higher rank (:func:`_mirrored`).
For sections with little slack, the step inference (:func:`_steps_fit`): where the levels of
two neighbouring sections differ, the band between them must be filled by buffers that end
(or start) at that boundary.

The recursion is an explicit stack; undo information lives on trails.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FOUND, INFEASIBLE, LIMIT = 0, 1, 2
# BOTTOM_LEFT: hole branching takes the first qualifying tight section (lowest run, leftmost)
# instead of the one with the fewest candidates: another first dive, for restarts.
DECOMPOSE, VALLEYS, HOLES, BOTTOM_LEFT, STEPS = 1, 2, 4, 8, 16
ALL_OPTIONS = DECOMPOSE | VALLEYS | HOLES | STEPS


@njit(cache=True)
def _aligned(value, alignment):
    if alignment > 1:
        return -(-value // alignment) * alignment
    return value


@njit(cache=True)
def _mirrored(
    b, m, placed, position, size, align, rank, twin_before, group_ptr, group_idx, group_of
):
    """Whether placing ``b`` at ``m`` gives a plan that another, kept, plan mirrors: an
    identical buffer (same sections, size and alignment) of lower rank is still unplaced
    (twins go up in rank order), or ``b`` would rest directly on a buffer of the same
    sections and higher rank (such a stack can be reordered by rank, changing nothing
    around it, when the sizes keep the alignments)."""
    twin = twin_before[b]
    if twin >= 0 and not placed[twin]:
        return True
    g = group_of[b]
    for k in range(group_ptr[g], group_ptr[g + 1]):
        a = group_idx[k]
        # Swapping the two keeps both aligned only if each size is a multiple of the other's
        # alignment.
        if (
            placed[a]
            and rank[a] > rank[b]
            and position[a] + size[a] == m
            and size[a] % align[b] == 0
            and size[b] % align[a] == 0
        ):
            return True
    return False


@njit(cache=True)
def _children(
    out,
    key,
    placed,
    minoff,
    size,
    align,
    rank,
    first,
    last,
    lo,
    hi,
    parent_offset,
    parent_rank,
    position,
    twin_before,
    group_ptr,
    group_idx,
    group_of,
):
    """The candidates of a node among the unplaced buffers of sections [lo, hi), sorted,
    written to ``out``; returns how many."""
    n = size.shape[0]
    height = np.int64(1) << 62
    for b in range(n):
        if not placed[b] and first[b] >= lo and last[b] <= hi:
            h = _aligned(minoff[b], align[b]) + size[b]
            if h < height:
                height = h
    count = 0
    for b in range(n):
        if placed[b] or first[b] < lo or last[b] > hi:
            continue
        m = _aligned(minoff[b], align[b])
        if m >= height:
            continue
        if m < parent_offset or (m == parent_offset and rank[b] < parent_rank):
            continue
        if _mirrored(
            b, m, placed, position, size, align, rank, twin_before, group_ptr, group_idx, group_of
        ):
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
def _hole_children(
    out,
    key,
    placed,
    minoff,
    align,
    rank,
    first,
    last,
    lo,
    hi,
    parent_offset,
    parent_rank,
    floor,
    remaining,
    capacity,
    cover_ptr,
    cover_idx,
    size,
    position,
    twin_before,
    group_ptr,
    group_idx,
    group_of,
    bottom_left,
):
    """Hole branching. A section is tight when its unplaced buffers fill it from its level
    g = max(floor, parent offset) to the capacity exactly: in every completion one unplaced
    buffer starts at g there, and it lies inside the run of sections at level g around it
    when the run is walled (both neighbours higher, placed out, or outside [lo, hi)). At the
    lowest level this holds under the canonical order. When every section of [lo, hi) is
    tight and no floor is below the parent offset, each section fills from its floor up with
    no gap whatever the order, so a walled run at any level will do (*all tight*). Of the
    tight sections that qualify, the one with the fewest buffers that can start there is
    taken (with ``bottom_left``, the first that qualifies; the symmetries of
    :func:`_mirrored` filter its candidates only); its candidates, by rank, are written to
    ``out``. Returns (how many, 1 for the
    lowest level or 2 for all tight), or (-1, 0) when no section qualifies."""
    n = rank.shape[0]
    g_low = np.int64(1) << 62
    all_tight = True
    for s in range(lo, hi):
        if remaining[s] > 0:
            level = floor[s] if floor[s] > parent_offset else parent_offset
            if level < g_low:
                g_low = level
            if floor[s] < parent_offset or level + remaining[s] != capacity:
                all_tight = False
    best = -1
    best_count = n + 1
    best_lo = lo
    best_hi = hi
    best_level = g_low
    s = lo
    while s < hi:
        g = floor[s] if floor[s] > parent_offset else parent_offset
        if remaining[s] == 0 or (g != g_low and not all_tight):
            s += 1
            continue
        run_lo = s
        while s < hi and remaining[s] > 0:
            level = floor[s] if floor[s] > parent_offset else parent_offset
            if level != g:
                break
            s += 1
        run_hi = s
        if g != g_low:
            if run_lo > lo and remaining[run_lo - 1] > 0 and floor[run_lo - 1] < g:
                continue
            if run_hi < hi and remaining[run_hi] > 0 and floor[run_hi] < g:
                continue
        for t in range(run_lo, run_hi):
            if g + remaining[t] != capacity:
                continue
            count = 0
            for k in range(cover_ptr[t], cover_ptr[t + 1]):
                b = cover_idx[k]
                if placed[b] or first[b] < run_lo or last[b] > run_hi:
                    continue
                if _aligned(minoff[b], align[b]) != g:
                    continue
                if g == parent_offset and rank[b] < parent_rank:
                    continue
                count += 1
                if count >= best_count:
                    break
            if count < best_count:
                best_count = count
                best = t
                best_lo = run_lo
                best_hi = run_hi
                best_level = g
                if count == 0:
                    return 0, 1
            if bottom_left:
                break
        if best_count <= 1 or (bottom_left and best >= 0):
            break  # a forced (or failed) section, or the first: no need to look further
    if best < 0:
        return -1, 0
    g = best_level
    count = 0
    for k in range(cover_ptr[best], cover_ptr[best + 1]):
        b = cover_idx[k]
        if placed[b] or first[b] < best_lo or last[b] > best_hi:
            continue
        if _aligned(minoff[b], align[b]) != g:
            continue
        if g == parent_offset and rank[b] < parent_rank:
            continue
        if _mirrored(
            b, g, placed, position, size, align, rank, twin_before, group_ptr, group_idx, group_of
        ):
            continue
        out[count] = b
        key[count] = rank[b]
        count += 1
    if count > 1:
        sorted_index = np.argsort(key[:count])
        picked = out[:count].copy()
        for i in range(count):
            out[i] = picked[sorted_index[i]]
    return count, 2 if all_tight else 1


@njit(cache=True)
def _branch(
    out,
    key,
    placed,
    minoff,
    size,
    align,
    rank,
    first,
    last,
    lo,
    hi,
    parent_offset,
    parent_rank,
    floor,
    remaining,
    capacity,
    cover_ptr,
    cover_idx,
    holes,
    position,
    twin_before,
    group_ptr,
    group_idx,
    group_of,
    bottom_left,
):
    """A node's candidates: a hole's when ``holes`` and a tight section waits at the lowest
    level, else the canonical ones. Returns (how many, whether a hole's)."""
    if holes:
        count, mode = _hole_children(
            out,
            key,
            placed,
            minoff,
            align,
            rank,
            first,
            last,
            lo,
            hi,
            parent_offset,
            parent_rank,
            floor,
            remaining,
            capacity,
            cover_ptr,
            cover_idx,
            size,
            position,
            twin_before,
            group_ptr,
            group_idx,
            group_of,
            bottom_left,
        )
        if count >= 0:
            return count, mode
    count = _children(
        out,
        key,
        placed,
        minoff,
        size,
        align,
        rank,
        first,
        last,
        lo,
        hi,
        parent_offset,
        parent_rank,
        position,
        twin_before,
        group_ptr,
        group_idx,
        group_of,
    )
    return count, 0


@njit(cache=True)
def _sections_fit(
    part_lo,
    part_hi,
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
    """Section inference after a placement at offset ``x`` by a buffer of rank ``r`` in the
    partition of sections [part_lo, part_hi): in each of its sections, everything unplaced
    stacks above max(floor, x), and some unplaced buffer must start at or below capacity -
    (unplaced total). A buffer whose (offset, rank) is below (x, r) starts above x if ever.
    Sections outside [lo, hi) whose room is above x saw no change in where their buffers can
    start."""
    for s in range(part_lo, part_hi):
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
def _valleys_fit(
    part_lo,
    part_hi,
    floor,
    remaining,
    capacity,
    x,
    r,
    first,
    last,
    placed,
    minoff,
    align,
    rank,
    start_ptr,
    start_idx,
    reach,
):
    """Valley inference: in a section whose unplaced buffers fill it to the capacity exactly
    (tight), the next buffer starts at its level max(floor, x). Take a run of sections at one
    level g walled on both sides (by higher levels, placed-out sections or the partition's
    ends): a buffer starting at g in the run lies inside it, and those starting at g do not
    meet, so the run's tight sections must be covered by disjoint unplaced buffers inside the
    run that can sit at g (aligned, and after (x, r) in the canonical order)."""
    s = part_lo
    while s < part_hi:
        if remaining[s] == 0:
            s += 1
            continue
        g = floor[s] if floor[s] > x else x
        run_lo = s
        s += 1
        while s < part_hi and remaining[s] > 0:
            level = floor[s] if floor[s] > x else x
            if level != g:
                break
            s += 1
        run_hi = s
        if run_lo > part_lo and remaining[run_lo - 1] > 0:
            left_level = floor[run_lo - 1] if floor[run_lo - 1] > x else x
            if left_level < g:
                continue
        if run_hi < part_hi and remaining[run_hi] > 0:
            right_level = floor[run_hi] if floor[run_hi] > x else x
            if right_level < g:
                continue
        tight = False
        for t in range(run_lo, run_hi):
            if g + remaining[t] == capacity:
                tight = True
                break
        if not tight:
            continue
        for t in range(run_lo, run_hi + 1):
            reach[t] = False
        reach[run_lo] = True
        for t in range(run_lo, run_hi):
            if not reach[t]:
                continue
            if g + remaining[t] < capacity:
                reach[t + 1] = True
            for k in range(start_ptr[t], start_ptr[t + 1]):
                b = start_idx[k]
                if placed[b] or last[b] > run_hi or reach[last[b]]:
                    continue
                if _aligned(minoff[b], align[b]) != g or (g == x and rank[b] < r):
                    continue
                reach[last[b]] = True
        if not reach[run_hi]:
            return False
    return True


@njit(cache=True)
def _band_cover(t, wall, x, r, placed, minoff, size, align, rank, ptr, idx):
    """The total size of the unplaced buffers listed at boundary ``t`` (in the CSR lists
    ``ptr``/``idx``: those ending there, or those starting there) that could sit below
    ``wall``."""
    total = 0
    for k in range(ptr[t], ptr[t + 1]):
        b = idx[k]
        if placed[b]:
            continue
        m = _aligned(minoff[b], align[b])
        if m < x or (m == x and rank[b] < r):
            m = x + 1
        if m < wall:
            total += size[b]
    return total


@njit(cache=True)
def _steps_fit(
    part_lo,
    part_hi,
    floor,
    remaining,
    capacity,
    x,
    r,
    placed,
    minoff,
    size,
    align,
    rank,
    start_ptr,
    start_idx,
    end_ptr,
    end_idx,
):
    """Step inference. Everything still to come sits at or above the level max(floor, x) of
    each section it spans, so a buffer living in both sections t-1 and t sits above the
    higher of their levels. Where the levels step up from t-1 to t by d, the band of height d
    above section t-1's level is covered only by unplaced buffers that end at t, or wasted,
    and section t-1 wastes at most its slack (capacity - level - unplaced total): those
    buffers must add up to d - slack at least. Likewise, stepping down, with the buffers that
    start at t."""
    for t in range(part_lo + 1, part_hi):
        if remaining[t - 1] == 0 or remaining[t] == 0:
            continue
        low = floor[t - 1] if floor[t - 1] > x else x
        high = floor[t] if floor[t] > x else x
        if low == high:
            continue
        if low < high:
            need = (high - low) - (capacity - low - remaining[t - 1])
            if need > 0 and (
                _band_cover(t, high, x, r, placed, minoff, size, align, rank, end_ptr, end_idx)
                < need
            ):
                return False
        else:
            need = (low - high) - (capacity - high - remaining[t])
            if need > 0 and (
                _band_cover(t, low, x, r, placed, minoff, size, align, rank, start_ptr, start_idx)
                < need
            ):
                return False
    return True


@njit(cache=True)
def _parts(lo, hi, remaining, cross, parts_lo, parts_hi):
    """The independent parts of sections [lo, hi): maximal runs of sections holding unplaced
    buffers, joined by boundaries that some unplaced buffer crosses. Returns how many."""
    count = 0
    s = lo
    while s < hi:
        if remaining[s] == 0:
            s += 1
            continue
        start = s
        s += 1
        while s < hi and cross[s] > 0:
            s += 1
        parts_lo[count] = start
        parts_hi[count] = s
        count += 1
    return count


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
    start_ptr,
    start_idx,
    options,
    twin_before,
    group_ptr,
    group_idx,
    group_of,
    end_ptr,
    end_idx,
):
    """Search until a plan is found (written to ``position``), the search space is exhausted
    (no plan within ``capacity``), or ``node_limit`` placements are tried. ``options`` holds
    DECOMPOSE, VALLEYS, HOLES, BOTTOM_LEFT and STEPS bits. Returns (status, nodes)."""
    decompose = (options & DECOMPOSE) != 0
    valleys = (options & VALLEYS) != 0
    holes = (options & HOLES) != 0
    bottom_left = (options & BOTTOM_LEFT) != 0
    steps = (options & STEPS) != 0
    n = size.shape[0]
    if n == 0:
        return FOUND, 0
    sections = 0
    for b in range(n):
        if last[b] > sections:
            sections = last[b]
    floor = np.zeros(sections, np.int64)
    remaining = np.zeros(sections, np.int64)
    cross = np.zeros(sections + 1, np.int64)  # unplaced buffers crossing the boundary s-1|s
    spans = 0
    for b in range(n):
        spans += last[b] - first[b]
        for s in range(first[b], last[b]):
            remaining[s] += size[b]
        for s in range(first[b] + 1, last[b]):
            cross[s] += 1
    if not decompose:
        cross[:] = 1
    minoff = np.zeros(n, np.int64)
    placed = np.zeros(n, np.bool_)
    cand = np.empty((n + 1, n), np.int64)
    ncand = np.zeros(n + 1, np.int64)
    next_index = np.zeros(n + 1, np.int64)
    stop = np.zeros(n + 1, np.bool_)
    at_depth = np.empty(n + 1, np.int64)
    hat = np.zeros(n + 1, np.bool_)
    # How the level's candidates were chosen: 0 canonically, 1 filling a hole at the lowest
    # level (any rank may follow at that offset), 2 filling a hole where all is tight (any
    # offset may follow).
    hole = np.zeros(n + 1, np.int64)
    # The partition each level's candidates come from, where its failure sends the search
    # (the level below, or the node that split off its partition; -1: no plan at all), and
    # the height of the stack of parts waiting when the level was entered.
    level_lo = np.zeros(n + 1, np.int64)
    level_hi = np.zeros(n + 1, np.int64)
    jump = np.zeros(n + 1, np.int64)
    level_pending = np.zeros(n + 1, np.int64)
    pend_lo = np.empty(n + sections + 2, np.int64)
    pend_hi = np.empty(n + sections + 2, np.int64)
    pend_x = np.empty(n + sections + 2, np.int64)
    pend_r = np.empty(n + sections + 2, np.int64)
    pend_jump = np.empty(n + sections + 2, np.int64)
    parts_lo = np.empty(sections + 1, np.int64)
    parts_hi = np.empty(sections + 1, np.int64)
    trail_buffer = np.empty(adj_idx.shape[0] + 1, np.int64)
    trail_value = np.empty(adj_idx.shape[0] + 1, np.int64)
    trail_mark = np.zeros(n + 1, np.int64)
    floor_saved = np.empty(spans + 1, np.int64)
    floor_mark = np.zeros(n + 1, np.int64)
    key = np.empty(n, np.int64)
    reach = np.zeros(sections + 1, np.bool_)
    trail_top = 0
    floor_top = 0
    nodes = 0

    # The root: its parts, the first in focus, the others waiting (their failure: no plan).
    count = _parts(0, sections, remaining, cross, parts_lo, parts_hi)
    pending = 0
    for k in range(count - 1, 0, -1):
        pend_lo[pending] = parts_lo[k]
        pend_hi[pending] = parts_hi[k]
        pend_x[pending] = -1
        pend_r[pending] = -1
        pend_jump[pending] = -1
        pending += 1
    level_lo[0] = parts_lo[0]
    level_hi[0] = parts_hi[0]
    jump[0] = -1
    level_pending[0] = pending
    ncand[0], hole[0] = _branch(
        cand[0],
        key,
        placed,
        minoff,
        size,
        align,
        rank,
        first,
        last,
        parts_lo[0],
        parts_hi[0],
        -1,
        -1,
        floor,
        remaining,
        capacity,
        cover_ptr,
        cover_idx,
        holes,
        position,
        twin_before,
        group_ptr,
        group_idx,
        group_of,
        bottom_left,
    )
    depth = 0
    while True:
        undo = False
        if stop[depth] or next_index[depth] >= ncand[depth]:
            target = jump[depth]
            if target < 0:
                return INFEASIBLE, nodes
            # Undo the levels between here and the target without hatless pruning: their
            # subtrees did not fail as a whole, a part after them did.
            while depth - 1 > target:
                depth -= 1
                c = at_depth[depth]
                while trail_top > trail_mark[depth]:
                    trail_top -= 1
                    minoff[trail_buffer[trail_top]] = trail_value[trail_top]
                floor_top = floor_mark[depth]
                for i in range(last[c] - first[c]):
                    s = first[c] + i
                    floor[s] = floor_saved[floor_top + i]
                    remaining[s] += size[c]
                if decompose:
                    for s in range(first[c] + 1, last[c]):
                        cross[s] += 1
                placed[c] = False
            depth -= 1
            undo = True
        else:
            c = cand[depth, next_index[depth]]
            next_index[depth] += 1
            nodes += 1
            if nodes > node_limit:
                return LIMIT, nodes
            offset = _aligned(minoff[c], align[c])
            x = -1 if hole[depth] == 2 else offset
            r = -1 if hole[depth] > 0 else rank[c]
            top = offset + size[c]
            placed[c] = True
            position[c] = offset
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
            if decompose:
                for s in range(first[c] + 1, last[c]):
                    cross[s] -= 1
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
                    level_lo[depth],
                    level_hi[depth],
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
                )
            if ok and valleys:
                ok = _valleys_fit(
                    level_lo[depth],
                    level_hi[depth],
                    floor,
                    remaining,
                    capacity,
                    x,
                    r,
                    first,
                    last,
                    placed,
                    minoff,
                    align,
                    rank,
                    start_ptr,
                    start_idx,
                    reach,
                )
            if ok and steps:
                ok = _steps_fit(
                    level_lo[depth],
                    level_hi[depth],
                    floor,
                    remaining,
                    capacity,
                    x,
                    r,
                    placed,
                    minoff,
                    size,
                    align,
                    rank,
                    start_ptr,
                    start_idx,
                    end_ptr,
                    end_idx,
                )
            if ok:
                if depth + 1 == n:
                    return FOUND, nodes
                pending = level_pending[depth]
                count = _parts(
                    level_lo[depth], level_hi[depth], remaining, cross, parts_lo, parts_hi
                )
                d = depth + 1
                if count == 0:
                    # This part is placed: the next waiting one, from its own threshold.
                    pending -= 1
                    lo = pend_lo[pending]
                    hi = pend_hi[pending]
                    parent_offset = pend_x[pending]
                    parent_rank = pend_r[pending]
                    jump[d] = pend_jump[pending]
                else:
                    for k in range(count - 1, 0, -1):
                        pend_lo[pending] = parts_lo[k]
                        pend_hi[pending] = parts_hi[k]
                        pend_x[pending] = x
                        pend_r[pending] = r
                        pend_jump[pending] = depth
                        pending += 1
                    lo = parts_lo[0]
                    hi = parts_hi[0]
                    parent_offset = x
                    parent_rank = r
                    jump[d] = depth
                level_lo[d] = lo
                level_hi[d] = hi
                level_pending[d] = pending
                ncand[d], hole[d] = _branch(
                    cand[d],
                    key,
                    placed,
                    minoff,
                    size,
                    align,
                    rank,
                    first,
                    last,
                    lo,
                    hi,
                    parent_offset,
                    parent_rank,
                    floor,
                    remaining,
                    capacity,
                    cover_ptr,
                    cover_idx,
                    holes,
                    position,
                    twin_before,
                    group_ptr,
                    group_idx,
                    group_of,
                    bottom_left,
                )
                next_index[d] = 0
                stop[d] = False
                depth = d
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
            if decompose:
                for s in range(first[c] + 1, last[c]):
                    cross[s] += 1
            placed[c] = False
            if not hat[depth]:
                stop[depth] = True
