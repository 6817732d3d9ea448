"""Older capture entry points with the optimizer as keyword arguments (tests and benchmarks):
:func:`~modelopt_mlir.frontend.capture.capture_training_step` without lowering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from modelopt_mlir.frontend.capture import CapturedStep, LossFn, capture_training_step
from modelopt_mlir.frontend.optimizer import OptimizerConfig


def capture_sgd_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: torch.Tensor,
    loss_fn: LossFn,
    lr: float,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> CapturedStep:
    """SGD (momentum, nesterov, weight decay as keywords)."""
    config = OptimizerConfig(
        "sgd", lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )
    return capture_training_step(
        model, inputs, targets, loss_fn, config, int_ranges=int_ranges, lower=False
    )


def capture_adam_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: torch.Tensor,
    loss_fn: LossFn,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decoupled: bool = False,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> CapturedStep:
    """Adam, or AdamW when ``decoupled``."""
    config = OptimizerConfig(
        "adamw" if decoupled else "adam", lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
    )
    return capture_training_step(
        model, inputs, targets, loss_fn, config, int_ranges=int_ranges, lower=False
    )
