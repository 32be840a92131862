# The README's commands. `make run` serves the demo; `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
AXE_VERSION := 4.14.1
AXE_DIR := tests/e2e/.axe

.PHONY: install install-dev run test lint bench chromium demo clean

install: $(VENV)/.installed  ## create .venv and install paperfeed (no-op when up to date)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e ".[postgres]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[postgres]" --group dev --group e2e
	touch $@

# axe-core (accessibility rules) from the npm registry, injected into pages by the browser
# tests; installed into a git-ignored folder, never needed by the site itself.
$(AXE_DIR)/.installed-$(AXE_VERSION):
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	rm -rf $(AXE_DIR)
	npm install --prefix $(AXE_DIR) --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)
	touch $@

install-dev: $(VENV)/.installed-dev $(AXE_DIR)/.installed-$(AXE_VERSION)  ## install test, lint and browser-test tools (axe-core too)

run: install  ## migrate, load the demo data and serve http://127.0.0.1:8000
	$(BIN)/paperfeed db upgrade
	$(BIN)/paperfeed import demo
	$(BIN)/paperfeed serve

chromium:  ## Debian's Chromium for the browser tests (never a downloaded browser)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

lint: install-dev
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy

test: install-dev chromium lint  ## lint, type-check and run the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest

bench: install-dev  ## benchmarks on the full ../shared/data corpus (prints ratios)
	$(BIN)/python tests/bench/bench_foundation.py
	$(BIN)/python tests/bench/bench_ingest.py
	$(BIN)/python tests/bench/bench_search.py
	$(BIN)/python tests/bench/bench_community.py
	$(BIN)/python tests/bench/bench_digest.py
	$(BIN)/python tests/bench/bench_api.py
	$(BIN)/python tests/bench/bench_scale.py
	$(BIN)/python tests/bench/bench_topics.py
	$(BIN)/python tests/bench/bench_recommend.py

demo:  ## rebuild the bundled demo data set from ../shared/data
	$(BIN)/python tools/build_demo.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(AXE_DIR)
