"""Interval problems as parallel numpy arrays, the form every offset solver works on, with their
load profile and the int64 limits of offsets and sizes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelopt_mlir.solver.problem import IntervalProblem, OffsetPlan, align_up

# Offsets and sizes live in int64 arrays; every arena must fit there.
INT64_MAX = (1 << 63) - 1


class ArenaOverflowError(ValueError):
    """Buffer sizes whose arena may not fit in a signed 64-bit integer."""


def first_overflow(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """For (size, alignment) pairs: (position, bytes needed) of the first buffer that alone, or
    with the ones before it, may need more than INT64_MAX bytes of arena; None when all fit.
    Best-fit leaves at most alignment - 1 bytes of padding below a buffer, so the sum of padded
    sizes plus that padding bounds every arena the heuristics build."""
    total = 0
    for position, (size, alignment) in enumerate(sizes):
        padded = align_up(size, max(1, alignment))
        total += padded + max(1, alignment) - 1
        if padded > INT64_MAX or total > INT64_MAX:
            return position, max(padded, total)
    return None


@dataclass(frozen=True)
class IntervalArrays:
    """The buffers of an interval problem as parallel arrays; ``size`` is padded to alignment."""

    ids: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    raw_size: np.ndarray
    size: np.ndarray
    alignment: np.ndarray

    @staticmethod
    def from_problem(problem: IntervalProblem) -> IntervalArrays:
        bufs = problem.buffers
        overflow = first_overflow([(b.size, b.alignment) for b in bufs])
        if overflow is not None:
            position, needed = overflow
            raise ArenaOverflowError(
                f"buffer {bufs[position].id} (size {bufs[position].size}) brings the arena to "
                f"up to {needed} bytes, more than a signed 64-bit size can hold ({INT64_MAX})"
            )
        for b in bufs:
            for name in ("id", "lower", "upper"):
                if not -INT64_MAX - 1 <= getattr(b, name) <= INT64_MAX:
                    raise ArenaOverflowError(
                        f"buffer {b.id}: {name} {getattr(b, name)} does not fit a signed 64-bit "
                        "integer"
                    )
            if b.lower >= b.upper:
                raise ValueError(
                    f"buffer {b.id}: lower {b.lower} >= upper {b.upper}; a live interval "
                    "[lower, upper) needs at least one step"
                )
        alignment = np.array([max(1, b.alignment) for b in bufs], dtype=np.int64)
        raw = np.array([b.size for b in bufs], dtype=np.int64)
        return IntervalArrays(
            ids=np.array([b.id for b in bufs], dtype=np.int64),
            lower=np.array([b.lower for b in bufs], dtype=np.int64),
            upper=np.array([b.upper for b in bufs], dtype=np.int64),
            raw_size=raw,
            size=-(-raw // alignment) * alignment,
            alignment=alignment,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> IntervalArrays:
        """The buffers at ``index`` (positions into these arrays), in that order."""
        return IntervalArrays(
            self.ids[index],
            self.lower[index],
            self.upper[index],
            self.raw_size[index],
            self.size[index],
            self.alignment[index],
        )

    def plan(self, offsets: np.ndarray, algorithm: str) -> OffsetPlan:
        arena = int((offsets + self.size).max()) if len(self) else 0
        return OffsetPlan(
            dict(zip(self.ids.tolist(), offsets.tolist(), strict=True)), arena, algorithm
        )


def padded_max_live(arrays: IntervalArrays) -> int:
    """Largest total padded size live at one step: a lower bound for any placement."""
    profile = load_profile(arrays)
    return int(profile.max()) if len(profile) else 0


def load_profile(arrays: IntervalArrays) -> np.ndarray:
    """Total padded size live in each elementary section between consecutive event times."""
    times = np.unique(np.concatenate([arrays.lower, arrays.upper]))
    delta = np.zeros(len(times) + 1, dtype=np.int64)
    np.add.at(delta, np.searchsorted(times, arrays.lower), arrays.size)
    np.add.at(delta, np.searchsorted(times, arrays.upper), -arrays.size)
    return np.cumsum(delta)[: max(len(times) - 1, 0)]


def max_load_over_lifetime(arrays: IntervalArrays) -> np.ndarray:
    """For each buffer, the largest load of a section it is live in (range max, sparse table)."""
    n = len(arrays)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    times = np.unique(np.concatenate([arrays.lower, arrays.upper]))
    first = np.searchsorted(times, arrays.lower)
    last = np.searchsorted(times, arrays.upper)  # exclusive section index
    profile = load_profile(arrays)
    table = [profile]
    while (1 << len(table)) <= len(profile):
        prev, half = table[-1], 1 << (len(table) - 1)
        table.append(np.maximum(prev[:-half], prev[half:]))
    length = np.maximum(last - first, 1)
    level = np.floor(np.log2(length)).astype(np.int64)
    result = np.zeros(n, dtype=np.int64)
    for lv in np.unique(level):
        mask = level == lv
        row = table[lv]
        result[mask] = np.maximum(row[first[mask]], row[last[mask] - (1 << lv)])
    return result


def lexsort(*keys: np.ndarray) -> np.ndarray:
    """Indices sorted by the first key, then the second, ... (numpy's lexsort takes them reversed)."""
    return np.lexsort(tuple(reversed(keys)))
