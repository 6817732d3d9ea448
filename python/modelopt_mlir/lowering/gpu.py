"""GPU lowering of planned memref IR: kernels for all device work, one device arena, NVVM.

Pipeline (per module, in place):

1. ``tm-tensor-to-loops``, ``refback-munge-memref-copy`` (memref.copy -> parallel linalg copy),
   ``linalg-generalize-named-ops``; every linalg.generic is interchanged so its parallel dims
   come first (a ``[reduction, parallel]`` sum then becomes one kernel with a sequential loop
   per thread instead of a host loop that launches one kernel per reduction step).
2. ``convert-linalg-to-parallel-loops``, ``cf.assert`` -> ``scf.if`` + trap (the GPU mapping
   refuses asserts), ``gpu-map-parallel-loops``, ``convert-parallel-loops-to-gpu``.
3. Host-side work that is left (full reductions, 0-d ops, scatter loops: anything that still
   reads or writes a memref outside a ``gpu.launch``) is wrapped, in runs of consecutive ops,
   into a one-thread ``gpu.launch``. What cannot be wrapped is reported as a remark
   ``host-side work: '<op>' reads device memory: <reason>``.
4. Constant globals used by kernels are re-materialised inside the kernels (outlining copies
   the ``memref.global`` into the kernel module), so kernels never read host memory.
5. Every top-level ``memref.alloc`` becomes ``gpu.alloc`` (after memory-plan: exactly one, the
   arena); ``memref.dealloc`` becomes ``gpu.dealloc``. Arguments are device buffers the caller
   provides.
6. ``gpu-kernel-outlining``, ``nvvm-attach-target{chip=...}``, kernel modules to NVVM, and
   (``host_llvm``) the host to the LLVM dialect with ``gpu-to-llvm``.

``launch_plan`` reads the host function at the gpu level (``host_llvm=False``) as plain data:
the arena size and, in order, every kernel launch with its grid, block and argument
descriptors. ``bench/gpu_check.py`` replays it through the CUDA driver API.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

from torch_mlir import ir
from torch_mlir.dialects import gpu as gpu_d

from modelopt_mlir.ir_context import VIEW_LIKE_OPS, register_torch_mlir_passes, run_pipeline, walk

__all__ = [
    "KNOWN_CHIPS",
    "GpuLoweringError",
    "GpuLoweringReport",
    "HostWork",
    "check_chip",
    "launch_plan",
    "lower_to_gpu",
]

# Chips NVPTX (LLVM 22) and ptxas 13 both accept; the "a" variants are arch-specific.
KNOWN_CHIPS: tuple[str, ...] = (
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_87",
    "sm_89",
    "sm_90",
    "sm_90a",
    "sm_100",
    "sm_100a",
    "sm_101",
    "sm_101a",
    "sm_103",
    "sm_103a",
    "sm_120",
    "sm_120a",
)

_PRE_PASSES = (
    "func.func(tm-tensor-to-loops)",
    "func.func(refback-munge-memref-copy)",
    "func.func(linalg-generalize-named-ops)",
)
_TO_PARALLEL = ("func.func(convert-linalg-to-parallel-loops)",)
_TO_GPU = ("func.func(gpu-map-parallel-loops)", "func.func(convert-parallel-loops-to-gpu)")
# Kernels go to NVVM; the host stays at the gpu/memref level until _HOST_TO_LLVM.
_KERNEL_PASSES = (
    "gpu-kernel-outlining",
    "nvvm-attach-target{{chip={chip}}}",
    "gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts)",
    "func.func(lower-affine,canonicalize)",
)
_HOST_TO_LLVM = (
    "func.func(convert-scf-to-cf,arith-expand)",
    "expand-strided-metadata",
    "lower-affine",
    "gpu-to-llvm",
    "finalize-memref-to-llvm",
    "func.func(convert-arith-to-llvm)",
    "convert-func-to-llvm",
    "convert-cf-to-llvm",
    "reconcile-unrealized-casts",
)

# Ops on memrefs that only compute addresses or manage allocations: they stay on the host.
_HOST_SAFE = {
    "memref.alloc",
    "memref.alloca",
    "memref.dealloc",
    "memref.view",
    "memref.subview",
    "memref.expand_shape",
    "memref.collapse_shape",
    "memref.cast",
    "memref.reinterpret_cast",
    "memref.get_global",
    "memref.dim",
    "memref.extract_strided_metadata",
    "gpu.alloc",
    "gpu.dealloc",
    "gpu.launch",
    "gpu.memcpy",
    "gpu.memset",
    "gpu.wait",
    "func.return",
}
# Views followed below as one memref result from operand 0 (global chains, the launch plan):
# extract_strided_metadata has several results (base buffer, offset, sizes, strides).
_VIEW_OPS = VIEW_LIKE_OPS - {"memref.extract_strided_metadata"}
# Dialects whose ops can run inside a kernel as they are.
_KERNEL_DIALECTS = {"arith", "math", "memref", "scf", "cf", "affine", "index", "llvm"}


class GpuLoweringError(RuntimeError):
    """A GPU lowering step failed; the message carries MLIR's diagnostics."""


@dataclass(frozen=True)
class HostWork:
    """An op left on the host that reads or writes device memory, and why it was not a kernel."""

    op_name: str
    location: ir.Location
    reason: str

    def message(self) -> str:
        return f"host-side work: '{self.op_name}' reads device memory: {self.reason}"


@dataclass
class GpuLoweringReport:
    function: str
    kernels: int = 0
    serial_kernels: int = 0
    device_allocations: int = 0
    arena_bytes: int | None = None
    host_work: list[HostWork] = field(default_factory=list)
    extra_allocations: list[ir.Location] = field(default_factory=list)
    dropped_asserts: int = 0


def check_chip(chip: str) -> str | None:
    """None if `chip` is known, else the error message."""
    if chip in KNOWN_CHIPS:
        return None
    if not re.fullmatch(r"sm_\d+a?", chip):
        return f"invalid chip '{chip}': expected sm_XX or sm_XXa (known: {', '.join(KNOWN_CHIPS)})"
    return f"unknown chip '{chip}' (known: {', '.join(KNOWN_CHIPS)})"


def _run(module: ir.Module, passes: tuple[str, ...] | list[str], what: str) -> None:
    pipeline = f"builtin.module({','.join(passes)})"
    try:
        run_pipeline(module, pipeline)
    except (ir.MLIRError, ValueError, RuntimeError) as error:
        raise GpuLoweringError(f"{what} failed ({pipeline}):\n{error}") from None


def _functions(module: ir.Module) -> list[ir.Operation]:
    return [
        op.operation
        for op in module.body.operations
        if op.operation.name == "func.func" and op.operation.regions[0].blocks
    ]


# --- 1. interchange: parallel dims first -------------------------------------------------


def _interchange_parallel_first(func: ir.Operation) -> int:
    """Permute the loops of every linalg.generic so that parallel dims come before reductions.

    Valid for any linalg.generic: each point of the parallel dims owns its output elements,
    and the reduction order for one point is unchanged."""
    changed = 0
    for op in list(walk(func, include_self=False)):
        if op.name != "linalg.generic":
            continue
        iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
        kinds = ["parallel" if "parallel" in it else "reduction" for it in iterators]
        order = [i for i, k in enumerate(kinds) if k == "parallel"] + [
            i for i, k in enumerate(kinds) if k != "parallel"
        ]
        if order == list(range(len(order))):
            continue
        position = {old: new for new, old in enumerate(order)}
        rank = len(order)
        # Substitution old dim k -> new dim position[k].
        substitution = ir.AffineMap.get(
            rank, 0, [ir.AffineDimExpr.get(position[k]) for k in range(rank)]
        )
        maps = []
        for attr in ir.ArrayAttr(op.attributes["indexing_maps"]):
            old = ir.AffineMapAttr(attr).value
            exprs = [e.compose(substitution) for e in old.results]
            maps.append(ir.AffineMapAttr.get(ir.AffineMap.get(rank, old.n_symbols, exprs)))
        op.attributes["indexing_maps"] = ir.ArrayAttr.get(maps)
        op.attributes["iterator_types"] = ir.ArrayAttr.get(
            [ir.ArrayAttr(op.attributes["iterator_types"])[k] for k in order]
        )
        for inner in walk(op, include_self=False):
            if inner.name == "linalg.index":
                dim = ir.IntegerAttr(inner.attributes["dim"]).value
                inner.attributes["dim"] = ir.IntegerAttr.get(
                    ir.IntegerType.get_signless(64), position[dim]
                )
        changed += 1
    return changed


# --- 2. asserts ---------------------------------------------------------------------------


def _asserts_to_traps(func: ir.Operation) -> int:
    """cf.assert %ok -> scf.if !%ok { llvm.intr.trap }: same effect, and the GPU mapping accepts it."""
    asserts = [op for op in walk(func, include_self=False) if op.name == "cf.assert"]
    for op in asserts:
        with ir.InsertionPoint(op), op.location:
            condition = op.operands[0]
            true = ir.Operation.create(
                "arith.constant",
                results=[condition.type],
                attributes={"value": ir.IntegerAttr.get(condition.type, 1)},
            ).result
            failed = ir.Operation.create(
                "arith.xori", results=[condition.type], operands=[condition, true]
            ).result
            branch = ir.Operation.create("scf.if", operands=[failed], regions=2)
            block = branch.regions[0].blocks.append()
            with ir.InsertionPoint(block):
                ir.Operation.create("llvm.intr.trap")
                ir.Operation.create("scf.yield")
        op.erase()
    return len(asserts)


# --- 3. host-side work --------------------------------------------------------------------


def _touches_memref(op: ir.Operation) -> bool:
    if any(isinstance(v.type, ir.MemRefType) for v in op.operands):
        return True
    return any(
        _touches_memref(inner)
        for inner in walk(op, include_self=False)
        if inner.name != "gpu.launch"
    )


def _contains_launch(op: ir.Operation) -> bool:
    return any(inner.name == "gpu.launch" for inner in walk(op, include_self=False))


def _kernel_unsafe(op: ir.Operation) -> str | None:
    """Why `op` (with its regions) cannot run inside a kernel, or None."""
    for inner in [op, *walk(op, include_self=False)]:
        dialect = inner.name.split(".", 1)[0]
        if inner.name in ("func.call", "func.call_indirect"):
            return f"it calls a host function ('{inner.name}')"
        if dialect not in _KERNEL_DIALECTS:
            return f"'{inner.name}' has no GPU lowering"
    return None


def _top_level_ancestor(op: ir.Operation, block: ir.Block) -> ir.Operation | None:
    current: ir.Operation | None = op.operation
    while current is not None:
        if current.block == block:
            return current
        parent = current.parent
        current = parent.operation if parent is not None else None
        if current is not None and current.name == "func.func":
            return None
    return None


def _classify(op: ir.Operation) -> str:
    """'device': host op touching memrefs; 'scalar': pure host op; 'host': keep as is."""
    if op.name in _HOST_SAFE:
        return "host"
    if op.regions and _contains_launch(op):
        return "host"
    if _touches_memref(op):
        return "device"
    if not any(isinstance(r.type, ir.MemRefType) for r in op.results):
        return "scalar"
    return "host"


def _wrap_host_work(block: ir.Block, report: GpuLoweringReport) -> None:
    """Put runs of consecutive device work in `block` into one-thread launches."""
    ops = [op.operation for op in block.operations]
    for op in ops:
        if _classify(op) == "host" and op.regions and _contains_launch(op):
            for region in op.regions:
                for inner in region.blocks:
                    _wrap_host_work(inner, report)
    groups: list[list[ir.Operation]] = []
    current: list[ir.Operation] = []
    for op in ops:
        kind = _classify(op)
        unsafe = _kernel_unsafe(op) if kind == "device" else None
        if kind == "device" and unsafe is not None:
            report.host_work.append(HostWork(op.name, op.location, unsafe))
            kind = "host"
        if kind == "device" or (current and (kind == "scalar" or op.name in _VIEW_OPS)):
            current.append(op)
        else:
            if current:
                groups.append(current)
            current = []
    if current:
        groups.append(current)
    for group in groups:
        while group and _classify(group[-1]) != "device":
            group.pop()
        if group:
            _wrap_group(group, block, report)


def _wrap_group(group: list[ir.Operation], block: ir.Block, report: GpuLoweringReport) -> None:
    """Move `group` into a one-thread launch placed where its last op was.

    Pure scalar ops and views that do not depend on the group stay on the host (kernels
    capture their values); the launch sits after them, so what it uses is defined first."""
    members: list[ir.Operation] = []
    produced: set[ir.Value] = set()
    for op in group:
        depends = any(v in produced for v in op.operands) or any(
            v in produced for inner in walk(op, include_self=False) for v in inner.operands
        )
        if _classify(op) != "device" and not depends:
            continue
        members.append(op)
        produced.update(op.results)
    member_set = set(members)
    for op in members:
        for result in op.results:
            for use in result.uses:
                owner = _top_level_ancestor(use.owner, block)
                if owner is None or owner not in member_set:
                    for member in members:
                        if _classify(member) == "device":
                            report.host_work.append(
                                HostWork(
                                    member.name,
                                    member.location,
                                    "its results are used by host code",
                                )
                            )
                    return
    last = members[-1]
    with ir.InsertionPoint(last), last.location:
        one = ir.Operation.create(
            "arith.constant",
            results=[ir.IndexType.get()],
            attributes={"value": ir.IntegerAttr.get(ir.IndexType.get(), 1)},
        ).result
        launch = gpu_d.LaunchOp((one, one, one), (one, one, one))
        launch.attributes["modelopt.serial"] = ir.UnitAttr.get()
        with ir.InsertionPoint(launch.regions[0].blocks[0]):
            terminator = gpu_d.TerminatorOp()
    for op in members:
        op.move_before(terminator)
    report.serial_kernels += 1


# --- 4. globals into kernels --------------------------------------------------------------


def _inside(op: ir.Operation, ancestor: ir.Operation) -> bool:
    current = op.parent
    while current is not None:
        if current == ancestor:
            return True
        current = current.parent
    return False


def _global_chain(value: ir.Value) -> list[ir.Operation] | None:
    """The get_global (plus view ops) defining `value`, outermost first, or None."""
    chain: list[ir.Operation] = []
    while True:
        owner = value.owner
        if not isinstance(owner, ir.OpView) and not isinstance(owner, ir.Operation):
            return None
        op = owner.operation
        if op.name == "memref.get_global":
            chain.append(op)
            return list(reversed(chain))
        if op.name in _VIEW_OPS and op.operands:
            if any(not isinstance(v.type, ir.MemRefType) for v in list(op.operands)[1:]):
                return None
            chain.append(op)
            value = op.operands[0]
            continue
        return None


def _sink_globals(func: ir.Operation) -> None:
    launches = [op for op in walk(func, include_self=False) if op.name == "gpu.launch"]
    for launch in launches:
        body = launch.regions[0].blocks[0]
        first = body.operations[0]
        cloned: dict[ir.Operation, ir.Operation] = {}
        for inner in list(walk(launch, include_self=False)):
            for index, operand in enumerate(list(inner.operands)):
                if not isinstance(operand.type, ir.MemRefType):
                    continue
                owner = operand.owner
                if isinstance(owner, ir.Block):
                    continue
                owner_op = owner.operation
                if owner_op == launch or _inside(owner_op, launch):
                    continue
                chain = _global_chain(operand)
                if chain is None:
                    continue
                new_value = None
                for link in chain:
                    if link not in cloned:
                        copy = link.clone(ir.InsertionPoint(first))
                        for i, src in enumerate(list(copy.operands)):
                            key = (
                                src.owner.operation if not isinstance(src.owner, ir.Block) else None
                            )
                            if key is not None and key in cloned:
                                copy.operands[i] = cloned[key].result
                        cloned[link] = copy
                    new_value = cloned[link].result
                assert new_value is not None
                inner.operands[index] = new_value
    _erase_dead_address_ops(func)


def _erase_dead_address_ops(func: ir.Operation) -> None:
    changed = True
    while changed:
        changed = False
        for op in list(walk(func, include_self=False)):
            if (op.name in _VIEW_OPS or op.name == "memref.get_global") and not any(
                True for r in op.results for _ in r.uses
            ):
                op.erase()
                changed = True


# --- 5. device allocations ----------------------------------------------------------------


def _allocs_to_device(func: ir.Operation, report: GpuLoweringReport) -> None:
    arena_size = None
    if "modelopt.arena_size" in func.attributes:
        arena_size = ir.IntegerAttr(func.attributes["modelopt.arena_size"]).value
    report.arena_bytes = arena_size
    body = func.regions[0].blocks[0]
    for op in list(body.operations):
        op = op.operation
        if op.name not in ("memref.alloc", "memref.alloca"):
            continue
        memref_type = ir.MemRefType(op.results[0].type)
        is_arena = (
            arena_size is not None
            and memref_type.shape == [arena_size]
            and str(memref_type.element_type) == "i8"
        )
        with ir.InsertionPoint(op), op.location:
            device = gpu_d.AllocOp(memref_type, None, [], list(op.operands), [])
            if is_arena:
                device.attributes["modelopt.arena"] = ir.UnitAttr.get()
        op.results[0].replace_all_uses_with(device.results[0])
        op.erase()
        report.device_allocations += 1
        _free_at_return(device, body)
        if not is_arena:
            report.extra_allocations.append(op_location(device))
    for op in list(walk(func, include_self=False)):
        if op.name == "memref.dealloc":
            source = op.operands[0].owner
            if not isinstance(source, ir.Block) and source.operation.name == "gpu.alloc":
                with ir.InsertionPoint(op), op.location:
                    gpu_d.DeallocOp(None, [], op.operands[0])
                op.erase()
        elif op.name in ("memref.alloc", "memref.alloca") and not _inside_launch(op):
            report.host_work.append(
                HostWork(
                    op.name,
                    op.location,
                    "an allocation inside a host region stays in host memory",
                )
            )


def _free_at_return(device: ir.OpView, body: ir.Block) -> None:
    """A device buffer nobody frees is freed before the return: each call would leak it."""
    users = [use.owner.operation.name for use in device.results[0].uses]
    if "memref.dealloc" in users or "gpu.dealloc" in users:
        return
    terminator = body.operations[len(body.operations) - 1].operation
    with ir.InsertionPoint(terminator), terminator.location:
        gpu_d.DeallocOp(None, [], device.results[0])


def op_location(op: ir.OpView | ir.Operation) -> ir.Location:
    return op.operation.location


def _inside_launch(op: ir.Operation) -> bool:
    current = op.parent
    while current is not None:
        if current.name == "gpu.launch":
            return True
        current = current.parent
    return False


# --- driver -------------------------------------------------------------------------------


def lower_to_gpu(
    module: ir.Module, chip: str = "sm_90", host_llvm: bool = True
) -> list[GpuLoweringReport]:
    """Lower every function of `module` (memref IR, usually planned) for the GPU, in place."""
    message = check_chip(chip)
    if message is not None:
        raise GpuLoweringError(message)
    register_torch_mlir_passes()
    with module.context, ir.Location.unknown():
        _run(module, _PRE_PASSES, "preparing linalg for the GPU")
        for func in _functions(module):
            _interchange_parallel_first(func)
        _run(module, _TO_PARALLEL, "linalg to parallel loops")
        reports = []
        for func in _functions(module):
            name = ir.StringAttr(func.attributes["sym_name"]).value
            report = GpuLoweringReport(name)
            report.dropped_asserts = _asserts_to_traps(func)
            reports.append(report)
        _run(module, _TO_GPU, "parallel loops to gpu.launch")
        for func, report in zip(_functions(module), reports, strict=True):
            _wrap_host_work(func.regions[0].blocks[0], report)
            _sink_globals(func)
            _allocs_to_device(func, report)
            report.kernels = sum(
                1 for op in walk(func, include_self=False) if op.name == "gpu.launch"
            )
        _run(
            module,
            [p.format(chip=chip) for p in _KERNEL_PASSES],
            "kernel outlining and NVVM lowering",
        )
        if host_llvm:
            _run(module, _HOST_TO_LLVM, "host lowering to LLVM")
    return reports


# --- launch plan --------------------------------------------------------------------------


def _static_layout(memref_type: ir.MemRefType) -> tuple[int, list[int]]:
    strides, offset = memref_type.get_strides_and_offset()
    return offset, list(strides)


_SCALAR_CASTS = {
    "arith.truncf",
    "arith.extf",
    "arith.sitofp",
    "arith.index_cast",
    "arith.extsi",
    "arith.trunci",
}


def _cast_scalar(value: float | int, result_type: str) -> float | int:
    """A host-side scalar cast of a constant, rounded as the device would see it."""
    if result_type == "f32":
        return struct.unpack("f", struct.pack("f", float(value)))[0]
    if result_type.startswith("f"):
        return float(value)
    bits = 64 if result_type == "index" else int(result_type[1:])
    value = int(value) & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def launch_plan(module: ir.Module, function: str = "main") -> dict[str, Any]:
    """The host function of a module lowered with ``host_llvm=False``, as plain data.

    Memref values are {"base": "arena" | "arg:N", "byte_offset": int, "offset", "sizes",
    "strides"} (element units except byte_offset, which is added to both pointers); each
    expands to (allocated ptr, aligned ptr, offset, sizes..., strides...) in a kernel call.
    Raises GpuLoweringError on a host op it cannot replay."""
    func = next(
        (
            f
            for f in _functions(module)
            if ir.StringAttr(f.attributes["sym_name"]).value == function
        ),
        None,
    )
    if func is None:
        raise GpuLoweringError(f"no function '@{function}' in the module")
    body = func.regions[0].blocks[0]
    values: dict[ir.Value, Any] = {}
    for index, argument in enumerate(body.arguments):
        memref_type = ir.MemRefType(argument.type)
        offset, strides = _static_layout(memref_type)
        values[argument] = {
            "base": f"arg:{index}",
            "byte_offset": 0,
            "offset": offset,
            "sizes": list(memref_type.shape),
            "strides": strides,
            "element_type": str(memref_type.element_type),
        }
    steps: list[dict[str, Any]] = []
    arena_bytes = 0

    def value_of(v: ir.Value) -> Any:
        if v not in values:
            raise GpuLoweringError(f"launch plan: value {v.get_name()} is not known on the host")
        return values[v]

    for op in body.operations:
        op = op.operation
        name = op.name
        if name == "arith.constant":
            attr = op.attributes["value"]
            if isinstance(attr, ir.BoolAttr):
                value: Any = int(attr.value)
            elif isinstance(attr, ir.IntegerAttr):
                value = attr.value
                if str(op.results[0].type) == "i1":
                    value = int(bool(value))
            elif isinstance(attr, ir.FloatAttr):
                value = attr.value
            else:
                raise GpuLoweringError(f"launch plan: unsupported constant {attr}")
            values[op.results[0]] = {"scalar": str(op.results[0].type), "value": value}
        elif name == "gpu.alloc":
            if "modelopt.arena" not in op.attributes or arena_bytes:
                raise GpuLoweringError(
                    "launch plan: only one device allocation (the arena) is supported"
                )
            memref_type = ir.MemRefType(op.results[0].type)
            arena_bytes = memref_type.shape[0]
            values[op.results[0]] = {
                "base": "arena",
                "byte_offset": 0,
                "offset": 0,
                "sizes": [arena_bytes],
                "strides": [1],
                "element_type": "i8",
            }
        elif name in _VIEW_OPS:
            source = value_of(op.operands[0])
            memref_type = ir.MemRefType(op.results[0].type)
            offset, strides = _static_layout(memref_type)
            byte_offset = source["byte_offset"]
            if name == "memref.view":
                shift = value_of(op.operands[1])
                byte_offset += shift["value"] + source["offset"]
            values[op.results[0]] = {
                "base": source["base"],
                "byte_offset": byte_offset,
                "offset": offset,
                "sizes": list(memref_type.shape),
                "strides": strides,
                "element_type": str(memref_type.element_type),
            }
        elif name == "gpu.launch_func":
            kernel = ir.SymbolRefAttr(op.attributes["kernel"])
            operands = list(op.operands)
            dims = [value_of(v)["value"] for v in operands[:6]]
            args = [value_of(v) for v in operands[6:]]
            steps.append(
                {
                    "kernel": str(kernel),
                    "grid": dims[:3],
                    "block": dims[3:],
                    "args": args,
                }
            )
        elif name in _SCALAR_CASTS:
            source = value_of(op.operands[0])
            result_type = str(op.results[0].type)
            values[op.results[0]] = {
                "scalar": result_type,
                "value": _cast_scalar(source["value"], result_type),
            }
        elif name in ("gpu.dealloc", "func.return"):
            continue
        else:
            raise GpuLoweringError(f"launch plan: cannot replay host op '{name}' at {op.location}")
    return {"function": function, "arena_bytes": arena_bytes, "launches": steps}
