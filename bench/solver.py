"""Solver benchmarks in one run: offsets on the DSA instances and on generated tight instances
(bench/offsets_bench.py), orders on random layered DAGs of 100-1000 ops (bench/orders_bench.py).

    python bench/solver.py [--quick] [--section offsets|orders ...]

Each section prints its table: result / bound and time for each heuristic, the ILP and the final
plan, with ratios against the baseline (best-fit by size; program order) run in the same process.
--quick uses shorter time limits and fewer instances.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", action="append", choices=("offsets", "orders"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sections = args.section or ["offsets", "orders"]
    commands = {
        "offsets": [str(HERE / "offsets_bench.py")]
        + (
            ["--time-limit", "10", "--tight", "5", "--tight-time-limit", "10"] if args.quick else []
        ),
        "orders": [str(HERE / "orders_bench.py")]
        + (["--sizes", "100", "1000", "--seeds", "1", "--time-limit", "5"] if args.quick else []),
    }
    status = 0
    for section in sections:
        print(f"== {section} ==", flush=True)
        status |= subprocess.run([sys.executable, *commands[section]], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
