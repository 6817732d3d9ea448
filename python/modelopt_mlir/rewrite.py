"""Apply a validated plan to the IR: reorder units, one arena alloc, a view per buffer."""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from modelopt_mlir.analysis.function import FunctionAnalysis
from modelopt_mlir.solver.problem import ArenaPlan

ARENA_ALIGNMENT_FLOOR = 64


def apply_plan(analysis: FunctionAnalysis, plan: ArenaPlan) -> ir.Operation | None:
    """Mutate the function. Returns the arena alloc (None if there are no arena buffers)."""
    func = analysis.func
    block = func.regions[0].blocks[0]
    arena = None
    # Stack buffers only: the arena stays on the stack. Heap arena holding stack buffers: it
    # must be freed, as the allocas were, at the return.
    kinds = {buffer.alloc.name for buffer in analysis.buffers}
    on_stack = kinds == {"memref.alloca"}
    if analysis.buffers:
        alignment = max([ARENA_ALIGNMENT_FLOOR] + [buffer.alignment for buffer in analysis.buffers])
        with ir.InsertionPoint.at_block_begin(block), func.location:
            i8 = ir.IntegerType.get_signless(8)
            arena_op = memref.AllocaOp if on_stack else memref.AllocOp
            arena = arena_op(
                ir.MemRefType.get([plan.arena_size], i8), [], [], alignment=alignment
            ).operation
        with ir.InsertionPoint.after(arena):
            constants: dict[int, ir.Value] = {}
            for buffer in analysis.buffers:
                offset = plan.offsets[buffer.index]
                with buffer.alloc.location:
                    if offset not in constants:
                        constants[offset] = arith.ConstantOp(
                            ir.IndexType.get(), ir.IntegerAttr.get(ir.IndexType.get(), offset)
                        ).result
                    view = memref.ViewOp(
                        buffer.alloc.results[0].type, arena.results[0], constants[offset], []
                    )
                buffer.alloc.results[0].replace_all_uses_with(view.result)
        had_dealloc = False
        for buffer in analysis.buffers:
            for dealloc in buffer.deallocs:
                dealloc.erase()
                had_dealloc = True
            buffer.alloc.erase()
    else:
        had_dealloc = False

    terminator = analysis.terminator
    for unit_index in plan.order:
        analysis.units[unit_index].move_before(terminator)
    if arena is not None and not on_stack and (had_dealloc or "memref.alloca" in kinds):
        # Every planned buffer is dead by the terminator; free the arena once, there.
        with func.location:
            memref.DeallocOp(arena.results[0], ip=ir.InsertionPoint(terminator))

    i64 = ir.IntegerType.get_signless(64, func.context)
    func.attributes["modelopt.arena_size"] = ir.IntegerAttr.get(i64, plan.arena_size)
    func.attributes["modelopt.lower_bound"] = ir.IntegerAttr.get(i64, plan.lower_bound)
    func.attributes["modelopt.program_order_peak"] = ir.IntegerAttr.get(
        i64, plan.program_order_peak
    )
    return arena
