# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 13 against the strict REST double (masked credentials, 406 on undocumented transitions, failing actions,
503s, peers): a re-run never flushes the Active-Active database, and the modules follow the documented API.

The fixture ``cluster`` (tests/integration/test_enterprise.py) fails a test whose outputs contain a password."""
import pytest

from tests.support import servers as support
from tests.integration.test_enterprise import (  # noqa: F401  # pylint: disable=unused-import
    MARKER_KEY, SOURCE_PASSWORD, SOURCE_UID, TARGET_UID, cluster)

PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Fr\nZm9vYmFy\n-----END CERTIFICATE-----\n'
KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----\n'


def _oss_source(cluster, **extra):
    source = dict(host='127.0.0.1', port=cluster.source.port, password=SOURCE_PASSWORD)
    source.update(extra)
    return source


def _wait_in_sync(cluster):
    result = cluster.module('enterprise_replica_of_info', cluster.args(wait=True, timeout=30, poll_interval=0.1))
    assert result['rc'] == 0 and result['in_sync'] is True, result
    return result


def test_application_writes_after_a_completed_migration_survive_a_rerun_with_flush_confirmed(cluster):
    """The reproduction of issue 13: run, applications write, run again as a scheduled job would."""
    support.fill(cluster.source, 1000)
    variables = dict(active_active_source=_oss_source(cluster), active_active_flush_confirmed=True,
                     active_active_applications_read_only=True)
    first = cluster.playbook(variables)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    assert cluster.bdb().replica_sync == 'stopped'
    target = cluster.target.client()
    target.mset({'app:%d' % i: 'written-after-cutover' for i in range(50)})
    keys_before = target.dbsize()
    assert keys_before == 1000 + 50 + 1  # the source's keys, the applications' writes, the completion marker
    puts = len(cluster.puts())

    # A fresh control node: a new ansible-playbook process that knows only the cluster.
    second = cluster.playbook(variables)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
    assert second.recap['changed'] == 0 and second.recap['failed'] == 0
    assert 'already migrated' in second.stdout and 'active_active_start_new_migration: orders-aa' in second.stdout
    assert len(cluster.puts()) == puts
    assert target.dbsize() == keys_before
    assert target.mget(['app:%d' % i for i in range(50)]) == ['written-after-cutover'] * 50

    # The module alone refuses the flush too, and says so without failing.
    direct = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)], flush_confirmed=True))
    assert direct['rc'] == 0 and direct['changed'] is False and direct['already_migrated'] is True, direct
    assert 'start_new_migration: orders-aa' in direct['msg'] and len(cluster.puts()) == puts

    # A new migration needs the database named; a wrong name is an error, the right one flushes.
    wrong = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)], flush_confirmed=True,
                                                                 start_new_migration='orders'))
    assert wrong['rc'] == 1 and "set it to 'orders-aa'" in wrong['msg'] and len(cluster.puts()) == puts
    again = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)], flush_confirmed=True,
                                                                 start_new_migration='orders-aa'))
    assert again['rc'] == 0 and again['changed'] is True and again['keys_discarded'] == keys_before, again


def test_rerun_during_the_sync_does_not_resend_sources_the_cluster_masks(cluster):
    """The double masks the URI password, omits client_key and rewrites PEM text: nothing differs that matters."""
    support.fill(cluster.source, 200)
    source = _oss_source(cluster, encryption=True, server_cert=PEM, client_cert=PEM, client_key=KEY, tls_sni='src.example')
    first = cluster.module('enterprise_replica_of', cluster.args(sources=[source], flush_confirmed=True))
    assert first['rc'] == 0 and first['changed'] is True, first
    _wait_in_sync(cluster)
    shown = cluster.module('enterprise_replica_of_info', cluster.args())['sources'][0]
    assert shown['uri'].startswith('redis://:********@')  # the cluster really masked it
    puts = len(cluster.puts())
    again = cluster.module('enterprise_replica_of', cluster.args(sources=[source], flush_confirmed=True))
    assert again['rc'] == 0 and again['changed'] is False and again['flushed'] is False, again
    assert len(cluster.puts()) == puts
    # A real change (another port) is still seen.
    moved = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster, port=cluster.source.port + 1)],
                                                                 flush_confirmed=True),
                           check_mode=True)
    assert moved['rc'] == 0 and moved['changed'] is True


def test_undocumented_stop_to_disabled_is_a_clear_406_and_stopped_is_read_back(cluster):
    enable = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert enable['rc'] == 0, enable
    disable = cluster.module('enterprise_replica_of', cluster.args(replica_sync='disabled'))
    assert disable['rc'] == 1 and '406 Not Acceptable' in disable['msg']
    assert 'cannot change from enabled to disabled' in disable['msg']  # the error body's message field
    stop = cluster.module('enterprise_replica_of', cluster.args(replica_sync='stopped'))
    assert stop['rc'] == 0 and stop['changed'] is True and cluster.bdb().replica_sync == 'stopped'
    assert any(path.startswith('/v1/actions/') for method, path, status in cluster.double.requests)


def test_a_failed_action_fails_the_task(cluster):
    cluster.double.fail_next_action = 'syncer could not start on node 2'
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert result['rc'] == 1
    assert 'failed the change' in result['msg'] and 'syncer could not start on node 2' in result['msg']
    assert cluster.bdb().replica_sync == 'disabled'


def test_creation_failed_database_is_an_error(cluster):
    cluster.bdb().status = 'creation-failed'
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert result['rc'] == 1 and 'creation-failed' in result['msg'] and not cluster.puts()


def test_503_answers_are_retried(cluster):
    cluster.double.unavailable = 3
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert result['rc'] == 0 and result['retries'] >= 3, result
    assert sum(1 for r in cluster.double.requests if r[2] == 503) == 3


def test_requests_ask_only_for_the_fields_they_need(cluster):
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert result['rc'] == 0, result
    reads = [path for method, path, status in cluster.double.requests if method == 'GET' and path.startswith('/v1/bdbs')]
    assert reads and all('?fields=' in path or '/stats/last/' in path for path in reads), reads


def test_masked_admin_pass_is_detected_before_building_a_source_url(cluster):
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(database_uid=SOURCE_UID)]))
    assert result['rc'] == 1 and 'mask_bdb_credentials' in result['msg'] and 'uri' in result['msg']
    assert not cluster.puts()


def test_role_refuses_a_target_that_is_not_active_active(cluster):
    proc = cluster.playbook(dict(active_active_database_name='orders-legacy', active_active_source=_oss_source(cluster),
                                 active_active_applications_read_only=True))
    assert proc.returncode != 0 and 'not an Active-Active instance' in proc.stdout and 'plain' in proc.stdout
    assert not cluster.puts()


def test_final_check_waits_for_every_peer_and_keeps_the_sync_when_one_lacks_the_data(cluster):
    support.fill(cluster.source, 100)
    enable = cluster.module('enterprise_replica_of', cluster.args(sources=[_oss_source(cluster)]))
    assert enable['rc'] == 0, enable
    _wait_in_sync(cluster)
    cluster.double.pause_peer(cluster.peer)
    stop = cluster.module('enterprise_replica_of', cluster.args(replica_sync='stopped', sources=[_oss_source(cluster)],
                                                                final_check=True, final_check_timeout=2))
    assert stop['rc'] == 1 and 'peer instance 127.0.0.1:%d' % cluster.peer.port in stop['msg'], stop
    assert cluster.bdb().replica_sync == 'enabled'  # nothing was stopped
    cluster.double.add_peer(TARGET_UID, cluster.peer)
    cluster.bdb().peers.pop()  # re-linked, not a second peer
    stop = cluster.module('enterprise_replica_of', cluster.args(replica_sync='stopped', sources=[_oss_source(cluster)],
                                                                final_check=True, final_check_timeout=20))
    assert stop['rc'] == 0 and len(stop['final_check']['checked']) == 2, stop
    assert cluster.peer.client().get(MARKER_KEY) == cluster.target.client().get(MARKER_KEY)
    assert cluster.source.client().exists(MARKER_KEY) == 0


def test_no_of_keys_is_a_float_and_406_while_pending(cluster):
    from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
    from ansible_collections.kvmigrate.replication.plugins.module_utils.enterprise import EnterpriseClient
    client = EnterpriseClient(dict(cluster.args(), validate_certs=True, request_timeout=10), change_timeout=10)
    cluster.target.client().mset({'a': 1, 'b': 2})
    stats = client.request('GET', '/v1/bdbs/stats/last/%d' % TARGET_UID)
    assert stats[str(TARGET_UID)]['no_of_keys'] == 2.0 and isinstance(stats[str(TARGET_UID)]['no_of_keys'], float)
    cluster.double.pending_seconds = 1.0
    client.request('PUT', '/v1/bdbs/%d' % TARGET_UID, body={'replica_sync': 'disabled'})
    with pytest.raises(KvmigrateError) as raised:
        client.request('GET', '/v1/bdbs/stats/last/%d' % TARGET_UID)
    assert raised.value.details['status'] == 406
    # The client waits for active and asks again instead of treating the count as unknown.
    assert client.key_count({'uid': TARGET_UID, 'name': 'orders-aa'}) == 2
