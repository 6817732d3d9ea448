"""The time-sweep search of :mod:`sweep_search`, compiled with numba.

Applies to instances whose sections are all tight at the capacity (every section with live
buffers holds exactly ``capacity`` bytes). Then in every plan the buffers starting in a
section exactly fill the free runs of addresses left by the buffers continuing into it from
the section before. The search sweeps the sections in time order; within a section it picks
the free run with the fewest candidates and branches on which starting buffer goes at that
run's lowest free address (it must begin exactly there: everything below is filled). A
candidate fits the rest of the run and is aligned at its start. Identical starters (same
sections, size and alignment) are placed in index order.

Nogood memo: the future depends only on the *boundary state* at the start of a section, the
section and the offsets of the buffers crossing into it. The state is hashed (Zobrist: two
independent 64-bit hashes per (class of identical buffers, offset), XORed, so a false match
needs 128 bits to collide) into a fixed-size always-replace table; a state whose subtree
failed is recorded, and reaching a recorded state fails at once. A failed boundary state also
sends the search back (backjumping) to the latest placement of a buffer crossing that
boundary: the placements after it change no crossing offset, so every alternative among them
fails the same way, and the boundary states entered after it are recorded as failed. When no
buffer crosses a failed boundary, the part after it has no plan whatever comes before: the
whole problem is infeasible.

The recursion is an explicit stack of levels, one per placement; each keeps its own copy of
the free runs of its section.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FOUND, INFEASIBLE, LIMIT = 0, 1, 2
# MEMO: record and look up failed boundary states. BACKJUMP: jump back to the latest placement
# of a crossing buffer when a boundary state fails (and detect infeasibility at a boundary
# nothing crosses). BOTTOM: fill the lowest free run first instead of the most constrained.
# SUBSET_SUM: prune when some free run is not a sum of the sizes of the remaining starters.
# LOOKAHEAD: after a placement, in each later section of the buffer's life, the free runs just
# below and above it (between placed buffers) must be sums of the sizes of the unplaced
# buffers live there.
# FULL_LOOKAHEAD: the same for every free run of those sections.
# NEIGHBOURS: try first the candidates ending when the buffer below the run (or, filling
# the run exactly, the one above it) ends.
# ENDS: where a placed buffer ends (at a section after the current one) and placed buffers
# bound the free run it leaves with the placed ones ending there too, that run must be a sum
# of the sizes of the starters of that section.
# BLOCKS: starters of a section with the same last section lying side by side can be
# permuted (nothing else sees inside their block): unaligned ones go up in size.
MEMO, BACKJUMP, BOTTOM, SUBSET_SUM, LOOKAHEAD, FULL_LOOKAHEAD, NEIGHBOURS, ENDS, BLOCKS = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
    128,
    256,
)
ALL_OPTIONS = MEMO | BACKJUMP | SUBSET_SUM | LOOKAHEAD | NEIGHBOURS | ENDS | BLOCKS
# stats: memo hits, memo records, backjumps, subset-sum and lookahead prunes, furthest
# section entered
STATS = 5


@njit(cache=True)
def _mix(x):
    """splitmix64's finalizer (uint64 in, uint64 out)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def _hash(kind, a, b, seed):
    """A 64-bit hash of (kind, a, b) under ``seed``."""
    x = _mix(np.uint64(seed) ^ np.uint64(kind))
    x = _mix(x ^ np.uint64(a))
    return _mix(x ^ np.uint64(b) ^ np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True)
def _runs(t, cont_ptr, cont_idx, position, size, capacity, tmp_lo, tmp_hi, out_lo, out_hi):
    """The free runs of section ``t`` left by the buffers continuing into it (placed), into
    out_lo/out_hi; returns how many."""
    k = 0
    for j in range(cont_ptr[t], cont_ptr[t + 1]):
        b = cont_idx[j]
        lo = position[b]
        hi = lo + size[b]
        i = k
        while i > 0 and tmp_lo[i - 1] > lo:
            tmp_lo[i] = tmp_lo[i - 1]
            tmp_hi[i] = tmp_hi[i - 1]
            i -= 1
        tmp_lo[i] = lo
        tmp_hi[i] = hi
        k += 1
    n_runs = 0
    at = 0
    for i in range(k):
        if tmp_lo[i] > at:
            out_lo[n_runs] = at
            out_hi[n_runs] = tmp_lo[i]
            n_runs += 1
        if tmp_hi[i] > at:
            at = tmp_hi[i]
    if at < capacity:
        out_lo[n_runs] = at
        out_hi[n_runs] = capacity
        n_runs += 1
    return n_runs


@njit(cache=True)
def _fillable(length, j0, j1, cover_idx, placed, size, grain, bits):
    """Whether ``length`` bytes are a sum of the sizes of the unplaced buffers in
    cover_idx[j0:j1] (bitset subset-sum in units of ``grain``)."""
    target = length // grain
    words = target // 64 + 1
    for i in range(words):
        bits[i] = np.uint64(0)
    bits[0] = np.uint64(1)
    one = np.uint64(1)
    for j in range(j0, j1):
        b = cover_idx[j]
        if placed[b]:
            continue
        w = size[b] // grain
        if w > target:
            continue
        ws = w // 64
        bs = np.uint64(w % 64)
        for i in range(words - 1, ws - 1, -1):
            v = bits[i - ws] << bs
            if bs != 0 and i - ws - 1 >= 0:
                v |= bits[i - ws - 1] >> (np.uint64(64) - bs)
            bits[i] |= v
        if (bits[target // 64] >> np.uint64(target % 64)) & one:
            return True
    return ((bits[target // 64] >> np.uint64(target % 64)) & one) != 0


@njit(cache=True)
def _subset_bits(j0, j1, idx, placed, size, grain, bits, words):
    """The subset sums (in units of ``grain``, below 64 * ``words``) of the sizes of the
    unplaced buffers in idx[j0:j1], as a bitset."""
    for i in range(words):
        bits[i] = np.uint64(0)
    bits[0] = np.uint64(1)
    for j in range(j0, j1):
        b = idx[j]
        if placed[b]:
            continue
        w = size[b] // grain
        ws = w // 64
        if ws >= words:
            continue
        bs = np.uint64(w % 64)
        for i in range(words - 1, ws - 1, -1):
            v = bits[i - ws] << bs
            if bs != 0 and i - ws - 1 >= 0:
                v |= bits[i - ws - 1] >> (np.uint64(64) - bs)
            bits[i] |= v


@njit(cache=True)
def _ending_ok(
    s,
    x,
    y,
    cover_ptr,
    cover_idx,
    start_ptr,
    start_idx,
    end_ptr,
    end_idx,
    placed,
    position,
    size,
    last,
    capacity,
    grain,
    bits,
    bits2,
):
    """Whether the free run of section ``s`` containing [x, y), the space of a placed buffer
    ending at ``s``, can still be exactly filled by the starters of ``s``: the run is the
    block of placed buffers ending at ``s`` around it, bounded by placed buffers live at
    ``s`` (or 0 and the capacity); where a side is not bounded yet, other buffers ending at
    ``s`` may still join the run."""
    lo = x
    open_side = False
    while lo > 0:
        found = -1
        for j in range(cover_ptr[s - 1], cover_ptr[s]):
            c = cover_idx[j]
            if placed[c] and position[c] + size[c] == lo:
                found = c
                break
        if found < 0:
            open_side = True
            break
        if last[found] != s:
            break
        lo = position[found]
    hi = y
    while hi < capacity:
        found = -1
        for j in range(cover_ptr[s - 1], cover_ptr[s]):
            c = cover_idx[j]
            if placed[c] and position[c] == hi:
                found = c
                break
        if found < 0:
            open_side = True
            break
        if last[found] != s:
            break
        hi = position[found] + size[found]
    words = capacity // grain // 64 + 1
    known = (hi - lo) // grain
    _subset_bits(start_ptr[s], start_ptr[s + 1], start_idx, placed, size, grain, bits, words)
    if not open_side:
        return ((bits[known // 64] >> np.uint64(known % 64)) & np.uint64(1)) != 0
    # Some sum X of the other buffers ending at s (unplaced ones may join the block, and
    # placed ones beyond them) with known + X a sum of starters.
    for i in range(words):
        bits2[i] = np.uint64(0)
    bits2[0] = np.uint64(1)
    for j in range(end_ptr[s], end_ptr[s + 1]):
        b = end_idx[j]
        if placed[b] and lo <= position[b] < hi:
            continue
        w = size[b] // grain
        ws = w // 64
        if ws >= words:
            continue
        bs = np.uint64(w % 64)
        for i in range(words - 1, ws - 1, -1):
            v = bits2[i - ws] << bs
            if bs != 0 and i - ws - 1 >= 0:
                v |= bits2[i - ws - 1] >> (np.uint64(64) - bs)
            bits2[i] |= v
    ws = known // 64
    bs = np.uint64(known % 64)
    for i in range(words - 1, ws - 1, -1):
        v = bits2[i - ws] << bs
        if bs != 0 and i - ws - 1 >= 0:
            v |= bits2[i - ws - 1] >> (np.uint64(64) - bs)
        if v & bits[i]:
            return True
    return False


@njit(cache=True)
def _state_key(t, cont_ptr, cont_idx, position, klass):
    h1 = _hash(1, t, 0, 0x5EED0001)
    h2 = _hash(1, t, 0, 0x5EED0002)
    for j in range(cont_ptr[t], cont_ptr[t + 1]):
        b = cont_idx[j]
        h1 ^= _hash(2, klass[b], position[b], 0x5EED0001)
        h2 ^= _hash(2, klass[b], position[b], 0x5EED0002)
    return h1, h2


@njit(cache=True)
def search(
    first,
    last,
    size,
    align,
    klass,
    start_ptr,
    start_idx,
    cont_ptr,
    cont_idx,
    cover_ptr,
    cover_idx,
    end_ptr,
    end_idx,
    twin_before,
    grain,
    capacity,
    node_limit,
    position,
    memo1,
    memo2,
    memo_used,
    options,
    stats,
):
    """Sweep search at ``capacity`` (every live section must be tight there; the caller
    checks). ``start_idx`` lists each section's starters (CSR by ``start_ptr``) in the order
    their candidates are tried; ``cont_idx`` (CSR by ``cont_ptr``) the buffers live in each
    section and the one before; ``cover_idx`` (CSR by ``cover_ptr``) those live in each
    section; ``end_idx`` (CSR by ``end_ptr``) those whose last section is before each one;
    ``klass`` numbers classes of identical buffers;
    ``twin_before`` is the identical starter that must be placed before each one, or -1;
    ``grain`` divides every size and the capacity (for the subset-sum test). The memo table
    (``memo1``, ``memo2``, ``memo_used``, a power of two long) persists across calls: it holds
    facts only. Returns (status, nodes); a plan is written to ``position``."""
    use_memo = (options & MEMO) != 0
    backjump = (options & BACKJUMP) != 0
    bottom = (options & BOTTOM) != 0
    subset_sum = (options & SUBSET_SUM) != 0
    lookahead = (options & (LOOKAHEAD | FULL_LOOKAHEAD)) != 0
    full_look = (options & FULL_LOOKAHEAD) != 0
    neighbours = (options & NEIGHBOURS) != 0
    ends = (options & ENDS) != 0
    blocks = (options & BLOCKS) != 0
    n = size.shape[0]
    sections = start_ptr.shape[0] - 1
    if n == 0:
        return FOUND, 0
    mask = np.uint64(memo1.shape[0] - 1)
    max_runs = 1
    max_start = 1
    for t in range(sections):
        if cont_ptr[t + 1] - cont_ptr[t] + 1 > max_runs:
            max_runs = cont_ptr[t + 1] - cont_ptr[t] + 1
        if start_ptr[t + 1] - start_ptr[t] > max_start:
            max_start = start_ptr[t + 1] - start_ptr[t]
    levels = n + 1
    rlo = np.zeros((levels, max_runs), np.int64)
    rhi = np.zeros((levels, max_runs), np.int64)
    nr = np.zeros(levels, np.int64)
    sec = np.zeros(levels, np.int64)
    entry = np.zeros(levels, np.bool_)
    key1 = np.zeros(levels, np.uint64)
    key2 = np.zeros(levels, np.uint64)
    rem = np.zeros(levels, np.int64)
    pick = np.zeros(levels, np.int64)
    cand = np.zeros((levels, max_start), np.int64)
    ncand = np.zeros(levels, np.int64)
    nxt = np.zeros(levels, np.int64)
    placed_buf = np.full(levels, -1, np.int64)
    placed = np.zeros(n, np.bool_)
    placed_level = np.full(n, -1, np.int64)
    tmp_lo = np.zeros(n + 1, np.int64)
    tmp_hi = np.zeros(n + 1, np.int64)
    counts = np.zeros(max_runs, np.int64)
    reach = np.zeros(capacity // grain + 1, np.bool_)
    bits = np.zeros(capacity // grain // 64 + 2, np.uint64)
    bits2 = np.zeros(capacity // grain // 64 + 2, np.uint64)

    nodes = 0
    d = 0
    t = 0
    # mode 0: enter the next section with starters from section t at level d;
    # mode 1: expand level d; mode 2: try the next candidate of level d;
    # mode 3: boundary state of section t failed (its keys in f1, f2) with level d to come.
    mode = 0
    f1 = np.uint64(0)
    f2 = np.uint64(0)
    while True:
        if mode == 0:
            while t < sections and start_ptr[t + 1] == start_ptr[t]:
                t += 1
            if t == sections:
                return FOUND, nodes
            if t > stats[4]:
                stats[4] = t
            nr[d] = _runs(
                t, cont_ptr, cont_idx, position, size, capacity, tmp_lo, tmp_hi, rlo[d], rhi[d]
            )
            sec[d] = t
            entry[d] = True
            rem[d] = start_ptr[t + 1] - start_ptr[t]
            k1, k2 = _state_key(t, cont_ptr, cont_idx, position, klass)
            key1[d] = k1
            key2[d] = k2
            slot = k1 & mask
            if use_memo and memo_used[slot] and memo1[slot] == k1 and memo2[slot] == k2:
                stats[0] += 1
                f1 = k1
                f2 = k2
                mode = 3
                continue
            mode = 1
        elif mode == 1:
            t = sec[d]
            runs = nr[d]
            s0 = start_ptr[t]
            s1 = start_ptr[t + 1]
            for r in range(runs):
                counts[r] = 0
            for j in range(s0, s1):
                b = start_idx[j]
                if placed[b]:
                    continue
                tb = twin_before[b]
                if tb >= 0 and not placed[tb]:
                    continue
                for r in range(runs):
                    lo = rlo[d, r]
                    if lo < rhi[d, r] and lo % align[b] == 0 and lo + size[b] <= rhi[d, r]:
                        counts[r] += 1
            best = -1
            dead = False
            for r in range(runs):
                if rlo[d, r] < rhi[d, r]:
                    if counts[r] == 0:
                        dead = True
                        break
                    if best < 0 or (not bottom and counts[r] < counts[best]):
                        best = r
            if not dead and subset_sum:
                # Every free run must be a sum of sizes of the remaining starters.
                for r in range(runs):
                    length = (rhi[d, r] - rlo[d, r]) // grain
                    if length <= 0:
                        continue
                    reach[: length + 1] = False
                    reach[0] = True
                    for j in range(s0, s1):
                        b = start_idx[j]
                        if placed[b]:
                            continue
                        w = size[b] // grain
                        for v in range(length, w - 1, -1):
                            if reach[v - w]:
                                reach[v] = True
                    if not reach[length]:
                        dead = True
                        stats[3] += 1
                        break
            ncand[d] = 0
            nxt[d] = 0
            placed_buf[d] = -1
            if not dead and best >= 0:
                pick[d] = best
                lo = rlo[d, best]
                hi = rhi[d, best]
                # The buffer just below (top at lo) and just above (bottom at hi) the run.
                below_last = -1
                above_last = -1
                below = -1
                if neighbours or blocks:
                    for j in range(cover_ptr[t], cover_ptr[t + 1]):
                        c = cover_idx[j]
                        if placed[c]:
                            if position[c] + size[c] == lo:
                                below_last = last[c]
                                below = c
                            elif position[c] == hi:
                                above_last = last[c]
                # Same-lifetime starters side by side form a block no other buffer sees
                # inside: sizes go up in it (unaligned ones; equal sizes are twins).
                block_size = -1
                if blocks and below >= 0 and first[below] == t and align[below] == 1:
                    block_size = size[below]
                # Candidates sharing their end with a neighbour first (pieces of one cut
                # share both ends), then in the given order.
                k = 0
                for score in range(3 if neighbours else 1):
                    for j in range(s0, s1):
                        b = start_idx[j]
                        if placed[b]:
                            continue
                        tb = twin_before[b]
                        if tb >= 0 and not placed[tb]:
                            continue
                        if (
                            block_size >= 0
                            and last[b] == below_last
                            and align[b] == 1
                            and size[b] < block_size
                        ):
                            continue
                        if lo % align[b] == 0 and lo + size[b] <= hi:
                            if neighbours:
                                sc = 2
                                if last[b] == below_last:
                                    sc = 0
                                elif lo + size[b] == hi and last[b] == above_last:
                                    sc = 1
                                if sc != score:
                                    continue
                            cand[d, k] = b
                            k += 1
                ncand[d] = k
            mode = 2
        elif mode == 2:
            pb = placed_buf[d]
            if pb >= 0:
                placed[pb] = False
                placed_level[pb] = -1
                placed_buf[d] = -1
            if nxt[d] < ncand[d]:
                if nodes >= node_limit:
                    return LIMIT, nodes
                nodes += 1
                b = cand[d, nxt[d]]
                nxt[d] += 1
                r = pick[d]
                lo = rlo[d, r]
                position[b] = lo
                placed[b] = True
                placed_level[b] = d
                placed_buf[d] = b
                t = sec[d]
                if lookahead:
                    ok = True
                    for s in range(first[b] + 1, last[b]):
                        # The free runs of section s between placed buffers live there.
                        k = 0
                        for j in range(cover_ptr[s], cover_ptr[s + 1]):
                            c = cover_idx[j]
                            if not placed[c]:
                                continue
                            i = k
                            while i > 0 and tmp_lo[i - 1] > position[c]:
                                tmp_lo[i] = tmp_lo[i - 1]
                                tmp_hi[i] = tmp_hi[i - 1]
                                i -= 1
                            tmp_lo[i] = position[c]
                            tmp_hi[i] = position[c] + size[c]
                            k += 1
                        at = 0
                        for i in range(k + 1):
                            nxt_lo = tmp_lo[i] if i < k else capacity
                            near = at == lo + size[b] or nxt_lo == lo
                            if (
                                nxt_lo > at
                                and (full_look or near)
                                and not _fillable(
                                    nxt_lo - at,
                                    cover_ptr[s],
                                    cover_ptr[s + 1],
                                    cover_idx,
                                    placed,
                                    size,
                                    grain,
                                    bits,
                                )
                            ):
                                ok = False
                                break
                            if i < k and tmp_hi[i] > at:
                                at = tmp_hi[i]
                        if not ok:
                            break
                    if not ok:
                        stats[3] += 1
                        continue
                if ends:
                    # Where b, or a placed neighbour of b, ends (at section s, after t), the
                    # free run it leaves is filled exactly by the starters of s.
                    ok = True
                    top = lo + size[b]
                    for s in range(first[b] + 1, min(last[b], sections - 1) + 1):
                        if s == last[b]:
                            ok = _ending_ok(
                                s,
                                lo,
                                top,
                                cover_ptr,
                                cover_idx,
                                start_ptr,
                                start_idx,
                                end_ptr,
                                end_idx,
                                placed,
                                position,
                                size,
                                last,
                                capacity,
                                grain,
                                bits,
                                bits2,
                            )
                        else:
                            for j in range(cover_ptr[s - 1], cover_ptr[s]):
                                c = cover_idx[j]
                                if (
                                    placed[c]
                                    and last[c] == s
                                    and (position[c] + size[c] == lo or position[c] == top)
                                    and not _ending_ok(
                                        s,
                                        position[c],
                                        position[c] + size[c],
                                        cover_ptr,
                                        cover_idx,
                                        start_ptr,
                                        start_idx,
                                        end_ptr,
                                        end_idx,
                                        placed,
                                        position,
                                        size,
                                        last,
                                        capacity,
                                        grain,
                                        bits,
                                        bits2,
                                    )
                                ):
                                    ok = False
                                    break
                        if not ok:
                            break
                    if not ok:
                        stats[3] += 1
                        continue
                if rem[d] > 1:
                    runs = nr[d]
                    for i in range(runs):
                        rlo[d + 1, i] = rlo[d, i]
                        rhi[d + 1, i] = rhi[d, i]
                    rlo[d + 1, r] = lo + size[b]
                    nr[d + 1] = runs
                    sec[d + 1] = t
                    entry[d + 1] = False
                    rem[d + 1] = rem[d] - 1
                    d += 1
                    mode = 1
                else:
                    d += 1
                    t += 1
                    mode = 0
            elif entry[d]:
                t = sec[d]
                f1 = key1[d]
                f2 = key2[d]
                mode = 3
            else:
                d -= 1
                if d < 0:
                    return INFEASIBLE, nodes
        else:
            # The boundary state of section t failed; levels below d are placed.
            if use_memo:
                slot = f1 & mask
                memo1[slot] = f1
                memo2[slot] = f2
                memo_used[slot] = True
                stats[1] += 1
            if backjump:
                target = -1
                for j in range(cont_ptr[t], cont_ptr[t + 1]):
                    pl = placed_level[cont_idx[j]]
                    if pl > target:
                        target = pl
                if target < 0:
                    return INFEASIBLE, nodes
                if target < d - 1:
                    stats[2] += 1
                for e in range(d - 1, target, -1):
                    pb = placed_buf[e]
                    if pb >= 0:
                        placed[pb] = False
                        placed_level[pb] = -1
                        placed_buf[e] = -1
                    if entry[e] and use_memo:
                        slot = key1[e] & mask
                        memo1[slot] = key1[e]
                        memo2[slot] = key2[e]
                        memo_used[slot] = True
                        stats[1] += 1
                d = target
            else:
                d -= 1
                if d < 0:
                    return INFEASIBLE, nodes
            mode = 2
