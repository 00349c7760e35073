# ad-join: automatic Active Directory join for EC2 across accounts and Regions.
# `make help` lists the targets. Every target installs what it needs itself.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
BUILD := build
ZIP := $(BUILD)/adjoin-lambda.zip
LAYER_ZIP := $(BUILD)/powertools-layer.zip

# The project's own Terraform CLI configuration, used when the provider mirror is on disk.
# It never touches ~/.terraformrc.
TF_MIRROR := /opt/tf-plugins/registry.terraform.io
ifneq ($(wildcard $(TF_MIRROR)),)
export TF_CLI_CONFIG_FILE := $(CURDIR)/tools/terraform.rc
endif
export TF_IN_AUTOMATION := 1
export CHECKPOINT_DISABLE := 1

PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# The project itself goes in editable (its `ad-join` console script, lambda/adjoin_cli): the
# .venv/bin/ad-join it writes runs the code of the checkout that last ran `make install`.
$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt requirements/constraints-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv with the pinned development requirements

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements/checkov.txt
	@touch $@

.PHONY: install-checkov
install-checkov: $(CHECKOV_VENV)/.installed ## Create .venv-checkov (checkov's pins clash with pytest)

# @cloud-copilot/iam-simulate (AGPL-3.0) for the permissions proof (tests/iam): a test-time tool
# installed from the committed lock file, never vendored nor in the Lambda zip.
IAM_SIM := tools/iam-sim
$(IAM_SIM)/node_modules/.installed: $(IAM_SIM)/package.json $(IAM_SIM)/package-lock.json
	npm ci --prefix $(IAM_SIM) --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: install-iam-sim
install-iam-sim: $(IAM_SIM)/node_modules/.installed ## Install the IAM policy simulator of the permissions proof (npm ci)

.PHONY: deps-ad
deps-ad: ## Install the Debian packages of the Samba AD harness (root; no-op when present)
	@missing=$$(for p in $$(grep -v '^#' tools/apt-packages.txt); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null)" = "ii " ] || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "AD harness packages present"; fi

.PHONY: fmt
fmt: install ## Fix formatting (ruff, terraform fmt)
	$(VENV)/bin/ruff format lambda tests scripts
	$(VENV)/bin/ruff check --fix lambda tests scripts
	terraform fmt -recursive modules envs tests

.PHONY: lint
lint: install ## ruff, mypy, shellcheck, terraform fmt -check
	$(VENV)/bin/ruff check lambda tests scripts
	$(VENV)/bin/ruff format --check lambda tests scripts
	$(VENV)/bin/mypy
	find scripts tests .ci -name '*.sh' -print0 | xargs -0 -r $(VENV)/bin/shellcheck
	$(VENV)/bin/shellcheck .ci/run
	terraform fmt -check -recursive modules envs tests
	$(MAKE) --no-print-directory validate

# Roots that `terraform validate` checks: the modules through their test fixtures, and the envs.
TF_VALIDATE_ROOTS := $(sort $(dir $(wildcard tests/terraform/*/fixture/main.tf))) envs/hub/ envs/workload/ envs/local/

.PHONY: validate
validate: ## terraform validate of every env and module fixture (offline, .terraform under build/)
	@mkdir -p $(BUILD)/tfdata; for root in $(TF_VALIDATE_ROOTS); do \
	  data="$(CURDIR)/$(BUILD)/tfdata/$$(echo "$$root" | tr '/' '_')"; \
	  lock=""; [ -f "$$root/.terraform.lock.hcl" ] && lock="-lockfile=readonly"; \
	  TF_DATA_DIR="$$data" terraform -chdir="$$root" init -backend=false -input=false $$lock >"$$data.log" 2>&1 \
	    || { cat "$$data.log"; exit 1; }; \
	  printf '%-40s ' "$$root"; TF_DATA_DIR="$$data" terraform -chdir="$$root" validate -no-color; \
	done

# Rebuilt only when the code, its requirements or the packager change. The zip leaves Powertools
# to the published layer modules/hub attaches; the layer zip of the pinned Powertools is for the
# local system and for Regions or partitions without the published layer.
$(ZIP): $(VENV)/.installed requirements/lambda.txt scripts/package_lambda.py $(shell find lambda/adjoin -name '*.py')
	$(PY) scripts/package_lambda.py --output $(ZIP) --layer-output $(LAYER_ZIP)

$(LAYER_ZIP): $(ZIP)

.PHONY: package
package: $(ZIP) ## Build the reproducible Lambda zip (build/adjoin-lambda.zip, Powertools left to the layer) and build/powertools-layer.zip

.PHONY: checkov
checkov: install-checkov ## Security scan of modules/ and envs/ (0 failed checks expected)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework terraform \
	  --config-file tools/checkov.yaml -d modules -d envs

.PHONY: test-unit
test-unit: install ## Unit tests (no terraform, no root)
	$(PY) -m pytest tests/unit tests/scripts -m 'not root' $(PYTEST_ARGS)

.PHONY: test-tf
test-tf: install install-checkov install-iam-sim ## Terraform plan tests (with the permissions proof) through tftest, and checkov
	$(PY) -m pytest tests/terraform $(PYTEST_ARGS)

.PHONY: test-ad
test-ad: install deps-ad ## Real AD: Samba DC + Linux join in namespaces, and the distribution stubs (root)
	$(PY) -m pytest tests/ad tests/scripts/test_linux_distributions.py $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install package deps-ad install-iam-sim ## The whole system applied to the local AWS emulator
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

.PHONY: test
test: lint install-checkov install-iam-sim package deps-ad ## Everything CI runs: lint, then every test (checkov runs as a test)
	$(PY) -m pytest tests $(PYTEST_ARGS)

.PHONY: test-iam
test-iam: install install-iam-sim ## The permissions proof alone (plans of envs/hub and envs/workload, simulator); prints its figures
	$(PY) -m pytest tests/iam tests/terraform/envs/test_permission_proof.py $(PYTEST_ARGS)

BENCH_ARGS ?=
PROFILE ?=

.PHONY: bench
bench: install package ## Ours vs the seed: calls and ms per instance per adapter, time to join, zip size, import time (PROFILE=1: profile the join burst; BENCH_ARGS="--help")
	$(PY) -m tests.bench $(if $(PROFILE),--profile) $(BENCH_ARGS)

.PHONY: demo
demo: install package deps-ad ## The whole system on a local AWS emulator (KEEP=1 leaves it up)
	$(PY) -m tests.e2e.demo

.PHONY: clean
clean: ## Remove build outputs and caches (keeps the virtualenvs)
	rm -rf $(BUILD) .pytest_cache .mypy_cache .ruff_cache
	find . -name .terraform -type d -prune -exec rm -rf {} +
