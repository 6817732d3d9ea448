"""GroupNorm backward (frontend.decompositions.native_group_norm_backward): per-channel sums as
batched dot products and the input gradient as ``x * c2 + c3`` then ``go * c1 + t``, so that no
full-size temporary outlives one step. The capture reaches it because ``torch.func.grad`` runs
its backward without ``create_graph`` (capture_environment); with a graph to create, autograd
would pick ``infinitely_differentiable_native_group_norm_backward``, a C++ composite below which
no decomposition applies.
"""

from __future__ import annotations

import pytest
import torch

from modelopt_mlir.frontend import decompositions as decomp
from modelopt_mlir.frontend.capture import capture_training_step
from modelopt_mlir.frontend.optimizer import OptimizerConfig

aten = torch.ops.aten


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(
    ("shape", "groups"), [((4, 64, 8, 8), 4), ((2, 6, 5), 3), ((3, 16, 4, 4, 2), 8), ((2, 4), 2)]
)
def test_matches_the_reference(shape, groups, affine) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    grad_out = torch.randn(shape, dtype=torch.float64)
    n, c = shape[:2]
    inner = x[0, 0].numel()
    weight = torch.randn(c, dtype=torch.float64) if affine else None
    _, mean, rstd = aten.native_group_norm.default(x, weight, None, n, c, inner, groups, 1e-5)
    mask = [True, affine, affine]
    reference = decomp._reference(aten.native_group_norm_backward.default)
    want = reference(grad_out, x, mean, rstd, weight, n, c, inner, groups, mask)
    got = decomp.native_group_norm_backward(
        grad_out, x, mean, rstd, weight, n, c, inner, groups, mask
    )
    for a, b in zip(got, want, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_capture_uses_the_first_order_backward(monkeypatch) -> None:
    calls = []
    original = decomp.native_group_norm_backward

    def spy(*args):
        calls.append(args[0].shape)
        return original(*args)

    monkeypatch.setattr(decomp, "native_group_norm_backward", spy)
    decomp._table.cache_clear()
    try:
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8))
        inputs = [torch.randn(2, 3, 6, 6)]
        step = capture_training_step(
            model,
            inputs,
            torch.randn(2, 8, 4, 4),
            lambda out, target: ((out - target) ** 2).mean(),
            OptimizerConfig(kind="sgd", lr=0.1),
        )
    finally:
        decomp._table.cache_clear()
    assert calls == [torch.Size([2, 8, 4, 4])]
    text = step.graph.print_readable(print_output=False)
    assert "reciprocal" not in text  # the double-differentiable composite divides by the count
