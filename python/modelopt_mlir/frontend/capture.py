"""Capture a whole training step (forward, backward, optimizer update) as one functional FX graph
and import it into MLIR as linalg on tensors.

The step is a pure function: parameters, optimizer state and the batch are arguments; the loss, the
new parameters and the new optimizer state are results. Argument and result order is recorded in a
:class:`StepSignature` so that later stages (and test harnesses) know what each value means.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx
from torch_mlir import fx as torch_mlir_fx
from torch_mlir import ir
from torch_mlir.extras.fx_decomp_util import get_decomposition_table

OptimizerKind = Literal["sgd", "adam", "adamw"]
ValueKind = Literal["param", "state", "input", "target", "loss", "output"]
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]

_DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int8: "i8",
    torch.bool: "i1",
}


@dataclass(frozen=True)
class OptimizerConfig:
    """A torch.optim optimizer written functionally. Hyper-parameters are compile-time constants."""

    kind: OptimizerKind = "sgd"
    lr: float = 1e-2
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.kind not in ("sgd", "adam", "adamw"):
            raise ValueError(f"unknown optimizer kind '{self.kind}'")
        if self.nesterov and (self.kind != "sgd" or self.momentum <= 0.0):
            raise ValueError("nesterov needs sgd with momentum > 0")

    def state_names(self, param_name: str) -> list[str]:
        """Names of the per-parameter state tensors, in argument order."""
        if self.kind == "sgd":
            return [f"{param_name}.momentum_buffer"] if self.momentum > 0.0 else []
        return [f"{param_name}.exp_avg", f"{param_name}.exp_avg_sq"]

    @property
    def has_step_counter(self) -> bool:
        return self.kind in ("adam", "adamw")


@dataclass(frozen=True)
class ValueSpec:
    """One function argument or result: what it is and its type. ``int_range`` is the half-open
    range ``[lo, hi)`` of valid integer batch values (token ids, class labels); ``float_range``
    marks float arguments that must stay in ``[lo, hi)`` for finite results (Adam's second moment
    and step count must not be negative)."""

    name: str
    kind: ValueKind
    dtype: str
    shape: tuple[int, ...]
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "shape": list(self.shape),
        }
        if self.int_range is not None:
            data["int_range"] = list(self.int_range)
        if self.float_range is not None:
            data["float_range"] = list(self.float_range)
        return data


@dataclass(frozen=True)
class StepSignature:
    """Argument and result order of a captured step: ``(params, state, inputs, target) ->
    (loss, new params, new state)``."""

    args: tuple[ValueSpec, ...]
    results: tuple[ValueSpec, ...]


@dataclass
class CapturedStep:
    graph: torch.fx.GraphModule
    signature: StepSignature
    optimizer: OptimizerConfig
    # Real example values in argument order, usable to run ``graph`` or an eager reference.
    example_args: list[torch.Tensor] = field(repr=False)


def _spec(name: str, kind: ValueKind, tensor: torch.Tensor,
          int_range: tuple[int, int] | None = None) -> ValueSpec:
    dtype = _DTYPE_NAMES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"unsupported dtype {tensor.dtype} for '{name}'")
    return ValueSpec(name, kind, dtype, tuple(int(d) for d in tensor.shape), int_range)


def _initial_state(config: OptimizerConfig, params: Mapping[str, torch.Tensor]
                   ) -> tuple[list[str], list[torch.Tensor]]:
    names: list[str] = []
    values: list[torch.Tensor] = []
    for pname, p in params.items():
        for sname in config.state_names(pname):
            names.append(sname)
            values.append(torch.zeros_like(p))
    if config.has_step_counter:
        names.append("step")
        values.append(torch.zeros((), dtype=torch.float32))
    return names, values


def _update(config: OptimizerConfig, params: list[torch.Tensor], grads: list[torch.Tensor],
            state: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One optimizer step, out of place; mirrors torch.optim's single-tensor implementations."""
    lr, wd = config.lr, config.weight_decay
    new_params: list[torch.Tensor] = []
    new_state: list[torch.Tensor] = []
    if config.kind == "sgd":
        use_momentum = config.momentum > 0.0
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if wd:
                g = g + wd * p
            if use_momentum:
                # A zero-initialised buffer makes step one equal torch's "buf = grad" (dampening 0).
                buf = config.momentum * state[i] + g
                new_state.append(buf)
                g = g + config.momentum * buf if config.nesterov else buf
            new_params.append(p - lr * g)
        return new_params, new_state

    beta1, beta2 = config.betas
    step = state[-1] + 1.0
    bias_correction1 = 1.0 - torch.pow(beta1, step)
    bias_correction2_sqrt = torch.sqrt(1.0 - torch.pow(beta2, step))
    step_size = lr / bias_correction1
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        exp_avg, exp_avg_sq = state[2 * i], state[2 * i + 1]
        if config.kind == "adamw":
            p = p * (1.0 - lr * wd)
        elif wd:
            g = g + wd * p
        exp_avg = beta1 * exp_avg + (1.0 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (1.0 - beta2) * g * g
        denom = torch.sqrt(exp_avg_sq) / bias_correction2_sqrt + config.eps
        new_params.append(p - step_size * exp_avg / denom)
        new_state.extend((exp_avg, exp_avg_sq))
    new_state.append(step)
    return new_params, new_state


def capture_training_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: torch.Tensor,
    loss_fn: LossFn,
    optimizer: OptimizerConfig,
    *,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> CapturedStep:
    """Trace ``loss_fn(model(*inputs), targets)``, its gradient and the optimizer update as one
    functional graph with ATen ops decomposed the way torch-mlir expects.

    The model is traced in eval mode (no dropout; batch norm uses, and does not update, its
    running statistics) so that the step is a deterministic function of its arguments.

    Batch arguments are named ``input0``, ``input1``, ... and ``target``; ``int_ranges`` gives the
    valid ``[lo, hi)`` range of integer batch arguments by those names.
    """
    int_ranges = dict(int_ranges or {})
    params = {name: p.detach() for name, p in model.named_parameters()}
    param_names = list(params)
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    state_names, state_values = _initial_state(optimizer, params)
    n_params, n_state, n_inputs = len(param_names), len(state_names), len(inputs)

    def loss_of(param_values: dict[str, torch.Tensor], batch: Sequence[torch.Tensor],
                target: torch.Tensor) -> torch.Tensor:
        output = torch.func.functional_call(model, (param_values, buffers), tuple(batch))
        return loss_fn(output, target)

    def step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        param_values = list(args[:n_params])
        state = list(args[n_params:n_params + n_state])
        batch = args[n_params + n_state:n_params + n_state + n_inputs]
        target = args[-1]
        grads, loss = torch.func.grad_and_value(loss_of)(
            dict(zip(param_names, param_values, strict=True)), batch, target)
        new_params, new_state = _update(
            optimizer, param_values, [grads[n] for n in param_names], state)
        return (loss, *new_params, *new_state)

    example_args = [*params.values(), *state_values, *inputs, targets]
    was_training = model.training
    model.eval()  # dropout off: a traced step must be deterministic
    try:
        graph = make_fx(
            torch.func.functionalize(step, remove="mutations"),
            decomposition_table=get_decomposition_table(),
            tracing_mode="fake",
        )(*example_args)
    finally:
        model.train(was_training)
    graph.graph.eliminate_dead_code()
    graph.recompile()

    arg_specs: list[ValueSpec] = []
    arg_specs += [_spec(n, "param", params[n]) for n in param_names]
    arg_specs += [dataclasses.replace(_spec(n, "state", v), float_range=_state_range(n))
                  for n, v in zip(state_names, state_values, strict=True)]
    for i, x in enumerate(inputs):
        arg_specs.append(_spec(f"input{i}", "input", x, _int_range(f"input{i}", x, int_ranges)))
    arg_specs.append(_spec("target", "target", targets, _int_range("target", targets, int_ranges)))
    unknown = set(int_ranges) - {s.name for s in arg_specs}
    if unknown:
        raise ValueError(f"int_ranges names no argument: {sorted(unknown)}")

    loss_spec = ValueSpec("loss", "loss", "f32", ())
    result_specs = [loss_spec]
    result_specs += [_spec(f"new.{n}", "param", params[n]) for n in param_names]
    result_specs += [_spec(f"new.{n}", "state", v)
                     for n, v in zip(state_names, state_values, strict=True)]
    return CapturedStep(graph, StepSignature(tuple(arg_specs), tuple(result_specs)), optimizer,
                        example_args)


def _state_range(name: str) -> tuple[float, float] | None:
    if name == "step" or name.endswith(".exp_avg_sq"):
        return (0.0, 1.0)
    return None


def _int_range(name: str, tensor: torch.Tensor, int_ranges: Mapping[str, tuple[int, int]]
               ) -> tuple[int, int] | None:
    if tensor.is_floating_point():
        if name in int_ranges:
            raise ValueError(f"int_ranges given for floating-point argument '{name}'")
        return None
    if name not in int_ranges:
        raise ValueError(f"integer argument '{name}' needs its valid range in int_ranges")
    lo, hi = int_ranges[name]
    if tensor.numel() and not (lo <= int(tensor.min()) and int(tensor.max()) < hi):
        raise ValueError(f"example values of '{name}' fall outside [{lo}, {hi})")
    return (int(lo), int(hi))


def capture_sgd_step(model: nn.Module, inputs: Sequence[torch.Tensor], targets: torch.Tensor,
                     loss_fn: LossFn, lr: float, *, momentum: float = 0.0, nesterov: bool = False,
                     weight_decay: float = 0.0,
                     int_ranges: Mapping[str, tuple[int, int]] | None = None) -> CapturedStep:
    config = OptimizerConfig("sgd", lr=lr, momentum=momentum, nesterov=nesterov,
                             weight_decay=weight_decay)
    return capture_training_step(model, inputs, targets, loss_fn, config, int_ranges=int_ranges)


def capture_adam_step(model: nn.Module, inputs: Sequence[torch.Tensor], targets: torch.Tensor,
                      loss_fn: LossFn, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                      eps: float = 1e-8, *, weight_decay: float = 0.0, decoupled: bool = False,
                      int_ranges: Mapping[str, tuple[int, int]] | None = None) -> CapturedStep:
    """Adam, or AdamW when ``decoupled``."""
    config = OptimizerConfig("adamw" if decoupled else "adam", lr=lr, betas=betas, eps=eps,
                             weight_decay=weight_decay)
    return capture_training_step(model, inputs, targets, loss_fn, config, int_ranges=int_ranges)


def import_to_linalg(captured: CapturedStep | torch.fx.GraphModule, func_name: str = "main"
                     ) -> ir.Module:
    """Import the step graph and lower it to linalg on tensors (with tm_tensor, scf, arith, math)."""
    graph = captured.graph if isinstance(captured, CapturedStep) else captured
    return torch_mlir_fx.stateless_fx_import(
        graph, output_type="linalg-on-tensors", model_name=func_name)


def reference_step(captured: CapturedStep) -> list[torch.Tensor]:
    """Run the captured graph on its example arguments (real tensors): the expected results."""
    with torch.no_grad():
        return list(captured.graph(*captured.example_args))


def eager_reference_step(model: nn.Module, inputs: Sequence[torch.Tensor], targets: torch.Tensor,
                         loss_fn: LossFn, optimizer: OptimizerConfig
                         ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The same step with torch.optim on a deep copy of ``model``: (loss, new parameters)."""
    clone = copy.deepcopy(model)
    clone.eval()
    params = list(clone.parameters())
    opt: torch.optim.Optimizer
    if optimizer.kind == "sgd":
        opt = torch.optim.SGD(params, lr=optimizer.lr, momentum=optimizer.momentum,
                              nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay)
    elif optimizer.kind == "adam":
        opt = torch.optim.Adam(params, lr=optimizer.lr, betas=optimizer.betas,
                               eps=optimizer.eps, weight_decay=optimizer.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=optimizer.lr, betas=optimizer.betas,
                                eps=optimizer.eps, weight_decay=optimizer.weight_decay)
    loss = loss_fn(clone(*inputs), targets)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach(), [p.detach() for p in clone.parameters()]


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = max(float(expected.abs().max()), 1e-12) if expected.numel() else 1.0
    diff = float((actual - expected).abs().max()) if expected.numel() else 0.0
    return diff / scale if math.isfinite(diff) else math.inf
