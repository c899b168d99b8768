"""replicaof state=primary fence_source=true: the zero-loss fenced cutover, against real redis-server processes.

Writers keep writing while the module runs; every write the server acknowledged must be on the new primary.
"""
import json
import time

import redis

from tests.support.proxy import RESET, STALL, StallingProxy
from tests.support.servers import fill, server_binaries
from tests.support.writers import LiveWriters

WRITERS = 4


def _login(server, password=None):
    args = {'login_host': server.host, 'login_port': server.port}
    if password or server.password:
        args['login_password'] = password or server.password
    return args


def _cutover_args(target, **extra):
    args = _login(target)
    args.update(state='primary', fence_source=True)
    args.update(extra)
    return args


def _replicate(target, source, rows=200):
    """target becomes an in-sync replica of source, holding ``rows`` keys (set up directly: not what is tested)."""
    fill(source, rows)
    client = target.client()
    client.config_set('masterauth', source.password or '')
    client.replicaof(source.host, source.port)
    _wait_until(lambda: client.info('replication').get('master_link_status') == 'up' and client.dbsize() == rows)


def _wait_until(condition, timeout=10):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, 'condition not met within %s s' % timeout
        time.sleep(0.02)


def _role(server):
    return server.client().info('replication')['role']


def _changing_calls(server):
    """How many state-changing commands the server has run (INFO commandstats; MONITOR hides admin commands)."""
    stats = server.client().info('commandstats')
    # 7.0 counts subcommands (config|set, client|pause); 6.2 only whole commands, where CONFIG/CLIENT also count reads
    names = ('replicaof', 'slaveof', 'failover', 'set', 'del', 'config|set', 'client|pause', 'client|unpause')
    return {name: stats.get('cmdstat_%s' % name, {}).get('calls', 0) for name in names}


def _assert_no_lost_writes(writers, new_primary):
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(new_primary)
    assert acked > 100, 'writers wrote too little to prove anything: %d' % acked
    assert missing == [], '%d of %d acknowledged writes are missing on the new primary' % (len(missing), acked)
    assert writers.refusals, 'no writer was refused by the fenced source, so none moved to the target'


def test_cutover_keeps_every_acknowledged_write_and_source_refuses_writes(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)

    with LiveWriters(source, target, count=WRITERS) as writers:
        result = run_module('replicaof', _cutover_args(target), diff=True)
    assert result['rc'] == 0, result['msg']
    _assert_no_lost_writes(writers, target)
    assert all('READONLY' in refusal.upper() or 'ReadOnlyError' in refusal for refusal in writers.refusals)

    cutover = result['cutover']
    assert result['changed'] is True
    assert cutover['method'] == 'pause' and cutover['fence'] == 'replicaof_target'
    assert cutover['source_role_after'] == 'replica'
    assert cutover['target_accepts_writes'] is True and cutover['source_refuses_writes'] is True
    assert cutover['source_offset'] is not None and cutover['target_offset'] >= cutover['source_offset']
    assert cutover['target_offset_source'] == 'replica'
    assert 0 < cutover['pause_ms'] < 5000
    assert cutover['recovery'] is None
    # the guard (one good replica: the target) is on before the promotion, the source's own values are back after
    assert cutover['guard'] == {'min_replicas_to_write': 1, 'min_replicas_max_lag': 2}
    assert cutover['commands'][0].startswith('source: SET kvmigrate:cutover {')
    order = [cutover['commands'].index(command) for command in (
        'source: CLIENT PAUSE 5000 WRITE', 'source: CONFIG SET min-replicas-to-write 1', 'target: REPLICAOF NO ONE',
        'source: REPLICAOF 127.0.0.1 %d' % target.port, 'source: CLIENT UNPAUSE',
        'source: CONFIG SET min-replicas-to-write 0', 'target: DEL kvmigrate:cutover')]
    assert order == sorted(order), cutover['commands']
    assert source.client().config_get('min-replicas-*') == {'min-replicas-to-write': '0', 'min-replicas-max-lag': '10'}
    assert target.client().get('kvmigrate:cutover') is None
    _wait_until(lambda: source.client().get('kvmigrate:cutover') is None)  # the DEL reaches it by replication
    assert result['diff']['before']['source']['role'] == 'primary'
    assert result['diff']['after']['source'] == {'role': 'replica', 'primary_host': '127.0.0.1', 'primary_port': target.port,
                                                 'fence': 'replicaof_target'}
    assert _role(target) == 'master'
    replication = source.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == target.port
    try:
        source.client().set('after-cutover', '1')
        raise AssertionError('the fenced source accepted a write')
    except redis.ReadOnlyError:
        pass


def test_min_replicas_fence_leaves_source_primary_refusing_writes_with_noreplicas(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)

    with LiveWriters(source, target, count=WRITERS) as writers:
        result = run_module('replicaof', _cutover_args(target, fence_mode='min_replicas'))
    assert result['rc'] == 0, result['msg']
    _assert_no_lost_writes(writers, target)
    assert all('NOREPLICAS' in refusal.upper() for refusal in writers.refusals)
    assert result['cutover']['fence'] == 'min_replicas'
    assert result['cutover']['source_role_after'] == 'primary'
    assert _role(source) == 'master' and _role(target) == 'master'
    try:
        source.client().set('after-cutover', '1')
        raise AssertionError('the fenced source accepted a write')
    except redis.ResponseError as exc:
        assert 'NOREPLICAS' in str(exc)


def test_target_that_cannot_catch_up_is_undone_and_the_failure_names_the_offsets(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)
    # A replica paused for writes stops applying its primary's stream (its link stays up): it cannot catch up.
    target.client().execute_command('CLIENT', 'PAUSE', 20000, 'WRITE')
    fill(source, 500, prefix='late')
    try:
        result = run_module('replicaof', _cutover_args(target, fence_timeout_ms=500))
    finally:
        target.client().execute_command('CLIENT', 'UNPAUSE')

    assert result['rc'] == 1
    source_offset = int(source.client().info('replication')['master_repl_offset'])
    assert 'did not catch up' in result['msg'] and 'was undone' in result['msg']
    assert 'source offset %d' % result['cutover']['source_offset'] in result['msg']
    assert result['cutover']['target_offset'] < result['cutover']['source_offset'] <= source_offset
    assert result['cutover']['undone'] is True
    assert not any('REPLICAOF' in command for command in result['cutover']['commands'])
    assert source.client().set('writable-again', '1') is True
    replication = target.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == source.port
    _wait_until(lambda: target.client().get('writable-again') == '1')
    assert target.client().get('late:499') == 'v499'


def test_fence_refused_after_promotion_keeps_the_target_primary_loses_no_write_and_a_rerun_completes(
        redis_bin, start_server, run_module):
    """The fence fails after the promotion. Writers that the guard turned away from the source write to the target
    meanwhile: turning the target back into a replica would discard those writes, so it stays the primary, the source
    refuses writes, and a re-run completes the cutover."""
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)
    # This user may pause and inspect the source and write the cutover record, but not run REPLICAOF: the fence fails
    # after the promotion.
    source.client().execute_command('ACL', 'SETUSER', 'fencer', 'on', '>fencer-Pass-7', '~kvmigrate:*', '+@all',
                                    '-replicaof', '-slaveof')

    with LiveWriters(source, target, count=2, pause=0.001) as writers:
        time.sleep(0.2)
        result = run_module('replicaof', _cutover_args(target, primary_user='fencer', primary_password='fencer-Pass-7'))
        time.sleep(0.3)  # the writers move to the target on the source's refusal and write there
        assert result['rc'] == 1
        assert 'permission' in result['msg'] and 'stays the primary' in result['msg'], result['msg']
        assert result['cutover']['held'] is True and result['cutover']['undone'] is False
        assert 'target: REPLICAOF NO ONE' in result['cutover']['commands']
        assert not any(c.startswith('target: REPLICAOF 127.0.0.1') for c in result['cutover']['commands'])
        assert 'fencer-Pass-7' not in result['_stdout'] + result['_stderr']
        assert _role(target) == 'master' and _role(source) == 'master'
        try:
            source.client().set('refused', '1')
            refusal = None
        except redis.ResponseError as exc:
            refusal = str(exc)
        assert refusal is not None and refusal.startswith('NOREPLICAS'), refusal
        assert source.client().get('kvmigrate:cutover') is not None

        rerun = run_module('replicaof', _cutover_args(target))
        time.sleep(0.3)
    assert rerun['rc'] == 0 and rerun['changed'] is True, rerun['msg']
    assert rerun['cutover']['recovery'] == 'completed'
    replication = source.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == target.port, (replication, rerun['cutover'])
    assert source.client().config_get('min-replicas-*') == {'min-replicas-to-write': '0', 'min-replicas-max-lag': '10'}
    assert source.client().get('kvmigrate:cutover') is None and target.client().get('kvmigrate:cutover') is None
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(target)
    assert acked > 100 and writers.refusals, 'the writers never moved to the target'
    assert missing == [], '%d of %d acknowledged writes are missing on the new primary' % (len(missing), acked)


def test_check_mode_reports_the_plan_and_touches_neither_end(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)
    before = (_changing_calls(source), _changing_calls(target))
    result = run_module('replicaof', _cutover_args(target), check_mode=True, diff=True)
    assert result['rc'] == 0, result['msg']
    assert result['changed'] is True
    assert result['cutover']['method'] == 'pause' and result['cutover']['pause_ms'] is None
    assert result['commands'][0].startswith('source: SET kvmigrate:cutover {')
    assert result['commands'][1:] == [
        'source: CLIENT PAUSE 5000 WRITE', 'source: CONFIG SET min-replicas-max-lag 2',
        'source: CONFIG SET min-replicas-to-write 1', 'target: REPLICAOF NO ONE',
        'source: REPLICAOF 127.0.0.1 %d' % target.port, 'source: CLIENT UNPAUSE',
        'source: CONFIG SET min-replicas-to-write 0', 'source: CONFIG SET min-replicas-max-lag 10',
        'target: DEL kvmigrate:cutover']
    assert result['diff']['after']['source']['role'] == 'replica'
    assert _role(source) == 'master' and _role(target) == 'slave'
    assert (_changing_calls(source), _changing_calls(target)) == before
    # the counters do count: the real run moves them
    assert run_module('replicaof', _cutover_args(target))['rc'] == 0
    assert _changing_calls(source)['replicaof'] == before[0]['replicaof'] + 1
    assert _changing_calls(target)['replicaof'] == before[1]['replicaof'] + 1


def test_second_run_is_unchanged_and_sends_nothing(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)
    assert run_module('replicaof', _cutover_args(target))['changed'] is True

    again = run_module('replicaof', _cutover_args(target, source_host=source.host, source_port=source.port))
    assert again['rc'] == 0, again['msg']
    assert again['changed'] is False and again['commands'] == []
    assert again['cutover']['fence'] == 'replicaof_target'

    without_source = run_module('replicaof', _cutover_args(target))
    assert without_source['rc'] == 0 and without_source['changed'] is False
    assert 'set source_host/source_port' in json.dumps(without_source.get('warnings'))


def test_already_promoted_target_with_writable_source_is_refused(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)
    target.client().replicaof('NO', 'ONE')

    result = run_module('replicaof', _cutover_args(target, source_host=source.host, source_port=source.port))
    assert result['rc'] == 1
    assert 'still accepts writes' in result['msg'] and '127.0.0.1:%d' % source.port in result['msg']
    assert _role(source) == 'master'


def test_failover_method_promotes_target_and_makes_source_its_replica(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(target, source)

    with LiveWriters(source, target, count=WRITERS) as writers:
        result = run_module('replicaof', _cutover_args(target, cutover_method='failover'))
    assert result['rc'] == 0, result['msg']
    _assert_no_lost_writes(writers, target)
    assert result['cutover']['method'] == 'failover' and result['cutover']['fence'] == 'replicaof_target'
    assert result['cutover']['source_role_after'] == 'replica'
    assert result['cutover']['pause_ms'] > 0
    assert _role(target) == 'master'
    assert source.client().info('replication')['master_port'] == target.port


def test_passwords_never_appear_and_source_authenticates_to_target(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', password='src-Secret-41')
    target = start_server(redis_bin, name='target', password='tgt-Secret-42')
    _replicate(target, source)

    results = [run_module('replicaof', _cutover_args(target, primary_password='src-Secret-41'), check_mode=True, diff=True),
               run_module('replicaof', _cutover_args(target, primary_password='src-Secret-41'), diff=True)]
    results.append(run_module('replicaof', _cutover_args(target, primary_password='src-Secret-41', source_host=source.host,
                                                         source_port=source.port)))
    results.append(run_module('replicaof', _cutover_args(target, primary_password='wrong-Secret-43', source_host=source.host,
                                                         source_port=source.port)))
    assert [r['rc'] for r in results] == [0, 0, 0, 1]
    assert 'CONFIG SET masterauth ********' in ' '.join(results[1]['commands'])
    assert results[2]['changed'] is False
    assert 'rejected the credentials' in results[3]['msg']
    for result in results:
        output = result['_stdout'] + result['_stderr']
        for secret in ('src-Secret-41', 'tgt-Secret-42', 'wrong-Secret-43'):
            assert secret not in output
    _wait_until(lambda: source.client().info('replication').get('master_link_status') == 'up')


def test_old_source_that_cannot_load_the_target_rdb_is_fenced_with_min_replicas(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['6.2.14'], name='source')
    target = start_server(binaries['7.0.15'], name='target')
    _replicate(target, source)

    with LiveWriters(source, target, count=WRITERS) as writers:
        result = run_module('replicaof', _cutover_args(target))
    assert result['rc'] == 0, result['msg']
    _assert_no_lost_writes(writers, target)
    assert result['cutover']['fence'] == 'min_replicas'
    forced = run_module('replicaof', _cutover_args(target, source_host=source.host, source_port=source.port,
                                                   fence_mode='replicaof_target'))
    assert forced['rc'] == 0 and forced['changed'] is False  # already fenced: the requested mode is not re-applied


def test_replicaof_target_fence_is_refused_when_the_source_cannot_load_the_target_rdb(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['6.2.14'], name='source')
    target = start_server(binaries['7.0.15'], name='target')
    _replicate(target, source)
    result = run_module('replicaof', _cutover_args(target, fence_mode='replicaof_target'))
    assert result['rc'] == 1
    assert 'RDB version 10' in result['msg'] and 'fence_mode=min_replicas' in result['msg']
    assert _role(target) == 'slave' and _role(source) == 'master'


def test_fence_source_with_state_replica_is_refused(run_module):
    result = run_module('replicaof', dict(login_host='127.0.0.1', login_port=1, primary_host='127.0.0.1',
                                          state='replica', fence_source=True))
    assert result['rc'] == 1
    assert 'fence_source=true needs state=primary' in result['msg']


def test_cutover_options_without_fence_source_are_refused(run_module):
    for option, value in (('source_host', '127.0.0.1'), ('cutover_method', 'failover'), ('fence_mode', 'min_replicas')):
        result = run_module('replicaof', {'login_host': '127.0.0.1', 'login_port': 1, 'state': 'primary', option: value})
        assert result['rc'] == 1
        assert 'only applies with fence_source=true' in result['msg'] and option in result['msg']


# -- the write probe, shared by write_check and check_writes: only READONLY or NOREPLICAS is a refusal ----------------

def test_write_check_counts_only_the_servers_own_refusal_as_refused(start_server, run_module):
    source = start_server(name='source')
    replica = start_server(name='replica')
    replica.client().replicaof(source.host, source.port)
    refused = run_module('write_check', dict(_login(replica), expect='refused'))
    assert refused['rc'] == 0, refused['msg']
    assert refused['outcome'] == 'refused' and refused['writable'] is False
    assert refused['error'].startswith('READONLY ')

    source.client().config_set('min-replicas-max-lag', 10)
    source.client().config_set('min-replicas-to-write', 5)
    fenced = run_module('write_check', dict(_login(source), expect='refused'))
    assert fenced['rc'] == 0, fenced['msg']
    assert fenced['outcome'] == 'refused' and fenced['error'].startswith('NOREPLICAS ')


def test_write_check_reset_connection_is_unknown_not_a_refusal(start_server, run_module):
    server = start_server(name='server')
    proxy = StallingProxy(server.host, server.port).start()
    try:
        proxy.arm(b'kvmigrate:write-check', RESET, once=False)  # every attempt, retries included
        result = run_module('write_check', dict(login_host=proxy.host, login_port=proxy.port, expect='refused'))
    finally:
        proxy.close()
    assert proxy.hits >= 1
    assert result['rc'] == 1
    assert result['outcome'] == 'unknown' and result['writable'] is None
    assert 'inconclusive' in result['msg'] and '127.0.0.1:%d' % proxy.port in result['msg']
    assert server.client().get('kvmigrate:write-check') is None  # the write never reached the server


def test_write_check_stalled_server_is_unknown_after_timeout(start_server, run_module):
    server = start_server(name='server')
    proxy = StallingProxy(server.host, server.port).start()
    try:
        proxy.arm(b'kvmigrate:write-check', STALL)
        started = time.monotonic()
        result = run_module('write_check', dict(login_host=proxy.host, login_port=proxy.port, expect='refused',
                                                timeout=1))
        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert proxy.triggered.is_set()
    assert result['rc'] == 1 and result['outcome'] == 'unknown'
    assert 'did not answer SET within 1 s' in result['msg']
    assert elapsed < 30


def test_check_writes_fails_when_the_source_probe_gets_no_answer(start_server, run_module):
    source = start_server(name='source')
    target = start_server(name='target')
    proxy = StallingProxy(source.host, source.port).start()
    try:
        fill(source, 200)
        # the module and the target's replication link both reach the source through the proxy
        target.client().replicaof(proxy.host, proxy.port)
        _wait_until(lambda: _role(target) == 'slave' and target.client().info('replication')['master_link_status'] == 'up')
        proxy.arm(b'kvmigrate:write-check', RESET, once=False)
        result = run_module('replicaof', _cutover_args(target))
    finally:
        proxy.close()
    assert result['rc'] == 1
    assert 'no answer shows that the source refuses writes' in result['msg']
    assert result['cutover']['target_accepts_writes'] is True and result['cutover']['source_refuses_writes'] is None
    assert _role(target) == 'master' and _role(source) == 'slave'  # the cutover itself stands
