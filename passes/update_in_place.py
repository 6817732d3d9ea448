"""update-in-place: write each updated value into its argument's own buffer instead of an out-param.

An out-param carrying ``modelopt.updates = N : i64`` holds the new value of argument N (the
training step in out-param form: new parameters and optimizer state). This pass erases the
out-param and writes argument N instead, then marks argument N ``modelopt.updated``. That is
safe when every read of argument N's old value (through its views) happens at or before the
first top-level op that touches the out-param, and that op, if it also reads argument N, reads
each element only at the iteration that writes it (an elementwise ``linalg.generic`` or a copy).
Otherwise the out-param becomes a fresh buffer copied into argument N before the return, with a
remark: never a wrong value.

Signatures change, so a function that is called in the module is an error; so are marks that do
not name a memref argument of the out-param's type. Every function is checked before any is
rewritten: on error the module is left untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from modelopt_mlir.analysis.function import (
    ESCAPE_REASONS,
    REGION_CONTAINERS,
    VIEW_LIKE_OPS,
    walk,
)
from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure, source_location
from modelopt_mlir.passes import ModulePass

UPDATES_ATTR = "modelopt.updates"
UPDATED_ATTR = "modelopt.updated"
COPY_OPS = frozenset({"memref.copy", "linalg.copy"})
# Ops that read a memref's shape, not its contents.
METADATA_OPS = frozenset({"memref.dim", "memref.rank"})


@dataclass(frozen=True)
class Tie:
    """Out-param ``out`` holds the new value of argument ``target``.

    ``copy_reason`` is None when the update can be written in place; otherwise it says why the
    new value is computed in a fresh buffer and copied into ``target`` at the return.
    ``self_copies`` are the copies between the two that become no-ops once they are one buffer.
    """

    out: int
    target: int
    copy_reason: str | None
    self_copies: tuple[ir.Operation, ...] = ()


@dataclass(frozen=True)
class UpdateInPlacePass(ModulePass):
    name = "update-in-place"
    summary = "Write each out-param marked modelopt.updates = N into argument N, in place"

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        calls = _calls_by_callee(module)
        planned: list[tuple[ir.Operation, list[Tie]]] = []
        failed = False
        # Check every function before rewriting any, so an error leaves the module untouched.
        for op in module.body.operations:
            func = op.operation
            if func.name != "func.func" or not func.regions[0].blocks:
                continue
            marks = _marks(func)
            if not marks:
                continue
            ties = _check_ties(func, marks, calls, diagnostics)
            if ties is None:
                failed = True
            else:
                planned.append((func, ties))
        if failed:
            raise PassFailure("update-in-place failed")
        for func, ties in planned:
            _rewrite(func, ties, diagnostics)


def _marks(func: ir.Operation) -> dict[int, ir.Attribute]:
    """Out-param index -> its ``modelopt.updates`` attribute."""
    marks: dict[int, ir.Attribute] = {}
    for index, entry in enumerate(_arg_attrs(func)):
        if UPDATES_ATTR in entry:
            marks[index] = entry[UPDATES_ATTR]
    return marks


def _arg_attrs(func: ir.Operation) -> list[ir.DictAttr]:
    count = len(func.regions[0].blocks[0].arguments)
    if "arg_attrs" not in func.attributes:
        return [ir.DictAttr.get({}) for _ in range(count)]
    return [ir.DictAttr(entry) for entry in ir.ArrayAttr(func.attributes["arg_attrs"])]


def _calls_by_callee(module: ir.Module) -> dict[str, list[ir.Operation]]:
    calls: dict[str, list[ir.Operation]] = {}

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "func.call":
            callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
            calls.setdefault(callee, []).append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return calls


def _check_ties(
    func: ir.Operation,
    marks: dict[int, ir.Attribute],
    calls: dict[str, list[ir.Operation]],
    diagnostics: DiagnosticEngine,
) -> list[Tie] | None:
    """The function's ties, each decided in place or copy; None after emitting its errors."""
    arguments = list(func.regions[0].blocks[0].arguments)
    name = ir.StringAttr(func.attributes["sym_name"]).value
    ok = True
    for call in calls.get(name, ()):
        diagnostics.error(
            f"'@{name}' has out-params marked {UPDATES_ATTR} but is called in the module; "
            "update-in-place would change its signature under the call",
            call.location,
        )
        ok = False
    updated_by: dict[int, int] = {}
    for out, mark in marks.items():
        problem = _tie_problem(out, mark, arguments, marks, updated_by)
        if problem is not None:
            diagnostics.error(problem, _location(arguments[out], func))
            ok = False
            continue
        updated_by[ir.IntegerAttr(mark).value] = out
    if not ok:
        return None
    return _decide_all(func, [(out, target) for target, out in sorted(updated_by.items())])


def _tie_problem(
    out: int,
    mark: ir.Attribute,
    arguments: list[ir.Value],
    marks: dict[int, ir.Attribute],
    updated_by: dict[int, int],
) -> str | None:
    """Why out-param ``out`` cannot take its mark (None when it can); ``updated_by`` holds the
    arguments already claimed by earlier out-params."""
    out_type = arguments[out].type
    if not isinstance(mark, ir.IntegerAttr):
        return f"{UPDATES_ATTR} on argument {out} must be an integer argument index, got {mark}"
    target = ir.IntegerAttr(mark).value
    if not isinstance(out_type, ir.MemRefType):
        return (
            f"argument {out} of type {out_type} is marked {UPDATES_ATTR}; only ranked "
            "memref out-params can be"
        )
    if not 0 <= target < len(arguments):
        return (
            f"argument {out} updates argument {target}, but the function has "
            f"{len(arguments)} arguments"
        )
    if target in marks:
        return (
            f"argument {out} updates argument {target}, which is itself an out-param "
            f"marked {UPDATES_ATTR}"
        )
    target_type = arguments[target].type
    if not isinstance(target_type, ir.MemRefType):
        return (
            f"argument {out} updates argument {target} of type {target_type}; only ranked "
            "memref arguments can be updated in place"
        )
    if out_type != target_type:
        return (
            f"tied output of the wrong shape: argument {out} has type {out_type} but the "
            f"argument {target} it updates has type {target_type}"
        )
    if target in updated_by:
        return f"arguments {updated_by[target]} and {out} both update argument {target}"
    return None


def _location(argument: ir.Value, func: ir.Operation) -> ir.Location:
    """The argument's own location where it has a file:line:col, else the function's."""
    if source_location(argument.location) is not None:
        return argument.location
    return func.location


# --- in place or copy --------------------------------------------------------------------------


@dataclass
class _ArgumentUses:
    """What the function's top-level ops do with one argument, through its views."""

    touches: list[int] = field(default_factory=list)  # top-level op indices, ascending
    escape: tuple[int, str] | None = None  # (op index, message) of the first escaping use


def _argument_uses(block: ir.Block, arguments: set[int]) -> dict[int, _ArgumentUses]:
    """For each of ``arguments``, the top-level ops that touch it (through views; views and
    shape queries are not accesses) and its first use that this pass cannot follow: one walk
    over the body for all of them."""
    root: dict[ir.Value, int] = {block.arguments[a]: a for a in arguments}
    uses = {a: _ArgumentUses() for a in arguments}
    for index, top in enumerate(block.operations):
        for nested in walk(top.operation):
            view = nested.name in VIEW_LIKE_OPS
            if view and nested.operands and nested.operands[0] in root:
                argument = root[nested.operands[0]]
                for result in nested.results:
                    if _is_memref_or_tensor(result.type):
                        root[result] = argument
            if nested.name in METADATA_OPS:
                continue
            for position, operand in enumerate(nested.operands):
                argument = root.get(operand)
                if argument is None or (view and position == 0):
                    continue
                found = uses[argument]
                if found.escape is None:
                    reason = _escape_reason(nested, position)
                    if reason is not None:
                        found.escape = (
                            index,
                            f"argument {argument} reaches '{nested.name}' and cannot be "
                            f"followed: {reason}",
                        )
                if not found.touches or found.touches[-1] != index:
                    found.touches.append(index)
    return uses


def _is_memref_or_tensor(type_: ir.Type) -> bool:
    return isinstance(
        type_, ir.MemRefType | ir.UnrankedMemRefType | ir.RankedTensorType | ir.UnrankedTensorType
    )


def _accesses(op: ir.Operation, aliases: set[ir.Value]) -> Iterator[tuple[ir.Operation, int]]:
    """(nested op, operand position) for every use of ``aliases`` inside ``op`` that may touch
    their contents: views and shape queries are not accesses."""
    for nested in walk(op):
        for position, operand in enumerate(nested.operands):
            if operand not in aliases:
                continue
            if nested.name in VIEW_LIKE_OPS and position == 0:
                continue
            if nested.name in METADATA_OPS:
                continue
            yield nested, position


def _escape_reason(user: ir.Operation, position: int) -> str | None:
    """Why a use lets the buffer reach values this pass does not follow, if it does."""
    if user.name in ESCAPE_REASONS:
        return ESCAPE_REASONS[user.name]
    if user.name in REGION_CONTAINERS:
        return "it flows into a region"
    if user.name in ("memref.store", "affine.store") and position == 0:
        return "it is stored into memory"
    if any(_is_memref_or_tensor(result.type) for result in user.results):
        return f"'{user.name}' returns a value that may alias it"
    return None


def _decide_all(func: ir.Operation, pairs: list[tuple[int, int]]) -> list[Tie]:
    """The tie of each (out, target) pair, in place or copy."""
    blocks = list(func.regions[0].blocks)
    if len(blocks) != 1:
        reason = f"the body of the function has {len(blocks)} blocks"
        return [Tie(out, target, reason) for out, target in pairs]
    block = blocks[0]
    uses = _argument_uses(block, {a for pair in pairs for a in pair})
    top_level = [op.operation for op in block.operations]
    return [_decide(block, top_level, uses, out, target) for out, target in pairs]


def _decide(
    block: ir.Block,
    top_level: list[ir.Operation],
    uses: dict[int, _ArgumentUses],
    out: int,
    target: int,
) -> Tie:
    old, new = uses[target], uses[out]
    # The first escape in program order; the old value's first where both meet in one op.
    escapes = [e for e in (old.escape, new.escape) if e is not None]
    if escapes:
        return Tie(out, target, min(escapes, key=lambda e: e[0])[1])
    touches_old, touches_new = old.touches, new.touches
    if not touches_new or not touches_old or touches_old[-1] < touches_new[0]:
        return Tie(out, target, None)
    first = touches_new[0]
    written_early = (
        f"the new value of argument {target} is written before the last read of its old value"
    )
    if touches_old[-1] > first:
        return Tie(out, target, written_early)
    # The last read of the old value and the first write of the new one are the same op.
    op = top_level[first]
    aliases = {
        value
        for nested in walk(op)
        for value in nested.operands
        if value in (block.arguments[target], block.arguments[out])
        or _rooted_at(value, (block.arguments[target], block.arguments[out]))
    }
    if not _reads_in_step(op, block.arguments[target], block.arguments[out], aliases):
        return Tie(out, target, written_early)
    self_copies = (op,) if op.name in COPY_OPS else ()
    return Tie(out, target, None, self_copies)


def _rooted_at(value: ir.Value, roots: tuple[ir.Value, ...]) -> bool:
    """Whether ``value`` is a view (of a view ...) of one of ``roots``."""
    while isinstance(value, ir.OpResult) and value.owner.name in VIEW_LIKE_OPS:
        if not value.owner.operands:
            return False
        value = value.owner.operands[0]
        if value in roots:
            return True
    return False


def _reads_in_step(
    op: ir.Operation, target: ir.Value, out: ir.Value, aliases: set[ir.Value]
) -> bool:
    """Whether ``op`` reads each element of ``target`` only at the iteration that writes the same
    element of ``out``, so that one buffer can serve as both."""
    for user, _ in _accesses(op, aliases):
        if user != op:
            return False  # touched inside the op's regions
    operands = list(op.operands)
    if any(v in aliases and v not in (target, out) for v in operands):
        return False  # a view of one of them
    if op.name in COPY_OPS:
        return True
    if op.name != "linalg.generic":
        return False
    iterators = ir.ArrayAttr(op.attributes["iterator_types"])
    if any("parallel" not in str(iterator) for iterator in iterators):
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    num_inputs = list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))[0]
    outputs = operands[num_inputs:]
    if target in outputs or out not in outputs:
        return False
    out_map = maps[num_inputs + outputs.index(out)]
    if not out_map.is_permutation:
        return False
    return all(maps[i] == out_map for i, v in enumerate(operands) if v in (target, out))


# --- rewrite -----------------------------------------------------------------------------------


def _rewrite(func: ir.Operation, ties: list[Tie], diagnostics: DiagnosticEngine) -> None:
    block = func.regions[0].blocks[0]
    arguments = list(block.arguments)
    entry = ir.InsertionPoint(list(block.operations)[0])
    returns = [
        list(b.operations)[-1]
        for b in func.regions[0].blocks
        if list(b.operations)[-1].name == "func.return"
    ]
    for tie in ties:
        out, target = arguments[tie.out], arguments[tie.target]
        if tie.copy_reason is None:
            out.replace_all_uses_with(target)
            for copy in tie.self_copies:
                copy.erase()
            continue
        location = _location(out, func)
        diagnostics.remark(f"{tie.copy_reason}; the update keeps a copy", location)
        with entry, location:
            fresh = memref.AllocOp(out.type, _dynamic_sizes(target), []).result
        out.replace_all_uses_with(fresh)
        for terminator in returns:
            with ir.InsertionPoint(terminator), location:
                memref.CopyOp(fresh, target)
    _drop_out_params(func, ties)


def _dynamic_sizes(value: ir.Value) -> list[ir.Value]:
    memref_type = ir.MemRefType(value.type)
    sizes = []
    for dim in range(memref_type.rank):
        if memref_type.is_dynamic_dim(dim):
            index = arith.ConstantOp(ir.IndexType.get(), dim).result
            sizes.append(memref.DimOp(value, index).result)
    return sizes


def _drop_out_params(func: ir.Operation, ties: list[Tie]) -> None:
    block = func.regions[0].blocks[0]
    erased = {tie.out for tie in ties}
    updated = {tie.target for tie in ties}
    attrs = _arg_attrs(func)
    new_attrs = []
    for index, entry in enumerate(attrs):
        if index in erased:
            continue
        named = {entry[i].name: entry[i].attr for i in range(len(entry))}
        if index in updated:
            named[UPDATED_ATTR] = ir.UnitAttr.get()
        new_attrs.append(ir.DictAttr.get(named))
    for index in sorted(erased, reverse=True):
        block.erase_argument(index)
    function_type = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value)
    inputs = [t for i, t in enumerate(function_type.inputs) if i not in erased]
    func.attributes["function_type"] = ir.TypeAttr.get(
        ir.FunctionType.get(inputs, function_type.results)
    )
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(new_attrs)
