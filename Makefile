# trakt-plugin: `make run` starts the service, `make test` runs the whole suite.
# Both create .venv and install what they need, Debian packages included, when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_TEST_PACKAGES := chromium chromium-driver microsocks

.PHONY: run test test-long lint typecheck venv install install-test debian-test-deps bench clean

run: install
	$(BIN)/trakt-plugin serve

test: install-test debian-test-deps lint typecheck
	$(BIN)/python -m pytest -q -m "not slow"

# Full-size chaos and large-sync runs (the scaled-down versions run in `make test`).
test-long: install-test debian-test-deps
	TRAKT_PLUGIN_LONG_TESTS=1 $(BIN)/python -m pytest -q -m slow

lint: install-test
	$(BIN)/ruff check trakt_plugin tests bench

typecheck: install-test
	$(BIN)/mypy trakt_plugin

bench: install-test
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/scrobble_latency.py
	$(BIN)/python bench/sync.py

# python3-venv is missing on plain Debian; install it only when `venv` cannot be created.
$(BIN)/python:
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv python3-pip; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

debian-test-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
