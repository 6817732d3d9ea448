"""Exact branch-and-bound for offsets at a fixed capacity, in the spirit of MiniMalloc.

Time is cut into sections (between consecutive interval end points); each section has a floor:
everything below it is decided (used or wasted). Any plan can be pushed down until every buffer
sits at 0 or on a buffer below it; such a plan is built by repeatedly taking the lowest section
(leftmost on ties) and deciding what sits on its floor: one of the unplaced buffers covering it
whose lowest feasible position is that floor, or nothing (the section's floor rises to the next
height where something could start). This enumeration is complete. Pruning: a section whose
floor plus its unplaced sizes exceeds the capacity fails; identical buffers are placed in a
fixed order; failed states (placed set + floors) are remembered.

When the live bytes equal the capacity at every section, :mod:`guillotine` runs first with half
the time: such instances are perfect packings, and those made of straight cuts are found there
far faster; it cannot prove infeasibility, so this search follows when it finds nothing.
Before it, when compiled, the canonical search of :mod:`canonical_search` (MiniMalloc's
enumeration) gets most of the work left (``CANONICAL_SHARE``): it solves non-guillotine
packings that this one does not (on the hard generated families its plans take up to a fifth
of the work limit, more than half of half the work left after the guillotine search); it is
complete, so its proofs of infeasibility stand.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays, load_profile
from modelopt_mlir.solver.offsets.check import offsets_are_valid
from modelopt_mlir.solver.offsets.search_base import SearchResult, luby, sections_of
from modelopt_mlir.solver.work import COMPILED_NODE_UNITS, SEARCH_NODE_UNITS, Budget


class _Limit(Exception):
    pass


def components(arrays: IntervalArrays) -> list[np.ndarray]:
    """Groups of buffers (index arrays) that share no step with other groups: the interval
    graph splits wherever no buffer crosses a step boundary. Sized buffers only."""
    index = np.flatnonzero(arrays.size > 0)
    if index.size == 0:
        return []
    by_lower = index[np.argsort(arrays.lower[index], kind="stable")]
    lowers = arrays.lower[by_lower]
    reach = np.maximum.accumulate(arrays.upper[by_lower])
    cuts = np.flatnonzero(lowers[1:] >= reach[:-1]) + 1
    return np.split(by_lower, cuts)


def search_capacity(
    arrays: IntervalArrays,
    capacity: int,
    budget: Budget,
    subset: np.ndarray | None = None,
    node_limit: int | None = None,
    restart_nodes: int = 2000,
    compiled: bool | None = None,
    guillotine: bool = True,
    canonical: bool = True,
) -> SearchResult:
    """Find offsets for the buffers in ``subset`` (default: all) within ``capacity``, or prove
    none exist. Stops when the work ``budget`` is spent (nodes are counted in it) or after
    ``node_limit`` nodes. The search
    runs compiled (:mod:`dsa_kernel`) when numba is there, unless ``compiled`` says otherwise;
    on zero-slack parts the guillotine search runs first unless ``guillotine`` is False; then,
    when compiled, the canonical search of :mod:`canonical_search` with part of the work
    unless ``canonical`` is False."""
    n_all = len(arrays)
    offsets = np.zeros(n_all, dtype=np.int64)
    if subset is None:
        subset = np.arange(n_all)
    # Buffers without bytes or without a step of life take no space: any offset (0) fits.
    subset = subset[(arrays.size[subset] > 0) & (arrays.upper[subset] > arrays.lower[subset])]
    if subset.size == 0:
        return SearchResult("found", offsets, 0)
    if int(arrays.size[subset].max()) > capacity:
        return SearchResult("infeasible", None, 0)
    if guillotine and zero_slack(arrays, subset, capacity):
        # A perfect packing: first look for one made of straight cuts (finds, never refutes).
        found, steps = _search_guillotine(arrays, subset, capacity, budget.share(GUILLOTINE_SHARE))
        if found is not None:
            offsets[subset] = found
            return SearchResult("found", offsets, steps)
    if compiled is None:
        compiled = _kernel_available()
    if compiled:
        nodes = 0
        if canonical:
            from modelopt_mlir.solver.offsets.canonical_search import search_canonical

            first_try = search_canonical(
                arrays, capacity, budget.share(CANONICAL_SHARE), subset, node_limit
            )
            if first_try.status != "limit":
                return first_try
            nodes = first_try.nodes
            if node_limit is not None:
                node_limit = max(node_limit - nodes, 0)
        found = _search_compiled(arrays, capacity, budget, subset, node_limit, offsets)
        return SearchResult(found.status, found.offsets, found.nodes + nodes)
    # Restarts with a shuffled branching order and growing node limits (Luby) cut the heavy
    # tail of a single search; failed states stay failed across restarts.
    failed: set[tuple[int, tuple[int, ...]]] = set()
    nodes = 0
    attempt = 0
    while True:
        limit = min(restart_nodes * luby(attempt + 1), budget.left // SEARCH_NODE_UNITS)
        if node_limit is not None:
            limit = min(limit, node_limit - nodes)
        search = _Search(arrays, subset, capacity, budget, limit, attempt, failed)
        try:
            found = search.run()
            break
        except _Limit:
            nodes += search.nodes
            budget.spend(search.nodes * SEARCH_NODE_UNITS)
            attempt += 1
            if budget.left < SEARCH_NODE_UNITS or budget.out_of_time():
                return SearchResult("limit", None, nodes)
            if node_limit is not None and nodes >= node_limit:
                return SearchResult("limit", None, nodes)
    nodes += search.nodes
    budget.spend(search.nodes * SEARCH_NODE_UNITS)
    if not found:
        return SearchResult("infeasible", None, nodes)
    for local, where in enumerate(search.position):
        offsets[subset[local]] = where
    return SearchResult("found", offsets, nodes)


GUILLOTINE_SHARE = 0.5  # of the work left, for the guillotine search on zero-slack parts
CANONICAL_SHARE = 0.8  # of the work left then, for the canonical search


def zero_slack(arrays: IntervalArrays, subset: np.ndarray, capacity: int) -> bool:
    """Whether the live bytes of ``subset`` equal ``capacity`` at every section of its span:
    then every plan within the capacity tiles the address x time rectangle."""
    return bool(np.all(load_profile(arrays.take(subset)) == capacity))


def _search_guillotine(
    arrays: IntervalArrays, subset: np.ndarray, capacity: int, budget: Budget
) -> tuple[np.ndarray | None, int]:
    """Offsets for ``subset`` from :mod:`guillotine` (None if it found none within ``budget``,
    or if its plan is not valid, e.g. breaks an alignment), and the steps it took."""
    from modelopt_mlir.solver.offsets.guillotine import search_guillotine

    first, last = sections_of(arrays, subset)
    found, steps = search_guillotine(
        first.tolist(), last.tolist(), arrays.size[subset].tolist(), budget
    )
    if found is None:
        return None, steps
    offsets = np.asarray(found, dtype=np.int64)
    if not offsets_are_valid(arrays.take(subset), offsets, capacity):
        return None, steps
    return offsets, steps


COMPILED_RESTART_NODES = 1_000
_KERNEL_READY: bool | None = None


def compile_kernels() -> bool:
    """Compile the numba searches into numba's on-disk cache now (``make venv`` does, so that
    the first planning run on a machine does not spend its time limit compiling); False when
    numba is missing."""
    from modelopt_mlir.solver.offsets.heuristics import compiled_best_fit_ready
    from modelopt_mlir.solver.order.heuristics import compiled_closure_ready

    return _kernel_available() and compiled_best_fit_ready() and compiled_closure_ready()


def _kernel_available() -> bool:
    """Whether the compiled search can run. The first call compiles it (seconds; later
    processes load numba's cache) on a tiny problem. Searches count nodes, not seconds, so
    results do not depend on whether the cache was warm."""
    global _KERNEL_READY
    if _KERNEL_READY is None:
        try:
            from modelopt_mlir.solver.offsets import dsa_kernel

            tiny = np.array([1, 1], np.int64)
            _run_kernel(
                dsa_kernel.Prepared(np.array([0, 0]), np.array([1, 1]), tiny, tiny),
                2,
                0,
                100,
                np.zeros(2, np.int64),
                dsa_kernel.new_table(),
            )
            _warm_canonical()
            _KERNEL_READY = True
        except ImportError:
            _KERNEL_READY = False
    return _KERNEL_READY


def _warm_canonical() -> None:
    """Compile (or load) the canonical search's kernel too, before any budget is read."""
    from modelopt_mlir.solver.offsets.arrays import IntervalArrays
    from modelopt_mlir.solver.offsets.canonical_search import search_canonical

    one = np.ones(2, np.int64)
    tiny = IntervalArrays(np.arange(2), np.zeros(2, np.int64), one, one, one, one)
    search_canonical(tiny, 2, Budget.unlimited())


def _run_kernel(
    prepared: Any, capacity: int, seed: int, limit: int, position: np.ndarray, table: tuple
) -> tuple[int, int]:
    """One compiled search from scratch with attempt ``seed``'s branching order."""
    from modelopt_mlir.solver.offsets import dsa_kernel

    cover_ptr, cover_idx = prepared.cover(seed)
    zob = np.random.default_rng(12345).integers(-(1 << 62), 1 << 62, size=(2, len(position) + 1))
    status, nodes = dsa_kernel.search(
        prepared.first,
        prepared.last,
        prepared.size,
        prepared.align,
        prepared.kind,
        prepared.twin_before,
        cover_ptr,
        cover_idx,
        capacity,
        limit,
        position,
        zob[0].copy(),
        zob[1].copy(),
        *table,
        prepared.section_rank(seed),
    )
    return int(status), int(nodes)


def _search_compiled(
    arrays: IntervalArrays,
    capacity: int,
    budget: Budget,
    subset: np.ndarray,
    node_limit: int | None,
    offsets: np.ndarray,
) -> SearchResult:
    """Luby restarts of the compiled search, sharing one table of failed states. Each run's
    nodes are capped by what the work budget has left."""
    from modelopt_mlir.solver.offsets import dsa_kernel

    first, last = sections_of(arrays, subset)
    prepared = dsa_kernel.Prepared(
        first.astype(np.int64),
        last.astype(np.int64),
        arrays.size[subset].astype(np.int64),
        arrays.alignment[subset].astype(np.int64),
    )
    table = dsa_kernel.new_table()
    position = np.zeros(len(subset), np.int64)
    nodes = 0
    attempt = 0
    while True:
        left = budget.left // COMPILED_NODE_UNITS
        if left <= 0 or budget.out_of_time() or (node_limit is not None and nodes >= node_limit):
            return SearchResult("limit", None, nodes)
        limit = min(COMPILED_RESTART_NODES * luby(attempt + 1), left)
        if node_limit is not None:
            limit = min(limit, node_limit - nodes)
        status, spent = _run_kernel(prepared, capacity, attempt, limit, position, table)
        nodes += spent
        budget.spend(spent * COMPILED_NODE_UNITS)
        if status == dsa_kernel.FOUND:
            offsets[subset] = position
            return SearchResult("found", offsets, nodes)
        if status == dsa_kernel.INFEASIBLE:
            return SearchResult("infeasible", None, nodes)
        attempt += 1


class _Search:
    def __init__(
        self,
        arrays: IntervalArrays,
        subset: np.ndarray,
        capacity: int,
        budget: Budget,
        node_limit: int | None,
        seed: int,
        failed: set[tuple[int, tuple[int, ...]]],
    ) -> None:
        first, last = sections_of(arrays, subset)
        sections = int(last.max())
        self.capacity = capacity
        self.budget = budget
        self.node_limit = node_limit
        self.nodes = 0
        self.first = first.tolist()
        self.last = last.tolist()  # exclusive
        self.size = arrays.size[subset].tolist()
        self.align = arrays.alignment[subset].tolist()
        n = len(self.size)
        self.n = n
        self.position = [-1] * n
        self.placed = [False] * n
        self.floors = [0] * sections
        self.remaining = [0] * sections
        for b in range(n):
            for s in range(self.first[b], self.last[b]):
                self.remaining[s] += self.size[b]
        inf = 1 << 62
        self.inf = inf
        # Lowest floor among sections that still have unplaced buffers; inf elsewhere.
        self.effective = [0 if r > 0 else inf for r in self.remaining]
        # Identical buffers (same interval, size, alignment) are placed in index order.
        signature: dict[tuple[int, int, int, int], int] = {}
        self.twin_before = [-1] * n
        # Branch on long buffers first, then large ones: they constrain the most.
        noise = np.random.default_rng(seed).random(n).tolist() if seed else [0.0] * n
        priority = sorted(
            range(n),
            key=lambda b: (
                -self.size[b] * (1.0 + 0.5 * noise[b]),
                -(self.last[b] - self.first[b]),
                b,
            ),
        )
        for b in sorted(range(n)):
            key = (self.first[b], self.last[b], self.size[b], self.align[b])
            self.twin_before[b] = signature.get(key, -1)
            signature[key] = b
        self.cover: list[list[int]] = [[] for _ in range(sections)]
        for b in priority:
            for s in range(self.first[b], self.last[b]):
                self.cover[s].append(b)
        self.min_size = min(self.size)
        self.failed = failed
        self.mask = 0
        self._stack: list[list[int]] = []
        self.check_inside = True
        self.lookahead = 1  # lowest sections compared when choosing where to branch

    def run(self) -> bool:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 4 * self.n + 4 * len(self.floors) + 1000, 20_000))
        try:
            return self._solve()
        except RecursionError:  # a long chain of small floor rises: give up, not a proof
            raise _Limit from None
        finally:
            sys.setrecursionlimit(old)

    def _tick(self) -> None:
        self.nodes += 1
        if self.nodes & 255 == 0 and self.budget.out_of_time():
            raise _Limit
        if self.node_limit is not None and self.nodes > self.node_limit:
            raise _Limit

    def _solve(self) -> bool:
        self._tick()
        effective = self.effective
        x = min(effective)
        if x >= self.inf:
            return True
        state = (self.mask, tuple(self.floors))
        if state in self.failed:
            return False
        floors, capacity = self.floors, self.capacity
        # Any lowest section will do; take the most constrained of the first few (fail first).
        s = effective.index(x)
        candidates, higher = self._candidates(s, x)
        looked, other = 1, s
        while len(candidates) > 1 and looked < self.lookahead:
            try:
                other = effective.index(x, other + 1)
            except ValueError:
                break
            looked += 1
            more, more_higher = self._candidates(other, x)
            if len(more) < len(candidates):
                s, candidates, higher = other, more, more_higher
        tried: set[tuple[int, int, int, int]] = set()
        for b in candidates:
            key = (self.first[b], self.last[b], self.size[b], self.align[b])
            if key in tried:
                continue
            tried.add(key)
            if self._place(b, x) and self._neighbours_ok(b) and self._solve():
                return True
            self._unplace(b)
        # Nothing starts at (s, x): the section's floor rises to where something could start.
        rise = min(higher, x + self.min_size, self._next_floor(x))
        if rise + self.remaining[s] <= capacity:
            floors[s] = rise
            effective[s] = rise
            if self._solve():
                return True
            floors[s] = x
            effective[s] = x
        if len(self.failed) < 2_000_000:
            self.failed.add(state)
        return False

    def _candidates(self, s: int, x: int) -> tuple[list[int], int]:
        """Unplaced buffers covering section ``s`` whose lowest position is ``x``, and the
        lowest position above ``x`` of the others."""
        floors, placed, capacity = self.floors, self.placed, self.capacity
        candidates: list[int] = []
        higher = self.inf
        for b in self.cover[s]:
            if placed[b]:
                continue
            twin = self.twin_before[b]
            if twin >= 0 and not placed[twin]:
                continue
            where = max(floors[self.first[b] : self.last[b]])
            align = self.align[b]
            if align > 1:
                where = -(-where // align) * align
            if where == x:
                if x + self.size[b] <= capacity:
                    candidates.append(b)
            elif where < higher:
                higher = where
        return candidates, higher

    def _neighbours_ok(self, b: int) -> bool:
        """Lookahead: the sections around the buffer just placed must each still have an unplaced
        buffer that can start close enough to their floor (within their slack)."""
        lo, hi = self.first[b], self.last[b]
        checks = [hi] if hi < len(self.floors) else []
        if self.check_inside:
            checks += range(lo, hi)
        return all(self._section_ok(s) for s in checks)

    def _section_ok(self, s: int) -> bool:
        left = self.remaining[s]
        if not left:
            return True
        floors, placed = self.floors, self.placed
        reach = self.capacity - left  # the lowest buffer must start here or lower
        for b in self.cover[s]:
            if placed[b]:
                continue
            where = max(floors[self.first[b] : self.last[b]])
            align = self.align[b]
            if align > 1:
                where = -(-where // align) * align
            if where <= reach:
                return True
        return False

    def _next_floor(self, x: int) -> int:
        above = [f for f in self.floors if f > x]
        return min(above) if above else self.inf

    def _place(self, b: int, x: int) -> bool:
        size = self.size[b]
        top = x + size
        lo, hi = self.first[b], self.last[b]
        floors, remaining, effective = self.floors, self.remaining, self.effective
        self.placed[b] = True
        self.position[b] = x
        self.mask |= 1 << b
        self.floors_before = floors[lo:hi]
        fits = True
        capacity, inf = self.capacity, self.inf
        for s in range(lo, hi):
            left = remaining[s] - size
            remaining[s] = left
            floors[s] = top
            if left:
                effective[s] = top
                if top + left > capacity:
                    fits = False
            else:
                effective[s] = inf
        self._stack.append(self.floors_before)
        return fits

    def _unplace(self, b: int) -> None:
        size = self.size[b]
        lo, hi = self.first[b], self.last[b]
        saved = self._stack.pop()
        floors, remaining, effective = self.floors, self.remaining, self.effective
        floors[lo:hi] = saved
        for s in range(lo, hi):
            remaining[s] += size
            effective[s] = floors[s]
        self.placed[b] = False
        self.position[b] = -1
        self.mask &= ~(1 << b)
