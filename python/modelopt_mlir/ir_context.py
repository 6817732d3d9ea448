"""MLIR utilities shared by analysis, passes, lowering and reports: one way to make a context
that reads everything our pipeline produces, and one walk over nested ops."""

from __future__ import annotations

from collections.abc import Iterator

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


def walk(op: ir.Operation, include_self: bool = True) -> Iterator[ir.Operation]:
    """``op`` (unless ``include_self`` is False) and every op nested in its regions, pre-order."""
    if include_self:
        yield op
    for region in op.regions:
        for block in region.blocks:
            for nested in block.operations:
                yield from walk(nested.operation)
