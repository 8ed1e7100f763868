# The one front door. Every target installs what it needs (virtualenv, pip, npm) itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
HOME_DIR ?= .eventsuite
PYTEST_ARGS ?=

.PHONY: help setup setup-dev demo serve run test test-fast lint typecheck bench \
        package package-aws package-gcp package-azure plan-aws plan-gcp plan-azure \
        deploy-aws deploy-gcp deploy-azure destroy-aws destroy-gcp destroy-azure clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.stamp-local: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[local]'
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[local,aws,gcp,azure,dev]'
	@touch $@ $(VENV)/.stamp-local

setup: $(VENV)/.stamp-local ## virtualenv with the core and the local backend

setup-dev: $(VENV)/.stamp-dev ## virtualenv with every cloud SDK, emulators and tools

demo: setup ## run the whole system on the embedded local backend and print a summary
	$(PY) -m functions.local --home $(HOME_DIR)/demo demo

serve: setup ## every consumer under functions-framework on local ports, fed by the local broker
	$(PY) -m functions.local --home $(HOME_DIR)/serve serve

run: setup ## deliver whatever is pending in the local broker, then exit
	$(PY) -m functions.local --home $(HOME_DIR)/serve run

lint: setup-dev ## ruff and mypy (strict on shared/)
	$(VENV)/bin/ruff check shared functions tests
	$(VENV)/bin/mypy

test: setup-dev lint ## the whole test suite (unit, integration against emulators, e2e, terraform)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup-dev ## unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: setup-dev ## benchmarks: thumbnails, cold start, package sizes, broker throughput
	$(PIP) install --quiet -e '.[local,aws,gcp,azure,dev,bench]'
	$(PY) -m tests.bench.run

clean: ## remove build outputs and local state (not the virtualenv)
	rm -rf build $(HOME_DIR) $(HOME_DIR).log .pytest_cache .mypy_cache .ruff_cache
