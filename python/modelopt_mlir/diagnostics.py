"""Diagnostics with source locations, printed mlir-opt style: ``file:line:col: error: message``."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Literal, TextIO

from torch_mlir import ir

Severity = Literal["error", "warning", "remark", "note"]

_FILE_LINE_COL = re.compile(r'"((?:[^"\\]|\\.)*)":(\d+):(\d+)')


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def source_location(
    loc: ir.Location | str | None, default_file: str = "-"
) -> SourceLocation | None:
    """The first file:line:col inside an MLIR location (fused, callsite and name locs included)."""
    if loc is None:
        return None
    match = _FILE_LINE_COL.search(str(loc))
    if match is None:
        return None
    file = match.group(1) or default_file
    return SourceLocation(file, int(match.group(2)), int(match.group(3)))


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    location: SourceLocation | None = None

    def format(self, file_alias: dict[str, str] | None = None) -> str:
        if self.location is None:
            return f"{self.severity}: {self.message}"
        file = self.location.file
        if file_alias:
            file = file_alias.get(file, file)
        return f"{file}:{self.location.line}:{self.location.col}: {self.severity}: {self.message}"


@dataclass
class DiagnosticEngine:
    """Collects diagnostics from our passes and from MLIR; the driver decides where they go."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def emit(self, severity: Severity, message: str, loc: ir.Location | str | None = None) -> None:
        self.diagnostics.append(Diagnostic(severity, message, source_location(loc)))

    def error(self, message: str, loc: ir.Location | str | None = None) -> None:
        self.emit("error", message, loc)

    def warning(self, message: str, loc: ir.Location | str | None = None) -> None:
        self.emit("warning", message, loc)

    def remark(self, message: str, loc: ir.Location | str | None = None) -> None:
        self.emit("remark", message, loc)

    def note(self, message: str, loc: ir.Location | str | None = None) -> None:
        self.emit("note", message, loc)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def extend_from_mlir_error(self, error: ir.MLIRError) -> None:
        diagnostics = list(error.error_diagnostics)
        if not diagnostics:
            self.error(str(error))
        for diag in diagnostics:
            self._add_mlir_diagnostic(diag)

    def _add_mlir_diagnostic(self, diag: ir.Diagnostic) -> None:
        severity = str(diag.severity).rsplit(".", 1)[-1].lower()
        if severity not in ("error", "warning", "remark", "note"):
            severity = "error"
        self.emit(severity, diag.message, diag.location)  # type: ignore[arg-type]
        for note in diag.notes:
            self._add_mlir_diagnostic(note)

    def handle_mlir_diagnostic(self, diag: ir.Diagnostic) -> bool:
        """For ``Context.attach_diagnostic_handler``: keep MLIR's remarks and warnings."""
        self._add_mlir_diagnostic(diag)
        return True

    def print(self, stream: TextIO = sys.stderr, file_alias: dict[str, str] | None = None) -> None:
        for diag in self.diagnostics:
            print(diag.format(file_alias), file=stream)


class PassFailure(Exception):
    """Raised by a pass after it has emitted its error diagnostics; the IR is left untouched."""
