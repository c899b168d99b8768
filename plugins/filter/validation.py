# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which hosts' variables break an argument spec, checked for every host of a play in one task.

``argument_errors`` validates each host's variables as ``ansible.builtin.validate_argument_spec`` validates a task's
(the same validator, the same message), for every host at once: playbooks/migrate.yml then fails only the hosts it
names, in a play of their own. One task per host, each templating the whole spec, cost 5 s at 200 pairs, 18 s with
the machine busy."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


def argument_errors(hostvars, hosts, argument_spec):
    """[{host, msg}] for each host of ``hosts`` whose variables named in ``argument_spec`` (the dict of options of a
    role's entry point) do not validate; [] when all do. Each host's variables are read once."""
    if not isinstance(argument_spec, Mapping):
        raise AnsibleFilterError('argument_errors: argument_spec must be a dict of options (an entry point\'s options), '
                                 'got %s' % type(argument_spec).__name__)
    validator = ArgumentSpecValidator(dict(argument_spec))
    found = []
    for name in hosts:
        variables = hostvars[name]  # read once: on Ansible's HostVars each read builds the host's variables
        provided = dict((option, variables[option]) for option in argument_spec if option in variables)
        errors = validator.validate(provided).error_messages
        if errors:
            found.append(dict(host=str(name), msg='Validation of arguments failed:\n%s' % '\n'.join(errors)))
    return found


class FilterModule(object):
    def filters(self):
        return {'argument_errors': argument_errors}
