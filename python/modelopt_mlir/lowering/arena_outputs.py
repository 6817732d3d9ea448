"""Call a function planned with ``memory-plan{outputs=arena}`` as if it kept its out-params.

Under ``outputs=arena`` the planned function has no out-param arguments: its last argument is
the arena, which the caller provides, and ``modelopt.outputs`` on the function says where each
output lies in it after the call (``argument``: the out-param's index before planning,
``offset``, ``type``). :func:`compile_planned` compiles such a function for the CPU and wraps it
so that it takes and returns the arguments of the unplanned signature: planned and unplanned IR
are then called, and compared, the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch_mlir import ir

from modelopt_mlir.ir_context import find_function, parse_module
from modelopt_mlir.lowering.cpu import ArgumentSpec, CpuFunction, argument_spec, compile_cpu
from modelopt_mlir.rewrite import ARENA_ALIGNMENT_FLOOR, OUTPUTS_ATTR


@dataclass(frozen=True)
class OutputPlacement:
    argument: int  # index in the unplanned signature
    offset: int  # bytes into the arena
    spec: ArgumentSpec  # its type, indexed like the unplanned signature


def output_placements(module: ir.Module, func_name: str) -> list[OutputPlacement]:
    """The outputs ``memory-plan{outputs=arena}`` put in ``func_name``'s arena (empty when it
    did not)."""
    func = find_function(module, func_name)
    if OUTPUTS_ATTR not in func.attributes:
        return []
    placements = []
    for record in ir.ArrayAttr(func.attributes[OUTPUTS_ATTR]):
        entries = {named.name: named.attr for named in ir.DictAttr(record)}
        argument = ir.IntegerAttr(entries["argument"]).value
        spec = argument_spec(
            ir.TypeAttr(entries["type"]).value, argument, f"@{func_name} output {argument}"
        )
        placements.append(OutputPlacement(argument, ir.IntegerAttr(entries["offset"]).value, spec))
    return placements


class OutputsInArena:
    """A compiled outputs=arena function, called with the unplanned signature's arguments
    (out-params included, their contents unused) and returning them after the call, the
    outputs read from the arena."""

    def __init__(self, inner: CpuFunction, placements: Sequence[OutputPlacement]) -> None:
        self.inner = inner
        self.func_name = inner.func_name
        self.placements = sorted(placements, key=lambda p: p.argument)
        self.arena_spec = inner.specs[-1]
        self.arena_bytes = int(self.arena_spec.shape[0] or 0)
        count = len(inner.specs) - 1 + len(self.placements)
        outputs = {p.argument: p.spec for p in self.placements}
        kept = iter(inner.specs[:-1])
        self.specs = [
            outputs[i] if i in outputs else dataclasses.replace(next(kept), index=i)
            for i in range(count)
        ]

    def __call__(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(args) != len(self.specs):
            raise ValueError(
                f"@{self.func_name} takes {len(self.specs)} arguments "
                f"({', '.join(s.describe() for s in self.specs)}), got {len(args)}"
            )
        outputs = {p.argument: p for p in self.placements}
        # The caller's arena, 64-byte aligned like the arena memory-plan would allocate.
        raw = np.zeros(self.arena_bytes + ARENA_ALIGNMENT_FLOOR, dtype=self.arena_spec.dtype)
        start = -raw.ctypes.data % ARENA_ALIGNMENT_FLOOR
        arena = raw[start : start + self.arena_bytes]
        inputs = [array for i, array in enumerate(args) if i not in outputs]
        results = self.inner([*inputs, arena])
        arena_after = results[-1]
        kept = iter(results[:-1])
        out: list[np.ndarray] = []
        for i, spec in enumerate(self.specs):
            placement = outputs.get(i)
            if placement is None:
                out.append(next(kept))
                continue
            shape = tuple(int(d or 0) for d in spec.shape)
            count = int(np.prod(shape, dtype=np.int64))
            nbytes = count * np.dtype(spec.dtype).itemsize
            chunk = arena_after[placement.offset : placement.offset + nbytes]
            out.append(chunk.view(spec.dtype).reshape(shape).copy())
        return out


def compile_planned(text: str, func_name: str, opt_level: int = 0) -> Any:
    """:func:`compile_cpu`, wrapped in :class:`OutputsInArena` when the function was planned
    with outputs=arena."""
    module = parse_module(text)
    with module.context:
        placements = output_placements(module, func_name)
    function = compile_cpu(module, func_name, opt_level)
    return OutputsInArena(function, placements) if placements else function
