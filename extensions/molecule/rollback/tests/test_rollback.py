"""After migrate.yml with promotion (s1 -> t1) and playbooks/rollback.yml reverse_cutover under live
writes: s1 is the primary again, t1 its replica, and no acknowledged write was lost on either move."""
import redis

import kvlab

testinfra_hosts = ['local://']

SAMPLE = 20000


def test_the_writer_followed_the_primary_there_and_back(writers):
    report = writers['s1']
    assert report['errors'] == 0, report['last_errors']
    assert [s['to'] for s in report['switches']] == ['t1', 's1'], report['switches']
    for switch in report['switches']:
        assert switch['reason'].startswith(('ReadOnlyError', 'ResponseError: NOREPLICAS')), switch
    # writes were acknowledged on s1 before the cutover, on t1 between the two, and on s1 after the rollback
    there, back = [s['at_key'] for s in report['switches']]
    assert 0 < there < back < report['acked'], (there, back, report['acked'])


def test_no_acknowledged_write_is_lost_on_the_restored_primary(writers, conn):
    keys = writers['s1']['keys']
    s1 = conn('s1')
    assert kvlab.missing(s1, keys) == []
    assert kvlab.count(s1, 'live:s1:*') == len(keys)
    assert kvlab.count(s1, 'sample:s1:*') == SAMPLE


def test_source_is_primary_again_and_the_target_follows_it(lab, conn):
    assert kvlab.replication(conn('s1'))['role'] == 'master'
    t1 = kvlab.settled(conn('t1'), lambda c: kvlab.replication(c)['link'] == 'up' and kvlab.replication(c))
    assert t1 and t1['role'] == 'slave' and t1['primary_port'] == lab['servers']['s1']['port'], t1


def test_the_target_is_fenced_and_holds_everything(writers, conn):
    t1 = conn('t1')
    try:
        t1.set('molecule:fence-probe', 1)
    except redis.ResponseError as exc:
        assert kvlab.refused(exc), kvlab.describe(exc)
    else:
        raise AssertionError('t1 accepted a write after the rollback')
    keys = writers['s1']['keys']
    assert kvlab.settled(t1, lambda c: not kvlab.missing(c, keys)), kvlab.missing(t1, keys)[:10]
