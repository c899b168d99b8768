#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_info
short_description: Find the Sentinels that watch a source/target pair and what each reports
version_added: 0.2.0
description:
  - Reads, from every Sentinel in O(sentinels), the master each monitors (C(SENTINEL MASTERS)), and from the target
    (O(login_host)) and the source (O(source_host)) the Sentinels connected to them (C(CLIENT LIST) names
    C(sentinel-<id>-cmd) and C(sentinel-<id>-pubsub)).
  - Returns findings. Blockers are a listed Sentinel that cannot be reached, and a Sentinel that watches either end
    but is not listed (found by its id on the servers, or as a peer the listed Sentinels know). Such a Sentinel would
    fail over after the cutover and leave two writable primaries.
  - Warnings say where what the Sentinels report disagrees with the servers' roles (a Sentinel that reports a replica
    as its master), or with each other, and when a hand-over record (C(kvmigrate:sentinel)) says a hand-over was
    interrupted.
  - Never changes anything. A server that does not answer is a finding, not a failure.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
  - kvmigrate.replication.sentinel
options: {}
seealso:
  - module: kvmigrate.replication.sentinel_master
'''

EXAMPLES = r'''
- name: Find the Sentinels watching the pair
  kvmigrate.replication.sentinel_info:
    login_host: redis-new.example.com
    source_host: redis-old.example.com
    primary_password: "{{ source_password }}"
    sentinels: [10.0.0.21:26379, 10.0.0.22:26379, 10.0.0.23:26379]
    sentinel_password: "{{ sentinel_password }}"
  delegate_to: localhost
  register: sentinel_report

- name: Refuse a pair watched by Sentinels the list does not name
  ansible.builtin.assert:
    that: sentinel_report.blockers == 0
    fail_msg: "{{ sentinel_report.findings | map(attribute='message') | join(' | ') }}"
'''

RETURN = r'''
master_name:
  description: The master name the Sentinels use for the pair (the option, the hand-over record's, or found). Null
    when no Sentinel watches either end.
  returned: success
  type: str
  sample: mymaster
sentinels:
  description: One entry per listed Sentinel that answered.
  returned: success
  type: list
  elements: dict
  contains:
    endpoint:
      description: The Sentinel, host:port as listed.
      type: str
    id:
      description: The first 8 characters of its id (C(SENTINEL MYID)), as its connections are named.
      type: str
    master_name:
      description: The master name, when this Sentinel monitors it.
      type: str
    master_address:
      description: The address this Sentinel reports for the master (what its clients get).
      type: str
    watches:
      description: V(source), V(target), or null when the reported master is neither end (or none).
      type: str
    flags:
      description: The Sentinel's flags for the master (V(master), V(s_down), V(o_down), ...).
      type: str
    settings:
      description: C(quorum), C(down-after-milliseconds), C(failover-timeout) and C(parallel-syncs).
      type: dict
  sample: [{"endpoint": "10.0.0.21:26379", "id": "6aa4c237", "master_name": "mymaster",
            "master_address": "10.0.0.12:6379", "watches": "target", "flags": "master",
            "settings": {"quorum": 2, "down-after-milliseconds": 5000, "failover-timeout": 60000, "parallel-syncs": 1}}]
unreachable:
  description: Listed Sentinels that did not answer, with the error sentence.
  returned: success
  type: list
  elements: dict
unlisted:
  description: Sentinels watching the pair that O(sentinels) misses (C(id), and C(server) and C(addresses) or
    C(address)).
  returned: success
  type: list
  elements: dict
record:
  description: The hand-over record of an unfinished hand-over (master name, settings per Sentinel id, the address of
    the new primary, the old primary's other replicas), else null. It holds no password.
  returned: success
  type: dict
disagreements:
  description: Sentences, one per disagreement between what the Sentinels report and the servers' roles.
  returned: success
  type: list
  elements: str
findings:
  description: One entry per finding, C(severity) (V(blocker) or V(warning)), C(check) and C(message).
  returned: success
  type: list
  elements: dict
blockers:
  description: Number of findings with severity V(blocker).
  returned: success
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import sentinel as sentinel_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connection_argument_spec, require_redis, sanitize, validate_connection_params)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(sentinel_utils.sentinel_argument_spec())
    return spec


def run(params):
    validate_connection_params(params)
    return sentinel_utils.report(params)


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    module = module_class(argument_spec=argument_spec(), supports_check_mode=True)
    require_redis(module)
    secrets = [module.params.get(o) for o in ('login_password', 'primary_password', 'sentinel_password')]
    try:
        result = run(module.params)
    except KvmigrateError as exc:
        module.fail_json(msg=sanitize(exc.msg, secrets), **sanitize(exc.details, secrets))
    module.exit_json(**sanitize(result, secrets))


if __name__ == '__main__':
    main()
