# Two commands for a newcomer: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[spark]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.serve-installed

serve: $(VENV)/.serve-installed
	$(BIN)/mrsjobs serve

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# PYTEST_ARGS="-n 2 --dist loadgroup" runs the suite on two workers (a module's tests,
# and those of the namespaced Spark cluster, stay together on one).
PYTEST_ARGS ?=

test: lint typecheck
	$(BIN)/pytest --durations=25 $(PYTEST_ARGS)

unit: $(VENV)/.dev-installed
	$(BIN)/pytest tests/unit

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/kill.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/list.py
	$(BIN)/python bench/submit.py
	$(BIN)/python bench/instances.py
	$(BIN)/python bench/containment.py
	$(BIN)/python bench/logs.py
	$(BIN)/python bench/signin_flood.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/cluster.py

clean:
	rm -rf $(VENV) var
