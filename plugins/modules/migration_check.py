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
    migration by replication fail or lose data. It changes nothing.
  - Blockers are problems the migration must not start with. The pair cannot be reached or authenticated. The source
    writes an RDB version the target cannot load. A Dragonfly target cannot load some of the source's data. The target
    holds keys (in any database) that a full sync would discard and O(allow_flush) is not set. The target's
    C(maxmemory) is below the source's C(used_memory). The pair forms a replication loop. The pair looks swapped
    (finding C(pair)). The user the replication link logs in as may not run C(PSYNC) or C(REPLCONF) on the source
    (finding C(link_permissions)). With O(promote=true), a source that is itself a replica (finding C(source_role)).
  - Warnings are risks. The source's C(repl-backlog-size) holds fewer than O(min_backlog_seconds) seconds of its
    current write rate, so a short link drop would force a new full sync. The source is itself a replica, which
    chained replication allows, but a fenced cutover needs the source to be the primary.
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
  promote:
    description:
      - The migration ends with a fenced cutover (C(replicaof state=primary fence_source=true)), which needs the source
        to be the primary. A source that is itself a replica is then a blocker instead of a warning.
    type: bool
    default: false
notes:
  - On the target the module sends C(INFO), C(ROLE) (Dragonfly) and C(CONFIG GET masteruser) (only when
    O(primary_user) is unset, to know the user the link logs in as). On the source it sends C(INFO), C(ROLE)
    (Dragonfly), C(ACL DRYRUN) and, for Dragonfly targets, C(FUNCTION LIST) and C(MODULE LIST). Refused commands
    make the finding they serve say it was not checked.
seealso:
  - module: kvmigrate.replication.replicaof
'''

EXAMPLES = r'''
- name: Check the pair
  kvmigrate.replication.migration_check:
    login_host: redis-new.example.com
    login_password: "{{ target_password }}"
    primary_host: redis-old.example.com
    primary_password: "{{ source_password }}"
  delegate_to: localhost
  register: check

- name: Stop on blockers
  ansible.builtin.assert:
    that: check.blockers == 0
    fail_msg: "{{ check.findings | selectattr('severity', 'equalto', 'blocker') | map(attribute='message') | list }}"

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
    - C(check) is one of C(source_reachable), C(target_reachable), C(pair), C(rdb_compatibility),
      C(dragonfly_features) (Dragonfly targets), C(target_empty), C(source_role), C(target_memory),
      C(replication_loop) (not for pairs cut over or swapped), C(link_permissions) and C(repl_backlog).
  returned: always
  type: list
  elements: dict
  sample: [{"check": "rdb_compatibility", "severity": "ok", "message": "redis 6.2.14 -> redis 7.0.15: RDB 9 loads"}]
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
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils import plan as plan_utils
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
    """Bytes per second the backlog would have to hold.

    With an active backlog that is the growth of master_repl_offset. Without
    one (no replica yet, the usual case before a migration) Redis does not
    advance the offset at all, so the growth of total_net_input_bytes stands in:
    it also counts reads, so it can only overstate the rate (a warning, never a
    missed one)."""
    if seconds <= 0:
        return None

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
        return None
    return max(0.0, (second - first) / seconds)


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
        names = [m.get('name') if isinstance(m, dict) else dict(zip(m[::2], m[1::2])).get('name') for m in modules]
        others = [n for n in names if n and n.lower() not in ('rejson', 'redisjson', 'rejson-rl')]
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


def run(params):
    validate_connection_params(params)
    validate_port(params['primary_port'], 'primary_port', params)
    findings = _Findings()
    result = dict(changed=False, already_replicating=False, promoted=False, swapped=False, cut_over=False, source={},
                  target={})
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
        rate = _write_rate(source, params['rate_sample_seconds'])
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
        ok, reason = info_utils.replication_compatibility(source.flavor, source.version, target.flavor, target.version)
        findings.add('rdb_compatibility', 'ok' if ok else 'blocker',
                     '%s %s -> %s %s can replicate' % (source.flavor, source.version, target.flavor, target.version)
                     if ok else reason)
        if target.flavor == 'dragonfly':
            _dragonfly_blockers(source, source_fields, findings)
        _target_empty_finding(replication, target_status, params, findings)
        _source_role_finding(replication, params, findings)

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
