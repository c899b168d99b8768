# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: role_argument_spec
author:
  - kvmigrate.replication maintainers (@kvmigrate)
short_description: The options of several roles of this collection, as one argument spec
version_added: 1.0.0
description:
  - Reads C(meta/argument_specs.yml) of each named role of this collection and returns the union of the options of one
    entry point, for one M(ansible.builtin.validate_argument_spec) task.
  - A playbook that imports several roles with C(rolespec_validate=false) validates their variables once per host this
    way, instead of once per role and host (one task result per host instead of one per role).
  - An option that two roles define differently (anything but its description) is an error, so the union never hides
    a difference.
options:
  _terms:
    description: Names of roles of this collection.
    type: list
    elements: str
    required: true
  entry_point:
    description: The entry point whose options are read.
    type: str
    default: main
  exclude:
    description: Options left out, such as those the playbook itself sets on a role after other roles ran.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Validate the variables of every role of the play once
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ query('kvmigrate.replication.role_argument_spec', 'preflight', 'replicate', exclude=['replicate_hosts']) | first }}"
'''

RETURN = r'''
_raw:
  description: One element, the options (name to spec) of every named role's entry point.
  type: list
  elements: dict
'''

import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.yaml import yaml_load
from ansible.plugins.lookup import LookupBase

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')


def role_options(role, entry_point='main', roles_dir=ROLES_DIR):
    """The options of ``entry_point`` in role ``role``'s meta/argument_specs.yml."""
    path = os.path.join(roles_dir, role, 'meta', 'argument_specs.yml')
    try:
        with open(path) as handle:
            specs = yaml_load(handle) or {}
    except (IOError, OSError) as exc:
        raise AnsibleLookupError('role %s of kvmigrate.replication has no argument spec to read (%s)' % (role, exc))
    entry = (specs.get('argument_specs') or {}).get(entry_point)
    if entry is None:
        raise AnsibleLookupError('role %s of kvmigrate.replication has no entry point %s' % (role, entry_point))
    return entry.get('options') or {}


def _rule(spec):
    """What validation reads of one option's spec: all but its description."""
    return dict((key, value) for key, value in spec.items() if key not in ('description', 'version_added'))


def merge_options(named_options, exclude=()):
    """The union of [(role, options)], without ``exclude``; an option two roles define differently (anything but its
    description) is an error."""
    merged, owner = {}, {}
    for role, options in named_options:
        for name, spec in options.items():
            if name in exclude:
                continue
            if name in merged and _rule(merged[name]) != _rule(spec):
                raise AnsibleLookupError('roles %s and %s define option %s differently; one definition is needed to '
                                         'validate them together' % (owner[name], role, name))
            merged.setdefault(name, spec)
            owner.setdefault(name, role)
    return merged


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        entry_point = self.get_option('entry_point')
        named = [(role, role_options(role, entry_point)) for role in terms]
        return [merge_options(named, exclude=set(self.get_option('exclude')))]
