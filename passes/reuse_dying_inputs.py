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

The merged buffer is one buffer to memory-plan, whose dependence analysis keeps every later
reorder valid. Runs on memref IR before memory-plan; functions it cannot analyse are left as they
are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.analysis.function import VIEW_LIKE_OPS, AnalysisError, analyze_function
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
    return merged


@dataclass(frozen=True)
class _Merge:
    kept: int  # buffer index whose alloc stays
    dropped: int  # buffer index whose uses move to ``kept``
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

    merges: list[_Merge] = []
    for index, unit in enumerate(analysis.units):
        for source, target in _candidate_pairs(unit):
            if source not in buffer_of or target not in buffer_of:
                continue
            kept, dropped = find(buffer_of[source]), find(buffer_of[target])
            if kept == dropped or analysis.buffers[kept].size != analysis.buffers[dropped].size:
                continue
            if max(users[kept]) != index or min(users[dropped]) != index:
                continue
            # The pair must be the op's only access to either buffer (no view read elsewhere).
            if _accesses(unit, root, find, kept) != 1 or _accesses(unit, root, find, dropped) != 1:
                continue
            holder[dropped] = kept
            users[kept] |= users[dropped]
            merges.append(_Merge(kept, dropped, unit if unit.name == "memref.copy" else None))
            break  # the op's operands changed roles; one merge per op
    frees = {buffer.index: list(buffer.deallocs) for buffer in analysis.buffers}
    for merge in merges:
        kept = analysis.buffers[merge.kept]
        dropped = analysis.buffers[merge.dropped]
        # The merged buffer lives as long as the dropped one did: free it where that was freed.
        for dealloc in frees[merge.kept]:
            dealloc.erase()
        frees[merge.kept] = frees.pop(merge.dropped)
        dropped.alloc.results[0].replace_all_uses_with(kept.alloc.results[0])
        if merge.copy is not None:
            merge.copy.erase()
        dropped.alloc.erase()
    return len(merges)


def _candidate_pairs(unit: ir.Operation) -> list[tuple[ir.Value, ir.Value]]:
    """(input, output) operand pairs of ``unit`` that may share a buffer if the input dies here
    and the output is born here: both the whole buffer, same type, element for element."""
    if unit.name == "memref.copy":
        source, target = unit.operands[0], unit.operands[1]
        return [(source, target)] if source.type == target.type else []
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
        for i, source in enumerate(inputs):
            if maps[i] == out_map and source.type == target.type:
                pairs.append((source, target))
    return pairs


def _nested(op: ir.Operation) -> list[ir.Operation]:
    """``op`` and every op nested in its regions."""
    ops, stack = [], [op]
    while stack:
        current = stack.pop()
        ops.append(current)
        for region in current.regions:
            for block in region.blocks:
                stack.extend(nested.operation for nested in block.operations)
    return ops


def _alias_roots(units: list[ir.Operation], buffer_of: dict[ir.Value, int]) -> dict[ir.Value, int]:
    """Every value that is a buffer or a view of one -> the buffer's index."""
    root = dict(buffer_of)
    for unit in units:
        for op in _nested(unit):
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
        for op in _nested(unit)
        if op.name not in VIEW_LIKE_OPS
        for operand in op.operands
        if operand in root and find(root[operand]) == buffer
    )


def _has_uses(value: ir.Value) -> bool:
    return any(True for _ in value.uses)
