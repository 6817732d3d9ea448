""":func:`heuristics._closure` compiled with numba: same groups, without the interpreter.

``refine_order`` asks, at every step of its search, for the group of units that must move with
each buffer live at the peak. On a training step thousands of buffers are live there and most
groups overflow (more than ``limit`` units): 77,568 closures took 6.3 s of a 10 s limit on a
32-layer LLaMA-style step in Python, time its work count does not see.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def closure(
    start: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    position: np.ndarray,
    lo: int,
    hi: int,
    limit: int,
    mark: np.ndarray,
    out: np.ndarray,
) -> int:
    """Write ``start`` and every unit it reaches through the edges ``indptr``/``indices``
    whose position lies in [lo, hi] into ``out`` (``limit`` long at least) and return how
    many; -1 when more than ``limit``. ``mark`` is all False on entry and on return."""
    out[0] = start
    mark[start] = True
    count = 1
    done = 0  # out[:done] expanded, out[done:count] waiting (the set does not depend on order)
    overflow = False
    while done < count and not overflow:
        unit = out[done]
        done += 1
        for k in range(indptr[unit], indptr[unit + 1]):
            other = indices[k]
            if not mark[other] and lo <= position[other] <= hi:
                if count >= limit:
                    overflow = True
                    break
                mark[other] = True
                out[count] = other
                count += 1
    for i in range(count):
        mark[out[i]] = False
    return -1 if overflow else count
