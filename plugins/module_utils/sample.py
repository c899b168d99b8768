# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare a sample of keys and values between a source and its replica.

A Dragonfly replica of Redis applies the stream without looking at the replies and advances its offset whether a
command worked or not, so "caught up" does not prove the data arrived. Reading the same keys on both ends does.
DUMP payloads differ between flavors, so values are compared by type, through commands every flavor answers alike.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError, source_endpoint

# Collections longer than this are compared by length alone: reading them whole would load both servers.
MAX_ELEMENTS_READ = 10000
# Keys named in the failure message; the full list is in the result.
KEYS_NAMED = 5

_LENGTH_COMMANDS = {'hash': 'HLEN', 'set': 'SCARD', 'zset': 'ZCARD', 'list': 'LLEN', 'stream': 'XLEN'}


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def _bytes(value):
    # The connection may decode replies or not; both ends are read through the same kind of client.
    if isinstance(value, bytes):
        return value
    return str(value).encode('utf-8', 'surrogateescape')


def _pairs(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]


def _canonical(kind, reply):
    """The value in a form both flavors give alike: unordered types sorted, scores as floats."""
    if kind == 'hash':
        items = reply.items() if isinstance(reply, dict) else _pairs(list(reply or []))
        return sorted((_bytes(k), _bytes(v)) for k, v in items)
    if kind == 'set':
        return sorted(_bytes(member) for member in reply or [])
    if kind == 'zset':
        items = reply if reply and isinstance(reply[0], (list, tuple)) else _pairs(list(reply or []))
        return [(_bytes(member), float(score)) for member, score in items]
    if kind == 'stream':
        return [(_bytes(entry_id), [_bytes(part) for part in (fields or [])]) for entry_id, fields in reply or []]
    if kind == 'list':
        return [_bytes(element) for element in reply or []]
    return None if reply is None else _bytes(reply)


def _read_value(server, kind, key):
    if kind == 'string':
        return server.call('GET', key)
    if kind == 'list':
        return server.call('LRANGE', key, 0, -1)
    if kind == 'hash':
        return server.call('HGETALL', key)
    if kind == 'set':
        return server.call('SMEMBERS', key)
    if kind == 'zset':
        return server.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    return server.call('XRANGE', key, '-', '+')


def fingerprint(server, key):
    """(type, length or None, digest or None) of ``key`` on ``server``; type 'none' when the key does not exist.

    Types this module cannot read alike on every flavor (module types) give their type alone."""
    kind = _text(server.call('TYPE', key))
    if kind == 'none' or (kind != 'string' and kind not in _LENGTH_COMMANDS):
        return kind, None, None
    length = None
    if kind in _LENGTH_COMMANDS:
        length = int(server.call(_LENGTH_COMMANDS[kind], key))
        if length > MAX_ELEMENTS_READ:
            return kind, length, None
    value = _canonical(kind, _read_value(server, kind, key))
    return kind, length, hashlib.sha256(repr(value).encode('utf-8', 'surrogateescape')).hexdigest()


def _databases(server):
    names = info_utils.keyspace(info_utils.parse_info(server.info_text('keyspace')))['databases']
    return sorted(int(name[2:]) for name, stats in names.items() if stats.get('keys'))


def sample_keys(server, size):
    """Up to ``size`` (database, key) pairs found by SCAN, spread over every database that holds keys."""
    databases = _databases(server)
    if not databases or size <= 0:
        return []
    per_database = max(1, -(-size // len(databases)))
    sampled = []
    for database in databases:
        server.call('SELECT', database)
        cursor, found = 0, []
        while len(found) < per_database:
            cursor, keys = server.call('SCAN', cursor, 'COUNT', max(per_database, 100))
            found.extend(keys)
            if int(cursor) == 0:
                break
        sampled.extend((database, key) for key in found[:per_database])
    server.call('SELECT', 0)
    return sampled[:size]


def _fingerprint_in(server, database, key):
    server.call('SELECT', database)
    return fingerprint(server, key)


def compare_sample(source, target, size, recheck=None):
    """Compare ``size`` sampled keys of ``source`` with ``target``.

    A difference seen once is read again on both ends after ``recheck()`` (a short wait the caller gives), because
    live writes reach the replica a moment after the source: only a difference that persists counts. Returns
    ``dict(sampled=, differing=[{database, key, reason}])``; the values themselves are never returned."""
    sampled = sample_keys(source, size)
    suspects = []
    for database, key in sampled:
        if _fingerprint_in(source, database, key) != _fingerprint_in(target, database, key):
            suspects.append((database, key))
    if suspects and recheck is not None:
        recheck()
    differing = []
    for database, key in suspects:
        on_source = _fingerprint_in(source, database, key)
        on_target = _fingerprint_in(target, database, key)
        if on_source == on_target or on_source[0] == 'none':
            # Equal now, or deleted/expired on the source meanwhile: nothing lost.
            continue
        differing.append(dict(database=database, key=_text(key), reason=_reason(on_source, on_target)))
    for server in (source, target):
        server.call('SELECT', 0)
    return dict(sampled=len(sampled), differing=differing)


def _reason(on_source, on_target):
    if on_target[0] == 'none':
        return 'missing on the target'
    if on_source[0] != on_target[0]:
        return 'type %s on the source, %s on the target' % (on_source[0], on_target[0])
    if on_source[1] != on_target[1]:
        return 'length %s on the source, %s on the target' % (on_source[1], on_target[1])
    return 'values differ'


def compare_with_source(params, target, size, recheck_delay, host=None, port=None):
    """Compare ``size`` sampled keys of the target's source with ``target`` (an open connection), for compare_sample
    and wait_for_sync's compare_sample option. The source is ``host``/``port``, or else the primary the target
    replicates from, logged in to with primary_user/primary_password or else the target's link credentials.

    Returns ``dict(source=, sampled=, differing=[])``. Raises KvmigrateError naming the first differing keys (never
    their values), with the same fields as details, when any sampled key differs."""
    if host is None or port is None:
        status = target.replication()
        if status['role'] != 'replica':
            raise KvmigrateError('Target %s is not a replica and no primary_host was given: set primary_host and '
                                 'primary_port to the source to compare with.' % target.endpoint)
        host = status['primary_host'] if host is None else host
        port = status['primary_port'] if port is None else port
    source = source_endpoint(params, host, port, target.link_credentials).connect(params)
    try:
        result = compare_sample(source, target, size, recheck=lambda: time.sleep(recheck_delay))
    finally:
        source.close()
    result = dict(source=source.endpoint, **result)
    differing = result['differing']
    if differing:
        named = ', '.join('db%s %s (%s)' % (d['database'], d['key'], d['reason']) for d in differing[:KEYS_NAMED])
        raise KvmigrateError('Target %s differs from source %s in %d of %d sampled keys: %s. The target dropped or '
                             'changed writes the source acknowledged; find why (a command or type the target rejects, '
                             'a write to the replica) before the cutover.'
                             % (target.endpoint, source.endpoint, len(differing), result['sampled'], named), **result)
    return result
