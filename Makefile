# The README's commands. Every target creates its own virtual environment from pyproject.toml.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck contracts pytest openapi docker-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	SPARSEFIT_HOST=$(HOST) SPARSEFIT_PORT=$(PORT) $(BIN)/python -m service

lint: $(VENV)/.installed-test
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy service

contracts: $(VENV)/.installed-test
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test: lint typecheck contracts pytest

openapi: $(VENV)/.installed-test
	$(BIN)/python -m service.openapi_export openapi/openapi.json

docker-test:
	bash scripts/docker-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
