"""Every zoo model captures into verified memref IR, the captured step computes what one eager
PyTorch step with torch.optim computes, and capture failures are clean, located errors.

Tolerances. The captured FX graph (before import) is compared with eager PyTorch on the same
tensors. SGD: every updated parameter elementwise within rtol 1e-5, atol 1e-6 (measured: at most
about 1e-6 relative to the parameter's scale). Adam/AdamW: the update is lr * m / sqrt(v), a
function of the sign of the gradient where the gradient is float noise around an exact zero
(attention key biases: softmax ignores them), so such elements can move by up to 2 * lr in either
direction. We check the first moment (exp_avg = (1 - beta1) * grad) elementwise within rtol 1e-5
plus atol 1e-6 of the tensor's largest value, and the parameters where the gradient is clearly
non-zero (|grad| above 1e-4 of the tensor's largest) within rtol 1e-5, atol 1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch_mlir import ir

from modelopt_mlir.frontend.bufferize import memref_level_problems
from modelopt_mlir.frontend.capture import CapturedStep, capture_inference, capture_training_step
from modelopt_mlir.frontend.errors import (
    CaptureError,
    DataDependentControlFlowError,
    DynamicShapeError,
    UnsupportedOptimizerError,
)
from modelopt_mlir.frontend.optimizer import OptimizerConfig, torch_optimizer
from modelopt_mlir.frontend.reference import eager_training_step, reference_step
from modelopt_mlir.ir_context import parse_module
from modelopt_mlir.zoo import ZOO

SGD = OptimizerConfig("sgd", lr=0.1)
SGD_MOMENTUM = OptimizerConfig("sgd", lr=0.1, momentum=0.9, weight_decay=1e-4)
ADAM = OptimizerConfig("adam", lr=1e-3)
ADAMW = OptimizerConfig("adamw", lr=1e-3, weight_decay=0.01)

CASES = [
    ("mlp", SGD),
    ("cnn", SGD),
    ("cnn", SGD_MOMENTUM),
    ("mobilenet", SGD),
    ("gpt2", SGD),
    ("gpt2", ADAM),
    ("bert", SGD),
    ("bert", ADAMW),
    ("vit", SGD),
    ("llama", SGD),
]
SLOW = {("gpt2", "sgd"), ("bert", "sgd"), ("cnn", "sgd")}


def _case_id(case: tuple[str, OptimizerConfig]) -> str:
    name, config = case
    return f"{name}-{config.kind}" + ("-momentum" if config.momentum else "")


def _params(cases: list[tuple[str, OptimizerConfig]]) -> list:
    return [
        pytest.param(
            *case,
            id=_case_id(case),
            marks=[pytest.mark.slow]
            if (case[0], case[1].kind) in SLOW and not case[1].momentum
            else [],
        )
        for case in cases
    ]


def _check_module(captured: CapturedStep) -> ir.Module:
    module = parse_module(captured.module_text)
    assert module.operation.verify()
    assert memref_level_problems(module) == []
    funcs = [op.operation for op in module.body.operations if op.operation.name == "func.func"]
    assert len(funcs) == 1
    assert ir.StringAttr(funcs[0].attributes["sym_name"]).value == captured.func_name
    args = list(funcs[0].regions[0].blocks[0].arguments)
    assert len(args) == len(captured.signature.args)
    for arg, spec in zip(args, captured.signature.args, strict=True):
        memref = ir.MemRefType(arg.type)
        assert tuple(memref.shape) == spec.shape, spec.name
        assert str(memref.element_type) == spec.dtype, spec.name
    return module


def _assert_matches_eager(name: str, config: OptimizerConfig, captured: CapturedStep) -> None:
    built = ZOO[name].build()
    results = dict(zip(captured.graph_results, reference_step(captured), strict=True))
    loss, params, buffers = eager_training_step(
        built.model, built.example_inputs, built.targets, built.loss_fn, config
    )
    torch.testing.assert_close(results["loss"], loss, rtol=1e-5, atol=1e-6)
    if config.kind == "sgd":
        for pname in captured.parameter_names:
            torch.testing.assert_close(
                results[f"new.{pname}"],
                params[pname],
                rtol=1e-5,
                atol=1e-6,
                msg=lambda m, p=pname: f"{p}: {m}",
            )
    else:
        grads = _eager_grads(built)
        beta1 = config.betas[0]
        for pname, grad in grads.items():
            first_moment = results[f"new.{pname}.exp_avg"]
            scale = float(grad.abs().max())
            torch.testing.assert_close(
                first_moment, (1 - beta1) * grad, rtol=1e-5, atol=1e-6 * max(scale, 1e-12) + 1e-12
            )
            clear = grad.abs() > 1e-4 * scale
            torch.testing.assert_close(
                results[f"new.{pname}"][clear], params[pname][clear], rtol=1e-5, atol=1e-6
            )
    for bname, value in buffers.items():
        if f"new.{bname}" in results:
            torch.testing.assert_close(results[f"new.{bname}"], value, rtol=1e-5, atol=1e-6)


def _eager_grads(built) -> dict[str, torch.Tensor]:
    import copy

    from modelopt_mlir.frontend.trace import model_mode

    clone = copy.deepcopy(built.model)
    with model_mode(clone, train=True):
        built.loss_fn(clone(*built.example_inputs), built.targets).backward()
    return {n: p.grad.detach() for n, p in clone.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(("name", "config"), _params(CASES))
def test_zoo_model_captures(name: str, config: OptimizerConfig) -> None:
    built = ZOO[name].build()
    captured = capture_training_step(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        config,
        int_ranges=built.int_ranges,
    )
    _check_module(captured)
    kinds = [s.kind for s in captured.signature.args]
    assert kinds.index("output") == len(captured.signature.inputs)
    assert captured.signature.outputs[0].result == "loss"
    _assert_matches_eager(name, config, captured)


def test_batchnorm_running_stats_are_buffers_in_and_out() -> None:
    built = ZOO["cnn"].build()
    captured = capture_training_step(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        SGD,
        int_ranges=built.int_ranges,
        lower=False,
    )
    buffer_args = [s.name for s in captured.signature.inputs if s.kind == "buffer"]
    updated = [s.name for s in captured.signature.updated if s.kind == "buffer"]
    assert "stem.1.running_mean" in buffer_args and "stem.1.num_batches_tracked" in buffer_args
    # Batch-norm statistics are updated in place: no out-param duplicates them.
    assert updated == buffer_args
    assert [s.name for s in captured.signature.outputs] == ["loss"]
    assert [n for n in captured.graph_results if n.removeprefix("new.") in buffer_args] == [
        f"new.{n}" for n in buffer_args
    ]
    results = dict(zip(captured.graph_results, reference_step(captured), strict=True))
    before = dict(built.model.named_buffers())
    assert not torch.equal(results["new.stem.1.running_mean"], before["stem.1.running_mean"])
    assert int(results["new.stem.1.num_batches_tracked"]) == 1
    _, _, eager_buffers = eager_training_step(
        built.model, built.example_inputs, built.targets, built.loss_fn, SGD
    )
    for name in buffer_args:
        torch.testing.assert_close(
            results[f"new.{name}"], eager_buffers[name], rtol=1e-5, atol=1e-6
        )
    # The model itself is untouched by capture.
    assert torch.equal(before["stem.1.running_mean"], torch.zeros(16))


def test_optimizer_instance_and_argument_mapping() -> None:
    built = ZOO["mlp"].build()
    model = built.model
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3
    )
    captured = capture_training_step(
        model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        optimizer,
        int_ranges=built.int_ranges,
        lower=False,
    )
    assert captured.optimizer == OptimizerConfig(
        "sgd", lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3
    )
    # Two real steps: dampening treats the first step specially (buf = grad).
    for _ in range(2):
        args = captured.arguments_from(model, optimizer, built.example_inputs, built.targets)
        assert len(args) == len(captured.signature.args)
        n_in = len(captured.signature.inputs)
        graph_out = captured.graph(*[torch.from_numpy(a) for a in args[:n_in]])
        new = dict(zip(captured.graph_results, graph_out, strict=True))
        loss = built.loss_fn(model(*built.example_inputs), built.targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        torch.testing.assert_close(new["loss"], loss.detach())
        for name, p in model.named_parameters():
            torch.testing.assert_close(new[f"new.{name}"], p.detach(), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(
                new[f"new.{name}.momentum_buffer"],
                optimizer.state[p]["momentum_buffer"],
                rtol=1e-5,
                atol=1e-6,
            )


def test_int_ranges_by_argument_index() -> None:
    built = ZOO["gpt2"].build()
    captured = capture_inference(
        built.model, built.example_inputs, int_ranges={"input0": (0, 128)}, lower=False
    )
    index = next(i for i, s in enumerate(captured.signature.args) if s.name == "input0")
    assert captured.int_ranges[index] == (0, 128)
    outputs = captured.signature.outputs
    assert [s.name for s in outputs] == ["output.logits"]
    assert outputs[0].result == "output" and outputs[0].shape == (2, 16, 128)


def test_inference_lowers() -> None:
    built = ZOO["cnn"].build()
    captured = capture_inference(built.model, built.example_inputs)
    _check_module(captured)
    assert {s.kind for s in captured.signature.args} == {"param", "buffer", "input", "output"}
    expected = built.model.eval()(*built.example_inputs)
    (got,) = reference_step(captured)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-6)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if y.sum() > 0:  # data-dependent branch
            return y * 2
        return y


class _Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y[y > 0].sum()  # data-dependent shape


def test_data_dependent_control_flow_names_op_and_line() -> None:
    with pytest.raises(DataDependentControlFlowError) as info:
        capture_training_step(
            _Branchy(), [torch.randn(2, 4)], torch.randn(2, 4), nn.functional.mse_loss, SGD
        )
    message = str(info.value)
    assert "aten._local_scalar_dense" in message
    assert f"{__file__}:" in message and "if y.sum() > 0" in message
    assert isinstance(info.value, CaptureError)


def test_dynamic_shape_asks_for_static_inputs() -> None:
    with pytest.raises(DynamicShapeError, match="static") as info:
        capture_training_step(
            _Masked(),
            [torch.randn(2, 4)],
            torch.randn(()),
            nn.functional.mse_loss,
            SGD,
            lower=False,
        )
    assert "aten.index" in str(info.value) and f"{__file__}:" in str(info.value)


def test_unsupported_optimizer_names_itself() -> None:
    model = nn.Linear(4, 4)
    with pytest.raises(UnsupportedOptimizerError, match=r"torch\.optim\.RMSprop"):
        capture_training_step(
            model,
            [torch.randn(2, 4)],
            torch.randn(2, 4),
            nn.functional.mse_loss,
            torch.optim.RMSprop(model.parameters()),
        )
    assert issubclass(UnsupportedOptimizerError, ValueError)
    groups = torch.optim.Adam(
        [{"params": [model.weight], "lr": 1e-3}, {"params": [model.bias], "lr": 1e-2}]
    )
    with pytest.raises(UnsupportedOptimizerError, match="differ in 'lr'"):
        OptimizerConfig.from_torch(groups)
    same = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias]}], lr=1e-3)
    assert OptimizerConfig.from_torch(same).kind == "adamw"
    with pytest.raises(UnsupportedOptimizerError, match="amsgrad"):
        OptimizerConfig.from_torch(torch.optim.Adam(model.parameters(), amsgrad=True))


def test_torch_optimizer_round_trip() -> None:
    model = nn.Linear(2, 2)
    for config in (SGD_MOMENTUM, ADAM, ADAMW):
        assert OptimizerConfig.from_torch(torch_optimizer(config, model.parameters())) == config


def test_import_model_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modelopt_mlir.tools.import_model import main

    out = tmp_path / "mlp.mlir"
    assert main(["--model", "mlp", "--batch", "4", "-o", str(out)]) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["func"] == "main" and sidecar["optimizer"]["kind"] == "sgd"
    module = parse_module(out.read_text())
    assert module.operation.verify()
    func = next(op.operation for op in module.body.operations if op.operation.name == "func.func")
    assert len(func.regions[0].blocks[0].arguments) == len(sidecar["args"])
    assert sidecar["args"][0] == {
        "name": "0.weight",
        "kind": "param",
        "dtype": "f32",
        "shape": [64, 32],
        "updated": True,
    }
    assert sidecar["args"][-1]["kind"] == "output" and sidecar["args"][-1]["name"] == "loss"

    assert main(["--model", "nope", "-o", str(tmp_path / "x.mlir")]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--model", "mlp", "--size", "small", "-o", str(tmp_path / "x.mlir")]) == 2
    assert main(["--model", "mlp"]) == 2
    assert not (tmp_path / "x.mlir").exists()


def test_import_model_cli_capture_error_is_one_line(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelopt_mlir import zoo
    from modelopt_mlir.tools.import_model import main

    def broken(batch: int, seq: int, size: str) -> zoo.ZooModel:
        return zoo.ZooModel(
            "broken",
            "data-dependent",
            _Branchy(),
            [torch.randn(batch, 4)],
            torch.randn(batch, 4),
            nn.functional.mse_loss,
        )

    monkeypatch.setitem(zoo.ZOO, "broken", zoo.ZooEntry("broken", "", broken, 2, 4))
    assert main(["--model", "broken", "-o", str(tmp_path / "b.mlir")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("modelopt-import: error: data-dependent control flow")
    assert "\n" not in err and "Traceback" not in err


def test_zoo_defaults_are_documented() -> None:
    for name, entry in ZOO.items():
        assert entry.name == name and entry.summary
    assert ZOO["gpt2"].sizes == ("tiny", "small")
    with pytest.raises(ValueError, match="sizes"):
        ZOO["vit"].build(size="small")
    built = ZOO["gpt2"].build(batch=3, seq=8)
    assert built.example_inputs[0].shape == (3, 8) and built.int_ranges["input0"] == (0, 128)
