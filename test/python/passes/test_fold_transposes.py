"""fold-transposes in the capture: matrix products read transposed operands in place. The folded
step computes bit for bit what the unfolded one does (same loops, same order of the reduction),
with fewer transposed copies."""

from __future__ import annotations

import numpy as np
import torch

from modelopt_mlir.frontend.capture import capture_training_step
from modelopt_mlir.frontend.optimizer import OptimizerConfig
from modelopt_mlir.lowering.cpu import run_cpu
from modelopt_mlir.passes import fold_transposes as fold_module
from modelopt_mlir.zoo import SelfAttention


class Attention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = SelfAttention(16, 2)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attn(x).mean(1))


def _capture(monkeypatch, fold: bool):
    if not fold:
        monkeypatch.setattr(fold_module, "fold_transposes", lambda module: 0)
    torch.manual_seed(0)
    model = Attention()
    inputs = [torch.randn(2, 5, 16)]
    targets = torch.tensor([0, 2])
    captured = capture_training_step(
        model,
        inputs,
        targets,
        torch.nn.functional.cross_entropy,
        OptimizerConfig(kind="adam", lr=1e-3),
    )
    text = captured.module_text
    monkeypatch.undo()
    args = captured.arguments_from(model, None, inputs, targets)
    return text, captured.results_to_torch(run_cpu(text, "main", args))


def test_folded_step_is_bit_identical_with_fewer_transposes(monkeypatch) -> None:
    plain_text, plain = _capture(monkeypatch, fold=False)
    folded_text, folded = _capture(monkeypatch, fold=True)
    assert folded_text.count("linalg.transpose") < plain_text.count("linalg.transpose")
    assert "linalg.generic" in folded_text
    assert list(plain) == list(folded)
    for name in plain:
        np.testing.assert_array_equal(folded[name].numpy(), plain[name].numpy(), err_msg=name)


def test_pass_counts_folds_and_keeps_needed_copies() -> None:
    from torch_mlir import ir

    from modelopt_mlir.ir_context import make_context

    text = """
    func.func @f(%x: tensor<4x8xf32>, %g: tensor<4x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty() : tensor<8x4xf32>
      %xt = linalg.transpose ins(%x : tensor<4x8xf32>) outs(%e : tensor<8x4xf32>) permutation = [1, 0]
      %gt = linalg.transpose ins(%g : tensor<4x8xf32>) outs(%e : tensor<8x4xf32>) permutation = [1, 0]
      %e2 = tensor.empty() : tensor<8x8xf32>
      %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x8xf32>) -> tensor<8x8xf32>
      %w = linalg.matmul ins(%xt, %g : tensor<8x4xf32>, tensor<4x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
      %v = linalg.matmul ins(%gt, %x : tensor<8x4xf32>, tensor<4x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
      %u = arith.constant 1.0 : f32
      %keep = linalg.fill ins(%u : f32) outs(%gt : tensor<8x4xf32>) -> tensor<8x4xf32>
      return %w, %v : tensor<8x8xf32>, tensor<8x8xf32>
    }
    """
    with make_context():
        module = ir.Module.parse(text)
        assert fold_module.fold_transposes(module) == 1  # %gt is also a fill's destination
        assert module.operation.verify()
        printed = str(module)
    assert printed.count("linalg.transpose") == 1 and printed.count("linalg.matmul") == 1


def test_a_fold_that_keeps_a_tensor_alive_makes_an_earlier_slice_fold_worth_it() -> None:
    """%t0 reads a slice of %r, and folding it alone would keep all of %r alive to the late
    product instead of the half-size copy: turned down. %t1 transposes all of %r and folds (the
    same bytes, held no longer); its product now reads %r late, so %r lives that long anyway and
    %t0 is tried again and folded."""
    from torch_mlir import ir

    from modelopt_mlir.ir_context import make_context

    spacers = "\n".join(f"      %c{i} = arith.constant {i}.0 : f32" for i in range(8))
    text = f"""
    func.func @f(%b: tensor<4x8xf32>, %c: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {{
      %zero = arith.constant 0.0 : f32
      %e88 = tensor.empty() : tensor<8x8xf32>
      %r = linalg.fill ins(%zero : f32) outs(%e88 : tensor<8x8xf32>) -> tensor<8x8xf32>
      %s0 = tensor.extract_slice %r[0, 0] [4, 8] [1, 1] : tensor<8x8xf32> to tensor<4x8xf32>
      %e84 = tensor.empty() : tensor<8x4xf32>
      %t0 = linalg.transpose ins(%s0 : tensor<4x8xf32>) outs(%e84 : tensor<8x4xf32>) permutation = [1, 0]
      %t1 = linalg.transpose ins(%r : tensor<8x8xf32>) outs(%e88 : tensor<8x8xf32>) permutation = [1, 0]
{spacers}
      %acc = linalg.fill ins(%zero : f32) outs(%e88 : tensor<8x8xf32>) -> tensor<8x8xf32>
      %m0 = linalg.matmul ins(%t0, %b : tensor<8x4xf32>, tensor<4x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
      %m1 = linalg.matmul ins(%t1, %c : tensor<8x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
      return %m0, %m1 : tensor<8x8xf32>, tensor<8x8xf32>
    }}
    """
    with make_context():
        module = ir.Module.parse(text)
        assert fold_module.fold_transposes(module) == 2
        assert module.operation.verify()
        printed = str(module)
    assert "linalg.transpose" not in printed and "linalg.matmul" not in printed
