"""The main job in one script: plan a GPT-2 training step with Adam, measure its whole footprint
against PyTorch eager's peak (MemTracker), check it against PyTorch on the CPU, print the report
and write the timeline picture.

    python bench/demo.py [--out out] [--size tiny|small]

Writes out/planned.mlir, out/unplanned.mlir (the IR plan.json's op ids refer to), out/plan.json
and out/timeline.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from plan_examples import FOOTNOTE, render, table_row

from modelopt_mlir.api import PlanResult, VerificationError
from modelopt_mlir.zoo import ZOO

LR = 1e-3


def demo_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """The demo's optimizer; bench/make_examples.py builds test/examples/gpt2_adam.mlir with it."""
    return torch.optim.Adam(model.parameters(), lr=LR)


def demo_row(result: PlanResult, name: str, identical: bool | None = None) -> list[str]:
    """The plan_examples table row of a planned step, from the same numbers as its report."""
    report = result.report
    return table_row(
        name,
        result.function_report,
        report.upstream_best_fit_plain,
        report.upstream_best_fit,
        report.stage_seconds.get("plan", 0.0),
        "not run" if identical is None else "yes" if identical else "NO",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--size", choices=ZOO["gpt2"].sizes, default="tiny")
    parser.add_argument("--solver", default="auto")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    built = ZOO["gpt2"].build(size=args.size)
    optimizer = demo_optimizer(built.model)
    print(f"{built.description}: {built.parameter_count:,} parameters, Adam lr=1e-3")
    result = built.plan(optimizer, solver=args.solver, upstream=True, compare_eager=True)
    print()
    print(result.report)
    print()

    timings = {}
    try:
        step = time.perf_counter()
        # Default tolerances, derived per tensor (see PlanResult.verify): loss and optimizer
        # state within float32 rounding; parameters within Adam's update noise, scaled by lr.
        errors = result.verify()
        timings["verify against PyTorch (compile + run + eager step)"] = time.perf_counter() - step
        worst = max(errors, key=lambda e: e.of_tolerance)
        print(
            f"planned step on CPU vs eager PyTorch + torch.optim.Adam: {len(errors)} tensors "
            f"(loss, parameters, optimizer state) within the default tolerances; closest "
            f"{worst.name}: {worst.of_tolerance:.2f}x its tolerance (rel {worst.max_rel:.1e})"
        )
        step = time.perf_counter()
        comparison = result.verify_planned_vs_unplanned()
        timings["planned vs unplanned, bit for bit"] = time.perf_counter() - step
        print(
            f"planned vs unplanned IR on the CPU: {len(comparison.arguments)} buffers bit-identical"
        )
    except VerificationError as error:
        print(f"VERIFICATION FAILED:\n{error}", file=sys.stderr)
        return 1

    print()
    print("the same step in plan_examples' columns (the numbers of the report above):")
    print(render([demo_row(result, f"gpt2 {args.size} (captured now)", identical=True)]))
    print(FOOTNOTE)
    print()

    paths = result.save(args.out)
    for what, seconds in timings.items():
        print(f"time: {what}: {seconds:.2f} s")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
