"""Upstream static-memory-planner-analysis as a baseline: exact arena bytes on hand-sized cases."""

from __future__ import annotations

import re

import pytest
from torch_mlir import ir

from modelopt_mlir.baseline import (
    BaselineError,
    prepare_pipeline,
    upstream_baseline,
    upstream_best_fit_arena,
)
from modelopt_mlir.ir_context import make_context

# Three 64-byte temporaries, each read only by the next op: without deallocs in the input the
# deallocation pipeline puts all three deallocs at the end of the block.
CHAIN = """
func.func @chain(%a: memref<16xf32>, %out: memref<16xf32>) {
  %0 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%a : memref<16xf32>) outs(%0 : memref<16xf32>)
  %1 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%0 : memref<16xf32>) outs(%1 : memref<16xf32>)
  %2 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%1 : memref<16xf32>) outs(%2 : memref<16xf32>)
  linalg.copy ins(%2 : memref<16xf32>) outs(%out : memref<16xf32>)
  return
}
"""


def _func(name: str, body: str) -> str:
    """A function plus private declarations for the ``@use_*`` callees its body calls."""
    callees = dict.fromkeys(re.findall(r"call @(\w+)\(.*\) : \((.*)\) -> \(\)", body))
    decls = "".join(f"func.func private @{callee}({types})\n" for callee, types in callees)
    return f"{decls}func.func @{name}() {{\n{body}\n  return\n}}\n"


def _alloc(v: str, n: int, t: str = "f32", attrs: str = "") -> str:
    return f"  %{v} = memref.alloc() {attrs}: memref<{n}x{t}>"


def _use(*vs: tuple[str, str]) -> str:
    """A call that reads the buffers; the callee name encodes its signature."""
    names = ", ".join(f"%{v}" for v, _ in vs)
    types = ", ".join(t for _, t in vs)
    callee = "use_" + re.sub(r"\W", "_", types)
    return f"  func.call @{callee}({names}) : ({types}) -> ()"


def _free(v: str, t: str) -> str:
    return f"  memref.dealloc %{v} : {t}"


F16 = "memref<16xf32>"  # 64 B
F8 = "memref<8xf32>"  # 32 B
F12 = "memref<12xf32>"  # 48 B
F4 = "memref<4xf32>"  # 16 B
F2 = "memref<2xf32>"  # 8 B
F10 = "memref<10xf32>"  # 40 B
F20 = "memref<20xf32>"  # 80 B


def _module(*functions: str) -> str:
    return "\n".join(functions)


DISJOINT = _func(
    "disjoint",
    "\n".join(
        [
            _alloc("a", 16),
            _use(("a", F16)),
            _free("a", F16),
            _alloc("b", 8),
            _use(("b", F8)),
            _free("b", F8),
            _alloc("c", 12),
            _use(("c", F12)),
            _free("c", F12),
        ]
    ),
)

OVERLAPPING = _func(
    "overlapping",
    "\n".join(
        [
            _alloc("a", 16),
            _alloc("b", 8),
            _alloc("c", 12),
            _use(("a", F16), ("b", F8), ("c", F12)),
            _free("a", F16),
            _free("b", F8),
            _free("c", F12),
        ]
    ),
)

# x 32 B @0, y 8 B @32, z 16 B @40, w 8 B @56; freeing x and z leaves gaps of 32 and 16 bytes.
# n (16 B) takes the 16-byte gap (best fit), so m (32 B) still fits the 32-byte gap: 64 bytes.
# First fit would put n at 0 and m at the top: 96 bytes.
BEST_GAP = _func(
    "best_gap",
    "\n".join(
        [
            _alloc("x", 8),
            _alloc("y", 2),
            _alloc("z", 4),
            _alloc("w", 2),
            _use(("x", F8), ("y", F2), ("z", F4), ("w", F2)),
            _free("x", F8),
            _free("z", F4),
            _alloc("n", 4),
            _alloc("m", 8),
            _use(("y", F2), ("w", F2), ("n", F4), ("m", F8)),
            _free("y", F2),
            _free("w", F2),
            _free("n", F4),
            _free("m", F8),
        ]
    ),
)

# a 16 B @0, b 64 B @16; b freed, c (80 B) starts in the free tail at 16: 96 bytes, not 160.
FREE_TAIL = _func(
    "free_tail",
    "\n".join(
        [
            _alloc("a", 4),
            _alloc("b", 16),
            _use(("a", F4), ("b", F16)),
            _free("b", F16),
            _alloc("c", 20),
            _use(("a", F4), ("c", F20)),
            _free("a", F4),
            _free("c", F20),
        ]
    ),
)

# Greedy in program order is not optimal even without reordering: a 64 @0, b 16 @64; a freed;
# c 16 @0, d 40 @16 fill a's hole; e 80 goes on top: 160 bytes. Live peak is 16+16+40+80 = 152,
# reached by b@0 c@16 d@32 e@72 with a anywhere in [16, 80).
GREEDY_LOSS = _func(
    "greedy_loss",
    "\n".join(
        [
            _alloc("a", 16),
            _alloc("b", 4),
            _use(("a", F16), ("b", F4)),
            _free("a", F16),
            _alloc("c", 4),
            _alloc("d", 10),
            _alloc("e", 20),
            _use(("b", F4), ("c", F4), ("d", F10), ("e", F20)),
            _free("b", F4),
            _free("c", F4),
            _free("d", F10),
            _free("e", F20),
        ]
    ),
)

# Offsets honour each alloc's alignment attribute, and only it (f64 gets no natural alignment):
# best fit 3 B @0, 64 B @64, 5 B @3, 16 B @8 -> 128; back to back 3 @0, 64 @64, 5 @128, 16 @133
# -> 149.
ALIGNED = _func(
    "aligned",
    "\n".join(
        [
            _alloc("a", 3, "i8"),
            _alloc("b", 16, "f32", "{alignment = 64 : i64} "),
            _alloc("c", 5, "i8"),
            _alloc("d", 2, "f64"),
            _use(("a", "memref<3xi8>"), ("b", F16), ("c", "memref<5xi8>"), ("d", "memref<2xf64>")),
            _free("a", "memref<3xi8>"),
            _free("b", F16),
            _free("c", "memref<5xi8>"),
            _free("d", "memref<2xf64>"),
        ]
    ),
)

# Sub-byte element types round the whole buffer up to bytes: 8 + ceil(7/8) + ceil(12/8) = 11.
SUB_BYTE = _func(
    "sub_byte",
    "\n".join(
        [
            _alloc("a", 2),
            _alloc("b", 7, "i1"),
            _alloc("c", 3, "i4"),
            _use(("a", F2), ("b", "memref<7xi1>"), ("c", "memref<3xi4>")),
            _free("a", F2),
            _free("b", "memref<7xi1>"),
            _free("c", "memref<3xi4>"),
        ]
    ),
)

# Only static allocs of the entry block with a same-block dealloc are planned.
SKIPPED = """
func.func private @use_skipped(memref<?xf32>, memref<8xf32>, memref<8xf32>)
func.func @skipped(%n: index, %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %dyn = memref.alloc(%n) : memref<?xf32>
  %stack = memref.alloca() : memref<8xf32>
  %kept = memref.alloc() : memref<8xf32>
  scf.for %i = %c0 to %n step %c1 {
    %inner = memref.alloc() : memref<16xf32>
    linalg.copy ins(%inner : memref<16xf32>) outs(%out : memref<16xf32>)
    memref.dealloc %inner : memref<16xf32>
  }
  func.call @use_skipped(%dyn, %stack, %kept) : (memref<?xf32>, memref<8xf32>, memref<8xf32>) -> ()
  memref.dealloc %dyn : memref<?xf32>
  memref.dealloc %kept : memref<8xf32>
  return
}
"""

RETURNS = """
func.func @returns(%a: memref<16xf32>) -> memref<16xf32> {
  %0 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%a : memref<16xf32>) outs(%0 : memref<16xf32>)
  %1 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%0 : memref<16xf32>) outs(%1 : memref<16xf32>)
  %2 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%1 : memref<16xf32>) outs(%2 : memref<16xf32>)
  %3 = memref.alloc() : memref<16xf32>
  linalg.copy ins(%2 : memref<16xf32>) outs(%3 : memref<16xf32>)
  return %3 : memref<16xf32>
}
"""

SCATTER = """
func.func @scatter(%upd: memref<5xf32>, %idx: memref<5x2xi64>, %out: memref<5x4xf32>) {
  %0 = memref.alloc() {alignment = 64 : i64} : memref<5x4xf32>
  memref.copy %out, %0 : memref<5x4xf32> to memref<5x4xf32>
  tm_tensor.scatter {dimension_map = array<i64: 0, 1>} unique_indices(false)
      ins(%upd, %idx : memref<5xf32>, memref<5x2xi64>) outs(%0 : memref<5x4xf32>) {
  ^bb0(%x: f32, %y: f32):
    tm_tensor.yield %x : f32
  }
  %1 = memref.alloc() {alignment = 64 : i64} : memref<5x4xf32>
  memref.copy %0, %1 : memref<5x4xf32> to memref<5x4xf32>
  memref.copy %1, %out : memref<5x4xf32> to memref<5x4xf32>
  return
}
"""


def _one(text: str, **kwargs: object) -> int:
    (size,) = upstream_best_fit_arena(text, **kwargs).values()
    return size


def test_pipeline_places_deallocs_at_block_end_so_best_fit_reuses_nothing() -> None:
    assert upstream_best_fit_arena(CHAIN) == {"chain": 192}
    assert upstream_best_fit_arena(CHAIN, algorithm="trivial") == {"chain": 192}


def test_optimize_liveness_lets_best_fit_reuse_the_chain() -> None:
    report = upstream_baseline(CHAIN, optimize_liveness=True)["chain"]
    assert (report.arena_bytes, report.no_reuse_bytes) == (128, 192)
    assert (report.planned_buffers, report.unplanned_allocs, report.arena_alignment) == (3, 0, 1)


@pytest.mark.parametrize(
    ("text", "best_fit", "no_reuse"),
    [
        (DISJOINT, 64, 144),
        (OVERLAPPING, 144, 144),
        (BEST_GAP, 64, 112),
        (FREE_TAIL, 96, 160),
        (GREEDY_LOSS, 160, 216),
        (ALIGNED, 128, 149),
        (SUB_BYTE, 11, 11),
    ],
    ids=["disjoint", "overlapping", "best_gap", "free_tail", "greedy_loss", "aligned", "sub_byte"],
)
def test_hand_placed_deallocs(text: str, best_fit: int, no_reuse: int) -> None:
    (report,) = upstream_baseline(text).values()
    assert (report.arena_bytes, report.no_reuse_bytes) == (best_fit, no_reuse)
    assert _one(text, algorithm="trivial") == no_reuse


def test_arena_alignment_is_the_largest_alloc_alignment() -> None:
    assert upstream_baseline(ALIGNED)["aligned"].arena_alignment == 64


def test_dynamic_nested_and_stack_buffers_are_left_out() -> None:
    report = upstream_baseline(SKIPPED)["skipped"]
    assert (report.arena_bytes, report.planned_buffers, report.unplanned_allocs) == (32, 1, 2)


def test_memref_results_become_out_params_first() -> None:
    # The returned buffer becomes the out-param; three 64-byte temporaries remain, and each
    # overlaps only its neighbours in the chain.
    assert _one(RETURNS) == 192
    assert _one(RETURNS, optimize_liveness=True) == 128


def test_per_function_and_func_name() -> None:
    text = _module(
        DISJOINT,
        OVERLAPPING,
        "func.func private @decl(memref<4xf32>)",
        "func.func @nothing() {\n  return\n}",
    )
    assert upstream_best_fit_arena(text) == {"disjoint": 64, "overlapping": 144, "nothing": 0}
    assert upstream_best_fit_arena(text, "overlapping") == {"overlapping": 144}
    with pytest.raises(ValueError, match="no function"):
        upstream_best_fit_arena(text, "decl")


def test_tm_tensor_text_parses_in_a_fresh_context() -> None:
    # Two overlapping 80-byte buffers aligned to 64: @0 and @128.
    assert upstream_best_fit_arena(SCATTER) == {"scatter": 208}


def test_callers_module_is_not_changed() -> None:
    with make_context():
        module = ir.Module.parse(CHAIN)
    before = str(module)
    assert upstream_best_fit_arena(module, optimize_liveness=True) == {"chain": 128}
    assert str(module) == before


def test_element_types_that_crash_upstream_are_refused() -> None:
    text = _func(
        "index",
        "\n".join(
            [_alloc("a", 3, "index"), _use(("a", "memref<3xindex>")), _free("a", "memref<3xindex>")]
        ),
    )
    with pytest.raises(BaselineError, match="element type index"):
        upstream_best_fit_arena(text)


def test_alloc_without_dealloc_among_hand_placed_ones_is_an_error() -> None:
    text = _func(
        "leak",
        "\n".join([_alloc("a", 4), _alloc("b", 4), _use(("a", F4), ("b", F4)), _free("a", F4)]),
    )
    with pytest.raises(BaselineError, match="no dealloc found"):
        upstream_best_fit_arena(text)


def test_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        upstream_best_fit_arena(CHAIN, algorithm="first-fit")


def test_prepare_pipeline_text() -> None:
    assert prepare_pipeline() == (
        "builtin.module(buffer-results-to-out-params{hoist-static-allocs modify-public-functions},"
        "buffer-deallocation-pipeline,convert-bufferization-to-memref)"
    )


def test_crashing_element_types_are_refused_in_every_function() -> None:
    text = _module(
        DISJOINT,
        _func(
            "index",
            "\n".join(
                [
                    _alloc("a", 3, "index"),
                    _use(("a", "memref<3xindex>")),
                    _free("a", "memref<3xindex>"),
                ]
            ),
        ),
    )
    with pytest.raises(BaselineError, match="element type index"):
        upstream_best_fit_arena(text, "disjoint")
