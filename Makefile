# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: demo test install install-dev lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e .

install-dev: $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'

demo: install
	$(BIN)/creditgraph demo

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install-dev
	$(BIN)/mypy src

pytest: install-dev
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck pytest

bench: install-dev
	$(BIN)/python bench/ingest.py

clean:
	rm -rf .creditgraph .pytest_cache .mypy_cache .ruff_cache
