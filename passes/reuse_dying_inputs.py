"""reuse-dying-inputs: an elementwise op whose input buffer dies there writes its result into
that buffer instead of a fresh one.

Bufferization gives every elementwise op a new result buffer, so a chain of elementwise ops
(activation backward, an optimizer's moment update, the loss gradient) holds two full-size
buffers at every step. When, in program order, an op is the last use of an input buffer and the
first use of an output buffer of the same type, reads each element of the input only at the
iteration that writes the same element of the output (equal permutation indexing maps, all loops
parallel) and never reads the output's old contents, the output can live in the input's buffer:
every element is read before it is overwritten and nothing reads the input afterwards. The same
holds for ``memref.copy`` from a dying buffer into a fresh one, which then disappears.

An argument the step updates in place (``modelopt.updated``) can hold such a result too: when an
op reads the argument's old value for the last time and the argument is next touched by the op
that writes its new value (an optimizer's ``beta * m`` before ``m' = beta * m + (1 - beta) * g``),
the intermediate result lives in the argument until that write, as torch.optim's in-place ops
do. The write must not read the argument's old value, and nothing else may touch the argument in
between.

An output argument (``modelopt.noalias``, written once by ``memref.copy`` from a fresh buffer or
a reshape of one, read nowhere) holds that buffer itself: the buffer becomes a reshape of the
argument and the copy disappears, as if the last op had written its result into the out-param.

The merged buffer is one buffer to memory-plan, whose dependence analysis keeps every later
reorder valid. Runs on memref IR before memory-plan; functions it cannot analyse are left as they
are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.analysis.function import (
    NOALIAS_ATTRS,
    VIEW_LIKE_OPS,
    AnalysisError,
    analyze_function,
    argument_attributes,
    walk,
)
from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.passes import ModulePass


@dataclass(frozen=True)
class ReuseDyingInputsPass(ModulePass):
    name = "reuse-dying-inputs"
    summary = "Write an elementwise result into the buffer of an input that dies at that op"

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        reuse_dying_inputs(module)


def reuse_dying_inputs(module: ir.Module) -> int:
    """Rewrite every function of ``module`` in place; return the number of buffers merged."""
    merged = 0
    for op in module.body.operations:
        if op.operation.name == "func.func" and op.regions[0].blocks:
            merged += _reuse_in_function(op.operation)
            merged += _reuse_updated_arguments(op.operation)
            merged += _results_into_outputs(op.operation)
            merged += _results_into_slices(op.operation)
    return merged


@dataclass(frozen=True)
class _Merge:
    kept: int  # buffer index whose alloc stays
    dropped: int  # buffer index whose uses move to ``kept``
    value: ir.Value  # what replaces the dropped alloc: the input (the kept alloc or a reshape)
    copy: ir.Operation | None  # a memref.copy made redundant by the merge


def _reuse_in_function(func: ir.Operation) -> int:
    try:
        analysis = analyze_function(func)
    except AnalysisError:
        return 0
    buffer_of = {buffer.alloc.results[0]: buffer.index for buffer in analysis.buffers}
    root = _alias_roots(analysis.units, buffer_of)
    users = [set(u) for u in analysis.problem.users]
    # Merged buffers map to the buffer that now holds them (union-find with path halving).
    holder = list(range(len(analysis.buffers)))

    def find(buffer: int) -> int:
        while holder[buffer] != buffer:
            holder[buffer] = holder[holder[buffer]]
            buffer = holder[buffer]
        return buffer

    freed = [bool(buffer.deallocs) for buffer in analysis.buffers]  # per group root
    merges: list[_Merge] = []
    for index, unit in enumerate(analysis.units):
        for source, target, reads in _candidate_pairs(unit):
            if target not in buffer_of:
                continue
            whole = _whole_buffer_of(source, buffer_of)
            if whole is None:
                continue
            kept, dropped = find(whole), find(buffer_of[target])
            if kept == dropped or analysis.buffers[kept].size != analysis.buffers[dropped].size:
                continue
            if max(users[kept]) != index or min(users[dropped]) != index:
                continue
            # The op touches either buffer only through the pair (no view read elsewhere; the
            # input may be read twice at the same element, as in ``g * g``).
            if (
                _accesses(unit, root, find, kept) != reads
                or _accesses(unit, root, find, dropped) != 1
            ):
                continue
            # A reshaped input stands in for the dropped alloc: no dealloc may free a view.
            if source not in buffer_of and (freed[kept] or freed[dropped]):
                continue
            holder[dropped] = kept
            freed[kept] = freed[dropped]  # the group is freed where the dropped buffer was
            users[kept] |= users[dropped]
            copy = unit if unit.name == "memref.copy" else None
            merges.append(_Merge(kept, dropped, source, copy))
            break  # the op's operands changed roles; one merge per op
    frees = {buffer.index: list(buffer.deallocs) for buffer in analysis.buffers}
    replaced: dict[int, ir.Value] = {}  # dropped buffer -> the value now standing for it
    for merge in merges:
        kept = analysis.buffers[merge.kept]
        dropped = analysis.buffers[merge.dropped]
        # The merged buffer lives as long as the dropped one did: free it where that was freed.
        for dealloc in frees[merge.kept]:
            dealloc.erase()
        frees[merge.kept] = frees.pop(merge.dropped)
        value = merge.value
        while value in buffer_of and value != kept.alloc.results[0]:
            value = replaced.get(buffer_of[value], kept.alloc.results[0])
        replaced[merge.dropped] = value
        dropped.alloc.results[0].replace_all_uses_with(value)
        if merge.copy is not None:
            merge.copy.erase()
        dropped.alloc.erase()
    return len(merges)


def _candidate_pairs(unit: ir.Operation) -> list[tuple[ir.Value, ir.Value, int]]:
    """(input, output, reads) operand pairs of ``unit`` that may share a buffer if the input dies
    here and the output is born here: both the whole buffer, same type, element for element;
    ``reads`` counts the input operands that are this input with the output's indexing map."""
    if unit.name == "memref.copy":
        source, target = unit.operands[0], unit.operands[1]
        return [(source, target, 1)] if source.type == target.type else []
    if unit.name != "linalg.generic":
        return []
    iterators = ir.ArrayAttr(unit.attributes["iterator_types"])
    if any("parallel" not in str(kind) for kind in iterators):
        return []
    segments = list(ir.DenseI32ArrayAttr(unit.attributes["operandSegmentSizes"]))
    operands = list(unit.operands)
    inputs, outputs = operands[: segments[0]], operands[segments[0] :]
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(unit.attributes["indexing_maps"])]
    body = unit.regions[0].blocks[0]
    pairs = []
    for k, target in enumerate(outputs):
        out_map = maps[len(inputs) + k]
        if not out_map.is_permutation or _has_uses(body.arguments[len(inputs) + k]):
            continue
        matching = [
            source
            for i, source in enumerate(inputs)
            if maps[i] == out_map and source.type == target.type
        ]
        pairs += [(source, target, matching.count(source)) for source in dict.fromkeys(matching)]
    return pairs


def _whole_buffer_of(value: ir.Value, buffer_of: dict[ir.Value, int]) -> int | None:
    """The buffer ``value`` is, or is all of through reshapes (collapse_shape / expand_shape of
    an identity-layout buffer keep every element in place)."""
    while value not in buffer_of:
        owner = value.owner
        if isinstance(owner, ir.Block) or owner.name not in (
            "memref.collapse_shape",
            "memref.expand_shape",
        ):
            return None
        value = owner.operands[0]
    return buffer_of[value]


def _alias_roots(units: list[ir.Operation], buffer_of: dict[ir.Value, int]) -> dict[ir.Value, int]:
    """Every value that is a buffer or a view of one -> the buffer's index."""
    root = dict(buffer_of)
    for unit in units:
        for op in walk(unit):
            if op.name in VIEW_LIKE_OPS and len(op.operands) and op.operands[0] in root:
                for result in op.results:
                    root[result] = root[op.operands[0]]
    return root


def _accesses(
    unit: ir.Operation, root: dict[ir.Value, int], find: Callable[[int], int], buffer: int
) -> int:
    """How many operands of ``unit`` (nested ops included) reach ``buffer``'s group."""
    return sum(
        1
        for op in walk(unit)
        if op.name not in VIEW_LIKE_OPS
        for operand in op.operands
        if operand in root and find(root[operand]) == buffer
    )


def _has_uses(value: ir.Value) -> bool:
    return any(True for _ in value.uses)


def _reuse_updated_arguments(func: ir.Operation) -> int:
    """Put a fresh buffer born at the last read of an updated argument's old value into the
    argument, when the argument's next use is the write of its new value."""
    try:
        analysis = analyze_function(func)
    except AnalysisError:
        return 0
    arguments = [
        arg for i, arg in enumerate(func.regions[0].blocks[0].arguments) if _is_updated(func, i)
    ]
    if not arguments:
        return 0
    buffer_of = {buffer.alloc.results[0]: buffer.index for buffer in analysis.buffers}
    root = _alias_roots(analysis.units, buffer_of)
    users = analysis.problem.users
    # Units that read or write each argument, directly or through a view: unit -> accesses.
    touching = _argument_accesses(analysis.units, arguments)
    merged = 0
    for position, argument in enumerate(arguments):
        accesses = touching[position]
        uses = sorted(accesses)
        for first, second in zip(uses, uses[1:], strict=False):
            reader, writer = analysis.units[first], analysis.units[second]
            pair = next(
                (
                    (s, t)
                    for s, t, _ in _candidate_pairs(reader)
                    if s == argument and t in buffer_of
                ),
                None,
            )
            if pair is None or accesses[first] != 1:
                continue
            buffer = buffer_of[pair[1]]
            if min(users[buffer]) != first or max(users[buffer]) > second:
                continue
            if accesses[second] != 1:
                continue
            if not _overwrites(writer, argument, root, buffer, pair[1]):
                continue
            if _accesses(reader, root, lambda b: b, buffer) != 1:
                continue
            alloc = analysis.buffers[buffer]
            for dealloc in alloc.deallocs:
                dealloc.erase()
            alloc.alloc.results[0].replace_all_uses_with(argument)
            alloc.alloc.erase()
            merged += 1
            break  # the argument's uses changed; one intermediate per argument
    return merged


def _argument_accesses(
    units: list[ir.Operation], arguments: list[ir.Value]
) -> list[dict[int, int]]:
    """For each of ``arguments``: unit index -> how many operands of that unit (nested ops
    included, views not counted) reach the argument, for the units that touch it. One walk for
    all arguments (each its own walk made this quadratic in a training step's size)."""
    root: dict[ir.Value, int] = {argument: i for i, argument in enumerate(arguments)}
    counts: list[dict[int, int]] = [{} for _ in arguments]
    for index, unit in enumerate(units):
        for op in walk(unit):
            if op.name in VIEW_LIKE_OPS:
                if len(op.operands) and op.operands[0] in root:
                    for result in op.results:
                        root[result] = root[op.operands[0]]
                continue
            for operand in op.operands:
                argument = root.get(operand)
                if argument is not None:
                    counts[argument][index] = counts[argument].get(index, 0) + 1
    return counts


def _overwrites(
    writer: ir.Operation,
    argument: ir.Value,
    root: dict[ir.Value, int],
    buffer: int,
    buffer_value: ir.Value,
) -> bool:
    """``writer`` writes the whole ``argument`` (its only access to it) without reading its old
    value, and reads ``buffer`` (if at all) element for element at the positions it writes."""
    if writer.name == "memref.copy":
        source = writer.operands[0]
        return writer.operands[1] == argument and (
            source == buffer_value or root.get(source) != buffer
        )
    if writer.name != "linalg.generic":
        return False
    segments = list(ir.DenseI32ArrayAttr(writer.attributes["operandSegmentSizes"]))
    operands = list(writer.operands)
    inputs, outputs = operands[: segments[0]], operands[segments[0] :]
    if argument not in outputs:
        return False
    if any(
        "parallel" not in str(kind) for kind in ir.ArrayAttr(writer.attributes["iterator_types"])
    ):
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(writer.attributes["indexing_maps"])]
    position = outputs.index(argument)
    out_map = maps[len(inputs) + position]
    body = writer.regions[0].blocks[0]
    if not out_map.is_permutation or _has_uses(body.arguments[len(inputs) + position]):
        return False
    reads = [i for i, value in enumerate(inputs) if root.get(value) == buffer]
    element_for_element = all(inputs[i] == buffer_value and maps[i] == out_map for i in reads)
    return element_for_element and _accesses(writer, root, lambda b: b, buffer) == len(reads)


def _is_updated(func: ir.Operation, index: int) -> bool:
    """The step overwrites argument ``index`` and no other argument aliases it, so nobody but
    this function sees its contents before the new value is written."""
    names = argument_attributes(func, index)
    return "modelopt.updated" in names and bool(names.keys() & set(NOALIAS_ATTRS))


_RESHAPES = ("memref.collapse_shape", "memref.expand_shape")


def _results_into_outputs(func: ir.Operation) -> int:
    """Let an output argument hold the fresh buffer that is copied into it."""
    block = func.regions[0].blocks[0]
    # (argument, its only use: the copy into it), found before any analysis.
    outputs = []
    for index, argument in enumerate(block.arguments):
        if not argument_attributes(func, index).keys() & set(NOALIAS_ATTRS):
            continue
        uses = list(argument.uses)
        if len(uses) == 1 and uses[0].owner.name == "memref.copy" and uses[0].operand_number == 1:
            outputs.append((argument, uses[0].owner))
    if not outputs:
        return 0
    try:
        analysis = analyze_function(func)
    except AnalysisError:
        return 0
    buffer_of = {buffer.alloc.results[0]: buffer.index for buffer in analysis.buffers}
    root = _alias_roots(analysis.units, buffer_of)
    users = analysis.problem.users
    step_of = {unit: step for step, unit in enumerate(analysis.units)}
    # Every merge is decided on the IR as analysed, then all are made (each touches only its
    # own buffer, copy and reshapes; an erased op must not be compared with again).
    merges = []
    for argument, copy in outputs:
        source = copy.operands[0]
        value = source
        while value not in buffer_of and isinstance(value, ir.OpResult):
            producer = value.owner
            if producer.name not in _RESHAPES:
                break
            value = producer.operands[0]
        if value not in buffer_of or root.get(source) != buffer_of[value]:
            continue
        buffer = analysis.buffers[buffer_of[value]]
        step = step_of.get(copy.operation)
        if step is None or max(users[buffer.index]) != step:
            continue
        target = ir.MemRefType(argument.type)
        kept = ir.MemRefType(value.type)
        if not (_identity_layout(target) and _identity_layout(kept)):
            continue
        if target.element_type != kept.element_type or _elements(target) != _elements(kept):
            continue
        merges.append((argument, copy, source, value, buffer, kept))
    for argument, copy, source, value, buffer, kept in merges:
        with ir.InsertionPoint(buffer.alloc), buffer.alloc.location:
            stand_in = _reshaped(argument, kept)
        for dealloc in buffer.deallocs:
            dealloc.erase()
        value.replace_all_uses_with(stand_in)
        copy.erase()
        # The reshapes that only fed the copy (none when the copy read the alloc itself).
        while (
            isinstance(source, ir.OpResult)
            and source.owner.name in _RESHAPES
            and not _has_uses(source)
        ):
            view = source.owner
            source = view.operands[0]
            view.erase()
        buffer.alloc.erase()
    return len(merges)


def _results_into_slices(func: ir.Operation) -> int:
    """Let a slice of a buffer hold the fresh buffer that is copied into it (the pieces of a
    concatenation, a grouped convolution's groups), when the fresh buffer dies at the copy,
    is used only by linalg ops and that copy, and nothing touches the sliced buffer from the
    fresh one's first use to the copy: the slice then holds, at the copy, what the copy would
    have written, and nothing read it before."""
    try:
        analysis = analyze_function(func)
    except AnalysisError:
        return 0
    buffer_of = {buffer.alloc.results[0]: buffer.index for buffer in analysis.buffers}
    root = _alias_roots(analysis.units, buffer_of)
    users = [set(u) for u in analysis.problem.users]
    step_of = {unit: step for step, unit in enumerate(analysis.units)}
    targets: set[int] = set()  # buffers that hold slices now: never merged away themselves
    erased: set[int] = set()  # units (copies) erased by an earlier merge
    block = func.regions[0].blocks[0]
    position: dict[ir.Operation, float] = {
        op.operation: float(i) for i, op in enumerate(block.operations)
    }
    merged = 0
    for step, copy in enumerate(analysis.units):
        if copy.name != "memref.copy":
            continue
        source, slice_ = copy.operands[0], copy.operands[1]
        fresh = buffer_of.get(source)
        subview = slice_.owner
        if fresh is None or fresh in targets or isinstance(subview, ir.Block):
            continue
        if subview.name != "memref.subview" or len(subview.operands) != 1:
            continue  # dynamic offsets or sizes: they may not be defined early enough
        whole = buffer_of.get(subview.operands[0])
        if whole is None or whole == fresh:
            continue
        kept, dropped = analysis.buffers[whole], analysis.buffers[fresh]
        if kept.deallocs or dropped.deallocs or max(users[fresh]) != step:
            continue
        if ir.MemRefType(source.type).shape != ir.MemRefType(slice_.type).shape:
            continue
        if ir.MemRefType(source.type).element_type != ir.MemRefType(slice_.type).element_type:
            continue
        uses = [use.owner.operation for use in source.uses]
        if not all((u.name.startswith("linalg.") or u == copy) and u in step_of for u in uses):
            continue
        first = min(users[fresh])
        if any(
            _accesses(analysis.units[u], root, lambda b: b, whole)
            for u in range(first, step)
            if u not in erased
        ):
            continue
        # The sliced buffer and its slice, defined before the fresh buffer's first use.
        here = position[dropped.alloc]
        for op in (kept.alloc, subview.operation):
            if position[op] > here:
                op.move_before(dropped.alloc)
                position[op] = here - 0.5
        source.replace_all_uses_with(slice_)
        copy.erase()
        erased.add(step)
        dropped.alloc.erase()
        users[whole] |= users[fresh]
        targets.add(whole)
        merged += 1
    return merged


def _identity_layout(memref: ir.MemRefType) -> bool:
    try:
        layout = ir.AffineMapAttr(memref.layout).value
    except (TypeError, ValueError):  # a strided layout
        return False
    return layout == ir.AffineMap.get_identity(memref.rank)


def _elements(memref: ir.MemRefType) -> int:
    count = 1
    for size in memref.shape:
        count *= size
    return count


def _reshaped(value: ir.Value, result: ir.MemRefType) -> ir.Value:
    """``value`` (contiguous) viewed as ``result``: flattened to one dimension, then expanded."""
    from torch_mlir.dialects import memref

    source = ir.MemRefType(value.type)
    if list(source.shape) == list(result.shape):
        return value
    count = _elements(source)
    flat = value
    if source.rank != 1:
        flat_type = ir.MemRefType.get([count], source.element_type)
        flat = memref.collapse_shape(flat_type, value, [list(range(source.rank))])
    if result.rank == 1:
        return flat
    if result.rank == 0:
        return memref.collapse_shape(result, flat, [])
    return memref.expand_shape(result, flat, [list(range(result.rank))], [], list(result.shape))
