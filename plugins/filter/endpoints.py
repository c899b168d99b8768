# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter ``endpoint_groups``: which inventory hosts name the same server.

Two inventory hosts whose targets are one server would both send it ``REPLICAOF`` with different sources; the
preflight role refuses them before anything changes (docs/inventory.md). Addresses are compared resolved, with the
collection's one comparison (module_utils/connection.py: ``same_endpoint`` = same port and a resolved address in
common).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

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


def endpoint_groups(entries):
    """Groups (lists of names, in input order) of the entries ({name, host, port}) that name the same server.

    The relation is ``same_endpoint``'s, but each distinct host name is resolved once and entries meet in an index of
    (port, address): calling ``same_endpoint`` for every pair would resolve both names each time, 40,000 look-ups for
    200 hosts. Entries linked through a chain (a ~ b, b ~ c) form one group. Only groups of two or more are returned.
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
    for index, entry in enumerate(entries):
        members.setdefault(root(index), []).append(entry['name'])
    return [names for names in members.values() if len(names) > 1]


class FilterModule(object):
    def filters(self):
        return {'endpoint_groups': endpoint_groups}
