"""``python -m modelopt_mlir.tools.baseline``: arena bytes of upstream
``static-memory-planner-analysis`` per function of a memref-level MLIR file, as a table (see
:mod:`modelopt_mlir.baseline`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelopt_mlir.baseline import ALGORITHMS, BaselineError, upstream_baseline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelopt_mlir.tools.baseline",
        description="Arena bytes of upstream static-memory-planner-analysis per function.",
    )
    parser.add_argument("input", help="memref-level MLIR file ('-' for stdin)")
    parser.add_argument("--func", dest="func_name")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="best-fit")
    parser.add_argument(
        "--optimize-liveness",
        action="store_true",
        help="run func.func(optimize-allocation-liveness) first",
    )
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    try:
        report = upstream_baseline(
            text, args.func_name, args.algorithm, optimize_liveness=args.optimize_liveness
        )
    except BaselineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("function\tarena_bytes\tno_reuse_bytes\talignment\tplanned\tunplanned")
    for entry in report.values():
        print(
            f"{entry.function}\t{entry.arena_bytes}\t{entry.no_reuse_bytes}\t"
            f"{entry.arena_alignment}\t{entry.planned_buffers}\t{entry.unplanned_allocs}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
