"""One way to make an MLIR context that can read everything our pipeline produces."""

from __future__ import annotations

from torch_mlir import ir, passmanager
from torch_mlir.dialects import torch as torch_dialect


def make_context(allow_unregistered_dialects: bool = False) -> ir.Context:
    """A context with torch-mlir's dialects and passes registered and tm_tensor loaded.

    tm_tensor is not loaded by registration alone: running any pipeline that contains
    ``func.func(tm-tensor-bufferize)`` on an empty module loads it, so text with
    ``tm_tensor.scatter`` parses afterwards.
    """
    context = ir.Context()
    torch_dialect.register_dialect(context)
    context.allow_unregistered_dialects = allow_unregistered_dialects
    with context, ir.Location.unknown():
        empty = ir.Module.create()
        passmanager.PassManager.parse("builtin.module(func.func(tm-tensor-bufferize))").run(
            empty.operation
        )
    return context
