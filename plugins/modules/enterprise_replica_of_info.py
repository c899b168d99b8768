#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: enterprise_replica_of_info
short_description: Read, or wait for, the Replica Of sync status of a Redis Enterprise database
version_added: 0.1.0
description:
  - Reads C(replica_sync) and, for every source, C(status) (V(out-of-sync), V(syncing), V(in-sync)), C(lag) in
    milliseconds, C(last_error), C(last_update) and the initial transfer's C(rdb_transferred)/C(rdb_size). It reads them
    from C(GET /v1/bdbs/{uid}) of the cluster REST API.
  - With O(wait=true) it polls until every source is V(in-sync) with lag within O(max_lag_ms), held for O(stable_for)
    seconds. This is the UI's green synchronization icon.
  - C(lag) is not used to decide that the last writes arrived (the docs do not define how it is measured); the final
    check of M(kvmigrate.replication.enterprise_replica_of) reads a marker on every instance instead.
  - Temporary API answers (C(503), read timeouts) are retried with a backoff.
  - A wait fails at once when C(replica_sync) is V(stopped) (the cluster gave up after an unrecoverable error such as a
    wrong source password), V(paused) or V(disabled). It fails after O(last_error_timeout) seconds of a source reporting
    C(last_error) without being in sync. It fails at O(timeout) otherwise.
  - Source URIs are returned with their password masked.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.enterprise
attributes:
  check_mode:
    support: full
    description: Read-only; reads and waits the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
options:
  wait:
    description:
      - Wait until every source is in sync instead of reading once.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait in all when O(wait=true). The initial sync of a large dataset can take hours.
    type: float
    default: 3600.0
  poll_interval:
    description:
      - Seconds between two reads of the database when O(wait=true).
    type: float
    default: 2.0
  max_lag_ms:
    description:
      - Largest accepted C(lag) of a source, in milliseconds. Unset means lag is not checked, only V(in-sync).
    type: int
  stable_for:
    description:
      - Seconds for which every source must stay in sync (and within O(max_lag_ms)) before the wait succeeds.
    type: float
    default: 0.0
  last_error_timeout:
    description:
      - Seconds a source may report C(last_error) while not in sync, and without progress (C(rdb_transferred) and
        C(last_update) unchanged), before the wait fails with that error.
      - Connection errors are retried by the cluster, so a short blip, or an error while the transfer moves on, does
        not fail the wait.
    type: float
    default: 30.0
  check_marker:
    description:
      - Also read the completion marker (the key C(kvmigrate:active-active:migrated)) on the database's own endpoint,
        with O(database_password). It is written by
        O(kvmigrate.replication.enterprise_replica_of#module:final_check=true) and says that a migration into this
        database completed. Skipped when the cluster reports the database empty.
    type: bool
    default: false
seealso:
  - module: kvmigrate.replication.enterprise_replica_of
'''

EXAMPLES = r'''
- name: Read the Replica Of status of the Active-Active instance
  kvmigrate.replication.enterprise_replica_of_info:
    cluster_url: https://cluster-a.example.com:9443
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    database_name: orders-aa
  delegate_to: localhost
  register: replica_of

- name: Wait until every source is in sync with lag under 500 ms for 10 s
  kvmigrate.replication.enterprise_replica_of_info:
    cluster_url: https://cluster-a.example.com:9443
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    database_name: orders-aa
    wait: true
    max_lag_ms: 500
    stable_for: 10
    timeout: 14400
  delegate_to: localhost
'''

RETURN = r'''
database:
  description: The database read.
  returned: success
  type: dict
  sample: {"uid": 2, "name": "orders-aa", "status": "active", "crdt": true, "crdt_guid": "552bbccb-99f3-4142-bd17-93d245f0bc79",
           "peers": 1}
replica_sync:
  description: The database's C(replica_sync), one of V(disabled), V(enabled), V(paused), V(stopped).
  returned: always
  type: str
  sample: enabled
sources:
  description: One entry per Replica Of source.
  returned: always
  type: list
  elements: dict
  contains:
    uid:
      description: The source's uid.
      type: int
      sample: 1
    uri:
      description: Source URI, password masked.
      type: str
      sample: redis://admin:********@redis-12000.cluster:12000
    status:
      description: V(out-of-sync), V(syncing) or V(in-sync).
      type: str
      sample: in-sync
    lag:
      description: Lag in milliseconds between source and destination, while in sync.
      type: int
      sample: 3
    last_error:
      description: The last error of the sync from this source; empty when none.
      type: str
      sample: ""
    last_update:
      description: When the cluster last heard from the source.
      type: str
      sample: "2026-01-10T10:00:00Z"
    rdb_size:
      description: Bytes of the source's RDB to transfer during the initial sync.
      type: int
      sample: 8388608
    rdb_transferred:
      description: Bytes of that RDB transferred so far.
      type: int
      sample: 8388608
    rdb_percent:
      description: RV(sources[].rdb_transferred) as a percentage of RV(sources[].rdb_size); null when the size is unknown.
      type: float
      sample: 100.0
    compression:
      description: Compression level of the link.
      type: int
      sample: 0
    encryption:
      description: Whether the link uses TLS.
      type: bool
      sample: false
completion_marker:
  description:
    - The completion marker read on the database's endpoint with O(check_marker=true), null when there is none (or
      when not asked).
  returned: always
  type: dict
  sample: {"migration_id": "4f0c3b1e9d2a4c7f8e6b5a4d3c2b1a09", "database": "orders-aa", "written_at": "2026-01-10T10:00:00Z",
           "sources": ["redis://admin:********@redis-12000.cluster:12000"], "crdt_guid": "552bbccb-99f3-4142-bd17-93d245f0bc79"}
in_sync:
  description: Whether every source is in sync within O(max_lag_ms) (held for O(stable_for) when O(wait=true)).
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds spent, including waiting.
  returned: always
  type: float
  sample: 12.5
samples:
  description: How many times the database was read.
  returned: always
  type: int
  sample: 7
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
from ansible_collections.kvmigrate.replication.plugins.module_utils.enterprise import (
    ENTERPRISE_MUTUALLY_EXCLUSIVE, ENTERPRISE_REQUIRED_ONE_OF, EnterpriseClient, ReplicaOfWaiter, database_label,
    enterprise_argument_spec, evaluate_sources, read_completion_marker, source_report, uri_password)


def _validate(params):
    for option in ('timeout', 'poll_interval'):
        if params[option] <= 0:
            raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (option, params[option]))
    for option in ('stable_for', 'last_error_timeout', 'max_lag_ms'):
        if params.get(option) is not None and params[option] < 0:
            raise KvmigrateError("Option %s=%s must not be negative." % (option, params[option]))


def run(params, client, bdb):
    waiter = ReplicaOfWaiter(client, bdb, params)
    if params['wait']:
        result = waiter.run()
        bdb = client.get_database(uid=bdb['uid'])
    else:
        final, unmet = evaluate_sources(bdb, params.get('max_lag_ms'), database_label(bdb))
        result = dict(replica_sync=bdb.get('replica_sync') or 'disabled',
                      sources=[source_report(s) for s in bdb.get('replica_sources') or []],
                      in_sync=not final and not unmet, elapsed=waiter.elapsed(), samples=1)
    result['database'] = dict(uid=bdb.get('uid'), name=bdb.get('name'), status=bdb.get('status'), crdt=bool(bdb.get('crdt')),
                              crdt_guid=bdb.get('crdt_guid') or '', peers=len(bdb.get('crdt_sources') or []))
    result['completion_marker'] = None
    if params['check_marker'] and client.key_count(bdb) != 0:
        result['completion_marker'] = read_completion_marker(params, bdb, client.secrets)
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = dict(
        wait=dict(type='bool', default=False),
        timeout=dict(type='float', default=3600.0),
        poll_interval=dict(type='float', default=2.0),
        max_lag_ms=dict(type='int'),
        stable_for=dict(type='float', default=0.0),
        last_error_timeout=dict(type='float', default=30.0),
        check_marker=dict(type='bool', default=False),
    )
    argument_spec.update(enterprise_argument_spec())
    module = module_class(argument_spec=argument_spec, supports_check_mode=True,
                          mutually_exclusive=ENTERPRISE_MUTUALLY_EXCLUSIVE, required_one_of=ENTERPRISE_REQUIRED_ONE_OF)
    client = None
    try:
        _validate(module.params)
        # 503 and read timeouts are retried for as long as a wait may take, at most the default change window
        client = EnterpriseClient(module.params, change_timeout=min(module.params['timeout'], 120.0))
        bdb = client.get_database(uid=module.params['database_uid'], name=module.params['database_name'])
        for source in bdb.get('replica_sources') or []:
            # the cluster returns source URIs with their password: mask it in anything returned
            password = uri_password(source.get('uri'))
            if password:
                client.secrets.append(password)
                module.no_log_values.add(password)
        result = run(module.params, client, bdb)
    except KvmigrateError as exc:
        details = dict(exc.details)
        details.setdefault('in_sync', False)
        scrub = client.scrub if client is not None else (lambda value: value)
        module.fail_json(msg=scrub(exc.msg), **scrub(details))
    module.exit_json(changed=False, **client.scrub(result))


if __name__ == '__main__':
    main()
