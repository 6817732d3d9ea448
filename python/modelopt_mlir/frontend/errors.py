"""What capturing a step can fail with. Every message is meant for users: it says what to change,
and no traceback is needed."""

from __future__ import annotations


class CaptureError(RuntimeError):
    """The model or step cannot be captured; the message says why, for the user."""


class CaptureUsageError(CaptureError, ValueError):
    """The call must change (the loss, the devices, the parameters); the message says how.
    ``modelopt_mlir.api.plan`` raises these as a ``PlanError``."""


class UnsupportedOptimizerError(CaptureUsageError):
    """The optimizer (class or option) has no functional counterpart here."""


class DataDependentControlFlowError(CaptureError):
    """Python control flow or a Python value depends on tensor data."""


class DynamicShapeError(CaptureError):
    """A shape depends on tensor data or is not static."""


class LoweringError(CaptureError):
    """torch-mlir import or bufferization failed on the captured graph."""
