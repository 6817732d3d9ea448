"""memory-plan recompute=auto: the solver's limits, the independent check of the rewrite, the
undo, and recomputed plans of real models that run bit-identical to the unplanned IR and match
PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_mlir import ir

from modelopt_mlir.analysis.function import analyze_function
from modelopt_mlir.analysis.recompute import recompute_problem
from modelopt_mlir.api import PlanError
from modelopt_mlir.ir_context import find_function, make_context
from modelopt_mlir.rewrite_recompute import apply_recompute
from modelopt_mlir.solver.recompute import Recompute, plan_recompute
from modelopt_mlir.validate_recompute import check_recompute
from modelopt_mlir.zoo import ZOO, bench_optimizer

LIT = Path(__file__).resolve().parents[2] / "memory-plan" / "recompute.mlir"


def _parse(name: str) -> tuple[ir.Module, ir.Operation, ir.Module, ir.Operation]:
    """The lit test's function ``name``, twice: one to rewrite, one as the original (keep the
    modules referenced: their functions die with them)."""
    text = LIT.read_text()
    module = ir.Module.parse(text)
    original = ir.Module.parse(text)
    return module, find_function(module, name), original, find_function(original, name)


@pytest.fixture()
def context():
    with make_context() as ctx:
        yield ctx


def test_solver_recomputes_the_chain_within_the_flops_limit(context) -> None:
    module, func, _, _ = _parse("chain")
    problem = recompute_problem(analyze_function(func))
    chosen = plan_recompute(problem, max_flops_fraction=0.35)
    assert chosen.peak_before == 9216 and chosen.peak_after == 8192
    assert len(chosen.decisions) == 2 and chosen.extra_flops == 512
    assert chosen.total_flops == 3840
    # The chain costs 13.3% of the step: a 10% limit allows nothing.
    none = plan_recompute(problem, max_flops_fraction=0.10)
    assert none.decisions == () and none.peak_after == 9216


def test_solver_never_clones_past_a_write_of_an_input(context) -> None:
    module, func, _, _ = _parse("written")
    chosen = plan_recompute(recompute_problem(analyze_function(func)))
    assert chosen.decisions == ()


def test_rewrite_passes_the_check_and_undo_restores(context) -> None:
    module, func, _, original = _parse("chain")
    before = str(module)
    analysis = analyze_function(func)
    chosen = plan_recompute(recompute_problem(analysis))
    edit = apply_recompute(analysis, chosen.decisions)
    assert module.operation.verify()
    assert check_recompute(original, func) == []
    assert str(module).count("modelopt.recompute") == 4  # 2 allocs, 2 clones
    edit.undo()
    assert str(module) == before


def test_check_judges_values_not_names(context) -> None:
    module, func, _, original = _parse("chain")
    analysis = analyze_function(func)
    edit = apply_recompute(analysis, plan_recompute(recompute_problem(analysis)).decisions)
    op, position, value = edit.replaced[0]
    op.operands[position] = value
    # The last op reads the original b again: b still holds its value (nothing overwrote it),
    # so the function still computes the same: no violation.
    assert check_recompute(original, func) == []
    # A clone that reads its input after the input was overwritten does not.
    module2, func2, _, original2 = _parse("written")
    analysis2 = analyze_function(func2)
    units = analysis2.units
    last = max(i for i, op in enumerate(units) if op.name == "linalg.generic")
    exp_unit = next(i for i, op in enumerate(units) if "math.exp" in str(op))
    square_unit = exp_unit + 1 if "arith.mulf" in str(units[exp_unit + 1]) else None
    assert square_unit is not None
    a_buffer = next(iter(b for b in recompute_problem(analysis2).writes[exp_unit] if b >= 0))
    b_buffer = next(iter(b for b in recompute_problem(analysis2).writes[square_unit] if b >= 0))
    wrong = [
        Recompute(a_buffer, last, (exp_unit,)),
        Recompute(b_buffer, last, (square_unit,)),
    ]
    apply_recompute(analysis2, wrong)
    violations = check_recompute(original2, func2)
    assert violations and "reads values the original did not read" in violations[0].message


def test_check_catches_a_missing_clone(context) -> None:
    module, func, _, original = _parse("chain")
    analysis = analyze_function(func)
    decisions = plan_recompute(recompute_problem(analysis)).decisions
    # Recompute b from a without recomputing a (a's buffer is reused: not here, but the clone
    # chain must start at the full overwrite): a chain that skips its first unit is wrong.
    first = decisions[0]
    apply_recompute(analysis, [first, Recompute(decisions[1].buffer, decisions[1].split, ())])
    assert check_recompute(original, func)


@pytest.mark.parametrize("name", ["mlp", "gpt2", "bert"])
def test_recomputed_zoo_plans_run_bit_identical_and_match_pytorch(name: str) -> None:
    model = ZOO[name].build()
    result = model.plan(bench_optimizer("adam", model.model), recompute="auto", time_limit=5)
    report = result.report
    assert report.recompute is not None, "expected recompute to lower this arena"
    assert report.arena_bytes < report.recompute["arena_without"]
    assert 0 < report.recompute["extra_fraction"] <= 0.35
    assert result.verify_planned_vs_unplanned().identical
    result.verify()


def test_cnn_recomputes_and_runs_bit_identical() -> None:
    # At batch 2 the ResNet-style CNN's peak holds activations that recompute frees.
    model = ZOO["cnn"].build(batch=2)
    result = model.plan(bench_optimizer("adam", model.model), recompute="auto", time_limit=10)
    report = result.report
    assert report.recompute is not None
    assert report.arena_bytes < report.recompute["arena_without"]
    assert result.verify_planned_vs_unplanned().identical
    result.verify()


def test_budget_below_reach_names_the_smallest_arena() -> None:
    model = ZOO["mlp"].build()
    with pytest.raises(PlanError, match=r"does not fit in budget=1000 bytes: the smallest arena"):
        model.plan(
            bench_optimizer("adam", model.model),
            recompute="auto",
            memory_budget=1000,
            time_limit=2,
        )
    with pytest.raises(PlanError, match="memory_budget must be a positive number of bytes"):
        model.plan(bench_optimizer("adam", model.model), memory_budget=-5)


@pytest.mark.parametrize("seed", range(12))
def test_random_training_programs_recompute_bit_identical(seed: int) -> None:
    from modelopt_mlir.diagnostics import DiagnosticEngine
    from modelopt_mlir.ir_context import parse_module
    from modelopt_mlir.lowering.cpu import compare_bitwise
    from modelopt_mlir.planning import plan_module
    from modelopt_mlir.testing.training_programs import generate_training_program

    text, entry = generate_training_program(seed)
    with make_context() as ctx:
        module = parse_module(text, ctx)
        reports = plan_module(module, DiagnosticEngine(), recompute="auto", time_limit=2)
        planned = str(module)
    assert reports[0].get("recompute"), "these programs keep activations for a backward pass"
    assert compare_bitwise(text, planned, entry, seed=seed).identical


def test_ilp_over_the_candidate_decisions_finds_the_chain(context) -> None:
    from modelopt_mlir.solver.recompute import _ilp_decisions, _State, _writers
    from modelopt_mlir.solver.work import Budget

    module, func, _, _ = _parse("chain")
    problem = recompute_problem(analyze_function(func))
    state = _State(problem)
    class_writers: dict[int, list[int]] = {}
    for unit, written in enumerate(problem.writes):
        for cls in written:
            class_writers.setdefault(cls, []).append(unit)
    chosen = _ilp_decisions(
        problem, state, _writers(problem), class_writers, 1e9, {}, Budget.for_seconds(5)
    )
    assert chosen is not None and len(chosen) == 2
    assert int(state.profile(chosen).max()) == 8192
    # No FLOPs allowed: nothing can be chosen.
    none = _ilp_decisions(
        problem, state, _writers(problem), class_writers, 0, {}, Budget.for_seconds(5)
    )
    assert none == {}


NO_ARGUMENTS = """
func.func @f() {
  %c = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%c : f32) outs(%a : memref<16xf32>)
  memref.dealloc %a : memref<16xf32>
  return
}
"""


def test_check_reads_a_function_without_arguments(context) -> None:
    # Its entry block prints no ^bb0 label (found by the mutant fuzzer: a StopIteration).
    module = ir.Module.parse(NO_ARGUMENTS)
    func = find_function(module, "f")
    assert check_recompute(func, func) == []


def test_an_internal_error_in_recompute_falls_back_to_the_plain_plan(monkeypatch) -> None:
    import modelopt_mlir.passes.memory_plan as memory_plan
    from modelopt_mlir.diagnostics import DiagnosticEngine
    from modelopt_mlir.planning import plan_module

    def broken(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(memory_plan, "apply_recompute", broken)
    with make_context():
        module, func, _, _ = _parse("chain")
        diagnostics = DiagnosticEngine()
        reports = plan_module(module, diagnostics, recompute="auto")
        warnings = [d.message for d in diagnostics.diagnostics if d.severity == "warning"]
        assert any("recompute stopped on an internal error" in w for w in warnings)
        assert reports[0]["arena_size"] == 9216 and "recompute" not in reports[0]
        assert "modelopt.recompute" not in str(module)
