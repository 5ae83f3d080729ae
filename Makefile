# 서울런 4050 venues: the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# Two test processes: the machine (and CI) has two cores; every test has its own database.
PYTEST_ARGS ?= -n 2

# PostgreSQL for the test suite: use the local server when one answers, unless told otherwise.
PG_DEFAULT := postgresql+asyncpg://postgres@127.0.0.1:5432/test
ifeq ($(origin SEOULRUN_TEST_POSTGRES_URL), undefined)
  ifneq ($(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo yes),)
    export SEOULRUN_TEST_POSTGRES_URL := $(PG_DEFAULT)
  endif
endif

.PHONY: install run serve migrate demo test lint typecheck pytest bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/seoulrun db upgrade

demo: migrate
	$(BIN)/seoulrun demo load

run: demo
	$(BIN)/seoulrun serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

serve: install
	$(BIN)/seoulrun serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The load generators of bench/ come from Debian: wrk, and pgbench with PostgreSQL's packages (bookworm ships
# it in postgresql-15, newer releases in postgresql-client). BENCH_ARGS: e.g. `--db postgres --quick`.
BENCH_APT = $(if $(filter 0,$(shell id -u)),,sudo) apt-get
BENCH_ARGS ?=
bench: install
	@command -v wrk >/dev/null 2>&1 || $(BENCH_APT) install -y wrk || { $(BENCH_APT) update && $(BENCH_APT) install -y wrk; }
	@command -v pgbench >/dev/null 2>&1 || $(BENCH_APT) install -y postgresql-client || true
	@command -v pgbench >/dev/null 2>&1 || $(BENCH_APT) install -y postgresql || echo "no pgbench: bookings get no pgbench yardstick"
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
