# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pairs have Sentinels to check before the migration: the rule of the sentinel role, in one place.

``sentinel_check_needed`` is the sentinel role's own condition for one pair. ``sentinel_pairs`` applies it to every
host of a play at once, for playbooks/migrate.yml, whose Sentinel play then runs for those hosts only: a pair with none
costs no task at all (a skipped task still costs each host a worker, seconds at 200 pairs)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

NONE_FOUND = {'source': [], 'target': []}


def sentinel_check_needed(sentinels, watchers=None):
    """True unless no Sentinel is listed for the pair (``kvmigrate_sentinels``) and none was found connected to either
    end (``watchers``, migration_check's ``sentinel_watchers``); unknown watchers (None) need the check."""
    if sentinels is not None and (isinstance(sentinels, (str, Mapping)) or not hasattr(sentinels, '__len__')):
        raise AnsibleFilterError('sentinel_check_needed: kvmigrate_sentinels must be a list of host:port, got %r'
                                 % (sentinels,))
    if sentinels:
        return True
    if watchers is None:
        return True
    if not isinstance(watchers, Mapping):
        raise AnsibleFilterError('sentinel_check_needed: watchers must be the sentinel_watchers of migration_check '
                                 '(a dict of source and target lists), got %r' % (watchers,))
    return dict((k, list(v or [])) for k, v in watchers.items()) != NONE_FOUND


def sentinel_pairs(hostvars, hosts, result='preflight_result'):
    """The hosts of ``hosts`` whose pair needs the Sentinel check, in order: each host's ``kvmigrate_sentinels`` and the
    ``sentinel_watchers`` of its registered ``result`` (migration_check's), each host read once."""
    found = []
    for name in hosts:
        variables = hostvars[name]  # read once: on Ansible's HostVars each read builds the host's variables
        registered = variables.get(result)
        watchers = registered.get('sentinel_watchers') if isinstance(registered, Mapping) else None
        if sentinel_check_needed(variables.get('kvmigrate_sentinels'), watchers):
            found.append(str(name))
    return found


class FilterModule(object):
    def filters(self):
        return {'sentinel_check_needed': sentinel_check_needed, 'sentinel_pairs': sentinel_pairs}
