"""After migrate.yml with migrate_promote=true (run twice: converge and idempotence) under live writes:
t1 and t3 are primaries, s1/s2 are fenced replicas of them, t2 follows t1, and every
write a client got OK for is on the new primaries."""
import json
import os

import redis

import kvlab

testinfra_hosts = ['local://']

SAMPLE = 20000
NEW_PRIMARY = {'s1': 't1', 's2': 't3'}


def test_the_writers_ran_through_the_cutover_and_moved_to_the_new_primary(writers):
    for source, report in writers.items():
        assert report['acked'] == len(report['keys']) > 0
        assert report['errors'] == 0, report['last_errors']
        # it started on the source and was refused there exactly once, by the fence
        assert [s['to'] for s in report['switches']] == [NEW_PRIMARY[source]], report['switches']
        assert report['switches'][0]['reason'].startswith(('ReadOnlyError', 'ResponseError: NOREPLICAS'))
        # it kept writing on the source before the cutover and on the target after it
        switched_at = report['switches'][0]['at_key']
        assert 0 < switched_at < report['acked'], (switched_at, report['acked'])


def test_no_acknowledged_write_is_lost_on_the_new_primaries(writers, conn):
    for source, report in writers.items():
        primary = conn(NEW_PRIMARY[source])
        assert kvlab.missing(primary, report['keys']) == []
        # and nothing else was written under the writer's prefix (no unacknowledged write slipped in)
        assert kvlab.count(primary, 'live:%s:*' % source) == len(report['keys'])


def test_key_counts_sample_data_is_complete_everywhere(writers, conn):
    for name in ('t1', 't3', 's1', 's2', 't2'):
        source = 's1' if name in ('t1', 's1', 't2') else 's2'
        client = conn(name)
        assert kvlab.count(client, 'sample:%s:*' % source) == SAMPLE, name
        assert client.get('sample:%s:%d' % (source, SAMPLE - 1)) == 'v%d' % (SAMPLE - 1)


def test_roles_targets_are_primaries_and_sources_follow_them(lab, conn):
    ports = {name: server['port'] for name, server in lab['servers'].items()}
    for target in ('t1', 't3'):
        assert kvlab.replication(conn(target))['role'] == 'master', target
    for source, target in NEW_PRIMARY.items():
        view = kvlab.settled(conn(source), lambda c: kvlab.replication(c)['link'] == 'up' and kvlab.replication(c))
        assert view and view['role'] == 'slave' and view['primary_port'] == ports[target], (source, view)
    # t2 was not promoted (kvmigrate_promote: false): the promote role moved it from s1 to s1's new primary t1
    t2 = kvlab.settled(conn('t2'), lambda c: kvlab.replication(c)['link'] == 'up' and kvlab.replication(c))
    assert t2 and t2['role'] == 'slave' and t2['primary_port'] == ports['t1'], t2


def test_sources_are_fenced(conn):
    for source in NEW_PRIMARY:
        try:
            conn(source).set('molecule:fence-probe', 1)
        except redis.ResponseError as exc:
            assert kvlab.refused(exc), kvlab.describe(exc)
        else:
            raise AssertionError('%s accepted a write after the cutover' % source)


def test_the_sibling_t2_holds_every_acknowledged_write_of_s1(writers, conn):
    keys = writers['s1']['keys']
    t2 = conn('t2')
    assert kvlab.settled(t2, lambda c: not kvlab.missing(c, keys)), kvlab.missing(t2, keys)[:10]


def test_the_report_records_the_cutover(host):
    reports = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
    latest = host.file(os.path.join(reports, 'latest.json'))
    assert latest.exists
    # latest.json is the idempotence run's: pairs already cut over are recognised as promoted
    pairs = {p['target']: p for p in json.loads(latest.content_string)['pairs']}
    assert set(pairs) == {'t1_from_s1', 't2_from_s1', 't3_from_s2'}
    assert pairs['t1_from_s1']['promoted'] and pairs['t3_from_s2']['promoted']
    assert not pairs['t2_from_s1']['promoted']
    assert not any(p['failed'] for p in pairs.values())
    # the first (converge) run's report holds the cutovers themselves
    first = sorted(f for f in host.file(reports).listdir() if f.startswith('migrate-'))[0]
    pairs = {p['target']: p for p in json.loads(host.file(os.path.join(reports, first)).content_string)['pairs']}
    for name in ('t1_from_s1', 't3_from_s2'):
        assert pairs[name]['cutover'] and pairs[name]['cutover']['method'] == 'pause', pairs[name]['cutover']
    assert pairs['t2_from_s1']['cutover'] is None
