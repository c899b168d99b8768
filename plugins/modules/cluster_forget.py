#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_forget
short_description: Make old nodes leave a Redis or Valkey Cluster
version_added: 0.2.0
description:
  - Sends C(CLUSTER FORGET <id>) for each node of O(nodes) to every node that stays, one after the other at once. A
    server keeps a forgotten node on a ban list for 60 seconds only (C(CLUSTER_BLACKLIST_TTL) in Redis' C(cluster.c));
    a node that still knows it after that would tell the others about it again. The module then reads every node's
    list again and forgets once more what came back.
  - Before the first C(CLUSTER FORGET), every node that stays must list every other node that stays. A node that joined
    last may be known to the others only through the old nodes' gossip; once they leave, nobody would tell the others
    about it. The module sends C(CLUSTER MEET) between staying nodes that do not know each other yet, and waits up to
    O(cluster_timeout) until each lists every other one.
  - Then, with O(reset=true), sends C(CLUSTER RESET SOFT) to each removed node, so that it stops talking to the cluster.
    The server turns a reset replica into an empty master and flushes its data. This is what
    C(redis-cli --cluster del-node) does.
  - Refuses, before it changes anything, to remove a node that is still the master of slots, a node that a staying node
    replicates, or so many replicas of a shard that it would have fewer than it had before the migration.
  - Idempotent. A node that no staying node knows and that knows no other node (or does not answer) is gone already.
  - The cluster must report C(cluster_state:ok) before and after.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
attributes:
  check_mode:
    support: full
    description:
      - Returns the commands a run would send, in RV(commands). Sends none.
  diff_mode:
    support: full
    description:
      - Shows the cluster's nodes before and after.
options:
  nodes:
    description:
      - The nodes that leave, as C(host:port) (the address the cluster lists them by, or any that resolves to it).
      - O(login_host) must be a node that stays.
    type: list
    elements: str
    required: true
  reset:
    description:
      - Send C(CLUSTER RESET SOFT) to each removed node once every node that stays has forgotten it.
    type: bool
    default: true
  seeds:
    description:
      - More nodes of the cluster (C(host:port)), tried in order when O(login_host) belongs to no cluster that serves
        slots.
    type: list
    elements: str
    default: []
  cluster_timeout:
    description:
      - Seconds to wait for C(cluster_state:ok) after the nodes left.
    type: float
    default: 60.0
notes:
  - Every node is reached with O(login_user)/O(login_password) at the address the cluster lists it by.
seealso:
  - module: kvmigrate.replication.cluster_replace
'''

EXAMPLES = r'''
- name: Remove the old nodes once every shard has moved
  kvmigrate.replication.cluster_forget:
    login_host: redis-new-1.example.com
    login_password: "{{ cluster_password }}"
    nodes: ["10.0.0.11:6379", "10.0.0.14:6379"]
  delegate_to: localhost
'''

RETURN = r'''
removed:
  description: The nodes that were (or, in check mode, would be) forgotten.
  returned: success
  type: list
  elements: str
commands:
  description: The commands sent (or that would be), each prefixed with the node.
  returned: success
  type: list
  elements: str
  sample: ["10.0.0.21:6379: CLUSTER FORGET 07c37dfeb235213a872192d90877d0cd55635b91"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import cluster as cluster_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connection_argument_spec, require_redis, sanitize, validate_connection_params)


def run(module):
    params = module.params
    validate_connection_params(params)
    nodes = [cluster_utils.parse_address(node) for node in params['nodes']]
    cluster = cluster_utils.Cluster(params)
    try:
        cluster.find_seed()
        before = sorted(view['address'] for view in cluster_utils.describe_cluster(cluster)['nodes'])
        result = cluster_utils.Removal(cluster, ['%s:%d' % node for node in nodes], reset=params['reset'],
                                       check_mode=module.check_mode).run()
    finally:
        cluster.close()
    after = sorted(set(before) - set(result['removed']))
    result['diff'] = dict(before=dict(nodes=before), after=dict(nodes=after))
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(cluster_utils.cluster_argument_spec())
    argument_spec.update(
        nodes=dict(type='list', elements='str', required=True),
        reset=dict(type='bool', default=True),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module)
    except KvmigrateError as exc:
        module.fail_json(msg=sanitize(exc.msg, [module.params.get('login_password')]),
                         **sanitize(exc.details, [module.params.get('login_password')]))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
