"""clone-shared-fills: every use of a multi-use tensor linalg.fill gets its own fill."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.frontend.bufferize import bufferize
from modelopt_mlir.frontend.importer import import_to_linalg
from modelopt_mlir.passes import lookup_pass
from modelopt_mlir.passes.clone_shared_fills import CloneSharedFillsPass
from modelopt_mlir.testing.captures import capture_sgd_step

SHARED_FILL = """
func.func @two_matmuls(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>)
    -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x4xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%a, %b : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m2 = linalg.matmul ins(%b, %a : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %m1, %m2 : tensor<4x4xf32>, tensor<4x4xf32>
}
"""

NESTED_USE = """
func.func @nested(%a: tensor<4x4xf32>, %c: i1) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x4xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%a, %a : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m2 = scf.if %c -> tensor<4x4xf32> {
    %m = linalg.matmul ins(%a, %m1 : tensor<4x4xf32>, tensor<4x4xf32>)
                       outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
    scf.yield %m : tensor<4x4xf32>
  } else {
    scf.yield %fill : tensor<4x4xf32>
  }
  return %m1, %m2 : tensor<4x4xf32>, tensor<4x4xf32>
}
"""


def _ops(module: ir.Module, name: str) -> list[ir.Operation]:
    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == name:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _apply(module: ir.Module) -> DiagnosticEngine:
    diagnostics = DiagnosticEngine()
    with module.context:
        CloneSharedFillsPass().apply(module, diagnostics)
    return diagnostics


def _parse(text: str) -> ir.Module:
    with ir.Context():
        return ir.Module.parse(text)


def _check_one_fill_per_use(module: ir.Module, expected_fills: int) -> list[ir.Operation]:
    assert module.operation.verify()
    fills = _ops(module, "linalg.fill")
    assert len(fills) == expected_fills
    for fill in fills:
        (use,) = fill.results[0].uses
        # The fill sits in its user's block, before it.
        assert fill.operation.block == use.owner.operation.block
        assert fill.operation.is_before_in_block(use.owner.operation)
        init = fill.operands[1].owner
        assert init.name == "tensor.empty"
        assert len(list(init.results[0].uses)) == 1
    assert len(_ops(module, "tensor.empty")) == expected_fills
    return fills


def test_each_use_gets_its_own_fill() -> None:
    module = _parse(SHARED_FILL)
    diagnostics = _apply(module)
    assert not diagnostics.diagnostics
    fills = _check_one_fill_per_use(module, 2)
    matmuls = _ops(module, "linalg.matmul")
    assert [m.operands[2].owner for m in matmuls] == fills


def test_nested_uses_get_a_fill_in_their_region() -> None:
    module = _parse(NESTED_USE)
    _apply(module)
    fills = _check_one_fill_per_use(module, 3)
    parents = sorted(fill.parent.name for fill in fills)
    assert parents == ["func.func", "scf.if", "scf.if"]


def test_single_use_fill_is_untouched() -> None:
    text = """
    func.func @one(%a: tensor<4x4xf32>) -> tensor<4x4xf32> {
      %zero = arith.constant 0.0 : f32
      %empty = tensor.empty() : tensor<4x4xf32>
      %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
      %m = linalg.matmul ins(%a, %a : tensor<4x4xf32>, tensor<4x4xf32>)
                         outs(%fill : tensor<4x4xf32>) -> tensor<4x4xf32>
      return %m : tensor<4x4xf32>
    }
    """
    module = _parse(text)
    before = str(module)
    _apply(module)
    assert str(module) == before


def test_registered_by_name() -> None:
    assert lookup_pass("clone-shared-fills") is CloneSharedFillsPass


def _copies(module: ir.Module) -> int:
    return len(_ops(module, "memref.copy"))


def test_removes_copies_on_hand_written_module() -> None:
    without = bufferize(_parse(SHARED_FILL), clone_fills=False)
    with_clones = bufferize(_parse(SHARED_FILL), clone_fills=True)
    assert with_clones.operation.verify()
    assert _copies(with_clones) < _copies(without)
    assert _copies(with_clones) == 0


@pytest.fixture(scope="module")
def captured_mlp():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    )
    x = torch.randn(4, 16)
    y = torch.randint(0, 4, (4,))
    return capture_sgd_step(
        model, [x], y, nn.functional.cross_entropy, lr=0.1, int_ranges={"target": (0, 4)}
    )


def test_fewer_copies_on_captured_training_step(captured_mlp) -> None:  # type: ignore[no-untyped-def]
    without = bufferize(import_to_linalg(captured_mlp), clone_fills=False)
    with_clones = bufferize(import_to_linalg(captured_mlp), clone_fills=True)
    assert with_clones.operation.verify()
    assert _copies(with_clones) < _copies(without)
