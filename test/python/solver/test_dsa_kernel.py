"""The compiled offsets search against the pure-Python reference: on small random interval sets
both must agree on whether a capacity fits, and every plan found must pass the independent
validator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_offset_solver import padded_live, violations
from test_solver import interval_problems

from modelopt_mlir.solver.generators import tight_instance
from modelopt_mlir.solver.offsets.arrays import IntervalArrays
from modelopt_mlir.solver.offsets.dsa_search import search_capacity
from modelopt_mlir.solver.problem import IntervalProblem
from modelopt_mlir.solver.work import Budget


def _check(problem: IntervalProblem, capacity: int) -> str:
    arrays = IntervalArrays.from_problem(problem)
    budget = Budget.for_seconds(60)
    compiled = search_capacity(arrays, capacity, budget, compiled=True, guillotine=False)
    reference = search_capacity(arrays, capacity, budget, compiled=False, guillotine=False)
    assert compiled.status == reference.status, (compiled.status, reference.status)
    for found in (compiled, reference):
        if found.status == "found":
            assert found.offsets is not None
            offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
            assert violations(problem, offsets, capacity) == []
    return compiled.status


@settings(max_examples=150, deadline=None)
@given(
    interval_problems(max_count=9, steps=8, sizes=(1, 12), alignments=(1, 1, 2, 4)),
    st.integers(0, 6),
)
def test_compiled_search_agrees_with_reference(problem: IntervalProblem, extra: int) -> None:
    live = padded_live(problem)
    status = _check(problem, live + extra)
    if extra == 0:
        # Below max live nothing fits; the search itself must prove it (no bound check).
        assert _check(problem, live - 1) == "infeasible"
    assert status in ("found", "infeasible")


def test_compiled_search_solves_tight_instances_at_capacity() -> None:
    solved = 0
    for seed in range(4):
        problem = tight_instance(1000, 100, 100 + 15 * seed, seed)
        arrays = IntervalArrays.from_problem(problem)
        found = search_capacity(arrays, 1000, Budget.for_seconds(30), guillotine=False)
        assert found.status in ("found", "limit")
        if found.status == "found":
            assert found.offsets is not None
            offsets = dict(zip(arrays.ids.tolist(), found.offsets.tolist(), strict=True))
            assert violations(problem, offsets, 1000) == []
            solved += 1
    assert solved >= 3
