# The README's commands. Every target creates its own virtual environment from pyproject.toml.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# `make run PORT=9000` and `SPARSEFIT_PORT=9000 make run` both work: the make variable wins, else
# the service's own environment variable, else the default (likewise HOST and SPARSEFIT_HOST).
HOST ?= $(or $(SPARSEFIT_HOST),127.0.0.1)
PORT ?= $(or $(SPARSEFIT_PORT),8000)
# adelie pins numpy<2, so the benchmark runs it from a venv of its own (bench/README.md).
PEERS_VENV ?= bench/.venv-peers
# MLflow (pyarrow<26) likewise, for the serving bench.
MLFLOW_VENV ?= bench/.venv-mlflow
# pytest-xdist workers for `make test`: one per core of the 2-core machines we run on
# (`make test TEST_WORKERS=0` runs the suite in one process). Each test file stays on one worker,
# as some modules share state between their tests. The contract fuzz runs on its own afterwards:
# its per-operation tests share one node id, which xdist cannot tell apart, and it prints a tally.
TEST_WORKERS ?= 2
FUZZ_TESTS := tests/api/test_contract_fuzz.py

.PHONY: run test lint typecheck contracts pytest openapi bench bench-serving load docker-test clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The client (client/, its own distribution) too: tests/client drives it against a real server.
$(VENV)/.installed-test: pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	$(BIN)/python -m pip install --quiet -e './client[all]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dask,bench]'
	$(BIN)/python -m pip install --quiet -e './client[all]'
	touch $(VENV)/.installed $(VENV)/.installed-test $@

# Optional peer: a failed install only drops adelie from the benchmark (retried on the next run).
$(PEERS_VENV)/.installed: bench/requirements-peers.txt
	($(PYTHON) -m venv $(PEERS_VENV) || python3 -m venv $(PEERS_VENV)) \
	&& $(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip \
	&& $(PEERS_VENV)/bin/python -m pip install --quiet -r bench/requirements-peers.txt \
	&& touch $@ \
	|| echo "bench: the adelie venv $(PEERS_VENV) did not install; adelie is left out"

# Optional peer of the serving bench: a failed install leaves MLflow out of it.
$(MLFLOW_VENV)/.installed: bench/requirements-mlflow.txt
	($(PYTHON) -m venv $(MLFLOW_VENV) || python3 -m venv $(MLFLOW_VENV)) \
	&& $(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip \
	&& $(MLFLOW_VENV)/bin/python -m pip install --quiet -r bench/requirements-mlflow.txt \
	&& touch $@ \
	|| echo "bench-serving: the MLflow venv $(MLFLOW_VENV) did not install; MLflow is left out"

run: $(VENV)/.installed
	SPARSEFIT_HOST=$(HOST) SPARSEFIT_PORT=$(PORT) $(BIN)/python -m service

lint: $(VENV)/.installed-test
	$(BIN)/ruff check service tests bench client
	$(BIN)/ruff format --check service tests bench client

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy service
	$(BIN)/mypy --strict client/sparsefit

contracts: $(VENV)/.installed-test
	$(BIN)/lint-imports

# tests/ui drives Debian's Chromium through playwright (never `playwright install`): installed here
# when missing, as root or through sudo. If that fails the suite still runs and tests/ui fails,
# saying what is missing.
CHROMIUM ?= /usr/bin/chromium
APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sh -c '$(APT_INSTALL)'; \
	elif command -v sudo >/dev/null 2>&1; then sudo sh -c '$(APT_INSTALL)'; \
	else false; fi \
	|| echo "make: could not install chromium ($(CHROMIUM)); tests/ui will fail until it is installed" >&2

pytest: $(VENV)/.installed-test | $(CHROMIUM)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore=$(FUZZ_TESTS)
	$(BIN)/python -m pytest -q $(FUZZ_TESTS)

test: lint typecheck contracts pytest

openapi: $(VENV)/.installed-test
	$(BIN)/python -m service.openapi_export openapi/openapi.json

bench: $(VENV)/.installed-bench $(PEERS_VENV)/.installed
	$(BIN)/python -m bench.run
	if [ -f bench/service_bench.py ]; then $(BIN)/python -m bench.service_bench; fi

# Predictions/s on one core: Sparsefit vs MLflow's scoring server vs a bare FastAPI route, with wrk
# (Debian: apt-get install -y wrk); about 3 minutes (bench/README.md).
bench-serving: $(VENV)/.installed-test $(MLFLOW_VENV)/.installed
	@command -v wrk >/dev/null || { echo "bench-serving needs wrk: apt-get install -y wrk"; exit 1; }
	$(BIN)/python -m bench.serving

# Loopback load test (bench/load.py): 200 clients for 60 s as two tenants, then it drains and verifies.
load: $(VENV)/.installed-test
	$(BIN)/python -m bench.load --clients 200 --duration 60 --api-keys loadA:load-key-a1,loadB:load-key-b2

# The contract fuzz test with ten times the suite's examples per operation, for manual runs;
# SPARSEFIT_FUZZ_SEED=N explores other requests.
FUZZ_EXAMPLES ?= 800
fuzz: $(VENV)/.installed-test
	SPARSEFIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q --timeout=3600 $(FUZZ_TESTS)

docker-test:
	bash scripts/docker-test.sh

clean:
	rm -rf $(VENV) $(PEERS_VENV) $(MLFLOW_VENV) .mypy_cache .ruff_cache .pytest_cache
