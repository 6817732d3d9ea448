"""Eager peak memory measured with torch's MemTracker (modelopt_mlir.eager_memory)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modelopt_mlir.eager_memory import EagerPeak, eager_inference_peak, eager_training_peak
from modelopt_mlir.frontend.optimizer import OptimizerConfig


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(32, 64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    return model, torch.randn(8, 32), torch.randint(0, 10, (8,))


def _param_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def test_training_peak_adam_breakdown() -> None:
    model, x, y = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    peak = eager_training_peak(model, [x], y, F.cross_entropy, opt)
    assert isinstance(peak, EagerPeak)
    assert peak.device == "cpu"
    assert peak.total > 0
    assert peak.total == sum(peak.by_kind.values())
    pbytes = _param_bytes(model)
    assert peak.by_kind["parameters"] == pbytes
    # Adam holds exp_avg and exp_avg_sq per parameter, plus a 0-d float32 "step" tensor per
    # parameter (CPU, neither capturable nor fused).
    n_params = len(list(model.parameters()))
    assert peak.by_kind["optimizer state"] == 2 * pbytes + 4 * n_params
    # The batch is tracked once, as the inputs (float32 x and int64 y).
    assert peak.by_kind["inputs"] == x.numel() * 4 + y.numel() * 8
    # At most one gradient per parameter is live.
    assert peak.by_kind.get("gradients", 0) <= pbytes


def test_training_peak_leaves_model_and_optimizer_alone() -> None:
    model, x, y = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    model.eval()
    eager_training_peak(model, [x], [y], F.cross_entropy, opt, warmup=2)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)
        assert p.grad is None
    assert not opt.state  # no step was taken on the caller's optimizer
    assert not model.training  # the copy was put in training mode, not the model


def test_training_peak_optimizer_config_sgd_momentum() -> None:
    model, x, y = _mlp()
    config = OptimizerConfig(kind="sgd", lr=1e-2, momentum=0.9)
    peak = eager_training_peak(model, [x], y, F.cross_entropy, config)
    pbytes = _param_bytes(model)
    assert peak.by_kind["parameters"] == pbytes
    # One momentum buffer per parameter, no step tensors.
    assert peak.by_kind["optimizer state"] == pbytes


def test_inference_peak_has_no_training_kinds() -> None:
    model, x, _ = _mlp()
    model.train()
    peak = eager_inference_peak(model, [x])
    assert peak.total == sum(peak.by_kind.values()) > 0
    assert peak.by_kind["parameters"] == _param_bytes(model)
    assert peak.by_kind["inputs"] == x.numel() * 4
    assert peak.by_kind["activations"] > 0
    for kind in ("gradients", "optimizer state", "optimizer temporaries", "temporaries"):
        assert kind not in peak.by_kind
    assert all(m.training for m in model.modules())  # modes restored


def test_frozen_parameter_is_measured_not_refused() -> None:
    # MemTracker's forward hook registered a gradient hook on every parameter, and torch raised
    # "cannot register a hook on a tensor that doesn't require gradient" on a frozen one.
    model, x, y = _mlp()
    model[0].weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    peak = eager_training_peak(model, [x], y, F.cross_entropy, torch.optim.Adam(trainable))
    assert peak.by_kind["parameters"] == _param_bytes(model)
    assert peak.by_kind["gradients"] == sum(p.numel() * 4 for p in trainable)
    frozen_inference = eager_inference_peak(model, [x])
    assert frozen_inference.by_kind["parameters"] == _param_bytes(model)
