"""How planning a training step grows with the model: GPT-2 and LLaMA-style steps of more layers.

    python bench/scale.py [--gpt2-layers 12 24 48] [--llama-layers 8 16 32]
                          [--llama-dim 512 --llama-heads 8 --llama-hidden 1408 --llama-vocab 32000]
                          [--time-limit S] [--quick] [--meta] [--llama-7b] [--json FILE]

One row per model and depth, each planned with ``plan()`` in a fresh process (so that its peak
RSS is its own): GPT-2 (transformers, width 768, 12 heads, vocab 50257, batch 4, seq 128, Adam)
and the zoo's LLaMA-style model (RMSNorm, rotary attention, SwiGLU; batch 1, seq 512, AdamW).
Columns: schedulable units, allocs, seconds per stage (capture, import, bufferize, parse, plan,
classify) and in all, peak RSS, the arena against the bound over all orders, and the
program-order peak. Under each model, the growth exponent of every stage between its smallest
and largest depth: log(time ratio) / log(units ratio), 1 for linear growth.
``--quick`` runs 4 and 8 GPT-2 layers and 2 and 4 LLaMA layers.

``--meta`` builds every model on the meta device and plans from shapes alone (no weights, no
optimizer state in memory; ``plan()`` validates the plan but runs nothing). ``--llama-7b`` is the
LLaMA-2-7B-shaped row of issue 14: dim 4096, 32 heads, hidden 11008, vocab 32000, 32 layers,
batch 1, seq 512, AdamW, on the meta device (its real state would take 112 GB):

    python bench/scale.py --llama-7b
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import subprocess
import sys
import time
import warnings

STAGES = ("capture", "import", "bufferize", "parse", "plan", "classify")


def build(model: str, layers: int, args: argparse.Namespace) -> tuple[object, list, object, object]:
    """(model, example inputs, targets, int_ranges) for one row; with ``--meta`` on the meta
    device (shapes without values: no weight is allocated)."""
    import torch

    torch.manual_seed(0)
    with torch.device("meta") if args.meta else contextlib.nullcontext():
        return _build_on(model, layers, args)


def _build_on(
    model: str, layers: int, args: argparse.Namespace
) -> tuple[object, list, object, object]:
    import torch

    if model == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            n_layer=layers,
            n_embd=768,
            n_head=12,
            n_positions=1024,
            vocab_size=50257,
            attn_pdrop=0.0,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            use_cache=False,
            bos_token_id=0,
            eos_token_id=0,
        )
        config._attn_implementation = "eager"  # sdpa's backward does not lower
        net = GPT2LMHeadModel(config)
        vocab, batch, seq = 50257, 4, 128
    else:
        from modelopt_mlir.zoo import LlamaSmall

        vocab, batch, seq = args.llama_vocab, 1, 512
        net = LlamaSmall(
            vocab,
            max_seq=seq,
            dim=args.llama_dim,
            depth=layers,
            heads=args.llama_heads,
            hidden=args.llama_hidden,
        )
    ids = torch.randint(0, vocab, (batch, seq))
    return net, [ids], ids.clone(), {"input0": (0, vocab), "target": (0, vocab)}


def measure(model: str, layers: int, args: argparse.Namespace) -> dict:
    """Plan one step in this process; the row as a dict."""
    import torch

    from modelopt_mlir.api import plan
    from modelopt_mlir.zoo import next_token_loss

    warnings.simplefilter("ignore")
    net, inputs, targets, int_ranges = build(model, layers, args)
    if model == "gpt2":
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    start = time.perf_counter()
    result = plan(
        net,
        inputs,
        targets,
        next_token_loss,
        optimizer,
        time_limit=args.time_limit,
        progress=False,
        int_ranges=int_ranges,
        # On meta, eager PyTorch's peak costs no memory: MemTracker on meta tensors.
        compare_eager=args.meta,
    )
    total = time.perf_counter() - start
    report = result.report
    eager = {}
    if report.eager is not None:
        eager = {
            "eager": report.eager.total,
            "eager_seconds": report.stage_seconds.get("eager", 0.0),
            "footprint": report.footprint_bytes,
        }
    return {
        "model": model,
        "layers": layers,
        "params": sum(p.numel() for p in net.parameters()),
        "units": report.ops,
        "allocs": report.allocs_planned + report.allocs_left_alone,
        "seconds": {stage: report.stage_seconds.get(stage, 0.0) for stage in STAGES},
        "total": total,
        # ru_maxrss is in KiB on Linux.
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "arena": report.arena_bytes,
        "bound": report.order_lower_bound,
        "program_order_peak": report.program_order_peak,
        "status": report.status,
        "shapes_only": report.shapes_only,
        **eager,
    }


def run_row(model: str, layers: int, args: argparse.Namespace) -> dict:
    """``measure`` in a fresh process (its own peak RSS, its memory returned afterwards)."""
    command = [sys.executable, __file__, "--row", model, str(layers), *_shared_options(args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return {"model": model, "layers": layers, "error": tail or f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _shared_options(args: argparse.Namespace) -> list[str]:
    return [
        f"--time-limit={args.time_limit}",
        f"--llama-dim={args.llama_dim}",
        f"--llama-heads={args.llama_heads}",
        f"--llama-hidden={args.llama_hidden}",
        f"--llama-vocab={args.llama_vocab}",
        *(["--meta"] if args.meta else []),
    ]


def mib(value: float) -> str:
    return f"{value / (1 << 20):,.1f}"


HEADER = (
    f"{'model':<7} {'layers':>6} {'params':>7} {'units':>6} {'allocs':>6} "
    + " ".join(f"{stage:>9}" for stage in STAGES)
    + f" {'total s':>8} {'RSS GiB':>7} {'arena MiB':>10} {'bound MiB':>10} {'/bound':>7}"
    + f" {'prog MiB':>9}  status"
)


def row_line(row: dict) -> str:
    if "error" in row:
        return f"{row['model']:<7} {row['layers']:>6}  failed: {row['error']}"
    line = _row_figures(row)
    if "eager" in row:
        line += (
            f"\n{'':<14} whole-step footprint {row['footprint'] / (1 << 30):,.2f} GiB vs eager "
            f"PyTorch {row['eager'] / (1 << 30):,.2f} GiB (MemTracker on meta tensors, "
            f"{row['eager_seconds']:.1f} s of the total): {row['footprint'] / row['eager']:.3f}x"
        )
    return line


def _row_figures(row: dict) -> str:
    ratio = row["arena"] / row["bound"] if row["bound"] else float("nan")
    return (
        f"{row['model']:<7} {row['layers']:>6} {row['params'] / 1e6:>6.0f}M {row['units']:>6} "
        f"{row['allocs']:>6} "
        + " ".join(f"{row['seconds'][stage]:>9.1f}" for stage in STAGES)
        + f" {row['total']:>8.1f} {row['peak_rss'] / (1 << 30):>7.2f} {mib(row['arena']):>10}"
        + f" {mib(row['bound']):>10} {ratio:>7.3f} {mib(row['program_order_peak']):>9}"
        + f"  {row['status']}"
    )


def growth_line(rows: list[dict]) -> str | None:
    """Each stage's growth exponent between the smallest and largest row of one model."""
    done = [r for r in rows if "error" not in r]
    if len(done) < 2:
        return None
    small, large = done[0], done[-1]
    scale = math.log(large["units"] / small["units"])
    if scale <= 0:
        return None

    def exponent(before: float, after: float) -> str:
        if before <= 0 or after <= 0:
            return "-"
        return f"{math.log(after / before) / scale:.2f}"

    cells = [exponent(small["seconds"][s], large["seconds"][s]) for s in STAGES]
    span = f"{small['layers']}->{large['layers']}"
    return (
        f"{'growth':<7} {span:>6} {'':>7} {'':>6} {'':>6} "
        + " ".join(f"{cell:>9}" for cell in cells)
        + f" {exponent(small['total'], large['total']):>8}"
        + f" {exponent(small['peak_rss'], large['peak_rss']):>7}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpt2-layers", type=int, nargs="*", default=[12, 24, 48])
    parser.add_argument("--llama-layers", type=int, nargs="*", default=[8, 16, 32])
    parser.add_argument("--llama-dim", type=int, default=512)
    parser.add_argument("--llama-heads", type=int, default=8)
    parser.add_argument("--llama-hidden", type=int, default=1408)
    parser.add_argument("--llama-vocab", type=int, default=32000)
    parser.add_argument("--time-limit", type=float, default=10)
    parser.add_argument("--quick", action="store_true", help="4/8 GPT-2, 2/4 LLaMA layers")
    parser.add_argument(
        "--meta", action="store_true", help="build on the meta device: plan from shapes alone"
    )
    parser.add_argument(
        "--llama-7b",
        action="store_true",
        help="the LLaMA-2-7B-shaped row (dim 4096, 32 heads, hidden 11008, vocab 32000, "
        "32 layers) on the meta device, no GPT-2 rows",
    )
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--row", nargs=2, metavar=("MODEL", "LAYERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(measure(args.row[0], int(args.row[1]), args)))
        return 0
    if args.quick:
        args.gpt2_layers, args.llama_layers = [4, 8], [2, 4]
    if args.llama_7b:
        args.gpt2_layers, args.llama_layers = [], [32]
        args.llama_dim, args.llama_heads, args.llama_hidden = 4096, 32, 11008
        args.llama_vocab, args.meta = 32000, True
    print(
        "GPT-2: width 768, 12 heads, vocab 50257, batch 4, seq 128, Adam. LLaMA-style: dim "
        f"{args.llama_dim}, {args.llama_heads} heads, hidden {args.llama_hidden}, vocab "
        f"{args.llama_vocab}, batch 1, seq 512, AdamW. Time limit {args.time_limit:g} s."
        + (" Meta device: shapes only, nothing run on values." if args.meta else "")
    )
    print(HEADER, flush=True)
    rows: list[dict] = []
    for model, depths in (("gpt2", args.gpt2_layers), ("llama", args.llama_layers)):
        model_rows = []
        for layers in depths:
            row = run_row(model, layers, args)
            model_rows.append(row)
            print(row_line(row), flush=True)
        growth = growth_line(model_rows)
        if growth is not None:
            print(growth, flush=True)
        rows += model_rows
    if args.json:
        with open(args.json, "w") as sink:
            json.dump(rows, sink, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
