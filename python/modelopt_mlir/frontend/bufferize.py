"""Tensor IR (linalg on tensors, tm_tensor) -> memref IR, the input of ``--memory-plan``.

The pipeline runs from Python because the torch-mlir wheel's ``torch-mlir-opt`` lacks the upstream
bufferization passes; every upstream pass is registered in its Python bindings.
"""

from __future__ import annotations

from torch_mlir import ir, passmanager

# Importing the torch dialect module registers torch-mlir's own passes (tm-tensor-bufferize).
from torch_mlir.dialects import torch as torch_dialect

from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.passes.clone_shared_fills import CloneSharedFillsPass

BUFFERIZE_PIPELINE = (
    "builtin.module("
    "one-shot-bufferize{allow-unknown-ops bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "func.func(tm-tensor-bufferize),"
    "canonicalize,"
    "cse,"
    "buffer-results-to-out-params{hoist-static-allocs modify-public-functions}"
    ")"
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


def bufferize(module: ir.Module, *, clone_fills: bool = True) -> ir.Module:
    """Bufferize ``module`` in place (and return it): memref IR whose functions return nothing,
    results turned into trailing out-params."""
    with module.context:
        if clone_fills:
            diagnostics = DiagnosticEngine()
            CloneSharedFillsPass().apply(module, diagnostics)
            if diagnostics.has_errors:
                raise BufferizeError("\n".join(d.format() for d in diagnostics.diagnostics))
        try:
            passmanager.PassManager.parse(BUFFERIZE_PIPELINE).run(module.operation)
        except ir.MLIRError as exc:
            raise BufferizeError(
                f"bufferize pipeline failed: {exc}\npipeline: {BUFFERIZE_PIPELINE}"
            ) from exc
    problems = memref_level_problems(module)
    if problems:
        raise BufferizeError("bufferized IR is not memref-level:\n  " + "\n  ".join(problems[:20]))
    return module


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
