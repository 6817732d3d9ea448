"""plan() from shapes alone (issue 14, point 2): a model, batch and optimizer on the meta device
are captured, imported, bufferized, planned and validated without a parameter-sized tensor; the
plan equals the plan of the same model with real weights, and running it is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from modelopt_mlir.api import SHAPES_ONLY_ROW, PlanError, PlanResult, plan
from modelopt_mlir.zoo import LlamaSmall, next_token_loss

VOCAB, BATCH, SEQ = 128, 2, 16
INT_RANGES = {"input0": (0, VOCAB), "target": (0, VOCAB)}


def _llama_step(device: str) -> PlanResult:
    """The tiny LLaMA-style step (rotary cos/sin buffers, causal attention, AdamW) on
    ``device``; the greedy solver, whose plan does not depend on the clock."""
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaSmall(VOCAB, max_seq=64)
        ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return plan(
        model,
        [ids],
        ids.clone(),
        next_token_loss,
        optimizer,
        solver="greedy",
        int_ranges=INT_RANGES,
        compare_eager=True,
    )


@pytest.fixture(scope="module")
def meta_result() -> PlanResult:
    return _llama_step("meta")


def test_meta_step_plans_like_the_real_one(meta_result: PlanResult) -> None:
    real = _llama_step("cpu")
    assert meta_result.unplanned_text == real.unplanned_text
    assert meta_result.module_text == real.module_text
    assert meta_result.report.arena_bytes == real.report.arena_bytes
    assert meta_result.captured.signature == real.captured.signature
    # The eager peak measured on meta tensors is the real one, byte for byte.
    assert meta_result.report.eager is not None and real.report.eager is not None
    assert meta_result.report.eager.total == real.report.eager.total
    assert meta_result.report.eager.by_kind == real.report.eager.by_kind
    # The report is the real one's plus one row saying nothing ran on values (timings aside).
    meta_rows = [r for r in meta_result.report.rows() if not r[0].startswith("time:")]
    real_rows = [r for r in real.report.rows() if not r[0].startswith("time:")]
    assert meta_rows[1][0] == SHAPES_ONLY_ROW
    assert meta_rows[1][1].startswith("no (shapes only")
    assert meta_rows[:1] + meta_rows[2:] == real_rows
    assert SHAPES_ONLY_ROW not in str(real.report)
    assert "shapes_only" not in real.report.to_json()
    assert meta_result.report.to_json()["shapes_only"] is True


def test_nothing_is_materialised(meta_result: PlanResult) -> None:
    model = meta_result.model
    assert all(t.is_meta for t in (*model.parameters(), *model.buffers()))
    assert all(t.is_meta for t in meta_result.captured.example_args if t.numel() > 1)
    assert not meta_result.optimizer.state  # the user's optimizer was not stepped


def test_running_a_shapes_only_plan_is_refused(meta_result: PlanResult) -> None:
    assert meta_result.shapes_only
    for run in (
        meta_result.run_cpu,
        meta_result.verify,
        meta_result.verify_planned_vs_unplanned,
        meta_result.reference,
        meta_result.arguments,
    ):
        with pytest.raises(PlanError, match="shapes alone .*meta device"):
            run()


def test_save_works_without_values(meta_result: PlanResult, tmp_path) -> None:
    paths = meta_result.save(tmp_path)
    report = json.loads(paths["json"].read_text())["report"]
    assert report["shapes_only"] is True
    assert report["arena_bytes"] == meta_result.report.arena_bytes


def test_meta_inference_and_meta_batch_alone() -> None:
    torch.manual_seed(0)
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x = torch.randn(8, 16)
    forward = plan(model, (x,), solver="greedy", compare_eager=True)
    assert forward.report.shapes_only and forward.report.mode == "inference"
    assert forward.report.eager is not None and forward.report.eager.device == "meta"
    # A real model with a meta batch is planned from shapes too.
    real = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    sgd = torch.optim.SGD(real.parameters(), lr=0.1)
    y = torch.randn(8, 4, device="meta")
    step = plan(real, (x.to("meta"),), y, nn.functional.mse_loss, sgd, solver="greedy")
    assert step.report.shapes_only
    with pytest.raises(PlanError, match="shapes alone"):
        step.verify()


def test_eager_peak_on_meta_equals_the_real_one_for_transformers_gpt2() -> None:
    """transformers' GPT-2 reads tensor values in its packed-sequence check; on meta that
    check is off, as in capture, and MemTracker counts the same bytes."""
    from modelopt_mlir.eager_memory import eager_training_peak
    from modelopt_mlir.zoo import ZOO

    peaks = []
    for device in ("meta", "cpu"):
        torch.manual_seed(0)
        with torch.device(device):
            built = ZOO["gpt2"].build()
        adam = torch.optim.Adam(built.model.parameters(), lr=1e-3)
        peaks.append(
            eager_training_peak(
                built.model,
                built.example_inputs,
                built.targets,
                built.loss_fn,
                adam,
                meta=device == "meta",
            )
        )
    assert (peaks[0].total, peaks[0].by_kind) == (peaks[1].total, peaks[1].by_kind)


class _PlainAttribute(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.scale = torch.ones(4)  # neither a parameter nor a buffer: no argument, no value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_tensor_outside_the_arguments_is_refused(device: str) -> None:
    with torch.device(device):
        model = _PlainAttribute()
    with pytest.raises(
        PlanError, match=r"neither a parameter, a buffer nor an input at .*register"
    ):
        plan(model, (torch.randn(2, 4),), solver="greedy")


_BIG_META_STEP = """
import json, resource, torch
from torch import nn
from modelopt_mlir.api import plan
with torch.device("meta"):
    # 2 GiB of float32 weights (6 GiB with AdamW's moments), a batch of 8 tokens.
    model = nn.Sequential(nn.Embedding(1 << 16, 4096), nn.Linear(4096, 1 << 16, bias=False))
    ids = torch.randint(0, 1 << 16, (1, 8))
ranges = {"input0": (0, 1 << 16), "target": (0, 1 << 16)}
loss = lambda out, t: nn.functional.cross_entropy(out.flatten(0, 1), t.flatten())
result = plan(model, [ids], ids, loss, torch.optim.AdamW(model.parameters()),
              solver="greedy", int_ranges=ranges)
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "params": result.report.param_bytes, "state": result.report.state_bytes}))
"""


def test_big_meta_model_stays_small() -> None:
    """A step whose real state is 6 GiB plans in a process that never holds its weights."""
    done = subprocess.run(
        [sys.executable, "-c", _BIG_META_STEP], capture_output=True, text=True, check=True
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["params"] == 2 << 30
    assert figures["state"] == (4 << 30) + 4  # two moments and the step counter
    assert figures["rss"] < 1536 << 20, figures  # the weights alone would be 2 GiB
