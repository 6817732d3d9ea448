"""The bundled training-step examples (test/examples/*.mlir with a JSON sidecar each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "test" / "examples"


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
    mlir_path = directory / f"{name}.mlir"
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
    return sorted(p.stem for p in directory.glob("*.mlir") if p.with_suffix(".json").exists())
