#!/usr/bin/env bash
# Prove the next release can be cut: run `antsibull-changelog release` on a throwaway copy of the committed tree
# (plus uncommitted fragments) and check that CHANGELOG.rst lists every fragment's first entry (trivial ones aside).
# Changes nothing here.
#   scripts/release-check.sh [VERSION]   (default: the version in galaxy.yml)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
VERSION="${1:-$("$BIN/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$ROOT/galaxy.yml")}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

COPY="$WORK/ansible_collections/kvmigrate/replication"
mkdir -p "$COPY"
git -C "$ROOT" archive HEAD | tar -x -C "$COPY"
cp "$ROOT"/changelogs/fragments/*.yml "$COPY/changelogs/fragments/"

# antsibull-changelog runs ansible-doc to list the collection's plugins
(cd "$COPY" && PATH="$BIN:$PATH" ANSIBLE_COLLECTIONS_PATH="$WORK" \
    "$BIN/antsibull-changelog" release --version "$VERSION" --date "$(date -u +%F)" >"$WORK/release.log" 2>&1) || {
    cat "$WORK/release.log" >&2
    echo "release-check: antsibull-changelog release failed" >&2
    exit 1
}
"$BIN/python" - "$COPY" "$ROOT/changelogs/fragments" "$VERSION" <<'PY'
import glob, os, sys
import yaml
copy, fragments, version = sys.argv[1:]
text = open(os.path.join(copy, 'CHANGELOG.rst')).read()
# the trivial section is for changes that need no changelog entry: antsibull-changelog leaves it out by design
trivial = yaml.safe_load(open(os.path.join(copy, 'changelogs', 'config.yaml'))).get('trivial_section_name')
assert 'v%s' % version in text, 'CHANGELOG.rst has no section v%s' % version
missing = []
for path in sorted(glob.glob(os.path.join(fragments, '*.yml'))):
    for section, entries in yaml.safe_load(open(path)).items():
        if section == trivial:
            continue
        entries = entries if isinstance(entries, list) else [entries]
        if ' '.join(entries[0].split()[:6]) not in ' '.join(text.split()):
            missing.append('%s (%s)' % (os.path.basename(path), section))
assert not missing, 'entries missing from CHANGELOG.rst: %s' % ', '.join(missing)
print('release-check: antsibull-changelog release %s would write CHANGELOG.rst with every fragment (%d files)' % (
    version, len(glob.glob(os.path.join(fragments, '*.yml')))))
PY
