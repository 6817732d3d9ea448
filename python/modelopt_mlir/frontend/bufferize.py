"""Tensor IR (linalg on tensors, tm_tensor) -> memref IR, the input of ``--memory-plan``.

The pipeline runs from Python because the torch-mlir wheel's ``torch-mlir-opt`` lacks the upstream
bufferization passes; every upstream pass is registered in its Python bindings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch_mlir import ir
from torch_mlir.dialects import bufferization
from torch_mlir.dialects import func as func_dialect

from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.ir_context import run_pipeline
from modelopt_mlir.passes.clone_shared_fills import CloneSharedFillsPass

# eliminate-empty-tensors lets the last op computing an in-place update write straight into the
# argument's buffer (see tie_updates_in_place); without such updates it changes nothing.
ONE_SHOT_PIPELINE = (
    "builtin.module("
    "eliminate-empty-tensors,"
    "one-shot-bufferize{allow-unknown-ops bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "func.func(tm-tensor-bufferize),"
    "canonicalize,"
    "cse"
    ")"
)
# Every write to a fresh buffer, no read-after-write analysis: linear in the graph, where the
# analysis of one-shot over a whole training step grows about cubically (issue 14).
COPY_BEFORE_WRITE_PIPELINE = ONE_SHOT_PIPELINE.replace(
    "allow-unknown-ops", "allow-unknown-ops copy-before-write"
).replace("eliminate-empty-tensors,", "")
OUT_PARAMS_PIPELINE = (
    "builtin.module(buffer-results-to-out-params{hoist-static-allocs modify-public-functions})"
)

# Dialects whose ops may remain in bufferized IR: all of them run on memrefs or scalars.
MEMREF_LEVEL_DIALECTS = frozenset(
    {
        "builtin",
        "func",
        "memref",
        "linalg",
        "arith",
        "math",
        "scf",
        "cf",
        "tm_tensor",
        "affine",
        "index",
        "llvm",
        "gpu",
    }
)


class BufferizeError(RuntimeError):
    """The bufferize pipeline failed or left tensor-level IR behind."""


def bufferize(
    module: ir.Module,
    *,
    clone_fills: bool = True,
    updates: Mapping[int, int] | None = None,
    copy_before_write: bool = False,
) -> ir.Module:
    """Bufferize ``module`` in place (and return it): memref IR whose functions return nothing,
    results turned into trailing out-params.

    ``updates`` maps a result index of the (single) public function to the index of the argument
    it is the new value of: that result is written into the argument's own buffer instead of an
    out-param, the way torch.optim updates parameters and state (see
    :func:`tie_updates_in_place`). Every other argument is read-only.

    ``copy_before_write`` skips one-shot's read-after-write analysis: every op writes a fresh
    buffer, results become out-params, and update-in-place then writes each update into its
    argument where that is safe (a copy at the return where not). Only worth it followed by
    reuse-dying-inputs, which gives the analysis's in-place sharing back (bufferize_step runs
    both, and copies before writes by default): on GPT-2 steps of 4-48 layers the result has
    the same buffers but one."""
    with module.context:
        if clone_fills:
            diagnostics = DiagnosticEngine()
            CloneSharedFillsPass().apply(module, diagnostics)
            if diagnostics.has_errors:
                raise BufferizeError("\n".join(d.format() for d in diagnostics.diagnostics))
        if copy_before_write:
            _bufferize_copy_before_write(module, updates)
        else:
            func = None
            if updates is not None:
                func = _public_function(module)
                tie_updates_in_place(func, updates)
            _run(module, ONE_SHOT_PIPELINE)
            if func is not None:
                _drop_updated_results(func, updates or {})
            _run(module, OUT_PARAMS_PIPELINE)
    problems = memref_level_problems(module)
    if problems:
        raise BufferizeError("bufferized IR is not memref-level:\n  " + "\n  ".join(problems[:20]))
    return module


FUSE_PIPELINE = "builtin.module(func.func(linalg-fuse-elementwise-ops))"
# An unregistered op that only reads a value: gives a result the second use that keeps
# linalg-fuse-elementwise-ops from fusing its producer (the pass fuses single-use producers).
_KEEP = "modelopt.keep_unfused"
_MAX_FUSION_ROUNDS = 64
# Recomputing a smaller result in every consumer saves nothing worth the changed graph (tiny
# GroupNorm statistics cloned this way moved the MobileNet zoo model from 0.97x to 1.00x).
_MIN_RECOMPUTED_BYTES = 4096


def fuse_elementwise(module: ir.Module) -> ir.Module:
    """Fuse elementwise chains on linalg on tensors (in place; returns ``module``), so that the
    intermediates of a chain never become buffers: torch-mlir writes every aten op to a
    full-size tensor, where eager's fused kernels (GELU and Mish backward) read only their
    inputs. Fused ops compute the same scalar operations in the same order: the same values,
    bit for bit.

    Fusing a producer into its consumer frees the producer's result but keeps the producer's
    inputs alive until the consumer. Upstream ``linalg-fuse-elementwise-ops`` fuses every
    single-use producer: it held all the per-sample weight gradients of a convolution at once
    where their running sum held one, and the f32 ReLU output until the backward where the
    i1 mask ``out <= 0`` could stand for it (ResNet zoo model 0.98x -> 1.12x eager). So each
    round lets the pass fuse only chosen producers (every other ``linalg.generic`` result gets
    a second use, and the pass fuses single-use producers only):

    - a single-use producer whose inputs that the consumer does not read already take no more
      bytes than its result;
    - a producer with several uses, cloned into its consumers: into every one, where all are
      all-parallel, each clone keeps at most the result's bytes of inputs alive and the result
      takes at least 4 KiB (the
      forward's ``tanh(softplus(x))`` in Mish, merged by CSE with the backward's, held from the
      forward to the backward where eager keeps only ``x``); otherwise into those that read
      all of its inputs already.

    A fused op is judged again on its own inputs in the next round; rounds stop when nothing
    is left to fuse."""
    context = module.context
    allowed = context.allow_unregistered_dialects
    context.allow_unregistered_dialects = True
    try:
        with context:
            for _ in range(_MAX_FUSION_ROUNDS):
                chosen = _fusible_pairs(module) or _clone_recomputable_producers(module)
                if not chosen:
                    break
                _keep_all_but(module, chosen)
                try:
                    _run(module, FUSE_PIPELINE)
                finally:
                    _erase_keeps(module)
    finally:
        context.allow_unregistered_dialects = allowed
    return module


def _ops(module: ir.Module, names: set[str]) -> list[ir.Operation]:
    ops: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name in names:
            ops.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return ops


def _generic_ops(module: ir.Module) -> list[ir.Operation]:
    return _ops(module, {"linalg.generic"})


def _parallel(op: ir.Operation) -> bool:
    return all("parallel" in str(i) for i in ir.ArrayAttr(op.attributes["iterator_types"]))


def _is_elementwise_producer(op: ir.Operation) -> bool:
    """A linalg.generic with parallel loops only, one result written through a permutation and
    a body that does not read it: what the fusion pass fuses into a consumer's input."""
    if len(op.results) != 1 or not _parallel(op):
        return False
    maps = ir.ArrayAttr(op.attributes["indexing_maps"])
    # ArrayAttr takes no negative index.
    if not ir.AffineMapAttr(maps[len(maps) - 1]).value.is_permutation:
        return False
    block = op.regions[0].blocks[0]
    return not list(block.arguments[len(block.arguments) - 1].uses)


def _inputs(op: ir.Operation) -> list[ir.Value]:
    count = ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"])[0]
    return list(op.operands)[:count]


def _bytes(value: ir.Value) -> int:
    """The size of a static tensor value (i1 counted as a byte, as it is stored); 0 otherwise."""
    if not isinstance(value.type, ir.RankedTensorType):
        return 0
    tensor = ir.RankedTensorType(value.type)
    if not tensor.has_static_shape:
        return 0
    width = tensor.element_type.width if hasattr(tensor.element_type, "width") else 64
    return math.prod(tensor.shape) * max(1, width // 8)


def _extended_bytes(producer: ir.Operation, consumer: ir.Operation) -> int:
    """Bytes of the producer's inputs that fusing it into ``consumer`` keeps alive until the
    consumer: those the consumer does not read already."""
    read = set(_inputs(consumer))
    return sum(_bytes(v) for v in set(_inputs(producer)) if v not in read)


def _consumer_input(producer: ir.Operation) -> ir.Operation | None:
    """The linalg.generic that reads ``producer``'s result as an input, if that is its only use."""
    uses = list(producer.results[0].uses)
    if len(uses) != 1:
        return None
    consumer = uses[0].owner
    if consumer.name != "linalg.generic" or uses[0].operand_number >= len(_inputs(consumer)):
        return None
    return consumer.operation if hasattr(consumer, "operation") else consumer


def _fusible_pairs(module: ir.Module) -> list[ir.Operation]:
    """Single-use producers to fuse this round (see :func:`fuse_elementwise`), no op in two
    pairs: a fused op is judged again, on its own inputs, in the next round."""
    chosen: list[ir.Operation] = []
    taken: set[ir.Operation] = set()
    for producer in _generic_ops(module):
        if producer in taken or not _is_elementwise_producer(producer):
            continue
        consumer = _consumer_input(producer)
        if consumer is None or consumer in taken:
            continue
        if _extended_bytes(producer, consumer) > _bytes(producer.results[0]):
            continue
        chosen.append(producer)
        taken.update((producer, consumer))
    return chosen


def _clone_recomputable_producers(module: ir.Module) -> list[ir.Operation]:
    """Clones of multi-use elementwise producers, one per consumer that gets its own (see
    :func:`fuse_elementwise`), each with that single use; returns the clones."""
    clones: list[ir.Operation] = []
    for producer in _generic_ops(module):
        if not _is_elementwise_producer(producer):
            continue
        result = producer.results[0]
        uses = [(use.owner, use.operand_number) for use in result.uses]
        if len(uses) < 2:
            continue
        size = _bytes(result)
        extended = {}
        for owner, operand in uses:
            consumer = owner.operation if hasattr(owner, "operation") else owner
            if (
                consumer.name == "linalg.generic"
                and _parallel(consumer)
                and operand < len(_inputs(consumer))
            ):
                extended[(consumer, operand)] = _extended_bytes(producer, consumer)
        # Every use recomputed: the producer's inputs replace its result. Otherwise only where
        # the consumer reads all of them.
        everywhere = (
            size >= _MIN_RECOMPUTED_BYTES
            and len(extended) == len(uses)
            and all(e <= size for e in extended.values())
        )
        for (consumer, operand), bytes_kept in extended.items():
            if bytes_kept and not everywhere:
                continue
            clone = producer.clone(ir.InsertionPoint(consumer))
            consumer.operands[operand] = clone.results[0]
            clones.append(clone)
    return clones


def _keep_all_but(module: ir.Module, fused: list[ir.Operation]) -> None:
    """A keep op after every linalg.generic but those of ``fused``, and after every reshape,
    reading its results. Kept reshapes stay where they are: the pass would otherwise move them
    across elementwise ops, and a collapse_shape left between an update and the argument it
    is written back to costs a copy (eliminate-empty-tensors cannot see through it)."""
    skip = set(fused)
    for op in _ops(module, {"linalg.generic", "tensor.expand_shape", "tensor.collapse_shape"}):
        if op not in skip:
            ir.Operation.create(
                _KEEP, operands=list(op.results), loc=op.location, ip=ir.InsertionPoint.after(op)
            )


def _erase_keeps(module: ir.Module) -> None:
    for keep in _ops(module, {_KEEP}):
        keep.erase()


def _run(module: ir.Module, pipeline: str) -> None:
    try:
        run_pipeline(module, pipeline)
    except ir.MLIRError as exc:
        raise BufferizeError(f"bufferize pipeline failed: {exc}\npipeline: {pipeline}") from exc


def _public_function(module: ir.Module) -> ir.Operation:
    funcs = [
        op.operation
        for op in module.body.operations
        if op.operation.name == "func.func"
        and op.regions[0].blocks
        and "sym_visibility" not in op.attributes
    ]
    if len(funcs) != 1:
        raise BufferizeError(
            f"in-place updates need exactly one public function with a body, found {len(funcs)}"
        )
    return funcs[0]


def tie_updates_in_place(func: ir.Operation, updates: Mapping[int, int]) -> None:
    """On tensor IR: write result ``r`` into argument ``updates[r]``'s buffer.

    Each such result is returned through ``bufferization.materialize_in_destination`` into its
    argument, which is marked writable; every other argument is marked read-only, so nothing
    else ever writes an argument. One-shot bufferization then computes the update in the
    argument's buffer where no later read of the old value conflicts, and keeps a copy where one
    does: it never computes a wrong value."""
    block = func.regions[0].blocks[0]
    arguments = list(block.arguments)
    terminator = list(block.operations)[-1]
    results = list(terminator.operands)
    if len(set(updates.values())) != len(updates):
        raise BufferizeError("two results update the same argument")
    with ir.InsertionPoint(terminator), terminator.location:
        for result, argument in updates.items():
            if not (0 <= result < len(results) and 0 <= argument < len(arguments)):
                raise BufferizeError(f"result {result} or argument {argument} does not exist")
            value, target = results[result], arguments[argument]
            if value.type != target.type:
                raise BufferizeError(
                    f"result {result} ({value.type}) cannot update argument {argument} "
                    f"({target.type}): the types differ"
                )
            tied = bufferization.MaterializeInDestinationOp(value.type, value, target).result
            terminator.operands[result] = tied
    writable = set(updates.values())
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(
        [
            ir.DictAttr.get({"bufferization.writable": ir.BoolAttr.get(i in writable)})
            for i in range(len(arguments))
        ]
    )


def _drop_updated_results(func: ir.Operation, updates: Mapping[int, int]) -> None:
    """After one-shot: every updated result is its argument's buffer; drop it from the return
    and the function type (drop-equivalent-buffer-results does this for private functions
    only)."""
    block = func.regions[0].blocks[0]
    terminator = list(block.operations)[-1]
    results = list(terminator.operands)
    for result, argument in updates.items():
        if results[result] != block.arguments[argument]:
            raise BufferizeError(
                f"result {result} was not bufferized into argument {argument}'s buffer"
            )
    keep = [i for i in range(len(results)) if i not in updates]
    function_type = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value)
    with terminator.location, ir.InsertionPoint(terminator):
        func_dialect.ReturnOp([results[i] for i in keep])
    terminator.erase()
    func.attributes["function_type"] = ir.TypeAttr.get(
        ir.FunctionType.get(function_type.inputs, [function_type.results[i] for i in keep])
    )
    if "res_attrs" in func.attributes:
        old = list(ir.ArrayAttr(func.attributes["res_attrs"]))
        func.attributes["res_attrs"] = ir.ArrayAttr.get([old[i] for i in keep])
    # one-shot leaves the writable marks on memref arguments; they mean nothing there.
    if "arg_attrs" in func.attributes:
        func.attributes["arg_attrs"] = ir.ArrayAttr.get(
            [ir.DictAttr.get({}) for _ in block.arguments]
        )


def _bufferize_copy_before_write(module: ir.Module, updates: Mapping[int, int] | None) -> None:
    """One-shot with ``copy-before-write``, every result an out-param; then update-in-place
    writes each updated result into its argument where no later read of the old value
    conflicts (a copy at the return where one does)."""
    from modelopt_mlir.passes.update_in_place import UPDATES_ATTR, UpdateInPlacePass

    func = _public_function(module) if updates else None
    arguments = len(func.regions[0].blocks[0].arguments) if func is not None else 0
    _run(module, COPY_BEFORE_WRITE_PIPELINE)
    _run(module, OUT_PARAMS_PIPELINE)
    if func is None:
        return
    count = len(func.regions[0].blocks[0].arguments)
    marks = {arguments + result: argument for result, argument in (updates or {}).items()}
    i64 = ir.IntegerType.get_signless(64)
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(
        [
            ir.DictAttr.get({UPDATES_ATTR: ir.IntegerAttr.get(i64, marks[i])} if i in marks else {})
            for i in range(count)
        ]
    )
    diagnostics = DiagnosticEngine()
    UpdateInPlacePass().apply(module, diagnostics)
    if diagnostics.has_errors:
        raise BufferizeError("\n".join(d.format() for d in diagnostics.diagnostics))
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(
        [ir.DictAttr.get({}) for _ in func.regions[0].blocks[0].arguments]
    )


def memref_level_problems(module: ir.Module) -> list[str]:
    """Why ``module`` is not executable memref IR: tensor values, bufferization ops, ops of other
    dialects, functions with results. Empty when it is."""
    problems: list[str] = []

    def check(op: ir.Operation) -> ir.WalkResult:
        name = op.name
        dialect = name.split(".", 1)[0]
        if dialect not in MEMREF_LEVEL_DIALECTS:
            problems.append(f"{name} at {op.location}: op outside the memref-level dialects")
        if (
            name == "func.func"
            and ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value).results
        ):
            problems.append(f"{name} at {op.location}: function still returns values")
        for value in op.results:
            if isinstance(value.type, ir.RankedTensorType | ir.UnrankedTensorType):
                problems.append(f"{name} at {op.location}: produces a tensor")
        return ir.WalkResult.ADVANCE

    module.operation.walk(check)
    for func in module.body.operations:
        if func.operation.name != "func.func" or not func.regions[0].blocks:
            continue
        for arg in func.regions[0].blocks[0].arguments:
            if isinstance(arg.type, ir.RankedTensorType | ir.UnrankedTensorType):
                problems.append(f"function argument of type {arg.type} is a tensor")
    return problems
