"""After migrate.yml was refused at preflight: no server changed role or data."""
import kvlab

testinfra_hosts = ['local://']


def test_no_target_became_a_replica(conn):
    for name in ('s1', 's2', 't1', 't2'):
        view = kvlab.replication(conn(name))
        assert view['role'] == 'master' and view['replicas'] == 0, (name, view)


def test_the_non_empty_target_kept_its_keys(conn):
    t1 = conn('t1')
    assert t1.dbsize() == 30
    assert kvlab.count(t1, 'precious:t1:*') == 30
    assert kvlab.count(t1, 'sample:s1:*') == 0


def test_the_incompatible_target_got_nothing_and_the_sources_are_intact(conn, lab):
    assert lab['servers']['t2']['version'].startswith('6.2.')
    assert lab['servers']['s2']['version'].startswith('7.')
    assert conn('t2').dbsize() == 0
    for name in ('s1', 's2'):
        assert conn(name).dbsize() == 100
        assert conn(name).config_get('min-replicas-to-write')['min-replicas-to-write'] == '0'
