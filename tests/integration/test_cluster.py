"""Replacing every node of a live Redis Cluster (playbooks/migrate_cluster.yml and the cluster_* modules) on real
servers: a 3-master cluster with one replica each, a RedisCluster writer on every shard, six new nodes."""
import ast
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import cluster as cluster_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import claim_operation
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


def _children(pid):
    """The pids of the processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _running(pid):
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def _new_masters(servers):
    """The nodes of ``servers`` that call themselves the master of slots (their own CLUSTER NODES)."""
    mine = []
    for server in servers:
        myself = next(line.split() for line in _nodes_text(server).splitlines() if 'myself' in line.split()[2])
        if 'master' in myself[2] and len(myself) > 8:
            mine.append(server.port)
    return mine


def _state(servers):
    """Each node's CLUSTER NODES and its kvmigrate clients, for a failure message: which node saw what."""
    lines = []
    for server in servers:
        try:
            client = server.client()
            lines.append('--- %s (%s)' % (server.port, client.execute_command('CLUSTER', 'MYID')))
            lines.append(client.execute_command('CLUSTER', 'NODES').strip())
            lines.extend('client ' + c for c in client.execute_command('CLIENT', 'LIST').splitlines() if 'kvmigrate' in c)
        except Exception as exc:  # a diagnostic must not hide the failure it explains
            lines.append('--- %s: %s' % (server.port, exc))
    lines.append(subprocess.run(['ps', '-eo', 'pid,ppid,sid,etimes,args'], capture_output=True, text=True,
                                check=False).stdout)
    return '\n'.join(lines)


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
        # Ansible starts each worker in a session of its own: the process group's SIGKILL leaves the worker running
        # the shards loop; it must notice that its ansible-playbook is gone and stop before moving another shard
        workers = _children(proc.pid)
        assert workers, 'ansible-playbook %d has no worker process' % proc.pid
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 90
        while time.time() < deadline and any(_running(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), 'the killed run left its worker running: %s' % workers
        assert len(_new_masters(new)) == 1, 'the killed run went on moving shards: %s' % _state(old + new)

        rc, output = _run(inventory)
        assert rc == 0, output[-4000:] + '\n' + _state(old + new)
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
        assert listed == _ids(new), 'node %d still lists old nodes %s: %s\n%s' % (
            node.port, listed & old_ids, output[-3000:], _state(old + new))
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


# A stand-in for ansible-playbook and its worker: a process forks a worker the way Ansible does (multiprocessing, fork)
# and is then killed; the worker reports what controller_gone() said before and after.
ORPHAN_SCRIPT = """
import multiprocessing, os, signal, sys, time
from ansible_collections.kvmigrate.replication.plugins.module_utils.cluster import controller_gone, refuse_without_controller

def worker(path):
    seen = [controller_gone()]
    deadline = time.time() + 20
    while time.time() < deadline and not controller_gone():
        time.sleep(0.02)
    seen.append(controller_gone())
    try:
        refuse_without_controller('127.0.0.1:7000', 'the meet step')
        seen.append('went on')
    except Exception as exc:
        seen.append(exc.msg)
    with open(path + '.part', 'w') as report:
        report.write(repr(seen))
    os.rename(path + '.part', path)

if __name__ == '__main__':
    multiprocessing.get_context('fork').Process(target=worker, args=(sys.argv[1],)).start()
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_worker_whose_ansible_playbook_was_killed_stops_at_its_next_step(tmp_path):
    report = tmp_path / 'seen.txt'
    script = tmp_path / 'orphan.py'
    script.write_text(ORPHAN_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(report)], env=support.ansible_env())
    assert proc.wait(timeout=60) == -signal.SIGKILL
    deadline = time.time() + 30
    while time.time() < deadline and not report.exists():
        time.sleep(0.05)
    seen = ast.literal_eval(report.read_text())
    assert seen[:2] == [False, True]
    assert seen[2].startswith('127.0.0.1:7000: the ansible-playbook that started this task (pid %d) is gone' % proc.pid), seen
    assert 'stopped before the meet step' in seen[2] and 'run the playbook again' in seen[2]
    # the test process itself is no Ansible worker: nothing to stop for
    assert not cluster_utils.controller_gone()


def test_one_connection_per_node_however_its_address_is_spelled(start_server):
    server = start_server(password=PASSWORD)
    params = dict(login_host='127.0.0.1', login_port=server.port, login_user=None, login_password=PASSWORD, tls=False,
                  connect_timeout=5.0, cluster_timeout=5.0, seeds=[])
    cluster = cluster_utils.Cluster(params)
    try:
        first = cluster.server('127.0.0.1', server.port)
        claim_operation(first, 'cluster_replace')
        second = cluster.server('localhost', server.port, what='new node')
        assert second is first
        # a second connection would have found the first one's claim and refused
        claim_operation(second, 'cluster_replace')
    finally:
        cluster.close()
    names = [line for line in server.client().execute_command('CLIENT', 'LIST').splitlines() if 'kvmigrate' in line]
    assert names == [], 'connections left open after close(): %s' % names
