"""Capture a whole training step (forward, backward, optimizer update) or an inference graph as one
functional FX graph, import it into MLIR and bufferize it to memref IR.

The step is traced as a pure function: parameters, buffers (batch-norm running statistics),
optimizer state and the batch are arguments; the loss, the new parameters, the new optimizer state
and the new buffers are results. Bufferization then writes every new parameter, state tensor and
buffer into its own argument's buffer, as torch.optim does (no second copy of the state), and
turns the loss into an out-param. The order and meaning of every argument is recorded in a
:class:`StepSignature` and, in the IR, as argument attributes (``modelopt.name``,
``modelopt.kind``, ``modelopt.noalias``, ``modelopt.updated``).

Public entry points: :func:`capture_training_step`, :func:`capture_inference`. Failures raise a
:class:`CaptureError` subclass whose message is meant for users (no traceback needed).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest import mock

import numpy as np
import torch
from torch import nn
from torch._functorch import eager_transforms
from torch.fx.experimental.proxy_tensor import make_fx
from torch_mlir import fx as torch_mlir_fx
from torch_mlir import ir

from modelopt_mlir.frontend.decompositions import capture_decompositions

OptimizerKind = Literal["sgd", "adam", "adamw"]
ValueKind = Literal["param", "buffer", "state", "input", "target", "output"]
ResultKind = Literal["loss", "output"]
LossFn = Callable[..., torch.Tensor]

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
_NUMPY_DTYPES: dict[str, Any] = {
    "f32": np.float32,
    "f64": np.float64,
    "f16": np.float16,
    "i64": np.int64,
    "i32": np.int32,
    "i8": np.int8,
    "i1": np.bool_,
}
# Ops whose result is random: a captured step must be a deterministic function of its arguments.
_RANDOM_OPS = (
    "bernoulli",
    "rand",
    "randn",
    "randint",
    "native_dropout",
    "normal",
    "uniform",
    "multinomial",
    "randperm",
)


# ----------------------------------------------------------------------------------------------
# Errors


class CaptureError(RuntimeError):
    """The model or step cannot be captured; the message says why, for the user."""


class CaptureUsageError(CaptureError, ValueError):
    """The call must change (the loss, the devices, the parameters); the message says how.
    ``modelopt_mlir.api.plan`` raises these as a ``PlanError``."""


class UnsupportedOptimizerError(CaptureUsageError):
    """The optimizer (class or option) has no functional counterpart here."""


class DataDependentControlFlowError(CaptureError):
    """Python control flow or a Python value depends on tensor data."""


class DynamicShapeError(CaptureError):
    """A shape depends on tensor data or is not static."""


class LoweringError(CaptureError):
    """torch-mlir import or bufferization failed on the captured graph."""


# ----------------------------------------------------------------------------------------------
# Optimizers


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
    dampening: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("sgd", "adam", "adamw"):
            raise UnsupportedOptimizerError(f"unknown optimizer kind '{self.kind}'")
        if self.nesterov and (self.kind != "sgd" or self.momentum <= 0.0 or self.dampening):
            raise UnsupportedOptimizerError("nesterov needs sgd with momentum > 0 and dampening 0")

    @classmethod
    def from_torch(cls, optimizer: torch.optim.Optimizer) -> OptimizerConfig:
        """Read the hyper-parameters of a torch.optim SGD, Adam or AdamW instance whose param
        groups all share them (see :meth:`groups_from_torch` for groups that differ)."""
        configs = cls.groups_from_torch(optimizer)
        groups = optimizer.param_groups
        first = {k: v for k, v in groups[0].items() if k != "params"}
        for i, group in enumerate(groups[1:], start=1):
            for key in sorted(set(first) | set(group) - {"params"}):
                if group.get(key) != first.get(key):
                    raise UnsupportedOptimizerError(
                        f"{type(optimizer).__name__} param groups differ in '{key}' (group 0: "
                        f"{first.get(key)!r}, group {i}: {group.get(key)!r}); one set of "
                        "hyper-parameters is supported here (capture_training_step takes "
                        "groups that differ)"
                    )
        return configs[0]

    @classmethod
    def groups_from_torch(cls, optimizer: torch.optim.Optimizer) -> list[OptimizerConfig]:
        """The hyper-parameters of each param group of a torch.optim SGD, Adam or AdamW."""
        kind = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}.get(
            type(optimizer)
        )
        if kind is None:
            cls_ = type(optimizer)
            module = "torch.optim" if cls_.__module__.startswith("torch.optim") else cls_.__module__
            raise UnsupportedOptimizerError(
                f"unsupported optimizer {module}.{cls_.__qualname__}: supported are "
                "torch.optim.SGD, torch.optim.Adam and torch.optim.AdamW"
            )
        name = type(optimizer).__name__
        configs = []
        for i, group in enumerate(optimizer.param_groups):
            where = f" (param group {i})" if len(optimizer.param_groups) > 1 else ""
            for key in ("maximize", "amsgrad"):
                if group.get(key):
                    raise UnsupportedOptimizerError(f"{name}({key}=True){where} is not supported")
            configs.append(cls._from_group(kind, group))
        return configs

    @classmethod
    def _from_group(cls, kind: OptimizerKind, group: Mapping[str, Any]) -> OptimizerConfig:
        lr = float(group["lr"])  # a tensor lr too
        if kind == "sgd":
            return cls(
                "sgd",
                lr=lr,
                momentum=float(group.get("momentum", 0.0)),
                nesterov=bool(group.get("nesterov", False)),
                weight_decay=float(group.get("weight_decay", 0.0)),
                dampening=float(group.get("dampening", 0.0)),
            )
        betas = tuple(float(b) for b in group["betas"])
        return cls(
            kind,
            lr=lr,
            betas=(betas[0], betas[1]),
            eps=float(group["eps"]),
            weight_decay=float(group.get("weight_decay", 0.0)),
        )

    def state_names(self, param_name: str) -> list[str]:
        """Names of the per-parameter state tensors, in argument order."""
        if self.kind == "sgd":
            return [f"{param_name}.momentum_buffer"] if self.momentum > 0.0 else []
        return [f"{param_name}.exp_avg", f"{param_name}.exp_avg_sq"]

    @property
    def has_step_counter(self) -> bool:
        # SGD with dampening needs to know the first step (torch sets buf = grad there).
        return self.kind in ("adam", "adamw") or (self.momentum > 0.0 and self.dampening != 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
            "eps": self.eps,
            "dampening": self.dampening,
        }


# ----------------------------------------------------------------------------------------------
# Signature


@dataclass(frozen=True)
class ValueSpec:
    """One function argument: what it is and its type. ``kind`` is ``output`` for out-params, and
    ``result`` then says what the value is: the ``loss`` or a model ``output`` (new parameters,
    state and buffers are no out-params: they are written into their own arguments). ``int_range`` is the half-open range ``[lo, hi)`` of valid integer values
    (token ids, class labels); ``float_range`` marks float arguments that must stay in
    ``[lo, hi)`` for finite results (Adam's second moment and step count must not be negative).
    ``updated`` marks an argument that the step overwrites with its new value (parameters,
    optimizer state, batch-norm statistics)."""

    name: str
    kind: ValueKind
    dtype: str
    shape: tuple[int, ...]
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    result: ResultKind | None = None
    updated: bool = False

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
        if self.result is not None:
            data["result"] = self.result
        if self.updated:
            data["updated"] = True
        return data


@dataclass(frozen=True)
class StepSignature:
    """Every argument of the captured function in order: ``params, buffers, state, inputs,
    targets`` then the out-params: ``loss`` (training) or the model outputs (inference).
    Parameters, state and buffers that the step changes are ``updated`` in place."""

    args: tuple[ValueSpec, ...]

    @property
    def inputs(self) -> tuple[ValueSpec, ...]:
        """The arguments that carry values in (everything but the out-params)."""
        return tuple(a for a in self.args if a.kind != "output")

    @property
    def outputs(self) -> tuple[ValueSpec, ...]:
        """The out-params, in order."""
        return tuple(a for a in self.args if a.kind == "output")

    @property
    def updated(self) -> tuple[ValueSpec, ...]:
        """The arguments the step overwrites with their new values."""
        return tuple(a for a in self.args if a.updated)

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.args]


# ----------------------------------------------------------------------------------------------
# Captured step


@dataclass
class CapturedStep:
    """A captured training step or inference graph.

    ``module_text`` is the bufferized memref IR (one public ``func.func @func_name``, updated
    state written into its own arguments, other results turned into out-params); ``graph`` is
    the functional FX graph it came from, runnable on ``example_args`` (real tensors in argument
    order, out-params excluded), whose results are named by ``graph_results``: ``loss`` and
    ``new.<name>`` for each updated argument (training), the model outputs (inference)."""

    graph: torch.fx.GraphModule
    signature: StepSignature
    func_name: str
    optimizer: OptimizerConfig | None
    example_args: list[torch.Tensor] = field(repr=False)
    graph_results: tuple[str, ...] = ()
    parameter_names: list[str] = field(default_factory=list)
    buffer_names: list[str] = field(default_factory=list)
    state_names: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    _module_text: str | None = field(default=None, repr=False)
    # The hyper-parameters of each updated parameter (its param group's); ``optimizer`` is the
    # first group's. Empty: ``optimizer`` for every parameter.
    param_optimizers: dict[str, OptimizerConfig] = field(default_factory=dict)

    def optimizer_of(self, param_name: str) -> OptimizerConfig | None:
        """The hyper-parameters that update ``param_name`` (its param group's)."""
        return self.param_optimizers.get(param_name, self.optimizer)

    @property
    def has_step_counter(self) -> bool:
        """Whether the optimizer state ends with the scalar ``step``."""
        return "step" in self.state_names

    @property
    def kind(self) -> Literal["training", "inference"]:
        return "inference" if self.optimizer is None else "training"

    @property
    def module_text(self) -> str:
        """Bufferized memref IR (computed on first use when capture was asked not to lower)."""
        if self._module_text is None:
            self._module_text = lower_to_memref_text(self)
        return self._module_text

    @property
    def updates(self) -> dict[int, int]:
        """Graph result index -> index of the argument it overwrites."""
        index = {f"new.{a.name}": i for i, a in enumerate(self.signature.args) if a.updated}
        return {r: index[name] for r, name in enumerate(self.graph_results) if name in index}

    @property
    def int_ranges(self) -> dict[int, tuple[int, int]]:
        """``[lo, hi)`` of every integer argument, by argument index."""
        return {
            i: a.int_range for i, a in enumerate(self.signature.args) if a.int_range is not None
        }

    @property
    def float_ranges(self) -> dict[int, tuple[float, float]]:
        return {
            i: a.float_range for i, a in enumerate(self.signature.args) if a.float_range is not None
        }

    def arguments_from(
        self,
        model: nn.Module,
        optimizer_state: torch.optim.Optimizer | Mapping[str, torch.Tensor] | None,
        example_inputs: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor] | torch.Tensor | None = None,
    ) -> list[np.ndarray]:
        """The argument list of the captured function, in order, as numpy arrays: parameters and
        buffers read from ``model``, optimizer state from a torch.optim instance (its per-parameter
        state; fresh zeros where it has none), a mapping by state name, or ``None`` (a fresh
        optimizer), then the batch; out-params as zero arrays."""
        for spec in self.signature.args:
            if spec.dtype not in _NUMPY_DTYPES:
                raise CaptureUsageError(
                    f"{spec.kind} '{spec.name}' is {spec.dtype}, which numpy (the CPU run) does "
                    "not have: running or verifying this step needs float32, float16 or float64 "
                    "tensors; the plan itself does not"
                )
        params = dict(model.named_parameters())
        buffers = dict(model.named_buffers())
        state = _state_values(self, params, optimizer_state)
        inputs = list(example_inputs)
        target_list = _as_list(targets) if targets is not None else []
        batch = {f"input{i}": x for i, x in enumerate(inputs)}
        batch.update(_target_names(targets, target_list))
        arrays: list[np.ndarray] = []
        for spec in self.signature.args:
            if spec.kind == "output":
                arrays.append(np.zeros(spec.shape, dtype=_NUMPY_DTYPES[spec.dtype]))
                continue
            source = {"param": params, "buffer": buffers, "state": state}.get(spec.kind, batch)
            if spec.name not in source:
                raise CaptureError(f"no value for {spec.kind} '{spec.name}'")
            value = source[spec.name]
            if tuple(value.shape) != spec.shape:
                raise CaptureError(
                    f"{spec.kind} '{spec.name}' has shape {tuple(value.shape)}, "
                    f"the captured step expects {spec.shape}"
                )
            arrays.append(_to_numpy(value, spec.dtype))
        return arrays

    def results_to_torch(self, arrays: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Every argument after a call (as ``run_cpu`` returns them) -> the step's results as
        torch tensors, named and ordered like ``graph_results``: ``loss``, ``new.<param>``,
        ``new.<state>``, ``new.<buffer>`` (read from the updated arguments) for a training step;
        ``output`` or ``output.<key>`` for inference. A list of just the out-params is accepted
        when no argument is updated."""
        args = self.signature.args
        if len(arrays) != len(args):
            if self.signature.updated or len(arrays) != len(self.signature.outputs):
                raise ValueError(f"expected {len(args)} argument arrays, got {len(arrays)}")
            arrays = [*([None] * (len(args) - len(arrays))), *arrays]
        by_name = {
            (f"new.{spec.name}" if spec.updated else spec.name): array
            for spec, array in zip(args, arrays, strict=True)
            if spec.updated or spec.kind == "output"
        }
        return {
            name: torch.from_numpy(np.asarray(by_name[name]).copy()) for name in self.graph_results
        }


def _as_list(targets: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    return [targets] if isinstance(targets, torch.Tensor) else list(targets)


def _target_names(
    targets: Sequence[torch.Tensor] | torch.Tensor | None, target_list: list[torch.Tensor]
) -> dict[str, torch.Tensor]:
    if isinstance(targets, torch.Tensor):
        return {"target": targets}
    return {f"target{i}": t for i, t in enumerate(target_list)}


def _to_numpy(value: torch.Tensor, dtype: str) -> np.ndarray:
    return value.detach().cpu().contiguous().numpy().astype(_NUMPY_DTYPES[dtype], copy=True)


def _state_values(
    step: CapturedStep,
    params: Mapping[str, torch.Tensor],
    optimizer_state: torch.optim.Optimizer | Mapping[str, torch.Tensor] | None,
) -> dict[str, torch.Tensor]:
    config = step.optimizer
    if config is None:
        return {}
    if isinstance(optimizer_state, Mapping):
        return dict(optimizer_state)
    per_param: dict[str, Mapping[str, Any]] = {}
    if isinstance(optimizer_state, torch.optim.Optimizer):
        per_param = {name: optimizer_state.state.get(p, {}) for name, p in params.items()}
    values: dict[str, torch.Tensor] = {}
    steps: set[float] = set()
    # Only the updated parameters: torch.optim keeps no state for the frozen ones.
    updated = [a.name for a in step.signature.args if a.kind == "param" and a.updated]
    for name in updated:
        entry = per_param.get(name, {})
        names = (step.optimizer_of(name) or config).state_names(name)
        for state_name in names:
            key = state_name.rsplit(".", 1)[1]
            found = entry.get(key)
            values[state_name] = (
                found.detach()
                if isinstance(found, torch.Tensor)
                else torch.zeros_like(params[name])
            )
        if config.kind == "sgd":
            if names:  # a group without momentum keeps no buffer and does not count steps
                steps.add(1.0 if entry.get("momentum_buffer") is not None else 0.0)
        elif "step" in entry:
            steps.add(float(entry["step"]))
        else:
            steps.add(0.0)
    if step.has_step_counter:
        if len(steps) > 1:
            raise CaptureError(
                f"parameters are at different optimizer steps {sorted(steps)}; "
                "the captured step has one step counter"
            )
        values["step"] = torch.tensor(steps.pop() if steps else 0.0, dtype=torch.float32)
    return values


# ----------------------------------------------------------------------------------------------
# Capture


def capture_training_step(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer | OptimizerConfig,
    *,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
    func_name: str = "main",
    progress: bool = False,
    lower: bool = True,
) -> CapturedStep:
    """Capture ``loss_fn(model(*example_inputs), targets)`` (``*targets`` for a sequence), its
    gradient and the optimizer update as one functional graph, then (``lower``) import and
    bufferize it (``module_text``).

    The model runs in training mode, as eager training does: batch norm normalises with batch
    statistics and updates its running statistics (buffers in, new buffers out). Dropout modules
    are switched off so that the step is deterministic. Parameters that the optimizer does not
    hold, that do not require grad or that get no gradient (unused by the loss; torch.optim skips
    them) are arguments but are not updated. Each parameter is updated with the
    hyper-parameters of its param group.

    Batch arguments are named ``input0``, ``input1``, ... and ``target`` (or ``target0``, ... for
    a sequence of targets); ``int_ranges`` gives the valid ``[lo, hi)`` range of integer batch
    arguments by those names (default: the range of the example values).
    """
    start = time.perf_counter()
    all_params = {name: p.detach() for name, p in model.named_parameters()}
    if isinstance(optimizer, OptimizerConfig):
        config = optimizer
        group_of = {n: config for n, p in model.named_parameters() if p.requires_grad}
    else:
        group_configs = OptimizerConfig.groups_from_torch(optimizer)
        config = group_configs[0]
        by_id = {
            id(p): group_configs[i]
            for i, group in enumerate(optimizer.param_groups)
            for p in group["params"]
        }
        group_of = {
            n: by_id[id(p)]
            for n, p in model.named_parameters()
            if id(p) in by_id and p.requires_grad
        }
        if all_params and not any(id(p) in by_id for p in model.parameters()):
            raise CaptureUsageError(
                "the optimizer holds none of the model's parameters (was it built for another "
                "model, or a copy?): build it from model.parameters()"
            )
    _check_tensors(example_inputs, "example input")
    target_list = _as_list(targets)
    _check_tensors(target_list, "target")
    int_ranges = dict(int_ranges or {})
    _check_trainable(all_params, group_of)

    trainable = list(group_of)
    graph, no_gradient = _trace_training_step(
        model, example_inputs, target_list, loss_fn, trainable, group_of
    )
    if no_gradient:
        # torch.optim skips a parameter whose .grad is None (no decay, no state): so do we.
        trainable = [n for n in trainable if n not in no_gradient]
        if not trainable:
            raise CaptureUsageError(
                "no parameter gets a gradient from the loss; a training step needs one"
            )
        graph, _ = _trace_training_step(
            model, example_inputs, target_list, loss_fn, trainable, group_of
        )
    frozen = [n for n in all_params if n not in set(trainable)]
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    buffer_names = list(buffers)
    param_configs = {n: group_of[n] for n in trainable}
    state_names, state_values = _initial_state(param_configs, {n: all_params[n] for n in trainable})
    n_train, n_frozen, n_inputs = len(trainable), len(frozen), len(example_inputs)
    updated = _drop_unchanged_buffers(
        graph,
        buffer_names,
        first_buffer_arg=n_train + n_frozen,
        first_buffer_result=1 + n_train + len(state_names),
    )
    example_args = [
        *(all_params[n] for n in trainable),
        *(all_params[n] for n in frozen),
        *buffers.values(),
        *state_values,
        *example_inputs,
        *target_list,
    ]

    specs: list[ValueSpec] = []
    specs += [_spec(n, "param", all_params[n], updated=True) for n in trainable]
    specs += [_spec(n, "param", all_params[n]) for n in frozen]
    specs += [
        _spec(n, "buffer", buffers[n], _buffer_int_range(buffers[n]), updated=n in updated)
        for n in buffer_names
    ]
    specs += [
        dataclasses.replace(_spec(n, "state", v, updated=True), float_range=_state_range(n))
        for n, v in zip(state_names, state_values, strict=True)
    ]
    single_target = isinstance(targets, torch.Tensor)
    batch_names = [f"input{i}" for i in range(n_inputs)]
    batch_names += ["target"] if single_target else [f"target{i}" for i in range(len(target_list))]
    kinds: list[ValueKind] = ["input"] * n_inputs + ["target"] * len(target_list)
    for name, kind, value in zip(batch_names, kinds, [*example_inputs, *target_list], strict=True):
        specs.append(_spec(name, kind, value, _int_range(name, value, int_ranges)))
    unknown = set(int_ranges) - set(batch_names)
    if unknown:
        raise CaptureError(
            f"int_ranges names no integer batch argument: {sorted(unknown)} "
            f"(batch arguments: {batch_names})"
        )

    specs.append(ValueSpec("loss", "output", "f32", (), result="loss"))
    captured = CapturedStep(
        graph,
        StepSignature(tuple(specs)),
        func_name,
        config,
        example_args,
        ("loss", *(f"new.{n}" for n in [*trainable, *state_names, *updated])),
        parameter_names=trainable + frozen,
        buffer_names=buffer_names,
        state_names=state_names,
        param_optimizers=param_configs,
    )
    return _finish(captured, start, progress, lower)


def _check_trainable(
    all_params: Mapping[str, torch.Tensor], group_of: Mapping[str, OptimizerConfig]
) -> None:
    """Refuse a training step that would update nothing."""
    if group_of:
        return
    if not all_params:
        raise CaptureUsageError(
            "the model has no parameters, so a training step has nothing to update; for the "
            "forward pass alone leave out loss_fn, targets and optimizer (plan(model, inputs))"
        )
    raise CaptureUsageError(
        f"none of the model's {len(all_params)} parameters is trainable (requires_grad=True and "
        "held by the optimizer), so a training step has nothing to update; unfreeze one, or for "
        "the forward pass alone leave out loss_fn, targets and optimizer (plan(model, inputs))"
    )


def _trace_training_step(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    target_list: Sequence[torch.Tensor],
    loss_fn: LossFn,
    trainable: Sequence[str],
    group_of: Mapping[str, OptimizerConfig],
) -> tuple[torch.fx.GraphModule, set[str]]:
    """Trace the step that updates ``trainable``; also returns the names of those that got no
    gradient (torch would leave their ``.grad`` None)."""
    all_params = {name: p.detach() for name, p in model.named_parameters()}
    frozen = [n for n in all_params if n not in set(trainable)]
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    buffer_names = list(buffers)
    param_configs = [group_of[n] for n in trainable]
    state_names, state_values = _initial_state(
        dict(zip(trainable, param_configs, strict=True)), {n: all_params[n] for n in trainable}
    )
    n_train, n_frozen, n_buf, n_state = (
        len(trainable),
        len(frozen),
        len(buffer_names),
        len(state_names),
    )
    n_inputs = len(example_inputs)

    def loss_of(
        train_values: dict[str, torch.Tensor],
        frozen_values: dict[str, torch.Tensor],
        buffer_values: dict[str, torch.Tensor],
        batch: Sequence[torch.Tensor],
        target_values: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # Buffers are arguments of the differentiated function so that the forward may update
        # them in place (batch norm); the clones keep the arguments themselves unmutated.
        buffer_values = {n: v.clone() for n, v in buffer_values.items()}
        output = torch.func.functional_call(
            model, ({**train_values, **frozen_values}, buffer_values), tuple(batch)
        )
        loss = loss_fn(output, *target_values)
        _check_loss(loss)
        return loss.reshape(()), [buffer_values[n] for n in buffer_names]

    def step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        it = iter(args)
        train_values = [next(it) for _ in range(n_train)]
        frozen_values = [next(it) for _ in range(n_frozen)]
        buffer_values = [next(it) for _ in range(n_buf)]
        state = [next(it) for _ in range(n_state)]
        batch = [next(it) for _ in range(n_inputs)]
        target_values = list(it)
        grads, (loss, new_buffers) = torch.func.grad_and_value(loss_of, has_aux=True)(
            dict(zip(trainable, train_values, strict=True)),
            dict(zip(frozen, frozen_values, strict=True)),
            dict(zip(buffer_names, buffer_values, strict=True)),
            batch,
            target_values,
        )
        new_params, new_state = _update(
            param_configs, train_values, [grads[n] for n in trainable], state
        )
        # The loss out-param is f32 whatever precision loss_fn computed it in.
        return (loss.to(torch.float32), *new_params, *new_state, *new_buffers)

    example_args = [
        *(all_params[n] for n in trainable),
        *(all_params[n] for n in frozen),
        *buffers.values(),
        *state_values,
        *example_inputs,
        *target_list,
    ]
    with _model_mode(model, train=True), _recording_gradients() as has_gradient:
        graph = _trace(step, example_args)
    no_gradient: set[str] = set()
    if len(has_gradient) == 1 and len(has_gradient[0]) == n_train:
        no_gradient = {n for n, got in zip(trainable, has_gradient[0], strict=True) if not got}
    return graph, no_gradient


def _check_loss(loss: Any) -> None:
    """The loss must be a floating-point scalar that depends on the trainable parameters."""
    if not isinstance(loss, torch.Tensor):
        raise CaptureUsageError(
            f"loss_fn returned a {type(loss).__name__}; return a scalar torch.Tensor computed "
            "from the model output"
        )
    if loss.numel() != 1:
        raise CaptureUsageError(
            f"loss_fn returned shape {list(loss.shape)}; return a scalar, e.g. .mean() or .sum() "
            "of it"
        )
    if not loss.is_floating_point():
        raise CaptureUsageError(
            f"loss_fn returned a {loss.dtype} tensor; the loss must be floating point to be "
            "differentiated (e.g. compute it from the float model output, not from a comparison)"
        )
    if not loss.requires_grad:
        raise CaptureUsageError(
            "loss_fn's result does not depend on any trainable parameter (no gradient flows "
            "to it): compute it from the model output, without .detach(), torch.no_grad() or "
            ".item()"
        )


def capture_inference(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    *,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
    func_name: str = "main",
    progress: bool = False,
    lower: bool = True,
) -> CapturedStep:
    """Capture the forward pass in eval mode: ``(params, buffers, inputs) -> model outputs``
    (out-params named ``output``, or ``output.<key>`` for tuples, dicts and ModelOutputs)."""
    start = time.perf_counter()
    _check_tensors(example_inputs, "example input")
    int_ranges = dict(int_ranges or {})
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    param_names, buffer_names = list(params), list(buffers)
    n_params, n_buf = len(param_names), len(buffer_names)
    output_paths: list[str] = []

    def forward(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            output = torch.func.functional_call(
                model,
                (
                    dict(zip(param_names, args[:n_params], strict=True)),
                    dict(zip(buffer_names, args[n_params : n_params + n_buf], strict=True)),
                ),
                tuple(args[n_params + n_buf :]),
            )
        leaves, paths = _flatten_output(output)
        output_paths[:] = paths
        return tuple(leaves)

    example_args = [*params.values(), *buffers.values(), *example_inputs]
    with _model_mode(model, train=False):
        graph = _trace(forward, example_args)
    out_node = next(n for n in graph.graph.nodes if n.op == "output")
    out_values = [a.meta.get("val") for a in out_node.args[0]]

    specs: list[ValueSpec] = []
    specs += [_spec(n, "param", params[n]) for n in param_names]
    specs += [_spec(n, "buffer", buffers[n], _buffer_int_range(buffers[n])) for n in buffer_names]
    batch_names = [f"input{i}" for i in range(len(example_inputs))]
    for name, value in zip(batch_names, example_inputs, strict=True):
        specs.append(_spec(name, "input", value, _int_range(name, value, int_ranges)))
    unknown = set(int_ranges) - set(batch_names)
    if unknown:
        raise CaptureError(f"int_ranges names no integer input: {sorted(unknown)}")
    for path, value in zip(output_paths, out_values, strict=True):
        specs.append(_output(path, value, "output"))
    captured = CapturedStep(
        graph,
        StepSignature(tuple(specs)),
        func_name,
        None,
        example_args,
        tuple(output_paths),
        parameter_names=param_names,
        buffer_names=buffer_names,
    )
    return _finish(captured, start, progress, lower)


def _finish(captured: CapturedStep, start: float, progress: bool, lower: bool) -> CapturedStep:
    """Record the capture time, report it, and lower to memref IR unless asked not to."""
    captured.timings["capture"] = time.perf_counter() - start
    _report(progress, "captured", captured)
    if lower:
        captured._module_text = lower_to_memref_text(captured, progress=progress)
    return captured


def _flatten_output(output: Any) -> tuple[list[torch.Tensor], list[str]]:
    from torch.utils import _pytree as pytree

    if isinstance(output, torch.Tensor):
        return [output], ["output"]
    pairs, _ = pytree.tree_flatten_with_path(output)
    leaves: list[torch.Tensor] = []
    paths: list[str] = []
    for path, leaf in pairs:
        if not isinstance(leaf, torch.Tensor):
            continue
        parts = []
        for key in path:
            for attr in ("key", "idx", "name"):
                if hasattr(key, attr):
                    parts.append(str(getattr(key, attr)))
                    break
        leaves.append(leaf)
        paths.append(".".join(["output", *parts]))
    if not leaves:
        raise CaptureError("the model returned no tensor")
    return leaves, paths


def _check_tensors(values: Sequence[Any], what: str) -> None:
    for i, value in enumerate(values):
        if not isinstance(value, torch.Tensor):
            raise CaptureError(f"{what} {i} is a {type(value).__name__}, not a torch.Tensor")
        if value.numel() == 0:
            # torch-mlir's lowering divides by a zero extent (the process dies of SIGFPE).
            raise CaptureUsageError(
                f"{what} {i} has shape {list(value.shape)}, no elements; give at least one "
                "element in every dimension"
            )


@contextlib.contextmanager
def _model_mode(model: nn.Module, *, train: bool) -> Iterator[None]:
    """Training (dropout off) or eval mode for the duration of the trace; restored after."""
    modes = {m: m.training for m in model.modules()}
    model.train(train)
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode


# While a training step is traced: for each gradient computed, whether each input got one.
_GRADIENT_RECORD: list[list[tuple[bool, ...]]] = []


@contextlib.contextmanager
def _recording_gradients() -> Iterator[list[tuple[bool, ...]]]:
    record: list[tuple[bool, ...]] = []
    _GRADIENT_RECORD.append(record)
    try:
        yield record
    finally:
        _GRADIENT_RECORD.remove(record)


def _first_order_autograd_grad(
    outputs: Sequence[torch.Tensor],
    inputs: Sequence[torch.Tensor],
    grad_outputs: Sequence[torch.Tensor] | None = None,
    retain_graph: bool = False,
    create_graph: bool = True,
) -> tuple[torch.Tensor, ...]:
    """functorch's ``_autograd_grad`` (torch 2.13) without ``create_graph``: one level of
    ``torch.func.grad``, never differentiated again. It also records which inputs got no
    gradient (functorch gives them zeros; torch.optim would skip them)."""
    del create_graph
    if grad_outputs is None:
        pairs = [(out, None) for out in outputs if out.requires_grad]
    else:
        pairs = [
            (out, go) for out, go in zip(outputs, grad_outputs, strict=True) if out.requires_grad
        ]
    if not pairs:
        grads: Sequence[torch.Tensor | None] = [None] * len(inputs)
    else:
        with torch._dynamo.compiled_autograd._disable():
            grads = torch.autograd.grad(
                [out for out, _ in pairs],
                inputs,
                None if grad_outputs is None else [go for _, go in pairs],
                retain_graph=retain_graph,
                create_graph=False,
                allow_unused=True,
            )
    if _GRADIENT_RECORD:
        _GRADIENT_RECORD[-1].append(tuple(g is not None for g in grads))
    return tuple(
        torch.zeros_like(inp) if g is None else g for g, inp in zip(grads, inputs, strict=True)
    )


@contextlib.contextmanager
def capture_environment() -> Iterator[None]:
    """What every capture runs under.

    - The Python dispatcher, so that ``native_batch_norm`` in training mode goes through
      ``_native_batch_norm_legit``, whose running-statistics update functionalization can see.
    - ``torch.func.grad`` runs its backward pass without ``create_graph``. We never
      differentiate twice, and with a graph to create autograd picks the double-differentiable
      backward formulas (``infinitely_differentiable_native_group_norm_backward``,
      ``..._layer_norm_backward``, ...): C++ composites below which no decomposition of ours
      applies, holding several full-size temporaries at once. First-order backward ops
      (``native_group_norm_backward``, ...) reach the decomposition table instead.
    - transformers' packed-sequence check patched out: it branches on tensor data unless it sees
      dynamo or FakeTensors, and under functionalize/grad it sees neither. Each row is one
      sequence.
    - Attention through the math backend of ``scaled_dot_product_attention`` (matmuls and a
      softmax, differentiated op by op): the fused CPU flash kernel's backward
      (``_scaled_dot_product_flash_attention_for_cpu_backward``) has no torch-mlir lowering.
      ``nn.TransformerEncoderLayer``, T5 and every model calling ``F.scaled_dot_product_attention``
      need this.
    - oneDNN (mkldnn) off: RNNs then take their composite path (matmuls and pointwise cells)
      instead of ``mkldnn_rnn_layer``, which torch-mlir cannot lower.
    Eager PyTorch, measured or used as the reference, runs with the defaults.
    """
    from torch._dispatch.python import enable_python_dispatcher
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with contextlib.ExitStack() as stack:
        stack.enter_context(enable_python_dispatcher())
        stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        stack.enter_context(_onednn_off())
        stack.enter_context(
            mock.patch.object(eager_transforms, "_autograd_grad", _first_order_autograd_grad)
        )
        try:
            from transformers import masking_utils
        except ImportError:
            masking_utils = None
        if masking_utils is not None and hasattr(masking_utils, "find_packed_sequence_indices"):
            stack.enter_context(
                mock.patch.object(
                    masking_utils, "find_packed_sequence_indices", lambda *_a, **_k: None
                )
            )
        yield


def _trace(
    fn: Callable[..., tuple[torch.Tensor, ...]], example_args: Sequence[torch.Tensor]
) -> torch.fx.GraphModule:
    try:
        with capture_environment():
            graph = make_fx(
                torch.func.functionalize(fn, remove="mutations"),
                decomposition_table=capture_decompositions(),
                tracing_mode="fake",
            )(*example_args)
    except CaptureError:
        raise
    except Exception as exc:
        translated = _translate_trace_error(exc)
        if translated is None:
            raise
        raise translated from None
    graph.graph.eliminate_dead_code()
    _check_static(graph, fn, example_args)
    _check_deterministic(graph)
    graph.recompile()
    return graph


def _drop_unchanged_buffers(
    graph: torch.fx.GraphModule,
    buffer_names: Sequence[str],
    *,
    first_buffer_arg: int,
    first_buffer_result: int,
) -> list[str]:
    """Remove buffer results that are the buffer argument itself (or a clone of it), and the
    clones of buffer arguments (functional IR has no use for them). Returns the names of the
    buffers that remain results, i.e. are updated by the step."""
    n_buffers = len(buffer_names)
    if not n_buffers:
        return []
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    buffer_args = placeholders[first_buffer_arg : first_buffer_arg + n_buffers]
    for node in list(graph.graph.nodes):
        if (
            node.op == "call_function"
            and node.target is torch.ops.aten.clone.default
            and node.args[0] in buffer_args
        ):
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    out_node = next(n for n in graph.graph.nodes if n.op == "output")
    results = list(out_node.args[0])
    buffer_results = results[first_buffer_result : first_buffer_result + n_buffers]
    keep = [
        i
        for i, (arg, res) in enumerate(zip(buffer_args, buffer_results, strict=True))
        if res is not arg
    ]
    out_node.args = (tuple(results[:first_buffer_result] + [buffer_results[i] for i in keep]),)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return [buffer_names[i] for i in keep]


def _check_static(
    graph: torch.fx.GraphModule, fn: Callable[..., Any], example_args: Sequence[torch.Tensor]
) -> None:
    for node in graph.graph.nodes:
        value = node.meta.get("val")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, torch.Tensor) and not all(isinstance(d, int) for d in v.shape):
                op = _op_name(node.target)
                where = _source_of(fn, example_args, node.name)
                raise DynamicShapeError(
                    f"{op} produces a tensor whose shape depends on tensor data ({tuple(v.shape)})"
                    f"{where}; the captured step needs static shapes: use static example inputs "
                    "and shape-preserving ops (e.g. torch.where instead of boolean indexing)"
                )


def _check_deterministic(graph: torch.fx.GraphModule) -> None:
    for node in graph.graph.nodes:
        if node.op == "call_function":
            name = _op_name(node.target).split(".")[1] if "." in _op_name(node.target) else ""
            if name in _RANDOM_OPS:
                raise CaptureError(
                    f"the step uses a random op ({_op_name(node.target)}), e.g. functional dropout "
                    "with p > 0 in training mode; a captured step must be deterministic: set the "
                    "dropout probabilities to 0"
                )


def _source_of(fn: Callable[..., Any], example_args: Sequence[torch.Tensor], node_name: str) -> str:
    """Trace again with stack traces recorded (only on the error path) to find the user line that
    created ``node_name``."""
    try:
        with capture_environment():
            graph = make_fx(
                torch.func.functionalize(fn, remove="mutations"),
                decomposition_table=capture_decompositions(),
                tracing_mode="fake",
                record_stack_traces=True,
            )(*example_args)
    except Exception:
        return ""
    for node in graph.graph.nodes:
        if node.name == node_name:
            trace = node.meta.get("stack_trace") or ""
            frames = [
                line.strip() for line in trace.splitlines() if line.strip().startswith("File ")
            ]
            for line in reversed(frames):
                path = line.split('"')[1] if '"' in line else ""
                if path and _is_user_file(path):
                    lineno = line.split("line ")[1].split(",")[0] if "line " in line else "?"
                    return f" at {path}:{lineno}"
    return ""


_LIBRARY_DIRS = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (torch, contextlib) if m.__file__
)
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_user_file(path: str) -> bool:
    path = os.path.abspath(path)
    return not (
        path.startswith(_LIBRARY_DIRS)
        or path.startswith(_OWN_DIR)
        or "/torch_mlir/" in path
        or path.startswith("<")
    )


def _user_frame(exc: BaseException) -> str:
    """``file:line: code`` of the innermost traceback frame in user (model) code."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if _is_user_file(frame.filename):
            code = f" (`{frame.line.strip()}`)" if frame.line else ""
            return f" at {frame.filename}:{frame.lineno}{code}"
    return ""


def _op_name(target: Any) -> str:
    name = getattr(target, "name", None)
    text = name() if callable(name) else str(target)
    return text.replace("::", ".")


def _translate_trace_error(exc: Exception) -> CaptureError | None:
    from torch._subclasses.fake_tensor import (
        DataDependentOutputException,
        DynamicOutputShapeException,
        FakeTensorDeviceMismatchError,
        UnsupportedOperatorException,
    )
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    where = _user_frame(exc)
    if isinstance(exc, GuardOnDataDependentSymNode):
        return DataDependentControlFlowError(
            "data-dependent control flow: a Python branch or value depends on tensor data "
            f"(aten._local_scalar_dense: `if tensor`, .item(), bool(), int()){where}; the captured "
            "step must not branch on tensor values: use torch.where or move the check out of "
            "the model"
        )
    if isinstance(exc, DataDependentOutputException):
        return DataDependentControlFlowError(
            f"data-dependent control flow: {_op_name(exc.func)} reads a tensor value into Python"
            f"{where}; the captured step must not branch on tensor values"
        )
    if isinstance(exc, DynamicOutputShapeException):
        return DynamicShapeError(
            f"{_op_name(exc.func)} produces a data-dependent shape{where}; the captured step "
            "needs static shapes: use static example inputs and shape-preserving ops"
        )
    if isinstance(exc, FakeTensorDeviceMismatchError):
        devices = sorted({str(exc.common_device), str(exc.device)})
        return CaptureUsageError(
            f"{_op_name(exc.func)} mixes tensors on {' and '.join(devices)}{where}: put the model "
            "and every example input and target on one device (the CPU)"
        )
    if isinstance(exc, UnsupportedOperatorException):
        return CaptureError(f"{_op_name(exc.func)} cannot be traced{where}")
    message = str(exc)
    if "data-dependent" in message or "data dependent" in message:
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        return DataDependentControlFlowError(f"data-dependent control flow{where}: {first}")
    if "dynamic shape" in message.lower() or "symbolic" in message.lower():
        first = message.strip().splitlines()[0]
        return DynamicShapeError(f"dynamic shapes{where}: {first}; give static example inputs")
    return None


def _report(progress: bool, what: str, captured: CapturedStep) -> None:
    if progress:
        stage = {"captured": "capture"}.get(what, what)
        print(
            f"modelopt: {what} in {captured.timings.get(stage, 0.0):.1f} s",
            file=sys.stderr,
            flush=True,
        )


# ----------------------------------------------------------------------------------------------
# Import and bufferize


def import_to_linalg(
    captured: CapturedStep | torch.fx.GraphModule, func_name: str | None = None
) -> ir.Module:
    """Import the step graph and lower it to linalg on tensors (with tm_tensor, scf, arith, math)."""
    graph = captured.graph if isinstance(captured, CapturedStep) else captured
    if func_name is None:
        func_name = captured.func_name if isinstance(captured, CapturedStep) else "main"
    diagnostics: list[str] = []
    try:
        with _native_stderr_captured(diagnostics):
            return torch_mlir_fx.stateless_fx_import(
                graph, output_type="linalg-on-tensors", model_name=func_name
            )
    except Exception as exc:
        # MLIR prints the diagnostics (which op failed) on file descriptor 2, not in the error.
        unsupported = sorted(set(_UNLOWERED_OP.findall(str(exc) + "".join(diagnostics))))
        if unsupported:
            raise LoweringError(
                f"torch-mlir cannot lower {', '.join(unsupported)}, which the captured step uses; "
                "a decomposition into supported ops (modelopt_mlir.frontend.decompositions) or "
                "a model without it is needed"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoweringError(f"torch-mlir import failed: {first}") from exc


@contextlib.contextmanager
def _onednn_off() -> Iterator[None]:
    """oneDNN off for the block (``torch.backends.mkldnn.flags`` would also set TF32, which
    warns on builds without Intel GPU support)."""
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was


@contextlib.contextmanager
def _native_stderr_captured(sink: list[str]) -> Iterator[None]:
    """Collect what native code writes to file descriptor 2 into ``sink``; on success it is
    written back to stderr unchanged, on failure the caller reads it."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr: nothing to collect
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as spool:
        os.dup2(spool.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            spool.seek(0)
            text = spool.read().decode("utf-8", errors="replace")
            sink.append(text)
            if text and not failed:
                sys.stderr.write(text)


# An op torch-mlir left unlowered, as its diagnostics name it.
_UNLOWERED_OP = re.compile(r'torch\.operator"[^<]*<\{name = "torch\.(aten\.[A-Za-z0-9_.]+)"')


def lower_to_memref_text(captured: CapturedStep, *, progress: bool = False) -> str:
    """Import ``captured`` and bufferize it; the memref IR as text without debug locations."""
    from modelopt_mlir.frontend.bufferize import BufferizeError

    start = time.perf_counter()
    module = import_to_linalg(captured)
    captured.timings["import"] = time.perf_counter() - start
    _report(progress, "import", captured)
    start = time.perf_counter()
    try:
        bufferize_step(module, captured)
    except BufferizeError as exc:
        raise LoweringError(str(exc)) from exc
    text = module.operation.get_asm(enable_debug_info=False)
    captured.timings["bufferize"] = time.perf_counter() - start
    _report(progress, "bufferize", captured)
    for line in text.splitlines():
        if line.lstrip().startswith("func.func") and "?" in line:
            raise DynamicShapeError(
                "the imported function has dynamic shapes; give static example inputs"
            )
    return text


def bufferize_step(
    module: ir.Module, captured: CapturedStep, func_name: str | None = None
) -> ir.Module:
    """Bufferize the imported ``module`` of ``captured`` (function ``func_name``, default the
    capture's) in place: transposes folded into the matrix products that read them
    (fold-transposes), updated state written into its own arguments, the signature recorded
    as argument attributes, then reuse-dying-inputs (after the annotation: updated arguments
    may hold intermediates of their own update)."""
    from modelopt_mlir.frontend.bufferize import bufferize, fuse_elementwise
    from modelopt_mlir.passes.fold_transposes import fold_transposes
    from modelopt_mlir.passes.reuse_dying_inputs import reuse_dying_inputs

    fold_transposes(module)
    fuse_elementwise(module)
    bufferize(module, updates=captured.updates)
    annotate_arguments(module, func_name or captured.func_name, captured.signature)
    with module.context:
        reuse_dying_inputs(module)
    return module


def annotate_arguments(module: ir.Module, func_name: str, signature: StepSignature) -> None:
    """Record the signature on ``@func_name``'s arguments: ``modelopt.name``, ``modelopt.kind``,
    ``modelopt.updated`` where the step overwrites the argument, and ``modelopt.noalias``: each
    argument is a distinct tensor, so memory-plan may order accesses to different arguments
    freely."""
    func = next(
        op.operation
        for op in module.body.operations
        if op.operation.name == "func.func"
        and ir.StringAttr(op.attributes["sym_name"]).value == func_name
    )
    with module.context:
        attrs = []
        for spec in signature.args:
            entries = {
                "modelopt.name": ir.StringAttr.get(spec.name),
                "modelopt.kind": ir.StringAttr.get(spec.kind),
                "modelopt.noalias": ir.UnitAttr.get(),
            }
            if spec.updated:
                entries["modelopt.updated"] = ir.UnitAttr.get()
            attrs.append(ir.DictAttr.get(entries))
        func.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)


# ----------------------------------------------------------------------------------------------
# Functional optimizer update


def _spec(
    name: str,
    kind: ValueKind,
    tensor: torch.Tensor,
    int_range: tuple[int, int] | None = None,
    *,
    updated: bool = False,
) -> ValueSpec:
    dtype = _DTYPE_NAMES.get(tensor.dtype)
    if dtype is None:
        supported = ", ".join(str(d).removeprefix("torch.") for d in _DTYPE_NAMES)
        raise CaptureUsageError(
            f"unsupported dtype {tensor.dtype} for '{name}' (supported: {supported}); convert "
            "it, e.g. .to(torch.int64) or .float()"
        )
    shape = tuple(int(d) for d in tensor.shape)
    return ValueSpec(name, kind, dtype, shape, int_range, updated=updated)


def _output(name: str, tensor: torch.Tensor, result: ResultKind) -> ValueSpec:
    return dataclasses.replace(_spec(name, "output", tensor), result=result)


def _initial_state(
    configs: Mapping[str, OptimizerConfig], params: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[torch.Tensor]]:
    """Fresh optimizer state of ``params``, each with its own (param group's) ``configs``."""
    names: list[str] = []
    values: list[torch.Tensor] = []
    for pname, p in params.items():
        for sname in configs[pname].state_names(pname):
            names.append(sname)
            values.append(torch.zeros_like(p))
    if _has_step_counter(configs.values()):
        names.append("step")
        values.append(torch.zeros((), dtype=torch.float32))
    return names, values


def _has_step_counter(configs: Iterable[OptimizerConfig]) -> bool:
    return any(c.has_step_counter for c in configs)


def _update(
    configs: Sequence[OptimizerConfig],
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    state: list[torch.Tensor],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One optimizer step, out of place; mirrors torch.optim's single-tensor implementations.
    ``configs`` has each parameter's hyper-parameters (its param group's); ``state`` is each
    parameter's state in order, then ``step`` where any needs it."""
    new_params: list[torch.Tensor] = []
    new_state: list[torch.Tensor] = []
    if not configs:
        return new_params, new_state
    own_state = iter(state)
    step = state[-1] if _has_step_counter(configs) else None
    if configs[0].kind == "sgd":
        first_step = step == 0.0 if step is not None else None
        for config, p, g in zip(configs, params, grads, strict=True):
            if config.weight_decay:
                g = g + config.weight_decay * p
            if config.momentum > 0.0:
                buf = next(own_state)
                # A zero-initialised buffer makes step one equal torch's "buf = grad" (dampening 0).
                if first_step is None:
                    buf = config.momentum * buf + g
                else:
                    buf = torch.where(
                        first_step, g, config.momentum * buf + (1.0 - config.dampening) * g
                    )
                new_state.append(buf)
                g = g + config.momentum * buf if config.nesterov else buf
            new_params.append(p - config.lr * g)
        if step is not None:
            new_state.append(step + 1.0)
        return new_params, new_state

    assert step is not None
    step = step + 1.0
    # Bias corrections once per distinct (lr, betas), before the per-parameter updates.
    corrections: dict[tuple[float, float, float], tuple[torch.Tensor, torch.Tensor]] = {}
    for config in configs:
        key = (config.lr, *config.betas)
        if key not in corrections:
            bias_correction1 = 1.0 - torch.pow(config.betas[0], step)
            bias_correction2_sqrt = torch.sqrt(1.0 - torch.pow(config.betas[1], step))
            corrections[key] = (config.lr / bias_correction1, bias_correction2_sqrt)
    for config, p, g in zip(configs, params, grads, strict=True):
        lr, wd = config.lr, config.weight_decay
        beta1, beta2 = config.betas
        step_size, bias_correction2_sqrt = corrections[(lr, beta1, beta2)]
        exp_avg, exp_avg_sq = next(own_state), next(own_state)
        if config.kind == "adamw":
            p = p * (1.0 - lr * wd)
        elif wd:
            g = g + wd * p
        # The order of the products is chosen so that every temporary dies into the next one
        # (reuse-dying-inputs): the gradient's last use is g * g, which then holds the second
        # moment's increment, and the update is torch's addcdiv(exp_avg, denom, -step_size).
        exp_avg = beta1 * exp_avg + (1.0 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (g * g) * (1.0 - beta2)
        denom = torch.sqrt(exp_avg_sq) / bias_correction2_sqrt + config.eps
        new_params.append(p + (exp_avg / denom) * -step_size)
        new_state.extend((exp_avg, exp_avg_sq))
    new_state.append(step)
    return new_params, new_state


def _state_range(name: str) -> tuple[float, float] | None:
    if name == "step" or name.endswith(".exp_avg_sq"):
        return (0.0, 1.0)
    return None


def _buffer_int_range(tensor: torch.Tensor) -> tuple[int, int] | None:
    if tensor.is_floating_point():
        return None
    if tensor.dtype == torch.bool:
        return (0, 2)
    lo = int(tensor.min()) if tensor.numel() else 0
    hi = int(tensor.max()) + 1 if tensor.numel() else 1
    return (lo, hi)


def _int_range(
    name: str, tensor: torch.Tensor, int_ranges: Mapping[str, tuple[int, int]]
) -> tuple[int, int] | None:
    if tensor.is_floating_point():
        if name in int_ranges:
            raise CaptureError(f"int_ranges given for floating-point argument '{name}'")
        return None
    if name not in int_ranges:
        return _buffer_int_range(tensor)
    lo, hi = int_ranges[name]
    if tensor.numel() and not (lo <= int(tensor.min()) and int(tensor.max()) < hi):
        raise CaptureError(f"example values of '{name}' fall outside [{lo}, {hi})")
    return (int(lo), int(hi))


# ----------------------------------------------------------------------------------------------
# Older entry points and reference helpers (tests, bench)


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


def reference_step(captured: CapturedStep) -> list[torch.Tensor]:
    """Run the captured graph on its example arguments (real tensors): the expected results."""
    with torch.no_grad():
        return list(captured.graph(*[a.clone() for a in captured.example_args]))


def torch_optimizer(
    config: OptimizerConfig, params: Sequence[torch.Tensor]
) -> torch.optim.Optimizer:
    """The torch.optim instance ``config`` stands for."""
    if config.kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            dampening=config.dampening,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    cls = torch.optim.Adam if config.kind == "adam" else torch.optim.AdamW
    return cls(
        params, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )


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


def eager_training_step(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: LossFn,
    optimizer: OptimizerConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One eager step with torch.optim on a deep copy: (loss, new params, new buffers) by name."""
    clone = copy.deepcopy(model)
    opt = torch_optimizer(optimizer, [p for p in clone.parameters() if p.requires_grad])
    with _model_mode(clone, train=True):
        loss = loss_fn(clone(*inputs), *_as_list(targets))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (
        loss.detach(),
        {n: p.detach() for n, p in clone.named_parameters()},
        {n: b.detach() for n, b in clone.named_buffers()},
    )


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = max(float(expected.abs().max()), 1e-12) if expected.numel() else 1.0
    diff = float((actual.double() - expected.double()).abs().max()) if expected.numel() else 0.0
    return diff / scale if math.isfinite(diff) else math.inf
