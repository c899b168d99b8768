#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: replicaof
short_description: Make a Redis-protocol server replicate from a primary, or promote it
version_added: 0.1.0
description:
  - Points a target server (Redis, Valkey, KeyDB, Dragonfly) at a primary with C(REPLICAOF), or promotes it with
    C(REPLICAOF NO ONE).
  - Idempotent. A target that already replicates from the same primary is left alone, and C(REPLICAOF) is never sent
    again. Addresses are resolved before they are compared, so C(localhost) and C(127.0.0.1) count as the same
    primary. This matters because Dragonfly starts a new full sync on every C(REPLICAOF).
  - Safe. A full sync discards the target's data. A target that holds keys and does not already replicate from that
    primary is refused, and the error says how many keys would be discarded. Set O(allow_flush=true) to allow it.
  - Sets C(masteruser)/C(masterauth) on the target, only when they differ, so the replication link can authenticate.
  - To wait until the new replica has really synced, use M(kvmigrate.replication.wait_for_sync) after this module.
author:
  - kvmigrate.replication contributors
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.PRIMARY_AUTH
attributes:
  check_mode:
    support: full
    description: Reads the target and reports what would change; changes nothing.
  diff_mode:
    support: full
    description: Shows the target's role and primary before and after.
  action_group:
    support: full
    membership:
      - kvmigrate.replication.redis
options:
  state:
    description:
      - V(replica) makes the target replicate from O(primary_host):O(primary_port).
      - V(primary) promotes the target (C(REPLICAOF NO ONE)). It keeps its data and accepts writes.
    type: str
    choices: [replica, primary]
    default: replica
  primary_host:
    description:
      - Address of the primary, as the target must reach it. The target resolves this name, not the control node.
      - Required when O(state=replica).
    type: str
    aliases: [master_host]
  primary_port:
    description:
      - Port of the primary.
    type: int
    default: 6379
    aliases: [master_port]
  allow_flush:
    description:
      - Allow a full sync that discards the keys the target holds now.
      - Without it, a target that holds keys is refused unless it already replicates from that primary.
    type: bool
    default: false
  persist:
    description:
      - After a change, run C(CONFIG REWRITE) so the new role (and C(masterauth)) survive a restart.
      - Where the server cannot do this (no config file, or Dragonfly), the module warns and returns RV(persisted=false).
    type: bool
    default: false
notes:
  - KeyDB with C(multi-master yes) adds a primary on each C(REPLICAOF) instead of replacing it. This module treats
    the first primary it reports as the current one.
  - Redis before 6.0 has no C(masteruser); O(primary_user) is refused there.
seealso:
  - module: kvmigrate.replication.wait_for_sync
  - module: kvmigrate.replication.replication_info
'''

EXAMPLES = r'''
- name: Make the new server replicate from the old one (refuses if the new one holds keys)
  kvmigrate.replication.replicaof:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    primary_host: redis-old.example.com
    primary_port: 6379
    primary_password: "{{ source_password }}"
  delegate_to: localhost

- name: Replicate into a server that holds keys we agreed to discard
  kvmigrate.replication.replicaof:
    login_host: 10.0.0.12
    primary_host: 10.0.0.11
    allow_flush: true

- name: Promote the target and keep the role across restarts
  kvmigrate.replication.replicaof:
    login_host: redis-new.example.com
    state: primary
    persist: true

- name: Share connection options through the action group
  module_defaults:
    group/kvmigrate.replication.redis:
      login_password: "{{ target_password }}"
      tls: true
      ca_certs: /etc/ssl/certs/internal-ca.pem
  block:
    - name: Point the target at the source
      kvmigrate.replication.replicaof:
        login_host: redis-new.example.com
        primary_host: redis-old.example.com
'''

RETURN = r'''
before:
  description: The target's role and primary before the module ran.
  returned: success
  type: dict
  sample: {"role": "primary", "primary_host": null, "primary_port": null}
after:
  description: The target's role and primary after the module ran (predicted in check mode).
  returned: success
  type: dict
  sample: {"role": "replica", "primary_host": "10.0.0.11", "primary_port": 6379}
flavor:
  description: Server product of the target.
  returned: success
  type: str
  sample: redis
version:
  description: Version of the target's server product.
  returned: success
  type: str
  sample: 7.0.15
commands:
  description: Commands sent, or that would be sent in check mode. Passwords are masked.
  returned: success
  type: list
  elements: str
  sample: ["CONFIG SET masterauth ********", "REPLICAOF 10.0.0.11 6379"]
keys_discarded:
  description: Keys the target held when a full sync that discards them was started (or would be, in check mode).
  returned: success
  type: int
  sample: 0
persisted:
  description: Whether C(CONFIG REWRITE) saved the change. Null when O(persist=false) or nothing changed.
  returned: success
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, primary_auth_argument_spec, require_redis, same_endpoint,
    validate_connection_params, validate_port, endpoint)


def _role_view(status):
    if status.get('role') == 'replica':
        return dict(role='replica', primary_host=status.get('primary_host'), primary_port=status.get('primary_port'))
    return dict(role='primary', primary_host=None, primary_port=None)


def _validate(params):
    validate_connection_params(params)
    if params['state'] == 'replica':
        if not params['primary_host']:
            raise KvmigrateError("Option primary_host is required with state=replica: set it to the source's address.")
        validate_port(params['primary_port'], 'primary_port')
        if same_endpoint(params['primary_host'], params['primary_port'], params['login_host'], params['login_port']):
            raise KvmigrateError(
                "Target %s would replicate from itself (primary_host=%s, primary_port=%s): point primary_host/primary_port "
                "at the source server." % (endpoint(params['login_host'], params['login_port']), params['primary_host'],
                                           params['primary_port']))


def _plan_replica(target, params, status):
    """Commands that make the target a replica of the primary; raises on unsafe input."""
    plan = []
    caps = info_utils.capabilities(target.flavor, target.version)
    if params['primary_user'] is not None and not caps.get('masteruser', True):
        raise KvmigrateError("Target %s runs %s %s, which has no masteruser: drop primary_user and authenticate the link "
                             "with primary_password only." % (target.endpoint, target.flavor, target.version))
    for option, config in (('primary_user', 'masteruser'), ('primary_password', 'masterauth')):
        wanted = params[option]
        if wanted is None:
            continue
        try:
            current = target.config_get(config)
        except KvmigrateError:
            current = None  # not readable (ACL or flavor): set it, which is harmless
        if current != wanted:
            plan.append(('CONFIG', 'SET', config, wanted))

    already = status.get('role') == 'replica' and same_endpoint(
        status.get('primary_host'), status.get('primary_port'), params['primary_host'], params['primary_port'])
    keys = 0
    if not already:
        _refuse_loop(target, params, status)
        keys = target.dbsize()
        if keys and not params['allow_flush']:
            raise KvmigrateError(
                "Target %s holds %d keys; replicating from %s would discard them. Empty the target, or set allow_flush: true "
                "if losing them is intended." % (target.endpoint, keys, endpoint(params['primary_host'], params['primary_port'])),
                keys=keys)
        plan.append(('REPLICAOF', params['primary_host'], str(params['primary_port'])))
    return plan, keys


def _refuse_loop(target, params, status):
    """A target whose own replica is the primary we were given would form a loop."""
    for replica in status.get('replicas') or []:
        if same_endpoint(replica.get('ip'), replica.get('port'), params['primary_host'], params['primary_port']):
            raise KvmigrateError(
                "Target %s already feeds %s as its replica; making it replicate from %s would form a replication loop. "
                "Promote or repoint %s first." % (target.endpoint, endpoint(replica.get('ip'), replica.get('port')),
                                                  endpoint(params['primary_host'], params['primary_port']),
                                                  params['primary_host']))


def _masked(command):
    if command[:3] == ('CONFIG', 'SET', 'masterauth'):
        return 'CONFIG SET masterauth ********'
    return ' '.join(str(part) for part in command)


def _persist(target, module):
    try:
        target.call('CONFIG', 'REWRITE')
        return True
    except KvmigrateError as exc:
        module.warn("persist: %s could not save its configuration (%s); the change is live but a restart would undo it. "
                    "Add the replicaof/masterauth settings to its configuration by hand." % (target.endpoint, exc.msg))
        return False


def run(module):
    params = module.params
    _validate(params)
    target = connect(params, what='target')
    try:
        target.identify()
        dummy, dummy, status = target.status()
        before = _role_view(status)
        keys = 0
        if params['state'] == 'replica':
            plan, keys = _plan_replica(target, params, status)
            after = dict(role='replica', primary_host=params['primary_host'], primary_port=params['primary_port'])
            if not any(c[0] == 'REPLICAOF' for c in plan):
                after = dict(before)
        else:
            plan = [] if status.get('role') == 'primary' else [('REPLICAOF', 'NO', 'ONE')]
            after = dict(role='primary', primary_host=None, primary_port=None)

        persisted = None
        if plan and not module.check_mode:
            for command in plan:
                target.call(*command)
            if params['persist']:
                persisted = _persist(target, module)
        return dict(
            changed=bool(plan),
            before=before,
            after=after,
            flavor=target.flavor,
            version=target.version,
            commands=[_masked(c) for c in plan],
            keys_discarded=keys if any(c[0] == 'REPLICAOF' and c[1] != 'NO' for c in plan) else 0,
            persisted=persisted,
            diff=dict(before=before, after=after),
        )
    finally:
        target.close()


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(primary_auth_argument_spec())
    argument_spec.update(
        state=dict(type='str', default='replica', choices=['replica', 'primary']),
        primary_host=dict(type='str', aliases=['master_host']),
        primary_port=dict(type='int', default=6379, aliases=['master_port']),
        allow_flush=dict(type='bool', default=False),
        persist=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
