"""MLIR utilities shared by the frontend, analysis, passes, lowering and reports: one way to make a
context that reads everything our pipeline produces, parse text in it, run a pass pipeline, walk
nested ops, and the one list of ops whose result is a view of their source buffer."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from functools import cache
from typing import Any

from torch_mlir import ir, passmanager

# Importing the torch dialect module registers torch-mlir's tm-tensor passes.
from torch_mlir.dialects import torch as torch_dialect

# Ops whose memref result aliases (part of) the buffer of their first operand: buffers are alias
# classes through them, and they compute addresses only. extract_strided_metadata's first result
# is the base buffer (the others are index values).
VIEW_LIKE_OPS = frozenset(
    {
        "memref.subview",
        "memref.expand_shape",
        "memref.collapse_shape",
        "memref.cast",
        "memref.reinterpret_cast",
        "memref.transpose",
        "memref.view",
        "memref.memory_space_cast",
        "memref.assume_alignment",
        "memref.extract_strided_metadata",
    }
)


@cache
def register_torch_mlir_passes() -> None:
    """Register all of torch-mlir's own passes (refback-*, tm-tensor-*); importing the wheel's
    Python package registers only some."""
    from torch_mlir import _mlir_libs

    # torch_mlir.ir already loaded this library; dlopen hands back that copy and its registry.
    library = os.path.join(os.path.dirname(_mlir_libs.__file__), "libTorchMLIRAggregateCAPI.so")
    ctypes.CDLL(library).torchMlirRegisterAllPasses()


@cache
def _capsule_api() -> tuple[Any, Any]:
    """PyCapsule_GetName and PyCapsule_GetPointer with their C signatures, set up once."""
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.argtypes = [ctypes.py_object]
    get_name.restype = ctypes.c_char_p
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    get_pointer.restype = ctypes.c_void_p
    return get_name, get_pointer


def capsule_pointer(capsule: object) -> int:
    """The C pointer inside one of the bindings' ``_CAPIPtr`` capsules."""
    get_name, get_pointer = _capsule_api()
    return get_pointer(capsule, get_name(capsule))


def op_address(op: ir.Operation | ir.OpView) -> int:
    """The address of ``op``'s C++ operation: the same for every Python wrapper of it for as long
    as it lives. (``hash`` of a wrapper is the binding's own handle, which the bindings may
    replace while IR is being rewritten: a dict keyed by ops can lose them.)"""
    return capsule_pointer(op.operation._CAPIPtr)


def load_tm_tensor_dialect(context: ir.Context) -> None:
    """Make ``context`` able to parse ``tm_tensor`` ops (training steps contain
    ``tm_tensor.scatter``).

    The dialect is registered in the wheel but only loaded when a pass that depends on it runs:
    running ``func.func(tm-tensor-bufferize)`` on an empty module loads it.
    """
    torch_dialect.register_dialect(context)
    with context, ir.Location.unknown():
        empty = ir.Module.create()
        passmanager.PassManager.parse("builtin.module(func.func(tm-tensor-bufferize))").run(
            empty.operation
        )


def make_context(allow_unregistered_dialects: bool = False) -> ir.Context:
    """A fresh context with torch-mlir's dialects registered and tm_tensor loaded."""
    context = ir.Context()
    context.allow_unregistered_dialects = allow_unregistered_dialects
    load_tm_tensor_dialect(context)
    return context


def parse_module(source: ir.Module | str, context: ir.Context | None = None) -> ir.Module:
    """Parse MLIR text (which may contain tm_tensor ops) in ``context`` or a fresh context;
    modules pass through unchanged."""
    if isinstance(source, ir.Module):
        return source
    context = context or ir.Context()
    load_tm_tensor_dialect(context)
    with context:
        return ir.Module.parse(source)


def find_function(module: ir.Module, name: str) -> ir.Operation:
    """The ``func.func`` named ``name`` in ``module``; ValueError naming the functions there
    when there is none."""
    functions = [op.operation for op in module.body.operations if op.operation.name == "func.func"]
    for function in functions:
        if ir.StringAttr(function.attributes["sym_name"]).value == name:
            return function
    names = ", ".join(ir.StringAttr(f.attributes["sym_name"]).value for f in functions)
    raise ValueError(f"no func.func @{name} in module (functions: {names or 'none'})")


def run_pipeline(
    op: ir.Module | ir.Operation, pipeline: str, context: ir.Context | None = None
) -> None:
    """Run the textual pass ``pipeline`` on ``op`` in place; MLIR's errors propagate
    (``ir.MLIRError``, or ``ValueError`` for a pipeline that does not parse)."""
    operation = op.operation
    with context or operation.context:
        passmanager.PassManager.parse(pipeline).run(operation)


def walk(op: ir.Operation, include_self: bool = True) -> Iterator[ir.Operation]:
    """``op`` (unless ``include_self`` is False) and every op nested in its regions, pre-order."""
    if include_self:
        yield op
    for region in op.regions:
        for block in region.blocks:
            for nested in block.operations:
                yield from walk(nested.operation)
