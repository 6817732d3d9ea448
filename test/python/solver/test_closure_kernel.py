"""refine_order's groups from the compiled closure (closure_kernel) equal the Python ones, and
so do the refined orders."""

from __future__ import annotations

import random

import numpy as np
import pytest

from modelopt_mlir.solver.generators import random_dag
from modelopt_mlir.solver.order import heuristics


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
    problem = random_dag(200, seed)
    preds = [sorted(set(p)) for p in problem.predecessors()]
    succs = [sorted(set(s)) for s in problem.successors()]
    position = np.arange(200, dtype=np.int64)  # program order is topological

    def groups():
        rng = random.Random(seed)
        finder = heuristics._Groups(problem, preds, succs)
        out = []
        for _ in range(300):
            start, other = rng.randrange(200), rng.randrange(200)
            forward = rng.random() < 0.5
            lo, hi = (start, max(start, other)) if forward else (min(start, other), start)
            out.append(finder.group(start, forward, position, lo, hi))
        return out

    compiled, python = compiled_then_python(groups)
    assert compiled == python
    assert any(g is None for g in compiled) and any(g and len(g) > 1 for g in compiled)


@pytest.mark.parametrize("seed", range(20))
def test_refined_orders_match(seed, compiled_then_python) -> None:
    problem = random_dag(random.Random(seed).randint(3, 150), seed)
    plans = heuristics.heuristic_orders(problem)
    compiled, python = compiled_then_python(
        lambda: [heuristics.refine_order(problem, plan, 200_000) for plan in plans]
    )
    assert [(p.order, p.peak) for p in compiled] == [(p.order, p.peak) for p in python]
