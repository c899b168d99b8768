# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cutover policy: the pure decisions of the fenced cutover, apart from the state machine that applies them
(``cutover.py``). Which method and fence a pair of servers gets, the time budget inside the pause, the values that
fence or guard a source, and the record an interrupted cutover leaves on the servers. Nothing here talks to a server.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError, validate_port

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

# Shares of fence_timeout_ms. The guard and the catch-up wait may use WAIT_SHARE of it; every
# command sent while the source is paused is bounded by COMMAND_SHARE. The last
# poll, the promotion and the fence (3 commands) then still land before the
# server lifts the pause on its own: 0.4 + 3 * 0.15 < 1.
WAIT_SHARE = 0.4
COMMAND_SHARE = 0.15
MIN_FENCE_TIMEOUT_MS = 100
POLL_SLEEP = 0.0002
# The guard (method pause): before the promotion the source is told to need as many good replicas as it has,
# target included, so that it refuses writes by itself the moment the target leaves it, whether or not the module
# lives to send the fence. Replicas ACK every second: a lag of 2 s never drops a healthy one, and a link that dies
# without a TCP close stops counting within about 3 s.
GUARD_MAX_LAG = 2
# The promotion must be acknowledged with at least one command's share of the pause left: the source must see the
# target leave (its link closes) before the pause can end, or it could take writes the target never gets.
PROMOTION_DEADLINE_SHARE = 1.0 - COMMAND_SHARE
# What an interrupted cutover needs to be finished or undone by a re-run, kept on the servers (a key written to the
# source before the guard, so the target holds a copy from its replication). Deleted when the cutover ends.
RECORD_KEY = 'kvmigrate:cutover'
RECORD_TTL_MS = 7 * 24 * 3600 * 1000
RECORD_VERSION = 1
MIN_REPLICAS_CONFIGS = ('min-replicas-to-write', 'min-replicas-max-lag')
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
    source_caps = flavors.capabilities(source_flavor, source_version)
    target_caps = flavors.capabilities(target_flavor, target_version)
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
    target = _name(target_flavor, target_version)
    if method == METHOD_TAKEOVER:
        if requested != FENCE_AUTO:
            raise CutoverError("fence_mode=%s does not apply to cutover_method=takeover: the old Dragonfly primary shuts "
                               "itself down. Leave fence_mode at auto." % requested)
        return FENCE_SHUTDOWN
    target_psync = flavors.capabilities(target_flavor, target_version)['psync']
    # Can the source become the target's replica? (The reverse of the migration's direction.)
    back_ok, back_reason = flavors.replication_compatibility(
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


def check_catch_up_budget(method, source_flavor, source_version, target_flavor, target_version, fence_timeout_ms,
                          target_endpoint):
    """Refuse a pause whose catch-up wait is shorter than the target needs to show that it caught up.

    A Dragonfly target before v1.39 under a Redis-family source is seen only through the source's ``slaveN offset=``,
    which it refreshes through REPLCONF ACK once a second and not on GETACK: a shorter wait times out however fast
    the target applies, after holding every client's writes for nothing."""
    if method != METHOD_PAUSE:
        return
    floor_ms = flavors.pause_catch_up_floor_ms(source_flavor, source_version, target_flavor, target_version)
    wait_ms = fence_timeout_ms * WAIT_SHARE
    if wait_ms >= floor_ms:
        return
    needed = int(-(-floor_ms // WAIT_SHARE))
    raise CutoverError(
        "Target %s runs %s, which acknowledges its replication offset to the source only every %d ms (REPLCONF ACK; it "
        "ignores GETACK), so the catch-up wait of %d ms that fence_timeout_ms=%s allows cannot see the last write "
        "arrive: nothing was changed. Set fence_timeout_ms to at least %d, or upgrade the target to Dragonfly v1.39+, "
        "which reports its own offset." % (
            target_endpoint, _name(target_flavor, target_version), flavors.DRAGONFLY_ACK_INTERVAL_MS, int(wait_ms),
            fence_timeout_ms, needed))


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


def fence_durability(flavor, version, config_file):
    """Can a fence set on this source survive a restart? ``(ok, reason)``; ``reason`` is None when ok, else the cause
    in words (no host, no fix: callers add them). A fence is a REPLICAOF or CONFIG SET, which only CONFIG REWRITE
    makes durable, and CONFIG REWRITE needs the configuration file the server was started with."""
    saveable, reason = flavors.persist_support(flavor, version)
    if not saveable:
        return False, reason.rstrip('.')
    if not config_file:
        return False, ("it runs without a configuration file (INFO server config_file is empty), so CONFIG REWRITE "
                       "cannot save its fence and a restart brings it back as a writable primary with stale data")
    return True, None


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


def good_replicas(status, max_lag):
    """Replicas a Redis-family primary counts for ``min-replicas-to-write`` with ``min-replicas-max-lag`` =
    ``max_lag``: online, and acknowledged within ``max_lag`` seconds."""
    count = 0
    for entry in (status or {}).get('replicas') or []:
        lag = entry.get('lag')
        if entry.get('state') == 'online' and lag is not None and int(lag) <= max_lag:
            count += 1
    return count


def guard_values(paused_status, target_entry):
    """The ``min-replicas-*`` values that keep the source writable while the target replicates from it and make it
    refuse writes (-NOREPLICAS) once the target leaves: every good replica other than the target, plus one.

    When the target is not among the good replicas (or was not found), that count is already short by one and the
    source refuses writes at once: safe, because writes are held anyway until the target is promoted."""
    others = good_replicas(paused_status, GUARD_MAX_LAG)
    if target_entry is not None and good_replicas(dict(replicas=[target_entry]), GUARD_MAX_LAG):
        others -= 1
    return dict(to_write=others + 1, max_lag=GUARD_MAX_LAG)


def encode_record(**fields):
    """The record's text: JSON with sorted keys (no secret goes in it: only roles, addresses and settings)."""
    fields['version'] = RECORD_VERSION
    return json.dumps(fields, sort_keys=True, separators=(',', ':'))


def decode_record(text):
    """The record as a dict, or None when there is none or it is not one this collection wrote."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get('version') != RECORD_VERSION:
        return None
    return record


def promotion_lost_nothing(source_offset_now, target_second_offset):
    """True when a target promoted after the pause may have ended still holds everything the source ever wrote: the
    source's offset now (it refuses writes since the target left) is not past the offset the target had when it was
    promoted (``second_repl_offset`` - 1 on Redis and Valkey)."""
    if source_offset_now is None or target_second_offset is None or int(target_second_offset) <= 0:
        return False
    return int(source_offset_now) <= int(target_second_offset) - 1
