# trackhouse: the two commands a newcomer needs are `make run` and `make test`
# (`make test-fast` while editing: the tests that need no real server, in under 30 s).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast screenshots docs lint bench bench-query bench-retention bench-tail fuzz chaos chaos-embedded mutate clean

$(BIN)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

## Start everything on the embedded defaults (redis-server + chDB under ./data), on 127.0.0.1:8000.
run: $(BIN)/.installed-embedded
	$(BIN)/trackhouse up

## Run the whole test suite against a real redis-server and chDB, in TEST_WORKERS processes
## (default 2: each test file in one process, its module fixtures started once).
test: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m pytest -n $${TEST_WORKERS:-2} --dist loadfile

## The tests that need no real server (no redis-server, chDB, `trackhouse up`, Chromium): the
## `integration`, `browser` and `fuzz` markers deselected (a fixture that starts a server fails a
## test that lacks its marker), property tests at a fifth of their examples; under 30 s on 2 cores.
test-fast: $(BIN)/.installed-embedded,dev
	PROPERTY_EXAMPLES_SCALE=0.2 $(BIN)/python -m pytest -q -m "not integration and not browser and not fuzz"

## Refresh the docs' screenshots (docs/img/*.png: the dashboard, its phone layout, /docs) from the
## browser tests, which otherwise write them to a temporary folder; Chromium needed, ~1 min.
screenshots: $(BIN)/.installed-embedded,dev
	TRACKHOUSE_SCREENSHOT_DIR=docs/img $(BIN)/python -m pytest -q tests/browser/test_dashboard.py tests/browser/test_docs.py

## Fuzz the API from its own OpenAPI schema (schemathesis, in-process): 100,000 generated requests
## (FUZZ_EXAMPLES=N for another count), none may get a 5xx; ~45 min on 2 cores. Valid and invalid
## requests run in two processes at once (generating them is the cost). The suite sends 200.
FUZZ = FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100000} $(BIN)/python -m pytest -p no:cacheprovider -q -s -m fuzz \
	tests/property/test_openapi_fuzz.py
fuzz: $(BIN)/.installed-embedded,dev
	$(FUZZ) -k positive & valid=$$!; $(FUZZ) -k negative & invalid=$$!; \
	wait $$valid; v=$$?; wait $$invalid; i=$$?; [ $$v -eq 0 ] && [ $$i -eq 0 ]

## Faults under load: 200,000+ events through redis-server, `trackhouse api` and a worker on chDB
## while workers, Redis and the API are killed and the store fails and hangs 60 s each; counts
## rows per event_id (lost, duplicated) and rewrites CHAOS.md. ~5 min. CHAOS_ARGS="--rate 2000 …".
chaos: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m tests.chaos.run --report $(CHAOS_ARGS)

## The same load and count against `trackhouse up` (what `make run` starts): its store process,
## API and redis-server SIGKILLed, the whole SIGTERMed and SIGKILLed under load and started again;
## rewrites CHAOS.md's embedded section. ~5 min. CHAOS_ARGS as above.
chaos-embedded: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m tests.chaos.run --topology embedded --report $(CHAOS_ARGS)

## Break each delivery guarantee on purpose (tests/mutations/run.py), in a temporary copy, and
## check that a test fails for each; ~5 min. MUTATE_ARGS="--only random-insert-token".
mutate: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m tests.mutations.run $(MUTATE_ARGS)

## Benchmark every design on this machine (wrk needed), `make run`'s embedded one too; prints one
## table and the targets, rewrites BENCHMARKS.md (keeping the sections other commands wrote).
bench: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m bench.run

## The query API: 10 M synthetic events (QUERY_EVENTS=N for another count) straight into chDB,
## the dashboard's questions through POST /api/query vs plain FINAL SQL, and /track under two
## query loops (wrk); prints a table and rewrites its section of BENCHMARKS.md. ~10 min.
bench-query: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m bench.query --events $${QUERY_EVENTS:-10000000}

## Retention enforcement: 10 M synthetic events over a year in chDB (RETENTION_EVENTS=N for another
## count), trackhouse's partition drops + lightweight DELETE vs ALTER … DELETE and MODIFY TTL on copies
## of the same rows (time, bytes written, expired rows left), and /track while the worker enforces it
## (wrk); prints the tables and rewrites its section of BENCHMARKS.md. ~20 min.
bench-retention: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m bench.retention --events $${RETENTION_EVENTS:-10000000}

## Where the latency tail comes from: `trackhouse up` (one API process) under /track and /batch load
## with a probe (GC pauses, event-loop stalls, enqueue times) and py-spy if installed (`pip install
## py-spy`); prints a table and rewrites BENCHMARKS.md's profile section. ~1 min.
bench-tail: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m bench.tail

## Regenerate the docs made from the code: docs/settings.md (Settings' docstrings) and the metric
## table of docs/query-api.md (METRICS). The suite fails while either is stale.
docs: $(BIN)/.installed-embedded,dev
	$(BIN)/python -m cli.docs

lint: $(BIN)/.installed-embedded,dev
	$(BIN)/ruff check api worker shared cli tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
