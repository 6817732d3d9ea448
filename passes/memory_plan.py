"""memory-plan: choose an op order and arena offsets for every temporary buffer, validate the
plan independently, then rewrite each function to one arena carved by memref.view."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

from torch_mlir import ir

from modelopt_mlir.analysis.function import (
    AnalysisError,
    ArenaBuffer,
    FunctionAnalysis,
    analyze_function,
    memref_bytes,
)
from modelopt_mlir.analysis.recompute import recompute_problem
from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.passes import ModulePass, PassContext, PassOptionError
from modelopt_mlir.plan_json import buffer_id, op_record
from modelopt_mlir.rewrite import (
    OutputSlot,
    apply_plan,
    finish_outputs_in_arena,
    outputs_to_allocs,
    restore_outputs,
)
from modelopt_mlir.rewrite_recompute import RecomputeEdit, apply_recompute, reorder_units
from modelopt_mlir.solver.arena_planner import plan_arena
from modelopt_mlir.solver.offsets.arrays import INT64_MAX, first_overflow
from modelopt_mlir.solver.problem import ArenaPlan, ScheduleProblem, align_up
from modelopt_mlir.solver.recompute import plan_recompute
from modelopt_mlir.solver.work import Budget
from modelopt_mlir.validate import PlanViolation, check_plan
from modelopt_mlir.validate_recompute import check_recompute


@dataclass(frozen=True)
class MemoryPlanPass(ModulePass):
    name = "memory-plan"
    summary = "Reorder ops and place every temporary buffer in one arena at static offsets"

    reorder: bool = True
    alignment: int = 64
    solver: Literal["auto", "greedy", "ilp"] = "auto"
    mode: Literal["two-phase", "joint"] = "two-phase"
    time_limit: float = 10.0
    # "arena": out-param arguments (marked {modelopt.output}, or the capture's
    # {modelopt.kind = "output"}) become arena buffers live to the return, and the arena becomes
    # the function's last argument, provided by the caller; modelopt.outputs says where each
    # output is. The outputs then share memory with temporaries that die before they are made.
    outputs: Literal["args", "arena"] = "args"
    # "auto": before planning, recompute buffers that live across the peak (copies of the units
    # that computed them, just before their later uses; see solver/recompute.py), within
    # max-recompute of the step's FLOPs. budget (bytes, 0: none): the arena must fit in it; with
    # recompute=auto the least recompute found that fits is used.
    recompute: Literal["off", "auto"] = "off"
    budget: int = 0
    max_recompute: float = 0.35

    def __post_init__(self) -> None:
        if self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise PassOptionError(
                f"pass 'memory-plan': option 'alignment' must be a power of two, "
                f"got {self.alignment}"
            )
        if self.budget < 0:
            raise PassOptionError(
                f"pass 'memory-plan': option 'budget' must be >= 0 bytes, got {self.budget}"
            )
        if not 0.0 <= self.max_recompute <= 10.0:
            raise PassOptionError(
                "pass 'memory-plan': option 'max-recompute' is a fraction of the step's FLOPs "
                f"between 0 and 10, got {self.max_recompute}"
            )
        if self.mode == "joint" and (self.solver == "greedy" or not self.reorder):
            # Joint order + address search is a search: greedy does not search and reorder=false
            # fixes the order, so the option would be silently ignored.
            raise PassOptionError(
                "pass 'memory-plan': option 'mode=joint' needs solver=auto or ilp and reorder=true"
            )

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        self.run(module, PassContext(diagnostics))

    def run(self, module: ir.Module, context: PassContext) -> None:
        diagnostics = context.diagnostics
        planned: list[_Planned] = []
        moved_outputs: list[tuple[ir.Operation, list[OutputSlot]]] = []
        failed = False
        # The time limit is for the whole module: each function gets an equal share of its
        # work (a fixed share, so plans do not depend on how fast the others went), and the
        # clock's safety stop is at the limit.
        functions = [
            op
            for op in module.body.operations
            if op.operation.name == "func.func" and op.regions[0].blocks
        ]
        deadline = time.perf_counter() + max(self.time_limit, 0.0)
        # Plan and validate every function before rewriting any, so a failure leaves the
        # whole module untouched.
        for op in module.body.operations:
            if op.operation.name != "func.func" or not op.regions[0].blocks:
                continue
            func = op.operation
            start = time.perf_counter()
            slots: list[OutputSlot] = []
            if self.outputs == "arena":
                try:
                    slots = outputs_to_allocs(func)
                except AnalysisError as error:
                    diagnostics.error(str(error), error.location or func.location)
                    failed = True
                    continue
                moved_outputs.append((func, slots))
            outcome = self._plan_function(func, slots, diagnostics, len(functions), deadline, start)
            if outcome is None:
                failed = True
                continue
            planned.append(outcome)
        if failed:
            for outcome in reversed(planned):
                outcome.edit.undo()
            for func, slots in moved_outputs:
                restore_outputs(func, slots)
            raise PassFailure("memory-plan failed")
        for outcome in planned:
            analysis, plan, analysis_seconds, slots = (
                outcome.analysis,
                outcome.plan,
                outcome.analysis_seconds,
                outcome.slots,
            )
            report = function_report(analysis, plan, analysis_seconds, slots, outcome.edit.copy_of)
            if outcome.recompute is not None:
                report["recompute"] = outcome.recompute
            context.reports.append(report)
            dead = dead_buffers(analysis)
            dead_indices = {b.index for b in dead}
            live = [b for b in analysis.buffers if b.index not in dead_indices]
            output_buffers = dict(zip((s.argument for s in slots), analysis.outputs, strict=True))
            apply_plan(
                dataclasses.replace(analysis, buffers=live),
                plan,
                arena_argument=bool(slots),
                outputs={buffer: argument for argument, buffer in output_buffers.items()},
            )
            erase_dead_buffers(dead)
            if slots:
                finish_outputs_in_arena(analysis.func, slots, plan, output_buffers)

    def _analyze(
        self, func: ir.Operation, slots: list[OutputSlot], diagnostics: DiagnosticEngine
    ) -> FunctionAnalysis | None:
        try:
            return analyze_function(func, self.alignment, [s.alloc for s in slots])
        except AnalysisError as error:
            diagnostics.error(str(error), error.location or func.location)
            return None

    def _solve(
        self,
        analysis: FunctionAnalysis,
        functions: int,
        deadline: float,
        diagnostics: DiagnosticEngine,
        share: float = 1.0,
    ) -> ArenaPlan | None:
        """Plan one analysed function and validate the plan; None (with an error) if invalid."""
        func = analysis.func
        dead = dead_buffers(analysis)
        too_large = size_overflow(analysis, dead)
        if too_large is not None:
            diagnostics.error(*too_large)
            return None
        plan = plan_arena(
            without_sizes(analysis.problem, dead),
            reorder=self.reorder,
            solver=self.solver,
            time_limit=share * self.time_limit / max(functions, 1),
            mode=self.mode,
            deadline=deadline,
        )
        if plan.clock_stopped:
            diagnostics.warning(
                f"memory-plan: the clock stopped the search at the time limit "
                f"({self.time_limit:g} s) before its work limit; this plan may differ "
                f"between runs (arena {plan.arena_size} bytes, bound over all orders "
                f"{plan.best_bound} bytes)",
                func.location,
            )
        elif plan.status == "timeout":
            diagnostics.warning(
                f"memory-plan: a search stopped at its work limit (the work that "
                f"time-limit={self.time_limit:g} buys); using the best plan found: arena "
                f"{plan.arena_size} bytes, bound over all orders {plan.best_bound} bytes "
                f"(gap {plan.gap:.2%})",
                func.location,
            )
        violations = check_plan(analysis.problem, plan.order, plan.offsets, plan.arena_size)
        if plan.arena_size > INT64_MAX:
            violations.append(
                PlanViolation(f"arena of {plan.arena_size} bytes exceeds {INT64_MAX}")
            )
        if violations:
            diagnostics.error(
                "memory plan failed validation, IR left unchanged: "
                + "; ".join(v.message for v in violations[:5]),
                func.location,
            )
            return None
        return plan

    def _plan_function(
        self,
        func: ir.Operation,
        slots: list[OutputSlot],
        diagnostics: DiagnosticEngine,
        functions: int,
        deadline: float,
        start: float,
    ) -> _Planned | None:
        analysis = self._analyze(func, slots, diagnostics)
        if analysis is None:
            return None
        analysis_seconds = time.perf_counter() - start
        for kept in analysis.left_alone:
            diagnostics.remark(f"buffer left outside the arena: {kept.reason}", kept.op.location)
        for barrier in analysis.barriers:
            diagnostics.remark(
                f"'{barrier.name}' has memory effects memory-plan does not model; "
                "it is ordered as a barrier",
                barrier.location,
            )
        for buffer in dead_buffers(analysis):
            diagnostics.remark(
                "buffer is never used: it is erased and takes no arena space",
                buffer.alloc.location,
            )
        if self.recompute == "off":
            plan = self._solve(analysis, functions, deadline, diagnostics)
            if plan is None:
                return None
            if self.budget and plan.arena_size > self.budget:
                diagnostics.error(
                    f"memory-plan: the arena needs {plan.arena_size} bytes, more than "
                    f"budget={self.budget}; recompute=auto may fit it",
                    func.location,
                )
                return None
            return _Planned(analysis, plan, analysis_seconds, slots, RecomputeEdit(), None)
        return self._plan_with_recompute(
            analysis, slots, diagnostics, functions, deadline, analysis_seconds
        )

    def _plan_with_recompute(
        self,
        analysis: FunctionAnalysis,
        slots: list[OutputSlot],
        diagnostics: DiagnosticEngine,
        functions: int,
        deadline: float,
        analysis_seconds: float,
    ) -> _Planned | None:
        """recompute=auto: choose recompute decisions, rewrite, check the rewrite against the
        original independently, re-analyse and plan. With a budget, lower the recompute target
        by the arena's excess until it fits (at most four tries), else report the smallest
        arena found."""
        func = analysis.func
        # Without recompute first: recompute is used only where it lowers the arena, and under a
        # budget only where the arena does not fit without it. Of the function's share of the
        # work, half goes to this plan, a quarter to the first with recompute, 8% to each retry.
        plain = self._solve(analysis, functions, deadline, diagnostics, share=0.5)
        if plain is None:
            return None
        if self.budget and plain.arena_size <= self.budget:
            return _Planned(analysis, plain, analysis_seconds, slots, RecomputeEdit(), None)
        # Every edit made (the reorder first), undone here unless a recompute plan is kept.
        pending: list[RecomputeEdit] = []
        try:
            kept = self._recompute(
                analysis, plain, slots, diagnostics, functions, deadline, analysis_seconds, pending
            )
        except Exception as error:  # noqa: BLE001 - never a crash, never half-rewritten IR
            kept = error
        if isinstance(kept, _Planned):
            return kept
        for edit in reversed(pending):
            edit.undo()
        if isinstance(kept, Exception):
            reason = f"recompute stopped on an internal error ({type(kept).__name__}: {kept})"
            if self.budget:
                diagnostics.error(
                    f"memory-plan: the arena needs {plain.arena_size} bytes, more than "
                    f"budget={self.budget}, and {reason}",
                    func.location,
                )
                return None
            diagnostics.warning(
                f"memory-plan: {reason}; the plan without recompute is used", func.location
            )
            kept = "plain"
        if kept == "plain":
            return _Planned(analysis, plain, analysis_seconds, slots, RecomputeEdit(), None)
        return None  # an error was reported

    def _recompute(
        self,
        analysis: FunctionAnalysis,
        plain: ArenaPlan,
        slots: list[OutputSlot],
        diagnostics: DiagnosticEngine,
        functions: int,
        deadline: float,
        analysis_seconds: float,
        pending: list[RecomputeEdit],
    ) -> _Planned | Literal["plain"] | None:
        """The recompute tries of _plan_with_recompute: the plan kept with recompute, "plain"
        when the plan without it is to be used, or None after an error diagnostic. Every edit
        made goes into ``pending``; the caller undoes them unless a plan is kept."""
        func = analysis.func
        # Decisions are taken on the planned order: the units are put in it first.
        order_edit = RecomputeEdit()
        pending.append(order_edit)
        reorder_units(analysis, plain.order, order_edit)
        base = self._analyze(func, slots, diagnostics)
        if base is None:
            return None
        scratch = ir.Module.create(loc=func.location)
        original = func.clone(ip=ir.InsertionPoint(scratch.body))
        problem = recompute_problem(base)
        # Under a budget: the least recompute that brings the program-order peak to the budget,
        # then lower targets by the arena's excess (offsets leave gaps), then as low as it goes.
        targets: list[int | None] = [self.budget] if self.budget else []
        smallest = plain.arena_size
        for attempt in range(4):
            target = targets[attempt] if attempt < len(targets) else None
            share = 0.25 if attempt == 0 else 0.08
            # Without a budget an ILP over the candidate decisions runs beside the greedy on
            # small graphs, with a tenth of the function's share of the work.
            ilp_budget = None
            if target is None and self.solver != "greedy":
                ilp_budget = Budget.for_seconds(0.1 * self.time_limit / functions)
            choice = plan_recompute(
                problem, self.max_recompute, target=target, ilp_budget=ilp_budget
            )
            edit = apply_recompute(base, choice.decisions)
            pending.append(edit)
            violations = check_recompute(original, func)
            if violations:
                diagnostics.error(
                    "recompute rewrite failed its check, IR left unchanged: "
                    + "; ".join(v.message for v in violations[:3]),
                    violations[0].location or func.location,
                )
                return None
            rewritten = self._analyze(func, slots, diagnostics)
            plan = None
            if rewritten is not None:
                # The clock's safety stop: the module's, or this solve's share of the limit from
                # now, whichever is later (deciding, rewriting and checking take time outside
                # the searches, more of it on a loaded machine).
                stop = max(deadline, time.perf_counter() + share * self.time_limit / functions)
                plan = self._solve(rewritten, functions, stop, diagnostics, share=share)
            if rewritten is None or plan is None:
                return None
            smallest = min(smallest, plan.arena_size)
            if not self.budget and plan.arena_size >= plain.arena_size:
                return "plain"  # recompute does not pay here
            if not self.budget or plan.arena_size <= self.budget:
                clones = sum(len(d.chain) for d in choice.decisions)
                diagnostics.remark(
                    f"recompute: {len(choice.decisions)} buffers recomputed by {clones} "
                    f"cloned ops, {choice.extra_flops} extra FLOPs "
                    f"({choice.extra_fraction:.1%} of the step's {choice.total_flops}); "
                    f"arena {plain.arena_size} -> {plan.arena_size} bytes",
                    func.location,
                )
                info = {
                    "buffers": len(choice.decisions),
                    "cloned_ops": clones,
                    "extra_flops": choice.extra_flops,
                    "step_flops": choice.total_flops,
                    "extra_fraction": choice.extra_fraction,
                    "max_recompute": self.max_recompute,
                    "arena_without": plain.arena_size,
                    "peak_before": choice.peak_before,
                    "peak_after": choice.peak_after,
                    "budget": self.budget or None,
                }
                edit.block_order = order_edit.block_order
                # The program order is the captured one, before the reorder and the clones.
                plan = dataclasses.replace(plan, program_order_peak=plain.program_order_peak)
                return _Planned(rewritten, plan, analysis_seconds, slots, edit, info)
            edit.undo()  # the next try starts from the reordered function
            if target is None or not choice.reached_target:
                break  # as low as the search goes
            targets.append(max(0, target - (plan.arena_size - self.budget)))
        diagnostics.error(
            f"memory-plan: the arena does not fit in budget={self.budget} bytes: the smallest "
            f"arena found with recompute within max-recompute={self.max_recompute:g} of the "
            f"step's FLOPs is {smallest} bytes",
            func.location,
        )
        return None


@dataclass
class _Planned:
    analysis: FunctionAnalysis
    plan: ArenaPlan
    analysis_seconds: float
    slots: list[OutputSlot]
    edit: RecomputeEdit
    recompute: dict[str, Any] | None


def dead_buffers(analysis: FunctionAnalysis) -> list[ArenaBuffer]:
    """Arena buffers that nothing reads or writes: only their deallocs use them."""
    return [b for b in analysis.buffers if not analysis.problem.users[b.index]]


def erase_dead_buffers(dead: list[ArenaBuffer]) -> None:
    for buffer in dead:
        for dealloc in buffer.deallocs:
            dealloc.erase()
        buffer.alloc.erase()


def without_sizes(problem: ScheduleProblem, dead: list[ArenaBuffer]) -> ScheduleProblem:
    """The problem with dead buffers at size 0, so that their sizes never reach the solver."""
    if not dead:
        return problem
    sizes = list(problem.sizes)
    for buffer in dead:
        sizes[buffer.index] = 0
    return dataclasses.replace(problem, sizes=tuple(sizes))


def size_overflow(
    analysis: FunctionAnalysis, dead: list[ArenaBuffer]
) -> tuple[str, ir.Location] | None:
    """An error (message, location) when a live buffer, or the arena that could hold all of
    them, needs more bytes than a signed 64-bit size can count; None when every size fits."""
    dead_indices = {b.index for b in dead}
    live = [b for b in analysis.buffers if b.index not in dead_indices]
    overflow = first_overflow([(b.size, b.alignment) for b in live])
    if overflow is None:
        return None
    position, needed = overflow
    buffer = live[position]
    memref_type = buffer.alloc.results[0].type
    if align_up(buffer.size, buffer.alignment) > INT64_MAX:
        message = f"buffer of type {memref_type} needs {buffer.size} bytes"
    else:
        message = f"with this buffer ({memref_type}), the arena may need {needed} bytes"
    return (
        f"{message}, more than a signed 64-bit size can hold ({INT64_MAX}); "
        "memory-plan cannot place it",
        buffer.alloc.location,
    )


def function_report(
    analysis: FunctionAnalysis,
    plan: ArenaPlan,
    analysis_seconds: float,
    slots: list[OutputSlot] | None = None,
    copy_of: dict[ir.Operation, ir.Operation] | None = None,
) -> dict[str, Any]:
    """Plain-data summary of one function's plan, for bench tables and, through
    ``plan_json.build_plan_json``, plan files. Built before the rewrite: ops are named by their
    index among the function's top-level ops as memory-plan read them (see plan_json). Under
    outputs=arena (``slots``) the outputs are listed apart, each with its argument, and the
    allocs standing for them and the return (the last unit) are not counted as ops. A buffer
    that recompute added (``copy_of``: its alloc -> the recomputed buffer's) says which buffer
    it recomputes (``recompute_of``)."""
    index_of_alloc = {b.alloc: b.index for b in analysis.buffers}
    slot_of_buffer = dict(zip(analysis.outputs, slots or [], strict=True))
    standing_in = [analysis.buffers[index].alloc for index in analysis.outputs]
    name = ir.StringAttr(analysis.func.attributes["sym_name"]).value
    top_level = [
        op.operation
        for op in analysis.func.regions[0].blocks[0].operations
        if op.operation not in standing_in
    ]
    position = {op: index for index, op in enumerate(top_level)}

    def op_ref(op: ir.Operation) -> dict[str, Any]:
        return op_record(name, position[op], op.name, str(op.location))

    by_buffer = {interval.id: interval for interval in plan.intervals}
    buffers = []
    outputs = []
    for buffer in analysis.buffers:
        interval = by_buffer.get(buffer.index)
        slot = slot_of_buffer.get(buffer.index)
        if slot is not None:
            outputs.append(
                {
                    "argument": slot.argument,
                    "name": slot.name,
                    "index": buffer.index,
                    "type": str(buffer.alloc.results[0].type),
                    "size": buffer.size,
                    "offset": plan.offsets.get(buffer.index),
                    "first_step": interval.lower if interval else None,
                    "last_step": interval.upper - 1 if interval else None,
                }
            )
            continue
        buffers.append(
            {
                "id": buffer_id(name, buffer.index),
                "index": buffer.index,
                "op": op_ref(buffer.alloc),
                "type": str(buffer.alloc.results[0].type),
                "location": str(buffer.alloc.location),
                "size": buffer.size,
                "offset": plan.offsets.get(buffer.index) if interval else None,
                "dead": interval is None,
                "first_step": interval.lower if interval else None,
                "last_step": interval.upper - 1 if interval else None,
            }
        )
        if copy_of and buffer.alloc in copy_of:
            buffers[-1]["recompute_of"] = index_of_alloc[copy_of[buffer.alloc]]
    order = [analysis.units[unit] for unit in plan.order]
    if analysis.outputs:
        order = [op for op in order if op != analysis.terminator]
    report = {
        "function": name,
        "units": len(order),
        "allocs": len(buffers),
        "left_alone": len(analysis.left_alone),
        "dead": len(dead_buffers(analysis)),
        "left_alone_bytes": sum(_static_bytes(kept.op) for kept in analysis.left_alone),
        "sum_of_sizes": sum(b.size for b in analysis.buffers if analysis.problem.users[b.index]),
        "program_order_peak": plan.program_order_peak,
        "lower_bound": plan.lower_bound,
        "order_lower_bound": plan.best_bound,
        "arena_size": plan.arena_size,
        "gap": plan.gap,
        "status": plan.status,
        "order_algorithm": plan.order_algorithm,
        "offset_algorithm": plan.offset_algorithm,
        "analysis_seconds": analysis_seconds,
        "solve_seconds": plan.solve_seconds,
        "buffers": buffers,
        "order": [op_ref(op) for op in order],
    }
    if analysis.outputs:
        report["outputs"] = outputs
    return report


def _static_bytes(alloc: ir.Operation) -> int:
    """Bytes of a static-shape alloc left outside the arena (0 when its size is not static)."""
    memref_type = ir.MemRefType(alloc.results[0].type)
    if not memref_type.has_static_shape:
        return 0
    return memref_bytes(memref_type) or 0
