"""CPU execution harness: lower memref IR to LLVM, JIT it, and compare planned against unplanned IR bit for bit.

Functions are expected in out-param form (they return nothing; every buffer is a memref
argument). Arguments are numpy arrays passed in place; after a call, every argument buffer
(inputs included) is returned, because planned IR may only differ in what it writes.
"""

from __future__ import annotations

import ctypes
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine
from torch_mlir.runtime import get_ranked_memref_descriptor

from modelopt_mlir.ir_context import (
    find_function,
    parse_module,
    register_torch_mlir_passes,
    run_pipeline,
)

__all__ = [
    "LOWERING_PIPELINE",
    "ArgumentResult",
    "ArgumentSpec",
    "Comparison",
    "CpuFunction",
    "LoweringError",
    "argument_specs",
    "compare_bitwise",
    "compile_cpu",
    "lower_to_llvm",
    "max_abs_diff",
    "random_arguments",
    "run_cpu",
]

# Everything after the (optional) results-to-out-params and deallocation steps. tm_tensor
# ops are lowered first so that later passes only see upstream dialects. lower-affine runs
# twice: expand-strided-metadata emits affine.apply for subview/expand_shape offsets.
# Transcendentals go to libm (within an ulp or so): tanh as llvm.intr.tanh (a tanhf call), erf
# and log1p through convert-math-to-libm. torch-mlir's refback-expand-ops-for-llvm (tanh as
# (1 - exp(-2|x|)) / (1 + exp(-2|x|)), erf as a polynomial) and convert-math-to-llvm's log1p as
# log(1 + x) lose up to 5e-4 relative near zero. (expm1 stays exp(x) - 1.)
_LOWERING_PASSES = (
    "func.func(tm-tensor-to-loops)",
    "func.func(refback-munge-memref-copy)",
    "func.func(convert-linalg-to-loops)",
    "func.func(lower-affine)",
    "convert-scf-to-cf",
    "func.func(arith-expand)",
    "func.func(convert-math-to-llvm{approximate-log1p=false})",
    "convert-math-to-libm",
    "expand-strided-metadata",
    "lower-affine",
    "finalize-memref-to-llvm",
    "func.func(convert-arith-to-llvm)",
    "convert-func-to-llvm",
    "convert-cf-to-llvm",
    "reconcile-unrealized-casts",
)
LOWERING_PIPELINE = ",".join(_LOWERING_PASSES)
_OUT_PARAMS_PIPELINE = (
    "buffer-results-to-out-params{hoist-static-allocs=true modify-public-functions=true}"
)
_DEALLOCATION_PIPELINE = "buffer-deallocation-pipeline"

_SCALAR_DTYPES: dict[str, np.dtype] = {
    "f64": np.dtype(np.float64),
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    # numpy has no bfloat16: bf16 buffers travel as their uint16 bit patterns.
    "bf16": np.dtype(np.uint16),
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "index": np.dtype(np.int64),
}


class LoweringError(RuntimeError):
    """A lowering pipeline failed; the message carries MLIR's diagnostics and a reproducer."""


def _clone(module: ir.Module) -> ir.Module:
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    with module.context:
        return ir.Module.parse(buffer.getvalue())


def _contains_op(module: ir.Module, names: set[str]) -> bool:
    found = False

    def visit(op: ir.Operation) -> ir.WalkResult:
        nonlocal found
        if op.name in names:
            found = True
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _has_memref_results(module: ir.Module) -> bool:
    for op in module.body.operations:
        if op.operation.name == "func.func":
            function_type = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            if any(isinstance(t, ir.MemRefType) for t in function_type.results):
                return True
    return False


def _run_pipeline(
    module: ir.Module, pipeline: str, description: str, text_before: str | None = None
) -> None:
    """Run `pipeline` in place; on failure raise LoweringError with diagnostics and a reproducer."""
    if text_before is None:
        text_before = module.operation.get_asm(enable_debug_info=True)
    try:
        run_pipeline(module, pipeline)
    except (ir.MLIRError, ValueError, RuntimeError) as error:
        raise LoweringError(
            f"{description} failed:\n{error}\n\n{_reproducer(text_before, pipeline)}"
        ) from None


def _reproducer(text: str, pipeline: str) -> str:
    """Save the failing input to a temp file and return a ready-to-run command that replays `pipeline` on it."""
    handle, path = tempfile.mkstemp(prefix="modelopt-cpu-lowering-", suffix=".mlir")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    return (
        "Reproduce with:\n"
        f"  python -c \"from modelopt_mlir.lowering.cpu import reproduce; reproduce('{path}', '{pipeline}')\"\n"
        f"pipeline: {pipeline}\ninput: {path}"
    )


def reproduce(path: str, pipeline: str) -> None:
    """Re-run a failed lowering step on a saved input file, printing MLIR's diagnostics."""
    context = ir.Context()
    context.allow_unregistered_dialects = True
    with open(path) as file:
        module = parse_module(file.read(), context)
    register_torch_mlir_passes()
    run_pipeline(module, pipeline)
    print(module)


def lower_to_llvm(module: ir.Module | str, deallocate: bool | None = None) -> ir.Module:
    """Lower a memref module to the LLVM dialect with C interfaces; the input is never mutated.

    `deallocate=None` runs buffer-deallocation-pipeline only when the IR has no deallocs yet
    (the pass rejects IR that already has them) and falls back to leaking, with a warning, if
    the pass fails; leaks are harmless in a one-shot harness but cost memory on big graphs.
    """
    register_torch_mlir_passes()
    if isinstance(module, str):
        module = parse_module(module)
    lowered = _clone(module)
    if _has_memref_results(lowered):
        _run_pipeline(
            lowered, f"builtin.module({_OUT_PARAMS_PIPELINE})", "buffer-results-to-out-params"
        )
    auto = deallocate is None
    if auto:
        deallocate = not _contains_op(lowered, {"memref.dealloc", "bufferization.dealloc"})
    if deallocate:
        before = _clone(lowered) if auto else None
        try:
            _run_pipeline(
                lowered, f"builtin.module({_DEALLOCATION_PIPELINE})", "buffer deallocation"
            )
        except LoweringError as error:
            if before is None:
                raise
            warnings.warn(
                f"running without deallocation (buffers leak until exit): {error}", stacklevel=2
            )
            lowered = before
    with lowered.context:
        for op in lowered.body.operations:
            if op.operation.name == "func.func" and len(op.regions[0].blocks) > 0:
                op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
    pipeline = f"builtin.module({LOWERING_PIPELINE})"
    before_lowering = lowered.operation.get_asm(enable_debug_info=True)
    _run_pipeline(lowered, pipeline, "lowering to LLVM", before_lowering)
    leftovers = _non_llvm_ops(lowered)
    if leftovers:
        # Conversion passes leave ops they do not know (and casts feeding them) in place.
        raise LoweringError(
            f"lowering to LLVM left non-LLVM ops: {', '.join(sorted(leftovers))}\n\n"
            + _reproducer(before_lowering, pipeline)
        )
    return lowered


def _non_llvm_ops(module: ir.Module) -> set[str]:
    names: set[str] = set()

    def visit(op: ir.Operation) -> ir.WalkResult:
        if not op.name.startswith("llvm.") and op.name != "builtin.module":
            names.add(op.name)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return names


@dataclass(frozen=True)
class ArgumentSpec:
    """One memref argument of a function signature: element type, numpy dtype and shape (None = dynamic)."""

    index: int
    element_type: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"memref<{dims + 'x' if dims else ''}{self.element_type}>"

    def check(self, array: np.ndarray) -> None:
        """Raise ValueError unless `array` can be passed for this argument."""
        where = f"argument {self.index} ({self.describe()})"
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{where}: expected a numpy array, got {type(array).__name__}")
        if array.dtype != self.dtype:
            raise ValueError(f"{where}: expected dtype {self.dtype}, got {array.dtype}")
        if array.ndim != len(self.shape):
            raise ValueError(f"{where}: expected rank {len(self.shape)}, got shape {array.shape}")
        if any(
            want is not None and want != got
            for want, got in zip(self.shape, array.shape, strict=True)
        ):
            raise ValueError(f"{where}: expected shape {self.shape}, got {array.shape}")


def argument_specs(module: ir.Module, func_name: str) -> list[ArgumentSpec]:
    """The memref arguments of `func_name`, in order; raises ValueError on anything we cannot pass."""
    function = find_function(module, func_name)
    function_type = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value)
    if function_type.results:
        raise ValueError(f"@{func_name} still returns values; convert results to out-params first")
    return [
        argument_spec(arg_type, index, f"@{func_name} argument {index}")
        for index, arg_type in enumerate(function_type.inputs)
    ]


def argument_spec(arg_type: ir.Type, index: int, what: str) -> ArgumentSpec:
    """The spec of an argument of type ``arg_type`` at position ``index``; ValueError (naming
    it ``what``) for a type we cannot pass."""
    if not isinstance(arg_type, ir.MemRefType):
        # A signature we cannot call, not a wrong Python type from the caller.
        raise ValueError(f"{what} has type {arg_type}; only memrefs are supported")  # noqa: TRY004
    memref_type = ir.MemRefType(arg_type)
    element_type = str(memref_type.element_type)
    if element_type not in _SCALAR_DTYPES:
        raise ValueError(f"{what}: unsupported element type {element_type}")
    # Any layout works as long as row-major strides satisfy it (identity, or dynamic strided).
    strides, offset = memref_type.get_strides_and_offset()
    dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
    expected = _row_major_strides(memref_type.shape)
    if offset not in (0, dynamic) or any(
        s != dynamic and s != e for s, e in zip(strides, expected, strict=True)
    ):
        raise ValueError(f"{what}: non-row-major layout in {memref_type}")
    shape = tuple(None if ir.ShapedType.is_dynamic_size(d) else d for d in memref_type.shape)
    return ArgumentSpec(index, element_type, _SCALAR_DTYPES[element_type], shape)


def _row_major_strides(shape: Sequence[int]) -> list[int | None]:
    strides: list[int | None] = []
    running: int | None = 1
    for dim in reversed(shape):
        strides.append(running)
        running = None if running is None or ir.ShapedType.is_dynamic_size(dim) else running * dim
    return strides[::-1]


class CpuFunction:
    """A JIT-compiled function from a memref module, callable on numpy arrays."""

    def __init__(self, module: ir.Module | str, func_name: str, opt_level: int = 0) -> None:
        module = parse_module(module)
        self.func_name = func_name
        self.specs = argument_specs(module, func_name)
        self.llvm_module = lower_to_llvm(module)
        # No shared_libs: malloc/free and libm symbols (convert-math-to-libm) resolve from the process.
        try:
            self.engine = ExecutionEngine(self.llvm_module, opt_level=opt_level)
        except RuntimeError as error:
            raise LoweringError(
                f"ExecutionEngine(opt_level={opt_level}) failed for @{func_name}: {error}"
            ) from None
        # Fail here, not at the first call, if the function did not get a C interface.
        self.engine.lookup(func_name)

    def __call__(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Call in place on copies of `args`; return every argument buffer after the call."""
        if len(args) != len(self.specs):
            raise ValueError(
                f"@{self.func_name} takes {len(self.specs)} memref arguments "
                f"({', '.join(s.describe() for s in self.specs)}), got {len(args)}"
            )
        for spec, array in zip(self.specs, args, strict=True):
            spec.check(array)
        buffers = [
            np.array(array, dtype=spec.dtype, order="C", copy=True)
            for spec, array in zip(self.specs, args, strict=True)
        ]
        descriptors = [get_ranked_memref_descriptor(buffer) for buffer in buffers]
        self.engine.invoke(
            self.func_name, *[ctypes.pointer(ctypes.pointer(d)) for d in descriptors]
        )
        return buffers


def compile_cpu(module: ir.Module | str, func_name: str, opt_level: int = 0) -> CpuFunction:
    """Lower and JIT `func_name`; opt_level 0 by default because -O2 is very slow on big graphs."""
    return CpuFunction(module, func_name, opt_level)


def run_cpu(
    module: ir.Module | str, func_name: str, args: Sequence[np.ndarray], opt_level: int = 0
) -> list[np.ndarray]:
    """Compile and call `func_name` once; returns copies of all argument buffers after the call."""
    return compile_cpu(module, func_name, opt_level)(args)


def random_arguments(
    module: ir.Module | str,
    func_name: str,
    seed: int,
    int_ranges: dict[int, tuple[int, int]] | None = None,
    float_ranges: dict[int, tuple[float, float]] | None = None,
) -> list[np.ndarray]:
    """Seeded arguments: floats 0.1 * N(0, 1), ints uniform in [0, 2), random i1; ranges override.

    `int_ranges[i] = (lo, hi)` and `float_ranges[i] = (lo, hi)` draw argument i uniformly from
    [lo, hi): embedding indices must stay in range, Adam's exp_avg_sq must not be negative.
    """
    module = parse_module(module)
    int_ranges = int_ranges or {}
    float_ranges = float_ranges or {}
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in argument_specs(module, func_name):
        if any(d is None for d in spec.shape):
            raise ValueError(
                f"argument {spec.index} ({spec.describe()}) has a dynamic shape; pass arrays explicitly"
            )
        shape = tuple(d for d in spec.shape if d is not None)
        if spec.element_type in ("bf16", "f16", "f32", "f64"):
            if spec.index in float_ranges:
                array = rng.uniform(*float_ranges[spec.index], shape)
            else:
                array = 0.1 * rng.standard_normal(shape)
            if spec.element_type == "bf16":
                array = np.asarray(array, dtype=np.float32).view(np.uint32) >> 16
        elif spec.dtype.kind == "b":
            array = rng.integers(0, 2, shape)
        else:
            lo, hi = int_ranges.get(spec.index, (0, 2))
            array = rng.integers(lo, hi, shape)
        # asarray: numpy hands back scalars, not 0-d arrays, for shape ().
        arrays.append(np.asarray(array).astype(spec.dtype))
    return arrays


@dataclass(frozen=True)
class ArgumentResult:
    """How one argument buffer compared after the call."""

    index: int
    shape: tuple[int, ...]
    dtype: str
    equal: bool
    max_abs_diff: float


@dataclass(frozen=True)
class Comparison:
    """Bitwise comparison of every argument buffer between a reference and a candidate run."""

    func_name: str
    seed: int
    arguments: tuple[ArgumentResult, ...]

    @property
    def identical(self) -> bool:
        return all(a.equal for a in self.arguments)

    def summary(self) -> str:
        lines = [
            f"@{self.func_name} seed={self.seed}: {'identical' if self.identical else 'DIFFERENT'}"
        ]
        for a in self.arguments:
            if not a.equal:
                lines.append(
                    f"  argument {a.index} {a.dtype}{list(a.shape)}: max |diff| = {a.max_abs_diff:g}"
                )
        return "\n".join(lines)

    def raise_if_different(self) -> None:
        """Raise AssertionError naming the differing arguments unless the runs were bit-identical."""
        if not self.identical:
            raise AssertionError(self.summary())


def _as_float64(array: np.ndarray, element_type: str) -> np.ndarray:
    if element_type == "bf16":
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


def max_abs_diff(a: np.ndarray, b: np.ndarray, element_type: str) -> float:
    """max |a - b| over elements as float64 (bf16 bits widened first); NaN if every difference is."""
    if a.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        diff = np.abs(_as_float64(a, element_type) - _as_float64(b, element_type))
    return float(np.nanmax(diff)) if not np.all(np.isnan(diff)) else float("nan")


def compare_bitwise(
    reference: ir.Module | str,
    candidate: ir.Module | str,
    func_name: str,
    seed: int = 0,
    int_ranges: dict[int, tuple[int, int]] | None = None,
    opt_level: int = 0,
    float_ranges: dict[int, tuple[float, float]] | None = None,
) -> Comparison:
    """Run both modules on the same seeded arguments and compare every argument buffer byte for byte."""
    reference = parse_module(reference)
    candidate = parse_module(candidate)
    reference_specs = argument_specs(reference, func_name)
    candidate_specs = argument_specs(candidate, func_name)
    if reference_specs != candidate_specs:
        raise ValueError(
            f"@{func_name} signatures differ: "
            f"{[s.describe() for s in reference_specs]} vs {[s.describe() for s in candidate_specs]}"
        )
    args = random_arguments(reference, func_name, seed, int_ranges, float_ranges)
    expected = run_cpu(reference, func_name, args, opt_level)
    actual = run_cpu(candidate, func_name, args, opt_level)
    results = []
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        element_type = reference_specs[index].element_type
        equal = want.tobytes() == got.tobytes()
        diff = 0.0 if equal else max_abs_diff(want, got, element_type)
        results.append(ArgumentResult(index, want.shape, element_type, equal, diff))
    return Comparison(func_name, seed, tuple(results))
