"""modelopt_mlir.plan: capture -> plan -> run on the CPU -> compare with eager PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from modelopt_mlir.api import (
    PlanError,
    PlanResult,
    PlanWarning,
    VerificationError,
    compare_results,
    format_size,
    plan,
)


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    return model, torch.randn(8, 16), torch.randint(0, 4, (8,))


@pytest.fixture(scope="module")
def sgd_result() -> PlanResult:
    model, x, y = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return plan(model, (x,), y, nn.functional.cross_entropy, optimizer, upstream=True)


def test_mlp_sgd_matches_pytorch(sgd_result: PlanResult) -> None:
    errors = sgd_result.verify(rtol=1e-5)
    names = {e.name for e in errors}
    assert {"loss", "0.weight", "0.bias", "2.weight", "2.bias", "0.weight.momentum_buffer"} <= names
    assert all(e.max_rel <= 1e-5 for e in errors)


def test_run_cpu_returns_updated_tensors(sgd_result: PlanResult) -> None:
    before = {n: p.detach().clone() for n, p in sgd_result.model.named_parameters()}
    out = sgd_result.run_cpu()
    assert out["loss"].shape == ()
    assert out["0.weight"].shape == (32, 16)
    assert not torch.equal(out["0.weight"], before["0.weight"])
    for name, value in sgd_result.model.named_parameters():  # the model is not modified
        assert torch.equal(value.detach(), before[name])


def test_planned_equals_unplanned_bit_for_bit(sgd_result: PlanResult) -> None:
    assert sgd_result.verify_planned_vs_unplanned().identical


def test_report_fields_consistent(sgd_result: PlanResult) -> None:
    r = sgd_result.report
    assert 0 < r.lower_bound <= r.arena_bytes <= r.program_order_peak <= r.temporaries_bytes
    assert r.param_bytes == 4 * (32 * 16 + 32 + 4 * 32 + 4)
    assert r.state_bytes == r.param_bytes  # one momentum buffer per parameter
    assert r.allocs_planned > 0 and r.ops > r.allocs_planned
    assert r.upstream_best_fit is not None and r.upstream_best_fit_plain is not None
    assert r.solver_requested == "auto" and r.solver_used
    assert {"capture", "plan"} <= set(r.stage_seconds)
    assert 0 < r.order_lower_bound <= r.lower_bound == r.chosen_order_peak
    assert r.gap == pytest.approx((r.arena_bytes - r.order_lower_bound) / r.order_lower_bound)
    assert r.status in ("optimal", "feasible") and r.time_limit == 10
    rows = dict(r.rows())
    assert rows["planned arena (ours)"] == format_size(r.arena_bytes)
    assert rows["peak of the chosen order"] == format_size(r.lower_bound)
    assert rows["bound over all orders"] == format_size(r.order_lower_bound)
    assert rows["gap to the bound over all orders"] == f"{r.gap:.1%}"
    assert rows["solver status"].startswith(f"{r.status} (")
    text = str(r)
    assert all(label in text for label in rows)
    assert "lower bound" not in text  # every bound says which one it is
    assert sgd_result.function_report["arena_size"] == r.arena_bytes
    kinds = {b["kind"] for b in sgd_result.function_report["buffers"]}
    assert {"forward", "gradient"} <= kinds


def test_save_writes_three_files(sgd_result: PlanResult, tmp_path: Path) -> None:
    paths = sgd_result.save(tmp_path)
    assert "func.func @main" in (tmp_path / "planned.mlir").read_text()
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["report"]["arena_bytes"] == sgd_result.report.arena_bytes
    assert len(data["functions"][0]["buffers"]) == sgd_result.report.allocs_planned
    png = tmp_path / "timeline.png"
    assert paths["png"] == png
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_corrupted_result_fails_verification(sgd_result: PlanResult) -> None:
    expected = sgd_result.reference()
    actual = sgd_result.run_cpu()
    actual["2.weight"] = actual["2.weight"] * (1 + 1e-3)
    with pytest.raises(VerificationError, match="2.weight") as info:
        compare_results(actual, expected, rtol=1e-5)
    assert any(not e.ok and e.name == "2.weight" for e in info.value.errors)


def test_corrupted_planned_ir_fails_bit_comparison(sgd_result: PlanResult) -> None:
    corrupt = PlanResult(**{**sgd_result.__dict__, "_compiled": {}})
    last_sub = sgd_result.module_text.rindex("arith.subf")  # the SGD update p - lr * g
    text = sgd_result.module_text
    corrupt.module_text = text[:last_sub] + "arith.addf" + text[last_sub + len("arith.subf") :]
    assert corrupt.module_text != sgd_result.module_text
    with pytest.raises(VerificationError, match="differs"):
        corrupt.verify_planned_vs_unplanned()


def test_adam_and_inference() -> None:
    model, x, y = _mlp()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    result = plan(model, x, y, nn.functional.cross_entropy, adam)
    result.verify(rtol=1e-5)
    assert result.report.state_bytes == 2 * result.report.param_bytes + 4
    inference = plan(model, (x,))
    assert inference.report.mode == "inference"
    outputs = inference.run_cpu()
    torch.testing.assert_close(outputs["output"], model(x), rtol=1e-5, atol=1e-6)
    inference.verify()


def test_user_errors_are_clean() -> None:
    model, x, y = _mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(PlanError, match="nn.Module"):
        plan(lambda t: t, (x,))
    with pytest.raises(PlanError, match="optimizer"):
        plan(model, (x,), y, nn.functional.cross_entropy)
    with pytest.raises(PlanError, match="loss_fn"):
        plan(model, (x,), y, optimizer=sgd)
    with pytest.raises(PlanError, match="torch.Tensor"):
        plan(model, ([1.0, 2.0],))
    with pytest.raises(PlanError, match="solver"):
        plan(model, (x,), y, nn.functional.cross_entropy, sgd, solver="no-such-solver")
    with pytest.raises(ValueError, match="Rprop|not supported|unsupported"):
        plan(model, (x,), y, nn.functional.cross_entropy, torch.optim.Rprop(model.parameters()))


def test_greedy_report_gives_the_op_local_bound() -> None:
    model, x, y = _mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    report = plan(model, (x,), y, nn.functional.cross_entropy, sgd, solver="greedy").report
    assert report.status == "heuristic"
    # Nothing searched, but the op-local bound holds in every order (never above the peak).
    assert 0 < report.order_lower_bound <= report.lower_bound <= report.arena_bytes
    text = str(report)
    assert "(op-local: greedy searches nothing)" in text
    assert "gap to the bound over all orders" in text


def test_time_limit_stop_is_visible() -> None:
    """A search stopped by its work limit warns (PlanWarning) and says so in the report."""
    from modelopt_mlir.zoo import ZOO

    built = ZOO["gpt2"].build()
    adam = torch.optim.Adam(built.model.parameters(), lr=1e-3)
    with pytest.warns(PlanWarning, match="work limit"):
        result = built.plan(adam, time_limit=0.01)
    report = result.report
    assert report.status == "timeout"
    assert "timeout (a search used up the work that the 0.01 s time limit buys" in str(report)
    assert report.to_json()["status"] == "timeout"


def test_top_level_imports_are_lazy() -> None:
    code = (
        "import sys, modelopt_mlir\n"
        "assert 'torch' not in sys.modules, 'import modelopt_mlir imported torch'\n"
        "from modelopt_mlir import plan, capture_training_step, capture_inference\n"
        "assert callable(plan) and callable(capture_training_step) and callable(capture_inference)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_timeline_renders_without_mlir(tmp_path: Path) -> None:
    from modelopt_mlir.timeline import live_bytes_per_step, render_timeline

    buffers = [
        {"index": 0, "offset": 0, "size": 64, "first_step": 0, "last_step": 2, "kind": "forward"},
        {"index": 1, "offset": 64, "size": 64, "first_step": 1, "last_step": 3},
        {
            "index": 2,
            "offset": 0,
            "size": 64,
            "first_step": 3,
            "last_step": 4,
            "location": 'loc("adam_update")',
        },
    ]
    report = {
        "buffers": buffers,
        "arena_size": 128,
        "lower_bound": 128,
        "program_order_peak": 192,
        "function": "f",
    }
    assert live_bytes_per_step(buffers) == [64, 128, 128, 128, 64]
    path = render_timeline(report, tmp_path / "t.png", title="toy")
    assert path.stat().st_size > 1000
    # With the bound over all orders and the status, as memory-plan reports them.
    report.update(order_lower_bound=96, status="timeout")
    assert render_timeline(report, tmp_path / "u.png").stat().st_size > path.stat().st_size // 2


def test_gpt2_tiny_adam_pipeline(tmp_path: Path) -> None:
    from modelopt_mlir.zoo import ZOO

    built = ZOO["gpt2"].build()
    adam = torch.optim.Adam(built.model.parameters(), lr=1e-3)
    result = plan(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        adam,
        int_ranges=built.int_ranges,
    )
    result.verify()
    result.verify_planned_vs_unplanned()
    result.save(tmp_path)
    kinds = {b["kind"] for b in result.function_report["buffers"]}
    assert {"forward", "gradient", "optimizer"} <= kinds


# Default verify() tolerances (derived per tensor kind, see PlanResult.verify).
@pytest.mark.parametrize(
    ("name", "optimizer"),
    [
        ("cnn", lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9)),
        ("bert", lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)),
    ],
    ids=["cnn-sgd-momentum", "bert-adamw"],
)
def test_zoo_model_pipeline(name: str, optimizer) -> None:
    from modelopt_mlir.zoo import ZOO

    built = ZOO[name].build()
    result = plan(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        optimizer(built.model.parameters()),
        int_ranges=built.int_ranges,
    )
    result.verify()
    result.verify_planned_vs_unplanned()


def test_whole_step_footprint_against_eager() -> None:
    """State is updated in place (each tensor passed once) and the whole step, arguments
    included, needs less memory than PyTorch eager's peak for the same step."""
    from modelopt_mlir.zoo import ZOO

    built = ZOO["mlp"].build()
    result = built.plan(torch.optim.Adam(built.model.parameters(), lr=1e-3), compare_eager=True)
    report = result.report
    signature = result.captured.signature
    assert [s.name for s in signature.outputs] == ["loss"]
    assert {s.kind for s in signature.updated} == {"param", "state"}
    assert report.output_bytes == 4
    assert report.footprint_bytes == (
        report.param_bytes
        + report.state_bytes
        + report.buffer_bytes
        + report.batch_bytes
        + report.output_bytes
        + report.arena_bytes
        + report.left_alone_bytes
    )
    assert report.eager is not None and report.eager.by_kind["parameters"] == report.param_bytes
    assert report.vs_eager is not None and report.vs_eager < 1.0
    assert "footprint / eager" in str(report)
    result.verify()
    assert result.verify_planned_vs_unplanned().identical


def test_demo_table_row_shows_the_report_numbers(
    sgd_result: PlanResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/demo.py prints its step in plan_examples' columns from the report's numbers."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    from demo import demo_row
    from plan_examples import COLUMNS, kib

    row = dict(zip([name for name, _ in COLUMNS], demo_row(sgd_result, "mlp"), strict=True))
    r = sgd_result.report
    assert row["allocs"] == str(r.allocs_planned)
    assert row["prog-order peak"] == kib(r.program_order_peak)
    assert row["upstream bf"] == kib(r.upstream_best_fit_plain)
    assert row["upstream bf+live"] == kib(r.upstream_best_fit)
    assert row["arena (ours)"] == kib(r.arena_bytes)
    assert row["chosen-order peak"] == kib(r.lower_bound)
    assert row["bound, all orders"] == kib(r.order_lower_bound)
    assert row["status"] == r.status
    assert row["gap to bound"] == f"{r.gap:.1%}"
    assert row["arena/bf+live"] == f"{r.arena_bytes / r.upstream_best_fit:.3f}"


def test_solver_errors_are_not_retried_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error from the solver reaches the caller; plan() does not quietly rerun greedy."""
    import modelopt_mlir.planning

    calls: list[str] = []

    def failing_plan_module(module, diagnostics=None, **options):
        calls.append(options["solver"])
        raise ValueError("ILP solver backend failed")

    monkeypatch.setattr(modelopt_mlir.planning, "plan_module", failing_plan_module)
    model, x, y = _mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="ILP solver backend failed"):
        plan(model, (x,), y, nn.functional.cross_entropy, sgd, solver="auto")
    assert len(calls) == 1  # no second try with solver=greedy
