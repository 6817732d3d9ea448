"""memory-plan ``outputs=arena``: out-params planned into the arena, which the caller provides.

Checked here: planned IR run through the adapter (lowering/arena_outputs.py) gives the same
bits as the unplanned IR; a module where one function cannot be planned is left exactly as it
was; the plan file lists the outputs; and inference through ``plan()`` holds no caller memory
for the outputs, so the tiny MLP's whole forward pass is at most eager PyTorch's peak.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.arena_outputs import OutputsInArena, compile_planned
from modelopt_mlir.lowering.cpu import compile_cpu, random_arguments
from modelopt_mlir.plan_json import build_plan_json, validate_plan_json
from modelopt_mlir.planning import plan_module

LIT = Path(__file__).resolve().parents[2] / "memory-plan"


def _plan(text: str, **options) -> tuple[str, list[dict]]:
    with make_context():
        module = ir.Module.parse(text)
        reports = plan_module(module, DiagnosticEngine(), outputs="arena", **options)
        return module.operation.get_asm(enable_debug_info=False), reports


@pytest.mark.parametrize("func_name", ["mlp", "written_early"])
def test_planned_outputs_in_arena_run_bit_identical(func_name: str) -> None:
    text = (LIT / "outputs-arena.mlir").read_text()
    planned, _ = _plan(text)
    function = compile_planned(planned, func_name)
    assert isinstance(function, OutputsInArena)
    unplanned = compile_cpu(text, func_name)
    assert [(s.dtype, s.shape) for s in function.specs] == [
        (s.dtype, s.shape) for s in unplanned.specs
    ]
    for seed in range(3):
        args = random_arguments(text, func_name, seed)
        want = unplanned(args)
        got = function(args)
        assert len(got) == len(want)
        for a, b in zip(want, got, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert a.tobytes() == b.tobytes()


def test_failure_leaves_every_function_untouched() -> None:
    """@fine's out-param is moved into an alloc before @escapes fails: it must come back."""
    text = (LIT / "outputs-arena-invalid.mlir").read_text()
    with make_context():
        module = ir.Module.parse(text)
        before = module.operation.get_asm()
        with pytest.raises(PassFailure):
            plan_module(module, DiagnosticEngine(), outputs="arena")
        assert module.operation.get_asm() == before
        assert module.operation.verify()


def test_plan_file_lists_outputs() -> None:
    _, reports = _plan((LIT / "outputs-arena.mlir").read_text())
    doc = build_plan_json(reports)
    validate_plan_json(doc)
    mlp = next(f for f in doc["functions"] if f["function"] == "mlp")
    assert mlp["outputs"] == [
        {
            "argument": 4,
            "name": "logits",
            "index": 0,
            "type": "memref<8x10xf32>",
            "size": 320,
            "offset": 0,
            "first_step": 5,  # its fill
            "last_step": 7,  # the return, one past the last op of the order
        }
    ]
    # The output's alloc and the return are not counted: 7 ops (a constant, 3 fills and 3
    # matmuls), 2 buffers.
    assert mlp["units"] == len(mlp["order"]) == 7
    assert [b["type"] for b in mlp["buffers"]] == ["memref<8x64xf32>"] * 2
    assert "outputs" not in next(f for f in doc["functions"] if f["function"] == "no_outputs")


def test_timeline_draws_the_outputs(tmp_path: Path) -> None:
    """The picture counts the outputs as the plan does: its live curve peaks at the chosen
    order's peak, and the output gets its own colour."""
    from modelopt_mlir import timeline

    _, reports = _plan((LIT / "outputs-arena.mlir").read_text())
    report = next(r for r in reports if r["function"] == "written_early")
    drawn = []
    original = timeline.live_bytes_per_step

    def spy(buffers):  # noqa: ANN001, ANN202
        drawn.extend(buffers)
        return original(buffers)

    timeline.live_bytes_per_step = spy
    try:
        path = timeline.render_timeline(report, tmp_path / "t.png")
    finally:
        timeline.live_bytes_per_step = original
    assert path.stat().st_size > 0
    assert max(original(drawn)) == report["lower_bound"] == 128
    assert any(b.get("argument") == 1 for b in drawn)


def test_mlp_inference_at_most_eager_and_verified() -> None:
    from modelopt_mlir.api import plan
    from modelopt_mlir.zoo import ZOO

    built = ZOO["mlp"].build()
    result = plan(
        built.model, built.example_inputs, time_limit=5, progress=False, compare_eager=True
    )
    report = result.report
    assert report.outputs_in_arena and report.output_bytes == 8 * 10 * 4
    assert report.arguments_bytes == report.param_bytes + report.batch_bytes
    assert report.vs_eager is not None and report.vs_eager <= 1.0
    assert result.verify_planned_vs_unplanned().identical
    assert all(e.ok for e in result.verify())
    # run_cpu returns the output read back from the arena, named as before
    assert set(result.run_cpu()) == {"output"}
    np.testing.assert_array_equal(
        result.run_cpu()["output"].numpy(), result.run_cpu(planned=False)["output"].numpy()
    )
