"""The plan file (modelopt_mlir.plan_json) from every writer: modelopt-opt --plan-report,
PlanResult.save and bench/plan_examples.py. Each passes validate_plan_json, and every op id in
the order (and every buffer's alloc) names the op at that index of the unplanned function, at
the file location given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch_mlir import ir

from modelopt_mlir.examples import EXAMPLES_DIR
from modelopt_mlir.ir_context import make_context
from modelopt_mlir.plan_json import (
    SCHEMA,
    VERSION,
    PlanJsonError,
    build_plan_json,
    file_location,
    validate_plan_json,
)
from modelopt_mlir.zoo import ZOO

REPO = Path(__file__).resolve().parents[2]
MLP_EXAMPLE = EXAMPLES_DIR / "mlp_sgd.mlir"


def top_level_ops(text: str, func_name: str) -> list[tuple[str, str]]:
    """(name, location text) of every top-level op of ``func_name``'s body, in order."""
    with make_context():
        module = ir.Module.parse(text)
        for op in module.body.operations:
            op = op.operation
            if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == (
                func_name
            ):
                return [
                    (o.operation.name, str(o.operation.location))
                    for o in op.regions[0].blocks[0].operations
                ]
    raise AssertionError(f"no function @{func_name}")


def assert_ops_map_back(doc: dict[str, Any], source: Path) -> None:
    """Every op of the order and every buffer's alloc is the op at its index in ``source``'s
    function, and its loc points at that op's line and column there."""
    text = source.read_text()
    lines = text.splitlines()
    for function in doc["functions"]:
        ops = top_level_ops(text, function["function"])
        named = function["order"] + [b["op"] for b in function["buffers"]]
        assert len({op["id"] for op in function["order"]}) == function["units"]
        for op in named:
            name, location = ops[op["index"]]
            assert op["name"] == name, op
            assert op["id"] == f"{function['function']}/op{op['index']}"
            path, line, column = op["loc"].rsplit(":", 2)
            assert path.endswith(source.name)
            assert lines[int(line) - 1][int(column) - 1 :].lstrip('"').startswith(name), op
            # the same place MLIR gives the op when it parses the text
            assert file_location(location).split(":", 1)[1] == f"{line}:{column}"
        arena_ops = {b["op"]["index"] for b in function["buffers"]}
        assert not arena_ops & {op["index"] for op in function["order"]}


def test_cli_plan_report(tmp_path: Path) -> None:
    report = tmp_path / "plan.json"
    completed = subprocess.run(
        [
            Path(sys.executable).parent / "modelopt-opt",
            MLP_EXAMPLE,
            "--memory-plan",
            f"--plan-report={report}",
            "-o",
            tmp_path / "planned.mlir",
        ],
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    doc = json.loads(report.read_text())
    validate_plan_json(doc)
    assert doc["schema"] == SCHEMA and doc["version"] == VERSION
    assert doc["source"] == str(MLP_EXAMPLE)
    (function,) = doc["functions"]
    assert function["function"] == "main"
    assert function["order_lower_bound"] <= function["chosen_order_peak"]
    assert function["chosen_order_peak"] <= function["arena_size"]
    assert_ops_map_back(doc, MLP_EXAMPLE)


def test_plan_save(tmp_path: Path) -> None:
    built = ZOO["mlp"].build()
    result = built.plan(torch.optim.SGD(built.model.parameters(), lr=0.1), progress=False)
    paths = result.save(tmp_path)
    doc = json.loads(paths["json"].read_text())
    validate_plan_json(doc)
    assert doc["source"] == "unplanned.mlir"
    assert paths["unplanned"].read_text() == result.unplanned_text
    (function,) = doc["functions"]
    report = doc["report"]  # PlanReport, the same numbers
    assert function["arena_size"] == report["arena_bytes"] == result.report.arena_bytes
    assert function["chosen_order_peak"] == report["chosen_order_peak"]
    assert function["order_lower_bound"] == report["order_lower_bound"]
    assert function["status"] == report["status"]
    assert len(function["buffers"]) == report["allocs_planned"]
    assert {b["kind"] for b in function["buffers"]} >= {"forward", "gradient"}
    assert "signature" in doc
    assert_ops_map_back(doc, paths["unplanned"])


def test_plan_examples_writes_plan_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import plan_examples

    assert plan_examples.main(["--example", "mlp_sgd", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "mlp_sgd.plan.json").read_text())
    validate_plan_json(doc)
    assert set(doc["upstream"]) == {"best_fit", "best_fit_liveness"}
    assert_ops_map_back(doc, MLP_EXAMPLE)


def minimal_report() -> dict[str, Any]:
    op = {"id": "f/op1", "index": 1, "name": "linalg.fill", "loc": "-:3:5"}
    alloc = {"id": "f/op0", "index": 0, "name": "memref.alloc", "loc": "-:2:8"}
    return {
        "function": "f",
        "units": 1,
        "allocs": 1,
        "dead": 0,
        "left_alone": 0,
        "left_alone_bytes": 0,
        "sum_of_sizes": 64,
        "program_order_peak": 64,
        "lower_bound": 64,
        "order_lower_bound": 64,
        "arena_size": 64,
        "gap": 0.0,
        "status": "optimal",
        "order_algorithm": "program-order",
        "offset_algorithm": "best-fit",
        "analysis_seconds": 0.0,
        "solve_seconds": 0.0,
        "order": [op],
        "buffers": [
            {
                "id": "f/buf0",
                "index": 0,
                "op": alloc,
                "type": "memref<16xf32>",
                "location": 'loc("-":2:8)',
                "size": 64,
                "offset": 0,
                "dead": False,
                "first_step": 0,
                "last_step": 0,
            }
        ],
    }


def test_build_names_the_source_and_the_chosen_order_peak() -> None:
    doc = build_plan_json([minimal_report()], source="in.mlir", sections={"extra": 1})
    validate_plan_json(doc)
    function = doc["functions"][0]
    assert function["order"][0]["loc"] == "in.mlir:3:5"
    assert function["buffers"][0]["op"]["loc"] == "in.mlir:2:8"
    assert function["chosen_order_peak"] == 64 and "lower_bound" not in function
    assert "location" not in function["buffers"][0] and doc["extra"] == 1
    with pytest.raises(ValueError, match="reserved"):
        build_plan_json([minimal_report()], sections={"version": 2})


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda d: d.update(version="1"), "'version' is '1'"),
        (lambda d: d.pop("schema"), "'schema' is None"),
        (lambda d: d["functions"][0]["order"][0].update(id="f/op2"), "expected 'f/op1'"),
        (lambda d: d["functions"][0].pop("arena_size"), "lacks arena_size"),
        (lambda d: d["functions"][0]["buffers"][0].update(last_step=3), "outside the order"),
        (lambda d: d["functions"][0].update(units=2), "'units' says 2"),
    ],
)
def test_validate_rejects(break_it: Any, message: str) -> None:
    doc = build_plan_json([minimal_report()])
    break_it(doc)
    with pytest.raises(PlanJsonError, match=message):
        validate_plan_json(doc)


def test_file_location() -> None:
    assert file_location('loc("a.mlir":3:5)') == "a.mlir:3:5"
    assert file_location('loc("name"("a.py":12:1))') == "a.py:12:1"
    assert file_location("loc(unknown)") is None


@pytest.mark.slow
def test_bundled_gpt2_example_is_the_demo_step(monkeypatch) -> None:
    """test/examples/gpt2_adam.mlir is the IR bench/demo.py plans (zoo GPT-2 tiny, the demo's
    Adam), so `make demo`'s table and its report show the same numbers; after a frontend change,
    regenerate it with `make examples`."""
    from modelopt_mlir.frontend.capture import capture_training_step

    monkeypatch.syspath_prepend(str(REPO / "bench"))
    from demo import demo_optimizer

    built = ZOO["gpt2"].build(size="tiny")
    captured = capture_training_step(
        built.model,
        built.example_inputs,
        built.targets,
        built.loss_fn,
        demo_optimizer(built.model),
        int_ranges=built.int_ranges,
        lower=False,
    )
    example = (EXAMPLES_DIR / "gpt2_adam.mlir").read_text()
    body = "".join(line for line in example.splitlines(keepends=True) if not line.startswith("//"))
    assert captured.module_text == body
