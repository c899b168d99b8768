"""Replacing every node of a live Redis Cluster (playbooks/migrate_cluster.yml and the cluster_* modules) on real
servers: a 3-master cluster with one replica each, a RedisCluster writer on every shard, six new nodes."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import cluster as cluster_support
from tests.support import servers as support

PLAYBOOK = os.path.join(support.REPO, 'playbooks', 'migrate_cluster.yml')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
PASSWORD = 'cluster-secret-4711'


@pytest.fixture
def nodes():
    started = []

    def _start(count, name):
        made = [cluster_support.cluster_node(password=PASSWORD, name=name) for _ in range(count)]
        started.extend(made)
        return made

    yield _start
    for node in started:
        node.stop()


def _inventory(tmp_path, old, new, replaces=None):
    lines = ['[kvmigrate_cluster_new]']
    for index, node in enumerate(new):
        extra = ' kvmigrate_cluster_replaces=%s' % replaces[index] if replaces else ''
        lines.append('new%d kvmigrate_target_host=127.0.0.1 kvmigrate_target_port=%d%s' % (index, node.port, extra))
    lines += ['[kvmigrate_cluster_new:vars]', 'kvmigrate_source_host=127.0.0.1', 'kvmigrate_source_port=%d' % old[0].port,
              'kvmigrate_source_password=%s' % PASSWORD, 'ansible_connection=local',
              'ansible_python_interpreter=%s' % sys.executable, 'kvmigrate_report_dir=%s' % (tmp_path / 'reports')]
    path = tmp_path / 'inventory.ini'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _playbook_command(inventory, *extra):
    return [ANSIBLE_PLAYBOOK, '-i', inventory, PLAYBOOK] + list(extra)


def _run(inventory, *extra):
    proc = subprocess.run(_playbook_command(inventory, *extra), capture_output=True, text=True, env=support.ansible_env(),
                          timeout=600, check=False, cwd=os.path.dirname(inventory))
    return proc.returncode, proc.stdout + proc.stderr


def _recap_changed(output):
    for line in output.splitlines():
        if line.startswith('new0 ') and 'changed=' in line:
            return int(line.split('changed=')[1].split()[0])
    raise AssertionError('no PLAY RECAP line for new0: %s' % output[-3000:])


def _addresses(servers):
    return set('127.0.0.1:%d' % s.port for s in servers)


def _ids(servers):
    return set(s.client().execute_command('CLUSTER', 'MYID') for s in servers)


def _nodes_text(server):
    return server.client().execute_command('CLUSTER', 'NODES')


def test_playbook_replaces_every_node_with_writes_and_converges_after_a_kill(tmp_path, nodes):
    old = cluster_support.create_cluster(nodes(6, 'old'), replicas=1, password=PASSWORD)
    new = nodes(6, 'new')
    inventory = _inventory(tmp_path, old, new)
    before = _nodes_text(old[0])

    # check mode: lists the commands, sends none
    rc, output = _run(inventory, '--check')
    assert rc == 0, output[-4000:]
    assert 'CLUSTER MEET' in output or 'changed' in output
    assert all(n.client().execute_command('CLUSTER', 'INFO').count('cluster_known_nodes:1') for n in new), \
        'check mode made a new node join'
    assert set(line.split()[0] for line in _nodes_text(old[0]).splitlines()) == \
        set(line.split()[0] for line in before.splitlines())

    writer = cluster_support.ClusterWriter(old, password=PASSWORD, writers=2).start()
    try:
        time.sleep(0.5)
        # the first run is killed once one shard has a new master
        proc = subprocess.Popen(_playbook_command(inventory), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=support.ansible_env(), cwd=str(tmp_path), start_new_session=True)
        new_addresses = _addresses(new)
        deadline = time.time() + 180
        moved = 0
        while time.time() < deadline and proc.poll() is None:
            moved = sum(1 for address in cluster_support.masters(old[0]).values() if address in new_addresses)
            if moved >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, 'the playbook ended before it could be killed mid-way (rc %s)' % proc.returncode
        assert moved == 1
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

        rc, output = _run(inventory)
        assert rc == 0, output[-4000:]
        time.sleep(0.5)
    finally:
        acked, _gaps = writer.stop()
    assert len(acked) > 1000, 'the writer made too few writes to prove anything'
    assert cluster_support.missing(new, acked, password=PASSWORD) == []

    masters = cluster_support.masters(new[0])
    assert sorted(masters) == [0, 5461, 10923]
    assert set(masters.values()) <= _addresses(new)
    old_ids = _ids(old)
    for node in new:
        listed = set(line.split()[0] for line in _nodes_text(node).splitlines())
        assert listed == _ids(new), 'node %d still lists old nodes %s' % (node.port, listed & old_ids)
        assert 'cluster_state:ok' in node.client().execute_command('CLUSTER', 'INFO')
    for node in old:
        assert 'cluster_known_nodes:1' in node.client().execute_command('CLUSTER', 'INFO')
    # every shard keeps one replica
    text = _nodes_text(new[0])
    assert sum(1 for line in text.splitlines() if 'slave' in line.split()[2]) == 3

    rc, output = _run(inventory)
    assert rc == 0, output[-4000:]
    assert _recap_changed(output) == 0, output[-4000:]
    assert PASSWORD not in output
    report = (tmp_path / 'reports' / 'cluster-migration.json').read_text()
    assert '"shards"' in report and PASSWORD not in report
