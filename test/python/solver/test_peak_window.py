"""The peak-first offsets: max live bytes where every best-fit order misses it, plans checked by
the independent validator on training-like and random interval sets, best-fit around fixed
buffers, and the planner reaching max live through it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_offset_solver import violations

from modelopt_mlir.solver.arena_planner import plan_arena
from modelopt_mlir.solver.offsets.arrays import IntervalArrays, padded_max_live
from modelopt_mlir.solver.offsets.heuristics import best_fit_order, run_heuristics
from modelopt_mlir.solver.offsets.peak_window import peak_window_offsets
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem
from modelopt_mlir.solver.work import Budget

# A small training step: activations saved in forward and freed in backward in reverse order,
# short temporaries, and four large short-lived buffers around the loss (steps 12-17). Every
# best-fit order leaves gaps in the peak step and ends 20% above max live.
TRAINING_STEP = (
    (0, 2, 1024), (1, 2, 1024), (2, 3, 1024), (3, 4, 4096), (4, 6, 1024), (5, 7, 1024),
    (6, 7, 4096), (7, 9, 64), (8, 9, 64), (9, 10, 64), (10, 11, 4096), (11, 12, 4096),
    (13, 17, 16384), (14, 17, 16448), (12, 13, 16448), (12, 14, 12288), (0, 37, 2048),
    (1, 34, 8192), (2, 35, 256), (3, 34, 192), (4, 31, 8192), (5, 32, 192), (6, 31, 768),
    (7, 30, 256), (8, 29, 3072), (9, 26, 1024), (10, 25, 3072), (11, 25, 512),
)  # fmt: skip


def interval_problem(
    triples: tuple[tuple[int, int, int], ...], alignment: int = 64
) -> IntervalProblem:
    return IntervalProblem(
        tuple(
            IntervalBuffer(i, lo, hi, size, alignment) for i, (lo, hi, size) in enumerate(triples)
        )
    )


def training_like(seed: int, layers: int = 4) -> IntervalProblem:
    """Nested activations around a loss region of large short-lived temporaries."""
    rng = np.random.default_rng(seed)
    triples: list[tuple[int, int, int]] = []
    saved: list[tuple[int, int]] = []
    step = 0
    for _ in range(3 * layers):
        saved.append((step, int(rng.choice([64, 256, 1024, 4096])) * int(rng.integers(1, 4))))
        triples.append((step, step + int(rng.integers(1, 3)), int(rng.choice([64, 1024, 4096]))))
        step += 1
    loss = step
    for _ in range(int(rng.integers(3, 6))):
        lo = step + int(rng.integers(0, 4))
        triples.append((lo, lo + int(rng.integers(1, 5)), int(rng.choice([16384, 16448, 12288]))))
    end = 2 * (step + 6)
    for lo, size in saved:
        triples.append((lo, max(end - lo + int(rng.integers(-1, 2)), loss + 6), size))
    return interval_problem(tuple(triples))


def test_peak_first_reaches_max_live_where_best_fit_misses() -> None:
    problem = interval_problem(TRAINING_STEP)
    arrays = IntervalArrays.from_problem(problem)
    bound = padded_max_live(arrays)
    best_fit = run_heuristics(arrays, Budget.for_seconds(10), target=bound)
    assert min(r.arena for r in best_fit) > bound
    plan = peak_window_offsets(problem, time_limit=5.0)
    assert plan is not None
    assert plan.arena_size == bound
    assert plan.algorithm.startswith("peak-window")
    assert violations(problem, plan.offsets, plan.arena_size) == []


def test_training_like_plans_are_valid() -> None:
    for seed in range(40):
        problem = training_like(seed)
        plan = peak_window_offsets(problem, time_limit=2.0)
        assert plan is not None
        assert violations(problem, plan.offsets, plan.arena_size) == []
        assert plan.arena_size >= padded_max_live(IntervalArrays.from_problem(problem))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 12), st.integers(0, 5000)),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([1, 8, 64]),
)
def test_random_plans_are_valid(raw: list[tuple[int, int, int]], alignment: int) -> None:
    problem = interval_problem(tuple((lo, lo + life, size) for lo, life, size in raw), alignment)
    plan = peak_window_offsets(problem, time_limit=1.0)
    arrays = IntervalArrays.from_problem(problem)
    if not (arrays.size > 0).any():
        assert plan is None
        return
    assert plan is not None
    assert violations(problem, plan.offsets, plan.arena_size) == []
    assert all(plan.offsets[b.id] % alignment == 0 for b in problem.buffers)
    assert plan.arena_size >= padded_max_live(arrays)


def test_best_fit_around_fixed_buffers() -> None:
    problem = interval_problem(((0, 4, 64), (1, 3, 64), (0, 2, 64), (2, 4, 128)), alignment=1)
    arrays = IntervalArrays.from_problem(problem)
    fixed = np.array([0], dtype=np.int64)
    offsets, arena = best_fit_order(
        arrays, np.array([1, 2, 3], dtype=np.int64), fixed, np.array([64], dtype=np.int64)
    )
    assert offsets[0] == 64  # stays where it was put
    assert offsets[1] == 0  # below the fixed buffer
    assert offsets[2] == 128  # buffer 1 fills the space below, so on top
    assert offsets[3] == 128
    assert arena == 256
    # Lowest fit takes the lowest gap that fits, best fit the tightest.
    gaps = interval_problem(((0, 2, 100), (0, 2, 10), (0, 2, 50), (1, 2, 10)), alignment=1)
    arrays = IntervalArrays.from_problem(gaps)
    fixed = np.array([0, 1, 2], dtype=np.int64)
    at = np.array([20, 130, 200], dtype=np.int64)  # gaps [0, 20), [120, 130), [140, 200)
    order = np.array([3], dtype=np.int64)
    assert best_fit_order(arrays, order, fixed, at)[0][3] == 120
    assert best_fit_order(arrays, order, fixed, at, lowest=True)[0][3] == 0


def test_planner_reaches_max_live_of_a_training_step() -> None:
    """One unit per step, each buffer used at its first and last live step: program order is
    the only order, and the planner packs it in max live bytes."""
    problem = interval_problem(TRAINING_STEP)
    steps = max(b.upper for b in problem.buffers)
    chain = tuple((u, u + 1) for u in range(steps - 1))
    schedule = ScheduleProblem(
        num_units=steps,
        edges=chain,
        sizes=tuple(b.size for b in problem.buffers),
        users=tuple((b.lower, b.upper - 1) for b in problem.buffers),
        alignment=tuple(b.alignment for b in problem.buffers),
    )
    plan = plan_arena(schedule, solver="auto", time_limit=5.0)
    assert plan.arena_size == plan.lower_bound == plan.program_order_peak
    assert plan.status == "optimal"
