"""Plan every bundled training-step example and print a table beside the upstream planner.

    python bench/plan_examples.py [--verify] [--out DIR]

Columns: arena buffers planned, their total size, the peak of program order, the upstream
best-fit planner (static-memory-planner-analysis) after the acceptance pipeline and after
optimize-allocation-liveness as well, our arena, its lower bound (max live bytes of the chosen
order), ratios and time. With --verify the planned IR is run on the CPU against the unplanned IR.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from torch_mlir import ir

from modelopt_mlir.baseline import upstream_best_fit_arena
from modelopt_mlir.examples import example_names, load_example
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import compare_bitwise
from modelopt_mlir.planning import plan_module

COLUMNS = [
    ("example", "<"),
    ("allocs", ">"),
    ("sum of sizes", ">"),
    ("prog-order peak", ">"),
    ("upstream bf", ">"),
    ("upstream bf+live", ">"),
    ("arena", ">"),
    ("lower bound", ">"),
    ("arena/bound", ">"),
    ("arena/upstream", ">"),
    ("arena/prog-order", ">"),
    ("plan time", ">"),
    ("bit-identical", ">"),
]


def kib(value: int) -> str:
    return f"{value / 1024:,.1f} KiB"


def render(rows: list[list[str]]) -> str:
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _) in enumerate(COLUMNS)]
    lines = []
    header = "  ".join(
        f"{name:{align}{w}}" for (name, align), w in zip(COLUMNS, widths, strict=True)
    )
    lines.append(header)
    lines.append("-" * len(header))
    for row in rows:
        cells = zip(COLUMNS, widths, row, strict=True)
        lines.append("  ".join(f"{cell:{align}{w}}" for (_, align), w, cell in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="compare outputs on the CPU")
    parser.add_argument("--out", type=Path, help="write planned IR and plan reports here")
    parser.add_argument("--example", action="append", help="only these examples")
    args = parser.parse_args(argv)

    rows = []
    failures = 0
    for name in args.example or example_names():
        example = load_example(name)
        with make_context():
            module = ir.Module.parse(example.text)
            start = time.perf_counter()
            (report,) = plan_module(module)
            seconds = time.perf_counter() - start
            planned_text = str(module)
        upstream = upstream_best_fit_arena(example.text)[example.func_name]
        upstream_live = upstream_best_fit_arena(example.text, optimize_liveness=True)[
            example.func_name
        ]
        identical = "not run"
        if args.verify:
            comparison = compare_bitwise(
                example.text,
                planned_text,
                example.func_name,
                seed=0,
                int_ranges=example.int_ranges,
                float_ranges=example.float_ranges,
            )
            identical = "yes" if comparison.identical else "NO"
            failures += not comparison.identical
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.planned.mlir").write_text(planned_text)
            (args.out / f"{name}.plan.json").write_text(json.dumps(report, indent=2) + "\n")
        arena, bound = report["arena_size"], report["lower_bound"]
        rows.append(
            [
                name,
                str(report["allocs"]),
                kib(report["sum_of_sizes"]),
                kib(report["program_order_peak"]),
                kib(upstream),
                kib(upstream_live),
                kib(arena),
                kib(bound),
                f"{arena / bound:.3f}" if bound else "-",
                f"{arena / upstream_live:.3f}" if upstream_live else "-",
                f"{arena / report['program_order_peak']:.3f}"
                if report["program_order_peak"]
                else "-",
                f"{seconds:.2f} s",
                identical,
            ]
        )
    print(render(rows))
    print(
        "\nupstream bf: func.func(static-memory-planner-analysis{algorithm=best-fit}) after "
        "buffer-results-to-out-params, buffer-deallocation-pipeline, "
        "convert-bufferization-to-memref; bf+live adds func.func(optimize-allocation-liveness)."
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
