"""modelopt-plan: the solver on problem files, for people who bring their own compiler.

    modelopt-plan offsets IN.csv [--capacity N] [--time-limit S] [-o OUT.csv]
    modelopt-plan order GRAPH.json [--time-limit S] [-o OUT.json]

Exit status: 0 when a plan was found (within the capacity, if given); 1 when none exists or none
was found in time; 2 on a bad file (unreadable, not UTF-8, malformed), an output that cannot be
written (checked before any work) or bad usage.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelopt_mlir.solver.errors import ProblemFileError
from modelopt_mlir.solver.work import Budget
from modelopt_mlir.tools.cli import quiet_broken_pipe
from modelopt_mlir.tools.files import (
    InputError,
    InvalidUtf8Error,
    first_output_problem,
    read_text,
)

if TYPE_CHECKING:
    from modelopt_mlir.solver.graph import GraphProblem
    from modelopt_mlir.solver.problem import IntervalProblem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelopt-plan", description="Memory planning on problem files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    offsets = commands.add_parser(
        "offsets",
        help="offsets for buffers with live intervals (CSV: id,lower,upper,size[,alignment])",
    )
    offsets.add_argument("input", help="CSV file, or - for stdin")
    offsets.add_argument("--capacity", type=int, help="fit within this many bytes")
    offsets.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    offsets.add_argument("-o", "--output", help="CSV with an offset column (default: stdout)")
    order = commands.add_parser(
        "order", help="an op order with the least peak memory (graph JSON, or node-link JSON)"
    )
    order.add_argument("input", help="JSON file, or - for stdin")
    order.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    order.add_argument("-o", "--output", help="JSON with the order and bounds (default: stdout)")
    return parser


def _read(path: str) -> tuple[str, str]:
    try:
        return read_text(path)
    except InvalidUtf8Error as error:
        raise ProblemFileError(str(error)) from error
    except InputError as error:
        raise ProblemFileError(f"{path}: cannot read: {error.reason}") from error


def _write(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text)
    except OSError as error:  # checked up front; this is a race or a full disk
        raise ProblemFileError(f"cannot write '{path}': {error.strerror}") from error


def _check_int64(problem: IntervalProblem, text: str, name: str) -> None:
    """The solver keeps ids, steps and sizes in int64 arrays: name the first line beyond."""
    rows = [
        number
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if any(cell.strip() for cell in row)
    ][1:]
    for line, buffer in zip(rows, problem.buffers, strict=False):
        for field in ("id", "lower", "upper", "size", "alignment"):
            value = getattr(buffer, field)
            if not -(2**63) <= value < 2**63:
                raise ProblemFileError(
                    f"{name}:{line}: {field} {value} does not fit in a signed 64-bit integer"
                )


def run_offsets(args: argparse.Namespace) -> int:
    from modelopt_mlir.solver.offsets.arrays import ArenaOverflowError
    from modelopt_mlir.solver.offsets.driver import solve_offsets
    from modelopt_mlir.solver.problem_files import format_problem, parse_problem

    if args.capacity is not None and args.capacity < 0:
        raise ProblemFileError(f"--capacity must be >= 0, got {args.capacity}")
    text, name = _read(args.input)
    problem = parse_problem(text, name)
    _check_int64(problem, text, name)
    try:
        result = solve_offsets(problem, time_limit=_budget(args), capacity=args.capacity)
    except ArenaOverflowError as error:
        raise ProblemFileError(f"{name}: {error}") from error
    arena = result.plan.arena_size if result.plan else None
    print(
        f"buffers: {len(problem.buffers)}  max live: {result.lower_bound}  "
        f"arena: {arena if arena is not None else '-'}  "
        f"gap: {f'{result.gap:.4%}' if result.plan else '-'}  status: {result.status}  "
        f"algorithm: {result.algorithm}  time: {result.seconds:.2f} s",
        file=sys.stderr,
    )
    _warn_if_clock_stopped(result.clock_stopped, args)
    fits = result.plan is not None and (args.capacity is None or arena <= args.capacity)
    if not fits:
        if result.status == "infeasible":
            print(
                f"modelopt-plan: no placement fits in {args.capacity} bytes (proven)",
                file=sys.stderr,
            )
        else:
            print(
                f"modelopt-plan: no placement within {args.capacity} bytes found in "
                f"{args.time_limit:g} s",
                file=sys.stderr,
            )
        return 1
    _write(args.output, format_problem(problem, result.plan.offsets))
    return 0


def _check_graph_sizes(graph: GraphProblem, name: str) -> None:
    # The order ILP works in doubles: beyond 2**53 bytes in all, sizes are no longer exact.
    from modelopt_mlir.solver.order.driver import ILP_EXACT_BYTES

    total = 0
    for tensor in graph.tensors:
        total += tensor.size
        if total > ILP_EXACT_BYTES:
            raise ProblemFileError(
                f"{name}: tensor '{tensor.name}': size {tensor.size} brings the graph to "
                f"{total} bytes, more than 2**53 (the most the order solver handles exactly)"
            )


def run_order(args: argparse.Namespace) -> int:
    from modelopt_mlir.solver.order.driver import solve_graph
    from modelopt_mlir.solver.problem_files import graph_from_json

    text, name = _read(args.input)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProblemFileError(f"{name}:{error.lineno}: invalid JSON: {error.msg}") from error
    except RecursionError:
        raise ProblemFileError(f"{name}: invalid JSON: nested too deeply") from None
    graph = graph_from_json(data, name)
    _check_graph_sizes(graph, name)
    result = solve_graph(graph, time_limit=_budget(args))
    print(
        f"ops: {len(graph.ops)}  tensors: {len(graph.tensors)}  peak: {result.peak}  "
        f"lower bound: {result.lower_bound} ({result.bound_kind})  "
        f"program order: {result.program_order_peak}  gap: {result.gap:.4%}  "
        f"status: {result.status}  time: {result.seconds:.2f} s",
        file=sys.stderr,
    )
    _warn_if_clock_stopped(result.clock_stopped, args)
    output = {
        "order": list(result.order),
        "peak": result.peak,
        "lower_bound": result.lower_bound,
        "bound_kind": result.bound_kind,
        "pinned_bytes": result.pinned_bytes,
        "program_order_peak": result.program_order_peak,
        "gap": result.gap,
        "status": result.status,
        "algorithm": result.algorithm,
    }
    _write(args.output, json.dumps(output, indent=2) + "\n")
    return 0


def _budget(args: argparse.Namespace) -> Budget:
    """The work ``--time-limit`` buys, with the clock's safety stop counted from the start of
    the command (reading the input counts too)."""
    return Budget.for_seconds(args.time_limit, deadline=args.started + args.time_limit)


def _warn_if_clock_stopped(stopped: bool, args: argparse.Namespace) -> None:
    if stopped:
        print(
            f"modelopt-plan: warning: the clock stopped the search at the time limit "
            f"({args.time_limit:g} s) before its work limit; the result may differ between runs",
            file=sys.stderr,
        )


@quiet_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = _parser().parse_args(argv)
    args.started = started
    try:
        unwritable = first_output_problem([(args.output, False)])
        if unwritable is not None:
            raise ProblemFileError(unwritable)
        if args.command == "offsets":
            return run_offsets(args)
        return run_order(args)
    except ProblemFileError as error:
        print(f"modelopt-plan: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
