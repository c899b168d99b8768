# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory contract (docs/inventory.md) in one place: the ``kvmigrate_*`` variables the collection reads
(``KNOWN_VARIABLES``), the filter that warns about the others (``unknown_variables``), one end of each host's pair with
the contract's defaults (``pair_endpoints``), and the connection options of one end of a pair for ``module_defaults``
(``connection_options``), which every role and playbook uses instead of writing them out."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import endpoint

PREFIX = 'kvmigrate_'

# Every kvmigrate_* variable a role, playbook or plugin of the collection reads. tests/unit/test_filters.py checks that
# every such name in roles/, playbooks/, plugins/, docs/ and README.md is here.
KNOWN_VARIABLES = frozenset((
    # one end of each pair
    'kvmigrate_source_host', 'kvmigrate_source_port', 'kvmigrate_source_user', 'kvmigrate_source_password',
    'kvmigrate_target_host', 'kvmigrate_target_port', 'kvmigrate_target_user', 'kvmigrate_target_password',
    # TLS and timeouts of the module connections to both ends
    'kvmigrate_tls', 'kvmigrate_validate_certs', 'kvmigrate_ca_certs', 'kvmigrate_client_cert_file',
    'kvmigrate_client_key_file', 'kvmigrate_connect_timeout',
    # per pair behaviour
    # the Sentinels that watch the pair (docs/sentinel.md)
    'kvmigrate_sentinels', 'kvmigrate_sentinel_user', 'kvmigrate_sentinel_password', 'kvmigrate_sentinel_master_name',
    'kvmigrate_allow_flush', 'kvmigrate_promote', 'kvmigrate_max_lag_bytes', 'kvmigrate_max_lag_seconds',
    # cluster migration (playbooks/migrate_cluster.yml): the old node a new node replaces
    'kvmigrate_cluster_replaces',
    # where and how modules run, which hosts, where reports go
    'kvmigrate_delegate_to', 'kvmigrate_in_process', 'kvmigrate_progress', 'kvmigrate_progress_interval',
    'kvmigrate_hosts', 'kvmigrate_report_dir',
    # set_stats summaries: an AWX workflow passes them to its next node as extra variables
    'kvmigrate_migration', 'kvmigrate_status',
))

# The options of a kvmigrate.replication.redis module, by the end of the pair they concern (``login`` is the server
# the module logs in to, ``other`` the other end), and the inventory variable each one comes from.
_END_OPTIONS = (
    ('login', 'login_host', 'host'), ('login', 'login_port', 'port'), ('login', 'login_user', 'user'),
    ('login', 'login_password', 'password'),
    ('other', 'primary_host', 'host'), ('other', 'primary_port', 'port'), ('other', 'primary_user', 'user'),
    ('other', 'primary_password', 'password'),
    # the fenced cutover's source is the current primary: the other end too
    ('other', 'source_host', 'host'), ('other', 'source_port', 'port'),
)
_SHARED_OPTIONS = (
    ('tls', 'kvmigrate_tls', False), ('validate_certs', 'kvmigrate_validate_certs', True),
    ('ca_certs', 'kvmigrate_ca_certs', None), ('client_cert_file', 'kvmigrate_client_cert_file', None),
    ('client_key_file', 'kvmigrate_client_key_file', None), ('connect_timeout', 'kvmigrate_connect_timeout', 5),
)
_PAIR_OPTION_LABELS = {'allow_flush': 'kvmigrate_allow_flush', 'max_concurrent_syncs': 'replicate_max_concurrent_syncs',
                       'sync_slot_timeout': 'replicate_sync_timeout'}
# How a module names the other end of the pair: ``primary`` (replicaof state=replica, wait_for_sync, migration_check)
# or ``source`` (the fenced cutover of replicaof state=primary: the source's address as source_*, its login as
# primary_*).
_OTHER_END_OPTIONS = {
    'primary': (('primary_host', 'host'), ('primary_port', 'port'), ('primary_user', 'user'), ('primary_password', 'password')),
    'source': (('source_host', 'host'), ('source_port', 'port'), ('primary_user', 'user'), ('primary_password', 'password')),
}
_LISTED_HOSTS = 5


def _closest(name):
    suffixes = [known[len(PREFIX):] for known in KNOWN_VARIABLES]
    # compared without the common prefix, which would make every name look alike
    match = difflib.get_close_matches(name[len(PREFIX):], suffixes, n=1, cutoff=0.6)
    return PREFIX + match[0] if match else None


def _names_of(variables):
    if isinstance(variables, str) or not (is_sequence(variables) or hasattr(variables, 'keys')):
        raise AnsibleFilterError("unknown_variables takes hostvars (or a mapping of host to its variables), not %s."
                                 % type(variables).__name__)
    return list(variables.keys()) if hasattr(variables, 'keys') else list(variables)


def unknown_variables(hostvars, hosts=None):
    """One warning sentence per ``kvmigrate_*`` variable the collection does not read, naming the hosts that set it
    and the closest known name. ``hostvars`` maps each host to its variables (or their names); ``hosts`` limits the
    check to the play's hosts."""
    found = {}
    for host in (hosts if hosts is not None else list(hostvars.keys())):
        for name in _names_of(hostvars[host]):
            if str(name).startswith(PREFIX) and name not in KNOWN_VARIABLES:
                found.setdefault(name, []).append(str(host))
    sentences = []
    for name in sorted(found):
        where = found[name]
        listed = ', '.join(where[:_LISTED_HOSTS]) + (' and %d more' % (len(where) - _LISTED_HOSTS)
                                                     if len(where) > _LISTED_HOSTS else '')
        closest = _closest(name)
        fix = ('did you mean %s?' % closest) if closest else 'docs/inventory.md lists the variables it reads.'
        sentences.append("Variable %s (set for %s) is not one kvmigrate.replication reads, so it changes nothing and "
                         "the default applies: %s" % (name, listed, fix))
    return sentences


def _end(variables, end):
    """host, port, user, password of one end of the pair of a host, with the inventory contract's defaults."""
    host = variables.get('kvmigrate_%s_host' % end)
    if host is None and end == 'target':
        host = variables.get('ansible_host') or variables.get('inventory_hostname')
    return dict(host=host, port=variables.get('kvmigrate_%s_port' % end) or 6379,
                user=variables.get('kvmigrate_%s_user' % end), password=variables.get('kvmigrate_%s_password' % end))


def pair_endpoints(hostvars, hosts, end='target'):
    """[{name, host, port, endpoint, promote}] of one end (``target`` or ``source``) of each host's pair: the input of
    endpoint_groups, sync_waves and promote_conflicts. ``endpoint`` is ``host:port`` as error messages write it;
    ``promote`` is the host's ``kvmigrate_promote`` (true unless set)."""
    if end not in ('target', 'source'):
        raise AnsibleFilterError("pair_endpoints: end=%r is not an end of a pair: use target or source." % (end,))
    endpoints = []
    for name in hosts:
        variables = hostvars[name]  # read once: on Ansible's HostVars each read builds the host's variables
        found = _end(variables, end)
        promote = variables.get('kvmigrate_promote')
        endpoints.append(dict(name=str(name), host=found['host'], port=found['port'], endpoint=endpoint(found['host'], found['port']),
                              promote=True if promote is None else boolean(promote, strict=False)))
    return endpoints


def connection_options(variables, login='target', primary_target_of=None, other_end_as=None):
    """The connection options of the ``kvmigrate.replication.redis`` action group for one host of the inventory: log in
    to its ``login`` end (``target`` or ``source``), with the TLS and timeout options, and ``option_labels`` naming the
    inventory variable behind each option, so a module's error names what the user sets. Unset credentials and TLS
    files are left out, which module_defaults reads as unset.

    ``variables`` are the host's variables (``hostvars[inventory_hostname]``). ``primary_target_of`` names the host whose
    target is the primary instead of this host's other end (a sibling moving to the promoted target of its source):
    the primary's options are then labelled with that host's variables.

    ``other_end_as`` (``primary`` or ``source``) adds the other end of the pair as the module options that name it
    (``primary_*``, or ``source_host``/``source_port`` with ``primary_user``/``primary_password``), with the inventory
    contract's defaults, so no task writes ``kvmigrate_source_port | default(6379)`` again. Only for tasks whose
    modules of the action group all take those options."""
    if login not in ('target', 'source'):
        raise AnsibleFilterError("connection_options: login=%r is not an end of a pair: use target or source." % (login,))
    if other_end_as is not None and other_end_as not in _OTHER_END_OPTIONS:
        raise AnsibleFilterError("connection_options: other_end_as=%r is not a way to name the other end: use %s."
                                 % (other_end_as, ' or '.join(sorted(_OTHER_END_OPTIONS))))
    other = 'source' if login == 'target' else 'target'
    end = _end(variables, login)
    if end['host'] is None:
        raise AnsibleFilterError("Inventory host %s has no kvmigrate_%s_host: set it to the %s's address (docs/inventory.md)."
                                 % (variables.get('inventory_hostname'), login, login))

    options = {}
    for option, field in (('login_host', 'host'), ('login_port', 'port'), ('login_user', 'user'), ('login_password', 'password')):
        if end[field] is not None:
            options[option] = end[field]
    for option, variable, default in _SHARED_OPTIONS:
        value = variables.get(variable)
        if value is None:
            value = default
        if value is not None:
            options[option] = value

    labels = dict((option, 'kvmigrate_%s_%s' % (login if which == 'login' else other, field)) for which, option, field in _END_OPTIONS)
    labels.update((option, variable) for option, variable, dummy in _SHARED_OPTIONS)
    labels.update(_PAIR_OPTION_LABELS)
    if primary_target_of is not None:
        labels.update((option, 'kvmigrate_target_%s of %s' % (field, primary_target_of))
                      for which, option, field in _END_OPTIONS if option.startswith('primary_'))
    if other_end_as is not None:
        far = _end(variables, other)
        if far['host'] is None:
            raise AnsibleFilterError("Inventory host %s has no kvmigrate_%s_host: set it to the %s's address "
                                     "(docs/inventory.md)." % (variables.get('inventory_hostname'), other, other))
        for option, field in _OTHER_END_OPTIONS[other_end_as]:
            if far[field] is not None:
                options[option] = far[field]
    options['option_labels'] = labels
    return options


class FilterModule(object):
    def filters(self):
        return {'unknown_variables': unknown_variables, 'connection_options': connection_options, 'pair_endpoints': pair_endpoints}
