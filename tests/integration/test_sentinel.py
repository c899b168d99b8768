"""Sentinel-managed sources (issue 17) on real servers: 3 Sentinels (redis-server --sentinel, quorum 2) watch a source
with one replica; migrate.yml promotes the target while a writer asks the Sentinels for the master on every reconnect.
Long after down-after-milliseconds and Sentinel's INFO period, the target is the only writable primary, every
Sentinel reports it, no acknowledged write is lost and a second run changes nothing; rollback.yml gives the Sentinels
the source back. With a Sentinel missing from the inventory, preflight refuses and nothing changes."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.support.sentinel import SentinelWriter
from tests.support.servers import REPO, ansible_env, fill

BIN = os.path.dirname(sys.executable)
LOCAL = {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}
FAST = ['-e', 'preflight_rate_sample_seconds=0', '-e', 'verify_stable_for=0']
MASTER = 'mymaster'
PASSWORD = 'snt-Data-pw'
SENTINEL_PASSWORD = 'snt-Sentinel-pw'
DOWN_AFTER_MS = 2000
# down-after-milliseconds, plus Sentinel's INFO period (10 s), plus the time its failover would take to show
WAIT_PAST_SENTINEL_S = 20
# the replica-priority the Sentinels must see on a target that replicates their master (docs/sentinel.md)
TARGET_PRIORITY_SEEN = 0


def _play(name, inventory, *extra):
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, os.path.join(REPO, 'playbooks', name)] + list(extra)
    proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    proc.output = proc.stdout + proc.stderr
    return proc


def _start_play(name, inventory, *extra):
    """ansible-playbook in its own process group, so os.killpg kills it and the module process it runs at once."""
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, os.path.join(REPO, 'playbooks', name)] + list(extra)
    return subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_when(proc, predicate, what, timeout=120):
    """SIGKILL the play's process group the moment the servers show ``predicate``; fails if the play ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return
        assert proc.poll() is None, 'the play ended (rc %s) before %s' % (proc.returncode, what)
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError('timed out waiting for %s' % what)


def _views(sentinels):
    """[(ip, port) or None]: the master each Sentinel monitors under MASTER."""
    views = []
    for sentinel in sentinels:
        master = sentinel.client().sentinel_masters().get(MASTER)
        views.append((master['ip'], int(master['port'])) if master else None)
    return views


def _role(server):
    return server.client().info('replication')['role']


def _recap(output):
    return {host: dict(changed=int(changed), failed=int(failed))
            for host, changed, failed in re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)',
                                                    output, re.M)}


def _set_up(start_server, start_sentinel, tmp_path, listed):
    source = start_server(name='snt-src', password=PASSWORD)
    replica = start_server(name='snt-rep', password=PASSWORD)
    target = start_server(name='snt-tgt', password=PASSWORD)
    fill(source, 500, prefix='seed')
    replica.client().replicaof(source.host, source.port)
    sentinels = [start_sentinel(MASTER, source, quorum=2, down_after_ms=DOWN_AFTER_MS, password=SENTINEL_PASSWORD)
                 for dummy in range(3)]
    _wait(lambda: all(len(s.client().execute_command('SENTINEL', 'SENTINELS', MASTER)) == 2 for s in sentinels)
          and source.client().info('replication')['connected_slaves'] == 1, 'the Sentinels to find each other',
          timeout=90)  # hello messages every 2 s; a loaded machine delays them
    host = dict(kvmigrate_target_host=target.host, kvmigrate_target_port=target.port, kvmigrate_target_password=PASSWORD,
                kvmigrate_source_host=source.host, kvmigrate_source_port=source.port, kvmigrate_source_password=PASSWORD,
                kvmigrate_sentinels=[s.endpoint for s in sentinels[:listed]],
                kvmigrate_sentinel_password=SENTINEL_PASSWORD)
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'kvmigrate_targets': {'hosts': {'snt': host}, 'vars': LOCAL}}))
    return source, replica, target, sentinels, str(inventory)


def _wait(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


def _writable(server):
    """True when the server took a write, False when it refused it itself (READONLY); anything else fails the test."""
    try:
        server.client().set('kvmigrate-test:probe', '1')
        return True
    except redis.ReadOnlyError:
        return False


def _replicates_from(server, primary):
    info = server.client().info('replication')
    return info['role'] == 'slave' and int(info['master_port']) == primary.port and info['master_link_status'] == 'up'


def test_migrate_with_promotion_hands_the_sentinels_over_and_rollback_gives_them_back(start_server, start_sentinel, tmp_path):
    source, replica, target, sentinels, inventory = _set_up(start_server, start_sentinel, tmp_path, listed=3)
    writer = SentinelWriter(sentinels, MASTER, password=PASSWORD, sentinel_password=SENTINEL_PASSWORD).start()
    try:
        _wait(lambda: len(writer.acked) > 50, 'the writer to write through the Sentinels')
        proc = _play('migrate.yml', inventory, *FAST, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % tmp_path)
        assert proc.returncode == 0, proc.output[-4000:]
        time.sleep(WAIT_PAST_SENTINEL_S)

        assert [_writable(s) for s in (source, replica, target)] == [False, False, True], 'not exactly one writable primary'
        assert [s.master_address(MASTER) for s in sentinels] == [(target.host, target.port)] * 3
        assert _replicates_from(source, target) and _replicates_from(replica, target)
        assert target.client().config_get('replica-priority')['replica-priority'] == '100'
        for sentinel in sentinels:
            assert '+switch-master' not in sentinel.log() and '+convert-to-slave' not in sentinel.log(), sentinel.log()
        acked_during = len(writer.acked)

        again = _play('migrate.yml', inventory, *FAST, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % tmp_path)
        assert again.returncode == 0 and _recap(again.stdout)['snt']['changed'] == 0, again.output[-4000:]
    finally:
        acked = writer.stop()
    assert acked_during > 100 and len(acked) >= acked_during, 'the writer did not keep writing through the migration'
    client = target.client()
    missing = [key for key in acked if client.get(key) is None]
    assert missing == [], '%d acknowledged writes lost, e.g. %s' % (len(missing), missing[:5])
    for proc_output in (proc.output, again.output):
        assert PASSWORD not in proc_output and SENTINEL_PASSWORD not in proc_output

    status = _play('status.yml', inventory, '-e', 'kvmigrate_report_dir=%s' % tmp_path)
    assert status.returncode == 0, status.output[-3000:]
    for sentinel in sentinels:
        assert 'Sentinel %s reports %s at %s:%d (target)' % (sentinel.endpoint, MASTER, target.host, target.port) in status.output

    back = _play('rollback.yml', inventory)
    assert back.returncode == 0, back.output[-4000:]
    assert SENTINEL_PASSWORD not in back.output and PASSWORD not in back.output
    assert [s.master_address(MASTER) for s in sentinels] == [(source.host, source.port)] * 3
    _wait(lambda: _replicates_from(target, source) and _replicates_from(replica, source), 'both replicas to follow the source')
    assert [_writable(s) for s in (source, replica, target)] == [True, False, False]


@pytest.mark.parametrize('listed', [2, 0], ids=['one-of-three-unlisted', 'none-listed'])
def test_preflight_refuses_a_source_watched_by_a_sentinel_the_inventory_misses(start_server, start_sentinel, tmp_path, listed):
    """With none listed, the sentinel role runs because preflight found Sentinels connected to the source."""
    source, replica, target, sentinels, inventory = _set_up(start_server, start_sentinel, tmp_path, listed=listed)
    before = [s.client().execute_command('SENTINEL', 'MASTER', MASTER) for s in sentinels]
    proc = _play('migrate.yml', inventory, *FAST, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % tmp_path)

    assert proc.returncode != 0, proc.output[-3000:]
    missing_id = sentinels[2].client().execute_command('SENTINEL', 'MYID')[:8]
    assert '%s (connected to %s:%d' % (missing_id, source.host, source.port) in proc.output, proc.output[-3000:]
    assert 'List every Sentinel in kvmigrate_sentinels' in proc.output
    assert SENTINEL_PASSWORD not in proc.output and PASSWORD not in proc.output
    # nothing changed: the target is still an empty primary, the source still the Sentinels' master
    assert target.client().info('replication')['role'] == 'master' and target.client().dbsize() == 0
    assert source.client().info('replication')['role'] == 'master'
    assert [s.master_address(MASTER) for s in sentinels] == [(source.host, source.port)] * 3
    after = [s.client().execute_command('SENTINEL', 'MASTER', MASTER) for s in sentinels]
    assert [(b['ip'], b['port'], b['quorum']) for b in before] == [(a['ip'], a['port'], a['quorum']) for a in after]


def test_a_run_stopped_after_the_release_and_killed_after_the_cutover_converges_on_a_re_run(start_server, start_sentinel, tmp_path):
    """A run that ends (a) once every Sentinel forgot the source but before the cutover: the test holds a kvmigrate
    operation's claim on the source, so the cutover refuses before it changes anything, the state a run killed at that
    task boundary leaves, reached without a race against the play; then (b) a run SIGKILLed once the target is the
    primary but before every Sentinel monitors it. The next run finishes the hand-over, the one after changes nothing."""
    source, replica, target, sentinels, inventory = _set_up(start_server, start_sentinel, tmp_path, listed=3)
    promote = [*FAST, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % tmp_path]
    writer = SentinelWriter(sentinels, MASTER, password=PASSWORD, sentinel_password=SENTINEL_PASSWORD).start()
    try:
        _wait(lambda: len(writer.acked) > 50, 'the writer to write through the Sentinels')
        synced = _play('migrate.yml', inventory, *FAST, '-e', 'kvmigrate_report_dir=%s' % tmp_path)
        assert synced.returncode == 0, synced.output[-4000:]
        holder = source.client()
        holder.execute_command('CLIENT', 'SETNAME', 'kvmigrate-op:replicaof:1:held-by-the-test')
        try:
            stopped = _play('migrate.yml', inventory, *promote, '-e', 'promote_busy_retries=0')
        finally:
            holder.close()
        assert stopped.returncode != 0 and 'is being changed by another kvmigrate operation' in stopped.output, \
            stopped.output[-4000:]
        released = _views(sentinels)
        assert released == [None, None, None], released
        assert _role(target) == 'slave'

        _kill_when(_start_play('migrate.yml', inventory, *promote), lambda: _role(target) == 'master',
                   'the cutover')
        at_kill = _views(sentinels)
        assert at_kill.count((target.host, target.port)) < 3, 'killed after every Sentinel monitored the target'
        assert (source.host, source.port) not in at_kill, at_kill

        proc = _play('migrate.yml', inventory, *promote)
        assert proc.returncode == 0, proc.output[-4000:]
        time.sleep(DOWN_AFTER_MS / 1000.0 + 10)  # past down-after-milliseconds and one INFO period of the Sentinels
        assert _views(sentinels) == [(target.host, target.port)] * 3
        assert [_writable(s) for s in (source, replica, target)] == [False, False, True], 'not exactly one writable primary'
        assert _replicates_from(source, target) and _replicates_from(replica, target)
        assert target.client().exists('kvmigrate:sentinel', 'kvmigrate:sentinel:replica-priority') == 0
        # the shield set while it replicated is lifted once it is the primary
        assert target.client().config_get('replica-priority')['replica-priority'] == '100'
        for sentinel in sentinels:
            assert '+switch-master' not in sentinel.log() and '+convert-to-slave' not in sentinel.log(), sentinel.log()
        acked_during = len(writer.acked)

        again = _play('migrate.yml', inventory, *promote)
        assert again.returncode == 0 and _recap(again.stdout)['snt']['changed'] == 0, again.output[-4000:]
    finally:
        acked = writer.stop()
    assert acked_during > 100 and len(acked) >= acked_during, 'the writer did not keep writing through the migration'
    missing = [key for key in acked if target.client().get(key) is None]
    assert missing == [], '%d acknowledged writes lost, e.g. %s' % (len(missing), missing[:5])


def _commandstat(server, name):
    return int(server.client().info('commandstats').get('cmdstat_%s' % name, {}).get('calls', 0))


def _module_args(source, target, sentinels, state):
    return dict(state=state, login_host=target.host, login_port=target.port, login_password=PASSWORD,
                source_host=source.host, source_port=source.port, primary_password=PASSWORD,
                sentinels=[s.endpoint for s in sentinels], sentinel_password=SENTINEL_PASSWORD)


def test_sentinel_master_in_check_mode_sends_nothing_and_a_real_run_does(start_server, start_sentinel, tmp_path, run_module):
    """Sentinel's INFO has no commandstats section, so the Sentinels are judged by SENTINEL MASTERS and their log
    (-monitor on REMOVE); the source and the target by their INFO commandstats (HSET/SET, CONFIG SET)."""
    source, replica, target, sentinels, inventory = _set_up(start_server, start_sentinel, tmp_path, listed=3)

    def counters():
        return dict(source_hset=_commandstat(source, 'hset'), source_set=_commandstat(source, 'set'),
                    target_config_set=_commandstat(target, 'config|set'),
                    priority=target.client().config_get('replica-priority')['replica-priority'],
                    views=_views(sentinels), removed=['-monitor' in s.log() for s in sentinels])

    before = counters()
    assert before['removed'] == [False] * 3 and before['views'] == [(source.host, source.port)] * 3
    planned = {}
    for state in ('shielded', 'released'):
        result = run_module('sentinel_master', _module_args(source, target, sentinels, state), check_mode=True)
        assert result['rc'] == 0 and result['changed'] is True, result
        planned[state] = result['commands']
    assert any('CONFIG SET replica-priority 0' in c for c in planned['shielded'])
    assert len([c for c in planned['released'] if 'SENTINEL REMOVE %s' % MASTER in c]) == 3
    assert counters() == before

    for state in ('shielded', 'released'):
        result = run_module('sentinel_master', _module_args(source, target, sentinels, state))
        assert result['rc'] == 0 and result['changed'] is True and result['commands'] == planned[state], result
    after = counters()
    assert after['source_hset'] == before['source_hset'] + 1 and after['source_set'] == before['source_set'] + 1
    assert after['target_config_set'] == before['target_config_set'] + 1 and after['priority'] == '0'
    assert after['views'] == [None] * 3
    _wait(lambda: all('-monitor master %s' % MASTER in s.log() for s in sentinels), 'the Sentinels to log -monitor')


def test_sentinels_fail_over_to_the_sources_replica_never_to_the_replicating_target(start_server, start_sentinel, tmp_path):
    """The target has replica-priority 1, so a Sentinel would prefer it to the source's replica (100) once it learnt
    it as a replica of the source: migrate.yml without promotion must set it to 0 until the target is promoted."""
    source, replica, target, sentinels, inventory = _set_up(start_server, start_sentinel, tmp_path, listed=3)
    target.client().config_set('replica-priority', 1)
    proc = _play('migrate.yml', inventory, *FAST, '-e', 'kvmigrate_report_dir=%s' % tmp_path)
    assert proc.returncode == 0, proc.output[-4000:]
    assert target.client().config_get('replica-priority')['replica-priority'] == str(TARGET_PRIORITY_SEEN)

    def learnt_target():
        for sentinel in sentinels:
            replicas = sentinel.client().sentinel_slaves(MASTER)
            if not any(int(r['port']) == target.port and int(r['slave-priority']) == TARGET_PRIORITY_SEEN for r in replicas):
                return False
        return True
    _wait(learnt_target, 'every Sentinel to know the target as a replica of the source', timeout=30)

    source.proc.send_signal(signal.SIGKILL)
    source.proc.wait(timeout=10)
    _wait(lambda: [s.master_address(MASTER) for s in sentinels] != [(source.host, source.port)] * 3
          and None not in [s.master_address(MASTER) for s in sentinels], 'the Sentinels to fail over', timeout=60)
    _wait(lambda: len(set(s.master_address(MASTER) for s in sentinels)) == 1, 'the Sentinels to agree', timeout=30)
    assert [s.master_address(MASTER) for s in sentinels] == [(replica.host, replica.port)] * 3, \
        [s.log() for s in sentinels]
    assert _role(replica) == 'master' and _role(target) == 'slave'
