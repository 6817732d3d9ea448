"""The branch-and-bound of :mod:`dsa_search`, compiled with numba.

Same enumeration, pruning and branching order as the pure-Python search there (which stays as
the reference and the fallback); this one runs a few hundred times more nodes per second. The
recursion becomes an explicit stack of frames, and the memo of failed states becomes an
open-addressing table keyed by two independent 64-bit Zobrist hashes of (placed buffers,
section floors), so a false hit needs both to collide at once.

A call searches until it succeeds, proves there is nothing to find, or spends ``node_limit``
nodes; the caller restarts it with a new branching order and the same table.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FOUND, INFEASIBLE, LIMIT = 0, 1, 2
INF = 1 << 62
TABLE_BITS = 21  # 2M slots of two int64: 32 MiB
TABLE_FILL = 0.7  # stop remembering beyond this load


def new_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = 1 << TABLE_BITS
    return np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(1, np.int64)


@njit(cache=True)
def _mix(value: int) -> int:
    """splitmix64's finaliser on int64 (wrapping arithmetic)."""
    z = value + np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15
    z = (z ^ ((z >> 30) & np.int64(0x3FFFFFFFF))) * np.int64(-4658895280553007687)
    z = (z ^ ((z >> 27) & np.int64(0x1FFFFFFFFF))) * np.int64(-7723592293110705685)
    return z ^ ((z >> 31) & np.int64(0x1FFFFFFFF))


@njit(cache=True)
def _floor_key(salt: int, section: int, floor: int) -> int:
    return _mix(salt ^ _mix(section * np.int64(1_000_003) + floor))


@njit(cache=True)
def _lowest(b, first, last, floors, align):
    where = 0
    for s in range(first[b], last[b]):
        if floors[s] > where:
            where = floors[s]
    a = align[b]
    if a > 1:
        where = -(-where // a) * a
    return where


@njit(cache=True)
def _unplace(
    b,
    first,
    last,
    size,
    floors,
    remaining,
    effective,
    placed,
    position,
    saved,
    saved_top,
    zob1,
    zob2,
    h1,
    h2,
):
    """Take buffer ``b`` out again: its sections' floors come back from the saved stack.
    Returns the new stack top and state hashes."""
    n = size.shape[0]
    span = last[b] - first[b]
    saved_top -= span
    for i in range(span):
        s = first[b] + i
        old = saved[saved_top + i]
        h1 ^= _floor_key(zob1[n], s, floors[s]) ^ _floor_key(zob1[n], s, old)
        h2 ^= _floor_key(zob2[n], s, floors[s]) ^ _floor_key(zob2[n], s, old)
        floors[s] = old
        remaining[s] += size[b]
        effective[s] = old
    placed[b] = False
    position[b] = -1
    return saved_top, h1 ^ zob1[b], h2 ^ zob2[b]


@njit(cache=True)
def search(
    first,
    last,
    size,
    align,
    kind,
    twin_before,
    cover_ptr,
    cover_idx,
    capacity,
    node_limit,
    position,
    zob1,
    zob2,
    table1,
    table2,
    table_count,
    section_rank,
):
    """Returns (status, nodes); on FOUND, ``position`` holds every buffer's offset."""
    n = size.shape[0]
    sections = cover_ptr.shape[0] - 1
    min_size = size.min()
    floors = np.zeros(sections, np.int64)
    remaining = np.zeros(sections, np.int64)
    for b in range(n):
        for s in range(first[b], last[b]):
            remaining[s] += size[b]
    effective = np.empty(sections, np.int64)
    for s in range(sections):
        effective[s] = 0 if remaining[s] > 0 else INF
    placed = np.zeros(n, np.bool_)
    for b in range(n):
        position[b] = -1
    h1 = np.int64(0)
    h2 = np.int64(0)
    for s in range(sections):
        h1 ^= _floor_key(zob1[n], s, 0)
        h2 ^= _floor_key(zob2[n], s, 0)
    mask = np.int64(table1.shape[0] - 1)
    table_limit = int(TABLE_FILL * table1.shape[0])

    span_total = 0
    for b in range(n):
        span_total += last[b] - first[b]
    saved = np.empty(span_total + 1, np.int64)
    saved_top = 0
    depth_cap = 4 * (n + sections) + 1000
    f_s = np.empty(depth_cap, np.int64)
    f_x = np.empty(depth_cap, np.int64)
    f_h1 = np.empty(depth_cap, np.int64)
    f_h2 = np.empty(depth_cap, np.int64)
    f_start = np.empty(depth_cap, np.int64)
    f_end = np.empty(depth_cap, np.int64)
    f_next = np.empty(depth_cap, np.int64)
    f_higher = np.empty(depth_cap, np.int64)
    f_phase = np.empty(depth_cap, np.int64)
    f_b = np.empty(depth_cap, np.int64)
    cand = np.empty(8 * cover_idx.shape[0] + 4 * n + 1000, np.int64)

    release = np.empty(n, np.int64)
    length = np.empty(n, np.int64)
    nodes = 0
    d = 0
    entering = True
    while True:
        if entering:
            entering = False
            nodes += 1
            if nodes > node_limit:
                return LIMIT, nodes
            x = INF
            s_low = -1
            for s in range(sections):
                if effective[s] < x or (
                    effective[s] == x and x < INF and section_rank[s] < section_rank[s_low]
                ):
                    x = effective[s]
                    s_low = s
            if x >= INF:
                return FOUND, nodes
            # The memo of failed states.
            slot = _mix(h1) & mask
            known = False
            while table1[slot] != 0:
                if table1[slot] == (h1 | 1) and table2[slot] == h2:
                    known = True
                    break
                slot = (slot + 1) & mask
            if known:
                d -= 1
                if d < 0:
                    return INFEASIBLE, nodes
                continue
            top = f_end[d - 1] if d > 0 else 0
            if top + n > cand.shape[0]:
                return LIMIT, nodes
            higher = INF
            count = 0
            for k in range(cover_ptr[s_low], cover_ptr[s_low + 1]):
                b = cover_idx[k]
                if placed[b]:
                    continue
                twin = twin_before[b]
                if twin >= 0 and not placed[twin]:
                    continue
                where = _lowest(b, first, last, floors, align)
                if where == x:
                    if x + size[b] <= capacity:
                        cand[top + count] = b
                        count += 1
                elif where < higher:
                    higher = where
            f_s[d] = s_low
            f_x[d] = x
            f_h1[d] = h1
            f_h2[d] = h2
            f_start[d] = top
            f_end[d] = top + count
            f_next[d] = top
            f_higher[d] = higher
            f_phase[d] = 0
            f_b[d] = -1

        # Back in frame d: either fresh, or its child failed.
        s_low = f_s[d]
        x = f_x[d]
        pushed = False
        if f_phase[d] == 0:
            b = f_b[d]
            if b >= 0:  # undo the candidate whose subtree failed
                saved_top, h1, h2 = _unplace(
                    b,
                    first,
                    last,
                    size,
                    floors,
                    remaining,
                    effective,
                    placed,
                    position,
                    saved,
                    saved_top,
                    zob1,
                    zob2,
                    h1,
                    h2,
                )
                f_b[d] = -1
            while f_next[d] < f_end[d]:
                c = cand[f_next[d]]
                f_next[d] += 1
                duplicate = False
                for i in range(f_start[d], f_next[d] - 1):
                    if kind[cand[i]] == kind[c]:
                        duplicate = True
                        break
                if duplicate:
                    continue
                # Place c at x.
                top_c = x + size[c]
                fits = True
                for s in range(first[c], last[c]):
                    saved[saved_top + s - first[c]] = floors[s]
                    left = remaining[s] - size[c]
                    remaining[s] = left
                    h1 ^= _floor_key(zob1[n], s, floors[s]) ^ _floor_key(zob1[n], s, top_c)
                    h2 ^= _floor_key(zob2[n], s, floors[s]) ^ _floor_key(zob2[n], s, top_c)
                    floors[s] = top_c
                    if left > 0:
                        effective[s] = top_c
                        if top_c + left > capacity:
                            fits = False
                    else:
                        effective[s] = INF
                saved_top += last[c] - first[c]
                placed[c] = True
                position[c] = x
                h1 ^= zob1[c]
                h2 ^= zob2[c]
                f_b[d] = c
                if fits:
                    # Lookahead: the section after c and those under it must each keep an
                    # unplaced buffer that can start within their slack.
                    lo = first[c]
                    hi = last[c] + 1 if last[c] < sections else last[c]
                    for s in range(lo, hi):
                        left = remaining[s]
                        if left == 0:
                            continue
                        # Stack the section's unplaced buffers from its floor in order of
                        # their lowest positions (earliest release first, which minimises the
                        # top): past the capacity, no order fits.
                        count = 0
                        for k in range(cover_ptr[s], cover_ptr[s + 1]):
                            o = cover_idx[k]
                            if placed[o]:
                                continue
                            low = _lowest(o, first, last, floors, align)
                            i = count
                            while i > 0 and release[i - 1] > low:
                                release[i] = release[i - 1]
                                length[i] = length[i - 1]
                                i -= 1
                            release[i] = low
                            length[i] = size[o]
                            count += 1
                        reach = floors[s]
                        for i in range(count):
                            if release[i] > reach:
                                reach = release[i]
                            reach += length[i]
                        if reach > capacity:
                            fits = False
                            break
                if fits:
                    pushed = True
                    break
                # Undo c and try the next candidate.
                saved_top, h1, h2 = _unplace(
                    c,
                    first,
                    last,
                    size,
                    floors,
                    remaining,
                    effective,
                    placed,
                    position,
                    saved,
                    saved_top,
                    zob1,
                    zob2,
                    h1,
                    h2,
                )
                f_b[d] = -1
            if not pushed:
                # Nothing starts at (s, x): the floor rises to where something could start.
                rise = f_higher[d]
                if x + min_size < rise:
                    rise = x + min_size
                for s in range(sections):
                    if x < floors[s] < rise:
                        rise = floors[s]
                f_phase[d] = 1
                if rise + remaining[s_low] <= capacity:
                    h1 ^= _floor_key(zob1[n], s_low, x) ^ _floor_key(zob1[n], s_low, rise)
                    h2 ^= _floor_key(zob2[n], s_low, x) ^ _floor_key(zob2[n], s_low, rise)
                    floors[s_low] = rise
                    effective[s_low] = rise
                    f_phase[d] = 2
                    pushed = True
        elif f_phase[d] == 2:  # the raised floor failed: restore it
            rise = floors[s_low]
            h1 ^= _floor_key(zob1[n], s_low, rise) ^ _floor_key(zob1[n], s_low, x)
            h2 ^= _floor_key(zob2[n], s_low, rise) ^ _floor_key(zob2[n], s_low, x)
            floors[s_low] = x
            effective[s_low] = x
            f_phase[d] = 1
        if pushed:
            if d + 1 >= depth_cap:
                return LIMIT, nodes
            d += 1
            entering = True
            continue
        # Frame d failed: remember its state, return to the parent.
        if table_count[0] < table_limit:
            slot = _mix(f_h1[d]) & mask
            while table1[slot] != 0:
                slot = (slot + 1) & mask
            table1[slot] = f_h1[d] | 1
            table2[slot] = f_h2[d]
            table_count[0] += 1
        d -= 1
        if d < 0:
            return INFEASIBLE, nodes


class Prepared:
    """The arrays of one search (one subset of buffers at one capacity), local indices."""

    def __init__(
        self, first: np.ndarray, last: np.ndarray, size: np.ndarray, align: np.ndarray
    ) -> None:
        n = len(size)
        self.first, self.last, self.size, self.align = first, last, size, align
        keys = np.stack([first, last, size, align], axis=1)
        _, self.kind = np.unique(keys, axis=0, return_inverse=True)
        self.kind = self.kind.astype(np.int64).ravel()
        # Identical buffers are placed in index order.
        self.twin_before = np.full(n, -1, np.int64)
        seen: dict[int, int] = {}
        for b, k in enumerate(self.kind.tolist()):
            self.twin_before[b] = seen.get(k, -1)
            seen[k] = b
        self.sections = int(last.max()) if n else 0

    def section_rank(self, seed: int) -> np.ndarray:
        """Tie-break between equally low sections: leftmost first on the first attempt, then
        random (the memo of failed states holds whatever the branching order)."""
        if not seed:
            return np.arange(self.sections, dtype=np.int64)
        return np.random.default_rng(seed).permutation(self.sections).astype(np.int64)

    def cover(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Per section, the buffers covering it in branching order: long buffers first, then
        large ones (with noise after the first attempt)."""
        n = len(self.size)
        weight = self.size.astype(np.float64)
        if seed:
            weight = weight * (1.0 + 0.5 * np.random.default_rng(seed).random(n))
        priority = np.lexsort((np.arange(n), -(self.last - self.first), -weight))
        rank = np.empty(n, np.int64)
        rank[priority] = np.arange(n)
        spans = self.last - self.first
        owners = np.repeat(np.arange(n), spans)
        starts = np.repeat(np.cumsum(spans) - spans, spans)
        sections = np.repeat(self.first, spans) + np.arange(int(spans.sum())) - starts
        order = np.lexsort((rank[owners], sections))
        cover_idx = owners[order].astype(np.int64)
        counts = np.bincount(sections, minlength=self.sections)
        cover_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cover_ptr, cover_idx
