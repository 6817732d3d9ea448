"""The upstream baseline we must beat: ``func.func(static-memory-planner-analysis)``.

Despite its name the upstream pass is a transformation. For every ``func.func`` it takes the
static-shaped ``memref.alloc`` ops of the entry block that have a ``memref.dealloc`` in the same
block, packs them (no reordering; lifetime = alloc op .. dealloc op, in program order) into one
``memref.alloc() {alignment = A} : memref<Nxi8>`` and replaces each with a ``memref.view`` at a
constant byte offset; the deallocs are erased. It prints nothing and emits no remark (its
statistics are compiled out in this build), so the arena size is read off the rewritten IR:
``N`` of the new ``memref<Nxi8>`` alloc.

Conventions of the pass, measured on this build (torch-mlir 20261001):

- buffer bytes = ceil(numel * element bits / 8) (``memref<7xi1>`` is 1 byte), no rounding;
- each buffer's offset is a multiple of its own ``alignment`` attribute (1 when absent); the
  arena gets the largest one (allocs from one-shot-bufferize carry ``alignment = 64``);
- ``best-fit``: buffers in program order of their allocs, each placed in the smallest free gap
  that holds it, else at the lowest address from which the free tail of the arena holds it;
  ``trivial``: back to back, no reuse (the "no reuse" sum, alignment padding included);
- skipped and left as they are: dynamic shapes, allocs nested in loops or conditionals, allocs
  without a same-block dealloc, allocas;
- errors: an alloc with no dealloc at all, functions with memref results, unstructured control
  flow; it crashes the process (segfault) on ``index``/``complex``/vector element types, so we
  refuse those before running it.

Without ``optimize-allocation-liveness`` the deallocs from ``buffer-deallocation-pipeline`` all
sit at the end of the block, nothing is freed early, and best-fit equals the no-reuse sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.ir_context import make_context, run_pipeline, walk

ALGORITHMS = ("trivial", "best-fit")

BUFFER_RESULTS_TO_OUT_PARAMS = (
    "buffer-results-to-out-params{hoist-static-allocs modify-public-functions}"
)
DEALLOCATION = "buffer-deallocation-pipeline"
BUFFERIZATION_TO_MEMREF = "convert-bufferization-to-memref"
OPTIMIZE_LIVENESS = "func.func(optimize-allocation-liveness)"

# Marks the allocs that exist before the analysis runs: the arena is the one alloc without it.
_PRE_EXISTING = "modelopt.baseline_pre_existing"


class BaselineError(RuntimeError):
    """The upstream pipeline rejected the input; the message carries MLIR's diagnostics."""


@dataclass(frozen=True)
class UpstreamArena:
    """What the upstream planner did to one function."""

    function: str
    algorithm: str
    arena_bytes: int  # size of the arena the chosen algorithm made; 0 when it planned nothing
    no_reuse_bytes: int  # the same buffers back to back (algorithm=trivial)
    arena_alignment: int  # alignment attribute of the arena alloc (1 when none was made)
    planned_buffers: int  # allocs the pass moved into the arena
    unplanned_allocs: int  # memref.alloc left outside it (dynamic, nested, no same-block dealloc)


def prepare_pipeline(*, deallocate: bool = True, optimize_liveness: bool = False) -> str:
    """The passes run before the analysis, as a ``builtin.module(...)`` pipeline string."""
    passes = [BUFFER_RESULTS_TO_OUT_PARAMS]
    if deallocate:
        passes.append(DEALLOCATION)
    passes.append(BUFFERIZATION_TO_MEMREF)
    if optimize_liveness:
        passes.append(OPTIMIZE_LIVENESS)
    return f"builtin.module({','.join(passes)})"


def analysis_pipeline(algorithm: str = "best-fit") -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm '{algorithm}', expected one of {ALGORITHMS}")
    return f"builtin.module(func.func(static-memory-planner-analysis{{algorithm={algorithm}}}))"


def upstream_best_fit_arena(
    module: ir.Module | str,
    func_name: str | None = None,
    algorithm: str = "best-fit",
    *,
    optimize_liveness: bool = False,
) -> dict[str, int]:
    """Arena bytes per function that upstream's static memory planner reaches on ``module``.

    Runs ``buffer-results-to-out-params{hoist-static-allocs modify-public-functions}``,
    ``buffer-deallocation-pipeline``, ``convert-bufferization-to-memref`` (plus
    ``func.func(optimize-allocation-liveness)`` when ``optimize_liveness``), then
    ``func.func(static-memory-planner-analysis{algorithm=...})`` on a copy; the caller's module is
    never changed. ``func_name`` keeps one function; a function with nothing to plan maps to 0.

    Input that already contains deallocs skips ``buffer-deallocation-pipeline`` (which rejects
    them), so hand-placed deallocs are planned as written; then every alloc needs one.
    """
    report = upstream_baseline(module, func_name, algorithm, optimize_liveness=optimize_liveness)
    return {name: entry.arena_bytes for name, entry in report.items()}


def upstream_baseline(
    module: ir.Module | str,
    func_name: str | None = None,
    algorithm: str = "best-fit",
    *,
    optimize_liveness: bool = False,
) -> dict[str, UpstreamArena]:
    """Like :func:`upstream_best_fit_arena`, with the no-reuse sum and what was (not) planned."""
    analysis = analysis_pipeline(algorithm)
    copy, context = _private_copy(module)
    work = copy.operation
    with context, ir.Location.unknown(context):
        deallocate = not _has_deallocs(work)
        _run(
            prepare_pipeline(deallocate=deallocate, optimize_liveness=optimize_liveness),
            work,
            context,
        )
        # The analysis runs on every function, so every function must be safe for it.
        _refuse_crashing_element_types(_defined_functions(work, None))
        functions = _defined_functions(work, func_name)
        for alloc in _allocs_in(functions):
            alloc.attributes[_PRE_EXISTING] = ir.UnitAttr.get()
        trivial = work.clone() if algorithm != "trivial" else None
        _run(analysis, work, context)
        planned = {_name(f): _read_arena(f) for f in _defined_functions(work, func_name)}
        if trivial is None:
            no_reuse = {name: arena[0] for name, arena in planned.items()}
        else:
            _run(analysis_pipeline("trivial"), trivial, context)
            no_reuse = {_name(f): _read_arena(f)[0] for f in _defined_functions(trivial, func_name)}
    return {
        name: UpstreamArena(name, algorithm, size, no_reuse[name], alignment, views, unplanned)
        for name, (size, alignment, views, unplanned) in planned.items()
    }


def _private_copy(module: ir.Module | str) -> tuple[ir.Module | ir.Operation, ir.Context]:
    """A copy the pipeline may change; text is parsed in a fresh context."""
    if isinstance(module, str):
        context = make_context()
        with context:
            return ir.Module.parse(module), context
    return module.operation.clone(), module.context


def _run(pipeline: str, op: ir.Operation, context: ir.Context) -> None:
    messages: list[str] = []

    def collect(diagnostic: ir.Diagnostic) -> bool:
        lines = [f"{diagnostic.location}: {diagnostic.message}"]
        lines += [f"  note: {note.message}" for note in diagnostic.notes]
        messages.append("\n".join(lines))
        return True

    handler = context.attach_diagnostic_handler(collect)
    try:
        run_pipeline(op, pipeline, context)
    except ir.MLIRError as error:
        details = "\n".join(messages) or str(error)
        raise BaselineError(f"{pipeline} failed:\n{details}") from None
    finally:
        handler.detach()


def _has_deallocs(root: ir.Operation) -> bool:
    return any(
        op.name in ("memref.dealloc", "bufferization.dealloc")
        for op in walk(root, include_self=False)
    )


def _defined_functions(root: ir.Operation, func_name: str | None) -> list[ir.Operation]:
    functions = [
        op
        for op in root.regions[0].blocks[0].operations
        if op.operation.name == "func.func" and len(op.regions[0].blocks) > 0
    ]
    functions = [f.operation for f in functions]
    if func_name is not None:
        functions = [f for f in functions if _name(f) == func_name]
        if not functions:
            raise ValueError(f"no function with a body named '{func_name}'")
    return functions


def _name(function: ir.Operation) -> str:
    return ir.StringAttr(function.attributes["sym_name"]).value


def _allocs_in(functions: list[ir.Operation]) -> Iterator[ir.Operation]:
    for function in functions:
        yield from (op for op in walk(function, include_self=False) if op.name == "memref.alloc")


def _refuse_crashing_element_types(functions: list[ir.Operation]) -> None:
    for alloc in _allocs_in(functions):
        element = ir.MemRefType(alloc.results[0].type).element_type
        if not isinstance(element, (ir.IntegerType, ir.FloatType)):
            raise BaselineError(
                f"{alloc.location}: static-memory-planner-analysis crashes on element type "
                f"{element} (only integer and float element types are safe)"
            )


def _read_arena(function: ir.Operation) -> tuple[int, int, int, int]:
    """(arena bytes, arena alignment, buffers viewed from it, other allocs) after the analysis."""
    allocs = [op for op in walk(function, include_self=False) if op.name == "memref.alloc"]
    arenas = [op for op in allocs if _PRE_EXISTING not in op.attributes]
    unplanned = len(allocs) - len(arenas)
    if not arenas:
        return 0, 1, 0, unplanned
    if len(arenas) > 1:
        raise BaselineError(f"{_name(function)}: expected one arena, found {len(arenas)}")
    arena = arenas[0]
    size = ir.MemRefType(arena.results[0].type).shape[0]
    alignment = (
        ir.IntegerAttr(arena.attributes["alignment"]).value
        if "alignment" in arena.attributes
        else 1
    )
    views = sum(1 for use in arena.results[0].uses if use.owner.name == "memref.view")
    return size, alignment, views, unplanned
