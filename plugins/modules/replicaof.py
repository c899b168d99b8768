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
  - Safe. A full sync discards the target's data, in every database. A target that holds keys in any database and
    does not already replicate from that primary is refused, and the error says how many keys would be discarded.
    Set O(allow_flush=true) to allow it. M(kvmigrate.replication.migration_check) makes the same decision, from the
    same code, before anything changes.
  - Sets C(masteruser)/C(masterauth) on the target, only when they differ, so the replication link can authenticate.
  - To wait until the new replica has really synced, use M(kvmigrate.replication.wait_for_sync) after this module.
  - With O(state=primary) and O(fence_source=true) the promotion is a fenced cutover that loses no acknowledged
    write, done in this one invocation. Connections to both ends are opened first. Then, for O(cutover_method=pause),
    the source's writes are paused (C(CLIENT PAUSE <fence_timeout_ms> WRITE)), the module waits until the target has
    applied the source's replication offset, promotes the target (C(REPLICAOF NO ONE)), fences the source (see
    O(fence_mode)) and lifts the pause (C(CLIENT UNPAUSE)). Clients paused meanwhile get C(-READONLY) or
    C(-NOREPLICAS) from the source and can retry on the target. Writes are held for a few milliseconds.
  - If any step fails, or the target does not catch up in time, the steps already done are undone in reverse and the
    pause is lifted. The source is a writable primary again, the target stays (or becomes again) its replica, and the
    module fails with the offsets it saw. The same undo runs when the module is interrupted (Ctrl-C, a task
    C(timeout)).
  - Before the promotion the source gets a guard (C(min-replicas-to-write) set to its count of good replicas), so it
    refuses writes by itself once the target has left it. If the module or the control node dies at any step, there is
    never more than one writable primary. Running the same task again completes the interrupted cutover, or puts both
    ends back when it cannot, and says which in RV(cutover.recovery).
  - See C(docs/cutover.md) in the collection for the methods, their pauses and a benchmark.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.PRIMARY_AUTH
attributes:
  check_mode:
    support: full
    description:
      - Reads the target (and, with O(fence_source=true), the source) and reports what would change; changes nothing.
      - With O(fence_source=true) it reports the chosen RV(cutover.method), RV(cutover.fence) and the commands, and
        sends no C(CLIENT PAUSE).
  diff_mode:
    support: full
    description:
      - Shows the target's role and primary before and after.
      - With O(fence_source=true) the diff has a C(target) and a C(source) entry, the latter with its fence.
options:
  state:
    description:
      - V(replica) makes the target replicate from O(primary_host):O(primary_port).
      - V(primary) promotes the target (C(REPLICAOF NO ONE)). It keeps its data and accepts writes.
      - Writes that reach the source while a plain V(primary) promotion runs are lost. Set O(fence_source=true) to
        avoid that.
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
      - Without it, a target that holds keys is refused. Two cases are allowed, because they lose nothing. The target
        may already replicate from that primary. Or it may be a replica whose replication history the primary
        continues. Its replication id is the primary's, or the one the primary had before it was promoted. That is
        the case of a sibling of a promoted target moving to it after the cutover.
    type: bool
    default: false
  max_concurrent_syncs:
    description:
      - With O(state=replica), the most full syncs the source may serve at once, this one included. Each costs the
        source a fork and an RDB transfer.
      - Before it sends C(REPLICAOF) the module claims the source (as it claims the target, see the notes), counts the
        replicas the source's C(INFO replication) lists in a full sync (C(wait_bgsave) or C(send_bulk); Dragonfly
        C(full_sync) or C(preparation)), and waits while there are this many. It holds the claim until the source
        lists the target, so runs started at the same instant, by other runs or AWX slices, count each other's syncs.
      - The module then reaches the source from the node that runs it, with O(primary_user)/O(primary_password) and
        the TLS options, and needs C(CLIENT SETNAME), C(CLIENT LIST) and C(INFO) there.
      - Unset, there is no limit and the source is not read for it.
      - In check mode the source is neither claimed nor waited for.
    type: int
  sync_slot_timeout:
    description:
      - Seconds to wait, with O(max_concurrent_syncs), for the source to serve fewer full syncs. Then the module fails
        without changing anything.
    type: float
    default: 3600
  persist:
    description:
      - After a change, run C(CONFIG REWRITE) so the new role (and C(masterauth)) survive a restart.
      - Where the server cannot do this (no config file, or Dragonfly), the module warns and returns RV(persisted=false).
        Dragonfly never saves its role, C(CONFIG REWRITE) of v1.32+ included (it writes runtime flags only, and
        C(--replicaof) is a startup flag). The module does not send it there and warns to remove or update
        C(--replicaof) in the flag file, because a restart would full-sync from the primary named there and flush the data.
      - With O(fence_source=true) the source's fence is saved too, so a restarted source stays fenced. Before the
        cutover begins the module checks that it can be. A source without a configuration file (C(config_file) empty in
        C(INFO server)), one whose C(CONFIG REWRITE) fails, or a Dragonfly source is refused and nothing changes. The
        roles set it by default (C(promote_persist), C(rollback_persist)).
      - Without it the change is live only. A server started from a configuration file gets the role written there back
        when it restarts (an old C(replicaof) line, or none), so the module warns after every role change it makes.
    type: bool
    default: false
  fence_source:
    description:
      - With O(state=primary), promote the target by a fenced cutover from its source that loses no acknowledged
        write (see the description). Refused with O(state=replica).
      - Idempotent. When the target is already a primary and the source is fenced (a replica of the target, or
        refusing writes through C(min-replicas-to-write)), nothing is sent and C(changed=false). When the target is a
        primary but the source still accepts writes, the module fails, because the writes the source took since the
        promotion cannot be proved to be on the target.
    type: bool
    default: false
  source_host:
    description:
      - Address of the source (the current primary) as the node running the module reaches it.
      - Defaults to the primary the target reports (C(master_host)). Set it when that address is not reachable from
        the node that runs the module, and on later runs, when the promoted target no longer reports a primary. Without
        it, such a run returns C(changed=false) with a warning.
      - The module logs in to the source with O(primary_user)/O(primary_password). When both are unset it uses the
        target's C(masteruser)/C(masterauth), which the replication link already uses.
      - Only with O(fence_source=true).
    type: str
  source_port:
    description:
      - Port of the source. Defaults to the port of the primary the target reports.
      - Only with O(fence_source=true).
    type: int
  fence_timeout_ms:
    description:
      - Longest time, in milliseconds, the source's writes may be held. It is the C(CLIENT PAUSE) timeout, so the
        server lifts the pause by itself even if the module dies.
      - The module waits for the target to catch up for at most 40% of it. Every command sent during the pause is
        bounded by 15% of it. So the promotion and the fence land before the pause can expire. A target that is not
        caught up by then makes the module undo and fail.
      - With O(cutover_method=failover) it is the C(FAILOVER ... TIMEOUT). With O(cutover_method=takeover) it is
        rounded up to whole seconds for C(REPLTAKEOVER).
      - At least 100.
    type: int
    default: 5000
  cutover_method:
    description:
      - How the primary role moves. Only with O(fence_source=true).
      - V(auto) picks the fastest zero-loss method for the pair. That is V(takeover) from Dragonfly to Dragonfly and
        V(pause) from a Redis, Valkey or KeyDB source.
      - V(pause) is C(CLIENT PAUSE WRITE) on the source, a wait for the target's offset, C(REPLICAOF NO ONE) on the
        target, the fence, then C(CLIENT UNPAUSE). It needs a source with C(CLIENT PAUSE WRITE), that is Redis or KeyDB
        6.2+, or Valkey. Older sources are refused, because no zero-loss fenced cutover is possible there. Promote them
        without O(fence_source) and accept that writes sent during the switch may be lost.
      - V(failover) sends C(FAILOVER TO <target> TIMEOUT <fence_timeout_ms>) to the source. The server pauses its
        writes, waits for the target, hands over and becomes the target's replica. It needs Redis 6.2+ or Valkey at
        both ends. It holds writes for longer than V(pause), about half a second in the benchmark.
      - V(takeover) sends C(REPLTAKEOVER) to a Dragonfly target of a Dragonfly source. The old primary shuts itself
        down once the target has everything.
    type: str
    choices: [auto, pause, failover, takeover]
    default: auto
  fence_mode:
    description:
      - How the source is kept from taking writes after the cutover with O(cutover_method=pause). Only with
        O(fence_source=true).
      - V(replicaof_target) makes the source a read-only replica of the target (C(REPLICAOF <target>)). Writes get
        C(-READONLY). This also gives a way back. The source authenticates to the target with O(login_user) and
        O(login_password), which are set as its C(masteruser)/C(masterauth) when they differ. It needs a target that
        can be a primary for the source (not Dragonfly) and whose RDB version the source loads.
      - V(min_replicas) sets the source's C(min-replicas-to-write) to 1000 (above its replica count) and
        C(min-replicas-max-lag) to 10. Writes get C(-NOREPLICAS). The source stays a primary with its data.
      - V(auto) uses V(replicaof_target) where it is possible and V(min_replicas) otherwise, for example for a
        Dragonfly target, or a 6.2 source with a 7.0 target, whose RDB the source cannot load.
      - O(cutover_method=failover) always leaves the source a replica of the target. O(cutover_method=takeover) shuts it
        down. Both accept only V(auto) here.
    type: str
    choices: [auto, replicaof_target, min_replicas]
    default: auto
  check_writes:
    description:
      - After a fenced cutover, write the probe key C(kvmigrate:write-check) (expires after 60 s) to the new primary,
        which must take it, and to the source, which must refuse it. See RV(cutover.target_accepts_writes) and
        RV(cutover.source_refuses_writes).
      - If either check fails, the module fails. The promotion is not undone, because the target already holds every
        write the source acknowledged.
      - Only with O(fence_source=true). This is the check M(kvmigrate.replication.write_check) makes, without two more
        module runs.
    type: bool
    default: true
notes:
  - Before it changes anything the module names its connection to the target C(kvmigrate-op:replicaof:<pid>:<random>)
    and reads C(CLIENT LIST). If another kvmigrate operation is connected there, it fails and names it, so two runs never
    change one server at the same time. This needs C(CLIENT SETNAME) and C(CLIENT LIST) on the target (not C(CLIENT ID),
    which Dragonfly before v1.23 lacks).
  - KeyDB with C(multi-master yes) adds a primary on each C(REPLICAOF) instead of replacing it. This module treats
    the first primary it reports as the current one.
  - Redis before 6.0 has no C(masteruser); O(primary_user) is refused there.
  - With O(fence_source=true) the login user on the source needs C(CLIENT PAUSE), C(CLIENT UNPAUSE), C(INFO),
    C(CONFIG GET) and C(CONFIG SET), and C(REPLICAOF) or C(FAILOVER). On the target it needs C(INFO) and C(REPLICAOF).
  - After a fenced cutover, point clients at the target. A client still using the source gets C(-READONLY) or
    C(-NOREPLICAS) and should reconnect to the target.
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

- name: Promote the target without losing a write, and fence the old primary
  kvmigrate.replication.replicaof:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    primary_password: "{{ source_password }}"
    state: primary
    fence_source: true
  register: cutover

- name: Show how long writes were held
  ansible.builtin.debug:
    msg: "{{ cutover.cutover.method }} held writes for {{ cutover.cutover.pause_ms }} ms; source is now {{ cutover.cutover.source_role_after }}"

- name: Redis FAILOVER instead, with a 2 s bound on the pause
  kvmigrate.replication.replicaof:
    login_host: redis-new.example.com
    state: primary
    fence_source: true
    cutover_method: failover
    fence_timeout_ms: 2000

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
  description:
    - Commands sent, or that would be sent in check mode. Passwords are masked.
    - With O(fence_source=true), each starts with the end it goes to (C(source:) or C(target:)).
  returned: success
  type: list
  elements: str
  sample: ["CONFIG SET masterauth ********", "REPLICAOF 10.0.0.11 6379"]
keys_discarded:
  description:
    - Keys the target held, summed over every database, when a full sync that discards them was started (or would
      be, in check mode).
    - V(0) when nothing is discarded, including a target whose replication history the primary continues.
  returned: success
  type: int
  sample: 0
persisted:
  description: Whether C(CONFIG REWRITE) saved the change. Null when O(persist=false) or nothing changed; always false on Dragonfly.
  returned: success
  type: bool
  sample: true
sync_slot:
  description:
    - How the source's limit on concurrent full syncs (O(max_concurrent_syncs)) was kept before C(REPLICAOF) was sent.
  returned: when O(max_concurrent_syncs) is set and C(REPLICAOF) was sent, or would be in check mode
  type: dict
  contains:
    max_concurrent_syncs:
      description: The limit.
      type: int
    waited_seconds:
      description: Seconds the module waited for the claim on the source and a free slot. V(0) in check mode.
      type: float
    queued:
      description:
        - Whether the source served O(max_concurrent_syncs) full syncs when the module first read it, so that the
          target waited for a free slot (not only for the claim, which another operation may hold for a moment).
          V(false) in check mode.
      type: bool
    full_syncs_seen:
      description: Full syncs the source served when the slot was taken. Null in check mode.
      type: int
    source_lists_target:
      description:
        - Whether the source listed the target as its replica before the claim was released (within 10 s). Null in
          check mode. V(false) means the link had not reached the source yet, so its sync was not counted.
      type: bool
  sample: {"max_concurrent_syncs": 3, "waited_seconds": 4.21, "queued": true, "full_syncs_seen": 2, "source_lists_target": true}
cutover:
  description:
    - What the fenced cutover did, or would do in check mode.
    - Also returned when the module fails during a cutover, with RV(cutover.undone) and RV(cutover.undo).
  returned: when O(fence_source=true)
  type: dict
  contains:
    method:
      description: The method used, V(pause), V(failover) or V(takeover). Null when nothing needed to be done.
      type: str
      sample: pause
    fence:
      description:
        - How the source is kept from taking writes. V(replicaof_target) means it is a read-only replica of the target.
          V(min_replicas) means it refuses writes with C(-NOREPLICAS). V(shutdown) means it stopped (takeover).
        - Null if the target was already primary and O(source_host) was not given.
      type: str
      sample: replicaof_target
    source:
      description: The source endpoint.
      type: str
      sample: 10.0.0.11:6379
    pause_ms:
      description:
        - Milliseconds writes were held, as the module saw it. For V(pause) it runs from sending C(CLIENT PAUSE) until
          C(CLIENT UNPAUSE) was acknowledged. For V(failover) it runs from sending C(FAILOVER) until the source reported
          it done. For V(takeover) it is the duration of C(REPLTAKEOVER).
        - Null in check mode or when nothing changed.
      type: float
      sample: 1.84
    waited_ms:
      description: Milliseconds of that pause spent waiting for the target to catch up (V(pause) only).
      type: float
      sample: 0.41
    source_offset:
      description:
        - Replication offset of the source, read once after its writes were paused (V(pause)). For V(failover), read
          after the hand-over. Null for Dragonfly.
      type: int
      sample: 1048576
    target_offset:
      description: Offset the target had applied when it was promoted. Null for Dragonfly.
      type: int
      sample: 1048576
    target_offset_source:
      description:
        - Where RV(cutover.target_offset) came from. V(replica) is the target's own C(slave_repl_offset).
          V(primary_ack) is the source's C(slaveN offset=). V(target_primary) is the promoted target's
          C(master_repl_offset).
      type: str
      sample: replica
    source_role_after:
      description:
        - Role of the source after the cutover, V(replica), V(primary) (fenced by min_replicas) or V(stopped).
        - After a failed C(REPLTAKEOVER), the role read again on the source, null when it no longer answers.
      type: str
      sample: replica
    target_role_after:
      description:
        - After a failed C(REPLTAKEOVER), the role read again on the target (V(primary) means the takeover happened
          although the command failed), null when it does not answer.
      returned: when a takeover failed
      type: str
      sample: primary
    fence_durable:
      description:
        - Whether the fence survives a restart of the old primary. Always false after a takeover, which stops the old
          primary with C(SHUTDOWN NOSAVE); a supervisor that restarts it brings it back writable with its last
          snapshot, so keep it stopped.
      returned: after a takeover
      type: bool
      sample: false
    target_accepts_writes:
      description: With O(check_writes=true), whether the new primary took the probe write.
      returned: when the cutover ran with O(check_writes=true)
      type: bool
      sample: true
    source_refuses_writes:
      description: With O(check_writes=true), whether the fenced source refused the probe write. Null after a takeover.
      returned: when the cutover ran with O(check_writes=true)
      type: bool
      sample: true
    guard:
      description:
        - V(pause) only. The C(min-replicas-to-write)/C(min-replicas-max-lag) the source got before the promotion, so that
          it refuses writes by itself once the target has left it, even if the module dies before the fence. The
          source's own values are put back after a V(replicaof_target) fence. See C(docs/cutover.md).
      returned: when the pause method ran
      type: dict
      sample: {"min_replicas_to_write": 1, "min_replicas_max_lag": 2}
    recovery:
      description:
        - Null for a plain run. When this run found the record (key C(kvmigrate:cutover)) of an earlier cutover that
          was interrupted, V(completed) means it finished that cutover, and V(reverted) means it could not and put both
          ends back as they were before it (the module then fails, saying why).
      type: str
      sample: completed
    source_before:
      description: Role and primary of the source before the cutover.
      type: dict
      sample: {"role": "primary", "primary_host": null, "primary_port": null}
    source_after:
      description: Role, primary and fence of the source after the cutover (predicted in check mode).
      type: dict
      sample: {"role": "replica", "primary_host": "10.0.0.12", "primary_port": 6379, "fence": "replicaof_target"}
    commands:
      description: The cutover's commands, each prefixed with the end it went to. Passwords are masked.
      type: list
      elements: str
      sample: ["source: SET kvmigrate:cutover {...} PX 604800000", "source: CLIENT PAUSE 5000 WRITE",
               "source: CONFIG SET min-replicas-max-lag 2", "source: CONFIG SET min-replicas-to-write 1",
               "target: REPLICAOF NO ONE", "source: REPLICAOF 10.0.0.12 6379", "source: CLIENT UNPAUSE",
               "source: CONFIG SET min-replicas-to-write 0", "source: CONFIG SET min-replicas-max-lag 10",
               "target: DEL kvmigrate:cutover"]
    undone:
      description: On failure only. True when every undo step succeeded, so both ends are back as they were.
      type: bool
      sample: true
    held:
      description:
        - On failure of the pause method only. True when the failure came after the target was promoted. The target
          then stays the primary, because it may already hold writes, and the source refuses writes (its guard) and
          keeps the cutover record. Running the same task again completes the cutover.
      type: bool
      sample: false
    undo:
      description: On failure only. The undo steps that ran, newest change first.
      type: list
      elements: str
      sample: ["source: undo fence", "target: undo promotion", "source: restore min replicas", "source: delete record"]
timeline:
  description:
    - Wall-clock times on the control node, added by the action plugin; the migration report uses them.
    - When O(state=replica) and the task changed something, RV(timeline.finished_at) is a few milliseconds after REPLICAOF was sent.
  returned: always, except with C(async)
  type: dict
  contains:
    started_at:
      description: Unix time when the task started.
      type: float
      returned: always
    finished_at:
      description: Unix time when the module returned.
      type: float
      returned: always
  sample: {"started_at": 1795000000.123, "finished_at": 1795000000.161}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import cutover as cutover_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import plan as plan_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import sync_slot
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, claim_operation, connect, connection_argument_spec, option_label, primary_auth_argument_spec,
    require_redis, same_endpoint, validate_connection_params, validate_port, endpoint)


def _validate(params):
    validate_connection_params(params)
    cutover_utils.validate_cutover_params(params)
    sync_slot.validate_limit(params)
    if params['state'] != 'replica' and params['max_concurrent_syncs'] is not None:
        raise KvmigrateError("Option max_concurrent_syncs bounds the full syncs a source serves, so it goes only with "
                             "state=replica: drop it from this promotion.")
    if params['state'] == 'primary' and params['primary_host']:
        raise KvmigrateError("Option primary_host=%s conflicts with state=primary, which promotes the target and ignores "
                             "it: drop primary_host, or set state: replica to make the target replicate from it."
                             % params['primary_host'])
    if params['state'] == 'replica':
        if not params['primary_host']:
            raise KvmigrateError("Option primary_host is required with state=replica: set it to the source's address.")
        validate_port(params['primary_port'], 'primary_port', params)
        if same_endpoint(params['primary_host'], params['primary_port'], params['login_host'], params['login_port']):
            raise KvmigrateError(
                "Target %s would replicate from itself (primary_host=%s, primary_port=%s): point primary_host/primary_port "
                "at the source server." % (endpoint(params['login_host'], params['login_port']), params['primary_host'],
                                           params['primary_port']))


def _plan_replica(target, params, status, previous):
    """Commands that make the target a replica of the primary; raises on unsafe input. ``previous`` gets the
    masteruser/masterauth values the plan changes, so a failed apply can put them back."""
    plan = []
    caps = flavors.capabilities(target.flavor, target.version)
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
            previous[config] = current

    replication = plan_utils.ReplicationPlan((params['login_host'], params['login_port']), status,
                                             (params['primary_host'], params['primary_port']),
                                             target_keys=target.key_count())
    if replication.already_replicating:
        return plan, 0
    _refuse_loop(target, replication)
    if replication.keys_discarded and not params['allow_flush'] and replication.wants_source_status:
        replication.source_status = plan_utils.read_source_status(params)
    keys = replication.keys_discarded
    if keys and not params['allow_flush']:
        raise KvmigrateError(
            "Target %s holds %d keys (all databases); replicating from %s would discard them. Empty the target, or set "
            "%s: true if losing them is intended." % (target.endpoint, keys, replication.source_endpoint,
                                                      option_label(params, 'allow_flush')), keys=keys)
    plan.append(('REPLICAOF', params['primary_host'], str(params['primary_port'])))
    return plan, keys


def _refuse_loop(target, replication):
    """A target whose own replica is the primary we were given would form a loop."""
    replica = replication.feeding_source
    if replica:
        raise KvmigrateError(
            "Target %s already feeds %s as its replica; making it replicate from %s would form a replication loop. "
            "Promote or repoint %s first." % (target.endpoint, replica, replication.source_endpoint, replica))


def _apply(target, plan, previous):
    """Send the plan. If a command is refused (an ACL without REPLICAOF, say), the masteruser/masterauth already
    changed are put back, so a failure leaves the target as it was."""
    done = []
    try:
        for command in plan:
            target.call(*command)
            done.append(command)
    except KvmigrateError:
        for command in reversed(done):
            if command[:2] == ('CONFIG', 'SET') and previous.get(command[2]) is not None:
                try:
                    target.call('CONFIG', 'SET', command[2], previous[command[2]])
                except KvmigrateError:
                    pass  # the original error is the one to report
        raise


def _masked(command):
    if command[:3] == ('CONFIG', 'SET', 'masterauth'):
        return 'CONFIG SET masterauth ********'
    return ' '.join(str(part) for part in command)


def _persist(target, module):
    saveable, reason = flavors.persist_support(target.flavor, target.version)
    if not saveable:
        module.warn("persist: %s %s: %s." % (target.what, target.endpoint, reason))
        return False
    try:
        target.call('CONFIG', 'REWRITE')
        return True
    except KvmigrateError as exc:
        module.warn("persist: %s could not save its configuration (%s); the change is live but a restart would undo it. "
                    "Add the replicaof/masterauth settings to its configuration by hand." % (target.endpoint, exc.msg))
        return False


def _warn_not_persisted(module, server):
    """A role changed in memory only: a server started from a config file gets that file's role back on restart."""
    try:
        config_file = info_utils.parse_info(server.info_text('server')).get('config_file')
    except KvmigrateError:
        return
    if config_file:
        module.warn("persist is false: %s %s changed its role in memory only. A restart brings back the role written "
                    "in %s (for example an old replicaof line). Set persist: true to save the change." % (
                        server.what, server.endpoint, config_file))


def _fenced_cutover(module, target, status):
    """state=primary with fence_source: the zero-loss cutover lives in module_utils/cutover.py."""
    cutover = cutover_utils.Cutover(target, module.params, check_mode=module.check_mode, warn=module.warn)
    persisted = None
    try:
        outcome = cutover.run()
        details = outcome['cutover']
        if outcome['changed'] and module.params['persist'] and not module.check_mode:
            persisted = _persist(target, module)
            if details['fence'] in (cutover_utils.FENCE_REPLICAOF, cutover_utils.FENCE_MIN_REPLICAS):
                persisted = _persist(cutover.source, module) and persisted
        elif outcome['changed'] and not module.check_mode:
            _warn_not_persisted(module, target)
            if details['fence'] in (cutover_utils.FENCE_REPLICAOF, cutover_utils.FENCE_MIN_REPLICAS):
                _warn_not_persisted(module, cutover.source)
    finally:
        cutover.close()
    before = cutover_utils.role_view(status)
    after = dict(role='primary', primary_host=None, primary_port=None)
    return dict(
        changed=outcome['changed'],
        before=before,
        after=after,
        flavor=target.flavor,
        version=target.version,
        commands=details['commands'],
        keys_discarded=0,
        persisted=persisted,
        cutover=details,
        diff=dict(before=dict(target=before, source=details['source_before']),
                  after=dict(target=after, source=details['source_after'])),
    )


def run(module):
    params = module.params
    _validate(params)
    target = connect(params, what='target')
    try:
        target.identify()
        if not module.check_mode:
            claim_operation(target, 'replicaof')
        status = target.replication()
        if params['fence_source']:
            return _fenced_cutover(module, target, status)
        before = cutover_utils.role_view(status)
        keys = 0
        previous = {}
        if params['state'] == 'replica':
            plan, keys = _plan_replica(target, params, status, previous)
            after = dict(role='replica', primary_host=params['primary_host'], primary_port=params['primary_port'])
            if not any(c[0] == 'REPLICAOF' for c in plan):
                after = dict(before)
        else:
            plan = [] if status.get('role') == 'primary' else [('REPLICAOF', 'NO', 'ONE')]
            after = dict(role='primary', primary_host=None, primary_port=None)

        persisted = None
        slot = None
        if params['max_concurrent_syncs'] is not None and any(c[0] == 'REPLICAOF' for c in plan):
            slot = sync_slot.replicate_in_slot(params, target, lambda: _apply(target, plan, previous),
                                               check_mode=module.check_mode)
        elif plan and not module.check_mode:
            _apply(target, plan, previous)
        if plan and not module.check_mode:
            if params['persist']:
                persisted = _persist(target, module)
            elif any(c[0] == 'REPLICAOF' for c in plan):
                _warn_not_persisted(module, target)
        result = dict(
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
        if slot is not None:
            result['sync_slot'] = slot
        return result
    finally:
        target.close()


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(primary_auth_argument_spec())
    argument_spec.update(
        state=dict(type='str', default='replica', choices=['replica', 'primary']),
        primary_host=dict(type='str', aliases=['master_host']),
        primary_port=dict(type='int', default=6379, aliases=['master_port']),
        allow_flush=dict(type='bool', default=False),
        max_concurrent_syncs=dict(type='int'),
        sync_slot_timeout=dict(type='float', default=3600.0),
        persist=dict(type='bool', default=False),
    )
    argument_spec.update(cutover_utils.cutover_argument_spec())
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
