# One entry point for people and CI. Every target sets itself up on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lint format test test-fast soak demo bench clean chromium

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --python $(PY) --quiet -r requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

# The whole suite: lint and types, then every test on SQLite and on the machine's PostgreSQL.
# PostgreSQL: the machine's server (CI starts it); each test database is created and dropped by the suite.
export ROOKERY_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

test: lint chromium
	$(PY) -m pytest -n 2 --dist load

# The browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test-fast: $(STAMP)
	$(PY) -m pytest -x -q

# The fault, crash and security suites in full (`make test` runs their short versions); the
# security folder only when it exists. Figures land in test-output/soak/.
soak: $(STAMP)
	ROOKERY_SOAK=1 $(PY) -m pytest tests/soak $(wildcard tests/security) -q

demo: $(STAMP)
	$(VENV)/bin/rookery demo

# Benchmarks: every one in turn (bench/suite.py), one table against the goals, the figures as
# JSON under bench/results/ and in docs/scaling.md. `make bench BENCH_ARGS=--quick`: a smoke run.
bench: $(STAMP)
	$(PY) bench/suite.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
