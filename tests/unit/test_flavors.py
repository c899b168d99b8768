# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/flavors.py: what each flavor and release can do.

The Dragonfly versions come from a read of Dragonfly's source at each tag (see the comments in flavors.py).
"""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors


# --------------------------------------------------------------------------
# parse_version
# --------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('7.0.15', (7, 0, 15)),
    ('v1.22.0', (1, 22, 0)),
    ('df-v1.15.1', (1, 15, 1)),
    ('7.2.4-rc1', (7, 2, 4)),
    ('255.255.255', (255, 255, 255)),
    ((8, 0), (8, 0)),
    ('df-dev', ()),
    (None, ()),
])
def test_parse_version(text, expected):
    assert flavors.parse_version(text) == expected


# --------------------------------------------------------------------------
# capabilities
# --------------------------------------------------------------------------

@pytest.mark.parametrize('flavor, version, key, expected', [
    ('redis', '6.0.20', 'client_pause_write', False),
    ('redis', '6.2.14', 'client_pause_write', True),
    ('keydb', '6.3.4', 'client_pause_write', True),
    ('dragonfly', '1.15.1', 'client_pause_write', True),
    ('redis', '6.0.20', 'failover_command', False),
    ('redis', '7.0.15', 'failover_command', True),
    ('valkey', '8.0.1', 'failover_command', True),
    ('dragonfly', '1.39.0', 'failover_command', False),
    ('keydb', '6.3.4', 'failover_command', False),
    ('redis', '7.0.15', 'replicaof_already_connected_check', True),
    ('dragonfly', '1.39.0', 'replicaof_already_connected_check', False),
    ('dragonfly', '1.39.0', 'psync', False),
    ('keydb', '6.3.4', 'psync', True),
    ('dragonfly', '1.31.0', 'config_rewrite', False),
    ('dragonfly', '1.32.0', 'config_rewrite', True),
    ('valkey', '8.0.1', 'config_rewrite', True),
    ('redis', '5.0.14', 'masteruser', False),
    ('redis', '6.0.0', 'masteruser', True),
    ('dragonfly', '1.15.1', 'masteruser', False),
    ('dragonfly', '1.16.0', 'masteruser', True),
    ('dragonfly', '1.22.2', 'client_id', False),
    ('dragonfly', '1.23.0', 'client_id', True),
    ('redis', '6.2.14', 'client_id', True),
    ('dragonfly', '1.27.4', 'client_unpause', False),
    ('dragonfly', '1.28.0', 'client_unpause', True),
    ('redis', '6.0.20', 'client_unpause', False),
    ('dragonfly', '1.38.2', 'client_list_type', False),
    ('dragonfly', '1.39.0', 'client_list_type', True),
    ('dragonfly', None, 'wait_command', False),
    ('dragonfly', '1.39.0', 'repltakeover', True),
    ('redis', '7.4.1', 'repltakeover', False),
    ('dragonfly', '1.39.2', 'wait_command', False),
    ('dragonfly', '1.40.0', 'wait_command', True),
    ('redis', '6.2.14', 'wait_command', True),
    ('dragonfly', '1.21.4', 'replica_offset_reported', False),
    ('dragonfly', '1.22.0', 'replica_offset_reported', True),
    ('dragonfly', '1.38.1', 'replica_offset_usable', False),
    ('dragonfly', '1.39.0', 'replica_offset_usable', True),
    ('redis', '6.2.14', 'replica_offset_usable', True),
    ('redis', None, 'client_pause_write', False),
])
def test_capabilities(flavor, version, key, expected):
    assert flavors.capabilities(flavor, version)[key] is expected


# --------------------------------------------------------------------------
# RDB compatibility
# --------------------------------------------------------------------------

@pytest.mark.parametrize('flavor, version, expected', [
    ('redis', '6.2.14', 9),
    ('redis', '7.0.15', 10),
    ('redis', '7.2.5', 11),
    ('redis', '7.4.1', 12),
    ('redis', '8.0.2', 12),
    ('redis', '8.6.0', 13),
    ('redis', '5.0.14', None),
    ('valkey', '8.0.1', 11),
    ('valkey', '9.0.0', 80),
    ('keydb', '6.3.4', 9),
    ('dragonfly', '1.39.0', None),
])
def test_rdb_version_written(flavor, version, expected):
    assert flavors.rdb_version_written(flavor, version) == expected


@pytest.mark.parametrize('flavor, version, expected', [
    ('dragonfly', '1.23.2', 11),
    ('dragonfly', '1.24.0', 12),
    ('keydb', '6.3.4', 9),
    ('redis', '6.2.14', 9),
    ('valkey', '8.0.1', 11),
])
def test_max_rdb_version_loaded(flavor, version, expected):
    assert flavors.max_rdb_version_loaded(flavor, version) == expected


@pytest.mark.parametrize('source, target, ok', [
    (('redis', '7.4.1'), ('valkey', '8.0.1'), False),
    (('redis', '7.0.15'), ('keydb', '6.3.4'), False),
    (('redis', '7.0.15'), ('redis', '6.2.14'), False),
    (('redis', '6.2.14'), ('redis', '7.0.15'), True),
    (('redis', '7.4.1'), ('dragonfly', '1.23.2'), False),
    (('redis', '7.4.1'), ('dragonfly', '1.24.0'), True),
    (('dragonfly', '1.39.0'), ('redis', '7.4.1'), False),
    (('dragonfly', '1.39.0'), ('dragonfly', '1.40.0'), True),
    (('redis', '7.2.5'), ('valkey', '8.0.1'), True),
    (('valkey', '8.0.1'), ('redis', '7.2.5'), True),
    (('valkey', '8.0.1'), ('valkey', '9.0.0'), True),
    (('redis', '7.4.1'), ('valkey', '9.0.0'), False),
    (('valkey', '9.0.0'), ('redis', '8.0.2'), False),
    (('keydb', '6.3.4'), ('redis', '7.4.1'), True),
])
def test_replication_compatibility_table(source, target, ok):
    result_ok, reason = flavors.replication_compatibility(source[0], source[1], target[0], target[1])
    assert result_ok is ok
    assert (reason is None) is ok


def test_incompatibility_reason_names_both_ends_and_rdb_versions():
    ok, reason = flavors.replication_compatibility('redis', '7.0.15', 'redis', '6.2.14')
    assert not ok
    assert reason == ('redis 7.0.15 writes RDB version 10 but redis 6.2.14 loads at most RDB version 9: '
                      'the replica link would never come up')


def test_dragonfly_source_reason_mentions_psync():
    ok, reason = flavors.replication_compatibility('dragonfly', '1.39.0', 'valkey', '8.0.1')
    assert not ok
    assert 'dragonfly 1.39.0' in reason and 'valkey 8.0.1' in reason and 'PSYNC' in reason


def test_valkey_9_reason_says_it_refuses_newer_redis_rdb():
    ok, reason = flavors.replication_compatibility('redis', '7.4.1', 'valkey', '9.0.0')
    assert not ok
    assert 'writes RDB version 12' in reason and 'up to 11 and its own 80' in reason


@pytest.mark.parametrize('source, target', [
    (('redis', '4.0.14'), ('redis', '6.2.14')),
    (('redis', '7.4.1'), ('dragonfly', '1.10.0')),
    (('redis', None), ('valkey', '8.0.1')),
])
def test_unknown_versions_do_not_block(source, target):
    assert flavors.replication_compatibility(source[0], source[1], target[0], target[1]) == (True, None)


# --------------------------------------------------------------------------
# refusals, persistence and the pause catch-up floor
# --------------------------------------------------------------------------

def test_missing_command_names_server_command_release_and_fix():
    msg = flavors.missing_command('dragonfly', '1.22.2', 'client_id', '10.0.0.5:6379', what='target')
    assert msg == ('target 10.0.0.5:6379 runs dragonfly 1.22.2, which does not know CLIENT ID (added in Dragonfly '
                   'v1.23): nothing was changed. Upgrade it to Dragonfly v1.23 or later, or choose a path that does not '
                   'need it.')


def test_missing_command_is_none_when_the_server_has_it():
    assert flavors.missing_command('dragonfly', '1.40.1', 'wait_command', '10.0.0.5:6379') is None
    assert flavors.missing_command('redis', '7.0.15', 'client_unpause', '10.0.0.5:6379') is None


@pytest.mark.parametrize('version', ['1.15.1', '1.31.0', '1.32.0', '1.40.1'])
def test_dragonfly_never_persists_its_role_and_says_why(version):
    ok, reason = flavors.persist_support('dragonfly', version)
    assert ok is False
    assert '--replicaof' in reason and 'flag file' in reason and 'flushes the data' in reason and version in reason


@pytest.mark.parametrize('flavor', ['redis', 'valkey', 'keydb'])
def test_redis_family_persists(flavor):
    assert flavors.persist_support(flavor, '7.2.5') == (True, None)


@pytest.mark.parametrize('source, target, floor', [
    (('redis', '7.0.15'), ('dragonfly', '1.38.2'), 2000),
    (('valkey', '8.0.1'), ('dragonfly', '1.25.2'), 2000),
    (('redis', '7.0.15'), ('dragonfly', '1.39.0'), 0),
    (('redis', '7.0.15'), ('dragonfly', None), 2000),
    (('dragonfly', '1.38.2'), ('dragonfly', '1.38.2'), 0),
    (('redis', '7.0.15'), ('redis', '6.2.14'), 0),
])
def test_pause_catch_up_floor_covers_two_dragonfly_ack_intervals_before_1_39(source, target, floor):
    assert flavors.pause_catch_up_floor_ms(source[0], source[1], target[0], target[1]) == floor
