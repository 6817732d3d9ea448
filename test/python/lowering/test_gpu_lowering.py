"""lower-to-gpu and PTX emission on the bundled training steps (no GPU needed).

Every kernel module gets a PTX file; where ptxas is on PATH each one assembles for sm_90. The
launch plan that bench/gpu_check.py replays is checked against the kernels' signatures."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from torch_mlir import ir

from modelopt_mlir.examples import load_example
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.lowering.gpu import GpuLoweringError, launch_plan, lower_to_gpu
from modelopt_mlir.lowering.ptx import PtxError, assemble_ptx, emit_ptx, emit_ptx_for_module
from modelopt_mlir.planning import plan_module

CHIP = "sm_90"


def _lowered(name: str, host_llvm: bool) -> tuple[ir.Module, list, ir.Context]:
    context = make_context()
    with context, ir.Location.unknown():
        module = ir.Module.parse(load_example(name).text)
        plan_module(module, solver="greedy")
        reports = lower_to_gpu(module, CHIP, host_llvm=host_llvm)
    return module, reports, context


def _gpu_modules(module: ir.Module) -> list[str]:
    return [
        ir.StringAttr(op.operation.attributes["sym_name"]).value
        for op in module.body.operations
        if op.operation.name == "gpu.module"
    ]


def _expanded_arity(arg: dict) -> int:
    """Kernel parameters one launch argument becomes: a memref descriptor or one scalar."""
    if "scalar" in arg:
        return 1
    return 3 + 2 * len(arg["sizes"])


def _check_example(name: str, tmp_path: Path) -> None:
    module, reports, context = _lowered(name, host_llvm=False)
    (report,) = reports
    assert report.host_work == []
    assert report.device_allocations == 1
    modules = _gpu_modules(module)
    assert len(modules) == report.kernels > 0
    with context:
        plan = launch_plan(module)
        paths = emit_ptx(module, tmp_path, CHIP, assemble=False)
    assert plan["arena_bytes"] == report.arena_bytes
    assert sorted(p.stem for p in paths) == sorted(modules)
    index = json.loads((tmp_path / "index.json").read_text())
    params = {(m["module"], k["name"]): k["params"] for m in index["modules"] for k in m["kernels"]}
    assert len(plan["launches"]) == len(modules)
    for launch in plan["launches"]:
        kernel = launch["kernel"].lstrip("@").split("::@")
        signature = params[(kernel[0], kernel[1])]
        assert sum(_expanded_arity(a) for a in launch["args"]) == len(signature), launch["kernel"]
        assert all(d >= 1 for d in launch["grid"] + launch["block"])
    for path in paths:
        text = path.read_text()
        assert f".target {CHIP}" in text and ".entry" in text
    if shutil.which("ptxas") is None:
        return
    with ThreadPoolExecutor() as pool:
        results = list(pool.map(lambda p: assemble_ptx(p, CHIP), paths))
    failures = [(p, r.stderr) for p, r in zip(paths, results, strict=True) if r.returncode]
    assert failures == []


def test_mlp_every_kernel_has_ptx(tmp_path: Path) -> None:
    _check_example("mlp_sgd", tmp_path)


@pytest.mark.slow
def test_gpt2_every_kernel_has_ptx(tmp_path: Path) -> None:
    _check_example("gpt2_adam", tmp_path)


def test_host_llvm_keeps_launches_and_one_device_allocation() -> None:
    module, _, _ = _lowered("mlp_sgd", host_llvm=True)
    text = str(module)
    host = text[: text.index("gpu.module")]
    assert host.count("llvm.call @mgpuMemAlloc") == 1
    assert "gpu.launch_func" in host
    assert "@malloc" not in host


def test_unknown_chip_is_an_error() -> None:
    context = make_context()
    with context, ir.Location.unknown():
        module = ir.Module.parse("func.func @f() { return }")
        with pytest.raises(GpuLoweringError, match="unknown chip 'sm_42'"):
            lower_to_gpu(module, "sm_42")


def test_globals_in_kernels_compile(tmp_path: Path) -> None:
    context = make_context()
    with context, ir.Location.unknown():
        module = ir.Module.parse(
            'memref.global "private" constant @bias : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>\n'
            "func.func @f(%x: memref<4xf32>, %out: memref<4xf32>) {\n"
            "  %b = memref.get_global @bias : memref<4xf32>\n"
            "  linalg.add ins(%x, %b : memref<4xf32>, memref<4xf32>) outs(%out : memref<4xf32>)\n"
            "  return\n}\n"
        )
        lower_to_gpu(module, CHIP)
        (path,) = emit_ptx_for_module(module, tmp_path)
    assert ".global .align" in path.read_text()
    if shutil.which("ptxas"):
        assert (tmp_path / "f_kernel.cubin").is_file()


def test_emit_ptx_needs_lowered_module(tmp_path: Path) -> None:
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse("func.func @f() { return }")
        with pytest.raises(PtxError, match="run lower-to-gpu first"):
            emit_ptx_for_module(module, tmp_path)
