"""Recompute: memory against extra FLOPs, beside PyTorch eager, and the largest batch that fits.

    python bench/recompute.py [--model gpt2-small|cnn|llama ...] [--limits 0,0.02,...]
                              [--time-limit S] [--png recompute.png] [--maxbatch 8GiB]

For each model the training step (Adam) is captured and bufferized once, PyTorch eager's peak is
measured in this process (torch's MemTracker, one warm-up step), then memory-plan runs on the
same IR with ``recompute=off`` and with ``recompute=auto`` under each FLOPs limit
(``max-recompute``). Each row: the limit, the extra FLOPs used (fraction of the step's own
FLOPs), the arena, the whole-step footprint (parameters, optimizer state, batch, arena, anything
left outside it) and the footprint over eager's peak. No bound under recompute is known, so none
is printed. ``--png`` plots footprint / eager against extra FLOPs, one line per model.
``--maxbatch BUDGET`` adds the largest-batch table for GPT-2 small (seq 128, Adam): eager,
ours without and with recompute (slow: a capture per probe).

Models: ``gpt2-small`` (124M, batch 8, seq 128), ``cnn`` (the zoo's ResNet-style CNN, batch 2)
and ``llama`` (the zoo's LLaMA-style block model).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from modelopt_mlir.api import PlanWarning, format_size, plan
from modelopt_mlir.zoo import ZOO, bench_optimizer

MODELS = {
    "gpt2-small": lambda: ZOO["gpt2"].build(batch=8, size="small"),
    "cnn": lambda: ZOO["cnn"].build(batch=2),
    "llama": lambda: ZOO["llama"].build(),
}


def sweep(name: str, limits: list[float], time_limit: float) -> list[dict]:
    from modelopt_mlir.ir_context import make_context, parse_module
    from modelopt_mlir.planning import plan_module

    zoo = MODELS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlanWarning)
        base = plan(
            zoo.model,
            zoo.example_inputs,
            zoo.targets,
            zoo.loss_fn,
            bench_optimizer("adam", zoo.model),
            int_ranges=zoo.int_ranges,
            time_limit=time_limit,
            compare_eager=True,
            progress=False,
        )
    report = base.report
    fixed = report.arguments_bytes + report.left_alone_bytes
    eager = report.eager.total if report.eager else None
    rows = []
    for limit in [None, *limits]:
        began = time.perf_counter()
        with make_context() as context:
            module = parse_module(base.unplanned_text, context)
            options = {"time_limit": time_limit}
            if limit is not None:
                options.update(recompute="auto", max_recompute=limit)
            function = plan_module(module, **options)[0]
        recomputed = function.get("recompute") or {}
        arena = int(function["arena_size"])
        rows.append(
            {
                "model": name,
                "limit": limit,
                "extra": float(recomputed.get("extra_fraction", 0.0)),
                "arena": arena,
                "footprint": fixed + arena,
                "eager": eager,
                "seconds": time.perf_counter() - began,
            }
        )
        row = rows[-1]
        ratio = f"{row['footprint'] / eager:.3f}" if eager else "-"
        shown = "off" if limit is None else f"{limit:.0%}"
        print(
            f"{name:<12}{shown:>8}{row['extra']:>9.1%}{format_size(arena):>14}"
            f"{format_size(row['footprint']):>14}{format_size(eager) if eager else '-':>14}"
            f"{ratio:>9}{row['seconds']:>8.1f}",
            flush=True,
        )
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r["model"] for r in rows):
        points = sorted(
            (r["extra"] * 100, r["footprint"] / r["eager"])
            for r in rows
            if r["model"] == name and r["eager"]
        )
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axis.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="PyTorch eager")
    axis.set_xlabel("extra FLOPs (% of the step)")
    axis.set_ylabel("whole-step footprint / eager peak")
    axis.set_title("Recompute: memory against extra FLOPs (Adam)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def maxbatch(budget_text: str, time_limit: float) -> int:
    """modelopt-maxbatch's table for GPT-2 small (seq 128, Adam) from batch 8."""
    from modelopt_mlir.tools.maxbatch import main as maxbatch_main

    print()
    return maxbatch_main(
        [
            *("--model", "gpt2", "--size", "small", "--seq", "128", "--optimizer", "adam"),
            *("--budget", budget_text, "--start", "8", "--time-limit", str(time_limit)),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=sorted(MODELS))
    parser.add_argument("--limits", default="0.01,0.02,0.05,0.1,0.2,0.35")
    parser.add_argument("--time-limit", type=float, default=20)
    parser.add_argument("--png", default="recompute.png")
    parser.add_argument("--maxbatch", metavar="BUDGET", help="e.g. 8GiB")
    args = parser.parse_args()
    limits = [float(x) for x in args.limits.split(",") if x]
    print(
        f"{'model':<12}{'limit':>8}{'extra':>9}{'arena':>14}{'footprint':>14}{'eager':>14}"
        f"{'/eager':>9}{'s':>8}"
    )
    rows = []
    for name in args.model or ["gpt2-small", "cnn", "llama"]:
        rows += sweep(name, limits, args.time_limit)
    if args.png:
        plot(rows, args.png)
    if args.maxbatch:
        return maxbatch(args.maxbatch, args.time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
