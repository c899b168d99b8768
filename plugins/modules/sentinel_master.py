#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_master
short_description: Hand a Sentinel master name over from the old primary to the new one around a cutover
version_added: 0.2.0
description:
  - Before a cutover (O(state=released)), every Sentinel in O(sentinels) that monitors the old primary (O(source_host))
    forgets it with C(SENTINEL REMOVE), so no Sentinel acts while the primary role moves. What C(REMOVE) forgets is
    first written to the key C(kvmigrate:sentinel) on the old primary, which replicates it to the new primary
    (O(login_host)). It holds the master name, each Sentinel's quorum, C(down-after-milliseconds),
    C(failover-timeout) and C(parallel-syncs), the address the old primary lists the new primary by, and the old
    primary's other replicas.
  - After the cutover (O(state=monitored)), the old primary's other replicas are pointed at the new primary (a partial
    resync, since the old primary already follows it). Then every Sentinel monitors the new primary under the same
    master name (C(SENTINEL MONITOR), then C(SENTINEL SET) with the recorded settings and O(auth_user)/O(auth_password)),
    and the record is deleted.
  - Before any change, every Sentinel must answer and no Sentinel that the list misses may watch either end
    (C(CLIENT LIST) names C(sentinel-<id>-cmd); peers from C(SENTINEL SENTINELS)). Otherwise nothing is changed.
  - Decides from the servers' state alone. A Sentinel that no longer monitors the old primary is left alone; one that
    monitors the new primary with the recorded settings is left alone. So a re-run, another AWX slice or a run killed
    at any step converges, and a finished hand-over reports C(changed=false).
  - O(state=monitored) refuses while the new primary is still a replica.
  - Before the new primary starts to replicate (O(state=shielded)), it gets C(replica-priority 0) when a listed
    Sentinel monitors the old primary. Those Sentinels learn it as a replica of the old primary once it syncs, and
    would otherwise be free to promote it, half-synced, should the old primary fail during the migration. Its value
    before is kept in the hash C(kvmigrate:sentinel:replica-priority) on the old primary (which replicates it), and
    O(state=monitored) sets it back once the new primary took over. A pair already cut over, or whose old primary no
    listed Sentinel monitors, is left alone.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.sentinel
options:
  state:
    description:
      - V(shielded) before the new primary replicates, V(released) before the cutover, V(monitored) after it.
    type: str
    required: true
    choices: [shielded, released, monitored]
  auth_user:
    description:
      - C(auth-user) the Sentinels use for the new primary and its replicas. Defaults to O(login_user).
      - Set only when a Sentinel starts monitoring the new primary, or while the hand-over is unfinished (Sentinel
        does not show it, so it cannot be compared).
    type: str
  auth_password:
    description:
      - C(auth-pass) the Sentinels use for the new primary and its replicas. Defaults to O(login_password).
    type: str
attributes:
  check_mode:
    support: full
    description: Reads every server and returns the commands it would send in RV(commands); sends none.
  diff_mode:
    support: full
    description: Shows the master each Sentinel monitors before and after.
seealso:
  - module: kvmigrate.replication.sentinel_info
  - module: kvmigrate.replication.replicaof
'''

EXAMPLES = r'''
- name: Keep the Sentinels from promoting the target while it replicates
  kvmigrate.replication.sentinel_master:
    state: shielded
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    source_host: redis-old.example.com
    primary_password: "{{ source_password }}"
    sentinels: [10.0.0.21:26379, 10.0.0.22:26379, 10.0.0.23:26379]
    sentinel_password: "{{ sentinel_password }}"
  delegate_to: localhost
- name: Make every Sentinel forget the old primary before the cutover
  kvmigrate.replication.sentinel_master:
    state: released
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    source_host: redis-old.example.com
    primary_password: "{{ source_password }}"
    sentinels: [10.0.0.21:26379, 10.0.0.22:26379, 10.0.0.23:26379]
    sentinel_password: "{{ sentinel_password }}"
  delegate_to: localhost

- name: Cut over
  kvmigrate.replication.replicaof:
    state: primary
    fence_source: true
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    source_host: redis-old.example.com
    primary_password: "{{ source_password }}"
  delegate_to: localhost

- name: Point every Sentinel at the new primary
  kvmigrate.replication.sentinel_master:
    state: monitored
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    source_host: redis-old.example.com
    primary_password: "{{ source_password }}"
    sentinels: [10.0.0.21:26379, 10.0.0.22:26379, 10.0.0.23:26379]
    sentinel_password: "{{ sentinel_password }}"
  delegate_to: localhost
'''

RETURN = r'''
master_name:
  description: The master name handed over.
  returned: success
  type: str
  sample: mymaster
commands:
  description: The commands sent (or, in check mode, that would be sent), each prefixed with its server. Passwords
    are masked.
  returned: success
  type: list
  elements: str
  sample: ["10.0.0.11:6379: SET kvmigrate:sentinel {...} PX 604800000", "10.0.0.21:26379: SENTINEL REMOVE mymaster"]
replica_priority:
  description: With O(state=shielded), when a Sentinel monitors the old primary, the new primary's C(replica-priority)
    before and after.
  returned: when shielded
  type: dict
  sample: {"before": 100, "after": 0}
record:
  description: The hand-over record used (master name, C(settings) per Sentinel id, C(new_primary) address,
    C(replicas)); null when there was none.
  returned: success
  type: dict
diff:
  description: The master each Sentinel monitors (C(name at ip:port), or null), before and after.
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import sentinel as sentinel_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connection_argument_spec, option_label, require_redis, sanitize, validate_connection_params)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(sentinel_utils.sentinel_argument_spec())
    spec.update(
        state=dict(type='str', required=True, choices=['shielded', 'released', 'monitored']),
        auth_user=dict(type='str'),
        auth_password=dict(type='str', no_log=True),
    )
    return spec


def run(params, check_mode=False):
    validate_connection_params(params)
    if not params.get('source_host'):
        raise KvmigrateError("Option %s is not set: name the old primary, whose Sentinels are handed over." %
                             option_label(params, 'source_host'))
    if not params.get('sentinels'):
        return dict(changed=False, master_name=None, commands=[], record=None,
                    diff=dict(before=dict(sentinels={}), after=dict(sentinels={})))
    handover = sentinel_utils.Handover(params, check_mode=check_mode)
    try:
        return dict(shielded=handover.shield, released=handover.release, monitored=handover.monitor)[params['state']]()
    finally:
        handover.close()


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    module = module_class(argument_spec=argument_spec(), supports_check_mode=True)
    require_redis(module)
    secrets = [module.params.get(o) for o in ('login_password', 'primary_password', 'sentinel_password', 'auth_password')]
    try:
        result = run(module.params, check_mode=module.check_mode)
    except KvmigrateError as exc:
        module.fail_json(msg=sanitize(exc.msg, secrets), **sanitize(exc.details, secrets))
    warnings = result.pop('warnings', [])
    for warning in warnings:
        module.warn(sanitize(warning, secrets))
    module.exit_json(**sanitize(result, secrets))


if __name__ == '__main__':
    main()
