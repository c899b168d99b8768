"""pytest fixtures shared by the scenario verifiers (each tests/conftest.py star-imports this)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kvlab  # noqa: E402


@pytest.fixture(scope='session')
def lab():
    """The state file create/prepare wrote: servers (host, port, pid, kind), writers."""
    path = kvlab.state_path()
    assert os.path.exists(path), 'no lab state at %s: did create/prepare run?' % path
    return kvlab.load_state(path)


@pytest.fixture(scope='session')
def conn(lab):
    """conn('t1') -> a redis-py client of that server."""
    def _conn(name):
        return kvlab.client(lab['servers'][name])
    return _conn


@pytest.fixture(scope='session')
def writers(lab):
    """Stops every writer (once per session) and returns {source: report with 'keys' = acknowledged keys}."""
    reports = kvlab.stop_writers(lab)
    assert reports, 'this scenario has no writers'
    return reports
