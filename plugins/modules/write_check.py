#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: write_check
short_description: Prove that a server accepts writes (after a promotion) or refuses them (a fenced source)
version_added: 0.1.0
description:
  - Writes one probe key with a short expiry and reads it back. By default it fails when the server refuses the write.
    With O(expect=refused), it fails when the server accepts it, which is how a fenced old primary is checked.
  - Only the server's own refusal counts as refused, C(-READONLY) (a replica) or C(-NOREPLICAS) (C(min-replicas-to-write)
    not met). A timeout, a reset connection, a permission error or any other failure proves nothing about the server's
    role. The outcome is then V(unknown) and the module fails, whatever O(expect) is.
  - The probe key expires by itself after O(ttl_ms) and belongs to no application. The module reports
    RV(ignore:changed=false), so that playbooks stay idempotent.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
attributes:
  check_mode:
    support: full
    description: Writes nothing in check mode and returns RV(writable=null).
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
options:
  expect:
    description:
      - V(accepted) fails unless the write succeeds; V(refused) fails unless the server refuses it.
    type: str
    choices: [accepted, refused]
    default: accepted
  key:
    description:
      - Name of the probe key.
    type: str
    default: "kvmigrate:write-check"
  ttl_ms:
    description:
      - Expiry of the probe key in milliseconds.
    type: int
    default: 60000
  timeout:
    description:
      - Seconds to wait for the server's answer to each command. A server that holds writes (C(CLIENT PAUSE)) gives no
        answer in time, and the outcome is V(unknown).
    type: float
    default: 10
'''

EXAMPLES = r'''
- name: The promoted target takes writes
  kvmigrate.replication.write_check:
    login_host: redis-new.example.com
  delegate_to: localhost

- name: The old primary refuses them
  kvmigrate.replication.write_check:
    login_host: redis-old.example.com
    expect: refused
  delegate_to: localhost
'''

RETURN = r'''
writable:
  description: Whether the write was accepted. Null in check mode and when the outcome is V(unknown).
  returned: always
  type: bool
  sample: true
outcome:
  description:
    - V(accepted), V(refused) (the server answered C(READONLY) or C(NOREPLICAS)) or V(unknown) (any other failure).
      Null in check mode.
  returned: always
  type: str
  sample: refused
error:
  description: The server's answer when it refused the write, or why the outcome is unknown.
  returned: when refused or unknown
  type: str
  sample: "READONLY You can't write against a read only replica."
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import probe as probe_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, require_redis, validate_connection_params)


def run(params, check_mode):
    validate_connection_params(params)
    if params['ttl_ms'] <= 0:
        raise KvmigrateError('Option ttl_ms=%s must be a positive number of milliseconds.' % params['ttl_ms'])
    if params['timeout'] is None or params['timeout'] <= 0:
        raise KvmigrateError('Option timeout=%s must be a positive number of seconds.' % params['timeout'])
    server = connect(params, what='server', command_timeout=params['timeout'])
    try:
        if check_mode:
            return dict(changed=False, writable=None, outcome=None)
        probe = probe_utils.probe_write(server, params['key'], params['ttl_ms'])
    finally:
        server.close()
    outcome, error = probe['outcome'], probe['error']
    writable = {probe_utils.ACCEPTED: True, probe_utils.REFUSED: False}.get(outcome)
    result = dict(changed=False, writable=writable, outcome=outcome)
    if error:
        result['error'] = error
    if outcome == probe_utils.UNKNOWN:
        raise KvmigrateError('Write check of server %s is inconclusive: %s. Only a READONLY or NOREPLICAS answer shows '
                             'that a server refuses writes; check the connection and run the check again.'
                             % (server.endpoint, error.rstrip('.')), **result)
    if params['expect'] == 'accepted' and not writable:
        raise KvmigrateError('Server %s refused a write (%s): it is not a writable primary.' % (server.endpoint, error),
                             **result)
    if params['expect'] == 'refused' and writable:
        raise KvmigrateError('Server %s accepted a write but should refuse them (it should be fenced): clients that still '
                             'use it would write where nobody reads.' % server.endpoint, **result)
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(
        expect=dict(type='str', default='accepted', choices=['accepted', 'refused']),
        key=dict(type='str', default='kvmigrate:write-check', no_log=False),
        ttl_ms=dict(type='int', default=60000),
        timeout=dict(type='float', default=10.0),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module.params, module.check_mode)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
