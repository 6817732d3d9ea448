"""Analysis of one bufferized function: schedulable units, arena buffers, dependences.

Pure: MLIR in, plain data out. Nothing here mutates the IR.

- A unit is a top-level op of the function body (an op with regions moves as one unit; uses
  inside its regions count at it). Arena buffers' allocs and deallocs are not units: the rewrite
  replaces them by views of the arena at function entry.
- An arena buffer is a top-level static-shape ``memref.alloc``/``memref.alloca`` with an identity
  layout whose aliases (through view-like ops) never escape. An argument marked
  ``modelopt.noalias`` (or ``llvm.noalias``) shares memory with no other argument or global: it
  and its views are a memory class of their own. Every other memref (unmarked arguments,
  globals, escaping or dynamic allocs) shares one conservative memory class, ``OTHER``.
- Dependences: SSA use-def between units, plus read-after-write, write-after-read and
  write-after-write on each memory class. Ops whose effects we do not model are barriers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.ir_context import VIEW_LIKE_OPS, walk
from modelopt_mlir.solver.problem import ScheduleProblem

OTHER = -1  # the memory class of every memref that is neither an arena buffer nor noalias
NOALIAS_ATTRS = ("modelopt.noalias", "llvm.noalias")


def argument_class(index: int) -> int:
    """The memory class of noalias argument ``index`` (arena buffers are 0, 1, ...)."""
    return -2 - index


PURE_OPS = frozenset(
    {
        "affine.apply",
        "affine.min",
        "affine.max",
        "memref.dim",
        "memref.rank",
        "memref.get_global",
        "linalg.index",
        "linalg.yield",
        "scf.yield",
        "scf.condition",
        "scf.reduce",
        "scf.reduce.return",
        "affine.yield",
        "tm_tensor.yield",
        "memref.alloca_scope.return",
        "cf.assert",  # may abort, but touches no buffer
    }
)
PURE_DIALECTS = frozenset({"arith", "math", "index", "complex", "ub"})

# Ops whose only effects are those of the ops nested in their regions.
REGION_CONTAINERS = frozenset(
    {
        "scf.for",
        "scf.if",
        "scf.while",
        "scf.parallel",
        "scf.forall",
        "scf.execute_region",
        "scf.index_switch",
        "affine.for",
        "affine.if",
        "affine.parallel",
        "memref.alloca_scope",
    }
)

ALLOC_OPS = frozenset({"memref.alloc", "memref.alloca"})

# Linalg ops printed as ins(...) outs(%init) with one init and no operandSegmentSizes.
SINGLE_INIT_LINALG = frozenset({"linalg.transpose", "linalg.broadcast", "linalg.map"})

# Uses through which a buffer escapes the function's control, with the reason given.
ESCAPE_REASONS = {
    "func.return": "it is returned from the function",
    "func.call": "it is passed to a call",
    "func.call_indirect": "it is passed to a call",
    "scf.yield": "it flows out of a region",
    "scf.condition": "it flows out of a region",
    "affine.yield": "it flows out of a region",
    "cf.br": "it flows through a branch",
    "cf.cond_br": "it flows through a branch",
    "memref.extract_aligned_pointer_as_index": "its address is taken",
}


@dataclass(frozen=True)
class ArenaBuffer:
    """An alloc that will become a view of the arena."""

    index: int
    alloc: ir.Operation
    size: int
    alignment: int
    deallocs: tuple[ir.Operation, ...]


@dataclass(frozen=True)
class LeftAlone:
    """An alloc kept as an ordinary alloc, and why."""

    op: ir.Operation
    reason: str


@dataclass
class FunctionAnalysis:
    func: ir.Operation
    units: list[ir.Operation]
    buffers: list[ArenaBuffer]
    left_alone: list[LeftAlone]
    barriers: list[ir.Operation]
    problem: ScheduleProblem
    terminator: ir.Operation
    # outputs=arena: the buffer index of each output alloc given to analyze_function, in order
    outputs: tuple[int, ...] = ()


class AnalysisError(Exception):
    """The function cannot be planned; ``location`` points at the culprit."""

    def __init__(self, message: str, location: ir.Location | None = None) -> None:
        super().__init__(message)
        self.location = location


def element_bytes(element_type: ir.Type) -> int | None:
    """Bytes per element in memory, or None for types we do not lay out."""
    if isinstance(element_type, ir.IndexType):
        return 8  # 64-bit targets
    if isinstance(element_type, ir.IntegerType):
        width = element_type.width
        return max(1, width // 8) if width in (1, 8, 16, 32, 64) else None
    if isinstance(element_type, ir.FloatType):
        width = element_type.width
        return width // 8 if width % 8 == 0 else None
    if isinstance(element_type, ir.ComplexType):
        inner = element_bytes(element_type.element_type)
        return None if inner is None else 2 * inner
    return None


def memref_bytes(memref_type: ir.MemRefType) -> int | None:
    per_element = element_bytes(memref_type.element_type)
    if per_element is None:
        return None
    count = 1
    for dim in memref_type.shape:
        count *= dim
    return count * per_element


def _dialect(op_name: str) -> str:
    return op_name.split(".", 1)[0]


def _is_memref(value: ir.Value) -> bool:
    return isinstance(value.type, (ir.MemRefType, ir.UnrankedMemRefType))


def _operand_segments(op: ir.Operation) -> list[int] | None:
    if "operandSegmentSizes" not in op.attributes:
        return None
    return list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))


def memory_effects(op: ir.Operation) -> tuple[list[ir.Value], list[ir.Value]] | None:
    """(read, written) memref operands of one op, ignoring nested ops; None if not modelled."""
    name = op.name
    operands = list(op.operands)
    if name in VIEW_LIKE_OPS or name in PURE_OPS or _dialect(name) in PURE_DIALECTS:
        return [], []
    if name in REGION_CONTAINERS or name in ALLOC_OPS:
        return [], []
    if name in ("memref.load", "affine.load"):
        return [operands[0]], []
    if name in ("memref.store", "affine.store"):
        return [], [operands[1]]
    if name == "memref.copy":
        return [operands[0]], [operands[1]]
    if name == "memref.dealloc":
        return [], [operands[0]]
    if _dialect(name) in ("linalg", "tm_tensor"):
        memrefs = [v for v in operands if _is_memref(v)]
        segments = _operand_segments(op)
        if segments is not None and len(segments) == 2:
            ins = [v for v in operands[: segments[0]] if _is_memref(v)]
            outs = [v for v in operands[segments[0] :] if _is_memref(v)]
            return ins, outs
        if name in SINGLE_INIT_LINALG and memrefs and memrefs[-1] == operands[-1]:
            # ins(...) outs(%init) without operand segments: the init is the last operand
            return memrefs[:-1], memrefs[-1:]
        return memrefs, memrefs
    return None


def analyze_function(
    func: ir.Operation, alignment: int = 64, outputs: Sequence[ir.Operation] = ()
) -> FunctionAnalysis:
    """Analyse one ``func.func`` with a body. Raises AnalysisError if it cannot be planned.

    ``outputs`` are top-level allocs that hold the function's outputs (memory-plan
    ``outputs=arena``): they must become arena buffers, and they stay live to the end. The
    terminator is then the last unit, after every other one, and uses them."""
    region = func.regions[0]
    blocks = list(region.blocks)
    if len(blocks) != 1:
        raise AnalysisError(
            f"memory-plan supports function bodies with a single block, this one has {len(blocks)}",
            func.location,
        )
    top_level = [op.operation for op in blocks[0].operations]
    if not top_level or top_level[-1].name != "func.return":
        raise AnalysisError("function body does not end in func.return", func.location)
    terminator = top_level[-1]
    body_ops = top_level[:-1]

    # 1. Candidate allocs and the alias root of every memref value.
    left_alone: list[LeftAlone] = []
    candidates: list[ir.Operation] = []
    candidate_of_root: dict[ir.Value, int] = {}
    for op in body_ops:
        if op.name not in ALLOC_OPS:
            continue
        reason = _unplannable_reason(op)
        if reason is not None:
            left_alone.append(LeftAlone(op, reason))
            continue
        candidate_of_root[op.results[0]] = len(candidates)
        candidates.append(op)

    root: dict[ir.Value, int] = {}  # value -> candidate index (absent: class OTHER)
    for value, index in candidate_of_root.items():
        root[value] = index
    argument_of: dict[ir.Value, int] = {}  # value -> class of the noalias argument it views
    for i, arg in enumerate(blocks[0].arguments):
        if _is_noalias(func, i):
            if not _is_memref(arg):
                raise AnalysisError(
                    f"argument {i} of type {arg.type} is marked noalias; only memref "
                    "arguments can be",
                    arg.location,
                )
            argument_of[arg] = argument_class(i)
    for op in body_ops:
        for nested in walk(op):
            if nested.name in ALLOC_OPS and nested != op:
                left_alone.append(LeftAlone(nested, "it is allocated inside a region"))
            if nested.name in VIEW_LIKE_OPS and nested.operands:
                for classes in (root, argument_of):
                    source = classes.get(nested.operands[0])
                    if source is not None:
                        for result in nested.results:
                            if _is_memref(result):
                                classes[result] = source

    # 2. Escapes: a candidate whose alias is used where we cannot follow it stays an alloc.
    escaped: dict[int, str] = {}
    deallocs: dict[int, list[ir.Operation]] = {}
    top_level_set = set(body_ops)
    for op in top_level:
        for nested in walk(op):
            for position, operand in enumerate(nested.operands):
                index = root.get(operand)
                if index is None or index in escaped:
                    continue
                reason = _escape_reason(nested, position)
                if reason is None and nested.name == "memref.dealloc":
                    if nested in top_level_set:
                        deallocs.setdefault(index, []).append(nested)
                    else:
                        reason = "it is deallocated inside a region"
                if reason is not None:
                    escaped[index] = reason

    for output in outputs:
        if output in candidates:
            reason = escaped.get(candidates.index(output))
        else:
            reason = next(
                (kept.reason for kept in left_alone if kept.op == output),
                "it is not a top-level alloc",
            )
        if reason is not None:
            raise AnalysisError(
                f"an output cannot be placed in the arena: {reason}", output.location
            )

    buffers: list[ArenaBuffer] = []
    buffer_of_candidate: dict[int, int] = {}
    for index, op in enumerate(candidates):
        if index in escaped:
            left_alone.append(LeftAlone(op, escaped[index]))
            continue
        memref_type = ir.MemRefType(op.results[0].type)
        size = memref_bytes(memref_type)
        assert size is not None  # checked by _unplannable_reason
        requested = 1
        if "alignment" in op.attributes:
            requested = ir.IntegerAttr(op.attributes["alignment"]).value
        buffer_of_candidate[index] = len(buffers)
        buffers.append(
            ArenaBuffer(
                len(buffers),
                op,
                size,
                max(alignment, requested),
                tuple(deallocs.get(index, ())),
            )
        )
    buffer_of: dict[ir.Value, int] = {
        value: buffer_of_candidate[index]
        for value, index in root.items()
        if index in buffer_of_candidate
    }

    # 3. Units, and each nested op's unit.
    removed = {b.alloc for b in buffers} | {d for b in buffers for d in b.deallocs}
    units = [op for op in body_ops if op not in removed]
    if outputs:
        units.append(terminator)
    unit_of: dict[ir.Operation, int] = {}
    for index, op in enumerate(units):
        for nested in walk(op):
            unit_of[nested] = index

    # 4. Users, effects and dependences, in program order.
    users: list[set[int]] = [set() for _ in buffers]
    edges: set[tuple[int, int]] = set()
    last_write: dict[int, int] = {}
    reads_since_write: dict[int, set[int]] = {}
    last_barrier: int | None = None
    since_barrier: list[int] = []
    barriers: list[ir.Operation] = []
    for index, op in enumerate(units):
        if op == terminator:  # the sink unit of outputs=arena, handled below
            continue
        reads: set[int] = set()
        writes: set[int] = set()
        is_barrier = False
        for nested in walk(op):
            for operand in nested.operands:
                buffer = buffer_of.get(operand)
                if buffer is not None:
                    users[buffer].add(index)
                owner = operand.owner
                if isinstance(owner, ir.Block):
                    continue
                producer = unit_of.get(owner.operation)
                if producer is not None and producer != index:
                    edges.add((producer, index))
            effects = memory_effects(nested)
            if effects is None:
                is_barrier = True
                barriers.append(nested)
                continue
            for value in effects[0]:
                reads.add(buffer_of.get(value, argument_of.get(value, OTHER)))
            for value in effects[1]:
                writes.add(buffer_of.get(value, argument_of.get(value, OTHER)))
        if is_barrier:
            # After everything since the last barrier, and after that barrier itself (two calls
            # in a row touch memory in an order nothing else records).
            if last_barrier is not None:
                edges.add((last_barrier, index))
            for unit in since_barrier:
                edges.add((unit, index))
            since_barrier = []
            last_barrier = index
            last_write = {}
            reads_since_write = {}
            continue
        if not reads and not writes:
            continue
        if last_barrier is not None:
            edges.add((last_barrier, index))
        since_barrier.append(index)
        for cls in reads:
            if cls in last_write:
                edges.add((last_write[cls], index))
        for cls in writes:
            if cls in last_write:
                edges.add((last_write[cls], index))
            for reader in reads_since_write.get(cls, ()):
                edges.add((reader, index))
            last_write[cls] = index
            reads_since_write[cls] = set()
        for cls in reads:
            reads_since_write.setdefault(cls, set()).add(index)
    output_buffers = tuple(buffer_of[output.results[0]] for output in outputs)
    if outputs:
        sink = len(units) - 1
        edges.update((unit, sink) for unit in range(sink))
        for buffer in output_buffers:
            users[buffer].add(sink)
    problem = ScheduleProblem(
        num_units=len(units),
        edges=tuple(sorted(e for e in edges if e[0] != e[1])),
        sizes=tuple(b.size for b in buffers),
        users=tuple(tuple(sorted(u)) for u in users),
        alignment=tuple(b.alignment for b in buffers),
    )
    return FunctionAnalysis(
        func, units, buffers, left_alone, barriers, problem, terminator, output_buffers
    )


def argument_attributes(func: ir.Operation, index: int) -> dict[str, ir.Attribute]:
    """The attributes on ``func``'s argument ``index``, by name."""
    if "arg_attrs" not in func.attributes:
        return {}
    attrs = ir.ArrayAttr(func.attributes["arg_attrs"])
    if index >= len(attrs):
        return {}
    return {named.name: named.attr for named in ir.DictAttr(attrs[index])}


def _is_noalias(func: ir.Operation, index: int) -> bool:
    return bool(argument_attributes(func, index).keys() & set(NOALIAS_ATTRS))


def _unplannable_reason(alloc: ir.Operation) -> str | None:
    memref_type = ir.MemRefType(alloc.results[0].type)
    if not memref_type.has_static_shape:
        return "it has a dynamic shape"
    layout = memref_type.layout
    if not (
        isinstance(layout, ir.AffineMapAttr)
        and layout.value == ir.AffineMap.get_identity(memref_type.rank)
    ):
        return "it has a non-identity layout"
    if memref_type.memory_space is not None:
        return "it is in a non-default memory space"
    if memref_bytes(memref_type) is None:
        return f"its element type {memref_type.element_type} has no byte layout we plan"
    if len(alloc.operands) != 0:
        return "it has symbol operands"
    return None


def _escape_reason(user: ir.Operation, position: int) -> str | None:
    name = user.name
    if name in ESCAPE_REASONS:
        return ESCAPE_REASONS[name]
    if name in ("memref.store", "affine.store") and position == 0:
        return "it is stored into memory"
    if name in REGION_CONTAINERS:
        return "it flows into a region"
    if memory_effects(user) is None:
        return f"it is used by '{name}', whose memory effects are not modelled"
    return None
