"""The signature of a captured step: every function argument in order, what it is (parameter,
buffer, optimizer state, batch, out-param), its type and valid value range, and whether the step
overwrites it (:class:`StepSignature`, one :class:`ValueSpec` per argument)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from modelopt_mlir.frontend.errors import CaptureError, CaptureUsageError

ValueKind = Literal["param", "buffer", "state", "input", "target", "output"]


ResultKind = Literal["loss", "output"]


DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int8: "i8",
    torch.bool: "i1",
}


NUMPY_DTYPES: dict[str, Any] = {
    "f32": np.float32,
    "f64": np.float64,
    "f16": np.float16,
    "i64": np.int64,
    "i32": np.int32,
    "i8": np.int8,
    "i1": np.bool_,
}


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


def value_spec(
    name: str,
    kind: ValueKind,
    tensor: torch.Tensor,
    int_range: tuple[int, int] | None = None,
    *,
    updated: bool = False,
) -> ValueSpec:
    """The spec of argument ``name`` holding ``tensor``; refuses dtypes the IR cannot carry."""
    dtype = DTYPE_NAMES.get(tensor.dtype)
    if dtype is None:
        supported = ", ".join(str(d).removeprefix("torch.") for d in DTYPE_NAMES)
        raise CaptureUsageError(
            f"unsupported dtype {tensor.dtype} for '{name}' (supported: {supported}); convert "
            "it, e.g. .to(torch.int64) or .float()"
        )
    shape = tuple(int(d) for d in tensor.shape)
    return ValueSpec(name, kind, dtype, shape, int_range, updated=updated)


def output_spec(name: str, tensor: torch.Tensor, result: ResultKind) -> ValueSpec:
    """The spec of an out-param holding ``result`` (the loss or a model output)."""
    return dataclasses.replace(value_spec(name, "output", tensor), result=result)


def buffer_int_range(tensor: torch.Tensor) -> tuple[int, int] | None:
    """``[lo, hi)`` of an integer tensor's example values (None for floats, and for a meta
    tensor: a shape without values)."""
    if tensor.is_floating_point():
        return None
    if tensor.dtype == torch.bool:
        return (0, 2)
    if tensor.is_meta:
        return None
    lo = int(tensor.min()) if tensor.numel() else 0
    hi = int(tensor.max()) + 1 if tensor.numel() else 1
    return (lo, hi)


def batch_int_range(
    name: str, tensor: torch.Tensor, int_ranges: Mapping[str, tuple[int, int]]
) -> tuple[int, int] | None:
    """``[lo, hi)`` of batch argument ``name``: from ``int_ranges`` (checked against the example
    values; taken as given on a meta tensor, which has none), else the example values' range;
    None for floats."""
    if tensor.is_floating_point():
        if name in int_ranges:
            raise CaptureError(f"int_ranges given for floating-point argument '{name}'")
        return None
    if name not in int_ranges:
        return buffer_int_range(tensor)
    lo, hi = int_ranges[name]
    if (
        tensor.numel()
        and not tensor.is_meta
        and not (lo <= int(tensor.min()) and int(tensor.max()) < hi)
    ):
        raise CaptureError(f"example values of '{name}' fall outside [{lo}, {hi})")
    return (int(lo), int(hi))


def as_tensor_list(targets: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """One target or a sequence of them, as a list."""
    return [targets] if isinstance(targets, torch.Tensor) else list(targets)


def target_names(
    targets: Sequence[torch.Tensor] | torch.Tensor | None, target_list: list[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The targets by argument name: ``target``, or ``target0``, ``target1``, ... for a sequence."""
    if isinstance(targets, torch.Tensor):
        return {"target": targets}
    return {f"target{i}": t for i, t in enumerate(target_list)}


def to_numpy(value: torch.Tensor, dtype: str) -> np.ndarray:
    """A numpy copy of ``value`` with the element type ``dtype`` (an IR name, e.g. ``f32``)."""
    return value.detach().cpu().contiguous().numpy().astype(NUMPY_DTYPES[dtype], copy=True)
