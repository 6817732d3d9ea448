"""Time-sweep search for offsets where every section is tight (see :mod:`sweep_kernel`).

When every section with live buffers holds the same total L (max live), every plan within L
fills each section exactly, so the buffers starting in a section exactly fill the free runs
the buffers continuing into it leave. The search sweeps the sections in time order, filling
each one, with a nogood memo on boundary states (the offsets of the buffers crossing into a
section) and backjumping; see :mod:`sweep_kernel`. It is complete: "infeasible" is claimed
only when the tree (pruned by facts only) is exhausted, or when a boundary nothing crosses
is proven unreachable.

Applicability: ``sweep_applies`` says whether the instance is all tight at some L within the
capacity. The search runs at L (a plan there fits the capacity too). When it is not
applicable (some live section holds less than the largest one), :func:`search_sweep` returns
"limit" at once with 0 nodes; when a section holds more than the capacity it returns
"infeasible" (true: nothing fits). An "infeasible" at L below the capacity proves nothing
about the capacity, so it is returned as "limit".

Restarts run forward and backward in time (the problem reversed in time has the same
plans), each with the candidates in static orders (longest lifetime first, size descending,
size ascending) and node limits that double each round, then, as many nodes as the round
spent, short restarts from seeded random orders. Each direction keeps its memo table across
restarts (it holds facts only). Deterministic: nodes are counted in the work budget
(``NODE_UNITS`` each); the clock is only the budget's safety stop.
"""

from __future__ import annotations

import math

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays
from modelopt_mlir.solver.offsets.search_base import SearchResult, sections_of
from modelopt_mlir.solver.work import Budget

FIRST_ROUND_NODES = 20_000  # node limit of each order in the first round; doubles per round
# Randomized restarts after each round (random candidate orders), as many nodes in all as the
# round's static orders spent, each this short.
RANDOM_RESTART_NODES = 2_000
RANDOM_SEED = 17
MEMO_BITS = 20  # memo table entries: 2**MEMO_BITS (24 bytes each)
# Units of work per node: a node scans the starters of one section against its free runs and
# runs bitset subset-sums over the sections of the placed buffer's life (measured 1.5-12 us a
# node on the 150-450 buffer pinwheels, on a 2-core machine under load; 0.3 us without the
# lookaheads), as canonical_search's 3 at least.
NODE_UNITS = 3


def _section_loads(first: np.ndarray, last: np.ndarray, size: np.ndarray) -> np.ndarray:
    sections = int(last.max(initial=0))
    delta = np.zeros(sections + 1, np.int64)
    np.add.at(delta, first, size)
    np.add.at(delta, last, -size)
    return np.cumsum(delta)[:sections]


def sweep_applies(arrays: IntervalArrays, subset: np.ndarray | None = None) -> tuple[bool, int]:
    """(whether every section with live buffers of ``subset`` holds the same total, that
    total)."""
    if subset is None:
        subset = np.arange(len(arrays))
    subset = subset[arrays.size[subset] > 0]
    if subset.size == 0:
        return True, 0
    first, last = sections_of(arrays, subset)
    loads = _section_loads(first, last, arrays.size[subset].astype(np.int64))
    live = loads[loads > 0]
    top = int(live.max())
    return bool((live == top).all()), top


def _orders(first: np.ndarray, last: np.ndarray, size: np.ndarray) -> list[np.ndarray]:
    """Candidate orders: buffer indices sorted by each key (ties by index)."""
    index = np.arange(len(size))
    width = last - first
    keys = [(index, -width, -size), (index, -size, -width), (index, size, -width)]
    return [np.lexsort(key).astype(np.int64) for key in keys]


def _csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    idx = np.array([b for x in lists for b in x], np.int64)
    return ptr, idx


def search_sweep(
    arrays: IntervalArrays,
    capacity: int,
    budget: Budget,
    subset: np.ndarray | None = None,
    node_limit: int | None = None,
    options: int | None = None,
    stats: np.ndarray | None = None,
    random_restarts: bool = True,
    directions: int = 2,
) -> SearchResult:
    """Offsets for the buffers in ``subset`` (default: all sized ones) within ``capacity``
    where every live section holds the same total (else "limit" with 0 nodes at once);
    "infeasible" only when proven, "limit" when the budget or ``node_limit`` ran out (or the
    search at max live below the capacity failed). ``stats`` (kernel STATS int64s) gets the
    memo hits, records, backjumps and subset-sum prunes. Needs numba."""
    from modelopt_mlir.solver.offsets import sweep_kernel

    if options is None:
        options = sweep_kernel.ALL_OPTIONS
    n_all = len(arrays)
    offsets = np.zeros(n_all, dtype=np.int64)
    if subset is None:
        subset = np.arange(n_all)
    subset = subset[arrays.size[subset] > 0]
    if subset.size == 0:
        return SearchResult("found", offsets, 0)
    size = arrays.size[subset].astype(np.int64)
    align = arrays.alignment[subset].astype(np.int64)
    first, last = sections_of(arrays, subset)
    loads = _section_loads(first, last, size)
    if int(loads.max()) > capacity:
        return SearchResult("infeasible", None, 0)
    live = loads[loads > 0]
    target = int(live.max())
    if not (live == target).all():
        return SearchResult("limit", None, 0)
    n = len(subset)
    grain = math.gcd(target, *size.tolist())
    if stats is None:
        stats = np.zeros(sweep_kernel.STATS, np.int64)
    position = np.zeros(n, np.int64)
    # Forward in time, and backward (the same problem reversed in time: the same plans).
    sweeps = [_Sweep(first, last, size, align)]
    if directions > 1:
        sections = int(last.max())
        sweeps.append(_Sweep(sections - last, sections - first, size, align))
    nodes = 0

    def nodes_left() -> int:
        left = budget.left // NODE_UNITS
        if node_limit is not None:
            left = min(left, node_limit - nodes)
        return 0 if budget.out_of_time() else left

    rng = np.random.default_rng(RANDOM_SEED)

    def attempt(
        sweep: _Sweep, start: tuple[np.ndarray, np.ndarray], limit: int
    ) -> SearchResult | None:
        nonlocal nodes
        status, spent = sweep_kernel.search(
            sweep.first,
            sweep.last,
            size,
            align,
            sweep.klass,
            start[0],
            start[1],
            sweep.cont_ptr,
            sweep.cont_idx,
            sweep.cover_ptr,
            sweep.cover_idx,
            sweep.end_ptr,
            sweep.end_idx,
            sweep.twin_before,
            grain,
            target,
            limit,
            position,
            sweep.memo1,
            sweep.memo2,
            sweep.memo_used,
            options,
            stats,
        )
        spent = min(int(spent), limit)
        nodes += spent
        budget.spend(spent * NODE_UNITS)
        if status == sweep_kernel.FOUND:
            offsets[subset] = position
            return SearchResult("found", offsets, nodes)
        if status == sweep_kernel.INFEASIBLE:
            if target == capacity:
                return SearchResult("infeasible", None, nodes)
            return SearchResult("limit", None, nodes)
        return None

    round_index = 0
    restart = 0
    while True:
        round_nodes = 0
        for k in range(len(sweeps[0].starts)):
            for sweep in sweeps:
                left = nodes_left()
                if left <= 0:
                    return SearchResult("limit", None, nodes)
                limit = min(FIRST_ROUND_NODES << min(round_index, 40), left)
                before = nodes
                result = attempt(sweep, sweep.starts[k], limit)
                if result is not None:
                    return result
                round_nodes += nodes - before
        while random_restarts and round_nodes > 0:
            left = nodes_left()
            if left <= 0:
                return SearchResult("limit", None, nodes)
            limit = min(RANDOM_RESTART_NODES, left, round_nodes)
            before = nodes
            sweep = sweeps[restart % len(sweeps)]
            result = attempt(sweep, sweep.start_lists(rng.permutation(n)), limit)
            if result is not None:
                return result
            round_nodes -= max(nodes - before, 1)
            restart += 1
        round_index += 1


class _Sweep:
    """What the kernel needs for one sweep direction: sections, classes of identical buffers
    and their order, the continuing and live lists, the starters in each static order, and
    the direction's memo table (kept across restarts: it holds facts only)."""

    def __init__(
        self, first: np.ndarray, last: np.ndarray, size: np.ndarray, align: np.ndarray
    ) -> None:
        n = len(size)
        self.first, self.last = first.astype(np.int64), last.astype(np.int64)
        self.sections = sections = int(last.max())
        _, klass = np.unique(
            np.stack([first, last, size, align], axis=1), axis=0, return_inverse=True
        )
        self.klass = klass.reshape(-1).astype(np.int64)
        self.twin_before = np.full(n, -1, np.int64)
        seen: dict[int, int] = {}
        for b in range(n):
            c = int(self.klass[b])
            if c in seen:
                self.twin_before[b] = seen[c]
            seen[c] = b
        cont: list[list[int]] = [[] for _ in range(sections)]
        cover: list[list[int]] = [[] for _ in range(sections)]
        for b in range(n):
            for t in range(int(first[b]), int(last[b])):
                cover[t].append(b)
                if t > first[b]:
                    cont[t].append(b)
        self.cont_ptr, self.cont_idx = _csr(cont)
        self.cover_ptr, self.cover_idx = _csr(cover)
        ends: list[list[int]] = [[] for _ in range(sections + 1)]
        for b in range(n):
            ends[int(last[b])].append(b)
        self.end_ptr, self.end_idx = _csr(ends)
        self.memo1 = np.zeros(1 << MEMO_BITS, np.uint64)
        self.memo2 = np.zeros(1 << MEMO_BITS, np.uint64)
        self.memo_used = np.zeros(1 << MEMO_BITS, np.bool_)
        self.starts = [self.start_lists(order) for order in _orders(first, last, size)]

    def start_lists(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR lists of each section's starters, in ``order``."""
        lists: list[list[int]] = [[] for _ in range(self.sections)]
        for b in order.tolist():
            lists[int(self.first[b])].append(b)
        return _csr(lists)
