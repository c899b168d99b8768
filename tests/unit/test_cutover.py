# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the pure decisions of plugins/module_utils/cutover.py: which
method and fence a pair of servers gets, and when a target counts as caught up.
Dragonfly and KeyDB cannot run on the test machine, so their paths are proved here."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import cutover
from ansible_collections.kvmigrate.replication.plugins.module_utils.cutover import (
    CutoverError, caught_up, choose_fence, choose_method)


@pytest.mark.parametrize('source, target, expected', [
    (('redis', '7.0.15'), ('redis', '7.0.15'), 'pause'),
    (('redis', '6.2.14'), ('redis', '7.0.15'), 'pause'),
    (('redis', '7.2.4'), ('valkey', '8.0.1'), 'pause'),
    (('redis', '7.2.4'), ('dragonfly', '1.39.0'), 'pause'),
    (('valkey', '8.0.1'), ('valkey', '8.0.1'), 'pause'),
    (('keydb', '6.3.4'), ('keydb', '6.3.4'), 'pause'),
    (('dragonfly', '1.39.0'), ('dragonfly', '1.40.1'), 'takeover'),
])
def test_auto_picks_the_fastest_zero_loss_method(source, target, expected):
    assert choose_method(source[0], source[1], target[0], target[1], 'auto') == expected


def test_failover_is_offered_for_redis_and_valkey_6_2_and_later():
    assert choose_method('redis', '6.2.14', 'redis', '6.2.14', 'failover') == 'failover'
    assert choose_method('redis', '7.0.15', 'valkey', '8.0.1', 'failover') == 'failover'


@pytest.mark.parametrize('source, target', [
    (('redis', '6.0.16'), ('redis', '7.0.15')),
    (('redis', '7.0.15'), ('dragonfly', '1.39.0')),
    (('keydb', '6.3.4'), ('redis', '7.0.15')),
])
def test_failover_is_refused_where_either_end_lacks_the_command(source, target):
    with pytest.raises(CutoverError, match='cutover_method=failover needs FAILOVER'):
        choose_method(source[0], source[1], target[0], target[1], 'failover')


def test_takeover_is_refused_unless_both_ends_are_dragonfly():
    with pytest.raises(CutoverError, match='Dragonfly at both ends'):
        choose_method('redis', '7.0.15', 'dragonfly', '1.39.0', 'takeover')


def test_dragonfly_source_has_no_offset_so_pause_is_refused():
    with pytest.raises(CutoverError, match='reports no replication offset'):
        choose_method('dragonfly', '1.39.0', 'dragonfly', '1.39.0', 'pause')


@pytest.mark.parametrize('version', ['6.0.16', '5.0.14', None])
def test_source_without_client_pause_write_gets_a_clear_error(version):
    with pytest.raises(CutoverError) as raised:
        choose_method('redis', version, 'redis', '7.0.15', 'auto')
    assert 'has no CLIENT PAUSE WRITE' in raised.value.msg and 'without fence_source' in raised.value.msg


def test_fence_is_replicaof_target_where_the_target_can_feed_the_source():
    assert choose_fence('pause', 'redis', '7.0.15', 'redis', '7.0.15') == 'replicaof_target'
    assert choose_fence('pause', 'redis', '7.2.4', 'valkey', '8.0.1') == 'replicaof_target'
    assert choose_fence('failover', 'redis', '6.2.14', 'redis', '6.2.14') == 'replicaof_target'


def test_fence_falls_back_to_min_replicas_for_dragonfly_targets_and_unloadable_rdb():
    assert choose_fence('pause', 'redis', '7.2.4', 'dragonfly', '1.39.0') == 'min_replicas'
    # 7.0 writes RDB 10; a 6.2 source loads at most 9, so it could not become the target's replica.
    assert choose_fence('pause', 'redis', '6.2.14', 'redis', '7.0.15') == 'min_replicas'
    # Valkey 8 writes RDB 11, which Redis 7.0 (RDB 10) cannot load.
    assert choose_fence('pause', 'redis', '7.0.15', 'valkey', '8.0.1') == 'min_replicas'


def test_requested_fence_that_cannot_work_is_refused_with_the_reason():
    with pytest.raises(CutoverError, match='has no PSYNC'):
        choose_fence('pause', 'redis', '7.2.4', 'dragonfly', '1.39.0', 'replicaof_target')
    with pytest.raises(CutoverError, match='RDB version 10'):
        choose_fence('pause', 'redis', '6.2.14', 'redis', '7.0.15', 'replicaof_target')
    with pytest.raises(CutoverError, match='RDB version 10'):
        choose_fence('failover', 'redis', '6.2.14', 'redis', '7.0.15')
    with pytest.raises(CutoverError, match='FAILOVER always makes'):
        choose_fence('failover', 'redis', '7.0.15', 'redis', '7.0.15', 'min_replicas')
    with pytest.raises(CutoverError, match='shuts itself down'):
        choose_fence('takeover', 'dragonfly', '1.39.0', 'dragonfly', '1.39.0', 'min_replicas')


def test_min_replicas_may_be_asked_for_even_where_replicaof_would_work():
    assert choose_fence('pause', 'redis', '7.0.15', 'redis', '7.0.15', 'min_replicas') == 'min_replicas'


def test_takeover_fence_is_the_old_primary_shutting_down():
    assert choose_fence('takeover', 'dragonfly', '1.39.0', 'dragonfly', '1.39.0') == 'shutdown'


@pytest.mark.parametrize('source_offset, target_offset, expected', [
    (1000, 1000, True),
    (1000, 1014, True),   # a PING the paused source sent after its offset was read
    (1000, 999, False),
    (1000, None, False),  # no offset reported: never assume caught up
    (None, 1000, False),
])
def test_caught_up_means_target_offset_at_least_the_paused_source_offset(source_offset, target_offset, expected):
    assert caught_up(source_offset, target_offset) is expected


def test_budget_leaves_room_for_promotion_and_fence_inside_the_pause():
    wait, command = cutover.budget(5000)
    assert wait == pytest.approx(2.0) and command == pytest.approx(0.75)
    # the last poll, the promotion and the fence must all end before the server lifts the pause
    assert wait + 3 * command < 5.0


def test_min_replicas_fence_exceeds_the_replica_count():
    assert cutover.min_replicas_fence(1) == {'to_write': 1000, 'max_lag': 10}
    assert cutover.min_replicas_fence(5000)['to_write'] == 5001


@pytest.mark.parametrize('to_write, max_lag, replicas, fenced', [
    ('1000', '10', 1, True),
    ('1000', '0', 1, False),   # max-lag 0 turns the check off in Redis
    ('1', '10', 1, False),
    ('0', '10', 0, False),
    (None, None, 0, False),
])
def test_fenced_by_min_replicas_recognises_a_fence_already_in_place(to_write, max_lag, replicas, fenced):
    assert cutover.fenced_by_min_replicas(to_write, max_lag, replicas) is fenced


def _params(**extra):
    params = dict(state='primary', fence_source=True, source_host=None, source_port=None, fence_timeout_ms=5000,
                  cutover_method='auto', fence_mode='auto')
    params.update(extra)
    return params


def test_validate_refuses_fence_source_with_state_replica():
    with pytest.raises(CutoverError, match='needs state=primary'):
        cutover.validate_cutover_params(_params(state='replica'))


def test_validate_refuses_cutover_options_without_fence_source():
    with pytest.raises(CutoverError, match='source_port only applies'):
        cutover.validate_cutover_params(_params(fence_source=False, source_port=6380))
    with pytest.raises(CutoverError, match='fence_mode=min_replicas only applies'):
        cutover.validate_cutover_params(_params(fence_source=False, fence_mode='min_replicas'))


def test_validate_refuses_a_pause_too_short_to_be_useful_and_bad_ports():
    with pytest.raises(CutoverError, match='fence_timeout_ms=50'):
        cutover.validate_cutover_params(_params(fence_timeout_ms=50))
    with pytest.raises(Exception, match='source_port=0'):
        cutover.validate_cutover_params(_params(source_port=0))


def test_role_view_of_a_stopped_source():
    assert cutover.role_view(None) == {'role': 'stopped', 'primary_host': None, 'primary_port': None}
    assert cutover.role_view({'role': 'replica', 'primary_host': 'h', 'primary_port': 1}, fence='replicaof_target') == {
        'role': 'replica', 'primary_host': 'h', 'primary_port': 1, 'fence': 'replicaof_target'}
