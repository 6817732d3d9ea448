"""The whole training step (and forward pass) against PyTorch eager, measured as a user would.

    python bench/vs_pytorch.py [--model NAME ...] [--optimizer adam|sgd ...] [--gpt2-small]
                               [--no-inference] [--time-limit S] [--recompute]

For every zoo model (tiny) with Adam and with SGD (momentum 0.9), and in inference, one row:
PyTorch eager's peak for one steady-state step (torch's MemTracker, in this process, one
warm-up step first, by kind), our whole-step footprint (parameters, optimizer state, model
buffers and batch passed once and updated in place, outputs, the planned arena, anything left
outside the arena), the ratio, the same footprint with the program-order peak instead of our
arena, and the solver status (optimal, feasible, or timeout: a search stopped at the time
limit). ``--gpt2-small`` adds GPT-2 small (124M, seq 128, Adam) at batch 8 and batch 1.
``--recompute`` plans with ``recompute=auto`` and appends the extra FLOPs where it recomputed.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from modelopt_mlir.api import PlanReport, PlanWarning, plan
from modelopt_mlir.zoo import ZOO, ZooModel, bench_optimizer

KIND_COLUMNS = (
    ("parameters", "param"),
    ("gradients", "grad"),
    ("optimizer state", "opt"),
    ("optimizer temporaries", "opt tmp"),
    ("activations", "act"),
    ("temporaries", "tmp"),
)


def mib(value: int) -> str:
    return f"{value / (1 << 20):,.2f}"


def measure(
    zoo: ZooModel, optimizer: str | None, time_limit: float, recompute: str = "off"
) -> PlanReport:
    """Plan one step (``optimizer`` None: the forward pass) with eager measured alongside."""
    if optimizer is None:
        return plan(
            zoo.model,
            zoo.example_inputs,
            int_ranges={k: v for k, v in zoo.int_ranges.items() if k.startswith("input")},
            time_limit=time_limit,
            compare_eager=True,
            progress=False,
            recompute=recompute,
        ).report
    return zoo.plan(
        bench_optimizer(optimizer, zoo.model),
        time_limit=time_limit,
        compare_eager=True,
        progress=False,
        recompute=recompute,
    ).report


HEADER = (
    f"{'model':<22} {'eager MiB':>10} "
    + " ".join(f"{short:>8}" for _, short in KIND_COLUMNS)
    + f" {'state':>9} {'arena':>9} {'ours MiB':>9} {'ours/eager':>10} {'prog-order/eager':>16}"
    + f" {'status':>9}"
)


def row(name: str, report: PlanReport) -> str:
    assert report.eager is not None
    kinds = " ".join(f"{mib(report.eager.by_kind.get(k, 0)):>8}" for k, _ in KIND_COLUMNS)
    state = report.arguments_bytes
    program_order = report.program_order_footprint_bytes / report.eager.total
    return (
        f"{name:<22} {mib(report.eager.total):>10} {kinds} {mib(state):>9} "
        f"{mib(report.arena_bytes + report.left_alone_bytes):>9} "
        f"{mib(report.footprint_bytes):>9} {report.vs_eager:>10.3f} {program_order:>16.3f}"
        f" {report.status or '-':>9}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=sorted(ZOO), help="only these")
    parser.add_argument("--optimizer", action="append", choices=("adam", "sgd"))
    parser.add_argument("--gpt2-small", action="store_true", help="add GPT-2 small, b8 and b1")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="plan with recompute=auto (the extra FLOPs go in the last column)",
    )
    args = parser.parse_args(argv)
    # A search that stops at the time limit shows as "timeout" in the status column.
    warnings.simplefilter("ignore", PlanWarning)
    models = args.model or list(ZOO)
    optimizers = args.optimizer or ["adam", "sgd"]

    sections: list[tuple[str, list[tuple[str, ZooModel, str | None]]]] = []
    for optimizer in optimizers:
        label = "Adam" if optimizer == "adam" else "SGD momentum 0.9"
        cases = [(name, ZOO[name].build(), optimizer) for name in models]
        if args.gpt2_small and optimizer == "adam":
            cases.append(("gpt2-small b8", ZOO["gpt2"].build(size="small"), optimizer))
            cases.append(("gpt2-small b1", ZOO["gpt2"].build(batch=1, size="small"), optimizer))
        sections.append((f"training step, {label}", cases))
    if not args.no_inference:
        sections.append(("inference", [(name, ZOO[name].build(), None) for name in models]))

    start = time.perf_counter()
    for title, cases in sections:
        print(f"\n== {title} (MiB; eager by kind at its peak; ours = state + arena)")
        print(HEADER)
        ratios = []
        for name, zoo, optimizer in cases:
            report = measure(zoo, optimizer, args.time_limit, "auto" if args.recompute else "off")
            ratios.append(report.vs_eager or 0.0)
            extra = ""
            if report.recompute is not None:
                extra = f" recompute {report.recompute['extra_fraction']:.1%} FLOPs"
            print(row(name, report) + extra, flush=True)
        print(f"{'average ours/eager':<22} {sum(ratios) / len(ratios):.3f}")
    print(f"\n({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
