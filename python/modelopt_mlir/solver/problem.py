"""Plain problem and plan types. The solver knows nothing about MLIR."""

from __future__ import annotations

from dataclasses import dataclass, field


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment if alignment > 1 else value


@dataclass(frozen=True)
class IntervalBuffer:
    """A buffer live over the half-open step interval [lower, upper)."""

    id: int
    lower: int
    upper: int
    size: int
    alignment: int = 1

    def overlaps_in_time(self, other: IntervalBuffer) -> bool:
        return self.lower < other.upper and other.lower < self.upper


@dataclass(frozen=True)
class IntervalProblem:
    """Find an offset per buffer so that buffers live at the same time never overlap."""

    buffers: tuple[IntervalBuffer, ...]
    capacity: int | None = None


@dataclass(frozen=True)
class OffsetPlan:
    offsets: dict[int, int]
    arena_size: int
    algorithm: str


@dataclass(frozen=True)
class ScheduleProblem:
    """Order ``num_units`` units so every (before, after) edge holds.

    Buffer ``b`` has ``sizes[b]`` bytes and is live from the first through the last of its
    ``users[b]`` (unit indices) in the chosen order. The given program order is 0..n-1 and
    satisfies every edge.
    """

    num_units: int
    edges: tuple[tuple[int, int], ...]
    sizes: tuple[int, ...]
    users: tuple[tuple[int, ...], ...]
    alignment: tuple[int, ...] = ()

    def buffer_alignment(self, buffer: int) -> int:
        return self.alignment[buffer] if self.alignment else 1

    def predecessors(self) -> list[list[int]]:
        preds: list[list[int]] = [[] for _ in range(self.num_units)]
        for before, after in self.edges:
            preds[after].append(before)
        return preds

    def successors(self) -> list[list[int]]:
        succs: list[list[int]] = [[] for _ in range(self.num_units)]
        for before, after in self.edges:
            succs[before].append(after)
        return succs

    def buffers_of_unit(self) -> list[list[int]]:
        by_unit: list[list[int]] = [[] for _ in range(self.num_units)]
        for buffer, users in enumerate(self.users):
            for unit in set(users):
                by_unit[unit].append(buffer)
        return by_unit


@dataclass(frozen=True)
class OrderPlan:
    order: tuple[int, ...]
    peak: int
    algorithm: str


@dataclass(frozen=True)
class ArenaPlan:
    """A complete plan: an order of units and an arena offset per buffer."""

    order: tuple[int, ...]
    offsets: dict[int, int]
    arena_size: int
    lower_bound: int
    program_order_peak: int
    order_algorithm: str
    offset_algorithm: str
    solve_seconds: float
    intervals: tuple[IntervalBuffer, ...] = field(default=())
    # A bound over every valid order (<= lower_bound, the max live bytes of this plan's order);
    # under greedy the op-local one (the most bytes one unit uses).
    order_lower_bound: int | None = None
    # "heuristic" (greedy), "optimal" (arena == best bound), "feasible", or "timeout" (the
    # search stopped at the work limit the time limit buys, with a gap left).
    status: str = "heuristic"
    # The clock's safety stop fired before the work limit: this plan may differ between runs.
    clock_stopped: bool = False

    @property
    def best_bound(self) -> int:
        return self.lower_bound if self.order_lower_bound is None else self.order_lower_bound

    @property
    def gap(self) -> float:
        """(arena - best bound) / best bound."""
        if self.best_bound == 0:
            return 0.0
        return (self.arena_size - self.best_bound) / self.best_bound
