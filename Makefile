# `make test` is the one command that runs the whole test suite on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint typecheck unit install docs bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'

lint: install
	$(BIN)/ruff check swissai tests benchmarks
	$(BIN)/ruff format --check swissai tests benchmarks

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

docs: install
	$(BIN)/python -m swissai.tools.gen_docs

bench: install
	$(BIN)/python benchmarks/plan_accuracy.py
	$(BIN)/python benchmarks/cli_latency.py
