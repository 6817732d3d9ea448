"""Canonical branch-and-bound for offsets at a fixed capacity (after MiniMalloc, Moffitt,
ASPLOS 2023; our own code).

Every feasible plan can be pushed down until each buffer rests at 0 or on a buffer below it;
listing such a plan's buffers by (offset, rank) gives a *canonical* sequence in which each
buffer sits at its minimum feasible offset given those before it. The search enumerates only
such sequences (see :mod:`canonical_kernel` for the branching, symmetry, dominance, section
inference, hatless pruning, decomposition into independent parts, and the valley and hole
reasoning on zero-slack sections), so it is complete: when it exhausts the tree, no plan
exists.

Restarts cycle over static preorders (size, area, lifetime width, the largest section total a
buffer sees; identical ones once), round robin, with a node limit that doubles each round;
when the capacity has slack, each preorder is also tried at max live (a plan there fits; the
inference is far stronger without slack). After each round come short restarts from
randomized preorders, with ``RANDOM_SHARE`` times the nodes the round spent (a random mix of
size and width, perturbed; seeded, so runs repeat; every other one with hole branching
bottom-left, and every other pair of those aiming at the targets in turn with time
reversed, which fills valleys and holes from the other end): plans are mostly found by a
first dive, so diverse short dives find some that the long searches of a few fixed
preorders miss. Completeness rests on the doubling static rounds.
Nodes are counted in the work budget (``node_units`` each, from the instance's size), never
timed.

:class:`ReferenceSearch` is the same search in plain Python, for the property tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays, load_profile
from modelopt_mlir.solver.offsets.search_base import SearchResult, sections_of
from modelopt_mlir.solver.work import Budget

FIRST_ROUND_NODES = 2_000  # node limit of each preorder in the first round; doubles per round
# Randomized restarts after each round, as many nodes in all as the round's static preorders
# spent, each this short: on the brick walls with 1-6% slack that the static preorders miss,
# the plans found came from a first dive (200 restarts of 2,000 nodes solved 4 of 7, 20 of
# 20,000 nodes 2 of 7).
RANDOM_RESTART_NODES = 2_000
# The randomized restarts after a round get this many times the nodes its static preorders
# spent. Most plans of the generated walls come from them, found anywhere from the first to
# the 60th restart of a round; at 10 s of work the walls solved went 12 -> 15 of 40 at max
# live and 22 -> 24 with 1-6% slack from 1 to 8 times (no more at 16). A proof of
# infeasibility beyond the first round takes that much longer.
RANDOM_SHARE = 8
RANDOM_SEED = 13
# Units of work per node: a node scans the unplaced buffers and the sections (a few ns each
# compiled), more where holes and valleys are looked for: measured 1-4.4 us a node on the hard
# families (157-442 buffers) on the reference machine under load, so a unit per 200 of them,
# 3 at least.
NODE_UNITS_MIN = 3
NODE_SCAN_PER_UNIT = 200


def node_units(buffers: int, sections: int) -> int:
    return max(NODE_UNITS_MIN, (2 * buffers + sections) // NODE_SCAN_PER_UNIT)


def adjacency(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the buffers each buffer meets in time (sweep over sorted starts)."""
    n = len(first)
    order = np.argsort(first, kind="stable")
    pairs: list[tuple[int, int]] = []
    for i, a in enumerate(order.tolist()):
        end = int(last[a])
        for b in order[i + 1 :].tolist():
            if first[b] >= end:
                break
            pairs.append((a, b))
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum([len(x) for x in neighbours])
    idx = np.array([b for x in neighbours for b in x], np.int64)
    return ptr, idx


def cover(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the buffers live in each section."""
    sections = int(last.max(initial=0))
    lists: list[list[int]] = [[] for _ in range(sections)]
    for b in range(len(first)):
        for s in range(int(first[b]), int(last[b])):
            lists[s].append(b)
    ptr = np.zeros(sections + 1, np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    return ptr, np.array([b for x in lists for b in x], np.int64)


def _grouped_by(key: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the buffers with each value 0..``count``-1 of ``key``."""
    order = np.argsort(key, kind="stable").astype(np.int64)
    ptr = np.zeros(count + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(key, minlength=count)[:count])
    return ptr, order


def starting(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the buffers whose first section is each section."""
    return _grouped_by(first, int(last.max(initial=0)))


def ending(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the buffers ending at each section boundary (index ``last``)."""
    return _grouped_by(last, int(last.max(initial=0)) + 1)


def span_groups(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists of the buffers spanning the same sections, and each buffer's list."""
    _, group_of, counts = np.unique(
        np.stack([first, last], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    group_of = group_of.reshape(-1).astype(np.int64)
    ptr = np.zeros(len(counts) + 1, np.int64)
    ptr[1:] = np.cumsum(counts)
    return ptr, np.argsort(group_of, kind="stable").astype(np.int64), group_of


def twins(
    first: np.ndarray, last: np.ndarray, size: np.ndarray, align: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Each buffer's identical twin (same sections, size and alignment) just before it in
    ``rank``, or -1."""
    order = np.lexsort((rank, align, size, last, first))
    before = np.full(len(size), -1, np.int64)
    for i in range(1, len(order)):
        a, b = order[i - 1], order[i]
        if (first[a], last[a], size[a], align[a]) == (first[b], last[b], size[b], align[b]):
            before[b] = a
    return before


def preorders(first: np.ndarray, last: np.ndarray, size: np.ndarray) -> list[np.ndarray]:
    """Ranks (0 = branched first on ties) of each buffer in the static preorders, each
    descending, ties by index, over W (lifetime width in sections), S (size), A (area), T (the
    largest section total the buffer sees), F (first section, ascending): WS, TWA, SW, WF, AW,
    TS, WAT, TAW. When a generated hard instance is solved it is mostly by one preorder's
    first dive (a few thousand nodes), and which one varies: on the 40 strip packings each of
    these solved some that the others did not; width first solved 8 of 8 pinwheel cuttings of
    130 buffers where size first solved 4.
    """
    n = len(size)
    width = last - first
    area = width * size
    totals = np.zeros(int(last.max(initial=0)) + 1, np.int64)
    for b in range(n):
        totals[first[b] : last[b]] += size[b]
    seen = np.array([totals[first[b] : last[b]].max() for b in range(n)], np.int64)
    index = np.arange(n)
    keys = [
        (index, -size, -width),
        (index, -area, -width, -seen),
        (index, -width, -size),
        (index, first, -width),
        (index, -width, -area),
        (index, -size, -seen),
        (index, -seen, -area, -width),
        (index, -width, -area, -seen),
    ]
    ranks = []
    for key in keys:
        order = np.lexsort(key)
        rank = np.empty(n, np.int64)
        rank[order] = index
        ranks.append(rank)
    return ranks


def distinct(ranks: list[np.ndarray]) -> list[np.ndarray]:
    """The preorders in ``ranks`` without repeats (e.g. every section total is the same in a
    tiling, so the preorders led by it repeat others)."""
    seen: set[bytes] = set()
    kept = []
    for rank in ranks:
        key = rank.tobytes()
        if key not in seen:
            seen.add(key)
            kept.append(rank)
    return kept


def random_preorder(
    first: np.ndarray, last: np.ndarray, size: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Ranks by size^e x width^(1-e) descending, e uniform in [0, 1], each key perturbed by up
    to 20%."""
    e = rng.uniform(0.0, 1.0)
    width = (last - first).astype(np.float64)
    key = size.astype(np.float64) ** e * width ** (1.0 - e) * rng.uniform(0.8, 1.2, len(size))
    order = np.argsort(-key, kind="stable")
    rank = np.empty(len(size), np.int64)
    rank[order] = np.arange(len(size))
    return rank


class _TimeView:
    """The kernel's per-section lists for one direction of time."""

    def __init__(self, first: np.ndarray, last: np.ndarray) -> None:
        self.first = first
        self.last = last
        self.cover_ptr, self.cover_idx = cover(first, last)
        self.start_ptr, self.start_idx = starting(first, last)
        self.end_ptr, self.end_idx = ending(first, last)
        self.group_ptr, self.group_idx, self.group_of = span_groups(first, last)


def search_canonical(
    arrays: IntervalArrays,
    capacity: int,
    budget: Budget,
    subset: np.ndarray | None = None,
    node_limit: int | None = None,
    ranks: list[np.ndarray] | None = None,
    options: int | None = None,
    reverse_time: bool = False,
) -> SearchResult:
    """Offsets for the buffers in ``subset`` (default: all sized ones) within ``capacity``,
    "infeasible" when there are none, or "limit" when the budget or ``node_limit`` ran out.
    Randomized restarts run only with the default ``ranks``; ``reverse_time`` swaps the
    directions of time the searches see. Needs numba."""
    from modelopt_mlir.solver.offsets import canonical_kernel

    if options is None:
        options = canonical_kernel.ALL_OPTIONS
    n_all = len(arrays)
    offsets = np.zeros(n_all, dtype=np.int64)
    if subset is None:
        subset = np.arange(n_all)
    subset = subset[arrays.size[subset] > 0]
    if subset.size == 0:
        return SearchResult("found", offsets, 0)
    size = arrays.size[subset].astype(np.int64)
    if int(size.max()) > capacity:
        return SearchResult("infeasible", None, 0)
    align = arrays.alignment[subset].astype(np.int64)
    first, last = sections_of(arrays, subset)
    ptr, idx = adjacency(first, last)
    sections = int(last.max())
    # The search's view of time, forward and reversed (the same plans: reversing time is a
    # symmetry of the problem, but the search fills valleys and holes from the other end);
    # each built when first used (the reversed one only by randomized restarts).
    directions = [(first, last), (sections - last, sections - first)]
    if reverse_time:
        directions.reverse()
    views: dict[int, _TimeView] = {}
    units = node_units(len(subset), sections)
    randomized = ranks is None
    if ranks is None:
        ranks = distinct(preorders(first, last, size))
    rng = np.random.default_rng(RANDOM_SEED)
    position = np.zeros(len(subset), np.int64)
    # Also aim at max live: a plan there fits the capacity too, and with no slack the section
    # inference prunes far more. Dropped once proven impossible.
    live = int(load_profile(arrays.take(subset)).max())
    targets = [live, capacity] if live < capacity else [capacity]
    nodes = 0

    def attempt(
        rank: np.ndarray, target: int, limit: int, flags: int = options, view: int = 0
    ) -> SearchResult | None:
        """One run; a result to return, or None to go on (and "infeasible" at max live below
        the capacity drops that target)."""
        nonlocal nodes
        if view not in views:
            views[view] = _TimeView(*directions[view])
        v = views[view]
        status, spent = canonical_kernel.search(
            v.first,
            v.last,
            size,
            align,
            ptr,
            idx,
            v.cover_ptr,
            v.cover_idx,
            rank,
            target,
            limit,
            position,
            v.start_ptr,
            v.start_idx,
            flags,
            twins(first, last, size, align, rank),
            v.group_ptr,
            v.group_idx,
            v.group_of,
            v.end_ptr,
            v.end_idx,
        )
        spent = min(int(spent), limit)
        nodes += spent
        budget.spend(spent * units)
        if status == canonical_kernel.FOUND:
            offsets[subset] = position
            return SearchResult("found", offsets, nodes)
        if status == canonical_kernel.INFEASIBLE:
            if target == capacity:
                return SearchResult("infeasible", None, nodes)
            targets.remove(target)
        return None

    def nodes_left() -> int:
        left = budget.left // units
        if node_limit is not None:
            left = min(left, node_limit - nodes)
        return 0 if budget.out_of_time() else left

    round_index = 0
    while True:
        round_nodes = 0
        for rank in ranks:
            for target in list(targets):
                left = nodes_left()
                if left <= 0:
                    return SearchResult("limit", None, nodes)
                limit = min(FIRST_ROUND_NODES << min(round_index, 40), left)
                before = nodes
                result = attempt(rank, target, limit)
                if result is not None:
                    return result
                round_nodes += nodes - before
        restart = 0
        round_nodes *= RANDOM_SHARE
        while randomized and round_nodes > 0:
            left = nodes_left()
            if left <= 0:
                return SearchResult("limit", None, nodes)
            limit = min(RANDOM_RESTART_NODES, left, round_nodes)
            before = nodes
            rank = random_preorder(first, last, size, rng)
            # Every other one fills holes bottom-left: a different first dive (it solved a
            # pinwheel cutting at max live that no restart of the other rule did); each rule
            # aims at every target in turn.
            flags = options | canonical_kernel.BOTTOM_LEFT if restart % 2 else options
            # And every other round of rules and targets runs with time reversed.
            view = restart // (2 * len(targets)) % 2
            result = attempt(rank, targets[restart // 2 % len(targets)], limit, flags, view)
            if result is not None:
                return result
            round_nodes -= max(nodes - before, 1)
            restart += 1
        round_index += 1


class ReferenceSearch:
    """The canonical search in plain Python, recursive, one preorder, no node limit."""

    def __init__(self, arrays: IntervalArrays, capacity: int, rank: Any = None) -> None:
        subset = np.flatnonzero(arrays.size > 0)
        self.subset = subset
        first, last = sections_of(arrays, subset)
        self.first = first.tolist()
        self.last = last.tolist()
        self.size = arrays.size[subset].tolist()
        self.align = arrays.alignment[subset].tolist()
        n = len(self.size)
        self.n = n
        self.capacity = capacity
        self.rank = list(range(n)) if rank is None else list(rank)
        self.meets = [
            [e for e in range(n) if e != b and first[e] < last[b] and first[b] < last[e]]
            for b in range(n)
        ]
        sections = int(last.max(initial=0))
        self.floor = [0] * sections
        self.remaining = [0] * sections
        for b in range(n):
            for s in range(self.first[b], self.last[b]):
                self.remaining[s] += self.size[b]
        self.covering = [
            [b for b in range(n) if self.first[b] <= s < self.last[b]] for s in range(sections)
        ]
        self.minoff = [0] * n
        self.placed = [False] * n
        self.position = [0] * n
        self.nodes = 0

    def _at(self, b: int) -> int:
        a = self.align[b]
        return -(-self.minoff[b] // a) * a

    def children(self, parent_offset: int, parent_rank: int) -> list[int]:
        unplaced = [b for b in range(self.n) if not self.placed[b]]
        height = min(self._at(b) + self.size[b] for b in unplaced)
        found = [
            b
            for b in unplaced
            if self._at(b) < height and (self._at(b), self.rank[b]) >= (parent_offset, parent_rank)
        ]
        return sorted(found, key=lambda b: (self._at(b), self.rank[b]))

    def run(self) -> np.ndarray | None:
        """Offsets indexed like the arrays (unsized buffers at 0), or None if infeasible."""
        if self.n == 0 or self._solve(0, -1, -1):
            offsets = np.zeros(len(self.subset) and int(self.subset.max()) + 1, np.int64)
            offsets[self.subset] = self.position
            return offsets
        return None

    def _sections_fit(self, x: int, r: int) -> bool:
        """Section inference: everything unplaced in a section stacks above max(floor, x), and
        one of its buffers must start low enough; (offset, rank) below (x, r) starts above x."""
        for s, left in enumerate(self.remaining):
            if left == 0:
                continue
            reach = self.capacity - left
            if max(self.floor[s], x) > reach:
                return False
            starts = [
                self._at(b) if (self._at(b), self.rank[b]) >= (x, r) else x + 1
                for b in self.covering[s]
                if not self.placed[b]
            ]
            if min(starts) > reach:
                return False
        return True

    def _solve(self, depth: int, parent_offset: int, parent_rank: int) -> bool:
        if depth == self.n:
            return True
        for c in self.children(parent_offset, parent_rank):
            self.nodes += 1
            x = self._at(c)
            top = x + self.size[c]
            self.placed[c] = True
            self.position[c] = x
            saved_minoff = list(self.minoff)
            met = False
            for e in self.meets[c]:
                if not self.placed[e]:
                    met = True
                    self.minoff[e] = max(self.minoff[e], top)
            span = range(self.first[c], self.last[c])
            saved_floor = [self.floor[s] for s in span]
            for s in span:
                self.floor[s] = top
                self.remaining[s] -= self.size[c]
            ok = top <= self.capacity and self._sections_fit(x, self.rank[c])
            if ok and self._solve(depth + 1, x, self.rank[c]):
                return True
            self.minoff = saved_minoff
            for s, f in zip(span, saved_floor, strict=True):
                self.floor[s] = f
                self.remaining[s] += self.size[c]
            self.placed[c] = False
            if not met:
                break
        return False
