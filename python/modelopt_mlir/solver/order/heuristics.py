"""Order heuristics: program order, list schedules (memory-aware, depth-first, breadth-first,
least-peak-first), each also run on the reversed graph, and a local search that lowers an
order's peak by moving the units around it (``refine_order``); ``best_order`` keeps the lowest
peak.

The memory model is symmetric in time (a buffer is live from its first to its last user), so
the reverse of an order of the reversed graph is an order with the same peak: running a
heuristic backwards is a second, different heuristic for free.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from modelopt_mlir.solver.order.peak import (
    OrderLiveness,
    padded_sizes,
    peak_of_order,
)
from modelopt_mlir.solver.problem import OrderPlan, ScheduleProblem
from modelopt_mlir.solver.work import Budget


def program_order(problem: ScheduleProblem) -> OrderPlan:
    order = tuple(range(problem.num_units))
    return OrderPlan(order, peak_of_order(problem, order), "program-order")


def _indegrees(problem: ScheduleProblem) -> list[int]:
    indegree = [0] * problem.num_units
    for _, after in problem.edges:
        indegree[after] += 1
    return indegree


def _finish(problem: ScheduleProblem, order: list[int], algorithm: str) -> OrderPlan:
    if len(order) != problem.num_units:
        raise ValueError("dependence graph has a cycle")
    order_tuple = tuple(order)
    return OrderPlan(order_tuple, peak_of_order(problem, order_tuple), algorithm)


def _list_schedule(
    problem: ScheduleProblem,
    sizes: Sequence[int],
    users_of: Sequence[Sequence[int]],
    key: Callable[[int], tuple[int, ...]],
    on_start: Callable[[int, int], None],
    on_last_user: Callable[[int, int], None],
) -> list[int]:
    """The engine of the memory-driven list schedules: always run the ready unit with the
    smallest ``key`` (whose last element is the unit). When a buffer comes to life, its other
    users hear ``on_start(unit, bytes)``; when one user is left, it hears ``on_last_user``.
    Keys change only for those units, so a lazy heap keeps this O((n + E + users) log n)."""
    n = problem.num_units
    succs = problem.successors()
    indegree = _indegrees(problem)
    buffers_of = problem.buffers_of_unit()
    remaining = [len(users) for users in users_of]
    started = [False] * len(sizes)
    scheduled = [False] * n
    heap = [key(u) for u in range(n) if indegree[u] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        entry = heapq.heappop(heap)
        unit = entry[-1]
        if scheduled[unit] or entry != key(unit):
            continue  # stale entry
        scheduled[unit] = True
        order.append(unit)
        touched: set[int] = set()
        for buffer in buffers_of[unit]:
            users = users_of[buffer]
            if not started[buffer]:
                started[buffer] = True
                for other in users:
                    if other != unit:
                        on_start(other, sizes[buffer])
                        touched.add(other)
            remaining[buffer] -= 1
            if remaining[buffer] == 1:
                for other in users:
                    if not scheduled[other]:
                        on_last_user(other, sizes[buffer])
                        touched.add(other)
        for succ in succs[unit]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                touched.add(succ)
        for other in touched:
            if not scheduled[other] and indegree[other] == 0:
                heapq.heappush(heap, key(other))
    return order


def _distinct_users(problem: ScheduleProblem) -> list[list[int]]:
    return [sorted(set(users)) for users in problem.users]


def memory_aware_list_schedule(problem: ScheduleProblem) -> OrderPlan:
    """Schedule the ready unit that frees the most bytes net of what it starts; ties in
    program order. Scores are kept up to date incrementally, so this is O((n + E) log n)."""
    sizes = padded_sizes(problem)
    users_of = _distinct_users(problem)
    # score = bytes freed by running the unit now - bytes it brings to life.
    score = [0] * problem.num_units
    for buffer, users in enumerate(users_of):
        if len(users) == 1:
            continue  # starts and ends at the same unit: net zero
        for unit in users:
            score[unit] -= sizes[buffer]

    def gain(unit: int, size: int) -> None:
        score[unit] += size  # no longer starts the buffer, or now frees it

    order = _list_schedule(
        problem, sizes, users_of, lambda u: (-score[u], u), on_start=gain, on_last_user=gain
    )
    return _finish(problem, order, "memory-aware-list")


def least_peak_first_schedule(problem: ScheduleProblem) -> OrderPlan:
    """Schedule the ready unit whose own step holds the fewest bytes (it starts the fewest new
    bytes, single-step buffers included); ties: most bytes freed, then program order.
    Incremental scores and a lazy heap: O((n + E + sum of users) log n)."""
    n = problem.num_units
    sizes = padded_sizes(problem)
    users_of = _distinct_users(problem)
    starts = [0] * n  # bytes that come to life at this unit's step if it runs now
    frees = [0] * n  # bytes whose last user is this unit if it runs now
    for buffer, users in enumerate(users_of):
        for unit in users:
            starts[unit] += sizes[buffer]
        if len(users) == 1:
            frees[users[0]] += sizes[buffer]

    def started_elsewhere(unit: int, size: int) -> None:
        starts[unit] -= size

    def now_last_user(unit: int, size: int) -> None:
        frees[unit] += size

    order = _list_schedule(
        problem,
        sizes,
        users_of,
        lambda u: (starts[u], -frees[u], u),
        on_start=started_elsewhere,
        on_last_user=now_last_user,
    )
    return _finish(problem, order, "least-peak-first")


def depth_first_schedule(problem: ScheduleProblem) -> OrderPlan:
    """Run the most recently readied unit first (a stack), finishing a chain before starting
    another; units readied together run in program order. O(n + E)."""
    succs = problem.successors()
    indegree = _indegrees(problem)
    stack = [u for u in reversed(range(problem.num_units)) if indegree[u] == 0]
    order: list[int] = []
    while stack:
        unit = stack.pop()
        order.append(unit)
        ready = []
        for succ in succs[unit]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                ready.append(succ)
        stack.extend(sorted(ready, reverse=True))
    return _finish(problem, order, "depth-first")


def depth_first_from_outputs(problem: ScheduleProblem) -> OrderPlan:
    """Post-order of a depth-first search over predecessors from each unit without
    successors: every unit runs right after the subgraph it needs. O(n + E)."""
    succs = problem.successors()
    roots = [u for u in range(problem.num_units) if not succs[u]]
    return _finish(problem, _post_order_from(problem, roots), "depth-first-from-outputs")


def outputs_when_ready(problem: ScheduleProblem) -> OrderPlan:
    """Depth-first from the outputs, taken in the order they can first run: an output (a unit
    without successors, e.g. a parameter's in-place update) is keyed by the deepest unit it
    shares with other outputs, its own chain (the weight gradient and the update) excluded.
    Updates then run as soon as the backward pass has produced their gradient, and each
    gradient dies there, as MODeL interleaves weight updates with the backward pass.
    O(n + E) plus a bitset of outputs per unit."""
    n = problem.num_units
    preds = [sorted(set(p)) for p in problem.predecessors()]
    succs = problem.successors()
    roots = [u for u in range(n) if not succs[u]]
    bit = {root: 1 << i for i, root in enumerate(roots)}
    reaches = [0] * n  # the outputs each unit leads to
    for unit in reversed(range(n)):
        mask = bit.get(unit, 0)
        for succ in succs[unit]:
            mask |= reaches[succ]
        reaches[unit] = mask
    depth = [0] * n  # longest path from a source: program position without the detours
    for unit in range(n):
        for pred in preds[unit]:
            depth[unit] = max(depth[unit], depth[pred] + 1)
    key: dict[int, int] = {}
    for root in roots:
        deepest, seen, stack = -1, {root}, [root]
        while stack:
            for pred in preds[stack.pop()]:
                if pred in seen:
                    continue
                seen.add(pred)
                if reaches[pred] == bit[root]:
                    stack.append(pred)  # only this output needs it: part of its own chain
                else:
                    deepest = max(deepest, depth[pred])
        key[root] = deepest
    roots.sort(key=lambda root: (key[root], root))
    return _finish(problem, _post_order_from(problem, roots), "outputs-when-ready")


def _post_order_from(problem: ScheduleProblem, roots: Sequence[int]) -> list[int]:
    """Post-order of a depth-first search over predecessors from each of ``roots`` in turn,
    predecessors in program order."""
    n = problem.num_units
    preds = [sorted(set(p)) for p in problem.predecessors()]
    done = [False] * n
    order: list[int] = []
    for root in roots:
        if done[root]:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        while stack:
            unit, next_pred = stack[-1]
            preds_of = preds[unit]
            while next_pred < len(preds_of) and done[preds_of[next_pred]]:
                next_pred += 1
            if next_pred < len(preds_of):
                stack[-1] = (unit, next_pred + 1)
                pred = preds_of[next_pred]
                done[pred] = True  # claimed: appended once its own predecessors are out
                stack.append((pred, 0))
            else:
                stack.pop()
                done[unit] = True
                order.append(unit)
    return order


def breadth_first_schedule(problem: ScheduleProblem) -> OrderPlan:
    """Kahn's algorithm with a queue: units run level by level, in the order they become
    ready. O(n + E)."""
    succs = problem.successors()
    indegree = _indegrees(problem)
    queue = deque(u for u in range(problem.num_units) if indegree[u] == 0)
    order: list[int] = []
    while queue:
        unit = queue.popleft()
        order.append(unit)
        for succ in succs[unit]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                queue.append(succ)
    return _finish(problem, order, "breadth-first")


def reversed_problem(problem: ScheduleProblem) -> ScheduleProblem:
    """The same problem with every edge flipped, units renumbered n-1-u so program order
    still holds."""
    last = problem.num_units - 1
    return ScheduleProblem(
        problem.num_units,
        tuple(sorted((last - after, last - before) for before, after in problem.edges)),
        problem.sizes,
        tuple(tuple(last - u for u in users) for users in problem.users),
        problem.alignment,
    )


def _run_reversed(
    problem: ScheduleProblem, heuristic: Callable[[ScheduleProblem], OrderPlan]
) -> OrderPlan:
    backwards = heuristic(reversed_problem(problem))
    last = problem.num_units - 1
    order = tuple(last - u for u in reversed(backwards.order))
    return OrderPlan(order, backwards.peak, backwards.algorithm + "-reversed")


FORWARD_HEURISTICS: tuple[Callable[[ScheduleProblem], OrderPlan], ...] = (
    memory_aware_list_schedule,
    least_peak_first_schedule,
    depth_first_schedule,
    depth_first_from_outputs,
    outputs_when_ready,
    breadth_first_schedule,
)


def heuristic_orders(problem: ScheduleProblem) -> list[OrderPlan]:
    """Program order, then every heuristic forwards and on the reversed graph."""
    plans = [program_order(problem)]
    for heuristic in FORWARD_HEURISTICS:
        plans.append(heuristic(problem))
    for heuristic in FORWARD_HEURISTICS:
        plans.append(_run_reversed(problem, heuristic))
    return plans


def candidate_orders(
    problem: ScheduleProblem, reorder: bool = True, budget: Budget | None = None
) -> tuple[list[OrderPlan], OrderPlan]:
    """Every heuristic order and its local refinement (:func:`refine_order`, each within a work
    limit), distinct orders by increasing peak (earliest listed on ties), and program order for
    reference. The lowest peak is not always the smallest arena: an order whose live intervals
    interleave badly can need more than its peak, so callers fit offsets to several.
    The refinements have their own fixed work limits; ``budget``'s clock is only a safety
    stop: before it fires the result depends on the work limits alone."""
    baseline = program_order(problem)
    if not reorder:
        return [baseline], baseline
    plans = heuristic_orders(problem)
    refined = []
    work_left = REFINE_TOTAL_WORK
    for plan in plans:
        work = min(REFINE_WORK, work_left)
        if work <= 0:
            break
        refined.append(refine_order(problem, plan, work, budget))
        work_left -= work
    ranked = sorted(enumerate(plans + refined), key=lambda item: (item[1].peak, item[0]))
    distinct: dict[tuple[int, ...], OrderPlan] = {}
    for _, plan in ranked:
        distinct.setdefault(plan.order, plan)
    return list(distinct.values()), plans[0]


def best_order(
    problem: ScheduleProblem, reorder: bool = True, budget: Budget | None = None
) -> tuple[OrderPlan, OrderPlan]:
    """The lowest-peak order of :func:`candidate_orders`, and program order for reference."""
    candidates, baseline = candidate_orders(problem, reorder, budget)
    return candidates[0], baseline


# Elementary operations (units + buffer users, per evaluated order) that refine_order may spend:
# a work limit, not a clock, so that the same problem always gets the same order.
REFINE_WORK = 3_000_000  # per order refined
REFINE_TOTAL_WORK = 40_000_000  # per problem: on large graphs the last orders go unrefined
REFINE_CANDIDATES = 48
REFINE_GROUP = 64


def _closure(
    start: int, edges: Sequence[Sequence[int]], position: Sequence[int], lo: int, hi: int
) -> list[int] | None:
    """``start`` and every unit it reaches through ``edges`` whose position lies in [lo, hi],
    in order; None when there are more than REFINE_GROUP."""
    group, stack = {start}, [start]
    while stack:
        for other in edges[stack.pop()]:
            if other not in group and lo <= position[other] <= hi:
                group.add(other)
                if len(group) > REFINE_GROUP:
                    return None
                stack.append(other)
    return sorted(group, key=lambda unit: position[unit])


class _Groups:
    """:func:`_closure` for one problem, compiled (:mod:`closure_kernel`) where numba runs: the
    same groups either way."""

    def __init__(self, problem: ScheduleProblem, preds: list[list[int]], succs: list[list[int]]):
        self.preds, self.succs = preds, succs
        self.compiled = compiled_closure_ready()
        if self.compiled:
            self.graphs = {True: _csr(succs), False: _csr(preds)}
            self.mark = np.zeros(problem.num_units, np.bool_)
            self.out = np.zeros(REFINE_GROUP, np.int64)

    def group(
        self, start: int, forward: bool, position: np.ndarray, lo: int, hi: int
    ) -> list[int] | None:
        if not self.compiled:
            edges = self.succs if forward else self.preds
            return _closure(start, edges, position, lo, hi)
        from modelopt_mlir.solver.order.closure_kernel import closure

        indptr, indices = self.graphs[forward]
        count = closure(start, indptr, indices, position, lo, hi, REFINE_GROUP, self.mark, self.out)
        if count < 0:
            return None
        members = self.out[:count]
        return members[np.argsort(position[members], kind="stable")].tolist()


def _csr(edges: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(len(edges) + 1, np.int64)
    indptr[1:] = np.cumsum([len(e) for e in edges])
    indices = np.fromiter((v for e in edges for v in e), np.int64, int(indptr[-1]))
    return indptr, indices


_CLOSURE_KERNEL_READY: bool | None = None


def compiled_closure_ready() -> bool:
    """Whether the compiled closure runs here (the first call compiles it or loads numba's
    cache)."""
    global _CLOSURE_KERNEL_READY
    if _CLOSURE_KERNEL_READY is None:
        try:
            from modelopt_mlir.solver.order.closure_kernel import closure

            one = np.zeros(2, np.int64)
            closure(0, one, one[:0], one[:1], 0, 0, 1, np.zeros(1, np.bool_), one)
            _CLOSURE_KERNEL_READY = True
        except Exception:  # numba missing or unable to compile here: the Python closure
            _CLOSURE_KERNEL_READY = False
    return _CLOSURE_KERNEL_READY


def refine_order(
    problem: ScheduleProblem,
    plan: OrderPlan,
    work: int = REFINE_WORK,
    budget: Budget | None = None,
) -> OrderPlan:
    """Local search on an order's peak. At the first step where memory peaks, for each buffer
    live there (largest first): move the unit that starts it to just after that step, with the
    units between that depend on it (an ``alloc``'s fill and its producer move together), or
    move the unit that frees it to just before that step, with the units between that it
    depends on. A move is kept when it lowers the peak, or keeps it and lowers the number of
    steps at the peak; the search stops when no candidate move does, or at the work limit.
    Deterministic: the same problem and order give the same result (``budget``'s clock is
    only a safety stop)."""
    n = problem.num_units
    if n < 3:
        return plan
    live = OrderLiveness(problem)
    preds = [sorted(set(p)) for p in problem.predecessors()]
    succs = [sorted(set(s)) for s in problem.successors()]
    groups = _Groups(problem, preds, succs)
    order = list(plan.order)
    memory, first, last = live.evaluate(order)
    spent = live.work
    peak = int(memory.max())
    at_peak = int((memory == peak).sum())
    improved = False
    while spent + live.work <= work:
        step = int(memory.argmax())
        position = np.empty(n, np.int64)
        position[np.asarray(order, np.int64)] = np.arange(n, dtype=np.int64)
        through = np.nonzero((first <= step) & (last >= step))[0]
        through = through[np.argsort(-live.sizes[through], kind="stable")]
        moves: list[tuple[list[int], bool]] = []
        seen: set[int] = set()
        for b in through.tolist():
            if len(moves) >= REFINE_CANDIDATES:
                break
            later, earlier = int(first[b]), int(last[b])
            if later < step and order[later] not in seen:  # start it after the peak
                seen.add(order[later])
                group = groups.group(order[later], True, position, later, step)
                if group is not None and position[group[-1]] < step:
                    moves.append((group, True))
            if earlier > step and order[earlier] not in seen:  # free it before the peak
                seen.add(order[earlier])
                group = groups.group(order[earlier], False, position, step, earlier)
                if group is not None and position[group[0]] > step:
                    moves.append((group, False))
        accepted = False
        for group, sink in moves:
            if spent + live.work > work or (budget is not None and budget.out_of_time()):
                break
            members = set(group)
            rest = [unit for unit in order if unit not in members]
            # After the unit now at the peak step, or before it.
            anchor = rest.index(order[step]) + (1 if sink else 0)
            candidate = rest[:anchor] + group + rest[anchor:]
            cand_memory, cand_first, cand_last = live.evaluate(candidate)
            spent += live.work
            cand_peak = int(cand_memory.max())
            cand_at_peak = int((cand_memory == cand_peak).sum())
            if (cand_peak, cand_at_peak) < (peak, at_peak):
                order, memory, first, last = candidate, cand_memory, cand_first, cand_last
                peak, at_peak = cand_peak, cand_at_peak
                accepted = improved = True
                break
        if not accepted:
            break
    if not improved:
        return plan
    return OrderPlan(tuple(order), peak, plan.algorithm + "+local")
