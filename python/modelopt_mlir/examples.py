"""The bundled training-step examples (test/examples/*.mlir with a JSON sidecar each).

They live in the source checkout, not in the installed package: ``MODELOPT_EXAMPLES_DIR`` names
another directory; otherwise the checkout is found above this file (an editable install or a
``PYTHONPATH`` run from the checkout).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def _find_examples_dir() -> Path:
    """``$MODELOPT_EXAMPLES_DIR``, else the first ``test/examples`` above this file, else where
    a source checkout would have it (reading from it then fails with a clear error)."""
    if os.environ.get("MODELOPT_EXAMPLES_DIR"):
        return Path(os.environ["MODELOPT_EXAMPLES_DIR"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "test" / "examples"
        if candidate.is_dir():
            return candidate
    return here.parents[2] / "test" / "examples"


EXAMPLES_DIR = _find_examples_dir()


def _checked(directory: Path) -> Path:
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no bundled examples at {directory}: they ship with the source checkout "
            "(test/examples); set MODELOPT_EXAMPLES_DIR to that directory"
        )
    return directory


@dataclass(frozen=True)
class Example:
    name: str
    mlir_path: Path
    func_name: str
    description: str
    int_ranges: dict[int, tuple[int, int]]
    float_ranges: dict[int, tuple[float, float]]

    @property
    def text(self) -> str:
        return self.mlir_path.read_text()


def load_example(name: str, directory: Path = EXAMPLES_DIR) -> Example:
    mlir_path = _checked(directory) / f"{name}.mlir"
    meta = json.loads((directory / f"{name}.json").read_text())
    int_ranges: dict[int, tuple[int, int]] = {}
    float_ranges: dict[int, tuple[float, float]] = {}
    for index, arg in enumerate(meta["args"]):
        if "int_range" in arg:
            low, high = arg["int_range"]
            int_ranges[index] = (int(low), int(high))
        # Adam's second moment is a running mean of squares: random negative values would
        # turn the update into NaNs that hide real differences.
        if arg["name"].endswith("exp_avg_sq"):
            float_ranges[index] = (0.0, 0.01)
    return Example(
        name, mlir_path, meta["func"], meta.get("description", ""), int_ranges, float_ranges
    )


def example_names(directory: Path = EXAMPLES_DIR) -> list[str]:
    return sorted(
        p.stem for p in _checked(directory).glob("*.mlir") if p.with_suffix(".json").exists()
    )
