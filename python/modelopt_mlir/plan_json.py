"""The plan file: one JSON schema for every writer (``modelopt-opt --plan-report``,
``PlanResult.save``'s ``plan.json``, ``bench/plan_examples.py``'s ``NAME.plan.json``).

Schema ``"modelopt-mlir/plan"``, ``"version": 1`` (an integer, raised on any change a reader of
version 1 would misread)::

    {
      "schema": "modelopt-mlir/plan",
      "version": 1,
      "source": "input.mlir",            # the IR the ops' "loc" refer to (absent when unknown)
      "functions": [                     # one per planned func.func, in module order
        {
          "function": "main",
          "units": 120,                  # schedulable ops (the length of "order")
          "allocs": 40, "dead": 0,       # arena buffers; of them never used (erased)
          "left_alone": 0, "left_alone_bytes": 0,   # allocs kept outside the arena
          "sum_of_sizes": 0,             # bytes of all used arena buffers, no reuse
          "program_order_peak": 0,       # max live bytes in the order of the input
          "chosen_order_peak": 0,        # max live bytes of the chosen order
          "order_lower_bound": 0,        # bound over all orders (the chosen order's peak
                                         # when status is "heuristic": nothing searched)
          "arena_size": 0,
          "gap": 0.0,                    # (arena_size - order_lower_bound) / order_lower_bound
          "status": "optimal",           # optimal | feasible | timeout | heuristic
          "order_algorithm": "...", "offset_algorithm": "...",
          "analysis_seconds": 0.0, "solve_seconds": 0.0,
          "order": [OP, ...],            # the chosen order of the schedulable ops
          "buffers": [
            {"id": "main/buf3", "index": 3, "op": OP (its alloc), "type": "memref<4x4xf32>",
             "size": 64, "offset": 128, "first_step": 2, "last_step": 5, "dead": false,
             "kind": "forward"}          # kind only where known (plan(): forward, gradient,
          ],                             # optimizer, unknown)
          "outputs": [                   # only under outputs=arena: the out-params placed in
            {"argument": 3, "name": "output", "index": 0, "type": "memref<8x10xf32>",
             "size": 320, "offset": 0, "first_step": 7, "last_step": 9}
          ]                              # the arena, live to the return (step "units")
        }
      ],
      ...                                # extra sections: plan() adds "report" (PlanReport)
    }                                    # and "signature"; plan_examples adds "upstream"

    OP = {"id": "main/op17", "index": 17, "name": "linalg.generic", "loc": "input.mlir:42:5"}

An op's ``index`` is its position among the top-level ops of the function's body block in the
IR memory-plan read, before anything was reordered (0-based; constants, allocs, deallocs and
the return count), so ``list(func.regions[0].blocks[0].operations)[index]`` of the unplanned
function is the op, named ``name``. ``id`` is ``FUNCTION/opINDEX``. ``loc`` is
``file:line:col`` of the op's file location (the innermost one of a name or call-site
location), absent when it has none; MLIR calls text parsed from a string ``-``, which the
writer replaces by ``source``. A buffer's live interval ``first_step..last_step`` (inclusive)
is in positions of ``order``; ``offset``, ``first_step`` and ``last_step`` are null for a dead
buffer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "modelopt-mlir/plan"
VERSION = 1

_FILE_LOC = re.compile(r'"((?:[^"\\]|\\.)*)":(\d+):(\d+)')
_RESERVED = ("schema", "version", "source", "functions")
_FUNCTION_KEYS = (
    "function",
    "units",
    "allocs",
    "dead",
    "left_alone",
    "left_alone_bytes",
    "sum_of_sizes",
    "program_order_peak",
    "chosen_order_peak",
    "order_lower_bound",
    "arena_size",
    "gap",
    "status",
    "order",
    "buffers",
)
_BUFFER_KEYS = ("id", "index", "op", "type", "size", "offset", "first_step", "last_step", "dead")
_OP_KEYS = ("id", "index", "name")


class PlanJsonError(ValueError):
    """A document that is not a version-1 plan file; the message lists every problem."""


def file_location(location: str) -> str | None:
    """``file:line:col`` of the innermost file location in an MLIR location's text
    (``loc("a.mlir":3:5)``, ``loc("name"("a.mlir":3:5))``), or None when it has none."""
    match = _FILE_LOC.search(location)
    if match is None:
        return None
    return f"{match.group(1)}:{match.group(2)}:{match.group(3)}"


def op_record(function: str, index: int, name: str, location: str) -> dict[str, Any]:
    """The record naming one op: ``index`` among its function's top-level ops, its ``name`` and
    ``location`` (the MLIR location's text)."""
    record: dict[str, Any] = {"id": f"{function}/op{index}", "index": index, "name": name}
    loc = file_location(location)
    if loc is not None:
        record["loc"] = loc
    return record


def buffer_id(function: str, index: int) -> str:
    return f"{function}/buf{index}"


def _with_source(op: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    record = dict(op)
    loc = record.get("loc")
    if source is not None and isinstance(loc, str) and loc.startswith("-:"):
        record["loc"] = source + loc[1:]
    return record


def function_entry(report: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The schema's entry for one memory-plan function report (``passes.memory_plan
    .function_report``, or ``PlanResult.function_report`` with a ``kind`` per buffer)."""
    entry: dict[str, Any] = {
        "function": report["function"],
        "units": report["units"],
        "allocs": report["allocs"],
        "dead": report["dead"],
        "left_alone": report["left_alone"],
        "left_alone_bytes": report["left_alone_bytes"],
        "sum_of_sizes": report["sum_of_sizes"],
        "program_order_peak": report["program_order_peak"],
        # The pass's "lower_bound" is the chosen order's peak; the file says what it is.
        "chosen_order_peak": report["lower_bound"],
        "order_lower_bound": report["order_lower_bound"],
        "arena_size": report["arena_size"],
        "gap": report["gap"],
        "status": report["status"],
        "order_algorithm": report["order_algorithm"],
        "offset_algorithm": report["offset_algorithm"],
        "analysis_seconds": report["analysis_seconds"],
        "solve_seconds": report["solve_seconds"],
        "order": [_with_source(op, source) for op in report["order"]],
    }
    buffers = []
    for buffer in report["buffers"]:
        record = {key: buffer[key] for key in _BUFFER_KEYS}
        record["op"] = _with_source(buffer["op"], source)
        if buffer.get("kind") is not None:
            record["kind"] = buffer["kind"]
        if "recompute_of" in buffer:  # a copy recompute added: the buffer it recomputes
            record["recompute_of"] = buffer["recompute_of"]
        buffers.append(record)
    entry["buffers"] = buffers
    if "outputs" in report:
        entry["outputs"] = [dict(output) for output in report["outputs"]]
    if report.get("recompute"):
        # what recompute=auto did: buffers, cloned ops, extra and step FLOPs, the arena
        # without it; the order's op ids then index the function after the clones went in
        entry["recompute"] = dict(report["recompute"])
    return entry


def build_plan_json(
    reports: Sequence[Mapping[str, Any]],
    *,
    source: str | None = None,
    sections: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan file of memory-plan's function reports (one per planned function). ``source``
    names the IR the reports were made from (it replaces MLIR's ``-`` in locations);
    ``sections`` are extra top-level sections (e.g. ``report``, ``signature``)."""
    doc: dict[str, Any] = {"schema": SCHEMA, "version": VERSION}
    if source is not None:
        doc["source"] = source
    doc["functions"] = [function_entry(report, source) for report in reports]
    for key, value in (sections or {}).items():
        if key in _RESERVED:
            raise ValueError(f"section '{key}' is reserved by the plan schema")
        doc[key] = value
    return doc


def validate_plan_json(doc: Any) -> None:
    """Raise PlanJsonError unless ``doc`` is a version-1 plan file: schema and version, every
    function's required keys, op ids that match their function and index, a permutation-sized
    order, buffer intervals inside the order."""
    problems: list[str] = []
    if not isinstance(doc, Mapping):
        raise PlanJsonError(f"a plan file is a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        problems.append(f"'schema' is {doc.get('schema')!r}, expected {SCHEMA!r}")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        problems.append(f"'version' is {version!r}, expected the integer {VERSION}")
    functions = doc.get("functions")
    if not isinstance(functions, list):
        problems.append("'functions' is missing or not a list")
        functions = []
    for position, function in enumerate(functions):
        where = f"functions[{position}]"
        if not isinstance(function, Mapping):
            problems.append(f"{where} is not an object")
            continue
        missing = [key for key in _FUNCTION_KEYS if key not in function]
        if missing:
            problems.append(f"{where} lacks {', '.join(missing)}")
            continue
        name = function["function"]
        order = function["order"]
        for step, op in enumerate(order):
            problems += _op_problems(op, name, f"{where}.order[{step}]")
        ids = [op.get("id") for op in order if isinstance(op, Mapping)]
        if len(set(ids)) != len(ids):
            problems.append(f"{where}.order names an op twice")
        if len(order) != function["units"]:
            problems.append(f"{where}.order has {len(order)} ops, 'units' says {function['units']}")
        for index, buffer in enumerate(function["buffers"]):
            at = f"{where}.buffers[{index}]"
            lacking = [key for key in _BUFFER_KEYS if key not in buffer]
            if lacking:
                problems.append(f"{at} lacks {', '.join(lacking)}")
                continue
            if buffer["id"] != buffer_id(name, buffer["index"]):
                problems.append(
                    f"{at}.id is {buffer['id']!r}, expected {buffer_id(name, buffer['index'])!r}"
                )
            problems += _op_problems(buffer["op"], name, f"{at}.op")
            first, last = buffer["first_step"], buffer["last_step"]
            if buffer["dead"]:
                continue
            if not (isinstance(first, int) and isinstance(last, int)):
                problems.append(f"{at}: a live buffer needs integer first_step and last_step")
            elif not 0 <= first <= last < max(len(order), 1):
                problems.append(f"{at}: steps {first}..{last} outside the order's {len(order)}")
    if problems:
        raise PlanJsonError("not a version-1 plan file:\n  " + "\n  ".join(problems))


def _op_problems(op: Any, function: str, where: str) -> list[str]:
    if not isinstance(op, Mapping):
        return [f"{where} is not an object"]
    missing = [key for key in _OP_KEYS if key not in op]
    if missing:
        return [f"{where} lacks {', '.join(missing)}"]
    if type(op["index"]) is not int or op["index"] < 0:
        return [f"{where}.index is {op['index']!r}, expected a non-negative integer"]
    expected = f"{function}/op{op['index']}"
    if op["id"] != expected:
        return [f"{where}.id is {op['id']!r}, expected {expected!r}"]
    return []
