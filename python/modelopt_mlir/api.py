"""The Python pipeline in one call: capture a PyTorch training step (or inference graph), plan
its memory, run it on the CPU and check it against eager PyTorch.

    result = plan(model, (x,), y, loss_fn, torch.optim.Adam(model.parameters(), lr=1e-3))
    print(result.report)
    result.verify()                      # one eager torch.optim step on copies, compared
    result.verify_planned_vs_unplanned() # bit for bit on the CPU
    result.save("out")                   # planned.mlir, plan.json, timeline.png

A training step computes ``loss_fn(model(*example_inputs), *targets)``, its gradients and the
optimizer update; without ``loss_fn`` the graph is the model's forward pass.
"""

from __future__ import annotations

import json
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelopt_mlir.eager_memory import EagerPeak
from modelopt_mlir.frontend import capture as _capture_module
from modelopt_mlir.progress import StageProgress

__all__ = [
    "PlanError",
    "PlanReport",
    "PlanResult",
    "PlanWarning",
    "TensorError",
    "VerificationError",
    "plan",
]


class PlanError(ValueError):
    """The call cannot be planned as given (a usage error); the message says what to change."""


class PlanWarning(UserWarning):
    """Planning succeeded with a caveat, e.g. a search stopped at its work limit (the report's
    ``status`` is then "timeout"), or the clock's safety stop fired (the plan may then differ
    between runs)."""


class VerificationError(AssertionError):
    """Planned results differ from the reference beyond tolerance; ``errors`` has every tensor."""

    def __init__(self, message: str, errors: Sequence[TensorError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


@dataclass(frozen=True)
class TensorError:
    """How one updated tensor compared with the reference."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float  # max |actual - expected| / max |expected|
    ok: bool
    # max over elements of |actual - expected| / tolerance there: ok when <= 1.
    of_tolerance: float = 0.0


# --------------------------------------------------------------------------------------------
# Report


def format_size(value: int | None) -> str:
    """Bytes as the report prints them: KiB below a MiB, MiB from there; "-" for None."""
    if value is None:
        return "-"
    if value < 1 << 20:
        return f"{value / 1024:,.1f} KiB"
    return f"{value / (1 << 20):,.2f} MiB"


@dataclass
class PlanReport:
    """What planning one step achieved. Bytes unless said otherwise."""

    model: str
    mode: str  # "training" or "inference"
    optimizer: str
    func_name: str
    param_bytes: int
    state_bytes: int  # optimizer state (moments, momentum, step)
    buffer_bytes: int  # model buffers passed as arguments (e.g. batch-norm statistics)
    batch_bytes: int
    temporaries_bytes: int  # sum of all planned temporaries, no reuse
    program_order_peak: int  # peak of live temporaries in the captured program order
    arena_bytes: int  # our planned arena
    # Max live bytes of the chosen order: no arena for this order can be smaller. Not a bound
    # over all orders (that is order_lower_bound).
    lower_bound: int
    # (arena - order_lower_bound) / order_lower_bound: the gap to the bound over all orders.
    gap: float
    ops: int  # schedulable top-level ops
    allocs_planned: int
    allocs_left_alone: int
    solver_requested: str
    solver_used: str
    order_algorithm: str
    offset_algorithm: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    upstream_best_fit: int | None = None  # with optimize-allocation-liveness
    upstream_best_fit_plain: int | None = None
    output_bytes: int = 0  # out-params: the loss, or the model outputs (inference)
    # Inference plans the outputs into the arena (memory-plan outputs=arena): they take arena
    # space from when they are made, not caller memory for the whole step.
    outputs_in_arena: bool = False
    left_alone_bytes: int = 0  # static buffers memory-plan left outside the arena
    eager: EagerPeak | None = None  # PyTorch eager's peak for the same step (compare_eager)
    # A bound over every valid order (<= lower_bound); with the greedy solver nothing is searched
    # and it is the chosen order's peak.
    order_lower_bound: int = 0
    # "optimal" (arena = bound over all orders), "feasible" (searches finished, gap left),
    # "timeout" (a search used up its work limit, set by the time limit; the best plan found is
    # used) or
    # "heuristic" (greedy solver: no search; the bound over all orders is the op-local one, the
    # bytes one op uses).
    status: str = ""
    time_limit: float = 0.0  # seconds the solver was given
    # recompute (plan(recompute="auto")): what it cost and what the arena was without it; None
    # when no buffer was recomputed
    recompute: dict[str, Any] | None = None
    memory_budget: int | None = None  # the arena budget asked for (bytes)
    # Planned from shapes alone (the model or batch on the meta device): nothing was run on
    # values, and the eager peak, if measured, is MemTracker's on meta tensors.
    shapes_only: bool = False

    @property
    def chosen_order_peak(self) -> int:
        """Max live bytes of the chosen order (the field ``lower_bound``)."""
        return self.lower_bound

    @property
    def status_text(self) -> str:
        """The status with what it means, as the text report prints it."""
        meaning = {
            "optimal": "the arena equals the bound over all orders",
            "feasible": "searches finished within their work limits, gap left",
            "timeout": (
                f"a search used up the work that the {self.time_limit:g} s time limit buys; "
                "best plan found used"
            ),
            "heuristic": "greedy solver, no search; bound over all orders: the bytes one op uses",
        }.get(self.status)
        return f"{self.status} ({meaning})" if meaning else self.status or "-"

    @property
    def params_and_state_bytes(self) -> int:
        return self.param_bytes + self.state_bytes + self.buffer_bytes

    @property
    def arguments_bytes(self) -> int:
        """Everything the caller passes in, each tensor once: parameters, optimizer state, model
        buffers, the batch and the out-params unless they are in the arena (updated state is
        written back into its own argument)."""
        outputs = 0 if self.outputs_in_arena else self.output_bytes
        return self.params_and_state_bytes + self.batch_bytes + outputs

    @property
    def footprint_bytes(self) -> int:
        """The whole step at its peak: the arguments (out-params included unless they are in
        the arena), the arena and any buffer left outside it (counted as if all were live at
        once)."""
        return self.arguments_bytes + self.arena_bytes + self.left_alone_bytes

    @property
    def program_order_footprint_bytes(self) -> int:
        """The same, with the program-order peak of temporaries instead of our arena."""
        return self.arguments_bytes + self.program_order_peak + self.left_alone_bytes

    @property
    def vs_eager(self) -> float | None:
        """Our footprint / PyTorch eager's peak (None when eager was not measured)."""
        if self.eager is None or not self.eager.total:
            return None
        return self.footprint_bytes / self.eager.total

    @property
    def total_seconds(self) -> float:
        return sum(self.stage_seconds.values())

    @property
    def reduction_vs_program_order(self) -> float:
        """Fraction of the program-order peak that planning saved."""
        if not self.program_order_peak:
            return 0.0
        return 1.0 - self.arena_bytes / self.program_order_peak

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.shapes_only:  # a plan of real tensors keeps the JSON it always had
            del data["shapes_only"]
        data["chosen_order_peak"] = self.chosen_order_peak
        data["params_and_state_bytes"] = self.params_and_state_bytes
        data["footprint_bytes"] = self.footprint_bytes
        data["program_order_footprint_bytes"] = self.program_order_footprint_bytes
        data["vs_eager"] = self.vs_eager
        data["reduction_vs_program_order"] = self.reduction_vs_program_order
        data["total_seconds"] = self.total_seconds
        return data

    def rows(self) -> list[tuple[str, str]]:
        def ratio(value: int | None) -> str:
            if not value or not self.arena_bytes:
                return ""
            return f"  (ours = {self.arena_bytes / value:.3f}x)"

        rows = [("model", f"{self.model} ({self.mode}, {self.optimizer})")]
        if self.shapes_only:
            rows.append((SHAPES_ONLY_ROW, SHAPES_ONLY_TEXT))
        rows += [
            ("parameters", format_size(self.param_bytes)),
            ("optimizer state", format_size(self.state_bytes)),
        ]
        if self.buffer_bytes:
            rows.append(("model buffers", format_size(self.buffer_bytes)))
        rows += [
            ("batch", format_size(self.batch_bytes)),
            (
                "outputs",
                format_size(self.output_bytes)
                + (" (in the arena)" if self.outputs_in_arena else ""),
            ),
            (
                "temporaries, no reuse",
                format_size(self.temporaries_bytes) + ratio(self.temporaries_bytes),
            ),
            (
                "program-order peak",
                format_size(self.program_order_peak) + ratio(self.program_order_peak),
            ),
        ]
        if self.upstream_best_fit_plain is not None:
            rows.append(
                (
                    "upstream best-fit",
                    format_size(self.upstream_best_fit_plain) + ratio(self.upstream_best_fit_plain),
                )
            )
        if self.upstream_best_fit is not None:
            rows.append(
                (
                    "upstream best-fit+liveness",
                    format_size(self.upstream_best_fit) + ratio(self.upstream_best_fit),
                )
            )
        if self.left_alone_bytes:
            rows.append(("left outside the arena", format_size(self.left_alone_bytes)))
        rows += [
            ("planned arena (ours)", format_size(self.arena_bytes)),
            ("peak of the chosen order", format_size(self.lower_bound)),
        ]
        bound = format_size(self.order_lower_bound)
        if self.status == "heuristic":
            bound += " (op-local: greedy searches nothing)"
        rows += [
            ("bound over all orders", bound),
            ("gap to the bound over all orders", f"{self.gap:.1%}"),
        ]
        if self.recompute is not None:
            rc = self.recompute
            rows += [
                (
                    "recompute",
                    f"{rc['buffers']} buffers by {rc['cloned_ops']} cloned ops; extra "
                    f"{rc['extra_flops'] / 1e9:.3f} GFLOP = {rc['extra_fraction']:.1%} of the "
                    f"step's {rc['step_flops'] / 1e9:.2f} GFLOP (limit "
                    f"{rc['max_recompute']:.0%})",
                ),
                (
                    "arena without recompute",
                    format_size(rc["arena_without"]) + "  (no bound under recompute is known)",
                ),
            ]
        if self.memory_budget:
            rows.append(("arena budget", format_size(self.memory_budget)))
        rows += [
            ("solver status", self.status_text),
            ("saved vs program order", f"{self.reduction_vs_program_order:.1%}"),
            (
                "whole-step footprint",
                f"{format_size(self.footprint_bytes)} (program order: "
                f"{format_size(self.program_order_footprint_bytes)})",
            ),
        ]
        if self.eager is not None:
            kinds = ", ".join(f"{k} {format_size(v)}" for k, v in self.eager.by_kind.items())
            rows += [
                ("PyTorch eager peak", f"{format_size(self.eager.total)} ({kinds})"),
                ("footprint / eager", f"{self.vs_eager:.3f}x"),
            ]
        rows += [
            (
                "ops / allocs planned / left alone",
                f"{self.ops} / {self.allocs_planned} / {self.allocs_left_alone}",
            ),
            (
                "solver",
                f"{self.solver_used} (asked: {self.solver_requested}; order {self.order_algorithm}, "
                f"offsets {self.offset_algorithm})",
            ),
        ]
        for stage, seconds in self.stage_seconds.items():
            rows.append((f"time: {stage}", f"{seconds:.2f} s"))
        rows.append(("time: total", f"{self.total_seconds:.2f} s"))
        return rows

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        title = f"memory plan of @{self.func_name}"
        lines = [title, "-" * max(len(title), width + 30)]
        lines += [f"{name:<{width}}  {value}" for name, value in rows]
        return "\n".join(lines)


SHAPES_ONLY_ROW = "checked on values"
SHAPES_ONLY_TEXT = (
    "no (shapes only: the model is on the meta device; the plan is validated, not run, and "
    "cannot be run)"
)


# --------------------------------------------------------------------------------------------
# Capture


def _dtype_bytes(dtype: str) -> float:
    return {"i1": 1, "i8": 1, "f16": 2, "bf16": 2, "i16": 2, "f32": 4, "i32": 4}.get(dtype, 8)


def _spec_bytes(spec: Any) -> int:
    count = 1
    for dim in spec.shape:
        count *= int(dim)
    return int(count * _dtype_bytes(str(spec.dtype)))


def _capture(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    targets: torch.Tensor | Sequence[torch.Tensor] | None,
    loss_fn: Callable[..., torch.Tensor] | None,
    optimizer: Any,
    int_ranges: Mapping[str, tuple[int, int]] | None,
    func_name: str,
    stages: StageProgress,
) -> Any:
    """Trace with the frontend, then import and bufferize (``module_text``), as two stages."""
    what = "forward pass" if loss_fn is None else "training step"
    try:
        with stages.stage("capture", f"capturing the {what} (make_fx)"):
            if loss_fn is None:
                captured = _capture_module.capture_inference(
                    model, tuple(inputs), int_ranges=int_ranges, func_name=func_name, lower=False
                )
            else:
                captured = _capture_module.capture_training_step(
                    model,
                    tuple(inputs),
                    targets,
                    loss_fn,
                    optimizer,
                    int_ranges=int_ranges,
                    func_name=func_name,
                    lower=False,
                )
        with stages.stage("bufferize", "importing (torch-mlir) and bufferizing to memref IR"):
            captured.module_text  # noqa: B018  (lowered on first use)
    except _capture_module.CaptureUsageError as error:
        raise PlanError(str(error)) from error
    except _capture_module.CaptureError:
        raise
    except TypeError as error:
        raise PlanError(f"cannot capture the {what}: {error}") from error
    return captured


# --------------------------------------------------------------------------------------------
# Planning


def _accepted_solvers() -> tuple[str, ...]:
    from modelopt_mlir.passes.memory_plan import MemoryPlanPass

    hint = typing.get_type_hints(MemoryPlanPass).get("solver")
    choices = typing.get_args(hint)
    return tuple(str(c) for c in choices) or ("greedy",)


def _plan_in_place(
    module: Any,
    solver: str,
    time_limit: float,
    outputs: str = "args",
    **recompute_options: Any,
) -> tuple[dict[str, Any], str, list[str]]:
    """Run memory-plan (``outputs`` as its option); ``auto`` becomes the best solver the pass
    accepts. Returns (report, solver that ran, the pass's warnings, e.g. a search stopped at
    the time limit)."""
    from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
    from modelopt_mlir.planning import plan_module

    accepted = _accepted_solvers()
    if solver == "auto" and "auto" not in accepted:
        solver = "ilp" if "ilp" in accepted else "greedy"
    elif solver not in accepted and solver != "auto":
        raise PlanError(
            f"unknown solver '{solver}' (this build accepts: auto, {', '.join(accepted)})"
        )
    diagnostics = DiagnosticEngine()
    try:
        reports = plan_module(
            module,
            diagnostics,
            solver=solver,
            time_limit=float(time_limit),
            outputs=outputs,
            **recompute_options,
        )
    except PassFailure as error:
        errors = [d.message for d in diagnostics.diagnostics if d.severity == "error"]
        detail = "; ".join(errors) if errors else str(error)
        raise PlanError(f"memory-plan failed: {detail}") from error
    if len(reports) != 1:
        raise PlanError(f"expected one planned function, got {len(reports)}")
    report = reports[0]
    warnings_seen = [d.message for d in diagnostics.diagnostics if d.severity == "warning"]
    return report, str(report.get("solver", solver)), warnings_seen


def plan(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    targets: torch.Tensor | Sequence[torch.Tensor] | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    optimizer: Any = None,
    solver: str = "auto",
    time_limit: float = 10,
    progress: bool | None = None,
    *,
    int_ranges: Mapping[str, tuple[int, int]] | None = None,
    upstream: bool = False,
    func_name: str = "main",
    compare_eager: bool = False,
    recompute: str = "off",
    memory_budget: int | None = None,
    max_recompute: float = 0.35,
) -> PlanResult:
    """Capture, bufferize and memory-plan one step of ``model``.

    With ``loss_fn`` the step is ``loss_fn(model(*example_inputs), *targets)``, its gradients and
    one ``optimizer`` update (a torch.optim SGD/Adam/AdamW, or an OptimizerConfig); without it,
    the forward pass. ``solver`` goes to the memory-plan pass (``auto`` picks the best it
    accepts), ``time_limit`` bounds the solve in seconds. ``upstream=True`` also measures the
    upstream best-fit planner on the same IR. ``progress`` shows stages on stderr (default: when
    stderr is a terminal). ``compare_eager=True`` also measures PyTorch eager's peak for the
    same step with torch's MemTracker (on copies; one warm-up step first) and reports our
    whole-step footprint against it.

    ``recompute="auto"`` lets memory-plan recompute buffers that live across the peak (copies of
    the ops that made them, just before their later uses) where that lowers the arena, using at
    most ``max_recompute`` of the step's FLOPs (default 0.35). ``memory_budget`` (bytes) is the
    arena budget: with recompute the least recompute found that fits is used; a PlanError names
    the smallest arena found when nothing fits.

    Each parameter is updated with its param group's hyper-parameters, as torch.optim does;
    parameters that are frozen (``requires_grad=False``), not held by the optimizer or get no
    gradient from the loss are arguments that the step leaves alone. What cannot be planned
    raises a PlanError that says what to change: a loss that is not a differentiable scalar, no
    trainable parameter, empty tensors, an unsupported optimizer or dtype.

    A model built on the meta device (``with torch.device("meta"): model = ...``, with meta
    example inputs and targets) is planned from shapes alone: no parameter-sized tensor is
    allocated, the plan is validated as always, but nothing is run on values; the report says
    so, ``compare_eager`` measures eager PyTorch on meta tensors, and running or verifying the
    result raises a PlanError. Integer inputs on meta have no values to take a range from: give
    ``int_ranges``.
    """
    from torch_mlir import ir

    from modelopt_mlir.ir_context import make_context

    if not isinstance(model, nn.Module):
        raise PlanError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_tensors(example_inputs, "example_inputs")
    target_list = [] if targets is None else _as_tensors(targets, "targets")
    if loss_fn is None:
        if optimizer is not None or target_list:
            raise PlanError(
                "targets and optimizer need a loss_fn (without one the graph is inference)"
            )
    else:
        if not callable(loss_fn):
            raise PlanError("loss_fn must be callable")
        if optimizer is None:
            raise PlanError("a training step needs an optimizer (torch.optim SGD, Adam or AdamW)")
        if not target_list:
            raise PlanError("a training step needs targets: loss_fn(model(*inputs), *targets)")
    shapes_only = _shapes_only(model, inputs, target_list)
    if not isinstance(solver, str):
        raise PlanError(f"solver must be a string, got {type(solver).__name__}")
    if time_limit is None or float(time_limit) <= 0:
        raise PlanError(f"time_limit must be positive, got {time_limit}")
    if recompute not in ("off", "auto"):
        raise PlanError(f"recompute must be 'off' or 'auto', got {recompute!r}")
    if memory_budget is not None and (
        isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1
    ):
        raise PlanError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    if (
        isinstance(max_recompute, bool)
        or not isinstance(max_recompute, (int, float))
        or not (0 <= max_recompute <= 10)
    ):
        raise PlanError(
            f"max_recompute must be a fraction of the step's FLOPs, got {max_recompute!r}"
        )

    stages = StageProgress(progress)
    # A single target tensor keeps its name "target" in the captured signature.
    targets_arg = targets if isinstance(targets, torch.Tensor) else target_list
    captured = _capture(
        model, inputs, targets_arg, loss_fn, optimizer, int_ranges, func_name, stages
    )
    unplanned_text = captured.module_text
    with stages.stage("parse", "parsing memref IR"):
        context = make_context()
        with context:
            module = ir.Module.parse(unplanned_text)
    with stages.stage("plan", f"planning memory (solver {solver})"), context:
        # The forward pass's outputs go in the arena; a training step's only out-param is the
        # 4-byte loss, kept as an argument.
        outputs_in_arena = loss_fn is None
        function_report, solver_used, pass_warnings = _plan_in_place(
            module,
            solver,
            time_limit,
            outputs="arena" if outputs_in_arena else "args",
            recompute=recompute,
            budget=int(memory_budget or 0),
            max_recompute=float(max_recompute),
        )
        planned_text = module.operation.get_asm(enable_debug_info=False)
    for message in pass_warnings:  # a search stopped at the time limit, said where it is seen
        stages.note(message)
        warnings.warn(message, PlanWarning, stacklevel=2)
    with stages.stage("classify", "classifying buffers for the timeline"):
        try:
            kinds = _buffer_kinds(
                captured, unplanned_text, function_report, training=loss_fn is not None
            )
        except Exception as error:  # the picture falls back to "unknown"; planning succeeded
            stages.note(f"buffer classification failed: {error}")
            kinds = ["unknown"] * sum("recompute_of" not in b for b in function_report["buffers"])
    # Buffers that recompute added take the kind of the buffer they recompute.
    originals = [b for b in function_report["buffers"] if "recompute_of" not in b]
    for buffer, kind in zip(originals, kinds, strict=True):
        buffer["kind"] = kind
    by_index = {b["index"]: b for b in function_report["buffers"]}
    for buffer in function_report["buffers"]:
        if "recompute_of" in buffer:
            buffer["kind"] = by_index[buffer["recompute_of"]]["kind"]
    upstream_live = upstream_plain = None
    if upstream:
        from modelopt_mlir.baseline import upstream_best_fit_arena

        with stages.stage("upstream", "upstream best-fit baseline"):
            fn = captured.func_name
            upstream_live = upstream_best_fit_arena(unplanned_text, fn, optimize_liveness=True)[fn]
            upstream_plain = upstream_best_fit_arena(unplanned_text, fn)[fn]

    eager = None
    if compare_eager:
        from modelopt_mlir.eager_memory import eager_inference_peak, eager_training_peak

        with stages.stage("eager", "measuring PyTorch eager's peak (MemTracker)"):
            try:
                if loss_fn is None:
                    eager = eager_inference_peak(model, inputs, meta=shapes_only)
                else:
                    eager = eager_training_peak(
                        model, inputs, targets_arg, loss_fn, optimizer, meta=shapes_only
                    )
            except Exception as error:  # eager PyTorch itself refused the step (on copies)
                step = "forward pass" if loss_fn is None else "training step"
                raise PlanError(
                    f"compare_eager=True: one eager PyTorch {step} of this model failed on "
                    f"copies ({type(error).__name__}: {error}); make the step run in eager "
                    "PyTorch, or plan without compare_eager"
                ) from error

    # The frontend's own split (capture, import, bufferize) replaces our two coarser stages.
    seconds = dict(captured.timings) or {
        k: stages.seconds[k] for k in ("capture", "bufferize") if k in stages.seconds
    }
    seconds.update({k: v for k, v in stages.seconds.items() if k not in ("capture", "bufferize")})
    signature = list(captured.signature.args)
    report = PlanReport(
        model=type(model).__name__,
        mode="training" if loss_fn is not None else "inference",
        optimizer=_describe_optimizer(optimizer),
        func_name=captured.func_name,
        param_bytes=sum(_spec_bytes(s) for s in signature if s.kind == "param"),
        state_bytes=sum(_spec_bytes(s) for s in signature if s.kind == "state"),
        buffer_bytes=sum(_spec_bytes(s) for s in signature if s.kind == "buffer"),
        batch_bytes=sum(_spec_bytes(s) for s in signature if s.kind in ("input", "target")),
        temporaries_bytes=int(function_report["sum_of_sizes"]),
        program_order_peak=int(function_report["program_order_peak"]),
        arena_bytes=int(function_report["arena_size"]),
        lower_bound=int(function_report["lower_bound"]),
        gap=float(function_report["gap"]),
        ops=int(function_report["units"]),
        allocs_planned=int(function_report["allocs"]),
        allocs_left_alone=int(function_report["left_alone"]),
        solver_requested=solver,
        solver_used=solver_used,
        order_algorithm=str(function_report.get("order_algorithm", "")),
        offset_algorithm=str(function_report.get("offset_algorithm", "")),
        stage_seconds=seconds,
        upstream_best_fit=upstream_live,
        upstream_best_fit_plain=upstream_plain,
        output_bytes=sum(_spec_bytes(s) for s in signature if s.kind == "output"),
        outputs_in_arena=bool(function_report.get("outputs")),
        left_alone_bytes=int(function_report.get("left_alone_bytes", 0)),
        eager=eager,
        order_lower_bound=int(
            function_report.get("order_lower_bound", function_report["lower_bound"])
        ),
        status=str(function_report.get("status", "")),
        time_limit=float(time_limit),
        recompute=function_report.get("recompute"),
        memory_budget=memory_budget,
        shapes_only=shapes_only,
    )
    return PlanResult(
        module=module,
        module_text=planned_text,
        unplanned_text=unplanned_text,
        captured=captured,
        report=report,
        function_report=function_report,
        model=model,
        example_inputs=inputs,
        targets=targets_arg if loss_fn is not None else None,
        loss_fn=loss_fn,
        optimizer=optimizer,
    )


def _as_tensors(value: Any, what: str) -> list[torch.Tensor]:
    items = [value] if isinstance(value, torch.Tensor) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise PlanError(f"{what} must be a tensor or a non-empty tuple/list of tensors")
    for i, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise PlanError(f"{what}[{i}] is a {type(item).__name__}, not a torch.Tensor")
    return list(items)


def _shapes_only(
    model: nn.Module, inputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]
) -> bool:
    """Whether the step is planned from shapes alone: a parameter, model buffer, example input
    or target on the meta device (a shape without values). Capture, import, bufferization,
    planning and the plan's validation need only shapes; running the step needs values, so a
    shapes-only plan cannot be run or verified on values."""
    tensors = [*model.parameters(), *model.buffers(), *inputs, *targets]
    return any(tensor.is_meta for tensor in tensors)


def _describe_optimizer(optimizer: Any) -> str:
    if optimizer is None:
        return "no optimizer"
    if isinstance(optimizer, torch.optim.Optimizer):
        groups = optimizer.param_groups
        more = f" ({len(groups)} param groups)" if len(groups) > 1 else ""
        return f"{type(optimizer).__name__} lr={groups[0]['lr']}{more}"
    kind = getattr(optimizer, "kind", type(optimizer).__name__)
    return f"{kind} lr={getattr(optimizer, 'lr', '?')}"


def _buffer_kinds(
    captured: Any, unplanned_text: str, function_report: dict[str, Any], training: bool
) -> list[str]:
    from modelopt_mlir.analysis.buffer_kinds import classify_buffers

    signature = list(captured.signature.args)
    loss_args, batch_args, optimizer_args = [], [], []
    groups: dict[int, str] = {}
    param_names = sorted((s.name for s in signature if s.kind == "param"), key=len, reverse=True)
    for index, spec in enumerate(signature):
        if spec.kind in ("input", "target"):
            batch_args.append(index)
        elif spec.kind == "output" or (spec.kind == "buffer" and spec.updated):
            # Updated model buffers (batch-norm statistics) come out of the forward pass.
            loss_args.append(index)
        elif spec.kind in ("param", "state"):
            optimizer_args.append(index)
            if spec.updated:
                name = spec.name
                owner = next(
                    (p for p in param_names if name == p or name.startswith(p + ".")), name
                )
                groups[index] = owner
    return classify_buffers(
        unplanned_text,
        captured.func_name,
        loss_args=loss_args,
        batch_args=batch_args,
        optimizer_args=optimizer_args,
        update_groups=groups,
        training=training,
    )


# --------------------------------------------------------------------------------------------
# Result


@dataclass
class PlanResult:
    """A planned step: IR before and after, the report, and ways to run and check it."""

    module: Any  # torch_mlir.ir.Module, planned
    module_text: str
    unplanned_text: str
    captured: Any
    report: PlanReport
    function_report: dict[str, Any]  # memory-plan's report with a "kind" per buffer
    model: nn.Module = field(repr=False)
    example_inputs: list[torch.Tensor] = field(repr=False)
    targets: torch.Tensor | list[torch.Tensor] | None = field(repr=False)
    loss_fn: Callable[..., torch.Tensor] | None = field(repr=False)
    optimizer: Any = field(repr=False)
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def func_name(self) -> str:
        return self.captured.func_name

    def save(self, directory: str | Path, title: str | None = None) -> dict[str, Path]:
        """Write ``planned.mlir``, ``unplanned.mlir`` (the IR the plan's op ids and locations
        refer to), ``plan.json`` (a plan file, see :mod:`modelopt_mlir.plan_json`, with the
        report and the signature as extra sections) and ``timeline.png``."""
        from modelopt_mlir.plan_json import build_plan_json
        from modelopt_mlir.timeline import render_timeline

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "mlir": directory / "planned.mlir",
            "unplanned": directory / "unplanned.mlir",
            "json": directory / "plan.json",
            "png": directory / "timeline.png",
        }
        paths["mlir"].write_text(self.module_text)
        paths["unplanned"].write_text(self.unplanned_text)
        payload = build_plan_json(
            [self.function_report],
            source=paths["unplanned"].name,
            sections={
                "report": self.report.to_json(),
                "signature": self.captured.signature.to_json(),
            },
        )
        paths["json"].write_text(json.dumps(payload, indent=1) + "\n")
        render_timeline(
            self.function_report,
            paths["png"],
            title=title or self._title(),
            upstream_arena=self.report.upstream_best_fit,
            state_bytes=self.report.arguments_bytes,
        )
        return paths

    def _title(self) -> str:
        r = self.report
        eager = f", eager {format_size(r.eager.total)}" if r.eager is not None else ""
        return (
            f"{r.model} {r.mode} step ({r.optimizer})\nfootprint {format_size(r.footprint_bytes)}"
            f"{eager}; arena {format_size(r.arena_bytes)}, chosen order's peak {format_size(r.lower_bound)}, "
            f"program order {format_size(r.program_order_peak)}; {r.status}"
        )

    def _compiled_function(self, which: str) -> Any:
        """The planned or unplanned function compiled for the CPU, both called with the
        unplanned signature's arguments (outputs placed in the arena are read back from it)."""
        from modelopt_mlir.lowering.arena_outputs import compile_planned

        self._refuse_shapes_only("compile the step to run it")
        if which not in self._compiled:
            text = self.module_text if which == "planned" else self.unplanned_text
            self._compiled[which] = compile_planned(text, self.func_name)
        return self._compiled[which]

    @property
    def shapes_only(self) -> bool:
        """Planned from shapes alone (the model on the meta device): cannot be run."""
        return self.report.shapes_only

    def _refuse_shapes_only(self, what: str) -> None:
        if self.shapes_only:
            raise PlanError(
                f"cannot {what}: this plan was made from shapes alone (the model or batch is on "
                "the meta device, without values). The plan, its report and save() are valid; "
                "to run or verify the step, plan the model with real CPU tensors (e.g. "
                "model.to_empty(device='cpu') then load its weights)"
            )

    def arguments(
        self,
        model: nn.Module | None = None,
        optimizer: Any = None,
        example_inputs: Sequence[torch.Tensor] | None = None,
        targets: torch.Tensor | Sequence[torch.Tensor] | None = None,
    ) -> list[np.ndarray]:
        """Every function argument as numpy (params, buffers, state, batch, zeroed out-params),
        from the given or the planned model, optimizer and batch."""
        self._refuse_shapes_only("build the step's arguments")
        optimizer = optimizer if optimizer is not None else self.optimizer
        state = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
        try:
            return list(
                self.captured.arguments_from(
                    model if model is not None else self.model,
                    state,
                    list(example_inputs) if example_inputs is not None else self.example_inputs,
                    targets if targets is not None else self.targets,
                )
            )
        except _capture_module.CaptureUsageError as error:
            raise PlanError(str(error)) from error

    def run_cpu(
        self,
        model: nn.Module | None = None,
        optimizer: Any = None,
        example_inputs: Sequence[torch.Tensor] | None = None,
        targets: torch.Tensor | Sequence[torch.Tensor] | None = None,
        *,
        planned: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Run the planned step on the CPU (compiled once, then cached) on the model's current
        parameters, buffers and optimizer state and the example batch (or the ones given).

        Returns torch tensors by name: ``loss``, each updated parameter, optimizer state entry
        (``<param>.exp_avg``, ``step``, ...) and updated buffer; for inference the outputs
        (``output`` or ``output.<key>``). The model and optimizer are not modified."""
        arrays = self.arguments(model, optimizer, example_inputs, targets)
        results = self._compiled_function("planned" if planned else "unplanned")(arrays)
        return {
            name.removeprefix("new."): value
            for name, value in self.captured.results_to_torch(results).items()
        }

    def reference(self) -> dict[str, torch.Tensor]:
        """The same step in eager PyTorch on deep copies of the model and optimizer, named like
        :meth:`run_cpu`. Modes match the capture: training mode with dropout off for a training
        step (one ``loss.backward()`` and ``optimizer.step()``), eval mode for inference."""
        from modelopt_mlir.frontend.reference import eager_results

        self._refuse_shapes_only("run the eager reference")
        return eager_results(
            self.captured,
            self.model,
            self.optimizer,
            self.example_inputs,
            self.targets,
            self.loss_fn,
        )

    def verify(
        self, rtol: float = 1e-5, atol: float = 0.0, *, param_atol: float | None = None
    ) -> list[TensorError]:
        """Run the planned step on the CPU and one eager PyTorch step on copies; compare every
        tensor the step produces. Returns the per-tensor errors; raises VerificationError if one
        is beyond its tolerance, derived from what it is (``rtol`` is float32 rounding noise
        relative to a tensor's largest value; every tolerance also adds ``atol``):

        - loss, outputs, model buffers, step counter: rtol * max |expected|.
        - optimizer state, which is gradients scaled (momentum, Adam's first moment):
          rtol * (max |own| + 0.1 * max over every parameter's). A gradient that sums to about
          zero (an attention key bias, a balanced batch) keeps the rounding noise of the terms
          it summed, so its noise floor is a tenth of the largest gradient's. Adam's second
          moment (squared gradients): 2 * rtol * (max |own| + 0.01 * max over all).
        - parameters updated by SGD, per element: 4 float32 ulps of the new value plus
          rtol * (max |own update| + 0.1 * the largest update); the update lr * (gradient +
          momentum ...) carries the gradient's noise.
        - parameters updated by Adam/AdamW, per element: 4 ulps plus
          lr * min(2, 2 * noise / (sqrt(v_hat) + eps)), noise = rtol * (max |m_hat| +
          max sqrt(v_hat) + 0.1 * the same over all parameters), with the reference's
          bias-corrected moments. The update is lr * m_hat / (sqrt(v_hat) + eps): where the
          gradient is large its direction is exact to rounding, but an element whose gradient
          is about zero turns rounding noise into an update of up to lr either way.

        ``param_atol`` replaces the parameters' and optimizer state's derived tolerances by
        max(atol, param_atol) + rtol * max |expected|."""
        actual = self.run_cpu()
        expected = self.reference()
        if param_atol is not None:
            params = {n for n, _ in self.model.named_parameters()}
            atol_by_name = {n: max(atol, param_atol) for n in params}
            return compare_results(
                actual, expected, rtol=rtol, atol=atol, atol_by_name=atol_by_name
            )
        tolerances = self._training_tolerances(expected, rtol, atol)
        return compare_results(actual, expected, rtol=rtol, atol=atol, tolerances=tolerances)

    def _training_tolerances(
        self, expected: Mapping[str, torch.Tensor], rtol: float, atol: float
    ) -> dict[str, torch.Tensor | float]:
        """Tolerances of the updated parameters and optimizer state (see :meth:`verify`)."""
        config = getattr(self.captured, "optimizer", None)
        if self.loss_fn is None or config is None:
            return {}
        before = {n: p.detach().to(torch.float64) for n, p in self.model.named_parameters()}
        names = [n for n in before if n in expected]
        tolerances: dict[str, torch.Tensor | float] = {}
        for key, factor, floor in (
            ("momentum_buffer", 1.0, _CANCELLATION),
            ("exp_avg", 1.0, _CANCELLATION),
            ("exp_avg_sq", 2.0, _CANCELLATION**2),
        ):
            scales = {
                n: _largest(expected[f"{n}.{key}"]) for n in names if f"{n}.{key}" in expected
            }
            top = max(scales.values(), default=0.0)
            for name, scale in scales.items():
                tolerances[f"{name}.{key}"] = atol + factor * rtol * (scale + floor * top)

        after = {n: expected[n].detach().to(torch.float64) for n in names}
        if config.kind == "sgd":
            updates = {n: _largest(before[n] - after[n]) for n in names}
            top = max(updates.values(), default=0.0)
            for name in names:
                noise = rtol * (updates[name] + _CANCELLATION * top)
                tolerances[name] = atol + _F32_ULPS * after[name].abs() + noise
            return tolerances
        step = float(expected["step"]) if "step" in expected else 1.0
        m_hat, root_v_hat = {}, {}
        for name in names:
            beta1, beta2 = self.captured.optimizer_of(name).betas
            moments = (expected.get(f"{name}.exp_avg"), expected.get(f"{name}.exp_avg_sq"))
            if moments[0] is not None and moments[1] is not None:
                m_hat[name] = moments[0].detach().to(torch.float64) / (1.0 - beta1**step)
                v_hat = moments[1].detach().to(torch.float64) / (1.0 - beta2**step)
                root_v_hat[name] = v_hat.sqrt()
        scales = {n: _largest(m_hat[n]) + _largest(root_v_hat[n]) for n in m_hat}
        top = max(scales.values(), default=0.0)
        for name, scale in scales.items():
            noise = rtol * (scale + _CANCELLATION * top)
            own = self.captured.optimizer_of(name)  # its param group's hyper-parameters
            direction = torch.clamp(2.0 * noise / (root_v_hat[name] + own.eps), max=2.0)
            tolerances[name] = atol + _F32_ULPS * after[name].abs() + own.lr * direction
        return tolerances

    def verify_planned_vs_unplanned(self) -> Any:
        """Run planned and unplanned IR on the same (real) arguments; every buffer must be
        bit-identical. Returns a lowering.cpu Comparison; raises VerificationError otherwise."""
        from modelopt_mlir.lowering.cpu import ArgumentResult, Comparison, max_abs_diff

        arrays = self.arguments()
        want = self._compiled_function("unplanned")(arrays)
        got = self._compiled_function("planned")(arrays)
        specs = self._compiled_function("planned").specs
        results = []
        for spec, a, b in zip(specs, want, got, strict=True):
            equal = a.tobytes() == b.tobytes()
            diff = 0.0 if equal else max_abs_diff(a, b, spec.element_type)
            results.append(ArgumentResult(spec.index, a.shape, spec.element_type, equal, diff))
        comparison = Comparison(self.func_name, -1, tuple(results))
        if not comparison.identical:
            raise VerificationError(
                "planned IR differs from unplanned IR:\n" + comparison.summary()
            )
        return comparison


# Four float32 ulps relative to a value: two implementations that round p - update differently.
_F32_ULPS = 2.0**-21
# A gradient that sums to about zero keeps the rounding noise of the terms it summed: its noise
# floor is this fraction of the largest gradient of the model (times rtol).
_CANCELLATION = 0.1


def _largest(tensor: torch.Tensor) -> float:
    return float(tensor.detach().abs().max()) if tensor.numel() else 0.0


def compare_results(
    actual: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    rtol: float = 1e-5,
    atol: float = 0.0,
    atol_by_name: Mapping[str, float] | None = None,
    *,
    tolerances: Mapping[str, torch.Tensor | float] | None = None,
) -> list[TensorError]:
    """Compare every tensor of ``actual`` with the same name in ``expected``; raise
    VerificationError when one is off, missing, or the shapes differ. A tensor passes when
    max |actual - expected| <= atol + rtol * max |expected| (``atol_by_name`` overrides atol per
    name), or, for a name in ``tolerances``, when every element is within its tolerance there
    (a tensor of the same shape, or a number)."""
    errors: list[TensorError] = []
    problems: list[str] = []
    for name, got in actual.items():
        want = expected.get(name)
        if want is None:
            problems.append(f"{name}: no reference value")
            continue
        got64 = got.detach().to(torch.float64).reshape(-1)
        want64 = want.detach().to(torch.float64).reshape(-1)
        if got64.numel() != want64.numel():
            problems.append(f"{name}: {tuple(got.shape)} vs reference {tuple(want.shape)}")
            continue
        if got64.numel() == 0:
            errors.append(TensorError(name, tuple(got.shape), 0.0, 0.0, True))
            continue
        diff = (got64 - want64).abs()
        max_abs = float(diff.max())
        scale = float(want64.abs().max())
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
        limit = (tolerances or {}).get(name)
        if limit is None:
            limit = (atol_by_name or {}).get(name, atol) + rtol * scale
        limit64 = torch.as_tensor(limit, dtype=torch.float64).expand_as(want.detach()).reshape(-1)
        within = diff <= limit64  # NaN fails
        ratio = torch.where(diff == 0, torch.zeros_like(diff), diff / limit64)
        of_tolerance = float(ratio.max())  # NaN where an element is NaN
        ok = bool(within.all())
        errors.append(TensorError(name, tuple(got.shape), max_abs, max_rel, ok, of_tolerance))
    failed = [e for e in errors if not e.ok]
    if failed or problems:
        lines = [
            f"{len(failed)} of {len(errors)} tensors beyond their tolerance (rtol={rtol}, "
            f"atol={atol}; parameters: see PlanResult.verify)"
        ]
        lines += [
            f"  {e.name}{list(e.shape)}: max abs {e.max_abs:.3g}, rel {e.max_rel:.3g}, "
            f"{e.of_tolerance:.3g}x its tolerance"
            for e in failed[:20]
        ]
        lines += [f"  {p}" for p in problems]
        raise VerificationError("\n".join(lines), errors)
    return errors
