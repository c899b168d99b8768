#!/usr/bin/env bash
# Bootstrap the developer / CI environment for kvmigrate.replication.
#
# Idempotent; safe to run on every `make` invocation:
#   * OS packages (Debian/apt): redis-server (real servers for the integration
#     tests), iproute2 (`ip netns` for multi-host tests), git, and shellcheck
#     (used by `ansible-test sanity` for *.sh files). apt-get runs only
#     when one of them is missing. The Debian package's auto-started
#     redis-server service (port 6379) is prevented / stopped and disabled:
#     tests start their own servers on free ports.
#   * .venv (python3 -m venv) with tests/requirements.txt installed. pip runs
#     only when the requirement files changed since the last successful
#     install (sha256 stamp in .venv/.requirements.sha256).
#
# Environment:
#   PYTHON=python3.11   interpreter used to create .venv (default: python3)
#   BOOTSTRAP_SKIP_APT=1  never touch OS packages (just warn if missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"
LOG="$(mktemp -t bootstrap.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

say() { printf 'bootstrap: %s\n' "$*"; }

# Run a command quietly; show its output only if it fails.
quiet() {
    if ! "$@" >"$LOG" 2>&1; then
        say "FAILED: $*"
        cat "$LOG" >&2
        exit 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "need root for: $* (run as root or configure passwordless sudo)"
        return 1
    fi
}

# ---------------------------------------------------------------- OS packages
missing_pkgs=()
command -v redis-server >/dev/null 2>&1 || missing_pkgs+=(redis-server)
command -v ip >/dev/null 2>&1 || missing_pkgs+=(iproute2)
# a real module (RediSearch 1.2, loads into 6.2 and 7.0) for migration_check's module-type finding
[ -f /usr/lib/redis/modules/redisearch.so ] || missing_pkgs+=(redis-redisearch)
command -v git >/dev/null 2>&1 || missing_pkgs+=(git)
# ansible-test's "shellcheck" sanity test only warns (and checks nothing) without it
command -v shellcheck >/dev/null 2>&1 || missing_pkgs+=(shellcheck)
# headless browser that renders the migration report (tests/integration/test_report_browser.py)
command -v chromium >/dev/null 2>&1 || missing_pkgs+=(chromium)

port_6379_busy() {
    # true if something listens on 127.0.0.1:6379
    (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null
}

stop_packaged_redis() {
    # Only called when 6379 was free before we installed the package, so
    # whatever listens there now was started by the package's maintainer
    # scripts.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now redis-server.service >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/redis-server ]; then
        as_root /etc/init.d/redis-server stop >/dev/null 2>&1 || true
        command -v update-rc.d >/dev/null 2>&1 \
            && { as_root update-rc.d redis-server disable >/dev/null 2>&1 || true; }
    fi
    if port_6379_busy; then
        say "WARNING: something still listens on 127.0.0.1:6379 after stopping the packaged service"
    else
        say "packaged redis-server service stopped and disabled (tests use their own ports)"
    fi
}

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    if [ "${BOOTSTRAP_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "WARNING: missing OS packages (${missing_pkgs[*]}); not installing (no apt-get or BOOTSTRAP_SKIP_APT=1)"
    else
        busy_before=0
        port_6379_busy && busy_before=1
        # Keep maintainer scripts from starting services while we install
        # (Docker images usually ship such a policy-rc.d already).
        policy_added=0
        if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            policy_added=1
        fi
        say "apt-get update"
        export DEBIAN_FRONTEND=noninteractive
        quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        say "apt-get install -y ${missing_pkgs[*]}"
        rc=0
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing_pkgs[@]}" >"$LOG" 2>&1 || rc=$?
        [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
        if [ "$rc" -ne 0 ]; then
            say "FAILED: apt-get install ${missing_pkgs[*]}"
            cat "$LOG" >&2
            exit 1
        fi
        if [ "$busy_before" = 0 ] && port_6379_busy; then
            stop_packaged_redis
        fi
    fi
fi

# ----------------------------------------------------------------------- venv
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "removing broken .venv (its interpreter no longer runs)"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating .venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    quiet "$PYTHON" -m venv "$VENV"
fi

# Everything pip installs into .venv, in install order.
req_files=(requirements.txt tests/requirements.txt)
want="$(cat "${req_files[@]}" | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    say "pip install -r tests/requirements.txt (requirements changed or first install)"
    quiet "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r tests/requirements.txt
    printf '%s\n' "$want" >"$STAMP"
else
    say ".venv up to date (ansible-core $("$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)' 2>/dev/null || echo '?'))"
fi
