"""Order solver on random layered DAGs: program order, the best order found, the best proven bound.

    .venv/bin/python bench/orders_bench.py
        [--sizes 100 250 500 1000] [--seeds 2] [--time-limit 10] [--ilp-max-ops 100]
        [--ilp-seconds 60] [--lp-seconds 60] [--search-seconds 30]

Per DAG (seeds 0..seeds-1 of ``layered_dag``, fixed): the best heuristic order, its cut bound
(run to completion), ``solve_order`` as the compiler runs it (work budget ``--time-limit``),
then, up to ``--ilp-max-ops`` units, the whole-graph order ILP (``ilp_bound.whole_graph_ilp``,
warm started, cut bound as the peak's lower bound, ``--ilp-seconds`` on the clock) and its
LP relaxation, and last, from the best order so far, an iterated local search
(``local_search``) then a window search (``ilp_bound.window_search``), each for half of
``--search-seconds`` (skipped once the best order meets the bound).
``best`` is the lowest peak of all; ``bound`` the higher of the cut bound and the ILP's dual
bound (kind ``ilp-dual`` when the ILP's is higher); gap = best / bound - 1. A note per ILP
run says what it proved and, when it stopped with a gap, what stopped it. The ILP and the
search stop on the clock: their results can change with the machine's load.

At the defaults (sizes 100 250 500 1000, 2 seeds) the run took 351-409 s on the 2-core
development machine (shared): 90-120 s per 100-op DAG (ILP 60-85 s, HiGHS overrunning its
limit inside the root; LP relaxation about 20 s), about 35 s per larger one.
"""

from __future__ import annotations

import argparse
import random
import time

from modelopt_mlir.solver.graph import GraphProblem, GraphTensor, to_schedule_problem
from modelopt_mlir.solver.order.bounds import peak_lower_bound
from modelopt_mlir.solver.order.driver import solve_order
from modelopt_mlir.solver.order.heuristics import best_order
from modelopt_mlir.solver.order.ilp_bound import (
    WholeGraphIlp,
    lp_relaxation,
    whole_graph_ilp,
    window_search,
)
from modelopt_mlir.solver.order.local_search import iterated_local_search


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


def ilp_note(
    ops: int, seed: int, ilp: WholeGraphIlp, cut: int, lp: int | None, lp_run: bool
) -> str:
    lp_text = f"{lp:,}" if lp is not None else "did not finish" if lp_run else "not run"
    head = (
        f"{ops}/{seed}: ILP {ilp.binaries:,} binaries, {ilp.columns:,} columns, "
        f"{ilp.rows:,} rows; {ilp.nodes:,} B&B nodes, {ilp.lp_iterations:,} LP iterations "
        f"in {ilp.seconds:.0f} s; LP relaxation {lp_text}, cut bound {cut:,}"
    )
    if ilp.proven_optimal:
        return f"{head}: order proven optimal (peak {ilp.peak:,})"
    raised = "not above the cut bound" if ilp.dual_bound <= cut else "above the cut bound"
    if lp is not None and lp < cut:
        why = "its LP relaxation is below the cut bound, so only branching could raise it"
        if ilp.nodes == 0:
            why += ", and HiGHS never left the root node (root LP and cuts took the time)"
    elif ilp.nodes == 0:
        why = "HiGHS never left the root node (root LP and cuts took the time)"
    else:
        why = "its search tree is too large for the time limit"
    return (
        f"{head}: stopped with dual bound {ilp.dual_bound:,} ({raised}) vs peak {ilp.peak:,}; {why}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=10.0, help="solve_order's budget")
    parser.add_argument("--ilp-max-ops", type=int, default=100)
    parser.add_argument("--ilp-seconds", type=float, default=60.0)
    parser.add_argument("--lp-seconds", type=float, default=60.0, help="0: skip the LP")
    parser.add_argument("--search-seconds", type=float, default=30.0, help="0: no search")
    args = parser.parse_args()
    header = (
        f"{'ops':>5} {'seed':>4} {'program':>8} {'heur':>7} {'solve':>7} {'best':>7} "
        f"{'bound':>7} {'kind':>8} {'gap':>6} {'ilp':>8} {'t_total':>7}  best from"
    )
    print(header)
    print("-" * len(header))
    notes = []
    began = time.perf_counter()
    for ops in args.sizes:
        for seed in range(args.seeds):
            start = time.perf_counter()
            problem, _, _ = to_schedule_problem(layered_dag(ops, seed))
            heuristic, baseline = best_order(problem)
            cut = peak_lower_bound(problem, heuristic.order).value
            solved = solve_order(problem, time_limit=args.time_limit, initial=(heuristic, baseline))
            order, peak, source = solved.order, solved.peak, solved.algorithm
            bound, kind = max(cut, solved.lower_bound), "cut"
            ilp_status, note = f"skip>{args.ilp_max_ops}", ""
            if ops <= args.ilp_max_ops and peak > bound:
                ilp = whole_graph_ilp(problem, order, args.ilp_seconds, bound)
                lp = lp_relaxation(problem, order, args.lp_seconds) if args.lp_seconds else None
                ilp_status = ilp.status
                if ilp.peak < peak:
                    order, peak, source = ilp.order, ilp.peak, f"{source}+whole-graph-ilp"
                if ilp.bound > bound:
                    bound, kind = ilp.bound, "ilp-dual"
                note = ilp_note(ops, seed, ilp, cut, lp, args.lp_seconds > 0)
            elif ops <= args.ilp_max_ops:
                ilp_status = "not run"  # the heuristic order already meets the cut bound
            if args.search_seconds > 0 and peak > bound:
                local = iterated_local_search(problem, order, args.search_seconds / 2, bound)
                if local.peak < peak:
                    order, peak = local.order, local.peak
                    source = f"{source}+ils({local.improvements}/{local.rounds})"
            if args.search_seconds > 0 and peak > bound:
                search = window_search(problem, order, args.search_seconds / 2, bound)
                if search.peak < peak:
                    order, peak = search.order, search.peak
                    windows = f"{search.improved}/{search.windows},k<={search.largest}"
                    source = f"{source}+windows({windows})"
            gap = peak / bound - 1 if bound else 0.0
            if note and peak <= bound:
                note += f". The best order ({peak:,}) meets the {kind} bound: proven optimal"
            if note:
                notes.append(note)
            print(
                f"{ops:>5} {seed:>4} {baseline.peak:>8,} {heuristic.peak:>7,} "
                f"{solved.peak:>7,} {peak:>7,} {bound:>7,} {kind:>8} {gap:>6.1%} "
                f"{ilp_status:>8} {time.perf_counter() - start:>7.1f}  {source}",
                flush=True,
            )
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
