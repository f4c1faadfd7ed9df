# trakt-plugin: `make run` starts the service, `make test` runs the whole suite.
# Both create .venv and install what they need, Debian packages included, when missing.
# Python packages come from hashed lock files only: requirements-run.lock for `make run`,
# requirements.lock (the same pins plus the test tools) for `make test`; `make lock` remakes them.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The suite waits on service processes, fakes and a browser far more than on the CPU: three
# workers (each test file stays on one) finish it in about half the time on two cores.
TEST_WORKERS ?= 3
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_TEST_PACKAGES := chromium chromium-driver microsocks
LOCK     := requirements.lock
RUN_LOCK := requirements-run.lock
LOCK_IN  := pyproject.toml requirements-tools.in
# pip-tools lives in a throwaway virtualenv: it only writes the lock files, never runs the service.
PIPTOOLS ?= $(or $(TMPDIR),/tmp)/trakt-plugin-piptools
COMPILE   = $(PIPTOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-find-links --no-emit-index-url --no-emit-trusted-host $(LOCK_ARGS)

.PHONY: run test test-pg test-long lint typecheck venv install install-test debian-test-deps bench screenshots lock \
	clean

run: install
	$(BIN)/trakt-plugin serve

# The suite on SQLite, then the store, outbox, webhook, chaos, sync and poster tests again with
# every service on PostgreSQL (PG_TESTS; about 6 + 2.5 minutes here). tests/multiprocess and
# tests/test_store_postgres.py always run on a throwaway PostgreSQL cluster (tests/pg.py starts
# one per worker: own data dir, own port, fsync off, as nobody when root).
PG_TESTS ?= tests/scrobble tests/webhooks tests/sync tests/test_store.py tests/posters
test: install-test debian-test-deps lint typecheck
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile
	TRAKT_PLUGIN_TEST_DB=postgres $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) \
	  --dist loadfile $(PG_TESTS)

# The PostgreSQL part of `make test` alone (also part of test-long).
test-pg: install-test debian-test-deps
	TRAKT_PLUGIN_TEST_DB=postgres $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) \
	  --dist loadfile $(PG_TESTS)

# Full-size chaos and large-sync runs (the scaled-down versions run in `make test`), and the whole
# suite with every service on PostgreSQL.
test-long: install-test debian-test-deps
	TRAKT_PLUGIN_LONG_TESTS=1 $(BIN)/python -m pytest -q -m slow
	TRAKT_PLUGIN_LONG_TESTS=1 TRAKT_PLUGIN_TEST_DB=postgres $(BIN)/python -m pytest -q -m slow \
	  $(PG_TESTS)
	TRAKT_PLUGIN_TEST_DB=postgres $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) \
	  --dist loadfile

lint: install-test
	$(BIN)/ruff check trakt_plugin tests bench

typecheck: install-test
	$(BIN)/mypy trakt_plugin

# Every bench runs even when one before it failed; each ends with `GOAL ...` lines, which
# bench/summary.py gathers into one table at the end (exit 1 when a goal was missed or a bench
# failed). The whole output is kept in $(BENCH_LOG).
BENCHES   := startup webhook_ingest scrobble_latency sync server_sync watch_latency stats
BENCH_LOG ?= $(or $(TMPDIR),/tmp)/trakt-plugin-bench.log
bench: install-test
	@: > $(BENCH_LOG); for b in $(BENCHES); do \
	  echo "== bench/$$b.py" | tee -a $(BENCH_LOG); \
	  { $(BIN)/python bench/$$b.py 2>&1; echo "STATUS $$b $$?"; } | tee -a $(BENCH_LOG); \
	done; $(BIN)/python bench/summary.py $(BENCH_LOG)

# A PNG of every dashboard page at 1440×900 and 390×844 (a little data from the fake Trakt) for a
# reviewer to look at; SCREENSHOTS_OUT=dir to save elsewhere.
SCREENSHOTS_OUT ?= screenshots
screenshots: install-test debian-test-deps
	$(BIN)/python bench/screenshots.py --out $(SCREENSHOTS_OUT)

# python3-venv is missing on plain Debian; install it only when `venv` cannot be created.
$(BIN)/python:
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv python3-pip; }
	$(PYTHON) -m venv $(VENV)

venv: $(BIN)/python

# The lock brings pip, setuptools and wheel too, so the project installs without build isolation
# (no unpinned download); the full lock holds the runtime lock's pins, hence both stamps.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(RUN_LOCK)
	$(BIN)/python -m pip install -q --require-hashes -r $(RUN_LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# PostgreSQL for the tests (tests/pg.py): Debian's package unless an initdb is found already
# (Debian keeps it in /usr/lib/postgresql/<version>/bin, out of PATH).
debian-test-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! command -v initdb >/dev/null 2>&1 && \
	  ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
	  ! [ -x "$$(pg_config --bindir 2>/dev/null)/initdb" ]; then missing="$$missing postgresql"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# Remake both lock files after a change to the dependencies: pins already in requirements.lock are
# kept where they still fit; `make lock LOCK_ARGS=--upgrade` moves everything to the newest release.
lock:
	[ -x $(PIPTOOLS)/bin/pip-compile ] || { $(PYTHON) -m venv $(PIPTOOLS) && \
	  $(PIPTOOLS)/bin/python -m pip install -q pip-tools; }
	$(COMPILE) --extra test --output-file $(LOCK) $(LOCK_IN)
	$(COMPILE) --constraint $(LOCK) --output-file $(RUN_LOCK) $(LOCK_IN)

clean:
	rm -rf $(VENV) build *.egg-info
