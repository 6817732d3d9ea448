"""Offset problems as files, and generated tight instances.

The file format is the CSV that MiniMalloc and idealloc share: a header naming the columns
``id,lower,upper,size`` and optionally ``alignment`` or ``offset``; one buffer per line, live on
the half-open step interval ``[lower, upper)``. An ``offset`` column (a reference solution) is
read and ignored.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from modelopt_mlir.solver.problem import IntervalBuffer, IntervalProblem

REQUIRED_COLUMNS = ("id", "lower", "upper", "size")
OPTIONAL_COLUMNS = ("alignment", "offset")


class ProblemFileError(ValueError):
    """A problem file that cannot be read; the message starts with ``file:line:``."""


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


def write_problem(
    path: str | Path, problem: IntervalProblem, offsets: Mapping[int, int] | None = None
) -> None:
    Path(path).write_text(format_problem(problem, offsets))


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


def problems_in(directory: str | Path) -> Iterable[tuple[str, IntervalProblem]]:
    for path in sorted(Path(directory).glob("*.csv")):
        yield path.stem, read_problem(path)
