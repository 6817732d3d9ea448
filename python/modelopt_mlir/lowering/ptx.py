"""PTX for the kernel modules of a GPU-lowered module, without MLIR's NVPTX target.

``gpu-module-to-binary`` needs an NVPTX-enabled MLIR build; the torch-mlir wheel has none. Each
``gpu.module`` (already in the LLVM/NVVM dialect) is copied into a plain module, translated to
LLVM IR through MLIR's C API, and compiled to PTX by llvmlite's NVPTX backend. libdevice (from a
CUDA toolkit) is linked in when a kernel calls ``__nv_*`` math functions; ``ptxas`` checks the
result when it is on PATH.

Output: one ``<module>.ptx`` per kernel module and ``index.json`` listing, per file, its
kernels and their parameter types (the lowered LLVM signature: every memref argument expands to
allocated ptr, aligned ptr, offset, sizes..., strides...).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from torch_mlir import ir

from modelopt_mlir.ir_context import capsule_pointer

__all__ = [
    "LIBDEVICE_CANDIDATES",
    "PtxError",
    "PtxModule",
    "assemble_ptx",
    "emit_ptx",
    "emit_ptx_for_module",
    "find_libdevice",
    "gpu_module_to_llvm_ir",
    "ptx_isa_for",
]

NVPTX_TRIPLE = "nvptx64-nvidia-cuda"
NVPTX_DATA_LAYOUT = "e-p6:32:32-i64:64-i128:128-i256:256-v16:16-v32:32-n16:32:64"
LIBDEVICE_CANDIDATES = ("nvvm/libdevice/libdevice.10.bc",)


class PtxError(RuntimeError):
    """Translating or compiling a kernel module failed."""


@dataclass(frozen=True)
class PtxModule:
    name: str
    path: Path
    kernels: dict[str, list[str]]
    uses_libdevice: bool


def ptx_isa_for(chip: str) -> str:
    """The PTX ISA version to target: the oldest that knows `chip` (and its 'a' variant)."""
    number = int(re.sub(r"\D", "", chip))
    if number >= 120:
        return "+ptx87"
    if number >= 100:
        return "+ptx86"
    if number >= 90:
        return "+ptx80"
    if number >= 89:
        return "+ptx78"
    return "+ptx70"


# --- MLIR -> LLVM IR through the C API ----------------------------------------------------


@cache
def _capi() -> ctypes.CDLL:
    from torch_mlir import _mlir_libs

    library = ctypes.CDLL(
        os.path.join(os.path.dirname(_mlir_libs.__file__), "libTorchMLIRAggregateCAPI.so")
    )
    library.mlirTranslateModuleToLLVMIR.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    library.mlirTranslateModuleToLLVMIR.restype = ctypes.c_void_p
    library.mlirRegisterAllLLVMTranslations.argtypes = [ctypes.c_void_p]
    library.mlirRegisterAllLLVMTranslations.restype = None
    library.LLVMContextCreate.restype = ctypes.c_void_p
    library.LLVMContextDispose.argtypes = [ctypes.c_void_p]
    library.LLVMPrintModuleToString.argtypes = [ctypes.c_void_p]
    library.LLVMPrintModuleToString.restype = ctypes.c_void_p
    library.LLVMDisposeMessage.argtypes = [ctypes.c_void_p]
    library.LLVMDisposeModule.argtypes = [ctypes.c_void_p]
    return library


_registered_contexts: set[int] = set()


def _translate(module: ir.Module) -> str:
    capi = _capi()
    context_pointer = capsule_pointer(module.context._CAPIPtr)
    if context_pointer not in _registered_contexts:
        capi.mlirRegisterAllLLVMTranslations(context_pointer)
        _registered_contexts.add(context_pointer)
    llvm_context = capi.LLVMContextCreate()
    try:
        llvm_module = capi.mlirTranslateModuleToLLVMIR(
            capsule_pointer(module.operation._CAPIPtr), llvm_context
        )
        if not llvm_module:
            raise PtxError("MLIR could not translate the kernel module to LLVM IR")
        message = capi.LLVMPrintModuleToString(llvm_module)
        try:
            text = ctypes.string_at(message).decode()
        finally:
            capi.LLVMDisposeMessage(message)
            capi.LLVMDisposeModule(llvm_module)
    finally:
        capi.LLVMContextDispose(llvm_context)
    return text


def gpu_module_to_llvm_ir(gpu_module: ir.Operation) -> str:
    """LLVM IR text for one ``gpu.module`` whose body is in the LLVM/NVVM dialect."""
    with gpu_module.context, gpu_module.location:
        holder = ir.Module.create()
        for op in gpu_module.regions[0].blocks[0].operations:
            op.operation.clone(ir.InsertionPoint(holder.body))
        return _translate(holder)


# --- LLVM IR -> PTX with llvmlite ---------------------------------------------------------


@cache
def _llvm() -> Any:
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm


def find_libdevice() -> Path | None:
    """libdevice.10.bc from $CUDA_HOME/$CUDA_PATH, /usr/local/cuda*, or next to ptxas."""
    roots: list[Path] = []
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(variable):
            roots.append(Path(os.environ[variable]))
    ptxas = shutil.which("ptxas")
    if ptxas:
        roots.append(Path(ptxas).resolve().parent.parent)
    base = Path("/usr/local")
    if base.is_dir():
        roots.extend(sorted(base.glob("cuda*"), reverse=True))
    for root in roots:
        for candidate in LIBDEVICE_CANDIDATES:
            if (root / candidate).is_file():
                return root / candidate
    return None


@cache
def _libdevice_module(path: str) -> Any:
    llvm = _llvm()
    library = llvm.parse_bitcode(Path(path).read_bytes())
    library.triple = NVPTX_TRIPLE
    library.data_layout = NVPTX_DATA_LAYOUT
    return library


@cache
def _target_machine(chip: str) -> Any:
    llvm = _llvm()
    target = llvm.Target.from_triple(NVPTX_TRIPLE)
    return target.create_target_machine(cpu=chip, features=ptx_isa_for(chip), opt=3)


def _kernel_signatures(llvm_ir: str) -> dict[str, list[str]]:
    """Kernel name -> parameter types, from the translated LLVM IR's ptx_kernel definitions."""
    kernels: dict[str, list[str]] = {}
    for match in re.finditer(r"^define\s+ptx_kernel\s+void\s+@([\w.$]+)\((.*?)\)", llvm_ir, re.M):
        params = [p.strip().split()[0] for p in match.group(2).split(",") if p.strip()]
        kernels[match.group(1)] = params
    return kernels


def llvm_ir_to_ptx(llvm_ir: str, chip: str, libdevice: Path | None) -> str:
    llvm = _llvm()
    module = llvm.parse_assembly(llvm_ir)
    module.triple = NVPTX_TRIPLE
    module.data_layout = NVPTX_DATA_LAYOUT
    math_calls = sorted(set(re.findall(r"declare [^@]*@(__nv_\w+)\(", llvm_ir)))
    if math_calls:
        if libdevice is None:
            raise PtxError(
                f"kernels call {', '.join(math_calls)} but no libdevice was found "
                "(set CUDA_HOME to a CUDA toolkit)"
            )
        module.link_in(_libdevice_module(str(libdevice)), preserve=True)
        # Only the kernels stay externally visible; unused libdevice code is dropped before
        # the optimisation pipeline has to look at it.
        kernels = set(_kernel_signatures(llvm_ir))
        for function in module.functions:
            if not function.is_declaration and function.name not in kernels:
                function.linkage = llvm.Linkage.internal
        cleanup = llvm.create_new_module_pass_manager()
        cleanup.add_global_dead_code_eliminate_pass()
        machine = _target_machine(chip)
        cleanup.run(
            module, llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options())
        )
    machine = _target_machine(chip)
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)
    module.verify()
    return machine.emit_assembly(module)


def _has_math(llvm_ir: str) -> bool:
    return bool(re.search(r"declare [^@]*@__nv_\w+\(", llvm_ir))


def emit_ptx(
    module: ir.Module,
    out_dir: str | os.PathLike[str],
    chip: str = "sm_90",
    assemble: bool = True,
) -> list[Path]:
    """Write one PTX file per ``gpu.module`` of `module` and ``index.json``; return the PTX paths.

    With `assemble` and ``ptxas`` on PATH, every file is also assembled to ``<module>.cubin``;
    a file ptxas rejects raises PtxError."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    libdevice = find_libdevice()
    written: list[PtxModule] = []
    for op in module.body.operations:
        op = op.operation
        if op.name != "gpu.module":
            continue
        name = ir.StringAttr(op.attributes["sym_name"]).value
        llvm_ir = gpu_module_to_llvm_ir(op)
        try:
            ptx = llvm_ir_to_ptx(llvm_ir, chip, libdevice)
        except RuntimeError as error:
            raise PtxError(f"gpu.module @{name}: {error}") from None
        path = out / f"{name}.ptx"
        path.write_text(ptx)
        written.append(PtxModule(name, path, _kernel_signatures(llvm_ir), _has_math(llvm_ir)))
    cubins: dict[str, str] = {}
    if assemble and shutil.which("ptxas"):
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
            results = list(pool.map(lambda m: _assemble_to_cubin(m.path, chip), written))
        failures = [(m, r) for m, r in zip(written, results, strict=True) if r.returncode != 0]
        if failures:
            module_info, result = failures[0]
            raise PtxError(
                f"ptxas rejected {len(failures)} of {len(written)} PTX files for {chip}; first, "
                f"{module_info.path}:\n{result.stderr.strip()}"
            )
        cubins = {m.name: m.path.with_suffix(".cubin").name for m in written}
    index = {
        "chip": chip,
        "ptxas": shutil.which("ptxas"),
        "libdevice": str(libdevice) if libdevice else None,
        "modules": [
            {
                "module": m.name,
                "file": m.path.name,
                "cubin": cubins.get(m.name),
                "uses_libdevice": m.uses_libdevice,
                "kernels": [{"name": k, "params": p} for k, p in m.kernels.items()],
            }
            for m in written
        ],
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return [m.path for m in written]


def assemble_ptx(
    path: str | os.PathLike[str], chip: str = "sm_90"
) -> subprocess.CompletedProcess[str]:
    """Run ``ptxas -arch=<chip>`` on `path` (output discarded); raises FileNotFoundError without ptxas."""
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        raise FileNotFoundError("ptxas is not on PATH")
    return subprocess.run(
        [ptxas, f"-arch={chip}", str(path), "-o", os.devnull],
        capture_output=True,
        text=True,
        check=False,
    )


def _assemble_to_cubin(path: Path, chip: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ptxas", f"-arch={chip}", str(path), "-o", str(path.with_suffix(".cubin"))],
        capture_output=True,
        text=True,
        check=False,
    )


def module_chip(module: ir.Module) -> str | None:
    """The chip of the first ``#nvvm.target`` attached to a gpu.module, if any."""
    for op in module.body.operations:
        op = op.operation
        if op.name == "gpu.module" and "targets" in op.attributes:
            match = re.search(r'chip = "(\w+)"', str(op.attributes["targets"]))
            if match:
                return match.group(1)
    return None


def emit_ptx_for_module(
    module: ir.Module, out_dir: str | os.PathLike[str], chip: str | None = None
) -> list[Path]:
    """For modelopt-opt --emit-ptx: PTX (and cubins where ptxas exists) for a lowered module.

    `chip` defaults to the one lower-to-gpu attached. Raises PtxError when the module has no
    kernel modules or a kernel does not compile."""
    if not any(op.operation.name == "gpu.module" for op in module.body.operations):
        raise PtxError("no gpu.module to emit PTX for: run lower-to-gpu first")
    return emit_ptx(module, out_dir, chip or module_chip(module) or "sm_90")
