"""The largest batch whose whole training step fits in a memory budget: ours (planned, with or
without recompute) and PyTorch eager's.

Both search the same way: batch sizes double from ``start`` until one does not fit, then
bisection between the last that fits and the first that does not. Ours measures the planned
step's whole footprint (parameters, optimizer state, batch, outputs, arena and anything left
outside it; :attr:`PlanReport.footprint_bytes`); eager measures torch's MemTracker peak of one
steady-state step under ``FakeTensorMode``, so no real memory is needed for either.

A batch "fits" if its footprint is at most the budget; the search assumes that footprints grow
with the batch (it does not probe between the doubling steps below the first failure).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from modelopt_mlir.api import PlanError, PlanWarning, plan

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}


def parse_bytes(text: str) -> int:
    """``8GiB``, ``500MB``, ``1e9`` or ``123`` as a number of bytes (KiB/MiB/GiB are powers
    of 1024, kB/MB/GB of 1000)."""
    raw = text.strip().replace("_", "")
    number = raw.rstrip("bBkKmMgGtTiI ")
    unit = raw[len(number) :].strip().lower()
    if unit not in _UNITS or not number:
        raise ValueError(f"not a size: '{text}' (e.g. 8GiB, 500MB, 1073741824)")
    try:
        value = float(number)
    except ValueError as error:
        raise ValueError(f"not a size: '{text}' (e.g. 8GiB, 500MB, 1073741824)") from error
    result = int(value * _UNITS[unit])
    if result <= 0:
        raise ValueError(f"a size must be positive, got '{text}'")
    return result


@dataclass(frozen=True)
class Probe:
    batch: int
    fits: bool
    footprint: int | None  # bytes; None when the step could not be planned or measured
    seconds: float
    note: str = ""


@dataclass
class MaxBatch:
    """The largest batch that fits (0 when even ``start`` does not) and every probe made."""

    largest: int
    budget: int
    probes: list[Probe] = field(default_factory=list)

    @property
    def footprint(self) -> int | None:
        """The footprint of the largest batch that fits."""
        return next((p.footprint for p in self.probes if p.batch == self.largest and p.fits), None)


def search_largest(
    fits: Callable[[int], Probe], start: int = 1, limit: int = 1 << 16
) -> tuple[int, list[Probe]]:
    """Doubling from ``start`` then bisection; ``fits(batch)`` makes one probe."""
    if start < 1:
        raise ValueError("start must be a positive batch size")
    probes: list[Probe] = []
    good, bad = 0, None
    batch = start
    while batch <= limit:
        probe = fits(batch)
        probes.append(probe)
        if not probe.fits:
            bad = batch
            break
        good = batch
        batch *= 2
    if bad is None:
        return good, probes
    if good == 0 and start > 1:
        good, bad = 0, start
        low = 1
    else:
        low = good + 1
    high = bad - 1
    while low <= high:
        middle = (low + high) // 2
        probe = fits(middle)
        probes.append(probe)
        if probe.fits:
            good = middle
            low = middle + 1
        else:
            high = middle - 1
    return good, probes


Build = Callable[[int], Any]  # batch -> a ZooModel (model, example_inputs, targets, loss_fn)
MakeOptimizer = Callable[[nn.Module], Any]


def _parts(built: Any) -> tuple[nn.Module, list[torch.Tensor], Any, Callable[..., Any], dict]:
    if isinstance(built, tuple):
        model, inputs, targets, loss_fn = built[:4]
        ranges = built[4] if len(built) > 4 else {}
        return model, list(inputs), targets, loss_fn, dict(ranges or {})
    return (
        built.model,
        list(built.example_inputs),
        built.targets,
        built.loss_fn,
        dict(getattr(built, "int_ranges", {}) or {}),
    )


def max_batch_size(
    build: Build,
    budget_bytes: int,
    make_optimizer: MakeOptimizer,
    *,
    recompute: str = "off",
    max_recompute: float = 0.35,
    time_limit: float = 10,
    start: int = 1,
    limit: int = 1 << 16,
    progress: Callable[[Probe], None] | None = None,
) -> MaxBatch:
    """The largest batch whose planned training step (``plan()``, ``recompute`` as there)
    fits in ``budget_bytes``. ``build(batch)`` returns a zoo model or a tuple ``(model,
    example_inputs, targets, loss_fn[, int_ranges])``; ``make_optimizer(model)`` its
    optimizer."""

    def fits(batch: int) -> Probe:
        began = time.perf_counter()
        model, inputs, targets, loss_fn, ranges = _parts(build(batch))
        try:
            with warnings.catch_warnings():
                # a search that stops at its work limit is normal here; the footprint decides
                warnings.simplefilter("ignore", PlanWarning)
                result = plan(
                    model,
                    inputs,
                    targets,
                    loss_fn,
                    make_optimizer(model),
                    time_limit=time_limit,
                    int_ranges=ranges or None,
                    recompute=recompute,
                    max_recompute=max_recompute,
                )
        except PlanError as error:
            probe = Probe(batch, False, None, time.perf_counter() - began, str(error))
        else:
            footprint = result.report.footprint_bytes
            note = ""
            if result.report.recompute is not None:
                note = f"recompute {result.report.recompute['extra_fraction']:.1%} FLOPs"
            probe = Probe(
                batch, footprint <= budget_bytes, footprint, time.perf_counter() - began, note
            )
        if progress is not None:
            progress(probe)
        return probe

    largest, probes = search_largest(fits, start, limit)
    return MaxBatch(largest, budget_bytes, probes)


def eager_peak_fake(build: Build, batch: int, make_optimizer: MakeOptimizer) -> int:
    """PyTorch eager's MemTracker peak (bytes) of one steady-state training step at ``batch``,
    with every tensor fake: the model, batch and optimizer are built under ``FakeTensorMode``."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from modelopt_mlir.eager_memory import eager_training_peak

    with FakeTensorMode():
        model, inputs, targets, loss_fn, _ = _parts(build(batch))
        peak = eager_training_peak(
            model, inputs, targets, loss_fn, make_optimizer(model), copy=False
        )
    return peak.total


def eager_max_batch_size(
    build: Build,
    budget_bytes: int,
    make_optimizer: MakeOptimizer,
    *,
    start: int = 1,
    limit: int = 1 << 16,
    progress: Callable[[Probe], None] | None = None,
) -> MaxBatch:
    """The largest batch whose eager training step (MemTracker, fake tensors) fits."""

    def fits(batch: int) -> Probe:
        began = time.perf_counter()
        peak = eager_peak_fake(build, batch, make_optimizer)
        probe = Probe(batch, peak <= budget_bytes, peak, time.perf_counter() - began)
        if progress is not None:
            progress(probe)
        return probe

    largest, probes = search_largest(fits, start, limit)
    return MaxBatch(largest, budget_bytes, probes)
