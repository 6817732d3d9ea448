"""Tensor IR (linalg on tensors, tm_tensor) -> memref IR, the input of ``--memory-plan``.

The pipeline runs from Python because the torch-mlir wheel's ``torch-mlir-opt`` lacks the upstream
bufferization passes; every upstream pass is registered in its Python bindings.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch_mlir import ir, passmanager
from torch_mlir.dialects import bufferization
from torch_mlir.dialects import func as func_dialect

# Importing the torch dialect module registers torch-mlir's own passes (tm-tensor-bufferize).
from torch_mlir.dialects import torch as torch_dialect

from modelopt_mlir.diagnostics import DiagnosticEngine
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


def load_tm_tensor_dialect(context: ir.Context) -> None:
    """Make ``context`` able to parse ``tm_tensor`` ops.

    The dialect is registered in the wheel but only loaded when a pass that depends on it runs;
    running ``tm-tensor-bufferize`` on an empty module loads it.
    """
    torch_dialect.register_dialect(context)
    with context, ir.Location.unknown():
        empty = ir.Module.create()
        passmanager.PassManager.parse("builtin.module(func.func(tm-tensor-bufferize))").run(
            empty.operation
        )


def parse_module(text: str, context: ir.Context | None = None) -> ir.Module:
    """Parse MLIR text that may contain tm_tensor ops, in ``context`` or a fresh context."""
    context = context or ir.Context()
    load_tm_tensor_dialect(context)
    with context:
        return ir.Module.parse(text)


def bufferize(
    module: ir.Module,
    *,
    clone_fills: bool = True,
    updates: Mapping[int, int] | None = None,
) -> ir.Module:
    """Bufferize ``module`` in place (and return it): memref IR whose functions return nothing,
    results turned into trailing out-params.

    ``updates`` maps a result index of the (single) public function to the index of the argument
    it is the new value of: that result is written into the argument's own buffer instead of an
    out-param, the way torch.optim updates parameters and state (see
    :func:`tie_updates_in_place`). Every other argument is read-only."""
    with module.context:
        if clone_fills:
            diagnostics = DiagnosticEngine()
            CloneSharedFillsPass().apply(module, diagnostics)
            if diagnostics.has_errors:
                raise BufferizeError("\n".join(d.format() for d in diagnostics.diagnostics))
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


def _run(module: ir.Module, pipeline: str) -> None:
    try:
        passmanager.PassManager.parse(pipeline).run(module.operation)
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
