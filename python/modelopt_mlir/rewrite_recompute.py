"""Apply recompute decisions (solver/recompute.py) to a function's IR, and take them back.

For ``Recompute(buffer, split, chain)``: a fresh alloc of the buffer's type (marked
``modelopt.recompute``) is added after the original's alloc; copies of the chain units (marked
too), reading and writing the fresh alloc where the originals use the buffer, go just before
unit ``split``; and every use of the buffer from unit ``split`` on (nested uses included) is
redirected to the fresh alloc, through copies of the views it went through. Decisions are applied
in the order of their split, so a clone that reads a buffer recomputed at or before its split
reads that buffer's copy.

The edit records every operand it changes and every op it inserts: :meth:`RecomputeEdit.undo`
restores the function exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from torch_mlir import ir

from modelopt_mlir.analysis.function import FunctionAnalysis
from modelopt_mlir.ir_context import VIEW_LIKE_OPS, walk
from modelopt_mlir.solver.recompute import Recompute

RECOMPUTE_ATTR = "modelopt.recompute"


@dataclass
class RecomputeEdit:
    inserted: list[ir.Operation] = field(default_factory=list)
    replaced: list[tuple[ir.Operation, int, ir.Value]] = field(default_factory=list)
    # the block's ops before reorder_units moved them, to put back
    block_order: list[ir.Operation] = field(default_factory=list)
    # each copy's alloc -> the alloc of the buffer it recomputes
    copy_of: dict[ir.Operation, ir.Operation] = field(default_factory=dict)

    def undo(self) -> None:
        for op, position, value in reversed(self.replaced):
            op.operands[position] = value
        for op in reversed(self.inserted):
            op.erase()
        if self.block_order:
            terminator = self.block_order[-1]
            for op in self.block_order[:-1]:
                op.move_before(terminator)
        self.inserted.clear()
        self.replaced.clear()
        self.block_order.clear()
        self.copy_of.clear()


def reorder_units(analysis: FunctionAnalysis, order: Sequence[int], edit: RecomputeEdit) -> None:
    """Put the function's units in ``order`` (a valid order of ``analysis``), with every arena
    buffer's alloc first, so that recompute decisions can be taken on the planned order; the
    ``edit`` can move everything back."""
    block = analysis.func.regions[0].blocks[0]
    edit.block_order = [op.operation for op in block.operations]
    terminator = analysis.terminator
    anchor = edit.block_order[0]
    for buffer in analysis.buffers:
        if buffer.alloc != anchor:
            buffer.alloc.move_before(anchor)
    for index in order:
        unit = analysis.units[index]
        if unit != terminator:
            unit.move_before(terminator)
    # Deallocs of arena buffers go last (they are not units).
    for buffer in analysis.buffers:
        for dealloc in buffer.deallocs:
            dealloc.move_before(terminator)


def apply_recompute(analysis: FunctionAnalysis, decisions: Sequence[Recompute]) -> RecomputeEdit:
    edit = RecomputeEdit()
    if not decisions:
        return edit
    units = analysis.units
    buffers = analysis.buffers
    # Unit of each top-level value's definition (allocs: -1), and the arena buffer it views.
    defined_at: dict[ir.Value, int] = {}
    root: dict[ir.Value, int] = {}
    for buffer in buffers:
        defined_at[buffer.alloc.results[0]] = -1
        root[buffer.alloc.results[0]] = buffer.index
    for index, op in enumerate(units):
        for result in op.results:
            defined_at[result] = index
        if op.name in VIEW_LIKE_OPS and op.operands and op.operands[0] in root:
            for result in op.results:
                if isinstance(result.type, ir.MemRefType):
                    root[result] = root[op.operands[0]]
    # Every use, inside units, of a top-level value viewing an arena buffer:
    # buffer -> [(unit, op, operand position)]
    uses: dict[int, list[tuple[int, ir.Operation, int]]] = {}
    for index, op in enumerate(units):
        for nested in walk(op):
            for position, operand in enumerate(nested.operands):
                buffer = root.get(operand)
                if buffer is not None and operand in defined_at:
                    uses.setdefault(buffer, []).append((index, nested, position))

    fresh: dict[int, ir.Value] = {}  # buffer -> its copy's alloc
    split_of: dict[int, int] = {}
    copies: dict[ir.Value, ir.Value] = {}  # a view of a recomputed buffer -> that view of its copy

    def rebased(value: ir.Value, point: ir.InsertionPoint) -> ir.Value:
        """``value`` (a view of a recomputed buffer) as the same view of the buffer's copy; new
        views go at ``point``, the recomputed buffer's split (or later)."""
        if value in copies:
            return copies[value]
        target = root[value]
        if defined_at[value] == -1:
            result = fresh[target]
        else:
            owner = value.owner
            source = rebased(owner.operands[0], point)
            view = owner.clone(ip=False)
            view.attributes[RECOMPUTE_ATTR] = ir.UnitAttr.get()
            view.operands[0] = source
            point.insert(view)
            edit.inserted.append(view)
            result = view.results[list(owner.results).index(value)]
        copies[value] = result
        return result

    for decision in decisions:
        buffer = buffers[decision.buffer]
        alloc = buffer.alloc.clone(ip=ir.InsertionPoint(buffer.alloc))
        alloc.attributes[RECOMPUTE_ATTR] = ir.UnitAttr.get()
        edit.inserted.append(alloc)
        edit.copy_of[alloc] = buffer.alloc
        fresh[decision.buffer] = alloc.results[0]
        split_of[decision.buffer] = decision.split
        point = ir.InsertionPoint(units[decision.split])
        # The chain's copies. What they read or write of a buffer recomputed at or before this
        # split (this one included) they take from its copy.
        for unit in decision.chain:
            clone = units[unit].clone(ip=False)
            clone.attributes[RECOMPUTE_ATTR] = ir.UnitAttr.get()
            for nested in walk(clone):
                for position, operand in enumerate(nested.operands):
                    target = root.get(operand)
                    if target is None or operand not in defined_at:
                        continue
                    if split_of.get(target, decision.split + 1) <= decision.split:
                        nested.operands[position] = rebased(operand, point)
            point.insert(clone)
            edit.inserted.append(clone)
        # Every later use reads the copy.
        for unit, op, position in uses.get(decision.buffer, ()):
            if unit < decision.split:
                continue
            operand = op.operands[position]
            if defined_at.get(operand, -1) >= decision.split:
                continue  # a view made after the split: its own source is redirected
            edit.replaced.append((op, position, operand))
            op.operands[position] = rebased(operand, point)
    return edit
