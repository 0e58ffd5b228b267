# The two commands: `make run` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= 1

.PHONY: run test install install-dev native lint typecheck pytest browser clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[native]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The verifier's hot path compiled with mypyc into build/native/ (decision 0047); a no-op when up to date.
# Without a C compiler it says so and everything runs as plain Python; `passport native status` tells which.
native: install
	$(BIN)/passport native build

# Demo registry on the embedded SQLite database under var/. Safe to run again: it reuses keys and data.
run: export PASSPORT_DEMO_MODE ?= true
run: export PASSPORT_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: install native
	$(BIN)/passport db upgrade
	$(BIN)/passport keys init
	$(BIN)/passport demo seed --scale $(SCALE)
	$(BIN)/passport serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service tests bench migrations

typecheck: install-dev
	$(BIN)/mypy

# Three processes (pytest-xdist), whole test files each, so a file's live server or browser is started once;
# each process has its own SQLite file and PostgreSQL database. Three on 2 cores: much of the suite waits
# on live servers, Chromium and the databases. The files in the order tests/conftest.py gives them (slow
# and browser files first), not xdist's largest-first, which left the few long tests to run alone at the
# end. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
pytest: install-dev browser native
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The browser tests drive Debian's Chromium: find it, or install it when root with apt-get, or say why
# those tests will be skipped (tests/browser/ensure-chromium.sh).
browser:
	@bash tests/browser/ensure-chromium.sh

# Lint, type-check and the whole suite, on SQLite and on PostgreSQL.
test: lint typecheck pytest

bench: install-dev
	$(BIN)/python bench/api_throughput.py && $(BIN)/python bench/seed_demo.py --scale 1

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
