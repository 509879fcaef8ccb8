# OpenDMP — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock

.PHONY: demo test lint typecheck importlint pytest install install-dev lock clean bench bench-full bench-xds wrk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install: the package and its dependencies, pinned by the lock file.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install --quiet -c $(LOCK) -e .
	touch $@

# Development install: adds the dev extra (tests, linters).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make demo: install, initialise ./var, load synthetic data, serve on http://127.0.0.1:8080
## (make demo PORT=8090: another port)
PORT ?= 8080
demo: $(VENV)/.installed
	$(BIN)/opendmp demo --port $(PORT)

## make test: ruff, mypy, import-linter and pytest (SQLite; PostgreSQL too when
## OPENDMP_TEST_DATABASE_URL is set)
test: $(VENV)/.installed-dev lint typecheck importlint pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/python -m opendmp.web.i18n check

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

importlint: $(VENV)/.installed-dev
	$(BIN)/lint-imports

## pytest runs on every core (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
## --dist loadgroup keeps each xdist_group of tests/conftest.py on one worker.
PYTEST_WORKERS ?= auto
pytest: $(VENV)/.installed-dev
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory axe; fi
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

## make axe: axe-core from npm for the browser tests' accessibility survey (pinned by
## tests/web/axe/package-lock.json; docs/portals.md, "Browser tests and screenshots")
AXE := tests/web/axe/node_modules/axe-core/axe.min.js
.PHONY: axe
axe: $(AXE)
$(AXE): tests/web/axe/package.json tests/web/axe/package-lock.json
	npm ci --prefix tests/web/axe --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[dev,bench]"
	touch $@

wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

## make bench: the MHD scenarios of issue 13 (one patient and many, 16 clients, the no-op
## request in the same run), 10 k documents, SQLite and PostgreSQL, 1 and 2 workers,
## ~10 minutes; results in benchmarks/results/, report in docs/benchmarks.md with the
## before/after table against BEFORE (main before issue 13's second pass; BEFORE= for none)
BEFORE ?= docs/benchmarks/before-issue13.json
bench: $(VENV)/.installed-bench wrk
	$(BIN)/python benchmarks/run.py --quick --out benchmarks/results/bench-quick.json
	$(BIN)/python benchmarks/report.py benchmarks/results/bench-quick.json \
		$(if $(BEFORE),--before $(BEFORE))
	$(BIN)/python benchmarks/framework_floor.py
	$(BIN)/python benchmarks/iti41_cpu.py

## make bench-xds: server CPU per document, XDS.b ITI-41 against FHIR ITI-65 (10 KB,
## SQLite, ~1 minute; docs/benchmarks.md)
bench-xds: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/iti41_cpu.py

## make bench-full: 10 k and 1 M documents (about 20 GB of disk, ~40 minutes)
bench-full: $(VENV)/.installed-bench wrk
	$(BIN)/python benchmarks/run.py --sizes 10000,1000000 --duration 15 \
		--out benchmarks/results/bench-full.json
	$(BIN)/python benchmarks/report.py benchmarks/results/bench-full.json

## make lock: re-resolve the pinned versions (after changing pyproject.toml)
lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: fault-key-rotation

## make fault-key-rotation: crypto-shredding attack and kill -9 during a key rotation
## (docs/security.md); PostgreSQL too when OPENDMP_TEST_DATABASE_URL is set
fault-key-rotation: $(VENV)/.installed-dev
	$(BIN)/pytest tests/services/operations/test_shredding.py tests/services/operations/test_key_rotation_kill.py

.PHONY: policy-scale
## make policy-scale: the policy/SQL-filter equivalence with 100,000 generated scenarios per
## database (SQLite, and PostgreSQL when OPENDMP_TEST_DATABASE_URL is set); docs/security.md
POLICY_SCENARIOS ?= 100000
policy-scale: $(VENV)/.installed-dev
	OPENDMP_TEST_POLICY_SCENARIOS=$(POLICY_SCENARIOS) $(BIN)/pytest -s -q \
		tests/storage/test_document_filter.py

## make fuzz: schemathesis over every operation of /openapi.json, bodies included, as a
## professional and as a patient, with many more cases than make test (FUZZ_EXAMPLES,
## default 50: about 10 minutes); 0 server errors allowed (docs/security.md, "Fuzzing")
.PHONY: fuzz
fuzz: $(VENV)/.installed-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest tests/api/test_openapi_fuzz.py \
		-k every_operation -s -q

.PHONY: fuzz-parsers

$(VENV)/.installed-fuzz: $(VENV)/.installed
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[fuzz]"
	touch $@

## make fuzz-parsers: coverage-guided fuzzing (atheris) of the CDA header parser, the FHIR
## XML reader, bearer tokens, establishment assertions and client certificates, one target
## after another, FUZZ_RUNS inputs each, each run bounded by FUZZ_TIMEOUT seconds; new
## corpus entries and crashing inputs go to var/fuzz/ (docs/security.md)
FUZZ_RUNS    ?= 1000000
FUZZ_TIMEOUT ?= 3600
FUZZ_TARGETS ?= cda_header fhir_xml tokens assertions certificates
FUZZ_WORK    := var/fuzz

fuzz-parsers: $(VENV)/.installed-fuzz
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/$$target $(FUZZ_WORK)/crashes; \
		echo "== fuzz/$$target.py: $(FUZZ_RUNS) inputs"; \
		timeout $(FUZZ_TIMEOUT) $(BIN)/python fuzz/$$target.py -runs=$(FUZZ_RUNS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_WORK)/crashes/$$target- \
			$(FUZZ_WORK)/$$target fuzz/corpus/$$target || exit 1; \
	done

.PHONY: cluster-test
## make cluster-test: two `opendmp serve` nodes behind haproxy (deploy/haproxy.cfg) on a fresh
## PostgreSQL database of postgres@127.0.0.1:5432, a mixed load while one node is killed
## (SIGKILL) and restarted; nothing acknowledged lost (docs/deployment.md; ~2 minutes).
## Installs haproxy (Debian) if missing. OPENDMP_CLUSTER_LOGS=DIR keeps the nodes' logs.
cluster-test: $(VENV)/.installed-dev
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || \
		(apt-get update -qq && apt-get install -y -qq haproxy)
	OPENDMP_CLUSTER_TEST=1 $(BIN)/pytest -n 0 -s -q tests/cluster
