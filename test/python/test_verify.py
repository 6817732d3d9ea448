"""PlanResult.verify: the reference step matches the captured optimizer, and the default
tolerances pass right plans and fail wrong ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelopt_mlir.api import _copy_model_and_optimizer, plan
from modelopt_mlir.frontend.capture import OptimizerConfig


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    return model, torch.randn(8, 16), torch.randint(0, 4, (8,))


@pytest.mark.parametrize(
    "config",
    [
        OptimizerConfig(kind="sgd", lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01),
        OptimizerConfig(kind="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        OptimizerConfig(kind="adamw", lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ],
    ids=["sgd-dampening", "sgd-nesterov", "adamw"],
)
def test_reference_optimizer_keeps_every_hyper_parameter(config: OptimizerConfig) -> None:
    model, _, _ = _mlp()
    _, optimizer = _copy_model_and_optimizer(model, config)
    assert OptimizerConfig.from_torch(optimizer) == config


@pytest.mark.parametrize(
    "config",
    [
        OptimizerConfig(kind="sgd", lr=0.1, momentum=0.9, dampening=0.5),
        OptimizerConfig(kind="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    ],
    ids=["momentum-dampening", "nesterov"],
)
def test_sgd_config_verifies(config: OptimizerConfig) -> None:
    model, x, y = _mlp()
    result = plan(model, (x,), y, nn.functional.cross_entropy, config, solver="greedy")
    names = {e.name for e in result.verify()}
    assert "0.weight.momentum_buffer" in names
    assert ("step" in names) == bool(config.dampening)


def test_sgd_dampening_after_a_step_verifies() -> None:
    """From the second step on dampening scales the gradient (torch skips it on the first)."""
    model, x, y = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.5)
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad()
    result = plan(model, (x,), y, nn.functional.cross_entropy, optimizer, solver="greedy")
    errors = {e.name: e for e in result.verify()}
    assert errors["step"].ok and "2.bias.momentum_buffer" in errors
