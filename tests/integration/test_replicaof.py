"""replicaof against real redis-server processes (each test runs on every installed version)."""

from tests.support.servers import fill


def _login(server):
    args = {'login_host': server.host, 'login_port': server.port}
    if server.password:
        args['login_password'] = server.password
    return args


def _replica_args(target, source, **extra):
    args = _login(target)
    args.update(primary_host=source.host, primary_port=source.port)
    if source.password:
        args['primary_password'] = source.password
    args.update(extra)
    return args


def _wait_args(target, **extra):
    args = _login(target)
    args.update(timeout=120, poll_interval=0.05)
    args.update(extra)
    return args


def test_replicates_100k_keys_and_counts_match(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 100000)

    result = run_module('replicaof', _replica_args(target, source))
    assert result['rc'] == 0, result['msg']
    assert result['changed'] is True
    assert result['before']['role'] == 'primary'
    assert result['after'] == {'role': 'replica', 'primary_host': '127.0.0.1', 'primary_port': source.port}
    assert result['commands'] == ['REPLICAOF 127.0.0.1 %d' % source.port]

    waited = run_module('wait_for_sync', _wait_args(target, max_lag_bytes=0))
    assert waited['rc'] == 0, waited['msg']
    assert waited['synced'] is True
    assert waited['lag_bytes'] == 0
    assert target.client().dbsize() == source.client().dbsize() == 100000
    assert target.client().get('key:99999') == 'v99999'


def test_second_run_is_unchanged_and_sends_nothing(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 1000)
    assert run_module('replicaof', _replica_args(target, source))['changed'] is True
    assert run_module('wait_for_sync', _wait_args(target))['rc'] == 0
    syncs_before = int(source.client().info('stats')['sync_full'])

    again = run_module('replicaof', _replica_args(target, source))
    assert again['rc'] == 0, again['msg']
    assert again['changed'] is False
    assert again['commands'] == []
    assert int(source.client().info('stats')['sync_full']) == syncs_before


def test_localhost_and_127_0_0_1_name_the_same_primary(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    first = run_module('replicaof', _replica_args(target, source, primary_host='localhost'))
    assert first['changed'] is True
    again = run_module('replicaof', _replica_args(target, source, primary_host='127.0.0.1'))
    assert again['rc'] == 0, again['msg']
    assert again['changed'] is False
    assert target.client().info('replication')['master_host'] == 'localhost'


def test_target_holding_keys_is_refused_without_allow_flush(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 10)
    fill(target, 42, prefix='precious')

    refused = run_module('replicaof', _replica_args(target, source))
    assert refused['rc'] == 1
    assert '42 keys' in refused['msg'] and 'allow_flush' in refused['msg']
    assert '127.0.0.1:%d' % target.port in refused['msg']
    assert 'Traceback' not in refused['_stdout'] + refused['_stderr']
    assert target.client().info('replication')['role'] == 'master'
    assert target.client().dbsize() == 42

    allowed = run_module('replicaof', _replica_args(target, source, allow_flush=True))
    assert allowed['changed'] is True and allowed['keys_discarded'] == 42
    assert run_module('wait_for_sync', _wait_args(target))['rc'] == 0
    assert target.client().dbsize() == 10
    assert target.client().get('precious:0') is None


def test_check_mode_predicts_but_changes_nothing(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    predicted = run_module('replicaof', _replica_args(target, source, primary_password='x-new-secret'), check_mode=True,
                           diff=True)
    assert predicted['rc'] == 0, predicted['msg']
    assert predicted['changed'] is True
    assert predicted['diff']['before']['role'] == 'primary'
    assert predicted['diff']['after']['role'] == 'replica'
    assert 'CONFIG SET masterauth ********' in predicted['commands']
    assert target.client().info('replication')['role'] == 'master'
    assert target.client().config_get('masterauth')['masterauth'] == ''
    assert 'x-new-secret' not in predicted['_stdout']


def test_promote_makes_the_replica_a_writable_primary_and_is_idempotent(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 500)
    run_module('replicaof', _replica_args(target, source))
    assert run_module('wait_for_sync', _wait_args(target))['rc'] == 0

    check = run_module('replicaof', dict(_login(target), state='primary'), check_mode=True)
    assert check['changed'] is True and target.client().info('replication')['role'] == 'slave'

    promoted = run_module('replicaof', dict(_login(target), state='primary'), diff=True)
    assert promoted['rc'] == 0, promoted['msg']
    assert promoted['changed'] is True
    assert promoted['diff']['before']['role'] == 'replica'
    assert promoted['commands'] == ['REPLICAOF NO ONE']
    assert target.client().set('written-after-promotion', '1')
    assert target.client().dbsize() == 501

    again = run_module('replicaof', dict(_login(target), state='primary'))
    assert again['changed'] is False


def test_primary_password_sets_masterauth_only_when_different(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', password='src-Pa55-word')
    target = start_server(redis_bin, name='target')
    fill(source, 100)
    first = run_module('replicaof', _replica_args(target, source))
    assert first['rc'] == 0, first['msg']
    assert first['commands'] == ['CONFIG SET masterauth ********', 'REPLICAOF 127.0.0.1 %d' % source.port]
    waited = run_module('wait_for_sync', _wait_args(target))
    assert waited['rc'] == 0, waited['msg']
    assert target.client().dbsize() == 100
    again = run_module('replicaof', _replica_args(target, source))
    assert again['changed'] is False
    for result in (first, waited, again):
        assert 'src-Pa55-word' not in result['_stdout'] + result['_stderr']


def test_target_pointed_at_itself_is_refused_before_any_change(redis_bin, start_server, run_module):
    target = start_server(redis_bin, name='target')
    result = run_module('replicaof', dict(_login(target), primary_host='localhost', primary_port=target.port))
    assert result['rc'] == 1
    assert 'replicate from itself' in result['msg']
    assert target.client().info('replication')['role'] == 'master'


def test_two_host_replication_loop_is_refused(redis_bin, start_server, run_module):
    first = start_server(redis_bin, name='a')
    second = start_server(redis_bin, name='b')
    assert run_module('replicaof', _replica_args(second, first))['changed'] is True
    assert run_module('wait_for_sync', _wait_args(second))['rc'] == 0
    loop = run_module('replicaof', _replica_args(first, second))
    assert loop['rc'] == 1
    assert 'replication loop' in loop['msg']
    assert 'Promote or repoint 127.0.0.1:%d first.' % second.port in loop['msg']
    assert first.client().info('replication')['role'] == 'master'


def test_bad_port_is_refused_with_the_option_name(run_module):
    result = run_module('replicaof', dict(login_port=70000, primary_host='127.0.0.1'))
    assert result['rc'] == 1
    assert 'login_port=70000' in result['msg'] and '1 to 65535' in result['msg']


def test_refused_connection_names_endpoint_and_cause(run_module):
    from tests.support.servers import free_port
    port = free_port()
    result = run_module('replicaof', dict(login_host='127.0.0.1', login_port=port, primary_host='127.0.0.1',
                                          primary_port=6379, login_password='never-Show-me'))
    assert result['rc'] == 1
    assert 'target 127.0.0.1:%d refused the connection' % port in result['msg']
    assert 'Traceback' not in result['_stdout'] + result['_stderr']
    assert 'never-Show-me' not in result['_stdout'] + result['_stderr']


def test_wrong_login_password_is_an_auth_error_without_the_secret(redis_bin, start_server, run_module):
    target = start_server(redis_bin, name='target', password='right-Secret-1')
    result = run_module('replication_info', dict(login_host=target.host, login_port=target.port,
                                                 login_password='wrong-Secret-2'))
    assert result['rc'] == 1
    assert 'rejected the credentials' in result['msg'] and 'login_password' in result['msg']
    assert 'wrong-Secret-2' not in result['_stdout'] + result['_stderr']
    assert 'right-Secret-1' not in result['_stdout'] + result['_stderr']


def test_persist_rewrites_the_config_file(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    result = run_module('replicaof', _replica_args(target, source, persist=True))
    assert result['rc'] == 0, result['msg']
    assert result['persisted'] is True
    with open(target.config) as handle:
        assert 'replicaof 127.0.0.1 %d' % source.port in handle.read()


def test_sibling_of_a_promoted_target_moves_to_it_without_allow_flush_and_loses_nothing(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    first = start_server(redis_bin, name='first')
    sibling = start_server(redis_bin, name='sibling')
    fill(source, 3000)
    for target in (first, sibling):
        assert run_module('replicaof', _replica_args(target, source))['rc'] == 0
        assert run_module('wait_for_sync', _wait_args(target, max_lag_bytes=0))['rc'] == 0
    cutover = run_module('replicaof', dict(_login(first), state='primary', fence_source=True))
    assert cutover['rc'] == 0, cutover['msg']
    fill(first, 500, prefix='after-cutover')

    moved = run_module('replicaof', _replica_args(sibling, first))
    assert moved['rc'] == 0, moved['msg']
    assert moved['changed'] is True and moved['keys_discarded'] == 0
    assert run_module('wait_for_sync', _wait_args(sibling, max_lag_bytes=0))['rc'] == 0
    # 3000 keys, 500 written after the cutover, and the cutover's expiring write-check key
    assert sibling.client().dbsize() == first.client().dbsize() == 3501
    assert sibling.client().get('after-cutover:499') == 'v499'
    # the new primary continued the sibling's stream: no full sync was served for it (or for the fenced source)
    assert int(first.client().info('stats')['sync_full']) == 0


def test_target_with_a_history_of_its_own_is_still_refused(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    other_source = start_server(redis_bin, name='other-source')
    target = start_server(redis_bin, name='target')
    fill(other_source, 50)
    assert run_module('replicaof', _replica_args(target, other_source))['rc'] == 0
    assert run_module('wait_for_sync', _wait_args(target))['rc'] == 0
    refused = run_module('replicaof', _replica_args(target, source))
    assert refused['rc'] == 1 and '50 keys' in refused['msg']
    assert int(target.client().info('replication')['master_port']) == other_source.port
