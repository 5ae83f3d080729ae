# 서울런 4050 venues: the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# Readable log lines on a laptop; `seoulrun serve` alone writes JSON lines (SEOULRUN_LOG_FORMAT).
LOG_FORMAT ?= text
NPM ?= npm
# Two test processes: the machine (and CI) has two cores; every test has its own database (and each
# process that runs browser tests its own server).
PYTEST_ARGS ?= -n 2
# Root installs Debian packages itself; anyone else through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# PostgreSQL for the test suite: use the local server when one answers, unless told otherwise.
PG_DEFAULT := postgresql+asyncpg://postgres@127.0.0.1:5432/test
ifeq ($(origin SEOULRUN_TEST_POSTGRES_URL), undefined)
  ifneq ($(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo yes),)
    export SEOULRUN_TEST_POSTGRES_URL := $(PG_DEFAULT)
  endif
endif

.PHONY: install assets browser run serve migrate demo test lint typecheck pytest bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Front-end packages (web/assets.py serves an allow-list of them): again when node_modules is missing or
# package-lock.json is newer than the last install.
node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

assets: node_modules/.installed

# The browser tests' Chromium and Korean fonts, from Debian (never Playwright's own browser download);
# nothing to do when they are there.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=ko 2>/dev/null | grep -q .; then \
	  echo "browser tests: $$(chromium --version 2>/dev/null), $$(fc-list :lang=ko | wc -l) Korean fonts"; \
	else \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk; \
	fi

migrate: install
	$(BIN)/seoulrun db upgrade

demo: migrate
	$(BIN)/seoulrun demo load

run: demo assets
	SEOULRUN_LOG_FORMAT=$${SEOULRUN_LOG_FORMAT:-$(LOG_FORMAT)} $(BIN)/seoulrun serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

serve: install assets
	SEOULRUN_LOG_FORMAT=$${SEOULRUN_LOG_FORMAT:-$(LOG_FORMAT)} $(BIN)/seoulrun serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install assets browser
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
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
