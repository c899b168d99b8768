#!/usr/bin/env bash
# The in-worker runner must behave as a module process does on every ansible-core line meta/runtime.yml claims, not
# only on the one in .venv (2.19). For each older line, a venv of its own (.venv-core-<line>, kept between runs) runs
# tests/integration/test_in_process.py: results, failures, warnings and deprecations, crashes, task timeouts and
# interpreters compared between the worker and a module process.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A CORE=([2.16]=2.16.19 [2.17]=2.17.14 [2.18]=2.18.19)
python=${PYTHON:-python3}
lines=${CORE_LINES:-"2.16 2.17 2.18"}
for line in $lines; do
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
            exit 1
        fi
        echo "$wanted" > "$stamp"
    fi
    echo "core-matrix: ansible-core $("$venv/bin/ansible" --version | head -1 | sed 's/.*\[core \(.*\)\]/\1/')"
    "$venv/bin/python" -m pytest tests/integration/test_in_process.py -q -p no:cacheprovider
done
