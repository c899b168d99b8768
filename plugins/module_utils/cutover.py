# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fenced promotion: one state machine that moves the primary role from a
source to its replica (the target) without losing an acknowledged write, and
undoes itself when it cannot finish.

Methods (``choose_method``):

* ``pause``: ``CLIENT PAUSE <fence_timeout_ms> WRITE`` on the source, read its
  ``master_repl_offset`` once, wait until the target has applied at least that
  much, ``REPLICAOF NO ONE`` on the target, fence the source, ``CLIENT UNPAUSE``.
  A paused source still PINGs its replicas, so its offset can grow without
  data; the target only has to reach the offset read after the pause (facts
  file, CLIENT PAUSE caveat).
* ``failover``: Redis/Valkey ``FAILOVER TO <target> TIMEOUT <ms>``: the source
  does the same inside the server and ends as a replica of the target.
* ``takeover``: Dragonfly ``REPLTAKEOVER`` on the target; the old primary shuts
  itself down once the target has everything.

Fences (``choose_fence``), applied before the pause is lifted so that a write
retried against the old primary fails loudly instead of being lost:

* ``replicaof_target``: the source becomes a read-only replica of the target
  (``-READONLY``); it is also the rollback path. Needs a target that can be a
  primary for the source (PSYNC, and an RDB version the source loads).
* ``min_replicas``: ``min-replicas-to-write`` above the source's replica count,
  so every write gets ``-NOREPLICAS`` (Dragonfly targets, or a source that
  could not load the target's RDB).

Every change is pushed on an undo stack; if any step fails (or the target does
not catch up in time) the stack is unwound and the pause is lifted in a
``finally``: no in-between state survives a failure.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, claim_operation, connect, endpoint, resolve, same_endpoint, validate_port)

METHOD_AUTO = 'auto'
METHOD_PAUSE = 'pause'
METHOD_FAILOVER = 'failover'
METHOD_TAKEOVER = 'takeover'
METHODS = (METHOD_AUTO, METHOD_PAUSE, METHOD_FAILOVER, METHOD_TAKEOVER)

FENCE_AUTO = 'auto'
FENCE_REPLICAOF = 'replicaof_target'
FENCE_MIN_REPLICAS = 'min_replicas'
FENCE_SHUTDOWN = 'shutdown'
FENCE_MODES = (FENCE_AUTO, FENCE_REPLICAOF, FENCE_MIN_REPLICAS)

# min-replicas-to-write set on a fenced source: far above any real replica count.
FENCE_REPLICAS_TO_WRITE = 1000
# min-replicas-max-lag must be non-zero for min-replicas-to-write to be enforced.
FENCE_REPLICAS_MAX_LAG = 10

# Shares of fence_timeout_ms. The catch-up wait may use WAIT_SHARE of it; every
# command sent while the source is paused is bounded by COMMAND_SHARE. The last
# poll, the promotion and the fence (3 commands) then still land before the
# server lifts the pause on its own: 0.4 + 3 * 0.15 < 1.
WAIT_SHARE = 0.4
COMMAND_SHARE = 0.15
MIN_FENCE_TIMEOUT_MS = 100
POLL_SLEEP = 0.0002
# check_writes: the probe key (the same one kvmigrate.replication.write_check uses) and its expiry.
WRITE_CHECK_KEY = 'kvmigrate:write-check'
WRITE_CHECK_TTL_MS = 60000
# The source's address comes from source_host/source_port, its credentials from primary_user/primary_password.
SOURCE_OPTIONS = dict(user='primary_user', password='primary_password', host='source_host', port='source_port')


class CutoverError(KvmigrateError):
    """The cutover was refused or failed; ``details`` carries the offsets and what was undone."""


def cutover_argument_spec():
    """Options of the fenced cutover (documented in the replicaof module)."""
    return dict(
        fence_source=dict(type='bool', default=False),
        source_host=dict(type='str'),
        source_port=dict(type='int'),
        fence_timeout_ms=dict(type='int', default=5000),
        cutover_method=dict(type='str', default=METHOD_AUTO, choices=list(METHODS)),
        fence_mode=dict(type='str', default=FENCE_AUTO, choices=list(FENCE_MODES)),
        check_writes=dict(type='bool', default=True),
    )


def validate_cutover_params(params):
    """Checks that need no connection; bad combinations fail before anything is touched."""
    if not params.get('fence_source'):
        for option in ('source_host', 'source_port'):
            if params.get(option) is not None:
                raise CutoverError("Option %s only applies with fence_source=true: set fence_source: true or drop %s."
                                   % (option, option))
        for option, default in (('cutover_method', METHOD_AUTO), ('fence_mode', FENCE_AUTO)):
            if params.get(option, default) != default:
                raise CutoverError("Option %s=%s only applies with fence_source=true: set fence_source: true or drop %s."
                                   % (option, params[option], option))
        return
    if params.get('state') != 'primary':
        raise CutoverError("Option fence_source=true needs state=primary: the fenced cutover promotes the target. "
                           "Drop fence_source to make the target a replica.")
    if params.get('source_port') is not None:
        validate_port(params['source_port'], 'source_port')
    if params['fence_timeout_ms'] is None or params['fence_timeout_ms'] < MIN_FENCE_TIMEOUT_MS:
        raise CutoverError("Option fence_timeout_ms=%s is too short: use at least %d ms (the default is 5000)."
                           % (params['fence_timeout_ms'], MIN_FENCE_TIMEOUT_MS))


# --------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------

def _name(flavor, version):
    return '%s %s' % (flavor or 'redis', version or '(unknown version)')


def choose_method(source_flavor, source_version, target_flavor, target_version, requested=METHOD_AUTO):
    """The cutover method for this pair: ``pause``, ``failover`` or ``takeover``.

    ``auto`` picks the fastest zero-loss method: ``takeover`` for
    Dragonfly to Dragonfly (the only one a Dragonfly source supports: it has no
    replication offset to wait for), ``pause`` for a Redis-family source.
    Raises CutoverError with a sentence when the pair cannot do what was asked.
    """
    source_caps = info_utils.capabilities(source_flavor, source_version)
    target_caps = info_utils.capabilities(target_flavor, target_version)
    source, target = _name(source_flavor, source_version), _name(target_flavor, target_version)
    both_dragonfly = source_caps['repltakeover'] and target_caps['repltakeover']
    requested = requested or METHOD_AUTO

    if requested == METHOD_TAKEOVER or (requested == METHOD_AUTO and both_dragonfly):
        if not both_dragonfly:
            raise CutoverError("cutover_method=takeover needs Dragonfly at both ends (REPLTAKEOVER works only with a "
                               "Dragonfly primary); source is %s, target is %s. Use cutover_method=auto." % (source, target))
        return METHOD_TAKEOVER
    if source_flavor == info_utils.FLAVOR_DRAGONFLY:
        raise CutoverError("Source %s reports no replication offset, so only cutover_method=takeover (Dragonfly to "
                           "Dragonfly) can prove that no write is lost; %s=%s cannot." % (source, 'cutover_method', requested))
    if requested == METHOD_FAILOVER:
        if not (source_caps['failover_command'] and target_caps['failover_command']):
            raise CutoverError("cutover_method=failover needs FAILOVER (Redis 6.2+ or Valkey) at both ends; source is %s, "
                               "target is %s. Use cutover_method=pause or auto." % (source, target))
        return METHOD_FAILOVER
    if not source_caps['client_pause_write']:
        raise CutoverError("Source %s has no CLIENT PAUSE WRITE (Redis 6.2+), so writes cannot be held while the target "
                           "catches up and a zero-loss cutover is impossible. Upgrade the source to 6.2+, or promote "
                           "without fence_source (acknowledged writes made during the switch may be lost)." % source)
    return METHOD_PAUSE


def choose_fence(method, source_flavor, source_version, target_flavor, target_version, requested=FENCE_AUTO):
    """How the old primary is fenced: ``replicaof_target``, ``min_replicas`` or ``shutdown`` (takeover).

    ``auto`` prefers ``replicaof_target`` (read-only replica of the new primary,
    which is also the way back) where the target can be the source's primary:
    a Redis-family target whose RDB version the source loads. Otherwise
    ``min_replicas``.
    """
    requested = requested or FENCE_AUTO
    source, target = _name(source_flavor, source_version), _name(target_flavor, target_version)
    if method == METHOD_TAKEOVER:
        if requested != FENCE_AUTO:
            raise CutoverError("fence_mode=%s does not apply to cutover_method=takeover: the old Dragonfly primary shuts "
                               "itself down. Leave fence_mode at auto." % requested)
        return FENCE_SHUTDOWN
    target_psync = info_utils.capabilities(target_flavor, target_version)['psync']
    # Can the source become the target's replica? (The reverse of the migration's direction.)
    back_ok, back_reason = info_utils.replication_compatibility(
        source_flavor=target_flavor, source_version=target_version, target_flavor=source_flavor, target_version=source_version)
    if method == METHOD_FAILOVER:
        if requested == FENCE_MIN_REPLICAS:
            raise CutoverError("fence_mode=min_replicas does not apply to cutover_method=failover: FAILOVER always makes "
                               "the source a replica of the target. Use fence_mode=auto or cutover_method=pause.")
        if not back_ok:
            raise CutoverError("cutover_method=failover makes the source a replica of the target, but %s. Use "
                               "cutover_method=pause, which fences with min_replicas." % back_reason)
        return FENCE_REPLICAOF
    if requested == FENCE_MIN_REPLICAS:
        return FENCE_MIN_REPLICAS
    if requested == FENCE_REPLICAOF:
        if not target_psync:
            raise CutoverError("fence_mode=replicaof_target needs a target that can be a primary for the source; target "
                               "%s has no PSYNC. Use fence_mode=min_replicas or auto." % target)
        if not back_ok:
            raise CutoverError("fence_mode=replicaof_target would make the source a replica of the target, but %s. Use "
                               "fence_mode=min_replicas or auto." % back_reason)
        return FENCE_REPLICAOF
    if target_psync and back_ok:
        return FENCE_REPLICAOF
    return FENCE_MIN_REPLICAS


def caught_up(source_offset, target_offset):
    """True when the target has applied everything the paused source had (PING bytes may make it more)."""
    return source_offset is not None and target_offset is not None and int(target_offset) >= int(source_offset)


def budget(fence_timeout_ms):
    """(catch-up wait, per-command timeout) in seconds for a pause of ``fence_timeout_ms``."""
    seconds = fence_timeout_ms / 1000.0
    return seconds * WAIT_SHARE, seconds * COMMAND_SHARE


def min_replicas_fence(connected_replicas):
    """The ``min-replicas-*`` values that make a primary with ``connected_replicas`` refuse every write."""
    return dict(to_write=max(FENCE_REPLICAS_TO_WRITE, int(connected_replicas or 0) + 1), max_lag=FENCE_REPLICAS_MAX_LAG)


def fenced_by_min_replicas(to_write, max_lag, connected_replicas):
    """True when these settings make a primary refuse writes (``-NOREPLICAS``) whatever its replicas do."""
    to_write, max_lag = int(to_write or 0), int(max_lag or 0)
    return to_write > int(connected_replicas or 0) and max_lag > 0


def role_view(status, fence=None):
    """Role and primary of one end, as shown in ``before``/``after``/``diff``."""
    if status is None:
        return dict(role='stopped', primary_host=None, primary_port=None)
    view = dict(role=status.get('role'), primary_host=None, primary_port=None)
    if status.get('role') == info_utils.ROLE_REPLICA:
        view.update(primary_host=status.get('primary_host'), primary_port=status.get('primary_port'))
    if fence is not None:
        view['fence'] = fence
    return view


# --------------------------------------------------------------------------
# The state machine
# --------------------------------------------------------------------------

class Cutover(object):
    """Promote ``target`` (a connected Server, replica of the source) and fence its source.

    ``plan()`` reads both ends and decides (nothing is changed); ``run()``
    applies the plan unless in check mode. Both return the result fields the
    replicaof module returns.
    """

    def __init__(self, target, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, warn=None):
        self.target = target
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.warn = warn or (lambda msg: None)
        self.fence_timeout_ms = int(params['fence_timeout_ms'])
        self.wait_seconds, self.command_seconds = budget(self.fence_timeout_ms)
        self.source = None          # long-timeout connection: set-up and undo
        self.fast_source = None     # bounded connections: everything sent while the source is paused
        self.fast_target = None
        self.secrets = [s for s in (params.get('login_password'), params.get('primary_password')) if s]
        self.commands = []
        self.undo_log = []
        self.target_status = None
        self.source_status = None
        self.source_host = None
        self.source_port = None
        self.source_user = None
        self.source_password = None
        self.target_seen_at = None  # (host, port) of the target as the source sees it
        self.target_addresses = None  # every address the target may be listed by on the source
        self.method = None
        self.fence = None
        self.saved = {}
        self.offsets = dict(source_offset=None, target_offset=None, target_offset_source=None)

    # -- helpers ------------------------------------------------------------------------------------------------------
    def _log(self, end, *command):
        shown = ' '.join(str(part) for part in command)
        if command[:2] == ('CONFIG', 'SET') and str(command[2]) in ('masterauth', 'primaryauth'):
            shown = 'CONFIG SET %s ********' % command[2]
        self.commands.append('%s: %s' % (end, shown))

    def _send(self, server, end, *command):
        self._log(end, *command)
        return server.call(*command)

    def _where(self):
        return 'target %s, source %s' % (self.target.endpoint, endpoint(self.source_host, self.source_port))

    def _source_credentials(self):
        """primary_user/primary_password, else the credentials the target's replication link already uses."""
        user, password = self.params.get('primary_user'), self.params.get('primary_password')
        if password is None and user is None:
            user, password = self.target.link_credentials()
        if password:
            self.secrets.append(password)
        self.source_user, self.source_password = user, password
        return user, password

    def _connect(self, host, port, what, username=None, password=None, option_prefix='login_', bounded=False):
        return connect(self.params, host=host, port=port, username=username, password=password, what=what,
                       secrets=self.secrets, option_prefix=option_prefix,
                       command_timeout=max(self.command_seconds, 0.05) if bounded else None)

    # -- plan ---------------------------------------------------------------------------------------------------------
    def plan(self):
        """Read both ends, choose method and fence, and say what would change. Touches nothing."""
        params = self.params
        dummy, dummy, self.target_status = self.target.status()
        self.source_host = params.get('source_host') or self.target_status.get('primary_host')
        self.source_port = params.get('source_port') or self.target_status.get('primary_port')
        target_is_primary = self.target_status.get('role') == info_utils.ROLE_PRIMARY

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

        user, password = self._source_credentials()
        self.source = self._connect(self.source_host, self.source_port, 'source', user, password, SOURCE_OPTIONS)
        self.source.identify()
        dummy, dummy, self.source_status = self.source.status()

        if target_is_primary:
            return self._plan_already_promoted()
        self._check_pair()
        self.method = choose_method(self.source.flavor, self.source.version, self.target.flavor, self.target.version,
                                    params['cutover_method'])
        self.fence = choose_fence(self.method, self.source.flavor, self.source.version, self.target.flavor,
                                  self.target.version, params['fence_mode'])
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
        """Everything the fence changes is read now, so the undo can put it back (and a denied CONFIG fails here)."""
        if self.fence == FENCE_MIN_REPLICAS:
            self.saved['min-replicas-to-write'] = self.source.config_get('min-replicas-to-write') or '0'
            self.saved['min-replicas-max-lag'] = self.source.config_get('min-replicas-max-lag') or '0'
        if self.fence == FENCE_REPLICAOF:
            for option, config in (('login_user', 'masteruser'), ('login_password', 'masterauth')):
                wanted = self.params.get(option)
                if not wanted:
                    continue
                if config == 'masteruser' and not info_utils.capabilities(self.source.flavor, self.source.version)['masteruser']:
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
        self._log('source', 'CLIENT', 'PAUSE', self.fence_timeout_ms, 'WRITE')
        self._log('target', 'REPLICAOF', 'NO', 'ONE')
        for command in self._fence_commands():
            self._log('source', *command)
        self._log('source', 'CLIENT', 'UNPAUSE')

    def _fence_commands(self):
        if self.fence == FENCE_REPLICAOF:
            host, port = self.target_seen_at
            return [('REPLICAOF', host, str(port))]
        values = min_replicas_fence(self.source_status.get('connected_replicas'))
        return [('CONFIG', 'SET', 'min-replicas-max-lag', str(values['max_lag'])),
                ('CONFIG', 'SET', 'min-replicas-to-write', str(values['to_write']))]

    def _predicted_source_after(self):
        if self.fence == FENCE_SHUTDOWN:
            return role_view(None)
        if self.fence == FENCE_REPLICAOF:
            host, port = self.target_seen_at
            return dict(role=info_utils.ROLE_REPLICA, primary_host=host, primary_port=port, fence=self.fence)
        return dict(role_view(self.source_status), fence=self.fence)

    def _plan_already_promoted(self):
        """Target already primary: fine (changed=false) only if the source can no longer take writes."""
        status = self.source_status
        fence = None
        if status.get('role') == info_utils.ROLE_REPLICA and same_endpoint(
                status.get('primary_host'), status.get('primary_port'), self.target.host, self.target.port):
            fence = FENCE_REPLICAOF
        elif status.get('role') == info_utils.ROLE_REPLICA:
            entry = info_utils.replica_entry(self.target_status, resolve(self.source.host), self.source.port)
            if entry is not None:
                fence = FENCE_REPLICAOF  # the source reaches the target by another address and the target lists it
        elif status.get('role') == info_utils.ROLE_PRIMARY and fenced_by_min_replicas(
                self.source.config_get('min-replicas-to-write'), self.source.config_get('min-replicas-max-lag'),
                status.get('connected_replicas')):
            fence = FENCE_MIN_REPLICAS
        if fence is None:
            raise CutoverError(
                "Target %s is already a primary but source %s still accepts writes (role %s, not fenced): writes it took "
                "since the promotion are not on the target, so a zero-loss cutover is no longer possible. Stop writes to "
                "the source and compare the data, or make the target a replica of the source again (state=replica) and "
                "retry." % (self.target.endpoint, self.source.endpoint, status.get('role')))
        self.fence = fence
        view = dict(role_view(status), fence=fence)
        return self._result(changed=False, source_before=view, source_after=view)

    # -- run ----------------------------------------------------------------------------------------------------------
    def run(self):
        result = self.plan()
        if not result['changed'] or self.check_mode:
            return result
        # The target was claimed by the module; another kvmigrate operation on the source (a second cutover, a
        # rollback) must not overlap this one either.
        claim_operation(self.source, 'replicaof')
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
        if self.params.get('check_writes', True):
            cutover.update(self._check_writes())
        return self._result(changed=True, source_before=result['cutover']['source_before'],
                            source_after=self._source_after(), cutover_fields=cutover)

    def _check_writes(self):
        """After the pause: the new primary takes a write and the fenced source refuses one. Saves the two extra
        module runs a playbook would spend on it; a source that still takes writes fails the module loudly (the
        promotion stands: the target has every acknowledged write, but clients left on the source would lose theirs)."""
        token = '%.6f' % time.time()
        try:
            self.target.client.set(WRITE_CHECK_KEY, token, px=WRITE_CHECK_TTL_MS)
            target_ok = self.target.client.get(WRITE_CHECK_KEY) == token
        except Exception:  # the refusal itself is the finding
            target_ok = False
        source_refuses = None
        if self.method != METHOD_TAKEOVER:  # a taken-over Dragonfly primary has shut down
            try:
                self.source.client.set(WRITE_CHECK_KEY, token, px=WRITE_CHECK_TTL_MS)
                source_refuses = False
            except Exception:  # READONLY or NOREPLICAS: the fence holds
                source_refuses = True
        checks = dict(target_accepts_writes=target_ok, source_refuses_writes=source_refuses)
        if not target_ok or source_refuses is False:
            raise CutoverError(
                "Cutover of %s finished, but %s. The target holds every write the source acknowledged; check the %s "
                "before sending clients anywhere." % (
                    self._where(), 'the new primary refused a test write' if not target_ok
                    else 'the source still accepts writes (its fence did not hold)',
                    'target' if not target_ok else 'source'),
                cutover=dict(self._result(True, None, None)['cutover'], **checks))
        return checks

    def _pause(self):
        undo = []
        paused = False
        started = self.clock()
        pause_ms = None
        try:
            if self._link_auth_commands():
                undo.append(('source', self._restore_link_auth))
            for command in self._link_auth_commands():
                self._send(self.source, 'source', *command)

            started = self.clock()
            paused = True  # set before sending: a reply lost to a timeout may still have paused the source
            self._send(self.fast_source, 'source', 'CLIENT', 'PAUSE', self.fence_timeout_ms, 'WRITE')
            dummy, dummy, paused_status = self.fast_source.status()
            source_offset = paused_status.get('primary_offset')
            self.offsets['source_offset'] = source_offset
            self._wait_for_target(paused_status, started + self.wait_seconds)

            # Each undo is registered before its step: a reply lost to a timeout may hide a change that happened.
            # Undoing a step that did not happen is harmless (REPLICAOF to the current primary is a no-op).
            undo.append(('target', self._undo_promotion))
            self._send(self.fast_target, 'target', 'REPLICAOF', 'NO', 'ONE')
            undo.append(('source', self._undo_fence))
            for command in self._fence_commands():
                self._send(self.fast_source, 'source', *command)
            if self.clock() - started >= self.fence_timeout_ms / 1000.0:
                # The server may have lifted the pause before the fence landed: writes could have slipped in.
                raise CutoverError("The fence landed %.0f ms after CLIENT PAUSE, beyond fence_timeout_ms=%d: the source "
                                   "may have taken writes the target does not have." % (
                                       (self.clock() - started) * 1000, self.fence_timeout_ms))
            self._send(self.fast_source, 'source', 'CLIENT', 'UNPAUSE')
            paused = False
            pause_ms = round((self.clock() - started) * 1000.0, 3)
        except Exception as exc:  # any failure, even a bug, must unwind before the pause is lifted
            undone = self._unwind(undo)
            raise self._failure(exc, undone)
        finally:
            if paused:
                try:
                    self._send(self.source, 'source', 'CLIENT', 'UNPAUSE')
                except KvmigrateError:
                    pass  # the server lifts the pause itself after fence_timeout_ms
        return dict(pause_ms=pause_ms, waited_ms=self.offsets.pop('waited_ms', None))

    def _wait_for_target(self, paused_status, deadline):
        """Poll the target until it has applied the paused source's offset, or fail at ``deadline``."""
        source_offset = paused_status.get('primary_offset')
        addresses = self.target_addresses or resolve(self.target.host)
        source_status = paused_status
        began = self.clock()
        while True:
            dummy, dummy, status = self.fast_target.status()
            lag = info_utils.replica_lag(source_status, status, addresses, self.target.port)
            if lag['offset_source'] != 'replica':
                # Only the source's ack of the target is usable (Dragonfly < v1.39): read it fresh.
                dummy, dummy, source_status = self.fast_source.status()
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
        """Redis FAILOVER: the source pauses, waits for the target, hands over and becomes its replica."""
        host, port = self.target_seen_at
        undo = [('source', self._restore_link_auth)] if self._link_auth_commands() else []
        try:
            for command in self._link_auth_commands():
                self._send(self.source, 'source', *command)
            self._send(self.source, 'source', 'FAILOVER', 'TO', host, port, 'TIMEOUT', self.fence_timeout_ms)
        except Exception as exc:  # nothing may stay half-done, whatever failed
            raise self._failure(exc, self._unwind(undo))
        started = self.clock()
        deadline = started + self.fence_timeout_ms / 1000.0 + 5.0
        while True:
            dummy, dummy, status = self.source.status()
            if status.get('failover_state') in (None, 'no-failover'):
                break
            if self.clock() >= deadline:
                self._send(self.source, 'source', 'FAILOVER', 'ABORT')
                break
            self.sleep(POLL_SLEEP)
        pause_ms = round((self.clock() - started) * 1000.0, 3)
        dummy, dummy, target_status = self.target.status()
        if status.get('role') != info_utils.ROLE_REPLICA or target_status.get('role') != info_utils.ROLE_PRIMARY:
            self.offsets.update(source_offset=status.get('primary_offset'), target_offset=target_status.get('replica_offset'))
            undone = self._unwind(undo)
            reason = CutoverError(
                "FAILOVER TO %s did not complete within fence_timeout_ms=%d: the source aborted it and stays primary."
                % (endpoint(host, port), self.fence_timeout_ms))
            raise self._failure(reason, undone)
        self.offsets.update(source_offset=status.get('primary_offset'), target_offset=target_status.get('primary_offset'),
                            target_offset_source='target_primary')
        return dict(pause_ms=pause_ms, waited_ms=None)

    def _takeover_seconds(self):
        return max(1, -(-self.fence_timeout_ms // 1000))

    def _takeover(self):
        """Dragonfly REPLTAKEOVER: the target takes over and the old primary shuts down (facts file, REPLTAKEOVER)."""
        seconds = self._takeover_seconds()
        started = self.clock()
        try:
            self._send(self.target, 'target', 'REPLTAKEOVER', seconds)
        except KvmigrateError as exc:
            # Dragonfly answers "Takeover failed!" and the old primary resumes: nothing to undo here.
            raise self._failure(exc, ([], []))
        pause_ms = round((self.clock() - started) * 1000.0, 3)
        return dict(pause_ms=pause_ms, waited_ms=None)

    # -- undo ---------------------------------------------------------------------------------------------------------
    def _restore_link_auth(self):
        for config in ('masteruser', 'masterauth'):
            if self.saved.get(config) is not None:
                self._send(self.source, 'source', 'CONFIG', 'SET', config, self.saved[config])

    # Undo steps look before they act: a step whose reply was lost may or may not have happened, and one the
    # server refused did not, so each puts back only what it finds changed.
    def _undo_promotion(self):
        """The target goes back to replicating from the source (a full sync: its replication id changed)."""
        dummy, dummy, status = self.target.status()
        if status.get('role') == info_utils.ROLE_REPLICA:
            return
        self._send(self.target, 'target', 'REPLICAOF', self.target_status.get('primary_host'),
                   str(self.target_status.get('primary_port')))

    def _undo_fence(self):
        if self.fence == FENCE_REPLICAOF:
            dummy, dummy, status = self.source.status()
            if status.get('role') == info_utils.ROLE_REPLICA:
                self._send(self.source, 'source', 'REPLICAOF', 'NO', 'ONE')
            return
        for config in ('min-replicas-to-write', 'min-replicas-max-lag'):
            if (self.source.config_get(config) or '0') != self.saved[config]:
                self._send(self.source, 'source', 'CONFIG', 'SET', config, self.saved[config])

    def _unwind(self, undo):
        """Run the undo steps newest first; returns (done, failed) descriptions. Uses the long-timeout connections."""
        done, failed = [], []
        for end, step in reversed(undo):
            name = step.__name__.lstrip('_').replace('_', ' ')
            try:
                step()
                done.append('%s: %s' % (end, name))
            except Exception as exc:  # keep unwinding: every other step must still run
                failed.append('%s: %s failed (%s)' % (end, name, getattr(exc, 'msg', exc)))
        self.undo_log = done + failed
        return done, failed

    def _failure(self, exc, undone):
        dummy, failed = undone
        cause = getattr(exc, 'msg', None) or '%s (%s)' % (exc, type(exc).__name__)
        if failed:
            outcome = ("The undo did NOT complete: %s. Check both ends by hand before sending writes." % '; '.join(failed))
        else:
            outcome = ("Everything was undone: the source is a writable primary again and the target is still its "
                       "replica.")
        return CutoverError(
            "Cutover of %s failed: %s %s (source offset %s, target offset %s)" % (
                self._where(), cause.rstrip('.') + '.', outcome, self.offsets.get('source_offset'),
                self.offsets.get('target_offset')),
            cutover=dict(method=self.method, fence=self.fence, source=endpoint(self.source_host, self.source_port),
                         source_offset=self.offsets.get('source_offset'), target_offset=self.offsets.get('target_offset'),
                         target_offset_source=self.offsets.get('target_offset_source'), undone=not failed,
                         undo=list(self.undo_log), commands=list(self.commands)))

    # -- result -------------------------------------------------------------------------------------------------------
    def _source_after(self):
        if self.method == METHOD_TAKEOVER:
            return role_view(None)
        try:
            dummy, dummy, status = self.source.status()
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
            commands=list(self.commands),
        )
        cutover.update(cutover_fields or {})
        return dict(changed=changed, cutover=cutover)

    def close(self):
        for server in (self.fast_source, self.fast_target, self.source):
            if server is not None:
                server.close()
