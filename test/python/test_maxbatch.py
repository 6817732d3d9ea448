"""The largest batch that fits: the search, size parsing, the eager measure under fake tensors
and modelopt-maxbatch's usage errors."""

from __future__ import annotations

import pytest

from modelopt_mlir.maxbatch import Probe, eager_peak_fake, parse_bytes, search_largest
from modelopt_mlir.tools.maxbatch import main
from modelopt_mlir.zoo import ZOO, bench_optimizer


def _threshold(limit: int, calls: list[int]):
    def fits(batch: int) -> Probe:
        calls.append(batch)
        return Probe(batch, batch <= limit, batch * 10, 0.0)

    return fits


@pytest.mark.parametrize(("limit", "start"), [(37, 1), (1, 1), (64, 1), (5, 8), (100, 8)])
def test_doubling_then_bisection_finds_the_largest(limit: int, start: int) -> None:
    calls: list[int] = []
    largest, probes = search_largest(_threshold(limit, calls), start=start)
    assert largest == limit
    assert [p.batch for p in probes] == calls
    assert len(calls) <= 2 * max(limit, start).bit_length() + 2


def test_nothing_fits() -> None:
    largest, probes = search_largest(_threshold(0, []), start=1)
    assert largest == 0 and len(probes) == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [("8GiB", 8 << 30), ("500MB", 500_000_000), ("1073741824", 1 << 30), ("1.5 KiB", 1536)],
)
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["8XB", "", "GiB", "-1", "0"])
def test_parse_bytes_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_eager_peak_under_fake_tensors_grows_with_the_batch() -> None:
    def build(batch: int):
        return ZOO["mlp"].build(batch=batch)

    def adam(model):
        return bench_optimizer("adam", model)

    small, large = eager_peak_fake(build, 2, adam), eager_peak_fake(build, 64, adam)
    assert 0 < small < large


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "gpt2", "--budget", "8XB"],
        ["--model", "nope", "--budget", "1GiB"],
        ["--model", "gpt2", "--budget", "1GiB", "--start", "0"],
        ["--budget", "1GiB"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "modelopt-maxbatch: error:" in capsys.readouterr().err
