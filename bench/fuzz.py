"""Fuzz memory-plan and the tools, and print how many runs ended in each outcome.

    python bench/fuzz.py --count N --seed S [--kind programs|mutants|plan] [--no-execute]
                         [--outputs-in-arena] [--recompute]

``programs`` (the default): N random valid bufferized programs
(:mod:`modelopt_mlir.testing.programs`), each planned in process, checked by an independent
validator on the planned IR and run planned against unplanned on the CPU, bit for bit
(``--no-execute`` skips the runs). The first failing program is shrunk (statements deleted
while it fails the same way) and printed with its diagnostics. ``--outputs-in-arena`` marks
the entry's static-shape arguments at odd positions ``{modelopt.output}`` and plans with
``outputs=arena``; programs that read such an argument's incoming contents count as "not an
output", the others run planned (outputs read back from the arena) against unplanned.
``--recompute`` plans with ``recompute=auto``; "(of which recomputed)" counts the programs whose
plan recomputed something.

``mutants`` and ``plan``: mutated examples and lit inputs through modelopt-opt, and random or
malformed problem files through modelopt-plan (:mod:`modelopt_mlir.testing.mutate`).

Outcomes starting with ``failed:`` are bugs; the exit status is 1 if there was any.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections import Counter

from modelopt_mlir.testing.programs import (
    FAILED,
    GENERATOR,
    OUTCOMES,
    check_program,
    generate,
    shrink,
)


def print_counts(kind: str, counts: Counter[str], seconds: float, count: int) -> None:
    rate = count / seconds if seconds else 0.0
    print(f"{kind}: {count} runs in {seconds:.1f} s ({rate:.1f} per s)")
    ordered = [o for o in OUTCOMES if o in counts] + sorted(o for o in counts if o not in OUTCOMES)
    if kind == "programs":
        ordered = list(OUTCOMES) + [o for o in ordered if o not in OUTCOMES]
    width = max((len(o) for o in ordered), default=0)
    for outcome in ordered:
        print(f"  {outcome:<{width}}  {counts.get(outcome, 0):>7}")


def fuzz_programs(
    count: int,
    seed: int,
    execute: bool,
    shrink_budget: float,
    outputs_in_arena: bool = False,
    recompute: bool = False,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    first = None
    refused = None
    start = time.perf_counter()
    for index in range(count):
        try:
            program = generate(seed, index)
        except Exception:
            counts[GENERATOR] += 1
            print(f"generator failed: seed {seed} index {index}\n{traceback.format_exc()}")
            continue
        result = check_program(program, execute, outputs_in_arena, recompute)
        counts[result.outcome] += 1
        if "recomputed" in result.detail:
            counts["(of which recomputed)"] += 1
        if result.outcome.startswith(FAILED) and first is None:
            first = (program, result)
            print(f"first failure: seed {seed} index {index}: {result.outcome}", flush=True)
        if result.outcome.startswith("refused") and refused is None:
            refused = (index, result.detail)
        if (index + 1) % 500 == 0:
            print(f"  ... {index + 1} programs, {dict(counts)}", flush=True)
    print_counts("programs", counts, time.perf_counter() - start, count)
    if refused is not None:
        print(f"\nfirst refusal (index {refused[0]}):\n{refused[1]}")
    if first is not None:
        program, result = first
        outcome = result.outcome

        def still_fails(candidate):  # noqa: ANN001, ANN202
            return check_program(candidate, execute, outputs_in_arena, recompute).outcome == outcome

        shrunk = shrink(program, still_fails, budget=shrink_budget)
        final = check_program(shrunk, execute, outputs_in_arena, recompute)
        print(
            f"\nfirst failing program (seed {seed}, index {program.index}, {outcome}), shrunk "
            f"from {program.size} to {shrunk.size} statements:\n"
        )
        print(shrunk.text)
        print(f"--- {final.outcome}:\n{final.detail}")
        if final.planned:
            print(f"--- planned IR:\n{final.planned}")
    return counts


def fuzz_tools(kind: str, count: int, seed: int) -> Counter[str] | None:
    try:
        mutate = importlib.import_module("modelopt_mlir.testing.mutate")
    except ModuleNotFoundError as error:
        print(
            f"fuzz.py: --kind {kind} needs modelopt_mlir.testing.mutate ({error})", file=sys.stderr
        )
        return None
    function = mutate.mutants if kind == "mutants" else mutate.plan_inputs
    start = time.perf_counter()
    counts = function(count, seed)
    print_counts(kind, counts, time.perf_counter() - start, count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("programs", "mutants", "plan"), default="programs")
    parser.add_argument("--no-execute", action="store_true", help="plan and validate only")
    parser.add_argument(
        "--shrink-budget", type=float, default=300.0, help="seconds for shrinking a failure"
    )
    parser.add_argument(
        "--outputs-in-arena",
        action="store_true",
        help="programs: mark the entry's static arguments at odd positions {modelopt.output} "
        "and plan with outputs=arena",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="programs: plan with recompute=auto (the counts say how many recomputed)",
    )
    args = parser.parse_args(argv)
    if args.kind == "programs":
        counts = fuzz_programs(
            args.count,
            args.seed,
            not args.no_execute,
            args.shrink_budget,
            args.outputs_in_arena,
            args.recompute,
        )
    else:
        found = fuzz_tools(args.kind, args.count, args.seed)
        if found is None:
            return 2
        counts = found
    return 1 if any(o.startswith(FAILED) for o in counts) else 0


if __name__ == "__main__":
    sys.exit(main())
