"""The canonical offsets search (compiled) against its Python reference and a brute force on
tiny interval sets: plans found pass the independent validator, and every 'infeasible' is
checked by trying all offsets."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_offset_solver import padded_live, violations
from test_solver import interval_problems

from modelopt_mlir.solver.generators import (
    brick_instance,
    hard_instances,
    pinwheel_instance,
    tight_instance,
)
from modelopt_mlir.solver.offsets.arrays import IntervalArrays, load_profile
from modelopt_mlir.solver.offsets.canonical_search import ReferenceSearch, search_canonical
from modelopt_mlir.solver.offsets.check import offsets_are_valid
from modelopt_mlir.solver.problem import IntervalProblem
from modelopt_mlir.solver.work import Budget

BRUTE_FORCE_LIMIT = 200_000  # offset combinations; beyond that the check is skipped


def _brute_force(arrays: IntervalArrays, capacity: int) -> bool | None:
    """Whether any offsets (multiples of each alignment) fit within ``capacity``; None when
    there are too many combinations to try (6 buffers of up to 30 positions each would take
    hours)."""
    sized = np.flatnonzero(arrays.size > 0)
    choices = [
        range(0, capacity - int(arrays.size[b]) + 1, int(arrays.alignment[b])) for b in sized
    ]
    if math.prod(len(c) for c in choices) > BRUTE_FORCE_LIMIT:
        return None
    offsets = np.zeros(len(arrays), np.int64)
    for pick in itertools.product(*choices):
        offsets[sized] = pick
        if offsets_are_valid(arrays, offsets, capacity):
            return True
    return False


def _assert_plan(problem: IntervalProblem, offsets: np.ndarray, capacity: int) -> None:
    arrays = IntervalArrays.from_problem(problem)
    by_id = dict(zip(arrays.ids.tolist(), offsets.tolist(), strict=True))
    assert violations(problem, by_id, capacity) == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    interval_problems(max_count=6, steps=6, sizes=(1, 5), alignments=(1, 1, 2)),
    st.integers(-1, 2),
)
def test_canonical_search_agrees_with_reference_and_brute_force(
    problem: IntervalProblem, extra: int
) -> None:
    arrays = IntervalArrays.from_problem(problem)
    capacity = padded_live(problem) + extra
    compiled = search_canonical(arrays, capacity, Budget.for_seconds(60))
    reference = ReferenceSearch(arrays, capacity).run()
    assert compiled.status in ("found", "infeasible")
    assert (compiled.status == "found") == (reference is not None)
    if compiled.status == "found":
        assert compiled.offsets is not None and reference is not None
        _assert_plan(problem, compiled.offsets, capacity)
        _assert_plan(problem, reference[: len(arrays)], capacity)
    elif capacity - padded_live(problem) <= 1:
        assert _brute_force(arrays, capacity) in (False, None)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(interval_problems(max_count=10, steps=8, sizes=(1, 12), alignments=(1, 1, 2, 4)))
def test_canonical_search_finds_what_reference_finds(problem: IntervalProblem) -> None:
    arrays = IntervalArrays.from_problem(problem)
    for capacity in (padded_live(problem), padded_live(problem) + 3):
        compiled = search_canonical(arrays, capacity, Budget.for_seconds(60))
        reference = ReferenceSearch(arrays, capacity).run()
        assert (compiled.status == "found") == (reference is not None)
        if compiled.offsets is not None:
            _assert_plan(problem, compiled.offsets, capacity)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    interval_problems(max_count=12, steps=10, sizes=(1, 9), alignments=(1, 1, 1, 2)),
    st.integers(0, 3),
)
def test_step_inference_keeps_every_plan(problem: IntervalProblem, extra: int) -> None:
    """The step inference only prunes nodes with no plan below them: with and without it the
    search agrees on whether a plan fits, at max live and a little above."""
    from modelopt_mlir.solver.offsets import canonical_kernel

    arrays = IntervalArrays.from_problem(problem)
    capacity = padded_live(problem) + extra
    with_steps = search_canonical(
        arrays, capacity, Budget.unlimited(), options=canonical_kernel.ALL_OPTIONS
    )
    without = search_canonical(
        arrays,
        capacity,
        Budget.unlimited(),
        options=canonical_kernel.ALL_OPTIONS & ~canonical_kernel.STEPS,
    )
    assert with_steps.status == without.status
    if with_steps.offsets is not None:
        _assert_plan(problem, with_steps.offsets, capacity)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    interval_problems(max_count=10, steps=8, sizes=(1, 9), alignments=(1, 1, 2)),
    st.integers(0, 2),
)
def test_time_reversed_search_agrees(problem: IntervalProblem, extra: int) -> None:
    """The searches with time reversed (every other pair of randomized restarts) see the
    same problem: the same verdict, and their plans are valid in forward time."""
    arrays = IntervalArrays.from_problem(problem)
    capacity = padded_live(problem) + extra
    forward = search_canonical(arrays, capacity, Budget.unlimited())
    backward = search_canonical(arrays, capacity, Budget.unlimited(), reverse_time=True)
    assert forward.status == backward.status
    if backward.offsets is not None:
        _assert_plan(problem, backward.offsets, capacity)


def test_step_inference_prunes() -> None:
    """On brick walls with a little slack the step inference cuts the tree (it is not idle):
    fewer nodes to the same verdict."""
    from modelopt_mlir.solver.generators import brick_packing
    from modelopt_mlir.solver.offsets import canonical_kernel

    fewer = 0
    for seed in range(8):
        problem = brick_packing(40, seed, width=64, grain=1, max_life=6)[0]
        arrays = IntervalArrays.from_problem(problem)
        nodes = []
        for options in (
            canonical_kernel.ALL_OPTIONS,
            canonical_kernel.ALL_OPTIONS & ~canonical_kernel.STEPS,
        ):
            found = search_canonical(
                arrays, int(problem.capacity), Budget.unlimited(), options=options, node_limit=10**6
            )
            assert found.status == "found"
            nodes.append(found.nodes)
        fewer += nodes[0] < nodes[1]
    assert fewer >= 1


def test_canonical_search_solves_small_tilings() -> None:
    for seed in range(6):
        problem = tight_instance(12, 8, 12, seed)
        arrays = IntervalArrays.from_problem(problem)
        found = search_canonical(arrays, 12, Budget.for_seconds(10))
        assert found.status == "found" and found.offsets is not None
        _assert_plan(problem, found.offsets, 12)
        assert search_canonical(arrays, 11, Budget.for_seconds(10)).status == "infeasible"


def test_hard_instances_are_tight_and_fixed() -> None:
    for _, problem in hard_instances(6):
        arrays = IntervalArrays.from_problem(problem)
        assert int(load_profile(arrays).max()) == problem.capacity
        assert 150 <= len(problem.buffers) <= 450
    assert brick_instance(200, 3) == brick_instance(200, 3)
    assert pinwheel_instance(200, 3) == pinwheel_instance(200, 3)
    wider = brick_instance(200, 3, slack_percent=4)
    assert wider.capacity == (1 << 20) + (1 << 20) * 4 // 100
    for _, problem in hard_instances(3, 7, family="strips"):
        arrays = IntervalArrays.from_problem(problem)
        assert int(load_profile(arrays).max()) == problem.capacity


def test_hard_packings_fit_their_capacity() -> None:
    """The generators' own packings are plans at max live: every hard instance is feasible."""
    from modelopt_mlir.solver.generators import brick_packing, pinwheel_packing, strip_packing

    for seed, count in ((0, 150), (1, 300), (2, 450)):
        for make in (brick_packing, pinwheel_packing, strip_packing):
            problem, known = make(count, seed)
            arrays = IntervalArrays.from_problem(problem)
            offsets = np.array([known[i] for i in arrays.ids.tolist()])
            assert int(load_profile(arrays).max()) == problem.capacity
            assert offsets_are_valid(arrays, offsets, int(problem.capacity))


def test_canonical_search_finds_small_packings_with_every_option() -> None:
    """Small pinwheel and brick packings are feasible by construction: every combination of
    the kernel's options finds a plan at max live (the reference too)."""
    from modelopt_mlir.solver.generators import brick_packing, pinwheel_packing
    from modelopt_mlir.solver.offsets import canonical_kernel

    flags = (
        canonical_kernel.DECOMPOSE,
        canonical_kernel.VALLEYS,
        canonical_kernel.HOLES,
        canonical_kernel.BOTTOM_LEFT,
        canonical_kernel.STEPS,
    )
    for seed in range(12):
        for problem, _ in (
            pinwheel_packing(14, seed, width=16, grain=1, horizon=8),
            brick_packing(14, seed, width=16, grain=1, max_life=4),
            brick_packing(12, seed, width=16, grain=2, max_life=3, slack_percent=10),
        ):
            arrays = IntervalArrays.from_problem(problem)
            capacity = int(problem.capacity)
            for options in range(1 << len(flags)):
                mask = sum(f for i, f in enumerate(flags) if options >> i & 1)
                found = search_canonical(arrays, capacity, Budget.unlimited(), options=mask)
                assert found.status == "found" and found.offsets is not None, (seed, mask)
                _assert_plan(problem, found.offsets, capacity)
            assert ReferenceSearch(arrays, capacity).run() is not None


def test_stacks_are_not_reordered_across_alignments() -> None:
    """Two buffers of the same sections stacked may be swapped only when the sizes keep both
    alignments: here only the aligned one at the bottom fits (found by test_dsa_kernel's
    property test through search_capacity)."""
    from modelopt_mlir.solver.problem import IntervalBuffer

    problem = IntervalProblem(
        (
            IntervalBuffer(0, 2, 3, 3, 1),
            IntervalBuffer(1, 3, 4, 1, 1),
            IntervalBuffer(2, 0, 1, 1, 1),
            IntervalBuffer(3, 2, 3, 1, 2),
        )
    )
    arrays = IntervalArrays.from_problem(problem)
    capacity = padded_live(problem)
    for rank in ([0, 1, 2, 3], [3, 2, 1, 0]):
        found = search_canonical(
            arrays, capacity, Budget.unlimited(), ranks=[np.array(rank, np.int64)]
        )
        assert found.status == "found" and found.offsets is not None
        _assert_plan(problem, found.offsets, capacity)


def test_a_tiling_is_found_without_backtracking_in_its_own_order() -> None:
    """Ranked by the offsets of a known tiling (pinwheel cuttings fill every step, so each
    buffer rests at its minimum offset), the search places the buffers one after another:
    no pruning rule, symmetry or hole branching cuts a plan's canonical sequence."""
    from modelopt_mlir.solver.generators import pinwheel_packing

    for seed in range(8):
        for problem, known in (
            pinwheel_packing(40, seed, width=64, grain=1, horizon=20),
            pinwheel_packing(157, seed),
        ):
            arrays = IntervalArrays.from_problem(problem)
            offsets = np.array([known[i] for i in arrays.ids.tolist()])
            rank = np.empty(len(offsets), np.int64)
            rank[np.lexsort((np.arange(len(offsets)), offsets))] = np.arange(len(offsets))
            found = search_canonical(
                arrays, int(problem.capacity), Budget.unlimited(), ranks=[rank]
            )
            assert found.status == "found" and found.nodes == len(offsets), seed
            assert found.offsets is not None
            _assert_plan(problem, found.offsets, int(problem.capacity))


def test_randomized_restarts_repeat() -> None:
    """The randomized restarts are seeded: the same instance gives the same nodes and plan (a
    brick wall with 5% slack that no static preorder's first rounds solve)."""
    from modelopt_mlir.solver.generators import brick_packing

    problem = brick_packing(365, 28, slack_percent=5)[0]
    arrays = IntervalArrays.from_problem(problem)
    runs = [
        search_canonical(arrays, int(problem.capacity), Budget.unlimited(), node_limit=400_000)
        for _ in range(2)
    ]
    assert runs[0].status == "found" and runs[0].offsets is not None
    assert runs[1].offsets is not None and runs[0].nodes == runs[1].nodes
    assert np.array_equal(runs[0].offsets, runs[1].offsets)
    _assert_plan(problem, runs[0].offsets, int(problem.capacity))
