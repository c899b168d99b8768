# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/enterprise.py: URL building and masking, the
replica_sync transition table, the Replica Of plan, the wait decision and the HTTP
error sentences. No network: the client and the clock are faked."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import enterprise as rs
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError

SAME_CLUSTER_BDB = {
    'uid': 1, 'name': 'orders-legacy', 'authentication_admin_pass': 'MTRp3pu6VGSoj',
    'endpoints': [{'addr': ['192.168.16.2'], 'dns_name': 'redis-14968.cluster.local', 'port': 14968, 'uid': '1:1'}],
}


# -- URLs --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('given, expected', [
    ('cluster.example.com', 'https://cluster.example.com:9443'),
    ('cluster.example.com:8443', 'https://cluster.example.com:8443'),
    ('https://cluster.example.com/', 'https://cluster.example.com:9443'),
    ('https://10.0.0.5:9443', 'https://10.0.0.5:9443'),
    ('https://[fd00::5]', 'https://[fd00::5]:9443'),
])
def test_cluster_url_defaults_to_https_and_port_9443(given, expected):
    assert rs.normalize_cluster_url(given) == expected


@pytest.mark.parametrize('given, fragment', [
    ('', 'is empty'),
    ('ftp://cluster', 'scheme ftp'),
    ('https://cluster:9443/v1/bdbs', 'has a path'),
    ('https://cluster:99999', 'no valid port'),
])
def test_cluster_url_errors_say_what_to_write(given, fragment):
    with pytest.raises(KvmigrateError) as raised:
        rs.normalize_cluster_url(given)
    assert fragment in raised.value.msg


def test_same_cluster_source_uses_the_documented_admin_form():
    uri, password, where = rs.same_cluster_source(SAME_CLUSTER_BDB)
    assert uri == 'redis://admin:MTRp3pu6VGSoj@redis-14968.cluster.local:14968'
    assert password == 'MTRp3pu6VGSoj' and where == 'redis-14968.cluster.local:14968'


def test_same_cluster_source_falls_back_to_the_endpoint_address():
    bdb = dict(SAME_CLUSTER_BDB, endpoints=[{'addr': ['192.168.16.2'], 'dns_name': '', 'port': 14968}])
    assert rs.same_cluster_source(bdb)[0] == 'redis://admin:MTRp3pu6VGSoj@192.168.16.2:14968'


def test_same_cluster_source_without_the_internal_password_says_which_user_can_read_it():
    with pytest.raises(KvmigrateError) as raised:
        rs.same_cluster_source(dict(SAME_CLUSTER_BDB, authentication_admin_pass=''))
    assert 'authentication_admin_pass' in raised.value.msg and 'give the source as uri' in raised.value.msg


def test_oss_source_uri_url_encodes_the_password():
    uri = rs.build_source_uri('redis-old.example.com', 6379, 'p@ss:w/rd%#')
    assert uri == 'redis://:p%40ss%3Aw%2Frd%25%23@redis-old.example.com:6379'
    assert rs.parse_source_uri(uri)['password'] == 'p@ss:w/rd%#'
    assert rs.parse_source_uri(uri)['user'] in (None, '')


def test_oss_source_uri_without_password_has_no_user_info():
    assert rs.build_source_uri('10.0.0.1', 6380) == 'redis://10.0.0.1:6380'
    assert rs.build_source_uri('fd00::1', 6379, 'pw') == 'redis://:pw@[fd00::1]:6379'


@pytest.mark.parametrize('uri, masked', [
    ('redis://admin:MTRp3pu6@redis-1.cluster:12000', 'redis://admin:********@redis-1.cluster:12000'),
    ('redis://:p%40ss@host:6379', 'redis://:********@host:6379'),
    ('rediss://user:secret@host:6379/0', 'rediss://user:********@host:6379/0'),
    ('redis://onlysecret@host:6379', 'redis://********@host:6379'),
    ('redis://host:6379', 'redis://host:6379'),
    ('redis://admin:pa@ss@host:1', 'redis://admin:********@host:1'),
])
def test_mask_uri_hides_every_password_form(uri, masked):
    assert rs.mask_uri(uri) == masked


def test_parse_source_uri_rejects_other_schemes_without_printing_the_password():
    with pytest.raises(KvmigrateError) as raised:
        rs.parse_source_uri('http://admin:topsecret@host:1')
    assert 'topsecret' not in raised.value.msg and 'redis://' in raised.value.msg


# -- sources -------------------------------------------------------------------------------------------------------------

def test_sources_compare_with_api_defaults_and_in_any_order():
    current = [{'uid': 1, 'uri': 'redis://b:1', 'status': 'in-sync', 'lag': 3, 'compression': 0, 'encryption': False},
               {'uid': 2, 'uri': 'redis://a:1', 'server_cert': None}]
    wanted = [{'uri': 'redis://a:1'}, {'uri': 'redis://b:1', 'compression': 0}]
    assert rs.sources_equal(current, wanted)
    assert not rs.sources_equal(current, [{'uri': 'redis://a:1'}, {'uri': 'redis://b:1', 'compression': 6}])
    assert not rs.sources_equal(current, [{'uri': 'redis://a:1'}])


def test_sources_compare_masked_when_the_cluster_masks_passwords():
    current = [{'uri': 'redis://admin:********@host:1'}]
    assert rs.sources_equal(current, [{'uri': 'redis://admin:realpass@host:1'}])
    assert not rs.sources_equal(current, [{'uri': 'redis://admin:realpass@other:1'}])


@pytest.mark.parametrize('source, fragment', [
    ({'uri': 'redis://h:1', 'compression': 7}, 'compression=7 is out of range'),
    ({'uri': 'redis://h:1', 'server_cert': 'PEM'}, 'set encryption: true'),
    ({'uri': 'redis://h:1', 'encryption': True, 'client_cert': 'PEM'}, 'client_cert and client_key go together'),
    ({'uri': 'http://h:1'}, 'must start with redis://'),
])
def test_validate_sources_explains_bad_settings(source, fragment):
    with pytest.raises(KvmigrateError) as raised:
        rs.validate_sources([source])
    assert fragment in raised.value.msg


def test_validate_sources_caps_at_the_documented_32():
    with pytest.raises(KvmigrateError) as raised:
        rs.validate_sources([{'uri': 'redis://h:%d' % (i + 1)} for i in range(33)])
    assert 'at most 32' in raised.value.msg


# -- transitions and the plan --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('current, wanted, allowed, documented', [
    ('disabled', 'enabled', True, True),
    ('enabled', 'paused', True, True),
    ('enabled', 'stopped', True, True),
    ('paused', 'enabled', True, True),
    ('paused', 'stopped', True, True),
    ('stopped', 'enabled', True, True),
    ('enabled', 'disabled', True, False),
    ('stopped', 'disabled', True, False),
    ('disabled', 'paused', False, False),
    ('disabled', 'stopped', False, False),
    ('stopped', 'paused', False, False),
    ('enabled', 'enabled', True, True),
])
def test_transition_table_is_the_documented_one_plus_disable(current, wanted, allowed, documented):
    assert rs.transition_allowed(current, wanted) == (allowed, documented)


def _bdb(sync='disabled', sources=()):
    return {'uid': 2, 'name': 'orders-aa', 'replica_sync': sync, 'replica_sources': list(sources)}


SOURCE = {'uri': 'redis://admin:pw@h:1', 'compression': 0, 'encryption': False}


def test_plan_enable_flushes_and_masks_the_request():
    plan = rs.plan_replica_of(_bdb(), 'enabled', [SOURCE], 'aa')
    assert plan['flushes'] is True
    assert plan['body']['replica_sync'] == 'enabled' and plan['body']['replica_sources'][0]['uri'] == 'redis://admin:pw@h:1'
    assert rs.masked_body(plan['body'])['replica_sources'][0]['uri'] == 'redis://admin:********@h:1'
    assert plan['after']['replica_sources'][0]['uri'] == 'redis://admin:********@h:1'
    assert plan['before'] == {'replica_sync': 'disabled', 'replica_sources': []}


def test_plan_is_empty_when_already_enabled_with_the_same_sources():
    plan = rs.plan_replica_of(_bdb('enabled', [dict(SOURCE, uid=1, status='in-sync', lag=2)]), 'enabled', [SOURCE], 'aa')
    assert plan['body'] == {} and plan['flushes'] is False and plan['before'] == plan['after']


def test_plan_new_sources_on_an_enabled_sync_flush():
    plan = rs.plan_replica_of(_bdb('enabled', [SOURCE]), 'enabled', [dict(SOURCE, uri='redis://admin:pw@other:1')], 'aa')
    assert plan['flushes'] is True and 'replica_sync' not in plan['body'] and 'replica_sources' in plan['body']


def test_plan_restarting_a_stopped_sync_flushes_but_resuming_a_paused_one_does_not():
    assert rs.plan_replica_of(_bdb('stopped', [SOURCE]), 'enabled', None, 'aa')['flushes'] is True
    resume = rs.plan_replica_of(_bdb('paused', [SOURCE]), 'enabled', None, 'aa')
    assert resume['body'] == {'replica_sync': 'enabled'} and resume['flushes'] is False


def test_plan_disable_keeps_the_sources_and_does_not_flush():
    plan = rs.plan_replica_of(_bdb('enabled', [SOURCE]), 'disabled', None, 'aa')
    assert plan['body'] == {'replica_sync': 'disabled'} and plan['flushes'] is False
    assert rs.plan_replica_of(_bdb('disabled', [SOURCE]), 'disabled', None, 'aa')['body'] == {}


def test_plan_refuses_a_transition_the_api_does_not_allow():
    with pytest.raises(KvmigrateError) as raised:
        rs.plan_replica_of(_bdb('disabled'), 'paused', None, "'orders-aa' (uid 2)")
    assert "from disabled it allows: enabled" in raised.value.msg and 'enable Replica Of first' in raised.value.msg


def test_plan_enable_without_any_source_says_set_sources():
    with pytest.raises(KvmigrateError) as raised:
        rs.plan_replica_of(_bdb(), 'enabled', None, 'aa')
    assert 'set sources' in raised.value.msg


# -- waiting ------------------------------------------------------------------------------------------------------------

def _source(status='in-sync', lag=0, last_error='', **extra):
    return dict({'uid': 1, 'uri': 'redis://admin:pw@h:1', 'status': status, 'lag': lag, 'last_error': last_error}, **extra)


def test_evaluate_in_sync_under_the_lag_threshold_is_done():
    assert rs.evaluate_sources(_bdb('enabled', [_source(lag=20)]), 50) == (None, [])


def test_evaluate_reports_syncing_progress_and_lag_over_threshold():
    dummy, unmet = rs.evaluate_sources(_bdb('enabled', [_source('syncing', rdb_size=200, rdb_transferred=50)]), None)
    assert unmet == ['redis://admin:********@h:1 is syncing 25.0% of the RDB']
    dummy, unmet = rs.evaluate_sources(_bdb('enabled', [_source(lag=900)]), 500)
    assert unmet == ['redis://admin:********@h:1 lag 900 ms > max_lag_ms 500']


@pytest.mark.parametrize('sync, fragment', [
    ('stopped', 'replica_sync: stopped'),
    ('paused', 'replica_sync: paused'),
    ('disabled', 'nothing to wait for'),
])
def test_evaluate_stopped_paused_disabled_are_final(sync, fragment):
    final, dummy = rs.evaluate_sources(_bdb(sync, [_source('out-of-sync', last_error='AUTH failed')]), None, 'aa')
    assert fragment in final
    if sync == 'stopped':
        assert 'AUTH failed' in final and 'redis://admin:********@h:1' in final and ':pw@' not in final


class FakeClock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeClient(object):
    """Answers get_database with one bdb per call from ``answers`` (the last one repeats)."""

    def __init__(self, answers):
        self.answers = list(answers)

    def get_database(self, uid=None, name=None):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


WAIT = dict(timeout=60.0, poll_interval=1.0, max_lag_ms=100, stable_for=0.0, last_error_timeout=5.0)


def _wait(answers, **params):
    clock = FakeClock()
    waiter = rs.ReplicaOfWaiter(FakeClient(answers), _bdb(), dict(WAIT, **params), clock=clock, sleep=clock.sleep)
    return waiter, clock


def test_wait_succeeds_once_every_source_is_in_sync_for_stable_for():
    answers = [_bdb('enabled', [_source('syncing')]), _bdb('enabled', [_source(lag=10)])]
    waiter, clock = _wait(answers, stable_for=3.0)
    result = waiter.run()
    assert result['in_sync'] is True and clock.now == 4.0 and result['samples'] == 5


def test_wait_fails_fast_when_the_cluster_stops_the_sync():
    waiter, clock = _wait([_bdb('enabled', [_source('syncing')]), _bdb('stopped', [_source('out-of-sync', last_error='WRONGPASS')])])
    with pytest.raises(KvmigrateError) as raised:
        waiter.run()
    assert 'WRONGPASS' in raised.value.msg and clock.now == 1.0
    assert raised.value.details['replica_sync'] == 'stopped'


def test_wait_fails_after_last_error_timeout_of_an_unreachable_source():
    waiter, clock = _wait([_bdb('enabled', [_source('out-of-sync', last_error='Connection refused')])])
    with pytest.raises(KvmigrateError) as raised:
        waiter.run()
    assert 'last_error_timeout=5.0' in raised.value.msg and 'Connection refused' in raised.value.msg and clock.now == 5.0


def test_wait_ignores_a_stale_last_error_once_in_sync():
    waiter, dummy = _wait([_bdb('enabled', [_source(lag=1, last_error='old blip')])])
    assert waiter.run()['in_sync'] is True


def test_wait_fails_at_timeout_with_what_is_missing():
    waiter, clock = _wait([_bdb('enabled', [_source(lag=5000)])], timeout=10.0)
    with pytest.raises(KvmigrateError) as raised:
        waiter.run()
    assert 'within timeout=10.0 s' in raised.value.msg and 'lag 5000 ms > max_lag_ms 100' in raised.value.msg
    assert clock.now == 10.0


# -- HTTP errors and retries --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('status, cause, fragments', [
    (401, 'auth', ('401 Unauthorized', "cluster_user 'ops@example.com'", 'cluster_password', "'aa' (uid 2)")),
    (403, 'permission', ('403 Forbidden', 'admin or db_member', "'aa' (uid 2)")),
    (404, 'not_found', ('404 Not Found', "'aa' (uid 2)", 'database_uid/database_name')),
    (406, 'rejected', ('406 Not Acceptable', 'docs/active-active.md')),
    (409, 'busy', ('409 Conflict', 'change_timeout')),
    (503, 'server', ('503', 'Retry later')),
])
def test_http_errors_name_cluster_database_and_fix(status, cause, fragments):
    got_cause, msg = rs.explain_http(status, 'detail', 'https://c:9443', 'PUT', '/v1/bdbs/2', "'aa' (uid 2)", 'ops@example.com')
    assert got_cause == cause and 'https://c:9443' in msg
    for fragment in fragments:
        assert fragment in msg


class ScriptedClient(rs.EnterpriseClient):
    def __init__(self, answers, **kw):
        clock = FakeClock()
        super(ScriptedClient, self).__init__(dict(cluster_url='c', cluster_user='u', cluster_password='topsecretpw'),
                                             clock=clock, sleep=clock.sleep, **kw)
        self.answers = list(answers)
        self.fake_clock = clock

    def _open(self, method, path, body=None):
        return self.answers.pop(0)


def test_409_is_retried_with_a_growing_bounded_backoff():
    client = ScriptedClient([(409, None, b'')] * 3 + [(200, {'uid': 2}, b'{}')])
    assert client.request('PUT', '/v1/bdbs/2', {}, retry_conflict=True) == {'uid': 2}
    assert client.retries == 3 and client.fake_clock.now == pytest.approx(0.2 + 0.4 + 0.8)


def test_409_stops_being_retried_at_change_timeout():
    client = ScriptedClient([(409, {'error_code': 'db_busy', 'description': 'busy'}, b'')] * 100, change_timeout=10.0)
    with pytest.raises(KvmigrateError) as raised:
        client.request('PUT', '/v1/bdbs/2', {}, database='aa', retry_conflict=True)
    assert '409 Conflict' in raised.value.msg and 'db_busy: busy' in raised.value.msg
    assert client.fake_clock.now <= 10.0 and client.retries >= 4


def test_error_bodies_are_scrubbed_of_the_cluster_password():
    client = ScriptedClient([(400, {'description': 'bad password topsecretpw'}, b'')])
    with pytest.raises(KvmigrateError) as raised:
        client.request('GET', '/v1/bdbs/2', database='aa')
    assert 'topsecretpw' not in raised.value.msg and '********' in raised.value.msg


def test_database_by_name_lists_the_known_names_when_missing():
    client = ScriptedClient([(200, [{'uid': 1, 'name': 'a'}, {'uid': 2, 'name': 'b'}], b'')])
    with pytest.raises(KvmigrateError) as raised:
        client.get_database(name='c')
    assert "no database named 'c'" in raised.value.msg and 'a (uid 1), b (uid 2)' in raised.value.msg


def test_replica_of_path_is_the_documented_bdb_form():
    # The one place the Active-Active choice lives: change it (and this test) after a real-cluster check.
    assert rs.replica_of_path({'uid': 7, 'crdt': True, 'crdt_guid': 'g'}) == '/v1/bdbs/7'
    assert rs.ACTIVE_ACTIVE_FORM == 'bdb'


# -- issue 13: secrets are not compared, actions are followed, 503 is retried, errors need stalled progress ---------------

PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmg\nAwIBAgIUQ2Fr\n-----END CERTIFICATE-----\n'


def test_sources_compare_only_non_secret_fields():
    wanted = [{'uri': 'redis://:s3cret@src:6379', 'encryption': True, 'server_cert': PEM, 'client_cert': PEM,
               'client_key': 'KEY', 'replication_tls_sni': 'src'}]
    # masked password, client_key omitted, PEM re-wrapped with CRLF and a trailing blank: the same source
    shown = [{'uri': 'redis://:********@src:6379', 'encryption': True, 'server_cert': PEM.replace('\n', '\r\n') + ' ',
              'client_cert': PEM.replace('\n', '\r\n'), 'replication_tls_sni': 'src', 'status': 'in-sync'}]
    assert rs.sources_equal(shown, wanted)
    assert rs.sources_equal([dict(shown[0], uri='redis://:other@src:6379')], wanted)  # a password is never compared
    assert not rs.sources_equal([dict(shown[0], server_cert=PEM.replace('MIIB', 'MIIC'))], wanted)
    assert not rs.sources_equal([dict(shown[0], replication_tls_sni='other')], wanted)
    assert not rs.sources_equal([dict(shown[0], uri='redis://:********@src:6380')], wanted)


def test_plan_does_not_resend_masked_sources_of_an_enabled_sync():
    bdb = _bdb('enabled', [{'uri': 'redis://admin:********@src:1', 'status': 'in-sync'}])
    plan = rs.plan_replica_of(bdb, 'enabled', [{'uri': 'redis://admin:realpass@src:1'}], 'aa')
    assert plan['body'] == {} and plan['flushes'] is False


def test_masked_authentication_admin_pass_is_not_used_in_a_source_url():
    with pytest.raises(KvmigrateError) as raised:
        rs.same_cluster_source(dict(SAME_CLUSTER_BDB, authentication_admin_pass='********'))
    assert 'mask_bdb_credentials' in raised.value.msg and 'uri' in raised.value.msg


def test_wait_does_not_fail_on_last_error_while_the_transfer_progresses():
    answers = [_bdb('enabled', [dict(_source('syncing', last_error='Connection reset'), rdb_transferred=i * 10, rdb_size=1000)])
               for i in range(1, 12)] + [_bdb('enabled', [_source(lag=1)])]
    waiter, clock = _wait(answers, last_error_timeout=5.0)
    assert waiter.run()['in_sync'] is True and clock.now > 5.0


def test_503_is_retried_and_then_named():
    client = ScriptedClient([(503, {'error_code': 'node_not_responding', 'message': 'Node not responding'}, b'')] * 2
                            + [(200, {'uid': 2}, b'{}')])
    assert client.request('GET', '/v1/bdbs/2') == {'uid': 2} and client.retries == 2
    client = ScriptedClient([(503, {'error_code': 'node_not_responding', 'message': 'Node not responding'}, b'')] * 100,
                            change_timeout=3.0)
    with pytest.raises(KvmigrateError) as raised:
        client.request('GET', '/v1/bdbs/2', database='aa')
    assert '503' in raised.value.msg and 'node_not_responding: Node not responding' in raised.value.msg


def test_a_failed_action_is_an_error_with_its_reason():
    failed = {'action_uid': 'a1', 'name': 'SMUpdateBDB', 'status': 'failed',
              'pending_ops': {'1': {'status_description': 'syncer failed'}}}
    client = ScriptedClient([(200, {'action_uid': 'a1', 'status': 'pending'}, b''), (200, failed, b'')])
    with pytest.raises(KvmigrateError) as raised:
        client.follow_action('a1', "'aa' (uid 2)")
    assert 'failed the change' in raised.value.msg and 'syncer failed' in raised.value.msg


@pytest.mark.parametrize('status', ['creation-failed', 'recovery'])
def test_failed_database_statuses_are_errors(status):
    client = ScriptedClient([(200, {'uid': 2, 'name': 'aa', 'status': status}, b'')])
    with pytest.raises(KvmigrateError) as raised:
        client.get_database(uid=2)
    assert status in raised.value.msg
