"""Timeline picture of an arena plan, like MODeL's visualizer or PyTorch's memory-snapshot viewer:
x is the schedule step, y the arena address, one rectangle per buffer, coloured by kind.

Kinds (forward activation, gradient, optimizer temporary, unknown) come from
:func:`modelopt_mlir.analysis.buffer_kinds.classify_buffers`, which says how they are inferred.
Without them, :func:`render_timeline` falls back to keywords in a buffer's location or name.

Rendering needs only matplotlib (Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

KINDS = ("forward", "gradient", "optimizer", "output", "unknown")
KIND_LABELS = {
    "forward": "forward activation",
    "gradient": "gradient / backward temporary",
    "optimizer": "optimizer temporary",
    "output": "output (outputs=arena: in the arena to the return)",
    "unknown": "unknown",
}
KIND_COLOURS = {
    "forward": "#4C72B0",
    "gradient": "#DD8452",
    "optimizer": "#55A868",
    "output": "#C44E52",
    "unknown": "#9E9E9E",
}
_LOCATION_KEYWORDS = (
    ("optimizer", ("optim", "adam", "sgd", "exp_avg", "momentum")),
    ("gradient", ("backward", "grad", "_bwd")),
    ("forward", ("forward", "_fwd")),
)


def kind_from_location(buffer: Mapping[str, Any]) -> str:
    """Fallback kind from keywords in the buffer's location or name; ``unknown`` if none match."""
    text = f"{buffer.get('location', '')} {buffer.get('name', '')}".lower()
    for kind, words in _LOCATION_KEYWORDS:
        if any(word in text for word in words):
            return kind
    return "unknown"


def _scale(nbytes: float) -> tuple[float, str]:
    for factor, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if nbytes >= 4 * factor:
            return float(factor), unit
    return 1.0, "B"


def live_bytes_per_step(buffers: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bytes of arena buffers live at each step (sizes as planned)."""
    steps = [b for b in buffers if b.get("first_step") is not None]
    if not steps:
        return []
    last = max(b["last_step"] for b in steps)
    delta = [0] * (last + 2)
    for b in steps:
        delta[b["first_step"]] += b["size"]
        delta[b["last_step"] + 1] -= b["size"]
    live, running = [], 0
    for change in delta[:-1]:
        running += change
        live.append(running)
    return live


def render_timeline(
    report: Mapping[str, Any],
    path: str | Path,
    title: str | None = None,
    *,
    kinds: Sequence[str] | None = None,
    upstream_arena: int | None = None,
    state_bytes: int = 0,
    dpi: int = 130,
) -> Path:
    """Draw ``report`` (a memory-plan function report: ``buffers`` with offset, size, first_step,
    last_step; ``arena_size``, ``lower_bound`` (the peak of the chosen order),
    ``program_order_peak``, and when given ``order_lower_bound`` (the bound over all orders) and
    ``status``) to a PNG at ``path``.
    ``state_bytes`` (parameters, optimizer state, batch and outputs: what the caller holds for
    the whole step) is drawn as a band below the arena, so the picture shows the whole footprint.

    A buffer's colour comes from ``kinds[i]``, else its ``kind`` key, else
    :func:`kind_from_location`. Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    buffers = [b for b in report.get("buffers", []) if b.get("first_step") is not None]
    if kinds is None:
        kinds = [b.get("kind") or kind_from_location(b) for b in buffers]
    else:
        kinds = [
            kinds[b["index"]] if "index" in b else k for b, k in zip(buffers, kinds, strict=False)
        ]
    # outputs=arena: the outputs are arena buffers too (listed apart in the report)
    outputs = [o for o in report.get("outputs", []) if o.get("first_step") is not None]
    buffers = buffers + outputs
    kinds = [*kinds, *(["output"] * len(outputs))]
    arena = int(report.get("arena_size", 0))
    lower_bound = int(report.get("lower_bound", 0))  # the peak of the chosen order
    status = str(report.get("status", ""))
    # The bound over all orders, unless the greedy solver searched none (then it is lower_bound).
    order_bound = (
        int(report["order_lower_bound"])
        if "order_lower_bound" in report and status != "heuristic"
        else None
    )
    peak = int(report.get("program_order_peak", 0))
    top = max([arena, lower_bound, peak, upstream_arena or 0, 1])
    factor, unit = _scale(top)
    steps = max((b["last_step"] + 1 for b in buffers), default=1)

    figure, (ax, ax_live) = plt.subplots(
        2, 1, figsize=(13, 7.5), sharex=True, gridspec_kw={"height_ratios": [3.2, 1]}
    )
    by_kind: dict[str, list[Rectangle]] = {}
    for buffer, kind in zip(buffers, kinds, strict=True):
        kind = kind if kind in KIND_COLOURS else "unknown"
        by_kind.setdefault(kind, []).append(
            Rectangle(
                (buffer["first_step"], buffer["offset"] / factor),
                buffer["last_step"] + 1 - buffer["first_step"],
                buffer["size"] / factor,
            )
        )
    thin = len(buffers) > 400
    for kind, rectangles in by_kind.items():
        ax.add_collection(
            PatchCollection(
                rectangles,
                facecolor=KIND_COLOURS[kind],
                edgecolor="white" if not thin else KIND_COLOURS[kind],
                linewidth=0.0 if thin else 0.4,
                alpha=0.85,
            )
        )
    lines = [
        (arena, "arena (planned)", "black", "-"),
        (lower_bound, "peak of the chosen order", "#2CA02C", "--"),
        (peak, "program-order peak", "#D62728", ":"),
    ]
    if order_bound is not None and order_bound != lower_bound:
        lines.insert(2, (order_bound, "bound over all orders", "#17BECF", (0, (1, 3))))
    if upstream_arena:
        lines.append((upstream_arena, "upstream best-fit+liveness", "#9467BD", "-."))
    handles: list[Any] = []
    if state_bytes:
        handles.append(
            ax.add_patch(
                Rectangle(
                    (0, -state_bytes / factor),
                    steps,
                    state_bytes / factor,
                    facecolor="#BBBBBB",
                    edgecolor="#777777",
                    hatch="//",
                    label=f"arguments (each tensor once): {state_bytes / factor:,.2f} {unit}",
                )
            )
        )
    if status:
        handles.append(Patch(facecolor="none", edgecolor="none", label=f"solver status: {status}"))
    for value, label, colour, style in lines:
        handles.append(
            ax.axhline(
                value / factor,
                color=colour,
                linestyle=style,
                linewidth=1.3,
                label=f"{label}: {value / factor:,.2f} {unit}",
            )
        )
    used = [k for k in KINDS if k in by_kind]
    handles += [
        Patch(facecolor=KIND_COLOURS[k], label=f"{KIND_LABELS[k]} ({len(by_kind[k])})")
        for k in used
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    ax.set_xlim(0, steps)
    ax.set_ylim(-state_bytes / factor, top / factor * 1.06)
    ax.set_ylabel(f"arena address ({unit})" + ("; arguments below 0" if state_bytes else ""))
    ax.grid(True, axis="y", alpha=0.3)
    name = report.get("function", "")
    ax.set_title(
        title
        or f"@{name}: {len(buffers)} buffers in a {arena / factor:,.2f} {unit} arena "
        f"(peak of the chosen order {lower_bound / factor:,.2f} {unit})"
    )

    live = live_bytes_per_step(buffers)
    if live:
        ax_live.fill_between(
            range(len(live)), [v / factor for v in live], step="post", color="#4C72B0", alpha=0.5
        )
    ax_live.axhline(lower_bound / factor, color="#2CA02C", linestyle="--", linewidth=1.0)
    ax_live.set_ylabel(f"live ({unit})")
    ax_live.set_xlabel("schedule step (planned order)")
    ax_live.set_ylim(0, top / factor * 1.06)
    ax_live.grid(True, alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
