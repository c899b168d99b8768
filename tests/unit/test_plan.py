# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/plan.py: what a pair's statuses say, parsed from INFO replication text shaped
like the servers print it (the ids are those a fenced cutover left on Redis 7.0.15, see tests/integration)."""
from __future__ import absolute_import, division, print_function

from ansible_collections.kvmigrate.replication.plugins.module_utils import info
from ansible_collections.kvmigrate.replication.plugins.module_utils.plan import ReplicationPlan, history_id

NO_ID = '0' * 40
SOURCE_ID = '6609b89f' + 'a' * 32  # the source's id before the cutover
NEW_ID = 'c580b238' + 'b' * 32  # the id the promoted target started
OTHER_ID = 'f00dcafe' + 'c' * 32

TARGET = ('127.0.0.1', 6380)
SOURCE = ('127.0.0.1', 6379)


def status(role, replid, replid2=NO_ID, primary=None, replicas=()):
    lines = ['# Server', 'redis_version:7.0.15', '# Replication', 'role:%s' % ('slave' if primary else role)]
    if primary:
        lines += ['master_host:%s' % primary[0], 'master_port:%d' % primary[1], 'master_link_status:up',
                  'master_sync_in_progress:0', 'slave_repl_offset:118']
    lines.append('connected_slaves:%d' % len(replicas))
    for index, (host, port) in enumerate(replicas):
        lines.append('slave%d:ip=%s,port=%d,state=online,offset=118,lag=0' % (index, host, port))
    lines += ['master_replid:%s' % replid, 'master_replid2:%s' % replid2, 'master_repl_offset:118']
    return info.replication_status('\r\n'.join(lines) + '\r\n')


def test_history_id_treats_the_all_zero_id_as_none():
    assert history_id(NO_ID) is None and history_id('') is None and history_id(None) is None
    assert history_id(SOURCE_ID) == SOURCE_ID


def test_a_target_replicating_from_the_source_by_another_name_is_already_replicating():
    plan = ReplicationPlan(TARGET, status('replica', SOURCE_ID, primary=('localhost', 6379)), SOURCE, target_keys=500)
    assert plan.already_replicating and plan.keys_discarded == 0
    assert not plan.wants_source_status


def test_a_primary_with_keys_would_lose_them_all():
    plan = ReplicationPlan(TARGET, status('master', OTHER_ID), SOURCE, status('master', SOURCE_ID), target_keys=50)
    assert not plan.already_replicating and not plan.continues_history
    assert plan.keys_discarded == 50
    assert not plan.wants_source_status  # a primary's data is its own history: reading the source cannot help


def test_a_replica_under_the_sources_current_or_previous_id_continues_its_history():
    for source_status in (status('master', SOURCE_ID), status('master', NEW_ID, SOURCE_ID)):
        plan = ReplicationPlan(TARGET, status('replica', SOURCE_ID, primary=('10.0.0.9', 6379)), SOURCE, source_status,
                               target_keys=3000)
        assert plan.continues_history and plan.keys_discarded == 0


def test_a_replica_of_another_history_loses_its_keys_and_zero_ids_never_match():
    other = ReplicationPlan(TARGET, status('replica', OTHER_ID, primary=('10.0.0.9', 6379)), SOURCE,
                            status('master', SOURCE_ID), target_keys=7)
    assert not other.continues_history and other.keys_discarded == 7
    zeros = ReplicationPlan(TARGET, status('replica', NO_ID, primary=('10.0.0.9', 6379)), SOURCE,
                            status('master', SOURCE_ID, NO_ID), target_keys=7)
    assert not zeros.continues_history and zeros.keys_discarded == 7


def test_the_source_is_read_only_when_it_could_lift_a_refusal():
    replica = status('replica', SOURCE_ID, primary=('10.0.0.9', 6379))
    assert ReplicationPlan(TARGET, replica, SOURCE, target_keys=10).wants_source_status
    assert not ReplicationPlan(TARGET, replica, SOURCE, target_keys=0).wants_source_status
    unread = ReplicationPlan(TARGET, replica, SOURCE, source_status=None, target_keys=10)
    assert not unread.continues_history and unread.keys_discarded == 10  # nothing is assumed about an unread source


def test_a_target_feeding_the_source_would_form_a_loop_named_with_its_port():
    plan = ReplicationPlan(TARGET, status('master', SOURCE_ID, replicas=[('127.0.0.1', 6379), ('10.0.0.5', 6390)]),
                           SOURCE)
    assert plan.feeding_source == '127.0.0.1:6379'
    assert ReplicationPlan(TARGET, status('master', SOURCE_ID, replicas=[('10.0.0.5', 6390)]), SOURCE).feeding_source is None


def test_a_fenced_cutover_reads_as_promoted_and_cut_over():
    plan = ReplicationPlan(TARGET, status('master', NEW_ID, SOURCE_ID), SOURCE,
                           status('replica', NEW_ID, SOURCE_ID, primary=TARGET))
    assert plan.promoted and plan.cut_over and not plan.swapped
    assert plan.shared_history_id == SOURCE_ID


def test_a_primary_and_its_ordinary_replica_read_as_swapped():
    plan = ReplicationPlan(TARGET, status('master', NEW_ID), SOURCE, status('replica', NEW_ID, primary=TARGET))
    assert plan.swapped and not plan.promoted and not plan.cut_over
    # a primary promoted long ago keeps its replid2, but an ordinary replica that came by a full sync has none
    long_ago = ReplicationPlan(TARGET, status('master', NEW_ID, OTHER_ID), SOURCE,
                               status('replica', NEW_ID, primary=TARGET))
    assert long_ago.swapped and not long_ago.promoted


def test_target_and_source_following_one_primary_are_cut_over_by_a_sibling():
    new_primary = ('10.0.0.7', 6379)
    plan = ReplicationPlan(TARGET, status('replica', NEW_ID, primary=new_primary), SOURCE,
                           status('replica', NEW_ID, primary=new_primary))
    assert plan.sibling_moved and plan.cut_over and not plan.promoted and not plan.swapped


def test_a_source_that_is_a_replica_names_its_primary():
    plan = ReplicationPlan(TARGET, status('master', OTHER_ID), SOURCE, status('replica', SOURCE_ID, primary=('10.0.0.7', 6381)))
    assert plan.source_is_replica and plan.source_primary_endpoint == '10.0.0.7:6381'
    assert not plan.cut_over and not plan.swapped
    primary = ReplicationPlan(TARGET, status('master', OTHER_ID), SOURCE, status('master', SOURCE_ID))
    assert not primary.source_is_replica and primary.source_primary_endpoint is None
