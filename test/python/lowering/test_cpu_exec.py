"""CPU execution harness: lowering, calling convention, and bitwise comparison of planned vs unplanned IR."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from modelopt_mlir.examples import EXAMPLES_DIR
from modelopt_mlir.ir_context import parse_module
from modelopt_mlir.lowering.cpu import (
    Comparison,
    LoweringError,
    compare_bitwise,
    compile_cpu,
    lower_to_llvm,
    random_arguments,
    run_cpu,
)

# out = exp(erf(tanh(a @ b + c))) through two temporaries; math ops exercise LLVM intrinsics and libm.
PLAIN = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @step(%a: memref<4x8xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>, %out: memref<4x3xf32>) {
  %zero = arith.constant 0.0 : f32
  %t0 = memref.alloc() {alignment = 64 : i64} : memref<4x3xf32>
  linalg.fill ins(%zero : f32) outs(%t0 : memref<4x3xf32>)
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x3xf32>) outs(%t0 : memref<4x3xf32>)
  %t1 = memref.alloc() {alignment = 64 : i64} : memref<4x3xf32>
  linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%t0, %c : memref<4x3xf32>, memref<4x3xf32>) outs(%t1 : memref<4x3xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    %th = math.tanh %s : f32
    %er = math.erf %th : f32
    %ex = math.exp %er : f32
    linalg.yield %ex : f32
  }
  memref.copy %t1, %out : memref<4x3xf32> to memref<4x3xf32>
  return
}
"""

# The same computation with both temporaries carved out of one i8 arena, the way memory-plan
# rewrites it; %t1 is reached through expand_shape/collapse_shape to exercise view chains.
ARENA = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @step(%a: memref<4x8xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>, %out: memref<4x3xf32>) {
  %zero = arith.constant 0.0 : f32
  %arena = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
  %off0 = arith.constant 0 : index
  %off1 = arith.constant 64 : index
  %t0 = memref.view %arena[%off0][] : memref<128xi8> to memref<4x3xf32>
  linalg.fill ins(%zero : f32) outs(%t0 : memref<4x3xf32>)
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x3xf32>) outs(%t0 : memref<4x3xf32>)
  %flat = memref.view %arena[%off1][] : memref<128xi8> to memref<12xf32>
  %t1 = memref.expand_shape %flat [[0, 1]] output_shape [4, 3] : memref<12xf32> into memref<4x3xf32>
  linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%t0, %c : memref<4x3xf32>, memref<4x3xf32>) outs(%t1 : memref<4x3xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    %th = math.tanh %s : f32
    %er = math.erf %th : f32
    %ex = math.exp %er : f32
    linalg.yield %ex : f32
  }
  %row = memref.subview %t1[1, 0] [3, 3] [1, 1] : memref<4x3xf32> to memref<3x3xf32, strided<[3, 1], offset: 3>>
  %out_rows = memref.subview %out[1, 0] [3, 3] [1, 1] : memref<4x3xf32> to memref<3x3xf32, strided<[3, 1], offset: 3>>
  memref.copy %row, %out_rows : memref<3x3xf32, strided<[3, 1], offset: 3>> to memref<3x3xf32, strided<[3, 1], offset: 3>>
  %first = memref.subview %t1[0, 0] [1, 3] [1, 1] : memref<4x3xf32> to memref<1x3xf32, strided<[3, 1]>>
  %out_first = memref.subview %out[0, 0] [1, 3] [1, 1] : memref<4x3xf32> to memref<1x3xf32, strided<[3, 1]>>
  memref.copy %first, %out_first : memref<1x3xf32, strided<[3, 1]>> to memref<1x3xf32, strided<[3, 1]>>
  memref.dealloc %arena : memref<128xi8>
  return
}
"""

# Same signature, the output squared: a comparison must report argument 3 as different.
DIFFERENT = PLAIN.replace(
    "%ex = math.exp %er : f32", "%ex0 = math.exp %er : f32\n    %ex = arith.mulf %ex0, %ex0 : f32"
)

SCALARS = """
func.func @scalars(%x: memref<f32>, %flags: memref<5xi1>, %n: memref<i64>, %empty: memref<0x4xf32>, %out: memref<f32>) {
  %v = memref.load %x[] : memref<f32>
  %two = arith.constant 2.0 : f32
  %d = arith.mulf %v, %two : f32
  memref.store %d, %out[] : memref<f32>
  %i0 = arith.constant 0 : index
  %f0 = memref.load %flags[%i0] : memref<5xi1>
  %nf = arith.xori %f0, %f0 : i1
  %true = arith.constant true
  %flipped = arith.xori %f0, %true : i1
  memref.store %flipped, %flags[%i0] : memref<5xi1>
  %k = memref.load %n[] : memref<i64>
  %one = arith.constant 1 : i64
  %k1 = arith.addi %k, %one : i64
  memref.store %k1, %n[] : memref<i64>
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%empty : memref<0x4xf32>)
  return
}
"""

HALF = """
#map = affine_map<(d0) -> (d0)>
func.func @half(%a: memref<6xf16>, %b: memref<6xbf16>, %c: memref<6xf64>, %out: memref<6xf32>) {
  linalg.generic {indexing_maps = [#map, #map, #map, #map], iterator_types = ["parallel"]}
      ins(%a, %b, %c : memref<6xf16>, memref<6xbf16>, memref<6xf64>) outs(%out : memref<6xf32>) {
  ^bb0(%x: f16, %y: bf16, %z: f64, %o: f32):
    %xf = arith.extf %x : f16 to f32
    %yf = arith.extf %y : bf16 to f32
    %zf = arith.truncf %z : f64 to f32
    %s0 = arith.addf %xf, %yf : f32
    %s1 = arith.addf %s0, %zf : f32
    linalg.yield %s1 : f32
  }
  return
}
"""

SCATTER = """
func.func @scatter(%upd: memref<3x4xf32>, %idx: memref<3x1xi64>, %dst: memref<5x4xf32>) {
  tm_tensor.scatter {dimension_map = array<i64: 0>} unique_indices(false)
      ins(%upd, %idx : memref<3x4xf32>, memref<3x1xi64>) outs(%dst : memref<5x4xf32>) {
  ^bb0(%u: f32, %d: f32):
    %s = arith.addf %d, %u : f32
    tm_tensor.yield %s : f32
  }
  return
}
"""


def expected_step(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf)
    return np.exp(erf(np.tanh(a.astype(np.float64) @ b + c)))


def test_plain_function_matches_numpy() -> None:
    args = random_arguments(PLAIN, "step", seed=0)
    a, b, c, out = args
    results = run_cpu(PLAIN, "step", args)
    assert len(results) == 4
    np.testing.assert_allclose(results[3], expected_step(a, b, c), rtol=1e-5, atol=1e-6)
    for before, after in zip(args[:3], results[:3], strict=True):
        assert before.tobytes() == after.tobytes()
    assert out.tobytes() == args[3].tobytes(), "run_cpu must not write into the caller's arrays"


UNARY = """
#map = affine_map<(d0) -> (d0)>
func.func @f(%a: memref<4096xf32>, %out: memref<4096xf32>) {
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%a : memref<4096xf32>) outs(%out : memref<4096xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = math.OP %x : f32
    linalg.yield %y : f32
  }
  return
}
"""


@pytest.mark.parametrize(
    ("op", "reference"),
    [("tanh", np.tanh), ("erf", np.vectorize(math.erf)), ("log1p", np.log1p)],
)
def test_transcendentals_are_accurate_near_zero(op: str, reference: np.ufunc) -> None:
    """tanh, erf and log1p go to libm: within 2 float32 ulps of float64 everywhere, where the
    expansions (tanh through exp, log1p as log(1 + x)) lost 5e-4 relative near zero."""
    x = np.concatenate([np.linspace(-8, 8, 2048), np.linspace(-1e-2, 1e-2, 2048)])
    x = np.abs(x) if op == "log1p" else x
    got = run_cpu(UNARY.replace("OP", op), "f", [x.astype(np.float32), np.zeros(4096, np.float32)])
    want = reference(x.astype(np.float32).astype(np.float64))
    ulps = np.abs(got[1] - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert float(ulps.max()) <= 2.0


ARENA_WITHOUT_DEALLOC = ARENA.replace("  memref.dealloc %arena : memref<128xi8>\n", "")


@pytest.mark.parametrize("candidate", [ARENA, ARENA_WITHOUT_DEALLOC], ids=["dealloc", "no-dealloc"])
def test_arena_rewrite_is_bit_identical(candidate: str) -> None:
    assert ("memref.dealloc" in candidate) == (candidate is ARENA)
    comparison = compare_bitwise(PLAIN, candidate, "step", seed=3)
    assert isinstance(comparison, Comparison)
    assert comparison.identical, comparison.summary()
    assert [a.index for a in comparison.arguments] == [0, 1, 2, 3]
    assert all(a.max_abs_diff == 0.0 for a in comparison.arguments)
    comparison.raise_if_different()


def test_different_function_is_detected() -> None:
    comparison = compare_bitwise(PLAIN, DIFFERENT, "step", seed=3)
    assert not comparison.identical
    assert [a.equal for a in comparison.arguments] == [True, True, True, False]
    assert comparison.arguments[3].max_abs_diff > 0.0
    with pytest.raises(AssertionError, match="argument 3"):
        comparison.raise_if_different()


def test_nan_bit_patterns_count() -> None:
    # 0/0 on both sides: NaN == NaN bytewise, while a float compare would call them different.
    nan_src = PLAIN.replace(
        "%ex = math.exp %er : f32",
        "%zz = arith.subf %er, %er : f32\n    %ex = arith.divf %zz, %zz : f32",
    )
    comparison = compare_bitwise(nan_src, nan_src, "step")
    assert comparison.identical


def test_zero_d_i1_i64_and_empty_arguments() -> None:
    x = np.array(1.5, dtype=np.float32)
    flags = np.array([True, False, True, True, False])
    n = np.array(41, dtype=np.int64)
    empty = np.zeros((0, 4), dtype=np.float32)
    out = np.array(0.0, dtype=np.float32)
    results = run_cpu(SCALARS, "scalars", [x, flags, n, empty, out])
    assert results[4].shape == () and results[4] == np.float32(3.0)
    assert results[1].tolist() == [False, False, True, True, False]
    assert results[2] == 42
    assert results[3].shape == (0, 4)
    generated = random_arguments(SCALARS, "scalars", seed=1)
    assert [g.dtype for g in generated] == [np.float32, np.bool_, np.int64, np.float32, np.float32]
    assert [g.shape for g in generated] == [(), (5,), (), (0, 4), ()]


def test_float_and_int_ranges() -> None:
    args = random_arguments(PLAIN, "step", seed=5, float_ranges={2: (1.0, 2.0)})
    assert args[2].min() >= 1.0 and args[2].max() < 2.0
    assert args[0].min() < 0.0  # the others stay 0.1 * N(0, 1)
    again = random_arguments(PLAIN, "step", seed=5, float_ranges={2: (1.0, 2.0)})
    assert all(a.tobytes() == b.tobytes() for a, b in zip(args, again, strict=True))


def test_half_precision_types() -> None:
    a = np.array([1, 2, 3, -1, 0.5, 0], dtype=np.float16)
    b_float = np.array([0.5, 0.25, -2, 4, 8, 1], dtype=np.float32)
    b = (b_float.view(np.uint32) >> 16).astype(np.uint16)  # bf16 bit patterns
    c = np.array([10, 20, 30, 40, 50, 60], dtype=np.float64)
    out = np.zeros(6, dtype=np.float32)
    results = run_cpu(HALF, "half", [a, b, c, out])
    np.testing.assert_array_equal(results[3], a.astype(np.float32) + b_float + c.astype(np.float32))
    generated = random_arguments(HALF, "half", seed=0)
    assert generated[1].dtype == np.uint16


def test_tm_tensor_scatter_with_index_ranges() -> None:
    args = random_arguments(SCATTER, "scatter", seed=1, int_ranges={1: (0, 5)})
    assert args[1].min() >= 0 and args[1].max() < 5
    results = run_cpu(SCATTER, "scatter", args)
    expected = args[2].copy()
    np.add.at(expected, args[1][:, 0], args[0])
    np.testing.assert_array_equal(results[2], expected)


def test_argument_validation() -> None:
    function = compile_cpu(PLAIN, "step")
    args = random_arguments(PLAIN, "step", seed=0)
    with pytest.raises(ValueError, match="takes 4 memref arguments"):
        function(args[:3])
    with pytest.raises(ValueError, match="expected shape"):
        function([args[0], args[1], args[2], np.zeros((3, 4), dtype=np.float32)])
    with pytest.raises(ValueError, match="expected dtype"):
        function([args[0], args[1], args[2], np.zeros((4, 3), dtype=np.float64)])
    with pytest.raises(ValueError, match="no func.func @missing"):
        compile_cpu(PLAIN, "missing")
    with pytest.raises(ValueError, match="signatures differ"):
        compare_bitwise(PLAIN, SCALARS.replace("@scalars", "@step"), "step")


def test_function_with_results_is_converted_to_out_params() -> None:
    returning = """
    func.func @ret(%a: memref<4xf32>) -> memref<4xf32> {
      %t = memref.alloc() : memref<4xf32>
      memref.copy %a, %t : memref<4xf32> to memref<4xf32>
      return %t : memref<4xf32>
    }
    """
    llvm = lower_to_llvm(returning)
    assert "_mlir_ciface_ret" in str(llvm)


def test_lowering_does_not_mutate_input() -> None:
    module = parse_module(PLAIN)
    before = str(module)
    lower_to_llvm(module)
    assert str(module) == before


def test_lowering_error_carries_reproducer() -> None:
    bad = """
    func.func @bad(%a: memref<4xf32>) {
      "unknown.op"(%a) : (memref<4xf32>) -> ()
      return
    }
    """
    module = parse_module(bad, _unregistered_context())
    with pytest.raises(
        LoweringError,
        match=r"(?s)lowering to LLVM left non-LLVM ops: .*unknown\.op.*reproduce\(.*pipeline: builtin\.module\(",
    ):
        lower_to_llvm(module, deallocate=False)
    with pytest.raises(LoweringError, match="buffer deallocation failed"):
        lower_to_llvm(module, deallocate=True)
    # Automatic mode falls back to leaking when deallocation fails, then hits the same lowering error.
    with pytest.warns(UserWarning, match="without deallocation"), pytest.raises(LoweringError):
        lower_to_llvm(module)


def _unregistered_context():
    from torch_mlir import ir

    context = ir.Context()
    context.allow_unregistered_dialects = True
    return context


def test_mlp_sgd_example_is_deterministic() -> None:
    path = EXAMPLES_DIR / "mlp_sgd.mlir"
    if not path.exists():
        pytest.skip(f"{path} not generated yet")
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    int_ranges = {
        index: tuple(arg["int_range"])
        for index, arg in enumerate(meta.get("args", []))
        if arg.get("int_range")
    }
    module = parse_module(path.read_text())
    func_name = meta.get("func") or _first_defined_function(module)
    start = time.perf_counter()
    comparison = compare_bitwise(module, module, func_name, seed=0, int_ranges=int_ranges or None)
    print(f"mlp_sgd: compiled and ran twice in {time.perf_counter() - start:.2f}s")
    comparison.raise_if_different()
    losses = [i for i, arg in enumerate(meta.get("args", [])) if arg.get("result") == "loss"]
    if losses:
        args = random_arguments(module, func_name, seed=0, int_ranges=int_ranges or None)
        loss = run_cpu(module, func_name, args)[losses[0]]
        assert np.isfinite(loss).all() and float(loss) > 0.0


def _first_defined_function(module) -> str:
    from torch_mlir import ir

    for op in module.body.operations:
        if op.operation.name == "func.func" and len(op.regions[0].blocks) > 0:
            return ir.StringAttr(op.attributes["sym_name"]).value
    raise AssertionError("no function with a body")
