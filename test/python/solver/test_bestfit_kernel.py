"""The compiled best-fit pass (solver/offsets/bestfit_kernel.py) places every buffer where the numpy
pass (the reference) does and counts the same work, so budgets and results do not depend on
which one ran."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelopt_mlir.solver.generators import hard_instances, tight_instance
from modelopt_mlir.solver.offsets import bestfit_kernel, heuristics
from modelopt_mlir.solver.offsets.arrays import IntervalArrays
from modelopt_mlir.solver.offsets.heuristics import compiled_best_fit_ready, placement_orders
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem

pytestmark = pytest.mark.skipif(not compiled_best_fit_ready(), reason="numba unavailable")

NONE = np.zeros(0, np.int64)


def _both(arrays, order, fixed=NONE, fixed_offsets=NONE, lowest=False):
    compiled = heuristics.best_fit_compiled(arrays, order, fixed, fixed_offsets, lowest)
    reference = heuristics.best_fit_numpy(arrays, order, fixed, fixed_offsets, lowest)
    return compiled, reference


def _assert_same(compiled, reference):
    np.testing.assert_array_equal(compiled[0], reference[0])
    assert compiled[1:] == reference[1:]


buffers = st.lists(
    st.tuples(
        st.integers(0, 40),  # lower
        st.integers(1, 12),  # length
        st.integers(0, 300),  # size (zero-size buffers too)
        st.sampled_from([1, 1, 8, 64]),  # alignment
    ),
    min_size=1,
    max_size=1200,  # beyond two rows of the blocked list, so rows split
)


@settings(max_examples=60, deadline=None)
@given(buffers, st.booleans(), st.integers(0, 2**31))
def test_compiled_matches_reference(rows, lowest, seed):
    problem = IntervalProblem(
        [IntervalBuffer(i, lo, lo + n, size, align) for i, (lo, n, size, align) in enumerate(rows)]
    )
    arrays = IntervalArrays.from_problem(problem)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(arrays)).astype(np.int64)
    # a prefix of a valid plan stays fixed
    keep = order[: len(order) // 4]
    placed = heuristics.best_fit_numpy(arrays, order, NONE, NONE, False)[0]
    compiled, reference = _both(arrays, order[len(keep) :], keep, placed[keep], lowest)
    _assert_same(compiled, reference)
    _assert_valid(arrays, compiled[0], compiled[1])


def _assert_valid(arrays, placed, arena):
    """No two buffers live at once share a byte; offsets aligned; all within the arena."""
    real = arrays.size > 0
    lo, hi = arrays.lower[real], arrays.upper[real]
    start = placed[real]
    end = start + arrays.size[real]
    assert (start % arrays.alignment[real] == 0).all()
    assert end.max(initial=0) <= arena
    live = (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None])
    share = (start[:, None] < end[None, :]) & (start[None, :] < end[:, None])
    clash = live & share
    np.fill_diagonal(clash, False)
    assert not clash.any()


def test_every_heuristic_order_on_generated_families():
    problems = [tight_instance(64, 200, 3000, seed=seed) for seed in range(2)]
    problems += [problem for _, problem in hard_instances(total=4)]
    for problem in problems:
        arrays = IntervalArrays.from_problem(problem)
        for order in placement_orders(arrays).values():
            for lowest in (False, True):
                _assert_same(*_both(arrays, order, lowest=lowest))


def test_rows_split_and_stay_sorted():
    n = 5 * bestfit_kernel.BLOCK
    problem = IntervalProblem([IntervalBuffer(i, 0, 1, 1 + i % 7) for i in range(n)])
    arrays = IntervalArrays.from_problem(problem)
    order = np.arange(n, dtype=np.int64)[::-1].copy()
    compiled, reference = _both(arrays, order)
    _assert_same(compiled, reference)
    assert compiled[1] == int(arrays.size.sum())  # all live at once: stacked without gaps
