"""Decompositions applied while capturing, on top of torch-mlir's table.

Convolution backward (``aten.convolution_backward``, 2-d, not transposed). Grouped convolution
backward (depthwise convolutions in MobileNet-style blocks) fails in torch-mlir's linalg lowering
(a ``tensor.collapse_shape`` rank error), and torch-mlir's ungrouped backward holds buffers
eager never holds (the weight gradient per sample, ``N`` times the weight, and a zero-stuffed,
padded copy of the whole output gradient for strided convolutions). We write both as forward
convolutions, which torch-mlir lowers well:

- input gradient (ungrouped and depthwise): one convolution of the output gradient with the
  spatially flipped (and, ungrouped, transposed) kernel, padded by ``d * (k - 1) - p``; strided
  convolutions zero-stuff and pad the output gradient per chunk of samples (ungrouped) or groups
  (depthwise), each convolved into its slice of the input gradient
  (:func:`_input_grad_by_conv`);
- ungrouped weight gradient: per sample, a convolution of ``X[n]`` viewed ``[C_in, 1, H, W]``
  with ``dY[n]`` viewed ``[C_out, 1, oh, ow]`` as its kernel (stride and dilation swap roles),
  summed over samples (:func:`_weight_grad_by_conv`): no activation copied whole;
- depthwise weight gradient: one grouped convolution of ``X`` viewed ``[1, N*C, H, W]`` with
  ``dY`` viewed ``[N*C*m, 1, oh, ow]``, summed over samples
  (:func:`_depthwise_weight_grad_by_conv`), computed before the input gradient so that ``X``,
  read last there, is freed before the input gradient is allocated;
- other grouped convolutions: one ungrouped convolution backward per group, concatenated.

The rest keep the captured graph from holding buffers eager PyTorch never holds (every aten op
becomes its own linalg op writing a whole buffer; nothing is fused):

- matrix products against a transposed contiguous matrix (``x @ w.t()`` in every ``nn.Linear``):
  torch-mlir copies the transposed weight (``linalg.transpose``) before ``linalg.matmul``. We
  compute them as a 1x1 convolution of ``x`` viewed ``[M, K, 1, 1]`` with ``w`` viewed
  ``[N, K, 1, 1]``: no copy of the weight, and a bias initialises the output instead of taking
  one more full-size add;
- padded convolutions on small feature maps: torch-mlir copies the whole input into a padded
  buffer first; where that copy dominates (the padding of an 8x8 map is over half its size) we
  convolve in chunks of groups or samples, each padded on its own (:func:`_conv_chunks`);
- ``addmm`` without the ``alpha * mm`` full-size multiply by 1;
- LayerNorm and GroupNorm: the reference decompositions go through ``var_mean``, which torch-mlir
  computes in float64 (a float64 copy of the whole input, twice the activation). We keep the
  input dtype: mean by a reduction, ``d = x - mean``, the sum of squares as a batched dot product
  of ``d`` with itself (a reduction with no full-size temporary), and the output computed from
  ``d`` in the input's shape, so that reuse-dying-inputs can write each full-size step over the
  one before;
- GroupNorm backward: the per-channel sums of ``go * x`` and ``go`` as reductions, and the input
  gradient as ``x * c2 + c3`` then ``go * c1 + t``, so no full-size temporary outlives one step
  (the reference holds ``go * x`` and two full-size products at once);
- BatchNorm in eval mode: ``x * scale + shift``, two full-size passes instead of four;
- SiLU backward: the sigmoid recomputed over a flat view of the input, so that CSE does not
  merge it with the forward's sigmoid and keep that full-size buffer alive from the forward to
  the backward (eager saves only the input);
- exact GELU backward: left whole, one elementwise op in torch-mlir, instead of the
  reference's ten full-size passes;
- tanh GELU: PyTorch's reference formula, forward and backward (torch-mlir's forward uses
  ``kBeta = 0.797724`` for ``sqrt(2 / pi)``, 5e-5 off eager); the elementwise fusion after
  import makes each one op again;
- ``var``/``var_mean`` elsewhere: two passes in the input dtype instead of torch-mlir's float64.
"""

from __future__ import annotations

import functools
import math
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
    """``aten.convolution_backward`` (2-d, grouped or not) in forward convolutions that torch-mlir
    lowers well; anything else (transposed, other ranks) is left to the default
    (``NotImplemented``)."""
    if transposed:
        return NotImplemented
    if groups == 1:
        return _convolution_backward_2d(
            grad_output, input, weight, stride, padding, dilation, output_mask
        )
    in_per_group = input.shape[1] // groups
    out_per_group = weight.shape[0] // groups
    spatial = list(range(2, grad_output.dim()))
    grad_input = grad_weight = None
    if in_per_group == 1 and input.dim() == 4:
        # The weight gradient first: it is the input's last use, so the input can be freed
        # before the input gradient (as large) is allocated.
        if output_mask[1]:
            grad_weight = _depthwise_weight_grad_by_conv(
                grad_output, input, weight, stride, padding, dilation, groups
            )
        if output_mask[0]:
            grad_input = _input_grad_by_conv(
                grad_output, input, weight, stride, padding, dilation, groups
            )
            if grad_input is None:
                grad_input = _depthwise_input_grad(
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


def _convolution_backward_2d(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_mask: Sequence[bool],
) -> Any:
    """Ungrouped 2-d ``aten.convolution_backward`` (floating point; anything else is left to
    torch-mlir). torch-mlir computes the weight gradient per sample (``[C_in, N * C_out, kh',
    kw']``, ``N`` times the weight and over-sized windows, then a transposed copy and a sum over
    ``N``), and the input gradient of a strided convolution from a zero-stuffed, padded copy of
    the whole output gradient (several times the input gradient on small maps). Here:

    - weight gradient: one convolution of the input viewed ``[C_in, N, H, W]`` with the output
      gradient viewed ``[C_out, N, oh, ow]`` as kernel (stride and dilation swap roles), which
      reduces over the samples itself: ``[C_in, C_out, kh, kw]``, transposed (weight-sized);
    - input gradient: :func:`_input_grad_by_conv` (strided: stuffed and padded per sample)."""
    if input.dim() != 4 or not input.dtype.is_floating_point:
        return NotImplemented
    if (
        tuple(weight.shape[2:]) == (1, 1)
        and tuple(stride) == (1, 1)
        and tuple(padding) == (0, 0)
        and tuple(dilation) == (1, 1)
    ):
        # Linear layers become 1x1 convolutions (see mm): torch-mlir's own backward is two
        # matrix products there, while ours would copy the weight and both operands transposed
        # (GPT-2 small's lm_head: a 154 MB weight and a 206 MB logits gradient).
        return NotImplemented
    grad_input = grad_weight = grad_bias = None
    if output_mask[0]:
        grad_input = _input_grad_by_conv(grad_output, input, weight, stride, padding, dilation, 1)
        if grad_input is None:
            return NotImplemented
    if output_mask[1]:
        grad_weight = _weight_grad_by_conv(grad_output, input, weight, stride, padding, dilation)
    if output_mask[2]:
        grad_bias = aten.sum.dim_IntList(grad_output, [0, 2, 3])
    return grad_input, grad_weight, grad_bias


def _weight_grad_by_conv(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> torch.Tensor:
    """Ungrouped 2-d weight gradient ``dW[o, i, a, b] = sum_n sum_{y,x} dY[n, o, y, x] *
    Xpad[n, i, a*d + y*s, b*d + x*s]``: a convolution (stride and dilation swapping roles) of
    the input viewed ``[C_in, N, H, W]`` with the output gradient viewed ``[C_out, N, oh, ow]``
    gives ``[C_in, C_out, kh, kw]``, reduced over the samples. Up to ``_MAX_CONV_CHUNKS`` samples
    it runs per sample on free views (``X[n]`` as ``[C_in, 1, H, W]``, padded on its own, and
    ``dY[n]`` as ``[C_out, 1, oh, ow]``) and the terms are summed, so no activation is copied
    whole; beyond, the transposed copies are made."""
    n, channels, out_h, out_w = grad_output.shape
    in_channels, height, width = input.shape[1], input.shape[2], input.shape[3]
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]

    def correlate(x: torch.Tensor, dy: torch.Tensor, pad: Sequence[int]) -> torch.Tensor:
        taps = aten.convolution.default(
            x,
            dy,
            None,
            [dilation[0], dilation[1]],
            pad,
            [stride[0], stride[1]],
            False,
            [0, 0],
            1,
        )
        if taps.shape[2] != kernel_h:
            taps = aten.slice.Tensor(taps, 2, 0, kernel_h)
        if taps.shape[3] != kernel_w:
            taps = aten.slice.Tensor(taps, 3, 0, kernel_w)
        return taps

    if n <= _MAX_CONV_CHUNKS:
        total: torch.Tensor | None = None
        pad = [padding[1], padding[1], padding[0], padding[0]]
        for j in range(n):
            x = aten.view.default(aten.select.int(input, 0, j), [in_channels, 1, height, width])
            if any(padding):
                x = aten.constant_pad_nd.default(x, pad, 0.0)
            dy = aten.view.default(aten.select.int(grad_output, 0, j), [channels, 1, out_h, out_w])
            term = correlate(x, dy, [0, 0])
            total = term if total is None else aten.add.Tensor(total, term)
        assert total is not None
        taps = total
    else:
        taps = correlate(
            aten.permute.default(input, [1, 0, 2, 3]),
            aten.permute.default(grad_output, [1, 0, 2, 3]),
            [padding[0], padding[1]],
        )
    return aten.clone.default(
        aten.permute.default(taps, [1, 0, 2, 3]), memory_format=torch.contiguous_format
    )


def _depthwise_weight_grad_by_conv(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """dW[c*m + j, 0, a, b] = sum_n sum_{y,x} Xpad[n, c, a*d + y*s, b*d + x*s] * dY[n, c*m + j, y, x]
    as one grouped forward convolution over free views: the input ``X`` viewed ``[1, N*C, H, W]``
    (one group per sample and channel), the output gradient viewed ``[N*C*m, 1, oh, ow]`` as its
    kernel (stride and dilation swap roles), then a sum over the samples. No full-size temporary
    but the convolution's own padding of ``X`` (which :func:`convolution` chunks by groups)."""
    n, channels, out_h, out_w = grad_output.shape
    height, width = input.shape[2], input.shape[3]
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]
    flat = aten.view.default(input, [1, n * groups, height, width])
    kernel = aten.view.default(grad_output, [n * channels, 1, out_h, out_w])
    taps = aten.convolution.default(
        flat,
        kernel,
        None,
        [dilation[0], dilation[1]],
        [padding[0], padding[1]],
        [stride[0], stride[1]],
        False,
        [0, 0],
        n * groups,
    )
    if taps.shape[2] != kernel_h:
        taps = aten.slice.Tensor(taps, 2, 0, kernel_h)
    if taps.shape[3] != kernel_w:
        taps = aten.slice.Tensor(taps, 3, 0, kernel_w)
    taps = aten.view.default(taps, [n, channels, kernel_h, kernel_w])
    return aten.view.default(aten.sum.dim_IntList(taps, [0]), [channels, 1, kernel_h, kernel_w])


def _input_grad_by_conv(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor | None:
    """dX as one grouped forward convolution of the output gradient (zero-stuffed for strides)
    with the spatially flipped kernel viewed ``[C, m, kh, kw]`` (one group per input channel,
    its ``m`` output channels reduced), padded by ``d * (k - 1) - p`` on the leading side and
    what reaches the input's size on the trailing side. ``None`` where the padding would be
    negative (padding wider than the kernel's reach)."""
    n, channels, out_h, out_w = grad_output.shape
    height, width = input.shape[2], input.shape[3]
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]
    multiplier = channels // groups
    reach_h, reach_w = dilation[0] * (kernel_h - 1), dilation[1] * (kernel_w - 1)
    span_h, span_w = (out_h - 1) * stride[0] + 1, (out_w - 1) * stride[1] + 1
    lead_h, lead_w = reach_h - padding[0], reach_w - padding[1]
    trail_h, trail_w = height + padding[0] - span_h, width + padding[1] - span_w
    if min(lead_h, lead_w, trail_h, trail_w) < 0:
        return None
    flipped = aten.flip.default(weight, [2, 3])
    if groups == 1:
        kernel = aten.permute.default(flipped, [1, 0, 2, 3])
    else:
        kernel = aten.view.default(flipped, [groups, multiplier, kernel_h, kernel_w])
    if stride[0] == 1 and stride[1] == 1 and lead_h == trail_h and lead_w == trail_w:
        # Symmetric padding: the convolution pads (in chunks where that pays, see
        # :func:`convolution`).
        return aten.convolution.default(
            grad_output,
            kernel,
            None,
            [1, 1],
            [lead_h, lead_w],
            [dilation[0], dilation[1]],
            False,
            [0, 0],
            groups,
        )
    # Strided: a zero-stuffed, padded copy of the whole output gradient would be as large as the
    # input gradient. Stuff and pad it per chunk of groups, each convolved into its slice of one
    # output (as :func:`convolution` does).
    # Chunks of groups (depthwise) or of samples (ungrouped).
    count = groups if groups > 1 else n
    chunks = max(k for k in range(1, min(count, _MAX_CONV_CHUNKS) + 1) if count % k == 0)
    axis = 1 if groups > 1 else 0
    in_step = channels // chunks if groups > 1 else n // chunks
    out_step = groups // chunks if groups > 1 else n // chunks
    pad = [lead_w, trail_w, lead_h, trail_h]
    out: torch.Tensor | None = None
    for j in range(chunks):
        piece = aten.slice.Tensor(grad_output, axis, j * in_step, (j + 1) * in_step)
        piece = _zero_stuff(_zero_stuff(piece, 3, stride[1]), 2, stride[0])
        result = aten.convolution.default(
            aten.constant_pad_nd.default(piece, pad, 0.0),
            aten.slice.Tensor(kernel, 0, j * out_step, (j + 1) * out_step)
            if groups > 1
            else kernel,
            None,
            [1, 1],
            [0, 0],
            [dilation[0], dilation[1]],
            False,
            [0, 0],
            groups // chunks if groups > 1 else 1,
        )
        if out is None:
            out = aten.empty.memory_format(
                list(input.shape), dtype=result.dtype, device=result.device, pin_memory=False
            )
        out = aten.slice_scatter.default(out, result, axis, j * out_step, (j + 1) * out_step)
    return out


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


# ----------------------------------------------------------------------------------------------
# Inference footprint: matrix products, normalisations, variance


# dtypes whose statistics we compute in place; others (float16, bfloat16) keep the reference
# decompositions, which compute the statistics in float32.
_OWN_DTYPES = (torch.float32, torch.float64)


def _is_transposed_matrix(t: torch.Tensor) -> bool:
    """``t`` is the transpose of a contiguous matrix (``w.t()``), and not itself contiguous."""
    return t.dim() == 2 and not t.is_contiguous() and t.stride(0) == 1 and t.stride(1) == t.shape[0]


def _as_conv1x1(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a @ b`` can be a 1x1 convolution without copies: ``a`` a floating ``[M, K]`` matrix
    (any strides: viewing it ``[M, K, 1, 1]`` only appends unit dimensions), ``b`` the transpose
    of a contiguous ``[N, K]`` one."""
    return (
        a.dim() == 2
        and a.dtype.is_floating_point
        and a.dtype == b.dtype
        and _is_transposed_matrix(b)
    )


def _conv1x1_mm(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``a @ b (+ bias)`` for ``b = w.t()``, as ``conv2d(a[M, K, 1, 1], w[N, K, 1, 1], bias)``:
    torch-mlir folds ``w.t().t()`` back to ``w`` and lowers the convolution straight onto the
    weight, where ``aten.mm`` would first copy ``w.t()``."""
    m, k = a.shape
    n = b.shape[1]
    weight = aten.permute.default(b, [1, 0])
    out = aten.convolution.default(
        aten.view.default(a, [m, k, 1, 1]),
        aten.view.default(weight, [n, k, 1, 1]),
        bias,
        [1, 1],
        [0, 0],
        [1, 1],
        False,
        [0, 0],
        1,
    )
    return aten.view.default(out, [m, n])


def mm(a: torch.Tensor, b: torch.Tensor) -> Any:
    """``aten.mm``: a 1x1 convolution when ``b`` is a transposed weight, else left alone."""
    if _as_conv1x1(a, b):
        return _conv1x1_mm(a, b, None)
    return NotImplemented


def addmm(
    bias: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    beta: float = 1,
    alpha: float = 1,
) -> Any:
    """``aten.addmm`` (``nn.Linear`` on 2-d inputs, transformers' Conv1D): ``bias`` folded into a
    1x1 convolution for a transposed weight; otherwise ``mm + bias`` with the multiplies by
    ``alpha``/``beta`` only when they are not 1 (the reference multiplies the whole product by
    ``alpha`` always, one more full-size buffer)."""
    if not (a.dtype.is_floating_point and bias.dtype == a.dtype):
        return _reference(aten.addmm.default)(bias, a, b, beta=beta, alpha=alpha)
    n = b.shape[1]
    if alpha == 1 and beta == 1 and _as_conv1x1(a, b) and tuple(bias.shape) in ((n,), (1, n)):
        return _conv1x1_mm(a, b, aten.view.default(bias, [n]) if bias.dim() == 2 else bias)
    out = aten.mm.default(a, b)
    if alpha != 1:
        out = aten.mul.Tensor(out, alpha)
    if beta == 0:
        return out
    if beta != 1:
        bias = aten.mul.Tensor(bias, beta)
    return aten.add.Tensor(out, bias)


# At most this many chunks per padded convolution (each chunk is five ops).
_MAX_CONV_CHUNKS = 32
# Chunk only where the chunks leave at most this share of what padding adds to the peak.
_CONV_CHUNK_RESIDUE = 0.1


def _conv_chunks(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> int:
    """How many pieces a padded 2-d convolution is computed in (1: whole).

    torch-mlir pads the whole input into a new buffer before ``linalg.conv``, so the convolution
    holds ``x + pad(x)`` and then ``pad(x) + out`` where eager holds ``x + out``. Computed per
    chunk of groups (or, ungrouped, of samples) into slices of one output buffer, it holds
    ``x + out + pad(x) / k``. Padding costs most on small feature maps: 8x8 padded to 10x10 is
    1.56 times the input, 112x112 to 114x114 only 1.04. We take the fewest chunks (a divisor of
    the groups or the batch, at most ``_MAX_CONV_CHUNKS``) that leave at most
    ``_CONV_CHUNK_RESIDUE`` of the padding's cost, and none where no such count exists."""
    n, _, height, width = x.shape
    out_h = (height + 2 * padding[0] - dilation[0] * (weight.shape[2] - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (weight.shape[3] - 1) - 1) // stride[1] + 1
    size = x.element_size()
    x_bytes = x.numel() * size
    padded = n * x.shape[1] * (height + 2 * padding[0]) * (width + 2 * padding[1]) * size
    out_bytes = n * weight.shape[0] * out_h * out_w * size
    whole = max(x_bytes + padded, padded + out_bytes)
    cost = whole - (x_bytes + out_bytes)
    if cost <= 0:
        return 1
    count = groups if groups > 1 else n
    for k in range(2, min(count, _MAX_CONV_CHUNKS) + 1):
        if count % k == 0 and padded / k <= _CONV_CHUNK_RESIDUE * cost:
            return k
    return 1


def convolution(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> Any:
    """A padded 2-d convolution in chunks of groups (or samples) where that lowers the peak
    (:func:`_conv_chunks`): each chunk padded on its own (``constant_pad_nd``), convolved without
    padding, and written into its slice of one output (``slice_scatter`` into an ``empty``, which
    bufferization turns into the convolution writing that slice in place). Anything else is left
    to torch-mlir."""
    if transposed or x.dim() != 4 or not any(padding) or not x.dtype.is_floating_point:
        return NotImplemented
    chunks = _conv_chunks(x, weight, stride, padding, dilation, groups)
    if chunks == 1:
        return NotImplemented
    by_group = groups > 1
    axis = 1 if by_group else 0
    in_step = x.shape[1] // chunks if by_group else x.shape[0] // chunks
    out_step = weight.shape[0] // chunks
    pad = [padding[1], padding[1], padding[0], padding[0]]
    out: torch.Tensor | None = None
    for j in range(chunks):
        piece = aten.slice.Tensor(x, axis, j * in_step, (j + 1) * in_step)
        w, b = weight, bias
        if by_group:
            w = aten.slice.Tensor(weight, 0, j * out_step, (j + 1) * out_step)
            if bias is not None:
                b = aten.slice.Tensor(bias, 0, j * out_step, (j + 1) * out_step)
        result = aten.convolution.default(
            aten.constant_pad_nd.default(piece, pad, 0.0),
            w,
            b,
            stride,
            [0, 0],
            dilation,
            False,
            output_padding,
            groups // chunks if by_group else 1,
        )
        if out is None:
            shape = list(result.shape)
            shape[axis] *= chunks
            out = aten.empty.memory_format(
                shape, dtype=result.dtype, device=result.device, pin_memory=False
            )
        step = result.shape[axis]
        out = aten.slice_scatter.default(out, result, axis, j * step, (j + 1) * step)
    return out


def _sum_of_squares_last(d: torch.Tensor, rows: int, length: int) -> torch.Tensor:
    """``sum(d * d)`` over the last ``length`` elements of each of ``rows`` rows of a contiguous
    ``d``, as ``[rows, 1, 1]``: a batched dot product of each row with itself, a reduction that
    materialises no full-size ``d * d``."""
    flat = aten.view.default(d, [rows, 1, length])
    column = aten.view.default(d, [rows, length, 1])
    return aten.bmm.default(flat, column)


def native_layer_norm(
    input: torch.Tensor,
    normalized_shape: Sequence[int],
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
) -> Any:
    """``aten.native_layer_norm`` in the input's dtype (float32/float64): ``(out, mean, rstd)``
    with ``mean``/``rstd`` shaped ``input.shape[:axis] + [1] * len(normalized_shape)``.

    Full-size buffers: ``d = x - mean``, then ``out`` computed over ``d`` (``* rstd``,
    ``* weight``, ``+ bias``). The variance is ``bmm(d, d) / K``, no ``d * d`` temporary."""
    if input.dtype not in _OWN_DTYPES or not input.is_contiguous():
        return _reference(aten.native_layer_norm.default)(
            input, normalized_shape, weight, bias, eps
        )
    axis = input.dim() - len(normalized_shape)
    length = math.prod(input.shape[axis:])
    rows = math.prod(input.shape[:axis])
    stat_shape = [*input.shape[:axis]] + [1] * len(normalized_shape)
    dims = list(range(axis, input.dim()))
    mean = aten.mean.dim(input, dims, True)
    d = aten.sub.Tensor(input, mean)
    var = aten.div.Tensor(_sum_of_squares_last(d, rows, length), length)
    rstd = aten.rsqrt.default(aten.add.Tensor(aten.view.default(var, stat_shape), eps))
    out = aten.mul.Tensor(d, rstd)
    if weight is not None:
        out = aten.mul.Tensor(out, weight)
    if bias is not None:
        out = aten.add.Tensor(out, bias)
    return out, mean, rstd


def _per_channel(
    stat: torch.Tensor, n: int, g: int, per_group: int, channel_shape: Sequence[int]
) -> torch.Tensor:
    """A GroupNorm statistic per group (``[n, g]``, ``[n, g, 1, 1]``) or per group and channel
    (``[n, g, per_group]``) as a contiguous ``[n, c, 1, ...]``: each group's value repeated for
    its channels."""
    wide = aten.expand.default(aten.view.default(stat, [n, g, -1]), [n, g, per_group])
    return aten.view.default(
        aten.clone.default(wide, memory_format=torch.contiguous_format), channel_shape
    )


def native_group_norm(
    input: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    batch_size: int,
    num_channels: int,
    inner_size: int,
    num_groups: int,
    eps: float,
) -> Any:
    """``aten.native_group_norm`` in the input's dtype (float32/float64): ``(out, mean, rstd)``,
    ``mean``/``rstd`` shaped ``[N, G]``.

    Every full-size tensor keeps the input's shape: ``d = x - mean`` (the group's mean repeated
    per channel), then ``out = d * scale + bias`` with per-(sample, channel)
    ``scale = rstd * weight``, so each can be written over the one before (reuse-dying-inputs)
    and the activation after it over ``out``. The variance is ``bmm(d, d) / K`` (no ``d * d``
    temporary); no float64 copy, no ``as_strided`` gathers."""
    if input.dtype not in _OWN_DTYPES or not input.is_contiguous():
        return _reference(aten.native_group_norm.default)(
            input, weight, bias, batch_size, num_channels, inner_size, num_groups, eps
        )
    n, c, g = batch_size, num_channels, num_groups
    per_group = c // g
    length = per_group * inner_size
    channel_shape = [n, c] + [1] * (input.dim() - 2)

    def per_channel(stat: torch.Tensor) -> torch.Tensor:
        return _per_channel(stat, n, g, per_group, channel_shape)

    grouped = aten.view.default(input, [n, g, per_group, inner_size])
    mean = aten.mean.dim(grouped, [2, 3], True)
    d = aten.sub.Tensor(input, per_channel(mean))
    var = aten.div.Tensor(_sum_of_squares_last(d, n * g, length), length)
    rstd = aten.rsqrt.default(aten.add.Tensor(aten.view.default(var, [n, g, 1, 1]), eps))
    if weight is None:
        scale = per_channel(rstd)
    else:
        scale = aten.view.default(
            aten.mul.Tensor(rstd, aten.view.default(weight, [1, g, per_group, 1])), channel_shape
        )
    out = aten.mul.Tensor(d, scale)
    if bias is not None:
        out = aten.add.Tensor(out, aten.view.default(bias, [1, c] + [1] * (input.dim() - 2)))
    return out, aten.view.default(mean, [n, g]), aten.view.default(rstd, [n, g])


def native_group_norm_backward(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    mean: torch.Tensor,
    rstd: torch.Tensor,
    gamma: torch.Tensor | None,
    batch_size: int,
    num_channels: int,
    inner_size: int,
    num_groups: int,
    output_mask: Sequence[bool],
) -> Any:
    """``aten.native_group_norm_backward`` (float32/float64, contiguous) with no full-size
    temporary beyond the input gradient itself.

    The reference multiplies ``grad_output * input`` at full size only to sum it per channel, and
    builds the input gradient as ``go * c1 + x * c2 + c3``, two full-size products alive at once.
    Here the per-channel sums are batched dot products (``bmm``), and the input gradient is
    ``t = x * c2 + c3`` followed by ``go * c1 + t``, each coefficient per (sample, channel) in the
    input's shape, so every full-size step can be written over a dying input (reuse-dying-inputs):
    the product ``x * c2`` over ``x``, which the backward reads for the last time, ``go * c1`` over
    ``go``. Same formulas as the reference (``torch._decomp``), so the same values up to
    rounding."""
    reference = _reference(aten.native_group_norm_backward.default)
    if (
        input.dtype not in _OWN_DTYPES
        or grad_output.dtype != input.dtype
        or not input.is_contiguous()
        or not grad_output.is_contiguous()
        or input.dim() < 2
    ):
        return reference(
            grad_output,
            input,
            mean,
            rstd,
            gamma,
            batch_size,
            num_channels,
            inner_size,
            num_groups,
            output_mask,
        )
    n, c, g = batch_size, num_channels, num_groups
    per_group = c // g
    channel_shape = [n, c] + [1] * (input.dim() - 2)
    rows = n * c
    # ds[n, c] = sum(go * x), db[n, c] = sum(go): reductions, no full-size product.
    ds = aten.view.default(
        aten.bmm.default(
            aten.view.default(grad_output, [rows, 1, inner_size]),
            aten.view.default(input, [rows, inner_size, 1]),
        ),
        [n, c],
    )
    db = aten.sum.dim_IntList(aten.view.default(grad_output, [n, c, inner_size]), [2])

    d_input = d_gamma = d_bias = None
    if output_mask[0]:
        s = 1.0 / (inner_size * per_group)
        if gamma is not None:
            ds_val = aten.sum.dim_IntList(
                aten.view.default(aten.mul.Tensor(ds, gamma), [n, g, per_group]), [2]
            )
            db_val = aten.sum.dim_IntList(
                aten.view.default(aten.mul.Tensor(db, gamma), [n, g, per_group]), [2]
            )
            c1 = aten.mul.Tensor(
                aten.view.default(rstd, [n, g, 1]), aten.view.default(gamma, [1, g, per_group])
            )
        else:
            ds_val = aten.sum.dim_IntList(aten.view.default(ds, [n, g, per_group]), [2])
            db_val = aten.sum.dim_IntList(aten.view.default(db, [n, g, per_group]), [2])
            c1 = aten.expand.default(aten.view.default(rstd, [n, g, 1]), [n, g, per_group])
        c2 = aten.mul.Tensor(
            aten.mul.Tensor(
                aten.mul.Tensor(
                    aten.mul.Tensor(aten.sub.Tensor(aten.mul.Tensor(db_val, mean), ds_val), rstd),
                    rstd,
                ),
                rstd,
            ),
            s,
        )
        c3 = aten.sub.Tensor(
            aten.mul.Tensor(aten.neg.default(c2), mean),
            aten.mul.Tensor(aten.mul.Tensor(db_val, rstd), s),
        )

        def per_channel(stat: torch.Tensor) -> torch.Tensor:
            return _per_channel(stat, n, g, per_group, channel_shape)

        t = aten.add.Tensor(aten.mul.Tensor(input, per_channel(c2)), per_channel(c3))
        d_input = aten.add.Tensor(aten.mul.Tensor(grad_output, per_channel(c1)), t)
    if output_mask[1]:
        centred = aten.sub.Tensor(
            aten.view.default(ds, [n, g, per_group]),
            aten.mul.Tensor(
                aten.view.default(db, [n, g, per_group]), aten.view.default(mean, [n, g, 1])
            ),
        )
        d_gamma = aten.view.default(
            aten.sum.dim_IntList(aten.mul.Tensor(centred, aten.view.default(rstd, [n, g, 1])), [0]),
            [c],
        )
    if output_mask[2]:
        d_bias = aten.sum.dim_IntList(db, [0])
    return d_input, d_gamma, d_bias


def silu_backward(grad_output: torch.Tensor, input: torch.Tensor) -> Any:
    """``aten.silu_backward``: ``go * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``, as the
    reference, but ``s`` computed over a flat view of ``x``. The forward computes
    ``sigmoid(x)`` too, and CSE (after import) would otherwise merge the two, keeping the
    forward's full-size sigmoid alive until the backward, one activation eager never saves.
    Recomputing it costs one elementwise pass; the same values bit for bit. A non-contiguous
    input (SiLU over a transposed activation) has no flat view: the reference then."""
    if (
        input.dtype not in _OWN_DTYPES
        or grad_output.dtype != input.dtype
        or not input.is_contiguous()
    ):
        return _reference(aten.silu_backward.default)(grad_output, input)
    flat = aten.sigmoid.default(aten.view.default(input, [input.numel()]))
    sigmoid = aten.view.default(flat, list(input.shape))
    # go * s first: it is the sigmoid's second-to-last use, so 1 - s can overwrite it.
    scaled = aten.mul.Tensor(grad_output, sigmoid)
    slope = aten.add.Tensor(aten.mul.Tensor(input, aten.rsub.Scalar(sigmoid, 1)), 1)
    return aten.mul.Tensor(scaled, slope)


def gelu(input: torch.Tensor, approximate: str = "none") -> Any:
    """``aten.gelu``: the tanh approximation as PyTorch's reference,
    ``0.5 * x * (1 + tanh(kBeta * (x + kKappa * x^3)))`` in aten ops (fused back into one
    elementwise op after import). torch-mlir's own lowering uses ``kBeta = 0.797724`` where
    ``sqrt(2 / pi) = 0.7978846``: outputs 5e-5 off eager's. Exact GELU is left whole."""
    if approximate != "tanh" or input.dtype not in _OWN_DTYPES:
        return NotImplemented
    k_beta = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5
    cube = aten.mul.Tensor(aten.mul.Tensor(input, input), input)
    inner = aten.mul.Tensor(aten.add.Tensor(input, aten.mul.Tensor(cube, 0.044715)), k_beta)
    half = aten.mul.Tensor(input, 0.5)
    return aten.mul.Tensor(half, aten.add.Tensor(aten.tanh.default(inner), 1))


def gelu_backward(grad_output: torch.Tensor, input: torch.Tensor, approximate: str = "none") -> Any:
    """``aten.gelu_backward`` (exact GELU, float32/float64) left whole (``NotImplemented``):
    torch-mlir lowers it to one elementwise op reading ``go`` and ``x``, where the reference
    decomposition makes about ten full-size passes and holds two full-size temporaries
    (``cdf`` and ``pdf``) at once. The tanh approximation keeps the reference, fused back into
    one elementwise op after import: torch-mlir's own op for it computes part of it in float64
    and rounds about twice as far from eager (checked on a small conv net)."""
    if approximate != "none" or input.dtype not in _OWN_DTYPES or grad_output.dtype != input.dtype:
        return _reference(aten.gelu_backward.default)(grad_output, input, approximate=approximate)
    return NotImplemented


def native_batch_norm_no_training(
    input: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    momentum: float,
    eps: float,
) -> Any:
    """``aten._native_batch_norm_legit_no_training`` (BatchNorm in eval mode) as
    ``out = x * scale + shift`` with per-channel ``scale = weight / sqrt(var + eps)`` and
    ``shift = bias - mean * scale``: two full-size passes where the reference makes four
    (``- mean``, ``* invstd``, ``* weight``, ``+ bias``)."""
    if input.dtype not in _OWN_DTYPES or running_var.dtype != input.dtype:
        return _reference(aten._native_batch_norm_legit_no_training.default)(
            input, weight, bias, running_mean, running_var, momentum, eps
        )
    shape = [input.shape[1]] + [1] * (input.dim() - 2)
    scale = aten.rsqrt.default(aten.add.Tensor(running_var, eps))
    if weight is not None:
        scale = aten.mul.Tensor(scale, weight)
    shift = aten.neg.default(aten.mul.Tensor(running_mean, scale))
    if bias is not None:
        shift = aten.add.Tensor(shift, bias)
    out = aten.mul.Tensor(input, aten.view.default(scale, shape))
    out = aten.add.Tensor(out, aten.view.default(shift, shape))
    # The saved statistics, as the reference returns them (CPU: none in eval mode).
    if input.device.type == "cpu":
        return out, aten.new_zeros.default(input, [0]), aten.new_zeros.default(input, [0])
    return out, running_mean, aten.rsqrt.default(aten.add.Tensor(running_var, eps))


def _reduced(x: torch.Tensor, dim: Sequence[int] | int | None) -> tuple[list[int], int]:
    if dim is None:
        dims = list(range(x.dim()))
    elif isinstance(dim, int):
        dims = [dim]
    else:
        dims = list(dim) or list(range(x.dim()))
    dims = [d % max(x.dim(), 1) for d in dims]
    return dims, math.prod(x.shape[d] for d in dims)


def var_mean_correction(
    x: torch.Tensor,
    dim: Sequence[int] | int | None = None,
    *,
    correction: float | None = None,
    keepdim: bool = False,
) -> Any:
    """``aten.var_mean.correction`` in the input's dtype (torch-mlir computes it in float64 over
    a float64 copy of ``x``): mean, ``d = x - mean``, ``sum(d * d) / (n - correction)``."""
    if x.dtype not in _OWN_DTYPES:
        return NotImplemented
    dims, count = _reduced(x, dim)
    correction = 1 if correction is None else correction
    mean = aten.mean.dim(x, dims, True)
    d = aten.sub.Tensor(x, mean)
    squares = aten.sum.dim_IntList(aten.mul.Tensor(d, d), dims, keepdim)
    var = aten.div.Tensor(squares, max(count - correction, 0))
    if not keepdim:
        mean = aten.squeeze.dims(mean, dims)
    return var, mean


def var_correction(
    x: torch.Tensor,
    dim: Sequence[int] | int | None = None,
    *,
    correction: float | None = None,
    keepdim: bool = False,
) -> Any:
    """``aten.var.correction`` in the input's dtype (see :func:`var_mean_correction`)."""
    result = var_mean_correction(x, dim, correction=correction, keepdim=keepdim)
    return result if result is NotImplemented else result[0]


def _pair(value: Sequence[int] | int) -> list[int]:
    values = [value] if isinstance(value, int) else list(value)
    return values * 2 if len(values) == 1 else values


def _disjoint_windows(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    kernel_size: Sequence[int] | int,
    stride: Sequence[int] | int,
    padding: Sequence[int] | int,
    dilation: Sequence[int] | int = 1,
) -> tuple[list[int], int, int, int, int] | None:
    """(leading dims, window rows, window columns, kh, kw) of a 2-D pool (1-D pools go through
    2-D) whose windows tile the input without overlap (``stride == kernel_size``, no padding or
    dilation, one pooled value per whole window), for the backward decompositions of our own
    dtypes; None otherwise."""
    kernel = _pair(kernel_size)
    strides = _pair(stride) if (isinstance(stride, int) or len(stride)) else kernel
    if (
        input.dtype not in _OWN_DTYPES
        or grad_output.dtype != input.dtype
        or input.dim() not in (3, 4)
        or strides != kernel
        or any(p != 0 for p in _pair(padding))
        or any(d != 1 for d in _pair(dilation))
    ):
        return None
    height, width = input.shape[-2:]
    kh, kw = kernel
    rows, cols = height // kh, width // kw
    lead = list(input.shape[:-2])
    # ceil_mode only matters where it adds a partial window.
    if list(grad_output.shape) != [*lead, rows, cols]:
        return None
    return lead, rows, cols, kh, kw


def _uncovered_as_zero(grad: torch.Tensor, input: torch.Tensor) -> Any:
    """``grad`` over the windows' rows and columns, padded with 0 to the input's last two sides
    (the rows and columns no window covers)."""
    height, width = input.shape[-2:]
    rows, cols = grad.shape[-2:]
    if rows == height and cols == width:
        return grad
    return aten.constant_pad_nd.default(grad, [0, width - cols, 0, height - rows], 0.0)


def max_pool2d_with_indices_backward(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    kernel_size: Sequence[int] | int,
    stride: Sequence[int] | int,
    padding: Sequence[int] | int,
    dilation: Sequence[int] | int,
    ceil_mode: bool,
    indices: torch.Tensor,
) -> Any:
    """``aten.max_pool2d_with_indices_backward`` (``MaxPool1d``'s too: it pools through 2-D)
    for non-overlapping windows (``stride == kernel_size``, no padding or dilation) as a select:
    each pooled gradient broadcast over its window, kept where the window position's flat index
    equals the saved index, 0 elsewhere and in the rows and columns no window covers.
    torch-mlir lowers the op to a ``tm_tensor.scatter`` fed by an i64 coordinate tensor
    (4 indices per pooled element, 4x the indices eager saves), live at the backward's peak;
    here only a ``Ho x kh x Wo x kw`` table of flat indices, shared by all planes. The
    windows are disjoint, so eager's scatter-add into zeros adds each gradient to 0 once: the
    same values (but ``-0.0`` where eager's ``0 + -0.0`` gives ``+0.0``). Other pools, as the
    op is (torch-mlir's scatter)."""
    windows = _disjoint_windows(grad_output, input, kernel_size, stride, padding, dilation)
    if windows is None or list(indices.shape) != list(grad_output.shape):
        return NotImplemented
    lead, rows, cols, kh, kw = windows
    width = input.shape[-1]
    device = input.device
    row_index = aten.arange.default(rows * kh, dtype=torch.int64, device=device)
    col_index = aten.arange.default(cols * kw, dtype=torch.int64, device=device)
    flat = aten.add.Tensor(
        aten.view.default(aten.mul.Tensor(row_index, width), [rows, kh, 1, 1]),
        aten.view.default(col_index, [1, 1, cols, kw]),
    )
    window = [*lead, rows, 1, cols, 1]
    # reshape, not view: a pool over a transposed tensor (MaxPool1d after x.transpose(1, 2))
    # has non-contiguous gradients and indices; contiguous ones are viewed as before.
    chosen = aten.eq.Tensor(aten.reshape.default(indices, window), flat)
    zero = aten.scalar_tensor.default(0, dtype=input.dtype, device=device)
    grad = aten.where.self(chosen, aten.reshape.default(grad_output, window), zero)
    return _uncovered_as_zero(aten.reshape.default(grad, [*lead, rows * kh, cols * kw]), input)


def avg_pool2d_backward(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    kernel_size: Sequence[int] | int,
    stride: Sequence[int] | int,
    padding: Sequence[int] | int,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> Any:
    """``aten.avg_pool2d_backward`` (``AvgPool1d``'s too) for non-overlapping windows
    (``stride == kernel_size``, no padding): each pooled gradient divided by the window size and
    broadcast over its window, 0 in the rows and columns no window covers. torch-mlir cannot
    lower the op (it fails on a ``torch.constant.bool``). Eager adds ``g / n`` to zeros once
    per input element: the same values. Other pools, as the op is."""
    windows = _disjoint_windows(grad_output, input, kernel_size, stride, padding)
    if windows is None:
        return NotImplemented
    lead, rows, cols, kh, kw = windows
    divisor = divisor_override if divisor_override else kh * kw
    share = aten.div.Scalar(aten.reshape.default(grad_output, [*lead, rows, 1, cols, 1]), divisor)
    grad = aten.expand.default(share, [*lead, rows, kh, cols, kw])
    return _uncovered_as_zero(aten.reshape.default(grad, [*lead, rows * kh, cols * kw]), input)


def _scatter_with_positive_dim(op: Any) -> Callable[..., Any]:
    """``op`` (a scatter along ``dim``, its second argument) with a negative ``dim`` counted from
    the front: torch-mlir's lowering of ``scatter`` and ``scatter_add`` along ``dim=-1`` crashes
    the process (a segfault in its pass pipeline). The gradients of ``torch.sort``,
    ``torch.topk`` (``scatter``) and ``torch.gather`` (``scatter_add``) along the last dimension
    are such scatters."""

    def decomposition(self: torch.Tensor, dim: int, *args: Any, **kwargs: Any) -> Any:
        if dim >= 0:
            return NotImplemented  # recorded as it is
        return op(self, dim % max(self.dim(), 1), *args, **kwargs)

    return decomposition


@functools.cache
def _reference_table() -> dict[Any, Callable[..., Any]]:
    return dict(get_decomposition_table())


def _reference(op: Any) -> Callable[..., Any]:
    """torch-mlir's decomposition of ``op`` (or the op itself where it has none)."""
    return _reference_table().get(op, op)


@functools.cache
def _table() -> dict[Any, Callable[..., Any]]:
    # convolution, mm and var_mean/var.correction have no entry in torch-mlir's table: where our
    # decompositions return NotImplemented, make_fx records the op as it is.
    table = dict(_reference_table())
    table[aten.convolution_backward.default] = grouped_convolution_backward
    table[aten.convolution.default] = convolution
    table[aten.mm.default] = mm
    table[aten.addmm.default] = addmm
    table[aten.native_layer_norm.default] = native_layer_norm
    table[aten.native_group_norm.default] = native_group_norm
    table[aten.native_group_norm_backward.default] = native_group_norm_backward
    table[aten._native_batch_norm_legit_no_training.default] = native_batch_norm_no_training
    table[aten.silu_backward.default] = silu_backward
    table[aten.gelu.default] = gelu
    table[aten.gelu_backward.default] = gelu_backward
    table[aten.var_mean.correction] = var_mean_correction
    table[aten.var.correction] = var_correction
    table[aten.max_pool2d_with_indices_backward.default] = max_pool2d_with_indices_backward
    table[aten.avg_pool2d_backward.default] = avg_pool2d_backward
    for scatter in (
        aten.scatter.src,
        aten.scatter.value,
        aten.scatter.reduce,
        aten.scatter.value_reduce,
        aten.scatter_add.default,
        aten.scatter_reduce.two,
    ):
        table[scatter] = _scatter_with_positive_dim(scatter)
    return table


def capture_decompositions() -> dict[Any, Callable[..., Any]]:
    """torch-mlir's decomposition table plus ours (a fresh dict; callers may extend it)."""
    return dict(_table())
