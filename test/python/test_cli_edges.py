"""The command-line tools at their edges: outputs that cannot be written are refused before any
work (exit 2, the path and why, nothing written, no traceback); inputs that are not UTF-8 are
named by file, line, column and byte offset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
BASIC = REPO / "test" / "memory-plan" / "basic.mlir"
INTERVALS = REPO / "test" / "modelopt-plan" / "Inputs" / "pairs_interleaved.csv"
GRAPH = REPO / "test" / "modelopt-plan" / "Inputs" / "diamond.json"
FUNC = "func.func @f() {\n  return\n}\n"


def run(tool: str, *args: str | Path, stdin: bytes | None = None, cwd: Path | None = None):
    return subprocess.run(
        [str(BIN / tool), *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        check=False,
    )


def assert_refused(completed: subprocess.CompletedProcess, message: str) -> None:
    stderr = completed.stderr.decode()
    assert completed.returncode == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert completed.stdout == b""


def test_opt_output_in_missing_directory(tmp_path: Path) -> None:
    completed = run(
        "modelopt-opt",
        BASIC,
        "--split-input-file",
        "--memory-plan",
        "-o",
        tmp_path / "missing" / "dir" / "p.mlir",
    )
    assert_refused(completed, f"directory '{tmp_path}/missing/dir' does not exist")
    assert list(tmp_path.iterdir()) == []


def test_opt_output_checked_before_parsing(tmp_path: Path) -> None:
    """The output is refused before the input is even parsed: no work is wasted."""
    broken = tmp_path / "broken.mlir"
    broken.write_text("func.func @f( {\n")
    completed = run("modelopt-opt", broken, "--memory-plan", "-o", tmp_path / "no" / "p.mlir")
    assert_refused(completed, f"cannot write '{tmp_path}/no/p.mlir'")
    assert "expected" not in completed.stderr.decode()


def test_opt_plan_report_in_missing_directory(tmp_path: Path) -> None:
    output = tmp_path / "p.mlir"
    completed = run(
        "modelopt-opt",
        BASIC,
        "--split-input-file",
        "--memory-plan",
        "-o",
        output,
        f"--plan-report={tmp_path}/missing/r.json",
    )
    assert_refused(completed, f"cannot write '{tmp_path}/missing/r.json'")
    assert not output.exists(), "no partial output: -o is not written either"


def test_opt_emit_ptx_onto_a_file(tmp_path: Path) -> None:
    existing = tmp_path / "kernels"
    existing.write_text("not a directory")
    completed = run(
        "modelopt-opt", BASIC, "--split-input-file", "--memory-plan", f"--emit-ptx={existing}"
    )
    assert_refused(completed, f"cannot write directory '{existing}': it exists and is not a")
    assert existing.read_text() == "not a directory"


def test_opt_emit_ptx_directory_in_missing_directory(tmp_path: Path) -> None:
    completed = run("modelopt-opt", BASIC, "--memory-plan", f"--emit-ptx={tmp_path}/a/b")
    assert_refused(completed, f"directory '{tmp_path}/a' does not exist")
    assert not (tmp_path / "a").exists()


def test_opt_output_onto_a_directory(tmp_path: Path) -> None:
    completed = run("modelopt-opt", BASIC, "--memory-plan", "-o", tmp_path)
    assert_refused(completed, f"cannot write '{tmp_path}': it is a directory")


def test_opt_output_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    completed = run("modelopt-opt", BASIC, "--memory-plan", "-o", tmp_path / "file" / "p.mlir")
    assert_refused(completed, f"'{tmp_path}/file' is not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_opt_output_in_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        completed = run("modelopt-opt", BASIC, "--memory-plan", "-o", locked / "p.mlir")
        assert_refused(completed, f"directory '{locked}' is not writable")
    finally:
        locked.chmod(0o700)


def test_opt_writes_to_a_new_file_in_an_existing_directory(tmp_path: Path) -> None:
    output = tmp_path / "p.mlir"
    report = tmp_path / "r.json"
    completed = run(
        "modelopt-opt",
        BASIC,
        "--split-input-file",
        "--memory-plan",
        "-o",
        output,
        f"--plan-report={report}",
    )
    assert completed.returncode == 0, completed.stderr.decode()
    assert "memref.view" in output.read_text()
    assert report.read_text().startswith("{")


def test_opt_input_not_utf8(tmp_path: Path) -> None:
    source = tmp_path / "latin1.mlir"
    source.write_bytes("func.func @f() {\n  return // caf\u00e9\n}\n".encode("latin-1"))
    completed = run("modelopt-opt", source, "--memory-plan")
    assert completed.returncode == 1
    stderr = completed.stderr.decode()
    assert f"{source}:2:16: error: not UTF-8: byte 0xe9 at offset 32" in stderr
    assert "Traceback" not in stderr


def test_opt_stdin_not_utf8() -> None:
    completed = run("modelopt-opt", "-", "--memory-plan", stdin=b"\x80" + FUNC.encode())
    assert completed.returncode == 1
    assert completed.stderr.decode().startswith("<stdin>:1:1: error: not UTF-8: byte 0x80")


def test_opt_stdin_utf8_beyond_ascii() -> None:
    completed = run("modelopt-opt", "-", "--memory-plan", stdin=f"// 内存\n{FUNC}".encode())
    assert completed.returncode == 0, completed.stderr.decode()
    assert "func.func @f" in completed.stdout.decode()


@pytest.mark.parametrize("command, source", [("offsets", INTERVALS), ("order", GRAPH)])
def test_plan_output_in_missing_directory(tmp_path: Path, command: str, source: Path) -> None:
    completed = run("modelopt-plan", command, source, "-o", tmp_path / "missing" / "o.csv")
    assert_refused(completed, f"modelopt-plan: cannot write '{tmp_path}/missing/o.csv'")
    assert list(tmp_path.iterdir()) == []


def test_plan_output_onto_a_directory(tmp_path: Path) -> None:
    completed = run("modelopt-plan", "offsets", INTERVALS, "-o", tmp_path)
    assert_refused(completed, "it is a directory")


@pytest.mark.parametrize(
    "command, suffix, data, where",
    [
        ("offsets", "csv", b"id,lower,upper,size\n0,0,1,\xff\n", ":2:7: not UTF-8: byte 0xff"),
        ("order", "json", b'{"ops": ["A"],\n"tensors": ["\xc3("]}', ":2:14: not UTF-8: byte 0xc3"),
    ],
)
def test_plan_input_not_utf8(
    tmp_path: Path, command: str, suffix: str, data: bytes, where: str
) -> None:
    source = tmp_path / f"bad.{suffix}"
    source.write_bytes(data)
    completed = run("modelopt-plan", command, source)
    assert_refused(completed, f"{source}{where}")
    completed = run("modelopt-plan", command, "-", stdin=data)
    assert_refused(completed, f"<stdin>{where}")


def test_import_output_in_missing_directory_creates_nothing(tmp_path: Path) -> None:
    completed = run("modelopt-import", "--model", "mlp", "-o", tmp_path / "a" / "b" / "x.mlir")
    assert_refused(completed, f"cannot write '{tmp_path}/a/b/x.mlir': directory")
    assert list(tmp_path.iterdir()) == []


def test_import_sidecar_unwritable(tmp_path: Path) -> None:
    (tmp_path / "x.json").mkdir()
    completed = run("modelopt-import", "--model", "mlp", "-o", tmp_path / "x.mlir")
    assert_refused(completed, f"cannot write '{tmp_path}/x.json': it is a directory")
    assert not (tmp_path / "x.mlir").exists()


def test_block_redefinition_is_found_before_parsing_and_only_within_one_region() -> None:
    from modelopt_mlir.tools.opt import redefined_block

    twice = '"x.y"() ({\n^bb0(%a: f32):\n^bb0(%b: f32):\n}) : () -> ()\n'
    assert redefined_block(twice) == (twice.rindex("^bb0"), "redefinition of block '^bb0'")
    # the same label in two regions, nested regions, a comment and a string
    fine = (
        '"x.y"() ({\n^bb0(%a: f32):\n  "x.z"() ({\n  ^bb0:\n  }) : () -> ()\n'
        "^bb1:\n}, {\n^bb0(%b: f32):\n}) : () -> ()\n"
        '// ^bb1:\n"x.w"() {s = "{ ^bb0: }"} : () -> ()\n'
    )
    assert redefined_block(fine) is None


def test_output_into_a_closed_pipe_ends_without_a_traceback() -> None:
    """``modelopt-opt --list-passes | head -0``: the reader has closed the pipe before the
    tool writes (it printed a BrokenPipeError traceback)."""
    for tool, args in (("modelopt-opt", ["--list-passes"]), ("modelopt-plan", ["--help"])):
        process = subprocess.Popen(
            [str(BIN / tool), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) in (0, 1)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
