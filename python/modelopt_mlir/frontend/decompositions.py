"""Decompositions applied while capturing, on top of torch-mlir's table.

Grouped convolution backward (depthwise convolutions in MobileNet-style blocks) fails in
torch-mlir's linalg lowering (a ``tensor.collapse_shape`` rank error), while grouped forward
convolutions and ungrouped backward lower fine. We rewrite the backward of a grouped convolution:

- 2-d depthwise (one input channel per group): per kernel tap, the weight gradient as a strided
  window of the padded input times the output gradient, reduced; the input gradient as the
  output gradient (zero-stuffed for strides) times the tap's weights, padded into place and
  summed. ``kh * kw`` elementwise ops whatever the channel count;
- other grouped convolutions: one ungrouped convolution backward per group, concatenated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch_mlir.extras.fx_decomp_util import get_decomposition_table

aten = torch.ops.aten


def grouped_convolution_backward(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias_sizes: Sequence[int] | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
    output_mask: Sequence[bool],
) -> Any:
    """``aten.convolution_backward`` for ``groups > 1`` in ops that torch-mlir lowers; anything
    else is left to the default (``NotImplemented``)."""
    if groups == 1 or transposed:
        return NotImplemented
    in_per_group = input.shape[1] // groups
    out_per_group = weight.shape[0] // groups
    spatial = list(range(2, grad_output.dim()))
    grad_input = grad_weight = None
    if in_per_group == 1 and input.dim() == 4:
        if output_mask[0]:
            grad_input = _depthwise_input_grad(
                grad_output, input, weight, stride, padding, dilation, groups
            )
        if output_mask[1]:
            grad_weight = _depthwise_weight_grad(
                grad_output, input, weight, stride, padding, dilation, groups
            )
    elif output_mask[0] or output_mask[1]:
        grad_inputs: list[torch.Tensor] = []
        grad_weights: list[torch.Tensor] = []
        for g in range(groups):
            go = aten.slice.Tensor(grad_output, 1, g * out_per_group, (g + 1) * out_per_group)
            x = aten.slice.Tensor(input, 1, g * in_per_group, (g + 1) * in_per_group)
            w = aten.slice.Tensor(weight, 0, g * out_per_group, (g + 1) * out_per_group)
            gi, gw, _ = aten.convolution_backward.default(
                go,
                x,
                w,
                None,
                stride,
                padding,
                dilation,
                False,
                output_padding,
                1,
                [output_mask[0], output_mask[1], False],
            )
            grad_inputs.append(gi)
            grad_weights.append(gw)
        if output_mask[0]:
            grad_input = aten.cat.default(grad_inputs, 1)
        if output_mask[1]:
            grad_weight = aten.cat.default(grad_weights, 0)
    grad_bias = aten.sum.dim_IntList(grad_output, [0, *spatial]) if output_mask[2] else None
    return grad_input, grad_weight, grad_bias


def _depthwise_weight_grad(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """dW[c*m + j, 0, a, b] = sum_{n,y,x} dY[n, c*m + j, y, x] * Xpad[n, c, y*s + a*d, x*s + b*d]
    for a 2-d convolution with one input channel per group (channel multiplier m)."""
    n, channels, out_h, out_w = grad_output.shape
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]
    multiplier = channels // groups
    padded = aten.constant_pad_nd.default(
        input, [padding[1], padding[1], padding[0], padding[0]], 0.0
    )
    if multiplier > 1:
        padded = aten.repeat_interleave.self_int(padded, multiplier, 1)
    taps: list[torch.Tensor] = []
    for a in range(kernel_h):
        for b in range(kernel_w):
            top, left = a * dilation[0], b * dilation[1]
            window = aten.slice.Tensor(padded, 2, top, top + (out_h - 1) * stride[0] + 1, stride[0])
            window = aten.slice.Tensor(
                window, 3, left, left + (out_w - 1) * stride[1] + 1, stride[1]
            )
            taps.append(aten.sum.dim_IntList(aten.mul.Tensor(grad_output, window), [0, 2, 3]))
    stacked = aten.stack.default(taps, 1)
    return aten.view.default(stacked, [channels, 1, kernel_h, kernel_w])


def _depthwise_input_grad(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """dXpad[n, c, y*s + a*d, x*s + b*d] += dY[n, c*m + j, y, x] * W[c*m + j, 0, a, b], then the
    padding cropped off."""
    n, channels, out_h, out_w = grad_output.shape
    height, width = input.shape[2], input.shape[3]
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]
    padded_h, padded_w = height + 2 * padding[0], width + 2 * padding[1]
    stuffed = _zero_stuff(_zero_stuff(grad_output, 3, stride[1]), 2, stride[0])
    span_h, span_w = stuffed.shape[2], stuffed.shape[3]
    total: torch.Tensor | None = None
    for a in range(kernel_h):
        for b in range(kernel_w):
            top, left = a * dilation[0], b * dilation[1]
            tap = aten.slice.Tensor(aten.slice.Tensor(weight, 2, a, a + 1), 3, b, b + 1)
            term = aten.mul.Tensor(stuffed, aten.view.default(tap, [1, channels, 1, 1]))
            # Rows/columns beyond the last window never reach the output: their gradient is 0.
            term = aten.constant_pad_nd.default(
                term, [left, padded_w - left - span_w, top, padded_h - top - span_h], 0.0
            )
            total = term if total is None else aten.add.Tensor(total, term)
    assert total is not None
    multiplier = channels // groups
    if multiplier > 1:
        total = aten.sum.dim_IntList(
            aten.view.default(total, [n, groups, multiplier, padded_h, padded_w]), [2]
        )
    total = aten.slice.Tensor(total, 2, padding[0], padding[0] + height)
    return aten.slice.Tensor(total, 3, padding[1], padding[1] + width)


def _zero_stuff(x: torch.Tensor, dim: int, stride: int) -> torch.Tensor:
    """Insert ``stride - 1`` zeros between neighbours along ``dim`` (no trailing zeros)."""
    if stride == 1:
        return x
    size = x.shape[dim]
    zeros = aten.zeros_like.default(x)
    stacked = aten.stack.default([x] + [zeros] * (stride - 1), dim + 1)
    shape = list(x.shape)
    shape[dim] = size * stride
    return aten.slice.Tensor(aten.view.default(stacked, shape), dim, 0, (size - 1) * stride + 1)


@functools.cache
def _table() -> dict[Any, Callable[..., Any]]:
    table = dict(get_decomposition_table())
    table[aten.convolution_backward.default] = grouped_convolution_backward
    return table


def capture_decompositions() -> dict[Any, Callable[..., Any]]:
    """torch-mlir's decomposition table plus ours (a fresh dict; callers may extend it)."""
    return dict(_table())
