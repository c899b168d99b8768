#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: compare_sample
short_description: Compare a sample of keys and values between a source and its replica
version_added: 0.1.0
description:
  - Picks up to O(sample_size) keys on the source with C(SCAN), spread over every database that holds keys, and reads
    each one on both ends by type (C(GET), C(HGETALL), C(SMEMBERS), C(ZRANGE WITHSCORES), C(LRANGE), C(XRANGE); a
    collection longer than 10000 elements by its length alone). C(DUMP) is not used, because its payload differs
    between flavors.
  - A key that differs is read again on both ends after O(recheck_delay) seconds, so that a write still on its way to
    the replica does not count. A key deleted or expired on the source meanwhile does not count either.
  - It matters most for a Dragonfly target, which applies the source's stream without looking at the replies, so a
    command it rejects is lost while its offset says caught up. The M(kvmigrate.replication.wait_for_sync) key
    counts catch lost keys; this catches lost or wrong values.
  - Fails when a sampled key differs, naming the first keys (never their values).
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
  - kvmigrate.replication.connection.PRIMARY_AUTH
options:
  primary_host:
    description:
      - Address of the source as the node that runs the module reaches it. Defaults to the C(master_host) the target
        reports.
    type: str
    aliases: [master_host]
  primary_port:
    description:
      - Port of the source. Defaults to the C(master_port) the target reports.
    type: int
    aliases: [master_port]
  sample_size:
    description:
      - How many keys to compare. V(0) compares none.
    type: int
    default: 100
  recheck_delay:
    description:
      - Seconds to wait before reading a differing key again on both ends.
    type: float
    default: 1.0
seealso:
  - module: kvmigrate.replication.wait_for_sync
'''

EXAMPLES = r'''
- name: Compare 200 keys of the source with the Dragonfly target before the cutover
  kvmigrate.replication.compare_sample:
    login_host: dragonfly-new.example.com
    sample_size: 200
  delegate_to: localhost
'''

RETURN = r'''
sampled:
  description: How many keys were compared.
  returned: always
  type: int
  sample: 100
differing:
  description: The sampled keys that still differed when read again, with the reason (never the values).
  returned: always
  type: list
  elements: dict
  sample: [{"database": 0, "key": "user:42", "reason": "values differ"}]
source:
  description: The source compared with, as C(host:port).
  returned: always
  type: str
  sample: "10.0.1.10:6379"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kvmigrate.replication.plugins.module_utils import sample as sample_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, primary_auth_argument_spec, require_redis,
    validate_connection_params)


def run(params):
    validate_connection_params(params)
    if params['sample_size'] < 0:
        raise KvmigrateError('Option sample_size=%s must be 0 or more.' % params['sample_size'])
    if params['recheck_delay'] is None or params['recheck_delay'] < 0:
        raise KvmigrateError('Option recheck_delay=%s must be 0 or more seconds.' % params['recheck_delay'])
    target = connect(params, what='target')
    try:
        result = sample_utils.compare_with_source(params, target, params['sample_size'], params['recheck_delay'],
                                                  host=params['primary_host'], port=params['primary_port'])
    finally:
        target.close()
    return dict(changed=False, **result)


def main(module_class=AnsibleModule):
    argument_spec = connection_argument_spec()
    argument_spec.update(primary_auth_argument_spec())
    argument_spec.update(
        primary_host=dict(type='str', aliases=['master_host']),
        primary_port=dict(type='int', aliases=['master_port']),
        sample_size=dict(type='int', default=100),
        recheck_delay=dict(type='float', default=1.0),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module.params)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
