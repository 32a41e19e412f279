# Targets named in README.md. `make test` sets everything up from scratch, then runs the suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-node setup-pg setup-browser setup-spark demo test test-fast lint bench docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

# A C compiler builds the EVM decoder's fast path (connectors/evm/_logscan.c) at install; without one
# the install still works and Python decodes (~3x the CPU): Debian's gcc when missing and apt-get is there.
setup: $(BIN)/python
	@if command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null) \
	  || echo "warning: no C compiler: the EVM decoder's C fast path is not built (Python decodes)"; \
	else echo "warning: no C compiler and no apt-get: the EVM decoder's C fast path is not built"; fi
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'

# The local Ethereum node (anvil) for the EVM tests and benchmarks, from the npm registry.
setup-node:
	npm install --no-audit --no-fund --silent --prefix .node @foundry-rs/anvil-linux-amd64@1

# PostgreSQL server binaries for the PostgreSQL backend's tests, which start a throwaway cluster of
# their own (tests/pg_support.py); Debian's package when initdb is missing and apt-get is there.
setup-pg:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	  || echo "warning: postgresql not installed; the PostgreSQL tests will be skipped (failed when CI=true)"; \
	else echo "warning: no PostgreSQL binaries and no apt-get: install postgresql for the PostgreSQL tests"; fi

# Headless Chromium + chromedriver for the web page test (Debian's packages: no browser download, no
# CDN); skipped with a warning where apt-get is missing.  TRACER_CI_BROWSER=0 skips the install.
setup-browser:
	@if [ "$${TRACER_CI_BROWSER:-1}" != 1 ] || command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: chromium not installed; the browser test will be skipped"; \
	else echo "warning: no chromium and no apt-get: the browser test will be skipped"; fi

# Java for the Spark scoring engine (pyspark itself is the `spark` extra): Debian's JRE 17 when no java
# is on PATH; the default engine (networkx) needs no Java.
setup-spark:
	@if [ -n "$${JAVA_HOME:-}" ] || command -v java >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
	  || echo "warning: Java not installed; the Spark engine tests will be skipped (failed when CI=true)"; \
	else echo "warning: no java and no apt-get: install Java 17 for the Spark engine tests"; fi

demo: setup
	$(BIN)/tracer demo

test: setup setup-node setup-pg setup-browser setup-spark
	$(BIN)/ruff check .
	$(BIN)/mypy connectors graphs tracer
	$(BIN)/pytest -q -ra --durations=25

test-fast: setup setup-pg
	$(BIN)/pytest -q -ra -m "not slow"

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy connectors graphs tracer

# docs/cli.md is generated from the CLI's --help (tests/test_cli_docs.py keeps it equal).
docs: setup
	$(BIN)/python -m tracer.cli_docs > docs/cli.md
