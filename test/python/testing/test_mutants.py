"""Mutation fuzzing in the default test run (issue 12): mutants of the examples and lit inputs
never crash modelopt-opt, and random valid and malformed problem files never crash
modelopt-plan. bench/fuzz.py runs thousands of each."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

import pytest

from modelopt_mlir.testing import mutate
from modelopt_mlir.testing.mutate import FAILED, PlanCase, ToolRun

SEED = 0


def first_failures(runs: list[mutate.FuzzRun], limit: int = 3) -> str:
    shown = []
    for run in [r for r in runs if r.failed][:limit]:
        detail = run.run.traceback or run.run.reparse_error or run.run.stderr
        shown.append(f"{run.outcome}: {run.description}\n{' '.join(run.argv)}\n{detail[-2000:]}")
    return "\n\n".join(shown)


@pytest.mark.parametrize("start", [0, 100, 200])
def test_mutants_end_with_exit_0_1_or_2_and_reparse(start: int) -> None:
    runs = list(mutate.mutant_runs(100, SEED, start))
    assert not any(r.failed for r in runs), first_failures(runs)
    outcomes = {r.outcome for r in runs}
    assert {"exit 0", "exit 1"} <= outcomes, outcomes


@pytest.mark.parametrize("start", [0, 150])
def test_plan_inputs_solve_validly_or_exit_2_naming_the_item(start: int) -> None:
    runs = list(mutate.plan_runs(150, SEED, start))
    assert not any(r.failed for r in runs), first_failures(runs)
    outcomes = {r.outcome for r in runs}
    assert {"valid: exit 0", "malformed: exit 2"} <= outcomes, outcomes


def test_inputs_are_deterministic_per_seed_and_index() -> None:
    assert mutate.make_mutant(3, 17) == mutate.make_mutant(3, 17)
    assert mutate.make_plan_case(3, 17) == mutate.make_plan_case(3, 17)
    assert [mutate.make_mutant(3, i).data for i in range(10)] != [
        mutate.make_mutant(4, i).data for i in range(10)
    ]
    # Run 5 is the same whether it is reached from 0 or started at.
    assert next(mutate.plan_runs(1, 3, start=5)).data == list(mutate.plan_runs(6, 3))[5].data


def test_mutation_sources_skip_generated_output() -> None:
    sources = mutate.mutation_sources()
    names = {s.path.relative_to(mutate.REPO).as_posix() for s in sources}
    assert "test/examples/mlp_sgd.mlir" in names
    assert "test/memory-plan/basic.mlir" in names
    assert not any("/Output/" in name for name in names)
    assert all(not line.lstrip().startswith("// RUN") for s in sources for line in s.lines)


def _crash(argv: Sequence[str]) -> int:
    os.kill(os.getpid(), signal.SIGSEGV)
    return 0


def _raise(argv: Sequence[str]) -> int:
    raise KeyError("boom")


def _hang(argv: Sequence[str]) -> int:
    time.sleep(60)
    return 0


def _exit(argv: Sequence[str]) -> int:
    raise SystemExit(int(argv[0]))


def test_run_forked_counts_crashes_tracebacks_and_hangs() -> None:
    assert mutate.mutant_outcome(mutate.run_forked(_crash, [])) == f"{FAILED}signal 11"
    raised = mutate.run_forked(_raise, [])
    assert mutate.mutant_outcome(raised) == f"{FAILED}traceback"
    assert "KeyError: 'boom'" in (raised.traceback or "")
    assert mutate.mutant_outcome(mutate.run_forked(_hang, [], timeout=0.5)) == f"{FAILED}timeout"
    assert mutate.run_forked(_exit, ["2"]).exit_code == 2
    assert mutate.mutant_outcome(mutate.run_forked(_exit, ["3"])) == f"{FAILED}exit 3"
    unparsable = ToolRun(0, stdout="func.func @f(", reparse_error="expected ')'")
    assert mutate.mutant_outcome(unparsable) == f"{FAILED}exit 0 output does not parse"
    silent = ToolRun(1, stderr="")
    assert mutate.mutant_outcome(silent) == f"{FAILED}exit 1 without an error diagnostic"


def test_plan_checks_catch_wrong_plans() -> None:
    """The independent checks themselves: overlapping offsets and a wrong peak are failures."""
    intervals = PlanCase(
        0,
        "two live together",
        "offsets",
        "csv",
        b"id,lower,upper,size\n0,0,2,8\n1,1,3,8\n",
        "valid",
    )
    good = ToolRun(
        0, stdout="id,lower,upper,size,offset\n0,0,2,8,0\n1,1,3,8,8\n", stderr="arena: 16"
    )
    overlapping = ToolRun(
        0, stdout="id,lower,upper,size,offset\n0,0,2,8,0\n1,1,3,8,4\n", stderr="arena: 16"
    )
    assert mutate.plan_outcome(intervals, good, "in.csv") == "valid: exit 0"
    assert "overlap" in mutate.plan_outcome(intervals, overlapping, "in.csv")

    graph = PlanCase(
        0,
        "chain",
        "order",
        "json",
        b'{"ops": ["a", "b"], "tensors": ['
        b'{"name": "x", "size": 4, "producer": "a", "consumers": ["b"]},'
        b'{"name": "y", "size": 2, "producer": "b", "consumers": []}]}',
        "valid",
    )

    def order_run(order: list[str], peak: int) -> ToolRun:
        text = (
            f'{{"order": {order!r}, "peak": {peak}, "lower_bound": 6, "program_order_peak": 6}}'
        ).replace("'", '"')
        return ToolRun(0, stdout=text)

    assert mutate.plan_outcome(graph, order_run(["a", "b"], 6), "g.json") == "valid: exit 0"
    assert "recomputed 6" in mutate.plan_outcome(graph, order_run(["a", "b"], 4), "g.json")
    assert "dependence" in mutate.plan_outcome(graph, order_run(["b", "a"], 6), "g.json")

    malformed = PlanCase(0, "negative", "offsets", "csv", b"", "malformed", "{input}:3:")
    named = ToolRun(2, stderr="modelopt-plan: in.csv:3: size must be >= 0")
    assert mutate.plan_outcome(malformed, named, "in.csv") == "malformed: exit 2"
    unnamed = ToolRun(2, stderr="modelopt-plan: bad file")
    assert mutate.plan_outcome(malformed, unnamed, "in.csv").startswith(FAILED)
    assert mutate.plan_outcome(malformed, ToolRun(0), "in.csv").startswith(FAILED)
