"""A captured step into MLIR: torch-mlir's FX importer to linalg on tensors, then bufferization
to memref IR with the step's signature recorded on the function arguments."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch_mlir import fx as torch_mlir_fx
from torch_mlir import ir

from modelopt_mlir.frontend.errors import DynamicShapeError, LoweringError
from modelopt_mlir.frontend.signature import StepSignature
from modelopt_mlir.ir_context import find_function

if TYPE_CHECKING:
    from modelopt_mlir.frontend.capture import CapturedStep


def report_progress(progress: bool, what: str, captured: CapturedStep) -> None:
    """With ``progress``, print how long stage ``what`` took to stderr."""
    if progress:
        stage = {"captured": "capture"}.get(what, what)
        print(
            f"modelopt: {what} in {captured.timings.get(stage, 0.0):.1f} s",
            file=sys.stderr,
            flush=True,
        )


def import_to_linalg(
    captured: CapturedStep | torch.fx.GraphModule, func_name: str | None = None
) -> ir.Module:
    """Import the step graph and lower it to linalg on tensors (with tm_tensor, scf, arith, math)."""
    from_graph = isinstance(captured, torch.fx.GraphModule)
    graph = captured if from_graph else captured.graph
    if func_name is None:
        func_name = "main" if from_graph else captured.func_name
    diagnostics: list[str] = []
    try:
        with _native_stderr_captured(diagnostics):
            return torch_mlir_fx.stateless_fx_import(
                graph, output_type="linalg-on-tensors", model_name=func_name
            )
    except Exception as exc:
        # MLIR prints the diagnostics (which op failed) on file descriptor 2, not in the error.
        unsupported = sorted(set(_UNLOWERED_OP.findall(str(exc) + "".join(diagnostics))))
        if unsupported:
            raise LoweringError(
                f"torch-mlir cannot lower {', '.join(unsupported)}, which the captured step uses; "
                "a decomposition into supported ops (modelopt_mlir.frontend.decompositions) or "
                "a model without it is needed"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # The error's own first line names no op ("... failed with the following diagnostics:");
        # the first diagnostic does.
        errors = [line.strip() for line in "".join(diagnostics).splitlines() if "error:" in line]
        detail = f" ({errors[0][:300]})" if errors else ""
        raise LoweringError(f"torch-mlir import failed: {first}{detail}") from exc


@contextlib.contextmanager
def _native_stderr_captured(sink: list[str]) -> Iterator[None]:
    """Collect what native code writes to file descriptor 2 into ``sink``; on success it is
    written back to stderr unchanged, on failure the caller reads it."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr: nothing to collect
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as spool:
        os.dup2(spool.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            spool.seek(0)
            text = spool.read().decode("utf-8", errors="replace")
            sink.append(text)
            if text and not failed:
                sys.stderr.write(text)


# An op torch-mlir left unlowered, as its diagnostics name it.
_UNLOWERED_OP = re.compile(r'torch\.operator"[^<]*<\{name = "torch\.(aten\.[A-Za-z0-9_.]+)"')


def lower_to_memref_text(captured: CapturedStep, *, progress: bool = False) -> str:
    """Import ``captured`` and bufferize it; the memref IR as text without debug locations."""
    from modelopt_mlir.frontend.bufferize import BufferizeError

    start = time.perf_counter()
    module = import_to_linalg(captured)
    captured.timings["import"] = time.perf_counter() - start
    report_progress(progress, "import", captured)
    start = time.perf_counter()
    try:
        bufferize_step(module, captured)
    except BufferizeError as exc:
        raise LoweringError(str(exc)) from exc
    text = module.operation.get_asm(enable_debug_info=False)
    captured.timings["bufferize"] = time.perf_counter() - start
    report_progress(progress, "bufferize", captured)
    for line in text.splitlines():
        if line.lstrip().startswith("func.func") and "?" in line:
            raise DynamicShapeError(
                "the imported function has dynamic shapes; give static example inputs"
            )
    return text


def bufferize_step(
    module: ir.Module,
    captured: CapturedStep,
    func_name: str | None = None,
    *,
    copy_before_write: bool = True,
) -> ir.Module:
    """Bufferize the imported ``module`` of ``captured`` (function ``func_name``, default the
    capture's) in place: transposes folded into the matrix products that read them
    (fold-transposes), updated state written into its own arguments, the signature recorded
    as argument attributes, then reuse-dying-inputs (after the annotation: updated arguments
    may hold intermediates of their own update).

    ``copy_before_write`` (the default) bufferizes without one-shot's read-after-write analysis
    (see :func:`~modelopt_mlir.frontend.bufferize.bufferize`), whose time grew faster than the
    step; reuse-dying-inputs gives its in-place sharing back: the same arena on every tiny zoo
    step, training and inference, and on GPT-2 small. ``False`` runs the analysis."""
    from modelopt_mlir.frontend.bufferize import bufferize, fuse_elementwise
    from modelopt_mlir.passes.fold_transposes import fold_transposes
    from modelopt_mlir.passes.reuse_dying_inputs import reuse_dying_inputs

    fold_transposes(module)
    fuse_elementwise(module)
    bufferize(module, updates=captured.updates, copy_before_write=copy_before_write)
    annotate_arguments(module, func_name or captured.func_name, captured.signature)
    with module.context:
        reuse_dying_inputs(module)
    return module


def annotate_arguments(module: ir.Module, func_name: str, signature: StepSignature) -> None:
    """Record the signature on ``@func_name``'s arguments: ``modelopt.name``, ``modelopt.kind``,
    ``modelopt.updated`` where the step overwrites the argument, and ``modelopt.noalias``: each
    argument is a distinct tensor, so memory-plan may order accesses to different arguments
    freely."""
    func = find_function(module, func_name)
    with module.context:
        attrs = []
        for spec in signature.args:
            entries = {
                "modelopt.name": ir.StringAttr.get(spec.name),
                "modelopt.kind": ir.StringAttr.get(spec.kind),
                "modelopt.noalias": ir.UnitAttr.get(),
            }
            if spec.updated:
                entries["modelopt.updated"] = ir.UnitAttr.get()
            attrs.append(ir.DictAttr.get(entries))
        func.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)
