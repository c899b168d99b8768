"""migration_check measures instead of guessing (issue 16), on real servers: the RDB version from DUMP footers and a
RESTORE probe, module data, functions, databases, TLS replication, output buffers and diskless sync delays."""
import os
import time

import pytest

from tests.support.cluster import cluster_port
from tests.support.servers import RedisServer, fill, server_binaries
from tests.support.tls import TlsRedisServer, make_pki
from tests.support.writers import LiveWriters

REDISEARCH = '/usr/lib/redis/modules/redisearch.so'


def _check(run_module, target, source, check_mode=False, **extra):
    args = dict(login_host=target.host, login_port=target.port, primary_host=source.host, primary_port=source.port,
                rate_sample_seconds=0.2)
    args.update(extra)
    result = run_module('migration_check', args, check_mode=check_mode)
    assert result['rc'] == 0, result.get('msg')
    return result, {f['check']: f for f in result['findings']}


def _restore_calls(server):
    return server.client().info('commandstats').get('cmdstat_restore', {}).get('calls', 0)


def test_newer_source_into_older_target_is_refused_with_the_measured_rdb_version(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['7.0.15'], name='source-7.0')
    target = start_server(binaries['6.2.14'], name='target-6.2')
    fill(source, 50)

    result, findings = _check(run_module, target, source)
    rdb = findings['rdb_compatibility']
    assert rdb['severity'] == 'blocker'
    assert 'source 127.0.0.1:%d (redis 7.0.15) writes RDB version 10 (measured: footer of the DUMP' % source.port in rdb['message']
    assert 'target 127.0.0.1:%d (redis 6.2.14) cannot load it (measured: RESTORE of an RDB 10 payload refused' % (
        target.port) in rdb['message']
    assert result['rdb']['rdb_version'] == 10 and result['rdb']['target_loads'] is False
    assert result['rdb']['rdb_version_how'].startswith('measured')
    assert result['rdb']['target_loads_how'].startswith('measured')
    # the probe left nothing behind: the empty target is still empty
    assert _restore_calls(target) == 2 and target.client().dbsize() == 0 and target.client().keys('*') == []

    # a target holding keys is measured by its own DUMP, with no write at all
    fill(target, 3, prefix='old')
    result, findings = _check(run_module, target, source, allow_flush=True)
    assert findings['rdb_compatibility']['severity'] == 'blocker'
    assert result['rdb']['target_loads_how'].startswith('measured: its own DUMP writes RDB 9')
    assert _restore_calls(target) == 2 and target.client().dbsize() == 3

    # and the reverse pair loads: measured on both ends
    result, findings = _check(run_module, source, target, allow_flush=True)
    assert findings['rdb_compatibility']['severity'] == 'ok', findings['rdb_compatibility']
    assert result['rdb']['rdb_version'] == 9 and result['rdb']['target_loads'] is True
    assert 'measured' in result['rdb']['rdb_version_how'] and 'measured' in result['rdb']['target_loads_how']


def test_empty_source_falls_back_to_the_version_table_and_says_inferred(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['7.0.15'], name='source-empty')
    target = start_server(binaries['6.2.14'], name='target-6.2')
    result, findings = _check(run_module, target, source)
    rdb = findings['rdb_compatibility']
    assert rdb['severity'] == 'blocker'
    assert ('writes RDB version 10 (inferred from the version table for redis 7.0.15, because source 127.0.0.1:%d '
            'holds no key to DUMP)' % source.port) in rdb['message']
    assert result['rdb']['rdb_version_how'].startswith('inferred')
    # the target still answered the probe for the version the table gives
    assert result['rdb']['target_loads_how'].startswith('measured: RESTORE of an RDB 10 payload refused')


def test_check_mode_makes_no_restore_probe_and_labels_the_table(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['7.0.15'], name='source-7.0')
    target = start_server(binaries['6.2.14'], name='target-6.2')
    fill(source, 5)
    result, findings = _check(run_module, target, source, check_mode=True)
    assert findings['rdb_compatibility']['severity'] == 'blocker'
    assert result['rdb']['target_loads_how'].startswith('inferred from the version table for redis 6.2.14')
    assert 'check mode writes nothing' in result['rdb']['target_loads_how']
    assert _restore_calls(target) == 0
    # positive control: the same check outside check mode does probe
    _check(run_module, target, source)
    assert _restore_calls(target) > 0


def test_module_data_on_the_source_that_the_target_cannot_load_is_a_blocker(start_server, run_module):
    if not os.path.exists(REDISEARCH):
        pytest.fail('%s is missing: install the Debian package redis-redisearch (scripts/bootstrap.sh does)' % REDISEARCH)
    binary = server_binaries()['7.0.15']
    source = start_server(binary, name='source-ft', extra=['loadmodule %s' % REDISEARCH])
    target = start_server(binary, name='target')
    source.client().execute_command('FT.CREATE', 'idx', 'SCHEMA', 'title', 'TEXT')
    source.client().execute_command('FT.ADD', 'idx', 'doc1', '1.0', 'FIELDS', 'title', 'hello world')

    result, findings = _check(run_module, target, source)
    modules = findings['modules']
    assert modules['severity'] == 'blocker'
    assert 'source 127.0.0.1:%d loads module ft, which target 127.0.0.1:%d does not' % (source.port, target.port) in (
        modules['message'])
    assert 'load the same module on the target' in modules['message']

    with_module = start_server(binary, name='target-ft', extra=['loadmodule %s' % REDISEARCH])
    result, findings = _check(run_module, with_module, source)
    assert findings['modules']['severity'] == 'ok' and 'ft' in findings['modules']['message']

    # the server means it: a replica without the module cannot load the full sync (Redis 7.0 exits on it)
    target.client().replicaof(source.host, source.port)
    for dummy in range(200):
        if target.proc.poll() is not None:
            break
        time.sleep(0.05)
    assert target.proc.poll() is not None
    assert 'module' in target.log().lower()


def test_functions_on_the_source_into_a_target_without_functions_are_a_blocker(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries['7.0.15'], name='source-7.0')
    target = start_server(binaries['6.2.14'], name='target-6.2')
    result, findings = _check(run_module, target, source)
    assert findings['functions'] == dict(check='functions', severity='ok', message='no functions on the source')
    source.client().execute_command('FUNCTION', 'LOAD',
                                    "#!lua name=kvlib\nredis.register_function('one', function() return 1 end)")
    result, findings = _check(run_module, target, source)
    functions = findings['functions']
    assert functions['severity'] == 'blocker'
    assert 'holds 1 function library' in functions['message'] and '(redis 6.2.14) has no functions' in functions['message']


def test_keys_in_a_database_the_target_lacks_are_a_blocker(start_server, run_module):
    binary = server_binaries()['7.0.15']
    source = start_server(binary, name='source', extra=['databases 32'])
    target = start_server(binary, name='target', extra=['databases 16'])
    source.client().set('in-db0', 1)
    source.client(db=20).set('in-db20', 1)
    result, findings = _check(run_module, target, source)
    databases = findings['databases']
    assert databases['severity'] == 'blocker'
    assert 'source keys in db20 cannot land on target 127.0.0.1:%d, which has 16 databases' % target.port in databases['message']
    assert 'raise databases on the target (a restart setting) to at least 21' in databases['message']
    # the source is measured on the database that holds keys, and left on db 0
    assert result['rdb']['rdb_version'] == 10 and source.client().get('in-db0') == '1'

    roomy = start_server(binary, name='target-32', extra=['databases 32'])
    result, findings = _check(run_module, roomy, source)
    assert findings['databases']['severity'] == 'ok'


def test_cluster_mode_on_either_end_is_a_blocker(start_server, run_module):
    binary = server_binaries()['7.0.15']
    source = start_server(binary, name='source')
    # a cluster node needs its bus port (port + 10000) below 65536 and free
    target = start_server(binary, name='target-cluster', extra=['cluster-enabled yes'], port=cluster_port())
    result, findings = _check(run_module, target, source)
    cluster = findings['cluster_mode']
    assert cluster['severity'] == 'blocker'
    assert 'target 127.0.0.1:%d runs in cluster mode' % target.port in cluster['message']
    assert 'playbooks/migrate_cluster.yml' in cluster['message'] and 'docs/cluster.md' in cluster['message']


def test_tls_only_source_and_a_target_without_tls_replication_is_a_blocker(tmp_path, start_server, run_module):
    pki = make_pki(str(tmp_path))
    source = TlsRedisServer(pki, name='tls-src').start()
    target = TlsRedisServer(pki, name='tls-tgt', extra=['tls-replication no']).start()
    try:
        args = target.module_args()
        args.update(primary_host=source.host, primary_port=source.port, rate_sample_seconds=0.2)
        result = run_module('migration_check', args)
        assert result['rc'] == 0, result.get('msg')
        tls = [f for f in result['findings'] if f['check'] == 'tls_replication'][0]
        assert tls['severity'] == 'blocker'
        assert 'target 127.0.0.1:%d cannot replicate from source 127.0.0.1:%d' % (target.port, source.port) in tls['message']
        assert 'CONFIG SET tls-replication yes on the target' in tls['message']

        # the server means it: with tls-replication no the link never comes up; with yes it does
        target.client().replicaof(source.host, source.port)
        time.sleep(2)
        assert target.client().info('replication')['master_link_status'] == 'down'
        target.client().replicaof('no', 'one')
        target.client().config_set('tls-replication', 'yes')

        result = run_module('migration_check', args)
        tls = [f for f in result['findings'] if f['check'] == 'tls_replication'][0]
        assert tls['severity'] == 'ok' and 'speaks TLS' in tls['message']
        target.client().replicaof(source.host, source.port)
        for dummy in range(100):
            if target.client().info('replication').get('master_link_status') == 'up':
                break
            time.sleep(0.05)
        assert target.client().info('replication')['master_link_status'] == 'up'
    finally:
        source.stop()
        target.stop()


def test_target_with_tls_replication_against_a_plain_source_port_is_a_blocker(tmp_path, start_server, run_module):
    pki = make_pki(str(tmp_path))
    source = start_server(server_binaries()['7.0.15'], name='plain-src')
    tls_port = RedisServer().port
    target = start_server(server_binaries()['7.0.15'], name='tls-tgt', extra=[
        'tls-port %d' % tls_port, 'tls-cert-file %s' % pki['server_cert'], 'tls-key-file %s' % pki['server_key'],
        'tls-ca-cert-file %s' % pki['ca'], 'tls-auth-clients no', 'tls-replication yes'])
    result, findings = _check(run_module, target, source)
    tls = findings['tls_replication']
    assert tls['severity'] == 'blocker'
    assert 'tls-replication yes but the source port is plain' in tls['message']


def test_output_buffer_too_small_for_the_write_rate_and_transfer_time(start_server, run_module):
    binary = server_binaries()['7.0.15']
    source = start_server(binary, name='source', extra=['client-output-buffer-limit replica 256kb 128kb 2'])
    target = start_server(binary, name='target')
    fill(source, 5000)
    # transfer_rate makes the expected transfer last minutes: any steady writer then overflows 256 kB
    with LiveWriters(source):
        result, findings = _check(run_module, target, source, transfer_rate=2000.0, rate_sample_seconds=0.5)
    buffer = findings['output_buffer']
    # no replica yet, so the rate is the input bytes (an overstatement): a warning, with the figures and the fix
    assert buffer['severity'] == 'warning', buffer
    assert 'client-output-buffer-limit replica 262144 131072 2' in buffer['message']
    assert 'transfer_rate 2000 bytes/s' in buffer['message'] and 'hard limit exceeded' in buffer['message']
    assert 'CONFIG SET client-output-buffer-limit "replica 0 0 0"' in buffer['message']

    # with a replica attached the rate is the replication stream itself: a blocker
    replica = start_server(binary, name='replica')
    replica.client().replicaof(source.host, source.port)
    for dummy in range(100):
        if replica.client().info('replication').get('master_link_status') == 'up':
            break
        time.sleep(0.05)
    with LiveWriters(source):
        result, findings = _check(run_module, target, source, transfer_rate=2000.0, rate_sample_seconds=0.5)
    assert findings['output_buffer']['severity'] == 'blocker', findings['output_buffer']

    # the same pair at a realistic transfer rate is fine
    result, findings = _check(run_module, target, source)
    assert findings['output_buffer']['severity'] == 'ok'


def test_long_diskless_sync_delay_is_a_warning_with_the_figure(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', extra=['repl-diskless-sync yes', 'repl-diskless-sync-delay 30'])
    target = start_server(redis_bin, name='target')
    result, findings = _check(run_module, target, source)
    diskless = findings['diskless_sync']
    assert diskless['severity'] == 'warning'
    assert 'repl-diskless-sync-delay 30 s' in diskless['message'] and 'waits 30 s' in diskless['message']
