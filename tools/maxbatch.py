"""modelopt-maxbatch: the largest batch of a zoo model's training step that fits in a memory
budget, for PyTorch eager and for our planned step without and with recompute.

    modelopt-maxbatch --model gpt2 --size small --seq 128 --optimizer adam --budget 8GiB

Each column searches by doubling then bisection (see ``modelopt_mlir.maxbatch``): eager with
torch's MemTracker under FakeTensorMode, ours with ``plan()``'s whole-step footprint. Exit
status: 0 on success, 1 when a step cannot be captured or measured, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modelopt_mlir.tools.cli import ArgumentParser, UsageError, quiet_broken_pipe

PROG = "modelopt-maxbatch"


def _parser(model_names: Sequence[str]) -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="The largest batch whose training step fits in a memory budget: PyTorch "
        "eager, and our planned step without and with recompute.",
    )
    parser.add_argument("--model", required=True, choices=model_names, metavar="NAME")
    parser.add_argument("--size", default="tiny", choices=["tiny", "small"])
    parser.add_argument("--seq", type=int, help="sequence length / image side (default: model's)")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--budget", required=True, help="memory budget, e.g. 8GiB or 500MB")
    parser.add_argument(
        "--recompute",
        default="both",
        choices=["off", "auto", "both"],
        help="our columns: without recompute, with it, or both (default)",
    )
    parser.add_argument("--max-recompute", type=float, default=0.35)
    parser.add_argument("--no-eager", action="store_true", help="skip the eager column")
    parser.add_argument("--start", type=int, default=1, help="first batch size tried")
    parser.add_argument("--time-limit", type=float, default=10, help="seconds per plan")
    parser.add_argument("--quiet", action="store_true", help="no line per probe on stderr")
    return parser


@quiet_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    from modelopt_mlir.zoo import ZOO

    parser = _parser(sorted(ZOO))
    try:
        args = parser.parse_args(argv)
        from modelopt_mlir.maxbatch import parse_bytes

        budget = parse_bytes(args.budget)
        if args.start < 1:
            raise UsageError("--start must be a positive batch size")
        if args.time_limit <= 0:
            raise UsageError("--time-limit must be positive")
        entry = ZOO[args.model]
        # What ZooEntry.build would refuse, without building a model here.
        if args.size not in entry.sizes:
            raise UsageError(
                f"model '{args.model}' has sizes {', '.join(entry.sizes)}, not '{args.size}'"
            )
        if args.seq is not None and args.seq < 1:
            raise UsageError("--seq must be positive")
    except (UsageError, ValueError) as exc:
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    return _run(args, entry, budget)


def _run(args: argparse.Namespace, entry: object, budget: int) -> int:
    from modelopt_mlir.api import format_size
    from modelopt_mlir.maxbatch import Probe, eager_max_batch_size, max_batch_size
    from modelopt_mlir.zoo import bench_optimizer

    def build(batch: int) -> object:
        return entry.build(batch=batch, seq=args.seq, size=args.size)  # type: ignore[attr-defined]

    def make_optimizer(model: object) -> object:
        return bench_optimizer(args.optimizer, model)  # type: ignore[arg-type]

    def progress(label: str):
        def show(probe: Probe) -> None:
            if args.quiet:
                return
            size = format_size(probe.footprint) if probe.footprint is not None else "-"
            verdict = "fits" if probe.fits else "does not fit"
            extra = f" ({probe.note})" if probe.note and probe.fits else ""
            print(
                f"{PROG}: {label}: batch {probe.batch}: {size} {verdict}{extra} "
                f"[{probe.seconds:.0f} s]",
                file=sys.stderr,
                flush=True,
            )

        return show

    rows = []
    try:
        if not args.no_eager:
            eager = eager_max_batch_size(
                build, budget, make_optimizer, start=args.start, progress=progress("eager")
            )
            rows.append(("PyTorch eager (MemTracker)", eager))
        modes = ["off", "auto"] if args.recompute == "both" else [args.recompute]
        for mode in modes:
            label = "ours" if mode == "off" else "ours + recompute"
            ours = max_batch_size(
                build,
                budget,
                make_optimizer,
                recompute=mode,
                max_recompute=args.max_recompute,
                time_limit=args.time_limit,
                start=args.start,
                progress=progress(label),
            )
            rows.append((label, ours))
    except Exception as exc:  # a capture or measurement that fails: say which, no traceback
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    seq = f", seq {args.seq}" if args.seq else ""
    print(
        f"largest batch within {format_size(budget)}: {args.model} {args.size}{seq}, "
        f"{args.optimizer}"
    )
    eager_largest = rows[0][1].largest if not args.no_eager else None
    print(f"{'':28}{'batch':>7}{'footprint':>14}{'vs eager':>10}  probes")
    for label, found in rows:
        footprint = found.footprint
        ratio = ""
        if eager_largest:
            ratio = f"{found.largest / eager_largest:.2f}x"
        size = format_size(footprint) if footprint is not None else "-"
        print(f"{label:<28}{found.largest:>7}{size:>14}{ratio:>10}  {len(found.probes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
