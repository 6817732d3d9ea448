"""The expected results of a captured step: the captured graph run eagerly on its example
arguments, and the same step in eager PyTorch with torch.optim on copies of the model and
optimizer (what :meth:`modelopt_mlir.api.PlanResult.verify` compares the planned step with)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils import _pytree

from modelopt_mlir.frontend.capture import CapturedStep, LossFn
from modelopt_mlir.frontend.optimizer import OptimizerConfig, torch_optimizer
from modelopt_mlir.frontend.signature import as_tensor_list
from modelopt_mlir.frontend.trace import model_mode


def reference_step(captured: CapturedStep) -> list[torch.Tensor]:
    """Run the captured graph on its example arguments (real tensors): the expected results."""
    with torch.no_grad():
        return list(captured.graph(*[a.clone() for a in captured.example_args]))


def eager_reference_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: LossFn,
    optimizer: OptimizerConfig,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The same step with torch.optim on a deep copy of ``model`` (training mode, dropout off):
    (loss, new parameters)."""
    loss, params, _ = eager_training_step(model, inputs, targets, loss_fn, optimizer)
    return loss, list(params.values())


def copy_model_and_optimizer(
    model: nn.Module, optimizer: torch.optim.Optimizer | OptimizerConfig
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Deep copies that still belong together (the optimizer updates the copied parameters): a
    torch.optim instance is copied with its state; a config becomes a fresh torch.optim instance
    over the copy's trainable parameters."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return copy.deepcopy((model, optimizer))
    clone = copy.deepcopy(model)
    return clone, torch_optimizer(optimizer, [p for p in clone.parameters() if p.requires_grad])


def _eager_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | OptimizerConfig,
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: LossFn,
) -> tuple[torch.Tensor, nn.Module, torch.optim.Optimizer]:
    """One eager step (training mode, dropout off, as captured) on copies of ``model`` and
    ``optimizer``: (loss, the stepped model copy, its optimizer)."""
    model, opt = copy_model_and_optimizer(model, optimizer)
    with model_mode(model, train=True):
        opt.zero_grad()
        loss = loss_fn(model(*inputs), *as_tensor_list(targets))
        loss.backward()
        opt.step()
    return loss.detach(), model, opt


def eager_training_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer | OptimizerConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One eager step with torch.optim on a deep copy: (loss, new params, new buffers) by name."""
    loss, clone, _ = _eager_step(model, optimizer, inputs, targets, loss_fn)
    return (
        loss,
        {n: p.detach() for n, p in clone.named_parameters()},
        {n: b.detach() for n, b in clone.named_buffers()},
    )


def eager_results(
    captured: CapturedStep,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | OptimizerConfig | None,
    example_inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor | None = None,
    loss_fn: LossFn | None = None,
) -> dict[str, torch.Tensor]:
    """What ``captured`` computes, in eager PyTorch on deep copies of ``model`` and
    ``optimizer``, named like its results without the ``new.`` prefix. Inference (no
    ``loss_fn``): the outputs, in eval mode. Training: one ``loss.backward()`` and
    ``optimizer.step()`` in training mode with dropout off; ``loss``, every parameter, buffer and
    optimizer state entry (``<param>.exp_avg``, ...) and ``step``."""
    if loss_fn is None:
        clone = copy.deepcopy(model)
        with model_mode(clone, train=False), torch.no_grad():
            leaves, _ = _pytree.tree_flatten(clone(*example_inputs))
        tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
        names = [s.name for s in captured.signature.outputs]
        return dict(zip(names, tensors, strict=True))
    assert optimizer is not None and targets is not None
    # SGD with dampening carries a step counter in the captured step (torch keys its first
    # step on the missing momentum buffer instead): 0 before the first step, then 1, 2, ...
    sgd_steps_before = float(
        isinstance(optimizer, torch.optim.Optimizer)
        and any(state.get("momentum_buffer") is not None for state in optimizer.state.values())
    )
    loss, clone, opt = _eager_step(model, optimizer, example_inputs, targets, loss_fn)
    expected: dict[str, torch.Tensor] = {"loss": loss.reshape(())}
    params = dict(clone.named_parameters())
    expected.update({n: p.detach() for n, p in params.items()})
    expected.update({n: b.detach() for n, b in clone.named_buffers()})
    for name, param in params.items():
        for key, value in opt.state.get(param, {}).items():
            if key == "step":
                expected["step"] = torch.as_tensor(value, dtype=torch.float32).reshape(())
            elif isinstance(value, torch.Tensor):
                expected[f"{name}.{key}"] = value.detach()
    if "step" not in expected and captured.optimizer is not None and captured.has_step_counter:
        expected["step"] = torch.tensor(sgd_steps_before + 1.0)
    return expected


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected| (inf when a difference is not finite)."""
    scale = max(float(expected.abs().max()), 1e-12) if expected.numel() else 1.0
    diff = float((actual.double() - expected.double()).abs().max()) if expected.numel() else 0.0
    return diff / scale if math.isfinite(diff) else math.inf
