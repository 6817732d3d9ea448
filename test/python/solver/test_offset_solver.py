"""The offset solver: exact small cases, tight instances solved at capacity, infeasible
capacities, problem files, and properties over random interval sets checked by the independent
validator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelopt_mlir.solver.errors import ProblemFileError
from modelopt_mlir.solver.generators import tight_instance
from modelopt_mlir.solver.liveness import max_live
from modelopt_mlir.solver.offsets import driver as offset_solver
from modelopt_mlir.solver.offsets import ilp as ilp_offsets
from modelopt_mlir.solver.offsets.arrays import IntervalArrays
from modelopt_mlir.solver.offsets.check import offsets_are_valid
from modelopt_mlir.solver.offsets.driver import OffsetResult, solve_offsets
from modelopt_mlir.solver.offsets.dsa_search import components, search_capacity
from modelopt_mlir.solver.offsets.heuristics import (
    SORT_KEYS,
    HeuristicResult,
    best_fit,
    run_heuristics,
)
from modelopt_mlir.solver.offsets.ilp import IlpResult, solve_ilp, stack_in_order
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem
from modelopt_mlir.solver.problem_files import format_problem, parse_problem
from modelopt_mlir.solver.work import Budget
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
    budget = Budget.for_seconds(10)
    assert search_capacity(arrays, 59, budget).status == "infeasible"
    found = search_capacity(arrays, 60, budget)
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
    heuristic = run_heuristics(arrays, Budget.for_seconds(1))[0]
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
    heuristic = run_heuristics(arrays, Budget.for_seconds(1))[0]
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


# Big-M numerics ----------------------------------------------------------------------------

# A 26-buffer window of GPT-2 small (64 B to 205 MB, all 64-aligned) that fits 612,737,600 B
# exactly. HiGHS, with its default tolerances and a big-M of ~6e8, once put a 4 KB buffer and
# two 64 B buffers at the same offset while live together and called the plan optimal.
GPT2_WINDOW = """id,lower,upper,size,alignment
0,1164,1166,154389504,64
1,1164,1169,205852672,64
2,1168,1178,204244448,64
3,1171,1201,8128,64
4,1173,1188,8128,64
5,1174,1212,4064,64
6,1178,1223,204244448,64
7,1177,1183,204244448,64
8,1181,1214,4064,64
9,1179,1182,4064,64
10,1183,1193,1016,64
11,1186,1190,4064,64
12,1191,1194,8,64
13,1194,1229,4,64
14,1193,1198,4,64
15,1199,1213,1016,64
16,1200,1205,8128,64
17,1202,1210,8128,64
18,1203,1208,8128,64
19,1205,1212,16256,64
20,1210,1214,204244448,64
21,1213,1219,204244448,64
22,1215,1218,4064,64
23,1220,1229,205852672,64
24,1224,1227,205852672,64
25,1227,1229,3145728,64
"""
GPT2_WINDOW_CAPACITY = 612_737_600  # its padded max live: the optimum

# Looser than HiGHS's defaults (under which the window above came back overlapping), so that
# the solver's values overlap for sure.
LOOSE_HIGHS = {
    "mip_feasibility_tolerance": 1e-4,
    "primal_feasibility_tolerance": 1e-5,
    "mip_rel_gap": 1e-4,
}


def assert_ilp_valid(
    problem: IntervalProblem, found: IlpResult, capacity: int | None = None
) -> None:
    """A plan from solve_ilp: valid by the independent validator, aligned, within the capacity,
    at least max live, and optimal only at its proven bound."""
    arrays = IntervalArrays.from_problem(problem)
    assert found.offsets is not None and found.arena is not None
    assert offsets_are_valid(arrays, found.offsets, capacity)
    offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
    assert violations(problem, offsets, found.arena) == []
    assert found.arena == int((found.offsets + arrays.size).max(initial=0))
    assert found.arena >= padded_live(problem)
    assert np.all(found.offsets % arrays.alignment == 0)
    if capacity is not None:
        assert found.arena <= capacity
    else:
        assert found.lower_bound <= found.arena
        if found.status == "optimal":
            assert found.arena == found.lower_bound


def test_gpt2_window_plans_do_not_overlap() -> None:
    problem = parse_problem(GPT2_WINDOW)
    arrays = IntervalArrays.from_problem(problem)
    assert padded_live(problem) == GPT2_WINDOW_CAPACITY
    capped = solve_ilp(arrays, 10, capacity=GPT2_WINDOW_CAPACITY)
    assert capped.status in ("optimal", "feasible")
    assert_ilp_valid(problem, capped, GPT2_WINDOW_CAPACITY)
    free = solve_ilp(arrays, 10)
    assert free.status in ("optimal", "feasible")
    assert_ilp_valid(problem, free)
    result = solve_offsets(problem, time_limit=5, capacity=GPT2_WINDOW_CAPACITY)
    assert_valid(problem, result)
    assert result.plan is not None and result.plan.arena_size <= GPT2_WINDOW_CAPACITY


def test_loose_tolerances_are_repaired_never_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    # With loose tolerances the solver's values overlap; the plan must come back rebuilt from
    # their order (valid, not called optimal above the bound) or not at all.
    monkeypatch.setattr(ilp_offsets, "highs_options", lambda magnitude: LOOSE_HIGHS)
    repairs: list[bool] = []
    repair = ilp_offsets.repair

    def counted(*args: object) -> np.ndarray | None:
        fixed = repair(*args)
        repairs.append(fixed is not None)
        return fixed

    monkeypatch.setattr(ilp_offsets, "repair", counted)
    problem = parse_problem(GPT2_WINDOW)
    arrays = IntervalArrays.from_problem(problem)
    free = solve_ilp(arrays, 10)
    assert free.status in ("optimal", "feasible")
    assert_ilp_valid(problem, free)
    capped = solve_ilp(arrays, 10, capacity=GPT2_WINDOW_CAPACITY)
    if capped.offsets is None:
        assert capped.status == "timeout"
    else:
        assert_ilp_valid(problem, capped, GPT2_WINDOW_CAPACITY)
    assert repairs  # the premise: the solver's own values did overlap


def test_stack_in_order_keeps_the_order_and_fixes_overlaps() -> None:
    problem = IntervalProblem(
        (
            IntervalBuffer(0, 0, 4, 100, 64),
            IntervalBuffer(1, 1, 3, 8, 1),
            IntervalBuffer(2, 2, 5, 64, 64),
            IntervalBuffer(3, 4, 6, 10, 1),
            IntervalBuffer(4, 0, 6, 0, 1),
        )
    )
    arrays = IntervalArrays.from_problem(problem)
    overlapping = np.array([0, 0, 0, 7, 0], dtype=np.int64)  # 0, 1 and 2 share address 0
    assert not offsets_are_valid(arrays, overlapping)
    stacked = stack_in_order(arrays, overlapping)
    assert offsets_are_valid(arrays, stacked)
    # Ties go by index: 0 at the bottom, 1 on it, 2 aligned above 1; 3 only meets 2 and sits
    # at its own offset's rank, above 2.
    assert stacked.tolist() == [0, 128, 192, 256, 0]


def test_offsets_are_valid_checks_alignment_and_capacity() -> None:
    problem = IntervalProblem((IntervalBuffer(0, 0, 2, 10, 64), IntervalBuffer(1, 1, 3, 5)))
    arrays = IntervalArrays.from_problem(problem)
    assert offsets_are_valid(arrays, np.array([0, 64]))
    assert not offsets_are_valid(arrays, np.array([32, 96]))  # 0 misaligned
    assert not offsets_are_valid(arrays, np.array([0, 63]))  # overlap of one byte
    assert not offsets_are_valid(arrays, np.array([0, 64]), capacity=68)
    assert offsets_are_valid(arrays, np.array([0, 64]), capacity=69)


def test_solver_rejects_an_invalid_ilp_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # Force the ILP phase, and have it return an overlapping plan it calls optimal: neither
    # the plan nor its bound may be used.
    problem = problem_of((0, 3, 2), (0, 1, 3), (2, 3, 3), (1, 2, 1), (1, 2, 2), (0, 3, 2))
    arrays = IntervalArrays.from_problem(problem)
    monkeypatch.setattr(offset_solver, "relocate_top", lambda arrays, best, budget=None: best)
    monkeypatch.setattr(
        offset_solver,
        "search_components",
        lambda arrays, best, bound, capacity, budget: (best, bound, False),
    )
    monkeypatch.setattr(offset_solver, "run_heuristics", _worst_heuristic)
    calls: list[int] = []

    def broken_ilp(*args: object, **kwargs: object) -> IlpResult:
        calls.append(1)
        zeros = np.zeros(len(arrays), dtype=np.int64)  # everything at 0, "proven" at 3
        return IlpResult("optimal", zeros, 3, 3, 0.0)

    monkeypatch.setattr(offset_solver, "solve_ilp", broken_ilp)
    result = solve_offsets(problem, time_limit=0.5)
    assert calls
    assert_valid(problem, result)
    assert result.algorithm != "ilp"
    assert result.lower_bound == padded_live(problem) == 7


def _worst_heuristic(
    arrays: IntervalArrays,
    budget: Budget | None = None,
    target: int | None = None,
    reserve: Budget | None = None,
) -> list[HeuristicResult]:
    """Every buffer stacked on the ones before it: valid and far above the optimum."""
    order = np.arange(len(arrays))
    offsets = np.concatenate([[0], np.cumsum(arrays.size)[:-1]]).astype(np.int64)
    arena = int(arrays.size.sum())
    return [HeuristicResult(offsets, arena, "stack", order)]


@st.composite
def huge_problems(draw: st.DrawFn, max_count: int = 8) -> IntervalProblem:
    """Sizes from a byte to a gigabyte side by side, alignments 1, 64 and 256."""
    count = draw(st.integers(1, max_count))
    horizon = draw(st.integers(1, 8))
    buffers = []
    for index in range(count):
        lower = draw(st.integers(0, horizon - 1))
        upper = draw(st.integers(lower + 1, horizon))
        size = draw(
            st.one_of(
                st.integers(1, 100),
                st.integers(10**8, 10**9),
                st.sampled_from([64, 4096, 10**9, 10**9 - 1, 2**29 + 3]),
            )
        )
        alignment = draw(st.sampled_from([1, 64, 256]))
        buffers.append(IntervalBuffer(index, lower, upper, size, alignment))
    return IntervalProblem(tuple(buffers))


@given(huge_problems(), st.integers(0, 2))
@example(  # HiGHS called the free model infeasible; the warm start stands
    IntervalProblem(
        (
            IntervalBuffer(0, 0, 1, 1, 1),
            IntervalBuffer(1, 0, 1, 1, 1),
            IntervalBuffer(2, 0, 1, 1, 1),
            IntervalBuffer(3, 0, 1, 999_999_999, 1),
        )
    ),
    0,
)
@settings(max_examples=50, deadline=None)
def test_huge_and_tiny_sizes_give_valid_plans(problem: IntervalProblem, slack: int) -> None:
    arrays = IntervalArrays.from_problem(problem)
    heuristic = run_heuristics(arrays, Budget.for_seconds(0.1))[0]
    free = solve_ilp(arrays, 1, warm_offsets=heuristic.offsets)
    assert free.status in ("optimal", "feasible")
    assert_ilp_valid(problem, free)
    assert free.arena is not None and free.arena <= heuristic.arena
    # At the arena found (plus a little) a plan exists: never "infeasible".
    capped = solve_ilp(arrays, 1, capacity=free.arena + slack)
    assert capped.status != "infeasible"
    if capped.offsets is not None:
        assert_ilp_valid(problem, capped, free.arena + slack)
    # At max live there may be none.
    live = padded_live(problem)
    result = solve_offsets(problem, time_limit=0.2, capacity=live)
    if result.plan is not None:
        assert_valid(problem, result)
        assert result.plan.arena_size <= live
    else:
        assert result.status in ("infeasible", "timeout")
        # An infeasibility claim at max live is wrong if the ILP found an arena that small.
        assert result.status == "timeout" or free.arena > live
    result = solve_offsets(problem, time_limit=0.2)
    assert_valid(problem, result)
    assert result.plan is not None and result.plan.arena_size <= heuristic.arena


def test_huge_numbers_prove_nothing_false() -> None:
    # Sizes near 1e9 in units of one byte: HiGHS called the capacity 1,452,798,432 infeasible
    # although best-fit reaches it; its proofs are not believed at this magnitude.
    problem = IntervalProblem(
        (
            IntervalBuffer(0, 2, 3, 100, 1),
            IntervalBuffer(1, 2, 3, 536870915, 64),
            IntervalBuffer(2, 0, 2, 999999999, 1),
            IntervalBuffer(3, 0, 1, 452798368, 1),
            IntervalBuffer(4, 0, 2, 54, 64),
            IntervalBuffer(5, 1, 2, 99, 1),
        )
    )
    arrays = IntervalArrays.from_problem(problem)
    assert padded_live(problem) == 1_452_798_431
    for capacity in (1_452_798_431, 1_452_798_432):
        capped = solve_ilp(arrays, 2, capacity=capacity)
        assert capped.status != "infeasible"
        if capped.offsets is not None:
            assert_ilp_valid(problem, capped, capacity)
    free = solve_ilp(arrays, 2)
    assert_ilp_valid(problem, free)
    assert free.lower_bound == 0  # nothing proven at this magnitude
    result = solve_offsets(problem, time_limit=1, capacity=1_452_798_432)
    assert_valid(problem, result)


def test_steps_and_ids_beyond_int64_are_refused_not_overflowed() -> None:
    from modelopt_mlir.solver.offsets.arrays import ArenaOverflowError

    for buffer in (IntervalBuffer(0, 0, 2**63, 8, 1), IntervalBuffer(2**64, 0, 1, 8, 1)):
        with pytest.raises(ArenaOverflowError, match="does not fit a signed 64-bit integer"):
            solve_offsets(IntervalProblem((buffer, IntervalBuffer(1, 0, 1, 8, 1))), 0.2)


def test_an_empty_live_interval_is_refused_by_name() -> None:
    problem = IntervalProblem((IntervalBuffer(7, 3, 3, 64, 1), IntervalBuffer(8, 0, 2, 64, 1)))
    with pytest.raises(ValueError, match="buffer 7: lower 3 >= upper 3"):
        solve_offsets(problem, time_limit=0.1)


def test_a_feasible_capacity_is_never_called_infeasible() -> None:
    # HiGHS called this capacity (max live, reached by best-fit) infeasible.
    problem = IntervalProblem(
        (
            IntervalBuffer(0, 0, 1, 152195265, 64),
            IntervalBuffer(1, 0, 2, 1, 64),
            IntervalBuffer(2, 0, 1, 149845761, 256),
            IntervalBuffer(3, 0, 1, 1, 64),
        )
    )
    arrays = IntervalArrays.from_problem(problem)
    capped = solve_ilp(arrays, 1, capacity=padded_live(problem))
    assert capped.status in ("optimal", "feasible")
    assert_ilp_valid(problem, capped, padded_live(problem))
