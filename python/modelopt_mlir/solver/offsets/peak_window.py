"""Offsets built around the most loaded step: an arena of max live bytes for sharp peaks.

Best-fit places a buffer over its whole lifetime at once, so the buffers live at the peak step
(the loss of a training step: activations kept for backward plus a few huge logits-sized
temporaries) end up with gaps between them, and the small long-lived ones placed last find no
gap that stays free from forward to backward. Here the peak is built first:

1. the window: the run of time sections around the most loaded one whose load is within
   ``delta`` of the peak (several deltas are tried, the smallest window first);
2. buffers live over the whole window are stacked at the bottom without gaps, the earliest
   started first: activations are freed in the reverse order they were made, so the stack
   unwinds from the top on both sides of the window;
3. the buffers that start or end inside the window are packed above the stack, within the
   peak, on their lifetimes clipped to the window (best-fit, the ILP, the offset solver).
   Clipping loses no conflict: two intervals that both meet the window and overlap, overlap
   inside it;
4. everything else lives entirely before or after the window and is placed by best-fit around
   the buffers already fixed: two orders per window first, the other orders once every window
   had its turn.

The first plan whose arena is the max live bytes ends the search; otherwise the best is kept.
Only the window around the first most loaded step is built; a second peak elsewhere is left to
best-fit.
"""

from __future__ import annotations

import math

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays, lexsort, load_profile
from modelopt_mlir.solver.offsets.heuristics import best_fit_order, placement_orders, run_heuristics
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, OffsetPlan, align_up
from modelopt_mlir.solver.work import Budget, as_budget, best_fit_estimate

# Window widths tried, as multiples of the largest buffer: sections with at least that much
# free space can take any single buffer, so the window holds the sections where that fails.
DELTA_FACTORS = (0.0, 0.5, 1.0, 2.0, 4.0)
MAX_WINDOW_BUFFERS = 400  # buffers crossing into the window; beyond that the solver rarely closes
WINDOW_SOLVE_SHARE = 0.8  # of the work left per window, for packing its inner buffers
FIRST_OUTSIDE_ORDERS = 2  # best-fit orders tried around each window before the next window


def _windows(
    times: np.ndarray, profile: np.ndarray, peak: int, largest: int
) -> list[tuple[int, int]]:
    """Distinct windows (first step, end step) around the first most loaded section."""
    top = int(np.argmax(profile))
    windows: list[tuple[int, int]] = []
    for factor in DELTA_FACTORS:
        level = peak - int(factor * largest)
        first = top
        while first > 0 and profile[first - 1] >= level:
            first -= 1
        last = top
        while last + 1 < len(profile) and profile[last + 1] >= level:
            last += 1
        window = (int(times[first]), int(times[last + 1]))
        if window not in windows:
            windows.append(window)
    return windows


def _stack(arrays: IntervalArrays, members: np.ndarray, base: int = 0) -> tuple[np.ndarray, int]:
    """Offsets stacking ``members`` from ``base`` in the given order, each aligned; and the top."""
    offsets = np.zeros(len(members), dtype=np.int64)
    top = base
    for k, i in enumerate(members.tolist()):
        offsets[k] = align_up(top, int(arrays.alignment[i]))
        top = int(offsets[k] + arrays.size[i])
    return offsets, top


def _pack_window(
    arrays: IntervalArrays,
    inner: np.ndarray,
    window: tuple[int, int],
    capacity: int,
    budget: Budget,
) -> np.ndarray | None:
    """Offsets (from 0) of ``inner`` on lifetimes clipped to ``window``, within ``capacity``:
    best-fit, then (few overlapping pairs) the ILP, then the offset solver with what is left."""
    if inner.size == 0:
        return np.zeros(0, dtype=np.int64)
    from modelopt_mlir.solver.offsets.check import count_overlapping_pairs
    from modelopt_mlir.solver.offsets.driver import ILP_MAX_PAIRS, solve_offsets
    from modelopt_mlir.solver.offsets.ilp import solve_ilp

    w0, w1 = window
    clipped = IntervalProblem(
        tuple(
            IntervalBuffer(
                k,
                max(int(arrays.lower[i]), w0),
                min(int(arrays.upper[i]), w1),
                int(arrays.raw_size[i]),
                int(arrays.alignment[i]),
            )
            for k, i in enumerate(inner.tolist())
        )
    )
    window_arrays = IntervalArrays.from_problem(clipped)
    solved: np.ndarray | None = None
    first = run_heuristics(window_arrays, budget, target=capacity)[0]
    if first.arena <= capacity:
        return first.offsets
    if count_overlapping_pairs(window_arrays) <= ILP_MAX_PAIRS:
        # The window is small: an exact model usually settles it at once, where the search
        # can spend its time raising floors in steps of the smallest buffer.
        ilp = solve_ilp(window_arrays, budget, capacity=capacity)
        if ilp.offsets is not None and ilp.arena is not None and ilp.arena <= capacity:
            solved = ilp.offsets
        elif ilp.status == "infeasible":
            return None
    if solved is None and not budget.exhausted():
        found = solve_offsets(clipped, time_limit=budget, capacity=capacity)
        if found.plan is not None and found.plan.arena_size <= capacity:
            solved = np.array([found.plan.offsets[k] for k in range(len(inner))], dtype=np.int64)
    if solved is None:
        return None
    # Rebuild the plan bottom-up in the order of the solved offsets, each buffer in the lowest
    # gap that fits: no higher than the solver put it when its plan is valid, and valid even
    # where it is not (the big-M of an ILP can let buffers overlap by a few bytes when sizes
    # span many orders of magnitude).
    by_offset = lexsort(solved, -window_arrays.size, window_arrays.ids)
    offsets, arena = best_fit_order(window_arrays, by_offset, lowest=True)
    return offsets if arena <= capacity else None


def peak_window_offsets(problem: IntervalProblem, time_limit: float | Budget) -> OffsetPlan | None:
    """The smallest arena found by building the peak first (see the module docstring), or
    None when no window could be packed within the peak with the work ``time_limit`` buys
    (seconds or a :class:`Budget`). Stops at the first plan of max live bytes."""
    budget = as_budget(time_limit)
    arrays = IntervalArrays.from_problem(problem)
    sized = arrays.size > 0
    if not sized.any():
        return None
    live = arrays.take(np.flatnonzero(sized))
    times = np.unique(np.concatenate([live.lower, live.upper]))
    profile = load_profile(live)  # per section between consecutive times
    peak = int(profile.max())
    largest = int(arrays.size.max())
    outside_orders = list(placement_orders(arrays).items())
    outside_orders.append(("lower", lexsort(arrays.lower, -arrays.upper, arrays.ids)))

    best: tuple[int, np.ndarray, str] | None = None
    # Packed windows: (window, fixed buffers, their offsets, the buffers left to place).
    packed_windows: list[tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]] = []
    windows = _windows(times, profile, peak, largest)
    for position, window in enumerate(windows):
        if budget.exhausted():
            break
        w0, w1 = window
        touches = sized & (arrays.lower < w1) & (arrays.upper > w0)
        spans = touches & (arrays.lower <= w0) & (arrays.upper >= w1)
        inner = np.flatnonzero(touches & ~spans)
        if inner.size > MAX_WINDOW_BUFFERS:
            break  # the windows only grow from here
        full = np.flatnonzero(spans)
        full = full[lexsort(arrays.lower[full], -arrays.upper[full], arrays.ids[full])]
        stack_offsets, stack_top = _stack(arrays, full)
        if inner.size:
            alignments = [int(a) for a in np.unique(arrays.alignment[inner])]
            stack_top = align_up(stack_top, math.lcm(*alignments))
        capacity = peak - stack_top
        if capacity < 0:
            continue
        share = budget.share(WINDOW_SOLVE_SHARE / (len(windows) - position))
        packed = _pack_window(arrays, inner, window, capacity, share)
        if packed is not None:
            fixed = np.concatenate([full, inner])
            fixed_offsets = np.concatenate([stack_offsets, packed + stack_top])
            packed_windows.append((window, fixed, fixed_offsets, sized & ~touches))
            # The first outside orders now, the others once every window had its turn.
            best = _place_outside(
                arrays,
                packed_windows[-1:],
                outside_orders[:FIRST_OUTSIDE_ORDERS],
                peak,
                budget,
                best,
            )
            if best[0] <= peak:
                break
    if packed_windows and (best is None or best[0] > peak):
        best = _place_outside(
            arrays, packed_windows, outside_orders[FIRST_OUTSIDE_ORDERS:], peak, budget, best
        )
    if best is None:
        return None
    return arrays.plan(best[1], best[2])


def _place_outside(
    arrays: IntervalArrays,
    packed_windows: list[tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]],
    orders: list[tuple[str, np.ndarray]],
    peak: int,
    budget: Budget,
    best: tuple[int, np.ndarray, str] | None,
) -> tuple[int, np.ndarray, str]:
    """Best-fit the buffers outside each packed window, in each order (the first always runs),
    around the fixed ones; the best plan so far (arena, offsets, name). Stops at ``peak``."""
    cost = best_fit_estimate(len(arrays))
    for (w0, w1), fixed, fixed_offsets, rest in packed_windows:
        for name, order in orders:
            if best is not None and (best[0] <= peak or not budget.affords(cost)):
                return best
            offsets, arena = best_fit_order(
                arrays, order[rest[order]], fixed, fixed_offsets, budget=budget
            )
            if best is None or arena < best[0]:
                best = (arena, offsets, f"peak-window({w1 - w0} steps)+best-fit-{name}")
    assert best is not None
    return best
