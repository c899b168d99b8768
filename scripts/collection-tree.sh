#!/usr/bin/env bash
# Make the repo resolvable as the collection kvmigrate.replication:
#   .build/ansible_collections/kvmigrate/replication -> <repo root>
# Use with ANSIBLE_COLLECTIONS_PATH="$ROOT/.build". Idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NS_DIR="$ROOT/.build/ansible_collections/kvmigrate"
LINK="$NS_DIR/replication"

mkdir -p "$NS_DIR"
if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$ROOT" ]; then
    exit 0
fi
if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    echo "collection-tree: $LINK exists and is not a symlink; refusing to replace it" >&2
    exit 1
fi
ln -sfn "$ROOT" "$LINK"
echo "collection-tree: $LINK -> $ROOT"
