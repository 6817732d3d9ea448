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
:class:`~modelopt_mlir.frontend.errors.CaptureError` subclass whose message is meant for users
(no traceback needed).

The frontend's other rooms: ``trace`` (make_fx under the capture environment), ``optimizer`` (the
update written functionally), ``signature`` (what each argument is), ``importer`` (torch-mlir
import and bufferization), ``reference`` (the same step in eager PyTorch), ``errors``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from modelopt_mlir.frontend.errors import CaptureError, CaptureUsageError
from modelopt_mlir.frontend.importer import lower_to_memref_text, report_progress
from modelopt_mlir.frontend.optimizer import (
    OptimizerConfig,
    functional_update,
    initial_state,
    state_float_range,
)
from modelopt_mlir.frontend.signature import (
    NUMPY_DTYPES,
    StepSignature,
    ValueKind,
    ValueSpec,
    as_tensor_list,
    batch_int_range,
    buffer_int_range,
    output_spec,
    target_names,
    to_numpy,
    value_spec,
)
from modelopt_mlir.frontend.trace import (
    drop_unchanged_buffers,
    model_mode,
    recording_gradients,
    trace_functional,
)

LossFn = Callable[..., torch.Tensor]


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
            if spec.dtype not in NUMPY_DTYPES:
                raise CaptureUsageError(
                    f"{spec.kind} '{spec.name}' is {spec.dtype}, which numpy (the CPU run) does "
                    "not have: running or verifying this step needs float32, float16 or float64 "
                    "tensors; the plan itself does not"
                )
        params = dict(model.named_parameters())
        buffers = dict(model.named_buffers())
        state = _state_values(self, params, optimizer_state)
        inputs = list(example_inputs)
        target_list = as_tensor_list(targets) if targets is not None else []
        batch = {f"input{i}": x for i, x in enumerate(inputs)}
        batch.update(target_names(targets, target_list))
        arrays: list[np.ndarray] = []
        for spec in self.signature.args:
            if spec.kind == "output":
                arrays.append(np.zeros(spec.shape, dtype=NUMPY_DTYPES[spec.dtype]))
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
            arrays.append(to_numpy(value, spec.dtype))
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
    (and nn.MultiheadAttention's attention dropout) are switched off so that the step is
    deterministic; any other random op is refused. Parameters that the optimizer does not
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
    target_list = as_tensor_list(targets)
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
    state_names, state_values = initial_state(param_configs, {n: all_params[n] for n in trainable})
    n_train, n_frozen, n_inputs = len(trainable), len(frozen), len(example_inputs)
    updated = drop_unchanged_buffers(
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
    specs += [value_spec(n, "param", all_params[n], updated=True) for n in trainable]
    specs += [value_spec(n, "param", all_params[n]) for n in frozen]
    specs += [
        value_spec(n, "buffer", buffers[n], buffer_int_range(buffers[n]), updated=n in updated)
        for n in buffer_names
    ]
    specs += [
        dataclasses.replace(
            value_spec(n, "state", v, updated=True), float_range=state_float_range(n)
        )
        for n, v in zip(state_names, state_values, strict=True)
    ]
    single_target = isinstance(targets, torch.Tensor)
    batch_names = [f"input{i}" for i in range(n_inputs)]
    batch_names += ["target"] if single_target else [f"target{i}" for i in range(len(target_list))]
    kinds: list[ValueKind] = ["input"] * n_inputs + ["target"] * len(target_list)
    for name, kind, value in zip(batch_names, kinds, [*example_inputs, *target_list], strict=True):
        specs.append(value_spec(name, kind, value, batch_int_range(name, value, int_ranges)))
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
    # Traced with fake tensors: only the state's shapes matter here.
    state_names, state_values = initial_state(
        dict(zip(trainable, param_configs, strict=True)),
        {n: all_params[n] for n in trainable},
        zeroed=False,
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
        new_params, new_state = functional_update(
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
    with model_mode(model, train=True), recording_gradients() as has_gradient:
        graph = trace_functional(step, example_args)
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
    with model_mode(model, train=False):
        graph = trace_functional(forward, example_args)
    out_node = next(n for n in graph.graph.nodes if n.op == "output")
    out_values = [a.meta.get("val") for a in out_node.args[0]]

    specs: list[ValueSpec] = []
    specs += [value_spec(n, "param", params[n]) for n in param_names]
    specs += [
        value_spec(n, "buffer", buffers[n], buffer_int_range(buffers[n])) for n in buffer_names
    ]
    batch_names = [f"input{i}" for i in range(len(example_inputs))]
    for name, value in zip(batch_names, example_inputs, strict=True):
        specs.append(value_spec(name, "input", value, batch_int_range(name, value, int_ranges)))
    unknown = set(int_ranges) - set(batch_names)
    if unknown:
        raise CaptureError(f"int_ranges names no integer input: {sorted(unknown)}")
    for path, value in zip(output_paths, out_values, strict=True):
        specs.append(output_spec(path, value, "output"))
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
    report_progress(progress, "captured", captured)
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
