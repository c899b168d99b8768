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
    holds keys and O(allow_flush) is not set. The target's C(maxmemory) is below the source's C(used_memory). The pair
    forms a replication loop.
  - Warnings are risks. The source's C(repl-backlog-size) holds fewer than O(min_backlog_seconds) seconds of its
    current write rate, so a short link drop would force a new full sync.
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
'''

RETURN = r'''
findings:
  description: One entry per check. C(severity) is V(ok), V(warning) or V(blocker).
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
  description: The target is a primary and the source replicates from it, which is how a fenced cutover leaves a pair.
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
  description: What was read from the source (flavor, version, dbsize, used_memory, write rate in bytes per second).
  returned: always
  type: dict
  sample: {"flavor": "redis", "version": "7.0.15", "dbsize": 100000, "used_memory": 9437184, "write_rate": 1024.0}
target:
  description: What was read from the target (flavor, version, role, dbsize, maxmemory).
  returned: always
  type: dict
  sample: {"flavor": "redis", "version": "7.0.15", "role": "primary", "dbsize": 0, "maxmemory": 0}
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, connection_argument_spec, endpoint, primary_auth_argument_spec, require_redis,
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


def _loop_check(params, source, source_status, findings):
    """Follow the source's primaries: meeting the target means a loop."""
    hops, current, status = 0, source, source_status
    chain = [source.endpoint]
    opened = []
    try:
        while status.get('role') == 'replica' and hops < params['max_hops']:
            host, port = status.get('primary_host'), status.get('primary_port')
            chain.append(endpoint(host, port))
            if same_endpoint(host, port, params['login_host'], params['login_port']):
                findings.add('replication_loop', 'blocker',
                             'source %s replicates (via %s) from the target: promote or repoint the source first.' % (
                                 source.endpoint, ' -> '.join(chain)))
                return
            try:
                current = connect(params, host=host, port=port, username=params['primary_user'],
                                  password=params['primary_password'], what='upstream', option_prefix='primary_')
            except KvmigrateError:
                break  # an unreachable upstream cannot be the target we just reached
            opened.append(current)
            status = current.status()[2]
            hops += 1
    finally:
        for server in opened:
            server.close()
    findings.add('replication_loop', 'ok', 'no loop (chain %s)' % ' -> '.join(chain))


def run(params):
    validate_connection_params(params)
    validate_port(params['primary_port'], 'primary_port')
    findings = _Findings()
    result = dict(changed=False, already_replicating=False, promoted=False, cut_over=False, source={}, target={})
    if same_endpoint(params['primary_host'], params['primary_port'], params['login_host'], params['login_port']):
        findings.add('pair', 'blocker', 'target %s and source are the same server: fix primary_host/primary_port.' % (
            endpoint(params['login_host'], params['login_port'])))
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
        source_keys = info_utils.keyspace(source_fields)['dbsize']
        target_keys = info_utils.keyspace(target_fields)['dbsize']
        source_memory, target_memory = info_utils.memory(source_fields), info_utils.memory(target_fields)
        rate = _write_rate(source, params['rate_sample_seconds'])
        result['source'] = dict(flavor=source.flavor, version=source.version, role=source_status.get('role'),
                                dbsize=source_keys, used_memory=source_memory.get('used_memory'), write_rate=rate)
        result['target'] = dict(flavor=target.flavor, version=target.version, role=target_status.get('role'),
                                dbsize=target_keys, maxmemory=target_memory.get('maxmemory'))
        already = target_status.get('role') == 'replica' and same_endpoint(
            target_status.get('primary_host'), target_status.get('primary_port'), params['primary_host'], params['primary_port'])
        result['already_replicating'] = already
        # A pair already cut over by kvmigrate.replication.replicaof fence_source: the old source follows the target.
        promoted = target_status.get('role') == 'primary' and source_status.get('role') == 'replica' and same_endpoint(
            source_status.get('primary_host'), source_status.get('primary_port'), params['login_host'], params['login_port'])
        # A sibling moved to the promoted target (the promote role does that): target and source follow one primary.
        sibling_moved = target_status.get('role') == 'replica' and source_status.get('role') == 'replica' and same_endpoint(
            target_status.get('primary_host'), target_status.get('primary_port'),
            source_status.get('primary_host'), source_status.get('primary_port'))
        result['promoted'] = promoted
        result['cut_over'] = cut_over = promoted or sibling_moved

        ok, reason = info_utils.replication_compatibility(source.flavor, source.version, target.flavor, target.version)
        findings.add('rdb_compatibility', 'ok' if ok else 'blocker',
                     '%s %s -> %s %s can replicate' % (source.flavor, source.version, target.flavor, target.version)
                     if ok else reason)
        if target.flavor == 'dragonfly':
            _dragonfly_blockers(source, source_fields, findings)

        if cut_over:
            findings.add('target_empty', 'ok', 'pair already cut over: %s' % (
                'target and source both follow %s (a sibling took over the source)' % endpoint(
                    target_status.get('primary_host'), target_status.get('primary_port'))
                if sibling_moved else 'the target is primary and the source follows it'))
        elif already:
            findings.add('target_empty', 'ok', 'target already replicates from this source (%d keys)' % target_keys)
        elif target_keys:
            findings.add('target_empty', 'warning' if params['allow_flush'] else 'blocker',
                         'target %s holds %d keys that a full sync discards%s' % (
                             target.endpoint, target_keys,
                             ' (allowed by allow_flush)' if params['allow_flush'] else ': empty it or set allow_flush'))
        else:
            findings.add('target_empty', 'ok', 'target holds no keys')

        maxmemory, used = target_memory.get('maxmemory') or 0, source_memory.get('used_memory') or 0
        if maxmemory and maxmemory < used:
            findings.add('target_memory', 'blocker', 'target maxmemory %d bytes is below the source used_memory %d bytes: '
                         'raise maxmemory on the target' % (maxmemory, used))
        else:
            findings.add('target_memory', 'ok', 'target maxmemory %s, source uses %d bytes' % (maxmemory or 'unlimited', used))

        if not cut_over:
            _loop_check(params, source, source_status, findings)

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
