#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: migration_check
short_description: Check a source/target pair before replication discards anything
version_added: 0.1.0
description:
  - Connects to a target (O(login_host)) and its source (O(primary_host)) and lists every finding that would make a
    migration by replication fail or lose data. It leaves both servers as they were.
  - Blockers are problems the migration must not start with. The pair cannot be reached or authenticated. Either end
    runs in cluster mode (finding C(cluster_mode); migrate it with C(playbooks/migrate_cluster.yml)). The source
    writes an RDB version the target cannot load. The source loads modules the target does not (C(modules)), holds
    functions the target has none of (C(functions)), keys in a database number the target lacks or, for a cluster-mode
    target, outside db0 (C(databases)), or hash fields with TTLs the target cannot load (C(hash_field_expiration)). The
    target's C(tls-replication) does not match what the source port speaks, or the source wants a client certificate
    the target has not (C(tls_replication)). A Dragonfly target cannot load some of the source's data. The target
    holds keys (in any database) that a full sync would discard and O(allow_flush) is not set. The target's
    C(maxmemory) is below the source's C(used_memory). The pair forms a replication loop. The pair looks swapped
    (finding C(pair)). The user the replication link logs in as may not run C(PSYNC) or C(REPLCONF) on the source
    (finding C(link_permissions)). With O(promote=true), a source that is itself a replica (finding C(source_role)).
  - Warnings are risks. The source's C(repl-backlog-size) holds fewer than O(min_backlog_seconds) seconds of its
    current write rate, so a short link drop would force a new full sync. The source is itself a replica, which
    chained replication allows, but a fenced cutover needs the source to be the primary. The source's
    C(repl-diskless-sync-delay) is above 5 s with C(repl-diskless-sync yes) (C(diskless_sync)). A Dragonfly target
    cannot save its replication role (C(persist)). The source runs without a configuration file, so the fence a
    cutover sets on it cannot outlive a restart (C(fence_durability)); a blocker with O(promote=true) and
    O(persist=true), where the cutover would refuse it.
  - The RDB version is measured, not looked up. What the source writes is the footer of the C(DUMP) of one of its
    keys (found with C(SCAN)). What a Redis, Valkey or KeyDB target loads is what its own C(DUMP) writes when it
    holds a key; when it holds none, a C(RESTORE) of a crafted payload of the source's RDB version into a new, unique
    key that expires within 10 s and is deleted at once (never overwriting a key) asks it directly. The probe runs
    only on a primary that holds no key or with O(allow_flush), and never in check mode. Where nothing can be
    measured (no key, C(DUMP) refused, Dragonfly) the version table answers. The C(rdb_compatibility) message and
    RV(rdb) say for each end whether the number was C(measured) or C(inferred), and how.
  - C(output_buffer) compares the source's replica C(client-output-buffer-limit) with what a full sync adds to the
    replica's output buffer, the write rate times the expected snapshot and transfer time (C(used_memory) over
    O(transfer_rate)). Over the limit it is a blocker when the rate was the replication stream itself, and a warning
    when it was the input bytes (which overstate it); within half of the limit, a warning.
  - Whether the target's keys would be discarded is decided by the same code as in
    M(kvmigrate.replication.replicaof). A target that already replicates from the source, or whose replication id is
    the source's (or the one the source had before its promotion), loses nothing, because the source continues its
    history with a partial resync. That is never a blocker, and the finding does not suggest O(allow_flush).
  - A pair counts as cut over (RV(promoted)) when the target is a primary, the source replicates from it, and both
    keep the same earlier replication id (C(master_replid2)). A fenced cutover leaves them so, because the promoted
    target keeps the source's old id and the fenced source resyncs partially from it. A source that replicates from
    the target without that shared id is an ordinary replica of it. The addresses then look swapped (RV(swapped)) and
    the C(pair) finding is a blocker. A restart forgets the earlier id, so a pair cut over before one of its servers
    restarted reads as swapped too. Check which server took the writes, then swap the addresses or drop the pair.
  - Before Redis 7.0 (and on other servers without C(ACL DRYRUN)) the C(link_permissions) finding says it was not
    checked, as it does when the module's login on the source may not run C(ACL DRYRUN).
  - The module does not fail on findings. It returns them so a play can show one table for the whole fleet. The
    M(kvmigrate.replication.migration_check) user (usually the C(kvmigrate.replication.preflight) role) decides.
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.connection
  - kvmigrate.replication.connection.READ_ONLY
  - kvmigrate.replication.connection.PRIMARY_AUTH
options:
  primary_host:
    description:
      - Address of the source, as the node running the module reaches it.
    type: str
    required: true
    aliases: [master_host]
  primary_port:
    description:
      - Port of the source.
    type: int
    default: 6379
    aliases: [master_port]
  fail_on:
    description:
      - V(blockers) fails the task when any finding is a blocker, V(warnings) when any is a blocker or a warning. The
        message lists those findings and the result is returned as with V(never), which only reports them.
    type: str
    choices: [never, blockers, warnings]
    default: never
  inventory_blockers:
    description:
      - Blockers the caller found before any server was read, such as another inventory host with the same target
        server. Each becomes a finding with check C(inventory) and severity C(blocker), reported and counted with the
        module's own.
    type: list
    elements: str
    default: []
  allow_flush:
    description:
      - The user accepts that the target's keys are discarded; a target holding keys is then a warning, not a blocker.
    type: bool
    default: false
  rate_sample_seconds:
    description:
      - Seconds over which the source's write rate is measured. V(0) skips it.
      - The rate is the growth of C(master_repl_offset) where the source has an active backlog. Without one (no
        replica yet) the source does not advance its offset, so the growth of C(total_net_input_bytes) stands in;
        it counts reads too, so it can only overstate the rate.
    type: float
    default: 1.0
  min_backlog_seconds:
    description:
      - Warn when C(repl-backlog-size) holds fewer seconds of the measured write rate than this.
    type: float
    default: 60.0
  max_hops:
    description:
      - How many primaries up the source's chain to follow when looking for a loop.
    type: int
    default: 5
  transfer_rate:
    description:
      - Bytes per second at which the source is expected to snapshot and send its dataset to the target during a full
        sync. The expected transfer time, C(used_memory) over this rate, decides the C(output_buffer) finding.
    type: float
    default: 50000000.0
  promote:
    description:
      - The migration ends with a fenced cutover (C(replicaof state=primary fence_source=true)), which needs the source
        to be the primary. A source that is itself a replica is then a blocker instead of a warning.
    type: bool
    default: false
  persist:
    description:
      - The cutover saves the source's fence with C(CONFIG REWRITE) (C(replicaof persist=true), the promote role's
        C(promote_persist), on by default). With O(promote=true) a source without a configuration file is then a
        blocker (finding C(fence_durability)), because the cutover refuses it; otherwise a warning.
    type: bool
    default: false
notes:
  - On the target the module sends C(INFO), C(ROLE) (Dragonfly), C(CONFIG GET) (C(masteruser) only when
    O(primary_user) is unset, C(databases), C(tls-replication), C(tls-cert-file), C(tls-client-cert-file)),
    C(MODULE LIST), C(FUNCTION LIST), C(SCAN) and C(DUMP) (one key, when it holds any) or the C(RESTORE) probe and
    C(DEL) of its key. On the source it sends C(INFO), C(ROLE) (Dragonfly), C(ACL DRYRUN), C(SCAN), C(DUMP) (one
    key), C(MODULE LIST), C(FUNCTION LIST) and C(CONFIG GET) (C(port), C(tls-auth-clients),
    C(client-output-buffer-limit), C(repl-diskless-sync), C(repl-diskless-sync-delay)). Refused commands make the
    finding they serve say it was not checked, or fall back to the version table.
seealso:
  - module: kvmigrate.replication.replicaof
'''

EXAMPLES = r'''
- name: Check the pair, and fail listing the blockers if there are any (the default, never, only reports them)
  kvmigrate.replication.migration_check:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    primary_host: redis-old.example.com
    primary_password: "{{ source_password }}"
    fail_on: blockers
  delegate_to: localhost
  register: check

- name: Check a pair that ends with a fenced cutover (a source that is a replica is then a blocker)
  kvmigrate.replication.migration_check:
    login_host: redis-new.example.com
    primary_host: redis-old.example.com
    promote: true
  register: check_before_cutover
'''

RETURN = r'''
findings:
  description:
    - One entry per check. C(severity) is V(ok), V(warning) or V(blocker).
    - C(check) is one of C(source_reachable), C(target_reachable), C(pair), C(cluster_mode), C(rdb_compatibility),
      C(modules), C(functions) and C(hash_field_expiration) (Redis, Valkey and KeyDB pairs), C(dragonfly_features)
      and C(persist) (Dragonfly targets), C(fence_durability) (not for Dragonfly sources), C(databases), C(tls_replication), C(target_empty), C(source_role),
      C(target_memory), C(replication_loop) (not for pairs cut over or swapped), C(link_permissions), C(repl_backlog),
      C(output_buffer) and C(diskless_sync) (not for Dragonfly sources).
  returned: always
  type: list
  elements: dict
  sample: [{"check": "tls_replication", "severity": "ok", "message": "the link speaks plain text, as the source port does"}]
rdb:
  description:
    - The RDB version a full sync from the source carries (C(rdb_version)) and whether the target loads it
      (C(target_loads), null when not known), each with how it was found (C(rdb_version_how), C(target_loads_how)),
      which starts with C(measured) or C(inferred).
  returned: always (empty when an end could not be reached)
  type: dict
  sample: {"rdb_version": 10, "rdb_version_how": "measured: footer of the DUMP of one of its keys in db0",
           "target_loads": false, "target_loads_how": "measured: RESTORE of an RDB 10 payload refused
           (\"DUMP payload version or checksum are wrong\") while an RDB 6 one loads"}
blockers:
  description: Number of findings with severity V(blocker).
  returned: always
  type: int
  sample: 0
warning_count:
  description: Number of findings with severity V(warning).
  returned: always
  type: int
  sample: 1
already_replicating:
  description: The target already replicates from this source.
  returned: always
  type: bool
  sample: false
promoted:
  description:
    - The target is a primary and the source replicates from it, with the replication id both kept from before the
      promotion. That is how a fenced cutover leaves a pair.
  returned: always
  type: bool
  sample: false
swapped:
  description:
    - The target is a primary and the source an ordinary replica of it, with no earlier replication id in common. The
      addresses look swapped and nothing was migrated; the C(pair) finding is a blocker.
  returned: always
  type: bool
  sample: false
cut_over:
  description:
    - The pair needs no replication any more. Either RV(promoted) holds, or the target and the source both replicate
      from one primary. The second case is how the promote role leaves another target of a source whose writes moved
      to a sibling.
  returned: always
  type: bool
  sample: false
source:
  description:
    - What was read from the source (flavor, version, role, used_memory, write rate in bytes per second).
    - C(dbsize) is the number of keys in every database (INFO keyspace), not only db 0.
  returned: always
  type: dict
  sample: {"flavor": "redis", "version": "7.0.15", "dbsize": 100000, "used_memory": 9437184, "write_rate": 1024.0}
target:
  description:
    - What was read from the target (flavor, version, role, maxmemory).
    - C(dbsize) is the number of keys in every database (INFO keyspace), not only db 0.
  returned: always
  type: dict
  sample: {"flavor": "redis", "version": "7.0.15", "role": "primary", "dbsize": 0, "maxmemory": 0}
sentinel_watchers:
  description:
    - The Sentinels connected to each end, by the 8-character id in their connection names (C(CLIENT LIST)), for
      the sentinel role, which looks for Sentinels itself only where this finds some or could not look.
    - An end is V(null) when C(CLIENT LIST) failed there (an ACL user without C(client|list)).
  returned: when both ends answered
  type: dict
  sample: {"source": ["3f2a9c1d"], "target": []}
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import cutover_policy
from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import plan as plan_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import rdb as rdb_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import sentinel as sentinel_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, endpoint, option_label, primary_auth_argument_spec, require_redis,
    same_endpoint, validate_connection_params, validate_port)


class _Findings(object):
    def __init__(self):
        self.items = []

    def add(self, check, severity, message):
        self.items.append(dict(check=check, severity=severity, message=message))

    def count(self, severity):
        return sum(1 for item in self.items if item['severity'] == severity)


def _read(server):
    server.identify()
    dummy, fields, status = server.status(full=True)
    return fields, status


def _write_rate(source, seconds):
    """``(bytes per second the backlog would have to hold, "offset" or "input")``, ``(None, None)`` unmeasured.

    With an active backlog that is the growth of master_repl_offset. Without
    one (no replica yet, the usual case before a migration) Redis does not
    advance the offset at all, so the growth of total_net_input_bytes stands in:
    it also counts reads, so it can only overstate the rate (a warning, never a
    missed one)."""
    if seconds <= 0:
        return None, None

    def sample():
        fields = info_utils.parse_info(source.info_text('replication') + '\r\n' + source.info_text('stats'))
        if fields.get('repl_backlog_active') == '1' and fields.get('master_repl_offset') is not None:
            return 'offset', int(fields['master_repl_offset'])
        if fields.get('total_net_input_bytes') is not None:
            return 'input', int(fields['total_net_input_bytes'])
        return None, None

    first_kind, first = sample()
    time.sleep(seconds)
    second_kind, second = sample()
    if first is None or second is None or first_kind != second_kind:
        return None, None
    return max(0.0, (second - first) / seconds), first_kind


def _dragonfly_blockers(source, source_fields, findings):
    """Data a Dragonfly target cannot load (facts file: rdb_load.cc)."""
    problems = []
    for name, db in (info_utils.keyspace(source_fields).get('databases') or {}).items():
        if int(db.get('subexpiry') or 0):
            problems.append('%s has hash fields with TTLs (RDB types 24/25 are refused)' % name)
    try:
        if source.call('FUNCTION', 'LIST'):
            problems.append('functions are loaded (the RDB functions opcode fails to load)')
    except KvmigrateError:
        pass  # no FUNCTION command (before 7.0): nothing to check
    try:
        modules = source.call('MODULE', 'LIST') or []
        others = [n for n in rdb_utils.module_names(modules) if n not in ('rejson', 'redisjson', 'rejson-rl')]
        if others:
            problems.append('modules %s are loaded (their keys are skipped: data loss)' % ', '.join(sorted(others)))
    except KvmigrateError:
        pass
    if problems:
        findings.add('dragonfly_features', 'blocker', 'Dragonfly target cannot take all of the source: %s.' % '; '.join(problems))
    else:
        findings.add('dragonfly_features', 'ok', 'no hash-field TTLs, functions or non-JSON modules on the source')


def _pair_finding(replication, params, findings):
    if replication.swapped:
        findings.add('pair', 'blocker', (
            'source %s is an ordinary replica of target %s (they share no replication history from before a promotion), '
            'so the pair looks swapped and nothing was migrated: swap %s/%s and %s/%s; if %s was promoted from %s and a '
            'server restarted since (a restart forgets that history), the pair is cut over and needs no migration.' % (
                replication.source_endpoint, replication.target_endpoint, option_label(params, 'primary_host'),
                option_label(params, 'primary_port'), option_label(params, 'login_host'), option_label(params, 'login_port'),
                replication.target_endpoint, replication.source_endpoint)))
    elif replication.promoted:
        findings.add('pair', 'ok', 'target %s was promoted from source %s, which follows it (shared replication id %s '
                     'from before the promotion)' % (replication.target_endpoint, replication.source_endpoint,
                                                     replication.shared_history_id))
    else:
        findings.add('pair', 'ok', 'target %s, source %s' % (replication.target_endpoint, replication.source_endpoint))


def _target_empty_finding(replication, target_status, params, findings):
    keys = replication.target_keys
    if replication.swapped:
        findings.add('target_empty', 'warning', 'target %s holds %d keys as the primary of the source; not assessed '
                     'until the pair is fixed (see the pair finding)' % (replication.target_endpoint, keys))
    elif replication.cut_over:
        findings.add('target_empty', 'ok', 'pair already cut over: %s' % (
            'target and source both follow %s (a sibling took over the source)' % endpoint(
                target_status.get('primary_host'), target_status.get('primary_port'))
            if replication.sibling_moved else 'the target is primary and the source follows it'))
    elif replication.already_replicating:
        findings.add('target_empty', 'ok', 'target already replicates from this source (%d keys)' % keys)
    elif replication.continues_history:
        findings.add('target_empty', 'ok', 'target %s holds %d keys of the source\'s own replication history: a partial '
                     'resync is possible and nothing is discarded' % (replication.target_endpoint, keys))
    elif keys:
        findings.add('target_empty', 'warning' if params['allow_flush'] else 'blocker',
                     'target %s holds %d keys (all databases) that a full sync discards%s' % (
                         replication.target_endpoint, keys,
                         ' (allowed by %s)' % option_label(params, 'allow_flush') if params['allow_flush']
                         else ': empty it or set %s' % option_label(params, 'allow_flush')))
    else:
        findings.add('target_empty', 'ok', 'target holds no keys')


def _source_role_finding(replication, params, findings):
    if replication.cut_over:
        findings.add('source_role', 'ok', 'source %s follows %s since the cutover' % (
            replication.source_endpoint, replication.source_primary_endpoint))
    elif replication.source_is_replica:
        findings.add('source_role', 'blocker' if params['promote'] else 'warning', (
            'source %s is itself a replica of %s: chained replication works, but a fenced cutover needs the source to '
            'be the primary; point %s/%s at %s, or promote the source first' % (
                replication.source_endpoint, replication.source_primary_endpoint, option_label(params, 'primary_host'),
                option_label(params, 'primary_port'), replication.source_primary_endpoint)))
    else:
        findings.add('source_role', 'ok', 'source %s is a primary' % replication.source_endpoint)


def _link_permissions_finding(replication, params, target, source, findings):
    """Whether the user the replication link will log in as may run PSYNC and REPLCONF on the source."""
    if replication.cut_over:
        findings.add('link_permissions', 'ok', 'not checked: the pair is already cut over')
        return
    user, how = plan_utils.link_user(params, target)
    if user is None:
        findings.add('link_permissions', 'ok', "not checked: the target's masteruser, which the link logs in as, "
                     "cannot be read (CONFIG GET refused)")
        return
    outcome = plan_utils.link_permissions(source, user)
    fix = 'ACL SETUSER %s %s' % (user, ' '.join('+%s' % c.lower() for c in plan_utils.LINK_COMMANDS_REQUIRED))
    if not outcome['checked']:
        findings.add('link_permissions', 'ok', 'not checked: %s' % outcome['reason'])
    elif outcome['missing_user']:
        findings.add('link_permissions', 'blocker', (
            "source %s has no ACL user '%s', which the replication link logs in as (%s): create it there with "
            "'%s' and its password, or set %s to a user the source has" % (
                source.endpoint, user, how, fix, option_label(params, 'primary_user'))))
    else:
        missing = [c for c in outcome['denied'] if c in plan_utils.LINK_COMMANDS_REQUIRED]
        if missing:
            never = 'REPLCONF' in missing or 'SYNC' in outcome['denied']
            findings.add('link_permissions', 'blocker', (
                "ACL user '%s' on source %s, which the replication link logs in as (%s), may not run %s, so %s: run "
                "'%s' on the source, or set %s to a user that may" % (
                    user, source.endpoint, how, ' and '.join(missing),
                    'the link would never come up' if never else 'every reconnect would be a full sync',
                    fix, option_label(params, 'primary_user'))))
        else:
            findings.add('link_permissions', 'ok', "ACL user '%s' may run %s on source %s%s" % (
                user, ' and '.join(plan_utils.LINK_COMMANDS_REQUIRED), source.endpoint,
                ' (not SYNC, which only replicas without PSYNC use)' if outcome['denied'] else ''))


def _config(server, name):
    """``(value, None)`` from CONFIG GET (value None when the server has no such setting), or ``(None, reason)``
    when it may not be read."""
    try:
        return server.config_get(name), None
    except KvmigrateError as exc:
        return None, 'CONFIG GET %s on %s %s failed (%s)' % (name, server.what, server.endpoint, exc.msg.rstrip('.'))


def _cluster_mode_finding(target_fields, source_fields, target, source, findings):
    clustered = ['%s %s' % (server.what, server.endpoint) for server, fields in ((source, source_fields), (target, target_fields))
                 if str(fields.get('cluster_enabled')) == '1']
    if clustered:
        findings.add('cluster_mode', 'blocker', (
            '%s run%s in cluster mode (cluster_enabled:1), which one replication link cannot migrate: migrate it shard by '
            'shard with playbooks/migrate_cluster.yml (see docs/cluster.md)' % (' and '.join(clustered),
                                                                                '' if len(clustered) > 1 else 's')))
    else:
        findings.add('cluster_mode', 'ok', 'neither end runs in cluster mode')


def _probe_refusal(params, check_mode, replication, target_status, target_keys):
    """Why the target may not take the RDB RESTORE probe, or None: only a primary that holds no key (or whose keys
    the user allowed to be discarded), outside check mode, in a pair that is neither cut over nor swapped."""
    if check_mode:
        return 'check mode writes nothing'
    if target_status.get('role') != info_utils.ROLE_PRIMARY or replication.cut_over or replication.swapped:
        return 'the target is not a primary awaiting a migration'
    if target_keys and not params['allow_flush']:
        return 'the target holds keys and allow_flush is not set'
    return None


def _rdb_finding(params, check_mode, replication, source, target, source_fields, target_fields, target_status,
                 target_keys, findings):
    source_databases = info_utils.keyspace(source_fields)['databases']
    target_databases = info_utils.keyspace(target_fields)['databases']
    written = None
    if source.flavor != flavors.FLAVOR_DRAGONFLY:
        written = rdb_utils.measure_written(source, [n for n, db in source_databases.items() if db.get('keys')],
                                            params['primary_user'])
    rdb_version = (written or {}).get('version')
    if rdb_version is None and written is not None:
        rdb_version = flavors.rdb_version_written(source.flavor, source.version)
    target_measure = None
    if written is not None:
        target_measure = rdb_utils.measure_target(
            target, [n for n, db in target_databases.items() if db.get('keys')], rdb_version,
            _probe_refusal(params, check_mode, replication, target_status, target_keys), params['login_user'])
    decision = rdb_utils.compatibility(source.flavor, source.version, target.flavor, target.version, written,
                                       target_measure, source.endpoint, target.endpoint)
    findings.add('rdb_compatibility', 'ok' if decision['ok'] else 'blocker', decision['message'])
    return decision, target_measure or {}


def _source_modules_finding(source, target, findings):
    """Module data (keys of module types, module AUX fields) in the source's RDB that the target cannot load."""
    names = {}
    for server in (source, target):
        try:
            names[server.what] = rdb_utils.module_names(server.call('MODULE', 'LIST'))
        except KvmigrateError as exc:
            findings.add('modules', 'ok', 'not checked: MODULE LIST on %s %s failed (%s)' % (
                server.what, server.endpoint, exc.msg.rstrip('.')))
            return
    missing = [name for name in names['source'] if name not in names['target']]
    if missing:
        findings.add('modules', 'blocker', (
            'source %s loads module%s %s, which target %s does not: the RDB of a full sync carries their data and the '
            'target cannot load it; load the same module%s on the target (loadmodule, with a version that reads the '
            "source's data)" % (source.endpoint, 's' if len(missing) > 1 else '', ', '.join(missing), target.endpoint,
                                's' if len(missing) > 1 else '')))
    else:
        findings.add('modules', 'ok', 'source modules: %s' % (', '.join(names['source']) or 'none'))


def _functions_finding(source, target, findings):
    try:
        libraries = source.call('FUNCTION', 'LIST')
    except KvmigrateError as exc:
        findings.add('functions', 'ok', 'no functions on the source' if 'unknown command' in exc.msg.lower()
                     else 'not checked: FUNCTION LIST on source %s failed (%s)' % (source.endpoint, exc.msg.rstrip('.')))
        return
    if not libraries:
        findings.add('functions', 'ok', 'no functions on the source')
        return
    try:
        target.call('FUNCTION', 'LIST')
    except KvmigrateError as exc:
        if 'unknown command' not in exc.msg.lower():
            findings.add('functions', 'ok', 'not checked: FUNCTION LIST on target %s failed (%s)' % (
                target.endpoint, exc.msg.rstrip('.')))
            return
        findings.add('functions', 'blocker', (
            'source %s holds %d function librar%s, which the RDB of a full sync carries, but target %s (%s %s) has no '
            'functions (Redis 7.0+): use a target of Redis 7.0 or later, or move the libraries elsewhere and FUNCTION '
            'DELETE them on the source' % (source.endpoint, len(libraries), 'ies' if len(libraries) > 1 else 'y',
                                           target.endpoint, target.flavor, target.version)))
        return
    findings.add('functions', 'ok', 'source holds %d function libraries and the target has functions' % len(libraries))


def _databases_finding(source_fields, target, target_fields, findings):
    source_databases = info_utils.keyspace(source_fields)['databases']
    cluster = str(target_fields.get('cluster_enabled')) == '1'
    count, reason = _config(target, 'databases')
    count = int(count) if count is not None and str(count).isdigit() else None
    beyond = rdb_utils.databases_beyond(source_databases, count, cluster)
    if beyond:
        findings.add('databases', 'blocker', (
            'source keys in %s cannot land on target %s, which %s: a replica fails to load such an RDB; %s' % (
                ', '.join(beyond), target.endpoint,
                'runs in cluster mode (db0 only)' if cluster else 'has %d databases (db0 to db%d)' % (count, count - 1),
                'move those keys to db0 first' if cluster else 'raise databases on the target (a restart setting) to '
                'at least %d' % (max(rdb_utils.database_number(name) for name in beyond) + 1))))
    elif count is None and not cluster:
        findings.add('databases', 'ok', 'not checked: %s' % (reason or 'the target does not report databases'))
    else:
        findings.add('databases', 'ok', 'source uses %s; the target has %s' % (
            ', '.join(source_databases) or 'no database', 'db0 only (cluster mode)' if cluster else '%d databases' % count))


def _hash_field_ttl_finding(source, source_fields, target, decision, target_measure, findings):
    ttls = rdb_utils.hash_field_ttls(info_utils.keyspace(source_fields)['databases'])
    if not ttls:
        findings.add('hash_field_expiration', 'ok', 'no hash fields with TTLs on the source')
        return
    loads, how = rdb_utils.loads_hash_field_ttls(target.flavor, target.version, decision, target_measure)
    where = ', '.join('%s (%d keys)' % item for item in sorted(ttls.items()))
    if loads:
        findings.add('hash_field_expiration', 'ok', 'source hash fields with TTLs in %s; target loads them (%s)' % (where, how))
        return
    findings.add('hash_field_expiration', 'blocker' if loads is False else 'warning', (
        'source %s has hash fields with TTLs (Redis 7.4+, RDB %d) in %s, which target %s (%s %s) %s (%s): use a target '
        'that loads RDB %d, or remove the field TTLs (HPERSIST) first' % (
            source.endpoint, rdb_utils.HASH_FIELD_TTL_RDB_VERSION, where, target.endpoint, target.flavor, target.version,
            'cannot load' if loads is False else 'may not load', how, rdb_utils.HASH_FIELD_TTL_RDB_VERSION)))


def _tls_finding(params, source, target, findings):
    problem, not_checked = plan_utils.read_tls_link(params['tls'], source, target)
    if not_checked:
        findings.add('tls_replication', 'ok', 'not checked: %s' % not_checked)
    elif problem:
        findings.add('tls_replication', 'blocker', 'target %s cannot replicate from source %s: %s' % (
            target.endpoint, source.endpoint, problem))
    else:
        findings.add('tls_replication', 'ok', 'the link speaks %s, as the source port does' % (
            'TLS' if params['tls'] else 'plain text'))


def _output_buffer_finding(params, source, used_memory, rate, rate_kind, findings):
    if not rate:
        findings.add('output_buffer', 'ok', 'not checked: the write rate was %s' % (
            'not measured' if rate is None else '0 bytes/s'))
        return
    value, reason = _config(source, 'client-output-buffer-limit')
    limit = plan_utils.replica_output_buffer_limit(value)
    if limit is None:
        findings.add('output_buffer', 'ok', 'not checked: %s' % (
            reason or 'the source reports no replica client-output-buffer-limit'))
        return
    sync = plan_utils.full_sync_buffer(limit, rate, used_memory or 0, params['transfer_rate'])
    figures = ('%.0f bytes/s of writes%s over about %.1f s of snapshot and transfer (%d bytes of used_memory at '
               'transfer_rate %.0f bytes/s) add about %d bytes to the replica\'s output buffer, against '
               'client-output-buffer-limit %s' % (
                   rate, ' (input bytes, which overstate it)' if rate_kind == 'input' else '', sync['seconds'],
                   used_memory or 0, params['transfer_rate'], sync['peak_bytes'], limit['text']))
    fix = 'raise it on the source for the migration (%s) and restore it after' % plan_utils.BUFFER_FIX
    if sync['dropped_by']:
        findings.add('output_buffer', 'blocker' if rate_kind == 'offset' else 'warning', (
            'source %s would drop the replica during the full sync and restart it again and again: %s (%s limit '
            'exceeded); %s' % (source.endpoint, figures, sync['dropped_by'], fix)))
    elif sync['share'] >= plan_utils.OUTPUT_BUFFER_MARGIN:
        findings.add('output_buffer', 'warning', 'source %s comes close to dropping the replica during the full sync: '
                     '%s (%.0f%% of it); %s' % (source.endpoint, figures, 100 * sync['share'], fix))
    else:
        findings.add('output_buffer', 'ok', figures)


def _diskless_finding(source, findings):
    diskless, reason = _config(source, 'repl-diskless-sync')
    delay, delay_reason = _config(source, 'repl-diskless-sync-delay')
    if reason or delay_reason:
        findings.add('diskless_sync', 'ok', 'not checked: %s' % (reason or delay_reason))
        return
    seconds = int(delay) if str(delay or '').isdigit() else 0
    if str(diskless).lower() == 'yes' and seconds > plan_utils.DISKLESS_DELAY_DEFAULT_SECONDS:
        findings.add('diskless_sync', 'warning', (
            'source %s has repl-diskless-sync yes with repl-diskless-sync-delay %d s: every full sync, and every restart '
            'of one, waits %d s before it sends anything; lower it for the migration (CONFIG SET repl-diskless-sync-delay '
            '%d)' % (source.endpoint, seconds, seconds, plan_utils.DISKLESS_DELAY_DEFAULT_SECONDS)))
    else:
        findings.add('diskless_sync', 'ok', 'repl-diskless-sync %s, delay %d s' % (diskless, seconds))


def _persist_finding(target, findings):
    ok, reason = flavors.persist_support(target.flavor, target.version)
    if not ok:
        findings.add('persist', 'warning', 'target %s: %s' % (target.endpoint, reason))


def _fence_durability_finding(source, source_fields, params, findings):
    """The same decision the cutover takes before it begins (cutover_policy.fence_durability)."""
    ok, reason = cutover_policy.fence_durability(source.flavor, source.version, source_fields.get('config_file'))
    if ok:
        findings.add('fence_durability', 'ok', 'source %s runs from %s, which CONFIG REWRITE can save its fence in' % (
            source.endpoint, source_fields.get('config_file')))
        return
    refused = params['promote'] and params['persist']
    findings.add('fence_durability', 'blocker' if refused else 'warning', (
        'source %s: %s%s; start it with a configuration file, or set %s: false (promote_persist) to accept a fence '
        'that a restart undoes' % (source.endpoint, reason, ', and the cutover with persist refuses it' if refused else '',
                                   option_label(params, 'persist'))))


def _sentinel_watchers(server):
    """The ids of the Sentinels connected to ``server`` (sorted), or None when CLIENT LIST failed."""
    try:
        return sorted(sentinel_utils.watching_ids(server.call('CLIENT', 'LIST')))
    except KvmigrateError:
        return None


def run(params, check_mode=False):
    validate_connection_params(params)
    validate_port(params['primary_port'], 'primary_port', params)
    findings = _Findings()
    result = dict(changed=False, already_replicating=False, promoted=False, swapped=False, cut_over=False, source={},
                  target={}, rdb={})
    for sentence in params.get('inventory_blockers') or []:
        findings.add('inventory', 'blocker', sentence)
    if same_endpoint(params['primary_host'], params['primary_port'], params['login_host'], params['login_port']):
        findings.add('pair', 'blocker', 'target %s and source are the same server: fix %s/%s.' % (
            endpoint(params['login_host'], params['login_port']), option_label(params, 'primary_host'),
            option_label(params, 'primary_port')))
        return _finish(result, findings)

    servers = {}
    try:
        source_kwargs = dict(host=params['primary_host'], port=params['primary_port'], username=params['primary_user'],
                             password=params['primary_password'], option_prefix='primary_')
        for name, kwargs in (('target', {}), ('source', source_kwargs)):
            try:
                servers[name] = connect(params, what=name, **kwargs)
                findings.add('%s_reachable' % name, 'ok', '%s %s answers and accepts the credentials' % (
                    name, servers[name].endpoint))
            except KvmigrateError as exc:
                findings.add('%s_reachable' % name, 'blocker', exc.msg)
        if len(servers) < 2:
            return _finish(result, findings)
        target, source = servers['target'], servers['source']
        target_fields, target_status = _read(target)
        source_fields, source_status = _read(source)
        source_keys, target_keys = source.key_count(), target.key_count()
        source_memory, target_memory = info_utils.memory(source_fields), info_utils.memory(target_fields)
        rate, rate_kind = _write_rate(source, params['rate_sample_seconds'])
        result['source'] = dict(flavor=source.flavor, version=source.version, role=source_status.get('role'),
                                dbsize=source_keys, used_memory=source_memory.get('used_memory'), write_rate=rate)
        result['target'] = dict(flavor=target.flavor, version=target.version, role=target_status.get('role'),
                                dbsize=target_keys, maxmemory=target_memory.get('maxmemory'))
        replication = plan_utils.ReplicationPlan((params['login_host'], params['login_port']), target_status,
                                                 (params['primary_host'], params['primary_port']), source_status,
                                                 target_keys)
        result.update(already_replicating=replication.already_replicating, promoted=replication.promoted,
                      swapped=replication.swapped, cut_over=replication.cut_over)

        _pair_finding(replication, params, findings)
        _cluster_mode_finding(target_fields, source_fields, target, source, findings)
        decision, target_measure = _rdb_finding(params, check_mode, replication, source, target, source_fields,
                                                target_fields, target_status, target_keys, findings)
        result['rdb'] = dict((key, decision[key]) for key in ('rdb_version', 'rdb_version_how', 'target_loads',
                                                              'target_loads_how'))
        if target.flavor == flavors.FLAVOR_DRAGONFLY:
            _dragonfly_blockers(source, source_fields, findings)
            _persist_finding(target, findings)
        elif source.flavor != flavors.FLAVOR_DRAGONFLY:
            _source_modules_finding(source, target, findings)
            _functions_finding(source, target, findings)
            _hash_field_ttl_finding(source, source_fields, target, decision, target_measure, findings)
        _databases_finding(source_fields, target, target_fields, findings)
        _tls_finding(params, source, target, findings)
        _target_empty_finding(replication, target_status, params, findings)
        _source_role_finding(replication, params, findings)
        if source.flavor != flavors.FLAVOR_DRAGONFLY:
            _fence_durability_finding(source, source_fields, params, findings)

        maxmemory, used = target_memory.get('maxmemory') or 0, source_memory.get('used_memory') or 0
        if maxmemory and maxmemory < used:
            findings.add('target_memory', 'blocker', 'target maxmemory %d bytes is below the source used_memory %d bytes: '
                         'raise maxmemory on the target' % (maxmemory, used))
        else:
            findings.add('target_memory', 'ok', 'target maxmemory %s, source uses %d bytes' % (maxmemory or 'unlimited', used))

        # A pair already cut over, or swapped, has the source below the target by design or by mistake; the pair
        # finding says which, and a loop finding would only repeat it.
        if not (replication.cut_over or replication.swapped):
            looped, chain = plan_utils.upstream_loop(params, source, source_status, params['max_hops'])
            if looped:
                findings.add('replication_loop', 'blocker',
                             'source %s replicates (via %s) from the target: promote or repoint the source first.' % (
                                 source.endpoint, ' -> '.join(chain)))
            else:
                findings.add('replication_loop', 'ok', 'no loop (chain %s)' % ' -> '.join(chain))
        _link_permissions_finding(replication, params, target, source, findings)

        backlog = source_status.get('repl_backlog_size')
        if rate and backlog and backlog / rate < params['min_backlog_seconds']:
            findings.add('repl_backlog', 'warning',
                         'source repl-backlog-size %d bytes holds %.1f s of its %.0f bytes/s write rate (under %s s): '
                         'a link drop longer than that forces a new full sync; raise repl-backlog-size' % (
                             backlog, backlog / rate, rate, params['min_backlog_seconds']))
        else:
            findings.add('repl_backlog', 'ok', 'repl-backlog-size %s bytes, write rate %s bytes/s' % (
                backlog, '%.0f' % rate if rate is not None else 'not measured'))
        if source.flavor != flavors.FLAVOR_DRAGONFLY:
            _output_buffer_finding(params, source, source_memory.get('used_memory'), rate, rate_kind, findings)
            _diskless_finding(source, findings)
        result['sentinel_watchers'] = dict((name, _sentinel_watchers(server)) for name, server in servers.items())
    finally:
        for server in servers.values():
            server.close()
    return _finish(result, findings)


def _finish(result, findings):
    result.update(findings=findings.items, blockers=findings.count('blocker'), warning_count=findings.count('warning'))
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = connection_argument_spec()
    argument_spec.update(primary_auth_argument_spec())
    argument_spec.update(
        primary_host=dict(type='str', required=True, aliases=['master_host']),
        primary_port=dict(type='int', default=6379, aliases=['master_port']),
        allow_flush=dict(type='bool', default=False),
        rate_sample_seconds=dict(type='float', default=1.0),
        min_backlog_seconds=dict(type='float', default=60.0),
        max_hops=dict(type='int', default=5),
        promote=dict(type='bool', default=False),
        persist=dict(type='bool', default=False),
        transfer_rate=dict(type='float', default=50000000.0),
        fail_on=dict(type='str', default='never', choices=['never', 'blockers', 'warnings']),
        inventory_blockers=dict(type='list', elements='str', default=[]),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    try:
        result = run(module.params, check_mode=module.check_mode)
    except KvmigrateError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    refused = refusal(result, module.params['fail_on'])
    if refused:
        module.fail_json(msg=refused, **result)
    module.exit_json(**result)


def refusal(result, fail_on):
    """The failure message ``fail_on`` asks for, listing the blockers and warnings found, or None."""
    if fail_on == 'never' or not (result['blockers'] or (fail_on == 'warnings' and result['warning_count'])):
        return None
    listed = [finding['message'] for finding in result['findings'] if finding['severity'] in ('blocker', 'warning')]
    return 'Preflight found %d blocker%s and %d warning%s, so nothing was changed: %s' % (
        result['blockers'], '' if result['blockers'] == 1 else 's', result['warning_count'],
        '' if result['warning_count'] == 1 else 's', ' | '.join(listed))


if __name__ == '__main__':
    main()
