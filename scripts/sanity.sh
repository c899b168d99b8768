#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection, with real results, offline-safe.
#
# How it works (and why):
#
# 1. Real collection path. ansible-test insists that the current directory
#    *really* is .../ansible_collections/<ns>/<name> (it resolves symlinks, so
#    the .build/ansible_collections/kvmigrate/replication symlink to the repo
#    root does not work). We therefore copy the files git knows about --
#    tracked plus untracked-but-not-ignored (`git ls-files -co
#    --exclude-standard`), i.e. exactly what a commit would contain, including
#    work in progress -- to a fresh
#      .build/sanity/ansible_collections/kvmigrate/replication
#    and run ansible-test there. The copy gets an empty `git init` (no commit
#    needed): ansible-test lists files with git from the nearest .git upwards,
#    and would otherwise find the repo's own .git -- which ignores .build/ --
#    and see no files at all ("All targets skipped").
#    Results land in .build/sanity/ansible_collections/kvmigrate/replication/tests/output/.
#
# 2. Per-test virtualenvs without the internet. ansible-test runs most sanity
#    tests (pylint, validate-modules, yamllint, import, ansible-doc, pep8,
#    runtime-metadata, changelog, ...) inside its own venvs under
#    ~/.ansible/test/venv/, created with `python -m venv --without-pip` and
#    then bootstrapped with a get-pip.py that it downloads from
#    ci-files.testing.ansible.com -- unreachable here. It first looks for a
#    cached copy at ~/.ansible/test/cache/get_pip_<ver>.py, so we seed that
#    path with a tiny stand-in which runs `ensurepip` (the pip wheel bundled
#    with that Python, no network) and then `pip install <the same
#    arguments>` (e.g. pip==24.2) from PyPI. Gotcha: ensurepip sets
#    PIP_CONFIG_FILE=/dev/null in os.environ, so the stand-in passes the
#    original environment to that second pip -- otherwise it loses the
#    machine's pip.conf (cert -> SSL CERTIFICATE_VERIFY_FAILED). A genuine
#    get-pip.py already in the cache is left alone. The test requirements themselves
#    (ansible_test/_data/requirements/sanity.*.txt, pinned by ansible-test)
#    come from PyPI through the machine's normal pip configuration:
#    ansible-test strips PIP_* environment variables from the child
#    processes, but pip still reads /etc/pip.conf, /etc/xdg/pip/pip.conf and
#    ~/.config/pip/pip.conf (cert, find-links, extra index), and HOME is passed
#    through. The venvs are cached by ansible-test (keyed by a hash of the
#    pinned requirements), so only the first run on a machine pays for them
#    (measured: ~80 s for a cold run, ~15-40 s warm).
#
# 3. Every Python version, or a loud note. The multi-version tests (compile,
#    import) run once per supported Python that ansible-test can find on PATH
#    as pythonX.Y. pyenv's shims for non-global versions fail when run, so we
#    put symlinks to the real interpreters (pyenv versions, /usr/bin,
#    /usr/local/bin) in .build/sanity/bin, prepend that to PATH and drop the
#    pyenv shims dir from PATH for the run. Versions
#    the collection does not support are not tested (tests/config.yml:
#    modules.python_requires). A supported version that cannot be found is
#    listed in a NOTE before and after the run.
#
# 4. Summary. ansible-test runs with --junit; the per-test results are
#    summarised as passed / FAILED / not applicable (no files of that kind,
#    e.g. pslint without *.ps1) / SKIPPED with the reason (e.g. a Python
#    version not found, or a "Required program ... not found" warning, after
#    which ansible-test reports success having checked nothing). Skips are
#    printed, never silent; SANITY_STRICT=1 makes them fail the run.
#
# Usage: scripts/sanity.sh [extra ansible-test sanity args, e.g. --test pylint]
# Env:   ANSIBLE_TEST (default .venv/bin/ansible-test), SANITY_STRICT=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NS=kvmigrate
NAME=replication
WORK="$ROOT/.build/sanity"
DEST="$WORK/ansible_collections/$NS/$NAME"
PYBIN="$WORK/bin"
ANSIBLE_TEST="${ANSIBLE_TEST:-$ROOT/.venv/bin/ansible-test}"
CTRL_PY="$(dirname "$ANSIBLE_TEST")/python"
SANITY_STRICT="${SANITY_STRICT:-0}"

say() { printf 'sanity: %s\n' "$*"; }

[ -x "$ANSIBLE_TEST" ] || { say "missing $ANSIBLE_TEST (run scripts/bootstrap.sh)"; exit 1; }

# ----------------------------------------------------------- 1. fresh copy
rm -rf "$WORK/ansible_collections"
mkdir -p "$DEST"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked + untracked-not-ignored; skip tracked files deleted in the work tree
    git -C "$ROOT" ls-files -z -co --exclude-standard \
        | while IFS= read -r -d '' f; do
              if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
          done \
        | tar -C "$ROOT" --null -T - -cf - | tar -C "$DEST" -xf -
else
    # not a git checkout (e.g. unpacked tarball): copy all but build artefacts
    tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./.build \
        --exclude=./tests/output --exclude='__pycache__' -cf - . | tar -C "$DEST" -xf -
fi
# ansible-test picks its file lister by walking up to the nearest .git; without
# one here it would find the repo's own .git (which ignores .build/) and see
# no files at all. An empty repo is enough: it lists untracked-not-ignored files.
git -C "$DEST" init -q
say "copied $(find "$DEST" -path "$DEST/.git" -prune -o -type f -print | wc -l) files to ${DEST#"$ROOT"/}"

# ------------------------------------------------ 2. offline get-pip stand-in
pip_ver="$("$CTRL_PY" - <<'EOF'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
m = re.search(r"default_packages\s*=\s*dict\(\s*pip='([^']+)'", src)
print(m.group(1) if m else '')
EOF
)"
if [ -z "$pip_ver" ]; then
    say "cannot find the pip version ansible-test bootstraps (ansible-test changed?)"
    exit 1
fi
cache="$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
marker='# kvmigrate.replication offline get-pip stand-in'
if [ ! -s "$cache" ] || head -1 "$cache" | grep -qF "$marker"; then
    mkdir -p "$(dirname "$cache")"
    cat >"$cache.tmp" <<EOF
$marker (written by scripts/sanity.sh)
# ansible-test runs this as "get-pip.py [pip options] pip==X --no-setuptools --no-wheel"
# inside a venv created without pip. Instead of the zipped pip that the real
# get-pip.py carries, use the pip wheel bundled with this Python (ensurepip,
# no network), then let that pip install the requested packages.
import ensurepip
import os
import subprocess
import sys

args = sys.argv[1:]
no_setuptools = '--no-setuptools' in args
args = [a for a in args if a not in ('--no-setuptools', '--no-wheel')]
# ensurepip sets PIP_CONFIG_FILE=/dev/null and drops PIP_* in os.environ, which
# would make the next pip ignore this machine's pip.conf (cert, index): keep a copy.
env = dict(os.environ)
ensurepip.bootstrap(upgrade=False, default_pip=False)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args, env=env)
if no_setuptools:
    subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '-q', '-y', 'setuptools'],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
EOF
    mv "$cache.tmp" "$cache"
fi

# ------------------------------------------------------ 3. Python versions
read -r -a supported <<<"$("$CTRL_PY" -c '
from ansible_test._util.target.common.constants import REMOTE_ONLY_PYTHON_VERSIONS as r, CONTROLLER_PYTHON_VERSIONS as c
print(" ".join(r + c))')"
rm -rf "$PYBIN"
mkdir -p "$PYBIN"
pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
found=()
missing=()
for v in "${supported[@]}"; do
    cand=""
    pyenv_cands="$(find "$pyenv_root/versions" -mindepth 3 -maxdepth 3 -path "*/versions/$v.*/bin/python$v" 2>/dev/null | sort -V -r || true)"
    # shellcheck disable=SC2086  # newline-separated paths without spaces
    for p in $pyenv_cands /usr/local/bin/python"$v" /usr/bin/python"$v"; do
        if [ -x "$p" ] && "$p" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            cand="$p"
            break
        fi
    done
    if [ -n "$cand" ]; then
        ln -s "$cand" "$PYBIN/python$v"
        found+=("$v")
    else
        missing+=("$v")
    fi
done
# Drop pyenv's shims from PATH: a shim for a version that is not pyenv's
# global one exits 127 instead of being "not found", which would turn a
# missing interpreter into an ansible-test crash instead of a reported skip.
clean_path=""
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
    case "$d" in
        "$pyenv_root/shims" | */.pyenv/shims | "") continue ;;
    esac
    clean_path="${clean_path:+$clean_path:}$d"
done
PATH="$PYBIN:$(dirname "$ANSIBLE_TEST"):$clean_path"
export PATH
say "Python interpreters for multi-version tests: ${found[*]:-none}"
if [ "${#missing[@]}" -gt 0 ]; then
    say "NOTE: no usable interpreter (with venv+ensurepip) for Python ${missing[*]}:"
    say "      compile/import cannot run on those versions here (only relevant where"
    say "      tests/config.yml modules.python_requires includes them)."
fi

# ------------------------------------------------------------- 4. run it
out="$WORK/ansible-test-sanity.log"
say "running: ansible-test sanity --color no --junit $*   (in ${DEST#"$ROOT"/})"
start=$SECONDS
set +e
# (the console copy drops pip's noise about this machine's optional file:// indexes)
(cd "$DEST" && "$ANSIBLE_TEST" sanity --color no --junit "$@") 2>&1 | tee "$out" \
    | grep --line-buffered -v "is ignored: it is neither a file nor a directory"
rc=${PIPESTATUS[0]}
set -e

# ------------------------------------------------------------- 5. summary
# --junit makes ansible-test write one result per test (and Python version):
# passed, failed, or skipped with a reason. "No tests applicable." means the
# collection has no file of the kind that test checks (e.g. pslint without
# *.ps1) -- listed, but not a problem. Any other skip is shouted about.
echo
say "---------------------------------------------------------------- summary"
loud=0
"$CTRL_PY" - "$DEST/tests/output/junit" "$out" <<'PY' || loud=1
import glob, os, re, sys
import xml.etree.ElementTree as ET

junit_dir, log = sys.argv[1], sys.argv[2]
passed, failed, na, skipped = [], [], [], []
for path in sorted(glob.glob(os.path.join(junit_dir, '*.xml'))):
    for case in ET.parse(path).iter('testcase'):
        name = case.get('name')
        skip = case.find('skipped')
        if case.find('failure') is not None or case.find('error') is not None:
            failed.append(name)
        elif skip is not None:
            reason = (skip.text or skip.get('message') or '').strip()
            if reason == 'No tests applicable.':
                na.append(name)
            else:
                skipped.append('%s: %s' % (name, reason))
        else:
            passed.append(name)
# tests that "pass" without checking anything because a tool is missing
text = open(log, encoding='utf-8', errors='replace').read()
for prog in sorted(set(re.findall(r'Required program "([^"]+)" not found', text))):
    skipped.append('required program "%s" not found: the test using it checked NOTHING' % prog)


def show(label, items):
    print('sanity: %-36s %s' % ('%s (%d):' % (label, len(items)), ' '.join(items) if items else '-'))


show('passed', passed)
show('FAILED', failed)
show('not applicable (no such files)', na)
if skipped:
    print('sanity: SKIPPED / INCOMPLETE (%d):' % len(skipped))
    for item in skipped:
        print('sanity:   ' + item)
if not (passed or failed):
    print('sanity: no junit results in %s' % junit_dir)
    sys.exit(1)
sys.exit(1 if skipped else 0)
PY
if [ "${#missing[@]}" -gt 0 ]; then
    say "NOTE: Python ${missing[*]} not available on this machine"
fi
say "full log: ${out#"$ROOT"/}; results: ${DEST#"$ROOT"/}/tests/output/"
say "took $((SECONDS - start))s"
if [ "$rc" -ne 0 ]; then
    say "FAILED (ansible-test exit $rc)"
    exit "$rc"
fi
if [ "$loud" = 1 ] && [ "$SANITY_STRICT" = 1 ]; then
    say "FAILED: SANITY_STRICT=1 and some tests were skipped or incomplete"
    exit 1
fi
if [ "$loud" = 1 ]; then
    say "OK, BUT with the skipped/incomplete tests listed above (SANITY_STRICT=1 makes that fatal)"
else
    say "OK"
fi
