"""The cut bound's flow-free part (forced_live_at) comes first: it never exceeds the cut at the
same unit, and the cut bound with it equals the maximum cut over all units when complete."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelopt_mlir.solver.generators import random_dag
from modelopt_mlir.solver.order.bounds import (
    ancestor_sets,
    cut_bound,
    cut_bound_at,
    forced_live_at,
)
from modelopt_mlir.solver.order.peak import padded_sizes
from modelopt_mlir.solver.problem import ScheduleProblem
from modelopt_mlir.solver.work import Budget


@given(st.integers(2, 40), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_forced_part_is_at_most_the_cut_and_the_bound_is_the_max_cut(units, seed) -> None:
    problem = random_dag(units, seed)
    ancestors, descendants = ancestor_sets(problem)
    sizes = padded_sizes(problem)
    masks = [sum(1 << u for u in set(users)) for users in problem.users]
    cuts = []
    for unit in range(units):
        cut = cut_bound_at(problem, unit, ancestors, descendants, sizes)
        assert forced_live_at(unit, masks, ancestors, descendants, sizes) <= cut
        cuts.append(cut)
    bound, _, complete = cut_bound(problem)
    assert complete and bound == max(cuts)


def test_a_step_with_few_relatives_does_not_hide_the_strong_cut() -> None:
    """Unit 0 makes a big buffer read at the end (unit 5) through a chain 0-1-2-3-4-5; unit 6
    makes a buffer used only by itself and is related to nothing. In the order below the
    fullest step is unit 6's (its own buffer plus the big one in flight), whose cut is just its
    own buffer; the chain's steps hold the big buffer in every order. With work for one cut, the
    cuts alone stop at 30; the forced parts find 1,002 (which is the chain step's whole memory,
    so its cut is not needed) and the one cut, at unit 6's step, completes the proof."""
    problem = ScheduleProblem(
        num_units=7,
        edges=((0, 1), (1, 2), (2, 3), (3, 4), (4, 5)),
        sizes=(1000, 1, 1, 1, 1, 1, 30),
        users=((0, 5), (1, 2), (2, 3), (3, 4), (4, 5), (5,), (6,)),
        alignment=(1,) * 7,
    )
    order = (0, 1, 2, 6, 3, 4, 5)
    ancestors, descendants = ancestor_sets(problem)
    assert cut_bound_at(problem, 6, ancestors, descendants) == 30
    one_cut = Budget.unlimited().units(100)  # forced parts (4 units each) and one cut
    assert cut_bound(problem, order, one_cut) == (1002, 1, True)
