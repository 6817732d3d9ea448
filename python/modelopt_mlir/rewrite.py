"""Apply a validated plan to the IR: reorder units, one arena alloc, a view per buffer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from modelopt_mlir.analysis.function import (
    AnalysisError,
    FunctionAnalysis,
    argument_attributes,
)
from modelopt_mlir.solver.problem import ArenaPlan

ARENA_ALIGNMENT_FLOOR = 64
# outputs=arena (see finish_outputs_in_arena)
# {modelopt.output}: on an argument, a unit attribute marking an out-param; on an output's
# view after the rewrite, its argument index before planning.
OUTPUT_ATTR = "modelopt.output"
OUTPUTS_ATTR = "modelopt.outputs"  # on the function: where each output ended up
ARENA_ATTR = "modelopt.arena"  # on the arena argument


def apply_plan(
    analysis: FunctionAnalysis,
    plan: ArenaPlan,
    arena_argument: bool = False,
    outputs: Mapping[int, int] | None = None,
) -> ir.Value | None:
    """Mutate the function. Returns the arena (None if there are no arena buffers): an alloc's
    result, or with ``arena_argument`` a new last argument of the function, which the caller
    provides (memory-plan ``outputs=arena``: the outputs live in it after the return).
    ``outputs`` maps the buffer index of each output to its argument index; its view gets
    ``{modelopt.output = ARGUMENT}``, so that checkers know it lives to the return."""
    outputs = outputs or {}
    func = analysis.func
    block = func.regions[0].blocks[0]
    arena: ir.Value | None = None
    # Stack buffers only: the arena stays on the stack. Heap arena holding stack buffers: it
    # must be freed, as the allocas were, at the return.
    kinds = {buffer.alloc.name for buffer in analysis.buffers}
    on_stack = kinds == {"memref.alloca"}
    if analysis.buffers:
        i8 = ir.IntegerType.get_signless(8, func.context)
        arena_type = ir.MemRefType.get([plan.arena_size], i8, loc=func.location)
        if arena_argument:
            arena = block.add_argument(arena_type, func.location)
            views_at = ir.InsertionPoint.at_block_begin(block)
        else:
            alignment = max(
                [ARENA_ALIGNMENT_FLOOR] + [buffer.alignment for buffer in analysis.buffers]
            )
            with ir.InsertionPoint.at_block_begin(block), func.location:
                arena_op = memref.AllocaOp if on_stack else memref.AllocOp
                arena_alloc = arena_op(arena_type, [], [], alignment=alignment).operation
            arena = arena_alloc.results[0]
            views_at = ir.InsertionPoint.after(arena_alloc)
        with views_at:
            constants: dict[int, ir.Value] = {}
            for buffer in analysis.buffers:
                offset = plan.offsets[buffer.index]
                with buffer.alloc.location:
                    if offset not in constants:
                        constants[offset] = arith.ConstantOp(
                            ir.IndexType.get(), ir.IntegerAttr.get(ir.IndexType.get(), offset)
                        ).result
                    view = memref.ViewOp(buffer.alloc.results[0].type, arena, constants[offset], [])
                    if buffer.index in outputs:
                        view.operation.attributes[OUTPUT_ATTR] = ir.IntegerAttr.get(
                            ir.IntegerType.get_signless(64), outputs[buffer.index]
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
        unit = analysis.units[unit_index]
        if unit != terminator:  # the terminator is the last unit under outputs=arena
            unit.move_before(terminator)
    if (
        arena is not None
        and not arena_argument
        and not on_stack
        and (had_dealloc or "memref.alloca" in kinds)
    ):
        # Every planned buffer is dead by the terminator; free the arena once, there.
        with func.location:
            memref.DeallocOp(arena, ip=ir.InsertionPoint(terminator))

    i64 = ir.IntegerType.get_signless(64, func.context)
    func.attributes["modelopt.arena_size"] = ir.IntegerAttr.get(i64, plan.arena_size)
    func.attributes["modelopt.lower_bound"] = ir.IntegerAttr.get(i64, plan.lower_bound)
    func.attributes["modelopt.program_order_peak"] = ir.IntegerAttr.get(
        i64, plan.program_order_peak
    )
    return arena


# --------------------------------------------------------------------------------------------
# outputs=arena: the function's outputs live in the arena, which the caller provides.


@dataclass(frozen=True)
class OutputSlot:
    """An out-param argument turned into an alloc that memory-plan places in the arena."""

    argument: int  # its index among the function's arguments before the rewrite
    name: str
    alloc: ir.Operation


def is_output_argument(func: ir.Operation, index: int) -> bool:
    """Whether argument ``index`` is an out-param: ``{modelopt.output}`` or the capture's
    ``{modelopt.kind = "output"}``."""
    entries = argument_attributes(func, index)
    if OUTPUT_ATTR in entries:
        return True
    kind = entries.get("modelopt.kind")
    return kind is not None and ir.StringAttr(kind).value == "output"


def outputs_to_allocs(func: ir.Operation) -> list[OutputSlot]:
    """Replace every out-param argument by a fresh alloc at the top of the body (its uses move
    to the alloc; the argument stays, unused). Undo with :func:`restore_outputs`. Raises
    AnalysisError at the argument when an out-param is not a static-shape memref."""
    block = func.regions[0].blocks[0]
    slots: list[OutputSlot] = []
    for index, argument in enumerate(block.arguments):
        if not is_output_argument(func, index):
            continue
        problem = _output_type_problem(argument.type)
        if problem is not None:
            restore_outputs(func, slots)
            raise AnalysisError(
                f"output argument {index} of type {argument.type} cannot be placed in the "
                f"arena: it {problem}",
                argument.location,
            )
        with ir.InsertionPoint.at_block_begin(block), argument.location:
            alloc = memref.AllocOp(argument.type, [], []).operation
        argument.replace_all_uses_with(alloc.results[0])
        name = argument_attributes(func, index).get("modelopt.name")
        slots.append(
            OutputSlot(index, ir.StringAttr(name).value if name else f"output{len(slots)}", alloc)
        )
    return slots


def restore_outputs(func: ir.Operation, slots: list[OutputSlot]) -> None:
    """Undo :func:`outputs_to_allocs`."""
    block = func.regions[0].blocks[0]
    for slot in slots:
        slot.alloc.results[0].replace_all_uses_with(block.arguments[slot.argument])
        slot.alloc.erase()


def finish_outputs_in_arena(
    func: ir.Operation, slots: list[OutputSlot], plan: ArenaPlan, buffer_of: dict[int, int]
) -> None:
    """After :func:`apply_plan` with ``arena_argument``: drop the out-param arguments (the
    arena, now the last argument, holds the outputs) and record on the function where each
    output is: ``modelopt.outputs = [{argument, name, offset, type}, ...]``, ``argument``
    being its index before the rewrite. ``buffer_of`` maps an output's argument index to its
    arena buffer index in ``plan``."""
    block = func.regions[0].blocks[0]
    context = func.context
    i64 = ir.IntegerType.get_signless(64, context)
    old_attrs = (
        list(ir.ArrayAttr(func.attributes["arg_attrs"]))
        if "arg_attrs" in func.attributes
        else [ir.DictAttr.get({}, context) for _ in block.arguments]
    )
    records = []
    for slot in slots:
        records.append(
            ir.DictAttr.get(
                {
                    "argument": ir.IntegerAttr.get(i64, slot.argument),
                    "name": ir.StringAttr.get(slot.name, context),
                    "offset": ir.IntegerAttr.get(i64, plan.offsets[buffer_of[slot.argument]]),
                    "type": ir.TypeAttr.get(block.arguments[slot.argument].type),
                },
                context,
            )
        )
    dropped = {slot.argument for slot in slots}
    for index in sorted(dropped, reverse=True):
        block.erase_argument(index)
    arena_attrs = ir.DictAttr.get({ARENA_ATTR: ir.UnitAttr.get(context)}, context)
    kept_attrs = [attr for i, attr in enumerate(old_attrs) if i not in dropped]
    kept_attrs += [ir.DictAttr.get({}, context)] * (len(block.arguments) - 1 - len(kept_attrs))
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(kept_attrs + [arena_attrs], context)
    function_type = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value)
    func.attributes["function_type"] = ir.TypeAttr.get(
        ir.FunctionType.get([a.type for a in block.arguments], function_type.results, context)
    )
    func.attributes[OUTPUTS_ATTR] = ir.ArrayAttr.get(records, context)


def _output_type_problem(value_type: ir.Type) -> str | None:
    """Why no alloc can stand for an argument of this type (layouts, memory spaces and element
    types are the analysis' to refuse, as for any alloc)."""
    if not isinstance(value_type, ir.MemRefType):
        return "is not a memref"
    if not ir.MemRefType(value_type).has_static_shape:
        return "has a dynamic shape"
    return None
