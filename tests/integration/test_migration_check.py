"""migration_check against real servers: every finding it can raise here, and that it changes nothing."""
import time

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
            'replication_loop', 'repl_backlog', 'cluster_mode', 'modules', 'functions', 'hash_field_expiration',
            'databases', 'tls_replication', 'output_buffer', 'diskless_sync'} <= set(findings)
    # both ends measured: the source by the DUMP of one of its keys, the empty target by the RESTORE probe
    assert result['rdb']['rdb_version_how'].startswith('measured') and result['rdb']['target_loads'] is True
    assert result['rdb']['target_loads_how'].startswith('measured: RESTORE of an RDB')
    assert target.client().dbsize() == 0
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


def _wait(run_module, server):
    waited = run_module('wait_for_sync', dict(login_host=server.host, login_port=server.port, timeout=60,
                                              poll_interval=0.05, max_lag_bytes=0))
    assert waited['rc'] == 0, waited['msg']


def _replicate(run_module, target, source):
    moved = run_module('replicaof', dict(login_host=target.host, login_port=target.port, primary_host=source.host,
                                         primary_port=source.port))
    assert moved['rc'] == 0, moved['msg']
    _wait(run_module, target)


def _fenced_cutover(run_module, target, **extra):
    args = dict(login_host=target.host, login_port=target.port, state='primary', fence_source=True)
    args.update(extra)
    cutover = run_module('replicaof', args)
    assert cutover['rc'] == 0, cutover['msg']
    return cutover


def test_source_fenced_by_a_cutover_to_the_target_is_a_finished_cutover(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 200)
    _replicate(run_module, target, source)
    _fenced_cutover(run_module, target)
    result, findings = _check(run_module, target, source, promote=True)
    assert result['promoted'] is True and result['cut_over'] is True and result['swapped'] is False
    assert result['blockers'] == 0, result['findings']
    assert 'already cut over' in findings['target_empty']['message']
    assert findings['pair']['severity'] == 'ok' and 'was promoted from source' in findings['pair']['message']
    assert findings['source_role']['severity'] == 'ok'


def test_swapped_pair_is_a_blocker_and_not_a_cutover(redis_bin, start_server, run_module):
    primary = start_server(redis_bin, name='primary')
    replica = start_server(redis_bin, name='replica')
    fill(primary, 40)
    _replicate(run_module, replica, primary)
    # the inventory names the primary as target and its ordinary replica as source: nothing was migrated
    result, findings = _check(run_module, primary, replica)
    assert result['swapped'] is True and result['promoted'] is False and result['cut_over'] is False
    pair = findings['pair']
    assert pair['severity'] == 'blocker'
    assert '127.0.0.1:%d' % primary.port in pair['message'] and '127.0.0.1:%d' % replica.port in pair['message']
    assert 'swap primary_host/primary_port and login_host/login_port' in pair['message']
    # the keys the target holds are the production data: no finding may suggest discarding them
    assert findings['target_empty']['severity'] != 'blocker'
    assert not any('allow_flush' in f['message'] for f in result['findings'])
    assert primary.client().dbsize() == 40 and replica.client().info('replication')['role'] == 'slave'


def test_source_that_is_a_replica_is_a_warning_and_with_promote_a_blocker(redis_bin, start_server, run_module):
    upstream = start_server(redis_bin, name='upstream')
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _replicate(run_module, source, upstream)
    result, findings = _check(run_module, target, source)
    role = findings['source_role']
    assert role['severity'] == 'warning' and result['blockers'] == 0
    assert '127.0.0.1:%d is itself a replica of 127.0.0.1:%d' % (source.port, upstream.port) in role['message']
    assert 'fenced cutover' in role['message']
    result, findings = _check(run_module, target, source, promote=True)
    assert findings['source_role']['severity'] == 'blocker' and result['blockers'] == 1


def test_chained_sibling_after_a_reverse_cutover_continues_the_source_history(redis_bin, start_server, run_module):
    """Issue 11, section 7: source S, target T promoted by a fenced cutover, sibling X moved to T; a reverse cutover
    makes S the primary again (T its replica, X still below T). X against S is no blocker: its data is a point of
    S's own history, so a partial resync loses nothing, and no finding suggests allow_flush."""
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    sibling = start_server(redis_bin, name='sibling')
    fill(source, 1000)
    for server in (target, sibling):
        _replicate(run_module, server, source)
    _fenced_cutover(run_module, target)
    _replicate(run_module, sibling, target)
    _fenced_cutover(run_module, source, source_host=target.host, source_port=target.port, fence_mode='replicaof_target')
    fill(source, 100, prefix='after-rollback')
    _wait(run_module, target)
    for dummy in range(100):  # the sibling follows the new history once T has passed it on
        if sibling.client().dbsize() == 1100 + 1:
            break
        time.sleep(0.05)
    assert sibling.client().dbsize() == 1100 + 1  # and the cutovers' expiring write-check key
    assert int(sibling.client().info('replication')['master_port']) == target.port

    result, findings = _check(run_module, sibling, source)
    assert result['blockers'] == 0, result['findings']
    assert findings['target_empty']['severity'] == 'ok'
    assert 'partial resync is possible and nothing is discarded' in findings['target_empty']['message']
    assert not any('allow_flush' in f['message'] for f in result['findings'])
    # and replicaof agrees: it moves the sibling without allow_flush, discarding nothing
    moved = run_module('replicaof', dict(login_host=sibling.host, login_port=sibling.port, primary_host=source.host,
                                         primary_port=source.port))
    assert moved['rc'] == 0 and moved['keys_discarded'] == 0, moved


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


def _acl_log_commands(server, user):
    return [entry['object'] for entry in server.client().acl_log() if entry['username'] == user]


def test_link_user_that_may_not_run_psync_on_the_source_is_a_blocker(start_server, run_module):
    binary = server_binaries()['7.0.15']
    source = start_server(binary, name='source')
    target = start_server(binary, name='target')
    fill(source, 10)
    source.client().execute_command('ACL', 'SETUSER', 'repl', 'on', '>repl-Link-pw', '-@all', '+ping', '+replconf')
    # the link logs in as the target's masteruser; the module itself logs in to the source as default
    target.client().config_set('masteruser', 'repl')
    target.client().config_set('masterauth', 'repl-Link-pw')

    result, findings = _check(run_module, target, source)
    link = findings['link_permissions']
    assert link['severity'] == 'blocker' and result['blockers'] == 1
    assert "ACL user 'repl' on source 127.0.0.1:%d" % source.port in link['message']
    assert 'may not run PSYNC, so the link would never come up' in link['message']
    assert "ACL SETUSER repl +psync +replconf" in link['message']
    assert 'repl-Link-pw' not in result['_stdout'] + result['_stderr']

    # the server means it: a link logging in as that user is refused PSYNC
    target.client().replicaof(source.host, source.port)
    for dummy in range(100):
        if 'psync' in _acl_log_commands(source, 'repl'):
            break
        time.sleep(0.05)
    assert 'psync' in _acl_log_commands(source, 'repl')
    target.client().replicaof('no', 'one')

    source.client().execute_command('ACL', 'SETUSER', 'repl', '+psync')
    result, findings = _check(run_module, target, source)
    assert findings['link_permissions']['severity'] == 'ok' and result['blockers'] == 0
    assert "ACL user 'repl' may run PSYNC and REPLCONF" in findings['link_permissions']['message']

    result, findings = _check(run_module, target, source, primary_user='nobody-here', primary_password='x-pw')
    assert findings['source_reachable']['severity'] == 'blocker'  # primary_user is also the module's login
    target.client().config_set('masteruser', 'nobody-here')
    result, findings = _check(run_module, target, source)
    assert findings['link_permissions']['severity'] == 'blocker'
    assert "has no ACL user 'nobody-here'" in findings['link_permissions']['message']


def test_link_permissions_are_not_checked_where_acl_dryrun_is_unavailable_or_not_allowed(start_server, run_module):
    binaries = server_binaries()
    old_source = start_server(binaries['6.2.14'], name='source-6.2')
    target = start_server(binaries['7.0.15'], name='target')
    dummy, findings = _check(run_module, target, old_source)
    assert findings['link_permissions'] == dict(check='link_permissions', severity='ok',
                                                message='not checked: redis 6.2.14 has no ACL DRYRUN (Redis 7.0+)')

    source = start_server(binaries['7.0.15'], name='source-7.0')
    source.client().execute_command('ACL', 'SETUSER', 'operator', 'on', '>op-Pass-word', '+@all', '-acl|dryrun')
    result, findings = _check(run_module, target, source, primary_user='operator', primary_password='op-Pass-word')
    assert findings['source_reachable']['severity'] == 'ok'
    assert findings['link_permissions']['severity'] == 'ok'
    assert findings['link_permissions']['message'] == "not checked: the module's login on the source may not run ACL DRYRUN"
    assert 'op-Pass-word' not in result['_stdout'] + result['_stderr']


def test_fail_on_blockers_fails_with_each_blocker_and_still_returns_the_findings(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(target, 7, prefix='keep')
    args = dict(login_host=target.host, login_port=target.port, primary_host=source.host, primary_port=source.port,
                rate_sample_seconds=0.3, fail_on='blockers',
                inventory_blockers=['t1: its target is the same server as the target of t2'])
    refused = run_module('migration_check', args)
    assert refused['rc'] != 0 and refused['failed'] is True
    assert refused['msg'].startswith('Preflight found 2 blockers and 0 warnings, so nothing was changed: ')
    assert '7 keys' in refused['msg'] and 't1: its target is the same server as the target of t2' in refused['msg']
    findings = dict((f['check'], f) for f in refused['findings'])
    assert findings['inventory'] == dict(check='inventory', severity='blocker',
                                         message='t1: its target is the same server as the target of t2')
    assert refused['blockers'] == 2 and target.client().dbsize() == 7
    # allowed to flush, the data is a warning: blockers pass, fail_on=warnings still refuses, never only reports
    args.update(allow_flush=True, inventory_blockers=[])
    assert run_module('migration_check', dict(args))['rc'] == 0
    warned = run_module('migration_check', dict(args, fail_on='warnings'))
    assert warned['rc'] != 0 and warned['msg'].startswith('Preflight found 0 blockers and 1 warning, so nothing ')
    assert run_module('migration_check', dict(args, fail_on='never', inventory_blockers=['x']))['blockers'] == 1
    assert target.client().dbsize() == 7 and target.client().info('replication')['role'] == 'master'
