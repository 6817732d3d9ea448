"""fold-transposes: a matrix product reads a transposed operand in place instead of a copy.

torch-mlir lowers every ``aten.transpose`` / ``aten.permute`` feeding a matrix product
(``q @ k.transpose(-2, -1)`` in attention, ``x.t() @ grad`` in every linear layer's weight
gradient) to a ``linalg.transpose`` into a fresh tensor, then ``linalg.matmul`` /
``linalg.batch_matmul`` on that copy. Eager PyTorch never makes the copy (BLAS reads either
layout), and after bufferization the copy is a buffer of its own, held as long as the product's
operand is (in attention, until the backward pass).

On linalg on tensors, before bufferization: when every use of a ``linalg.transpose`` result
(directly, or through one ``tensor.collapse_shape`` / ``tensor.expand_shape`` whose groups stay
contiguous in the transpose's input) is an input of a ``linalg.matmul`` / ``linalg.batch_matmul``
on floats of one type, each such product becomes the equivalent ``linalg.generic`` (same loops,
the reduction innermost, ``out + a * b`` per step: the same values, bit for bit) that reads the
transpose's input through a permuted indexing map, and the transpose disappears. Value
semantics make this safe without any alias analysis.

Folding trades the copy for a longer life of the transpose's input, or of the larger tensor it
is a slice of. A fold is made only when that costs no more bytes x steps, in program order,
than the copy held (see ``_worth_it``): ViT tiny's arena drops by 9% (the transposed K held
for the backward pass disappears); LLaMA tiny keeps the copy of V, a slice of the fused QKV
projection read transposed only in the backward pass (folding it too costs 6%).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, tensor

from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.ir_context import op_address
from modelopt_mlir.passes import ModulePass

PRODUCTS = ("linalg.matmul", "linalg.batch_matmul")
RESHAPES = ("tensor.collapse_shape", "tensor.expand_shape")
FLOATS = ("f16", "bf16", "f32", "f64")
VIEWS = (*RESHAPES, "tensor.extract_slice")


@dataclass(frozen=True)
class FoldTransposesPass(ModulePass):
    name = "fold-transposes"
    summary = "Matrix products on linalg tensors read a transposed operand without the copy"

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        fold_transposes(module)


def fold_transposes(module: ir.Module) -> int:
    """Rewrite every function of ``module`` in place; return the number of transposes folded."""
    folded = 0
    with module.context:
        for op in module.body.operations:
            if op.operation.name != "func.func":
                continue
            for region in op.operation.regions:
                for block in region.blocks:
                    folded += _fold_block(block)
    return folded


class _Positions:
    """Each op's index in ``block`` (a nested op counts at its enclosing op), kept up to date as
    folds insert and erase ops, without walking the block again.

    Op ``i`` of the block as first numbered owns slot ``i``; an op inserted before another joins
    that op's slot just before it. An op's index is the number of ops in earlier slots (a
    Fenwick tree of slot sizes) plus its place in its own slot. Ops are known by address."""

    def __init__(self, block: ir.Block) -> None:
        self._slots = [[op_address(o)] for o in block.operations]
        self._slot_of = {ops[0]: i for i, ops in enumerate(self._slots)}
        self._tree = [0] * (len(self._slots) + 1)
        for i in range(len(self._slots)):
            self._add(i, 1)

    def _add(self, slot: int, delta: int) -> None:
        i = slot + 1
        while i < len(self._tree):
            self._tree[i] += delta
            i += i & -i

    def _before(self, slot: int) -> int:
        total, i = 0, slot
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total

    def of(self, op: ir.Operation | None) -> int | None:
        while op is not None:
            address = op_address(op)
            if address in self._slot_of:
                slot = self._slot_of[address]
                return self._before(slot) + self._slots[slot].index(address)
            parent = op.parent
            op = parent if isinstance(parent, ir.Operation) else getattr(parent, "operation", None)
        return None

    def insert(self, new: ir.Operation, before: ir.Operation) -> None:
        """Record ``new``, just created right before ``before``."""
        address, slot = op_address(new), self._slot_of[op_address(before)]
        ops = self._slots[slot]
        ops.insert(ops.index(op_address(before)), address)
        self._slot_of[address] = slot
        self._add(slot, 1)

    def erase(self, op: ir.Operation) -> None:
        """Erase ``op`` (out of the table first: a new op may be made at its address)."""
        address = op_address(op)
        slot = self._slot_of.pop(address)
        self._slots[slot].remove(address)
        self._add(slot, -1)
        op.operation.erase()


def _fold_block(block: ir.Block) -> int:
    """Fold the block's transposes, first in block order first.

    A fold changes what another transpose costs only through the uses of the tensor the folded
    one reads (or of the larger tensor it is a slice of): its views and products now read that
    tensor. So a transpose turned down is tried again, in block order, after a fold on the same
    root tensor, and transposes that read the folded one are tried (again) after it."""
    positions = _Positions(block)
    ops: dict[int, tuple[int, ir.Operation]] = {}  # by address: (index, op) of live transposes
    for index, op in enumerate(block.operations):
        if op.name == "linalg.transpose":
            ops[op_address(op)] = (index, op.operation)
    pending = [(index, key) for key, (index, _) in ops.items()]
    heapq.heapify(pending)
    queued = set(ops)
    turned_down: dict[tuple[int, int], list[int]] = {}  # root tensor -> transposes turned down
    folded = 0
    while pending:
        _, key = heapq.heappop(pending)
        queued.discard(key)
        if key not in ops:
            continue  # erased by an earlier fold
        transpose = ops[key][1]
        root = _key(_root(transpose.operands[0])[0])
        changed = _fold(transpose, positions)
        if changed is None:
            turned_down.setdefault(root, []).append(key)
            continue
        folded += 1
        ops.pop(key, None)  # erased, or left without uses
        retry = turned_down.pop(root, [])
        for outer, erased in changed:
            if erased:
                ops.pop(outer, None)
            else:
                retry.append(outer)
        for again in retry:
            if again in ops and again not in queued:
                queued.add(again)
                heapq.heappush(pending, (ops[again][0], again))
    return folded


def _key(value: ir.Value) -> tuple[int, int]:
    """A key for ``value`` that stays a plain number once its op is erased."""
    if isinstance(value, ir.OpResult):
        return op_address(value.owner), value.result_number
    return -1, ir.BlockArgument(value).arg_number


def _root(value: ir.Value) -> tuple[ir.Value, bool]:
    """The tensor ``value`` is a view of (through reshapes and slices), and whether a slice is
    on the way."""
    sliced = False
    while isinstance(value, ir.OpResult) and value.owner.name in VIEWS:
        sliced |= value.owner.name == "tensor.extract_slice"
        value = value.owner.operands[0]
    return value, sliced


def _permutation(transpose: ir.Operation) -> list[int]:
    return list(ir.DenseI64ArrayAttr(transpose.attributes["permutation"]))


def _reassociation(reshape: ir.Operation) -> list[list[int]]:
    return [
        [ir.IntegerAttr(i).value for i in ir.ArrayAttr(group)]
        for group in ir.ArrayAttr(reshape.attributes["reassociation"])
    ]


def _fold(transpose: ir.Operation, positions: _Positions) -> list[tuple[int, bool]] | None:
    """Fold ``transpose`` into its products if it may and is worth it. None if not; else, for
    each transpose that read it, (its key, whether the fold erased it)."""
    source = transpose.operands[0]
    result = transpose.results[0]
    permutation = _permutation(transpose)
    # (product, operand number, reshape or None) for every use of the transposed tensor.
    uses: list[tuple[ir.Operation, int, ir.Operation | None]] = []
    # Transposes of this transpose (or of a reshape of it): composed with it.
    again: list[tuple[ir.Operation, ir.Operation | None]] = []
    for use in result.uses:
        owner = use.owner
        if owner.name == "linalg.transpose" and use.operand_number == 0:
            again.append((owner, None))
        elif owner.name in RESHAPES:
            for inner in owner.results[0].uses:
                if inner.owner.name == "linalg.transpose" and inner.operand_number == 0:
                    again.append((inner.owner, owner))
                elif _foldable(inner.owner, inner.operand_number):
                    uses.append((inner.owner, inner.operand_number, owner))
                else:
                    return None
        elif _foldable(owner, use.operand_number):
            uses.append((owner, use.operand_number, None))
        else:
            return None
    if not uses and not again:
        return None
    if not _worth_it(transpose, positions, [p for p, _, _ in uses] + [o for o, _ in again]):
        return None
    views: dict[int, tuple[ir.Value, list[int]]] = {}
    for reshape in [r for _, _, r in uses] + [r for _, r in again]:
        key = id(reshape)
        if key not in views:
            with ir.InsertionPoint(reshape or transpose), (reshape or transpose).location:
                view = (
                    (source, permutation)
                    if reshape is None
                    else _push_through(source, permutation, reshape)
                )
            if view is None:
                for made, _ in views.values():  # nothing else has been rewritten yet
                    if made != source:
                        positions.erase(made.owner)
                return None
            if view[0] != source:
                positions.insert(view[0].owner, reshape or transpose)
            views[key] = view
    for product, number, reshape in uses:
        value, order = views[id(reshape)]
        _as_generic(product, number, value, order, positions)
    changed = []
    for outer, reshape in again:
        # outer[z] = view[x] with x[p2[j]] = z[j], view[x] = value[y] with y[order[i]] = x[i].
        value, order = views[id(reshape)]
        composed = [order[d] for d in _permutation(outer)]
        identity = composed == list(range(len(composed)))
        changed.append((op_address(outer), identity))
        if identity:
            outer.results[0].replace_all_uses_with(value)
            positions.erase(outer.operation)
        else:
            outer.operands[0] = value
            outer.attributes["permutation"] = ir.DenseI64ArrayAttr.get(composed)
    for view, _ in views.values():
        if view != source and not list(view.uses):
            positions.erase(view.owner)
    reshapes = [r for _, _, r in uses] + [r for _, r in again]
    for reshape in {id(r): r for r in reshapes if r is not None}.values():
        if not list(reshape.results[0].uses):
            positions.erase(reshape)
    if not list(result.uses):
        positions.erase(transpose)
    return changed


def _worth_it(transpose: ir.Operation, positions: _Positions, readers: list[ir.Operation]) -> bool:
    """Whether folding holds no more bytes x steps, in program order, than the copy does.

    The copy lives from the transpose to its last reader. Folded, the transpose's input, or the
    larger tensor it is a slice of, must live until that reader instead; it lives at least
    until the transpose (or its own last other use) anyway. A whole input costs what the copy
    did; a slice of a tensor that would otherwise die early can cost far more (LLaMA's V, a
    slice of the fused QKV projection, read transposed in the backward pass)."""
    at = positions.of
    start, last = at(transpose), max(at(op) or 0 for op in readers)
    if start is None:
        return False
    root, sliced = _root(transpose.operands[0])
    if not sliced or not isinstance(root, ir.OpResult):
        return True  # the same bytes held over no longer a span (arguments live throughout)
    # The root's last use through its views, this transpose and its readers left out.
    end, pending, seen = start, [root], set()
    while pending:
        for use in pending.pop().uses:
            owner = use.owner
            if owner.name in VIEWS:
                if owner not in seen:
                    seen.add(owner)
                    pending.append(owner.results[0])
            elif owner != transpose and owner not in readers:
                end = max(end, at(owner) or 0)
    copy = _elements(transpose.results[0])
    whole = _elements(root)
    return whole * max(0, last - end) <= copy * (last - start)


def _elements(value: ir.Value) -> int:
    return _product(ir.RankedTensorType(value.type).shape)


def _foldable(op: ir.Operation, number: int) -> bool:
    if op.name not in PRODUCTS or number > 1 or len(op.operands) != 3:
        return False
    types = [ir.RankedTensorType(v.type) for v in list(op.operands) + list(op.results)]
    element = types[0].element_type
    return all(t.element_type == element for t in types) and str(element) in FLOATS


def _push_through(
    source: ir.Value, permutation: list[int], reshape: ir.Operation
) -> tuple[ir.Value, list[int]] | None:
    """``reshape(transpose(source, permutation))`` as ``transpose(reshape'(source), order)``:
    (the reshaped source, its permutation), or None when a group is not contiguous in
    ``source``."""
    groups = _reassociation(reshape)
    shape = list(ir.RankedTensorType(source.type).shape)
    element = ir.RankedTensorType(source.type).element_type
    if reshape.name == "tensor.collapse_shape":
        # Each group of transposed dims must be an ascending run of source dims.
        runs = []
        for group in groups:
            dims = [permutation[d] for d in group]
            if dims != list(range(dims[0], dims[0] + len(dims))):
                return None
            runs.append(dims)
        by_source = sorted(range(len(runs)), key=lambda j: runs[j][0])
        source_groups = [runs[j] for j in by_source]
        rank_of = {j: position for position, j in enumerate(by_source)}
        new_shape = [_product(shape[d] for d in group) for group in source_groups]
        reshaped = tensor.collapse_shape(
            ir.RankedTensorType.get(new_shape, element), source, _attr(source_groups)
        )
        return reshaped, [rank_of[j] for j in range(len(runs))]
    # expand_shape: transposed dim d becomes dims groups[d] of the view.
    out_shape = list(ir.RankedTensorType(reshape.results[0].type).shape)
    inverse = {permutation[d]: d for d in range(len(permutation))}
    source_groups, new_shape, start_of = [], [], {}
    for a in range(len(shape)):
        d = inverse[a]
        start_of[d] = len(new_shape)
        group = list(range(len(new_shape), len(new_shape) + len(groups[d])))
        source_groups.append(group)
        new_shape.extend(out_shape[v] for v in groups[d])
    reshaped = tensor.expand_shape(
        ir.RankedTensorType.get(new_shape, element), source, _attr(source_groups), [], new_shape
    )
    order = []
    for d, group in enumerate(groups):
        order.extend(start_of[d] + offset for offset in range(len(group)))
    return reshaped, order


def _product(values: object) -> int:
    total = 1
    for value in values:  # type: ignore[attr-defined]
        total *= value
    return total


def _attr(groups: list[list[int]]) -> ir.ArrayAttr:
    i64 = ir.IntegerType.get_signless(64)
    return ir.ArrayAttr.get(
        [ir.ArrayAttr.get([ir.IntegerAttr.get(i64, d) for d in group]) for group in groups]
    )


def _as_generic(
    product: ir.Operation, number: int, value: ir.Value, order: list[int], positions: _Positions
) -> None:
    """Replace ``product`` by a linalg.generic with its loops and indexing maps, reading operand
    ``number`` as ``value``, whose dims are the operand's dims permuted by ``order`` (operand dim
    i is value dim order[i])."""
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(product.attributes["indexing_maps"])]
    rank = maps[0].n_dims
    exprs = list(maps[number].results)
    permuted: list[ir.AffineExpr] = list(exprs)
    for i, expr in enumerate(exprs):
        permuted[order[i]] = expr
    maps[number] = ir.AffineMap.get(rank, 0, permuted)
    parallel = {str(expr) for expr in maps[2].results}
    kinds = [
        "parallel" if str(ir.AffineDimExpr.get(d)) in parallel else "reduction" for d in range(rank)
    ]
    inputs = list(product.operands)[:2]
    inputs[number] = value
    init = product.operands[2]
    with ir.InsertionPoint(product), product.location:
        generic = linalg.GenericOp(
            [product.results[0].type],
            inputs,
            [init],
            ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps]),
            ir.ArrayAttr.get([ir.Attribute.parse(f"#linalg.iterator_type<{k}>") for k in kinds]),
        )
        element = ir.RankedTensorType(init.type).element_type
        body = generic.regions[0].blocks.append(element, element, element)
        with ir.InsertionPoint(body):
            prod = arith.MulFOp(body.arguments[0], body.arguments[1])
            total = arith.AddFOp(body.arguments[2], prod.result)
            linalg.YieldOp([total.result])
    product.results[0].replace_all_uses_with(generic.results[0])
    positions.insert(generic.operation, product)
    positions.erase(product)
