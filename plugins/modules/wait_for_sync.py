#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: wait_for_sync
short_description: Wait until a replica has really synced with its primary and its lag is small
version_added: 0.1.0
description:
  - Blocks until the target is a replica whose initial sync has finished. Its lag must also be within O(max_lag_bytes)
    and O(max_lag_seconds), held for O(stable_for) seconds.
  - The check depends on the flavor. For Redis, Valkey and KeyDB the link is C(up) only after the snapshot is loaded.
    Dragonfly reports C(master_link_status:up) as soon as TCP connects, so it counts as synced only when C(ROLE) says
    C(online)/C(stable_sync).
  - Lag in bytes needs the source's offset, so the module also connects to the source. By default that is the address
    the target reports. The credentials are O(primary_user)/O(primary_password), or else those the target's link uses.
    Where the target reports no usable offset (Dragonfly before 1.39), the source's replica line is used.
  - When O(primary_host) or O(primary_port) is given, the target must replicate from that source. It does when its
    C(master_host)/C(master_port) resolve to the same address and port. Where the control node reaches the source at
    another address than the target does (NAT, a second network), it also does when the source lists the target among
    its replicas, or when the synced target has the source's replication ID. Otherwise the module fails at once and
    names both sources.
  - Fails fast, with the reason, when the link cannot come up. That is the case when the source rejects the target's
    credentials (also when the target's C(masterauth) is empty and the source requires a password), when the source's
    ACL LOG shows it refusing the link's user C(PSYNC), C(SYNC) or C(REPLCONF), or when the source writes an RDB
    version the target cannot load. Any other link that stays down fails after O(link_down_timeout). The module does
    not wait out O(timeout) for these.
  - The credentials the link uses are the target's C(masteruser)/C(masterauth), even when they are empty. Only where
    the target denies C(CONFIG GET) does the module take O(primary_user)/O(primary_password) as the link's.
  - A target that stops answering (a stopped process, a paused VM) makes the wait fail near O(timeout), because every
    reply is awaited at most for what is left of O(timeout).
notes:
  - 'Progress: while the module waits, its action plugin prints one line per host every few seconds on the control node:
    the percentage, bytes and rate of the initial sync with an ETA, then the lag in bytes. A diskless sync (the default
    of Redis 7) has no known size, so its lines show the bytes received and the rate, with no percentage or ETA. When
    the module returns synced, the plugin prints a last C(synced) line for the host, however short the sync was.'
  - 'The progress lines are shown when the playbook runs with C(-v) or more, or when the task variable
    C(kvmigrate_progress) is V(true); C(kvmigrate_progress=false) silences them even with C(-v). Without either (the
    default, and how AWX runs job templates at verbosity 0) the plugin prints nothing extra. C(kvmigrate_progress) and
    C(kvmigrate_progress_interval) may be Jinja expressions.'
  - The progress lines come from a second, read-only connection the control node opens to the target (and to the
    source, for the lag), so they are shown only when the module runs on the control node (C(delegate_to=localhost) or
    C(connection=local)), as the roles of this collection do. C(kvmigrate_progress_interval) sets the seconds between
    two lines (default V(2)).
  - The action plugin adds RV(timeline) with wall-clock times taken on the control node.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
  - kvmigrate.replication.connection.PRIMARY_AUTH
  - kvmigrate.replication.wait
options:
  primary_host:
    description:
      - Address of the source as the control node reaches it. Defaults to the C(master_host) the target reports.
      - When set, the target must replicate from this source (see the description); the wait fails at once otherwise.
    type: str
    aliases: [master_host]
  primary_port:
    description:
      - Port of the source. Defaults to the C(master_port) the target reports.
      - When set, the target must replicate from this source, as for O(primary_host).
    type: int
    aliases: [master_port]
  max_key_difference_ratio:
    description:
      - Once synced, fail when the key counts of the source and the target (RV(source_keys), RV(target_keys)) differ by
        more than this fraction of the source's keys, rounded up (V(0) for none). The message starts with C(key counts
        differ by N (allowed M)), and the result has the counts.
      - Only counts read at the same replication offset (RV(keys_offset_gap) V(0), or unknown) are judged. Counts read
        while live writes kept the source ahead differ by the writes in between and are returned, not judged.
      - Unset, the counts are returned and not judged.
    type: float
  compare_sample:
    description:
      - Once synced (and within O(max_key_difference_ratio)), compare O(sample_size) sampled keys and values of the
        source with the target, as M(kvmigrate.replication.compare_sample) does, and fail naming the first keys that
        differ (never their values). V(dragonfly) compares only when the target is Dragonfly, which advances its
        offset even for a command it rejected, so synced and caught up do not prove the data arrived. V(always)
        compares every target, V(never) none.
      - The result is in RV(sample).
    type: str
    choices: [never, dragonfly, always]
    default: never
  sample_size:
    description:
      - How many keys O(compare_sample) compares. V(0) compares none.
    type: int
    default: 100
  sample_recheck_delay:
    description:
      - Seconds O(compare_sample) waits before reading a differing key again on both ends (live writes reach the
        replica a moment after the source).
    type: float
    default: 1.0
seealso:
  - module: kvmigrate.replication.replicaof
  - module: kvmigrate.replication.replication_info
'''

EXAMPLES = r'''
- name: Wait for the initial sync, then for lag under 1 MiB during 5 seconds
  kvmigrate.replication.wait_for_sync:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    primary_password: "{{ source_password }}"
    max_lag_bytes: 1048576
    stable_for: 5
    timeout: 7200
  delegate_to: localhost
  register: sync

- name: Show how long the sync took
  ansible.builtin.debug:
    msg: "synced after {{ sync.elapsed }} s, lag {{ sync.lag_bytes }} bytes"
'''

RETURN = r'''
synced:
  description: True when every condition held. On failure the module fails, so this is true whenever it succeeds.
  returned: success
  type: bool
  sample: true
full_sync_restarts:
  description:
    - How many times the full sync started over during the wait (ROLE back from C(full_sync) to C(preparation) or
      C(connecting) on Dragonfly, or the source's C(sync_full) rising). The wait fails once this reaches 3, with the
      likely cause.
  returned: when the wait failed because the full sync kept restarting
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 3.412
lag_bytes:
  description: Source offset minus the target's applied offset at the end. Null where the source reports no offsets.
  returned: success
  type: int
  sample: 0
lag_seconds:
  description: Seconds since the target last acknowledged the source, as the source reports it. Null where unknown.
  returned: success
  type: float
  sample: 0
offset_source:
  description: Where the target's offset came from, V(replica) (its own INFO) or V(primary_ack) (the source's replica line).
  returned: success
  type: str
  sample: replica
source_keys:
  description:
    - Keys in every database of the source (the sum of C(INFO keyspace)), read when the wait succeeded, right after
      RV(target_keys). Each count is read with its server's replication offset from one C(INFO).
  returned: success
  type: int
  sample: 100000
target_keys:
  description:
    - Keys in every database of the target, read when the wait succeeded.
  returned: success
  type: int
  sample: 100000
keys_offset_gap:
  description:
    - Bytes of replication stream the source held beyond what the target had applied when the two counts were read.
    - V(0) means both counts describe the same data, so any difference is real. Under live writes the module reads the
      counts up to 10 times looking for that moment and returns the smallest gap; above V(0) the counts were read
      that far apart and can differ by the writes in between.
    - V(null) when an offset is unknown (a Dragonfly target, which keeps offsets per shard, or no source to compare).
  returned: success
  type: int
  sample: 0
sample:
  description:
    - What O(compare_sample) compared. Also returned when the module fails because sampled keys differ.
  returned: when O(compare_sample) compared the target
  type: dict
  contains:
    source:
      description: The source endpoint the keys were read from.
      type: str
    sampled:
      description: Keys compared.
      type: int
    differing:
      description: The keys that differ, each C({database, key, reason}); values are never returned.
      type: list
      elements: dict
  sample: {"source": "10.0.0.11:6379", "sampled": 100, "differing": []}
primary:
  description: The source endpoint the module compared against, which the target was found to replicate from.
  returned: success
  type: str
  sample: 10.0.0.11:6379
sync_progress:
  description: What the module saw of the initial sync.
  returned: always
  type: dict
  contains:
    full_sync_seen:
      description:
        - A full sync was in progress during the wait. A handshake the source refused does not count.
      type: bool
    sync_percent_max:
      description: Highest transfer percentage seen (Redis 6.2+ report it during disk-based transfer).
      type: float
    sync_total_bytes:
      description: Size of the snapshot being transferred, where reported. Null for a diskless transfer.
      type: int
    seconds_to_link_up:
      description: Seconds until the link was up.
      type: float
    seconds_to_synced:
      description: Seconds until the target was synced.
      type: float
    samples:
      description: How many times the target was polled.
      type: int
lag_samples:
  description:
    - Lag in bytes over the wait, as a list of C([seconds since the wait started, lag_bytes]), for a chart.
    - Bounded to 120 entries; long waits keep every second, fourth, ... poll. C(lag_bytes) is null while the initial sync
      runs or where the source reports no offsets.
  returned: success
  type: list
  elements: list
  sample: [[0.0, null], [0.1, 120], [0.2, 0]]
timeline:
  description: Wall-clock times (seconds since the epoch, control node clock), added by the action plugin.
  returned: when the task does not run with C(async)
  type: dict
  contains:
    started_at:
      description: When the task began (before the module process started).
      type: float
    wait_started_at:
      description: When the module began to poll (RV(timeline.finished_at) minus RV(elapsed)).
      type: float
    synced_at:
      description: When the module first saw the target synced. Null if it never was.
      type: float
    finished_at:
      description: When the module returned.
      type: float
replication:
  description: The target's normalised replication status at the end (see M(kvmigrate.replication.replication_info)).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, option_label, primary_auth_argument_spec, require_redis,
    validate_connection_params)
from ansible_collections.kvmigrate.replication.plugins.module_utils import sample as sample_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import (
    SyncWaiter, key_count_problem, validate_wait_params, wait_argument_spec)


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(primary_auth_argument_spec())
    argument_spec.update(wait_argument_spec())
    argument_spec.update(
        primary_host=dict(type='str', aliases=['master_host']),
        primary_port=dict(type='int', aliases=['master_port']),
        max_key_difference_ratio=dict(type='float', no_log=False),
        compare_sample=dict(type='str', default='never', choices=['never', 'dragonfly', 'always']),
        sample_size=dict(type='int', default=100),
        sample_recheck_delay=dict(type='float', default=1.0),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    waiter = None
    try:
        validate_connection_params(module.params)
        validate_wait_params(module.params)
        ratio = module.params['max_key_difference_ratio']
        # written as "not >= 0" so that NaN is refused too
        for option, what in (('max_key_difference_ratio', "the fraction of the source's keys the counts may differ by"),
                             ('sample_size', 'how many keys to compare'),
                             ('sample_recheck_delay', 'seconds before a differing key is read again')):
            if module.params[option] is not None and not module.params[option] >= 0:
                raise KvmigrateError("Option %s=%s must be 0 or more: %s." % (
                    option_label(module.params, option), module.params[option], what))
        target = connect(module.params, what='target')
        target.identify()
        # the wait bounds each reply by what is left of its timeout; the sampled comparison after it has its own
        read_bound = target.read_timeout
        waiter = SyncWaiter(target, module.params)
        result = waiter.run()
        problem = None if ratio is None else key_count_problem(
            result.get('source_keys'), result.get('target_keys'), result.get('keys_offset_gap'), ratio)
        flavor = (result.get('replication') or {}).get('flavor')
        if not problem and (module.params['compare_sample'] == 'always'
                            or (module.params['compare_sample'] == 'dragonfly' and flavor == 'dragonfly')):
            target.read_timeout = read_bound
            try:
                result['sample'] = sample_utils.compare_with_source(
                    module.params, target, module.params['sample_size'], module.params['sample_recheck_delay'],
                    host=module.params['primary_host'], port=module.params['primary_port'])
            except KvmigrateError as exc:
                # synced, and the result says so, with what was sampled
                raise KvmigrateError(exc.msg, exc.cause, **dict(result, sample=exc.details or None))
    except KvmigrateError as exc:
        details = dict(exc.details)
        details.setdefault('synced', False)
        if waiter is not None:
            details.setdefault('elapsed', waiter.elapsed())
            details.setdefault('sync_progress', waiter.progress)
            details.setdefault('lag_samples', waiter.lag_samples)
        module.fail_json(msg=exc.msg, **details)
    finally:
        if waiter is not None:
            waiter.close()
            waiter.target.close()
    if problem:
        module.fail_json(msg='%s: the target holds %s keys and its source %s, read at the same replication offset. Find '
                             'what differs with compare_sample, or raise %s.' % (
                                 problem, result.get('target_keys'), result.get('source_keys'),
                                 option_label(module.params, 'max_key_difference_ratio')), **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
