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

# Two workers: most of a test's time is a JVM or a server starting.
TEST_WORKERS ?= 2

test: lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

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
