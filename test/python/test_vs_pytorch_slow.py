"""GPT-2 small (124M, seq 128, Adam) against PyTorch eager's MemTracker peak, measured in the
same process: the issue's targets. Slow (minutes each): run with ``pytest -m slow``."""

from __future__ import annotations

import pytest
import torch

from modelopt_mlir.zoo import ZOO, bench_optimizer


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "target"), [(8, 0.95), (1, 0.85)])
def test_gpt2_small_footprint_below_eager(batch: int, target: float) -> None:
    built = ZOO["gpt2"].build(batch=batch, size="small")
    result = built.plan(
        torch.optim.Adam(built.model.parameters(), lr=1e-3), compare_eager=True, progress=False
    )
    assert result.report.vs_eager is not None
    assert result.report.vs_eager <= target, str(result.report)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_training_step_footprint_at_most_eager(name: str, optimizer: str) -> None:
    """Every tiny zoo model, Adam and SGD with momentum 0.9 (bench/vs_pytorch.py's settings):
    the whole planned step holds no more than eager PyTorch's peak."""
    built = ZOO[name].build()
    result = built.plan(bench_optimizer(optimizer, built.model), compare_eager=True, progress=False)
    assert result.report.vs_eager is not None
    assert result.report.vs_eager <= 1.0, str(result.report)
