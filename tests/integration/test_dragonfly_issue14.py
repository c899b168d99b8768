"""Real-server checks behind issue 14 that Redis can stand in for: the operation claim without CLIENT ID, and a full
sync that keeps starting over because the source's replica output buffer limit is too small."""
import threading
import time

from tests.support.servers import fill

from ansible_collections.kvmigrate.replication.plugins.module_utils import connection

PARAMS = dict(login_host='127.0.0.1', login_port=None, login_user=None, login_password=None, tls=False,
              validate_certs=True, ca_certs=None, client_cert_file=None, client_key_file=None, connect_timeout=5.0)


def _connect(server, username=None, password=None):
    return connection.connect(dict(PARAMS, login_port=server.port), host=server.host, port=server.port,
                              username=username, password=password or server.password, what='target')


def _login(server):
    args = {'login_host': server.host, 'login_port': server.port}
    if server.password:
        args['login_password'] = server.password
    return args


def _command_calls(server, name):
    stats = server.client().info('commandstats')
    return stats.get('cmdstat_%s' % name, {}).get('calls', 0)


def test_claim_works_for_a_user_who_may_not_run_client_id(redis_bin, start_server):
    # Dragonfly before v1.23 answers CLIENT ID with "unknown subcommand"; an ACL user denied it is the same refusal
    # from a real server: the claim must not need it.
    server = start_server(redis_bin, name='target', password='claim-Admin-pw')
    server.client().execute_command('ACL', 'SETUSER', 'noid', 'on', '>claim-Noid-pw', '~*', '&*', '+@all', '-client', '+client|setname', '+client|list')
    denied = _connect(server, username='noid', password='claim-Noid-pw')
    try:
        probe = None
        try:
            denied.call('CLIENT', 'ID')
        except connection.KvmigrateError as exc:
            probe = exc
        assert probe is not None and probe.cause == 'permission', 'the server did not refuse CLIENT ID to this user'
        connection.claim_operation(denied, 'replicaof')
        names = [c.get('name', '') for c in server.client().client_list()]
        assert sum(1 for name in names if name.startswith('kvmigrate-op:replicaof:')) == 1
    finally:
        denied.close()


def test_claim_sends_no_client_id(start_server):
    # 7.0.15: its commandstats count CLIENT subcommands apart (6.2 counts them all as cmdstat_client).
    server = start_server(name='target')
    before = _command_calls(server, 'client|id')
    claimer = _connect(server)
    try:
        connection.claim_operation(claimer, 'replicaof')
    finally:
        claimer.close()
    assert _command_calls(server, 'client|id') == before
    assert _command_calls(server, 'client|list') >= 1, 'positive control: the claim did read CLIENT LIST'


def test_two_claims_from_one_process_refuse_each_other(redis_bin, start_server):
    # Same module name and pid: only the random part of the name tells the two connections apart.
    server = start_server(redis_bin, name='target')
    first, second = _connect(server), _connect(server)
    try:
        connection.claim_operation(first, 'replicaof')
        refused = None
        try:
            connection.claim_operation(second, 'replicaof')
        except connection.KvmigrateError as exc:
            refused = exc
        assert refused is not None and refused.cause == 'in_flight'
        assert 'target 127.0.0.1:%d is being changed by another kvmigrate operation (replicaof, pid' % server.port \
            in refused.msg
        first.close()
        connection.claim_operation(second, 'replicaof')  # the first claim went away with its connection
    finally:
        first.close()
        second.close()


def test_two_concurrent_claims_never_both_go_on(redis_bin, start_server):
    server = start_server(redis_bin, name='target')
    for dummy in range(20):
        servers = [_connect(server), _connect(server)]
        outcomes = [None, None]
        barrier = threading.Barrier(2)

        def claim(index):
            barrier.wait()
            try:
                connection.claim_operation(servers[index], 'replicaof')
                outcomes[index] = 'claimed'
            except connection.KvmigrateError as exc:
                outcomes[index] = exc.cause

        threads = [threading.Thread(target=claim, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for claimer in servers:
            claimer.close()
        assert outcomes.count('claimed') <= 1, outcomes
        assert set(outcomes) <= {'claimed', 'in_flight'}, outcomes


class _BigWriter(object):
    """Writes 64 KiB values to the source as fast as it can, so the replica's output buffer fills during a sync."""

    def __init__(self, server):
        self.client = server.client()
        self.stopped = threading.Event()
        self.writes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        value = 'x' * 65536
        while not self.stopped.is_set():
            self.client.set('big:%d' % (self.writes % 64), value)
            self.writes += 1

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join(10)


def test_wait_fails_fast_when_the_sources_replica_buffer_limit_keeps_restarting_the_full_sync(
        redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', extra=['client-output-buffer-limit replica 256kb 128kb 2'])
    target = start_server(redis_bin, name='target')
    fill(source, 300000)
    writer = _BigWriter(source).start()
    try:
        replicated = run_module('replicaof', dict(_login(target), primary_host=source.host, primary_port=source.port))
        assert replicated['rc'] == 0, replicated['msg']
        started = time.monotonic()
        result = run_module('wait_for_sync', dict(_login(target), timeout=240, link_down_timeout=120))
        took = time.monotonic() - started
    finally:
        writer.stop()
    sync_full = int(source.client().info('stats')['sync_full'])
    assert writer.writes > 0
    assert result['rc'] == 1, 'the wait should have failed: %s' % result.get('msg')
    assert 'full_sync_restarts' in result, result['msg']
    assert result['full_sync_restarts'] >= 3
    assert sync_full >= 4, 'the source did not really restart the full sync (sync_full %d)' % sync_full
    assert 'started over' in result['msg']
    assert 'client-output-buffer-limit for replicas is "replica 262144 131072 2"' in result['msg']
    assert 'CONFIG SET client-output-buffer-limit "replica 0 0 0"' in result['msg']
    assert 'target %s:%d' % (target.host, target.port) in result['msg'].lower()
    # it ended on the restarts (the message above), before both link_down_timeout (120 s) and the timeout (240 s):
    # each restart is a full sync of 300,000 keys, about 15-20 s on a loaded machine
    assert result['elapsed'] < 120 and took < 180, (result['elapsed'], took)
