# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-source limit on concurrent full syncs, kept by the source itself.

Each full sync costs the source a fork and an RDB transfer, so a migration bounds how many one source serves at once.
The count must come from the source (its ``INFO replication``), because the targets of one source may be started by
other runs or other AWX slices that no play can see. Reading the count and sending ``REPLICAOF`` are two steps: two
runs that read at the same instant would both see a free slot. So the check is made under a claim on the source
(``connection.claim_operation``, which lets one kvmigrate operation at a time go on), and the claim is held until
the source lists the new replica, that is until the next reader counts it.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import random
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, claim_operation, connect, option_label, resolve)

# Replica states, as a primary lists them in INFO replication, while the primary serves a full sync: Redis, Valkey and
# KeyDB wait_bgsave (the RDB is being made, or a diskless transfer waits for more replicas) and send_bulk (it is being
# sent); Dragonfly full_sync and preparation.
FULL_SYNC_STATES = frozenset(('wait_bgsave', 'send_bulk', 'full_sync', 'preparation'))

# Between two tries for the claim or a free slot. The jitter keeps two runs that were refused together (both claimed
# at the same instant, see claim_operation) from trying again together.
POLL_SECONDS = 0.25
POLL_JITTER_SECONDS = 0.25
# How long the claim is held after REPLICAOF, at most, for the source to list the new replica. A link that does not
# reach the source by then (a wrong address, a refused AUTH) starts no full sync, so the slot is not taken.
LISTED_WITHIN_SECONDS = 10.0


def full_syncs(replicas):
    """How many of a primary's replicas (``info.replication_status``'s ``replicas``) it serves a full sync now."""
    return len([replica for replica in replicas or [] if str(replica.get('state') or '').lower() in FULL_SYNC_STATES])


def validate_limit(params):
    limit = params.get('max_concurrent_syncs')
    if limit is not None and limit < 1:
        raise KvmigrateError("Option %s=%s must be 1 or more: it is how many full syncs one source may serve at once "
                             "(leave it unset for no limit)." % (option_label(params, 'max_concurrent_syncs'), limit))
    timeout = params.get('sync_slot_timeout')
    if timeout is not None and timeout <= 0:
        raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (
            option_label(params, 'sync_slot_timeout'), timeout))


def _connect_source(params):
    # The TLS and timeout options apply to the source too, as for the cutover's source.
    return connect(params, host=params['primary_host'], port=params['primary_port'], username=params['primary_user'],
                   password=params['primary_password'], what='source', option_prefix='primary_')


def _target_addresses(target, params):
    """The addresses the source may list the target by: those its name resolves to, and the local address of its
    replication link, which is what the source sees through NAT or from another interface."""
    addresses = set(resolve(params['login_host']))
    link_address = target.replication_link_address()
    if link_address:
        addresses.add(link_address)
    return addresses


def _wait_listed(source, target, params, clock, sleep):
    ports = set([int(params['login_port'])])
    try:
        ports.add(int(info_utils.parse_info(target.info_text('server')).get('tcp_port')))
    except (KvmigrateError, TypeError, ValueError):
        pass
    deadline = clock() + LISTED_WITHIN_SECONDS
    while True:
        replicas = source.status()[2].get('replicas') or []
        addresses = _target_addresses(target, params)
        if any(replica.get('ip') in addresses and replica.get('port') in ports for replica in replicas):
            return True
        if clock() >= deadline:
            return False
        sleep(0.05)


def replicate_in_slot(params, target, send, check_mode=False, clock=time.monotonic, sleep=time.sleep):
    """Call ``send()`` (which sends REPLICAOF to ``target``) once the source serves fewer than
    ``max_concurrent_syncs`` full syncs, under a claim on the source held until the source lists the target.

    Returns ``{max_concurrent_syncs, waited_seconds, queued, full_syncs_seen, source_lists_target}`` (``queued``: the
    source served the limit at least once, so the target waited for a slot, not only for the claim); in check mode the source
    is neither claimed nor waited for and ``send`` is not called. Raises KvmigrateError, before anything was sent,
    when the source stays busy beyond ``sync_slot_timeout``."""
    limit = params['max_concurrent_syncs']
    if check_mode:
        return dict(max_concurrent_syncs=limit, waited_seconds=0.0, queued=False, full_syncs_seen=None,
                    source_lists_target=None)
    started = clock()
    queued = False
    deadline = started + params['sync_slot_timeout']
    while True:
        source = _connect_source(params)
        try:
            try:
                claim_operation(source, 'sync-slot')
            except KvmigrateError as exc:
                if exc.cause != 'in_flight':
                    raise
                busy = 'was claimed by another kvmigrate operation (%s)' % exc.details.get('other_operation')
            else:
                serving = full_syncs(source.status()[2].get('replicas'))
                if serving < limit:
                    waited = round(clock() - started, 3)
                    send()
                    listed = _wait_listed(source, target, params, clock, sleep)
                    return dict(max_concurrent_syncs=limit, waited_seconds=waited, queued=queued,
                                full_syncs_seen=serving, source_lists_target=listed)
                queued = True
                busy = 'served %d full syncs' % serving
            endpoint_text = source.endpoint
        finally:
            # Closing the connection drops its claim (the name goes with it), also when send() failed.
            source.close()
        if clock() >= deadline:
            raise KvmigrateError(
                "Source %s still %s after %g s, with %s=%d, so target %s did not start its full sync: nothing was "
                "changed. Retry once the source's full syncs have ended, or raise %s or %s." % (
                    endpoint_text, busy, params['sync_slot_timeout'], option_label(params, 'max_concurrent_syncs'), limit,
                    target.endpoint, option_label(params, 'sync_slot_timeout'),
                    option_label(params, 'max_concurrent_syncs')), cause='timeout')
        sleep(POLL_SECONDS + random.uniform(0, POLL_JITTER_SECONDS))
