"""After migrate.yml --check with migrate_promote=true: nothing changed on any server."""
import os

import kvlab

testinfra_hosts = ['local://']

SOURCES = ('s1', 's2')


def test_targets_are_still_primaries_with_their_original_data(conn):
    t1, t2 = conn('t1'), conn('t2')
    for name, client in (('t1', t1), ('t2', t2)):
        view = kvlab.replication(client)
        assert view['role'] == 'master' and view['replicas'] == 0, (name, view)
    # t1 was empty and stays empty
    assert t1.dbsize() == 0
    # t2's keys were allowed to be flushed (kvmigrate_allow_flush) but check mode must not flush them
    assert t2.dbsize() == 50
    assert kvlab.count(t2, 'precious:t2:*') == 50
    assert t2.get('precious:t2:49') == 'v49'


def test_sources_are_untouched_writable_primaries(conn):
    for name in SOURCES:
        client = conn(name)
        view = kvlab.replication(client)
        assert view['role'] == 'master' and view['replicas'] == 0, (name, view)
        assert client.dbsize() == 1000
        assert client.config_get('min-replicas-to-write')['min-replicas-to-write'] == '0'
        # not fenced and not paused: a write is acknowledged at once
        assert client.set('molecule:check-probe', 1, px=1000)


def test_check_mode_writes_no_report_file(host):
    # a dry run changes nothing on disk either: its report is the migration_report task's result and the AWX summary
    reports = host.file(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports'))
    assert not reports.exists or reports.listdir() == [], 'migrate.yml --check wrote report files'
