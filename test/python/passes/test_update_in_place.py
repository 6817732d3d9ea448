"""update-in-place: the in-place form computes, into argument N, exactly the value that the
out-param form computes into the out-param, whether the update is written in place or keeps a
copy; errors leave the module untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import random_arguments, run_cpu
from modelopt_mlir.passes import lookup_pass
from modelopt_mlir.passes.memory_plan import MemoryPlanPass
from modelopt_mlir.passes.update_in_place import UpdateInPlacePass

# The MLP training step in out-param form, as captured before parameters were updated in place.
OUT_PARAM_EXAMPLE = Path(__file__).resolve().parents[2] / "Inputs" / "mlp_sgd_out_params.mlir"

# A training step in out-param form: y = x @ w, loss = sum(y * y), g = x^T @ 2y,
# new_w = w - 0.1 g. GRADIENT names the buffer the gradient is accumulated in.
STEP = """
#map = affine_map<(d0, d1) -> (d0, d1)>
#to_scalar = affine_map<(d0, d1) -> ()>
func.func @step(%w: memref<8x4xf32> {modelopt.kind = "param", modelopt.name = "w"},
                %x: memref<6x8xf32> {modelopt.kind = "input", modelopt.name = "x"},
                %loss: memref<f32> {modelopt.kind = "output", modelopt.name = "loss"},
                %new_w: memref<8x4xf32> {modelopt.kind = "output", modelopt.name = "new.w",
                                         modelopt.updates = 0 : i64}) {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %lr = arith.constant 0.1 : f32
  %y = memref.alloc() : memref<6x4xf32>
  linalg.fill ins(%zero : f32) outs(%y : memref<6x4xf32>)
  linalg.matmul ins(%x, %w : memref<6x8xf32>, memref<8x4xf32>) outs(%y : memref<6x4xf32>)
  linalg.fill ins(%zero : f32) outs(%loss : memref<f32>)
  linalg.generic {indexing_maps = [#map, #to_scalar],
                  iterator_types = ["reduction", "reduction"]}
      ins(%y : memref<6x4xf32>) outs(%loss : memref<f32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %sum = arith.addf %sq, %acc : f32
    linalg.yield %sum : f32
  }
  %xt = memref.alloc() : memref<8x6xf32>
  linalg.transpose ins(%x : memref<6x8xf32>) outs(%xt : memref<8x6xf32>) permutation = [1, 0]
  %dy = memref.alloc() : memref<6x4xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<6x4xf32>) outs(%dy : memref<6x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.mulf %v, %two : f32
    linalg.yield %d : f32
  }
  ALLOC_GRADIENT
  linalg.fill ins(%zero : f32) outs(GRADIENT : memref<8x4xf32>)
  linalg.matmul ins(%xt, %dy : memref<8x6xf32>, memref<6x4xf32>)
                outs(GRADIENT : memref<8x4xf32>)
  linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%w, GRADIENT : memref<8x4xf32>, memref<8x4xf32>) outs(%new_w : memref<8x4xf32>) {
  ^bb0(%p: f32, %g: f32, %o: f32):
    %step = arith.mulf %g, %lr : f32
    %next = arith.subf %p, %step : f32
    linalg.yield %next : f32
  }
  return
}
"""

# The gradient in a buffer of its own: the last op reads w and writes its new value elementwise.
IN_PLACE = STEP.replace("ALLOC_GRADIENT", "%grad = memref.alloc() : memref<8x4xf32>").replace(
    "GRADIENT", "%grad"
)
# The gradient accumulated in the out-param (what bufferization produces): the new value's
# buffer is written before the last read of w, so the update keeps a copy.
KEEPS_COPY = STEP.replace("ALLOC_GRADIENT", "").replace("GRADIENT", "%new_w")


def _convert(text: str) -> tuple[str, DiagnosticEngine]:
    """update-in-place then memory-plan, as text."""
    diagnostics = DiagnosticEngine()
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        UpdateInPlacePass().apply(module, diagnostics)
        module.operation.verify()
        MemoryPlanPass().apply(module, diagnostics)
        module.operation.verify()
        return str(module), diagnostics


def test_registered() -> None:
    assert lookup_pass("update-in-place") is UpdateInPlacePass


@pytest.mark.parametrize(
    ("text", "keeps_copy"), [(IN_PLACE, False), (KEEPS_COPY, True)], ids=["in-place", "copy"]
)
def test_argument_gets_the_out_param_value(text: str, keeps_copy: bool) -> None:
    converted, diagnostics = _convert(text)
    remarks = [d.message for d in diagnostics.diagnostics if d.severity == "remark"]
    assert bool(remarks) == keeps_copy, remarks
    assert "modelopt.updates" not in converted
    assert "modelopt.updated" in converted
    assert ("memref.copy" in converted) == keeps_copy
    # The reference runs the out-param form; the converted function lost argument 3.
    args = random_arguments(text, "step", seed=0)
    reference = run_cpu(text, "step", [a.copy() for a in args])
    after = run_cpu(converted, "step", [a.copy() for a in args[:3]])
    np.testing.assert_array_equal(after[0], reference[3])
    np.testing.assert_array_equal(after[2], reference[2])
    np.testing.assert_array_equal(after[1], args[1])
    assert not np.array_equal(after[0], args[0])


def test_both_forms_agree() -> None:
    # Same arithmetic, different buffers: the two conversions give the same new w.
    args = random_arguments(IN_PLACE, "step", seed=1)
    in_place = run_cpu(_convert(IN_PLACE)[0], "step", [a.copy() for a in args[:3]])
    copied = run_cpu(_convert(KEEPS_COPY)[0], "step", [a.copy() for a in args[:3]])
    np.testing.assert_array_equal(in_place[0], copied[0])


def test_error_leaves_every_function_untouched() -> None:
    wrong_shape = """
func.func @bad(%w: memref<4xf32>, %new_w: memref<8xf32> {modelopt.updates = 0 : i64}) {
  return
}
"""
    diagnostics = DiagnosticEngine()
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(IN_PLACE + wrong_shape)
        before = str(module)
        with pytest.raises(PassFailure):
            UpdateInPlacePass().apply(module, diagnostics)
        assert str(module) == before
    errors = [d.message for d in diagnostics.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].startswith("tied output of the wrong shape")


def test_mlp_sgd_example_in_place() -> None:
    # The MLP step as captured before in-place state (out-param form), each new parameter's
    # out-param marked with the argument it updates: every parameter after the step equals the
    # out-param's value.
    meta = json.loads((OUT_PARAM_EXAMPLE.with_suffix(".json")).read_text())
    index_of = {arg["name"]: i for i, arg in enumerate(meta["args"])}
    updates = {
        i: index_of[arg["name"].removeprefix("new.")]
        for i, arg in enumerate(meta["args"])
        if arg["kind"] == "output" and arg["name"].startswith("new.")
    }
    int_ranges = {i: tuple(a["int_range"]) for i, a in enumerate(meta["args"]) if "int_range" in a}
    func_name = meta["func"]
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(OUT_PARAM_EXAMPLE.read_text())
        func = next(
            op.operation
            for op in module.body.operations
            if op.operation.name == "func.func"
            and ir.StringAttr(op.attributes["sym_name"]).value == func_name
        )
        i64 = ir.IntegerType.get_signless(64)
        func.attributes["arg_attrs"] = ir.ArrayAttr.get(
            [
                ir.DictAttr.get(
                    {"modelopt.updates": ir.IntegerAttr.get(i64, updates[i])}
                    if i in updates
                    else {}
                )
                for i in range(len(meta["args"]))
            ]
        )
        marked = str(module)
    converted, _ = _convert(marked)
    args = random_arguments(marked, func_name, seed=0, int_ranges=int_ranges)
    reference = run_cpu(marked, func_name, [a.copy() for a in args])
    kept = [i for i in range(len(args)) if i not in updates]
    after = run_cpu(converted, func_name, [args[i].copy() for i in kept])
    position = {old: new for new, old in enumerate(kept)}
    for out, target in updates.items():
        np.testing.assert_array_equal(after[position[target]], reference[out])
    loss = index_of["loss"]
    np.testing.assert_array_equal(after[position[loss]], reference[loss])
