# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a full sync from a source carries, measured on the servers rather than looked up by version.

A full sync sends an RDB stream whose format version is the server's ``RDB_VERSION``, and every ``DUMP`` payload ends
with that same version (2 bytes, little-endian) followed by a CRC64 of everything before it (8 bytes, little-endian;
Redis ``createDumpPayload``/``verifyDumpPayload``, unchanged in Valkey and KeyDB). So:

* what a source writes is the footer of the ``DUMP`` of any one of its keys (found with ``SCAN``: no write);
* what a Redis-family target loads is at most what its own ``DUMP`` writes, and ``RESTORE`` refuses a payload whose
  version is above that ("DUMP payload version or checksum are wrong"), which lets an empty target be asked
  directly with a crafted payload of the version in question.

Servers built from source report version 255.255.255 (Redis and KeyDB in ``redis_version``, Valkey in
``valkey_version``), so a version table can only guess; it stays as the labelled fallback (``flavors``) for servers
holding no key, refusing ``DUMP``, or not speaking the Redis RDB dialect (Dragonfly).

The other things an RDB stream carries that a target may be unable to load (module data types, functions, keys in a
database number the target lacks, hash fields with TTLs) are decided here too, as pure functions of what was read.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import struct
import uuid

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError

FOOTER_LENGTH = 10
# Redis's crc64 (src/crc64.c): the Jones polynomial, reflected, initial value 0, no final xor.
_CRC64_POLY_REFLECTED = 0x95AC9329AC4BC9B5
# RDB_TYPE_STRING followed by a length-prefixed string: a value every RDB version since the first one encodes alike.
_RDB_TYPE_STRING = 0
# The version RESTORE must accept on any Redis-family server: a refusal of the probed version counts only when this
# one loads on the same connection (the probe is then known to work).
CONTROL_RDB_VERSION = 6
# The first RDB version with hash fields that expire (Redis 7.4, RDB types 22 to 25).
HASH_FIELD_TTL_RDB_VERSION = 12
PROBE_KEY_PREFIX = 'kvmigrate:rdb-probe:'
PROBE_TTL_MS = 10000
# How many SCAN calls may come back empty (a sparse table) before a source counts as holding no key to DUMP.
_SCAN_ROUNDS = 20
_NEVER_DECODE = {'NEVER_DECODE': []}

MEASURED = 'measured'
INFERRED = 'inferred'


def _crc64_table():
    table = []
    for byte in range(256):
        crc = byte
        for dummy in range(8):
            crc = (crc >> 1) ^ _CRC64_POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64(data, crc=0):
    """Redis's CRC64 of ``data`` (bytes)."""
    for byte in bytearray(data):
        crc = _CRC64_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def footer_version(payload):
    """The RDB version in a ``DUMP`` payload's footer (the 2 little-endian bytes before the CRC64).

    Raises ValueError for a payload too short to have a footer, or whose CRC64 does not match (not a DUMP payload)."""
    payload = bytes(payload)
    if len(payload) < FOOTER_LENGTH + 1:
        raise ValueError('a DUMP payload has at least %d bytes, this one %d' % (FOOTER_LENGTH + 1, len(payload)))
    version, checksum = struct.unpack('<HQ', payload[-FOOTER_LENGTH:])
    if crc64(payload[:-8]) != checksum:
        raise ValueError('the CRC64 of the payload does not match its footer')
    return version


def string_payload(value, rdb_version):
    """A ``DUMP`` payload of the string ``value`` (bytes, under 64 bytes) claiming ``rdb_version``, for RESTORE."""
    value = bytes(value)
    if len(value) >= 64:
        raise ValueError('the probe value must be shorter than 64 bytes (6-bit length encoding)')
    body = bytes(bytearray([_RDB_TYPE_STRING, len(value)])) + value + struct.pack('<H', rdb_version)
    return body + struct.pack('<Q', crc64(body))


def loads_version(flavor, highest, rdb_version):
    """Whether a server whose own RDB version is ``highest`` loads ``rdb_version`` (see flavors.loads_rdb_version)."""
    return flavors.loads_rdb_version(flavor, highest, rdb_version)


# --------------------------------------------------------------------------
# Measuring on a connected server
# --------------------------------------------------------------------------

def _raw(server, *args):
    """One command whose reply is binary (DUMP, SCAN keys): redis-py must not decode it as UTF-8."""
    try:
        return server.client.execute_command(*args, **_NEVER_DECODE)
    except Exception as exc:  # turned into the collection's sentence naming the server, like Server.call
        cause, msg = server.explain(exc, ' '.join(str(a) for a in args[:1]).upper())
        raise KvmigrateError(msg, cause=cause)


def _a_key(server, database):
    """One key of ``database`` found with SCAN, or None."""
    cursor = b'0'
    for dummy in range(_SCAN_ROUNDS):
        reply = _raw(server, 'SCAN', cursor, 'COUNT', 100)
        cursor, keys = reply[0], reply[1]
        if keys:
            return keys[0]
        if int(cursor) == 0:
            return None
    return None


def refused_by_acl(server, user, *command):
    """Why ACL DRYRUN (Redis 7.0+) says ``user``, the module's login, may not run ``command``, or None. Asking first
    keeps a least-privilege login from filling ACL LOG with refusals; where DRYRUN is missing or not allowed, None
    (the command is tried, and a refusal makes the measurement fall back to the table)."""
    try:
        reply = server.call('ACL', 'DRYRUN', user or 'default', *command)
    except KvmigrateError:
        return None
    if str(reply).upper() == 'OK':
        return None
    return 'the login may not run %s there (%s)' % (command[0], str(reply).rstrip('.'))


def measure_written(server, databases, user=None):
    """What a full sync from ``server`` carries: ``{"version", "how", "reason"}``.

    ``databases`` are the names (``db0``, ``db3``) of the keyspace's non-empty databases; ``user`` is the module's
    login on ``server`` (None: default). ``version`` is the footer of the DUMP of one key, or None with ``reason``
    saying why it was not measured. The connection is left on db 0."""
    names = sorted(databases or [], key=lambda name: int(name[2:]))
    if not names:
        return dict(version=None, how=None, reason='%s %s holds no key to DUMP' % (server.what, server.endpoint))
    number = int(names[0][2:])
    refusal = refused_by_acl(server, user, 'SCAN', '0')
    if refusal:
        return dict(version=None, how=None, reason='%s %s cannot be measured: %s' % (server.what, server.endpoint, refusal))
    try:
        if number:
            server.call('SELECT', number)
        key = _a_key(server, number)
        refusal = refused_by_acl(server, user, 'DUMP', key) if key is not None else None
        payload = _raw(server, 'DUMP', key) if key is not None and not refusal else None
    except KvmigrateError as exc:
        return dict(version=None, how=None, reason='DUMP was not possible (%s)' % exc.msg.rstrip('.'))
    finally:
        if number:
            try:
                server.call('SELECT', 0)
            except KvmigrateError:
                pass  # the next command reports a broken connection itself
    if refusal:
        return dict(version=None, how=None, reason='%s %s cannot be measured: %s' % (server.what, server.endpoint, refusal))
    if payload is None:
        return dict(version=None, how=None, reason='no key of %s %s could be read in time to DUMP it' % (
            server.what, server.endpoint))
    try:
        version = footer_version(payload)
    except ValueError as exc:
        return dict(version=None, how=None, reason='its DUMP payload has no Redis footer (%s)' % exc)
    return dict(version=version, how='footer of the DUMP of one of its keys in %s' % names[0], reason=None)


def _restore(server, key, version):
    """None when RESTORE accepts a payload of ``version``, else the server's error text; other failures raise."""
    try:
        server.client.execute_command('RESTORE', key, PROBE_TTL_MS, string_payload(b'kvmigrate', version))
    except Exception as exc:  # only the server's own refusal of the payload is an answer; anything else raises
        text = str(exc)
        if 'payload version' in text.lower():
            return text
        cause, msg = server.explain(exc, 'RESTORE')
        raise KvmigrateError(msg, cause=cause)
    finally:
        try:
            server.client.execute_command('DEL', key)
        except Exception:  # the key expires by itself within PROBE_TTL_MS
            pass
    return None


def probe_restore(server, rdb_version, user=None):
    """Ask ``server`` whether it loads ``rdb_version``: RESTORE a crafted string payload claiming that version into a
    new, unique key that expires within PROBE_TTL_MS and is deleted at once (RESTORE without REPLACE never
    overwrites). Call it only on a primary that holds no key, or whose keys the user allowed to be discarded.

    Returns ``{"loads": True/False/None, "how", "reason"}``: False only when the server refused the payload's version
    while it loaded CONTROL_RDB_VERSION on the same connection; None with ``reason`` when the probe proves nothing."""
    key = '%s%s' % (PROBE_KEY_PREFIX, uuid.uuid4().hex)
    acl_refusal = refused_by_acl(server, user, 'RESTORE', key, '0', 'payload')
    if acl_refusal:
        return dict(loads=None, how=None, reason='no RESTORE probe: %s' % acl_refusal)
    try:
        refusal = _restore(server, key, rdb_version)
        if refusal is None:
            return dict(loads=True, how='RESTORE of an RDB %d payload into a temporary key accepted' % rdb_version,
                        reason=None)
        control = _restore(server, key, CONTROL_RDB_VERSION)
    except KvmigrateError as exc:
        return dict(loads=None, how=None, reason='the RESTORE probe failed (%s)' % exc.msg.rstrip('.'))
    if control is not None:
        return dict(loads=None, how=None, reason='RESTORE refused even an RDB %d payload (%s)' % (
            CONTROL_RDB_VERSION, control))
    return dict(loads=False, reason=None, how='RESTORE of an RDB %d payload refused ("%s") while an RDB %d one loads' % (
        rdb_version, refusal.strip(), CONTROL_RDB_VERSION))


# --------------------------------------------------------------------------
# Everything else an RDB stream carries
# --------------------------------------------------------------------------

def module_names(reply):
    """Module names from a MODULE LIST reply (RESP2 flat pairs or RESP3/redis-py dicts), lower-cased."""
    names = []
    for module in reply or []:
        if isinstance(module, dict):
            fields = module
        else:
            items = list(module)
            fields = dict(zip(items[::2], items[1::2]))
        fields = dict((_text(k).lower(), v) for k, v in fields.items())
        name = fields.get('name')
        if name:
            names.append(_text(name).lower())
    return sorted(set(names))


def _text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


def database_number(name):
    match = re.match(r'^db(\d+)$', name)
    return int(match.group(1)) if match else None


def databases_beyond(source_databases, target_count, target_cluster):
    """The source's non-empty databases a target cannot hold: every one but db0 on a cluster-mode target, else every
    ``dbN`` with N at or above the target's ``databases`` (None when unknown: then only the cluster rule applies)."""
    beyond = []
    for name, stats in (source_databases or {}).items():
        number = database_number(name)
        if number is None or not (stats or {}).get('keys'):
            continue
        if (target_cluster and number > 0) or (target_count is not None and number >= target_count):
            beyond.append(name)
    return sorted(beyond, key=database_number)


def hash_field_ttls(source_databases):
    """``{dbN: count}`` of keys with hash fields that expire (``subexpiry``, Redis 7.4+ INFO keyspace)."""
    found = {}
    for name, stats in (source_databases or {}).items():
        count = (stats or {}).get('subexpiry') or 0
        if isinstance(count, int) and count > 0:
            found[name] = count
    return found


# --------------------------------------------------------------------------
# The decision: measured where possible, the version table where not
# --------------------------------------------------------------------------

def _name(flavor, version):
    return '%s %s' % (flavor, version if version is not None else '(unknown version)')


def measure_target(target, target_databases, rdb_version, no_probe_reason=None, user=None):
    """What ``target`` shows about the RDB versions it loads: ``{"highest", "loads", "how", "reason"}``.

    A Redis-family target holding keys tells its own version by the DUMP footer of one of them (``highest``). One
    holding none answers a RESTORE probe of ``rdb_version`` (``loads``) unless the caller gives ``no_probe_reason``
    (its safety: probe only a primary that holds no key or whose keys may be discarded, outside check mode).
    Dragonfly loads more than its own DUMP writes, so it is never measured this way."""
    if target.flavor == flavors.FLAVOR_DRAGONFLY:
        return dict(highest=None, loads=None, how=None, reason='Dragonfly loads other RDB versions than its DUMP writes')
    own = measure_written(target, target_databases, user)
    if own['version'] is not None:
        return dict(highest=own['version'], loads=None, how='its own DUMP writes RDB %d (%s)' % (own['version'], own['how']),
                    reason=None)
    if rdb_version is None:
        return dict(highest=None, loads=None, how=None, reason=own['reason'])
    if no_probe_reason:
        return dict(highest=None, loads=None, how=None, reason='%s, and no RESTORE probe was made (%s)' % (
            own['reason'], no_probe_reason))
    probe = probe_restore(target, rdb_version, user)
    return dict(highest=None, loads=probe['loads'], how=probe['how'], reason=probe['reason'])


def compatibility(source_flavor, source_version, target_flavor, target_version, written, target_measure,
                  source_endpoint=None, target_endpoint=None):
    """Whether a target loads the RDB stream of a full sync from the source.

    ``written`` is ``measure_written``'s answer on the source, ``target_measure`` ``measure_target``'s on the target
    (either may be None: not read). Returns ``{"ok", "rdb_version", "rdb_version_how", "target_loads",
    "target_loads_how", "message"}``: ``*_how`` start with "measured" or "inferred" and say how; ``ok`` is False only
    when the target is known not to load the version, and then ``message`` is the reason and the fix. A version
    neither measured nor in the table does not block: the wait for the link to come up is the backstop."""
    written = written or {}
    target_measure = target_measure or {}
    source_name, target_name = _name(source_flavor, source_version), _name(target_flavor, target_version)
    source_full = 'source %s (%s)' % (source_endpoint, source_name) if source_endpoint else source_name
    target_full = 'target %s (%s)' % (target_endpoint, target_name) if target_endpoint else target_name
    result = dict(ok=True, rdb_version=None, rdb_version_how=None, target_loads=None, target_loads_how=None)
    if (source_flavor or '').lower() == flavors.FLAVOR_DRAGONFLY:
        ok, reason = flavors.replication_compatibility(source_flavor, source_version, target_flavor, target_version)
        result.update(ok=ok, message=reason or '%s -> %s can replicate (Dragonfly to Dragonfly)' % (source_name,
                                                                                                    target_name))
        return result

    version = written.get('version')
    if version is not None:
        how = '%s: %s' % (MEASURED, written['how'])
    else:
        version = flavors.rdb_version_written(source_flavor, source_version)
        how = '%s from the version table for %s, because %s' % (INFERRED, source_name, written.get('reason') or
                                                                'the source was not measured')
    result.update(rdb_version=version, rdb_version_how=how)
    if version is None:
        result['message'] = '%s -> %s: the RDB version the source writes is not known (%s); not checked' % (
            source_name, target_name, how)
        return result

    if target_measure.get('highest') is not None:
        loads = loads_version(target_flavor, target_measure['highest'], version)
        target_how = '%s: %s' % (MEASURED, target_measure['how'])
    elif target_measure.get('loads') is not None:
        loads, target_how = target_measure['loads'], '%s: %s' % (MEASURED, target_measure['how'])
    else:
        highest = flavors.max_rdb_version_loaded(target_flavor, target_version)
        loads = loads_version(target_flavor, highest, version) if highest is not None else None
        target_how = '%s from the version table for %s (%s), because %s' % (
            INFERRED, target_name, 'loads up to RDB %d' % highest if highest is not None else 'unknown there',
            target_measure.get('reason') or 'the target was not measured')
    result.update(target_loads=loads, target_loads_how=target_how, ok=loads is not False)
    if loads is False:
        result['message'] = (
            '%s writes RDB version %d (%s) but %s cannot load it (%s): the replica link would never come up; use a '
            'target that loads RDB %d (a release at least as new as the source), or migrate by another way than '
            'replication' % (source_full, version, how, target_full, target_how, version))
    elif loads is None:
        result['message'] = '%s writes RDB version %d (%s); whether %s loads it is not known (%s)' % (
            source_full, version, how, target_full, target_how)
    else:
        result['message'] = '%s writes RDB version %d (%s) and %s loads it (%s)' % (
            source_full, version, how, target_full, target_how)
    return result


def loads_hash_field_ttls(target_flavor, target_version, decision, target_measure):
    """``(loads, how)``: whether the target loads hash fields with TTLs (RDB HASH_FIELD_TTL_RDB_VERSION types), from
    the same measurements as ``compatibility`` (``decision`` is its answer), else the version table."""
    target_measure = target_measure or {}
    if (target_flavor or '').lower() == flavors.FLAVOR_DRAGONFLY:
        return False, '%s: Dragonfly refuses the RDB types of hash fields with TTLs' % INFERRED
    if decision.get('target_loads') and (decision.get('rdb_version') or 0) >= HASH_FIELD_TTL_RDB_VERSION:
        return True, decision['target_loads_how']
    if target_measure.get('highest') is not None:
        return (loads_version(target_flavor, target_measure['highest'], HASH_FIELD_TTL_RDB_VERSION),
                '%s: %s' % (MEASURED, target_measure['how']))
    highest = flavors.max_rdb_version_loaded(target_flavor, target_version)
    if highest is None:
        return None, '%s: %s is not in the version table' % (INFERRED, _name(target_flavor, target_version))
    return (loads_version(target_flavor, highest, HASH_FIELD_TTL_RDB_VERSION),
            '%s from the version table for %s (loads up to RDB %d)' % (INFERRED, _name(target_flavor, target_version),
                                                                       highest))
