# relman — the README names these targets. Everything runs from a local virtualenv (.venv)
# built from the pinned lock file, so a fresh machine needs only Python >= 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
LINTED := $(wildcard src tests benchmarks examples)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve demo test test-sqlite test-postgres check fmt lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("relman needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# relman's main job on the embedded default: the whole release lifecycle, for real, on this
# machine (SQLite, local hosts on 127.0.0.2/.3); leaves its database, logs and evidence in
# ./relman-demo.
demo: $(STAMP)
	$(BIN)/relman demo --dir relman-demo

# The embedded default: SQLite in ./relman.db, a generated API secret in ./.env.
serve: $(STAMP)
	@test -f .env || $(BIN)/relman config init-env
	$(BIN)/relman serve --migrate

# The suite runs on pytest-xdist workers, a test file per worker at a time (its module
# fixtures — sshd hosts, the runner's wheel — are built once), and names its 20 slowest
# tests. One worker more than CPUs: much of a test's time is waiting on subprocesses, sshd
# and the Docker engine (2 cores: 6:00 with 2 workers, 4:55 with 3, 4:52 with 4).
# PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST_FLAGS   := -q -n $(PYTEST_WORKERS) --dist loadfile --durations=20

# The whole suite on SQLite; set RELMAN_TEST_DATABASE_URL to run it on PostgreSQL.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

test-postgres: $(STAMP)
	RELMAN_TEST_DATABASE_URL=$${RELMAN_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres} $(BIN)/python -m pytest $(PYTEST_FLAGS)

check: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -q -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
