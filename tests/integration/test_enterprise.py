# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""enterprise_replica_of, enterprise_replica_of_info and the active_active role against the
REST API double (tests/support/enterprise_double.py), whose databases are real redis-server
processes: enabling Replica Of really flushes and REPLICAOFs, so the playbook moves real data.

Every test hands its captured stdout/stderr to ``cluster.outputs``; the fixture fails the
test if any password used anywhere shows up in them."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest

from tests.support import servers as support
from tests.support.enterprise_double import EnterpriseDouble

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
from ansible_collections.kvmigrate.replication.plugins.module_utils.enterprise import MARKER_KEY, EnterpriseClient

CLUSTER_USER = 'admin@example.com'
CLUSTER_PASSWORD = 'clusterPw-7f3a9Q'
VIEWER_USER = 'viewer@example.com'
VIEWER_PASSWORD = 'viewerPw-55e1Z'
WRONG_CLUSTER_PASSWORD = 'notTheClusterPw-31'
# The OSS source's requirepass: characters that need URL encoding in redis://:<password>@host:port.
SOURCE_PASSWORD = 'src:p@ss/w%rd#1'
WRONG_SOURCE_PASSWORD = 'wrongSrcPw-88'
ADMIN_PASS = 'InternalAdminPw9x8'  # authentication_admin_pass of the same-cluster source database
TARGET_PASSWORD = 'aaInstancePw-4411'
SECRETS = (CLUSTER_PASSWORD, VIEWER_PASSWORD, WRONG_CLUSTER_PASSWORD, SOURCE_PASSWORD, quote(SOURCE_PASSWORD, safe=''),
           WRONG_SOURCE_PASSWORD, ADMIN_PASS, TARGET_PASSWORD)

PLAYBOOK = os.path.join(support.REPO, 'playbooks', 'migrate_active_active.yml')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
SOURCE_UID, TARGET_UID = 1, 2


class Cluster(object):
    def __init__(self, double, source, target, peer, tmp_path):
        self.double = double
        self.source = source
        self.target = target
        self.peer = peer
        self.tmp_path = tmp_path
        self.outputs = []

    def args(self, **extra):
        args = dict(cluster_url=self.double.url, cluster_user=CLUSTER_USER, cluster_password=CLUSTER_PASSWORD,
                    ca_path=self.double.cert_path, database_name='orders-aa', database_password=TARGET_PASSWORD)
        args.update(extra)
        return dict((k, v) for k, v in args.items() if v is not None)

    def module(self, name, args, **kw):
        result = support.run_module(name, args, **kw)
        self.outputs.append(result['_stdout'] + result['_stderr'])
        return result

    def playbook(self, variables, check=False, timeout=240):
        inventory = self.tmp_path / 'inventory.ini'
        inventory.write_text('localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n')
        extra = self.tmp_path / 'vars.json'
        role_vars = dict(active_active_cluster_url=self.double.url, active_active_cluster_user=CLUSTER_USER,
                         active_active_cluster_password=CLUSTER_PASSWORD, active_active_ca_path=self.double.cert_path,
                         active_active_database_name='orders-aa', active_active_poll_interval=0.2,
                         active_active_database_password=TARGET_PASSWORD, active_active_final_check_timeout=30,
                         active_active_sync_timeout=60, active_active_change_timeout=20)
        role_vars.update(variables)
        extra.write_text(json.dumps(role_vars))
        command = [ANSIBLE_PLAYBOOK, '-i', str(inventory), PLAYBOOK, '-e', '@%s' % extra, '--diff']
        if check:
            command.append('--check')
        proc = subprocess.run(command, capture_output=True, text=True, env=support.ansible_env(), timeout=timeout, check=False)
        self.outputs.append(proc.stdout + proc.stderr)
        recap = re.search(r'localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout)
        proc.recap = dict(zip(('ok', 'changed', 'unreachable', 'failed'), (int(x) for x in recap.groups()))) if recap else None
        return proc

    def bdb(self, uid=TARGET_UID):
        return self.double.database(uid)

    def puts(self):
        return [r for r in self.double.requests if r[0] == 'PUT']


@pytest.fixture
def cluster(start_server, tmp_path):
    source = start_server(password=SOURCE_PASSWORD, name='legacy')
    target = start_server(password=TARGET_PASSWORD, name='aa')
    peer = start_server(password=TARGET_PASSWORD, name='aa-peer')
    # strict: masked credentials, 406 on undocumented transitions, actions, 503s on demand (tests/support/enterprise_double.py)
    double = EnterpriseDouble(users={CLUSTER_USER: (CLUSTER_PASSWORD, 'admin'), VIEWER_USER: (VIEWER_PASSWORD, 'db_viewer')},
                              strict=True)
    double.add_database(SOURCE_UID, 'orders-legacy', source, admin_pass=ADMIN_PASS)
    double.add_database(TARGET_UID, 'orders-aa', target, crdt=True)
    double.add_peer(TARGET_UID, peer)
    double.start()
    state = Cluster(double, source, target, peer, tmp_path)
    try:
        yield state
    finally:
        double.stop()
    leaked = [(secret, text[max(0, text.find(secret) - 80):text.find(secret) + 80])
              for text in state.outputs for secret in SECRETS if secret in text]
    assert not leaked, 'passwords leaked into module/playbook output: %r' % leaked


def _wait_in_sync(cluster, **extra):
    args = cluster.args(wait=True, timeout=30, poll_interval=0.1, max_lag_ms=1000)
    args.update(extra)
    return cluster.module('enterprise_replica_of_info', args)


# ----------------------------------------------------------------------------------------------------------------------
# The playbook end to end
# ----------------------------------------------------------------------------------------------------------------------

def _hook(tmp_path, name, tasks):
    path = tmp_path / name
    path.write_text('---\n' + tasks)
    return str(path)


def test_playbook_migrates_100k_keys_with_live_writes_and_stops_replica_of(cluster, tmp_path):
    cluster.double.mask_bdb_credentials = False  # the same-cluster source URL is built from authentication_admin_pass
    support.fill(cluster.source, 100000)
    cluster.target.client().mset({'stale:%d' % i: 'x' for i in range(5)})
    stop_flag, stopped_flag = tmp_path / 'stop-writes', tmp_path / 'writer-stopped'
    acked = []

    def writer():
        client = cluster.source.client()
        i = 0
        while not stop_flag.exists():
            client.set('live:%d' % i, 'w%d' % i)
            acked.append(i)  # recorded only once the source acknowledged the write
            i += 1
        stopped_flag.write_text(str(i))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    read_only = _hook(tmp_path, 'read-only.yml', '- name: Record that applications are read-only\n'
                      '  ansible.builtin.copy:\n    content: read-only\n    dest: %s\n    mode: "0600"\n' % (tmp_path / 'ro-marker'))
    before_stop = _hook(tmp_path, 'before-stop.yml',
                        '- name: Stop writes to the source\n  ansible.builtin.file:\n    path: %s\n    state: touch\n    mode: "0600"\n'
                        '- name: Wait for the writer to stop\n  ansible.builtin.wait_for:\n    path: %s\n    timeout: 30\n'
                        % (stop_flag, stopped_flag))
    after_stop = _hook(tmp_path, 'after-stop.yml', '- name: Repoint clients\n  ansible.builtin.copy:\n    content: repointed\n'
                       '    dest: %s\n    mode: "0600"\n' % (tmp_path / 'repointed-marker'))
    try:
        proc = cluster.playbook(dict(active_active_source={'database_name': 'orders-legacy'}, active_active_flush_confirmed=True,
                                     active_active_read_only_tasks=read_only, active_active_before_stop_tasks=before_stop,
                                     active_active_after_stop_tasks=after_stop))
    finally:
        stop_flag.touch()
        thread.join(timeout=30)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.recap['failed'] == 0 and proc.recap['changed'] >= 2
    assert 'in-sync' in proc.stdout and 'redis://admin:********@127.0.0.1:%d' % cluster.source.port in proc.stdout
    assert (tmp_path / 'ro-marker').exists() and (tmp_path / 'repointed-marker').exists()

    # Replica Of was stopped (the documented Stop sync) and the backing server promoted: the instance is writable.
    assert cluster.bdb().replica_sync == 'stopped'
    assert 'orders-aa' in cluster.target.client().get(MARKER_KEY)
    assert cluster.source.client().exists(MARKER_KEY) == 0  # the marker left the source once the sync stopped
    target = cluster.target.client()
    assert target.info('replication')['role'] == 'master'
    assert target.set('after-cutover', '1')
    target.delete('after-cutover')

    # Every key, and every acknowledged live write, arrived; the stale keys were flushed.
    assert len(acked) > 100, 'the writer barely ran: %d writes' % len(acked)
    source = cluster.source.client()
    assert target.dbsize() - 1 == source.dbsize() == 100000 + len(acked)
    assert cluster.peer.client().dbsize() == target.dbsize()  # the final check read the marker on the peer too
    assert target.exists(*['stale:%d' % i for i in range(5)]) == 0
    for start in range(0, 100000, 10000):
        keys = ['key:%d' % i for i in range(start, start + 10000)]
        assert target.mget(keys) == ['v%d' % i for i in range(start, start + 10000)]
    live = ['live:%d' % i for i in acked]
    for start in range(0, len(live), 10000):
        chunk = acked[start:start + 10000]
        assert target.mget(live[start:start + 10000]) == ['w%d' % i for i in chunk]


def test_playbook_check_mode_changes_nothing(cluster):
    cluster.double.mask_bdb_credentials = False
    support.fill(cluster.source, 100)
    cluster.target.client().mset({'keep:%d' % i: 'x' for i in range(3)})
    proc = cluster.playbook(dict(active_active_source={'database_name': 'orders-legacy'}, active_active_flush_confirmed=True,
                                 active_active_applications_read_only=True), check=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert 'check mode: nothing was changed' in proc.stdout
    assert not cluster.puts()
    assert cluster.bdb().replica_sync == 'disabled'
    assert cluster.target.client().dbsize() == 3
    assert cluster.target.client().info('replication')['role'] == 'master'


def test_playbook_second_run_changes_nothing_while_syncing(cluster):
    cluster.double.mask_bdb_credentials = False
    support.fill(cluster.source, 1000)
    variables = dict(active_active_source={'database_name': 'orders-legacy'}, active_active_applications_read_only=True,
                     active_active_stop=False)
    first = cluster.playbook(variables)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    assert first.recap['changed'] == 1
    # The second run needs no flush confirmation: nothing is flushed when nothing changes.
    second = cluster.playbook(variables)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
    assert second.recap['changed'] == 0 and second.recap['failed'] == 0
    assert cluster.bdb().replica_sync == 'enabled'
    assert cluster.target.client().dbsize() == 1000


def test_playbook_refuses_without_a_read_only_hook_or_statement(cluster):
    proc = cluster.playbook(dict(active_active_source={'database_name': 'orders-legacy'}))
    assert proc.returncode != 0
    assert 'read-only' in proc.stdout and 'active_active_read_only_tasks' in proc.stdout
    assert not cluster.puts()


# ----------------------------------------------------------------------------------------------------------------------
# The modules
# ----------------------------------------------------------------------------------------------------------------------

def test_oss_source_url_encodes_the_password_replicates_and_is_idempotent(cluster):
    support.fill(cluster.source, 500)
    source = dict(host='127.0.0.1', port=cluster.source.port, password=SOURCE_PASSWORD, compression=6)
    first = cluster.module('enterprise_replica_of', cluster.args(sources=[source]), diff=True)
    assert first['rc'] == 0, first
    assert first['changed'] and first['flushed'] and first['keys_discarded'] == 0
    assert first['after']['replica_sources'][0]['uri'] == 'redis://:********@127.0.0.1:%d' % cluster.source.port
    assert first['diff']['after']['replica_sources'][0]['compression'] == 6
    # The double parsed the URL-encoded password and the link authenticated with it.
    assert _wait_in_sync(cluster)['in_sync'] is True
    assert cluster.target.client().dbsize() == 500

    again = cluster.module('enterprise_replica_of', cluster.args(sources=[source]))
    assert again['rc'] == 0 and again['changed'] is False and again['request'] == {}

    stop = cluster.module('enterprise_replica_of', cluster.args(replica_sync='stopped'))
    assert stop['rc'] == 0 and stop['changed'] is True and stop['flushed'] is False
    assert cluster.target.client().info('replication')['role'] == 'master'
    assert cluster.target.client().dbsize() == 500
    stop_again = cluster.module('enterprise_replica_of', cluster.args(replica_sync='stopped'))
    assert stop_again['rc'] == 0 and stop_again['changed'] is False


def test_check_mode_reports_the_change_and_sends_nothing(cluster):
    cluster.double.mask_bdb_credentials = False  # a same-cluster source needs authentication_admin_pass
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(database_uid=SOURCE_UID)]), check_mode=True, diff=True)
    assert result['rc'] == 0 and result['changed'] is True and result['flushed'] is True
    assert result['diff']['before']['replica_sync'] == 'disabled' and result['diff']['after']['replica_sync'] == 'enabled'
    assert result['request']['replica_sources'][0]['uri'] == 'redis://admin:********@127.0.0.1:%d' % cluster.source.port
    assert not cluster.puts() and cluster.bdb().replica_sync == 'disabled'


def test_enabling_on_a_database_with_keys_requires_flush_confirmed(cluster):
    cluster.double.mask_bdb_credentials = False  # a same-cluster source needs authentication_admin_pass
    cluster.target.client().mset({'a': 1, 'b': 2, 'c': 3})
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(database_name='orders-legacy')]))
    assert result['rc'] == 1
    assert 'flushes it' in result['msg'] and 'holds 3 keys' in result['msg'] and 'flush_confirmed: true' in result['msg']
    assert "'orders-aa' (uid 2)" in result['msg'] and cluster.double.url in result['msg']
    assert not cluster.puts() and cluster.target.client().dbsize() == 3


def test_wrong_cluster_password_is_a_clear_401(cluster):
    result = cluster.module('enterprise_replica_of_info', cluster.args(cluster_password=WRONG_CLUSTER_PASSWORD))
    assert result['rc'] == 1
    assert '401 Unauthorized' in result['msg'] and cluster.double.url in result['msg']
    assert "cluster_user '%s'" % CLUSTER_USER in result['msg'] and 'cluster_password' in result['msg']
    assert "database 'orders-aa'" in result['msg']


def test_viewer_role_is_a_clear_403(cluster):
    cluster.double.mask_bdb_credentials = False  # a same-cluster source needs authentication_admin_pass
    result = cluster.module('enterprise_replica_of', cluster.args(cluster_user=VIEWER_USER, cluster_password=VIEWER_PASSWORD,
                                                                  sources=[dict(database_name='orders-legacy')]))
    assert result['rc'] == 1
    assert '403 Forbidden' in result['msg'] and 'admin or db_member' in result['msg'] and "'orders-aa' (uid 2)" in result['msg']


def test_unknown_database_is_a_clear_404(cluster):
    by_uid = cluster.module('enterprise_replica_of', cluster.args(database_name=None, database_uid=99, replica_sync='disabled'))
    assert by_uid['rc'] == 1
    assert '404 Not Found' in by_uid['msg'] and 'uid 99' in by_uid['msg'] and 'database_uid/database_name' in by_uid['msg']
    by_name = cluster.module('enterprise_replica_of_info', cluster.args(database_name='nope'))
    assert by_name['rc'] == 1
    assert "no database named 'nope'" in by_name['msg'] and 'orders-aa (uid 2)' in by_name['msg']


def test_source_down_stays_out_of_sync_and_wait_fails_within_its_timeout(cluster):
    dead_port = support.free_port()
    enable = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(host='127.0.0.1', port=dead_port)]))
    assert enable['rc'] == 0, enable
    started = time.monotonic()
    result = cluster.module('enterprise_replica_of_info', cluster.args(wait=True, timeout=8, poll_interval=0.2,
                                                                       last_error_timeout=1.5))
    took = time.monotonic() - started
    assert result['rc'] == 1 and took < 8
    source = result['sources'][0]
    assert source['status'] == 'out-of-sync' and 'Connection' in source['last_error']
    assert 'last_error_timeout=1.5' in result['msg'] and '127.0.0.1:%d' % dead_port in result['msg']
    # With a longer error allowance the same wait ends at its timeout instead, still failing.
    started = time.monotonic()
    result = cluster.module('enterprise_replica_of_info', cluster.args(wait=True, timeout=2, poll_interval=0.2))
    assert result['rc'] == 1 and 'within timeout=2.0 s' in result['msg'] and time.monotonic() - started < 8
    assert cluster.bdb().replica_sync == 'enabled'


def test_wrong_source_password_stops_the_sync_and_the_wait_fails_fast(cluster):
    enable = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(host='127.0.0.1', port=cluster.source.port,
                                                                                password=WRONG_SOURCE_PASSWORD)]))
    assert enable['rc'] == 0, enable
    started = time.monotonic()
    result = cluster.module('enterprise_replica_of_info', cluster.args(wait=True, timeout=60, poll_interval=0.2))
    assert result['rc'] == 1 and time.monotonic() - started < 15
    assert 'replica_sync: stopped' in result['msg'] and 'enable it again' in result['msg']
    assert result['replica_sync'] == 'stopped' and result['sources'][0]['last_error']


def test_conflict_while_a_change_is_pending_is_retried(cluster):
    # In strict mode stats/last answers 406 while the change is pending and the module waits for active before
    # its PUT; this test needs the PUT itself to meet the 409.
    cluster.double.strict = False
    cluster.double.mask_bdb_credentials = False  # a same-cluster source needs authentication_admin_pass
    cluster.double.pending_seconds = 5.0  # long enough that a module started on a loaded machine still meets it
    client = EnterpriseClient(dict(cluster.args(), validate_certs=True, request_timeout=10))
    client.request('PUT', '/v1/bdbs/%d' % TARGET_UID, body={'replica_sync': 'disabled'})  # opens a 5 s pending window
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(database_name='orders-legacy')]))
    assert result['rc'] == 0, result
    assert result['retries'] >= 1 and cluster.bdb().replica_sync == 'enabled'
    assert any(status == 409 for method, path, status in cluster.double.requests)


def test_conflict_that_outlasts_change_timeout_is_a_clear_error(cluster):
    # In strict mode stats/last answers 406 while the change is pending and the module waits for active before
    # its PUT; this test needs the PUT itself to meet the 409.
    cluster.double.strict = False
    cluster.double.mask_bdb_credentials = False  # a same-cluster source needs authentication_admin_pass
    cluster.double.pending_seconds = 30
    client = EnterpriseClient(dict(cluster.args(), validate_certs=True, request_timeout=10))
    client.request('PUT', '/v1/bdbs/%d' % TARGET_UID, body={'replica_sync': 'disabled'})
    result = cluster.module('enterprise_replica_of', cluster.args(sources=[dict(database_name='orders-legacy')], change_timeout=1))
    assert result['rc'] == 1 and '409 Conflict' in result['msg'] and 'change_timeout' in result['msg']


def test_invalid_transition_from_the_api_is_a_clear_406(cluster):
    client = EnterpriseClient(dict(cluster.args(), validate_certs=True, request_timeout=10))
    with pytest.raises(KvmigrateError) as raised:
        client.request('PUT', '/v1/bdbs/%d' % TARGET_UID, body={'replica_sync': 'paused'}, database="'orders-aa' (uid 2)")
    assert '406 Not Acceptable' in raised.value.msg and "'orders-aa' (uid 2)" in raised.value.msg
    assert 'disabled to paused' in raised.value.msg
    # The module refuses the same change before sending anything.
    result = cluster.module('enterprise_replica_of', cluster.args(replica_sync='paused'))
    assert result['rc'] == 1 and 'from disabled it allows: enabled' in result['msg']


def test_untrusted_certificate_is_a_clear_tls_error(cluster):
    result = cluster.module('enterprise_replica_of_info', cluster.args(ca_path=None))
    assert result['rc'] == 1 and 'TLS' in result['msg'] and 'ca_path' in result['msg']
