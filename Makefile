# One virtualenv in .venv; every target sets it up first, so each is one command on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data/synth-default
TORCH_VERSION ?= 2.13.0

.PHONY: setup lint demo test test-fast test-heavy browser clean reference-leaderboard readme-status

setup: $(STAMP)

# torch is installed first and pinned here only (the CPU build); users elsewhere keep their own torch.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Headless Chromium for the leaderboard's browser test (Debian packages; needs root or an existing install).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium chromium-driver' (browser tests will fail without it)"; fi; \
	fi

# Main job on the synthetic default.
demo: setup
	$(BIN)/robobench demo --dataroot $(DATA)

# The test suite CI runs (includes tests marked slow and browser; excludes heavy ones).
test: setup browser lint
	$(BIN)/python -m pytest -m "not heavy" -q --durations=15

# Format and lint (rules in pyproject.toml); part of `make test`.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: setup
	$(BIN)/python -m pytest -m "not heavy and not slow and not browser" -q

test-heavy: setup
	$(BIN)/python -m pytest -m heavy -q

# The leaderboard of the measured runs shipped in reference-results/ (no training): runs/reference/leaderboard.
REFERENCE ?= reference-results/synth-default-full
reference-leaderboard: setup
	rm -f runs/reference/results.sqlite
	$(BIN)/robobench results import --db runs/reference/results.sqlite $(REFERENCE)/*.json
	$(BIN)/robobench leaderboard --db runs/reference/results.sqlite --out runs/reference/leaderboard

# README's status section and every number its prose quotes, rendered from reference-results/ through
# docs/readme/*.md.j2 (tests/project/test_readme_status.py fails when README and the files disagree).
readme-status: setup
	$(BIN)/python -m robobench.docs_tables

clean:
	rm -rf $(VENV) build *.egg-info
