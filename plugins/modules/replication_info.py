#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: replication_info
short_description: Read a Redis-protocol server's replication state, keyspace and memory, the same way for every flavor
version_added: 0.1.0
description:
  - Reads C(INFO) (and C(ROLE) on Dragonfly). It returns one normalised view of replication, whatever the server.
    The servers are Redis 6.2 to 8, Valkey 7.2 and 8, KeyDB and Dragonfly.
  - The view holds role, primary, link, sync progress, offsets, replicas and a flavor-aware RV(replication.synced).
    It also holds the keyspace and memory figures a migration needs.
  - Never changes anything.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
options: {}
seealso:
  - module: kvmigrate.replication.wait_for_sync
'''

EXAMPLES = r'''
- name: Read the target's replication state
  kvmigrate.replication.replication_info:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
  delegate_to: localhost
  register: target_info

- name: Refuse to go on unless the target is a synced replica
  ansible.builtin.assert:
    that:
      - target_info.replication.role == 'replica'
      - target_info.replication.synced
    fail_msg: "{{ inventory_hostname }} is not a synced replica ({{ target_info.replication.sync_state }})"
'''

RETURN = r'''
flavor:
  description: Server product, one of V(redis), V(valkey), V(keydb), V(dragonfly).
  returned: success
  type: str
  sample: valkey
version:
  description: Version of that product (C(valkey_version) for Valkey, not its fixed C(redis_version)).
  returned: success
  type: str
  sample: 8.0.1
replication:
  description: Normalised replication state. Fields a server does not report are null.
  returned: success
  type: dict
  contains:
    role:
      description: V(primary) or V(replica).
      type: str
    primary_host:
      description: The primary the replica was told to follow (as the server reports it).
      type: str
    primary_port:
      description: Port of that primary.
      type: int
    link_status:
      description: C(master_link_status) as reported (V(up)/V(down)). On Dragonfly V(up) only means TCP is connected.
      type: str
    sync_in_progress:
      description: An initial (full) sync is running.
      type: bool
    sync_percent:
      description: Transfer progress of the full sync in percent, where reported.
      type: float
    replica_offset:
      description: Offset the replica has applied (C(slave_repl_offset)).
      type: int
    primary_offset:
      description: The server's own replication offset (C(master_repl_offset)).
      type: int
    replicas:
      description: This server's replicas, one entry per replica (ip, port, state, offset, lag, and any extra fields).
      type: list
      elements: dict
    synced:
      description: The replica has finished its initial sync and follows the stream (flavor-aware).
      type: bool
    sync_state:
      description: One word, V(primary), V(connecting), V(full_sync), V(online) or V(down).
      type: str
  sample: {"role": "replica", "primary_host": "10.0.0.11", "primary_port": 6379, "link_status": "up", "synced": true}
keyspace:
  description: Key counts.
  returned: success
  type: dict
  sample: {"dbsize": 100000, "databases": {"db0": {"keys": 100000, "expires": 12, "avg_ttl": 0}}}
memory:
  description: Memory figures, in bytes (C(maxmemory) 0 means no limit).
  returned: success
  type: dict
  sample: {"used_memory": 10485760, "maxmemory": 0}
raw:
  description: Every field of C(INFO) as the server printed it (name to string).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, require_redis, validate_connection_params)


def run(params):
    validate_connection_params(params)
    server = connect(params, what='server')
    try:
        server.identify()
        dummy, fields, status = server.status(full=True)
        return dict(
            changed=False,
            flavor=server.flavor,
            version=server.version,
            replication=status,
            keyspace=info_utils.keyspace(fields),
            memory=info_utils.memory(fields),
            raw=fields,
        )
    finally:
        server.close()


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    module = module_class(argument_spec=connection_argument_spec(), supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module.params)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
