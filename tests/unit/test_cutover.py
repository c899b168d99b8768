# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the fenced cutover: the pure decisions (which method and fence a pair of servers gets, when a
target counts as caught up), and the state machine on simulated servers (every method, the undo at every step, a
re-run after an interruption). Dragonfly and KeyDB cannot run on the test machine, so their paths are proved here."""
from __future__ import absolute_import, division, print_function

import pytest
import redis

from ansible_collections.kvmigrate.replication.plugins.module_utils import connection, cutover, probe
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
from ansible_collections.kvmigrate.replication.plugins.module_utils.cutover import (
    CutoverError, caught_up, choose_fence, choose_method)


@pytest.mark.parametrize('source, target, expected', [
    (('redis', '7.0.15'), ('redis', '7.0.15'), 'pause'),
    (('redis', '6.2.14'), ('redis', '7.0.15'), 'pause'),
    (('redis', '7.2.4'), ('valkey', '8.0.1'), 'pause'),
    (('redis', '7.2.4'), ('dragonfly', '1.39.0'), 'pause'),
    (('valkey', '8.0.1'), ('valkey', '8.0.1'), 'pause'),
    (('keydb', '6.3.4'), ('keydb', '6.3.4'), 'pause'),
    (('dragonfly', '1.39.0'), ('dragonfly', '1.40.1'), 'takeover'),
])
def test_auto_picks_the_fastest_zero_loss_method(source, target, expected):
    assert choose_method(source[0], source[1], target[0], target[1], 'auto') == expected


def test_failover_is_offered_for_redis_and_valkey_6_2_and_later():
    assert choose_method('redis', '6.2.14', 'redis', '6.2.14', 'failover') == 'failover'
    assert choose_method('redis', '7.0.15', 'valkey', '8.0.1', 'failover') == 'failover'


@pytest.mark.parametrize('source, target', [
    (('redis', '6.0.16'), ('redis', '7.0.15')),
    (('redis', '7.0.15'), ('dragonfly', '1.39.0')),
    (('keydb', '6.3.4'), ('redis', '7.0.15')),
])
def test_failover_is_refused_where_either_end_lacks_the_command(source, target):
    with pytest.raises(CutoverError, match='cutover_method=failover needs FAILOVER'):
        choose_method(source[0], source[1], target[0], target[1], 'failover')


def test_takeover_is_refused_unless_both_ends_are_dragonfly():
    with pytest.raises(CutoverError, match='Dragonfly at both ends'):
        choose_method('redis', '7.0.15', 'dragonfly', '1.39.0', 'takeover')


def test_dragonfly_source_has_no_offset_so_pause_is_refused():
    with pytest.raises(CutoverError, match='reports no replication offset'):
        choose_method('dragonfly', '1.39.0', 'dragonfly', '1.39.0', 'pause')


@pytest.mark.parametrize('version', ['6.0.16', '5.0.14', None])
def test_source_without_client_pause_write_gets_a_clear_error(version):
    with pytest.raises(CutoverError) as raised:
        choose_method('redis', version, 'redis', '7.0.15', 'auto')
    assert 'has no CLIENT PAUSE WRITE' in raised.value.msg and 'without fence_source' in raised.value.msg


def test_fence_is_replicaof_target_where_the_target_can_feed_the_source():
    assert choose_fence('pause', 'redis', '7.0.15', 'redis', '7.0.15') == 'replicaof_target'
    assert choose_fence('pause', 'redis', '7.2.4', 'valkey', '8.0.1') == 'replicaof_target'
    assert choose_fence('failover', 'redis', '6.2.14', 'redis', '6.2.14') == 'replicaof_target'


def test_fence_falls_back_to_min_replicas_for_dragonfly_targets_and_unloadable_rdb():
    assert choose_fence('pause', 'redis', '7.2.4', 'dragonfly', '1.39.0') == 'min_replicas'
    # 7.0 writes RDB 10; a 6.2 source loads at most 9, so it could not become the target's replica.
    assert choose_fence('pause', 'redis', '6.2.14', 'redis', '7.0.15') == 'min_replicas'
    # Valkey 8 writes RDB 11, which Redis 7.0 (RDB 10) cannot load.
    assert choose_fence('pause', 'redis', '7.0.15', 'valkey', '8.0.1') == 'min_replicas'


def test_requested_fence_that_cannot_work_is_refused_with_the_reason():
    with pytest.raises(CutoverError, match='has no PSYNC'):
        choose_fence('pause', 'redis', '7.2.4', 'dragonfly', '1.39.0', 'replicaof_target')
    with pytest.raises(CutoverError, match='RDB version 10'):
        choose_fence('pause', 'redis', '6.2.14', 'redis', '7.0.15', 'replicaof_target')
    with pytest.raises(CutoverError, match='RDB version 10'):
        choose_fence('failover', 'redis', '6.2.14', 'redis', '7.0.15')
    with pytest.raises(CutoverError, match='FAILOVER always makes'):
        choose_fence('failover', 'redis', '7.0.15', 'redis', '7.0.15', 'min_replicas')
    with pytest.raises(CutoverError, match='shuts itself down'):
        choose_fence('takeover', 'dragonfly', '1.39.0', 'dragonfly', '1.39.0', 'min_replicas')


def test_min_replicas_may_be_asked_for_even_where_replicaof_would_work():
    assert choose_fence('pause', 'redis', '7.0.15', 'redis', '7.0.15', 'min_replicas') == 'min_replicas'


def test_takeover_fence_is_the_old_primary_shutting_down():
    assert choose_fence('takeover', 'dragonfly', '1.39.0', 'dragonfly', '1.39.0') == 'shutdown'


@pytest.mark.parametrize('source_offset, target_offset, expected', [
    (1000, 1000, True),
    (1000, 1014, True),   # a PING the paused source sent after its offset was read
    (1000, 999, False),
    (1000, None, False),  # no offset reported: never assume caught up
    (None, 1000, False),
])
def test_caught_up_means_target_offset_at_least_the_paused_source_offset(source_offset, target_offset, expected):
    assert caught_up(source_offset, target_offset) is expected


def test_budget_leaves_room_for_promotion_and_fence_inside_the_pause():
    wait, command = cutover.budget(5000)
    assert wait == pytest.approx(2.0) and command == pytest.approx(0.75)
    # the last poll, the promotion and the fence must all end before the server lifts the pause
    assert wait + 3 * command < 5.0


def test_min_replicas_fence_exceeds_the_replica_count():
    assert cutover.min_replicas_fence(1) == {'to_write': 1000, 'max_lag': 10}
    assert cutover.min_replicas_fence(5000)['to_write'] == 5001


@pytest.mark.parametrize('to_write, max_lag, replicas, fenced', [
    ('1000', '10', 1, True),
    ('1000', '0', 1, False),   # max-lag 0 turns the check off in Redis
    ('1', '10', 1, False),
    ('0', '10', 0, False),
    (None, None, 0, False),
])
def test_fenced_by_min_replicas_recognises_a_fence_already_in_place(to_write, max_lag, replicas, fenced):
    assert cutover.fenced_by_min_replicas(to_write, max_lag, replicas) is fenced


def _params(**extra):
    params = dict(state='primary', fence_source=True, source_host=None, source_port=None, fence_timeout_ms=5000,
                  cutover_method='auto', fence_mode='auto')
    params.update(extra)
    return params


def test_validate_refuses_fence_source_with_state_replica():
    with pytest.raises(CutoverError, match='needs state=primary'):
        cutover.validate_cutover_params(_params(state='replica'))


def test_validate_refuses_cutover_options_without_fence_source():
    with pytest.raises(CutoverError, match='source_port only applies'):
        cutover.validate_cutover_params(_params(fence_source=False, source_port=6380))
    with pytest.raises(CutoverError, match='fence_mode=min_replicas only applies'):
        cutover.validate_cutover_params(_params(fence_source=False, fence_mode='min_replicas'))


def test_validate_refuses_a_pause_too_short_to_be_useful_and_bad_ports():
    with pytest.raises(CutoverError, match='fence_timeout_ms=50'):
        cutover.validate_cutover_params(_params(fence_timeout_ms=50))
    with pytest.raises(Exception, match='source_port=0'):
        cutover.validate_cutover_params(_params(source_port=0))


class TaskTimeout(BaseException):
    """Like Ansible's TaskTimeoutError: a BaseException raised inside the module by the task's timeout."""


def test_role_view_of_a_stopped_source():
    assert cutover.role_view(None) == {'role': 'stopped', 'primary_host': None, 'primary_port': None}
    assert cutover.role_view({'role': 'replica', 'primary_host': 'h', 'primary_port': 1}, fence='replicaof_target') == {
        'role': 'replica', 'primary_host': 'h', 'primary_port': 1, 'fence': 'replicaof_target'}


# --------------------------------------------------------------------------------------------------------------------
# The state machine on a simulated pair: every path, and an interruption at every step
# --------------------------------------------------------------------------------------------------------------------

class Sim(object):
    """One simulated server: role, offsets, keys, config, pause. Replication is instant unless ``frozen``."""

    def __init__(self, world, name, port, flavor='redis', version='7.0.15'):
        self.world, self.name, self.port = world, name, port
        self.flavor, self.version = flavor, version
        self.role, self.master_port = 'master', None
        self.keys = {}
        self.offset = 1000
        self.replid, self.replid2, self.second_offset = name * 8, '0' * 40, -1
        self.config = {'min-replicas-to-write': '0', 'min-replicas-max-lag': '10', 'masterauth': '', 'masteruser': ''}
        self.paused_until = None
        self.frozen = False
        self.link_down = False
        self.stopped = False
        self.failover = None
        self.log = []

    def replicas(self):
        return [sim for sim in self.world.sims.values() if sim.role == 'slave' and sim.master_port == self.port
                and not sim.stopped]

    def info(self, section):
        if section == 'server':
            lines = ['redis_version:7.2.0', 'run_id:%s' % (self.name * 40)[:40]]
            lines.append('dragonfly_version:df-v%s' % self.version if self.flavor == 'dragonfly'
                         else 'redis_version:%s' % self.version)
            return '# Server\r\n' + '\r\n'.join(lines) + '\r\n'
        if section != 'replication':
            return ''
        if self.role == 'master':
            lines = ['role:master', 'connected_slaves:%d' % len(self.replicas())]
            for n, sim in enumerate(self.replicas()):
                if self.flavor == 'dragonfly':
                    lines.append('slave%d:ip=127.0.0.1,port=%d,state=online,lag=0' % (n, sim.port))
                else:
                    lines.append('slave%d:ip=127.0.0.1,port=%d,state=online,offset=%d,lag=0' % (n, sim.port, sim.offset))
        else:
            lines = ['role:slave', 'master_host:127.0.0.1', 'master_port:%d' % self.master_port,
                     'master_link_status:%s' % ('down' if self.link_down else 'up'),
                     'master_last_io_seconds_ago:0', 'master_sync_in_progress:0', 'slave_repl_offset:%d' % self.offset,
                     'slave_read_only:1', 'connected_slaves:0']
        if self.flavor != 'dragonfly':
            lines += ['master_failover_state:%s' % ('waiting-for-sync' if self.failover else 'no-failover'),
                      'master_replid:%s' % self.replid, 'master_replid2:%s' % self.replid2,
                      'master_repl_offset:%d' % self.offset, 'second_repl_offset:%d' % self.second_offset]
        return '# Replication\r\n' + '\r\n'.join(lines) + '\r\n'

    def write(self, key, value):
        if self.role == 'slave':
            raise redis.exceptions.ReadOnlyError("You can't write against a read only replica.")
        if self.paused_until is not None and self.world.now < self.paused_until:
            raise redis.exceptions.TimeoutError('Timeout reading from socket')  # held by CLIENT PAUSE WRITE
        to_write, max_lag = int(self.config['min-replicas-to-write']), int(self.config['min-replicas-max-lag'])
        if to_write and max_lag and len(self.replicas()) < to_write:
            raise redis.exceptions.ResponseError('NOREPLICAS Not enough good replicas to write.')
        if value is None:
            self.keys.pop(key, None)
        else:
            self.keys[key] = value
        self.offset += 30

    def execute(self, args):
        world = self.world
        name = str(args[0]).upper()
        sub = str(args[1]).upper() if len(args) > 1 else ''
        if name == 'PING':
            return True
        if name == 'INFO':
            return self.info(args[1] if len(args) > 1 else 'replication')
        if name == 'ROLE':
            if self.role == 'master':
                return ['master', [['127.0.0.1', str(sim.port), 'online'] for sim in self.replicas()]]
            return ['slave', '127.0.0.1', str(self.master_port), 'online']
        if name == 'CONFIG' and sub == 'GET':
            return [args[2], self.config.get(args[2], '')]
        if name == 'CONFIG' and sub == 'SET':
            self.config[args[2]] = str(args[3])
            return True
        if name == 'CLIENT':
            if sub == 'PAUSE':
                self.paused_until = world.now + int(args[2]) / 1000.0
            elif sub == 'UNPAUSE':
                self.paused_until = None
            return {'ID': 7, 'LIST': ''}.get(sub, True)
        if name == 'SET':
            self.write(args[1], args[2])
            return True
        if name == 'GET':
            return self.keys.get(args[1])
        if name == 'DEL':
            existed = args[1] in self.keys
            self.write(args[1], None)
            return int(existed)
        if name in ('REPLICAOF', 'SLAVEOF'):
            if sub == 'NO':
                if self.role == 'slave':
                    self.role, self.master_port = 'master', None
                    self.replid2, self.second_offset, self.replid = self.replid, self.offset + 1, self.name[::-1] * 8
            else:
                self.role, self.master_port = 'slave', int(args[2])
            return True
        if name == 'FAILOVER':
            if sub == 'ABORT':
                if not self.failover:
                    raise redis.exceptions.ResponseError('ERR No failover in progress.')
                self.failover = None
            else:
                self.failover = int(args[3])
            return True
        if name == 'REPLTAKEOVER':
            primary = world.sims[self.master_port]
            self.role, self.master_port = 'master', None
            primary.stopped = True
            return True
        raise AssertionError('the simulation does not know %r' % (args,))


class World(object):
    """Two or more simulated servers, one clock, and faults injected at chosen commands."""

    def __init__(self):
        self.now = 100.0
        self.sims = {}
        self.faults = []
        self.failover_completes = True
        self.warnings = []

    def add(self, name, port, **kw):
        self.sims[port] = Sim(self, name, port, **kw)
        return self.sims[port]

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.05)  # each poll takes a while: keeps the loops short

    def on(self, matches, action, when='before'):
        """Run ``action(sim, args)`` once, before or after the first command for which ``matches(sim, args)``."""
        self.faults.append(dict(matches=matches, action=action, when=when))

    def _fire(self, sim, args, when):
        for fault in list(self.faults):
            if fault['when'] == when and fault['matches'](sim, args):
                self.faults.remove(fault)
                fault['action'](sim, args)

    def replicate(self):
        for sim in self.sims.values():
            if sim.failover is not None and self.failover_completes:
                sim.role, sim.master_port, sim.failover = 'slave', sim.failover, None
                promoted = self.sims[sim.master_port]
                promoted.role, promoted.master_port = 'master', None
        for sim in self.sims.values():
            primary = self.sims.get(sim.master_port) if sim.role == 'slave' else None
            if primary is not None and not (sim.frozen or sim.link_down or primary.stopped) and primary.role == 'master':
                sim.keys, sim.offset, sim.replid = dict(primary.keys), primary.offset, primary.replid

    def execute(self, sim, args):
        if sim.stopped:
            raise redis.exceptions.ConnectionError('Error 111 connecting to 127.0.0.1:%d. Connection refused.' % sim.port)
        self.replicate()
        self._fire(sim, args, 'before')
        sim.log.append(' '.join(str(a) for a in args))
        reply = sim.execute(args)
        self.replicate()
        self._fire(sim, args, 'after')
        return reply

    def connect(self, params, host=None, port=None, what='server', secrets=(), command_timeout=None, **dummy):
        sim = self.sims[int(port if port is not None else params['login_port'])]
        if sim.stopped:
            raise KvmigrateError('%s 127.0.0.1:%d refused the connection.' % (what, sim.port), cause='refused')
        return connection.Server(FakeClient(self, sim), '127.0.0.1', sim.port, what, secrets,
                                 read_timeout=command_timeout or 10.0)


class FakeConnection(object):
    socket_timeout = None

    def update_current_socket_timeout(self, seconds):
        self.socket_timeout = seconds


class FakeClient(object):
    """The part of redis-py's client the collection uses, answering from a Sim."""

    def __init__(self, world, sim):
        self.world, self.sim = world, sim
        self.connection = FakeConnection()

    def execute_command(self, *args):
        return self.world.execute(self.sim, args)

    def set(self, key, value, px=None):
        return self.execute_command('SET', key, value, 'PX', px)

    def get(self, key):
        return self.execute_command('GET', key)

    def close(self):
        pass


def _pair(flavor='redis', version='7.0.15'):
    world = World()
    source = world.add('s', 6379, flavor=flavor, version=version)
    target = world.add('t', 6380, flavor=flavor, version=version)
    source.config['min-replicas-max-lag'] = '7'  # the source's own value: the guard replaces it for a while
    target.role, target.master_port = 'slave', 6379
    world.replicate()
    return world, source, target


def _run_params(**extra):
    params = dict(login_host='127.0.0.1', login_port=6380, login_user=None, login_password=None, primary_user=None,
                  primary_password=None, tls=False, connect_timeout=5.0, state='primary', fence_source=True,
                  source_host=None, source_port=None, fence_timeout_ms=5000, cutover_method='auto', fence_mode='auto',
                  check_writes=True)
    params.update(extra)
    return params


def _cutover(world, check_mode=False, **extra):
    target = world.connect(_run_params(), port=6380, what='target')
    target.identify()
    return cutover.Cutover(target, _run_params(**extra), check_mode=check_mode, clock=world.clock, sleep=world.sleep,
                           warn=world.warnings.append, connector=world.connect)


def _raises(exc):
    def action(sim, args):
        raise exc
    return action


def _command(name):
    return lambda sim, args: ' '.join(str(a) for a in args).upper().startswith(name)


def _die_at(world, step):
    """The module process is killed as it sends ``step``: nothing after it runs, no undo, no unpause."""
    world.on(_command(step), _raises(MemoryError('the module process is gone')))
    dead = _cutover(world)
    dead._unwind = lambda undo: None  # pylint: disable=protected-access
    dead._unpause = lambda: False  # pylint: disable=protected-access
    with pytest.raises(CutoverError):
        dead.run()


def _assert_as_before(source, target):
    """Both ends as before the cutover: writable source with its own settings, target its replica, no record."""
    assert source.role == 'master' and source.paused_until is None
    assert source.config['min-replicas-to-write'] == '0' and source.config['min-replicas-max-lag'] == '7'
    assert target.role == 'slave' and target.master_port == source.port
    assert 'kvmigrate:cutover' not in source.keys and 'kvmigrate:cutover' not in target.keys
    source.write('after', '1')  # it takes writes again


def test_pause_sets_the_guard_before_the_promotion_and_removes_it_after():
    world, source, target = _pair()
    result = _cutover(world).run()
    commands = result['cutover']['commands']
    assert result['changed'] is True and result['cutover']['recovery'] is None
    assert result['cutover']['guard'] == {'min_replicas_to_write': 1, 'min_replicas_max_lag': 2}
    order = [commands.index(c) for c in ('source: CLIENT PAUSE 5000 WRITE', 'source: CONFIG SET min-replicas-to-write 1',
                                         'target: REPLICAOF NO ONE', 'source: REPLICAOF 127.0.0.1 6380',
                                         'source: CLIENT UNPAUSE', 'source: CONFIG SET min-replicas-max-lag 7',
                                         'target: DEL kvmigrate:cutover')]
    assert order == sorted(order)
    assert commands[0].startswith('source: SET kvmigrate:cutover {')
    assert source.role == 'slave' and target.role == 'master'
    assert source.config['min-replicas-to-write'] == '0' and source.config['min-replicas-max-lag'] == '7'
    assert 'kvmigrate:cutover' not in target.keys and 'kvmigrate:cutover' not in source.keys


def test_the_guard_alone_makes_the_source_refuse_writes_once_the_target_left():
    """What the source does if the module dies right after the promotion: the pause ends, the guard refuses."""
    world, source, target = _pair()
    _die_at(world, 'REPLICAOF 127.0.0.1')
    assert target.role == 'master'
    world.now += 6  # the pause has ended by itself
    with pytest.raises(redis.exceptions.ResponseError, match='NOREPLICAS'):
        source.write('late', '1')


# Each step, interrupted before and after the server applied it. Up to the promotion the undo puts both ends back;
# from the moment the target is promoted it may hold writes, so it stays the primary and the guard holds the source.
STEPS = ('SET KVMIGRATE:CUTOVER', 'CLIENT PAUSE', 'CONFIG SET MIN-REPLICAS-TO-WRITE 1', 'REPLICAOF NO ONE',
         'REPLICAOF 127.0.0.1', 'CLIENT UNPAUSE')
INTERRUPTED_STEPS = [(step, when) for step in STEPS for when in ('before', 'after')]
PROMOTED = [('REPLICAOF NO ONE', 'after'), ('REPLICAOF 127.0.0.1', 'before'), ('REPLICAOF 127.0.0.1', 'after'),
            ('CLIENT UNPAUSE', 'before'), ('CLIENT UNPAUSE', 'after')]


def _interrupted(step, when, interruption):
    """A cutover interrupted by ``interruption`` before or after the server applied ``step``; it must raise it again."""
    world, source, target = _pair()

    def interrupt(sim, args):
        raise interruption()

    world.on(_command(step), interrupt, when=when)
    with pytest.raises(interruption):
        _cutover(world).run()
    return world, source, target


@pytest.mark.parametrize('interruption', [KeyboardInterrupt, SystemExit, TaskTimeout], ids=lambda e: e.__name__)
@pytest.mark.parametrize('step,when', [s for s in INTERRUPTED_STEPS if s not in PROMOTED])
def test_an_interruption_before_the_promotion_runs_the_undo_then_is_raised_again(step, when, interruption):
    dummy, source, target = _interrupted(step, when, interruption)
    _assert_as_before(source, target)


@pytest.mark.parametrize('interruption', [KeyboardInterrupt, SystemExit, TaskTimeout], ids=lambda e: e.__name__)
@pytest.mark.parametrize('step,when', PROMOTED)
def test_an_interruption_after_the_promotion_keeps_the_target_primary_and_the_source_refusing(step, when, interruption):
    world, source, target = _interrupted(step, when, interruption)
    assert target.role == 'master' and source.paused_until is None
    try:
        source.write('late', '1')
        refused = None
    except redis.exceptions.ReadOnlyError:  # fenced: a replica of the target
        refused = 'READONLY'
    except redis.exceptions.ResponseError as exc:
        refused = str(exc).split()[0]
    assert refused in ('READONLY', 'NOREPLICAS'), 'the source took a write while the target is the primary'
    assert 'kvmigrate:cutover' in source.keys or 'kvmigrate:cutover' in target.keys or source.role == 'slave'

    result = _cutover(world).run()  # the fault fired once
    assert result['cutover']['recovery'] in ('completed', None), result['cutover']
    assert source.role == 'slave' and source.master_port == 6380 and target.role == 'master'
    assert source.config['min-replicas-to-write'] == '0' and source.config['min-replicas-max-lag'] == '7'
    assert 'kvmigrate:cutover' not in target.keys and 'kvmigrate:cutover' not in source.keys


def test_a_fence_refused_after_the_promotion_fails_held_and_a_rerun_completes():
    world, source, target = _pair()
    world.on(_command('REPLICAOF 127.0.0.1'), _raises(redis.exceptions.NoPermissionError('NOPERM replicaof')))
    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'stays the primary' in raised.value.msg and 'run the same task again' in raised.value.msg
    details = raised.value.details['cutover']
    assert details['held'] is True and details['undone'] is False
    assert target.role == 'master' and source.role == 'master' and source.paused_until is None
    with pytest.raises(redis.exceptions.ResponseError, match='NOREPLICAS'):
        source.write('late', '1')

    result = _cutover(world).run()  # the fault fired once
    assert result['cutover']['recovery'] == 'completed'
    assert source.role == 'slave' and source.config['min-replicas-to-write'] == '0'


def test_a_rerun_after_the_module_died_past_the_promotion_completes_the_cutover():
    world, source, target = _pair()
    _die_at(world, 'REPLICAOF 127.0.0.1')
    world.now += 6
    assert target.role == 'master' and source.role == 'master'  # held by the guard alone

    result = _cutover(world).run()
    assert result['changed'] is True and result['cutover']['recovery'] == 'completed'
    assert result['cutover']['source'] == '127.0.0.1:6379'  # found through the record: the target no longer names it
    assert result['cutover']['commands'] == ['source: CLIENT UNPAUSE', 'source: REPLICAOF 127.0.0.1 6380',
                                             'source: CONFIG SET min-replicas-to-write 0',
                                             'source: CONFIG SET min-replicas-max-lag 7', 'target: DEL kvmigrate:cutover']
    assert result['cutover']['source_refuses_writes'] is True and result['cutover']['target_accepts_writes'] is True
    assert source.role == 'slave' and source.master_port == 6380
    assert source.config['min-replicas-max-lag'] == '7' and 'kvmigrate:cutover' not in target.keys

    again = _cutover(world).run()
    assert again['changed'] is False and again['cutover']['commands'] == []


def test_a_rerun_while_the_dead_runs_pause_still_holds_the_source_lifts_it_and_completes():
    """The module died with the source paused (its guard never landed): the pause outlives it for up to
    fence_timeout_ms, and the re-run's writes to the source would wait behind it."""
    world, source, target = _pair()
    _die_at(world, 'CONFIG SET MIN-REPLICAS-TO-WRITE 1')
    assert source.paused_until is not None and world.now < source.paused_until

    result = _cutover(world).run()
    assert result['cutover']['recovery'] == 'completed'
    assert result['cutover']['commands'][0] == 'source: CLIENT UNPAUSE'
    assert source.role == 'slave' and target.role == 'master'
    assert source.config['min-replicas-to-write'] == '0' and source.config['min-replicas-max-lag'] == '7'


def test_a_rerun_after_the_module_died_before_the_promotion_uses_the_recorded_settings():
    world, source, target = _pair()
    _die_at(world, 'REPLICAOF NO ONE')
    world.now += 6
    assert source.config['min-replicas-max-lag'] == '2'  # the guard is still on

    result = _cutover(world).run()
    assert result['cutover']['recovery'] == 'completed'
    assert 'source: CONFIG SET min-replicas-max-lag 7' in result['cutover']['commands']  # from the record
    assert source.role == 'slave' and source.config['min-replicas-max-lag'] == '7'


def test_a_rerun_that_cannot_complete_reverts_and_says_so():
    world, source, target = _pair()
    _die_at(world, 'REPLICAOF NO ONE')
    world.now += 6
    target.link_down = True  # the target lost its link: it cannot be promoted without losing writes

    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'cannot be completed now' in raised.value.msg and 'not in sync' in raised.value.msg
    assert 'put both ends back' in raised.value.msg
    assert raised.value.details['cutover']['recovery'] == 'reverted'
    assert source.role == 'master' and source.config['min-replicas-max-lag'] == '7'
    assert 'kvmigrate:cutover' not in source.keys


def test_check_mode_plans_the_recovery_and_changes_nothing():
    world, source, target = _pair()
    _die_at(world, 'REPLICAOF 127.0.0.1')
    logs = (list(source.log), list(target.log))
    result = _cutover(world, check_mode=True).run()
    assert result['changed'] is True and result['cutover']['recovery'] == 'completed'
    assert 'source: REPLICAOF 127.0.0.1 6380' in result['cutover']['commands']
    changed = [c for sim, before in zip((source, target), logs) for c in sim.log[len(before):]
               if c.split()[0] not in ('INFO', 'GET', 'CONFIG', 'ROLE', 'CLIENT') or c.startswith('CONFIG SET')]
    assert changed == []


def test_a_promotion_acknowledged_late_goes_on_when_the_offsets_prove_nothing_was_lost():
    world, source, target = _pair()
    world.on(_command('REPLICAOF NO ONE'), lambda sim, args: setattr(world, 'now', world.now + 4.5), when='after')
    result = _cutover(world).run()
    assert result['changed'] is True and target.role == 'master' and source.role == 'slave'


def test_a_promotion_acknowledged_late_is_undone_when_the_source_may_have_taken_writes():
    world, source, target = _pair()

    def late_and_written(sim, args):
        world.now += 4.5
        source.offset += 30  # a write the source took after its pause ended, before it saw the target leave

    world.on(_command('REPLICAOF NO ONE'), late_and_written, when='after')
    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'too close to fence_timeout_ms=5000' in raised.value.msg and 'was undone' in raised.value.msg
    _assert_as_before(source, target)


def test_a_fence_landing_after_the_pause_is_kept_with_a_warning():
    world, source, target = _pair()
    world.on(_command('REPLICAOF 127.0.0.1'), lambda sim, args: setattr(world, 'now', world.now + 6), when='after')
    result = _cutover(world).run()
    assert result['changed'] is True and source.role == 'slave' and target.role == 'master'
    assert any('landed' in warning and 'none was lost' in warning for warning in world.warnings)


def test_a_target_that_cannot_catch_up_is_undone():
    world, source, target = _pair()
    target.frozen = True
    source.offset += 500
    with pytest.raises(CutoverError, match='did not catch up'):
        _cutover(world).run()
    target.frozen = False
    _assert_as_before(source, target)


def test_failover_that_does_not_complete_is_aborted():
    world, source, target = _pair()
    world.failover_completes = False
    with pytest.raises(CutoverError) as raised:
        _cutover(world, cutover_method='failover', fence_timeout_ms=200).run()
    assert 'did not complete' in raised.value.msg and 'was undone' in raised.value.msg
    assert 'source: FAILOVER ABORT' in raised.value.details['cutover']['commands']
    assert source.role == 'master' and source.failover is None and target.role == 'slave'


def test_failover_interrupted_while_under_way_is_aborted_then_raised_again():
    world, source, target = _pair()
    world.failover_completes = False
    run = _cutover(world, cutover_method='failover')
    # Ctrl-C while the module polls the source for the end of the failover
    world.on(_command('FAILOVER TO'), lambda sim, args: world.on(_command('INFO REPLICATION'), _raises(KeyboardInterrupt())),
             when='after')
    with pytest.raises(KeyboardInterrupt):
        run.run()
    assert 'FAILOVER ABORT' in source.log
    assert source.role == 'master' and source.failover is None


def test_failover_that_completes_leaves_the_source_a_replica_of_the_target():
    world, source, target = _pair()
    result = _cutover(world, cutover_method='failover').run()
    assert result['cutover']['method'] == 'failover' and source.role == 'slave' and target.role == 'master'
    assert not any('kvmigrate:cutover' in c for c in result['cutover']['commands'])  # runs in the server: no guard


def test_takeover_between_dragonfly_servers_shuts_the_source_down():
    world, source, target = _pair(flavor='dragonfly', version='1.40.1')
    result = _cutover(world).run()
    assert result['cutover']['method'] == 'takeover' and result['cutover']['fence'] == 'shutdown'
    assert result['cutover']['commands'] == ['target: REPLTAKEOVER 5']
    assert result['cutover']['source_after']['role'] == 'stopped'
    assert result['cutover']['target_accepts_writes'] is True and result['cutover']['source_refuses_writes'] is None
    assert source.stopped and target.role == 'master'

    again = _cutover(world, source_host='127.0.0.1', source_port=6379).run()
    assert again['changed'] is False and again['cutover']['fence'] == 'shutdown' and again['cutover']['commands'] == []
    assert any('refuses connections' in warning for warning in world.warnings)


def test_check_writes_fails_on_a_source_that_gives_no_answer():
    world, source, target = _pair()

    def no_answer(sim, args):
        raise redis.exceptions.TimeoutError('Timeout reading from socket')

    world.on(lambda sim, args: sim is source and _command('SET KVMIGRATE:WRITE-CHECK')(sim, args), no_answer)
    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'no answer shows that the source refuses writes' in raised.value.msg
    assert raised.value.details['cutover']['source_refuses_writes'] is None


# -- the write probe ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('error, code', [
    (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), 'READONLY'),
    (redis.exceptions.ResponseError('NOREPLICAS Not enough good replicas to write.'), 'NOREPLICAS'),
    (redis.exceptions.ResponseError('READONLY You can\'t write against a read only replica.'), 'READONLY'),
    (redis.exceptions.TimeoutError('Timeout reading from socket'), None),
    (redis.exceptions.ConnectionError('Connection reset by peer'), None),
    (redis.exceptions.NoPermissionError('NOPERM this user has no permissions'), None),
    (redis.exceptions.ResponseError('OOM command not allowed when used memory > maxmemory.'), None),
    (redis.exceptions.ResponseError('LOADING Redis is loading the dataset in memory'), None),
    (OSError('Broken pipe'), None),
])
def test_only_readonly_and_noreplicas_are_refusals(error, code):
    assert probe.refusal_code(error) == code


def test_probe_reports_the_servers_refusal_with_its_code():
    world, source, target = _pair()
    replica = world.connect(_run_params(), port=6380, what='target')
    assert probe.probe_write(replica) == {'outcome': 'refused', 'refusal': 'READONLY',
                                          'error': "READONLY You can't write against a read only replica."}
    primary = world.connect(_run_params(), port=6379, what='source')
    assert probe.probe_write(primary)['outcome'] == 'accepted'
    primary.call('CLIENT', 'PAUSE', 1000, 'WRITE')
    held = probe.probe_write(primary)
    assert held['outcome'] == 'unknown' and held['refusal'] is None and 'source 127.0.0.1:6379' in held['error']


# --------------------------------------------------------------------------------------------------------------------
# Dragonfly (issue 14): the pause's catch-up wait, and what a failed REPLTAKEOVER left
# --------------------------------------------------------------------------------------------------------------------

def _redis_to_dragonfly(target_version):
    world = World()
    world.add('s', 6379)
    target = world.add('t', 6380, flavor='dragonfly', version=target_version)
    target.role, target.master_port = 'slave', 6379
    world.replicate()
    return world, world.sims[6379], target


def test_pause_to_dragonfly_before_1_39_refuses_a_catch_up_wait_shorter_than_its_ack_interval():
    world, source, target = _redis_to_dragonfly('1.38.2')
    with pytest.raises(CutoverError) as raised:
        _cutover(world, fence_timeout_ms=4000).run()
    assert raised.value.msg == (
        "Target 127.0.0.1:6380 runs dragonfly 1.38.2, which acknowledges its replication offset to the source only "
        "every 1000 ms (REPLCONF ACK; it ignores GETACK), so the catch-up wait of 1600 ms that fence_timeout_ms=4000 "
        "allows cannot see the last write arrive: nothing was changed. Set fence_timeout_ms to at least 5000, or "
        "upgrade the target to Dragonfly v1.39+, which reports its own offset.")
    assert not any(entry.startswith('CLIENT PAUSE') for entry in source.log)
    assert target.role == 'slave'


def test_pause_to_dragonfly_before_1_39_goes_on_with_a_wait_that_spans_two_ack_intervals():
    world, source, target = _redis_to_dragonfly('1.38.2')
    result = _cutover(world, fence_timeout_ms=5000).run()
    assert result['cutover']['method'] == 'pause' and target.role == 'master'


def test_pause_to_dragonfly_1_39_reads_its_own_offset_and_keeps_short_pauses():
    world, source, target = _redis_to_dragonfly('1.39.0')
    result = _cutover(world, fence_timeout_ms=1000).run()
    assert result['cutover']['method'] == 'pause' and target.role == 'master'


def test_takeover_gets_a_reply_bound_of_twice_its_seconds_plus_ten_and_warns_the_fence_is_not_durable():
    world, source, target = _pair(flavor='dragonfly', version='1.40.1')
    cut = _cutover(world, fence_timeout_ms=7000)
    bounds = []
    world.on(_command('REPLTAKEOVER'), lambda sim, args: bounds.append(cut.target.client.connection.socket_timeout))
    result = cut.run()
    assert result['cutover']['commands'] == ['target: REPLTAKEOVER 7']
    assert bounds == [24.0]
    assert result['cutover']['fence_durable'] is False
    assert any('SHUTDOWN NOSAVE, which is not a durable fence' in warning and '127.0.0.1:6379' in warning
               for warning in world.warnings)


def test_takeover_whose_reply_was_lost_but_happened_is_not_reported_as_undone():
    world, source, target = _pair(flavor='dragonfly', version='1.40.1')

    def promoted_then_timeout(sim, args):
        sim.execute(args)
        raise redis.exceptions.TimeoutError('Timeout reading from socket')

    world.on(_command('REPLTAKEOVER'), promoted_then_timeout)
    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'Yet the takeover happened: the target is now the primary' in raised.value.msg
    assert 'Nothing changed' not in raised.value.msg
    details = raised.value.details['cutover']
    assert details['undone'] is False and details['target_role_after'] == 'primary'
    assert details['source_role_after'] is None


def test_refused_takeover_is_reported_as_nothing_changed_after_reading_both_ends():
    world, source, target = _pair(flavor='dragonfly', version='1.40.1')
    world.on(_command('REPLTAKEOVER'), _raises(redis.exceptions.ResponseError("Couldn't execute takeover: timed out")))
    with pytest.raises(CutoverError) as raised:
        _cutover(world).run()
    assert 'Nothing changed: source 127.0.0.1:6379 is still the writable primary and the target its replica' \
        in raised.value.msg
    details = raised.value.details['cutover']
    assert details['undone'] is True
    assert (details['target_role_after'], details['source_role_after']) == ('replica', 'primary')
    assert source.role == 'master' and not source.stopped and target.role == 'slave'
