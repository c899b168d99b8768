#!/usr/bin/env bash
# The in-worker runner must behave as a module process does on every ansible-core line meta/runtime.yml claims, not
# only on the one in .venv (2.19). For each older line, a venv of its own (.venv-core-<line>, kept between runs) runs
# tests/integration/test_in_process.py: results, failures, warnings and deprecations, crashes, task timeouts and
# interpreters compared between the worker and a module process. The lines run side by side (they mostly wait on
# ansible-playbook and servers); each one's output is printed whole when all have ended.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A CORE=([2.16]=2.16.19 [2.17]=2.17.14 [2.18]=2.18.19)
python=${PYTHON:-python3}
lines=${CORE_LINES:-"2.16 2.17 2.18"}

run_line() {
    local line=$1 version venv stamp wanted
    version=${CORE[$line]:?"no pinned ansible-core for line $line"}
    venv=.venv-core-$line
    stamp=$venv/.installed
    wanted="ansible-core==$version $(sha256sum tests/core-matrix/requirements.txt | cut -c1-16)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        if ! "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$version" \
                -r tests/core-matrix/requirements.txt > "$venv/pip.log" 2>&1; then
            cat "$venv/pip.log"
            return 1
        fi
        echo "$wanted" > "$stamp"
    fi
    echo "core-matrix: ansible-core $("$venv/bin/ansible" --version | head -1 | sed 's/.*\[core \(.*\)\]/\1/')"
    "$venv/bin/python" -m pytest tests/integration/test_in_process.py -q -p no:cacheprovider
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pids
for line in $lines; do
    run_line "$line" > "$logs/$line.log" 2>&1 &
    pids[$line]=$!
done
failed=""
for line in $lines; do
    if ! wait "${pids[$line]}"; then
        failed="$failed $line"
    fi
    cat "$logs/$line.log"
done
if [ -n "$failed" ]; then
    echo "core-matrix: FAILED on ansible-core line(s)$failed"
    exit 1
fi
echo "core-matrix: OK on ansible-core $lines"
