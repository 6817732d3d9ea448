"""Inference capture holds no buffer eager PyTorch never holds: no float64 statistics, no copied
transposed weights, padded convolutions chunked where padding dominates (frontend.decompositions).

The decompositions are checked against the aten ops they replace on real tensors (float32,
rtol 1e-5 against the op's own result), and the MobileNet-style zoo model end to end: captured,
bufferized, planned and run on the CPU against eager PyTorch (``PlanResult.verify``).
"""

from __future__ import annotations

import re

import pytest
import torch

from modelopt_mlir.frontend import decompositions as decomp
from modelopt_mlir.frontend.capture import capture_inference
from modelopt_mlir.zoo import ZOO

aten = torch.ops.aten


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def mobilenet_inference():
    built = ZOO["mobilenet"].build()
    return built, capture_inference(built.model, built.example_inputs)


def test_mobilenet_inference_ir_has_no_float64(mobilenet_inference) -> None:
    _, captured = mobilenet_inference
    assert "xf64>" not in captured.module_text
    assert "var_mean" not in str(captured.graph.graph)


def test_mobilenet_depthwise_convolutions_are_not_padded_whole(mobilenet_inference) -> None:
    """The two depthwise convolutions (8x8 maps, 64 channels) run in chunks: no buffer holds the
    whole padded input ``4x64x10x10``."""
    _, captured = mobilenet_inference
    assert "4x64x10x10xf32" not in captured.module_text
    assert "linalg.depthwise_conv_2d_nchw_chw" in captured.module_text


def test_mobilenet_inference_plan_verifies() -> None:
    from modelopt_mlir.api import plan

    built = ZOO["mobilenet"].build()
    result = plan(built.model, built.example_inputs, time_limit=5, progress=False)
    errors = result.verify()  # raises VerificationError if any output is off
    assert errors and all(e.ok for e in errors)


def test_linear_layers_copy_no_transposed_weight() -> None:
    built = ZOO["mlp"].build()
    captured = capture_inference(built.model, built.example_inputs)
    assert "linalg.transpose" not in captured.module_text
    assert "linalg.conv_2d_nchw_fchw" in captured.module_text
    # The bias initialises the output: no elementwise add of a broadcast bias after the product.
    assert not re.search(r"linalg\.generic.*ins\(%\w+, %arg1 : memref<8x64", captured.module_text)


# ----------------------------------------------------------------------------------------------
# Each decomposition against the aten op it replaces


def test_layer_norm_matches_aten() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16) * 3 + 2
    weight, bias = torch.randn(16), torch.randn(16)
    got = decomp.native_layer_norm(x, [16], weight, bias, 1e-5)
    want = aten.native_layer_norm.default(x, [16], weight, bias, 1e-5)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        _close(g, w)
    got = decomp.native_layer_norm(x, [5, 16], None, None, 1e-5)
    want = aten.native_layer_norm.default(x, [5, 16], None, None, 1e-5)
    for g, w in zip(got, want, strict=True):
        _close(g, w)


def test_group_norm_matches_aten() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 12, 5, 3) * 2 - 1
    weight, bias = torch.randn(12), torch.randn(12)
    got = decomp.native_group_norm(x, weight, bias, 2, 12, 15, 4, 1e-5)
    want = aten.native_group_norm.default(x, weight, bias, 2, 12, 15, 4, 1e-5)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        _close(g, w)
    got = decomp.native_group_norm(x, None, None, 2, 12, 15, 3, 1e-5)
    want = aten.native_group_norm.default(x, None, None, 2, 12, 15, 3, 1e-5)
    for g, w in zip(got, want, strict=True):
        _close(g, w)


def test_eval_batch_norm_matches_aten() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4, 4)
    weight, bias = torch.randn(6), torch.randn(6)
    mean, var = torch.randn(6), torch.rand(6) + 0.5
    got = decomp.native_batch_norm_no_training(x, weight, bias, mean, var, 0.1, 1e-5)
    want = aten._native_batch_norm_legit_no_training.default(x, weight, bias, mean, var, 0.1, 1e-5)
    _close(got[0], want[0])


@pytest.mark.parametrize(("dim", "correction", "keepdim"), [([1, 2], 0, True), (1, 1, False)])
def test_var_mean_matches_aten(dim, correction, keepdim) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5) + 10
    got_var, got_mean = decomp.var_mean_correction(x, dim, correction=correction, keepdim=keepdim)
    want_var, want_mean = aten.var_mean.correction(x, dim, correction=correction, keepdim=keepdim)
    _close(got_var, want_var)
    _close(got_mean, want_mean)
    _close(decomp.var_correction(x, dim, correction=correction, keepdim=keepdim), want_var)


def test_matrix_products_with_a_transposed_weight() -> None:
    torch.manual_seed(0)
    x, weight, bias = torch.randn(6, 8), torch.randn(5, 8), torch.randn(5)
    _close(decomp.mm(x, weight.t()), x @ weight.t())
    _close(decomp.addmm(bias, x, weight.t()), torch.addmm(bias, x, weight.t()))
    _close(
        decomp.addmm(bias, x, weight.t(), beta=0.5, alpha=2.0),
        torch.addmm(bias, x, weight.t(), beta=0.5, alpha=2.0),
    )
    # A strided left operand (the class token x[:, 0]) is viewed, not copied.
    tokens = torch.randn(6, 3, 8)
    _close(decomp.mm(tokens[:, 0], weight.t()), tokens[:, 0] @ weight.t())
    # A contiguous right operand (transformers' Conv1D) stays a matmul.
    assert decomp.mm(x, weight.t().contiguous()) is NotImplemented
    _close(decomp.addmm(bias, x, weight.t().contiguous()), torch.addmm(bias, x, weight.t()))


@pytest.mark.parametrize(
    ("shape", "weight_shape", "stride", "groups"),
    [
        ((4, 64, 8, 8), (64, 1, 3, 3), 1, 64),  # depthwise, small map: chunked
        ((4, 64, 8, 8), (128, 1, 3, 3), 2, 64),  # channel multiplier 2, stride 2
        ((2, 8, 6, 6), (8, 4, 3, 3), 1, 2),  # grouped
    ],
)
def test_chunked_padded_convolution_matches_aten(shape, weight_shape, stride, groups) -> None:
    torch.manual_seed(0)
    x, weight, bias = torch.randn(shape), torch.randn(weight_shape), torch.randn(weight_shape[0])
    args = ([stride, stride], [1, 1], [1, 1], False, [0, 0], groups)
    want = aten.convolution.default(x, weight, bias, *args)
    got = decomp.convolution(x, weight, bias, *args)
    if shape == (2, 8, 6, 6):
        assert got is NotImplemented  # two groups cannot spread the padding thin enough
        return
    assert decomp._conv_chunks(x, weight, [stride] * 2, [1, 1], [1, 1], groups) > 1
    _close(got, want)


def test_large_feature_maps_are_not_chunked() -> None:
    """Padding 56x56 to 58x58 adds 7%: chunking would hold more (x + out + a chunk) than the
    whole padded copy does."""
    x, weight = torch.empty(1, 32, 56, 56), torch.empty(32, 1, 3, 3)
    assert decomp._conv_chunks(x, weight, [1, 1], [1, 1], [1, 1], 32) == 1
