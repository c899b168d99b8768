"""compare_sample (the verify role's value check) against real Redis servers: the sampling code is flavor-independent."""
from tests.support.servers import fill

SOURCE_PASSWORD = 'sample-Source-pw'


def _login(server):
    args = {'login_host': server.host, 'login_port': server.port}
    if server.password:
        args['login_password'] = server.password
    return args


def _synced_pair(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', password=SOURCE_PASSWORD)
    target = start_server(redis_bin, name='target')
    client = source.client()
    fill(source, 40, prefix='str')
    for number in range(8):
        client.hset('hash:%d' % number, mapping={'a': number, 'b': 'x' * number})
        client.sadd('set:%d' % number, *range(number + 1))
        client.zadd('zset:%d' % number, {'m%d' % i: i / 3.0 for i in range(number + 1)})
        client.rpush('list:%d' % number, *range(number + 1))
        client.xadd('stream:%d' % number, {'f': number})
    database_two = source.client(db=2)
    database_two.set('db2:only', 'there')
    database_two.hset('db2:hash', mapping={'k': 'v'})
    replicated = run_module('replicaof', dict(_login(target), primary_host=source.host, primary_port=source.port,
                                              primary_password=SOURCE_PASSWORD))
    assert replicated['rc'] == 0, replicated['msg']
    waited = run_module('wait_for_sync', dict(_login(target), timeout=60, max_lag_bytes=0, primary_password=SOURCE_PASSWORD))
    assert waited['rc'] == 0, waited['msg']
    return source, target


def _compare(run_module, target, **extra):
    args = dict(_login(target), sample_size=1000, recheck_delay=0.2)
    args.update(extra)
    return run_module('compare_sample', args)


def _write_behind_the_source(target, *command):
    # The replica refuses writes unless told otherwise: this is the "command the target lost or changed" case.
    client = target.client()
    client.config_set('replica-read-only', 'no')
    client.execute_command(*command)


def test_healthy_pair_passes_with_every_key_of_every_database_sampled(redis_bin, start_server, run_module):
    source, target = _synced_pair(redis_bin, start_server, run_module)
    result = _compare(run_module, target)
    assert result['rc'] == 0, result['msg']
    assert result['sampled'] == 40 + 5 * 8 + 2
    assert result['differing'] == []
    assert result['changed'] is False
    assert result['source'] == '%s:%d' % (source.host, source.port)


def test_a_value_changed_on_the_replica_is_caught(redis_bin, start_server, run_module):
    source, target = _synced_pair(redis_bin, start_server, run_module)
    _write_behind_the_source(target, 'SET', 'str:7', 'changed-behind-its-back')
    result = _compare(run_module, target)
    assert result['rc'] == 1
    assert result['differing'] == [dict(database=0, key='str:7', reason='values differ')]
    assert '%s:%d' % (target.host, target.port) in result['msg']
    assert 'str:7' in result['msg']
    output = result['_stdout'] + result['_stderr']
    assert 'changed-behind-its-back' not in output
    assert SOURCE_PASSWORD not in output


def test_a_lost_key_a_longer_hash_and_a_reordered_list_are_caught(redis_bin, start_server, run_module):
    source, target = _synced_pair(redis_bin, start_server, run_module)
    _write_behind_the_source(target, 'HSET', 'hash:3', 'extra', '1')
    _write_behind_the_source(target, 'LSET', 'list:4', 0, 'other')
    client = target.client(db=2)
    client.delete('db2:hash')
    result = _compare(run_module, target)
    assert result['rc'] == 1
    assert sorted((d['database'], d['key'], d['reason']) for d in result['differing']) == [
        (0, 'hash:3', 'length 2 on the source, 3 on the target'),
        (0, 'list:4', 'values differ'),
        (2, 'db2:hash', 'missing on the target'),
    ]


def test_a_key_written_on_the_source_after_sampling_does_not_count(redis_bin, start_server, run_module):
    # Control for the healthy case: a source write that replicates normally must not be reported.
    source, target = _synced_pair(redis_bin, start_server, run_module)
    source.client().set('str:1', 'new value, replicated')
    # the module's default wait before the second read (the other tests' 0.2 s once fell short on a loaded machine,
    # with two test workers and a cluster starting beside it)
    result = _compare(run_module, target, recheck_delay=1.0)
    assert result['rc'] == 0, result['msg']
    assert result['differing'] == []
