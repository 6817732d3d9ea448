"""PlanResult.verify: the reference step matches the captured optimizer, and the default
tolerances pass right plans and fail wrong ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from modelopt_mlir.api import PlanResult, VerificationError, plan
from modelopt_mlir.frontend.optimizer import OptimizerConfig
from modelopt_mlir.frontend.reference import copy_model_and_optimizer


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
    _, optimizer = copy_model_and_optimizer(model, config)
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


# ---------------------------------------------------------------------------------------------
# Default tolerances: right plans pass, wrong ones fail.

_OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "adamw": lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01),
    "sgd-momentum-dampening": lambda params: torch.optim.SGD(
        params, lr=0.01, momentum=0.9, dampening=0.1, weight_decay=1e-4
    ),
    "sgd-nesterov": lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True),
}


def _zoo_result(model: str, optimizer: str) -> PlanResult:
    from modelopt_mlir.zoo import ZOO

    built = ZOO[model].build()
    return built.plan(_OPTIMIZERS[optimizer](built.model.parameters()), solver="greedy")


@pytest.fixture(scope="module")
def gpt2_adam() -> PlanResult:
    return _zoo_result("gpt2", "adam")


def test_gpt2_tiny_adam_verifies_with_defaults(gpt2_adam: PlanResult) -> None:
    """The README's example: rounding noise on attention biases whose gradient is ~0 once moved
    their Adam update by ~lr/200 and failed a flat rtol=1e-5."""
    errors = gpt2_adam.verify()
    assert all(e.ok and e.of_tolerance <= 1.0 for e in errors)
    assert {"loss", "step", "transformer.h.1.attn.c_attn.bias"} <= {e.name for e in errors}


def test_llama_tiny_adam_verifies_with_defaults() -> None:
    _zoo_result("llama", "adam").verify()


def _perturbed(result: PlanResult, change: Callable[[dict[str, torch.Tensor]], None]) -> PlanResult:
    actual = result.run_cpu()
    change(actual)
    wrong = PlanResult(**{**result.__dict__, "_compiled": {}})
    wrong.run_cpu = lambda *args, **kwargs: actual  # type: ignore[method-assign]
    return wrong


def test_one_element_off_by_a_hundredth_of_lr_fails(gpt2_adam: PlanResult) -> None:
    """One element of one parameter whose update is well determined, moved by lr / 100."""
    name = "transformer.h.0.mlp.c_fc.weight"
    expected = gpt2_adam.reference()
    element = int(expected[f"{name}.exp_avg_sq"].reshape(-1).argmax())

    def change(actual: dict[str, torch.Tensor]) -> None:
        actual[name] = actual[name].clone()
        actual[name].view(-1)[element] += 1e-5

    with pytest.raises(VerificationError, match=name) as info:
        _perturbed(gpt2_adam, change).verify()
    assert [e.name for e in info.value.errors if not e.ok] == [name]


def test_one_moment_element_off_fails(gpt2_adam: PlanResult) -> None:
    name = "transformer.h.1.attn.c_proj.weight.exp_avg"

    def change(actual: dict[str, torch.Tensor]) -> None:
        actual[name] = actual[name].clone()
        actual[name].view(-1)[0] += 1e-3 * float(actual[name].abs().max())

    with pytest.raises(VerificationError, match="exp_avg"):
        _perturbed(gpt2_adam, change).verify()


@pytest.mark.parametrize(
    ("optimizer", "constant", "wrong"),
    [
        ("adam", "arith.constant 1.000000e-03 : f64", "arith.constant 1.010000e-03 : f64"),
        ("sgd-nesterov", "arith.constant 1.000000e-02 : f64", "arith.constant 1.010000e-02 : f64"),
    ],
    ids=["adam-lr", "sgd-lr"],
)
def test_planned_ir_with_a_wrong_constant_fails(optimizer: str, constant: str, wrong: str) -> None:
    """The learning rate in the planned IR one percent too large: every parameter is off."""
    result = _zoo_result("mlp", optimizer)
    assert result.module_text.count(constant) == 1, "the lr constant moved; update the test"
    wrong_plan = PlanResult(**{**result.__dict__, "_compiled": {}})
    wrong_plan.module_text = result.module_text.replace(constant, wrong)
    result.verify()
    with pytest.raises(VerificationError) as info:
        wrong_plan.verify()
    params = {n for n, _ in result.model.named_parameters()}
    assert {e.name for e in info.value.errors if not e.ok} == params


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", sorted(_OPTIMIZERS))
@pytest.mark.parametrize("model", ["mlp", "cnn", "mobilenet", "gpt2", "bert", "vit", "llama"])
def test_every_zoo_model_verifies_with_defaults(model: str, optimizer: str) -> None:
    _zoo_result(model, optimizer).verify()
