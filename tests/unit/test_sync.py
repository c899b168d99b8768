# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the pure decisions of plugins/module_utils/sync.py and the progress line of the wait_for_sync
action plugin, on INFO text captured from real Redis 7.0.15 servers (values written by reading that text)."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.kvmigrate.replication.plugins.action.wait_for_sync import progress_line
from ansible_collections.kvmigrate.replication.plugins.module_utils import info
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import (
    FullSyncRestarts, acl_denials, follows_primary, link_alive, replica_buffer_limit, validate_wait_params)


def _status(lines):
    return info.replication_status('\r\n'.join(['# Server', 'redis_version:7.0.15', '# Replication'] + lines) + '\r\n')


# Captured from a 7.0.15 replica whose source (ACL user without +psync) kept refusing its link: between two refusals
# the replica reports a sync in progress, like one waiting for a BGSAVE.
REFUSED_HANDSHAKE = _status([
    'role:slave', 'master_host:127.0.0.1', 'master_port:51771', 'master_link_status:down',
    'master_last_io_seconds_ago:-1', 'master_sync_in_progress:1', 'slave_read_repl_offset:0', 'slave_repl_offset:0',
    'master_sync_total_bytes:-1', 'master_sync_read_bytes:0', 'master_sync_left_bytes:-1', 'master_sync_perc:-0.00',
    'master_sync_last_io_seconds_ago:0', 'master_link_down_since_seconds:-1',
    'master_replid:ac5fbbc726b7e0fb9acd8166aa6e9d995bb163a0', 'master_repl_offset:0'])

# Captured from a 7.0.15 replica during a diskless (EOF-marked) transfer: total 0, percent 0.00, bytes growing.
DISKLESS_TRANSFER = _status([
    'role:slave', 'master_host:127.0.0.1', 'master_port:48525', 'master_link_status:down',
    'master_last_io_seconds_ago:-1', 'master_sync_in_progress:1', 'slave_read_repl_offset:0', 'slave_repl_offset:0',
    'master_sync_total_bytes:0', 'master_sync_read_bytes:81892', 'master_sync_left_bytes:-81892',
    'master_sync_perc:0.00', 'master_sync_last_io_seconds_ago:0', 'master_link_down_since_seconds:-1',
    'master_replid:7e53a2033b81a7b06d0b5daa15240e7948554e3c', 'master_repl_offset:0'])

# Its source at the same moment: the replica is listed (wait_bgsave) although the target has read nothing yet.
SOURCE_LISTING_REPLICA = _status([
    'role:master', 'connected_slaves:1', 'slave0:ip=127.0.0.1,port=39651,state=wait_bgsave,offset=0,lag=0',
    'master_replid:dd1b25919f99d07a0a4b61975405ebc14c64e28c', 'master_repl_offset:0'])

SYNCED_REPLICA = _status([
    'role:slave', 'master_host:10.0.0.5', 'master_port:6379', 'master_link_status:up', 'master_sync_in_progress:0',
    'slave_repl_offset:1400', 'master_replid:dd1b25919f99d07a0a4b61975405ebc14c64e28c', 'master_repl_offset:1400'])


def test_diskless_transfer_has_no_size_and_no_percentage():
    assert DISKLESS_TRANSFER['sync_in_progress'] is True
    assert DISKLESS_TRANSFER['sync_total_bytes'] is None
    assert DISKLESS_TRANSFER['sync_left_bytes'] is None
    assert DISKLESS_TRANSFER['sync_percent'] is None
    assert DISKLESS_TRANSFER['sync_read_bytes'] == 81892


def test_diskless_progress_line_shows_bytes_and_rate_without_percentage_or_eta():
    line, previous = progress_line('db1', DISKLESS_TRANSFER, None, (100.0, 81892 - 40960), now=101.0)
    assert line == 'db1: initial sync, 80.0 KiB received (size unknown), 40.0 KiB/s'
    assert previous == (101.0, 81892)


def test_sized_progress_line_keeps_percentage_and_eta():
    status = dict(sync_in_progress=True, sync_total_bytes=4096, sync_read_bytes=1024, sync_percent=25.0)
    line, dummy = progress_line('db1', status, None, (10.0, 0), now=11.0)
    assert line == 'db1: initial sync, 25.0%, 1.0 KiB of 4.0 KiB, 1.0 KiB/s, ETA 3s'


def test_refused_handshake_does_not_count_as_a_sync_under_way():
    assert REFUSED_HANDSHAKE['sync_in_progress'] is True  # what the server says, and why the old wait never timed out
    assert link_alive(REFUSED_HANDSHAKE, listed_by_source=False) is False


def test_a_sync_counts_once_bytes_arrive_or_the_source_lists_the_target():
    assert link_alive(DISKLESS_TRANSFER, listed_by_source=False) is True
    assert link_alive(REFUSED_HANDSHAKE, listed_by_source=True) is True
    assert link_alive(SYNCED_REPLICA, listed_by_source=False) is True
    assert link_alive(dict(link_up=False, sync_in_progress=False, sync_read_bytes=5), listed_by_source=True) is False


def test_follows_by_resolved_address_of_the_targets_master():
    assert follows_primary(SYNCED_REPLICA, None, '10.0.0.5', 6379, False) is True
    # same host, other port: the source must be asked
    assert follows_primary(SYNCED_REPLICA, None, '10.0.0.5', 6380, False) is None


def test_follows_when_the_source_lists_the_target_or_shares_its_replication_id():
    other_address = '192.0.2.7'
    assert follows_primary(SYNCED_REPLICA, SOURCE_LISTING_REPLICA, other_address, 6379, True) is True
    # not listed (a chained replica): the synced target carries the source's replication id
    assert follows_primary(SYNCED_REPLICA, SOURCE_LISTING_REPLICA, other_address, 6379, False) is True


def test_does_not_follow_a_source_with_another_replication_id_that_does_not_list_it():
    other_source = dict(SOURCE_LISTING_REPLICA, replid='0123456789abcdef0123456789abcdef01234567')
    assert follows_primary(SYNCED_REPLICA, other_source, '192.0.2.7', 6379, False) is False


def test_undecided_until_the_target_has_synced():
    other_source = dict(SOURCE_LISTING_REPLICA, replid='0123456789abcdef0123456789abcdef01234567')
    assert follows_primary(REFUSED_HANDSHAKE, other_source, '192.0.2.7', 6379, False) is None


# ACL LOG as redis-py 8.1 returns it from a 7.0.15 source refusing user repl (client-info shortened).
ACL_LOG = [
    {'count': 17512, 'reason': 'command', 'context': 'toplevel', 'object': 'sync', 'username': 'repl',
     'age-seconds': 0.0, 'client-info': 'id=17517 addr=127.0.0.1:55784 cmd=sync user=repl'},
    {'count': 17512, 'reason': 'command', 'context': 'toplevel', 'object': 'psync', 'username': 'repl',
     'age-seconds': 0.0, 'client-info': 'id=17517 addr=127.0.0.1:55784 cmd=psync user=repl'},
    {'count': 1, 'reason': 'command', 'context': 'toplevel', 'object': 'flushall', 'username': 'repl',
     'age-seconds': 0.5, 'client-info': 'id=9 cmd=flushall user=repl'},
    {'count': 3, 'reason': 'auth', 'context': 'toplevel', 'object': 'AUTH', 'username': 'repl',
     'age-seconds': 0.1, 'client-info': 'id=8 cmd=auth user=default'},
]


def test_acl_denials_are_replication_commands_of_the_links_user_and_recent():
    assert [entry['object'] for entry in acl_denials(ACL_LOG, 'repl')] == ['sync', 'psync']
    assert acl_denials(ACL_LOG, 'default') == []
    # an old entry (the user was fixed since) is no reason to fail
    stale = [dict(ACL_LOG[1], **{'age-seconds': 600.0})]
    assert acl_denials(stale, 'repl') == []


def test_acl_denials_read_a_raw_resp2_reply_too():
    raw = [['count', 1, 'reason', 'command', 'context', 'toplevel', 'object', 'psync', 'username', 'repl',
            'age-seconds', '1.5', 'client-info', 'id=3']]
    assert [entry['object'] for entry in acl_denials(raw, 'repl')] == ['psync']


@pytest.mark.parametrize('option, value', [('timeout', float('nan')), ('poll_interval', float('nan')),
                                           ('timeout', 0.0), ('poll_interval', -1.0)])
def test_wait_rejects_times_that_would_never_end_or_never_start(option, value):
    params = dict(timeout=10.0, poll_interval=0.1, stable_for=0.0, link_down_timeout=30.0)
    params[option] = value
    with pytest.raises(KvmigrateError) as raised:
        validate_wait_params(params)
    assert raised.value.msg.startswith('Option %s=' % option)


def test_wait_rejects_a_nan_link_down_timeout():
    params = dict(timeout=10.0, poll_interval=0.1, stable_for=0.0, link_down_timeout=float('nan'))
    with pytest.raises(KvmigrateError) as raised:
        validate_wait_params(params)
    assert 'link_down_timeout=nan' in raised.value.msg


# --------------------------------------------------------------------------
# a full sync that keeps starting over
# --------------------------------------------------------------------------

def _redis_target(in_progress, read_bytes, link='down'):
    return _status(['role:slave', 'master_host:127.0.0.1', 'master_port:6379', 'master_link_status:%s' % link,
                    'master_sync_in_progress:%d' % in_progress, 'master_sync_total_bytes:0',
                    'master_sync_read_bytes:%d' % read_bytes, 'master_link_down_since_seconds:-1'])


def _dragonfly_target(role_state, version='1.25.2'):
    text = '\r\n'.join(['# Server', 'redis_version:7.4.0', 'dragonfly_version:df-v%s' % version, '# Replication',
                        'role:replica', 'master_host:127.0.0.1', 'master_port:6379', 'master_link_status:up',
                        'master_sync_in_progress:%d' % (role_state == 'full_sync')]) + '\r\n'
    return info.replication_status(text, ['replica', '127.0.0.1', '6379', role_state])


WAITING = dict(ip='127.0.0.1', port=39651, state='wait_bgsave', offset=0, lag=0)
SENDING = dict(ip='127.0.0.1', port=39651, state='send_bulk', offset=0, lag=0)


def test_redis_transfer_the_source_drops_and_starts_again_counts_once_per_new_attempt():
    # Redis 7.0 with the replica output-buffer limit too small: send_bulk, dropped, a new full sync, and so on.
    restarts = FullSyncRestarts()
    for sync_full in (5, 6, 7, 8):
        restarts.observe(_redis_target(1, 0), WAITING, sync_full)
        restarts.observe(_redis_target(1, 81892), SENDING, sync_full)
        restarts.observe(_redis_target(0, 0), None, sync_full)
    assert restarts.count == 3
    assert (restarts.first_sync_full, restarts.last_sync_full) == (5, 8)


def test_the_targets_own_flags_never_count_without_the_source():
    # a handshake that is merely slow, or a transfer the source holds back, flips these too
    restarts = FullSyncRestarts()
    for dummy in range(3):
        restarts.observe(_redis_target(1, 0))
        restarts.observe(_redis_target(1, 81892))
        restarts.observe(_redis_target(0, 0))
    for read in (90000, 400000, 20000, 300000, 10000):
        restarts.observe(_redis_target(1, read))
    assert restarts.count == 0


def test_a_sync_that_finishes_resets_the_count():
    restarts = FullSyncRestarts()
    restarts.observe(_redis_target(1, 0), WAITING, 5)
    restarts.observe(_redis_target(0, 0), None, 5)
    restarts.observe(_redis_target(1, 0), WAITING, 6)
    assert restarts.count == 1
    restarts.observe(SYNCED_REPLICA)
    assert restarts.count == 0


def test_a_refused_handshake_is_no_full_sync_and_never_counts():
    restarts = FullSyncRestarts()
    for dummy in range(10):
        restarts.observe(REFUSED_HANDSHAKE)
        restarts.observe(_redis_target(0, 0))
    assert restarts.count == 0


def test_source_dropping_a_target_that_waits_for_its_snapshot_counts_once_per_drop():
    # Redis 6.2 with a disk snapshot: the buffer limit drops the replica during BGSAVE, before any byte reaches it.
    restarts = FullSyncRestarts()
    for sync_full in (5, 6, 7, 8):
        restarts.observe(_redis_target(1, 0), WAITING, sync_full)
        restarts.observe(_redis_target(1, 0), None, sync_full)
    assert restarts.count == 3


def test_a_target_that_waits_while_siblings_full_sync_never_counts():
    # the source's sync_full rises for other replicas while this one stays listed
    restarts = FullSyncRestarts()
    for sync_full in (5, 6, 7, 9):
        restarts.observe(_redis_target(1, 0), WAITING, sync_full)
    for read, sync_full in ((1000, 9), (5000, 10), (9000, 11), (20000, 12)):
        restarts.observe(_redis_target(1, read), SENDING, sync_full)
    assert restarts.count == 0


def test_a_dropped_link_that_comes_back_with_a_partial_resync_does_not_count():
    restarts = FullSyncRestarts()
    restarts.observe(_redis_target(1, 1000), SENDING, 5)
    restarts.observe(_redis_target(0, 0), None, 5)
    online = dict(SENDING, state='online')
    restarts.observe(_redis_target(0, 0, link='up'), online, 5)
    assert restarts.count == 0


def test_a_source_that_did_not_answer_says_nothing_about_the_listing():
    restarts = FullSyncRestarts()
    restarts.observe(_redis_target(1, 0), WAITING, 5)
    restarts.observe(_redis_target(1, 0), None, None, source_read=False)
    restarts.observe(_redis_target(1, 0), WAITING, 6)
    assert restarts.count == 0


def test_dragonfly_falling_back_from_full_sync_to_preparation_counts():
    # src/server/server_family.cc (ROLE) at v1.25.2: connecting -> preparation -> full_sync, and back when the load fails.
    restarts = FullSyncRestarts()
    for state in ('connecting', 'preparation', 'full_sync', 'preparation', 'full_sync', 'connecting', 'preparation',
                  'full_sync', 'full_sync', 'preparation'):
        restarts.observe(_dragonfly_target(state))
    assert restarts.count == 3


def test_dragonfly_reaching_stable_sync_never_counts():
    restarts = FullSyncRestarts()
    for state in ('connecting', 'preparation', 'full_sync', 'stable_sync'):
        restarts.observe(_dragonfly_target(state))
    assert restarts.count == 0


@pytest.mark.parametrize('value, expected', [
    ('normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60', (268435456, 67108864, 60)),
    ('normal 0 0 0 replica 262144 131072 2 pubsub 0 0 0', (262144, 131072, 2)),
    ('normal 0 0 0 pubsub 0 0 0', None),
    (None, None),
])
def test_replica_buffer_limit_reads_the_replica_class(value, expected):
    assert replica_buffer_limit(value) == expected
