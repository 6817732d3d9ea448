"""PyTorch eager's peak memory for one step, measured with torch's own ``MemTracker``.

This is the figure users compare a plan with (DESIGN.md, "Measuring against PyTorch"): the
bytes live at the peak of one steady-state eager step, broken down by what they hold.

    from modelopt_mlir.eager_memory import eager_training_peak
    peak = eager_training_peak(model, inputs, targets, loss_fn, torch.optim.Adam(...))
    peak.total, peak.by_kind["activations"]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from copy import deepcopy  # (a parameter of eager_training_peak is named copy)
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributed._tools.mem_tracker import MemTracker, _MemRefType

__all__ = ["EagerPeak", "eager_inference_peak", "eager_training_peak"]

# Readable names for the tracker's kinds. Only the batch is handed to ``track_external`` as bare
# tensors, and the tracker files such tensors as "Other", so "Other" is the batch.
_KIND_NAMES: dict[_MemRefType, str] = {
    _MemRefType.PARAM: "parameters",
    _MemRefType.BUFFER: "buffers",
    _MemRefType.GRAD: "gradients",
    _MemRefType.ACT: "activations",
    _MemRefType.TEMP: "temporaries",
    _MemRefType.OPT: "optimizer state",
    _MemRefType.OTH: "inputs",
}
_TOTAL_KEY = "Total"
OPTIMIZER_TEMPORARIES = "optimizer temporaries"


@dataclass(frozen=True)
class EagerPeak:
    """Eager memory at the peak of one step."""

    total: int  # bytes at the peak (torch.cuda.max_memory_allocated on CUDA, see _cuda_total)
    by_kind: dict[str, int]  # bytes at the peak by kind; kinds with 0 bytes are left out
    device: str  # "cpu" or "cuda:0"


def eager_training_peak(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    targets: torch.Tensor | Sequence[torch.Tensor],
    loss_fn: Callable[..., torch.Tensor],
    optimizer: Any,
    *,
    warmup: int = 1,
    copy: bool = True,
    meta: bool = False,
) -> EagerPeak:
    """Peak memory of one steady-state training step ``zero_grad; loss_fn(model(*inputs),
    *targets).backward(); step`` on deep copies of ``model`` and ``optimizer``.

    ``optimizer`` is a ``torch.optim.Optimizer`` over ``model``'s parameters or an
    ``OptimizerConfig``-like object (``kind``, ``lr``, ...). The copy runs in training mode
    with dropout switched off, after ``warmup`` full steps so that optimizer state exists.
    ``copy=False`` steps ``model`` and ``optimizer`` (a torch.optim instance) themselves: for
    models built under ``FakeTensorMode``, whose tensors cannot be deep-copied into the same
    fake mode.

    ``meta=True`` measures on the meta device (shapes without values, no memory): the copy and
    the batch are moved there first, for a model planned from shapes alone.
    """
    inputs = list(example_inputs)
    target_list = [targets] if isinstance(targets, torch.Tensor) else list(targets)
    if meta:
        inputs, target_list = _on_meta(inputs), _on_meta(target_list)
    device = _device_of(model, inputs) if not meta else torch.device("meta")
    base = _cuda_allocated(device)
    from modelopt_mlir.frontend.reference import copy_model_and_optimizer

    clone, opt = copy_model_and_optimizer(model, optimizer) if copy else (model, optimizer)
    if meta:
        clone.to("meta")  # in place: the optimizer keeps its parameters
    clone.train()
    from modelopt_mlir.frontend.trace import switch_off_dropout

    attention = switch_off_dropout(clone)  # deterministic, as the captured step
    if not copy:  # the model itself: its attention modules keep their dropout probabilities
        for module, probability in attention:
            module.dropout = probability

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        # One expression: the model output is not kept alive past the loss.
        loss = loss_fn(clone(*inputs), *target_list)
        loss.backward()
        opt.step()

    with _values_unread_on_meta(meta):
        for _ in range(warmup):
            step()
        _cuda_reset_peak(device)
        mt = _tracker(clone)
        with _quiet():
            mt.track_external(clone, opt, *inputs, *target_list)
            with mt:
                step()
    peak = _snapshot(mt, "peak", device)
    after = _snapshot(mt, "current", device)
    by_kind = _readable(peak)
    # The tracker files every tensor allocated inside optimizer.step() as optimizer state, the
    # update's temporaries too; the state proper is what is still held once the step is over.
    opt_at_peak = peak.get(_MemRefType.OPT, 0)
    state = min(opt_at_peak, after.get(_MemRefType.OPT, 0))
    _set(by_kind, _KIND_NAMES[_MemRefType.OPT], state)
    _set(by_kind, OPTIMIZER_TEMPORARIES, opt_at_peak - state)
    total = peak.get(_TOTAL_KEY, 0)
    if device.type == "cuda":
        total = _cuda_total(device, base, by_kind)
    return EagerPeak(total=total, by_kind=by_kind, device=str(device))


def eager_inference_peak(
    model: nn.Module, example_inputs: Sequence[torch.Tensor], *, meta: bool = False
) -> EagerPeak:
    """Peak memory of one ``model(*example_inputs)`` in eval mode under ``torch.no_grad()``,
    after one warm-up forward. ``model``'s train/eval modes are restored afterwards.
    ``meta=True`` measures on the meta device (a copy of the model moved there when it holds
    real tensors)."""
    inputs = list(example_inputs)
    if meta:
        inputs = _on_meta(inputs)
        if not all(t.is_meta for t in (*model.parameters(), *model.buffers())):
            model = deepcopy(model).to("meta")
    device = _device_of(model, inputs) if not meta else torch.device("meta")
    base = _cuda_allocated(device)
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), _values_unread_on_meta(meta):
            model(*inputs)  # warm-up; its output is dropped before measuring
            _cuda_reset_peak(device)
            mt = _tracker(model)
            with _quiet():
                mt.track_external(model, *inputs)
                with mt:
                    out = model(*inputs)
            del out
    finally:
        for module, training in modes.items():
            module.training = training
    peak = _snapshot(mt, "peak", device)
    by_kind = _readable(peak)
    total = peak.get(_TOTAL_KEY, 0)
    if device.type == "cuda":
        total = _cuda_total(device, base, by_kind)
    return EagerPeak(total=total, by_kind=by_kind, device=str(device))


class _NoHook:
    """Stands for the gradient hooks MemTracker does not install on a frozen parameter."""

    def remove(self) -> None:
        pass


def _tracker(model: nn.Module) -> MemTracker:
    """A MemTracker for ``model``. Its forward pre-hook registers a gradient hook on every
    parameter of each module it enters, which torch refuses on a parameter that does not require
    grad (a frozen one): such parameters get no gradient, so they are marked as already hooked."""
    mt = MemTracker()
    handles = getattr(mt, "_param_to_grad_hook_handles", None)
    if handles is not None:
        for param in model.parameters():
            if not param.requires_grad:
                handles[param] = (_NoHook(), _NoHook())
    return mt


def _values_unread_on_meta(meta: bool) -> AbstractContextManager[Any]:
    """On meta, transformers' packed-sequence check is off, as in capture: it reads tensor
    values (which meta tensors do not have) unless it sees fake tensors or dynamo."""
    if not meta:
        return nullcontext()
    from modelopt_mlir.frontend.trace import packed_sequence_check_off

    return packed_sequence_check_off()


def _on_meta(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [t if t.is_meta else t.to("meta") for t in tensors]


def _snapshot(mt: MemTracker, kind: str, device: torch.device) -> dict[Any, int]:
    """The tracker's ``kind`` snapshot on ``device``. On meta, the CPU's is added: torch.optim
    keeps Adam's step counters on the CPU whatever the parameters' device."""
    snapshots = mt.get_tracker_snapshot(kind)
    if device.type != "meta":
        return snapshots.get(device, {})
    merged: dict[Any, int] = {}
    for dev in (device, torch.device("cpu")):
        for key, nbytes in snapshots.get(dev, {}).items():
            merged[key] = merged.get(key, 0) + nbytes
    return merged


def _readable(snapshot: dict[Any, int]) -> dict[str, int]:
    """The tracker's snapshot keyed by readable kind names, without "Total" and empty kinds."""
    out: dict[str, int] = {}
    for kind, nbytes in snapshot.items():
        if kind == _TOTAL_KEY or not nbytes:
            continue
        name = _KIND_NAMES.get(kind) or str(getattr(kind, "value", kind)).lower()
        out[name] = out.get(name, 0) + nbytes
    return out


def _set(by_kind: dict[str, int], name: str, nbytes: int) -> None:
    if nbytes:
        by_kind[name] = nbytes
    else:
        by_kind.pop(name, None)


def _device_of(model: nn.Module, inputs: Sequence[torch.Tensor]) -> torch.device:
    """The device the step runs on: the parameters' (else the buffers', the batch's, cpu)."""
    for t in (*model.parameters(), *model.buffers(), *inputs):
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device("cpu")


def _cuda_allocated(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def _cuda_reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _cuda_total(device: torch.device, base: int, by_kind: dict[str, int]) -> int:
    """``max_memory_allocated`` less what was allocated before the deep copy (the caller's model,
    optimizer and other tensors, which the copy's step does not need), plus the batch (also
    allocated before, but the step holds it)."""
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base + by_kind.get("inputs", 0)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the tracker's warnings (e.g. "Module is None. Skipping PRE_BW hook.")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
