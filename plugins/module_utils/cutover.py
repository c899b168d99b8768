# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fenced promotion: one state machine that moves the primary role from a
source to its replica (the target) without losing an acknowledged write, and
undoes itself when it cannot finish. The decisions it applies (method, fence,
time budget, guard values) live in ``cutover_policy.py``; the write probe of
``check_writes`` in ``probe.py``.

Methods:

* ``pause``: write the cutover record on the source, ``CLIENT PAUSE
  <fence_timeout_ms> WRITE``, read its ``master_repl_offset`` once, set the
  guard (``min-replicas-to-write`` = its good replicas, target included), wait
  until the target has applied that offset, ``REPLICAOF NO ONE`` on the
  target, fence the source, ``CLIENT UNPAUSE``, then put the source's
  ``min-replicas-*`` back (``replicaof_target`` fence) and delete the record.
* ``failover``: Redis/Valkey ``FAILOVER TO <target> TIMEOUT <ms>``: the source
  does the same inside the server and ends as a replica of the target.
* ``takeover``: Dragonfly ``REPLTAKEOVER`` on the target; the old primary shuts
  itself down once the target has everything.

Why the guard: the module (or the whole control node) can die at any step. The
pause ends by itself after ``fence_timeout_ms``; without the guard a source
whose target was promoted but whose fence never came would then take writes
next to a writable target. With the guard the source refuses them itself
(``-NOREPLICAS``) once the target has left it, so there is never more than one
writable primary, whatever stops the module. ``failover`` and ``takeover`` run
inside the servers and need no guard.

Why the record: a re-run of the same task must finish an interrupted cutover or
put both ends back, and the source's own ``min-replicas-*`` values must survive
the controller. The record (key ``kvmigrate:cutover``) holds them, with the
fence, the source's address and the target's run id; the target gets a copy by
replication before it is promoted. A re-run finds it and says in
``cutover.recovery`` what it did: ``completed`` or ``reverted``.

Every change is pushed on an undo stack; if any step fails, or the module is
interrupted (``KeyboardInterrupt``, ``SystemExit``, Ansible's task timeout),
the stack is unwound and the pause is lifted in a ``finally``; an interruption
is then raised again.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import probe as probe_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, claim_operation, connect, endpoint, option_label, resolve, same_endpoint, source_endpoint)
from ansible_collections.kvmigrate.replication.plugins.module_utils.cutover_policy import (
    COMMAND_SHARE, FENCE_AUTO, FENCE_MIN_REPLICAS, FENCE_MODES, FENCE_REPLICAOF, FENCE_SHUTDOWN, METHOD_AUTO,
    METHOD_FAILOVER, METHOD_PAUSE, METHOD_TAKEOVER, METHODS, MIN_FENCE_TIMEOUT_MS, MIN_REPLICAS_CONFIGS, POLL_SLEEP,
    PROMOTION_DEADLINE_SHARE, RECORD_KEY, RECORD_TTL_MS, SOURCE_OPTIONS, WAIT_SHARE, CutoverError, budget, caught_up,
    check_catch_up_budget,
    choose_fence, choose_method, cutover_argument_spec, decode_record, encode_record, fence_durability, fenced_by_min_replicas,
    guard_values, min_replicas_fence, promotion_lost_nothing, role_view, validate_cutover_params)

# Names other modules and the tests take from here: the policy is part of this module's interface.
__all__ = ['COMMAND_SHARE', 'FENCE_AUTO', 'FENCE_MIN_REPLICAS', 'FENCE_MODES', 'FENCE_REPLICAOF', 'FENCE_SHUTDOWN',
           'METHOD_AUTO', 'METHOD_FAILOVER', 'METHOD_PAUSE', 'METHOD_TAKEOVER', 'METHODS', 'MIN_FENCE_TIMEOUT_MS',
           'Cutover', 'CutoverError', 'RECOVERY_COMPLETED', 'RECOVERY_REVERTED', 'budget', 'caught_up',
           'choose_fence', 'choose_method', 'cutover_argument_spec', 'fenced_by_min_replicas', 'min_replicas_fence',
           'role_view', 'validate_cutover_params']

# REPLTAKEOVER <t> can legitimately take up to 2t + 10 s before it answers.
TAKEOVER_TIMEOUT_FACTOR = 2
TAKEOVER_TIMEOUT_MARGIN = 10
SHUTDOWN_FENCE_NOTE = ("The old primary %s was fenced by SHUTDOWN NOSAVE, which is not a durable fence: a supervisor "
                       "(systemd, Kubernetes, a container restart policy) that restarts it brings it back as a writable "
                       "primary with its last snapshot. Disable its restart, or remove it from clients' configuration.")
RECOVERY_COMPLETED = 'completed'
RECOVERY_REVERTED = 'reverted'


class LatePromotionError(CutoverError):
    """The promotion landed so late that the source may hold writes the target lacks: the one failure after the
    promotion that turns the target back into a replica of the source, which has them."""


class Cutover(object):
    """Promote ``target`` (a connected Server, replica of the source) and fence its source.

    ``plan()`` reads both ends and decides (nothing is changed); ``run()``
    applies the plan unless in check mode. Both return the result fields the
    replicaof module returns. ``connector`` opens connections (``connect``; the
    unit tests pass one that gives simulated servers).
    """

    def __init__(self, target, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, warn=None,
                 connector=connect):
        self.target = target
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.warn = warn or (lambda msg: None)
        self.connector = connector
        self.fence_timeout_ms = int(params['fence_timeout_ms'])
        self.wait_seconds, self.command_seconds = budget(self.fence_timeout_ms)
        self.source = None          # long-timeout connection: set-up, undo and the record
        self.fast_source = None     # bounded connections: everything sent while the source is paused
        self.fast_target = None
        self.secrets = [s for s in (params.get('login_password'), params.get('primary_password')) if s]
        self.commands = []
        self.undo_log = []
        self.undo_failed = []
        self.target_status = None
        self.source_status = None
        self.source_host = None
        self.source_port = None
        self.source_user = None
        self.source_password = None
        self.target_seen_at = None  # (host, port) of the target as the source sees it
        self.target_addresses = None  # every address the target may be listed by on the source
        self.target_run_id = None
        self.method = None
        self.fence = None
        self.saved = {}
        self.offsets = dict(source_offset=None, target_offset=None, target_offset_source=None)
        self.record = None          # the record an interrupted cutover left, when a re-run finds one
        self.recovery = None        # what this run does about it: None, 'completed' or 'reverted'
        self.finish = None          # steps that finish an interrupted cutover whose target is already primary
        self.revert_reason = None   # why an interrupted cutover cannot be completed and is put back instead
        self.guard = None

    # -- helpers ------------------------------------------------------------------------------------------------------
    def _log(self, end, *command):
        shown = ' '.join(str(part) for part in command)
        if command[:2] == ('CONFIG', 'SET') and str(command[2]) in ('masterauth', 'primaryauth'):
            shown = 'CONFIG SET %s ********' % command[2]
        self.commands.append('%s: %s' % (end, shown))

    def _send(self, server, end, *command, **kwargs):
        self._log(end, *command)
        return server.call(*command, **kwargs)

    def _where(self):
        return 'target %s, source %s' % (self.target.endpoint, endpoint(self.source_host, self.source_port))

    def _source_end(self):
        """The source's address and login (connection.source_endpoint decides the credentials)."""
        end = source_endpoint(self.params, self.source_host, self.source_port, self.target.link_credentials,
                              option_prefix=SOURCE_OPTIONS)
        if end.password:
            self.secrets.append(end.password)
        self.source_user, self.source_password = end.user, end.password
        return end

    def _connect(self, host, port, what, username=None, password=None, option_prefix='login_', bounded=False):
        return self.connector(self.params, host=host, port=port, username=username, password=password, what=what,
                              secrets=self.secrets, option_prefix=option_prefix,
                              command_timeout=max(self.command_seconds, 0.05) if bounded else None)

    @staticmethod
    def _run_id(server):
        return info_utils.parse_info(server.info_text('server')).get('run_id')

    def _read_record(self, server):
        """The record of an interrupted cutover of this target, read from ``server``, or None."""
        record = decode_record(server.call('GET', RECORD_KEY))
        if record is None:
            return None
        if record.get('target_run_id') != self.target_run_id:
            self.warn("%s %s holds a cutover record (key %s) of another target process (run id %s, this one is %s): "
                      "it is ignored. Delete the key once no cutover of that pair runs." % (
                          server.what, server.endpoint, RECORD_KEY, record.get('target_run_id'), self.target_run_id))
            return None
        return record

    # -- plan ---------------------------------------------------------------------------------------------------------
    def plan(self):
        """Read both ends, choose method and fence, and say what would change. Touches nothing."""
        params = self.params
        self.target_status = self.target.replication()
        self.target_run_id = self._run_id(self.target)
        target_is_primary = self.target_status.get('role') == info_utils.ROLE_PRIMARY
        if target_is_primary:
            # Once promoted, the target no longer names its old primary: an interrupted cutover's record does.
            self.record = self._read_record(self.target)
        record = self.record or {}
        self.source_host = params.get('source_host') or self.target_status.get('primary_host') or record.get('source_host')
        self.source_port = params.get('source_port') or self.target_status.get('primary_port') or record.get('source_port')

        if target_is_primary and not self.source_host:
            self.warn("Target %s is already a primary and reports no source; set source_host/source_port to check that "
                      "the old primary is fenced." % self.target.endpoint)
            return self._result(changed=False, source_before=None, source_after=None)
        if not self.source_host or not self.source_port:
            raise CutoverError("Target %s (role %s) reports no primary, and source_host/source_port do not name the source "
                               "to fence: set both." % (self.target.endpoint, self.target_status.get('role')))
        if same_endpoint(self.source_host, self.source_port, self.target.host, self.target.port):
            raise CutoverError("source_host/source_port %s name the target itself: point them at the old primary."
                               % endpoint(self.source_host, self.source_port))

        end = self._source_end()
        try:
            self.source = self._connect(end.host, end.port, end.what, end.user, end.password, end.option_prefix)
        except KvmigrateError as exc:
            if not (target_is_primary and exc.cause == 'refused'):
                raise
            return self._plan_source_stopped(exc)
        self.source.identify()
        self.source_status = self.source.replication()

        if target_is_primary:
            return self._plan_already_promoted()
        if self.source_status.get('role') == info_utils.ROLE_PRIMARY:
            self.record = self._read_record(self.source)
        try:
            self._check_pair()
        except CutoverError as exc:
            if self.record is None:
                raise
            return self._plan_revert(exc)
        self.method = choose_method(self.source.flavor, self.source.version, self.target.flavor, self.target.version,
                                    params['cutover_method'])
        self.fence = choose_fence(self.method, self.source.flavor, self.source.version, self.target.flavor,
                                  self.target.version, params['fence_mode'])
        check_catch_up_budget(self.method, self.source.flavor, self.source.version, self.target.flavor,
                              self.target.version, params['fence_timeout_ms'], self.target.endpoint)
        if self.record is not None:
            # The same task, run again after an interruption before the promotion: it completes the cutover, and
            # the source's min-replicas-* come from the record (the live values may be the guard's).
            self.recovery = RECOVERY_COMPLETED
        self._find_target_on_source()
        self._read_undo_values()
        self._log_planned_commands()
        return self._result(changed=True, source_before=role_view(self.source_status),
                            source_after=self._predicted_source_after())

    def _check_pair(self):
        """The target must be an in-sync replica of exactly this source, and the source a primary."""
        status = self.target_status
        if status.get('role') != info_utils.ROLE_REPLICA:
            raise CutoverError("Target %s has role %s; a cutover needs it to be a replica of the source."
                               % (self.target.endpoint, status.get('role')))
        if not same_endpoint(status.get('primary_host'), status.get('primary_port'), self.source_host, self.source_port):
            raise CutoverError("Target %s replicates from %s, not from source %s: fix source_host/source_port or leave them "
                               "unset to use the target's primary." % (
                                   self.target.endpoint, endpoint(status.get('primary_host'), status.get('primary_port')),
                                   endpoint(self.source_host, self.source_port)))
        if not status.get('synced'):
            raise CutoverError("Target %s is not in sync with %s (%s): run kvmigrate.replication.wait_for_sync first; nothing "
                               "was changed." % (self.target.endpoint, self.source.endpoint, status.get('sync_state')))
        if self.source_status.get('role') != info_utils.ROLE_PRIMARY:
            raise CutoverError("Source %s has role %s, not primary: chained replicas are not cut over; point source_host at "
                               "the primary." % (self.source.endpoint, self.source_status.get('role')))
        if self.source_status.get('failover_state') not in (None, 'no-failover'):
            raise CutoverError("Source %s is already failing over (%s): wait for it or run FAILOVER ABORT."
                               % (self.source.endpoint, self.source_status.get('failover_state')))

    def _find_target_on_source(self):
        """The address the source knows the target by (its replica line): FAILOVER TO needs exactly it, and the
        fence points the source there, which is an address the source can reach."""
        # The module may reach the target at another address (an admin network) than the source does.
        addresses = resolve(self.target.host)
        link_address = self.target.replication_link_address()
        if link_address:
            addresses.add(link_address)
        self.target_addresses = addresses
        entry = info_utils.replica_entry(self.source_status, addresses, self.target.port)
        if entry is None and self.method == METHOD_FAILOVER:
            raise CutoverError("Source %s does not list target %s among its replicas, so FAILOVER TO cannot name it. "
                               "Use cutover_method=pause." % (self.source.endpoint, self.target.endpoint))
        if entry is not None:
            self.target_seen_at = (entry['ip'], entry['port'])
        else:
            self.target_seen_at = (self.target.host, self.target.port)

    def _read_undo_values(self):
        """Everything the guard and the fence change is read now, so the undo can put it back (and a denied CONFIG
        fails here, before anything changed)."""
        if self.method == METHOD_PAUSE or self.fence == FENCE_MIN_REPLICAS:
            for config in MIN_REPLICAS_CONFIGS:
                if self.record is not None and self.record.get(config) is not None:
                    self.saved[config] = str(self.record[config])
                else:
                    self.saved[config] = self.source.config_get(config) or '0'
        if self.fence == FENCE_REPLICAOF:
            self._read_link_auth()

    def _read_link_auth(self):
        for option, config in (('login_user', 'masteruser'), ('login_password', 'masterauth')):
            wanted = self.params.get(option)
            if not wanted:
                continue
            if config == 'masteruser' and not flavors.capabilities(self.source.flavor, self.source.version)['masteruser']:
                continue
            try:
                current = self.source.config_get(config) or ''
            except KvmigrateError:
                current = None  # unreadable: set it anyway; undo restores nothing it did not read
            if current != wanted:
                self.saved[config] = current

    def _link_auth_commands(self):
        return [('CONFIG', 'SET', config, self.params['login_user' if config == 'masteruser' else 'login_password'])
                for config in ('masteruser', 'masterauth') if config in self.saved]

    def _record_text(self):
        host, port = self.target_seen_at
        return encode_record(
            source_host=self.source_host, source_port=int(self.source_port), target_host=host, target_port=int(port),
            target_run_id=self.target_run_id, fence=self.fence,
            **dict((config, self.saved[config]) for config in MIN_REPLICAS_CONFIGS))

    def _log_planned_commands(self):
        if not self.check_mode:
            return
        host, port = self.target_seen_at
        for command in self._link_auth_commands():
            self._log('source', *command)
        if self.method == METHOD_TAKEOVER:
            self._log('target', 'REPLTAKEOVER', self._takeover_seconds())
            return
        if self.method == METHOD_FAILOVER:
            self._log('source', 'FAILOVER', 'TO', host, port, 'TIMEOUT', self.fence_timeout_ms)
            return
        self._log('source', 'SET', RECORD_KEY, self._record_text(), 'PX', RECORD_TTL_MS)
        self._log('source', 'CLIENT', 'PAUSE', self.fence_timeout_ms, 'WRITE')
        guard = guard_values(self.source_status, info_utils.replica_entry(self.source_status, self.target_addresses,
                                                                          self.target.port))
        for command in self._guard_commands(guard):
            self._log('source', *command)
        self._log('target', 'REPLICAOF', 'NO', 'ONE')
        for command in self._fence_commands():
            self._log('source', *command)
        self._log('source', 'CLIENT', 'UNPAUSE')
        for command in self._restore_commands_after_fence():
            self._log('source', *command)
        self._log('target', 'DEL', RECORD_KEY)

    @staticmethod
    def _guard_commands(guard):
        # max-lag first: with the old max-lag at 0 the new to-write would not be enforced yet, never the reverse.
        return [('CONFIG', 'SET', 'min-replicas-max-lag', str(guard['max_lag'])),
                ('CONFIG', 'SET', 'min-replicas-to-write', str(guard['to_write']))]

    def _fence_commands(self):
        if self.fence == FENCE_REPLICAOF:
            host, port = self.target_seen_at
            return [('REPLICAOF', host, str(port))]
        values = min_replicas_fence(self.source_status.get('connected_replicas'))
        return [('CONFIG', 'SET', 'min-replicas-max-lag', str(values['max_lag'])),
                ('CONFIG', 'SET', 'min-replicas-to-write', str(values['to_write']))]

    def _restore_commands_after_fence(self):
        """A source fenced by REPLICAOF gets its own min-replicas-* back (a replica ignores them, and a later
        promotion of it must not inherit the guard). A min_replicas fence keeps its values."""
        if self.fence != FENCE_REPLICAOF:
            return []
        return [('CONFIG', 'SET', config, self.saved[config]) for config in MIN_REPLICAS_CONFIGS]

    def _predicted_source_after(self):
        if self.fence == FENCE_SHUTDOWN:
            return role_view(None)
        if self.fence == FENCE_REPLICAOF:
            host, port = self.target_seen_at
            return dict(role=info_utils.ROLE_REPLICA, primary_host=host, primary_port=port, fence=self.fence)
        return dict(role_view(self.source_status), fence=self.fence)

    def _current_fence(self):
        """How the source is kept from taking writes now: replicaof_target, min_replicas, or None (it takes them)."""
        status = self.source_status
        if status.get('role') == info_utils.ROLE_REPLICA and same_endpoint(
                status.get('primary_host'), status.get('primary_port'), self.target.host, self.target.port):
            return FENCE_REPLICAOF
        if status.get('role') == info_utils.ROLE_REPLICA:
            entry = info_utils.replica_entry(self.target_status, resolve(self.source.host), self.source.port)
            if entry is not None:
                return FENCE_REPLICAOF  # the source reaches the target by another address and the target lists it
            if self.record is not None and same_endpoint(status.get('primary_host'), status.get('primary_port'),
                                                         self.record.get('target_host'), self.record.get('target_port')):
                return FENCE_REPLICAOF  # pointed at the target, still connecting
        elif status.get('role') == info_utils.ROLE_PRIMARY and fenced_by_min_replicas(
                self.source.config_get('min-replicas-to-write'), self.source.config_get('min-replicas-max-lag'),
                status.get('connected_replicas')):
            return FENCE_MIN_REPLICAS
        return None

    def _plan_already_promoted(self):
        """Target already primary: fine (changed=false) only if the source can no longer take writes. With the record
        of an interrupted cutover, the steps that finish it are planned (the guard held the source meanwhile)."""
        status = self.source_status
        fence = self._current_fence()
        if fence is None:
            raise CutoverError(
                "Target %s is already a primary but source %s still accepts writes (role %s, not fenced): writes it took "
                "since the promotion are not on the target, so a zero-loss cutover is no longer possible. Stop writes to "
                "the source and compare the data, or make the target a replica of the source again (state=replica) and "
                "retry." % (self.target.endpoint, self.source.endpoint, status.get('role')))
        before = dict(role_view(status), fence=fence)
        if self.record is None:
            self.fence = fence
            return self._result(changed=False, source_before=before, source_after=before)
        self.method = METHOD_PAUSE
        self.fence = self.record.get('fence') or fence
        self.target_seen_at = (self.record['target_host'], self.record['target_port'])
        for config in MIN_REPLICAS_CONFIGS:
            self.saved[config] = str(self.record[config])
        self.finish = []
        if self.fence == FENCE_REPLICAOF and fence != FENCE_REPLICAOF:
            self._read_link_auth()
            self.finish += [('source', command) for command in self._link_auth_commands()]
            self.finish += [('source', command) for command in self._fence_commands()]
        elif self.fence == FENCE_MIN_REPLICAS and not self._final_min_replicas_fence_in_place():
            self.finish += [('source', command) for command in self._fence_commands()]
        if self.fence == FENCE_REPLICAOF:
            live = dict((config, self.source.config_get(config) or '0') for config in MIN_REPLICAS_CONFIGS)
            self.finish += [('source', command) for command in self._restore_commands_after_fence()
                            if live[command[2]] != command[3]]
        self.finish.append(('target', ('DEL', RECORD_KEY)))
        self.recovery = RECOVERY_COMPLETED
        if self.check_mode:
            for end, command in self.finish:
                self._log(end, *command)
        return self._result(changed=True, source_before=before, source_after=self._predicted_source_after())

    def _plan_source_stopped(self, exc):
        """Target primary and nothing listens at the source's address (a takeover shut it down, or it was stopped):
        it takes no writes there, which is all the cutover needs of it."""
        self.fence = FENCE_SHUTDOWN
        self.warn("Target %s is already a primary and source %s refuses connections (%s): nothing listens there, so "
                  "it takes no writes. Keep it from starting again as a primary." % (
                      self.target.endpoint, endpoint(self.source_host, self.source_port), exc.msg.rstrip('.')))
        view = role_view(None)
        return self._result(changed=False, source_before=view, source_after=view)

    def _final_min_replicas_fence_in_place(self):
        wanted = min_replicas_fence(self.source_status.get('connected_replicas'))
        return (int(self.source.config_get('min-replicas-to-write') or 0) >= wanted['to_write']
                and int(self.source.config_get('min-replicas-max-lag') or 0) > 0)

    def _plan_revert(self, reason):
        """Target still a replica but the pair cannot be cut over now (not in sync, ...): an interrupted cutover's
        guard and record are removed, which returns both ends to where they were before it."""
        self.revert_reason = reason
        self.recovery = RECOVERY_REVERTED
        self.method = METHOD_PAUSE
        self.fence = self.record.get('fence')
        for config in MIN_REPLICAS_CONFIGS:
            self.saved[config] = str(self.record[config])
        if self.check_mode:
            for command in self._restore_min_replicas_commands():
                self._log('source', *command)
            self._log('source', 'DEL', RECORD_KEY)
        return self._result(changed=True, source_before=role_view(self.source_status),
                            source_after=role_view(self.source_status))

    # -- run ----------------------------------------------------------------------------------------------------------
    def run(self):
        result = self.plan()
        if not result['changed']:
            return result
        if self.revert_reason is not None:
            if not self.check_mode:
                claim_operation(self.source, 'replicaof')
                self._lift_leftover_pause()
                self._revert_interrupted()
            raise self._reverted_error()
        if self.finish is None:
            self._check_fence_durable()
        if self.check_mode:
            return result
        # The target was claimed by the module; another kvmigrate operation on the source (a second cutover, a
        # rollback) must not overlap this one either.
        claim_operation(self.source, 'replicaof')
        self._lift_leftover_pause()
        if self.finish is not None:
            self._finish_interrupted()
            return self._result(changed=True, source_before=result['cutover']['source_before'],
                                source_after=self._source_after(), cutover_fields=self._check_writes_if_asked())
        # Bounded connections to both ends, opened before anything changes: nothing is dialled during the pause.
        self.fast_target = self._connect(self.target.host, self.target.port, 'target', self.params.get('login_user'),
                                         self.params.get('login_password'), bounded=True)
        self.fast_source = self._connect(self.source.host, self.source.port, 'source', self.source_user, self.source_password,
                                         SOURCE_OPTIONS, bounded=True)
        self.fast_target.identify()
        self.fast_source.identify()
        if self.method == METHOD_TAKEOVER:
            cutover = self._takeover()
        elif self.method == METHOD_FAILOVER:
            cutover = self._failover()
        else:
            cutover = self._pause()
            self._clean_up_after_pause()
        cutover.update(self._check_writes_if_asked())
        return self._result(changed=True, source_before=result['cutover']['source_before'],
                            source_after=self._source_after(), cutover_fields=cutover)

    def _lift_leftover_pause(self):
        """A cutover that died paused leaves its CLIENT PAUSE on the source for up to its fence_timeout_ms, and every
        write this run sends there (the record, a DEL) would wait behind it. The claim just taken proves no kvmigrate
        operation runs on the source any more, and the pause protects nothing by itself: the guard, set before any
        promotion, keeps the source from taking writes once the target has left. So a run that found the record of
        an interrupted cutover lifts it first."""
        if self.record is not None and (self.source_status or {}).get('role') == info_utils.ROLE_PRIMARY:
            self._send(self.source, 'source', 'CLIENT', 'UNPAUSE')

    def _check_fence_durable(self):
        """With persist, a restarted source must come back fenced: refuse, before anything changes, where its fence
        cannot be saved. The CONFIG REWRITE sent here saves nothing the one after the cutover would not save too, and
        it is the only way to learn that the server may write its file (an ACL, the file's permissions); check mode
        reads config_file only."""
        if not self.params.get('persist') or self.fence not in (FENCE_REPLICAOF, FENCE_MIN_REPLICAS):
            return
        ok, reason = fence_durability(self.source.flavor, self.source.version, self.source.config_file())
        if ok and not self.check_mode:
            try:
                self._send(self.source, 'source', 'CONFIG', 'REWRITE')
            except KvmigrateError as exc:
                ok, reason = False, 'CONFIG REWRITE failed there (%s)' % exc.msg.rstrip('.')
        if not ok:
            raise CutoverError(
                "Source %s cannot keep its fence (%s) across a restart: %s. Nothing was changed. Start the source "
                "with a configuration file it may rewrite, or set %s: false (promote_persist or rollback_persist in the "
                "playbooks) to accept a fence that a restart undoes." % (
                    self.source.endpoint, self.fence, reason, option_label(self.params, 'persist')))

    def _check_writes_if_asked(self):
        return self._check_writes() if self.params.get('check_writes', True) else {}

    def _check_writes(self):
        """After the cutover: the new primary takes a write and the fenced source refuses one. Saves the two extra
        module runs a playbook would spend on it; a source that still takes writes fails the module loudly (the
        promotion stands: the target has every acknowledged write, but clients left on the source would lose theirs).
        Only the server's READONLY or NOREPLICAS counts as a refusal; no answer proves nothing and fails too."""
        target_probe = probe_utils.probe_write(self.target)
        source_probe = None
        if self.method != METHOD_TAKEOVER:  # a taken-over Dragonfly primary has shut down
            source_probe = probe_utils.probe_write(self.source)
        target_ok = {probe_utils.ACCEPTED: True, probe_utils.REFUSED: False}.get(target_probe['outcome'])
        source_refuses = None if source_probe is None else {
            probe_utils.ACCEPTED: False, probe_utils.REFUSED: True}.get(source_probe['outcome'])
        checks = dict(target_accepts_writes=target_ok, source_refuses_writes=source_refuses)
        if target_ok is not True:
            problem = ('the new primary refused a test write (%s)' % target_probe['error'] if target_ok is False
                       else 'the new primary did not answer a test write (%s)' % target_probe['error'])
            fix = 'target'
        elif source_refuses is False:
            problem, fix = 'the source still accepts writes (its fence did not hold)', 'source'
        elif source_probe is not None and source_refuses is None:
            problem = ('no answer shows that the source refuses writes (%s); only READONLY or NOREPLICAS does'
                       % source_probe['error'])
            fix = 'source'
        else:
            return checks
        raise CutoverError(
            "Cutover of %s finished, but %s. The target holds every write the source acknowledged; check the %s "
            "before sending clients anywhere." % (self._where(), problem.rstrip('.'), fix),
            cutover=dict(self._result(True, None, None)['cutover'], **checks))

    def _pause(self):
        undo = []
        paused = False
        recorded = False
        promotion_sent = False
        started = self.clock()
        pause_ms = None
        try:
            if self._link_auth_commands():
                undo.append(('source', self._restore_link_auth))
            for command in self._link_auth_commands():
                self._send(self.source, 'source', *command)
            recorded = True  # before sending, like every step below: a reply lost to a timeout may hide a change
            self._send(self.source, 'source', 'SET', RECORD_KEY, self._record_text(), 'PX', RECORD_TTL_MS)

            started = self.clock()
            paused = True
            self._send(self.fast_source, 'source', 'CLIENT', 'PAUSE', self.fence_timeout_ms, 'WRITE')
            paused_status = self.fast_source.replication()
            source_offset = paused_status.get('primary_offset')
            self.offsets['source_offset'] = source_offset
            self.guard = guard_values(paused_status, info_utils.replica_entry(paused_status, self.target_addresses,
                                                                              self.target.port))
            # Each undo is registered before its step. Undoing a step that did not happen is harmless: each undo
            # looks before it acts.
            undo.append(('source', self._restore_min_replicas))
            for command in self._guard_commands(self.guard):
                self._send(self.fast_source, 'source', *command)
            self._wait_for_target(paused_status, started + self.wait_seconds)

            undo.append(('target', self._undo_promotion))
            promotion_sent = True
            self._send(self.fast_target, 'target', 'REPLICAOF', 'NO', 'ONE')
            if self.clock() - started >= self.fence_timeout_ms / 1000.0 * PROMOTION_DEADLINE_SHARE:
                self._check_late_promotion(started)
            undo.append(('source', self._undo_fence))
            for command in self._fence_commands():
                self._send(self.fast_source, 'source', *command)
            if self.clock() - started >= self.fence_timeout_ms / 1000.0:
                # Harmless since the guard: from the promotion on, the source refused every write (-NOREPLICAS) by
                # itself, and clients that moved to the target on that refusal must not lose what they wrote there.
                self.warn("The fence of source %s landed %.0f ms after CLIENT PAUSE, beyond fence_timeout_ms=%d; the "
                          "guard refused writes on the source meanwhile, so none was lost. Raise fence_timeout_ms if "
                          "this repeats." % (self.source.endpoint, (self.clock() - started) * 1000, self.fence_timeout_ms))
            self._send(self.fast_source, 'source', 'CLIENT', 'UNPAUSE')
            paused = False
            pause_ms = round((self.clock() - started) * 1000.0, 3)
        except BaseException as exc:  # pylint: disable=broad-except
            if promotion_sent and not isinstance(exc, LatePromotionError) and self._target_may_be_primary():
                # The target is a writable primary, and clients the guard turned away from the source may already
                # have written to it: turning it back into a replica would discard those writes. Go no further back:
                # the guard keeps the source refusing writes, the record stays for a re-run to complete the cutover.
                if paused:
                    paused = not self._unpause()
                if not isinstance(exc, Exception):
                    raise
                raise self._held_failure(exc)
            # Before the promotion, any failure, even a bug, and any interruption (Ctrl-C, SystemExit, Ansible's task
            # timeout) unwinds before the pause is lifted; the record goes after it (a DEL would wait for the pause).
            # An interruption is raised again once the undo has run.
            self._unwind(undo)
            if paused:
                paused = not self._unpause()
            if recorded:
                self._unwind([('source', self._delete_record)])
            if not isinstance(exc, Exception):
                raise
            raise self._failure(exc)
        finally:
            if paused:
                self._unpause()
        return dict(pause_ms=pause_ms, waited_ms=self.offsets.pop('waited_ms', None),
                    guard=dict(min_replicas_to_write=self.guard['to_write'], min_replicas_max_lag=self.guard['max_lag']))

    def _target_may_be_primary(self):
        """After REPLICAOF NO ONE was sent: False only when the target is seen to be a replica still."""
        try:
            return self.target.replication().get('role') != info_utils.ROLE_REPLICA
        except Exception:  # pylint: disable=broad-except
            return True  # unknown: keep the guard; the source refusing writes is safe, two primaries are not

    def _held_failure(self, exc):
        cause = getattr(exc, 'msg', None) or '%s (%s)' % (exc, type(exc).__name__)
        return CutoverError(
            "Cutover of %s failed after the target was promoted: %s The target is the primary now and may already hold "
            "writes, so it stays the primary (making it a replica again would discard them). The source refuses writes "
            "(its guard, min-replicas-to-write) and keeps record %s: fix the cause and run the same task again, which "
            "completes the cutover (cutover.recovery: completed). (source offset %s, target offset %s)" % (
                self._where(), cause.rstrip('.') + '.', RECORD_KEY, self.offsets.get('source_offset'),
                self.offsets.get('target_offset')),
            cutover=self._failure_details(undone=False, held=True, undo=list(self.undo_log)))

    def _failure_details(self, undone, held, undo):
        """The ``cutover`` dictionary of a failed cutover: what was tried, the offsets seen and what was undone."""
        return dict(method=self.method, fence=self.fence, source=endpoint(self.source_host, self.source_port),
                    source_offset=self.offsets.get('source_offset'), target_offset=self.offsets.get('target_offset'),
                    target_offset_source=self.offsets.get('target_offset_source'), undone=undone, held=held,
                    undo=undo, commands=list(self.commands), recovery=self.recovery)

    def _unpause(self):
        try:
            self._send(self.source, 'source', 'CLIENT', 'UNPAUSE')
            return True
        except KvmigrateError:
            return False  # the server lifts the pause itself after fence_timeout_ms

    def _check_late_promotion(self, started):
        """The promotion was acknowledged so late that the pause may have ended before the source saw the target
        leave: it may have taken writes the target never got. Go on only if the offsets prove it did not."""
        dummy, target_fields, dummy = self.fast_target.status()
        source_now = self.fast_source.replication()
        if promotion_lost_nothing(source_now.get('primary_offset'), target_fields.get('second_repl_offset')):
            return
        raise LatePromotionError(
            "The promotion of target %s was acknowledged %.0f ms after CLIENT PAUSE, too close to fence_timeout_ms=%d, "
            "and the source's offset %s is past the target's %s at its promotion: the source may have taken writes "
            "the target does not have. Raise fence_timeout_ms." % (
                self.target.endpoint, (self.clock() - started) * 1000, self.fence_timeout_ms,
                source_now.get('primary_offset'), target_fields.get('second_repl_offset')))

    def _clean_up_after_pause(self):
        """After a cutover that ended: the source's own min-replicas-* back (replicaof_target fence) and the record
        gone from the new primary. The cutover already holds; a failure here is a warning a re-run clears up."""
        try:
            for command in self._restore_commands_after_fence():
                self._send(self.source, 'source', *command)
            self._send(self.target, 'target', 'DEL', RECORD_KEY)
        except KvmigrateError as exc:
            self.warn("The cutover of %s is complete, but cleaning up after it failed: %s Run the same task again to "
                      "finish the clean-up (key %s, the source's min-replicas-*)." % (self._where(), exc.msg, RECORD_KEY))

    def _wait_for_target(self, paused_status, deadline):
        """Poll the target until it has applied the paused source's offset, or fail at ``deadline``."""
        source_offset = paused_status.get('primary_offset')
        addresses = self.target_addresses or resolve(self.target.host)
        source_status = paused_status
        began = self.clock()
        while True:
            status = self.fast_target.replication()
            lag = info_utils.replica_lag(source_status, status, addresses, self.target.port)
            if lag['offset_source'] != 'replica':
                # Only the source's ack of the target is usable (Dragonfly < v1.39): read it fresh.
                source_status = self.fast_source.replication()
                lag = info_utils.replica_lag(source_status, status, addresses, self.target.port)
            self.offsets.update(target_offset=lag['replica_offset'], target_offset_source=lag['offset_source'])
            if caught_up(source_offset, lag['replica_offset']):
                self.offsets['waited_ms'] = round((self.clock() - began) * 1000.0, 3)
                return
            if status.get('role') != info_utils.ROLE_REPLICA or not status.get('link_up'):
                raise CutoverError("Target %s lost its link to the source while the source was paused (role %s, link %s)."
                                   % (self.target.endpoint, status.get('role'), status.get('link_status')))
            if self.clock() >= deadline:
                raise CutoverError("Target %s did not catch up with source %s within %.0f ms (%d%% of fence_timeout_ms=%d): "
                                   "source offset %s, target offset %s (%s)." % (
                                       self.target.endpoint, self.source.endpoint, self.wait_seconds * 1000,
                                       WAIT_SHARE * 100, self.fence_timeout_ms, source_offset, lag['replica_offset'],
                                       lag['offset_source'] or 'no offset reported'))
            self.sleep(POLL_SLEEP)

    def _failover(self):
        """Redis FAILOVER: the source pauses, waits for the target, hands over and becomes its replica. It runs inside
        the server: once sent, it completes or aborts by itself whatever happens to the module."""
        host, port = self.target_seen_at
        undo = [('source', self._restore_link_auth)] if self._link_auth_commands() else []
        sent = False
        try:
            for command in self._link_auth_commands():
                self._send(self.source, 'source', *command)
            sent = True  # before sending: a lost reply may hide a failover that started
            self._send(self.source, 'source', 'FAILOVER', 'TO', host, port, 'TIMEOUT', self.fence_timeout_ms)
            started = self.clock()
            deadline = started + self.fence_timeout_ms / 1000.0 + 5.0
            while True:
                status = self.source.replication()
                if status.get('failover_state') in (None, 'no-failover'):
                    break
                if self.clock() >= deadline:
                    self._send(self.source, 'source', 'FAILOVER', 'ABORT')
                    status = self.source.replication()
                    break
                self.sleep(POLL_SLEEP)
        except BaseException as exc:  # pylint: disable=broad-except
            # A failover that may be under way is aborted, unless it already handed over; the link credentials are
            # put back only if the source did not become the target's replica (it needs them then).
            if sent and not self._abort_failover():
                undo = []
            self._unwind(undo)
            if not isinstance(exc, Exception):
                raise
            raise self._failure(exc)
        pause_ms = round((self.clock() - started) * 1000.0, 3)
        target_status = self.target.replication()
        if status.get('role') != info_utils.ROLE_REPLICA or target_status.get('role') != info_utils.ROLE_PRIMARY:
            self.offsets.update(source_offset=status.get('primary_offset'), target_offset=target_status.get('replica_offset'))
            self._unwind(undo)
            reason = CutoverError(
                "FAILOVER TO %s did not complete within fence_timeout_ms=%d: the source aborted it and stays primary."
                % (endpoint(host, port), self.fence_timeout_ms))
            raise self._failure(reason)
        self.offsets.update(source_offset=status.get('primary_offset'), target_offset=target_status.get('primary_offset'),
                            target_offset_source='target_primary')
        return dict(pause_ms=pause_ms, waited_ms=None)

    def _abort_failover(self):
        """FAILOVER ABORT after an interruption. True when the source stays primary (aborted, or never started),
        False when it already handed over to the target."""
        try:
            self._send(self.source, 'source', 'FAILOVER', 'ABORT')
        except KvmigrateError:
            pass  # "No failover in progress": it ended, one way or the other
        try:
            status = self.source.replication()
        except KvmigrateError:
            return True
        return status.get('role') != info_utils.ROLE_REPLICA

    def _takeover_seconds(self):
        return max(1, -(-self.fence_timeout_ms // 1000))

    def _takeover(self):
        """Dragonfly REPLTAKEOVER: the target takes over and the old primary shuts down (facts file, REPLTAKEOVER).
        It runs inside the servers; an interrupted module leaves nothing of its own to undo."""
        seconds = self._takeover_seconds()
        started = self.clock()
        try:
            # Dragonfly may take the whole timeout to drain the old primary, then as long again plus a margin to
            # promote (src/server/replica.cc, TakeOver): a shorter bound reports a takeover that succeeds as failed.
            self._send(self.target, 'target', 'REPLTAKEOVER', seconds, timeout=TAKEOVER_TIMEOUT_FACTOR * seconds +
                       TAKEOVER_TIMEOUT_MARGIN)
        except KvmigrateError as exc:
            raise self._takeover_failure(exc)
        pause_ms = round((self.clock() - started) * 1000.0, 3)
        self.warn(SHUTDOWN_FENCE_NOTE % endpoint(self.source_host, self.source_port))
        return dict(pause_ms=pause_ms, waited_ms=None, fence_durable=False)

    def _role_now(self, server):
        """``primary``/``replica`` as the server says now, or None when it does not answer."""
        try:
            status = server.replication()
        except KvmigrateError:
            return None
        return status.get('role')

    def _takeover_failure(self, exc):
        """What a failed or unanswered REPLTAKEOVER left, read again from both ends: a reply lost to a client timeout
        says nothing about what the servers did."""
        target_role, source_role = self._role_now(self.target), self._role_now(self.source)
        source = endpoint(self.source_host, self.source_port)
        undone = False
        if target_role == info_utils.ROLE_REPLICA and source_role == info_utils.ROLE_PRIMARY:
            undone = True
            outcome = ("Nothing changed: source %s is still the writable primary and the target its replica (Dragonfly "
                       "started the target's journal for the takeover even so; it is harmless). Fix the cause and run the "
                       "task again." % source)
        elif target_role == info_utils.ROLE_PRIMARY and source_role is None:
            outcome = ("Yet the takeover happened: the target is now the primary and source %s no longer answers; "
                       "point clients at the target, and keep the source stopped (SHUTDOWN NOSAVE is no durable fence)."
                       % source)
        elif target_role == info_utils.ROLE_PRIMARY:
            outcome = ("Both ends may take writes now (target primary, source %s %s): stop the source at once, then "
                       "check which writes each took." % (source, source_role))
        else:
            outcome = ("The outcome is unknown (target %s, source %s %s): check both ends before anything else." % (
                target_role or 'not answering', source, source_role or 'not answering'))
        return CutoverError(
            "Cutover of %s failed: REPLTAKEOVER: %s %s" % (self._where(), exc.msg.rstrip('.') + '.', outcome),
            cutover=dict(method=self.method, fence=self.fence, source=source, source_offset=None, target_offset=None,
                         target_offset_source=None, undone=undone, undo=[], commands=list(self.commands),
                         recovery=self.recovery, target_role_after=target_role, source_role_after=source_role))

    # -- re-run after an interruption -----------------------------------------------------------------------------------
    def _finish_interrupted(self):
        """Target promoted, source held by the guard (or already fenced): apply the fence, put the source's
        min-replicas-* back, delete the record. Every step is safe to repeat."""
        try:
            for end, command in self.finish:
                self._send(self.source if end == 'source' else self.target, end, *command)
        except KvmigrateError as exc:
            raise CutoverError(
                "Finishing the interrupted cutover of %s failed: %s The source still refuses writes; run the task "
                "again." % (self._where(), exc.msg), cutover=self._result(True, None, None)['cutover'])

    def _restore_min_replicas_commands(self):
        return [('CONFIG', 'SET', config, self.saved[config]) for config in MIN_REPLICAS_CONFIGS
                if (self.source.config_get(config) or '0') != self.saved[config]]

    def _revert_interrupted(self):
        """The guard comes off the source and the record goes: both ends as before the interrupted cutover."""
        try:
            for command in self._restore_min_replicas_commands():
                self._send(self.source, 'source', *command)
            self._send(self.source, 'source', 'DEL', RECORD_KEY)
        except KvmigrateError as exc:
            raise CutoverError("Reverting the interrupted cutover of %s failed: %s Run the task again." % (
                self._where(), exc.msg), cutover=self._result(True, None, None)['cutover'])

    def _reverted_error(self):
        done = 'would put' if self.check_mode else 'put'
        return CutoverError(
            "An interrupted cutover of %s cannot be completed now: %s This run %s both ends back as they were before "
            "it (the source's min-replicas-* restored, record %s deleted); fix the cause and run the task again." % (
                self._where(), self.revert_reason.msg.rstrip('.') + '.', done, RECORD_KEY),
            cutover=self._result(not self.check_mode, role_view(self.source_status), role_view(self.source_status))['cutover'])

    # -- undo ---------------------------------------------------------------------------------------------------------
    def _restore_link_auth(self):
        for config in ('masteruser', 'masterauth'):
            if self.saved.get(config) is not None:
                self._send(self.source, 'source', 'CONFIG', 'SET', config, self.saved[config])

    # Undo steps look before they act: a step whose reply was lost may or may not have happened, and one the
    # server refused did not, so each puts back only what it finds changed.
    def _undo_promotion(self):
        """The target goes back to replicating from the source (a full sync: its replication id changed)."""
        status = self.target.replication()
        if status.get('role') == info_utils.ROLE_REPLICA:
            return
        self._send(self.target, 'target', 'REPLICAOF', self.target_status.get('primary_host'),
                   str(self.target_status.get('primary_port')))

    def _undo_fence(self):
        if self.fence == FENCE_REPLICAOF:
            status = self.source.replication()
            if status.get('role') == info_utils.ROLE_REPLICA:
                self._send(self.source, 'source', 'REPLICAOF', 'NO', 'ONE')
            return
        self._restore_min_replicas()

    def _restore_min_replicas(self):
        for command in self._restore_min_replicas_commands():
            self._send(self.source, 'source', *command)

    def _delete_record(self):
        if self.source.call('GET', RECORD_KEY) is not None:
            self._send(self.source, 'source', 'DEL', RECORD_KEY)

    def _unwind(self, undo):
        """Run the undo steps newest first, adding each to ``undo_log`` (failed ones to ``undo_failed``). Uses the
        long-timeout connections."""
        for end, step in reversed(undo):
            name = step.__name__.lstrip('_').replace('_', ' ')
            try:
                step()
                self.undo_log.append('%s: %s' % (end, name))
            except Exception as exc:  # keep unwinding: every other step must still run
                self.undo_failed.append('%s: %s failed (%s)' % (end, name, getattr(exc, 'msg', exc)))

    def _failure(self, exc):
        failed = self.undo_failed
        cause = getattr(exc, 'msg', None) or '%s (%s)' % (exc, type(exc).__name__)
        if failed:
            outcome = ("The undo did NOT complete: %s. The source refuses writes while its guard is on; check both ends, "
                       "or run the task again to complete or revert the cutover." % '; '.join(failed))
        else:
            outcome = ("Everything was undone: the source is a writable primary again and the target is still its "
                       "replica.")
        return CutoverError(
            "Cutover of %s failed: %s %s (source offset %s, target offset %s)" % (
                self._where(), cause.rstrip('.') + '.', outcome, self.offsets.get('source_offset'),
                self.offsets.get('target_offset')),
            cutover=self._failure_details(undone=not failed, held=False, undo=self.undo_log + failed))

    # -- result -------------------------------------------------------------------------------------------------------
    def _source_after(self):
        if self.method == METHOD_TAKEOVER:
            return role_view(None)
        try:
            status = self.source.replication()
        except KvmigrateError:
            return dict(role='unknown', primary_host=None, primary_port=None, fence=self.fence)
        return dict(role_view(status), fence=self.fence)

    def _result(self, changed, source_before, source_after, cutover_fields=None):
        cutover = dict(
            method=self.method,
            fence=self.fence,
            source=endpoint(self.source_host, self.source_port) if self.source_host else None,
            pause_ms=None,
            waited_ms=None,
            source_offset=self.offsets.get('source_offset'),
            target_offset=self.offsets.get('target_offset'),
            target_offset_source=self.offsets.get('target_offset_source'),
            source_role_after=(source_after or {}).get('role'),
            source_before=source_before,
            source_after=source_after,
            recovery=self.recovery,
            commands=list(self.commands),
        )
        cutover.update(cutover_fields or {})
        return dict(changed=changed, cutover=cutover)

    def close(self):
        for server in (self.fast_source, self.fast_target, self.source):
            if server is not None:
                server.close()
