"""replicaof's max_concurrent_syncs on real servers: concurrent runs against one source never make it serve more full
syncs at once than the limit, because the count is read and REPLICAOF sent under a claim on the source.

The source holds every full sync open for 2 s (diskless, waiting for more replicas to share the transfer), so
overlapping full syncs are seen by a thread that samples the source's INFO replication; without the limit, the
positive control shows them all in wait_bgsave at once. The targets reach the source through a proxy that holds each
link's PSYNC for a moment, as a slow network does: a run that counted the source's full syncs before another run's
link arrived would then start a second one, which only the claim prevents (checked by removing the claim: the sampler
then sees 2).
"""
import socket
import threading
import time

import pytest

from tests.integration.test_slicing import FullSyncSampler
from tests.support.servers import fill

SOURCE_PASSWORD = 'slot-Src-pw'
TARGET_PASSWORD = 'slot-Tgt-pw'
HOLD_SYNC = ['repl-diskless-sync yes', 'repl-diskless-sync-delay 2']
TARGETS = 3


PSYNC_DELAY_SECONDS = 1.0


class PsyncDelayingProxy(object):
    """Forwards loopback connections to a server, holding the bytes that carry a replica link's PSYNC (the command
    after which the primary lists the replica) for ``delay`` seconds."""

    def __init__(self, upstream_port, delay):
        self.upstream_port = upstream_port
        self.delay = delay
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.host, self.port = '127.0.0.1', self._listener.getsockname()[1]
        self._sockets = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, dummy = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(('127.0.0.1', self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, hold_psync):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if hold_psync and b'PSYNC' in data.upper():
                    time.sleep(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        for sock in self._sockets:
            sock.close()


def _args(target, source, **extra):
    args = dict(login_host=target.host, login_port=target.port, login_password=TARGET_PASSWORD,
                primary_host=source.host, primary_port=source.port, primary_password=SOURCE_PASSWORD)
    args.update(extra)
    return args


def _fleet(start_server, redis_bin):
    source = start_server(redis_bin, name='slot-src', password=SOURCE_PASSWORD, extra=HOLD_SYNC)
    fill(source, 2000, prefix='slot')
    targets = [start_server(redis_bin, name='slot-tgt%d' % i, password=TARGET_PASSWORD) for i in range(TARGETS)]
    return source, targets


@pytest.fixture
def slow_link():
    """slow_link(source) -> a proxy in front of the source that holds each replica link's PSYNC a moment."""
    proxies = []

    def _start(source):
        proxy = PsyncDelayingProxy(source.port, PSYNC_DELAY_SECONDS)
        proxies.append(proxy)
        return proxy

    yield _start
    for proxy in proxies:
        proxy.close()


def _run_all_at_once(run_module, targets, source, **extra):
    results = [None] * len(targets)
    start = threading.Event()

    def one(index):
        start.wait()
        results[index] = run_module('replicaof', _args(targets[index], source, **extra), timeout=120)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(targets))]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(timeout=150)
    return results


def _wait_synced(targets, keys, within=60):
    deadline = time.time() + within
    pending = list(targets)
    while pending and time.time() < deadline:
        pending = [target for target in pending
                   if target.client().info('replication').get('master_link_status') != 'up'
                   or target.client().dbsize() != keys]
        time.sleep(0.1)
    return pending


def test_concurrent_replicaof_runs_never_exceed_max_concurrent_syncs(redis_bin, start_server, run_module, slow_link):
    source, targets = _fleet(start_server, redis_bin)
    proxy = slow_link(source)
    with FullSyncSampler(source) as sampler:
        results = _run_all_at_once(run_module, targets, proxy, max_concurrent_syncs=1, sync_slot_timeout=60)
        assert _wait_synced(targets, 2000) == [], 'targets not synced'
    assert sampler.errors == []
    assert sampler.samples > 50
    for result in results:
        assert result['rc'] == 0, result.get('msg')
        assert result['changed'] is True
        assert result['sync_slot']['max_concurrent_syncs'] == 1
        assert result['sync_slot']['source_lists_target'] is True
        assert SOURCE_PASSWORD not in result['_stdout'] + result['_stderr']
    assert sampler.most == 1, 'the source served %d full syncs at once with max_concurrent_syncs=1' % sampler.most
    # the runs really waited for each other: each later one saw the source free only after the 2 s hold
    assert sorted(result['sync_slot']['waited_seconds'] for result in results)[-1] >= 2
    assert [result['sync_slot']['queued'] for result in results].count(True) >= 1


def test_without_the_limit_the_sampler_sees_the_full_syncs_overlap(redis_bin, start_server, run_module, slow_link):
    """Positive control: the same runs with no limit make the source serve them all at once, so the test above
    would see an overlap if the limit did not hold."""
    source, targets = _fleet(start_server, redis_bin)
    proxy = slow_link(source)
    with FullSyncSampler(source) as sampler:
        results = _run_all_at_once(run_module, targets, proxy)
        assert _wait_synced(targets, 2000) == [], 'targets not synced'
    assert [result['rc'] for result in results] == [0] * TARGETS
    assert all('sync_slot' not in result for result in results)
    assert sampler.most >= 2


def test_busy_source_fails_after_sync_slot_timeout_and_changes_nothing(redis_bin, start_server, run_module):
    source, targets = _fleet(start_server, redis_bin)
    source.client().config_set('repl-diskless-sync-delay', '8')
    first = run_module('replicaof', _args(targets[0], source, max_concurrent_syncs=1))
    assert first['rc'] == 0, first.get('msg')

    refused = run_module('replicaof', _args(targets[1], source, max_concurrent_syncs=1, sync_slot_timeout=1.5))
    assert refused['rc'] != 0
    assert refused['msg'].startswith('Source %s:%d still served 1 full syncs after 1.5 s' % (source.host, source.port))
    assert 'target %s:%d did not start its full sync: nothing was changed' % (targets[1].host, targets[1].port) in refused['msg']
    assert 'Traceback' not in refused['_stdout'] + refused['_stderr']
    assert SOURCE_PASSWORD not in refused['_stdout'] + refused['_stderr']
    assert TARGET_PASSWORD not in refused['_stdout'] + refused['_stderr']
    assert targets[1].client().info('replication')['role'] == 'master'


def test_check_mode_neither_claims_nor_reads_the_source(redis_bin, start_server, run_module):
    source, targets = _fleet(start_server, redis_bin)

    def connections():
        return int(source.client().info('stats')['total_connections_received'])

    before = connections()
    checked = run_module('replicaof', _args(targets[0], source, max_concurrent_syncs=1), check_mode=True)
    assert checked['rc'] == 0, checked.get('msg')
    assert checked['changed'] is True
    assert checked['sync_slot'] == {'max_concurrent_syncs': 1, 'waited_seconds': 0.0, 'queued': False, 'full_syncs_seen': None,
                                    'source_lists_target': None}
    # one connection: the measurement's own
    assert connections() == before + 1
    assert targets[0].client().info('replication')['role'] == 'master'

    # positive control: the same run, not in check mode, does connect to the source (the slot, then the link)
    before = connections()
    applied = run_module('replicaof', _args(targets[0], source, max_concurrent_syncs=1))
    assert applied['rc'] == 0, applied.get('msg')
    assert connections() >= before + 3
