"""Error sentences and address comparison in module_utils/connection.py (no server needed)."""
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
    (exceptions.TimeoutError('Timeout connecting to server'), 'timeout', 'did not answer in time'),
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


@pytest.mark.parametrize('params, phrase', [
    (dict(login_port=0), 'login_port=0'),
    (dict(login_host=''), 'login_host is empty'),
    (dict(connect_timeout=0), 'connect_timeout=0'),
    (dict(tls=True, client_cert_file='/c.pem'), 'client_cert_file and client_key_file go together'),
    (dict(ca_certs='/ca.pem'), 'tls is false'),
])
def test_bad_connection_options_fail_before_connecting(params, phrase):
    full = dict(login_host='localhost', login_port=6379, connect_timeout=5.0, tls=False, ca_certs=None,
                client_cert_file=None, client_key_file=None)
    full.update(params)
    with pytest.raises(connection.KvmigrateError) as caught:
        connection.validate_connection_params(full)
    assert phrase in caught.value.msg
