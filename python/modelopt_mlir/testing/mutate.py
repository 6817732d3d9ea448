"""Mutation fuzzing of the command-line tools (issue 12, builds 3 and 4).

``mutants(count, seed)`` mutates the bundled examples and the lit inputs (delete, duplicate,
swap and move lines, replace tokens, truncate, insert bytes that are not UTF-8) and runs
``modelopt-opt --split-input-file --memory-plan='time-limit=1 ...'`` on each. Every run must end
with exit 0, 1 or 2 and no traceback; exit 1 prints an ``error:`` diagnostic; exit-0 output must
parse again.

``plan_inputs(count, seed)`` feeds ``modelopt-plan`` random valid problems (CSV intervals, graph
JSON, node-link JSON), which must solve with a plan that an independent check here accepts, and
malformed ones (bad numbers, negative sizes, lower >= upper, cycles, missing producers, bad
JSON, bytes that are not UTF-8, ...), which must exit 2 with a message naming the line or item.
Huge values may either solve or be refused that way.

Both return a Counter of outcomes; outcomes that are failures start with ``failed: ``.
``mutant_runs`` and ``plan_runs`` yield each run with its input, for printing the first failure.
Each tool runs in-process (its ``main(argv)``, what the console script calls) in a forked child,
so a crash or a hang is counted rather than fatal, at a fraction of a subprocess's start-up
cost. Everything is deterministic for a seed: run ``index`` of seed ``s`` is the same input
whatever ``count`` is.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import io
import json
import os
import pkgutil
import random
import re
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FAILED = "failed: "
REPO = Path(__file__).resolve().parents[3]
RUN_TIMEOUT_S = 60.0


# --- running a tool in a forked child ---------------------------------------------------------


@dataclass(frozen=True)
class ToolRun:
    """What one in-process tool run did. ``exit_code`` is None when it raised (``traceback``),
    was killed by a signal (``signal_number``) or ran out of time (``timed_out``)."""

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    traceback: str | None = None
    signal_number: int | None = None
    timed_out: bool = False
    reparse_error: str | None = None


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _run_tool(
    main: Callable[[Sequence[str]], int], argv: Sequence[str], reparse: Callable[[str], str | None]
) -> dict[str, Any]:
    """In the child: main(argv) with captured output, then ``reparse`` of what exit 0 printed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"exit_code": None}
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            result["exit_code"] = _exit_code(main(list(argv)))
        except SystemExit as exit_:
            result["exit_code"] = _exit_code(exit_.code)
        except BaseException:
            result["traceback"] = traceback.format_exc()
    result["stdout"] = stdout.getvalue()
    result["stderr"] = stderr.getvalue()
    if result["exit_code"] == 0:
        try:
            result["reparse_error"] = reparse(result["stdout"])
        except BaseException:
            result["reparse_error"] = traceback.format_exc()
    result["stdout"] = result["stdout"][:20000]  # enough to look at; the pipe stays small
    return result


def run_forked(
    main: Callable[[Sequence[str]], int],
    argv: Sequence[str],
    reparse: Callable[[str], str | None] = lambda _: None,
    timeout: float = RUN_TIMEOUT_S,
) -> ToolRun:
    """``main(argv)`` in a forked child (native output to /dev/null), killed after ``timeout``."""
    highspy = sys.modules.get("highspy")
    if highspy is not None:
        # HiGHS's global scheduler keeps worker threads that a forked child does not inherit:
        # a child whose MIP waits on them hangs (seen once in 150 runs after earlier tests in
        # the same process had solved MIPs). Shut them down; the next solve starts them again.
        highspy.Highs.resetGlobalScheduler(True)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(read_fd)
            faulthandler.disable()  # a crash is counted by the parent, not dumped by the child
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            payload = json.dumps(_run_tool(main, argv, reparse)).encode()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            status = 70
        os._exit(status)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            data = pipe.read(1 << 16)
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return ToolRun(None, timed_out=True)
    if os.WIFSIGNALED(status):
        return ToolRun(None, signal_number=os.WTERMSIG(status))
    try:
        result = json.loads(b"".join(chunks))
    except ValueError:
        return ToolRun(None, traceback=f"child exited {os.WEXITSTATUS(status)} without a result")
    return ToolRun(**result)


def _common_failure(run: ToolRun) -> str | None:
    if run.timed_out:
        return f"{FAILED}timeout"
    if run.signal_number is not None:
        return f"{FAILED}signal {run.signal_number}"
    if run.traceback is not None or "Traceback" in run.stderr:
        return f"{FAILED}traceback"
    if run.exit_code not in (0, 1, 2):
        return f"{FAILED}exit {run.exit_code}"
    return None


# --- modelopt-opt mutants ---------------------------------------------------------------------


@dataclass(frozen=True)
class MutationSource:
    path: Path
    lines: tuple[str, ...]  # without whole-line comments (except split markers)
    flags: tuple[str, ...]


_COMMENT_LINE = re.compile(r"^\s*//(?! -----)")
_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|[%@^#!][\w.$\-]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][\w.$]*|->|\S'
)
# Replacement tokens that stress the parser, types and sizes.
HOSTILE_TOKENS = (
    "0", "-1", "1", "3", "64", "4611686018427387904", "18446744073709551616", "?", "0x0",
    "1.0e+400", "nan", "i1", "i8", "i64", "f16", "bf16", "index", "f32", "none",
    "memref<?xf32>", "memref<0xf32>", "memref<f32>", "memref<4611686018427387904xf32>",
    "tensor<4xf32>", "{", "}", "(", ")", "[", "]", "<", ">", ",", ":", "=", '"', "%0",
    "%arg0", "%c0", "@main", "@f", "^bb1", "func.call", "func.return", "memref.alloc",
    "memref.dealloc", "memref.alloca", "memref.copy", "memref.view", "scf.yield", "linalg.fill",
    "#map", "affine_map<(d0) -> (d0)>", "dense<0.0>", "loc(unknown)", "//", "// -----",
    "llvm.noalias", "modelopt.update_in_place",
)  # fmt: skip
PLAN_OPTIONS = (
    ("time-limit=1", 6),
    ("time-limit=1 solver=greedy", 1),
    ("time-limit=1 reorder=false", 1),
    ("time-limit=1 alignment=16", 1),
    ("time-limit=1 mode=joint", 1),
    ("time-limit=1 recompute=auto", 2),
    ("time-limit=1 recompute=auto budget=4096", 1),
)


@cache
def mutation_sources(root: Path = REPO) -> tuple[MutationSource, ...]:
    """The bundled examples and every lit input under ``root/test`` (sorted, so seeds are
    stable while the files are)."""
    paths = sorted(
        p
        for p in (root / "test").rglob("*.mlir")
        if "Output" not in p.relative_to(root / "test").parts
    )
    sources = []
    for path in paths:
        text = path.read_text()
        lines = tuple(line for line in text.splitlines() if not _COMMENT_LINE.match(line))
        flags = ("--allow-unregistered-dialect",) if "--allow-unregistered-dialect" in text else ()
        if len(lines) >= 3:  # files that only point at other inputs have nothing to mutate
            sources.append(MutationSource(path, lines, flags))
    return tuple(sources)


def _replace_token(rng: random.Random, lines: list[str], pool: Sequence[str]) -> str:
    candidates = [i for i, line in enumerate(lines) if _TOKEN.search(line)]
    if not candidates:
        return "replace-token (no tokens)"
    index = rng.choice(candidates)
    matches = list(_TOKEN.finditer(lines[index]))
    match = rng.choice(matches)
    if rng.random() < 0.5 and pool:
        same_kind = [t for t in pool if t[:1] == match.group()[:1]]
        replacement = rng.choice(same_kind or pool)
    else:
        replacement = rng.choice(HOSTILE_TOKENS)
    line = lines[index]
    lines[index] = line[: match.start()] + replacement + line[match.end() :]
    return f"replace-token line {index + 1}: {match.group()!r} -> {replacement!r}"


# Ops without results (deallocs, copies, fills, stores, calls): deleting, duplicating or moving
# one mostly keeps the IR valid and changes lifetimes, dependences and dead buffers.
_EFFECT_LINE = re.compile(r"^\s*(memref|linalg|func\.call|scf|gpu)\b[\w.]*[ (%]")


def _mutate_effect(rng: random.Random, lines: list[str]) -> str:
    candidates = [i for i, line in enumerate(lines) if _EFFECT_LINE.match(line) and "=" not in line]
    if not candidates:
        return "effect (none)"
    i = rng.choice(candidates)
    action = rng.choice(["delete", "duplicate", "move"])
    if action == "delete":
        del lines[i]
        return f"delete effect line {i + 1}"
    if action == "duplicate":
        lines.insert(i, lines[i])
        return f"duplicate effect line {i + 1}"
    j = max(0, min(len(lines) - 1, i + rng.randint(-6, 6)))
    lines.insert(j, lines.pop(i))
    return f"move effect line {i + 1} to {j + 1}"


def _swap_operands(rng: random.Random, lines: list[str]) -> str:
    candidates = [i for i, line in enumerate(lines) if len(set(re.findall(r"%[\w.]+", line))) > 1]
    if not candidates:
        return "swap-operands (none)"
    i = rng.choice(candidates)
    names = sorted(set(re.findall(r"%[\w.]+", lines[i])))
    a, b = rng.sample(names, 2)
    lines[i] = re.sub(
        rf"(?<![\w.%]){re.escape(a)}(?![\w.])|(?<![\w.%]){re.escape(b)}(?![\w.])",
        lambda m: b if m.group() == a else a,
        lines[i],
    )
    return f"swap {a} and {b} on line {i + 1}"


def _mutate_once(rng: random.Random, lines: list[str], pool: Sequence[str]) -> str:
    kind = rng.choices(
        [
            "delete",
            "delete-block",
            "duplicate",
            "swap",
            "move",
            "replace-token",
            "effect",
            "swap-operands",
        ],
        [3, 1, 2, 2, 2, 6, 4, 2],
    )[0]
    if not lines:
        lines.append(rng.choice(HOSTILE_TOKENS))
        return "insert into empty"
    if kind == "effect":
        return _mutate_effect(rng, lines)
    if kind == "swap-operands":
        return _swap_operands(rng, lines)
    i = rng.randrange(len(lines))
    if kind == "delete":
        del lines[i]
        return f"delete line {i + 1}"
    if kind == "delete-block":
        length = rng.randint(2, 6)
        del lines[i : i + length]
        return f"delete lines {i + 1}-{i + length}"
    if kind == "duplicate":
        lines.insert(i, lines[i])
        return f"duplicate line {i + 1}"
    j = min(len(lines) - 1, i + 1) if rng.random() < 0.5 else rng.randrange(len(lines))
    if kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
        return f"swap lines {i + 1} and {j + 1}"
    if kind == "move":
        lines.insert(j, lines.pop(i))
        return f"move line {i + 1} to {j + 1}"
    return _replace_token(rng, lines, pool)


@dataclass(frozen=True)
class Mutant:
    index: int
    source: Path
    mutations: tuple[str, ...]
    data: bytes
    argv_options: tuple[str, ...]


def make_mutant(seed: int, index: int, sources: Sequence[MutationSource] | None = None) -> Mutant:
    """Mutant ``index`` of ``seed``: one to four mutations of one source, sometimes truncated or
    given bytes that are not UTF-8."""
    sources = mutation_sources() if sources is None else sources
    rng = random.Random(f"mutant:{seed}:{index}")
    source = rng.choice(sources)
    lines = list(source.lines)
    pool = sorted({m.group() for line in lines for m in _TOKEN.finditer(line)})
    mutations = [_mutate_once(rng, lines, pool) for _ in range(min(4, 1 + int(rng.expovariate(1))))]
    data = ("\n".join(lines) + "\n").encode()
    if rng.random() < 0.08:
        cut = rng.randrange(len(data) + 1)
        data = data[:cut]
        mutations.append(f"truncate at byte {cut}")
    if rng.random() < 0.03:
        at = rng.randrange(len(data) + 1)
        junk = rng.choice([b"\xff", b"\xc3", b"\x00", b"\xe2\x82", b"\r"])
        data = data[:at] + junk + data[at:]
        mutations.append(f"insert {junk!r} at byte {at}")
    options = rng.choices([o for o, _ in PLAN_OPTIONS], [w for _, w in PLAN_OPTIONS])[0]
    argv = (*source.flags, "--split-input-file", f"--memory-plan={options}")
    return Mutant(index, source.path, tuple(mutations), data, argv)


def _reparse_mlir(allow_unregistered: bool) -> Callable[[str], str | None]:
    def reparse(text: str) -> str | None:
        from torch_mlir import ir

        from modelopt_mlir.ir_context import make_context

        context = make_context(allow_unregistered)
        with context, ir.Location.unknown():
            for chunk in re.split(r"^// -----$", text, flags=re.MULTILINE):
                try:
                    ir.Module.parse(chunk).operation.verify()
                except ir.MLIRError as error:
                    return str(error)
        return None

    return reparse


@dataclass(frozen=True)
class FuzzRun:
    """One fuzzed run: its input, the command line (with ``{input}`` for the file), what the
    tool did and the outcome it was counted as."""

    index: int
    description: str
    data: bytes
    argv: tuple[str, ...]
    run: ToolRun
    outcome: str

    @property
    def failed(self) -> bool:
        return self.outcome.startswith(FAILED)


def mutant_outcome(run: ToolRun) -> str:
    failure = _common_failure(run)
    if failure is not None:
        return failure
    if run.exit_code == 0 and run.reparse_error is not None:
        return f"{FAILED}exit 0 output does not parse"
    if run.exit_code == 1 and "error:" not in run.stderr:
        return f"{FAILED}exit 1 without an error diagnostic"
    if run.exit_code == 2 and "modelopt-opt:" not in run.stderr:
        return f"{FAILED}exit 2 without a message"
    return f"exit {run.exit_code}"


def _import_passes() -> None:
    """Import every pass (the registry is lazy) and the solver, so that forked children neither
    import them each (slow) nor read files edited while a long run goes on."""
    from modelopt_mlir import solver
    from modelopt_mlir.passes import PASS_REGISTRY, lookup_pass

    for name in PASS_REGISTRY:
        lookup_pass(name)
    for module in pkgutil.walk_packages(solver.__path__, f"{solver.__name__}."):
        importlib.import_module(module.name)


def mutant_runs(count: int, seed: int, start: int = 0) -> Iterator[FuzzRun]:
    from modelopt_mlir.tools.opt import main

    _import_passes()

    sources = mutation_sources()
    with tempfile.TemporaryDirectory(prefix="modelopt-mutants-") as scratch:
        path = Path(scratch) / "mutant.mlir"
        for index in range(start, start + count):
            mutant = make_mutant(seed, index, sources)
            path.write_bytes(mutant.data)
            argv = (str(path), *mutant.argv_options)
            reparse = _reparse_mlir("--allow-unregistered-dialect" in argv)
            run = run_forked(main, argv, reparse)
            description = (
                f"mutant {seed}:{index} of {mutant.source.relative_to(REPO)}: "
                + "; ".join(mutant.mutations)
            )
            yield FuzzRun(
                index,
                description,
                mutant.data,
                ("modelopt-opt", "{input}", *mutant.argv_options),
                run,
                mutant_outcome(run),
            )


def mutants(count: int, seed: int) -> Counter[str]:
    """Outcomes of ``count`` mutants of seed ``seed``: ``exit 0``, ``exit 1``, ``exit 2`` or
    ``failed: ...`` (traceback, signal, timeout, other exit, output that does not parse)."""
    return Counter(run.outcome for run in mutant_runs(count, seed))


# --- modelopt-plan inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlanCase:
    """One modelopt-plan input. ``expect`` is ``valid`` (must solve, or exit 1 under a capacity),
    ``malformed`` (must exit 2 naming ``marker``) or ``huge`` (either). ``marker`` may contain
    ``{input}``, the file's path."""

    index: int
    description: str
    command: str
    suffix: str
    data: bytes
    expect: str
    marker: str = ""
    options: tuple[str, ...] = ()


HUGE_NUMBERS = (2**31, 2**32 + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 + 3, 10**30, 10**100)
BAD_INTEGERS = ("", "abc", "1.5", "1e3", "0x10", "nan", "inf", "--1", "1 2", "+-1", "2**8")


def _random_intervals(rng: random.Random) -> list[dict[str, int]]:
    ids = rng.sample(range(-3, 200), rng.randint(1, 20))
    rows = []
    for buffer_id in ids:
        lower = rng.randrange(0, 25)
        size = rng.choice([0, 1, 7, 64]) if rng.random() < 0.2 else rng.randint(1, 5000)
        rows.append(
            {"id": buffer_id, "lower": lower, "upper": lower + rng.randint(1, 10), "size": size}
        )
    return rows


def _intervals_csv(
    rows: list[dict[str, Any]],
    columns: list[str],
    header: list[str] | None = None,
    rng: random.Random | None = None,
) -> str:
    """CSV text; with ``rng``, sometimes CRLF, blank lines or no final newline (all valid)."""
    lines = [",".join(header or columns)]
    for row in rows:
        lines.append(",".join(str(row[c]) for c in columns))
        if rng is not None and rng.random() < 0.03:
            lines.append("")
    newline = "\r\n" if rng is not None and rng.random() < 0.1 else "\n"
    final = "" if rng is not None and rng.random() < 0.1 else newline
    return newline.join(lines) + final


def _csv_case(rng: random.Random, index: int) -> PlanCase:
    rows = _random_intervals(rng)
    columns = ["id", "lower", "upper", "size"]
    if rng.random() < 0.3:
        columns.append("alignment")
        for row in rows:
            row["alignment"] = rng.choice([1, 2, 4, 8, 16, 64])
    if rng.random() < 0.1:
        columns.append("offset")
        for row in rows:
            row["offset"] = rng.randint(0, 100)
    if rng.random() < 0.2:
        rng.shuffle(columns)
    options: tuple[str, ...] = ("--time-limit", "0.25")

    def case(description: str, data: bytes | str, expect: str, marker: str = "") -> PlanCase:
        data = data.encode() if isinstance(data, str) else data
        return PlanCase(index, description, "offsets", "csv", data, expect, marker, options)

    roll = rng.random()
    if roll < 0.45:
        if rng.random() < 0.2:
            options += ("--capacity", str(rng.randint(0, 20000)))
        return case("valid intervals", _intervals_csv(rows, columns, rng=rng), "valid")
    if roll < 0.55:
        row = rng.choice(rows)
        column = rng.choice(["size", "upper", "lower", "id"])
        row[column] = rng.choice(HUGE_NUMBERS)
        if column == "lower":
            row["upper"] = row["lower"] + 1
        text = _intervals_csv(rows, columns, rng=rng)
        return case(f"huge {column} {row[column]}", text, "huge", "{input}:")
    # Malformed: break one data row (line numbers count the header as line 1).
    line = rng.randrange(len(rows))
    row = rows[line]
    where = f"{{input}}:{line + 2}:"
    header = list(columns)
    breakage = rng.choice(
        [
            "integer",
            "negative-size",
            "negative-lower",
            "empty-interval",
            "cells",
            "duplicate-id",
            "alignment",
            "header",
            "empty",
            "not-utf8",
        ]
    )
    if breakage == "integer":
        column = rng.choice(columns)
        row[column] = rng.choice(BAD_INTEGERS)
        breakage += f" ({column} {row[column]!r})"
    elif breakage == "negative-size":
        row["size"] = -rng.randint(1, 10**6)
    elif breakage == "negative-lower":
        row["lower"] = -rng.randint(1, 5)
    elif breakage == "empty-interval":
        row["upper"] = row["lower"] - rng.randint(0, 3)
    elif breakage == "cells":
        lines = _intervals_csv(rows, columns).split("\n")
        cells = lines[line + 1].split(",")
        lines[line + 1] = ",".join(cells + ["7"] if rng.random() < 0.5 else cells[:-1])
        return case("wrong cell count", "\n".join(lines), "malformed", where)
    elif breakage == "duplicate-id":
        if len(rows) == 1:
            return case("valid intervals", _intervals_csv(rows, columns, rng=rng), "valid")
        later = rng.randrange(1, len(rows))
        rows[later]["id"] = rows[rng.randrange(later)]["id"]
        where = f"{{input}}:{later + 2}:"
    elif breakage == "alignment":
        if "alignment" not in columns:
            columns.append("alignment")
            header.append("alignment")
            for other in rows:
                other["alignment"] = 1
        row["alignment"] = rng.choice([0, -1, -64])
    elif breakage == "header":
        header[rng.randrange(len(header))] = rng.choice(["ID", "sz", "", "lo", "offset2"])
        where = "{input}:1:"
    elif breakage == "empty":
        data = rng.choice([b"", b"\n", b"\n\n  \n", b" , ,\n"])
        return case("empty file", data, "malformed", "{input}:1:")
    else:  # not UTF-8
        lines_bytes = _intervals_csv(rows, columns).encode().split(b"\n")
        raw = lines_bytes[line + 1]
        at = rng.randrange(len(raw) + 1)
        junk = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"])
        lines_bytes[line + 1] = raw[:at] + junk + raw[at:]
        return case(f"not UTF-8 {junk!r}", b"\n".join(lines_bytes), "malformed", where)
    return case(f"malformed {breakage}", _intervals_csv(rows, columns, header), "malformed", where)


def _random_graph(rng: random.Random) -> dict[str, Any]:
    """A random DAG in the tensor-list format: ops listed in a topological order (sometimes
    shuffled, which is allowed), tensors produced by an op or inputs, some pinned or outputs."""
    ops = [f"op{i}" for i in range(rng.randint(1, 14))]
    tensors: list[dict[str, Any]] = []
    for position, op in enumerate(ops):
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            later = ops[position + 1 :]
            consumers = rng.sample(later, min(len(later), rng.choice([0, 1, 1, 2, 3])))
            tensors.append(
                {
                    "name": f"t{len(tensors)}",
                    "size": rng.randint(0, 4096),
                    "producer": op,
                    "consumers": consumers,
                }
            )
            if rng.random() < 0.15:
                tensors[-1]["output"] = True
    for _ in range(rng.randint(0, 3)):
        tensors.append(
            {
                "name": f"in{len(tensors)}",
                "size": rng.randint(0, 4096),
                "producer": rng.choice(["", None]),
                "consumers": rng.sample(ops, min(len(ops), rng.randint(0, 2))),
            }
        )
        if rng.random() < 0.4:
            tensors[-1]["pinned"] = True
    rng.shuffle(tensors)
    graph: dict[str, Any] = {"ops": list(ops), "tensors": tensors}
    if len(ops) > 2 and rng.random() < 0.3:
        a, b = sorted(rng.sample(range(len(ops)), 2))
        graph["control_edges"] = [[ops[a], ops[b]]]
    if rng.random() < 0.2:
        rng.shuffle(graph["ops"])
    return graph


def _node_link(rng: random.Random) -> dict[str, Any]:
    count = rng.randint(1, 12)
    nodes = [{"id": f"n{i}", "size": rng.randint(0, 4096)} for i in range(count)]
    for node in nodes:
        if rng.random() < 0.1:
            node["pinned"] = True
    edges = [
        {"source": f"n{a}", "target": f"n{b}"}
        for a in range(count)
        for b in range(a + 1, count)
        if rng.random() < 0.25
    ]
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "edges": edges}


def _json_case(rng: random.Random, index: int) -> PlanCase:
    options = ("--time-limit", "0.25")

    def case(description: str, data: Any, expect: str, marker: str = "") -> PlanCase:
        if not isinstance(data, bytes):
            data = (data if isinstance(data, str) else json.dumps(data, indent=1)).encode()
        return PlanCase(index, description, "order", "json", data, expect, marker, options)

    roll = rng.random()
    if roll < 0.12:
        return case("valid node-link graph", _node_link(rng), "valid")
    graph = _random_graph(rng)
    if roll < 0.45:
        return case("valid graph", graph, "valid")
    tensors = graph["tensors"]
    if roll < 0.52 and tensors:
        tensor = rng.choice(tensors)
        tensor["size"] = rng.choice([*HUGE_NUMBERS, 1e300, 2.0**70])
        return case(f"huge size {tensor['size']}", graph, "huge", f"tensor '{tensor['name']}'")
    breakage = rng.choice(
        [
            "cycle",
            "self-consumer",
            "unknown-producer",
            "unknown-consumer",
            "negative-size",
            "size-type",
            "missing-field",
            "duplicate-op",
            "duplicate-tensor",
            "consumers-type",
            "control-edge",
            "control-edge-shape",
            "top-level",
            "ops-type",
            "syntax",
            "not-utf8",
            "deep-nesting",
            "empty-op-name",
            "node-link",
        ]
    )
    produced = [t for t in tensors if t["producer"] and t["consumers"]]
    if not tensors or (breakage in ("cycle", "self-consumer") and not produced):
        breakage = rng.choice(["top-level", "syntax", "duplicate-op"])
    tensor = (
        rng.choice(produced)
        if breakage in ("cycle", "self-consumer")
        else (rng.choice(tensors) if tensors else None)
    )
    label = f"tensor '{tensor['name']}'" if tensor else ""
    if breakage == "cycle":
        graph.setdefault("control_edges", []).append(
            [rng.choice(tensor["consumers"]), tensor["producer"]]
        )
        return case("cycle", graph, "malformed", "dependence cycle")
    if breakage == "self-consumer":
        tensor["consumers"].append(tensor["producer"])
        return case("self-consumer", graph, "malformed", label)
    if breakage == "unknown-producer":
        tensor["producer"] = "no_such_op"
        return case("unknown producer", graph, "malformed", label)
    if breakage == "unknown-consumer":
        tensor["consumers"].append("no_such_op")
        return case("unknown consumer", graph, "malformed", label)
    if breakage == "negative-size":
        tensor["size"] = -rng.randint(1, 10**9)
        return case("negative size", graph, "malformed", label)
    if breakage == "size-type":
        tensor["size"] = rng.choice(["12", 1.5, True, None, [], {}, float("nan"), float("inf")])
        return case(f"size {tensor['size']!r}", graph, "malformed", label)
    if breakage == "missing-field":
        field = rng.choice(["name", "size", "producer", "consumers"])
        del tensor[field]
        marker = f"missing field '{field}'"
        return case(f"missing {field}", graph, "malformed", marker)
    if breakage == "duplicate-op":
        op = rng.choice(graph["ops"])
        graph["ops"].insert(rng.randrange(len(graph["ops"]) + 1), op)
        return case("duplicate op", graph, "malformed", f"op '{op}'")
    if breakage == "duplicate-tensor":
        tensors.append(dict(tensor, consumers=[]))
        return case("duplicate tensor", graph, "malformed", label)
    if breakage == "consumers-type":
        tensor["consumers"] = rng.choice(["op0", 3, [1], None, {"op0": 1}])
        return case("consumers type", graph, "malformed", label)
    if breakage == "control-edge":
        graph.setdefault("control_edges", []).append([graph["ops"][0], "no_such_op"])
        return case("control edge to unknown op", graph, "malformed", "control edge")
    if breakage == "control-edge-shape":
        graph["control_edges"] = [rng.choice([["op0"], "op0", [], ["op0", "op0", "op0"], 5])]
        return case("control edge shape", graph, "malformed", "control edge")
    if breakage == "top-level":
        return case(
            "top level", rng.choice(["[]", "3", '"x"', "null", "[{}]"]), "malformed", "{input}"
        )
    if breakage == "ops-type":
        graph["ops"] = rng.choice(["op0", 3, None, {"op0": 1}])
        return case("ops type", graph, "malformed", "'ops'")
    if breakage == "syntax":
        text = json.dumps(graph, indent=1)
        cut = rng.randrange(len(text))
        return case(f"truncated at {cut}", text[:cut], "malformed", "invalid JSON")
    if breakage == "not-utf8":
        data = json.dumps(graph, indent=1).encode()
        at = rng.randrange(len(data) + 1)
        junk = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"])
        data = data[:at] + junk + data[at:]
        line = data.count(b"\n", 0, at) + 1
        return case(f"not UTF-8 {junk!r} at {at}", data, "malformed", f"{{input}}:{line}:")
    if breakage == "deep-nesting":
        depth = rng.choice([1000, 100_000])
        text = '{"ops": ' + "[" * depth + "]" * depth + ', "tensors": []}'
        return case(f"nesting {depth} deep", text, "malformed", "{input}")
    if breakage == "empty-op-name":
        graph["ops"].append("")
        return case("empty op name", graph, "malformed", "op names")
    link_graph = _node_link(rng)
    if rng.random() < 0.5:
        link_graph["edges"].append({"source": "n0", "target": "ghost"})
        return case("node-link edge to unknown node", link_graph, "malformed", "ghost")
    link_graph["edges"].append({"source": "n0"})
    return case("node-link edge without target", link_graph, "malformed", "node-link")


def make_plan_case(seed: int, index: int) -> PlanCase:
    """Input ``index`` of ``seed``: half interval CSV, half graph JSON."""
    rng = random.Random(f"plan:{seed}:{index}")
    return _csv_case(rng, index) if rng.random() < 0.5 else _json_case(rng, index)


def check_offsets_output(case: PlanCase, run: ToolRun) -> str | None:
    """Independently of the solver: every buffer placed once, aligned, and no two buffers live
    at the same step overlap in memory; the arena holds them all and is within the capacity."""
    from modelopt_mlir.solver.problem_files import parse_problem

    problem = parse_problem(case.data.decode(), "input")
    rows = [line.split(",") for line in run.stdout.strip().splitlines()]
    header, body = rows[0], rows[1:]
    if "offset" not in header:
        return "no offset column"
    placed = {int(r[header.index("id")]): int(r[header.index("offset")]) for r in body}
    if len(placed) != len(problem.buffers) or len(body) != len(problem.buffers):
        return f"{len(body)} rows for {len(problem.buffers)} buffers"
    arena = re.search(r"arena: (\d+)", run.stderr)
    end = 0
    for buffer in problem.buffers:
        offset = placed.get(buffer.id)
        if offset is None:
            return f"buffer {buffer.id} not placed"
        if offset < 0 or offset % buffer.alignment:
            return f"buffer {buffer.id} at offset {offset} (alignment {buffer.alignment})"
        end = max(end, offset + buffer.size)
    ordered = sorted(problem.buffers, key=lambda b: b.lower)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.lower >= a.upper:
                break
            if (
                a.size
                and b.size
                and placed[a.id] < placed[b.id] + b.size
                and (placed[b.id] < placed[a.id] + a.size)
            ):
                return f"buffers {a.id} and {b.id} overlap"
    if arena is None or end > int(arena.group(1)):
        return f"buffers end at {end}, beyond the reported arena"
    capacity = (
        case.options[case.options.index("--capacity") + 1] if "--capacity" in case.options else None
    )
    if capacity is not None and int(arena.group(1)) > int(capacity):
        return f"arena {arena.group(1)} beyond capacity {capacity}"
    return None


def _graph_peak(data: dict[str, Any], order: Sequence[str]) -> tuple[int, str | None]:
    """The peak of ``order`` under the documented memory model (solver/graph.py), computed here
    from the file, and the first dependence ``order`` breaks."""
    if "nodes" in data:
        names = [str(n["id"]) for n in data["nodes"]]
        succs: dict[str, list[str]] = {name: [] for name in names}
        for edge in data.get("links", data.get("edges", [])):
            if str(edge["target"]) not in succs[str(edge["source"])]:
                succs[str(edge["source"])].append(str(edge["target"]))
        tensors = [
            {
                "name": name,
                "size": int(n["size"]),
                "producer": name,
                "consumers": succs[name],
                "pinned": bool(n.get("pinned")),
                "output": not succs[name] and not n.get("pinned"),
            }
            for name, n in zip(names, data["nodes"], strict=True)
        ]
        control: list[list[str]] = []
    else:
        tensors = data["tensors"]
        control = data.get("control_edges", [])
    step = {op: position for position, op in enumerate(order)}
    for tensor in tensors:
        for consumer in tensor["consumers"]:
            if tensor["producer"] and step[tensor["producer"]] >= step[consumer]:
                return 0, f"{consumer} before {tensor['producer']}"
    for before, after in control:
        if step[before] >= step[after]:
            return 0, f"control edge {before} -> {after} broken"
    # Steps -1 (graph inputs) .. len(order) (outputs), as the synthetic source and sink.
    live = [0] * (len(order) + 2)
    pinned = 0
    for tensor in tensors:
        size = int(tensor["size"])
        if tensor.get("pinned"):
            pinned += size
            continue
        first = step[tensor["producer"]] if tensor["producer"] else -1
        last = max([first, *(step[c] for c in tensor["consumers"])])
        if tensor.get("output"):
            last = len(order)
        for moment in range(first, last + 1):
            live[moment + 1] += size
    return pinned + max(live), None


def check_order_output(case: PlanCase, run: ToolRun) -> str | None:
    """The order is a permutation of the ops that keeps every dependence, and its peak
    recomputed here is the reported peak, between the lower bound and program order's peak."""
    data = json.loads(case.data)
    result = json.loads(run.stdout)
    ops = [str(n["id"]) for n in data["nodes"]] if "nodes" in data else data["ops"]
    order = result["order"]
    if sorted(order) != sorted(ops):
        return f"order {order} is not a permutation of the ops"
    peak, broken = _graph_peak(data, order)
    if broken is not None:
        return f"order breaks a dependence: {broken}"
    if peak != result["peak"]:
        return f"reported peak {result['peak']}, recomputed {peak}"
    if not result["lower_bound"] <= peak <= result["program_order_peak"]:
        return (
            f"peak {peak} not between the lower bound {result['lower_bound']} and program "
            f"order's {result['program_order_peak']}"
        )
    return None


def plan_outcome(case: PlanCase, run: ToolRun, path: str) -> str:
    failure = _common_failure(run)
    if failure is not None:
        return failure
    code = run.exit_code
    if case.expect == "malformed" or (case.expect == "huge" and code == 2):
        if code != 2:
            return f"{FAILED}{case.expect} input exit {code}"
        marker = case.marker.replace("{input}", path)
        if marker not in run.stderr:
            return f"{FAILED}exit 2 without naming {marker!r}"
        return f"{case.expect}: exit 2"
    capacity = "--capacity" in case.options
    if code == 1 and capacity:
        return f"{case.expect}: exit 1 (capacity)"
    if code != 0:
        return f"{FAILED}{case.expect} input exit {code}"
    try:
        check = check_offsets_output if case.command == "offsets" else check_order_output
        problem = check(case, run)
    except Exception as error:  # the output itself is malformed
        problem = f"unreadable output: {type(error).__name__}: {error}"
    if problem is not None:
        return f"{FAILED}wrong plan ({problem})"
    return f"{case.expect}: exit 0"


def plan_runs(count: int, seed: int, start: int = 0) -> Iterator[FuzzRun]:
    from modelopt_mlir.tools.plan import main

    _import_passes()

    with tempfile.TemporaryDirectory(prefix="modelopt-plan-inputs-") as scratch:
        for index in range(start, start + count):
            case = make_plan_case(seed, index)
            path = Path(scratch) / f"input.{case.suffix}"
            path.write_bytes(case.data)
            argv = (case.command, str(path), *case.options)
            run = run_forked(main, argv)
            outcome = plan_outcome(case, run, str(path))
            yield FuzzRun(
                index,
                f"plan input {seed}:{index}: {case.command} {case.description}",
                case.data,
                ("modelopt-plan", case.command, "{input}", *case.options),
                run,
                outcome,
            )


def plan_inputs(count: int, seed: int) -> Counter[str]:
    """Outcomes of ``count`` modelopt-plan inputs of seed ``seed``: ``valid: exit 0``,
    ``valid: exit 1 (capacity)``, ``malformed: exit 2``, ``huge: exit 0`` / ``huge: exit 2``,
    or ``failed: ...``."""
    return Counter(run.outcome for run in plan_runs(count, seed))
