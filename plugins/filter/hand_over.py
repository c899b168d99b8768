# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pairs need more than the cutover alone in the promote role: the rule, in one place.

``hand_over_needed`` is the promote role's condition for one pair's hand_over.yml. ``hand_over_pairs`` applies it to
every host of a play at once, for playbooks/migrate.yml, whose hand-over play then runs for those hosts only."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

OPTIONS = ('promote_fence_source', 'promote_repoint_siblings', 'promote_check_writes')


def _bool(value, name):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleFilterError('%s must be true or false, got %r' % (name, value))


def hand_over_needed(sentinels, promote=True, fence_source=True, repoint_siblings=True, check_writes=True):
    """True when the pair needs hand_over.yml: a promoted target with Sentinels to hand over around its cutover, a
    sibling (not promoted) to move to the new primary of its fenced source, or a promoted target without a fence whose
    new primary is checked for writes."""
    if sentinels is not None and (isinstance(sentinels, (str, Mapping)) or not hasattr(sentinels, '__len__')):
        raise AnsibleFilterError('hand_over_needed: kvmigrate_sentinels must be a list of host:port, got %r' % (sentinels,))
    promote = _bool(promote, 'kvmigrate_promote')
    fence_source = _bool(fence_source, 'promote_fence_source')
    repoint_siblings = _bool(repoint_siblings, 'promote_repoint_siblings')
    check_writes = _bool(check_writes, 'promote_check_writes')
    return bool((sentinels and promote) or (not promote and fence_source and repoint_siblings)
                or (promote and check_writes and not fence_source))


def hand_over_pairs(hostvars, hosts, fence_source=True, repoint_siblings=True, check_writes=True):
    """The hosts of ``hosts`` that need hand_over.yml, in order. Each host's ``kvmigrate_sentinels`` and
    ``kvmigrate_promote``, and its own ``promote_*`` options where its variables set them (inventory, extra vars);
    else the values given, the play's (the role's defaults)."""
    given = dict(zip(OPTIONS, (fence_source, repoint_siblings, check_writes)))
    found = []
    for name in hosts:
        variables = hostvars[name]  # read once: on Ansible's HostVars each read builds the host's variables
        values = [variables[option] if option in variables else given[option] for option in OPTIONS]
        promote = variables.get('kvmigrate_promote')
        if hand_over_needed(variables.get('kvmigrate_sentinels'), True if promote is None else promote, *values):
            found.append(str(name))
    return found


class FilterModule(object):
    def filters(self):
        return {'hand_over_needed': hand_over_needed, 'hand_over_pairs': hand_over_pairs}
