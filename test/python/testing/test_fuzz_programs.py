"""Generated-program fuzzing of memory-plan (issue 12): 300 random valid bufferized programs
are planned, checked by the independent validator and run planned against unplanned on the
CPU, bit for bit. ``python bench/fuzz.py --count N --seed S`` runs thousands more."""

from __future__ import annotations

import pytest

from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.ir_context import parse_module
from modelopt_mlir.lowering.cpu import compare_bitwise
from modelopt_mlir.planning import plan_module
from modelopt_mlir.testing.programs import (
    FAILED,
    IDENTICAL,
    MENU,
    REFUSED,
    check_planned_ir,
    check_program,
    generate,
    is_valid,
    shrink,
)

SEED = 0
COUNT = 300
CHUNK = 50


@pytest.mark.parametrize("start", range(0, COUNT, CHUNK))
def test_generated_programs_plan_validate_and_run_bit_identical(start: int) -> None:
    failures = []
    for index in range(start, start + CHUNK):
        program = generate(SEED, index)
        result = check_program(program)
        if result.outcome in (IDENTICAL, REFUSED):
            continue
        failures.append(
            f"seed {SEED} index {index}: {result.outcome}\n{result.detail[:2000]}\n{program.text}"
        )
    assert not failures, (
        f"{len(failures)} failing programs (shrink with bench/fuzz.py --seed {SEED}):\n"
        + "\n\n".join(failures[:2])
    )


def test_generated_programs_with_outputs_in_arena() -> None:
    """outputs=arena on 100 programs: the entry's static arguments at odd positions are marked
    outputs; those never read before being overwritten end in the caller's arena, and the
    planned program (called through lowering/arena_outputs.py) gives the same bits."""
    failures = []
    placed = 0
    for index in range(100):
        program = generate(1, index)
        result = check_program(program, outputs_in_arena=True)
        if result.outcome == IDENTICAL and "modelopt.outputs" in result.planned:
            placed += 1
        if result.outcome.startswith(FAILED):
            failures.append(f"seed 1 index {index}: {result.outcome}\n{result.detail[:2000]}")
    assert not failures, "\n\n".join(failures[:2])
    assert placed >= 20  # the premise: many programs really have outputs in the arena


def test_generator_produces_every_menu_item() -> None:
    seen: set[str] = set()
    for index in range(COUNT):
        seen |= generate(SEED, index).tags
    assert set(MENU) - seen == set()


def test_generator_is_deterministic_and_valid() -> None:
    for index in range(40):
        program = generate(7, index)
        assert program.text == generate(7, index).text
        assert is_valid(program)
    assert generate(7, 0).text != generate(8, 0).text


def test_shrink_keeps_programs_valid_and_removes_what_does_not_matter() -> None:
    program = next(
        p for p in (generate(SEED, i) for i in range(COUNT)) if "matmul" in p.tags and p.size > 8
    )
    shrunk = shrink(program, lambda p: "matmul" in p.tags)
    assert is_valid(shrunk)
    assert "matmul" in shrunk.tags
    assert shrunk.size < program.size
    # Every statement left is needed: the matmul and what defines and initializes its operands.
    assert shrunk.size <= 8
    assert check_program(shrunk).outcome == IDENTICAL


TWO_TEMPS = """
func.func @two_temps(%arg: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %arg, %a : memref<16xf32> to memref<16xf32>
  linalg.add ins(%a, %a : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>
  return
}
"""


def _planned(text: str) -> str:
    module = parse_module(text)
    with module.context:
        plan_module(module)
        return module.operation.get_asm()


def test_planned_ir_validator_finds_overlapping_views() -> None:
    planned = _planned(TWO_TEMPS)
    assert check_planned_ir(planned) == []
    assert "arith.constant 64 : index" in planned
    broken = planned.replace("arith.constant 64 : index", "arith.constant 32 : index")
    problems = check_planned_ir(broken)
    assert problems and "overlap" in problems[0]
    outside = planned.replace("arith.constant 64 : index", "arith.constant 128 : index")
    assert any("outside the arena" in p for p in check_planned_ir(outside))


DEAD = """
func.func @dead(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %d0 = memref.alloc() : memref<1024xf32>
  %s = memref.alloc() : memref<4xf32>
  %d1 = memref.alloca() : memref<8xi64>
  memref.copy %arg, %s : memref<4xf32> to memref<4xf32>
  memref.copy %s, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %d0 : memref<1024xf32>
  memref.dealloc %s : memref<4xf32>
  return
}
"""


def test_dead_buffers_are_erased_reported_and_the_result_runs() -> None:
    module = parse_module(DEAD)
    with module.context:
        reports = plan_module(module)
        planned = module.operation.get_asm()
    (report,) = reports
    assert report["dead"] == 2 and report["arena_size"] == 64
    assert [b["dead"] for b in report["buffers"]] == [True, False, True]
    assert planned.count("memref.alloc") == 1 and "alloca" not in planned
    compare_bitwise(DEAD, planned, "dead").raise_if_different()


HUGE = """
func.func @fine(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %s = memref.alloc() : memref<4xf32>
  memref.copy %arg, %s : memref<4xf32> to memref<4xf32>
  memref.copy %s, %out : memref<4xf32> to memref<4xf32>
  return
}
func.func @huge(%arg: memref<4xf32>) {
  %h = memref.alloc() : memref<4611686018427387904xf32>
  %v = memref.subview %h[0] [4] [1] : memref<4611686018427387904xf32> to memref<4xf32, strided<[1]>>
  memref.copy %arg, %v : memref<4xf32> to memref<4xf32, strided<[1]>>
  return
}
"""


def test_a_buffer_too_large_for_64_bits_leaves_the_module_untouched() -> None:
    module = parse_module(HUGE)
    diagnostics = DiagnosticEngine()
    with module.context:
        before = module.operation.get_asm()
        with pytest.raises(PassFailure):
            plan_module(module, diagnostics)
        assert module.operation.get_asm() == before
    (error,) = [d for d in diagnostics.diagnostics if d.severity == "error"]
    assert "more than a signed 64-bit size can hold" in error.message
    assert error.location is not None and error.location.line == 9
