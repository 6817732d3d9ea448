"""Order solver on random layered DAGs: program order vs best heuristic vs ILP vs lower bound.

    .venv/bin/python bench/orders_bench.py [--sizes 100 200 500 1000] [--time-limit 10]

Peaks are printed as ratios to the lower bound (1.000 = proven optimal), all computed in this
process; the program order is the baseline.
"""

from __future__ import annotations

import argparse
import random
import time

from modelopt_mlir.solver.graph import GraphProblem, GraphTensor, to_schedule_problem
from modelopt_mlir.solver.order.bounds import peak_lower_bound
from modelopt_mlir.solver.order.driver import solve_order
from modelopt_mlir.solver.order.heuristics import best_order


def layered_dag(ops: int, seed: int, width: int = 8) -> GraphProblem:
    """Layers of ``width`` ops; each op makes one tensor read by 1-3 ops of the next 1-3
    layers, with sizes spread over two orders of magnitude (like activations vs. grads)."""
    rng = random.Random(seed)
    names = [f"op{i}" for i in range(ops)]
    layer_of = [i // width for i in range(ops)]
    by_layer: dict[int, list[int]] = {}
    for i, layer in enumerate(layer_of):
        by_layer.setdefault(layer, []).append(i)
    last_layer = layer_of[-1]
    tensors = []
    for i in range(ops):
        layer = layer_of[i]
        if layer == last_layer:
            tensors.append(GraphTensor(f"t{i}", rng.randint(1, 100), names[i], (), output=True))
            continue
        choices = [j for d in (1, 2, 3) if layer + d <= last_layer for j in by_layer[layer + d]]
        consumers = sorted(set(rng.sample(choices, k=min(len(choices), rng.randint(1, 3)))))
        size = rng.choice([rng.randint(1, 20), rng.randint(50, 400), rng.randint(800, 2000)])
        tensors.append(GraphTensor(f"t{i}", size, names[i], tuple(names[j] for j in consumers)))
    return GraphProblem(tuple(names), tuple(tensors), ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=10.0)
    args = parser.parse_args()
    header = (
        f"{'ops':>5} {'seed':>4} {'bound':>7} {'kind':>8} {'program':>8} {'heur':>6} "
        f"{'ilp':>6} {'status':>8} {'t_heur':>7} {'t_bound':>7} {'t_total':>7}  algorithm"
    )
    print(header)
    print("-" * len(header))
    for ops in args.sizes:
        for seed in range(args.seeds):
            problem, _, _ = to_schedule_problem(layered_dag(ops, seed))
            start = time.perf_counter()
            heuristic, baseline = best_order(problem)
            t_heur = time.perf_counter() - start
            start = time.perf_counter()
            bound = peak_lower_bound(problem, heuristic.order, time_limit=args.time_limit)
            t_bound = time.perf_counter() - start
            result = solve_order(problem, time_limit=args.time_limit)
            lower = max(result.lower_bound, bound.value)
            print(
                f"{ops:>5} {seed:>4} {lower:>7} {result.bound_kind:>8} "
                f"{baseline.peak / lower:>8.3f} {heuristic.peak / lower:>6.3f} "
                f"{result.peak / lower:>6.3f} {result.status:>8} {t_heur:>7.2f} {t_bound:>7.2f} "
                f"{result.seconds:>7.2f}  {result.algorithm}"
            )


if __name__ == "__main__":
    main()
