# Two entry points on a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lit pytest lint examples

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,models]'
	$(BIN)/python -c 'from modelopt_mlir.solver.offsets.dsa_search import compile_kernels; compile_kernels()'
	touch $(STAMP)

venv: $(STAMP)

# Plan the bundled training steps (table, planned vs unplanned IR bit for bit on the CPU), then
# capture a small GPT-2 training step with Adam from PyTorch, plan it, verify it against eager
# PyTorch and write out/planned.mlir, out/plan.json and out/timeline.png.
demo: $(STAMP)
	$(BIN)/python bench/plan_examples.py --verify --out out/examples
	$(BIN)/python bench/demo.py --out out

# lit + FileCheck tests, then pytest (fast default run; `$(BIN)/pytest -m slow` for model tests).
test: $(STAMP)
	$(BIN)/lit -sv test
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check python passes tools test bench
	$(BIN)/ruff format --check python passes tools test bench

# Regenerate test/examples/ from PyTorch (deterministic).
examples: $(STAMP)
	$(BIN)/python bench/make_examples.py --out test/examples
