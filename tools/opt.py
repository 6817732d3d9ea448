"""modelopt-opt: MLIR in, MLIR out, following mlir-opt's conventions.

Exit status: 0 on success, 1 when a diagnostic (parse error, input that is not UTF-8, pass
failure, diagnostic mismatch under --verify-diagnostics) stops the run, 2 on a usage error, an
input that cannot be read or an output that cannot be written (checked before any work).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch_mlir import ir, passmanager

from modelopt_mlir.diagnostics import Diagnostic, DiagnosticEngine, PassFailure
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.passes import (
    PASS_REGISTRY,
    ModulePass,
    PassContext,
    PassOptionError,
    lookup_pass,
)
from modelopt_mlir.plan_json import build_plan_json
from modelopt_mlir.tools.cli import quiet_broken_pipe
from modelopt_mlir.tools.files import InputError, InvalidUtf8Error, first_output_problem, read_text

USAGE = """\
usage: modelopt-opt [options] [input.mlir] [-o output.mlir]

Reads MLIR (a file or '-' for stdin), runs passes, writes MLIR.

options:
  --pass-pipeline='builtin.module(...)'  a textual pipeline mixing our passes and upstream ones
  --PASS[='key=value ...']               append one pass (ours or upstream), mlir-opt style,
                                         e.g. --memory-plan='solver=greedy alignment=64'
  -o FILE                                output file (default: stdout)
  --split-input-file                     process each '// -----'-separated chunk on its own
  --verify-diagnostics                   check diagnostics against expected-* comments
  --plan-report=FILE.json                write memory-plan's plan file (JSON, schema
                                         modelopt-mlir/plan v1: see README, Plan files)
  --emit-ptx=DIR                         after the pipeline (lower-to-gpu), write PTX per kernel module
  --allow-unregistered-dialect           accept ops of unregistered dialects
  --mlir-print-debuginfo                 print locations
  --list-passes                          list our passes and their options
  -h, --help                             show this help
"""

SPLIT_MARKER = re.compile(r"^// -----[ \t]*$", re.MULTILINE)
EXPECTED = re.compile(
    r"expected-(error|warning|remark|note)\s*(?:@(above|below|[+-]\d+))?\s*\{\{(.*?)\}\}"
)


class UsageError(Exception):
    pass


@dataclass
class Options:
    input: str = "-"
    output: str | None = None
    pipeline: list[str] = field(default_factory=list)
    pipeline_text: str | None = None
    split_input_file: bool = False
    verify_diagnostics: bool = False
    plan_report: str | None = None
    emit_ptx: str | None = None
    allow_unregistered: bool = False
    print_debuginfo: bool = False
    list_passes: bool = False
    help: bool = False


def parse_args(argv: Sequence[str]) -> Options:
    options = Options()
    inputs: list[str] = []
    args = list(argv)
    i = 0

    def value_of(arg: str, name: str) -> str:
        nonlocal i
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
        i += 1
        if i >= len(args):
            raise UsageError(f"option '{name}' needs a value")
        return args[i]

    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            options.help = True
        elif arg in ("-o", "--output") or arg.startswith(("-o=", "--output=")):
            options.output = value_of(arg, arg.split("=", 1)[0])
        elif arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            options.output = arg[2:]
        elif arg == "--pass-pipeline" or arg.startswith("--pass-pipeline="):
            options.pipeline_text = value_of(arg, "--pass-pipeline")
        elif arg == "--plan-report" or arg.startswith("--plan-report="):
            options.plan_report = value_of(arg, "--plan-report")
        elif arg == "--emit-ptx" or arg.startswith("--emit-ptx="):
            options.emit_ptx = value_of(arg, "--emit-ptx")
        elif arg == "--split-input-file":
            options.split_input_file = True
        elif arg == "--verify-diagnostics":
            options.verify_diagnostics = True
        elif arg == "--allow-unregistered-dialect":
            options.allow_unregistered = True
        elif arg == "--mlir-print-debuginfo":
            options.print_debuginfo = True
        elif arg == "--list-passes":
            options.list_passes = True
        elif arg == "-":
            inputs.append(arg)
        elif arg.startswith("--"):
            name, sep, opts = arg[2:].partition("=")
            if not re.fullmatch(r"[A-Za-z][\w.\-]*", name):
                raise UsageError(f"unknown option '{arg}'")
            options.pipeline.append(f"{name}{{{opts}}}" if sep and opts else name)
        elif arg.startswith("-"):
            raise UsageError(f"unknown option '{arg}'")
        else:
            inputs.append(arg)
        i += 1
    if len(inputs) > 1:
        raise UsageError(f"expected at most one input file, got {len(inputs)}")
    if inputs:
        options.input = inputs[0]
    if options.pipeline and options.pipeline_text is not None:
        raise UsageError("use either --pass-pipeline or individual pass options, not both")
    return options


# --- pipeline -------------------------------------------------------------------------------


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside (), {} or quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
            if depth < 0:
                raise UsageError(f"unbalanced brackets in pipeline '{text}'")
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if depth != 0 or quote:
        raise UsageError(f"unbalanced brackets in pipeline '{text}'")
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


ELEMENT = re.compile(r"^([A-Za-z][\w.\-]*)\s*(\{(.*)\})?\s*(\((.*)\))?$", re.DOTALL)


def pipeline_elements(text: str) -> list[str]:
    text = text.strip()
    match = ELEMENT.match(text)
    if match and match.group(1) == "builtin.module" and match.group(4) is not None:
        return split_top_level(match.group(5))
    return split_top_level(text)


@dataclass
class Stage:
    """A run of upstream passes (one PassManager) or one of ours."""

    text: str
    upstream: passmanager.PassManager | None = None
    ours: ModulePass | None = None


def _our_pass(element: str) -> ModulePass | None:
    match = ELEMENT.match(element)
    if not match:
        return None
    name, options, nested = match.group(1), match.group(3), match.group(5)
    if name == "func.func" and nested is not None:
        inner = split_top_level(nested)
        ours = [e for e in inner if ELEMENT.match(e) and ELEMENT.match(e).group(1) in PASS_REGISTRY]
        if not ours:
            return None
        if len(ours) != len(inner) or len(inner) != 1:
            raise UsageError(
                f"'{element}': nest our passes alone, one per func.func(...), or at module level"
            )
        return _our_pass(inner[0])
    if name not in PASS_REGISTRY:
        return None
    if nested is not None:
        raise UsageError(f"pass '{name}' takes no nested pipeline")
    pass_class = lookup_pass(name)
    assert pass_class is not None
    try:
        return pass_class.from_options(options or "")
    except PassOptionError as error:
        raise UsageError(str(error)) from error


def _upstream_manager(elements: list[str]) -> passmanager.PassManager:
    text = f"builtin.module({','.join(elements)})"
    try:
        return passmanager.PassManager.parse(text)
    except ValueError as error:
        message = str(error).strip()
        if len(elements) == 1 and "did you intend to nest" in message:
            return _upstream_manager([f"func.func({elements[0]})"])
        raise UsageError(f"invalid pass pipeline '{text}':\n{message}") from error


def build_stages(elements: list[str]) -> list[Stage]:
    stages: list[Stage] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            stages.append(Stage(",".join(pending), upstream=_upstream_manager(list(pending))))
            pending.clear()

    for element in elements:
        ours = _our_pass(element)
        if ours is None:
            pending.append(element)
        else:
            flush()
            stages.append(Stage(element, ours=ours))
    flush()
    return stages


# --- running --------------------------------------------------------------------------------


@dataclass
class ChunkResult:
    output: str | None
    diagnostics: DiagnosticEngine
    reports: list[dict[str, Any]]


def run_chunk(
    text: str,
    stages: list[Stage],
    context: ir.Context,
    print_debuginfo: bool,
    emit_ptx: str | None = None,
) -> ChunkResult:
    diagnostics = DiagnosticEngine()
    pass_context = PassContext(diagnostics)

    def on_diagnostic(diag: ir.Diagnostic) -> bool:
        if "ERROR" in str(diag.severity):
            return False  # errors come back through MLIRError
        return diagnostics.handle_mlir_diagnostic(diag)

    handler = context.attach_diagnostic_handler(on_diagnostic)
    try:
        with context, ir.Location.unknown():
            crash = parser_crash(text)
            if crash is not None:
                line, column, message = crash
                diagnostics.error(message, f'"-":{line}:{column}')
                return ChunkResult(None, diagnostics, [])
            try:
                module = ir.Module.parse(text)
            except ir.MLIRError as error:
                diagnostics.extend_from_mlir_error(error)
                return ChunkResult(None, diagnostics, [])
            except (MemoryError, RuntimeError) as error:
                # MLIR's parser throws on some malformed text instead of emitting a diagnostic
                # (iterator_types = [i8] in linalg.generic: std::bad_alloc).
                diagnostics.error(f"cannot parse the input: {type(error).__name__}: {error}")
                return ChunkResult(None, diagnostics, [])
            for stage in stages:
                try:
                    if stage.ours is not None:
                        stage.ours.run(module, pass_context)
                    else:
                        assert stage.upstream is not None
                        stage.upstream.run(module.operation)
                    module.operation.verify()
                except ir.MLIRError as error:
                    diagnostics.extend_from_mlir_error(error)
                    return ChunkResult(None, diagnostics, pass_context.reports)
                except PassFailure:
                    if not diagnostics.has_errors:
                        diagnostics.error(f"pass '{stage.text}' failed")
                    return ChunkResult(None, diagnostics, pass_context.reports)
            if emit_ptx is not None:
                from modelopt_mlir.lowering.ptx import PtxError, emit_ptx_for_module

                try:
                    emit_ptx_for_module(module, emit_ptx)
                except PtxError as error:
                    diagnostics.error(f"--emit-ptx: {error}")
                    return ChunkResult(None, diagnostics, pass_context.reports)
            output = module.operation.get_asm(enable_debug_info=print_debuginfo)
            return ChunkResult(output, diagnostics, pass_context.reports)
    finally:
        handler.detach()


# Constructs on which MLIR's parser crashes the process (segfault, std::bad_alloc) instead of
# emitting a diagnostic, found by mutation fuzzing; refused before parsing:
# - linalg.generic's custom form casts each iterator_types entry to a string unchecked;
# - linalg.reduce / transpose / broadcast read a malformed dimensions / permutation array;
# - a block label defined twice in one region, after values used before their definition
#   (the parser reports "redefinition of block", then corrupts its heap and aborts).
_GENERIC_ITERATORS = re.compile(r"\blinalg\.generic\s*\{[^{}]*?\biterator_types\s*=\s*\[([^\]]*)\]")
_STRING_LITERAL = re.compile(r'\s*"(?:[^"\\]|\\.)*"\s*')
_DIMENSIONS = re.compile(
    r"\b(linalg\.(?:reduce|transpose|broadcast))\b[^\n]*?\b(dimensions|permutation)\s*=[ \t]*"
)
_INTEGER_ARRAY = re.compile(r"\[\s*(?:-?\d+\s*(?:,\s*-?\d+\s*)*)?\]")


_BRACE_OR_LABEL = re.compile(r"[{}]|^[ \t]*(\^[\w$.-]+)[ \t]*[(:]", re.MULTILINE)
# What can hold a brace that opens or closes no region: comments, strings, and the
# dialect-resource block {-# ... #-}.
_NO_BRACES = re.compile(r'//[^\n]*|"(?:[^"\\\n]|\\.)*"|\{-#|#-\}')


def redefined_block(text: str) -> tuple[int, str] | None:
    """(offset, message) of the first block label defined twice in the same region (regions
    told apart by brace depth, comments and strings skipped), which MLIR reports as a
    "redefinition of block" before it crashes on some inputs; None when there is none."""
    blanked = _NO_BRACES.sub(lambda m: " " * len(m.group(0)), text)
    scopes: list[set[str]] = [set()]
    for match in _BRACE_OR_LABEL.finditer(blanked):
        token = match.group(0)
        if token == "{":
            scopes.append(set())
        elif token == "}":
            if len(scopes) > 1:
                scopes.pop()
        else:
            label = match.group(1)
            if label in scopes[-1]:
                return match.start(1), f"redefinition of block '{label}'"
            scopes[-1].add(label)
    return None


def parser_crash(text: str) -> tuple[int, int, str] | None:
    """(line, column, message) of the first construct known to crash MLIR's parser."""
    found: list[tuple[int, str]] = []
    redefined = redefined_block(text)
    if redefined is not None:
        found.append(redefined)
    for match in _GENERIC_ITERATORS.finditer(text):
        position = match.start(1)
        for entry in match.group(1).split(",") if match.group(1).strip() else []:
            if not _STRING_LITERAL.fullmatch(entry):
                found.append(
                    (
                        position + len(entry) - len(entry.lstrip()),
                        "iterator_types entries of linalg.generic must be strings such as "
                        f'"parallel", got {entry.strip()!r}',
                    )
                )
                break
            position += len(entry) + 1
    for match in _DIMENSIONS.finditer(text):
        if not _INTEGER_ARRAY.match(text, match.end()):
            message = f"{match.group(1)} {match.group(2)}: expected an integer array like [0, 1]"
            found.append((match.end(), message))
    if not found:
        return None
    at, message = min(found)
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at), message


def split_chunks(text: str, split: bool) -> list[str]:
    """Chunks padded with newlines so that line numbers match the whole file."""
    if not split:
        return [text]
    chunks = []
    start = 0
    for match in SPLIT_MARKER.finditer(text):
        chunks.append(text[start : match.start()])
        start = match.end()
    chunks.append(text[start:])
    padded = []
    line = 0
    for chunk in chunks:
        padded.append("\n" * line + chunk)
        line += chunk.count("\n")
    return padded


@dataclass(frozen=True)
class Expectation:
    severity: str
    line: int
    message: str
    at_line: int


def expectations(text: str) -> list[Expectation]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in EXPECTED.finditer(line):
            severity, where, message = match.groups()
            if where is None:
                target = number
            elif where == "above":
                target = number - 1
            elif where == "below":
                target = number + 1
            else:
                target = number + int(where)
            found.append(Expectation(severity, target, message, number))
    return found


def verify_diagnostics(text: str, produced: list[Diagnostic], display_name: str) -> list[str]:
    """mlir-opt's --verify-diagnostics: every expected-* comment matched, nothing else emitted."""
    problems = []
    expected = expectations(text)
    unmatched = list(expected)
    for diag in produced:
        line = diag.location.line if diag.location else None
        match = next(
            (
                e
                for e in unmatched
                if e.severity == diag.severity and e.line == line and e.message in diag.message
            ),
            None,
        )
        if match is not None:
            unmatched.remove(match)
        else:
            problems.append(
                diag.format({"-": display_name}).replace(
                    f"{diag.severity}: ", f"error: unexpected {diag.severity}: ", 1
                )
                if diag.location
                else f"error: unexpected {diag.severity}: {diag.message}"
            )
    for e in unmatched:
        problems.append(
            f'{display_name}:{e.at_line}: error: expected {e.severity} "{e.message}" was not '
            "produced"
        )
    return problems


def list_passes() -> str:
    lines = ["Our passes (usable as --NAME[='opts'] or inside --pass-pipeline):"]
    for name in sorted(PASS_REGISTRY):
        pass_class = lookup_pass(name)
        assert pass_class is not None
        lines.append(f"  {name}: {pass_class.summary}")
        for key, option in pass_class.option_names().items():
            lines.append(f"      {key}={option.default!r}")
    lines.append("Every upstream MLIR pass registered in torch-mlir is available as well")
    lines.append("(e.g. canonicalize, cse, one-shot-bufferize, func.func(tm-tensor-bufferize)).")
    return "\n".join(lines)


@quiet_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"modelopt-opt: {error}", file=sys.stderr)
        return 2
    if options.help:
        print(USAGE, end="")
        return 0
    if options.list_passes:
        print(list_passes())
        return 0

    unwritable = first_output_problem(
        [(options.output, False), (options.plan_report, False), (options.emit_ptx, True)]
    )
    if unwritable is not None:
        print(f"modelopt-opt: {unwritable}", file=sys.stderr)
        return 2
    try:
        text, display_name = read_text(options.input)
    except InvalidUtf8Error as error:
        print(f"{error.name}:{error.line}:{error.column}: error: {error.reason}", file=sys.stderr)
        return 1
    except InputError as error:
        print(f"modelopt-opt: {error}", file=sys.stderr)
        return 2

    context = make_context(options.allow_unregistered)
    try:
        with context:
            elements = (
                pipeline_elements(options.pipeline_text)
                if options.pipeline_text is not None
                else options.pipeline
            )
            stages = build_stages(elements)
    except UsageError as error:
        print(f"modelopt-opt: {error}", file=sys.stderr)
        return 2

    outputs: list[str] = []
    reports: list[dict[str, Any]] = []
    failed = False
    for chunk in split_chunks(text, options.split_input_file):
        result = run_chunk(chunk, stages, context, options.print_debuginfo, options.emit_ptx)
        reports.extend(result.reports)
        if options.verify_diagnostics:
            problems = verify_diagnostics(chunk, result.diagnostics.diagnostics, display_name)
            for problem in problems:
                print(problem, file=sys.stderr)
            failed |= bool(problems)
        else:
            result.diagnostics.print(sys.stderr, {"-": display_name})
            failed |= result.output is None
        if result.output is not None:
            outputs.append(result.output)

    try:
        if options.plan_report:
            # Locations name the input as diagnostics do (MLIR calls parsed text "-").
            document = build_plan_json(reports, source=display_name)
            report = json.dumps(document, indent=2) + "\n"
            Path(options.plan_report).write_text(report)
        if not failed or options.verify_diagnostics:
            rendered = "\n// -----\n".join(o.rstrip("\n") for o in outputs) + (
                "\n" if outputs else ""
            )
            if options.output and options.output != "-":
                Path(options.output).write_text(rendered)
            else:
                sys.stdout.write(rendered)
    except OSError as error:  # checked up front; this is a race or a full disk
        where = error.filename or "<stdout>"
        print(f"modelopt-opt: cannot write '{where}': {error.strerror}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
