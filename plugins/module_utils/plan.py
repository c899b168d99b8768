# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What making a target replicate from a source means for that pair, decided once from both ends' status.

``replicaof`` (state=replica) and ``migration_check`` both ask a ``ReplicationPlan``, so the module that changes
a server and the preflight that predicts it cannot disagree about whether the target already replicates from the
source, whether its data would be discarded, or whether the pair has already been cut over.

Replication ids (facts file, REPLICAOF and FAILOVER): a replica takes its primary's ``master_replid``. A promoted
server keeps the id it replicated under as ``master_replid2`` and starts a new one. A server that resyncs partially
from a primary with a new id keeps its own former id as ``master_replid2``. A full sync clears ``master_replid2``
(forty zeros), and so does a restart. Hence:

* a target whose ``master_replid`` is the source's ``master_replid`` or ``master_replid2`` holds a point of the
  source's own history: the source continues it with a partial resync and discards nothing;
* after a fenced cutover (``pause`` with the ``replicaof_target`` fence, or ``failover``) the promoted target and the
  fenced source, which resynced partially from it, share ``master_replid2``: the source's id before the cutover.
  A primary and an ordinary replica of it, which came by a full sync, share no such earlier id.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, endpoint, same_endpoint)

# The commands the replication link sends to its primary after AUTH (facts file: Redis handshake; Dragonfly sends
# the same to a Redis primary). A Redis replica falls back to SYNC only when PSYNC is refused, and then every
# reconnect is a full sync, so PSYNC and REPLCONF are the ones a migration needs.
LINK_COMMANDS_REQUIRED = ('PSYNC', 'REPLCONF')
LINK_COMMANDS_OPTIONAL = ('SYNC',)
_DRYRUN_ARGS = {'PSYNC': ('?', '-1'), 'REPLCONF': ('capa', 'psync2'), 'SYNC': ()}


def history_id(replid):
    """A replication id, or None for what a server reports when it has none (empty, or forty zeros)."""
    text = str(replid or '')
    return text if text.strip('0') else None


class ReplicationPlan(object):
    """The pair ``target`` -> ``source`` as the statuses (``info.replication_status``) of both ends show it.

    ``target_address`` and ``source_address`` are ``(host, port)`` as the caller's options name them.
    ``source_status`` may be None (not read, or unreadable): nothing is then assumed about the source, so the
    decisions that need it answer False. ``target_keys`` counts every database (``connection.Server.key_count``).
    """

    def __init__(self, target_address, target_status, source_address, source_status=None, target_keys=0):
        self.target_address = tuple(target_address)
        self.target_status = target_status or {}
        self.source_address = tuple(source_address)
        self.source_status = source_status
        self.target_keys = target_keys or 0

    @property
    def target_endpoint(self):
        return endpoint(*self.target_address)

    @property
    def source_endpoint(self):
        return endpoint(*self.source_address)

    def _is_replica(self, status):
        return (status or {}).get('role') == info_utils.ROLE_REPLICA

    def _follows(self, status, host, port):
        return self._is_replica(status) and same_endpoint(status.get('primary_host'), status.get('primary_port'), host, port)

    @property
    def already_replicating(self):
        """The target already replicates from the source: nothing to send, nothing discarded."""
        return self._follows(self.target_status, *self.source_address)

    @property
    def continues_history(self):
        """The target is a replica whose replication id is the source's, or the one the source had before its
        promotion: the source continues the target's stream with a partial resync, and even a full sync would only
        bring it forward in the same history, so none of its keys is lost. The sibling of a promoted target, and a
        chained replica after a reverse cutover, are such targets."""
        if not self._is_replica(self.target_status) or self.source_status is None:
            return False
        replid = history_id(self.target_status.get('replid'))
        return replid is not None and replid in (history_id(self.source_status.get('replid')),
                                                 history_id(self.source_status.get('replid2')))

    @property
    def wants_source_status(self):
        """Whether reading the source could lift a refusal: the target holds keys a sync would discard and, as a
        replica with a replication id, may continue the source's history."""
        return (self.source_status is None and self.target_keys > 0 and not self.already_replicating
                and self._is_replica(self.target_status) and history_id(self.target_status.get('replid')) is not None)

    @property
    def keys_discarded(self):
        """Keys a sync from the source would discard: all of the target's, unless it continues the source's data."""
        if self.already_replicating or self.continues_history:
            return 0
        return self.target_keys

    @property
    def feeding_source(self):
        """The endpoint of the target's own replica that is the source (replicating would form a loop), or None."""
        for replica in self.target_status.get('replicas') or []:
            if same_endpoint(replica.get('ip'), replica.get('port'), *self.source_address):
                return endpoint(replica.get('ip'), replica.get('port'))
        return None

    @property
    def source_follows_target(self):
        return self._follows(self.source_status, *self.target_address)

    @property
    def shared_history_id(self):
        """The ``master_replid2`` both ends keep from before a promotion, or None."""
        if self.source_status is None:
            return None
        earlier = history_id(self.target_status.get('replid2'))
        if earlier is not None and earlier == history_id(self.source_status.get('replid2')):
            return earlier
        return None

    @property
    def promoted(self):
        """The target is a primary and the source follows it with the history they shared before the promotion:
        how a fenced cutover leaves a pair."""
        return (self.target_status.get('role') == info_utils.ROLE_PRIMARY and self.source_follows_target
                and self.shared_history_id is not None)

    @property
    def swapped(self):
        """The target is a primary and the source an ordinary replica of it, with no shared history from before a
        promotion: the addresses look swapped and nothing was migrated. A cut-over pair whose servers restarted since
        (a restart forgets ``master_replid2``) reads the same way."""
        return (self.target_status.get('role') == info_utils.ROLE_PRIMARY and self.source_follows_target
                and self.shared_history_id is None)

    @property
    def sibling_moved(self):
        """Target and source both replicate from one primary: how the promote role leaves another target of a
        source whose writes moved to a sibling."""
        return (self._is_replica(self.target_status) and self._is_replica(self.source_status)
                and same_endpoint(self.target_status.get('primary_host'), self.target_status.get('primary_port'),
                                  self.source_status.get('primary_host'), self.source_status.get('primary_port')))

    @property
    def cut_over(self):
        """The pair needs no replication any more."""
        return self.promoted or self.sibling_moved

    @property
    def source_is_replica(self):
        return self._is_replica(self.source_status)

    @property
    def source_primary_endpoint(self):
        if not self.source_is_replica:
            return None
        return endpoint(self.source_status.get('primary_host'), self.source_status.get('primary_port'))


def read_source_status(params):
    """The source's replication status as the module reaches it (``primary_*`` options), or None when it cannot be
    read: the target may reach the source by an address the control node cannot, which is no reason to fail."""
    try:
        # the TLS and timeout options apply to the source as well, as they do to the cutover's source
        source = connect(params, host=params['primary_host'], port=params['primary_port'],
                         username=params['primary_user'], password=params['primary_password'], what='source',
                         option_prefix='primary_')
    except KvmigrateError:
        return None
    try:
        return source.status()[2]
    except KvmigrateError:
        return None
    finally:
        source.close()


def upstream_loop(params, source, source_status, max_hops):
    """Follow the source's primaries up to ``max_hops``: ``(looped, chain)`` where ``looped`` says the chain meets the
    target (``login_host``/``login_port``) and ``chain`` lists the endpoints passed. An unreachable upstream ends the
    walk, because it cannot be the target the caller has just reached."""
    hops, status = 0, source_status
    chain = [source.endpoint]
    opened = []
    try:
        while status.get('role') == info_utils.ROLE_REPLICA and hops < max_hops:
            host, port = status.get('primary_host'), status.get('primary_port')
            chain.append(endpoint(host, port))
            if same_endpoint(host, port, params['login_host'], params['login_port']):
                return True, chain
            try:
                upstream = connect(params, host=host, port=port, username=params['primary_user'],
                                   password=params['primary_password'], what='upstream', option_prefix='primary_')
            except KvmigrateError:
                break
            opened.append(upstream)
            status = upstream.status()[2]
            hops += 1
    finally:
        for server in opened:
            server.close()
    return False, chain


def link_user(params, target):
    """``(user, how)``: the ACL user the target's replication link will log in to the source as. It is
    ``primary_user`` (replicaof sets it as the target's masteruser), else the target's current masteruser, else
    ``default``. ``user`` is None when the target's masteruser cannot be read (CONFIG GET refused)."""
    if params.get('primary_user'):
        return params['primary_user'], 'primary_user'
    try:
        current = target.config_get('masteruser')
    except KvmigrateError:
        return None, 'masteruser'
    if current:
        return current, "the target's masteruser"
    return 'default', 'the default user (no primary_user, no masteruser)'


def link_permissions(source, user):
    """Ask the source whether ``user`` may run the replication link's commands, with ``ACL DRYRUN`` (Redis 7.0+).

    Returns ``{"checked": bool, "reason": sentence part when not checked, "missing_user": bool,
    "denied": [commands]}``. Nothing is guessed: a server without ACL DRYRUN, or a login not allowed to run it,
    gives ``checked`` False with the reason."""
    outcome = dict(checked=False, reason=None, missing_user=False, denied=[])
    if source.flavor == info_utils.FLAVOR_DRAGONFLY:
        outcome['reason'] = 'a Dragonfly source replicates through its own DFLY commands'
        return outcome
    for command in LINK_COMMANDS_REQUIRED + LINK_COMMANDS_OPTIONAL:
        try:
            reply = source.call('ACL', 'DRYRUN', user, command, *_DRYRUN_ARGS[command])
        except KvmigrateError as exc:  # the server's answer decides; any other failure means "not checked"
            lowered = exc.msg.lower()
            if "user '" in lowered and 'not found' in lowered:
                outcome.update(checked=True, missing_user=True)
                return outcome
            if 'unknown subcommand' in lowered or 'unknown command' in lowered:
                outcome['reason'] = '%s %s has no ACL DRYRUN (Redis 7.0+)' % (source.flavor, source.version)
            elif exc.cause == 'permission':
                outcome['reason'] = "the module's login on the source may not run ACL DRYRUN"
            else:
                outcome['reason'] = 'ACL DRYRUN failed: %s' % exc.msg.rstrip('.')
            return outcome
        if str(reply).upper() != 'OK':
            outcome['denied'].append(command)
    outcome['checked'] = True
    return outcome


# The link a full sync opens: whether it can speak to the source's port, and whether it can finish.

# Redis memtoull units (CONFIG values may carry them; CONFIG GET prints bytes).
_MEMORY_UNITS = {'': 1, 'b': 1, 'k': 1000, 'kb': 1024, 'm': 1000 ** 2, 'mb': 1024 ** 2, 'g': 1000 ** 3, 'gb': 1024 ** 3}
# A replica's output-buffer growth above this share of the limit that would drop it is a warning: the write rate and
# the transfer time are estimates.
OUTPUT_BUFFER_MARGIN = 0.5
# Redis 7's default repl-diskless-sync-delay; a longer one is a warning, since every full sync waits that long first.
DISKLESS_DELAY_DEFAULT_SECONDS = 5
BUFFER_FIX = 'CONFIG SET client-output-buffer-limit "replica 0 0 0"'


def memory_bytes(text):
    """``"256kb"`` -> 262144; ``"268435456"`` -> 268435456; None when not a size."""
    match = re.match(r'^\s*(\d+)\s*([a-z]*)\s*$', str(text or '').lower())
    if not match or match.group(2) not in _MEMORY_UNITS:
        return None
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def replica_output_buffer_limit(value):
    """The replica class of a ``client-output-buffer-limit`` value (``"normal 0 0 0 slave 268435456 67108864 60
    ..."``): ``{"hard", "soft", "soft_seconds", "text"}`` in bytes and seconds (0 = no limit), or None."""
    words = str(value or '').split()
    for start in range(0, len(words) - 3, 4):
        if words[start].lower() in ('slave', 'replica'):
            hard, soft, seconds = memory_bytes(words[start + 1]), memory_bytes(words[start + 2]), words[start + 3]
            if hard is None or soft is None or not seconds.isdigit():
                return None
            return dict(hard=hard, soft=soft, soft_seconds=int(seconds), text=' '.join(['replica'] + words[start + 1:start + 4]))
    return None


def full_sync_buffer(limit, write_rate, dataset_bytes, transfer_rate):
    """What a full sync's replica output buffer would reach: the writes of the whole snapshot-and-transfer time.

    Returns ``{"seconds", "peak_bytes", "dropped_by", "share"}``: ``dropped_by`` is ``hard`` or ``soft`` when the
    source would drop the link (above the hard limit; above the soft limit for ``soft_seconds`` in a row), else None;
    ``share`` is the peak over the limit that would drop it first (the closer to 1, the closer to a drop)."""
    seconds = float(dataset_bytes) / float(transfer_rate)
    peak = write_rate * seconds
    dropped_by, shares = None, []
    if limit['hard']:
        shares.append(peak / limit['hard'])
        if peak > limit['hard']:
            dropped_by = 'hard'
    if limit['soft'] and write_rate > 0:
        over_soft_seconds = seconds - limit['soft'] / write_rate
        shares.append(peak / limit['soft'] if limit['soft_seconds'] <= seconds else 0.0)
        if dropped_by is None and over_soft_seconds >= limit['soft_seconds']:
            dropped_by = 'soft'
    return dict(seconds=seconds, peak_bytes=int(peak), dropped_by=dropped_by, share=max(shares) if shares else 0.0)


def tls_link_problem(source_port_tls, target_tls_replication, source_auth_clients, target_has_certificate,
                     source_plain_port=None):
    """Why a target's replication link could not talk to the source's port, or None.

    ``source_port_tls``: the port the link will use speaks TLS (the module reached it with ``tls``).
    ``target_tls_replication``: the target's ``tls-replication`` (True/False), or None when its build has no TLS.
    ``source_auth_clients``: the source's ``tls-auth-clients`` (``yes`` requires a client certificate).
    ``target_has_certificate``: the target has ``tls-client-cert-file`` or ``tls-cert-file``, which its link presents.
    ``source_plain_port``: the source's plain ``port`` when it has one (non-zero). Returns a sentence part with the fix."""
    if source_port_tls:
        if target_tls_replication is None:
            return ('the source port speaks only TLS, and the target was built without TLS, so its replication link '
                    'cannot reach it; use a target built with TLS%s' % (
                        ', or point the link at the source\'s plain port %s' % source_plain_port if source_plain_port else ''))
        wants_cert = str(source_auth_clients or '').lower() == 'yes'
        cert_fix = (', and give the target tls-cert-file and tls-key-file (the source requires client certificates: '
                    'tls-auth-clients yes)' if wants_cert and not target_has_certificate else '')
        if not target_tls_replication:
            return ('the source port speaks only TLS but the target has tls-replication no, so its link would send '
                    'plain text and the handshake never completes; run CONFIG SET tls-replication yes on the '
                    'target%s%s' % (cert_fix, ', or point the link at the source\'s plain port %s' % source_plain_port
                                    if source_plain_port else ''))
        if cert_fix:
            return ('the source requires client certificates (tls-auth-clients yes) but the target has neither '
                    'tls-client-cert-file nor tls-cert-file for its link to present; set tls-cert-file and tls-key-file '
                    'on the target')
        return None
    if target_tls_replication:
        return ('the target has tls-replication yes but the source port is plain (no TLS), so its link would start a '
                'TLS handshake the source never answers; run CONFIG SET tls-replication no on the target, or point the '
                'link at the source\'s TLS port')
    return None


def read_tls_link(tls, source, target):
    """``(problem, not_checked)`` for the link from ``target`` to ``source``'s port: ``problem`` is
    ``tls_link_problem``'s sentence part or None, ``not_checked`` says why nothing could be read (CONFIG GET refused,
    Dragonfly). ``tls``: the module reached that port with TLS, so it speaks TLS. Preflight and the wait share it."""
    if info_utils.FLAVOR_DRAGONFLY in (source.flavor, target.flavor):
        return None, 'Dragonfly sets TLS replication by its own flags'
    values = {}
    for server, name in ((target, 'tls-replication'), (target, 'tls-cert-file'), (target, 'tls-client-cert-file'),
                         (source, 'tls-auth-clients'), (source, 'port')):
        try:
            values[name] = server.config_get(name)
        except KvmigrateError as exc:
            return None, 'CONFIG GET %s on %s %s failed (%s)' % (name, server.what, server.endpoint, exc.msg.rstrip('.'))
    tls_replication = None if values['tls-replication'] is None else values['tls-replication'].lower() == 'yes'
    plain_port = values['port'] if values['port'] not in (None, '', '0') and tls else None
    return tls_link_problem(bool(tls), tls_replication, values['tls-auth-clients'],
                            bool(values['tls-client-cert-file'] or values['tls-cert-file']), plain_port), None
