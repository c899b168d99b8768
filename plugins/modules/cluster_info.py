#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_info
short_description: Read a Redis or Valkey Cluster's shards, and pair new nodes to them
version_added: 0.2.0
description:
  - Reads C(CLUSTER INFO) and C(CLUSTER NODES) of one node of a cluster and returns its state and its shards (a master
    that serves slots, with its replicas), ordered by their first slot.
  - With O(new_nodes) it also returns RV(plan), which new nodes replace which shard. The first new node of a shard
    becomes its master. The pairing is read from the cluster where a new node already belongs to a shard, so a re-run
    gives the same plan. See C(docs/cluster.md).
  - Never changes anything.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
options:
  seeds:
    description:
      - More nodes of the cluster (C(host:port)), tried in order when O(login_host) belongs to no cluster that serves
        slots, for example an old node that has already left, or a new node that has not joined yet.
      - Every node is reached with O(login_user)/O(login_password).
    type: list
    elements: str
    default: []
  cluster_timeout:
    description:
      - Unused here; accepted so that one set of options serves every cluster module.
    type: float
    default: 60.0
  new_nodes:
    description:
      - The new nodes, in the order the shards get them (by slot order, each shard one new node per old node).
      - Each has C(host), C(port) and optionally C(replaces), the old node (C(host:port)) it takes the place of; the
        shard of that old node then gets it.
    type: list
    elements: dict
notes:
  - Nodes are reached at the address the cluster lists them by (C(cluster-announce-ip) or their own address), so
    those addresses must be reachable from the node that runs the module.
seealso:
  - module: kvmigrate.replication.cluster_replace
  - module: kvmigrate.replication.cluster_forget
'''

EXAMPLES = r'''
- name: Pair the new nodes to the shards of the cluster
  kvmigrate.replication.cluster_info:
    login_host: redis-old-1.example.com
    login_password: "{{ cluster_password }}"
    new_nodes:
      - {host: redis-new-1.example.com, port: 6379, replaces: "10.0.0.11:6379"}
      - {host: redis-new-2.example.com, port: 6379}
  delegate_to: localhost
  register: cluster
'''

RETURN = r'''
cluster_state:
  description: C(cluster_state) of the node read (V(ok) or V(fail)).
  returned: success
  type: str
  sample: ok
seed:
  description: The node that was read.
  returned: success
  type: str
  sample: 10.0.0.11:6379
shards:
  description: One entry per master that serves slots, by first slot.
  returned: success
  type: list
  elements: dict
  sample: [{"slots": "0-5460", "master": "10.0.0.11:6379", "replicas": ["10.0.0.14:6379"]}]
nodes:
  description: Every node the cluster lists (C(id), C(address), C(role)).
  returned: success
  type: list
  elements: dict
plan:
  description: Which new nodes replace which shard; the first of its C(new_nodes) becomes the master.
  returned: when O(new_nodes) is set
  type: list
  elements: dict
  sample: [{"slot": 0, "slots": "0-5460", "new_nodes": ["10.0.0.21:6379", "10.0.0.24:6379"]}]
old_nodes:
  description: The nodes of the cluster that are not new nodes, those that leave at the end.
  returned: when O(new_nodes) is set
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import cluster as cluster_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connection_argument_spec, require_redis, sanitize, validate_connection_params)


def run(params):
    validate_connection_params(params)
    cluster = cluster_utils.Cluster(params)
    try:
        cluster.find_seed()
        new_nodes = cluster_utils.node_specs(params['new_nodes']) if params['new_nodes'] is not None else None
        result = cluster_utils.describe_cluster(cluster, new_nodes)
        result['changed'] = False
        return result
    finally:
        cluster.close()


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(cluster_utils.cluster_argument_spec())
    argument_spec.update(new_nodes=dict(type='list', elements='dict'))
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module.params)
    except KvmigrateError as exc:
        module.fail_json(msg=sanitize(exc.msg, [module.params.get('login_password')]),
                         **sanitize(exc.details, [module.params.get('login_password')]))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
