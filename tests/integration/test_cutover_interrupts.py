"""The fenced cutover interrupted at every step boundary, on real servers with live writers (issue 12).

A synced pair; the module reaches each end through a TCP proxy, and so does the target's replication link to the
source. The proxy holds one command of the cutover (STEPS: each step of the pause method, and FAILOVER before and after
it lands), so the run is interrupted exactly there. Then the control node goes away in one of the ways it does in
practice:

* SIGKILL of every process of the ansible-playbook run (the control node lost);
* SIGINT or SIGTERM to the ansible-playbook process group (Ctrl-C, an AWX cancel), which Ansible forwards to its
  workers;
* the task's own ``timeout:``.

each with ``kvmigrate_in_process`` true and false (in the worker, SIGINT and SIGTERM kill Ansible's worker outright,
so no undo runs there), except a task ``timeout:``, with which the action plugin runs the module as a process either way.
Afterwards, for 3 s and through the re-run, a watcher writes to both ends in turn: never may both take a write in the same round. Writers
that move from the source to the target on a refusal must not lose an acknowledged write. The same task, run again,
must converge: the target is the only writable primary, the source follows it, the source's min-replicas-* are its
own again and the cutover record is gone. docs/cutover.md has the table of what each step leaves.
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

from tests.support.proxy import DELIVER_THEN_STALL, STALL, StallingProxy
from tests.support.servers import ansible_env, fill
from tests.support.writers import LiveWriters

FENCE_TIMEOUT_MS = 2000
WATCH_SECONDS = 3.0
# The source's own settings, which the guard replaces during the cutover and which must come back.
SOURCE_MIN_REPLICAS = {'min-replicas-to-write': '0', 'min-replicas-max-lag': '7'}
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def _wait_until(condition, timeout=20, what='condition'):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, '%s not met within %s s' % (what, timeout)
        time.sleep(0.02)


def _pair_behind_proxies(start_server):
    """A synced pair, each end behind a proxy. The module reaches both ends through them, and so does the target's
    replication link to the source. The target announces its proxy's port (replica-announce-port), so the source lists
    it at the address the module reaches it by, as a target behind NAT would be."""
    source = start_server(name='source', extra=['min-replicas-max-lag %s' % SOURCE_MIN_REPLICAS['min-replicas-max-lag']])
    target = start_server(name='target')
    fill(source, 200)
    proxies = dict(source=StallingProxy(source.host, source.port).start(),
                   target=StallingProxy(target.host, target.port).start())
    target.client().config_set('replica-announce-port', proxies['target'].port)
    target.client().replicaof(proxies['source'].host, proxies['source'].port)

    def synced_and_listed():
        replicas = [v for k, v in source.client().info('replication').items() if k.startswith('slave')]
        return (target.client().info('replication').get('master_link_status') == 'up' and target.client().dbsize() == 200
                and any(int(r.get('port', 0)) == proxies['target'].port and r.get('state') == 'online' for r in replicas))
    _wait_until(synced_and_listed, what='target in sync, listed at its proxy port')
    return source, target, proxies


def _playbook(tmp_path, target, in_process, fence_timeout_ms=FENCE_TIMEOUT_MS, task_timeout=None, name='cutover',
              login_port=None, method='auto'):
    task = {'name': 'Promote the target and fence its source',
            'kvmigrate.replication.replicaof': dict(login_host=target.host, login_port=login_port or target.port,
                                                    state='primary', fence_source=True, fence_timeout_ms=fence_timeout_ms,
                                                    cutover_method=method)}
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
    try:
        _wait_until(lambda: source.client().get('kvmigrate:cutover') is None, timeout=60, what='record gone on the source')
    except AssertionError as exc:
        raise AssertionError('%s; source %s; target %s' % (exc, source.client().info('replication'),
                                                           target.client().info('replication')))
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(target)
    assert acked > 100, 'writers wrote too little to prove anything: %d' % acked
    assert missing == [], '%d of %d acknowledged writes are missing on the new primary' % (len(missing), acked)


# Every step boundary of both methods a Redis pair can use. Each entry: the end whose proxy holds the module's
# connection, the bytes it waits for, what it does then, and the cutover method. Byte patterns are RESP, so that a
# CONFIG GET of the same parameter, read while planning, does not match. ``stall`` holds the command on its way (it
# never lands); ``deliver_then_stall`` lets it land and holds the reply (FAILOVER then runs inside the server, with no
# module to watch it).
STEPS = {
    'guard': ('source', b'$3\r\nSET\r\n$21\r\nmin-replicas-to-write', STALL, 'pause'),
    'client-pause': ('source', b'$6\r\nCLIENT\r\n$5\r\nPAUSE', STALL, 'pause'),
    'target-promotion': ('target', b'$9\r\nREPLICAOF\r\n$2\r\nNO', STALL, 'pause'),
    'fence': ('source', b'$9\r\nREPLICAOF', STALL, 'pause'),
    'client-unpause': ('source', b'$6\r\nCLIENT\r\n$7\r\nUNPAUSE', STALL, 'pause'),
    'failover-sent': ('source', b'$8\r\nFAILOVER', STALL, 'failover'),
    'failover-under-way': ('source', b'$8\r\nFAILOVER', DELIVER_THEN_STALL, 'failover'),
}
# The pause method's steps on the source after the cutover record is written. Killed there with no undo, the record
# is what a re-run completes the cutover from.
RECORDED_STEPS = ('guard', 'client-pause', 'fence', 'client-unpause')


# With a task ``timeout:`` the action plugin runs the module as a process whatever kvmigrate_in_process says
# (tests/integration/test_in_process.py checks that it does), so the worker variant of a task timeout would run the very
# same code as the process one: it is left out.
CASES = [pytest.param(step, how, in_process, id='%s-%s-%s' % (step, how, 'worker' if in_process else 'process'))
         for step in STEPS for how in ('SIGKILL', 'SIGINT', 'SIGTERM', 'task-timeout') for in_process in (True, False)
         if not (how == 'task-timeout' and in_process)]


@pytest.mark.parametrize('step, how, in_process', CASES)
def test_interrupted_cutover_never_leaves_two_writable_primaries_and_a_rerun_converges(
        step, how, in_process, tmp_path, start_server):
    end, pattern, action, method = STEPS[step]
    source, target, proxies = _pair_behind_proxies(start_server)
    login_port = proxies['target'].port
    # A task timeout needs the stall to outlast it: a longer pause gives every command 15 % of it (6 s here), and the
    # 5 s timeout leaves a module process, which starts slowly on a loaded machine, time to reach the step first.
    fence_timeout_ms = 40000 if how == 'task-timeout' else FENCE_TIMEOUT_MS
    command = _playbook(tmp_path, target, in_process, fence_timeout_ms, task_timeout=5 if how == 'task-timeout' else None,
                        login_port=login_port, method=method)
    armed = proxies[end]
    armed.arm(pattern, action)
    writers = LiveWriters(source, target, count=2, pause=0.002).start()
    watch = SplitBrainWatch(source, target).start()
    try:
        proc = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, text=True)
        try:
            assert armed.triggered.wait(120), 'the module never reached %s: %s' % (
                step, proc.communicate(timeout=60)[0][-3000:])
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
        if how == 'task-timeout':
            assert 'timed out' in output.lower() or 'timeout' in output.lower(), output[-3000:]
        if how == 'SIGKILL' and step == 'fence':
            # nothing of the module survived: the guard alone holds the source, with the target promoted
            assert promoted_at_interrupt
            with pytest.raises(redis.ResponseError, match='NOREPLICAS'):
                source.client().set('during', '1')
        if how == 'SIGKILL' and step == 'target-promotion':
            # the promotion never landed: the target follows the source, which takes writes again once its pause ends
            assert target.client().info('replication')['role'] == 'slave'
            _wait_until(lambda: watch.accepted['source'] > 0, what='the source taking writes after its pause expired')
        if how == 'SIGKILL' and step in RECORDED_STEPS:
            assert source.client().get('kvmigrate:cutover') is not None or target.client().get('kvmigrate:cutover') is not None

        armed.disarm()
        # A task timeout ends the task, not a module process: that process finishes or undoes its cutover on its own,
        # holding its claim on both servers until then, and a re-run meanwhile is refused (it names the operation).
        # Do what that message says: wait for the claim to go. A module killed with the worker left none.
        _wait_until(lambda: not _claimed(source) and not _claimed(target), timeout=120,
                    what='the interrupted module to finish')
        rerun = subprocess.run(_playbook(tmp_path, target, False, name='rerun', login_port=login_port, method=method),
                               env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
        result = _task_result(rerun.stdout + rerun.stderr)
        assert rerun.returncode == 0, rerun.stdout[-3000:]
        if step == 'failover-under-way':
            # the server may have finished the failover on its own: then the re-run finds the work done
            assert result['_status'] in ('changed', 'ok'), rerun.stdout[-3000:]
        else:
            assert result['_status'] == 'changed', rerun.stdout[-3000:]
        recovery = (result.get('cutover') or {}).get('recovery')
        if how == 'SIGKILL' and step in RECORDED_STEPS:
            assert recovery == 'completed', result['cutover']
        else:
            assert recovery in (None, 'completed', 'reverted'), result['cutover']
        time.sleep(0.3)  # writers that were refused move to the target
    finally:
        watch.stop()
        writers.stop()
        proxies['source'].close()
    try:
        assert watch.accepted['target'] > 0, 'the watcher never saw the target take a write'
        assert watch.both == []
        _assert_converged(source, target, writers, target_port=login_port)
    finally:
        proxies['target'].close()
