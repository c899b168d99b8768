# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/rdb.py and the link checks of plan.py, on payloads and INFO captured from real
servers (captured/README.md; the RDB versions below are the ones read off each footer when it was captured)."""
from __future__ import absolute_import, division, print_function

import itertools
import json
import os

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import info, plan, rdb

CAPTURED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'captured')

# name -> (DUMP payload file, INFO file of the primary those payloads came from or one of the same build)
SERVERS = {
    'redis-7.0.15': ('redis-7.0.15-dump-payloads.json', 'redis-7.0.15-primary-online.real.txt'),
    'redis-unstable': ('redis-unstable-2024-10.dump.json', 'redis-unstable-2024-10-primary.info.txt'),
    'valkey-unstable': ('valkey-unstable-2024-10.dump.json', 'valkey-unstable-2024-10-primary.info.txt'),
    'keydb-unstable': ('keydb-unstable-2024-04.dump.json', 'keydb-unstable-2024-04-primary.info.txt'),
}
RDB_WRITTEN = {'redis-7.0.15': 10, 'redis-unstable': 12, 'valkey-unstable': 11, 'keydb-unstable': 9}
# Pairs whose link was seen on real servers (captured/README.md): unstable Redis reaches neither Redis 7.0 nor Valkey,
# Valkey and Redis 7.0 load KeyDB's RDB 9, Redis 7.0 cannot load Valkey's RDB 11. The others follow from the footers.
LINK_COMES_UP = {
    ('redis-unstable', 'redis-7.0.15'): False,
    ('redis-unstable', 'valkey-unstable'): False,
    ('redis-unstable', 'keydb-unstable'): False,
    ('valkey-unstable', 'redis-7.0.15'): False,
    ('valkey-unstable', 'keydb-unstable'): False,
    ('redis-7.0.15', 'keydb-unstable'): False,
    ('keydb-unstable', 'valkey-unstable'): True,
    ('keydb-unstable', 'redis-7.0.15'): True,
    ('keydb-unstable', 'redis-unstable'): True,
    ('valkey-unstable', 'redis-unstable'): True,
    ('redis-7.0.15', 'redis-unstable'): True,
    ('redis-7.0.15', 'valkey-unstable'): True,
}


def _payloads(name):
    with open(os.path.join(CAPTURED, SERVERS[name][0])) as handle:
        return json.load(handle)


def _identity(name):
    with open(os.path.join(CAPTURED, SERVERS[name][1])) as handle:
        return info.detect_flavor(info.parse_info(handle.read().replace('\n', '\r\n')))


def _measured(name):
    payload = bytes.fromhex(_payloads(name)['hex']['str'])
    return dict(version=rdb.footer_version(payload), how='footer of the DUMP of one of its keys in db0', reason=None)


@pytest.mark.parametrize('name,key', [(name, key) for name in sorted(SERVERS) for key in ('str', 'h', 'l')])
def test_footer_of_every_captured_payload(name, key):
    captured = _payloads(name)
    assert rdb.footer_version(bytes.fromhex(captured['hex'][key])) == captured['rdb_version_in_footer'][key]
    assert captured['rdb_version_in_footer'][key] == RDB_WRITTEN[name]


def test_crc64_is_redis_jones_crc():
    # the check value Redis's own crc64 test prints for "123456789"
    assert rdb.crc64(b'123456789') == 0xe9c6d914c4b8d9ca


def test_a_damaged_or_short_payload_has_no_footer():
    payload = bytearray(bytes.fromhex(_payloads('redis-7.0.15')['hex']['str']))
    payload[2] ^= 0x01
    with pytest.raises(ValueError, match='CRC64'):
        rdb.footer_version(bytes(payload))
    with pytest.raises(ValueError, match='at least'):
        rdb.footer_version(b'\x0a\x00' + b'\x00' * 8)


def test_crafted_payload_matches_what_redis_dumps():
    # Redis 7.0.15 dumped the string "hello" as exactly this payload
    assert rdb.string_payload(b'hello', 10).hex() == _payloads('redis-7.0.15')['hex']['str']
    assert rdb.footer_version(rdb.string_payload(b'kvmigrate', 12)) == 12


@pytest.mark.parametrize('name', sorted(SERVERS))
def test_source_builds_report_versions_a_table_cannot_read(name):
    flavor, version = _identity(name)
    assert flavor == name.split('-')[0]
    assert version == ('7.0.15' if name == 'redis-7.0.15' else '255.255.255')


@pytest.mark.parametrize('source,target', list(itertools.permutations(sorted(SERVERS), 2)))
def test_measured_decision_for_every_captured_pair(source, target):
    source_flavor, source_version = _identity(source)
    target_flavor, target_version = _identity(target)
    own = _measured(target)
    target_measure = dict(highest=own['version'], loads=None, reason=None,
                          how='its own DUMP writes RDB %d (%s)' % (own['version'], own['how']))
    decision = rdb.compatibility(source_flavor, source_version, target_flavor, target_version, _measured(source),
                                 target_measure, '10.0.0.1:6379', '10.0.0.2:6379')
    assert decision['ok'] is LINK_COMES_UP[(source, target)]
    assert decision['rdb_version'] == RDB_WRITTEN[source]
    assert decision['rdb_version_how'].startswith('measured: footer of the DUMP')
    assert decision['target_loads_how'].startswith('measured: its own DUMP writes RDB %d' % RDB_WRITTEN[target])
    if not decision['ok']:
        assert decision['message'].startswith('source 10.0.0.1:6379 (%s %s) writes RDB version %d (measured' % (
            source_flavor, source_version, RDB_WRITTEN[source]))
        assert 'target 10.0.0.2:6379 (%s %s) cannot load it (measured' % (target_flavor, target_version) in decision['message']
        assert 'use a target that loads RDB %d' % RDB_WRITTEN[source] in decision['message']


@pytest.mark.parametrize('source,target', list(itertools.permutations(sorted(SERVERS), 2)))
def test_table_decision_for_every_captured_pair_is_labelled_inferred(source, target):
    """Without measurements the table answers, and says so: its numbers for 255.255.255 builds are guesses (Redis
    unstable "writes 15", Valkey unstable "writes 80"), which is why measuring comes first."""
    source_flavor, source_version = _identity(source)
    target_flavor, target_version = _identity(target)
    decision = rdb.compatibility(source_flavor, source_version, target_flavor, target_version,
                                 dict(version=None, how=None, reason='source 10.0.0.1:6379 holds no key to DUMP'),
                                 dict(highest=None, loads=None, how=None, reason='no RESTORE probe was made'))
    assert decision['rdb_version_how'] == ('inferred from the version table for %s %s, because source 10.0.0.1:6379 '
                                           'holds no key to DUMP' % (source_flavor, source_version))
    assert decision['target_loads_how'].startswith('inferred from the version table for %s %s' % (
        target_flavor, target_version))
    assert decision['target_loads_how'].endswith('because no RESTORE probe was made')
    if source_version == '255.255.255':
        assert decision['rdb_version'] != RDB_WRITTEN[source] or source == 'keydb-unstable'


def test_probe_answers_decide_without_the_target_version():
    written = dict(version=12, how='footer of the DUMP of one of its keys in db0', reason=None)
    refused = dict(highest=None, loads=False, reason=None,
                   how='RESTORE of an RDB 12 payload refused ("DUMP payload version or checksum are wrong") while an '
                       'RDB 6 one loads')
    decision = rdb.compatibility('redis', '255.255.255', 'valkey', '255.255.255', written, refused)
    assert decision['ok'] is False and 'measured: RESTORE of an RDB 12 payload refused' in decision['message']
    accepted = dict(refused, loads=True, how='RESTORE of an RDB 12 payload into a temporary key accepted')
    assert rdb.compatibility('redis', '255.255.255', 'redis', '255.255.255', written, accepted)['ok'] is True


def test_unknown_everywhere_does_not_block():
    decision = rdb.compatibility('redis', None, 'redis', None, dict(version=None, how=None, reason='DUMP refused'), None)
    assert decision['ok'] is True and decision['rdb_version'] is None and 'not checked' in decision['message']


def test_dragonfly_source_keeps_the_flavor_rule():
    decision = rdb.compatibility('dragonfly', '1.25.2', 'redis', '7.0.15', None, None)
    assert decision['ok'] is False and 'Dragonfly has no PSYNC/SYNC' in decision['message']


def test_valkey_9_refuses_redis_foreign_versions_whatever_it_writes():
    assert rdb.loads_version('valkey', 80, 11) is True
    assert rdb.loads_version('valkey', 80, 12) is False
    assert rdb.loads_version('valkey', 80, 80) is True
    assert rdb.loads_version('redis', 12, 11) is True
    assert rdb.loads_version('redis', 10, 11) is False


def test_module_names_from_real_module_list_replies():
    # Redis 7.0.15 with the Debian redisearch.so, as redis-py decodes it (RESP2 flat pairs turned into dicts) ...
    assert rdb.module_names([{'name': 'ft', 'ver': 10200, 'path': '/usr/lib/redis/modules/redisearch.so',
                              'args': []}]) == ['ft']
    # ... and the same reply as flat pairs (RESP2 read raw), bytes included
    assert rdb.module_names([[b'name', b'ReJSON', b'ver', 20608], ['name', 'ft', 'ver', 10200]]) == ['ft', 'rejson']
    assert rdb.module_names([]) == [] and rdb.module_names(None) == []


def test_databases_beyond_the_target():
    databases = {'db0': dict(keys=3), 'db15': dict(keys=1), 'db16': dict(keys=2), 'db40': dict(keys=0)}
    assert rdb.databases_beyond(databases, 16, False) == ['db16']
    assert rdb.databases_beyond(databases, 64, False) == []
    assert rdb.databases_beyond(databases, None, True) == ['db15', 'db16']
    assert rdb.databases_beyond(databases, None, False) == []


def test_hash_field_ttls_from_a_7_4_keyspace():
    with open(os.path.join(CAPTURED, 'redis-7.4.1-primary-online.txt')) as handle:
        databases = info.keyspace(info.parse_info(handle.read()))['databases']
    assert rdb.hash_field_ttls(databases) == {'db0': 3}
    with open(os.path.join(CAPTURED, 'redis-unstable-2024-10-primary.info.txt')) as handle:
        assert rdb.hash_field_ttls(info.keyspace(info.parse_info(handle.read()))['databases']) == {}


def test_hash_field_ttls_load_only_where_rdb_12_loads():
    decision = dict(target_loads=True, rdb_version=12, target_loads_how='measured: x')
    assert rdb.loads_hash_field_ttls('redis', '255.255.255', decision, {}) == (True, 'measured: x')
    loads, how = rdb.loads_hash_field_ttls('valkey', '255.255.255', dict(target_loads=None),
                                           dict(highest=11, how='its own DUMP writes RDB 11'))
    assert loads is False and how.startswith('measured')
    loads, how = rdb.loads_hash_field_ttls('redis', '7.0.15', dict(target_loads=None), {})
    assert loads is False and how.startswith('inferred from the version table')
    assert rdb.loads_hash_field_ttls('dragonfly', '1.25.2', {}, {})[0] is False


def test_replica_output_buffer_limit_parsing():
    limit = plan.replica_output_buffer_limit('normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60')
    assert limit == dict(hard=268435456, soft=67108864, soft_seconds=60, text='replica 268435456 67108864 60')
    assert plan.replica_output_buffer_limit('normal 0 0 0 replica 256kb 128kb 2')['hard'] == 262144
    assert plan.replica_output_buffer_limit('normal 0 0 0') is None


def test_full_sync_buffer_against_the_limits():
    limit = dict(hard=262144, soft=131072, soft_seconds=2, text='')
    # 10 kB/s for 100 s: 1 MB, far over the hard limit
    assert plan.full_sync_buffer(limit, 10000.0, 1000000, 10000.0)['dropped_by'] == 'hard'
    # 1 kB/s for 200 s: 200 kB, under hard, over soft for 69 s in a row
    assert plan.full_sync_buffer(limit, 1000.0, 2000000, 10000.0)['dropped_by'] == 'soft'
    # 100 B/s for 10 s: 1 kB
    quiet = plan.full_sync_buffer(limit, 100.0, 100000, 10000.0)
    assert quiet['dropped_by'] is None and quiet['share'] < plan.OUTPUT_BUFFER_MARGIN
    assert plan.full_sync_buffer(dict(hard=0, soft=0, soft_seconds=0, text=''), 1e9, 1e12, 1.0)['dropped_by'] is None


def test_tls_link_problems():
    assert plan.tls_link_problem(True, True, 'yes', True) is None
    assert plan.tls_link_problem(False, False, 'no', False) is None
    assert 'CONFIG SET tls-replication yes' in plan.tls_link_problem(True, False, 'no', True)
    both = plan.tls_link_problem(True, False, 'yes', False)
    assert 'tls-replication yes' in both and 'tls-cert-file and tls-key-file' in both
    assert 'neither tls-client-cert-file nor tls-cert-file' in plan.tls_link_problem(True, True, 'yes', False)
    assert "plain port 6379" in plan.tls_link_problem(True, False, 'no', True, source_plain_port='6379')
    assert 'built without TLS' in plan.tls_link_problem(True, None, 'no', False)
    assert 'source port is plain' in plan.tls_link_problem(False, True, 'no', True)
