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

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, tensor

from modelopt_mlir.diagnostics import DiagnosticEngine
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
    """Each op's index in ``block`` (a nested op counts at its enclosing op), computed once and
    again only after a fold has changed the block."""

    def __init__(self, block: ir.Block) -> None:
        self.block = block
        self._index: dict[ir.Operation, int] | None = None

    def invalidate(self) -> None:
        self._index = None

    def of(self, op: ir.Operation | None) -> int | None:
        if self._index is None:
            self._index = {o.operation: i for i, o in enumerate(self.block.operations)}
        while op is not None and op not in self._index:
            parent = op.parent
            op = parent if isinstance(parent, ir.Operation) else getattr(parent, "operation", None)
        return None if op is None else self._index[op]


def _fold_block(block: ir.Block) -> int:
    """Fold the block's transposes, first in block order first; after each fold, start again
    from the first one not yet tried (a fold changes what the others read and cost)."""
    # Keyed by hash (the op's address: Python wrappers of one op differ, erased ops compare
    # with nothing), taken while every op is alive.
    transposes = [
        (hash(o.operation), o.operation) for o in block.operations if o.name == "linalg.transpose"
    ]
    positions = _Positions(block)
    erased: set[int] = set()  # keys of the transposes a fold erased
    tried: set[int] = set()
    folded = 0
    while True:
        key, transpose = next(((k, t) for k, t in transposes if k not in tried), (None, None))
        if transpose is None:
            return folded
        tried.add(key)
        if _fold(transpose, positions, erased):
            folded += 1
            positions.invalidate()
            transposes = [(k, t) for k, t in transposes if k not in erased]
            tried.clear()


def _permutation(transpose: ir.Operation) -> list[int]:
    return list(ir.DenseI64ArrayAttr(transpose.attributes["permutation"]))


def _reassociation(reshape: ir.Operation) -> list[list[int]]:
    return [
        [ir.IntegerAttr(i).value for i in ir.ArrayAttr(group)]
        for group in ir.ArrayAttr(reshape.attributes["reassociation"])
    ]


def _fold(transpose: ir.Operation, positions: _Positions, erased: set[int]) -> int:
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
                    return 0
        elif _foldable(owner, use.operand_number):
            uses.append((owner, use.operand_number, None))
        else:
            return 0
    if not uses and not again:
        return 0
    if not _worth_it(transpose, positions, [p for p, _, _ in uses] + [o for o, _ in again]):
        return 0
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
                        made.owner.erase()
                return 0
            views[key] = view
    for product, number, reshape in uses:
        value, order = views[id(reshape)]
        _as_generic(product, number, value, order)
    for outer, reshape in again:
        # outer[z] = view[x] with x[p2[j]] = z[j], view[x] = value[y] with y[order[i]] = x[i].
        value, order = views[id(reshape)]
        composed = [order[d] for d in _permutation(outer)]
        if composed == list(range(len(composed))):
            outer.results[0].replace_all_uses_with(value)
            erased.add(hash(outer.operation))
            outer.erase()
        else:
            outer.operands[0] = value
            outer.attributes["permutation"] = ir.DenseI64ArrayAttr.get(composed)
    for view, _ in views.values():
        if view != source and not list(view.uses):
            view.owner.erase()
    reshapes = [r for _, _, r in uses] + [r for _, r in again]
    for reshape in {id(r): r for r in reshapes if r is not None}.values():
        if not list(reshape.results[0].uses):
            reshape.erase()
    if not list(result.uses):
        erased.add(hash(transpose))
        transpose.erase()
    return 1


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
    root, sliced = transpose.operands[0], False
    while isinstance(root, ir.OpResult) and root.owner.name in VIEWS:
        sliced |= root.owner.name == "tensor.extract_slice"
        root = root.owner.operands[0]
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


def _as_generic(product: ir.Operation, number: int, value: ir.Value, order: list[int]) -> None:
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
    product.erase()
