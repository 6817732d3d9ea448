"""MODeL's joint order + address ILP (small graphs only): the create/preserve model of
:mod:`ilp` plus an offset per buffer, with non-overlap disjunctions for buffers that may be
live together; it minimises the arena, not just the peak."""

from __future__ import annotations

from collections.abc import Sequence

import pulp

from modelopt_mlir.solver.liveness import live_intervals
from modelopt_mlir.solver.offsets.heuristics import best_offsets
from modelopt_mlir.solver.order.ilp import (
    IlpOrderResult,
    IlpStatus,
    OrderModel,
    gcd_scale,
    make_window,
    scaled_bound,
    solve_model,
)
from modelopt_mlir.solver.order.peak import is_valid_order, peak_of_order, step_memory
from modelopt_mlir.solver.problem import IntervalProblem, ScheduleProblem
from modelopt_mlir.solver.work import Budget, as_budget
from modelopt_mlir.validate import check_plan

JOINT_MAX_UNITS = 40
JOINT_MAX_BUFFER_PAIRS = 1_500


def joint_fits(problem: ScheduleProblem) -> bool:
    live = sum(
        1 for users, size in zip(problem.users, problem.sizes, strict=True) if users and size
    )
    return problem.num_units <= JOINT_MAX_UNITS and live * (live - 1) // 2 <= JOINT_MAX_BUFFER_PAIRS


def joint_ilp(
    problem: ScheduleProblem, start: Sequence[int], time_limit: float | Budget
) -> IlpOrderResult:
    """MODeL's joint order + address ILP: minimise the arena, not just the peak.

    Offsets are in units of each buffer's alignment; buffers whose live windows can meet get a
    binary "both live" indicator per pair (>= live[a, s] + live[b, s] - 1 at every common step)
    and an above/below disjunction that binds only when it is 1. The warm start is ``start``
    with best-fit offsets; the result is never a larger arena than that.
    """
    budget = as_budget(time_limit)
    start = tuple(start)
    start_offsets = best_offsets(IntervalProblem(live_intervals(problem, start)))
    start_peak = peak_of_order(problem, start)
    upper = start_offsets.arena_size
    fallback = IlpOrderResult(
        start, start_peak, 0, "timeout", "ilp-joint", False, dict(start_offsets.offsets), upper
    )
    raw = list(problem.sizes)
    alignments = [problem.buffer_alignment(b) for b in range(len(raw))]
    scale = gcd_scale(raw + [a for a in alignments if a > 1])
    # Raw sizes: padding past a buffer's end may hold the next buffer, so padded peaks do not
    # bound the arena.
    window = make_window(problem, start, 0, problem.num_units, sizes=raw)
    model = OrderModel(window, scale, upper=max(upper, 1), lower=0, explicit_single=True)
    arena = model.model.add_variable("arena", 0, upper / scale)
    model.model.setObjective(arena)
    model.model += model.peak <= arena
    big = upper / scale
    slots: list[tuple[pulp.LpVariable, int]] = []
    for index, item in enumerate(window.buffers):
        step = alignments[item.buffer] // scale if alignments[item.buffer] > 1 else 1
        slot = model.model.add_variable(f"a_{index}", 0, big // step, "Integer")
        slots.append((slot, step))
        model.model += slot * step + item.size / scale <= arena
    pairs = []
    for i in range(len(window.buffers)):
        for j in range(i + 1, len(window.buffers)):
            common = set(model.live[i]) & set(model.live[j])
            if not common:
                continue
            both = model.model.add_variable(f"o_{i}_{j}", 0, 1, "Binary")
            below = model.model.add_variable(f"z_{i}_{j}", 0, 1, "Binary")
            for s in common:
                model.model += both >= model.live[i][s] + model.live[j][s] - 1
            (slot_i, step_i), (slot_j, step_j) = slots[i], slots[j]
            size_i, size_j = window.buffers[i].size / scale, window.buffers[j].size / scale
            slack = big * (1 - both)
            model.model += slot_i * step_i + size_i <= slot_j * step_j + big * (1 - below) + slack
            model.model += slot_j * step_j + size_j <= slot_i * step_i + big * below + slack
            pairs.append((i, j, both, below))

    model.set_start(window.start_order, peak_of_order_raw(problem, start), scale)
    arena.setInitialValue(upper / scale)
    position = {u: p for p, u in enumerate(start)}
    spans = {}
    for index, item in enumerate(window.buffers):
        steps = [position[window.units[u]] for u in item.users]
        spans[index] = (min(steps), max(steps))
        slot, step = slots[index]
        slot.setInitialValue(start_offsets.offsets[item.buffer] // (step * scale))
    for i, j, both, below in pairs:
        (first_i, last_i), (first_j, last_j) = spans[i], spans[j]
        both.setInitialValue(1 if first_i <= last_j and first_j <= last_i else 0)
        offset_i = start_offsets.offsets[window.buffers[i].buffer]
        offset_j = start_offsets.offsets[window.buffers[j].buffer]
        below.setInitialValue(1 if offset_i < offset_j else 0)
    solved = solve_model(model.model, budget, warm_start=True)
    if not solved.has_solution:
        return fallback
    order = tuple(window.units[u] for u in model.local_order(solved.values))
    offsets = {b: 0 for b, users in enumerate(problem.users) if users}
    for index, item in enumerate(window.buffers):
        slot, step = slots[index]
        offsets[item.buffer] = int(round(solved.values[slot.name])) * step * scale
    arena_size = max((offsets[b] + raw[b] for b in offsets), default=0)
    if (
        arena_size > upper
        or not is_valid_order(problem, order)
        or check_plan(problem, order, offsets, arena_size)
    ):
        return fallback
    arena_bound = scaled_bound(solved.bound, scale)
    status: IlpStatus = "optimal" if arena_bound >= arena_size else "timeout"
    return IlpOrderResult(
        order,
        peak_of_order(problem, order),
        0,
        status,
        "ilp-joint",
        arena_size < upper,
        offsets,
        arena_size,
    )


def peak_of_order_raw(problem: ScheduleProblem, order: Sequence[int]) -> int:
    return max(step_memory(problem, order, padded=False), default=0)
