"""Device check: run the planned MLP (SGD) and tiny GPT-2 (Adam) training steps on an NVIDIA GPU.

    python bench/gpu_check.py [--examples mlp_sgd,gpt2_adam] [--tolerance 1e-3] [--keep DIR]

Without a GPU (no CUDA in torch, or no ``cuda-python``) it prints ``skipped: no GPU`` and exits 0.

Path chosen: the torch-mlir wheel ships no ``libmlir_cuda_runtime.so``, so the host function
cannot be JIT-ed with MLIR's ExecutionEngine against the CUDA runtime wrappers. Instead the
script lowers each example with ``lower_to_gpu(host_llvm=False)`` and replays the host function
from Python, in host-op order, through the CUDA driver API (``cuda-python``):

1. memory-plan, lower-to-gpu (kernels in NVVM), PTX per kernel module (``emit_ptx``; cubins
   too where ``ptxas`` exists), and ``launch_plan``: the arena size and every launch with its
   grid, block and arguments (memref arguments as base + byte offset, offset, sizes, strides).
2. ``cuMemAlloc`` once for the arena and once per function argument (inputs, parameters,
   optimizer state and out-params are buffers the caller provides), ``cuMemcpyHtoD`` inputs.
3. For each launch: ``cuModuleLoadData`` (cached), ``cuModuleGetFunction``, and
   ``cuLaunchKernel`` with the parameters laid out as the lowered LLVM signature says: a memref
   expands to (allocated ptr, aligned ptr, offset, sizes..., strides...), scalars by type.
4. ``cuMemcpyDtoH`` the out-params and compare with the same step in PyTorch on CUDA (eager,
   torch.optim, TF32 off), and report ``torch.cuda.max_memory_allocated()`` for that step
   beside our arena.

Limits: the replay handles exactly what lower-to-gpu emits for static shapes (constants, views,
one ``gpu.alloc``, launches, scalar casts); any other host op stops the check with a message.
Kernels use one thread per block (correct, not fast); timing is not measured. GPT-2 needs the
``transformers`` package for the PyTorch side.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

_NUMPY_DTYPES = {
    "f32": np.float32,
    "f64": np.float64,
    "f16": np.float16,
    "bf16": np.uint16,
    "i64": np.int64,
    "i32": np.int32,
    "i16": np.int16,
    "i8": np.int8,
    "i1": np.bool_,
}
_CTYPES = {
    "ptr": ctypes.c_void_p,
    "i64": ctypes.c_int64,
    "i32": ctypes.c_int32,
    "i16": ctypes.c_int16,
    "i8": ctypes.c_int8,
    "i1": ctypes.c_uint8,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
    "half": ctypes.c_uint16,
    "bfloat": ctypes.c_uint16,
}


def _driver() -> Any | None:
    """cuda-python's driver module, or None when it or a GPU is missing."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    try:
        from cuda.bindings import driver  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cuda as driver  # older cuda-python
        except ImportError:
            return None
    return driver


class Cuda:
    """The few driver calls the replay needs, raising on any error."""

    def __init__(self, driver: Any, device_index: int) -> None:
        self.driver = driver
        self.check(driver.cuInit(0))
        device = self.check(driver.cuDeviceGet(device_index))
        context = self.check(driver.cuDevicePrimaryCtxRetain(device))
        self.check(driver.cuCtxSetCurrent(context))
        self.modules: dict[str, Any] = {}
        self.allocations: list[Any] = []

    def check(self, result: Any) -> Any:
        error, *rest = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise RuntimeError(f"CUDA driver error {error}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def alloc(self, nbytes: int) -> int:
        pointer = self.check(self.driver.cuMemAlloc(max(nbytes, 1)))
        self.allocations.append(pointer)
        return int(pointer)

    def to_device(self, pointer: int, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array)
        if data.nbytes:
            self.check(self.driver.cuMemcpyHtoD(pointer, data.ctypes.data, data.nbytes))

    def to_host(self, pointer: int, array: np.ndarray) -> np.ndarray:
        if array.nbytes:
            self.check(self.driver.cuMemcpyDtoH(array.ctypes.data, pointer, array.nbytes))
        return array

    def function(self, directory: Path, entry: dict[str, Any], kernel: str) -> Any:
        name = entry["module"]
        if name not in self.modules:
            image_file = entry.get("cubin") or entry["file"]
            image = (directory / image_file).read_bytes()
            if image_file.endswith(".ptx"):
                image += b"\0"
            self.modules[name] = self.check(self.driver.cuModuleLoadData(image))
        return self.check(self.driver.cuModuleGetFunction(self.modules[name], kernel.encode()))

    def launch(self, function: Any, grid: list[int], block: list[int], params: list[Any]) -> None:
        array = (ctypes.c_void_p * max(len(params), 1))(*[ctypes.addressof(p) for p in params])
        self.check(
            self.driver.cuLaunchKernel(function, *grid, *block, 0, 0, ctypes.addressof(array), 0)
        )

    def synchronize(self) -> None:
        self.check(self.driver.cuCtxSynchronize())

    def free_all(self) -> None:
        for pointer in self.allocations:
            self.driver.cuMemFree(pointer)
        self.allocations.clear()
        for module in self.modules.values():
            self.driver.cuModuleUnload(module)
        self.modules.clear()


def compile_example(name: str, chip: str, out_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(launch plan, PTX index) for example `name`, planned and lowered for `chip`."""
    from torch_mlir import ir

    from modelopt_mlir.examples import load_example
    from modelopt_mlir.ir_context import make_context
    from modelopt_mlir.lowering.gpu import launch_plan, lower_to_gpu
    from modelopt_mlir.lowering.ptx import emit_ptx
    from modelopt_mlir.planning import plan_module

    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(load_example(name).text)
        plan_module(module, solver="greedy")
        (report,) = lower_to_gpu(module, chip, host_llvm=False)
        if report.host_work:
            raise RuntimeError(f"{name}: host-side work left: {report.host_work}")
        plan = launch_plan(module)
        emit_ptx(module, out_dir, chip)
    index = json.loads((out_dir / "index.json").read_text())
    return plan, index


def _flatten(arg: dict[str, Any], pointers: dict[str, int]) -> list[Any]:
    if "scalar" in arg:
        return [arg["value"]]
    pointer = pointers[arg["base"]] + arg["byte_offset"]
    return [pointer, pointer, arg["offset"], *arg["sizes"], *arg["strides"]]


def replay(
    cuda: Cuda,
    plan: dict[str, Any],
    index: dict[str, Any],
    directory: Path,
    arguments: list[np.ndarray],
) -> list[np.ndarray]:
    """Run the host function's launches on the device; return every argument buffer after."""
    modules = {m["module"]: m for m in index["modules"]}
    pointers = {"arena": cuda.alloc(plan["arena_bytes"])}
    for number, array in enumerate(arguments):
        pointers[f"arg:{number}"] = cuda.alloc(array.nbytes)
        cuda.to_device(pointers[f"arg:{number}"], array)
    for launch in plan["launches"]:
        module_name, kernel = launch["kernel"].lstrip("@").split("::@")
        entry = modules[module_name]
        (signature,) = [k["params"] for k in entry["kernels"] if k["name"] == kernel]
        values = [v for arg in launch["args"] for v in _flatten(arg, pointers)]
        if len(values) != len(signature):
            raise RuntimeError(
                f"{launch['kernel']}: {len(values)} values for {len(signature)} params"
            )
        params = [_CTYPES[t](v) for t, v in zip(signature, values, strict=True)]
        cuda.launch(
            cuda.function(directory, entry, kernel), launch["grid"], launch["block"], params
        )
    cuda.synchronize()
    return [cuda.to_host(pointers[f"arg:{n}"], np.empty_like(a)) for n, a in enumerate(arguments)]


def torch_step(name: str) -> tuple[Any, dict[str, Any], dict[str, np.ndarray], int, int]:
    """The example's step in PyTorch on CUDA: (example, new params by name, our argument
    values by name, peak bytes during the step, bytes allocated before it)."""
    import make_examples
    import torch

    from modelopt_mlir.frontend.reference import eager_training_step

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    example = make_examples.EXAMPLES[name]()
    values: dict[str, np.ndarray] = {
        n: p.detach().numpy().copy() for n, p in example.model.named_parameters()
    }
    for position, tensor in enumerate(example.inputs):
        values[f"input{position}"] = tensor.numpy().copy()
    values["target"] = example.targets.numpy().copy()
    model = example.model.cuda()
    inputs = [t.cuda() for t in example.inputs]
    targets = example.targets.cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    loss, params, _ = eager_training_step(
        model, inputs, targets, example.loss_fn, example.optimizer
    )
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    expected = {"loss": loss.float().cpu().numpy()}
    expected.update({f"new.{n}": p.float().cpu().numpy() for n, p in params.items()})
    return example, expected, values, peak, before


def check_example(cuda: Cuda, name: str, chip: str, tolerance: float, keep: Path | None) -> bool:
    sidecar = json.loads((ROOT / "test" / "examples" / f"{name}.json").read_text())
    _, expected, values, torch_peak, torch_before = torch_step(name)
    directory = keep / name if keep else Path(tempfile.mkdtemp(prefix=f"gpu-check-{name}-"))
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    plan, index = compile_example(name, chip, directory)
    compile_seconds = time.perf_counter() - start
    arguments = []
    for spec in sidecar["args"]:
        dtype = _NUMPY_DTYPES[spec["dtype"]]
        if spec["name"] in values:
            arguments.append(values[spec["name"]].astype(dtype).reshape(spec["shape"]))
        else:  # optimizer state starts at zero (fresh torch.optim), out-params are written
            arguments.append(np.zeros(spec["shape"], dtype=dtype))
    results = replay(cuda, plan, index, directory, arguments)
    cuda.free_all()
    worst = 0.0
    compared = 0
    for spec, result in zip(sidecar["args"], results, strict=True):
        if spec["kind"] != "output" or spec["name"] not in expected:
            continue
        reference = expected[spec["name"]].astype(np.float64)
        scale = max(float(np.abs(reference).max()) if reference.size else 0.0, 1e-12)
        error = float(np.abs(result.astype(np.float64) - reference).max()) / scale
        worst = max(worst, error if np.isfinite(error) else np.inf)
        compared += 1
    ok = compared > 0 and worst <= tolerance
    print(
        f"{name}: {len(plan['launches'])} kernels, compile {compile_seconds:.1f} s, "
        f"{compared} outputs vs PyTorch CUDA, max rel error {worst:.2e} "
        f"({'ok' if ok else 'MISMATCH'}); our arena {plan['arena_bytes']} B; "
        f"PyTorch max_memory_allocated {torch_peak} B ({torch_peak - torch_before} B above "
        f"the {torch_before} B held before its step)"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", default="mlp_sgd,gpt2_adam")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--keep", type=Path, default=None, help="keep PTX and index here")
    args = parser.parse_args(argv)
    driver = _driver()
    if driver is None:
        print("skipped: no GPU")
        return 0
    import torch

    from modelopt_mlir.lowering.gpu import KNOWN_CHIPS

    major, minor = torch.cuda.get_device_capability(0)
    chip = f"sm_{major}{minor}"
    if chip not in KNOWN_CHIPS:
        print(f"skipped: chip {chip} is not one lower-to-gpu knows ({', '.join(KNOWN_CHIPS)})")
        return 0
    print(f"device: {torch.cuda.get_device_name(0)} ({chip})")
    cuda = Cuda(driver, 0)
    ok = True
    for name in args.examples.split(","):
        try:
            ok &= check_example(cuda, name, chip, args.tolerance, args.keep)
        except Exception as error:  # report every example, then fail
            print(f"{name}: FAILED: {type(error).__name__}: {error}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
