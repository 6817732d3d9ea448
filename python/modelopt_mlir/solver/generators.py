"""Generated offset problems with a known optimum, for tests and benchmarks: guillotine-cut
rectangles (:func:`tight_instance`) and the harder non-guillotine families (bricks, pinwheels);
and random order problems (:func:`random_dag`)."""

from __future__ import annotations

import random

import numpy as np

from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem, ScheduleProblem


def tight_instance(width: int, horizon: int, count: int, seed: int = 0) -> IntervalProblem:
    """Cut the ``width`` (address) x ``horizon`` (time) rectangle into ``count`` rectangles by
    random guillotine cuts; each becomes a buffer. They tile the rectangle, so max live is
    ``width`` at every step and the optimum is exactly ``capacity=width``."""
    if count > width * horizon:
        raise ValueError(f"cannot cut {width}x{horizon} into {count} rectangles")
    rng = random.Random(seed)
    pieces = [(0, width, 0, horizon)]  # (address lo, address hi, time lo, time hi)
    while len(pieces) < count:
        splittable = [i for i, (a0, a1, t0, t1) in enumerate(pieces) if a1 - a0 > 1 or t1 - t0 > 1]
        weights = [
            (pieces[i][1] - pieces[i][0]) * (pieces[i][3] - pieces[i][2]) for i in splittable
        ]
        index = rng.choices(splittable, weights)[0]
        a0, a1, t0, t1 = pieces.pop(index)
        in_time = t1 - t0 > 1 and (a1 - a0 == 1 or rng.random() < 0.5)
        if in_time:
            cut = rng.randrange(t0 + 1, t1)
            pieces += [(a0, a1, t0, cut), (a0, a1, cut, t1)]
        else:
            cut = rng.randrange(a0 + 1, a1)
            pieces += [(a0, cut, t0, t1), (cut, a1, t0, t1)]
    rng.shuffle(pieces)
    buffers = tuple(IntervalBuffer(i, t0, t1, a1 - a0) for i, (a0, a1, t0, t1) in enumerate(pieces))
    return IntervalProblem(buffers, capacity=width)


HARD_WIDTH = 1 << 20  # bytes: the capacity of the hard families, as in published DSA sets
HARD_GRAIN = 1 << 10  # bytes: every size and cut is a multiple of this


def brick_instance(
    count: int,
    seed: int = 0,
    width: int = HARD_WIDTH,
    grain: int = HARD_GRAIN,
    slack_percent: float = 0.0,
    max_life: int = 30,
    idle: float = 0.1,
    shrink: float = 0.1,
) -> IntervalProblem:
    """:func:`brick_packing`'s problem."""
    return brick_packing(count, seed, width, grain, slack_percent, max_life, idle, shrink)[0]


def brick_packing(
    count: int,
    seed: int = 0,
    width: int = HARD_WIDTH,
    grain: int = HARD_GRAIN,
    slack_percent: float = 0.0,
    max_life: int = 30,
    idle: float = 0.1,
    shrink: float = 0.1,
) -> tuple[IntervalProblem, dict[int, int]]:
    """A packing of a strip of ``width`` bytes built over time like a brick wall, then loosened;
    not made of straight cuts.

    Time runs from event to event. At each event the buffers ending there free their address
    spans; adjacent free spans merge into runs, and each run is either cut at random points
    (multiples of ``grain``, independent of the old boundaries, so new buffers straddle the
    ones that ended) into 1-4 new buffers living 1..``max_life`` steps, or, with probability
    ``idle``, left empty until a neighbour ends (so that it merges with it). No run idles
    while the middle fifth of the buffers is made, so some step there is full: max live is
    ``width`` and the wall is a plan at that capacity. Last, each buffer that does not cover
    one chosen full step loses, with probability ``shrink``, a random part of its lifetime at
    either end (the plan stays valid). ``capacity`` is max live plus ``slack_percent``.
    Returns the problem and the wall's offsets by buffer id (a plan within the capacity)."""
    rng = random.Random(seed)
    cells = width // grain
    # Segments of the strip, by address: [first cell, end cell, end time, buffer or -1 (idle)].
    segments: list[list[int]] = [[0, cells, 0, -1]]
    pieces: list[tuple[int, int, int, int]] = []  # (first cell, end cell, lower, upper)
    time = 0
    while len(pieces) < count:
        time = min(s[2] for s in segments)
        runs: list[list[int]] = []  # merged free runs, each [first, end, left idx, right idx]
        kept: list[list[int]] = []
        for seg in segments:
            if seg[2] <= time:
                if runs and runs[-1][1] == seg[0] and (not kept or kept[-1][1] <= runs[-1][0]):
                    runs[-1][1] = seg[1]
                else:
                    runs.append([seg[0], seg[1]])
            else:
                kept.append(seg)
        middle = 0.4 * count <= len(pieces) <= 0.6 * count
        for lo, hi in runs:
            neighbours = [s[2] for s in kept if s[1] == lo or s[0] == hi]
            if neighbours and not middle and rng.random() < idle:
                kept.append([lo, hi, min(neighbours), -1])
                continue
            parts = min(rng.randint(1, 4), hi - lo, count - len(pieces))
            if parts <= 0:
                kept.append([lo, hi, time + max_life, -1])
                continue
            cuts = sorted(rng.sample(range(lo + 1, hi), parts - 1)) if parts > 1 else []
            bounds = [lo, *cuts, hi]
            for a, b in zip(bounds, bounds[1:], strict=False):
                end = time + rng.randint(1, max_life)
                pieces.append((a, b, time, end))
                kept.append([a, b, end, len(pieces) - 1])
        segments = sorted(kept)
    horizon = max(p[3] for p in pieces)
    load = [0] * horizon
    for a, b, t0, t1 in pieces:
        for t in range(t0, t1):
            load[t] += b - a
    full = [t for t in range(horizon) if load[t] == cells]
    peak = full[len(full) // 2]
    buffers = []
    for a, b, t0, t1 in pieces:
        if not t0 <= peak < t1 and t1 - t0 > 1 and rng.random() < shrink:
            t0 = rng.randint(t0, t1 - 1)
            t1 = rng.randint(t0 + 1, t1)
        buffers.append((a * grain, t0, t1, (b - a) * grain))
    order = list(range(len(buffers)))
    rng.shuffle(order)
    capacity = width + int(width * slack_percent / 100)
    problem = IntervalProblem(
        tuple(IntervalBuffer(n, *buffers[i][1:]) for n, i in enumerate(order)), capacity=capacity
    )
    return problem, {n: buffers[i][0] for n, i in enumerate(order)}


def pinwheel_instance(
    count: int,
    seed: int = 0,
    width: int = HARD_WIDTH,
    grain: int = HARD_GRAIN,
    horizon: int = 120,
    pinwheel: float = 0.6,
    slack_percent: float = 0.0,
) -> IntervalProblem:
    """:func:`pinwheel_packing`'s problem."""
    return pinwheel_packing(count, seed, width, grain, horizon, pinwheel, slack_percent)[0]


def pinwheel_packing(
    count: int,
    seed: int = 0,
    width: int = HARD_WIDTH,
    grain: int = HARD_GRAIN,
    horizon: int = 120,
    pinwheel: float = 0.6,
    slack_percent: float = 0.0,
) -> tuple[IntervalProblem, dict[int, int]]:
    """Cut the ``width`` x ``horizon`` rectangle as :func:`tight_instance` does, but each split
    is, with probability ``pinwheel`` where the piece is large enough, a pinwheel: four
    rectangles turning around a fifth, which no straight cut separates. The pieces tile the
    rectangle: max live is ``width`` at every step (zero slack everywhere). Returns the problem
    and the tiling's offsets by buffer id."""
    rng = random.Random(seed)
    cells = width // grain
    pieces = [(0, cells, 0, horizon)]
    while len(pieces) < count:
        splittable = [i for i, (a0, a1, t0, t1) in enumerate(pieces) if a1 - a0 > 1 or t1 - t0 > 1]
        weights = [
            (pieces[i][1] - pieces[i][0]) * (pieces[i][3] - pieces[i][2]) for i in splittable
        ]
        a0, a1, t0, t1 = pieces.pop(rng.choices(splittable, weights)[0])
        if a1 - a0 >= 3 and t1 - t0 >= 3 and count - len(pieces) >= 5 and rng.random() < pinwheel:
            x1, x2 = sorted(rng.sample(range(a0 + 1, a1), 2))
            y1, y2 = sorted(rng.sample(range(t0 + 1, t1), 2))
            if rng.random() < 0.5:  # the other sense of rotation
                pieces += [
                    (a0, x2, t0, y1),
                    (x2, a1, t0, y2),
                    (x1, a1, y2, t1),
                    (a0, x1, y1, t1),
                    (x1, x2, y1, y2),
                ]
            else:
                pieces += [
                    (a0, x1, t0, y2),
                    (x1, a1, t0, y1),
                    (x2, a1, y1, t1),
                    (a0, x2, y2, t1),
                    (x1, x2, y1, y2),
                ]
        elif t1 - t0 > 1 and (a1 - a0 == 1 or rng.random() < 0.5):
            cut = rng.randrange(t0 + 1, t1)
            pieces += [(a0, a1, t0, cut), (a0, a1, cut, t1)]
        else:
            cut = rng.randrange(a0 + 1, a1)
            pieces += [(a0, cut, t0, t1), (cut, a1, t0, t1)]
    rng.shuffle(pieces)
    capacity = width + int(width * slack_percent / 100)
    buffers = tuple(
        IntervalBuffer(i, t0, t1, (a1 - a0) * grain) for i, (a0, a1, t0, t1) in enumerate(pieces)
    )
    return IntervalProblem(buffers, capacity=capacity), {
        i: a0 * grain for i, (a0, _, _, _) in enumerate(pieces)
    }


def strip_packing(
    count: int,
    seed: int = 0,
    width: int = HARD_WIDTH,
    grain: int = HARD_GRAIN,
    horizon: int = 100,
    max_life: int = 40,
    slack_percent: float = 0.0,
    shrink: float = 0.3,
) -> tuple[IntervalProblem, dict[int, int]]:
    """A random packing of rectangles in a strip of ``width`` bytes, built unlike the others:
    rectangles of random lifetime (1..``max_life`` steps) and size (most small, a few up to
    half the strip) are dropped at random times, each at the lowest address where it fits;
    then every free span at the busiest step is filled by a rectangle living as long as the
    room around it allows (so that step is full: max live is ``width``), more random ones
    are dropped until there are ``count``, every rectangle is pushed up as far as it goes
    (top first), and each one that does not cover the full step loses, with probability
    ``shrink``, part of its lifetime. Returns the problem (capacity max live plus
    ``slack_percent``) and the packing's offsets by buffer id."""
    rng = random.Random(seed)
    cells = width // grain
    free = np.ones((horizon, cells), bool)
    pieces: list[list[int]] = []  # [first cell, end cell, lower, upper]

    def drop(limit: int) -> None:
        tries = 0
        while len(pieces) < limit and tries < 50 * count:
            tries += 1
            t0 = rng.randrange(horizon)
            t1 = min(horizon, t0 + rng.randint(1, max_life))
            size = max(1, int(cells * 0.5 * rng.random() ** 3))
            open_cells = free[t0:t1].all(axis=0).astype(np.int64)
            # Windows of ``size`` open cells: the lowest one.
            sums = np.convolve(open_cells, np.ones(size, np.int64), mode="valid")
            fits = np.flatnonzero(sums == size)
            if len(fits):
                a0 = int(fits[0])
                free[t0:t1, a0 : a0 + size] = False
                pieces.append([a0, a0 + size, t0, t1])

    drop(int(count * 0.8))
    peak = int(np.argmin(free.sum(axis=1)))
    c = 0
    while c < cells:
        if not free[peak, c]:
            c += 1
            continue
        a0 = c
        while c < cells and free[peak, c]:
            c += 1
        t0, t1 = peak, peak + 1
        while t0 > 0 and t0 > peak - max_life and free[t0 - 1, a0:c].all():
            t0 -= 1
        while t1 < horizon and t1 < peak + max_life and free[t1, a0:c].all():
            t1 += 1
        t0 = rng.randint(t0, peak)
        t1 = rng.randint(peak + 1, t1)
        free[t0:t1, a0:c] = False
        pieces.append([a0, c, t0, t1])
    drop(count)
    for piece in sorted(pieces, key=lambda p: -p[1]):
        a0, a1, t0, t1 = piece
        free[t0:t1, a0:a1] = True
        top = a1
        while top < cells and free[t0:t1, top].all():
            top += 1
        piece[0], piece[1] = top - (a1 - a0), top
        free[t0:t1, piece[0] : piece[1]] = False
    buffers = []
    for a0, a1, t0, t1 in pieces:
        if not t0 <= peak < t1 and t1 - t0 > 1 and rng.random() < shrink:
            t0 = rng.randint(t0, t1 - 1)
            t1 = rng.randint(t0 + 1, t1)
        buffers.append((a0 * grain, t0, t1, (a1 - a0) * grain))
    order = list(range(len(buffers)))
    rng.shuffle(order)
    capacity = width + int(width * slack_percent / 100)
    problem = IntervalProblem(
        tuple(IntervalBuffer(n, *buffers[i][1:]) for n, i in enumerate(order)), capacity=capacity
    )
    return problem, {n: buffers[i][0] for n, i in enumerate(order)}


def hard_instances(
    total: int = 40, first_seed: int = 0, slack_percent: float = 0.0, family: str = "walls"
) -> list[tuple[str, IntervalProblem]]:
    """The bench's hard families: ``total`` instances of 150-450 buffers, seeds
    ``first_seed``..., at max live or ``slack_percent`` above it (negative: 1-6% in turn).
    ``family`` "walls" alternates brick walls and pinwheel cuttings; "strips" gives
    :func:`strip_packing`'s random strip packings."""
    out = []
    for index in range(total):
        seed = first_seed + index
        count = 150 + (300 * index) // max(total - 1, 1)
        slack = slack_percent if slack_percent >= 0 else 1 + index % 6
        if family == "strips":
            problem = strip_packing(count, seed, slack_percent=slack)[0]
            out.append((f"strip-{seed}-{count}", problem))
        elif index % 2 == 0:
            problem = brick_instance(count, seed, slack_percent=slack)
            out.append((f"brick-{seed}-{count}", problem))
        else:
            problem = pinwheel_instance(count, seed, slack_percent=slack)
            out.append((f"pinwheel-{seed}-{count}", problem))
    return out


def random_dag(units: int, seed: int) -> ScheduleProblem:
    """A random order problem in program order: unit u reads the buffers of 1-3 earlier units;
    every unit makes one buffer (1-10 or 50-500 bytes) used by it and its readers."""
    rng = random.Random(seed)
    edges, sizes, users = set(), [], []
    readers: list[list[int]] = [[] for _ in range(units)]
    for unit in range(1, units):
        for producer in rng.sample(range(unit), k=min(unit, rng.randint(1, 3))):
            readers[producer].append(unit)
            edges.add((producer, unit))
    for producer in range(units):
        sizes.append(rng.choice([rng.randint(1, 10), rng.randint(50, 500)]))
        users.append((producer, *sorted(readers[producer])))
    return ScheduleProblem(units, tuple(sorted(edges)), tuple(sizes), tuple(users), (1,) * units)
