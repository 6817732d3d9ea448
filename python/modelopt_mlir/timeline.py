"""Timeline picture of an arena plan, like MODeL's visualizer or PyTorch's memory-snapshot viewer:
x is the schedule step, y the arena address, one rectangle per buffer, coloured by kind.

Kinds and how they are inferred (a heuristic, documented here because the picture depends on it):

- ``forward``: a forward activation. Its data flows into the loss (training) or the graph is an
  inference graph.
- ``gradient``: a backward temporary. It does not flow into the loss, it depends on the batch,
  and it feeds the update of several parameters (or of one, without touching optimizer data).
- ``optimizer``: an optimizer temporary. It does not flow into the loss and either does not
  depend on the batch at all (step counters, bias corrections, ``beta * m``, weight decay) or
  feeds the update of at most one parameter while being computed from optimizer state,
  parameters, updated values or other optimizer temporaries (Adam's ``sqrt(v) + eps``).
- ``unknown``: none of the above could be decided (e.g. a buffer whose data reaches no output).

:func:`classify_buffers` computes these from the unplanned memref IR (data flow through buffers,
arguments and SSA values, in program order, which the plan does not change). Without it,
:func:`render_timeline` falls back to keywords in a buffer's location or name.

Rendering needs only matplotlib (Agg backend); classification needs MLIR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

KINDS = ("forward", "gradient", "optimizer", "unknown")
KIND_LABELS = {
    "forward": "forward activation",
    "gradient": "gradient / backward temporary",
    "optimizer": "optimizer temporary",
    "unknown": "unknown",
}
KIND_COLOURS = {
    "forward": "#4C72B0",
    "gradient": "#DD8452",
    "optimizer": "#55A868",
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


def classify_buffers(
    unplanned: Any,
    func_name: str,
    *,
    loss_args: Iterable[int] = (),
    batch_args: Iterable[int] = (),
    optimizer_args: Iterable[int] = (),
    update_groups: Mapping[int, str] | None = None,
    training: bool = True,
    alignment: int = 64,
) -> list[str]:
    """Kind of every arena buffer of ``func_name`` (indexed like the memory-plan report), from
    the unplanned memref IR (an ``ir.Module`` or text). Arguments are function argument indices:
    ``loss_args`` (loss out-param), ``batch_args`` (inputs and targets), ``optimizer_args``
    (parameters and optimizer state in, updated parameters and state out); ``update_groups`` maps
    every updated-parameter/state out-param to the parameter it belongs to."""
    from modelopt_mlir.lowering.cpu import parse_module

    module = parse_module(unplanned) if isinstance(unplanned, str) else unplanned
    with module.context:
        return _classify(
            module,
            func_name,
            loss_args,
            batch_args,
            optimizer_args,
            update_groups,
            training,
            alignment,
        )


def _classify(
    module: Any,
    func_name: str,
    loss_args: Iterable[int],
    batch_args: Iterable[int],
    optimizer_args: Iterable[int],
    update_groups: Mapping[int, str] | None,
    training: bool,
    alignment: int,
) -> list[str]:
    from torch_mlir import ir

    from modelopt_mlir.analysis.function import VIEW_LIKE_OPS, _effects, analyze_function
    from modelopt_mlir.ir_context import walk

    func = None
    for op in module.body.operations:
        if (
            op.operation.name == "func.func"
            and ir.StringAttr(op.attributes["sym_name"]).value == func_name
        ):
            func = op.operation
    if func is None:
        raise ValueError(f"no func.func @{func_name}")
    analysis = analyze_function(func, alignment)
    if not training:
        return ["forward"] * len(analysis.buffers)

    # Memory nodes: ("a", argument index), ("b", buffer index), ("x", other alloc id).
    root: dict[Any, tuple[str, int]] = {}
    for index, argument in enumerate(func.regions[0].blocks[0].arguments):
        root[argument] = ("a", index)
    for buffer in analysis.buffers:
        root[buffer.alloc.results[0]] = ("b", buffer.index)
    for position, kept in enumerate(analysis.left_alone):
        root[kept.op.results[0]] = ("x", position)

    units = analysis.units
    unit_of: dict[Any, int] = {}
    for index, unit in enumerate(units):
        for nested in walk(unit):
            unit_of[nested] = index
    reads: list[set[tuple[str, int]]] = [set() for _ in units]
    writes: list[set[tuple[str, int]]] = [set() for _ in units]
    whole_writes: list[set[tuple[str, int]]] = [set() for _ in units]
    direct = set(root)
    consumers: list[set[int]] = [set() for _ in units]
    producers: list[set[int]] = [set() for _ in units]
    for index, unit in enumerate(units):
        for nested in walk(unit):
            if nested.name in VIEW_LIKE_OPS and len(nested.operands) and nested.operands[0] in root:
                for result in nested.results:
                    root[result] = root[nested.operands[0]]
            for operand in nested.operands:
                owner = operand.owner
                if not isinstance(owner, ir.Block):
                    producer = unit_of.get(
                        owner.operation if hasattr(owner, "operation") else owner
                    )
                    if producer is not None and producer != index:
                        producers[index].add(producer)
                        consumers[producer].add(index)
            effects = _effects(nested)
            if effects is None:  # unmodelled: assume it reads and writes every memref operand
                touched = [root[v] for v in nested.operands if v in root]
                reads[index].update(touched)
                writes[index].update(touched)
                continue
            reads[index].update(root[v] for v in effects[0] if v in root)
            writes[index].update(root[v] for v in effects[1] if v in root)
            # A write through the root value itself (not a view of part of it) replaces the
            # whole contents: out-params double as scratch space before their final write.
            whole_writes[index].update(root[v] for v in effects[1] if v in direct)

    batch_set = {("a", i) for i in batch_args}
    optimizer_set = {("a", i) for i in optimizer_args}
    groups = dict(update_groups or {})
    out_bit = {("a", arg): 1 << position for position, arg in enumerate(sorted(groups))}
    for arg in loss_args:
        out_bit[("a", arg)] = 1 << len(groups)
    loss_bit = 1 << len(groups)
    group_of_bit = {1 << position: groups[arg] for position, arg in enumerate(sorted(groups))}

    # Backward, in reverse program order: which outputs the value each unit writes reaches.
    # ``future[m]`` is what the value held in memory node m at this point reaches; an output's
    # final value reaches that output.
    reach_unit = [0] * len(units)
    future: dict[tuple[str, int], int] = dict(out_bit)
    for index in range(len(units) - 1, -1, -1):
        mask = 0
        for node in writes[index]:
            mask |= future.get(node, 0)
        for consumer in consumers[index]:
            mask |= reach_unit[consumer]
        reach_unit[index] = mask
        for node in whole_writes[index] - reads[index]:
            future[node] = 0
        for node in reads[index]:
            future[node] = future.get(node, 0) | mask

    # Forward, in program order: which values depend on the batch.
    batch_unit = [False] * len(units)
    holds_batch: set[tuple[str, int]] = set(batch_set)
    for index in range(len(units)):
        depends = any(n in holds_batch for n in reads[index])
        depends = depends or any(batch_unit[p] for p in producers[index])
        batch_unit[index] = depends
        if depends:
            holds_batch.update(writes[index])
        else:
            holds_batch.difference_update(whole_writes[index] - reads[index])

    writers: dict[int, list[int]] = {}
    for index in range(len(units)):
        for kind, node in writes[index]:
            if kind == "b":
                writers.setdefault(node, []).append(index)

    def group_count(mask: int) -> int:
        names = set()
        bit = 1
        while bit <= mask:
            if mask & bit and bit in group_of_bit:
                names.add(group_of_bit[bit])
            bit <<= 1
        return len(names)

    kinds = ["unknown"] * len(analysis.buffers)
    optimizer_buffers: set[tuple[str, int]] = set()
    order = sorted(range(len(analysis.buffers)), key=lambda b: min(writers.get(b, [len(units)])))
    for b in order:
        node = ("b", b)
        mask = 0
        for unit in writers.get(b, []):
            mask |= reach_unit[unit]
        if mask & loss_bit:
            kinds[b] = "forward"
            continue
        if mask == 0:
            continue
        from_batch = any(batch_unit[unit] for unit in writers.get(b, []))
        touches_optimizer = any(
            n in optimizer_set or n in optimizer_buffers
            for unit in writers.get(b, [])
            for n in reads[unit]
        )
        if not from_batch or (group_count(mask) <= 1 and touches_optimizer):
            kinds[b] = "optimizer"
            optimizer_buffers.add(node)
        else:
            kinds[b] = "gradient"
    return kinds
