"""plan() on hostile input (issue 12, point 5): a model without parameters, integer-only inputs,
a loss that is not a scalar, param groups with different hyper-parameters, frozen parameters
and meta-device tensors. Each is planned correctly (verify() against eager PyTorch and the
bit-identical planned-vs-unplanned run pass) or refused with a PlanError that says what to
change; never a traceback from deep inside, never a wrong plan."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from modelopt_mlir.api import PlanError, PlanResult, plan
from modelopt_mlir.frontend.optimizer import OptimizerConfig


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((output - target) ** 2).mean()


class _NoParameters(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * 2.0 + x


class _IntegerOnly(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * 3 + b


class _Embedder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids)).sum(1)


class _TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


class _WithUnused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.unused = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, generator=generator), torch.randn(4, 2, generator=generator)


def _checked(result: PlanResult) -> PlanResult:
    result.verify()
    result.verify_planned_vs_unplanned()
    return result


def _arguments_after_planned_run(result: PlanResult) -> dict[str, np.ndarray]:
    """Every argument of the planned function after one CPU run, by name."""
    arrays = result.arguments()
    after = result._compiled_function("planned")(arrays)
    return {spec.name: a for spec, a in zip(result.captured.signature.args, after, strict=True)}


# --------------------------------------------------------------------------------------------
# A model with no parameters


def test_model_without_parameters_plans_inference() -> None:
    x, _ = _batch()
    result = _checked(plan(_NoParameters(), (x,), solver="greedy"))
    assert result.report.param_bytes == 0


def test_model_without_parameters_refuses_training() -> None:
    x, _ = _batch()
    with pytest.raises(PlanError, match="no parameters.*plan\\(model, inputs\\)"):
        plan(_NoParameters(), (x,), x.clone(), _mse, OptimizerConfig("sgd", lr=0.1))
    # torch.optim cannot be built on no parameters; one built for another model is caught.
    stranger = torch.optim.SGD(nn.Linear(3, 3).parameters(), lr=0.1)
    with pytest.raises(PlanError, match="no parameters"):
        plan(_NoParameters(), (x,), x.clone(), _mse, stranger)
    model = _TwoLayers()
    with pytest.raises(PlanError, match="holds none of the model's parameters"):
        plan(model, (x,), torch.randn(4, 2), _mse, stranger)


# --------------------------------------------------------------------------------------------
# Integer-only inputs


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_integer_only_inputs_plan_inference(dtype: torch.dtype) -> None:
    a = torch.arange(6, dtype=dtype).reshape(2, 3)
    b = torch.tensor([[1, -2, 3], [0, 5, -7]], dtype=dtype)
    result = _checked(plan(_IntegerOnly(), (a, b), solver="greedy"))
    assert torch.equal(result.run_cpu()["output"], a * 3 + b)


def test_integer_token_inputs_plan_inference_and_training() -> None:
    torch.manual_seed(0)
    ids = torch.randint(0, 10, (3, 5))
    target = torch.randn(3, 2)
    model = _Embedder()
    _checked(plan(model, (ids,), solver="greedy"))
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    _checked(plan(model, (ids,), target, _mse, adam, solver="greedy"))
    sgd = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    _checked(plan(model, (ids,), target, _mse, sgd, solver="greedy"))


class _MaskAndCount(nn.Module):
    def forward(self, mask: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mask & (ids > 2), ids.sum()


def test_bool_and_integer_inputs_plan_inference() -> None:
    mask = torch.tensor([True, False, True, True])
    ids = torch.tensor([1, 3, 5, 2])
    result = _checked(plan(_MaskAndCount(), (mask, ids), solver="greedy"))
    outputs = result.run_cpu()
    assert torch.equal(outputs["output.0"], mask & (ids > 2))
    assert int(outputs["output.1"]) == 11


def test_unsupported_integer_dtype_is_refused() -> None:
    a = torch.arange(6, dtype=torch.uint8)
    with pytest.raises(PlanError, match="unsupported dtype torch.uint8 for 'input0'.*convert"):
        plan(_IntegerOnly(), (a, a), solver="greedy")


# --------------------------------------------------------------------------------------------
# The loss


@pytest.mark.parametrize(
    ("loss_fn", "message"),
    [
        (
            lambda o, t: (o - t) ** 2,
            r"loss_fn returned shape \[4, 2\]; return a scalar, e.g. .mean",
        ),
        (lambda o, t: 1.0, "loss_fn returned a float; return a scalar torch.Tensor"),
        (lambda o, t: (o > t).sum(), "torch.int64 tensor; the loss must be floating point"),
        (lambda o, t: _mse(o.detach(), t), "does not depend on any trainable parameter"),
    ],
    ids=["not-scalar", "not-a-tensor", "integer", "detached"],
)
def test_bad_loss_is_refused(loss_fn: Callable[..., object], message: str) -> None:
    model = _TwoLayers()
    x, y = _batch()
    with pytest.raises(PlanError, match=message):
        plan(model, (x,), y, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize(
    "loss_fn",
    [lambda o, t: _mse(o, t).reshape(1), lambda o, t: _mse(o.double(), t.double())],
    ids=["one-element", "float64"],
)
def test_one_element_or_double_loss_plans(loss_fn: Callable[..., torch.Tensor]) -> None:
    model = _TwoLayers()
    x, y = _batch()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    result = _checked(plan(model, (x,), y, loss_fn, adam, solver="greedy"))
    assert result.run_cpu()["loss"].dtype == torch.float32


# --------------------------------------------------------------------------------------------
# Param groups with different hyper-parameters


def test_adam_param_groups_use_their_own_hyperparameters() -> None:
    model = _TwoLayers()
    x, y = _batch()
    adam = torch.optim.AdamW(
        [
            {"params": model.a.parameters(), "lr": 1e-2, "weight_decay": 0.0},
            {"params": model.b.parameters(), "lr": 3e-3, "weight_decay": 0.1, "betas": (0.8, 0.9)},
        ]
    )
    result = _checked(plan(model, (x,), y, _mse, adam, solver="greedy"))
    assert "2 param groups" in result.report.optimizer


@pytest.mark.parametrize("dampening", [0.0, 0.5])
def test_sgd_param_groups_use_their_own_hyperparameters(dampening: float) -> None:
    model = _TwoLayers()
    x, y = _batch()
    sgd = torch.optim.SGD(
        [
            {"params": [model.a.weight], "lr": 0.1, "momentum": 0.9, "dampening": dampening},
            {"params": [model.a.bias], "lr": 0.05, "momentum": 0.0, "weight_decay": 0.1},
            {"params": [model.b.weight], "lr": 0.2, "momentum": 0.5, "nesterov": True},
            {"params": [model.b.bias], "lr": 0.0},
        ]
    )
    result = _checked(plan(model, (x,), y, _mse, sgd, solver="greedy"))
    state = [s.name for s in result.captured.signature.args if s.kind == "state"]
    expected = ["a.weight.momentum_buffer", "b.weight.momentum_buffer"]
    assert state == expected + (["step"] if dampening else [])
    # A group with lr 0 keeps its parameter exactly.
    assert torch.equal(result.run_cpu()["b.bias"], model.b.bias.detach())


# --------------------------------------------------------------------------------------------
# Frozen (requires_grad=False) and unused parameters


@pytest.mark.parametrize("optimizer", ["adam", "sgd-momentum"])
def test_frozen_parameter_is_not_updated(optimizer: str) -> None:
    model = _TwoLayers()
    model.a.weight.requires_grad_(False)
    x, y = _batch()
    opt = (
        torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=0.1)
        if optimizer == "adam"
        else torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=0.1)
    )
    result = _checked(plan(model, (x,), y, _mse, opt, solver="greedy"))
    frozen = next(s for s in result.captured.signature.args if s.name == "a.weight")
    assert frozen.kind == "param" and not frozen.updated
    assert not any(s.name.startswith("a.weight.") for s in result.captured.signature.args)
    after = _arguments_after_planned_run(result)
    assert np.array_equal(after["a.weight"], model.a.weight.detach().numpy())
    assert not np.array_equal(after["a.bias"], model.a.bias.detach().numpy())


def test_frozen_parameter_after_an_eager_step() -> None:
    """A warm optimizer that holds a frozen parameter (no state for it) still plans."""
    model = _TwoLayers()
    model.a.bias.requires_grad_(False)
    x, y = _batch()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    _mse(model(x), y).backward()
    adam.step()
    _checked(plan(model, (x,), y, _mse, adam, solver="greedy"))


def test_frozen_parameter_with_compare_eager() -> None:
    """torch's MemTracker registered a gradient hook on the frozen parameter and torch raised
    "cannot register a hook on a tensor that doesn't require gradient" out of plan()."""
    model = _TwoLayers()
    model.a.weight.requires_grad_(False)
    x, y = _batch()
    adam = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    result = _checked(plan(model, (x,), y, _mse, adam, solver="greedy", compare_eager=True))
    assert result.report.vs_eager is not None


def test_step_eager_pytorch_refuses_is_a_plan_error() -> None:
    """Adam(capturable=True) on CPU tensors: torch.optim itself asserts in step(). The eager
    measurement said so with a bare AssertionError from deep inside torch."""
    model = _TwoLayers()
    x, y = _batch()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2, capturable=True)
    with pytest.raises(PlanError, match="compare_eager=True: one eager PyTorch training step"):
        plan(model, (x,), y, _mse, adam, solver="greedy", compare_eager=True)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd-weight-decay"])
def test_parameter_without_gradient_is_not_updated(optimizer: str) -> None:
    """torch.optim skips a parameter whose .grad stays None (no decay, no state): so do we."""
    model = _WithUnused()
    x, y = _batch()
    opt = (
        torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        if optimizer == "adamw"
        else torch.optim.SGD(model.parameters(), lr=1e-2, weight_decay=0.1)
    )
    result = _checked(plan(model, (x,), y, _mse, opt, solver="greedy"))
    updated = {s.name for s in result.captured.signature.args if s.updated}
    assert not any(name.startswith("unused.") for name in updated)
    after = _arguments_after_planned_run(result)
    assert np.array_equal(after["unused.weight"], model.unused.weight.detach().numpy())


def test_all_parameters_frozen_is_refused() -> None:
    model = _TwoLayers().requires_grad_(False)
    x, y = _batch()
    with pytest.raises(PlanError, match="none of the model's 4 parameters is trainable"):
        plan(model, (x,), y, _mse, torch.optim.SGD(model.parameters(), lr=0.1))


def test_frozen_parameters_plan_inference() -> None:
    model = _TwoLayers().requires_grad_(False)
    x, _ = _batch()
    _checked(plan(model, (x,), solver="greedy"))


# --------------------------------------------------------------------------------------------
# Meta-device tensors


def test_meta_tensors_plan_from_shapes_and_refuse_to_run() -> None:
    """Meta tensors anywhere (batch, targets, model) are a shapes-only plan: validated, never
    run (test_shapes_only.py has the rest)."""
    x, y = _batch()
    meta_x, meta_y = x.to("meta"), y.to("meta")
    model = _TwoLayers()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    for result in (
        plan(model, (meta_x,)),
        plan(model, (meta_x,), meta_y, _mse, sgd),
        plan(model, (x,), meta_y, _mse, sgd),
        plan(_TwoLayers().to("meta"), (x,)),
    ):
        assert result.report.shapes_only
        with pytest.raises(PlanError, match="made from shapes alone"):
            result.run_cpu()


# --------------------------------------------------------------------------------------------
# Neighbours: empty tensors, dtypes the CPU check cannot run


def test_empty_batch_is_refused() -> None:
    """torch-mlir's lowering kills the process (SIGFPE) on a zero-size argument."""
    model = _TwoLayers()
    x, y = _batch()
    with pytest.raises(PlanError, match=r"example input 0 has shape \[0, 3\], no elements"):
        plan(model, (x[:0],))
    with pytest.raises(PlanError, match=r"target 0 has shape \[0, 2\], no elements"):
        plan(model, (x,), y[:0], _mse, torch.optim.SGD(model.parameters(), lr=0.1))


def test_bfloat16_plans_but_refuses_the_cpu_run() -> None:
    model = nn.Linear(3, 2).to(torch.bfloat16)
    x, _ = _batch()
    result = plan(model, (x.to(torch.bfloat16),), solver="greedy")
    assert result.report.arena_bytes >= 0
    with pytest.raises(PlanError, match="param 'weight' is bf16, which numpy .* does not have"):
        result.verify_planned_vs_unplanned()
