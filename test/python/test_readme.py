"""The README's Python examples run as written: every fenced ```python block, in order, in one
namespace, in a scratch directory (files the examples write land there; the repository's
``test/`` is linked in for the bundled examples they read)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def test_readme_has_python_examples() -> None:
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    assert "result.verify()" in blocks[0] and "def loss_fn" in blocks[0]


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "test").symlink_to(ROOT / "test")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for index, block in enumerate(python_blocks((ROOT / "README.md").read_text())):
        exec(compile(block, f"README.md python block {index + 1}", "exec"), namespace)
    result = namespace["result"]
    assert result.report.status in ("optimal", "feasible", "timeout")  # type: ignore[attr-defined]
    assert {"planned.mlir", "plan.json", "timeline.png"} <= set(os.listdir(tmp_path / "out"))
    assert namespace["report"]["arena_size"] > 0  # type: ignore[index]
