"""What the exact offset searches (:mod:`dsa_search`, :mod:`canonical_search`,
:mod:`guillotine`) share: the result of a search at a fixed capacity, and the Luby sequence
their restarts follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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
