"""The offset solver: exact small cases, tight instances solved at capacity, infeasible
capacities, problem files, and properties over random interval sets checked by the independent
validator."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelopt_mlir.solver.dsa_search import components, search_capacity
from modelopt_mlir.solver.ilp_offsets import solve_ilp
from modelopt_mlir.solver.instances import (
    ProblemFileError,
    format_problem,
    parse_problem,
    tight_instance,
)
from modelopt_mlir.solver.liveness import max_live
from modelopt_mlir.solver.offset_solver import OffsetResult, solve_offsets
from modelopt_mlir.solver.offsets import SORT_KEYS, IntervalArrays, best_fit, run_heuristics
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem
from modelopt_mlir.validate import check_plan


def violations(problem: IntervalProblem, offsets: dict[int, int], arena: int) -> list[str]:
    """The independent validator, on the interval problem seen as a schedule: one unit per
    step, each buffer used at its first and last live step."""
    steps = max((b.upper for b in problem.buffers), default=0)
    schedule = ScheduleProblem(
        num_units=steps,
        edges=(),
        sizes=tuple(b.size for b in problem.buffers),
        users=tuple((b.lower, b.upper - 1) for b in problem.buffers),
        alignment=tuple(b.alignment for b in problem.buffers),
    )
    by_index = {index: offsets[b.id] for index, b in enumerate(problem.buffers)}
    found = check_plan(schedule, tuple(range(steps)), by_index, arena)
    return [v.message for v in found]


def padded_live(problem: IntervalProblem) -> int:
    return max_live(
        [
            IntervalBuffer(b.id, b.lower, b.upper, -(-b.size // b.alignment) * b.alignment)
            for b in problem.buffers
        ]
    )


def assert_valid(problem: IntervalProblem, result: OffsetResult) -> None:
    assert result.plan is not None
    plan = result.plan
    assert violations(problem, plan.offsets, plan.arena_size) == []
    assert result.lower_bound <= plan.arena_size
    assert result.lower_bound >= padded_live(problem)
    if result.status == "optimal":
        assert plan.arena_size == result.lower_bound


def problem_of(*rows: tuple[int, int, int]) -> IntervalProblem:
    return IntervalProblem(
        tuple(IntervalBuffer(i, lo, hi, s) for i, (lo, hi, s) in enumerate(rows))
    )


# Exact small cases -------------------------------------------------------------------------


def test_overlapping_buffers_stack_and_disjoint_ones_share() -> None:
    result = solve_offsets(problem_of((0, 2, 100), (1, 3, 50), (3, 5, 120)), time_limit=5)
    assert result.status == "optimal"
    assert result.plan is not None
    assert result.plan.arena_size == 150
    assert result.lower_bound == 150
    assert result.gap == 0.0


def test_alignment_pads_and_aligns() -> None:
    problem = IntervalProblem(
        (
            IntervalBuffer(0, 0, 2, 10, 64),
            IntervalBuffer(1, 0, 2, 10, 64),
            IntervalBuffer(2, 2, 3, 5),
        )
    )
    result = solve_offsets(problem, time_limit=5)
    assert result.plan is not None
    assert result.lower_bound == 128
    assert result.plan.arena_size == 128
    assert sorted([result.plan.offsets[0], result.plan.offsets[1]]) == [0, 64]
    assert_valid(problem, result)


def test_best_fit_order_matters_and_solver_fixes_it() -> None:
    # Best-fit by size puts the two 3-byte buffers at 0 and the 2-byte ones on top of them;
    # the optimum needs the long 2-byte buffer at the bottom.
    problem = problem_of((0, 3, 2), (0, 1, 3), (2, 3, 3), (1, 2, 1), (1, 2, 2))
    assert padded_live(problem) == 5
    result = solve_offsets(problem, time_limit=5)
    assert result.plan is not None
    assert result.plan.arena_size == 5
    assert result.status == "optimal"
    assert_valid(problem, result)


def test_empty_and_zero_sized() -> None:
    result = solve_offsets(IntervalProblem(()), time_limit=1)
    assert result.plan is not None and result.plan.arena_size == 0
    result = solve_offsets(problem_of((0, 1, 0), (0, 1, 8)), time_limit=1)
    assert result.plan is not None and result.plan.arena_size == 8


def test_components_split_where_no_buffer_crosses() -> None:
    problem = problem_of((0, 2, 1), (1, 3, 1), (3, 4, 1), (4, 6, 1), (5, 6, 1))
    parts = components(IntervalArrays.from_problem(problem))
    assert sorted(sorted(p.tolist()) for p in parts) == [[0, 1], [2], [3, 4]]


# Tight instances ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tight_instances_solve_at_capacity(seed: int) -> None:
    problem = tight_instance(width=200, horizon=30, count=40, seed=seed)
    assert padded_live(problem) == 200
    result = solve_offsets(problem, time_limit=20, capacity=200)
    assert result.status == "optimal"
    assert result.plan is not None and result.plan.arena_size == 200
    assert_valid(problem, result)


def test_tight_instance_beats_greedy() -> None:
    problem = tight_instance(width=1000, horizon=100, count=60, seed=3)
    greedy = min(best_fit(problem, key).arena_size for key in SORT_KEYS)
    assert greedy > 1000
    result = solve_offsets(problem, time_limit=20)
    assert result.plan is not None and result.plan.arena_size == 1000
    assert result.status == "optimal"


def test_capacity_below_max_live_is_infeasible() -> None:
    problem = tight_instance(width=100, horizon=10, count=12, seed=1)
    result = solve_offsets(problem, time_limit=5, capacity=99)
    assert result.status == "infeasible"
    assert result.plan is None
    assert result.lower_bound == 100
    assert result.gap == float("inf")


def test_search_proves_infeasible_without_the_bound_check() -> None:
    problem = tight_instance(width=60, horizon=8, count=14, seed=4)
    arrays = IntervalArrays.from_problem(problem)
    deadline = time.perf_counter() + 10
    assert search_capacity(arrays, 59, deadline).status == "infeasible"
    found = search_capacity(arrays, 60, deadline)
    assert found.status == "found" and found.offsets is not None
    offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
    assert violations(problem, offsets, 60) == []


def test_capacity_stops_at_first_fit() -> None:
    problem = problem_of((0, 2, 100), (1, 3, 50))
    result = solve_offsets(problem, time_limit=5, capacity=1000)
    assert result.plan is not None and result.plan.arena_size <= 1000
    assert result.status in ("optimal", "feasible")


def test_ilp_minimises_and_decides() -> None:
    problem = problem_of(
        (0, 3, 2), (0, 1, 3), (2, 3, 3), (1, 2, 1), (1, 2, 2), (0, 3, 2), (0, 3, 2)
    )
    arrays = IntervalArrays.from_problem(problem)
    heuristic = run_heuristics(arrays, time.perf_counter() + 1)[0]
    found = solve_ilp(arrays, 10, warm_offsets=heuristic.offsets)
    assert found.status == "optimal" and found.arena == 9 and found.offsets is not None
    offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
    assert violations(problem, offsets, 9) == []
    assert solve_ilp(arrays, 10, capacity=8).status == "infeasible"


# Problem files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,lower,size\n0,0,4\n", "IN.csv:1: missing column upper"),
        ("id,lower,upper,size\n0,0,2,4\n1,0,2,-5\n", "IN.csv:3: size must be >= 0, got -5"),
        ("id,lower,upper,size\n0,3,3,4\n", "IN.csv:2: lower must be < upper"),
        ("id,lower,upper,size\n0,0,2,4.5\n", "IN.csv:2: size must be an integer, got '4.5'"),
        ("id,lower,upper,size\n0,0,2\n", "IN.csv:2: expected 4 values"),
        ("id,lower,upper,size\n\n0,0,2,1\n0,1,2,1\n", "IN.csv:4: duplicate id 0 (first on line 3)"),
        ("id,lower,upper,size,alignment\n0,0,2,1,0\n", "IN.csv:2: alignment must be >= 1"),
        ("", "IN.csv:1: empty file"),
    ],
)
def test_problem_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ProblemFileError) as error:
        parse_problem(text, "IN.csv")
    assert str(error.value).startswith(message)


def test_problem_file_round_trip_and_offset_column() -> None:
    problem = IntervalProblem((IntervalBuffer(3, 0, 2, 10, 64), IntervalBuffer(7, 1, 4, 5)))
    assert parse_problem(format_problem(problem)) == problem
    with_offsets = parse_problem("id,lower,upper,size,offset\n0,0,4,49152,0\n1,0,3,8,49152\n")
    assert with_offsets.buffers == (IntervalBuffer(0, 0, 4, 49152), IntervalBuffer(1, 0, 3, 8))


# Properties --------------------------------------------------------------------------------


@st.composite
def interval_problems(draw: st.DrawFn, max_count: int = 25) -> IntervalProblem:
    count = draw(st.integers(0, max_count))
    horizon = draw(st.integers(1, 16))
    buffers = []
    for index in range(count):
        lower = draw(st.integers(0, horizon - 1))
        upper = draw(st.integers(lower + 1, horizon))
        size = draw(st.one_of(st.integers(0, 40), st.sampled_from([64, 100, 128, 256])))
        alignment = draw(st.sampled_from([1, 1, 1, 8, 64]))
        buffers.append(IntervalBuffer(index * 3 + 1, lower, upper, size, alignment))
    return IntervalProblem(tuple(buffers))


@given(interval_problems())
@settings(max_examples=150, deadline=None)
def test_solver_plans_are_valid_bounded_and_beat_every_heuristic(problem: IntervalProblem) -> None:
    result = solve_offsets(problem, time_limit=0.3)
    assert_valid(problem, result)
    assert result.status in ("optimal", "feasible")
    assert result.seconds < 0.3 * 1.1 + 1.0
    assert result.plan is not None
    for key in SORT_KEYS:
        assert result.plan.arena_size <= best_fit(problem, key).arena_size


@given(interval_problems(max_count=14), st.integers(0, 3))
@settings(max_examples=100, deadline=None)
def test_capacity_answers_are_consistent(problem: IntervalProblem, extra: int) -> None:
    free = solve_offsets(problem, time_limit=0.3)
    assert free.plan is not None
    capacity = free.lower_bound + extra
    capped = solve_offsets(problem, time_limit=0.5, capacity=capacity)
    if capped.plan is not None:
        assert capped.plan.arena_size <= capacity
        assert_valid(problem, capped)
    else:
        assert capped.status in ("infeasible", "timeout")
    if capped.status == "infeasible":  # a proof: no plan fits, so the free one cannot either
        assert free.plan.arena_size > capacity
        assert capped.lower_bound > capacity


@given(interval_problems(max_count=9))
@settings(max_examples=60, deadline=None)
def test_ilp_is_never_worse_than_the_best_heuristic(problem: IntervalProblem) -> None:
    arrays = IntervalArrays.from_problem(problem)
    heuristic = run_heuristics(arrays, time.perf_counter() + 1)[0]
    found = solve_ilp(arrays, 5, warm_offsets=heuristic.offsets)
    assert found.offsets is not None and found.arena is not None
    assert found.arena <= heuristic.arena
    offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
    assert violations(problem, offsets, found.arena) == []


@given(st.integers(2, 60), st.integers(1, 12), st.integers(1, 24), st.integers(0, 10**6))
@settings(max_examples=60, deadline=None)
def test_tight_random_instances_tile_and_solve(
    width: int, horizon: int, count: int, seed: int
) -> None:
    count = min(count, width * horizon)
    problem = tight_instance(width, horizon, count, seed)
    assert len(problem.buffers) == count
    assert problem.capacity == width
    assert padded_live(problem) == width
    result = solve_offsets(problem, time_limit=5)
    assert result.plan is not None and result.plan.arena_size == width
    assert_valid(problem, result)
    assert result.status == "optimal"


def test_arrays_keep_problem_order() -> None:
    problem = problem_of((0, 1, 3), (0, 1, 5))
    arrays = IntervalArrays.from_problem(problem)
    assert np.array_equal(arrays.size, [3, 5])
