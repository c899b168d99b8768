"""migration_check against real servers: every finding it can raise here, and that it changes nothing."""
from tests.support.servers import fill, server_binaries
from tests.support.writers import LiveWriters


def _check(run_module, target, source, **extra):
    args = dict(login_host=target.host, login_port=target.port, primary_host=source.host, primary_port=source.port,
                rate_sample_seconds=0.3)
    args.update(extra)
    result = run_module('migration_check', args)
    assert result['rc'] == 0, result['msg']
    return result, {f['check']: f for f in result['findings']}


def test_clean_pair_has_no_blockers_and_reports_both_ends(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 300)
    result, findings = _check(run_module, target, source)
    assert result['blockers'] == 0 and result['warning_count'] == 0
    assert result['source']['dbsize'] == 300 and result['target']['dbsize'] == 0
    assert {'source_reachable', 'target_reachable', 'rdb_compatibility', 'target_empty', 'target_memory',
            'replication_loop', 'repl_backlog'} <= set(findings)
    assert result['changed'] is False and target.client().info('replication')['role'] == 'master'


def test_non_empty_target_is_a_blocker_unless_allow_flush(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(target, 7, prefix='keep')
    result, findings = _check(run_module, target, source)
    assert findings['target_empty']['severity'] == 'blocker' and '7 keys' in findings['target_empty']['message']
    result, findings = _check(run_module, target, source, allow_flush=True)
    assert findings['target_empty']['severity'] == 'warning' and result['blockers'] == 0
    assert target.client().dbsize() == 7


def test_target_maxmemory_below_source_usage_is_a_blocker(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target', extra=['maxmemory 1mb'])
    fill(source, 30000)
    dummy, findings = _check(run_module, target, source)
    assert findings['target_memory']['severity'] == 'blocker'
    assert 'raise maxmemory' in findings['target_memory']['message']


def test_source_downstream_of_the_target_is_a_loop(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    middle = start_server(redis_bin, name='middle')
    middle.client().replicaof(target.host, target.port)
    source.client().replicaof(middle.host, middle.port)
    result, findings = _check(run_module, target, source)
    assert findings['replication_loop']['severity'] == 'blocker'
    assert '127.0.0.1:%d' % middle.port in findings['replication_loop']['message']
    assert result['promoted'] is False


def test_source_following_the_target_directly_is_a_finished_cutover(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    source.client().replicaof(target.host, target.port)
    result, findings = _check(run_module, target, source)
    assert result['promoted'] is True and result['cut_over'] is True and result['blockers'] == 0
    assert 'already cut over' in findings['target_empty']['message']


def test_small_backlog_for_the_write_rate_is_a_warning(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', extra=['repl-backlog-size 16kb'])
    target = start_server(redis_bin, name='target')
    with LiveWriters(source):
        result, findings = _check(run_module, target, source, rate_sample_seconds=0.5)
    assert findings['repl_backlog']['severity'] == 'warning'
    assert result['source']['write_rate'] > 0


def test_newer_source_than_target_is_an_rdb_blocker(start_server, run_module):
    binaries = server_binaries()
    source = start_server(binaries[max(binaries)], name='source-new')
    target = start_server(binaries[min(binaries)], name='target-old')
    result, findings = _check(run_module, target, source)
    assert findings['rdb_compatibility']['severity'] == 'blocker'
    assert 'RDB version 10' in findings['rdb_compatibility']['message']


def test_unreachable_source_is_a_blocker_not_a_crash(redis_bin, start_server, run_module):
    target = start_server(redis_bin, name='target')
    source = start_server(redis_bin, name='source')
    source.stop()
    result, findings = _check(run_module, target, source)
    assert findings['source_reachable']['severity'] == 'blocker'
    assert 'refused the connection' in findings['source_reachable']['message']
    assert result['blockers'] == 1


def test_target_and_source_following_one_primary_are_cut_over_not_promoted(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    new_primary = start_server(redis_bin, name='new-primary')
    fill(new_primary, 10)
    source.client().replicaof(new_primary.host, new_primary.port)
    target.client().replicaof(new_primary.host, new_primary.port)
    result, findings = _check(run_module, target, source)
    assert result['cut_over'] is True and result['promoted'] is False and result['blockers'] == 0
    assert 'a sibling took over the source' in findings['target_empty']['message']
