#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_replace
short_description: Move one shard of a live Redis or Valkey Cluster to new nodes, with no lost write
version_added: 0.2.0
description:
  - Moves the shard that serves O(slot) to O(new_nodes). The first new node becomes the shard's master, the others its
    replicas. The old master and the old replicas become replicas of the new master; they leave with
    M(kvmigrate.replication.cluster_forget) once every shard has moved.
  - "The steps, each skipped when the cluster shows it done, so that a re-run goes on where a run stopped:
    C(CLUSTER MEET) (a new node joins the cluster); C(CLUSTER REPLICATE <old master id>) (it replicates the shard's
    master); the wait for sync of M(kvmigrate.replication.wait_for_sync), with its lag thresholds; C(CLUSTER FAILOVER)
    on the first new node."
  - C(CLUSTER FAILOVER) is the coordinated form, never C(FORCE) or C(TAKEOVER). The old master pauses its clients,
    the new node catches up to the paused offset, wins the election and takes the slots. No acknowledged write is
    lost, and the slots always have a master. A failover the server aborts (after 5 s) leaves the old master in place
    and is tried again until O(failover_timeout).
  - The cluster must report C(cluster_state:ok), with every assigned slot served, before each step and after the
    last. Otherwise the module stops there and says why.
  - New nodes must run in cluster mode, be empty and belong to no other cluster. A new node that holds keys or serves
    slots is refused before anything changes.
  - One shard per invocation. The role C(kvmigrate.replication.cluster_migrate) runs the shards one after the other.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.wait
attributes:
  check_mode:
    support: full
    description:
      - Reads the cluster and the new nodes and returns the commands a run would send, in RV(commands). Sends none.
  diff_mode:
    support: full
    description:
      - Shows the shard's master and replicas before and after.
options:
  slot:
    description:
      - A slot of the shard to move (any slot it serves; the role passes its first one).
    type: int
    required: true
  new_nodes:
    description:
      - The new nodes of this shard, as C(host)/C(port) dicts or C(host:port) strings. The first becomes the master.
      - Give as many as the shard has nodes (master and replicas), so that it keeps its replica count. More than that
        is refused before anything changes, as in the pairing of M(kvmigrate.replication.cluster_info).
    type: list
    elements: raw
    required: true
  seeds:
    description:
      - More nodes of the cluster (C(host:port)), tried in order when O(login_host) belongs to no cluster that serves
        slots, such as a new node that has not joined yet.
    type: list
    elements: str
    default: []
  cluster_timeout:
    description:
      - Seconds to wait for each change to spread through the cluster (a node joining, gossip telling every master
        about a new replica, C(cluster_state:ok) again).
    type: float
    default: 60.0
  failover_timeout:
    description:
      - Seconds for the first new node to become master after the first C(CLUSTER FAILOVER), attempts included.
    type: float
    default: 30.0
notes:
  - Every node is reached with O(login_user)/O(login_password) at the address the cluster lists it by. The nodes of a
    cluster replicate each other, so they share credentials (C(masterauth)); the new nodes need the same.
  - Before it changes a node, the module names its connection C(kvmigrate-op:cluster_replace:<pid>) and refuses when
    another kvmigrate operation is connected there.
  - The login user needs C(CLUSTER), C(INFO), C(ROLE), C(CONFIG GET) and C(CLIENT) on every node.
seealso:
  - module: kvmigrate.replication.cluster_info
  - module: kvmigrate.replication.cluster_forget
'''

EXAMPLES = r'''
- name: Move the shard of slot 0 to two new nodes
  kvmigrate.replication.cluster_replace:
    login_host: redis-old-1.example.com
    login_password: "{{ cluster_password }}"
    slot: 0
    new_nodes:
      - {host: redis-new-1.example.com, port: 6379}
      - {host: redis-new-2.example.com, port: 6379}
    max_lag_bytes: 1048576
  delegate_to: localhost
  register: moved
'''

RETURN = r'''
shard:
  description: The slots of the shard.
  returned: success
  type: str
  sample: 0-5460
before:
  description: The shard's master and replicas before.
  returned: success
  type: dict
  sample: {"slots": "0-5460", "master": "10.0.0.11:6379", "replicas": ["10.0.0.14:6379"]}
after:
  description: The shard's master and replicas after (planned, in check mode).
  returned: success
  type: dict
new_master:
  description: Address and node id of the shard's new master.
  returned: success
  type: dict
commands:
  description: The commands sent (or, in check mode, that would be sent), each prefixed with the node.
  returned: success
  type: list
  elements: str
timeline:
  description:
    - The steps done, in order, each with C(step) (meet, replicate, synced, failover, master), C(node), C(at),
      seconds since the module started, and C(time), seconds since the epoch (one clock for every shard of a run).
  returned: success
  type: list
  elements: dict
pause_ms:
  description:
    - Milliseconds from C(CLUSTER FAILOVER) (the attempt that succeeded) until the new node reported itself master,
      about as long as the old master held its clients' writes. Null when no failover was made.
  returned: success
  type: float
  sample: 8.2
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import cluster as cluster_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connection_argument_spec, require_redis, sanitize, validate_connection_params)
from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import validate_wait_params, wait_argument_spec


def run(module):
    params = module.params
    validate_connection_params(params)
    validate_wait_params(params)
    if not 0 <= params['slot'] < cluster_utils.SLOT_COUNT:
        raise KvmigrateError("Option slot=%s is not a slot: use a number from 0 to 16383." % params['slot'])
    for option in ('cluster_timeout', 'failover_timeout'):
        if not params[option] > 0:
            raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (option, params[option]))
    new_nodes = cluster_utils.node_specs(params['new_nodes'])
    if not new_nodes:
        raise KvmigrateError("Option new_nodes is empty: give the new nodes of the shard, the future master first.")
    cluster = cluster_utils.Cluster(params)
    try:
        cluster.find_seed()
        replacement = cluster_utils.ShardReplacement(cluster, params['slot'], new_nodes, params,
                                                     check_mode=module.check_mode,
                                                     failover_timeout=params['failover_timeout'])
        result = replacement.run()
    finally:
        cluster.close()
    result['diff'] = dict(before=result['before'], after=result['after'])
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(wait_argument_spec())
    argument_spec.update(cluster_utils.cluster_argument_spec())
    argument_spec.update(
        slot=dict(type='int', required=True),
        new_nodes=dict(type='list', elements='raw', required=True),
        failover_timeout=dict(type='float', default=30.0),
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
