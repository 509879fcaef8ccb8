# OpenDMP — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock

.PHONY: demo test lint typecheck importlint pytest install install-dev lock clean

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
demo: $(VENV)/.installed
	$(BIN)/opendmp demo

## make test: ruff, mypy, import-linter and pytest (SQLite; PostgreSQL too when
## OPENDMP_TEST_DATABASE_URL is set)
test: $(VENV)/.installed-dev lint typecheck importlint pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

importlint: $(VENV)/.installed-dev
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

## make lock: re-resolve the pinned versions (after changing pyproject.toml)
lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
