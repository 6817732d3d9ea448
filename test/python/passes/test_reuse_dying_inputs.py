"""reuse-dying-inputs on captured training steps: fewer buffers, the same results bit for bit."""

from __future__ import annotations

import pytest
from torch_mlir import ir

from modelopt_mlir.frontend.bufferize import bufferize
from modelopt_mlir.frontend.capture import capture_training_step
from modelopt_mlir.frontend.importer import annotate_arguments, import_to_linalg
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.cpu import random_arguments, run_cpu
from modelopt_mlir.passes.reuse_dying_inputs import reuse_dying_inputs
from modelopt_mlir.zoo import ZOO, bench_optimizer


@pytest.mark.parametrize(("name", "optimizer"), [("mlp", "adam"), ("cnn", "sgd"), ("gpt2", "adam")])
def test_reuse_keeps_results_bit_identical(name: str, optimizer: str) -> None:
    built = ZOO[name].build()
    opt = bench_optimizer(optimizer, built.model)
    captured = capture_training_step(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        opt,
        int_ranges=built.int_ranges,
        lower=False,
    )
    module = bufferize(import_to_linalg(captured), updates=captured.updates)
    annotate_arguments(module, captured.func_name, captured.signature)
    with module.context:
        before = str(module)
        merged = reuse_dying_inputs(module)
        assert module.operation.verify()
        after = str(module)
    assert merged > 0
    assert after.count("memref.alloc(") == before.count("memref.alloc(") - merged
    args = random_arguments(
        before, "main", 0, int_ranges=captured.int_ranges, float_ranges=captured.float_ranges
    )
    for want, got in zip(run_cpu(before, "main", args), run_cpu(after, "main", args), strict=True):
        assert want.tobytes() == got.tobytes()


def test_function_it_cannot_analyse_is_left_alone() -> None:
    text = """
    func.func @two_blocks(%arg0: memref<4xf32>) {
      cf.br ^bb1
    ^bb1:
      return
    }
    """
    with make_context():
        module = ir.Module.parse(text)
        assert reuse_dying_inputs(module) == 0
