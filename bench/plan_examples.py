"""Plan every bundled training-step example and print a table beside the upstream planner.

    python bench/plan_examples.py [--verify] [--out DIR]

Columns: arena buffers planned, their total size, the peak of program order, the upstream
best-fit planner (static-memory-planner-analysis) after the acceptance pipeline ("upstream bf")
and after optimize-allocation-liveness as well ("upstream bf+live"), our arena, the peak of the
order we chose (no arena for that order is smaller), the bound over all orders, the solver's
status (optimal, feasible, timeout: stopped at the work limit the time limit buys;
heuristic: greedy, nothing searched, the bound being the bytes one op uses) and the gap to the bound over all orders, our arena over each upstream arena and over
the program-order peak, and time. With --verify the planned IR is run on the CPU against the
unplanned IR. ``bench/demo.py`` prints the same columns for the step it captures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from torch_mlir import ir

from modelopt_mlir.baseline import upstream_best_fit_arena
from modelopt_mlir.examples import example_names, load_example
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import compare_bitwise
from modelopt_mlir.plan_json import build_plan_json
from modelopt_mlir.planning import plan_module

COLUMNS = [
    ("example", "<"),
    ("allocs", ">"),
    ("sum of sizes", ">"),
    ("prog-order peak", ">"),
    ("upstream bf", ">"),
    ("upstream bf+live", ">"),
    ("arena (ours)", ">"),
    ("chosen-order peak", ">"),
    ("bound, all orders", ">"),
    ("status", "<"),
    ("gap to bound", ">"),
    ("arena/bf", ">"),
    ("arena/bf+live", ">"),
    ("arena/prog-order", ">"),
    ("plan time", ">"),
    ("bit-identical", ">"),
]


def kib(value: int) -> str:
    return f"{value / 1024:,.1f} KiB"


def ratio(value: int, base: int | None) -> str:
    return f"{value / base:.3f}" if base else "-"


def table_row(
    name: str,
    report: dict[str, Any],
    upstream: int | None,
    upstream_live: int | None,
    seconds: float,
    identical: str,
) -> list[str]:
    """One row from a memory-plan function report (``plan_module``'s, or ``PlanResult
    .function_report``) and the upstream arenas measured on the same unplanned IR."""
    arena = report["arena_size"]
    status = report.get("status", "")
    bound = report.get("order_lower_bound", report["lower_bound"])
    searched = status != "heuristic"
    return [
        name,
        str(report["allocs"]),
        kib(report["sum_of_sizes"]),
        kib(report["program_order_peak"]),
        kib(upstream) if upstream is not None else "-",
        kib(upstream_live) if upstream_live is not None else "-",
        kib(arena),
        kib(report["lower_bound"]),
        kib(bound) if searched else "- (greedy)",
        status,
        f"{report['gap']:.1%}" if searched else "-",
        ratio(arena, upstream),
        ratio(arena, upstream_live),
        ratio(arena, report["program_order_peak"]),
        f"{seconds:.2f} s",
        identical,
    ]


FOOTNOTE = (
    "upstream bf: func.func(static-memory-planner-analysis{algorithm=best-fit}) after "
    "buffer-results-to-out-params, buffer-deallocation-pipeline, convert-bufferization-to-memref; "
    "bf+live adds func.func(optimize-allocation-liveness). chosen-order peak: max live bytes of "
    "the order we run; gap to bound: (arena - bound over all orders) / that bound."
)


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


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (as a user would type
    it), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="compare outputs on the CPU")
    parser.add_argument("--out", type=Path, help="write planned IR and plan files here")
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
            document = build_plan_json(
                [report],
                source=_shown(example.mlir_path),
                sections={"upstream": {"best_fit": upstream, "best_fit_liveness": upstream_live}},
            )
            (args.out / f"{name}.plan.json").write_text(json.dumps(document, indent=2) + "\n")
        rows.append(table_row(name, report, upstream, upstream_live, seconds, identical))
    print("bundled examples (test/examples/: memref IR captured by bench/make_examples.py)")
    print(render(rows))
    print()
    print(FOOTNOTE)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
