"""lower-to-gpu: planned memref IR to kernels (gpu.launch_func + NVVM gpu.modules), one device arena.

Runs after memory-plan. The arena becomes the function's single ``gpu.alloc``; arguments are
device buffers the caller provides. Work that stays on the host and touches memrefs is reported
as ``host-side work`` remarks. See ``modelopt_mlir.lowering.gpu`` for the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine, PassFailure
from modelopt_mlir.lowering.gpu import GpuLoweringError, check_chip, lower_to_gpu
from modelopt_mlir.passes import ModulePass, PassContext


@dataclass(frozen=True)
class LowerToGpuPass(ModulePass):
    name = "lower-to-gpu"
    summary = "Lower planned memref IR to GPU kernels (NVVM) with the arena as one gpu.alloc"

    chip: str = "sm_90"
    host_llvm: bool = True

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        self.run(module, PassContext(diagnostics))

    def run(self, module: ir.Module, context: PassContext) -> None:
        diagnostics = context.diagnostics
        # The chip is checked here, not at option parsing: a bad chip is a diagnostic (exit 1).
        message = check_chip(self.chip)
        if message is not None:
            diagnostics.error(f"lower-to-gpu: {message}", _first_location(module))
            raise PassFailure(message)
        backup = module.operation.clone()
        try:
            reports = lower_to_gpu(module, self.chip, host_llvm=self.host_llvm)
        except GpuLoweringError as error:
            _restore(module, backup)
            diagnostics.error(f"lower-to-gpu: {error}", _first_location(module))
            raise PassFailure(str(error)) from None
        backup.erase()
        for report in reports:
            for work in report.host_work:
                diagnostics.remark(work.message(), work.location)
            for location in report.extra_allocations:
                diagnostics.remark(
                    "temporary outside the arena: a separate device allocation", location
                )
            context.reports.append(
                {
                    "function": report.function,
                    "gpu": {
                        "chip": self.chip,
                        "kernels": report.kernels,
                        "serial_kernels": report.serial_kernels,
                        "device_allocations": report.device_allocations,
                        "arena_bytes": report.arena_bytes,
                        "host_side_work": len(report.host_work),
                    },
                }
            )


def _first_location(module: ir.Module) -> ir.Location:
    for op in module.body.operations:
        if op.operation.name == "func.func":
            return op.operation.location
    return module.operation.location


def _restore(module: ir.Module, backup: ir.Operation) -> None:
    """Put the module back as it was before a failed lowering (a pass leaves no half-rewritten IR)."""
    for op in list(module.body.operations):
        op.operation.erase()
    with ir.InsertionPoint(module.body):
        for op in backup.regions[0].blocks[0].operations:
            op.operation.clone()
    attributes = module.operation.attributes
    for name in [named.name for named in attributes]:
        del attributes[name]
    for named in backup.attributes:
        attributes[named.name] = named.attr
    backup.erase()
