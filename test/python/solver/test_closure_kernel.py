"""refine_order's groups from the compiled closure (closure_kernel) equal the Python ones, and
so do the refined orders."""

from __future__ import annotations

import random

import numpy as np
import pytest

from modelopt_mlir.solver.order import heuristics
from modelopt_mlir.solver.problem import ScheduleProblem


def _dag(units: int, seed: int) -> ScheduleProblem:
    rng = random.Random(seed)
    edges, readers = set(), [[] for _ in range(units)]
    for unit in range(1, units):
        for producer in rng.sample(range(unit), k=min(unit, rng.randint(1, 3))):
            readers[producer].append(unit)
            edges.add((producer, unit))
    sizes = tuple(rng.choice([rng.randint(1, 10), rng.randint(50, 500)]) for _ in range(units))
    users = tuple((p, *sorted(readers[p])) for p in range(units))
    return ScheduleProblem(units, tuple(sorted(edges)), sizes, users, (1,) * units)


@pytest.fixture
def compiled_then_python(monkeypatch):
    if not heuristics.compiled_closure_ready():
        pytest.skip("numba cannot compile here")

    def run(fn):
        monkeypatch.setattr(heuristics, "_CLOSURE_KERNEL_READY", True)
        compiled = fn()
        monkeypatch.setattr(heuristics, "_CLOSURE_KERNEL_READY", False)
        return compiled, fn()

    return run


@pytest.mark.parametrize("seed", range(6))
def test_groups_match_the_python_closure(seed, compiled_then_python) -> None:
    problem = _dag(200, seed)
    preds = [sorted(set(p)) for p in problem.predecessors()]
    succs = [sorted(set(s)) for s in problem.successors()]
    rng = random.Random(seed)
    position = np.arange(200, dtype=np.int64)  # program order is topological

    def groups():
        finder = heuristics._Groups(problem, preds, succs)
        out = []
        for _ in range(300):
            start = rng.randrange(200)
            lo, hi = sorted((start, rng.randrange(200)))
            forward = rng.random() < 0.5
            lo, hi = (start, max(hi, start)) if forward else (min(lo, start), start)
            out.append(finder.group(start, forward, position, lo, hi))
        return out

    rng_state = rng.getstate()
    compiled = groups()
    rng.setstate(rng_state)
    heuristics._CLOSURE_KERNEL_READY = False
    try:
        python = groups()
    finally:
        heuristics._CLOSURE_KERNEL_READY = None
    assert compiled == python
    assert any(g is None for g in compiled) and any(g and len(g) > 1 for g in compiled)


@pytest.mark.parametrize("seed", range(20))
def test_refined_orders_match(seed, compiled_then_python) -> None:
    problem = _dag(random.Random(seed).randint(3, 150), seed)
    plans = heuristics.heuristic_orders(problem)
    compiled, python = compiled_then_python(
        lambda: [heuristics.refine_order(problem, plan, 200_000) for plan in plans]
    )
    assert [(p.order, p.peak) for p in compiled] == [(p.order, p.peak) for p in python]
