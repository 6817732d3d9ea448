"""The bench's whole-graph order ILP, window search and iterated local search against
exhaustive search on small layered DAGs: the ILP's optimum is the least peak over all orders,
its bounds never exceed it, and the searches keep orders valid and never raise the peak."""

from __future__ import annotations

import itertools
import random

import pytest

from modelopt_mlir.solver.graph import GraphProblem, GraphTensor, to_schedule_problem
from modelopt_mlir.solver.order.bounds import peak_lower_bound
from modelopt_mlir.solver.order.heuristics import best_order
from modelopt_mlir.solver.order.ilp_bound import lp_relaxation, whole_graph_ilp, window_search
from modelopt_mlir.solver.order.local_search import iterated_local_search
from modelopt_mlir.solver.order.peak import is_valid_order, padded_sizes, peak_of_order
from modelopt_mlir.solver.problem import ScheduleProblem


def small_layered_dag(ops: int, seed: int, width: int = 3) -> ScheduleProblem:
    """bench/orders_bench.py's generator, narrower: layers of ``width`` ops, each op's tensor
    read by 1-3 ops of the next 1-3 layers, sizes over two orders of magnitude."""
    rng = random.Random(seed)
    names = [f"op{i}" for i in range(ops)]
    layer_of = [i // width for i in range(ops)]
    last_layer = layer_of[-1]
    tensors = []
    for i in range(ops):
        if layer_of[i] == last_layer:
            tensors.append(GraphTensor(f"t{i}", rng.randint(1, 100), names[i], (), output=True))
            continue
        choices = [j for j in range(ops) if 1 <= layer_of[j] - layer_of[i] <= 3]
        consumers = sorted(set(rng.sample(choices, k=min(len(choices), rng.randint(1, 3)))))
        size = rng.choice([rng.randint(1, 20), rng.randint(50, 400), rng.randint(800, 2000)])
        tensors.append(GraphTensor(f"t{i}", size, names[i], tuple(names[j] for j in consumers)))
    problem, _, _ = to_schedule_problem(GraphProblem(tuple(names), tuple(tensors), ()))
    return problem


def least_peak(problem: ScheduleProblem) -> int:
    """The least peak over every valid order, exhaustively, by dynamic programming over the
    sets of units run so far: at the step that runs v after the set S, a buffer is live when
    a user is in S + v and a user is outside S."""
    n = problem.num_units
    sizes = padded_sizes(problem)
    masks = [
        (sum(1 << u for u in users), size) for users, size in zip(problem.users, sizes, strict=True)
    ]
    masks = [(mask, size) for mask, size in masks if mask and size]
    pred_mask = [0] * n
    for before, after in problem.edges:
        pred_mask[after] |= 1 << before
    best = {0: 0}
    for _ in range(n):
        layer: dict[int, int] = {}
        for done, peak in best.items():
            for v in range(n):
                if done >> v & 1 or pred_mask[v] & ~done:
                    continue
                after = done | 1 << v
                live = sum(size for mask, size in masks if mask & after and mask & ~done)
                value = max(peak, live)
                if value < layer.get(after, value + 1):
                    layer[after] = value
        best = layer
    return best[(1 << n) - 1]


def all_orders_peak(problem: ScheduleProblem) -> int:
    return min(
        peak_of_order(problem, order)
        for order in itertools.permutations(range(problem.num_units))
        if is_valid_order(problem, order)
    )


def test_least_peak_agrees_with_every_permutation() -> None:
    for seed in range(3):
        problem = small_layered_dag(7, seed)
        assert least_peak(problem) == all_orders_peak(problem)


@pytest.mark.parametrize("seed", range(4))
def test_whole_graph_ilp_proves_the_least_peak(seed: int) -> None:
    problem = small_layered_dag(11, seed)
    optimum = least_peak(problem)
    start = tuple(range(problem.num_units))  # program order: usually not optimal
    ilp = whole_graph_ilp(problem, start, seconds=30)
    assert ilp.status == "optimal"
    assert is_valid_order(problem, ilp.order)
    assert ilp.peak == peak_of_order(problem, ilp.order) == optimum
    assert ilp.bound == ilp.dual_bound == optimum


@pytest.mark.parametrize("seed", range(6))
def test_bounds_never_exceed_the_least_peak(seed: int) -> None:
    problem = small_layered_dag(12, seed)
    optimum = least_peak(problem)
    heuristic, _ = best_order(problem)
    cut = peak_lower_bound(problem, heuristic.order).value
    assert cut <= optimum
    # Stopped almost at once: whatever HiGHS proved by then is still a bound.
    early = whole_graph_ilp(problem, heuristic.order, seconds=0.01, lower=cut)
    assert early.dual_bound <= optimum and early.bound <= optimum <= early.peak
    assert early.peak <= heuristic.peak
    relaxed = lp_relaxation(problem, heuristic.order, seconds=30)
    assert relaxed is not None and relaxed <= optimum


@pytest.mark.parametrize("seed", range(4))
def test_window_search_keeps_orders_valid_and_never_raises_the_peak(seed: int) -> None:
    problem = small_layered_dag(12, seed)
    start = tuple(range(problem.num_units))
    start_peak = peak_of_order(problem, start)
    search = window_search(problem, start, seconds=20, window=5, max_window=8)
    assert is_valid_order(problem, search.order)
    assert search.peak == peak_of_order(problem, search.order) <= start_peak
    assert search.peak >= least_peak(problem)


@pytest.mark.parametrize("seed", range(4))
def test_local_search_keeps_orders_valid_and_never_raises_the_peak(seed: int) -> None:
    problem = small_layered_dag(12, seed)
    start = tuple(range(problem.num_units))
    start_peak = peak_of_order(problem, start)
    search = iterated_local_search(problem, start, seconds=0.5, seed=seed)
    assert is_valid_order(problem, search.order)
    assert search.peak == peak_of_order(problem, search.order) <= start_peak
    assert search.peak >= least_peak(problem)
