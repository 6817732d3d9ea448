"""frontend.capture: the captured training step computes what eager PyTorch + torch.optim does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelopt_mlir.frontend.capture import capture_training_step
from modelopt_mlir.frontend.errors import CaptureError
from modelopt_mlir.frontend.importer import import_to_linalg
from modelopt_mlir.frontend.optimizer import OptimizerConfig
from modelopt_mlir.frontend.reference import eager_reference_step, reference_step
from modelopt_mlir.testing.captures import capture_adam_step


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, torch.randn(4, 8), torch.randint(0, 3, (4,))


@pytest.mark.parametrize(
    "optimizer",
    [
        OptimizerConfig("sgd", lr=0.1),
        OptimizerConfig("sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
        OptimizerConfig("sgd", lr=0.1, momentum=0.9, nesterov=True),
        OptimizerConfig("sgd", lr=0.1, momentum=0.9, dampening=0.5),
        OptimizerConfig("adam", lr=1e-2, weight_decay=0.01),
        OptimizerConfig("adamw", lr=1e-2, weight_decay=0.1),
    ],
    ids=lambda config: f"{config.kind}-m{config.momentum}-n{config.nesterov}-d{config.dampening}",
)
def test_step_matches_torch_optim(optimizer: OptimizerConfig) -> None:
    model, x, y = _mlp()
    captured = capture_training_step(
        model,
        [x],
        y,
        nn.functional.cross_entropy,
        optimizer,
        int_ranges={"target": (0, 3)},
        lower=False,
    )
    results = reference_step(captured)
    loss, params = eager_reference_step(model, [x], y, nn.functional.cross_entropy, optimizer)
    torch.testing.assert_close(results[0], loss)
    for new, expected in zip(results[1 : 1 + len(params)], params, strict=True):
        torch.testing.assert_close(new, expected, rtol=1e-5, atol=1e-6)


def test_signature_order() -> None:
    model, x, y = _mlp()
    captured = capture_adam_step(
        model, [x], y, nn.functional.cross_entropy, lr=1e-3, int_ranges={"target": (0, 3)}
    )
    args = captured.signature.inputs
    assert [a.kind for a in args] == ["param"] * 4 + ["state"] * 9 + ["input", "target"]
    assert args[4].name == "0.weight.exp_avg" and args[12].name == "step"
    assert args[-1].int_range == (0, 3) and args[-1].dtype == "i64"
    # Parameters and state are updated in place; the loss is the only out-param.
    assert [a.updated for a in args] == [True] * 13 + [False] * 2
    results = captured.signature.outputs
    assert [(r.name, r.kind, r.result) for r in results] == [("loss", "output", "loss")]
    assert captured.signature.args == args + results
    assert captured.graph_results == ("loss", *(f"new.{a.name}" for a in args[:13]))
    assert captured.updates == {r: r - 1 for r in range(1, 14)}
    assert len(reference_step(captured)) == len(captured.graph_results)


def test_integer_batch_range() -> None:
    model, x, y = _mlp()
    captured = capture_training_step(
        model, [x], y, nn.functional.cross_entropy, OptimizerConfig(), lower=False
    )
    # Without int_ranges: the range of the example values.
    assert captured.signature.inputs[-1].int_range == (int(y.min()), int(y.max()) + 1)
    with pytest.raises(CaptureError, match="outside"):
        capture_training_step(
            model,
            [x],
            y,
            nn.functional.cross_entropy,
            OptimizerConfig(),
            int_ranges={"target": (0, 1)},
        )
    with pytest.raises(CaptureError, match="names no integer batch argument"):
        capture_training_step(
            model,
            [x],
            y,
            nn.functional.cross_entropy,
            OptimizerConfig(),
            int_ranges={"labels": (0, 3)},
        )


def test_imports_to_linalg_on_tensors() -> None:
    model, x, y = _mlp()
    captured = capture_training_step(
        model,
        [x],
        y,
        nn.functional.cross_entropy,
        OptimizerConfig(),
        int_ranges={"target": (0, 3)},
        lower=False,
    )
    module = import_to_linalg(captured, "step")
    text = str(module)
    assert "func.func @step" in text
    assert "torch." not in text.replace("torch.debug", "")
    assert "linalg.matmul" in text


def test_module_text_is_bufferized_in_place() -> None:
    model, x, y = _mlp()
    captured = capture_training_step(
        model, [x], y, nn.functional.cross_entropy, OptimizerConfig(), func_name="train_step"
    )
    text = captured.module_text
    assert "func.func @train_step(" in text and "tensor<" not in text
    assert set(captured.timings) == {"capture", "import", "bufferize"}
    args = captured.arguments_from(model, None, [x], y)
    assert [a.shape for a in args] == [s.shape for s in captured.signature.args]
    out = captured.results_to_torch(args)
    assert list(out) == list(captured.graph_results)
    signature = next(line for line in text.splitlines() if "func.func @train_step(" in line)
    assert signature.count("modelopt.noalias") == len(captured.signature.args)
    assert signature.count("modelopt.updated") == len(captured.signature.updated) == 4
    with pytest.raises(ValueError, match="argument arrays"):
        captured.results_to_torch(args[-1:])
