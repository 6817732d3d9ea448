"""modelopt-mlir: memory planning for deep-learning graphs in MLIR.

``from modelopt_mlir import plan, capture_training_step, capture_inference`` resolves lazily, so
``import modelopt_mlir`` stays fast and imports neither torch nor MLIR.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first attribute access.
_LAZY_EXPORTS: dict[str, str] = {
    "plan": "modelopt_mlir.api",
    "PlanResult": "modelopt_mlir.api",
    "PlanReport": "modelopt_mlir.api",
    "PlanWarning": "modelopt_mlir.api",
    "VerificationError": "modelopt_mlir.api",
    "PlanError": "modelopt_mlir.api",
    "capture_training_step": "modelopt_mlir.frontend.capture",
    "capture_inference": "modelopt_mlir.frontend.capture",
    "OptimizerConfig": "modelopt_mlir.frontend.optimizer",
    "render_timeline": "modelopt_mlir.timeline",
    "max_batch_size": "modelopt_mlir.maxbatch",
    "eager_max_batch_size": "modelopt_mlir.maxbatch",
}

__all__ = [
    "OptimizerConfig",
    "PlanError",
    "PlanReport",
    "PlanResult",
    "PlanWarning",
    "VerificationError",
    "__version__",
    "capture_inference",
    "capture_training_step",
    "eager_max_batch_size",
    "max_batch_size",
    "plan",
    "render_timeline",
]

if TYPE_CHECKING:
    from modelopt_mlir.api import (
        PlanError,
        PlanReport,
        PlanResult,
        PlanWarning,
        VerificationError,
        plan,
    )
    from modelopt_mlir.frontend.capture import capture_inference, capture_training_step
    from modelopt_mlir.frontend.optimizer import OptimizerConfig
    from modelopt_mlir.maxbatch import eager_max_batch_size, max_batch_size
    from modelopt_mlir.timeline import render_timeline


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelopt_mlir' has no attribute '{name}'")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
