"""The kind of every arena buffer of a training step, from the unplanned memref IR: what the
timeline picture colours by (:mod:`modelopt_mlir.timeline`).

- ``forward``: a forward activation. Its data flows into the loss (training) or the graph is an
  inference graph.
- ``gradient``: a backward temporary. It does not flow into the loss, it depends on the batch,
  and it feeds the update of several parameters (or of one, without touching optimizer data).
- ``optimizer``: an optimizer temporary. It does not flow into the loss and either does not
  depend on the batch at all (step counters, bias corrections, ``beta * m``, weight decay) or
  feeds the update of at most one parameter while being computed from optimizer state,
  parameters, updated values or other optimizer temporaries (Adam's ``sqrt(v) + eps``).
- ``unknown``: none of the above could be decided (e.g. a buffer whose data reaches no output).

A heuristic over data flow through buffers, arguments and SSA values, in program order (which the
plan does not change).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch_mlir import ir

from modelopt_mlir.analysis.function import analyze_function, memory_effects
from modelopt_mlir.ir_context import VIEW_LIKE_OPS, find_function, parse_module, walk

LOSS = 1  # bit 0 of what a value reaches (see _join)
MANY = 1  # above bit 0: two or more parameter groups


def _join(a: int, b: int) -> int:
    """What a value reaches that reaches both ``a`` and ``b``: the loss if either does; no
    parameter group, one, or two or more (all the kinds need to know)."""
    group_a, group_b = a >> 1, b >> 1
    if group_b == 0 or group_a == group_b:
        group = group_a
    elif group_a == 0:
        group = group_b
    else:
        group = MANY
    return group << 1 | (a | b) & LOSS


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
    func = find_function(module, func_name)
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
            effects = memory_effects(nested)
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
    # What a value reaches, as a small int (see _join): bit 0 is the loss; above it 0 for no
    # parameter group, 1 for two or more, 2 + k for group k alone. (A bit per group made every
    # union cost the number of parameters: quadratic in the depth of the model.)
    names: dict[str, int] = {}
    reaches_output = {
        ("a", arg): (2 + names.setdefault(name, len(names))) << 1
        for arg, name in sorted((update_groups or {}).items())
    }
    for arg in loss_args:
        reaches_output[("a", arg)] = LOSS

    # Backward, in reverse program order: which outputs the value each unit writes reaches.
    # ``future[m]`` is what the value held in memory node m at this point reaches; an output's
    # final value reaches that output.
    reach_unit = [0] * len(units)
    future: dict[tuple[str, int], int] = dict(reaches_output)
    for index in range(len(units) - 1, -1, -1):
        mask = 0
        for node in writes[index]:
            mask = _join(mask, future.get(node, 0))
        for consumer in consumers[index]:
            mask = _join(mask, reach_unit[consumer])
        reach_unit[index] = mask
        for node in whole_writes[index] - reads[index]:
            future[node] = 0
        for node in reads[index]:
            future[node] = _join(future.get(node, 0), mask)

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

    kinds = ["unknown"] * len(analysis.buffers)
    optimizer_buffers: set[tuple[str, int]] = set()
    order = sorted(range(len(analysis.buffers)), key=lambda b: min(writers.get(b, [len(units)])))
    for b in order:
        node = ("b", b)
        mask = 0
        for unit in writers.get(b, []):
            mask = _join(mask, reach_unit[unit])
        if mask & LOSS:
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
        if not from_batch or (mask >> 1 != MANY and touches_optimizer):
            kinds[b] = "optimizer"
            optimizer_buffers.add(node)
        else:
            kinds[b] = "gradient"
    return kinds
