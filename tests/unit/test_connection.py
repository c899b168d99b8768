"""Error sentences and address comparison in module_utils/connection.py (no server needed)."""
import math
import socket

import pytest
from redis import exceptions

from ansible_collections.kvmigrate.replication.plugins.module_utils import connection

CASES = [
    (exceptions.AuthenticationError('invalid username-password pair or user is disabled.'), 'auth', 'rejected the credentials'),
    (exceptions.ResponseError('NOAUTH Authentication required.'), 'auth', 'requires authentication'),
    (exceptions.NoPermissionError("this user has no permissions to run the 'replicaof' command"), 'permission',
     'lack of permission'),
    (exceptions.ConnectionError('Error 111 connecting to 10.0.0.1:6379. Connection refused.'), 'refused',
     'refused the connection'),
    (exceptions.TimeoutError('Timeout connecting to server'), 'timeout', 'did not accept a TCP connection within 5 s'),
    (exceptions.TimeoutError('Timeout reading from 10.0.0.5'), 'no_answer',
     'accepted the connection but did not answer PING within 5 s'),
    (connection.TlsHandshakeStalled('no TLS handshake within 5 s'), 'tls', 'no TLS on this port'),
    (exceptions.ConnectionError('Error 1 connecting to h:6380. [SSL: WRONG_VERSION_NUMBER] wrong version number'), 'tls',
     'no TLS on this port'),
    (exceptions.ConnectionError('Error -2 connecting to nohost:6379. Name or service not known.'), 'dns', 'does not resolve'),
    (exceptions.ConnectionError('Error 1 connecting to h:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed'),
     'tls', 'TLS handshake failed'),
    (exceptions.ConnectionError('Error 113 connecting to h:6379. No route to host.'), 'unreachable', 'is unreachable'),
    (exceptions.BusyLoadingError('Redis is loading the dataset in memory'), 'loading', 'loading its dataset'),
    (exceptions.ResponseError('ERR something odd'), None, 'ERR something odd'),
]


@pytest.mark.parametrize('exc, cause, phrase', CASES, ids=[c[1] or 'other' for c in CASES])
def test_each_client_error_becomes_one_sentence_with_endpoint_and_cause(exc, cause, phrase):
    got_cause, msg = connection.explain(exc, '10.0.0.5', 6380, what='target')
    assert got_cause == cause
    assert phrase in msg
    assert msg.startswith('target 10.0.0.5:6380')
    assert 'Traceback' not in msg


def test_no_sentence_tells_the_user_to_raise_connect_timeout():
    for exc, dummy, dummy in CASES:
        dummy, msg = connection.explain(exc, 'h', 1)
        assert 'raise connect_timeout' not in msg


def test_a_stalled_reply_names_the_command_and_its_bound():
    cause, msg = connection.explain(exceptions.TimeoutError('Timeout reading from h'), 'h', 1, command='INFO REPLICATION',
                                    timeout=1.5)
    assert cause == 'no_answer'
    assert 'did not answer INFO REPLICATION within 1.5 s (stopped, overloaded, or not a Redis server)' in msg


def test_a_server_error_that_mentions_a_timeout_is_an_answer_not_a_stall():
    cause, msg = connection.explain(exceptions.ResponseError('ERR timeout is negative'), 'h', 1, command='WAIT')
    assert cause is None and 'ERR timeout is negative' in msg


def test_a_tls_host_name_is_not_mistaken_for_a_tls_failure():
    cause, msg = connection.explain(exceptions.ConnectionError('Error 111 connecting to tls-db:6379. Connection refused.'),
                                    'tls-db', 6379)
    assert cause == 'refused'


def test_a_closed_connection_while_connecting_without_tls_suggests_tls_and_only_then():
    closed = exceptions.ConnectionError('Connection closed by server.')
    cause, msg = connection.explain(closed, 'h', 1, params=dict(tls=False), connecting=True)
    assert cause == 'tls' and 'may expect TLS on this port. Set tls: true' in msg
    # a server that dies under a running command is not a TLS problem
    cause, msg = connection.explain(closed, 'h', 1, params=dict(tls=False), command='INFO')
    assert cause != 'tls' and 'TLS' not in msg


def test_missing_credentials_are_not_reported_as_rejected_ones():
    # redis-py raises AuthenticationError for NOAUTH too; its text can even be about HELLO
    exc = exceptions.AuthenticationError('HELLO must be called with the client already authenticated')
    cause, msg = connection.explain(exc, 'h', 1, params=dict(option_labels=dict(login_password='kvmigrate_target_password')),
                                    credentials_given=False)
    assert cause == 'auth'
    assert 'requires authentication' in msg and 'rejected' not in msg and 'HELLO' not in msg
    assert 'Set kvmigrate_target_password' in msg
    cause, msg = connection.explain(exc, 'h', 1, credentials_given=True)
    assert 'rejected the credentials' in msg


def test_option_labels_rename_the_options_in_fix_sentences():
    params = dict(option_labels=dict(login_password='kvmigrate_target_password', login_user='kvmigrate_target_user',
                                     primary_password='kvmigrate_source_password', unknown_option='ignored'))
    dummy, msg = connection.explain(exceptions.AuthenticationError('WRONGPASS'), 'h', 1, params=params)
    assert 'kvmigrate_target_user and kvmigrate_target_password' in msg and 'login_' not in msg
    dummy, msg = connection.explain(exceptions.AuthenticationError('WRONGPASS'), 'h', 1, params=params, option_prefix='primary_')
    assert 'primary_user and kvmigrate_source_password' in msg
    assert connection.option_label(params, 'login_password') == 'kvmigrate_target_password'
    assert connection.option_label(params, 'login_host') == 'login_host'
    assert connection.option_label(dict(option_labels=None), 'tls') == 'tls'
    assert connection.option_label(None, 'tls') == 'tls'


def test_option_labels_is_a_connection_option():
    assert connection.connection_argument_spec()['option_labels'] == dict(type='dict')


def test_fix_names_the_options_of_the_end_that_failed():
    dummy, msg = connection.explain(exceptions.AuthenticationError('WRONGPASS'), 'h', 1, 'source', option_prefix='primary_')
    assert 'primary_user' in msg and 'primary_password' in msg and 'login_' not in msg


def test_secrets_are_scrubbed_from_server_text():
    dummy, msg = connection.explain(exceptions.ResponseError('ERR bad value s3cret-Pw in CONFIG SET'), 'h', 1,
                                    secrets=('s3cret-Pw',))
    assert 's3cret-Pw' not in msg and '********' in msg


def test_ipv6_endpoints_are_bracketed():
    assert connection.endpoint('::1', 6379) == '[::1]:6379'
    assert connection.endpoint('10.0.0.1', 6379) == '10.0.0.1:6379'


@pytest.mark.parametrize('a, b, same', [
    (('localhost', 6379), ('127.0.0.1', 6379), True),
    (('127.0.0.1', 6379), ('127.0.0.1', 6380), False),
    (('10.1.2.3', 6379), ('10.1.2.4', 6379), False),
    ((None, 6379), ('127.0.0.1', 6379), False),
])
def test_same_endpoint_compares_resolved_addresses_and_ports(a, b, same):
    assert connection.same_endpoint(a[0], a[1], b[0], b[1]) is same


def _params(**overrides):
    full = dict(login_host='localhost', login_port=6379, connect_timeout=5.0, tls=False, ca_certs=None,
                client_cert_file=None, client_key_file=None)
    full.update(overrides)
    return full


@pytest.mark.parametrize('params, phrase', [
    (dict(login_port=0), 'login_port=0'),
    (dict(login_host=''), 'login_host is empty'),
    (dict(login_host='  '), 'login_host is empty'),
    (dict(connect_timeout=0), 'connect_timeout=0'),
    (dict(tls=True, client_cert_file='/c.pem'), 'client_cert_file and client_key_file go together'),
    (dict(ca_certs='/ca.pem'), 'tls is false'),
    (dict(connect_timeout=float('nan')), 'Option connect_timeout=nan must be a finite number'),
    (dict(connect_timeout=float('inf')), 'Option connect_timeout=inf must be a finite number'),
    (dict(timeout=float('-inf')), 'Option timeout=-inf must be a finite number'),
    (dict(login_host='a b'), "Option login_host='a b' is not a host name or address: it contains a space"),
    (dict(primary_host='db1\r\nSET x 1'), "Option primary_host='db1\\r\\nSET x 1' is not a host name or address: "
                                          "it contains a line break"),
    (dict(source_host='db\x00'), 'Option source_host=\'db\\x00\' is not a host name or address: it contains the control'),
    (dict(source_host='db\t1'), 'not a host name or address'),
    (dict(primary_host=''), 'Option primary_host is empty'),
    (dict(tls=True, ca_certs='/nonexistent/ca.pem'),
     'Option ca_certs=/nonexistent/ca.pem: no such file on the node that runs the module (%s)' % socket.gethostname()),
    (dict(tls=True, client_cert_file='/nonexistent/c.pem', client_key_file='/nonexistent/k.pem'),
     'Option client_cert_file=/nonexistent/c.pem: no such file'),
    (dict(tls=True, ca_certs='/'), 'Option ca_certs=/ is a directory'),
])
def test_bad_connection_options_fail_before_connecting(params, phrase):
    with pytest.raises(connection.KvmigrateError) as caught:
        connection.validate_connection_params(_params(**params))
    assert phrase in caught.value.msg


def test_good_options_pass_validation(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('not parsed here')
    connection.validate_connection_params(_params(login_host='db-1.example.com', primary_host='10.0.0.5', primary_port=6380,
                                                  source_host=None, timeout=3600.0, tls=True, ca_certs=str(ca)))
    connection.validate_connection_params(_params(login_host='::1'))


def test_validation_sentences_use_option_labels():
    labels = dict(login_host='kvmigrate_target_host', connect_timeout='kvmigrate_connect_timeout',
                  ca_certs='kvmigrate_ca_certs')
    for params, phrase in ((dict(login_host='a b'), "Option kvmigrate_target_host='a b'"),
                           (dict(connect_timeout=math.nan), 'Option kvmigrate_connect_timeout=nan'),
                           (dict(connect_timeout=-1.0), 'Option kvmigrate_connect_timeout=-1.0'),
                           (dict(tls=True, ca_certs='/nonexistent.pem'), 'Option kvmigrate_ca_certs=/nonexistent.pem')):
        with pytest.raises(connection.KvmigrateError) as caught:
            connection.validate_connection_params(_params(option_labels=labels, **params))
        assert phrase in caught.value.msg
