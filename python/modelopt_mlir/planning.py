"""Plan a module from Python: the memory-plan pass without the command line."""

from __future__ import annotations

from typing import Any

from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine
from modelopt_mlir.passes import PassContext
from modelopt_mlir.passes.memory_plan import MemoryPlanPass


def plan_module(
    module: ir.Module, diagnostics: DiagnosticEngine | None = None, **options: Any
) -> list[dict[str, Any]]:
    """Run memory-plan in place (options as MemoryPlanPass fields, e.g. ``reorder=False``) and
    return one report per planned function. Raises PassFailure with the IR untouched."""
    context = PassContext(diagnostics or DiagnosticEngine())
    MemoryPlanPass(**options).run(module, context)
    return context.reports
