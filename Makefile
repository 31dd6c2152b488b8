# The README's commands. Every target creates its own virtual environment from pyproject.toml.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# adelie pins numpy<2, so the benchmark runs it from a venv of its own (bench/README.md).
PEERS_VENV ?= bench/.venv-peers

.PHONY: run test lint typecheck contracts pytest openapi bench load docker-test clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-test $@

# Optional peer: a failed install only drops adelie from the benchmark (retried on the next run).
$(PEERS_VENV)/.installed: bench/requirements-peers.txt
	($(PYTHON) -m venv $(PEERS_VENV) || python3 -m venv $(PEERS_VENV)) \
	&& $(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip \
	&& $(PEERS_VENV)/bin/python -m pip install --quiet -r bench/requirements-peers.txt \
	&& touch $@ \
	|| echo "bench: the adelie venv $(PEERS_VENV) did not install; adelie is left out"

run: $(VENV)/.installed
	SPARSEFIT_HOST=$(HOST) SPARSEFIT_PORT=$(PORT) $(BIN)/python -m service

lint: $(VENV)/.installed-test
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy service

contracts: $(VENV)/.installed-test
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test: lint typecheck contracts pytest

openapi: $(VENV)/.installed-test
	$(BIN)/python -m service.openapi_export openapi/openapi.json

bench: $(VENV)/.installed-bench $(PEERS_VENV)/.installed
	$(BIN)/python -m bench.run
	if [ -f bench/service_bench.py ]; then $(BIN)/python -m bench.service_bench; fi

# Loopback load test (bench/load.py): 200 clients for 60 s as two tenants, then it drains and verifies.
load: $(VENV)/.installed-test
	$(BIN)/python -m bench.load --clients 200 --duration 60 --api-keys loadA:load-key-a1,loadB:load-key-b2

# The contract fuzz test with ten times the suite's examples per operation, for manual runs;
# SPARSEFIT_FUZZ_SEED=N explores other requests.
FUZZ_EXAMPLES ?= 800
fuzz: $(VENV)/.installed-test
	SPARSEFIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q --timeout=3600 tests/api/test_contract_fuzz.py

docker-test:
	bash scripts/docker-test.sh

clean:
	rm -rf $(VENV) $(PEERS_VENV) .mypy_cache .ruff_cache .pytest_cache
