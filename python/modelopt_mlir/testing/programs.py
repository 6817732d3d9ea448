"""Random valid bufferized programs for fuzzing memory-plan (issue 12, build 2).

``generate(seed, index)`` builds one module: a few ``func.func`` on memrefs, the last one
(``@main``) the entry point, the others callees that it (or an earlier callee) calls. Every
function is a straight list of *statements*, each a few lines of MLIR with what it defines,
uses, reads, initializes and frees, so that the program can be re-checked and shrunk after any
statement is deleted. What a statement may be (``MENU``, one tag each):

- ``alloc``, ``alloca``, ``aligned-alloc`` (an ``alignment`` attribute), ``raw-alloc`` (an i8
  buffer carved by ``memref.view``), ``dead-alloc`` (never used; sometimes deallocated),
  ``region-alloc`` (an alloc or alloca inside an ``scf.for`` / ``scf.if`` body);
- ``fill`` (``linalg.fill``), ``copy`` (``memref.copy``), ``elementwise`` (a parallel
  ``linalg.generic``, one or two inputs, in place or not), ``convert`` (an elementwise
  ``linalg.generic`` between element types: extf, truncf, extui, trunci, sitofp; no fptosi, whose
  out-of-range results are poison),
  ``reduction`` (a ``linalg.generic`` reducing the last dimension, into a 0-d buffer for rank
  1), ``matmul`` (``linalg.matmul``), ``load-store`` (``memref.load`` / ``memref.store`` at
  constant indices);
- aliases: ``subview`` (static offsets, sizes and strides 1 or 2), ``expand-shape``,
  ``collapse-shape``, ``cast`` (to dynamic sizes or a dynamic strided layout), ``transpose``,
  ``reinterpret-cast`` (the flat view of a buffer), ``view`` (``memref.view`` of an i8 buffer at
  a byte offset);
- ``for`` (``scf.for`` with one to three iterations whose body uses outer buffers, and may index
  them with the induction variable), ``if`` (``scf.if`` on an i1 loaded from a buffer, or on a
  constant, with or without ``else``), ``dealloc`` (anywhere after the last use of an alloc),
  ``region-dealloc`` (an outer alloc freed in one branch of an ``scf.if``), ``call``
  (``func.call`` of an earlier function, also inside a region), ``multi-block`` (now and then the entry point
  ends in a second block, which memory-plan refuses with a diagnostic: the module must stay
  untouched), ``noalias`` (some of the entry point's arguments marked ``modelopt.noalias``:
  they are distinct arrays; callees never are, since a call may pass one buffer twice);
- element types ``f32``, ``f16``, ``bf16``, ``i1``, ``i64`` (tags ``type-...``), 0-d buffers
  (``rank-0``) and buffers with no element (``zero-elements``).

Every program is *defined*: a buffer is read only after it was fully written (arguments arrive
initialized; a partial write through a subview, a store or a call needs the whole buffer
initialized before), so that planned and unplanned runs must agree bit for bit. Reads of
freed buffers and uses outside a value's region are impossible by construction, and deleting
statements keeps a program only when ``is_valid`` still holds. Integer arithmetic avoids
division, so nothing traps.

Not generated: dynamic shapes at allocation (``memref.alloc(%n)``), ``scf.while`` and
``iter_args``, buffers returned from functions or yielded from regions, multi-block bodies,
globals, rank-reducing subviews, ``tm_tensor`` ops, arguments updated
in place (update-in-place), and vector, complex or index element types.

``check_program`` plans a program with memory-plan in process and classifies the outcome
(``OUTCOMES``): identical, refused with a diagnostic, or a failure (``failed: ...``: traceback,
validator, invalid output IR, bit difference, planned IR that does not lower, or a generator
bug). Planning runs in process (the command line is fuzzed by :mod:`mutate`), and so does
the CPU run: a crash there ends the process. Its validator re-derives every arena view's byte range and live range from the planned IR
alone, sharing nothing with the planner. ``shrink`` deletes statements (and unused functions)
while a predicate still holds.
"""

from __future__ import annotations

import random
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

FAILED = "failed: "
IDENTICAL = "planned, identical"
REFUSED = "refused with diagnostic"
TRACEBACK = FAILED + "traceback"
VALIDATOR = FAILED + "validator"
INVALID_OUTPUT = FAILED + "invalid output IR"
BIT_DIFFERENCE = FAILED + "bit difference"
LOWERING = FAILED + "planned IR does not run"
GENERATOR = FAILED + "generator produced an invalid program"
# outputs=arena only: an argument marked as an output is read before the program overwrites it
# (or is not overwritten at all), so its incoming contents matter and it is no output.
READS_OUTPUT = "not an output: its incoming contents are read"
OUTCOMES = (IDENTICAL, REFUSED, READS_OUTPUT, TRACEBACK, VALIDATOR, INVALID_OUTPUT,
            BIT_DIFFERENCE, LOWERING, GENERATOR)  # fmt: skip

ELEMENT_TYPES = ("f32", "f16", "bf16", "i1", "i64")
FLOATS = ("f32", "f16", "bf16")
ELEMENT_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i1": 1, "i64": 8, "i8": 1}

MENU = (
    "alloc",
    "alloca",
    "aligned-alloc",
    "raw-alloc",
    "dead-alloc",
    "region-alloc",
    "fill",
    "copy",
    "elementwise",
    "convert",
    "reduction",
    "matmul",
    "load-store",
    "subview",
    "expand-shape",
    "collapse-shape",
    "cast",
    "transpose",
    "reinterpret-cast",
    "view",
    "for",
    "if",
    "dealloc",
    "region-dealloc",
    "call",
    "multi-block",
    "noalias",
    "rank-0",
    "zero-elements",
    *(f"type-{t}" for t in ELEMENT_TYPES),
)

# Options for memory-plan in check_program: small problems, a short safety limit.
PLAN_OPTIONS: dict[str, object] = {"time_limit": 2.0}


# --- types and values -------------------------------------------------------------------------


@dataclass(frozen=True)
class MemType:
    """A memref type: the real shape, and how it is spelled (dynamic sizes, strided layout)."""

    shape: tuple[int, ...]
    element: str
    strides: tuple[int, ...] | None = None  # None: identity layout
    offset: int = 0
    dynamic_sizes: bool = False
    dynamic_layout: bool = False

    def __str__(self) -> str:
        dims = "".join(("?" if self.dynamic_sizes else str(d)) + "x" for d in self.shape)
        layout = ""
        if self.dynamic_layout:
            layout = ", strided<[" + ", ".join("?" for _ in self.shape) + "], offset: ?>"
        elif self.strides is not None:
            offset = f", offset: {self.offset}" if self.offset else ""
            layout = f", strided<[{', '.join(map(str, self.strides))}]{offset}>"
        return f"memref<{dims}{self.element}{layout}>"

    @property
    def identity(self) -> bool:
        return self.strides is None and not self.dynamic_layout and not self.dynamic_sizes

    @property
    def static_strides(self) -> tuple[int, ...] | None:
        if self.dynamic_layout or self.dynamic_sizes:
            return None
        return self.strides if self.strides is not None else row_major(self.shape)

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def bytes(self) -> int:
        return self.elements * ELEMENT_BYTES[self.element]


def row_major(shape: Sequence[int]) -> tuple[int, ...]:
    strides = []
    running = 1
    for dim in reversed(shape):
        strides.append(running)
        running *= dim
    return tuple(reversed(strides))


@dataclass(frozen=True)
class Value:
    """A memref SSA value in scope: its type, the buffer it aliases, whether it covers it all."""

    name: str
    type: MemType
    root: str
    full: bool


@dataclass(frozen=True)
class Statement:
    """A deletable piece of a function body and its effects, for validity checks."""

    lines: tuple[str, ...]
    tags: frozenset[str]
    defines: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()  # SSA names and @functions from outside the statement
    roots: tuple[tuple[str, str], ...] = ()  # (defined memref, its root buffer)
    reads: frozenset[str] = frozenset()  # roots that must be initialized before
    initializes: frozenset[str] = frozenset()  # roots fully written
    frees: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Function:
    name: str
    arguments: tuple[tuple[str, MemType], ...]
    body: tuple[Statement, ...]
    private: bool = True
    multi_block: bool = False  # ends in a second block, which memory-plan refuses
    noalias: frozenset[str] = frozenset()  # arguments marked modelopt.noalias

    def render(self) -> str:
        params = ", ".join(
            f"{name}: {t}" + (" {modelopt.noalias}" if name in self.noalias else "")
            for name, t in self.arguments
        )
        visibility = "private " if self.private else ""
        lines = [f"func.func {visibility}@{self.name}({params}) {{"]
        for statement in self.body:
            lines.extend("  " + line for line in statement.lines)
        if self.multi_block:
            lines += ["  cf.br ^bb1", "^bb1:"]
        lines += ["  return", "}"]
        return "\n".join(lines)

    @property
    def tags(self) -> frozenset[str]:
        found: set[str] = set()
        for statement in self.body:
            found |= statement.tags
        for _, memref_type in self.arguments:
            found |= type_tags(memref_type)
        if self.multi_block:
            found.add("multi-block")
        if self.noalias:
            found.add("noalias")
        return frozenset(found)


@dataclass(frozen=True)
class Program:
    seed: int
    index: int
    functions: tuple[Function, ...]  # callees first, the entry point last

    @property
    def entry(self) -> str:
        return self.functions[-1].name

    @property
    def text(self) -> str:
        header = f"// memory-plan fuzz program: seed {self.seed}, index {self.index}\n"
        return header + "\n\n".join(f.render() for f in self.functions) + "\n"

    @property
    def tags(self) -> frozenset[str]:
        found: set[str] = set()
        for function in self.functions:
            found |= function.tags
        return frozenset(found)

    @property
    def size(self) -> int:
        return sum(len(f.body) for f in self.functions)


def type_tags(memref_type: MemType) -> set[str]:
    tags = {f"type-{memref_type.element}"} if memref_type.element in ELEMENT_TYPES else set()
    if not memref_type.shape:
        tags.add("rank-0")
    elif memref_type.elements == 0:
        tags.add("zero-elements")
    return tags


# --- validity ---------------------------------------------------------------------------------


def is_valid(program: Program) -> bool:
    """Whether every function only uses defined, live, initialized buffers (after deletions)."""
    defined_functions: set[str] = set()
    for function in program.functions:
        if not function_is_valid(function, defined_functions):
            return False
        defined_functions.add("@" + function.name)
    return True


def function_is_valid(function: Function, functions: set[str]) -> bool:
    root_of = {name: name for name, _ in function.arguments}
    defined = set(root_of) | functions
    initialized = set(root_of)
    freed: set[str] = set()
    for statement in function.body:
        for name in statement.uses:
            if name not in defined or root_of.get(name) in freed:
                return False
        if not statement.reads <= initialized or statement.frees & freed:
            return False
        defined.update(statement.defines)
        root_of.update(statement.roots)
        initialized |= statement.initializes
        freed |= statement.frees
    return True


# --- the generator ----------------------------------------------------------------------------


class Scope:
    """Names, buffers and their state while a function body is generated."""

    def __init__(self, rng: random.Random, elements: Sequence[str], shapes: Sequence[tuple]):
        self.rng = rng
        self.elements = list(elements)
        self.shapes = list(shapes)
        self.counter = 0
        self.values: list[Value] = []
        self.kind: dict[str, str] = {}  # root -> arg | alloc | alloca | raw
        self.depth: dict[str, int] = {}  # root -> region depth of its alloc
        self.initialized: set[str] = set()
        self.freed: set[str] = set()
        self.region_depth = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"%{prefix}{self.counter}"

    def live(self) -> list[Value]:
        return [v for v in self.values if v.root not in self.freed]

    def readable(self) -> list[Value]:
        return [v for v in self.live() if v.root in self.initialized]

    def writable(self) -> list[Value]:
        """Values a full write may target: whole-buffer views, or views of initialized buffers."""
        return [v for v in self.live() if v.full or v.root in self.initialized]

    def add(self, value: Value, kind: str | None = None) -> None:
        self.values.append(value)
        if kind is not None:
            self.kind[value.root] = kind
            self.depth[value.root] = self.region_depth


@dataclass
class Emitted:
    """What one generator step produced, before it becomes a Statement."""

    lines: list[str]
    tags: set[str]
    defines: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    roots: list[tuple[str, str]] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)
    initializes: set[str] = field(default_factory=set)
    frees: set[str] = field(default_factory=set)

    def statement(self) -> Statement:
        uses = tuple(dict.fromkeys(u for u in self.uses if u not in self.defines))
        return Statement(
            tuple(self.lines),
            frozenset(self.tags),
            tuple(self.defines),
            uses,
            tuple(self.roots),
            frozenset(self.reads),
            frozenset(self.initializes),
            frozenset(self.frees),
        )


def _constant(rng: random.Random, element: str) -> str:
    """A constant attribute of this element type, as arith.constant spells it."""
    if element in FLOATS:
        value = rng.choice(("-2.0", "-0.5", "0.0", "0.25", "1.5", "3.0"))
    elif element == "i1":
        return rng.choice(("true", "false"))
    elif element == "i8":
        value = str(rng.choice((-3, 0, 1, 7)))
    else:
        value = str(rng.choice((-3, -1, 0, 1, 2, 7, 1 << 40)))
    return f"{value} : {element}"


def _identity_map(rank: int) -> str:
    dims = ", ".join(f"d{i}" for i in range(rank))
    return f"affine_map<({dims}) -> ({dims})>"


_BINARY = {
    "float": ("arith.addf", "arith.subf", "arith.mulf", "arith.maximumf", "arith.minimumf"),
    "i64": ("arith.addi", "arith.subi", "arith.muli", "arith.xori", "arith.maxsi"),
    "i1": ("arith.andi", "arith.ori", "arith.xori"),
    "i8": ("arith.addi", "arith.xori"),
}


def _binary_ops(element: str) -> tuple[str, ...]:
    return _BINARY["float" if element in FLOATS else element]


def _conversion(source: str, target: str) -> str | None:
    """The arith op converting one element type to another (None: not generated)."""
    width = {"f16": 16, "bf16": 16, "f32": 32}
    if source in FLOATS and target in FLOATS:
        if source == target or {source, target} == {"f16", "bf16"}:
            return None
        return "arith.extf" if width[source] < width[target] else "arith.truncf"
    if source == "i1" and target == "i64":
        return "arith.extui"
    if source == "i64" and target == "i1":
        return "arith.trunci"
    if source == "i64" and target in FLOATS:
        return "arith.sitofp"
    return None  # no fptosi: a float out of the integer range gives poison


class FunctionGenerator:
    """Generates one function body over a scope; ``callees`` may be called."""

    def __init__(self, scope: Scope, callees: Sequence[Function]) -> None:
        self.scope = scope
        self.rng = scope.rng
        self.callees = list(callees)

    # Steps. Each returns the statements it emitted (empty if it did not apply).

    def step(self, in_region: bool) -> list[Statement]:
        steps: list[tuple[Callable[[], list[Statement]], int]] = [
            (self.alloc, 6),
            (self.fill, 4),
            (self.copy, 5),
            (self.elementwise, 6),
            (self.convert, 2),
            (self.reduction, 2),
            (self.matmul, 2),
            (self.load_store, 2),
            (self.subview, 3),
            (self.reshape, 3),
            (self.cast, 2),
            (self.transpose, 1),
            (self.view, 2),
            (self.dealloc, 3),
        ]
        if not in_region:
            steps += [(self.dead_alloc, 1), (self.for_loop, 2), (self.if_else, 2)]
            if self.callees:
                steps.append((self.call, 3))
        if self.scope.region_depth < 2 and in_region:
            steps += [(self.for_loop, 1), (self.if_else, 1)]
        if in_region and self.callees:
            steps.append((self.call, 1))  # a call nested in a region makes it a barrier
        makers, weights = zip(*steps, strict=True)
        for _ in range(8):
            made = self.rng.choices(makers, weights)[0]()
            if made:
                return made
        return []

    def body(self, count: int, in_region: bool = False) -> list[Statement]:
        statements: list[Statement] = []
        for _ in range(count):
            statements += self.step(in_region)
        return statements

    def new_type(self) -> MemType:
        return MemType(self.rng.choice(self.scope.shapes), self.rng.choice(self.scope.elements))

    def alloc(self, memref_type: MemType | None = None, kind: str | None = None) -> list[Statement]:
        scope = self.scope
        memref_type = memref_type or self.new_type()
        kind = kind or self.rng.choice(("alloc", "alloc", "alloca", "raw"))
        name = scope.fresh("b")
        tags = {"alloc" if kind == "raw" else kind} | type_tags(memref_type)
        if kind == "raw":
            padding = self.rng.choice((0, 0, 8))
            raw_type = MemType((memref_type.bytes * self.rng.choice((1, 1, 2)) + padding,), "i8")
            line = f"{name} = memref.alloc() : {raw_type}"
            tags = {"raw-alloc"}
            memref_type = raw_type
        else:
            attribute = ""
            if self.rng.random() < 0.2:
                attribute = f" {{alignment = {self.rng.choice((8, 16, 128, 256))} : i64}}"
                tags.add("aligned-alloc")
            line = f"{name} = memref.{kind}(){attribute} : {memref_type}"
        if scope.region_depth:
            tags.add("region-alloc")
        scope.add(Value(name, memref_type, name, True), "alloca" if kind == "alloca" else kind)
        emitted = Emitted([line], tags, defines=[name], roots=[(name, name)])
        return [emitted.statement()]

    def dead_alloc(self) -> list[Statement]:
        memref_type = self.new_type()
        name = self.scope.fresh("dead")
        lines = [f"{name} = memref.alloc() : {memref_type}"]
        if self.rng.random() < 0.5:
            lines.append(f"memref.dealloc {name} : {memref_type}")
        return [Emitted(lines, {"dead-alloc"} | type_tags(memref_type)).statement()]

    def _writable_target(self, memref_type: MemType | None = None) -> Value | None:
        """A value to write in full: whole views of any buffer, any view of an initialized one.
        Arguments are favoured, so that results are observable."""
        candidates = self.scope.writable()
        if memref_type is not None:
            candidates = [
                v
                for v in candidates
                if v.type.shape == memref_type.shape and v.type.element == memref_type.element
            ]
        if not candidates:
            return None
        arguments = [v for v in candidates if self.scope.kind.get(v.root) == "arg"]
        if arguments and self.rng.random() < 0.35:
            return self.rng.choice(arguments)
        return self.rng.choice(candidates)

    def _write(self, emitted: Emitted, target: Value) -> None:
        emitted.uses.append(target.name)
        if target.full:
            emitted.initializes.add(target.root)
            self.scope.initialized.add(target.root)
        else:
            emitted.reads.add(target.root)

    def _read(self, emitted: Emitted, source: Value) -> None:
        emitted.uses.append(source.name)
        emitted.reads.add(source.root)

    def _source(self, shape: tuple[int, ...], element: str) -> list[Value]:
        """Initialized values of this shape and element type."""
        return [
            v for v in self.scope.readable() if v.type.shape == shape and v.type.element == element
        ]

    def fill(self, target: Value | None = None) -> list[Statement]:
        target = target or self._writable_target()
        if target is None:
            return []
        name = self.scope.fresh("k")
        element = target.type.element
        emitted = Emitted(
            [
                f"{name} = arith.constant {_constant(self.rng, element)}",
                f"linalg.fill ins({name} : {element}) outs({target.name} : {target.type})",
            ],
            {"fill"} | type_tags(target.type),
            defines=[name],
        )
        self._write(emitted, target)
        return [emitted.statement()]

    def _ensure_source(self, memref_type: MemType) -> tuple[list[Statement], Value]:
        """An initialized value of this shape and element type, allocated and filled if needed."""
        found = self._source(memref_type.shape, memref_type.element)
        if found and self.rng.random() < 0.85:
            return [], self.rng.choice(found)
        made = self.alloc(MemType(memref_type.shape, memref_type.element), "alloc")
        value = self.scope.values[-1]
        return made + self.fill(value), value

    def copy(self) -> list[Statement]:
        target = self._writable_target()
        if target is None:
            return []
        sources = [
            v for v in self._source(target.type.shape, target.type.element) if v.root != target.root
        ]
        if not sources:
            return []
        source = self.rng.choice(sources)
        emitted = Emitted(
            [f"memref.copy {source.name}, {target.name} : {source.type} to {target.type}"],
            {"copy"} | type_tags(target.type),
        )
        self._read(emitted, source)
        self._write(emitted, target)
        return [emitted.statement()]

    def _generic(
        self,
        inputs: Sequence[Value],
        output: Value,
        maps: Sequence[str],
        iterators: Sequence[str],
        body: Callable[[list[str], str], list[str]],
        tags: set[str],
        reads_output: bool,
    ) -> list[Statement]:
        arguments = [self.scope.fresh("in") for _ in inputs]
        out_argument = self.scope.fresh("out")
        block = ", ".join(
            f"{a}: {v.type.element}"
            for a, v in zip([*arguments, out_argument], [*inputs, output], strict=True)
        )
        iterator_list = ", ".join(f'"{i}"' for i in iterators)
        ins = ""
        if inputs:
            ins = (
                f" ins({', '.join(v.name for v in inputs)} : "
                f"{', '.join(str(v.type) for v in inputs)})"
            )
        lines = [
            f"linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = "
            f"[{iterator_list}]}}{ins} outs({output.name} : {output.type}) {{",
            f"^bb0({block}):",
            *("  " + line for line in body(arguments, out_argument)),
            "}",
        ]
        emitted = Emitted(lines, tags | type_tags(output.type))
        for value in inputs:
            self._read(emitted, value)
            emitted.tags |= type_tags(value.type)
        if reads_output:
            self._read(emitted, output)
        self._write(emitted, output)
        return [emitted.statement()]

    def elementwise(self) -> list[Statement]:
        output = self._writable_target()
        if output is None:
            return []
        element = output.type.element
        sources = self._source(output.type.shape, element)
        if not sources:
            return []
        # In place: the output is also an input (the same value, so element i reads element i).
        if output.root in self.scope.initialized and self.rng.random() < 0.25:
            sources = [*sources, output] if output not in sources else sources
        inputs = [self.rng.choice(sources) for _ in range(self.rng.choice((1, 2)))]
        inputs = [v for v in inputs if v.root != output.root or v.name == output.name]
        if not inputs:
            return []
        result = self.scope.fresh("r")
        op = self.rng.choice(_binary_ops(element))

        def body(arguments: list[str], _out: str) -> list[str]:
            left = arguments[0]
            right = arguments[-1] if len(arguments) > 1 else arguments[0]
            return [
                f"{result} = {op} {left}, {right} : {element}",
                f"linalg.yield {result} : {element}",
            ]

        rank = len(output.type.shape)
        maps = [_identity_map(rank)] * (len(inputs) + 1)
        return self._generic(
            inputs, output, maps, ["parallel"] * rank, body, {"elementwise"}, False
        )

    def convert(self) -> list[Statement]:
        output = self._writable_target()
        if output is None:
            return []
        sources = [
            v
            for v in self.scope.readable()
            if v.type.shape == output.type.shape
            and _conversion(v.type.element, output.type.element) is not None
            and v.root != output.root
        ]
        if not sources:
            return []
        source = self.rng.choice(sources)
        op = _conversion(source.type.element, output.type.element)
        result = self.scope.fresh("r")
        element = output.type.element

        def body(arguments: list[str], _out: str) -> list[str]:
            return [
                f"{result} = {op} {arguments[0]} : {source.type.element} to {element}",
                f"linalg.yield {result} : {element}",
            ]

        rank = len(output.type.shape)
        maps = [_identity_map(rank)] * 2
        return self._generic([source], output, maps, ["parallel"] * rank, body, {"convert"}, False)

    def reduction(self) -> list[Statement]:
        sources = [v for v in self.scope.readable() if v.type.shape]
        if not sources:
            return []
        source = self.rng.choice(sources)
        shape = source.type.shape
        element = source.type.element
        outputs = [
            v
            for v in self.scope.readable()
            if v.type.shape == shape[:-1] and v.type.element == element and v.root != source.root
        ]
        made: list[Statement] = []
        if outputs and self.rng.random() < 0.8:
            output = self.rng.choice(outputs)
        else:
            made = self.alloc(MemType(shape[:-1], element), "alloc")
            output = self.scope.values[-1]
            made += self.fill(output)
        op = {"i1": "arith.ori", "i64": "arith.addi", "i8": "arith.addi"}.get(element, "arith.addf")
        if element in FLOATS and self.rng.random() < 0.3:
            op = "arith.maximumf"
        result = self.scope.fresh("r")

        def body(arguments: list[str], out: str) -> list[str]:
            return [
                f"{result} = {op} {arguments[0]}, {out} : {element}",
                f"linalg.yield {result} : {element}",
            ]

        rank = len(shape)
        dims = [f"d{i}" for i in range(rank)]
        maps = [_identity_map(rank), f"affine_map<({', '.join(dims)}) -> ({', '.join(dims[:-1])})>"]
        iterators = ["parallel"] * (rank - 1) + ["reduction"]
        return made + self._generic([source], output, maps, iterators, body, {"reduction"}, True)

    def matmul(self) -> list[Statement]:
        elements = [e for e in self.scope.elements if e != "i1"]
        if not elements:
            return []
        element = self.rng.choice(elements)
        lefts = [
            v for v in self.scope.readable() if len(v.type.shape) == 2 and v.type.element == element
        ]
        made: list[Statement] = []
        if lefts:
            left = self.rng.choice(lefts)
            m, k = left.type.shape
        else:
            m, k = self.rng.choice((1, 2, 3)), self.rng.choice((2, 4))
            made, left = self._ensure_source(MemType((m, k), element))
        n = self.rng.choice((1, 2, 4))
        more, right = self._ensure_source(MemType((k, n), element))
        made += more
        outputs = [
            v
            for v in self.scope.readable()
            if v.type.shape == (m, n)
            and v.type.element == element
            and v.root not in (left.root, right.root)
        ]
        if outputs and self.rng.random() < 0.8:
            output = self.rng.choice(outputs)
        else:
            made += self.alloc(MemType((m, n), element), "alloc")
            output = self.scope.values[-1]
            made += self.fill(output)
        emitted = Emitted(
            [
                f"linalg.matmul ins({left.name}, {right.name} : {left.type}, {right.type}) "
                f"outs({output.name} : {output.type})"
            ],
            {"matmul"} | type_tags(output.type),
        )
        self._read(emitted, left)
        self._read(emitted, right)
        self._read(emitted, output)
        self._write(emitted, output)
        return made + [emitted.statement()]

    def load_store(self, index: str | None = None, bound: int = 0) -> list[Statement]:
        """Copy one element, at constant indices or at ``index`` (< ``bound``) in the first one."""
        targets = [v for v in self.scope.readable() if v.type.elements and len(v.type.shape) <= 2]
        if index is not None:
            targets = [v for v in targets if v.type.shape and v.type.shape[0] >= bound]
        if not targets:
            return []
        target = self.rng.choice(targets)
        element = target.type.element
        sources = [v for v in self._source(target.type.shape, element) if v.type.elements] or [
            target
        ]
        source = self.rng.choice(sources)
        lines: list[str] = []
        names: list[str] = []
        defines: list[str] = []
        for position, dim in enumerate(target.type.shape):
            if position == 0 and index is not None:
                names.append(index)
                continue
            name = self.scope.fresh("i")
            lines.append(f"{name} = arith.constant {self.rng.randrange(dim)} : index")
            names.append(name)
            defines.append(name)
        loaded, result = self.scope.fresh("x"), self.scope.fresh("y")
        op = self.rng.choice(_binary_ops(element))
        indices = ", ".join(names)
        lines += [
            f"{loaded} = memref.load {source.name}[{indices}] : {source.type}",
            f"{result} = {op} {loaded}, {loaded} : {element}",
            f"memref.store {result}, {target.name}[{indices}] : {target.type}",
        ]
        emitted = Emitted(
            lines, {"load-store"} | type_tags(target.type), defines=defines + [loaded, result]
        )
        if index is not None:
            emitted.uses.append(index)
        self._read(emitted, source)
        self._read(emitted, target)  # a partial write: the rest must be initialized
        return [emitted.statement()]

    def _alias(
        self, source: Value, memref_type: MemType, full: bool, line: str, tag: str
    ) -> list[Statement]:
        name = self.scope.fresh("v")
        self.scope.add(Value(name, memref_type, source.root, full))
        emitted = Emitted(
            [f"{name} = {line}"],
            {tag} | type_tags(memref_type),
            defines=[name],
            uses=[source.name],
            roots=[(name, source.root)],
        )
        return [emitted.statement()]

    def subview(self) -> list[Statement]:
        sources = [
            v
            for v in self.scope.live()
            if v.type.shape and v.type.elements and v.type.static_strides is not None
        ]
        if not sources:
            return []
        source = self.rng.choice(sources)
        strides = source.type.static_strides
        assert strides is not None
        offsets, sizes, steps = [], [], []
        for dim in source.type.shape:
            step = self.rng.choice((1, 1, 1, 2))
            offset = self.rng.randrange(dim)
            size = self.rng.randint(1, (dim - offset + step - 1) // step)
            offsets.append(offset)
            sizes.append(size)
            steps.append(step)
        result = MemType(
            tuple(sizes),
            source.type.element,
            tuple(s * t for s, t in zip(strides, steps, strict=True)),
            source.type.offset + sum(o * s for o, s in zip(offsets, strides, strict=True)),
        )
        full = source.full and tuple(sizes) == source.type.shape and not any(offsets)
        full = full and all(t == 1 for t in steps)
        line = (
            f"memref.subview {source.name}[{', '.join(map(str, offsets))}] "
            f"[{', '.join(map(str, sizes))}] [{', '.join(map(str, steps))}] : "
            f"{source.type} to {result}"
        )
        return self._alias(source, result, full, line, "subview")

    def reshape(self) -> list[Statement]:
        identity = [v for v in self.scope.live() if v.type.identity and v.type.element != "i8"]
        collapsible = [v for v in identity if len(v.type.shape) == 2]
        expandable = [
            v for v in identity if len(v.type.shape) == 1 and v.type.shape[0] in (2, 4, 6, 8, 12)
        ]
        choice = self.rng.choice(("collapse", "expand", "reinterpret"))
        if choice == "collapse" and collapsible:
            source = self.rng.choice(collapsible)
            result = MemType((source.type.elements,), source.type.element)
            line = f"memref.collapse_shape {source.name} [[0, 1]] : {source.type} into {result}"
            return self._alias(source, result, source.full, line, "collapse-shape")
        if choice == "expand" and expandable:
            source = self.rng.choice(expandable)
            (count,) = source.type.shape
            result = MemType((2, count // 2), source.type.element)
            line = (
                f"memref.expand_shape {source.name} [[0, 1]] output_shape [2, {count // 2}] : "
                f"{source.type} into {result}"
            )
            return self._alias(source, result, source.full, line, "expand-shape")
        if choice == "reinterpret" and identity:
            source = self.rng.choice(identity)
            count = source.type.elements
            result = MemType((count,), source.type.element)
            line = (
                f"memref.reinterpret_cast {source.name} to offset: [0], sizes: [{count}], "
                f"strides: [1] : {source.type} to {result}"
            )
            return self._alias(source, result, source.full, line, "reinterpret-cast")
        return []

    def cast(self) -> list[Statement]:
        sources = [v for v in self.scope.live() if v.type.identity and v.type.shape]
        if not sources:
            return []
        source = self.rng.choice(sources)
        if self.rng.random() < 0.5:
            result = replace(source.type, dynamic_sizes=True)
        else:
            result = replace(source.type, dynamic_layout=True)
        line = f"memref.cast {source.name} : {source.type} to {result}"
        return self._alias(source, result, source.full, line, "cast")

    def transpose(self) -> list[Statement]:
        sources = [
            v
            for v in self.scope.live()
            if len(v.type.shape) == 2 and v.type.static_strides is not None
        ]
        if not sources:
            return []
        source = self.rng.choice(sources)
        strides = source.type.static_strides
        assert strides is not None
        result = MemType(
            source.type.shape[::-1], source.type.element, strides[::-1], source.type.offset
        )
        line = f"memref.transpose {source.name} (d0, d1) -> (d1, d0) : {source.type} to {result}"
        return self._alias(source, result, source.full, line, "transpose")

    def view(self) -> list[Statement]:
        raws = [
            v for v in self.scope.live() if v.name == v.root and self.scope.kind[v.root] == "raw"
        ]
        if not raws:
            return []
        source = self.rng.choice(raws)
        size = source.type.shape[0]
        fitting = [
            MemType(shape, element)
            for shape in self.scope.shapes
            for element in self.scope.elements
            if MemType(shape, element).bytes <= size
        ]
        if not fitting:
            return []
        result = self.rng.choice(fitting)
        offset = self.rng.randrange(0, size - result.bytes + 1, 8) if self.rng.random() < 0.5 else 0
        index = self.scope.fresh("i")
        name = self.scope.fresh("v")
        full = source.full and offset == 0 and result.bytes == size
        self.scope.add(Value(name, result, source.root, full))
        emitted = Emitted(
            [
                f"{index} = arith.constant {offset} : index",
                f"{name} = memref.view {source.name}[{index}][] : {source.type} to {result}",
            ],
            {"view"} | type_tags(result),
            defines=[index, name],
            uses=[source.name],
            roots=[(name, source.root)],
        )
        return [emitted.statement()]

    def dealloc(self) -> list[Statement]:
        return self._free_one("dealloc")

    def _free_one(self, feature: str) -> list[Statement]:
        """``memref.dealloc`` of an alloc made at this region depth, chosen at random."""
        scope = self.scope
        roots = [
            v
            for v in scope.live()
            if v.name == v.root
            and scope.kind.get(v.root) in ("alloc", "raw")
            and scope.depth.get(v.root) == scope.region_depth
        ]
        if not roots:
            return []
        root = self.rng.choice(roots)
        scope.freed.add(root.root)
        emitted = Emitted(
            [f"memref.dealloc {root.name} : {root.type}"],
            {feature},
            uses=[root.name],
            frees={root.root},
        )
        return [emitted.statement()]

    def call(self) -> list[Statement]:
        callee = self.rng.choice(self.callees)
        made: list[Statement] = []
        arguments: list[Value] = []
        for _, memref_type in callee.arguments:
            exact = [v for v in self.scope.readable() if v.type == memref_type]
            if exact and self.rng.random() < 0.8:
                arguments.append(self.rng.choice(exact))
            else:
                more, value = self._ensure_source(memref_type)
                if value.type != memref_type:
                    made += self.alloc(memref_type, "alloc")
                    value = self.scope.values[-1]
                    made += self.fill(value)
                else:
                    made += more
                arguments.append(value)
        types = ", ".join(str(t) for _, t in callee.arguments)
        emitted = Emitted(
            [f"func.call @{callee.name}({', '.join(v.name for v in arguments)}) : ({types}) -> ()"],
            {"call"},
            uses=["@" + callee.name],
        )
        for value in arguments:
            self._read(emitted, value)  # the callee may read and partially write each one
        return made + [emitted.statement()]

    def _region(
        self, count: int, index: str | None = None, bound: int = 0
    ) -> tuple[list[Statement], set[str], set[str]]:
        """A region body: its statements, and the outer roots it reads before initializing
        them, and initializes. Values defined inside leave scope at the end."""
        scope = self.scope
        saved_values = list(scope.values)
        saved_initialized = set(scope.initialized)
        scope.region_depth += 1
        statements: list[Statement] = []
        if index is not None:
            statements += self.load_store(index, bound)
        statements += self.body(count, in_region=True)
        scope.region_depth -= 1
        outer_roots = {v.root for v in saved_values}
        reads: set[str] = set()
        initialized: set[str] = set()
        for statement in statements:
            reads |= (statement.reads & outer_roots) - initialized
            initialized |= statement.initializes & outer_roots
        scope.values = saved_values
        scope.initialized = saved_initialized | initialized
        return statements, reads, initialized

    def _compound(self, lines: list[str], parts: list[list[Statement]], tags: set[str]) -> Emitted:
        emitted = Emitted(lines, tags)
        for statements in parts:
            for statement in statements:
                emitted.defines += statement.defines
                emitted.uses += statement.uses
                emitted.tags |= statement.tags
        # Names defined inside are not visible after the region.
        emitted.uses = [u for u in emitted.uses if u not in emitted.defines]
        emitted.defines = []
        return emitted

    def for_loop(self) -> list[Statement]:
        scope = self.scope
        trips = self.rng.choice((1, 2, 3))
        names = [scope.fresh("i") for _ in range(4)]
        lower, upper, step, index = names
        body, reads, initialized = self._region(self.rng.randint(1, 3), index, trips)
        if not body:
            return []
        lines = [
            f"{lower} = arith.constant 0 : index",
            f"{upper} = arith.constant {trips} : index",
            f"{step} = arith.constant 1 : index",
            f"scf.for {index} = {lower} to {upper} step {step} {{",
            *("  " + line for statement in body for line in statement.lines),
            "}",
        ]
        emitted = self._compound(lines, [body], {"for"})
        emitted.defines = [lower, upper, step]
        emitted.uses = [u for u in emitted.uses if u not in (lower, upper, step, index)]
        emitted.reads, emitted.initializes = reads, initialized
        return [emitted.statement()]

    def if_else(self) -> list[Statement]:
        scope = self.scope
        flags = [v for v in scope.readable() if v.type.element == "i1" and v.type.elements]
        condition = scope.fresh("c")
        lines: list[str] = []
        uses: list[str] = []
        reads: set[str] = set()
        defines = [condition]
        if flags and self.rng.random() < 0.8:
            flag = self.rng.choice(flags)
            indices = []
            for _ in flag.type.shape:
                name = scope.fresh("i")
                lines.append(f"{name} = arith.constant 0 : index")
                indices.append(name)
                defines.append(name)
            lines.append(
                f"{condition} = memref.load {flag.name}[{', '.join(indices)}] : {flag.type}"
            )
            uses.append(flag.name)
            reads.add(flag.root)
        else:
            lines.append(f"{condition} = arith.constant {self.rng.choice(('true', 'false'))}")
        before = set(scope.initialized)
        then_body, then_reads, then_initialized = self._region(self.rng.randint(1, 2))
        freed_then = self.region_dealloc()
        then_body += freed_then
        else_body: list[Statement] = []
        else_reads: set[str] = set()
        else_initialized: set[str] = set()
        if self.rng.random() < 0.6:
            scope.initialized = set(before)
            else_body, else_reads, else_initialized = self._region(self.rng.randint(1, 2))
        if not then_body:
            scope.initialized = before
            return []
        # A buffer is initialized after the if only if both branches initialized it.
        both = then_initialized & else_initialized if else_body else set()
        scope.initialized = before | both
        lines += [f"scf.if {condition} {{", *("  " + ln for s in then_body for ln in s.lines)]
        if else_body:
            lines += ["} else {", *("  " + ln for s in else_body for ln in s.lines)]
        lines.append("}")
        emitted = self._compound(lines, [then_body, else_body], {"if"})
        emitted.defines = defines
        emitted.uses = uses + [u for u in emitted.uses if u not in defines]
        emitted.reads = reads | then_reads | else_reads
        emitted.initializes = both
        emitted.frees = {r for s in freed_then for r in s.frees}
        return [emitted.statement()]

    def region_dealloc(self) -> list[Statement]:
        """Sometimes free an outer alloc in the then-branch (the else-branch leaks it)."""
        if self.rng.random() > 0.15:
            return []
        return self._free_one("region-dealloc")


SHAPES = ((), (0,), (1,), (4,), (8,), (6,), (2, 4), (3, 2), (4, 4), (0, 3), (2, 1))


def generate(seed: int, index: int) -> Program:
    """Program ``index`` of ``seed``: the same whatever else was generated before."""
    rng = random.Random(seed * 1_000_003 + index)
    elements = rng.sample(ELEMENT_TYPES, rng.randint(1, 3))
    shapes = rng.sample(SHAPES, rng.randint(2, 4))
    functions: list[Function] = []
    for number in range(rng.choice((0, 0, 1, 2))):
        functions.append(_function(rng, f"f{number}", elements, shapes, functions, 3, True))
    steps = rng.randint(4, 14) if rng.random() < 0.7 else rng.randint(15, 30)
    main = _function(rng, "main", elements, shapes, functions, steps, False)
    # The entry point's arguments are distinct arrays: they may be marked noalias.
    noalias = frozenset(a for a, _ in main.arguments if rng.random() < 0.5)
    if rng.random() < 0.3:
        main = replace(main, noalias=noalias)
    # Now and then a function memory-plan must refuse with a diagnostic, leaving the IR alone.
    functions.append(replace(main, multi_block=rng.random() < 0.03))
    return Program(seed, index, tuple(functions))


def _function(
    rng: random.Random,
    name: str,
    elements: Sequence[str],
    shapes: Sequence[tuple],
    callees: Sequence[Function],
    steps: int,
    private: bool,
) -> Function:
    scope = Scope(rng, elements, shapes)
    arguments = []
    for number in range(rng.randint(1, 4)):
        memref_type = MemType(rng.choice(shapes), rng.choice(elements))
        argument = f"%arg{number}"
        arguments.append((argument, memref_type))
        scope.add(Value(argument, memref_type, argument, True), "arg")
        scope.initialized.add(argument)
    generator = FunctionGenerator(scope, callees)
    body = generator.body(steps)
    # End by writing some live temporaries to the arguments, so that results are observable.
    for value in scope.readable():
        if scope.kind.get(value.root) != "arg" and rng.random() < 0.5:
            targets = [
                (a, t)
                for a, t in arguments
                if t.shape == value.type.shape and t.element == value.type.element
            ]
            if targets:
                argument, memref_type = rng.choice(targets)
                emitted = Emitted(
                    [f"memref.copy {value.name}, {argument} : {value.type} to {memref_type}"],
                    {"copy"},
                    uses=[value.name, argument],
                    reads={value.root},
                )
                body.append(emitted.statement())
    return Function(name, tuple(arguments), tuple(body), private)


# --- checking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str = ""
    planned: str = ""


def check_program(
    program: Program, execute: bool = True, outputs_in_arena: bool = False, recompute: bool = False
) -> Result:
    """Plan ``program`` in process, validate the planned IR, and (if ``execute``) run both on
    the CPU and compare every argument bit for bit. With ``outputs_in_arena`` the entry's
    static-shape memref arguments at odd positions are marked ``{modelopt.output}`` and planned
    with ``outputs=arena``; a marked argument whose incoming contents change the results (run
    twice with different contents there) is no output, and the program counts as
    READS_OUTPUT. With ``recompute`` the plan uses ``recompute=auto``; a plan that recomputed
    something says so in its detail ("recomputed")."""
    try:
        return _check(program.text, program.entry, execute, outputs_in_arena, recompute)
    except Exception:
        return Result(TRACEBACK, traceback.format_exc())


def _mark_outputs(module: object, entry: str) -> list[int]:
    """Mark the entry's static-shape memref arguments at odd positions ``{modelopt.output}``;
    returns their indices."""
    from torch_mlir import ir

    from modelopt_mlir.ir_context import find_function

    func = find_function(module, entry)  # type: ignore[arg-type]
    arguments = list(func.regions[0].blocks[0].arguments)
    old = (
        list(ir.ArrayAttr(func.attributes["arg_attrs"]))
        if "arg_attrs" in func.attributes
        else [ir.DictAttr.get({}) for _ in arguments]
    )
    marked = []
    attrs = []
    for index, (argument, attr) in enumerate(zip(arguments, old, strict=True)):
        entries = {named.name: named.attr for named in ir.DictAttr(attr)}
        if (
            index % 2 == 1
            and isinstance(argument.type, ir.MemRefType)
            and ir.MemRefType(argument.type).has_static_shape
        ):
            entries["modelopt.output"] = ir.UnitAttr.get()
            marked.append(index)
        attrs.append(ir.DictAttr.get(entries))
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)
    return marked


def _check(
    text: str, entry: str, execute: bool, outputs_in_arena: bool = False, recompute: bool = False
) -> Result:
    from torch_mlir import ir

    from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
    from modelopt_mlir.ir_context import parse_module
    from modelopt_mlir.lowering.cpu import compare_bitwise
    from modelopt_mlir.planning import plan_module

    try:
        module = parse_module(text)
    except ir.MLIRError as error:
        return Result(GENERATOR, str(error))
    diagnostics = DiagnosticEngine()
    options = dict(PLAN_OPTIONS)
    outputs: list[int] = []
    if outputs_in_arena:
        with module.context:
            outputs = _mark_outputs(module, entry)
            text = module.operation.get_asm()
        options["outputs"] = "arena"
    if recompute:
        options["recompute"] = "auto"
    recomputed = ""
    with module.context:
        before = module.operation.get_asm()
        try:
            reports = plan_module(module, diagnostics, **options)
            if any(r.get("recompute") for r in reports):
                recomputed = "recomputed"
        except PassFailure:
            errors = [d.format() for d in diagnostics.diagnostics if d.severity == "error"]
            if module.operation.get_asm() != before:
                return Result(INVALID_OUTPUT, "IR changed by a pass that failed", str(module))
            if any("failed validation" in e for e in errors):
                return Result(VALIDATOR, "\n".join(errors))
            if not errors:
                return Result(TRACEBACK, "PassFailure without an error diagnostic")
            return Result(REFUSED, "\n".join(errors))
        try:
            module.operation.verify()
        except ir.MLIRError as error:
            return Result(INVALID_OUTPUT, str(error), str(module))
        planned = module.operation.get_asm()
    try:
        parse_module(planned)
    except ir.MLIRError as error:
        return Result(INVALID_OUTPUT, str(error), planned)
    problems = check_planned_ir(planned)
    if problems:
        return Result(VALIDATOR, "\n".join(problems), planned)
    if not execute:
        return Result(IDENTICAL, f"not executed {recomputed}".strip(), planned)
    from modelopt_mlir.lowering.cpu import LoweringError, random_arguments, run_cpu

    if outputs and "modelopt.outputs" in planned:
        return _compare_outputs_in_arena(text, planned, entry, outputs)
    try:
        comparison = compare_bitwise(text, planned, entry, seed=0)
    except (LoweringError, ValueError, RuntimeError) as error:
        try:
            reference = parse_module(text)
            run_cpu(reference, entry, random_arguments(reference, entry, 0))
        except (LoweringError, ValueError, RuntimeError) as reference_error:
            return Result(GENERATOR, f"the unplanned program does not run: {reference_error}")
        return Result(LOWERING, str(error), planned)
    if not comparison.identical:
        return Result(BIT_DIFFERENCE, comparison.summary(), planned)
    return Result(IDENTICAL, recomputed, planned)


def _flip(array: Any) -> Any:
    """``array`` with every bit flipped (booleans negated), same dtype and shape."""
    import numpy as np

    if array.dtype == bool:
        return np.logical_not(array, out=np.empty_like(array))
    flat = np.ascontiguousarray(array).reshape(-1)
    return np.invert(flat.view(np.uint8)).view(array.dtype).reshape(array.shape)


def _compare_outputs_in_arena(text: str, planned: str, entry: str, outputs: list[int]) -> Result:
    """Run the unplanned program twice, with every bit of the marked arguments flipped: if
    the results differ, they were read and are no outputs (READS_OUTPUT). Otherwise the planned
    program, called through lowering/arena_outputs.py with the unplanned signature, must give
    the same bits in every argument."""
    from modelopt_mlir.ir_context import parse_module
    from modelopt_mlir.lowering.arena_outputs import compile_planned
    from modelopt_mlir.lowering.cpu import LoweringError, compile_cpu, random_arguments

    try:
        reference = compile_cpu(text, entry)
        arguments = random_arguments(parse_module(text), entry, 0)
        want = reference(arguments)
        # every bit of the marked arguments flipped (bools negated)
        flipped = [_flip(a) if i in outputs else a for i, a in enumerate(arguments)]
        again = reference(flipped)
    except (LoweringError, ValueError, RuntimeError) as error:
        return Result(GENERATOR, f"the unplanned program does not run: {error}")
    if any(a.tobytes() != b.tobytes() for a, b in zip(want, again, strict=True)):
        return Result(READS_OUTPUT, "", planned)
    try:
        got = compile_planned(planned, entry)(arguments)
    except (LoweringError, ValueError, RuntimeError) as error:
        return Result(LOWERING, str(error), planned)
    differ = [
        i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a.tobytes() != b.tobytes()
    ]
    if differ:
        return Result(BIT_DIFFERENCE, f"arguments {differ} differ (outputs {outputs})", planned)
    return Result(IDENTICAL, "", planned)


def check_planned_ir(text: str) -> list[str]:
    """Independent check of planned IR: in each function with an arena, every ``memref.view``
    of the arena lies inside it, and two views whose byte ranges overlap are never used by the
    same top-level op or between each other's first and last top-level users."""
    from torch_mlir import ir

    from modelopt_mlir.ir_context import parse_module, walk

    module = parse_module(text)
    problems: list[str] = []
    for op in module.body.operations:
        if op.operation.name != "func.func" or not op.regions[0].blocks:
            continue
        func = op.operation
        name = ir.StringAttr(func.attributes["sym_name"]).value
        if "modelopt.arena_size" not in func.attributes:
            continue
        top = [o.operation for o in func.regions[0].blocks[0].operations]
        # The rewrite puts the arena first: an i8 buffer of the size the function records; or,
        # under outputs=arena, the arena is the last argument, marked {modelopt.arena}.
        arena_size = ir.IntegerAttr(func.attributes["modelopt.arena_size"]).value
        arena_type = f"memref<{arena_size}xi8>"
        arguments = list(func.regions[0].blocks[0].arguments)
        arena: ir.Value | None = None
        if top and top[0].name in ("memref.alloc", "memref.alloca"):
            if str(top[0].results[0].type) == arena_type:
                arena = top[0].results[0]
        elif arguments and str(arguments[-1].type) == arena_type:
            attrs = ir.ArrayAttr(func.attributes["arg_attrs"])
            if "modelopt.arena" in {named.name for named in ir.DictAttr(attrs[len(attrs) - 1])}:
                arena = arguments[-1]
        if arena is None:
            continue
        arena_bytes = ir.MemRefType(arena.type).shape[0]
        ranges: dict[ir.Value, tuple[int, int]] = {}
        outputs: list[ir.Value] = []  # outputs=arena: live to the return
        for o in top:
            if o.name == "memref.view" and "modelopt.output" in o.attributes:
                outputs.append(o.results[0])
            if o.name == "memref.view" and o.operands[0] == arena:
                offset_op = o.operands[1].owner
                offset = ir.IntegerAttr(offset_op.attributes["value"]).value
                view_type = ir.MemRefType(o.results[0].type)
                count = 1
                for dim in view_type.shape:
                    count *= dim
                width = ELEMENT_BYTES.get(str(view_type.element_type), 0)
                start, end = offset, offset + count * width
                if start < 0 or end > arena_bytes:
                    problems.append(
                        f"@{name}: view [{start}, {end}) outside the arena of {arena_bytes} bytes"
                    )
                ranges[o.results[0]] = (start, end)
        root: dict[ir.Value, ir.Value] = {v: v for v in ranges}
        users: dict[ir.Value, list[int]] = {v: [] for v in ranges}
        for step, o in enumerate(top):
            if o.name == "memref.view" and o.results[0] in ranges:
                continue
            for nested in walk(o):
                for operand in nested.operands:
                    if operand in root:
                        users[root[operand]].append(step)
                        if (
                            nested.name.startswith("memref.")
                            and nested.results
                            and nested.name not in ("memref.load",)
                        ):
                            for result in nested.results:
                                if isinstance(result.type, ir.MemRefType):
                                    root[result] = root[operand]
        for value in outputs:
            if value in users:
                users[value].append(len(top) - 1)
        live = [(min(s), max(s), v) for v, s in users.items() if s and ranges[v][1] > ranges[v][0]]
        for i, (first, last, value) in enumerate(live):
            for other_first, other_last, other in live[i + 1 :]:
                if first <= other_last and other_first <= last:
                    a, b = ranges[value], ranges[other]
                    if a[0] < b[1] and b[0] < a[1]:
                        problems.append(
                            f"@{name}: views [{a[0]}, {a[1]}) live over steps {first}-{last} and "
                            f"[{b[0]}, {b[1]}) live over steps {other_first}-{other_last} overlap"
                        )
    return problems


# --- shrinking and running many ---------------------------------------------------------------


def shrink(
    program: Program, still_fails: Callable[[Program], bool], budget: float = 120.0
) -> Program:
    """Delete statements, then unused functions, while the program stays valid and
    ``still_fails`` holds; stops after ``budget`` seconds."""
    deadline = time.monotonic() + budget
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for position in range(len(program.functions)):
            function = program.functions[position]
            index = len(function.body) - 1
            while index >= 0 and time.monotonic() < deadline:
                body = function.body[:index] + function.body[index + 1 :]
                candidate_function = replace(function, body=body)
                functions = list(program.functions)
                functions[position] = candidate_function
                candidate = replace(program, functions=tuple(functions))
                if is_valid(candidate) and still_fails(candidate):
                    program, function, changed = candidate, candidate_function, True
                index -= 1
        called = {u for f in program.functions for s in f.body for u in s.uses if u.startswith("@")}
        kept = tuple(f for f in program.functions[:-1] if "@" + f.name in called)
        if len(kept) < len(program.functions) - 1:
            candidate = replace(program, functions=(*kept, program.functions[-1]))
            if still_fails(candidate):
                program, changed = candidate, True
    return program


def runs(count: int, seed: int, execute: bool = True) -> Iterator[tuple[Program, Result]]:
    for index in range(count):
        program = generate(seed, index)
        yield program, check_program(program, execute)


def programs(count: int, seed: int, execute: bool = True) -> Counter[str]:
    """Outcomes of ``count`` generated programs of ``seed``."""
    return Counter(result.outcome for _, result in runs(count, seed, execute))
