# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting for a replica to be in sync: the wait options (doc fragment
``wait``) and the one polling loop the modules and roles share."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import plan as plan_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, endpoint, option_label, resolve, same_endpoint, source_endpoint, validate_port)


def wait_argument_spec():
    """Options of doc fragment ``wait``."""
    return dict(
        timeout=dict(type='float', default=3600.0),
        poll_interval=dict(type='float', default=0.1),
        max_lag_bytes=dict(type='int'),
        max_lag_seconds=dict(type='float'),
        stable_for=dict(type='float', default=0.0),
        link_down_timeout=dict(type='float', default=30.0),
    )


def validate_wait_params(params):
    # written as "not > 0" so that NaN, which compares false with everything, is refused too
    for option in ('timeout', 'poll_interval'):
        if params[option] is None or not params[option] > 0:
            raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (
                option_label(params, option), params[option]))
    for option in ('stable_for', 'link_down_timeout', 'max_lag_seconds', 'max_lag_bytes'):
        if params.get(option) is not None and not params[option] >= 0:
            raise KvmigrateError("Option %s=%s must not be negative." % (option_label(params, option), params[option]))
    if params.get('primary_port') is not None:
        validate_port(params['primary_port'], 'primary_port', params)


def key_count_problem(source_keys, target_keys, offset_gap, max_key_difference_ratio):
    """``key counts differ by N (allowed M)`` when the counts differ by more than ``max_key_difference_ratio`` of the
    source's keys (M rounded up), else None. Counts read at different offsets (``offset_gap`` above 0, see
    SyncWaiter._key_counts) differ by the writes in between, so they are not judged; an unknown gap (None) is.
    wait_for_sync's max_key_difference_ratio and the verify_problems filter both judge with it."""
    source_keys = int(source_keys or 0)
    difference = abs(source_keys - int(target_keys or 0))
    allowed = int(math.ceil(source_keys * float(max_key_difference_ratio)))
    if difference > allowed and offset_gap in (None, 0):
        return 'key counts differ by %d (allowed %d)' % (difference, allowed)
    return None


# Most (t, lag_bytes) samples a wait returns; past this, every other one is dropped and sampling slows down.
LAG_SAMPLES_MAX = 120
# The shortest bound for one reply near the end of the wait: an answer that takes longer is no answer.
MIN_READ_BOUND = 0.5
# Seconds between two looks at why a link is down (a login to the source, its ACL LOG), however short poll_interval.
DIAGNOSE_EVERY = 1.0
# The commands a replica's link sends to its primary, as the primary's ACL LOG names them when it refuses one.
LINK_COMMANDS = frozenset(('ping', 'auth', 'replconf', 'psync', 'sync'))
# A refused link retries at least once a second (replicationCron), so the ACL LOG entry it leaves is at most this old.
ACL_LOG_FRESH_SECONDS = 5.0
# Reads of both key counts, when live writes keep the source ahead, before the smallest offset gap is returned.
KEY_COUNT_ATTEMPTS = 10


# Full syncs of one target that may begin and be abandoned before the wait gives up: a source whose replica output
# buffer limit the snapshot overruns, or a Dragonfly that cannot load the RDB, retries for ever with the link down
# only about a second each time, so link_down_timeout never fires.
FULL_SYNC_RESTARTS_MAX = 3
# Dragonfly ROLE states of a replica that has not reached its full sync (src/server/server_family.cc, ROLE).
_DRAGONFLY_BEFORE_FULL_SYNC = ('preparation', 'connecting')


class _FinalError(KvmigrateError):
    """A reason to stop waiting at once: waiting longer cannot fix it."""


def acl_denials(log_reply, username, max_age=ACL_LOG_FRESH_SECONDS):
    """Entries of an ``ACL LOG`` reply in which the primary refused ``username`` a command of the replication link
    within the last ``max_age`` seconds. redis-py gives dicts; a raw RESP2 reply is a list of flat key/value lists."""
    found = []
    for entry in log_reply or []:
        if isinstance(entry, (list, tuple)):
            entry = dict(zip(entry[::2], entry[1::2]))
        if not isinstance(entry, dict):
            continue
        try:
            age = float(entry.get('age-seconds'))
        except (TypeError, ValueError):
            continue
        if entry.get('reason') == 'command' and str(entry.get('object', '')).lower() in LINK_COMMANDS \
                and entry.get('username') == username and age <= max_age:
            found.append(entry)
    return found


def link_alive(status, listed_by_source):
    """True while the replication link is up or a full sync is really under way.

    Redis 6.2 and 7.0 also report ``master_sync_in_progress:1`` during the handshake, and a link the source refuses
    (NOAUTH, NOPERM on PSYNC) redoes that handshake many times a second: counted as a sync, it kept the wait from ever
    seeing the link down. A sync is under way once the target has received snapshot bytes (or learnt their size), or
    once the source lists the target as a replica, which it does only after accepting its PSYNC/SYNC."""
    if status.get('link_up'):
        return True
    if not status.get('sync_in_progress'):
        return False
    return bool(status.get('sync_read_bytes') or status.get('sync_total_bytes') or listed_by_source)


def follows_primary(status, source_status, given_host, given_port, listed_by_source):
    """Whether a replica with ``status`` replicates from the given primary: True, False, or None while it cannot be
    told yet.

    The target's own master_host/master_port are compared by resolved address. Where the control node reaches the
    source at another address than the target does (NAT, network namespaces), the source listing the target as its
    replica, or the synced target sharing the source's replication id (a chained replica does too), also counts."""
    if same_endpoint(status.get('primary_host'), status.get('primary_port'), given_host, given_port):
        return True
    if source_status is None:
        return None
    if listed_by_source:
        return True
    if not status.get('synced'):
        return None
    source_replid, target_replid = source_status.get('replid'), status.get('replid')
    if not source_replid or not target_replid:
        return None
    return source_replid == target_replid


def replica_buffer_limit(config_value):
    """(hard bytes, soft bytes, soft seconds) of the replica class in a ``CONFIG GET client-output-buffer-limit``
    value (Redis prints the class as ``slave``; ``replica`` is accepted too), or None when it is not there."""
    words = str(config_value or '').split()
    for index, word in enumerate(words[:-3]):
        if word.lower() in ('slave', 'replica'):
            try:
                return tuple(int(number) for number in words[index + 1:index + 4])
            except ValueError:
                return None
    return None


class FullSyncRestarts(object):
    """Counts the full syncs of one target that began and were abandoned before finishing.

    Dragonfly targets say so themselves: ROLE goes from ``full_sync`` back to ``preparation``/``connecting``.

    For the Redis family only the source's word counts. The source listed the target as a replica in a full sync
    (``wait_bgsave``/``send_bulk``), then stopped listing it (it dropped the link: the output-buffer limit, a timeout),
    and then listed it in a full sync again with its ``sync_full`` higher than when the dropped attempt began. The
    target's own flags (sync in progress, bytes received) also flip during a handshake that is merely slow, or a
    transfer the source holds back, so they are never counted alone; and the source's counter alone also counts other
    replicas' syncs. A restart is counted when the new attempt is seen."""

    def __init__(self):
        self.count = 0
        self.first_sync_full = None
        self.last_sync_full = None
        self._attempt = False  # the source listed the target in a full sync that has not finished
        self._dropped = False  # ... and then stopped listing it
        self._sync_full_at_attempt = None
        self._dragonfly_full_sync = False
        self._listed = False
        self._entry = None

    def observe(self, status, source_entry=None, source_sync_full=None, source_read=True):
        """Feed one poll: the target's status, the source's ``replicas`` entry of the target (None when the source
        does not list it), the source's ``sync_full`` (None when unknown) and whether the source answered this poll
        at all (if not, its listing says nothing). Returns the count."""
        if not source_read:
            source_entry = self._entry if self._listed else None
        if source_sync_full is not None:
            if self.first_sync_full is None:
                self.first_sync_full = source_sync_full
            self.last_sync_full = source_sync_full
        if status.get('synced'):
            self.count = 0
            self._attempt = self._dropped = self._dragonfly_full_sync = False
        elif status.get('flavor') == info_utils.FLAVOR_DRAGONFLY and status.get('role_state'):
            self._observe_dragonfly(status['role_state'])
        else:
            self._observe_source(source_entry, source_sync_full)
        self._listed = source_entry is not None
        self._entry = source_entry
        return self.count

    def _observe_dragonfly(self, role_state):
        if role_state == 'full_sync':
            self._dragonfly_full_sync = True
        elif role_state in _DRAGONFLY_BEFORE_FULL_SYNC and self._dragonfly_full_sync:
            self.count += 1
            self._dragonfly_full_sync = False

    def _observe_source(self, source_entry, source_sync_full):
        in_full_sync = (source_entry or {}).get('state') in ('wait_bgsave', 'send_bulk')
        if self._attempt and source_entry is None:
            self._dropped = True
        if not in_full_sync:
            return
        if self._dropped and source_sync_full is not None and self._sync_full_at_attempt is not None \
                and source_sync_full > self._sync_full_at_attempt:
            self.count += 1
        if not self._attempt or self._dropped:
            self._sync_full_at_attempt = source_sync_full
        self._attempt, self._dropped = True, False


class SyncWaiter(object):
    """Polls a target (and its source) until it is a synced replica whose lag is
    within bounds for ``stable_for`` seconds, or fails with the reason."""

    def __init__(self, target, params, clock=time.monotonic, sleep=time.sleep):
        self.target = target
        self.params = params
        self.clock = clock
        self.sleep = sleep
        self.source = None
        self.source_host = None
        self.source_port = None
        self.link_user = None
        self.link_password = None
        # where the link credentials came from: 'target' (its masteruser/masterauth) or 'options' (primary_*)
        self.link_credentials_from = None
        self.secrets = []
        self.started = clock()
        self.progress = dict(full_sync_seen=False, sync_percent_max=None, sync_total_bytes=None,
                             seconds_to_link_up=None, seconds_to_synced=None, samples=0)
        self.lag_samples = []
        self._sample_every = 1
        self._target_read_bound = target.read_timeout
        self._source_read_bound = None
        self._target_addresses = None
        self._addresses_after_sync = False
        self._follows = None
        self._diagnosed_at = None
        self._tls_checked = False
        self.restarts = FullSyncRestarts()

    # -- set-up -------------------------------------------------------------------------------------------------------
    def _link_credentials(self):
        """The credentials the target's replication link uses, so a login with them tells why the link is down.

        The target's masteruser/masterauth, even when empty (then the link sends no AUTH); primary_user and
        primary_password only where CONFIG GET is denied and the target's own cannot be read."""
        user, password = self.target.link_credentials()
        if password is None and user is None:
            user, password = self.params.get('primary_user'), self.params.get('primary_password')
            self.link_credentials_from = 'options'
        else:
            self.link_credentials_from = 'target'
        if password:
            self.secrets.append(password)
        self.link_user, self.link_password = user or None, password or None

    def _bounded_params(self):
        """The connection options with connect_timeout cut to what is left of the wait."""
        remaining = self.params['timeout'] - (self.clock() - self.started)
        connect_timeout = self.params.get('connect_timeout') or 5.0
        return dict(self.params, connect_timeout=min(connect_timeout, max(MIN_READ_BOUND, remaining)))

    def _connect_source(self):
        source = source_endpoint(self.params, self.source_host, self.source_port,
                                 lambda: (self.link_user, self.link_password))
        self.source = source.connect(self._bounded_params(), secrets=self.secrets)
        self._source_read_bound = max(self.source.read_timeout, self.params.get('connect_timeout') or 5.0)
        self._bound_reads()
        self.source.identify()
        ok, reason = flavors.replication_compatibility(self.source.flavor, self.source.version,
                                                       self.target.flavor, self.target.version)
        if not ok:
            raise _FinalError("Target %s cannot replicate from source %s: %s. Migrate through a version both can "
                              "handle, or choose a newer target." % (self.target.endpoint, self.source.endpoint, reason))
        lag_limits = (self.params.get('max_lag_bytes'), self.params.get('max_lag_seconds'))
        if self.source.flavor == 'dragonfly' and any(limit is not None for limit in lag_limits):
            raise _FinalError("Source %s is Dragonfly, which reports no replication offsets or lag in seconds: "
                              "max_lag_bytes/max_lag_seconds cannot be checked; leave them unset." % self.source.endpoint)

    def _bound_reads(self):
        """Bound each reply by what is left of the timeout (never above the connection's own bound), so that a
        stopped server ends the wait near timeout instead of a minute after it."""
        remaining = max(MIN_READ_BOUND, round(self.params['timeout'] - (self.clock() - self.started), 1))
        self.target.read_timeout = min(self._target_read_bound, remaining)
        if self.source is not None:
            self.source.read_timeout = min(self._source_read_bound, remaining)

    # -- why a link is down -------------------------------------------------------------------------------------------
    def _link_auth_error(self, exc):
        if exc.cause == 'auth' and not self.link_password:
            cause = "the source requires authentication and the target's link sends none (masterauth is empty)"
            fix = "set it with kvmigrate.replication.replicaof %s (and %s for an ACL user)" % (
                option_label(self.params, 'primary_password'), option_label(self.params, 'primary_user'))
        else:
            cause = "the source rejected the credentials of the target's link (%s)" % (
                'its masteruser/masterauth' if self.link_credentials_from == 'target' else
                '%s/%s, as the target does not let CONFIG GET read its own' % (
                    option_label(self.params, 'primary_user'), option_label(self.params, 'primary_password')))
            fix = "set the right ones with kvmigrate.replication.replicaof %s/%s" % (
                option_label(self.params, 'primary_user'), option_label(self.params, 'primary_password'))
        return _FinalError("Target %s cannot authenticate its replication link to source %s: %s; %s." % (
            self.target.endpoint, endpoint(self.source_host, self.source_port), cause, fix), cause='auth')

    def _probe_link_credentials(self):
        """Log in to the source as the target's link does; refused credentials are final, anything else may pass."""
        try:
            probe = connect(self._bounded_params(), host=self.source_host, port=self.source_port,
                            username=self.link_user or '', password=self.link_password or '', what='source',
                            secrets=self.secrets, option_prefix='primary_')
        except KvmigrateError as exc:
            if exc.cause == 'auth':
                raise self._link_auth_error(exc)
            return exc.msg
        probe.close()
        return None

    def _raise_acl_denial(self):
        """Fail when the source's ACL LOG shows it refusing the link's user a replication command just now."""
        if self.source is None:
            return
        try:
            entries = self.source.call('ACL', 'LOG', '32')
        except KvmigrateError:
            return  # no ACL LOG (before Redis 6, other flavors) or no right to read it: the link-down sentence says what to check
        username = self.link_user or 'default'
        denials = acl_denials(entries, username)
        if denials:
            commands = sorted(set(str(entry['object']).upper() for entry in denials))
            raise _FinalError(
                "Source %s refuses the replication link of target %s: ACL user %s may not run %s (the source's ACL "
                "LOG); grant that user +psync +sync +replconf +ping on the source, e.g. ACL SETUSER %s +psync +sync "
                "+replconf +ping." % (self.source.endpoint, self.target.endpoint, username, ', '.join(commands), username),
                cause='permission')

    def _diagnose_link(self, now):
        """Why the link is down, as far as the control node can tell: raises when waiting cannot help, else returns a
        sentence (a failed login to the source) or None. Looks at most once per DIAGNOSE_EVERY."""
        if self._diagnosed_at is not None and now - self._diagnosed_at < DIAGNOSE_EVERY:
            return None
        self._diagnosed_at = now
        reason = self._probe_link_credentials()
        self._raise_acl_denial()
        return reason

    def _raise_tls_mismatch(self, status):
        """Fail when the link cannot speak to the source's port: a TLS-only port and tls-replication no on the target, or
        the reverse. The link's log says so ('Master did not respond to command during SYNC handshake'); INFO never
        does. Read once, and only where the module reaches the source at the port the link uses, since the module's
        own tls option is what tells whether that port speaks TLS."""
        if self._tls_checked or self.source is None or status.get('primary_port') is None:
            return
        self._tls_checked = True
        if int(status['primary_port']) != int(self.source.port):
            return
        problem, dummy = plan_utils.read_tls_link(self.params.get('tls'), self.source, self.target)
        if problem:
            raise _FinalError("Target %s cannot replicate from source %s: %s." % (
                self.target.endpoint, self.source.endpoint, problem), cause='tls')

    # -- which primary ------------------------------------------------------------------------------------------------
    def _addresses_of_target(self, refresh=False):
        """The addresses the source may list the target by: those the control node resolves it to, plus the local
        address of the target's link (Redis 6.2+, once it has synced), which NAT or a second network can make differ."""
        if self._target_addresses is None or refresh:
            addresses = resolve(self.target.host)
            link_address = self.target.replication_link_address()
            if link_address:
                addresses.add(link_address)
            self._target_addresses = addresses
        return self._target_addresses

    def _listed_by_source(self, source_status):
        if source_status is None:
            return False
        return info_utils.replica_entry(source_status, self._addresses_of_target(), self.target.port) is not None

    def _check_follows(self, status, source_status):
        """Settle once whether the target replicates from the given primary; fail at once when it does not."""
        if self._follows:
            return True
        if status.get('synced') and not self._addresses_after_sync:
            # the link's local address exists only once the target has synced: look again, once
            self._addresses_after_sync = True
            self._addresses_of_target(refresh=True)
        listed = self._listed_by_source(source_status)
        self._follows = follows_primary(status, source_status, self.source_host, self.source_port, listed)
        if self._follows is False:
            raise _FinalError(
                "Target %s replicates from %s, not from the given primary %s (which does not list it as a replica and "
                "has another replication id): run kvmigrate.replication.replicaof to point it at %s, or set %s/%s to "
                "the source it follows." % (
                    self.target.endpoint, endpoint(status.get('primary_host'), status.get('primary_port')),
                    endpoint(self.source_host, self.source_port), endpoint(self.source_host, self.source_port),
                    option_label(self.params, 'primary_host'), option_label(self.params, 'primary_port')))
        return bool(self._follows)

    # -- the loop ---------------------------------------------------------------------------------------------------
    def _evaluate(self, source_status, target_status):
        lag = info_utils.replica_lag(source_status, target_status, self._addresses_of_target(), self.target.port) \
            if source_status else dict(lag_bytes=None, lag_seconds=None, offset_source=None)
        unmet = []
        if not target_status.get('synced'):
            unmet.append('not synced (%s)' % target_status.get('sync_state'))
        if not self._follows:
            unmet.append('not yet seen replicating from %s' % endpoint(self.source_host, self.source_port))
        max_bytes, max_seconds = self.params.get('max_lag_bytes'), self.params.get('max_lag_seconds')
        if max_bytes is not None and (lag['lag_bytes'] is None or lag['lag_bytes'] > max_bytes):
            unmet.append('lag %s bytes > max_lag_bytes %s' % (lag['lag_bytes'], max_bytes))
        if max_seconds is not None and (lag['lag_seconds'] is None or lag['lag_seconds'] > max_seconds):
            unmet.append('lag %s s > max_lag_seconds %s' % (lag['lag_seconds'], max_seconds))
        return lag, unmet

    def _key_counts(self):
        """(source keys, target keys, gap): the target read first, then the source, each count with its offset from one
        INFO. A gap of 0 bytes means the target had applied everything the source held when the source was
        counted, so the two counts describe the same data; under live writes up to KEY_COUNT_ATTEMPTS reads look for
        that moment and the smallest gap is kept. None when an offset is unknown (Dragonfly, or no source)."""
        if self.source is None:
            return None, self.target.key_count(), None
        best = None
        for _attempt in range(KEY_COUNT_ATTEMPTS):
            target_keys, target_offset = self.target.keys_at_offset()
            source_keys, source_offset = self.source.keys_at_offset()
            if target_offset is None or source_offset is None:
                return source_keys, target_keys, None
            gap = max(0, source_offset - target_offset)
            if best is None or gap < best[2]:
                best = (source_keys, target_keys, gap)
            if gap == 0:
                break
        return best

    def _note_progress(self, status, elapsed, link_alive_now):
        self.progress['samples'] += 1
        if status.get('sync_in_progress') and link_alive_now:  # not a handshake that the source refuses
            self.progress['full_sync_seen'] = True
            percent = status.get('sync_percent')
            if percent is not None:
                self.progress['sync_percent_max'] = max(self.progress['sync_percent_max'] or 0.0, percent)
            if status.get('sync_total_bytes'):
                self.progress['sync_total_bytes'] = status['sync_total_bytes']
        if status.get('link_up') and self.progress['seconds_to_link_up'] is None:
            self.progress['seconds_to_link_up'] = round(elapsed, 3)
        if status.get('synced') and self.progress['seconds_to_synced'] is None:
            self.progress['seconds_to_synced'] = round(elapsed, 3)

    def _keep_lag_sample(self, elapsed, lag_bytes):
        """A bounded list of [seconds, lag_bytes] for a chart: halve it when full, and keep every other poll after."""
        if (self.progress['samples'] - 1) % self._sample_every:
            return
        self.lag_samples.append([round(elapsed, 3), lag_bytes])
        if len(self.lag_samples) >= LAG_SAMPLES_MAX:
            self.lag_samples = self.lag_samples[::2]
            self._sample_every *= 2

    def elapsed(self):
        return round(self.clock() - self.started, 3)

    def _poll_source(self):
        """(source status or None, why not); reconnects a source that failed the last poll."""
        if self.source is None:
            try:
                self._connect_source()
            except KvmigrateError as exc:
                if exc.cause == 'auth':
                    if not (self.params.get('primary_user') or self.params.get('primary_password')):
                        raise self._link_auth_error(exc)  # the module logged in as the link does
                    raise _FinalError(exc.msg, cause='auth')
                if isinstance(exc, _FinalError) or exc.cause == 'dns':
                    # a source name that does not resolve will not start to; without this a wait with no lag
                    # limits reported synced=true without ever reaching the source it was told to compare
                    raise
                self.close()
                return None, exc.msg
        try:
            source_status = self.source.replication()
        except KvmigrateError as exc:
            self.close()
            return None, exc.msg
        return source_status, None

    def _poll_target(self):
        """The target's status, or None when it did not answer within the bound (the wait goes on until timeout)."""
        try:
            status = self.target.replication()
        except KvmigrateError as exc:
            if exc.cause not in ('no_answer', 'timeout'):
                raise
            return None, exc.msg
        if status.get('role') != 'replica':
            raise KvmigrateError("Target %s stopped being a replica while waiting (role %s now): another operation "
                                 "changed it." % (self.target.endpoint, status.get('role')))
        return status, None

    def run(self):
        params = self.params
        start = self.started
        self._bound_reads()
        status = self.target.replication()
        if status.get('role') != 'replica':
            raise KvmigrateError("Target %s is not a replica (role %s): run kvmigrate.replication.replicaof with "
                                 "state=replica first." % (self.target.endpoint, status.get('role')))
        self.source_host = params.get('primary_host') or status.get('primary_host')
        self.source_port = params.get('primary_port') or status.get('primary_port')
        primary_given = params.get('primary_host') is not None or params.get('primary_port') is not None
        # without primary_host/primary_port the source is the one the target names, so it follows it by definition
        self._follows = None if primary_given else True
        self._link_credentials()

        down_since = None
        stable_since = None
        last_error = None
        silent_since = None
        lag, unmet = dict(lag_bytes=None, lag_seconds=None, offset_source=None), ['not checked yet']
        while True:
            polled_at = self.clock()
            self._bound_reads()
            source_status, source_error = self._poll_source()
            last_error = source_error or last_error
            status, silence = self._poll_target()
            now = self.clock()
            elapsed = now - start
            if status is None:
                silent_since = polled_at if silent_since is None else silent_since
                if elapsed >= params['timeout']:
                    raise KvmigrateError(
                        "Target %s did not answer for the last %.1f s of the wait for sync with %s (timeout=%s s): %s" % (
                            self.target.endpoint, now - silent_since, endpoint(self.source_host, self.source_port),
                            params['timeout'], silence),
                        synced=False, sync_progress=self.progress, elapsed=round(elapsed, 3), cause='no_answer')
                continue  # the failed read already took its bound: no sleep needed
            silent_since = None
            self._check_follows(status, source_status)
            alive = link_alive(status, self._listed_by_source(source_status))
            self._note_progress(status, elapsed, alive)
            self._count_restarts(status, source_status, elapsed)
            lag, unmet = self._evaluate(source_status, status)
            self._keep_lag_sample(elapsed, lag['lag_bytes'])

            if alive:
                down_since = None
            else:
                down_since = now if down_since is None else down_since
                if now - down_since >= min(1.0, params['link_down_timeout']):
                    last_error = self._diagnose_link(now) or last_error
                    self._raise_tls_mismatch(status)
                if now - down_since >= params['link_down_timeout']:
                    self._raise_link_down(status, now - down_since, last_error, elapsed)

            if not unmet:
                stable_since = now if stable_since is None else stable_since
                if now - stable_since >= params['stable_for']:
                    source_keys, target_keys, keys_offset_gap = self._key_counts()
                    return dict(synced=True, source_keys=source_keys, target_keys=target_keys,
                                keys_offset_gap=keys_offset_gap,
                                elapsed=round(self.clock() - start, 3), lag_bytes=lag['lag_bytes'],
                                lag_seconds=lag['lag_seconds'], offset_source=lag['offset_source'],
                                sync_progress=self.progress, replication=status, lag_samples=self.lag_samples,
                                primary=endpoint(self.source_host, self.source_port))
            else:
                stable_since = None

            if elapsed >= params['timeout']:
                if not unmet:
                    unmet = ['conditions held for %.1f s, short of stable_for=%s s' % (now - stable_since, params['stable_for'])]
                raise KvmigrateError(
                    "Target %s did not reach sync with %s within timeout=%s s: %s." % (
                        self.target.endpoint, endpoint(self.source_host, self.source_port), params['timeout'],
                        '; '.join(unmet)),
                    synced=False, replication=status, sync_progress=self.progress, lag_bytes=lag['lag_bytes'],
                    lag_seconds=lag['lag_seconds'], elapsed=round(elapsed, 3))
            self.sleep(min(params['poll_interval'], max(0.0, params['timeout'] - elapsed)))

    # -- a full sync that keeps starting over -------------------------------------------------------------------------
    def _source_sync_full(self, status):
        """The source's INFO stats ``sync_full`` while the target is not synced (Redis family only), else None."""
        if self.source is None or status.get('synced') or self.source.flavor == info_utils.FLAVOR_DRAGONFLY:
            return None
        try:
            value = info_utils.parse_info(self.source.info_text('stats')).get('sync_full')
        except KvmigrateError:
            return None
        return int(value) if value and value.isdigit() else None

    def _count_restarts(self, status, source_status, elapsed):
        entry = None
        if source_status is not None:
            entry = info_utils.replica_entry(source_status, self._addresses_of_target(), self.target.port)
        count = self.restarts.observe(status, entry, self._source_sync_full(status), source_read=source_status is not None)
        if count >= FULL_SYNC_RESTARTS_MAX:
            self._raise_restarting(status, elapsed)

    def _restart_cause(self):
        """(cause, fix) of a full sync that keeps restarting, as far as the source's settings tell."""
        limit = None
        if self.source is not None and self.source.flavor != info_utils.FLAVOR_DRAGONFLY:
            try:
                configured = self.source.config_get('client-output-buffer-limit')
            except KvmigrateError:
                configured = None
            limit = replica_buffer_limit(configured)
        if limit and any(limit):
            current = '%d %d %d' % limit
            return ("the source's client-output-buffer-limit for replicas is \"replica %s\" (hard %d bytes, soft %d "
                    "bytes for %d s), which the snapshot plus the writes made during it overrun, so the source drops the "
                    "link each time" % ((current,) + limit),
                    "lift it on the source for the migration with CONFIG SET client-output-buffer-limit \"replica 0 0 0\" "
                    "and restore \"replica %s\" after the cutover" % current)
        if self.target.flavor == info_utils.FLAVOR_DRAGONFLY:
            return ("Dragonfly %s could not load the snapshot; likely causes are data types or modules Dragonfly lacks, "
                    "or keys in a database above its --dbnum" % (self.target.version or ''),
                    "run kvmigrate.replication.migration_check, whose Dragonfly checks name these, and read the target's "
                    "log for the load error")
        return ("neither the source's client-output-buffer-limit nor the target's flavor explains it",
                "read both servers' logs for why the transfer ends (output buffer limits, repl-timeout, a failed fork "
                "or RDB load)")

    def _raise_restarting(self, status, elapsed):
        source = endpoint(self.source_host, self.source_port)
        counted = ''
        if self.restarts.first_sync_full is not None and self.restarts.last_sync_full is not None:
            counted = "; the source's sync_full rose from %d to %d" % (self.restarts.first_sync_full,
                                                                       self.restarts.last_sync_full)
        cause, fix = self._restart_cause()
        raise KvmigrateError(
            "Target %s: the full sync from %s started over %d times in the %.1f s of this wait without finishing%s: "
            "%s; %s." % (self.target.endpoint, source, self.restarts.count, elapsed, counted, cause, fix),
            synced=False, replication=status, sync_progress=self.progress, elapsed=round(elapsed, 3),
            full_sync_restarts=self.restarts.count, cause='full_sync_restarts')

    def _raise_link_down(self, status, down_for, reason, elapsed):
        """One sentence: how long the link has been down, then the one cause and fix known, or what to check."""
        source = endpoint(self.source_host, self.source_port)
        head = "Target %s: replication link to %s has been down for %.1f s (limit %s=%s)" % (
            self.target.endpoint, source, down_for, option_label(self.params, 'link_down_timeout'),
            self.params['link_down_timeout'])
        if reason:
            msg = '%s: %s' % (head, reason.rstrip('.') + '.')
        else:
            msg = ("%s while it reports state %s and the source does not list it as a replica: check that the target "
                   "reaches %s and that the source accepts its masteruser/masterauth and lets that user run PSYNC and "
                   "REPLCONF." % (head, status.get('role_state') or status.get('sync_state'), source))
        raise KvmigrateError(msg, replication=status, sync_progress=self.progress, elapsed=round(elapsed, 3))

    def close(self):
        if self.source is not None:
            self.source.close()
            self.source = None
