# The one front door. Every target installs what it needs (virtualenv, pip, npm) itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
HOME_DIR ?= .eventsuite
SERVE_PORT ?= 8081
# Empty: serve's default (8080, or a free port with SERVE_PORT=0).
CONSOLE_PORT ?=
CONSOLE_HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: help setup setup-dev lock setup-iac tf-check tf-docs tf-schemas reconcile demo serve run test test-fast fault lint bench \
        ops dlq dlq-redrive orders upload readme-ops readme-flow readme-screenshots setup-browser \
        package package-aws package-gcp package-azure plan-aws plan-gcp plan-azure \
        deploy-aws deploy-gcp deploy-azure smoke-local smoke-aws smoke-gcp smoke-azure destroy-aws destroy-gcp destroy-azure clean

help: ## list the targets
	@grep -E '^[a-zA-Z_%-][a-zA-Z_% -]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Every venv installs a hashed lock (functions/locks/, see functions/locking.py), then the project
# itself without dependencies: the tests run with exactly the versions the packages ship.
# pyvips is an sdist only: built with pkg-config searching an empty folder it always falls back
# to its pure (ABI-mode) build, so a machine with libvips headers never builds an API-mode
# `_libvips` module that would shadow pyvips-binary's. `ensure-pure` then replaces a compiled
# pyvips that pip took from its wheel cache with the pure wheel (functions/packaging.py).
LOCKS := functions/locks
NO_PKG_CONFIG := build/no-pkg-config
define install_lock
	mkdir -p $(NO_PKG_CONFIG)
	PKG_CONFIG_LIBDIR="$(abspath $(NO_PKG_CONFIG))" PKG_CONFIG_PATH= \
	  $(PIP) install --quiet --require-hashes --no-deps $(foreach lock,$(1),-r $(LOCKS)/$(lock).txt)
	$(PY) -m functions.packaging ensure-pure $(foreach lock,$(1),$(LOCKS)/$(lock).txt)
	$(PIP) install --quiet --no-deps -e .
	$(PY) -m pip check --disable-pip-version-check
endef

$(VENV)/.stamp-local: pyproject.toml $(LOCKS)/local.txt | $(PY)
	$(call install_lock,local)
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml $(LOCKS)/dev.txt | $(PY)
	$(call install_lock,dev)
	@touch $@ $(VENV)/.stamp-local

# Infrastructure-as-code tools in their own venv: checkov pins clash with the app's packages.
IAC_VENV ?= .venv-iac
IAC_PY   := $(IAC_VENV)/bin/python

$(IAC_VENV)/.stamp: terraform/tools/requirements-iac.txt
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(IAC_PY) -m pip install --quiet --disable-pip-version-check -r terraform/tools/requirements-iac.txt
	@touch $@

# The Terraform gate's stand-in provider plugins: PyPI `tf` pins protobuf < 6, so its own venv.
TFGATE_VENV ?= .venv-tfgate

$(TFGATE_VENV)/.stamp: terraform/tools/requirements-tfgate.txt
	$(PYTHON) -m venv $(TFGATE_VENV)
	$(TFGATE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r terraform/tools/requirements-tfgate.txt
	@touch $@

# The terraform-fmt fallback formatter for machines without a terraform binary.
terraform/tools/node_modules/.package-lock.json: terraform/tools/package.json terraform/tools/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm (node) is needed for the fmt fallback"; exit 2; }
	npm ci --prefix terraform/tools --no-audit --no-fund --loglevel=error

setup-iac: $(IAC_VENV)/.stamp $(TFGATE_VENV)/.stamp terraform/tools/node_modules/.package-lock.json ## checkov, check-jsonschema, the Terraform gate's plugins, offline fmt fallback

# Emulators from npm (azurite), pinned by tests/node/package-lock.json.
tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm (node) is needed for the azurite emulator"; exit 2; }
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

setup: $(VENV)/.stamp-local ## virtualenv with the core and the local backend

setup-dev: $(VENV)/.stamp-dev ## virtualenv with every cloud SDK, emulators and tools

lock: $(VENV)/.stamp-dev ## re-resolve every hashed lock (dev venv, local, bench, each cloud's packages); UPGRADE=1 moves pins
	$(PY) -m functions.locking $(if $(filter 1 true yes,$(UPGRADE)),--upgrade,)

demo: setup ## run the whole system on the embedded local backend and print a summary
	$(PY) -m functions.local --home $(HOME_DIR)/demo demo

serve: setup ## every consumer under functions-framework on local ports, fed by the local broker, and the console on http://127.0.0.1:8080/
	$(PY) -m functions.local --home $(HOME_DIR)/serve serve --base-port $(SERVE_PORT) \
	  $(if $(CONSOLE_PORT),--console-port $(CONSOLE_PORT),) --console-host $(CONSOLE_HOST)

run: setup ## deliver whatever is pending in the local broker, then exit
	$(PY) -m functions.local --home $(HOME_DIR)/serve run

# --- operating it: the `eventsuite` CLI (functions/ops) on any backend ----------------------
# BACKEND=local (default: the newest of $(HOME_DIR)/serve and $(HOME_DIR)/demo) | aws | gcp | azure
BACKEND ?= local
OPS_SETUP := $(if $(filter local,$(BACKEND)),setup,setup-dev)
OPS := $(PY) -m functions.ops --backend $(BACKEND)

ops: $(OPS_SETUP) ## any operator command: make ops ARGS="dlq show 3" (BACKEND=local|aws|gcp|azure)
	$(OPS) $(ARGS)

dlq: $(OPS_SETUP) ## list the dead letters (ARGS="--consumer indexer --since 1h")
	$(OPS) dlq list $(ARGS)

dlq-redrive: $(OPS_SETUP) ## send dead letters back to their consumer (ARGS="--id 3" or "--all")
	$(OPS) dlq redrive $(ARGS)

orders: $(OPS_SETUP) ## orders in a status: make orders STATUS=PAID
	$(OPS) orders list --status $(or $(STATUS),PLACED)

upload: $(OPS_SETUP) ## upload images: make upload FILES="a.jpg b.png" (ImageUploaded follows)
	$(OPS) upload $(FILES)

readme-flow: setup ## regenerate the README's event-flow diagram (Mermaid) from the catalog
	$(PY) -m functions.local.console.flow --write README.md

README_SHOTS := deliveries trace

readme-screenshots: setup-dev setup-browser ## run the console's browser tests and copy two of their screenshots into the README's
	$(PY) -m pytest tests/e2e/test_console_browser.py -q -p no:cacheprovider
	$(PY) -c 'import sys; from PIL import Image; [Image.open(f"build/screenshots/{n}.png").quantize(256).save(f"functions/local/console/screenshots/{n}.png", optimize=True) for n in sys.argv[1:]]' $(README_SHOTS)

readme-ops: setup ## regenerate the README's "Operating it" transcript from a real run
	$(PY) -m functions.ops.transcript --write README.md

reconcile: setup ## run the catalog's scheduled jobs (order reconciler) once on the local backend
	$(PY) -m functions.local --home $(HOME_DIR)/serve reconcile

lint: setup-dev ## ruff and mypy (strict on shared/ and functions/)
	$(VENV)/bin/ruff check shared functions tests
	$(VENV)/bin/mypy

# The console's browser tests drive Debian's chromium (Playwright never downloads a browser), or
# the Chromium build $EVENTSUITE_CHROMIUM names. Installed when missing and we are root;
# otherwise the tests skip (and fail under CI=true).
setup-browser: ## Debian's chromium for the console's browser tests (apt-get, as root)
	@if [ -x "$${EVENTSUITE_CHROMIUM:-/usr/bin/chromium}" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y --no-install-recommends chromium >/dev/null || \
	  { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	else echo "note: no /usr/bin/chromium and not root: the browser tests will skip (install chromium)"; fi

test: setup-dev setup-iac setup-browser tests/node/node_modules/.package-lock.json lint ## the whole test suite (unit, emulators, e2e, terraform)
	$(PY) -m pytest $(PYTEST_ARGS)

# The fault suite at a larger size: FAULT_ORDERS orders (10,000 by default, about 50,000
# deliveries) and a seed of its own per run, printed in the header (FAULT_SEED=... replays it).
FAULT_ORDERS ?= 10000
FAULT_SEED   ?= $(shell date +%s)

fault: setup-dev ## the fault-injection suite, longer: FAULT_ORDERS=10000 FAULT_SEED=<printed>
	EVENTSUITE_FAULT_ORDERS=$(FAULT_ORDERS) EVENTSUITE_FAULT_SEED=$(FAULT_SEED) \
	  $(PY) -m pytest tests/fault -p no:cacheprovider -o timeout=3600 -s $(PYTEST_ARGS)

test-fast: setup-dev ## unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

tf-check: setup-dev setup-iac ## Terraform checks only: real terraform validate + plan of every root and variant (offline), catalog parity on the plans, fmt, checkov, docs
	$(PY) -m pytest tests/terraform $(PYTEST_ARGS)

tf-docs: setup-dev ## regenerate the module READMEs' inputs/outputs tables
	$(PY) terraform/tools/gen_module_docs.py

tf-schemas: setup-dev ## rebuild the provider schemas the Terraform gate serves, from the pinned cdktn wheels (needs PyPI)
	$(PY) terraform/tools/extract_provider_schemas.py

$(VENV)/.stamp-bench: pyproject.toml $(LOCKS)/bench.txt $(VENV)/.stamp-dev
	$(call install_lock,dev bench)
	@touch $@

bench: $(VENV)/.stamp-bench ## benchmarks: thumbnails, cold start, package sizes, broker throughput
	$(PY) -m tests.bench.run

# --- packages and deployment -------------------------------------------------------------
# Terraform roots live in terraform/<cloud>; each needs terraform/<cloud>/terraform.tfvars
# (copy the .example). AUTO_APPROVE=1 skips terraform's interactive approval.
TF_APPROVE := $(if $(filter 1 true yes,$(AUTO_APPROVE)),-auto-approve,)

package: package-aws package-gcp package-azure ## build every cloud's reproducible zips under build/

package-aws: setup-dev ## Lambda zips per function group (manylinux arm64 wheels), printed with sizes
	$(PY) -m functions.aws.package

package-gcp: setup-dev ## Cloud Functions source zips per function group
	$(PY) -m functions.gcp.package

package-azure: setup-dev ## the Flex Consumption app zip (host.json checked against the catalog)
	$(PY) -m functions.azure.hostjson --check
	$(PY) -m functions.azure.package

# Static pattern rules: a plain `plan-%:` pattern would be skipped for these .PHONY targets.
plan-aws plan-gcp plan-azure: plan-%: ## preflight, package, terraform init + plan for a cloud
	terraform/tools/preflight.sh $*
	$(MAKE) --no-print-directory package-$*
	terraform -chdir=terraform/$* init -input=false
	terraform -chdir=terraform/$* plan -input=false -out=tfplan

deploy-aws: ## preflight, package, then terraform apply in terraform/aws
	terraform/tools/preflight.sh aws
	$(MAKE) --no-print-directory package-aws
	terraform -chdir=terraform/aws init -input=false
	terraform -chdir=terraform/aws apply -input=false $(TF_APPROVE)

deploy-gcp: ## preflight, package, then terraform apply in terraform/gcp (it uploads the zips)
	terraform/tools/preflight.sh gcp
	$(MAKE) --no-print-directory package-gcp
	terraform -chdir=terraform/gcp init -input=false
	terraform -chdir=terraform/gcp apply -input=false $(TF_APPROVE)

deploy-azure: ## preflight, package, terraform apply, then upload the zip to the Flex app
	terraform/tools/preflight.sh azure --need-cli
	$(MAKE) --no-print-directory package-azure
	terraform -chdir=terraform/azure init -input=false
	terraform -chdir=terraform/azure apply -input=false $(TF_APPROVE)
	terraform -chdir=terraform/azure output -json deployment_commands \
	  | (cd terraform/azure && $(abspath $(PY)) -c 'import json, subprocess, sys; [subprocess.run(c, check=True) for c in json.load(sys.stdin)]')

# The smoke test of a deployed stack (functions/ops/smoke.py): targets from `terraform output
# -json` of terraform/<cloud>; ARGS="--timeout 300 --mail smtp-sink:0.0.0.0:2525 --json".
SMOKE_ARGS ?=

smoke-local: setup ## smoke test against a running `make serve` (.eventsuite/serve): pass/fail table
	$(PY) -m functions.ops.smoke --backend local --home $(HOME_DIR)/serve $(SMOKE_ARGS) $(ARGS)

smoke-aws smoke-gcp smoke-azure: smoke-%: setup-dev ## after make deploy-<cloud>: upload, order, webhook, wait, dead letters; exit 1 on failure
	$(PY) -m functions.ops.smoke --backend $* $(SMOKE_ARGS) $(ARGS)

destroy-aws destroy-gcp destroy-azure: destroy-%: ## terraform destroy for a cloud
	terraform/tools/preflight.sh $*
	terraform -chdir=terraform/$* destroy -input=false $(TF_APPROVE)

clean: ## remove build outputs and local state (not the virtualenv)
	rm -rf build $(HOME_DIR) $(HOME_DIR).log .pytest_cache .mypy_cache .ruff_cache
