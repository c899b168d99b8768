"""What production does to a migration: restarts, crashes, partitions, concurrent runs and bad input.

Partitions use hosts in network namespaces (tests/support/netns.py): ``cut(host)`` takes the host's data link down,
and the modules, running here on the control node, still reach the host over its admin link. Every wait is bounded,
and every test states its exact expected outcome and records it for docs/reliability.md.
"""
import json
import signal
import threading
import time

from tests.support.servers import fill
from tests.support.writers import LiveWriters

# Short replication timeouts so a cut is noticed by both ends within seconds (the default is 60 s).
REPL_TIMEOUT = 3


def _record(record_property, fault, expected, observed, lost_writes=None):
    record_property('reliability', json.dumps(dict(fault=fault, expected=expected, observed=observed,
                                                   lost_writes=lost_writes)))


def _until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, '%s did not happen within %s s' % (what, timeout)
        time.sleep(0.05)


def _login(host, admin=True):
    """Module options for a netns host, over its admin link (which cut() leaves up) or its data link."""
    return dict(login_host=host.admin_address if admin else host.address, login_port=host.port)


def _replica_args(target, source, **extra):
    return dict(_login(target), primary_host=source.address, primary_port=source.port, **extra)


def _stats(host):
    stats = host.admin_client().info('stats')
    return dict(full=int(stats['sync_full']), partial=int(stats['sync_partial_ok']))


def _replication(host):
    return host.admin_client().info('replication')


class Background(threading.Thread):
    """One module run in a thread; ``result`` once joined."""

    def __init__(self, run_module, name, args):
        super(Background, self).__init__(daemon=True)
        self.run_module, self.name, self.args = run_module, name, args
        self.result = None
        self.finished_at = None

    def run(self):
        self.result = self.run_module(self.name, self.args)
        self.finished_at = time.monotonic()

    def result_within(self, seconds):
        self.join(seconds)
        assert not self.is_alive(), '%s still runs after %s s' % (self.name, seconds)
        return self.result


def _slow_full_sync(source, keys=10000, delay_us=500):
    """Fill the source, save it to disk (a restart reloads it), then slow every RDB it writes: the full sync a replica
    starts next takes seconds (rdb-key-save-delay, microseconds per key), long enough to hit it. A restart, with the
    config file, sets the delay back to 0."""
    fill(source, keys)
    source.admin_client().save()
    source.admin_client().config_set('rdb-key-save-delay', delay_us)


def _in_full_sync(target):
    return _replication(target).get('master_sync_in_progress') == 1


def _receiving_snapshot(target):
    """A full sync under way with snapshot bytes arriving: past the handshake and the source's
    repl-diskless-sync-delay, the point from which wait_for_sync can tell a sync from a refused link."""
    status = _replication(target)
    return status.get('master_sync_in_progress') == 1 and int(status.get('master_sync_read_bytes') or 0) > 0


def _until_module_polls(target, source):
    """wait_for_sync has polled both ends at least once. The module connects to the source inside its loop (named
    kvmigrate by redis-py) and then reads the target's INFO: once the source has served it an INFO, and the target's
    last command from it is INFO again, one whole poll is behind it."""
    def polled(host):
        return any(c.get('name') == 'kvmigrate' and c.get('cmd') == 'info' for c in host.admin_client().client_list())
    _until(lambda: polled(source) and polled(target), 30, 'the module polling both ends')
    time.sleep(0.2)


def _short(msg):
    """The message without the client library's detail in parentheses: the sentence and the option it names."""
    if ' (' not in msg:
        return msg
    head, tail = msg.split(' (')[0], msg.rsplit(')', 1)[-1].lstrip('.').strip()
    return '%s ... %s' % (head, tail) if tail else head


def _missing(writers, host):
    missing, acked = writers.missing_on(host)
    return len(missing), acked


def test_source_restarted_during_full_sync_wait_for_sync_recovers_with_every_key(fleet, record_property, run_module):
    source, target = fleet.add('src'), fleet.add('tgt')
    _slow_full_sync(source)
    assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
    waiting = Background(run_module, 'wait_for_sync', dict(_login(target), timeout=60, link_down_timeout=20, max_lag_bytes=0))
    waiting.start()
    _until(lambda: _receiving_snapshot(target), 20, 'snapshot bytes arriving')
    _until_module_polls(target, source)
    assert _in_full_sync(target), 'the full sync ended before the fault: make it slower'
    source.restart(signal.SIGKILL)  # a crash; the server comes back with its RDB and without the delay
    restarted_at = time.monotonic()
    result = waiting.result_within(60)
    assert result['rc'] == 0, result['msg']
    assert result['synced'] is True and result['sync_progress']['full_sync_seen'] is True
    assert result['source_keys'] == result['target_keys'] == 10000
    assert target.admin_client().dbsize() == 10000
    assert _stats(source)['full'] == 1  # the restarted source served one new full sync
    _record(record_property, 'source killed (SIGKILL) and restarted during the full sync; wait_for_sync running',
            'wait_for_sync recovers and succeeds; every key on the target',
            'synced %.1f s after the restart; 10000 of 10000 keys; a new full sync' % (waiting.finished_at - restarted_at), 0)


def test_source_killed_during_full_sync_and_not_back_fails_within_link_down_timeout(fleet, record_property, run_module):
    source, target = fleet.add('src'), fleet.add('tgt')
    _slow_full_sync(source)
    assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
    waiting = Background(run_module, 'wait_for_sync', dict(_login(target), timeout=120, link_down_timeout=3))
    waiting.start()
    _until(lambda: _receiving_snapshot(target), 20, 'snapshot bytes arriving')
    _until_module_polls(target, source)
    assert _in_full_sync(target), 'the full sync ended before the fault: make it slower'
    source.stop(signal.SIGKILL)  # the host's server and its RDB child die
    killed_at = time.monotonic()
    result = waiting.result_within(30)
    took = waiting.finished_at - killed_at
    assert result['rc'] == 1
    assert 'replication link to %s:6379 has been down' % source.address in result['msg']
    assert 'link_down_timeout=3' in result['msg'] and 'refused the connection' in result['msg']
    assert result['sync_progress']['full_sync_seen'] is True
    assert 3 <= took < 10, took  # link_down_timeout, plus one poll and the probe; far from timeout=120
    assert _replication(target)['role'] == 'slave'
    _record(record_property, 'source killed during the full sync and not restarted',
            'wait_for_sync fails after link_down_timeout=3 s with the reason (connection refused)',
            'failed %.1f s after the kill: %s' % (took, result['msg'].split('. Check')[0]))


def test_link_cut_in_steady_replication_fails_the_lag_limit_then_resyncs_partially_without_loss(
        fleet, record_property, run_module):
    extra = ['repl-timeout %d' % REPL_TIMEOUT]
    source, target = fleet.add('src', extra=extra), fleet.add('tgt', extra=extra)
    fill(source, 1000)
    assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
    assert run_module('wait_for_sync', dict(_login(target), timeout=30, max_lag_bytes=0))['rc'] == 0
    before = _stats(source)
    with LiveWriters(source, count=1, pause=0.002) as writers:
        fleet.cut(target)
        lagging = run_module('wait_for_sync', dict(_login(target), timeout=3, link_down_timeout=60, max_lag_bytes=1024))
        # both ends give up on the silent link after repl-timeout; only then is a resync needed at all
        _until(lambda: _replication(source)['connected_slaves'] == 0, 20, 'the source dropping its cut replica')
        fleet.restore(target)
        recovered = run_module('wait_for_sync', dict(_login(target), timeout=30, max_lag_bytes=1 << 20))
    assert lagging['rc'] == 1
    assert 'did not reach sync' in lagging['msg'] and 'max_lag_bytes 1024' in lagging['msg'], lagging['msg']
    assert 3 <= lagging['elapsed'] < 6
    assert recovered['rc'] == 0, recovered['msg']
    drained = run_module('wait_for_sync', dict(_login(target), timeout=30, max_lag_bytes=0))
    assert drained['rc'] == 0, drained['msg']
    assert not writers.errors, writers.errors
    lost, acked = _missing(writers, target)
    after = _stats(source)
    assert acked > 100 and lost == 0
    # at least one partial resync (a loaded machine can time a link out once more), and never a full one
    assert after['partial'] - before['partial'] >= 1 and after['full'] == before['full']
    _record(record_property, 'data link of the target cut for longer than repl-timeout during steady replication, '
            'with a live writer, then restored',
            'wait_for_sync with max_lag_bytes fails within its timeout naming the lag; a partial resync after, no full '
            'sync; no acknowledged write lost',
            'lag limit failed after %.1f s; sync_partial_ok +%d, sync_full +%d; %d writes acknowledged' % (
                lagging['elapsed'], after['partial'] - before['partial'], after['full'] - before['full'], acked), lost)


def test_link_cut_during_full_sync_restarts_the_sync_and_wait_for_sync_recovers(fleet, record_property, run_module):
    extra = ['repl-timeout %d' % REPL_TIMEOUT]
    source, target = fleet.add('src', extra=extra), fleet.add('tgt', extra=extra)
    _slow_full_sync(source)
    assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
    waiting = Background(run_module, 'wait_for_sync', dict(_login(target), timeout=90, link_down_timeout=30, max_lag_bytes=0))
    waiting.start()
    _until(lambda: _receiving_snapshot(target), 20, 'snapshot bytes arriving')
    _until_module_polls(target, source)
    assert _in_full_sync(target), 'the full sync ended before the fault: make it slower'
    fleet.cut(target)
    _until(lambda: not _in_full_sync(target), 20, 'the target giving up the cut transfer')
    source.admin_client().config_set('rdb-key-save-delay', 0)
    fleet.restore(target)
    result = waiting.result_within(90)
    assert result['rc'] == 0, result['msg']
    assert result['source_keys'] == result['target_keys'] == 10000
    stats = _stats(source)
    assert stats['full'] >= 2  # an unfinished transfer cannot be continued: the full sync starts again
    _record(record_property, 'data link of the target cut during the full sync (longer than repl-timeout), then restored',
            'the full sync starts again and wait_for_sync succeeds; every key on the target',
            'synced after %.1f s in all; sync_full %d, sync_partial_ok %d; 10000 of 10000 keys' % (
                result['elapsed'], stats['full'], stats['partial']), 0)


def test_cutover_while_the_target_link_is_cut_is_undone_then_refused_and_never_promotes(fleet, record_property, run_module):
    # The target notices the cut after its repl-timeout: long enough for the first attempt to start while it still
    # believes its link is up.
    source = fleet.add('src', extra=['repl-timeout 6'])
    target = fleet.add('tgt', extra=['repl-timeout 6'])
    fill(source, 1000)
    assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
    assert run_module('wait_for_sync', dict(_login(target), timeout=30, max_lag_bytes=0))['rc'] == 0
    cutover = dict(_login(target), state='primary', fence_source=True, source_host=source.address, source_port=source.port,
                   fence_timeout_ms=1000)
    with LiveWriters(source, count=1, pause=0.002) as writers:
        fleet.cut(target)
        time.sleep(0.3)  # writes the target does not receive
        undone = run_module('replicaof', cutover)
        _until(lambda: _replication(target)['master_link_status'] == 'down', 20, 'the target noticing the cut')
        refused = run_module('replicaof', cutover)
        fleet.restore(target)
    assert undone['rc'] == 1
    assert 'did not catch up' in undone['msg'] and 'Everything was undone' in undone['msg'], undone['msg']
    assert undone['cutover']['undone'] is True
    assert undone['cutover']['target_offset'] < undone['cutover']['source_offset']
    assert refused['rc'] == 1
    assert 'is not in sync' in refused['msg'] and 'nothing was changed' in refused['msg'], refused['msg']
    assert not any('REPLICAOF' in command for command in undone['cutover']['commands'] + refused.get('commands', []))
    assert writers.refusals == [] and not writers.errors  # the source never stopped taking writes
    assert _replication(source)['role'] == 'master' and _replication(target)['role'] == 'slave'
    assert run_module('wait_for_sync', dict(_login(target), timeout=30, max_lag_bytes=0))['rc'] == 0
    lost, acked = _missing(writers, target)
    assert acked > 100 and lost == 0
    _record(record_property, 'fenced cutover while the target data link is cut (1) before the target notices, '
            '(2) after its link is down',
            '(1) the target cannot catch up: undone, source writable; (2) refused, nothing changed; never promoted',
            '(1) %s (2) %s' % (undone['msg'].split(': ', 1)[1].split(' Everything')[0], refused['msg'].split(': run')[0]),
            lost)


def test_target_restarted_after_a_persisted_cutover_comes_back_primary_with_its_data(fleet, record_property, run_module):
    source = fleet.add('src')
    target = fleet.add('tgt', extra=['appendonly yes'])
    fill(source, 2000)
    assert run_module('replicaof', dict(_replica_args(target, source, persist=True), login_host=target.address))['rc'] == 0
    assert run_module('wait_for_sync', dict(_login(target, admin=False), timeout=30, max_lag_bytes=0))['rc'] == 0
    with LiveWriters(source, new_primary=target, count=1, pause=0.002) as writers:
        # reached over the admin link: the fence must still point the source at the data address it replicates over
        promoted = run_module('replicaof', dict(_login(target), state='primary', fence_source=True, persist=True))
    assert promoted['rc'] == 0, promoted['msg']
    assert promoted['persisted'] is True
    keys = target.admin_client().dbsize()
    target.restart(signal.SIGTERM)  # what a service manager does; AOF is written on shutdown
    assert _replication(target)['role'] == 'master'
    assert target.admin_client().dbsize() == keys
    lost, acked = _missing(writers, target)
    assert acked > 50 and lost == 0
    _until(lambda: _replication(source).get('master_link_status') == 'up', 20, 'the fenced source following the target')
    with open(source.config) as handle:
        assert 'replicaof %s 6379' % target.address in handle.read()  # the fence survives a restart of the source too
    _record(record_property, 'target restarted after a fenced cutover with persist: true (AOF on)',
            'target comes back a primary with every key; the source config keeps the fence',
            'primary after restart with %d of %d keys' % (target.admin_client().dbsize(), keys), lost)


def test_target_restarted_after_a_promotion_without_persist_warns_then_comes_back_as_a_replica(
        fleet, record_property, run_module):
    source, target = fleet.add('src'), fleet.add('tgt')
    fill(source, 100)
    assert run_module('replicaof', _replica_args(target, source, persist=True))['rc'] == 0
    assert run_module('wait_for_sync', dict(_login(target), timeout=30))['rc'] == 0
    promoted = run_module('replicaof', dict(_login(target), state='primary'))
    assert promoted['rc'] == 0 and promoted['persisted'] is None
    warning = json.dumps(promoted.get('warnings'))
    assert 'persist is false' in warning and target.config in warning
    target.restart(signal.SIGTERM)
    replication = _replication(target)
    assert replication['role'] == 'slave' and replication['master_host'] == source.address
    _record(record_property, 'target restarted after a promotion without persist (its config file has a replicaof line)',
            'the module warns that a restart brings back the role in the config file; it does',
            'warned; after the restart the target is a replica of %s again' % source.address)


def test_second_operation_on_a_target_is_refused_while_a_cutover_runs_and_a_retry_then_succeeds(
        start_server, record_property, run_module):
    source, target, other = start_server(name='src'), start_server(name='tgt'), start_server(name='other')
    fill(source, 200)
    target.client().replicaof(source.host, source.port)
    _until(lambda: target.client().info('replication').get('master_link_status') == 'up', 10, 'the initial sync')
    # A replica paused for writes stops applying its primary's stream, so the first cutover waits its full 40 % of
    # fence_timeout_ms (8 s): long enough for two more module runs to start while it holds the target.
    target.client().execute_command('CLIENT', 'PAUSE', 60000, 'WRITE')
    fill(source, 100, prefix='late')
    cutover = dict(login_host=target.host, login_port=target.port, state='primary', fence_source=True)
    try:
        first = Background(run_module, 'replicaof', dict(cutover, fence_timeout_ms=20000))
        first.start()
        _until(lambda: any(c.get('name', '').startswith('kvmigrate-op:replicaof:') for c in target.client().client_list()),
               15, 'the first cutover claiming the target')
        _until(lambda: any(c.get('name', '').startswith('kvmigrate-op:replicaof:') for c in source.client().client_list()),
               15, 'the first cutover claiming the source')
        others = [Background(run_module, 'replicaof', cutover),
                  Background(run_module, 'replicaof', dict(login_host=target.host, login_port=target.port,
                                                           primary_host=other.host, primary_port=other.port, allow_flush=True)),
                  Background(run_module, 'replicaof', dict(login_host=source.host, login_port=source.port,
                                                           primary_host=other.host, primary_port=other.port, allow_flush=True))]
        for background in others:
            background.start()
        second, repoint, on_source = [background.result_within(30) for background in others]
        assert first.is_alive(), 'the first cutover ended before the others ran: the test proves nothing'
        first_result = first.result_within(30)
    finally:
        target.client().execute_command('CLIENT', 'UNPAUSE')
    for refused in (second, repoint):
        assert refused['rc'] == 1
        assert 'target 127.0.0.1:%d is being changed by another kvmigrate operation (replicaof, pid' % target.port \
            in refused['msg'], refused['msg']
        assert refused['other_operation'].startswith('kvmigrate-op:replicaof:')
    assert on_source['rc'] == 1
    assert 'target 127.0.0.1:%d is being changed by another kvmigrate operation' % source.port in on_source['msg']
    assert first_result['rc'] == 1 and first_result['cutover']['undone'] is True  # the first one's own outcome
    replication = target.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == source.port
    assert source.client().info('replication')['role'] == 'master'  # the refused operation on the source changed nothing
    _until(lambda: target.client().info('replication').get('master_link_status') == 'up', 10, 'the link after the undo')
    retry = run_module('replicaof', cutover)
    assert retry['rc'] == 0, retry['msg']
    assert target.client().info('replication')['role'] == 'master'
    _record(record_property, 'a second fenced cutover and a replicaof to another primary on the same target, and a '
            'replicaof on its source, while a cutover runs there',
            'both refused naming the running operation, nothing changed; a retry after it ends succeeds',
            second['msg'].split(': nothing')[0])


BAD_INPUT = [
    # (module, options, what the message must say); validation already unit-tested (ports of the cutover options,
    # fence_timeout_ms, client_cert_file without client_key_file, ca_certs without tls) is not repeated here.
    ('replicaof', dict(primary_host='127.0.0.1', primary_port=0), 'primary_port=0 is not a TCP port'),
    ('replicaof', dict(state='primary', primary_host='127.0.0.1'), 'primary_host=127.0.0.1 conflicts with state=primary'),
    ('replicaof', dict(login_host='no-such-host.invalid', primary_host='127.0.0.1'),
     'target no-such-host.invalid:{port}: the host name does not resolve'),
    ('replicaof', dict(state='primary', fence_source=True, source_host='no-such-host.invalid', source_port=6379),
     'source no-such-host.invalid:6379: the host name does not resolve'),
    ('replicaof', dict(state='primary', fence_source=True, source_host='localhost', source_port='{port}'),
     'name the target itself'),
    ('wait_for_sync', dict(primary_port=65536), 'primary_port=65536 is not a TCP port'),
    ('wait_for_sync', dict(primary_host='no-such-host.invalid'),
     'source no-such-host.invalid:{source_port}: the host name does not resolve'),
]


def test_bad_input_is_refused_with_the_option_named_before_anything_changes(start_server, record_property, run_module):
    source, target = start_server(name='src'), start_server(name='tgt')
    fill(source, 10)
    target.client().replicaof(source.host, source.port)
    _until(lambda: target.client().info('replication').get('master_link_status') == 'up', 10, 'the initial sync')
    for module, args, expected in BAD_INPUT:
        full = dict(login_host=target.host, login_port=target.port)
        if module == 'wait_for_sync':
            full['timeout'] = 60
        args = dict((k, target.port if v == '{port}' else v) for k, v in args.items())
        full.update(args)
        started = time.monotonic()
        result = run_module(module, full)
        expected = expected.replace('{port}', str(full['login_port'])).replace('{source_port}', str(source.port))
        assert result['rc'] == 1, '%s %s was accepted' % (module, args)
        assert expected in result['msg'], result['msg']
        assert 'Traceback' not in result['_stdout'] + result['_stderr']
        assert time.monotonic() - started < 30  # refused up front, not after a wait
        replication = target.client().info('replication')
        assert replication['role'] == 'slave' and replication['master_port'] == source.port
        _record(record_property, 'bad input: %s %s' % (module, ', '.join('%s=%s' % item for item in sorted(args.items()))),
                'refused before any change, naming the option or endpoint', _short(result['msg']))
    assert source.client().info('replication')['role'] == 'master' and target.client().dbsize() == 10
