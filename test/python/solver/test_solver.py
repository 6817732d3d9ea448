"""Order and offset heuristics: exact small cases and properties over random problems."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelopt_mlir.solver.arena_planner import plan_arena
from modelopt_mlir.solver.liveness import live_intervals, max_live
from modelopt_mlir.solver.offsets.heuristics import best_fit, best_offsets
from modelopt_mlir.solver.order.heuristics import memory_aware_list_schedule, program_order
from modelopt_mlir.solver.order.peak import peak_of_order
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem
from modelopt_mlir.validate import check_plan


def test_best_fit_by_size() -> None:
    # Largest first: 0 at 0; 3 (live later) reuses 0's bytes; 1 sits on 0; 2 on 3; 4, live
    # throughout, goes on top of everything.
    buffers = (
        IntervalBuffer(0, 0, 2, 96),
        IntervalBuffer(1, 0, 2, 48),
        IntervalBuffer(4, 0, 4, 16),
        IntervalBuffer(2, 2, 4, 40),
        IntervalBuffer(3, 2, 4, 90),
    )
    plan = best_fit(IntervalProblem(buffers))
    assert plan.arena_size == 160
    assert plan.offsets == {0: 0, 3: 0, 1: 96, 2: 90, 4: 144}


def test_memory_aware_schedule_finishes_chains() -> None:
    # Two chains: unit 0 makes buffer 0 (100 bytes) read by unit 2; unit 1 makes buffer 1
    # (100 bytes) read by unit 3. Program order holds both; the schedule does not.
    problem = ScheduleProblem(
        num_units=4, edges=((0, 2), (1, 3)), sizes=(100, 100), users=((0, 2), (1, 3))
    )
    assert program_order(problem).peak == 200
    plan = memory_aware_list_schedule(problem)
    assert plan.peak == 100
    assert plan.order == (0, 2, 1, 3)


@st.composite
def interval_problems(
    draw: st.DrawFn,
    max_count: int = 30,
    steps: int = 22,
    sizes: tuple[int, int] = (0, 300),
    alignments: tuple[int, ...] = (1, 8, 64),
) -> IntervalProblem:
    count = draw(st.integers(1, max_count))
    buffers = []
    for index in range(count):
        lower = draw(st.integers(0, steps - 2))
        upper = draw(st.integers(lower + 1, steps))
        size = draw(st.integers(*sizes))
        alignment = draw(st.sampled_from(alignments))
        buffers.append(IntervalBuffer(index, lower, upper, size, alignment))
    return IntervalProblem(tuple(buffers))


@given(interval_problems())
@settings(max_examples=150, deadline=None)
def test_offsets_never_overlap_and_respect_bound(problem: IntervalProblem) -> None:
    plan = best_offsets(problem)
    assert plan.arena_size >= max_live(problem.buffers)
    for a in problem.buffers:
        offset_a = plan.offsets[a.id]
        assert offset_a % a.alignment == 0
        for b in problem.buffers:
            if a.id < b.id and a.size and b.size and a.overlaps_in_time(b):
                offset_b = plan.offsets[b.id]
                assert offset_a + a.size <= offset_b or offset_b + b.size <= offset_a


@st.composite
def schedule_problems(draw: st.DrawFn) -> ScheduleProblem:
    units = draw(st.integers(1, 25))
    edges = set()
    for after in range(1, units):
        for before in draw(st.lists(st.integers(0, after - 1), max_size=3)):
            edges.add((before, after))
    buffer_count = draw(st.integers(0, 20))
    sizes = tuple(draw(st.integers(0, 500)) for _ in range(buffer_count))
    users = tuple(
        tuple(sorted(set(draw(st.lists(st.integers(0, units - 1), min_size=1, max_size=4)))))
        for _ in range(buffer_count)
    )
    alignment = tuple(draw(st.sampled_from([1, 64])) for _ in range(buffer_count))
    return ScheduleProblem(units, tuple(sorted(edges)), sizes, users, alignment)


@given(schedule_problems(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_plans_are_valid_and_bounded(problem: ScheduleProblem, reorder: bool) -> None:
    # A small time limit: the searches stop on counted work, so the plans do not depend on the
    # machine, and 150 examples at the default 10 s took a third of the suite.
    plan = plan_arena(problem, reorder=reorder, time_limit=0.5)
    assert check_plan(problem, plan.order, plan.offsets, plan.arena_size) == []
    assert plan.lower_bound == peak_of_order(problem, plan.order)
    assert plan.lower_bound <= plan.arena_size
    assert plan.lower_bound <= plan.program_order_peak
    if not reorder:
        assert plan.order == tuple(range(problem.num_units))
    assert max_live(live_intervals(problem, plan.order)) <= plan.arena_size
