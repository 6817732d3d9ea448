"""Which buffers to recompute: trade extra arithmetic for a lower peak. Knows nothing of MLIR.

A decision ``Recompute(buffer, split, chain)`` means: just before unit ``split`` (in program
order), copies of the ``chain`` units recompute the buffer's value into a fresh buffer, and every
use of the buffer from ``split`` on uses the copy. The original then dies at its last use before
``split``; the copy lives from ``split`` to the buffer's last use. The chain is every unit that
wrote the buffer since the last one that overwrote it in full (empty when ``split`` itself
overwrites it in full: the buffer is then merely split in two, at no cost).

A decision is allowed when every chain unit is cloneable, writes nothing but the buffer, and no
unit between it and ``split`` writes anything it reads: the copies then read the same values.
The clones read their inputs at ``split``, so each input stays live until then (the input's own
copy when the input is recomputed at or before ``split``).

The search is greedy on the program order's live bytes: at the step where they peak, take the
candidate (a buffer live across that step and not used at it) that frees the most bytes there
per unit of cost (FLOPs, plus one per byte written so that copies are not free) without raising
the peak anywhere, within the FLOPs limit; repeat until the peak reaches ``target`` or nothing
lowers it. Then drop, latest first, decisions whose removal keeps the peak where it ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from modelopt_mlir.solver.work import Budget


@dataclass(frozen=True)
class RecomputeProblem:
    num_units: int
    sizes: tuple[int, ...]
    users: tuple[tuple[int, ...], ...]
    reads: tuple[frozenset[int], ...]
    writes: tuple[frozenset[int], ...]
    full_writes: tuple[frozenset[int], ...]
    cloneable: tuple[bool, ...]
    flops: tuple[int, ...]
    bytes_written: tuple[int, ...]
    fixed: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Recompute:
    buffer: int
    split: int
    chain: tuple[int, ...]


@dataclass(frozen=True)
class RecomputePlan:
    decisions: tuple[Recompute, ...]
    peak_before: int  # program-order peak without recompute
    peak_after: int  # program-order peak with the decisions (clones at their split units)
    extra_flops: int
    total_flops: int  # the step's FLOPs without recompute
    reached_target: bool

    @property
    def extra_fraction(self) -> float:
        return self.extra_flops / self.total_flops if self.total_flops else 0.0


def _flops(problem: RecomputeProblem, decisions: Iterable[Recompute]) -> int:
    """The FLOPs the clones of ``decisions`` add."""
    return sum(problem.flops[u] for d in decisions for u in d.chain)


def _peak(profile: np.ndarray) -> int:
    return int(profile.max()) if len(profile) else 0


class _State:
    """Live intervals of every buffer part under a set of decisions."""

    def __init__(self, problem: RecomputeProblem) -> None:
        self.problem = problem
        self.users = [sorted(u) for u in problem.users]

    def extra_uses(self, decisions: dict[int, Recompute]) -> dict[int, list[int]]:
        """Times at which clones read each buffer (the clones run at their split)."""
        extra: dict[int, list[int]] = {}
        for decision in decisions.values():
            for read in self.chain_reads(decision):
                extra.setdefault(read, []).append(decision.split)
        return extra

    def chain_reads(self, decision: Recompute) -> set[int]:
        reads: set[int] = set()
        for unit in decision.chain:
            reads.update(r for r in self.problem.reads[unit] if r >= 0 and r != decision.buffer)
        return reads

    def parts(
        self, buffer: int, decision: Recompute | None, extra: Sequence[int]
    ) -> list[tuple[int, int]]:
        """(first, last) of the buffer's parts: one, or two when it is recomputed."""
        times = list(self.users[buffer]) + list(extra)
        if decision is not None:
            times.append(decision.split)
        if not times:
            return []
        if decision is None:
            return [(min(times), max(times))]
        before = [t for t in times if t < decision.split]
        after = [t for t in times if t >= decision.split]
        return [(min(ts), max(ts)) for ts in (before, after) if ts]

    def profile(self, decisions: dict[int, Recompute]) -> np.ndarray:
        extra = self.extra_uses(decisions)
        delta = np.zeros(self.problem.num_units + 1, dtype=np.int64)
        for buffer, size in enumerate(self.problem.sizes):
            for lo, hi in self.parts(buffer, decisions.get(buffer), extra.get(buffer, ())):
                delta[lo] += size
                delta[hi + 1] -= size
        return np.cumsum(delta[:-1])

    def with_decisions(
        self,
        profile: np.ndarray,
        decisions: dict[int, Recompute],
        extra: dict[int, list[int]],
        added: Sequence[Recompute],
    ) -> np.ndarray:
        """The profile after adding ``added`` to ``decisions`` (whose clones read at
        ``extra``), changing only the buffers they touch."""
        touched: set[int] = set()
        new_extra = {b: list(times) for b, times in extra.items()}
        merged = dict(decisions)
        for decision in added:
            touched.add(decision.buffer)
            merged[decision.buffer] = decision
            for read in self.chain_reads(decision):
                touched.add(read)
                new_extra.setdefault(read, []).append(decision.split)
        new = profile.copy()
        for buffer in touched:
            size = self.problem.sizes[buffer]
            for lo, hi in self.parts(buffer, decisions.get(buffer), extra.get(buffer, ())):
                new[lo : hi + 1] -= size
            for lo, hi in self.parts(buffer, merged.get(buffer), new_extra.get(buffer, ())):
                new[lo : hi + 1] += size
        return new

    def covers(
        self, buffer: int, time: int, decisions: dict[int, Recompute], extra: dict[int, list[int]]
    ) -> bool:
        """Whether some part of ``buffer`` is live at ``time``."""
        parts = self.parts(buffer, decisions.get(buffer), extra.get(buffer, ()))
        return any(lo <= time <= hi for lo, hi in parts)


def _writers(problem: RecomputeProblem) -> list[list[int]]:
    writers: list[list[int]] = [[] for _ in problem.sizes]
    for unit, written in enumerate(problem.writes):
        for buffer in written:
            if buffer >= 0:
                writers[buffer].append(unit)
    return writers


def candidate(
    problem: RecomputeProblem,
    buffer: int,
    split: int,
    writers: Sequence[Sequence[int]],
    class_writers: dict[int, list[int]],
) -> Recompute | None:
    """The decision that recomputes ``buffer`` before unit ``split``, or None if not allowed."""
    if buffer in problem.fixed:
        return None
    if buffer in problem.full_writes[split]:
        return Recompute(buffer, split, ())
    earlier = [w for w in writers[buffer] if w < split]
    start = next((w for w in reversed(earlier) if buffer in problem.full_writes[w]), None)
    if start is None:
        return None
    chain = tuple(w for w in earlier if w >= start)
    for unit in chain:
        if not problem.cloneable[unit] or problem.writes[unit] != frozenset({buffer}):
            return None
        for read in problem.reads[unit]:
            if read == buffer:
                continue
            units = class_writers.get(read, ())
            # a write to what the unit reads, after it and before the split
            index = np.searchsorted(units, unit, side="right") if len(units) else 0
            if index < len(units) and units[index] < split:
                return None
    return Recompute(buffer, split, chain)


MAX_ROUNDS = 4


def _greedy_round(
    problem: RecomputeProblem,
    state: _State,
    decisions: dict[int, Recompute],
    target: int | None,
    budget: float,
    writers: Sequence[Sequence[int]],
    class_writers: dict[int, list[int]],
    rejected: set[tuple[int, int]],
) -> dict[int, Recompute]:
    """One greedy round from ``decisions`` (see the module doc), then the clean-up."""
    decisions = dict(decisions)
    chosen: list[int] = []
    groups: dict[int, list[int]] = {}  # chosen buffer -> the buffers decided with it
    profile = state.profile(decisions)
    used = _flops(problem, decisions.values())
    while len(profile):
        peak = int(profile.max())
        if target is not None and peak <= target:
            break
        time = int(profile.argmax())
        extra = state.extra_uses(decisions)
        best: tuple[float, int, Recompute, np.ndarray] | None = None
        for buffer, users in enumerate(state.users):
            if buffer in decisions or not users or problem.sizes[buffer] == 0:
                continue
            # Uses include the clones' reads: a buffer that a clone reads is recomputed before
            # that clone, which then reads the copy.
            times = sorted(set(users) | set(extra.get(buffer, ())))
            if times[0] >= time or times[-1] <= time:
                continue
            position = int(np.searchsorted(times, time))
            if times[position] == time:
                continue
            split = times[position]
            if (buffer, split) in rejected:
                continue
            decision = candidate(problem, buffer, split, writers, class_writers)
            if decision is None:
                rejected.add((buffer, split))
                continue
            # Alone, or with the inputs it would keep alive recomputed at the same split too
            # (a chain of elementwise ops recomputed from its saved input).
            options = [[decision]]
            group = _with_inputs(
                state, decision, decisions, extra, writers, class_writers, MAX_GROUP
            )
            if len(group) > 1:
                options.append(group)
            for option in options:
                flops = _flops(problem, option)
                if used + flops > budget:
                    continue
                cost = sum(
                    problem.flops[u] + problem.bytes_written[u] for d in option for u in d.chain
                )
                new = state.with_decisions(profile, decisions, extra, option)
                freed = int(profile[time] - new[time])
                if freed <= 0 or int(new.max()) > peak:
                    continue
                score = freed / (1.0 + cost)
                if best is None or score > best[0] or (score == best[0] and buffer < best[1]):
                    best = (score, buffer, option, new)
        if best is None:
            break
        _, buffer, option, profile = best
        for decision in option:
            decisions[decision.buffer] = decision
            used += _flops(problem, [decision])
        chosen.append(buffer)
        groups[buffer] = [d.buffer for d in option]
    final = _peak(profile)
    # Drop decisions that the final peak does not need, latest first.
    limit = final if target is None or final > target else target
    for buffer in reversed(chosen):
        trial = {b: d for b, d in decisions.items() if b not in groups[buffer]}
        if int(state.profile(trial).max()) <= limit:
            decisions = trial
    return decisions


MAX_GROUP = 6  # decisions taken together: a buffer and up to five of its inputs


def _with_inputs(
    state: _State,
    decision: Recompute,
    decisions: dict[int, Recompute],
    extra: dict[int, list[int]],
    writers: Sequence[Sequence[int]],
    class_writers: dict[int, list[int]],
    limit: int,
) -> list[Recompute]:
    """``decision`` and, recursively, decisions recomputing at the same split each input that
    its clones read and that is not live there already (inputs first, in chain order)."""
    group: list[Recompute] = [decision]
    taken = {decision.buffer}
    pending = [decision]
    while pending and len(group) < limit:
        current = pending.pop()
        for read in sorted(state.chain_reads(current)):
            if read in taken or read in decisions or len(group) >= limit:
                continue
            if state.covers(read, current.split, decisions, extra):
                continue
            inner = candidate(state.problem, read, current.split, writers, class_writers)
            if inner is None or not inner.chain:
                continue
            taken.add(read)
            group.append(inner)
            pending.append(inner)
    return group


def plan_recompute(
    problem: RecomputeProblem,
    max_flops_fraction: float = 0.35,
    target: int | None = None,
    ilp_budget: Budget | None = None,
) -> RecomputePlan:
    """Greedy recompute decisions (see the module doc): down to ``target`` bytes of
    program-order peak if given, else as low as the search gets, within
    ``max_flops_fraction`` of the step's FLOPs. With ``ilp_budget`` (work), on graphs of at most
    ILP_MAX_UNITS units and without a target, an ILP over the candidate decisions also runs
    (:func:`_ilp_decisions`) and the lower exact peak wins (fewer FLOPs on a tie)."""
    total_flops = int(sum(problem.flops))
    budget = max_flops_fraction * total_flops
    writers = _writers(problem)
    class_writers: dict[int, list[int]] = {}
    for unit, written in enumerate(problem.writes):
        for cls in written:
            class_writers.setdefault(cls, []).append(unit)
    state = _State(problem)
    decisions: dict[int, Recompute] = {}
    profile = state.profile(decisions)
    peak_before = _peak(profile)
    rejected: set[tuple[int, int]] = set()
    # Greedy rounds, each followed by the clean-up; another round starts from what the clean-up
    # kept while the peak keeps going down (the clean-up can leave a peak step that the round's
    # last steps did not look at).
    best_peak = peak_before
    for _round in range(MAX_ROUNDS):
        decisions = _greedy_round(
            problem, state, decisions, target, budget, writers, class_writers, rejected
        )
        peak = _peak(state.profile(decisions))
        if peak >= best_peak:
            break
        best_peak = peak
    peak_after = _peak(state.profile(decisions))
    if ilp_budget is not None and target is None and 0 < problem.num_units <= ILP_MAX_UNITS:
        chosen_ilp = _ilp_decisions(
            problem, state, writers, class_writers, budget, decisions, ilp_budget
        )
        if chosen_ilp is not None:
            ilp_peak = _peak(state.profile(chosen_ilp))
            if ilp_peak < peak_after or (
                ilp_peak == peak_after
                and _flops(problem, chosen_ilp.values()) < _flops(problem, decisions.values())
            ):
                decisions, peak_after = chosen_ilp, ilp_peak
    ordered = tuple(
        sorted(decisions.values(), key=lambda d: (d.split, d.chain[0] if d.chain else d.split))
    )
    return RecomputePlan(
        decisions=ordered,
        peak_before=peak_before,
        peak_after=peak_after,
        extra_flops=_flops(problem, ordered),
        total_flops=total_flops,
        reached_target=target is None or peak_after <= target,
    )


ILP_MAX_UNITS = 2_000  # larger graphs: the greedy alone
ILP_MAX_OPTIONS = 3_000


def _options(
    problem: RecomputeProblem,
    state: _State,
    writers: Sequence[Sequence[int]],
    class_writers: dict[int, list[int]],
) -> list[list[Recompute]]:
    """Every allowed decision taken alone (a buffer recomputed before any use that follows a
    gap in its uses), and with the dead inputs it needs recomputed too."""
    options: list[list[Recompute]] = []
    for buffer, users in enumerate(state.users):
        if buffer in problem.fixed or problem.sizes[buffer] == 0 or len(users) < 2:
            continue
        for previous, split in zip(users, users[1:], strict=False):
            if split - previous < 2:
                continue
            decision = candidate(problem, buffer, split, writers, class_writers)
            if decision is None:
                continue
            options.append([decision])
            group = _with_inputs(state, decision, {}, {}, writers, class_writers, MAX_GROUP)
            if len(group) > 1:
                options.append(group)
    return options


def _ilp_decisions(
    problem: RecomputeProblem,
    state: _State,
    writers: Sequence[Sequence[int]],
    class_writers: dict[int, list[int]],
    max_flops: float,
    start: dict[int, Recompute],
    budget: Budget,
) -> dict[int, Recompute] | None:
    """Choose options (see :func:`_options`) minimising the peak, with each option's effect on
    the live bytes taken alone and summed (exact when options touch different buffers; the
    caller re-evaluates the choice exactly), within ``max_flops``, one option per buffer.
    Constraints are written once per stretch of steps where no option's effect changes (its
    highest live bytes). Warm-started from ``start`` where its decisions are options. None when
    there are too many options or HiGHS finds nothing in the budget."""
    import pulp

    from modelopt_mlir.solver.order.ilp import solve_model

    options = _options(problem, state, writers, class_writers)
    if not options or len(options) > ILP_MAX_OPTIONS:
        return None
    base = state.profile({})
    n = problem.num_units
    effects: list[list[tuple[int, int, int]]] = []  # per option: (lo, hi, delta) runs
    cuts = {0, n}
    for option in options:
        delta = state.with_decisions(base, {}, {}, option) - base
        runs = []
        nonzero = np.flatnonzero(delta)
        if len(nonzero):
            edges = np.flatnonzero(np.diff(delta)) + 1
            starts = np.concatenate(([0], edges))
            ends = np.concatenate((edges, [n]))
            for lo, hi in zip(starts, ends, strict=True):
                if delta[lo]:
                    runs.append((int(lo), int(hi), int(delta[lo])))
                    cuts.update((int(lo), int(hi)))
        effects.append(runs)
    bounds = sorted(cuts)
    scale = max(1, int(base.max()) // 1_000_000)  # keep coefficients moderate
    model = pulp.LpProblem("recompute", pulp.LpMinimize)
    peak = pulp.LpVariable("peak", lowBound=0)
    chosen = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(len(options))]
    model += peak
    index = {bound: k for k, bound in enumerate(bounds)}
    rows: list[list[tuple[int, int]]] = [[] for _ in bounds[:-1]]
    for i, runs in enumerate(effects):
        for lo, hi, delta in runs:
            for k in range(index[lo], index[hi]):
                rows[k].append((i, delta))
    for k, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
        model += (
            pulp.lpSum((d / scale) * chosen[i] for i, d in rows[k])
            + float(base[lo:hi].max()) / scale
            <= peak
        )
    flops = [_flops(problem, option) for option in options]
    model += pulp.lpSum(f * x for f, x in zip(flops, chosen, strict=True)) <= max_flops
    by_buffer: dict[int, list[int]] = {}
    for i, option in enumerate(options):
        for decision in option:
            by_buffer.setdefault(decision.buffer, []).append(i)
    for members in by_buffer.values():
        if len(members) > 1:
            model += pulp.lpSum(chosen[i] for i in members) <= 1
    # Warm start: the greedy's decisions that are options on their own.
    wanted = {(d.buffer, d.split, d.chain) for d in start.values()}
    for i, option in enumerate(options):
        chosen[i].setInitialValue(
            1
            if len(option) == 1 and (option[0].buffer, option[0].split, option[0].chain) in wanted
            else 0
        )
    solved = solve_model(model, budget, warm_start=True)
    if not solved.has_solution:
        return None
    result: dict[int, Recompute] = {}
    for i, option in enumerate(options):
        if solved.values.get(chosen[i].name, 0.0) > 0.5:
            for decision in option:
                result[decision.buffer] = decision
    return result
