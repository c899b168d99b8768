# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that compare the endpoints of inventory hosts, resolved, for the roles:

* ``endpoint_groups``: which inventory hosts name the same server (preflight refuses two hosts with one target);
* ``sync_waves``: each target's wave among the play's targets of the same source (replicate);
* ``promote_conflicts``: sources that more than one play host is to be promoted from (promote);
* ``promoted_peer``: the host promoted from the same source as a sibling, when this inventory holds it (promote);
* ``full_syncs``: how many of a server's replicas are in a full sync now, from its own INFO (the rule of replicaof's
  ``max_concurrent_syncs``, defined in module_utils/sync_slot.py).

Addresses are compared resolved, with the collection's one comparison (module_utils/connection.py: ``same_endpoint``
= same port and a resolved address in common): a source named by a name on one host and by its address on another is
one source, for the wave limit as for the one-promotion check. Templates compare no host strings themselves.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.module_utils import sync_slot
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import resolve


def _port(entry):
    try:
        port = int(entry['port'])
    except (TypeError, ValueError):
        port = None
    if port is None or not 1 <= port <= 65535:
        raise AnsibleFilterError("Inventory host %s: port %r is not a TCP port: use a number from 1 to 65535."
                                 % (entry.get('name'), entry.get('port')))
    return port


def _server_groups(entries):
    """Groups (lists of indexes, in input order) of the entries ({name, host, port}) that name the same server, single
    entries included.

    The relation is ``same_endpoint``'s, but each distinct host name is resolved once and entries meet in an index of
    (port, address): calling ``same_endpoint`` for every pair would resolve both names each time, 40,000 look-ups for
    200 hosts. Entries linked through a chain (a ~ b, b ~ c) form one group.
    """
    resolved = {}
    parent = list(range(len(entries)))

    def root(index):
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_at = {}
    for index, entry in enumerate(entries):
        if not entry.get('host'):
            raise AnsibleFilterError("Inventory host %s has no address to compare: set its host." % entry.get('name'))
        port = _port(entry)
        host = str(entry['host'])
        if host not in resolved:
            resolved[host] = resolve(host)
        for address in resolved[host]:
            other = first_at.setdefault((port, address), index)
            if other != index:
                parent[root(index)] = root(other)

    members = {}
    for index in range(len(entries)):
        members.setdefault(root(index), []).append(index)
    return list(members.values())


def endpoint_groups(entries):
    """Groups (lists of names, in input order) of the entries ({name, host, port}) that name the same server. Only
    groups of two or more are returned."""
    return [[entries[index]['name'] for index in group] for group in _server_groups(entries) if len(group) > 1]


def _limit(value):
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if limit < 1:
        raise AnsibleFilterError("replicate_max_concurrent_syncs is %r: set it to a whole number of 1 or more." % (value,))
    return limit


def sync_waves(entries, max_concurrent_syncs):
    """``{name: {wave, wave_size}}`` for the entries ({name, host, port} of each target's source, in play order): the
    targets of one source, counted in order, start their full syncs ``max_concurrent_syncs`` at a time. ``wave_size``
    is how many of this play's targets of the same source start in the same wave, the full syncs the play adds to the
    source's own count when that wave starts."""
    limit = _limit(max_concurrent_syncs)
    waves = {}
    for group in _server_groups(entries):
        for position, index in enumerate(group):
            wave = position // limit
            waves[entries[index]['name']] = dict(wave=wave, wave_size=min(limit, len(group) - wave * limit))
    return waves


def promote_conflicts(entries):
    """``[{source, hosts}]``: each source server that two or more entries ({name, host, port, endpoint, promote} of
    each host's source) are to be promoted from, as the first of them names it, with their names. Only one target can
    take over a source's writes."""
    claiming = [entry for entry in entries if entry.get('promote', True)]
    return [dict(source=claiming[group[0]].get('endpoint') or '%s:%s' % (claiming[group[0]]['host'], claiming[group[0]]['port']),
                 hosts=[claiming[index]['name'] for index in group])
            for group in _server_groups(claiming) if len(group) > 1]


def promoted_peer(entries, name):
    """The name of the entry ({name, host, port, promote} of each host's source) that is to be promoted from the same
    source server as ``name``, other than ``name`` itself, or '' when none is among the entries."""
    for group in _server_groups(entries):
        names = [entries[index]['name'] for index in group]
        if name in names:
            return next((entries[index]['name'] for index in group
                         if entries[index]['name'] != name and entries[index].get('promote', True)), '')
    return ''


def full_syncs(replicas):
    """How many of a primary's replicas (replication_info's ``replication.replicas``) it serves a full sync now: the
    rule replicaof's max_concurrent_syncs keeps (module_utils/sync_slot.py)."""
    return sync_slot.full_syncs(replicas)


class FilterModule(object):
    def filters(self):
        return {'endpoint_groups': endpoint_groups, 'sync_waves': sync_waves, 'promote_conflicts': promote_conflicts,
                'promoted_peer': promoted_peer, 'full_syncs': full_syncs}
