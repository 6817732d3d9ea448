"""What the exact offset searches (:mod:`dsa_search`, :mod:`canonical_search`,
:mod:`guillotine`) share: the result of a search at a fixed capacity, the sections a subset of
buffers spans, and the Luby sequence their restarts follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelopt_mlir.solver.offsets.arrays import IntervalArrays

SearchStatus = Literal["found", "infeasible", "limit"]


@dataclass(frozen=True)
class SearchResult:
    status: SearchStatus
    offsets: np.ndarray | None  # indexed like the arrays; None unless found
    nodes: int


def luby(i: int) -> int:
    """The Luby sequence 1 1 2 1 1 2 4 1 1 2 ...: restart lengths within a log factor of optimal."""
    k = 1
    while (1 << k) - 1 < i:
        k += 1
    while i != (1 << k) - 1:
        i -= (1 << (k - 1)) - 1
        k = 1
        while (1 << k) - 1 < i:
            k += 1
    return 1 << (k - 1)


def sections_of(arrays: IntervalArrays, subset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each buffer's first and last (exclusive) section, sections being the spans between
    consecutive interval end points of ``subset``."""
    lower = arrays.lower[subset]
    upper = arrays.upper[subset]
    times = np.unique(np.concatenate([lower, upper]))
    return np.searchsorted(times, lower).astype(np.int64), np.searchsorted(times, upper).astype(
        np.int64
    )
