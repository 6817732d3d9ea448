"""Independent check of a recompute rewrite: the rewritten function computes what the original did.

Shares no code with the recompute analysis, solver or rewrite. Both functions are executed
symbolically, op by op in program order: every value is numbered by how it was computed (the
op's text with SSA names erased, and the numbers of what it reads). Memory is one symbolic
content per root (an argument, an alloc, a global), replaced by each write: a write that covers
the whole root without reading it gives a content that depends only on the op and its inputs, any
other write one that also depends on the content before.

Ops that the rewrite inserted carry ``modelopt.recompute``; every other op of the rewritten
function must match the original's ops one for one, in order, with the same op text and the same
numbers for everything it reads. At the end every argument's content and every returned value
must be the same. A clone therefore passes only if it recomputed exactly the value the original
read there: its inputs still held the same contents when it ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.ir_context import walk

MARK = "modelopt.recompute"
_SSA = re.compile(r"%[\w$.#-]+")
# Ops whose every result views operand 0. Kept apart from ir_context.VIEW_LIKE_OPS, which also
# lists memref.extract_strided_metadata, whose index results are no views.
_VIEWS = frozenset(
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
    }
)
# Views that keep every element of their source, so that writing through them covers it.
_WHOLE_VIEWS = frozenset({"memref.expand_shape", "memref.collapse_shape", "memref.cast"})


@dataclass(frozen=True)
class RecomputeViolation:
    message: str
    location: ir.Location | None = None


class _Numbering:
    def __init__(self) -> None:
        self.numbers: dict[tuple, int] = {}

    def __call__(self, *key: object) -> int:
        return self.numbers.setdefault(tuple(key), len(self.numbers))


@dataclass
class _Trace:
    # per unmarked top-level op: (name, text number, numbers it reads)
    ops: list[tuple[str, int, tuple[int, ...], ir.Location]]
    arguments: tuple[int, ...]
    returned: tuple[int, ...]


_MARKS = (
    re.compile(r"\{" + re.escape(MARK) + r"\}"),
    re.compile(r", " + re.escape(MARK) + r"(?![\w.])"),
    re.compile(r"(?<=\{)" + re.escape(MARK) + r", "),
)
_SPACES = re.compile(r"\s+")


def _normal(text: str) -> str:
    """An op's text with SSA names, the rewrite's mark and spacing differences erased."""
    for mark in _MARKS:
        text = mark.sub("", text)
    return _SPACES.sub(" ", _SSA.sub("%", text)).strip()


def _op_texts(func: ir.Operation) -> list[str]:
    """The generic-form text of each top-level op of ``func``'s body, from one print of the
    function (printing ops one by one costs time in the size of the whole function)."""
    lines = func.get_asm(print_generic_op_form=True, enable_debug_info=False).splitlines()
    # The body starts after the line opening the region, and after the entry block's label
    # when it has one (a block without arguments prints none).
    start = next(i for i, line in enumerate(lines) if line.endswith("({"))
    if start + 1 < len(lines) and lines[start + 1].startswith("^bb0"):
        start += 1
    texts: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("  ") and not line.startswith("   ") and line[2] not in "})^":
            texts.append([line])
        elif texts:
            texts[-1].append(line)
    ops = list(func.regions[0].blocks[0].operations)
    if len(texts) != len(ops):
        raise ValueError(f"split {len(texts)} op texts for {len(ops)} ops")
    # The function's closing line went to the last op.
    if texts and texts[-1][-1].startswith("}"):
        texts[-1].pop()
    return [_normal("\n".join(t)) for t in texts]


def _trace(func: ir.Operation, number: _Numbering) -> _Trace:
    block = func.regions[0].blocks[0]
    value_number: dict[ir.Value, int] = {}
    # memref value -> (root, view path number, covers the whole root)
    view_of: dict[ir.Value, tuple[int, int, bool]] = {}
    content: dict[int, int] = {}

    def new_root(kind: object) -> int:
        root = number("root", kind)
        content[root] = number("initial", kind)
        return root

    for index, arg in enumerate(block.arguments):
        value_number[arg] = number("argument", index)
        if isinstance(arg.type, ir.MemRefType):
            view_of[arg] = (new_root(("argument", index)), number("path"), True)
    allocs = 0
    fresh = 0
    ops: list[tuple[str, int, tuple[int, ...], ir.Location]] = []
    returned: tuple[int, ...] = ()

    def read(value: ir.Value) -> int:
        if value in view_of:
            root, path, _ = view_of[value]
            return number("read", content[root], path)
        if value in value_number:
            return value_number[value]
        return number("unknown", str(value.type))

    texts = _op_texts(func)
    for op, op_text in zip((o.operation for o in block.operations), texts, strict=True):
        name = op.name
        marked = MARK in op.attributes
        text = number("text", op_text)
        if name == "func.return":
            returned = tuple(read(v) for v in op.operands)
            break
        if name in ("memref.alloc", "memref.alloca"):
            if marked:
                fresh += 1
                kind: object = ("fresh", fresh)
            else:
                allocs += 1
                kind = ("alloc", allocs)
            view_of[op.results[0]] = (new_root(kind), number("path"), True)
            continue
        if name == "memref.get_global":
            view_of[op.results[0]] = (new_root(("global", text)), number("path"), True)
            continue
        if name in _VIEWS and op.operands and op.operands[0] in view_of:
            root, path, whole = view_of[op.operands[0]]
            extra = tuple(value_number.get(v, -1) for v in list(op.operands)[1:])
            for position, result in enumerate(op.results):
                view_of[result] = (
                    root,
                    number("view", path, text, extra, position),
                    whole and name in _WHOLE_VIEWS,
                )
            if not marked:
                ops.append((name, text, (read(op.operands[0]),), op.location))
            continue
        # Everything an op (and the ops nested in it) takes from outside itself; what it
        # overwrites in full is not read.
        nested_ops = list(walk(op))
        inside = set(nested_ops)
        taken: list[ir.Value] = []
        for nested in nested_ops:
            for operand in nested.operands:
                owner = operand.owner
                defined_inside = (
                    owner.owner.operation in inside
                    if isinstance(owner, ir.Block)
                    else owner.operation in inside
                )
                if not defined_inside:
                    taken.append(operand)
        memrefs = [v for v in taken if v in view_of]
        written = _written(op, memrefs)
        overwritten = {v for v, whole_write in written if whole_write and view_of[v][2]}
        reads = tuple(
            number("overwritten", view_of[v][1]) if v in overwritten else read(v) for v in taken
        )
        key = number("op", text, reads)
        if not marked:
            ops.append((name, text, reads, op.location))
        for position, result in enumerate(op.results):
            value_number[result] = number("result", key, position)
            if isinstance(result.type, ir.MemRefType):
                view_of[result] = (new_root(("result", key, position)), number("path"), True)
        # Writes: a linalg op's outs, a copy's target, a store's memref; anything else we do not
        # know writes every memref it touches.
        for value, _ in written:
            root, path, _ = view_of[value]
            before = None if value in overwritten else content[root]
            content[root] = number("write", key, path, before)
    arguments = tuple(content[view_of[arg][0]] for arg in block.arguments if arg in view_of)
    return _Trace(ops, arguments, returned)


def _written(op: ir.Operation, memrefs: list[ir.Value]) -> list[tuple[ir.Value, bool]]:
    """(memref, whether the op overwrites all of it without reading it) for each it writes."""
    name = op.name
    if name == "memref.copy":
        return [(op.operands[1], True)]
    if name in ("memref.load", "affine.load"):
        return []
    if name in ("memref.store", "affine.store"):
        return [(op.operands[1], False)]
    if name == "memref.dealloc":
        return []
    if name.startswith("linalg.") and "operandSegmentSizes" in op.attributes:
        sizes = list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))
        operands = list(op.operands)
        ins, outs = operands[: sizes[0]], operands[sizes[0] :]
        result = []
        for value in outs:
            if value in memrefs:
                result.append((value, _overwrites(op, value, ins)))
        return result
    if name in ("linalg.transpose", "linalg.broadcast", "linalg.map") and op.operands:
        init = op.operands[len(op.operands) - 1]
        if init in memrefs:  # ins(...) outs(%init) without operand segments
            return [(init, init not in list(op.operands)[:-1])]
    # Unknown: assume it reads and partly writes every memref it touches.
    return [(value, False) for value in dict.fromkeys(memrefs)]


def _overwrites(op: ir.Operation, out: ir.Value, ins: list[ir.Value]) -> bool:
    if out in ins:
        return False
    name = op.name
    if name in ("linalg.fill", "linalg.transpose", "linalg.broadcast", "linalg.copy"):
        return True
    if name != "linalg.generic":
        return False
    if not all("parallel" in str(i) for i in ir.ArrayAttr(op.attributes["iterator_types"])):
        return False
    maps = ir.ArrayAttr(op.attributes["indexing_maps"])
    if len(maps) != len(ins) + 1:
        return False
    if not ir.AffineMapAttr(maps[len(maps) - 1]).value.is_permutation:
        return False
    body = op.regions[0].blocks[0]
    return not list(body.arguments[len(body.arguments) - 1].uses)


def check_recompute(original: ir.Operation, rewritten: ir.Operation) -> list[RecomputeViolation]:
    """Violations (empty when none) of ``rewritten`` computing what ``original`` computes."""
    number = _Numbering()
    before = _trace(original, number)
    after = _trace(rewritten, number)
    violations: list[RecomputeViolation] = []
    if len(before.ops) != len(after.ops):
        return [
            RecomputeViolation(
                f"the rewrite has {len(after.ops)} original ops, the function had {len(before.ops)}"
            )
        ]
    for (name, text, reads, _), (name2, text2, reads2, location) in zip(
        before.ops, after.ops, strict=True
    ):
        if name != name2 or text != text2:
            violations.append(RecomputeViolation(f"'{name2}' does not match '{name}'", location))
        elif reads != reads2:
            violations.append(
                RecomputeViolation(
                    f"'{name}' reads values the original did not read here (a recomputed "
                    "input was overwritten, or a use was not redirected)",
                    location,
                )
            )
        if len(violations) >= 5:
            return violations
    if before.arguments != after.arguments:
        violations.append(RecomputeViolation("an argument ends with different contents"))
    if before.returned != after.returned:
        violations.append(RecomputeViolation("the function returns different values"))
    return violations
