"""Lower bounds on the least peak over all valid orders of a ScheduleProblem.

- op-local: every unit's own buffers are live together at its step.
- cut: what must be live at unit v's step whatever ran before it, solved exactly as a min cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
from networkx.algorithms.flow import boykov_kolmogorov

from modelopt_mlir.solver.order.peak import padded_sizes, step_memory
from modelopt_mlir.solver.problem import ScheduleProblem
from modelopt_mlir.solver.work import MIN_CUT_UNITS_PER_ARC, Budget, as_budget

# The flow-free part of the cut (forced_live_at) is computed first at this many of the fullest
# steps; each costs about half a work unit per buffer per 16,384 units (1.05 ms at 2,249 buffers
# and 9,077 units: a LLaMA-7B-shaped step).
FORCED_CANDIDATES = 256


@dataclass(frozen=True)
class PeakBound:
    value: int
    kind: str  # the bound that won: "op-local" or "cut"
    op_local: int
    cut: int
    cut_units: int  # units whose min cut was computed
    cut_complete: bool  # False when the time limit cut the search short


def op_local_bound(problem: ScheduleProblem) -> int:
    """Largest total padded size of the buffers one unit uses."""
    sizes = padded_sizes(problem)
    best = 0
    for buffers in problem.buffers_of_unit():
        best = max(best, sum(sizes[b] for b in buffers))
    return best


def ancestor_sets(problem: ScheduleProblem) -> tuple[list[int], list[int]]:
    """Ancestors and descendants of each unit as int bitsets (program order is topological)."""
    return closures(problem.num_units, problem.edges)


def closures(num_units: int, edges: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Ancestor and descendant bitsets of units 0..num_units-1, numbered in topological order."""
    preds: list[list[int]] = [[] for _ in range(num_units)]
    succs: list[list[int]] = [[] for _ in range(num_units)]
    for before, after in edges:
        preds[after].append(before)
        succs[before].append(after)
    ancestors = [0] * num_units
    for unit in range(num_units):
        bits = 0
        for pred in preds[unit]:
            bits |= ancestors[pred] | (1 << pred)
        ancestors[unit] = bits
    descendants = [0] * num_units
    for unit in reversed(range(num_units)):
        bits = 0
        for succ in succs[unit]:
            bits |= descendants[succ] | (1 << succ)
        descendants[unit] = bits
    return ancestors, descendants


def cut_bound_at(
    problem: ScheduleProblem,
    unit: int,
    ancestors: Sequence[int],
    descendants: Sequence[int],
    sizes: Sequence[int] | None = None,
) -> int:
    """Least memory live at ``unit``'s step over every set S of units run up to it.

    Proof: in any valid order the units run up to and including v form a set S closed under
    predecessors, holding v and its ancestors and none of its descendants; a buffer used by v,
    or with users both in and out of S, is live at v's step, so the peak is at least the
    minimum of that live size over such S. Lawler's construction makes the minimum a min cut:
    S is the source side, an infinite arc w -> u per edge (u, w) keeps S closed, and per buffer
    arcs users -> e1 (inf), e1 -> e2 (size), e2 -> users (inf) cost its size exactly when its
    users are split; every finite cut is such an S, so min cut = min over S (no LP rounding).
    """
    sizes = padded_sizes(problem) if sizes is None else sizes
    anc = ancestors[unit] | (1 << unit)
    desc = descendants[unit]

    def side(u: int) -> int | str:
        if anc >> u & 1:
            return "s"
        if desc >> u & 1:
            return "t"
        return u

    constant = 0
    network = nx.DiGraph()
    network.add_nodes_from(("s", "t"))
    for buffer, users in enumerate(problem.users):
        size = sizes[buffer]
        if not size or not users:
            continue
        if unit in users:
            constant += size
            continue
        sides = {side(u) for u in users}
        if len(sides) == 1:
            continue  # all users on one fixed side, or a single user: never split
        if "s" in sides and "t" in sides:
            constant += size
            continue
        e_in, e_out = ("in", buffer), ("out", buffer)
        network.add_edge(e_in, e_out, capacity=size)
        for node in sides:
            if node != "t":
                network.add_edge(node, e_in)
            if node != "s":
                network.add_edge(e_out, node)
    if network.number_of_edges() == 0:
        return constant
    for before, after in problem.edges:
        node_before, node_after = side(before), side(after)
        if node_after != "t" and node_before != "s" and node_before != node_after:
            network.add_edge(node_after, node_before)
    cut_value = nx.maximum_flow_value(network, "s", "t", flow_func=boykov_kolmogorov)
    return constant + int(round(cut_value))


def cut_bound(
    problem: ScheduleProblem,
    order: Sequence[int] | None = None,
    time_limit: float | Budget | None = None,
    floor: int = 0,
) -> tuple[int, int, bool]:
    """Max over units of ``cut_bound_at``: (bound, units cut, complete).

    A unit's cut value is at most the memory at its step in any valid order, so only steps of
    ``order`` (program order by default) fuller than the best bound so far are cut. The
    flow-free part of the cut (:func:`forced_live_at`) at the fullest steps comes first: a
    bound itself, it also picks which of them to cut first; then the rest from the fullest
    down. With a limit (seconds or a work :class:`Budget`; each cut costs work in proportion to
    its network) the search may stop early (complete=False); the value is still a valid bound.
    """
    budget = None if time_limit is None else as_budget(time_limit)
    cut_cost = MIN_CUT_UNITS_PER_ARC * (
        problem.num_units + sum(len(users) for users in problem.users)
    )
    n = problem.num_units
    if n == 0:
        return 0, 0, True
    order = list(range(n)) if order is None else list(order)
    memory = step_memory(problem, order)
    candidates = sorted(range(n), key=lambda step: -memory[step])
    ancestors, descendants = ancestor_sets(problem)
    sizes = padded_sizes(problem)
    best = floor
    # First the part of each cut that needs no flow, at the fullest steps: it is a bound by
    # itself, and it tells which steps' cuts are worth their flow. (The fullest step of an
    # order is often an op few others depend on, whose cut is small: on a LLaMA-7B-shaped
    # step the first cut of the fullest step gave 500 MiB and the fourth 5,797 MiB.)
    user_masks = [sum(1 << u for u in set(users)) for users in problem.users]
    forced_cost = len(user_masks) // 2 * (1 + n // 16384) + 1
    forced: dict[int, int] = {}
    for step in candidates[:FORCED_CANDIDATES]:
        if memory[step] <= best:
            break
        if budget is not None and forced and not budget.affords(forced_cost):
            break
        forced[step] = forced_live_at(order[step], user_masks, ancestors, descendants, sizes)
        best = max(best, forced[step])
        if budget is not None:
            budget.spend(forced_cost)
    # Cuts: steps with the most forced first, then the rest from the fullest down.
    first = sorted(forced, key=lambda step: (-forced[step], -memory[step], step))
    done: set[int] = set()
    computed = 0
    for step in first + candidates:
        if step in done:
            continue
        if memory[step] <= best:
            if step in forced:
                continue  # ``first`` is not in order of memory
            return best, computed, True
        if budget is not None and computed and not budget.affords(cut_cost):
            return best, computed, False
        best = max(best, cut_bound_at(problem, order[step], ancestors, descendants, sizes))
        done.add(step)
        computed += 1
        if budget is not None:
            budget.spend(cut_cost)
    return best, computed, True


def forced_live_at(
    unit: int,
    user_masks: Sequence[int],
    ancestors: Sequence[int],
    descendants: Sequence[int],
    sizes: Sequence[int],
) -> int:
    """The bytes live at ``unit``'s step in every valid order, without a flow: buffers it uses,
    and buffers with a user among its ancestors and another among its descendants. The constant
    part of :func:`cut_bound_at`, so at most its value."""
    before = ancestors[unit] | (1 << unit)
    after = descendants[unit]
    total = 0
    for buffer, users in enumerate(user_masks):
        if users >> unit & 1 or (users & before and users & after):
            total += sizes[buffer]
    return total


def peak_lower_bound(
    problem: ScheduleProblem,
    order: Sequence[int] | None = None,
    time_limit: float | Budget | None = None,
) -> PeakBound:
    """The best of the op-local and cut bounds, and which one won."""
    local = op_local_bound(problem)
    cut, computed, complete = cut_bound(problem, order, time_limit, floor=local)
    kind = "cut" if cut > local else "op-local"
    return PeakBound(max(local, cut), kind, local, cut, computed, complete)
