"""The graph problem for people who bring their own compiler: named ops and tensors.

Memory model: a tensor is live from its producer's step through its last consumer's step,
inclusive. A tensor marked ``output`` stays live from its producer's step to the end; any other
tensor without consumers is live at its producer's step only. A tensor without a producer
(``producer == ""``, a graph input) is live from the start. A pinned tensor (weights, optimizer
state) is live for the whole step: its bytes are a constant added to every step's peak.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from modelopt_mlir.solver.errors import ProblemFileError
from modelopt_mlir.solver.problem import ScheduleProblem


@dataclass(frozen=True)
class GraphTensor:
    name: str
    size: int
    producer: str
    consumers: tuple[str, ...] = ()
    pinned: bool = False
    output: bool = False


@dataclass(frozen=True)
class GraphProblem:
    ops: tuple[str, ...]
    tensors: tuple[GraphTensor, ...]
    control_edges: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GraphUnits:
    """How ops map to schedule units. ``source``/``sink`` are synthetic units (or None): the
    source holds graph inputs from the start, the sink holds outputs to the end."""

    op_index: dict[str, int]
    source: int | None
    sink: int | None

    def op_order(self, order: Sequence[int]) -> tuple[str, ...]:
        name_of = {index: name for name, index in self.op_index.items()}
        return tuple(name_of[unit] for unit in order if unit in name_of)


def check_graph(graph: GraphProblem, source_name: str = "graph") -> None:
    """Raise ProblemFileError naming the first malformed item: duplicate or unknown names,
    negative sizes, cycles."""
    where = f"{source_name}: "
    seen_ops: set[str] = set()
    for op in graph.ops:
        if not isinstance(op, str) or not op:
            raise ProblemFileError(f"{where}op names must be non-empty strings, got {op!r}")
        if op in seen_ops:
            raise ProblemFileError(f"{where}op '{op}' is listed twice")
        seen_ops.add(op)
    seen_tensors: set[str] = set()
    for tensor in graph.tensors:
        label = f"{where}tensor '{tensor.name}'"
        if tensor.name in seen_tensors:
            raise ProblemFileError(f"{label} is listed twice")
        seen_tensors.add(tensor.name)
        if isinstance(tensor.size, bool) or not isinstance(tensor.size, int):
            raise ProblemFileError(f"{label}: size must be an integer, got {tensor.size!r}")
        if tensor.size < 0:
            raise ProblemFileError(f"{label}: negative size {tensor.size}")
        if tensor.producer and tensor.producer not in seen_ops:
            raise ProblemFileError(f"{label}: unknown producer op '{tensor.producer}'")
        for consumer in tensor.consumers:
            if consumer not in seen_ops:
                raise ProblemFileError(f"{label}: unknown consumer op '{consumer}'")
            if consumer == tensor.producer:
                raise ProblemFileError(
                    f"{label}: op '{consumer}' consumes its own output (a cycle)"
                )
    for before, after in graph.control_edges:
        for op in (before, after):
            if op not in seen_ops:
                raise ProblemFileError(
                    f"{where}control edge ['{before}', '{after}']: unknown op '{op}'"
                )
    edges = _op_edges(graph)
    ordered = _stable_topological_order(graph.ops, edges)
    if len(ordered) == len(graph.ops):
        return
    # Only ops on or after a cycle are left unordered: look for the cycle among them.
    left = set(graph.ops) - set(ordered)
    dependences = nx.DiGraph((a, b) for a, b in edges if a in left and b in left)
    cycle = nx.find_cycle(dependences)
    path = " -> ".join([str(edge[0]) for edge in cycle] + [str(cycle[0][0])])
    raise ProblemFileError(f"{where}dependence cycle through ops {path}")


def _op_edges(graph: GraphProblem) -> list[tuple[str, str]]:
    edges = [
        (tensor.producer, consumer)
        for tensor in graph.tensors
        if tensor.producer
        for consumer in tensor.consumers
    ]
    edges.extend(graph.control_edges)
    return edges


def _stable_topological_order(ops: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """A topological order that keeps the listed order wherever the edges allow it."""
    rank = {op: index for index, op in enumerate(ops)}
    succs: dict[str, set[str]] = {op: set() for op in ops}
    for before, after in edges:
        succs[before].add(after)
    indegree = dict.fromkeys(ops, 0)
    for targets in succs.values():
        for after in targets:
            indegree[after] += 1
    heap = [rank[op] for op in ops if indegree[op] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        op = ops[heapq.heappop(heap)]
        order.append(op)
        for after in succs[op]:
            indegree[after] -= 1
            if indegree[after] == 0:
                heapq.heappush(heap, rank[after])
    return order


def to_schedule_problem(
    graph: GraphProblem, source_name: str = "graph"
) -> tuple[ScheduleProblem, int, GraphUnits]:
    """The schedule problem of a graph, the pinned bytes, and the op-to-unit map.

    Units are numbered in a topological order that keeps the listed op order where it can, so
    the program order 0..n-1 is valid. Outputs get a synthetic sink unit after every op that
    uses them; inputs a synthetic source unit before every op. Drop both from orders with
    ``GraphUnits.op_order``.
    """
    check_graph(graph, source_name)
    op_edges = _op_edges(graph)
    ordered = _stable_topological_order(graph.ops, op_edges)
    has_inputs = any(not t.producer and not t.pinned for t in graph.tensors)
    has_outputs = any(t.output and not t.pinned for t in graph.tensors)
    offset = 1 if has_inputs else 0
    op_index = {op: index + offset for index, op in enumerate(ordered)}
    source = 0 if has_inputs else None
    sink = len(ordered) + offset if has_outputs else None
    num_units = len(ordered) + offset + (1 if has_outputs else 0)

    edges = {(op_index[before], op_index[after]) for before, after in op_edges}
    if source is not None or sink is not None:
        has_pred = {after for _, after in edges}
        has_succ = {before for before, _ in edges}
        for unit in op_index.values():
            if source is not None and unit not in has_pred:
                edges.add((source, unit))
            if sink is not None and unit not in has_succ:
                edges.add((unit, sink))
        if source is not None and sink is not None and not op_index:
            edges.add((source, sink))

    pinned_bytes = 0
    sizes: list[int] = []
    users: list[tuple[int, ...]] = []
    for tensor in graph.tensors:
        if tensor.pinned:
            pinned_bytes += tensor.size
            continue
        first = op_index[tensor.producer] if tensor.producer else source
        assert first is not None
        tensor_users = {first, *(op_index[c] for c in tensor.consumers)}
        if tensor.output:
            assert sink is not None
            tensor_users.add(sink)
        sizes.append(tensor.size)
        users.append(tuple(sorted(tensor_users)))
    problem = ScheduleProblem(num_units, tuple(sorted(edges)), tuple(sizes), tuple(users))
    return problem, pinned_bytes, GraphUnits(op_index, source, sink)
