# Targets named in README.md. `make test` sets everything up from scratch, then runs the suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-node demo test test-fast lint bench docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

# The local Ethereum node (anvil) for the EVM tests and benchmarks, from the npm registry.
setup-node:
	npm install --no-audit --no-fund --silent --prefix .node @foundry-rs/anvil-linux-amd64@1

demo: setup
	$(BIN)/tracer demo

test: setup setup-node
	$(BIN)/ruff check .
	$(BIN)/mypy connectors graphs tracer
	$(BIN)/pytest -q -ra

test-fast: setup
	$(BIN)/pytest -q -ra -m "not slow"

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy connectors graphs tracer

# docs/cli.md is generated from the CLI's --help (tests/test_cli_docs.py keeps it equal).
docs: setup
	$(BIN)/python -m tracer.cli_docs > docs/cli.md
