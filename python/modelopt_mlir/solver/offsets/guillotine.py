"""Guillotine search for perfect packings: offsets when the live bytes equal the capacity at
every step and the plan can be cut apart by straight cuts.

A set of buffers whose live sizes add up to the same height at every step of its span is a
block. A guillotine plan of a block is one buffer, or splits by a time cut (a step boundary
that no buffer crosses: the parts are independent blocks of the same height), or by an
address cut into strips: blocks over the whole span, stacked. Strips can be stacked in any
order, so the search looks for the strip that holds one chosen buffer (the star) and is not
itself cut by address, i.e. has a time cut or is the star alone; then it solves that strip and
the rest, each recursively, and remembers every set it has solved or refuted.

A strip grows on demand. At every step boundary inside the span, the strip's buffers that end
there must add up to those that start there; starting from the star, the search takes the
earliest boundary where they differ and adds a buffer on the short side (each candidate in
turn, then left out for the others), until every boundary balances; then it may grow further
by another buffer at the start of the span. This lists every strip holding the star, those it
demands first. Buffers are grouped beforehand: at a boundary where no proper subset of the
buffers that end has the same sum as a subset of those that start, all of them belong to the
same strip (and finer groups come from listing the equal-sum pairs of small boundaries); a
group is in or out as a whole. A strip stops growing when a boundary can no longer balance with
what is left, when it reaches the block's height, or when every boundary is crossed (no time
cut left). The search restarts with growing step budgets (Luby), alternating which end of the
span counts as the start and, later, the star; what it has solved or refuted stays known across
restarts.

This search finds plans only: it is complete for guillotine plans, but a perfect packing that
needs a pinwheel is not guillotine, so failing here proves nothing. :mod:`dsa_search` calls it
first on zero-slack parts and then runs its general search.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

from modelopt_mlir.solver.offsets.search_base import luby
from modelopt_mlir.solver.work import GUILLOTINE_STEP_UNITS, Budget

PAIR_LISTING_MAX = 14  # buffers at a boundary up to which equal-sum pairs are listed


class _Limit(Exception):
    pass


class _Restart(Exception):
    pass


RESTART_STEPS = 20_000


def search_guillotine(
    first: Sequence[int],
    last: Sequence[int],
    size: Sequence[int],
    budget: Budget,
) -> tuple[list[int] | None, int]:
    """Offsets for buffers alive over sections ``[first, last)`` whose sizes add up to the
    same height at every section of their span, or None when no guillotine plan was found
    within the work ``budget`` (steps are spent from it). Also returns the number of steps.
    The caller checks the plan (:mod:`dsa_search` runs the exact offsets check on it)."""
    if not size:
        return [], 0
    search = _Guillotine(list(first), list(last), list(size), budget)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 8 * len(size) + 4 * (max(last, default=0) + 1) + 1000))
    plan = None
    try:
        # Restarts with growing step budgets (Luby) and other stars; what is solved or refuted
        # stays known across them.
        while True:
            search.budget = search.steps + RESTART_STEPS * luby(search.attempt + 1)
            try:
                plan = search.solve(tuple(range(len(size))))
                break
            except _Restart:
                search.attempt += 1
    except (_Limit, RecursionError):
        plan = None
    finally:
        sys.setrecursionlimit(old)
        budget.spend(search.steps * GUILLOTINE_STEP_UNITS)
    if plan is None:
        return None, search.steps
    return [plan[b] for b in range(len(size))], search.steps


class _Guillotine:
    def __init__(self, first: list[int], last: list[int], size: list[int], budget: Budget) -> None:
        self.first, self.last, self.size = first, last, size
        horizon = max(last, default=0)
        # Time mirrored, for building strips from the end of a span.
        self.mirrored = ([horizon - t for t in last], [horizon - t for t in first])
        self.horizon = horizon
        self.work = budget
        self.max_steps = budget.left // GUILLOTINE_STEP_UNITS
        self.steps = 0
        self.budget = 0
        self.attempt = 0
        self.memo: dict[frozenset[int], dict[int, int] | None] = {}

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps or (self.steps & 1023 == 0 and self.work.out_of_time()):
            raise _Limit
        if self.steps > self.budget:
            raise _Restart

    def solve(self, block: tuple[int, ...]) -> dict[int, int] | None:
        """Offsets (from the block's bottom) of a guillotine plan of ``block``, or None."""
        key = frozenset(block)
        if key in self.memo:
            return self.memo[key]
        self.tick()
        plan = self._solve(block)
        self.memo[key] = plan
        return plan

    def _solve(self, block: tuple[int, ...]) -> dict[int, int] | None:
        first, last, size = self.first, self.last, self.size
        if len(block) == 1:
            return {block[0]: 0}
        parts = _time_parts(block, first, last)
        if len(parts) > 1:
            plan: dict[int, int] = {}
            for part in parts:
                found = self.solve(part)
                if found is None:
                    return None
                plan.update(found)
            return plan
        begin = min(first[b] for b in block)
        end = max(last[b] for b in block)
        height = sum(size[b] for b in block if first[b] == begin)
        for strip, strip_height in self._strips(block, begin, end, height):
            below = self.solve(strip)
            if below is None:
                continue
            inside = set(strip)
            above = self.solve(tuple(b for b in block if b not in inside))
            if above is None:
                continue
            plan = dict(below)
            for b, offset in above.items():
                plan[b] = offset + strip_height
            return plan
        return None

    def _strips(
        self, block: tuple[int, ...], begin: int, end: int, height: int
    ) -> Iterator[tuple[tuple[int, ...], int]]:
        """Strips of ``block`` holding the star, from the end with fewer free groups."""
        group = _groups(block, begin, end, self.first, self.last, self.size)
        free_begin = len({group[b] for b in block if self.first[b] == begin})
        free_end = len({group[b] for b in block if self.last[b] == end})
        first, last = self.first, self.last
        if (free_end < free_begin) != (self.attempt % 2 == 1):
            first, last = self.mirrored
            begin, end = self.horizon - end, self.horizon - begin
        yield from _StripBuilder(self, block, begin, end, height, group, first, last).strips()


def _time_parts(
    block: Sequence[int], first: Sequence[int], last: Sequence[int]
) -> list[tuple[int, ...]]:
    """``block`` split at every step boundary that none of its buffers crosses."""
    ordered = sorted(block, key=lambda b: (first[b], last[b]))
    parts: list[tuple[int, ...]] = []
    current = [ordered[0]]
    reach = last[ordered[0]]
    for b in ordered[1:]:
        if first[b] >= reach:
            parts.append(tuple(current))
            current = []
        current.append(b)
        reach = max(reach, last[b])
    parts.append(tuple(current))
    return parts


def _groups(
    block: Sequence[int],
    begin: int,
    end: int,
    first: Sequence[int],
    last: Sequence[int],
    size: Sequence[int],
) -> dict[int, int]:
    """Buffers that every strip of ``block`` holds all or none of, as a representative per
    buffer. At a boundary inside the span, a strip's buffers that end there add up to those
    that start there; when no proper sub-pair of equal sums exists, they are all together, and
    for small boundaries each buffer goes with those in every equal-sum pair it is in."""
    parent = {b: b for b in block}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    starting: dict[int, list[int]] = {}
    ending: dict[int, list[int]] = {}
    for b in block:
        starting.setdefault(first[b], []).append(b)
        ending.setdefault(last[b], []).append(b)
    for t in range(begin + 1, end):
        out, into = ending.get(t, []), starting.get(t, [])
        if not out or not into:
            continue
        sums_out, sums_in = 1, 1
        for b in out:
            sums_out |= sums_out << size[b]
        for b in into:
            sums_in |= sums_in << size[b]
        total = sum(size[b] for b in out)
        common = sums_out & sums_in & ~1 & ~(1 << total)
        members = out + into
        if common == 0:
            for x in members[1:]:
                parent[find(x)] = find(members[0])
        elif len(members) <= PAIR_LISTING_MAX:
            for i, others in enumerate(_together(out, into, size)):
                for k in others:
                    parent[find(members[k])] = find(members[i])
    return {b: find(b) for b in block}


def _together(out: list[int], into: list[int], size: Sequence[int]) -> list[list[int]]:
    """For each buffer of ``out + into``, the others that are on its side of every pair of
    subsets (of ``out`` and of ``into``) with equal sums."""
    members = len(out) + len(into)
    everyone = (1 << members) - 1
    by_sum: dict[int, list[int]] = {}
    for mask in range(1 << len(into)):
        total = sum(size[into[i]] for i in range(len(into)) if mask >> i & 1)
        by_sum.setdefault(total, []).append(mask)
    together = [everyone] * members
    for mask in range(1 << len(out)):
        total = sum(size[out[i]] for i in range(len(out)) if mask >> i & 1)
        for other in by_sum.get(total, ()):
            side = mask | (other << len(out))
            for i in range(members):
                together[i] &= side if side >> i & 1 else everyone & ~side
    return [[k for k in range(members) if k != i and together[i] >> k & 1] for i in range(members)]


class _StripBuilder:
    """Enumerates strips by demand: from the star, repeatedly fix the earliest boundary where
    the strip's buffers that end and those that start differ, adding a buffer on the short
    side; once balanced, extend by a buffer at the start of the span."""

    def __init__(
        self,
        owner: _Guillotine,
        block: tuple[int, ...],
        begin: int,
        end: int,
        height: int,
        group: dict[int, int],
        first: list[int],
        last: list[int],
    ) -> None:
        self.owner, self.begin, self.end, self.height = owner, begin, end, height
        self.group, self.first, self.last = group, first, last
        size = owner.size
        self.size = size
        self.starting: dict[int, list[int]] = {}
        self.ending: dict[int, list[int]] = {}
        for b in block:
            self.starting.setdefault(first[b], []).append(b)
            self.ending.setdefault(last[b], []).append(b)
        for buffers in (*self.starting.values(), *self.ending.values()):
            buffers.sort(key=lambda b: -size[b])
        self.members_of: dict[int, list[int]] = {}
        for b in block:
            self.members_of.setdefault(group[b], []).append(b)
        opening = self.starting[begin]
        if owner.attempt < 2:
            self.star = min(opening, key=lambda b: (last[b], -size[b]))
        else:
            self.star = opening[hash((owner.attempt, begin, len(block))) % len(opening)]
        self.openers = [self.star] + [b for b in opening if b != self.star]
        self.inner = sorted(t for t in self.starting if begin < t < end)
        self.balance = dict.fromkeys(self.inner, 0)  # strip sizes ending minus starting
        self.unbalanced: set[int] = set()
        # Not chosen and not excluded: what each boundary's sides can still add.
        self.free_in = {t: sum(size[b] for b in self.starting[t]) for t in self.inner}
        self.free_out = {t: sum(size[b] for b in self.ending.get(t, ())) for t in self.inner}
        self.state: dict[int, bool] = {}  # group: chosen (True) or excluded (False)
        self.crossing = [0] * (end + 1)
        self.uncrossed = end - begin - 1
        self.taken = 0  # height at the start of the span
        self.members: list[int] = []

    def strips(self) -> Iterator[tuple[tuple[int, ...], int]]:
        if self.last[self.star] == self.end:
            yield (self.star,), self.size[self.star]
            return
        if self._choose(self.group[self.star]):
            yield from self._grow()

    def _choose(self, g: int) -> bool:
        """Put group ``g`` in the strip; whether the strip can still be completed (the caller
        undoes it with :meth:`_unchoose` either way)."""
        first, last, size = self.first, self.last, self.size
        self.state[g] = True
        ok = True
        for b in self.members_of[g]:
            self.members.append(b)
            s, e = first[b], last[b]
            if s == self.begin:
                self.taken += size[b]
            else:
                self._shift(s, -size[b])
                self.free_in[s] -= size[b]
            if e != self.end:
                self._shift(e, size[b])
                self.free_out[e] -= size[b]
            for t in range(s + 1, e):
                if self.crossing[t] == 0:
                    self.uncrossed -= 1
                self.crossing[t] += 1
        if self.taken >= self.height or self.uncrossed == 0:
            ok = False
        for b in self.members_of[g]:
            for t in (first[b], last[b]):
                if t in self.balance and not self._can_balance(t):
                    ok = False
        return ok

    def _unchoose(self, g: int) -> None:
        first, last, size = self.first, self.last, self.size
        del self.state[g]
        for b in self.members_of[g]:
            self.members.pop()
            s, e = first[b], last[b]
            if s == self.begin:
                self.taken -= size[b]
            else:
                self._shift(s, size[b])
                self.free_in[s] += size[b]
            if e != self.end:
                self._shift(e, -size[b])
                self.free_out[e] += size[b]
            for t in range(s + 1, e):
                self.crossing[t] -= 1
                if self.crossing[t] == 0:
                    self.uncrossed += 1

    def _exclude(self, g: int, sign: int) -> bool:
        """Leave group ``g`` out (``sign`` -1) or take that back (1); whether every boundary
        it touches can still balance."""
        ok = True
        for b in self.members_of[g]:
            s, e = self.first[b], self.last[b]
            if s in self.free_in:
                self.free_in[s] += sign * self.size[b]
                ok = ok and self._can_balance(s)
            if e in self.free_out:
                self.free_out[e] += sign * self.size[b]
                ok = ok and self._can_balance(e)
        if sign < 0:
            self.state[g] = False
        else:
            del self.state[g]
        return ok

    def _shift(self, t: int, amount: int) -> None:
        balance = self.balance[t] + amount
        self.balance[t] = balance
        if balance:
            self.unbalanced.add(t)
        else:
            self.unbalanced.discard(t)

    def _can_balance(self, t: int) -> bool:
        gap = self.balance[t]
        return (gap <= self.free_in[t]) if gap > 0 else (-gap <= self.free_out[t])

    def _grow(self) -> Iterator[tuple[tuple[int, ...], int]]:
        self.owner.tick()
        short: list[int] | None = None
        if self.unbalanced:
            t = min(self.unbalanced)
            short = self.starting[t] if self.balance[t] > 0 else self.ending[t]
        else:  # balanced; a time cut is left, or _choose would have stopped it
            yield tuple(self.members), self.taken
            short = self.openers
        yield from self._branch(short)

    def _branch(self, candidates: list[int]) -> Iterator[tuple[tuple[int, ...], int]]:
        """Each candidate in turn goes in (and the strip grows), then stays out for the rest."""
        excluded: list[int] = []
        for x in candidates:
            g = self.group[x]
            if g in self.state:
                continue
            if self._choose(g):
                yield from self._grow()
            self._unchoose(g)
            excluded.append(g)
            if not self._exclude(g, -1):
                break
        for g in reversed(excluded):
            self._exclude(g, 1)
