"""modelopt-import: capture a zoo model's training step (or forward pass) from PyTorch and write
bufferized memref IR plus a JSON sidecar describing every argument, ready for
``modelopt-opt --memory-plan``.

Exit status: 0 on success, 1 when the model cannot be captured, imported or bufferized, 2 on a
usage error or an output that cannot be written (FILE.mlir or its FILE.json sidecar, checked
before the capture; directories are not created).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelopt_mlir.tools.cli import ArgumentParser, UsageError, quiet_broken_pipe
from modelopt_mlir.tools.files import first_output_problem

PROG = "modelopt-import"
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}


def _parser(model_names: Sequence[str]) -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Capture a zoo model's training step (or forward pass) from PyTorch as "
        "bufferized memref IR with a JSON sidecar (FILE.json next to FILE.mlir).",
    )
    parser.add_argument(
        "--model",
        required=True,
        choices=model_names,
        metavar="NAME",
        help=f"zoo model: {', '.join(model_names)}",
    )
    parser.add_argument("--batch", type=int, help="batch size (default: the model's)")
    parser.add_argument(
        "--seq",
        type=int,
        help="sequence length; image side for cnn/mobilenet/vit; input features "
        "for mlp (default: the model's)",
    )
    parser.add_argument(
        "--size",
        default="tiny",
        choices=["tiny", "small"],
        help="model size (small: GPT-2 small, 124M parameters)",
    )
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    parser.add_argument(
        "--lr", type=float, help="learning rate (default 0.1 for sgd, 1e-3 for adam/adamw)"
    )
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument(
        "--inference",
        action="store_true",
        help="capture the forward pass only (eval mode), outputs as out-params",
    )
    parser.add_argument("--func-name", default="main", help="name of the captured function")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.mlir",
        help="output IR; the sidecar goes to FILE.json",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print stage timings")
    return parser


@quiet_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    from modelopt_mlir.zoo import ZOO

    parser = _parser(sorted(ZOO))
    try:
        args = parser.parse_args(argv)
        if args.momentum and args.optimizer != "sgd":
            raise UsageError("--momentum applies to --optimizer sgd only")
        output = Path(args.output)
        unwritable = first_output_problem(
            [(args.output, False), (str(output.with_suffix(".json")), False)]
        )
        if unwritable is not None:
            print(f"{PROG}: error: {unwritable}", file=sys.stderr)
            return 2
        entry = ZOO[args.model]
        built = entry.build(batch=args.batch, seq=args.seq, size=args.size)
    except UsageError as exc:
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    return _run(args, built)


def _run(args: argparse.Namespace, built: Any) -> int:
    from modelopt_mlir.frontend.capture import capture_inference, capture_training_step
    from modelopt_mlir.frontend.errors import CaptureError
    from modelopt_mlir.frontend.optimizer import OptimizerConfig

    start = time.perf_counter()
    optimizer = None
    try:
        if args.inference:
            captured = capture_inference(
                built.model,
                built.example_inputs,
                int_ranges=_input_ranges(built.int_ranges),
                func_name=args.func_name,
                progress=args.verbose,
            )
        else:
            lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
            optimizer = OptimizerConfig(
                args.optimizer, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay
            )
            captured = capture_training_step(
                built.model,
                built.example_inputs,
                built.targets,
                built.loss_fn,
                optimizer,
                int_ranges=built.int_ranges,
                func_name=args.func_name,
                progress=args.verbose,
            )
        text = captured.module_text
    except CaptureError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1

    what = (
        "forward pass"
        if args.inference
        else (
            f"training step, {optimizer.kind} lr={optimizer.lr:g}"
            + (f" momentum={optimizer.momentum:g}" if optimizer.momentum else "")
        )
    )
    description = f"{built.description}; {what}"
    output = Path(args.output)
    sidecar_path = output.with_suffix(".json")
    n_out = len(captured.signature.outputs)
    header = [
        f"// Generated by {PROG} --model {args.model}.",
        f"// {description}.",
        f"// @{captured.func_name}: {len(captured.signature.args)} args, the last {n_out} are "
        f"out-params; see {sidecar_path.name}.",
    ]
    sidecar: dict[str, Any] = {"func": captured.func_name, "description": description}
    if optimizer is not None:
        sidecar["optimizer"] = optimizer.to_json()
    sidecar["args"] = captured.signature.to_json()
    try:
        output.write_text("\n".join(header) + "\n" + text)
        sidecar_path.write_text(json.dumps(sidecar, indent=1) + "\n")
    except OSError as exc:  # checked up front; this is a race or a full disk
        print(f"{PROG}: error: cannot write '{exc.filename}': {exc.strerror}", file=sys.stderr)
        return 2
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in captured.timings.items())
    print(
        f"wrote {output} ({len(text) / 1024:.0f} KiB, {text.count('memref.alloc(')} allocs) and "
        f"{sidecar_path} in {time.perf_counter() - start:.1f} s ({timings})",
        file=sys.stderr,
    )
    return 0


def _input_ranges(int_ranges: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {k: v for k, v in int_ranges.items() if k.startswith("input")}


if __name__ == "__main__":
    sys.exit(main())
