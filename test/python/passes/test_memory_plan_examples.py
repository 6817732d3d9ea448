"""memory-plan on the bundled training steps: one arena, a valid plan near its bound, below the
upstream planner, and bit-identical results on the CPU."""

from __future__ import annotations

import pytest
from torch_mlir import ir

from modelopt_mlir.baseline import upstream_best_fit_arena
from modelopt_mlir.examples import example_names, load_example
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import compare_bitwise
from modelopt_mlir.planning import plan_module


def _allocs(func: ir.Operation) -> list[ir.Operation]:
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name in ("memref.alloc", "memref.alloca"):
            found.append(op)
        return ir.WalkResult.ADVANCE

    func.walk(visit)
    return found


@pytest.fixture(scope="module", params=example_names())
def planned(request: pytest.FixtureRequest):
    example = load_example(request.param)
    context = make_context()
    with context:
        module = ir.Module.parse(example.text)
        reports = plan_module(module)
        planned_text = str(module)
    return example, reports, planned_text, context


def test_one_arena_per_function(planned) -> None:
    example, reports, planned_text, context = planned
    assert len(reports) == 1
    with context:
        module = ir.Module.parse(planned_text)
        funcs = [op for op in module.body.operations if op.operation.name == "func.func"]
        assert len(funcs) == 1
        allocs = _allocs(funcs[0].operation)
    assert len(allocs) == 1, f"{example.name}: expected only the arena alloc"
    assert str(allocs[0].results[0].type) == f"memref<{reports[0]['arena_size']}xi8>"
    assert reports[0]["left_alone"] == 0
    assert reports[0]["allocs"] > 0


def test_arena_close_to_lower_bound(planned) -> None:
    _, reports, _, _ = planned
    report = reports[0]
    assert report["lower_bound"] <= report["arena_size"] <= 1.05 * report["lower_bound"]
    assert report["lower_bound"] <= report["program_order_peak"]


@pytest.mark.parametrize("optimize_liveness", [False, True])
def test_arena_below_upstream_best_fit(planned, optimize_liveness: bool) -> None:
    example, reports, _, _ = planned
    upstream = upstream_best_fit_arena(example.text, optimize_liveness=optimize_liveness)
    assert reports[0]["arena_size"] < upstream[example.func_name]


def test_planned_ir_is_bit_identical_on_cpu(planned) -> None:
    example, _, planned_text, _ = planned
    comparison = compare_bitwise(
        example.text,
        planned_text,
        example.func_name,
        seed=0,
        int_ranges=example.int_ranges,
        float_ranges=example.float_ranges,
    )
    comparison.raise_if_different()
    assert comparison.identical


def test_auto_is_no_worse_than_greedy_and_reports_bounds(planned) -> None:
    example, reports, _, context = planned
    auto = reports[0]
    with context:
        module = ir.Module.parse(example.text)
        (greedy,) = plan_module(module, solver="greedy")
    assert auto["arena_size"] <= greedy["arena_size"]
    assert auto["order_lower_bound"] <= auto["lower_bound"] <= auto["arena_size"]
    assert auto["gap"] == pytest.approx(
        (auto["arena_size"] - auto["order_lower_bound"]) / auto["order_lower_bound"]
    )
    assert auto["status"] in ("optimal", "feasible", "timeout")
