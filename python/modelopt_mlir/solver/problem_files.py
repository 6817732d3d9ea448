"""Problem files: offset problems as CSV (read and written), graph problems as JSON (read).

The CSV is the format that MiniMalloc and idealloc share: a header naming the columns
``id,lower,upper,size`` and optionally ``alignment`` or ``offset``; one buffer per line, live on
the half-open step interval ``[lower, upper)``. An ``offset`` column (a reference solution) is
read and ignored. The graph JSON is described at :func:`graph_from_json`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from modelopt_mlir.solver.errors import ProblemFileError
from modelopt_mlir.solver.graph import GraphProblem, GraphTensor, check_graph
from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem

REQUIRED_COLUMNS = ("id", "lower", "upper", "size")
OPTIONAL_COLUMNS = ("alignment", "offset")


def parse_problem(
    text: str, name: str = "<string>", capacity: int | None = None
) -> IntervalProblem:
    """Read the CSV text of an offset problem; errors name the file and line."""
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    buffers: list[IntervalBuffer] = []
    seen: dict[int, int] = {}
    for index, row in enumerate(rows):
        line = index + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if header is None:
            header = cells
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ProblemFileError(
                    f"{name}:{line}: missing column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} in header (need {','.join(REQUIRED_COLUMNS)})"
                )
            unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            if unknown:
                raise ProblemFileError(f"{name}:{line}: unknown column {unknown[0]!r} in header")
            continue
        if len(cells) != len(header):
            raise ProblemFileError(
                f"{name}:{line}: expected {len(header)} values ({','.join(header)}), "
                f"got {len(cells)}"
            )
        values: dict[str, int] = {}
        for column, cell in zip(header, cells, strict=True):
            try:
                values[column] = int(cell)
            except ValueError:
                raise ProblemFileError(
                    f"{name}:{line}: {column} must be an integer, got {cell!r}"
                ) from None
        if values["size"] < 0:
            raise ProblemFileError(f"{name}:{line}: size must be >= 0, got {values['size']}")
        if values["lower"] < 0:
            raise ProblemFileError(f"{name}:{line}: lower must be >= 0, got {values['lower']}")
        if values["lower"] >= values["upper"]:
            raise ProblemFileError(
                f"{name}:{line}: lower must be < upper, got lower={values['lower']} "
                f"upper={values['upper']}"
            )
        alignment = values.get("alignment", 1)
        if alignment < 1:
            raise ProblemFileError(f"{name}:{line}: alignment must be >= 1, got {alignment}")
        if values["id"] in seen:
            raise ProblemFileError(
                f"{name}:{line}: duplicate id {values['id']} (first on line {seen[values['id']]})"
            )
        seen[values["id"]] = line
        buffers.append(
            IntervalBuffer(
                values["id"], values["lower"], values["upper"], values["size"], alignment
            )
        )
    if header is None:
        raise ProblemFileError(
            f"{name}:1: empty file, expected a header {','.join(REQUIRED_COLUMNS)}"
        )
    return IntervalProblem(tuple(buffers), capacity)


def read_problem(path: str | Path, capacity: int | None = None) -> IntervalProblem:
    path = Path(path)
    return parse_problem(path.read_text(), path.name, capacity)


def format_problem(problem: IntervalProblem, offsets: Mapping[int, int] | None = None) -> str:
    """The CSV text of a problem: an alignment column when any buffer needs one, an offset
    column when ``offsets`` are given."""
    aligned = any(b.alignment > 1 for b in problem.buffers)
    columns = list(REQUIRED_COLUMNS) + (["alignment"] if aligned else [])
    columns += ["offset"] if offsets is not None else []
    lines = [",".join(columns)]
    for b in problem.buffers:
        cells = [b.id, b.lower, b.upper, b.size]
        cells += [b.alignment] if aligned else []
        cells += [offsets[b.id]] if offsets is not None else []
        lines.append(",".join(str(c) for c in cells))
    return "\n".join(lines) + "\n"


def _field(item: Mapping[str, Any], key: str, label: str) -> Any:
    if key not in item:
        raise ProblemFileError(f"{label}: missing field '{key}'")
    return item[key]


def _size(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ProblemFileError(f"{label}: size must be an integer, got {value!r}")
    if value < 0:
        raise ProblemFileError(f"{label}: negative size {value}")
    return value


def graph_from_json(data: Any, source_name: str = "graph") -> GraphProblem:
    """Read ``{"ops": [...], "tensors": [...], "control_edges": [[a, b], ...]}`` or networkx
    node-link JSON (each node's ``size`` is its single output's bytes; optional ``pinned``; a
    node without successors is an output)."""
    where = f"{source_name}: "
    if not isinstance(data, Mapping):
        raise ProblemFileError(f"{where}expected a JSON object, got {type(data).__name__}")
    if "nodes" in data and ("links" in data or "edges" in data):
        graph = _graph_from_node_link(data, source_name)
    else:
        graph = _graph_from_tensor_list(data, source_name)
    check_graph(graph, source_name)
    return graph


def _graph_from_tensor_list(data: Mapping[str, Any], source_name: str) -> GraphProblem:
    where = f"{source_name}: "
    ops = _field(data, "ops", f"{where}problem")
    if not isinstance(ops, list):
        raise ProblemFileError(f"{where}'ops' must be a list of op names")
    raw_tensors = _field(data, "tensors", f"{where}problem")
    if not isinstance(raw_tensors, list):
        raise ProblemFileError(f"{where}'tensors' must be a list")
    tensors = []
    for index, item in enumerate(raw_tensors):
        if not isinstance(item, Mapping):
            raise ProblemFileError(f"{where}tensor #{index}: expected an object")
        name = item.get("name")
        label = f"{where}tensor '{name}'" if name is not None else f"{where}tensor #{index}"
        name = _field(item, "name", label)
        size = _size(_field(item, "size", label), label)
        producer = _field(item, "producer", label)
        consumers = _field(item, "consumers", label)
        if producer is None:
            producer = ""
        if not isinstance(producer, str):
            raise ProblemFileError(f"{label}: producer must be an op name, got {producer!r}")
        if not isinstance(consumers, list) or not all(isinstance(c, str) for c in consumers):
            raise ProblemFileError(f"{label}: consumers must be a list of op names")
        tensors.append(
            GraphTensor(
                name=str(name),
                size=size,
                producer=producer,
                consumers=tuple(dict.fromkeys(consumers)),
                pinned=bool(item.get("pinned", False)),
                output=bool(item.get("output", False)),
            )
        )
    control_edges = []
    for index, edge in enumerate(data.get("control_edges", [])):
        if not isinstance(edge, list | tuple) or len(edge) != 2:
            raise ProblemFileError(f"{where}control edge #{index}: expected [before, after]")
        control_edges.append((str(edge[0]), str(edge[1])))
    return GraphProblem(tuple(str(op) for op in ops), tuple(tensors), tuple(control_edges))


def _graph_from_node_link(data: Mapping[str, Any], source_name: str) -> GraphProblem:
    where = f"{source_name}: "
    links_key = "links" if "links" in data else "edges"
    try:
        graph = nx.node_link_graph({**data, "directed": True}, edges=links_key)
    except (KeyError, TypeError, nx.NetworkXError) as error:
        raise ProblemFileError(f"{where}malformed node-link graph: {error}") from error
    names = {node: str(node) for node in graph.nodes}
    if len(set(names.values())) != len(names):
        raise ProblemFileError(f"{where}two nodes have the same name")
    tensors = []
    for node, attributes in graph.nodes(data=True):
        label = f"{where}node '{names[node]}'"
        size = _size(_field(attributes, "size", label), label)
        consumers = tuple(dict.fromkeys(names[succ] for succ in graph.successors(node)))
        pinned = bool(attributes.get("pinned", False))
        tensors.append(
            GraphTensor(
                name=names[node],
                size=size,
                producer=names[node],
                consumers=consumers,
                pinned=pinned,
                output=not consumers and not pinned,
            )
        )
    return GraphProblem(tuple(names[node] for node in graph.nodes), tuple(tensors), ())
