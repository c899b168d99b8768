"""The fenced cutover interrupted at its worst moment, on real servers with live writers (issue 12).

A synced pair; the module and the target's replication link reach the source through a TCP proxy. The proxy stalls
the module's connection to the source at the fence (the first REPLICAOF sent to the source), which comes right after
the target's REPLICAOF NO ONE: the target is a writable primary and the source is not fenced yet. Then the control
node goes away in one of the ways it does in practice:

* SIGKILL of every process of the ansible-playbook run (the control node lost);
* SIGINT or SIGTERM to the ansible-playbook process group (Ctrl-C, an AWX cancel), which Ansible forwards to its
  workers;
* the task's own ``timeout:``.

each with ``kvmigrate_in_process`` true and false (with a task ``timeout:`` the action plugin runs the module as a
process either way; in the worker, SIGINT and SIGTERM kill Ansible's worker outright, so no undo runs there).
Afterwards, for 5 s, a watcher writes to
both ends in turn: never may both take a write in the same round. Writers that move from the source to the target
on a refusal must not lose an acknowledged write. The same task, run again, must converge: the target is the only
writable primary, the source follows it, the source's min-replicas-* are its own again and the cutover record is gone.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from tests.support.proxy import STALL, StallingProxy
from tests.support.servers import ansible_env, fill
from tests.support.writers import LiveWriters

FENCE_TIMEOUT_MS = 2000
WATCH_SECONDS = 5.0
# The source's own settings, which the guard replaces during the cutover and which must come back.
SOURCE_MIN_REPLICAS = {'min-replicas-to-write': '0', 'min-replicas-max-lag': '7'}
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def _wait_until(condition, timeout=20, what='condition'):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, '%s not met within %s s' % (what, timeout)
        time.sleep(0.02)


def _pair_behind_proxy(start_server):
    source = start_server(name='source', extra=['min-replicas-max-lag %s' % SOURCE_MIN_REPLICAS['min-replicas-max-lag']])
    target = start_server(name='target')
    fill(source, 200)
    proxy = StallingProxy(source.host, source.port).start()
    target.client().replicaof(proxy.host, proxy.port)
    _wait_until(lambda: target.client().info('replication').get('master_link_status') == 'up'
                and target.client().dbsize() == 200, what='target in sync')
    return source, target, proxy


def _playbook(tmp_path, target, in_process, fence_timeout_ms=FENCE_TIMEOUT_MS, task_timeout=None, name='cutover',
              login_port=None):
    task = {'name': 'Promote the target and fence its source',
            'kvmigrate.replication.replicaof': dict(login_host=target.host, login_port=login_port or target.port,
                                                    state='primary', fence_source=True, fence_timeout_ms=fence_timeout_ms)}
    if task_timeout:
        task['timeout'] = task_timeout
    play = [dict(hosts='localhost', gather_facts=False, vars=dict(kvmigrate_in_process=in_process), tasks=[task])]
    path = tmp_path / ('%s.yml' % name)
    path.write_text(json.dumps(play))
    return [PLAYBOOK, '-i', 'localhost,', '-c', 'local', str(path), '-v']


def _task_result(output):
    found = re.search(r'^(ok|changed|fatal): \[localhost\].*? => (\{.*\})$', output, re.M)
    assert found, output[-3000:]
    result = json.loads(found.group(2))
    result['_status'] = found.group(1)
    return result


def _descendants(pid):
    """Every process below ``pid`` (Ansible's workers call setsid, so a process group signal does not reach them)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class SplitBrainWatch(object):
    """Writes a probe key to the source, then to the target, round after round. A round in which both took the write
    means both were writable primaries within a few milliseconds of each other."""

    def __init__(self, source, target):
        self.ends = (('source', source), ('target', target))
        self.both = []
        self.rounds = 0
        self.accepted = {'source': 0, 'target': 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _accepts(self, client, number):
        try:
            client.set('kvm-watch', number)
            return True
        except redis.ResponseError:  # READONLY or NOREPLICAS
            return False
        except redis.RedisError:  # held by the pause, or no answer: not a write taken
            return False

    def _watch(self):
        clients = dict((name, redis.Redis(host=server.host, port=server.port, password=server.password,
                                          socket_timeout=0.25)) for name, server in self.ends)
        while not self._stop.is_set():
            took = dict((name, self._accepts(clients[name], self.rounds)) for name in clients)
            for name, yes in took.items():
                self.accepted[name] += yes
            if all(took.values()):
                self.both.append(time.monotonic())
            self.rounds += 1
            time.sleep(0.005)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)


def _claimed(server):
    """Whether a kvmigrate operation holds a claim on the server (connection.claim_operation's CLIENT SETNAME)."""
    return any(client.get('name', '').startswith('kvmigrate-op:') for client in server.client().client_list())


def _interrupt(proc, how):
    if how == 'SIGKILL':  # the control node is gone: every process of the run dies at once
        for pid in _descendants(proc.pid) + [proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return
    os.killpg(proc.pid, getattr(signal, how))  # what Ctrl-C in a terminal or an AWX cancel sends


def _assert_converged(source, target, writers, target_port=None):
    assert target.client().info('replication')['role'] == 'master'
    replication = source.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == (target_port or target.port)
    with pytest.raises(redis.ReadOnlyError):
        source.client().set('after', '1')
    assert target.client().set('after', '1') is True
    assert source.client().config_get('min-replicas-*') == SOURCE_MIN_REPLICAS
    assert target.client().get('kvmigrate:cutover') is None
    _wait_until(lambda: source.client().get('kvmigrate:cutover') is None, what='record gone on the source')
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(target)
    assert acked > 100, 'writers wrote too little to prove anything: %d' % acked
    assert missing == [], '%d of %d acknowledged writes are missing on the new primary' % (len(missing), acked)


@pytest.mark.parametrize('in_process', [True, False], ids=['worker', 'process'])
@pytest.mark.parametrize('how', ['SIGKILL', 'SIGINT', 'SIGTERM', 'task-timeout'])
def test_interrupted_cutover_never_leaves_two_writable_primaries_and_a_rerun_converges(
        how, in_process, tmp_path, start_server):
    source, target, proxy = _pair_behind_proxy(start_server)
    # A task timeout needs the stall to outlast it: a longer pause gives every command 15 % of it (6 s here), and the
    # 5 s timeout leaves a module process, which starts slowly on a loaded machine, time to reach the fence first.
    fence_timeout_ms = 40000 if how == 'task-timeout' else FENCE_TIMEOUT_MS
    command = _playbook(tmp_path, target, in_process, fence_timeout_ms, task_timeout=5 if how == 'task-timeout' else None)
    proxy.arm(b'REPLICAOF', STALL)
    writers = LiveWriters(source, target, count=2).start()
    watch = SplitBrainWatch(source, target).start()
    try:
        proc = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, text=True)
        try:
            assert proxy.triggered.wait(120), 'the module never sent the fence: %s' % proc.communicate(timeout=60)[0][-3000:]
            interrupted_at = time.monotonic()
            if how != 'task-timeout':
                _interrupt(proc, how)
            output = proc.communicate(timeout=120)[0]
        finally:
            if proc.poll() is None:
                _interrupt(proc, 'SIGKILL')
        promoted_at_interrupt = target.client().info('replication')['role'] == 'master'
        time.sleep(WATCH_SECONDS)
        assert watch.both == [], 'both ends took writes in %d rounds (of %d), the first %.3f s after the interruption' % (
            len(watch.both), watch.rounds, watch.both[0] - interrupted_at)
        if how == 'SIGKILL':
            # nothing of the module survived: the guard alone holds the source, with the target promoted
            assert promoted_at_interrupt
            with pytest.raises(redis.ResponseError, match='NOREPLICAS'):
                source.client().set('during', '1')
        if how == 'task-timeout':
            assert 'timed out' in output.lower() or 'timeout' in output.lower(), output[-3000:]

        proxy.disarm()
        if how == 'task-timeout':
            # A task timeout ends the task, not the module process it runs as: that process finishes or undoes its
            # cutover on its own, holding its claim on both servers until then, and a re-run meanwhile is refused
            # (it names the operation). Do what that message says: wait for the claim to go.
            _wait_until(lambda: not _claimed(source) and not _claimed(target), timeout=120,
                        what='the timed-out module process to finish')
        rerun = subprocess.run(_playbook(tmp_path, target, False, name='rerun'), env=ansible_env(), capture_output=True,
                               text=True, timeout=300, check=False)
        result = _task_result(rerun.stdout + rerun.stderr)
        assert rerun.returncode == 0 and result['_status'] == 'changed', rerun.stdout[-3000:]
        if how == 'SIGKILL':
            assert result['cutover']['recovery'] == 'completed'
        else:
            assert result['cutover']['recovery'] in (None, 'completed')
        time.sleep(0.3)  # writers that were refused move to the target
    finally:
        watch.stop()
        writers.stop()
        proxy.close()
    assert watch.accepted['target'] > 0, 'the watcher never saw the target take a write'
    assert watch.both == []
    _assert_converged(source, target, writers)


# The other step boundaries of the pause method on the source, each stalled on its way to the server (the command never
# lands), then SIGKILL of the whole run in the worker path: the worst case, no undo and no unpause runs. Byte patterns
# are RESP, so that a CONFIG GET of the same parameter, read while planning, does not match. The target's step, its
# REPLICAOF NO ONE, has a test of its own below.
STEP_BOUNDARIES = {
    'client-pause': b'$6\r\nCLIENT\r\n$5\r\nPAUSE',
    'guard': b'$3\r\nSET\r\n$21\r\nmin-replicas-to-write',
    'client-unpause': b'$6\r\nCLIENT\r\n$7\r\nUNPAUSE',
}
STEP_WATCH_SECONDS = 3.0


@pytest.mark.parametrize('step', sorted(STEP_BOUNDARIES))
def test_cutover_killed_at_each_step_boundary_never_leaves_two_writable_primaries_and_a_rerun_converges(
        step, tmp_path, start_server):
    source, target, armed = _pair_behind_proxy(start_server)
    armed.arm(STEP_BOUNDARIES[step], STALL)
    writers = LiveWriters(source, target, count=2).start()
    watch = SplitBrainWatch(source, target).start()
    try:
        proc = subprocess.Popen(_playbook(tmp_path, target, True), env=ansible_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, text=True)
        try:
            assert armed.triggered.wait(120), 'the module never reached %s: %s' % (
                step, proc.communicate(timeout=60)[0][-3000:])
            interrupted_at = time.monotonic()
            _interrupt(proc, 'SIGKILL')
            proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                _interrupt(proc, 'SIGKILL')
        time.sleep(STEP_WATCH_SECONDS)
        assert watch.both == [], 'both ends took writes in %d rounds (of %d), the first %.3f s after the kill' % (
            len(watch.both), watch.rounds, watch.both[0] - interrupted_at)
        # the record was written before the stalled step: a re-run completes the cutover from it
        assert source.client().get('kvmigrate:cutover') is not None or target.client().get('kvmigrate:cutover') is not None
        armed.disarm()
        rerun = subprocess.run(_playbook(tmp_path, target, False, name='rerun'), env=ansible_env(), capture_output=True,
                               text=True, timeout=300, check=False)
        result = _task_result(rerun.stdout + rerun.stderr)
        assert rerun.returncode == 0 and result['_status'] == 'changed', rerun.stdout[-3000:]
        assert result['cutover']['recovery'] == 'completed', result['cutover']
        time.sleep(0.3)  # writers that were refused move to the target
    finally:
        watch.stop()
        writers.stop()
        armed.close()
    assert watch.accepted['target'] > 0, 'the watcher never saw the target take a write'
    assert watch.both == []
    _assert_converged(source, target, writers)


def test_cutover_killed_while_the_target_promotion_is_on_its_way_never_leaves_two_writable_primaries(
        tmp_path, start_server):
    """The target's step: the module reaches the target through a second proxy, which holds its REPLICAOF NO ONE (the
    command never lands), then the whole run is SIGKILLed in the worker path. The target announces the proxy's port
    (replica-announce-port), so the source lists it at the address the module reaches it by, as a target behind NAT
    would be. The source is paused and guarded, the target still a replica: when the pause expires the source is the
    one writable primary. A re-run converges."""
    source, target, source_proxy = _pair_behind_proxy(start_server)
    target_proxy = StallingProxy(target.host, target.port).start()
    target.client().config_set('replica-announce-port', target_proxy.port)
    # the port is announced at the link's handshake: reconnect the link (a partial resync)
    target.client().execute_command('CLIENT', 'KILL', 'TYPE', 'master')

    def listed_at_proxy_port():
        replicas = [v for k, v in source.client().info('replication').items() if k.startswith('slave')]
        return any(int(r.get('port', 0)) == target_proxy.port and r.get('state') == 'online' for r in replicas)
    _wait_until(listed_at_proxy_port, what='source lists the target at the proxy port')
    target_proxy.arm(b'$9\r\nREPLICAOF\r\n$2\r\nNO', STALL)
    writers = LiveWriters(source, target, count=2).start()
    watch = SplitBrainWatch(source, target).start()
    try:
        proc = subprocess.Popen(_playbook(tmp_path, target, True, login_port=target_proxy.port), env=ansible_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
        try:
            assert target_proxy.triggered.wait(120), 'the module never promoted the target: %s' % (
                proc.communicate(timeout=60)[0][-3000:])
            interrupted_at = time.monotonic()
            _interrupt(proc, 'SIGKILL')
            proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                _interrupt(proc, 'SIGKILL')
        time.sleep(STEP_WATCH_SECONDS)
        assert watch.both == [], 'both ends took writes in %d rounds (of %d), the first %.3f s after the kill' % (
            len(watch.both), watch.rounds, watch.both[0] - interrupted_at)
        # the promotion never landed: the target follows the source, which takes writes again once its pause expires
        assert target.client().info('replication')['role'] == 'slave'
        _wait_until(lambda: watch.accepted['source'] > 0, what='the source taking writes after its pause expired')
        target_proxy.disarm()
        rerun = subprocess.run(_playbook(tmp_path, target, False, name='rerun', login_port=target_proxy.port),
                               env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
        result = _task_result(rerun.stdout + rerun.stderr)
        assert rerun.returncode == 0 and result['_status'] == 'changed', rerun.stdout[-3000:]
        assert result['cutover']['recovery'] in (None, 'completed', 'reverted'), result['cutover']
        time.sleep(0.3)  # writers that were refused move to the target
    finally:
        watch.stop()
        writers.stop()
        source_proxy.close()
    try:
        assert watch.accepted['target'] > 0, 'the watcher never saw the target take a write'
        assert watch.both == []
        _assert_converged(source, target, writers, target_port=target_proxy.port)
    finally:
        target_proxy.close()
