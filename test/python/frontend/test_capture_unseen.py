"""Models outside the zoo whose default CPU kernels torch-mlir cannot lower: attention through
``scaled_dot_product_attention`` (the fused flash kernel's backward) and RNNs (oneDNN's fused
layer). The capture takes the composite paths; an op that still cannot be lowered is named."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx

from modelopt_mlir.api import plan
from modelopt_mlir.frontend.errors import LoweringError
from modelopt_mlir.frontend.importer import import_to_linalg


def _plan_and_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    result = plan(
        model, (x,), y, nn.functional.cross_entropy, optimizer, progress=False, time_limit=2
    )
    result.verify()
    result.verify_planned_vs_unplanned()
    return result.report.vs_eager if result.report.eager is not None else 0.0


def test_transformer_encoder_layer_trains() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True),
        nn.Flatten(),
        nn.Linear(32 * 8, 5),
    )
    _plan_and_check(model, torch.randn(3, 8, 32), torch.randint(0, 5, (3,)))


class _Lstm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.head = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


def test_lstm_trains() -> None:
    torch.manual_seed(0)
    _plan_and_check(_Lstm(), torch.randn(3, 6, 16), torch.randint(0, 4, (3,)))


def test_an_op_torch_mlir_cannot_lower_is_named() -> None:
    def attention_backward(q: torch.Tensor) -> torch.Tensor:
        out, logsumexp = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)
        flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
        return flash(out, q, q, q, out, logsumexp, 0.0, False)[0]

    graph = make_fx(attention_backward)(torch.randn(1, 2, 4, 8))
    with pytest.raises(LoweringError, match="cannot lower aten._scaled_dot_product_flash"):
        import_to_linalg(graph)
