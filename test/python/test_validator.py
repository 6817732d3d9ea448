"""The independent validator and the CPU harness both catch a wrong plan; the IR stays untouched."""

from __future__ import annotations

import dataclasses

import pytest
from torch_mlir import ir

from modelopt_mlir.analysis.function import analyze_function
from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.examples import load_example
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import compare_bitwise
from modelopt_mlir.passes import memory_plan
from modelopt_mlir.planning import plan_module
from modelopt_mlir.rewrite import apply_plan
from modelopt_mlir.solver.arena_planner import plan_arena
from modelopt_mlir.solver.problem import ArenaPlan, ScheduleProblem
from modelopt_mlir.validate import check_plan

# Buffers 0 and 1 are both live at unit 1; buffer 2 is live at units 2-3.
PROBLEM = ScheduleProblem(
    num_units=4,
    edges=((0, 1), (1, 2), (2, 3)),
    sizes=(64, 64, 64),
    users=((0, 1), (1, 2), (2, 3)),
    alignment=(64, 64, 64),
)


def test_valid_plan_passes() -> None:
    assert check_plan(PROBLEM, (0, 1, 2, 3), {0: 0, 1: 64, 2: 0}, 128) == []


def test_overlap_of_live_buffers_is_rejected() -> None:
    violations = check_plan(PROBLEM, (0, 1, 2, 3), {0: 0, 1: 32, 2: 0}, 128)
    assert any("overlap" in v.message for v in violations)
    assert any("not 64-byte aligned" in v.message for v in violations)
    violations = check_plan(PROBLEM, (0, 1, 2, 3), {0: 0, 1: 0, 2: 64}, 128)
    assert any("overlap" in v.message for v in violations)


def test_dependence_violation_is_rejected() -> None:
    violations = check_plan(PROBLEM, (1, 0, 2, 3), {0: 0, 1: 64, 2: 128}, 192)
    assert any("depends on" in v.message for v in violations)


def test_offsets_outside_arena_and_missing_are_rejected() -> None:
    violations = check_plan(PROBLEM, (0, 1, 2, 3), {0: 0, 1: 64}, 100)
    messages = " ".join(v.message for v in violations)
    assert "outside the arena" in messages
    assert "has no offset" in messages


def test_not_a_permutation_is_rejected() -> None:
    assert check_plan(PROBLEM, (0, 1, 1, 3), {}, 0)[0].message.startswith("order is not")


def _overlapping_planner(problem: ScheduleProblem, **kwargs) -> ArenaPlan:
    """A broken planner: the real plan with every buffer forced to offset 0."""
    plan = plan_arena(problem, **kwargs)
    return dataclasses.replace(
        plan,
        offsets={buffer: 0 for buffer in plan.offsets},
        arena_size=max(problem.sizes),
        offset_algorithm="broken",
        solve_seconds=0.0,
    )


def _two_floats_overlap(analysis) -> ArenaPlan:
    """A valid plan, then one f32 buffer moved onto another that is live at the same time.
    Only float data is corrupted: corrupting integer indices would trip the step's bounds
    asserts and abort the process instead of giving different outputs."""
    plan = plan_arena(analysis.problem, solver="greedy")
    live = {i.id: i for i in plan.intervals}
    floats = [
        b.index
        for b in analysis.buffers
        if str(b.alloc.results[0].type).endswith("xf32>") and b.index in live
    ]
    first, second = next(
        (a, b)
        for a in floats
        for b in floats
        if a < b
        and live[a].overlaps_in_time(live[b])
        and analysis.problem.sizes[a] == analysis.problem.sizes[b]
    )
    offsets = {**plan.offsets, second: plan.offsets[first]}
    return dataclasses.replace(plan, offsets=offsets, offset_algorithm="broken", solve_seconds=0.0)


def test_pass_rejects_wrong_plan_and_leaves_ir_untouched(monkeypatch) -> None:
    monkeypatch.setattr(memory_plan, "plan_arena", _overlapping_planner)
    example = load_example("mlp_sgd")
    with make_context():
        module = ir.Module.parse(example.text)
        before = str(module)
        diagnostics = DiagnosticEngine()
        with pytest.raises(PassFailure):
            plan_module(module, diagnostics)
        assert str(module) == before
    errors = [d for d in diagnostics.diagnostics if d.severity == "error"]
    assert errors and "failed validation" in errors[0].message
    assert "overlap" in errors[0].message


def test_cpu_harness_catches_a_wrong_plan_that_skips_the_validator() -> None:
    """Apply an overlapping plan directly (no validator): the outputs differ bit for bit."""
    example = load_example("mlp_sgd")
    with make_context():
        module = ir.Module.parse(example.text)
        func = next(op for op in module.body.operations if op.operation.name == "func.func")
        analysis = analyze_function(func.operation)
        broken = _two_floats_overlap(analysis)
        assert check_plan(analysis.problem, broken.order, broken.offsets, broken.arena_size)
        apply_plan(analysis, broken)
        broken_text = str(module)
    comparison = compare_bitwise(
        example.text, broken_text, example.func_name, seed=0, int_ranges=example.int_ranges
    )
    assert not comparison.identical
