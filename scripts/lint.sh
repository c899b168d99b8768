#!/usr/bin/env bash
# ansible-lint (production profile, see .ansible-lint) over the repo: roles/,
# playbooks/, extensions/molecule/, meta/, galaxy.yml. Its "yaml" rule runs
# yamllint with .yamllint on every YAML file it looks at.
#
# The collection must be resolvable by FQCN (kvmigrate.replication.*), so we
# point ANSIBLE_COLLECTIONS_PATH at .build, where scripts/collection-tree.sh
# keeps ansible_collections/kvmigrate/replication -> repo root.
# Python code is not ansible-lint's business: `make sanity` covers it.
#
# Usage: scripts/lint.sh [extra ansible-lint args]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LINT="$ROOT/.venv/bin/ansible-lint"
[ -x "$LINT" ] || { echo "lint: missing $LINT (run scripts/bootstrap.sh)" >&2; exit 1; }

bash "$ROOT/scripts/collection-tree.sh"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.build"
# ansible-lint warns ("PATH altered ...") unless its own bin dir is on PATH
export PATH="$ROOT/.venv/bin:$PATH"

args=()
if [ -n "${CI:-}" ] || [ ! -t 1 ]; then
    args+=(--nocolor)
fi

echo "lint: ansible-lint (profile production, ANSIBLE_COLLECTIONS_PATH=.build)"
"$LINT" "${args[@]}" "$@"
