"""Inputs and outputs of the command-line tools, handled the same way in every one of them.

Outputs are checked before any work: a path that cannot be written (missing or non-directory
parent, a directory where a file goes, a file where a directory goes, no permission) is reported
as ``TOOL: cannot write 'PATH': why`` and the tool exits 2 without writing anything. Directories
are never created on the way to an output; an output directory itself (``--emit-ptx=DIR``) may be
new, inside an existing one. Text inputs must be UTF-8: the error names the file, line, column
and byte offset of the first byte that is not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path


class InputError(Exception):
    """An input that cannot be read (missing, unreadable) or decoded; ``reason`` says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"cannot read '{name}': {reason}")


class InvalidUtf8Error(InputError):
    """Input bytes that are not UTF-8; ``line`` and ``column`` are 1-based, ``offset`` 0-based."""

    def __init__(self, name: str, line: int, column: int, offset: int, byte: int) -> None:
        self.name = name
        self.line = line
        self.column = column
        self.offset = offset
        self.byte = byte
        super().__init__(name, f"not UTF-8: byte 0x{byte:02x} at offset {offset}")
        self.args = (f"{name}:{line}:{column}: {self.reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line_start = data.rfind(b"\n", 0, offset) + 1
        line = data.count(b"\n", 0, offset) + 1
        raise InvalidUtf8Error(name, line, offset - line_start + 1, offset, data[offset]) from None


def read_text(path: str) -> tuple[str, str]:
    """The UTF-8 text of a file (``-`` for stdin) and the name to show for it in messages."""
    name = "<stdin>" if path == "-" else path
    if path == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        if isinstance(data, str):
            return data, name
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InputError(path, str(error.strerror or error)) from error
    return decode_utf8(data, name), name


def output_problem(path: str, directory: bool = False) -> str | None:
    """Why ``path`` cannot be written as an output file (or directory), or None if it can."""
    target = Path(path)
    if directory:
        if target.exists() and not target.is_dir():
            return "it exists and is not a directory"
    elif target.is_dir():
        return "it is a directory"
    if target.exists():
        access = os.W_OK | os.X_OK if directory else os.W_OK
        return None if os.access(target, access) else "permission denied"
    parent = target.parent
    if not parent.exists():
        return f"directory '{parent}' does not exist"
    if not parent.is_dir():
        return f"'{parent}' is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory '{parent}' is not writable"
    return None


def first_output_problem(outputs: Iterable[tuple[str | None, bool]]) -> str | None:
    """``cannot write 'PATH': why`` for the first of (path, is_directory) that cannot be
    written; None paths and ``-`` (stdout) are skipped."""
    for path, directory in outputs:
        if path is None or path == "-":
            continue
        problem = output_problem(path, directory)
        if problem is not None:
            kind = "directory " if directory else ""
            return f"cannot write {kind}'{path}': {problem}"
    return None
