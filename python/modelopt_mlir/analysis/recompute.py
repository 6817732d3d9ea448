"""What recomputation may clone in one analysed function: plain data for solver/recompute.py.

Pure: reads the IR of a :class:`~modelopt_mlir.analysis.function.FunctionAnalysis`, mutates
nothing. For each unit it gives the memory classes it reads and writes (arena buffers by index,
noalias arguments by :func:`argument_class`, everything else :data:`OTHER`), the arena buffers it
overwrites entirely without reading them, whether a copy of it computes the same values from the
same inputs (a cloneable unit), and its cost in floating-point operations:

- matmul-like named ops: 2 x (product of the loop ranges), e.g. 2mnk;
- convolutions: 2 x output elements x the reduction window (input channels per group x kernel);
- ``linalg.generic``: iteration-space size x the payload's arithmetic ops (at least one);
- fills, copies and transposes: 0 (they move bytes; the solver weighs bytes written too).
"""

from __future__ import annotations

import math
import re

from torch_mlir import ir

from modelopt_mlir.analysis.function import (
    NOALIAS_ATTRS,
    OTHER,
    FunctionAnalysis,
    argument_attributes,
    argument_class,
    memory_effects,
)
from modelopt_mlir.ir_context import VIEW_LIKE_OPS, walk
from modelopt_mlir.solver.recompute import RecomputeProblem

# Views through which a write still covers every element of the buffer underneath.
FULL_VIEW_OPS = frozenset({"memref.expand_shape", "memref.collapse_shape", "memref.cast"})
# Ops whose copy computes the same result from the same operands: no state, no side effects
# beyond writing their outs.
CLONEABLE_OPS = frozenset({"memref.copy"})
CLONEABLE_DIALECTS = frozenset({"linalg"})
# Named linalg ops that overwrite every element of their outs without reading them.
OVERWRITING_NAMED = frozenset({"linalg.fill", "linalg.transpose", "linalg.broadcast", "linalg.map"})
PAYLOAD_FREE = frozenset({"linalg.yield", "linalg.index", "arith.constant"})


def recompute_problem(analysis: FunctionAnalysis) -> RecomputeProblem:
    """The analysed function as a recompute problem (units and buffers as in ``analysis``)."""
    func = analysis.func
    block = func.regions[0].blocks[0]
    # Memory class and "covers the whole buffer" of every memref value we can follow.
    cls: dict[ir.Value, int] = {}
    full: dict[ir.Value, bool] = {}
    for buffer in analysis.buffers:
        value = buffer.alloc.results[0]
        cls[value] = buffer.index
        full[value] = True
    for index, arg in enumerate(block.arguments):
        if argument_attributes(func, index).keys() & set(NOALIAS_ATTRS):
            cls[arg] = argument_class(index)
            full[arg] = True
    for op in analysis.units:
        for nested in walk(op):
            if nested.name in VIEW_LIKE_OPS and nested.operands and nested.operands[0] in cls:
                source = nested.operands[0]
                for result in nested.results:
                    if isinstance(result.type, ir.MemRefType):
                        cls[result] = cls[source]
                        full[result] = full[source] and nested.name in FULL_VIEW_OPS

    reads: list[frozenset[int]] = []
    writes: list[frozenset[int]] = []
    full_writes: list[frozenset[int]] = []
    cloneable: list[bool] = []
    flops: list[int] = []
    written_bytes: list[int] = []
    for op in analysis.units:
        unit_reads: set[int] = set()
        unit_writes: set[int] = set()
        modelled = True
        for nested in walk(op):
            effects = memory_effects(nested)
            if effects is None:
                modelled = False
                continue
            unit_reads.update(cls.get(v, OTHER) for v in effects[0])
            unit_writes.update(cls.get(v, OTHER) for v in effects[1])
        reads.append(frozenset(unit_reads))
        writes.append(frozenset(unit_writes))
        overwritten = _overwritten(op, cls, full)
        full_writes.append(frozenset(overwritten))
        cloneable.append(modelled and _cloneable(op))
        flops.append(op_flops(op))
        written_bytes.append(
            sum(analysis.buffers[b].size for b in unit_writes if b >= 0)
            if op.name != "func.return"
            else 0
        )
    problem = analysis.problem
    return RecomputeProblem(
        num_units=problem.num_units,
        sizes=problem.sizes,
        users=problem.users,
        reads=tuple(reads),
        writes=tuple(writes),
        full_writes=tuple(full_writes),
        cloneable=tuple(cloneable),
        flops=tuple(flops),
        bytes_written=tuple(written_bytes),
        fixed=frozenset(analysis.outputs),
    )


def _cloneable(op: ir.Operation) -> bool:
    name = op.name
    if name in VIEW_LIKE_OPS or name.startswith("memref.alloc"):
        return False
    if name not in CLONEABLE_OPS and name.split(".", 1)[0] not in CLONEABLE_DIALECTS:
        return False
    if len(op.results):
        return False
    # The payload: scalar arithmetic only (no nested memory ops, calls or regions beyond it).
    for nested in walk(op, include_self=False):
        dialect = nested.name.split(".", 1)[0]
        if dialect not in ("arith", "math", "linalg"):
            return False
        if dialect == "linalg" and nested.name not in ("linalg.yield", "linalg.index"):
            return False
    return True


def _overwritten(
    op: ir.Operation, cls: dict[ir.Value, int], full: dict[ir.Value, bool]
) -> set[int]:
    """Arena buffers that ``op`` overwrites in full without reading them: what a copy, a named
    op that fills its init, or an all-parallel generic that never reads its one out writes,
    through views that cover the whole buffer."""
    effects = memory_effects(op)
    if effects is None:
        return set()
    reads, writes = effects
    name = op.name
    if name == "linalg.generic":
        if len(writes) != 1:
            return set()
        iterators = ir.ArrayAttr(op.attributes["iterator_types"])
        if not all("parallel" in str(i) for i in iterators):
            return set()
        maps = ir.ArrayAttr(op.attributes["indexing_maps"])
        if not ir.AffineMapAttr(maps[len(maps) - 1]).value.is_permutation:
            return set()
        body = op.regions[0].blocks[0]
        if list(body.arguments[len(body.arguments) - 1].uses):
            return set()
    elif name != "memref.copy" and name not in OVERWRITING_NAMED:
        return set()
    written = {cls.get(v, OTHER) for v in writes if full.get(v, False)}
    # What the op also reads (through another operand) it does not overwrite blindly.
    return {b for b in written if b >= 0} - {cls.get(v, OTHER) for v in reads}


def _shape(value: ir.Value) -> list[int] | None:
    if not isinstance(value.type, ir.MemRefType):
        return None
    memref_type = ir.MemRefType(value.type)
    if not memref_type.has_static_shape:
        return None
    return list(memref_type.shape)


_CONV = re.compile(r"linalg\.(depthwise_)?conv_")


def op_flops(op: ir.Operation) -> int:
    """Floating-point (and integer) arithmetic of one unit, by the model in the module doc."""
    name = op.name
    if not name.startswith("linalg.") or "operandSegmentSizes" not in op.attributes:
        return 0  # transpose, broadcast, map: no arithmetic counted
    effects = memory_effects(op)
    if effects is None:
        return 0
    ins, outs = effects
    out_shape = _shape(outs[0]) if outs else None
    if out_shape is None:
        return 0
    out_elements = math.prod(out_shape)
    if name in (
        "linalg.matmul",
        "linalg.batch_matmul",
        "linalg.matmul_transpose_b",
        "linalg.batch_matmul_transpose_b",
        "linalg.matmul_transpose_a",
        "linalg.batch_matmul_transpose_a",
        "linalg.matvec",
        "linalg.vecmat",
        "linalg.batch_matvec",
        "linalg.dot",
    ):
        lhs = _shape(ins[0]) if ins else None
        if lhs is None:
            return 0
        reduction = lhs[-2] if name.endswith("transpose_a") else lhs[-1]
        return 2 * out_elements * reduction
    if _CONV.match(name):
        kernel = _shape(ins[1]) if len(ins) > 1 else None
        if kernel is None:
            return 0
        if name.startswith("linalg.depthwise_"):
            window = math.prod(kernel[:2]) if "hwc" in name else math.prod(kernel[-2:])
        elif "fchw" in name or "nchw" in name:
            window = math.prod(kernel[1:])
        else:  # nhwc_hwcf and friends: kernel H x W x C x F
            window = math.prod(kernel[:-1])
        return 2 * out_elements * window
    if name == "linalg.generic":
        domain = _iteration_domain(op)
        payload = sum(
            1 for nested in walk(op, include_self=False) if nested.name not in PAYLOAD_FREE
        )
        return domain * max(1, payload)
    if name in ("linalg.fill", "linalg.transpose", "linalg.broadcast", "linalg.copy"):
        return 0
    return out_elements


def _iteration_domain(op: ir.Operation) -> int:
    """Product of a linalg.generic's loop ranges, read off its operands' shapes."""
    maps = ir.ArrayAttr(op.attributes["indexing_maps"])
    ranges: dict[int, int] = {}
    for position, operand in enumerate(op.operands):
        if position >= len(maps):
            break
        shape = _shape(operand)
        if shape is None:
            continue
        affine = ir.AffineMapAttr(maps[position]).value
        for dim, expr in enumerate(affine.results):
            if isinstance(expr, ir.AffineDimExpr):
                ranges[ir.AffineDimExpr(expr).position] = shape[dim]
    loops = len(ir.ArrayAttr(op.attributes["iterator_types"]))
    return math.prod(ranges.get(d, 1) for d in range(loops))
