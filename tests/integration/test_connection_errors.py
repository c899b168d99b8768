"""Connection failures on real servers and sockets (issue 11, section 6): every connect phase and every reply is
bounded, and the error names the real cause (no TLS on this port, no answer, authentication required) in the words
of the options the user sets, never "raise connect_timeout" and never a password.

Durations are behaviour bounds (a 1 s setting must not take a minute), not benchmarks: the upper bounds are loose.
"""
import os
import signal
import socket
import threading
import time

import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import connection
from tests.support.tls import TlsRedisServer, make_pki

LABELS = dict(login_password='kvmigrate_target_password', login_user='kvmigrate_target_user',
              login_host='kvmigrate_target_host', login_port='kvmigrate_target_port', tls='kvmigrate_tls',
              connect_timeout='kvmigrate_connect_timeout')


def _params(host, port, **overrides):
    params = dict(login_host=host, login_port=port, login_user=None, login_password=None, tls=False, validate_certs=True,
                  ca_certs=None, client_cert_file=None, client_key_file=None, connect_timeout=1.0, option_labels=None)
    params.update(overrides)
    return params


def _timed(call):
    started = time.monotonic()
    try:
        result = call()
    finally:
        elapsed = time.monotonic() - started
    return result, elapsed


def _fails(call):
    """(KvmigrateError, seconds) of a call that must fail with a sentence."""
    started = time.monotonic()
    with pytest.raises(connection.KvmigrateError) as caught:
        call()
    return caught.value, time.monotonic() - started


def _clean(result):
    output = result['_stdout'] + result['_stderr']
    assert 'Traceback' not in output
    assert 'raise connect_timeout' not in result['msg']
    return output


@pytest.fixture
def silent_listener():
    """A TCP listener that accepts connections and never sends a byte (a wrong port, a hung proxy)."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    for sock in accepted:
        sock.close()
    listener.close()


def test_tls_against_a_plain_port_fails_within_connect_timeout_naming_missing_tls(redis_bin, start_server, run_module):
    server = start_server(binary=redis_bin)
    error, elapsed = _fails(lambda: connection.connect(_params(server.host, server.port, tls=True, validate_certs=False)))
    assert error.cause == 'tls'
    assert 'no TLS on this port?' in error.msg and 'Set tls: false' in error.msg, error.msg
    assert elapsed < 8, elapsed

    result, elapsed = _timed(lambda: run_module('replication_info', dict(login_host=server.host, login_port=server.port,
                                                                         tls=True, connect_timeout=1,
                                                                         option_labels=LABELS)))
    assert result['rc'] == 1 and elapsed < 15, (elapsed, result['msg'])
    _clean(result)
    assert 'server 127.0.0.1:%d: no TLS on this port?' % server.port in result['msg']
    assert 'Set kvmigrate_tls: false, or point kvmigrate_target_port at the server' in result['msg'], result['msg']


def test_plain_connection_to_a_tls_only_port_names_tls(tmp_path):
    server = TlsRedisServer(make_pki(str(tmp_path)), name='tlsonly').start()
    try:
        error, elapsed = _fails(lambda: connection.connect(_params(server.host, server.port)))
        assert error.cause == 'tls', error.msg
        assert 'may expect TLS on this port. Set tls: true' in error.msg, error.msg
        assert elapsed < 8, elapsed
    finally:
        server.stop()


def test_a_listener_that_never_answers_fails_within_connect_timeout(silent_listener, run_module):
    port, accepted = silent_listener
    error, elapsed = _fails(lambda: connection.connect(_params('127.0.0.1', port)))
    assert accepted, 'the listener never saw the connection'
    assert error.cause == 'no_answer'
    assert 'server 127.0.0.1:%d accepted the connection but did not answer PING within 1 s' % port in error.msg, error.msg
    assert elapsed < 8, elapsed

    result, elapsed = _timed(lambda: run_module('replication_info', dict(login_host='127.0.0.1', login_port=port,
                                                                         connect_timeout=1)))
    assert result['rc'] == 1 and elapsed < 15, (elapsed, result['msg'])
    _clean(result)
    assert 'accepted the connection but did not answer PING within 1 s' in result['msg'], result['msg']


def test_a_server_stopped_after_connect_fails_the_next_call_within_read_timeout(redis_bin, start_server):
    server = start_server(binary=redis_bin)
    client = connection.connect(_params(server.host, server.port, connect_timeout=5.0))
    # the default bound once connected: finite, at least connect_timeout
    assert client.read_timeout == max(5.0, connection.DEFAULT_READ_TIMEOUT)
    assert client.call('PING') is True
    client.read_timeout = 1
    bounded = connection.connect(_params(server.host, server.port), command_timeout=0.5)
    assert bounded.read_timeout == 0.5
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        error, elapsed = _fails(lambda: client.call('INFO', 'replication'))
        assert error.cause == 'no_answer'
        assert 'did not answer INFO REPLICATION within 1 s (stopped, overloaded, or not a Redis server)' in error.msg
        assert elapsed < 8, elapsed
        # a per-call bound overrides read_timeout for that call only
        error, elapsed = _fails(lambda: client.call('DBSIZE', timeout=0.5))
        assert error.cause == 'no_answer' and 'within 0.5 s' in error.msg, error.msg
        assert elapsed < 8, elapsed
        # a bounded connection keeps its bound even for commands that are otherwise given COMMAND_TIMEOUT
        error, elapsed = _fails(lambda: bounded.call('REPLICAOF', 'NO', 'ONE'))
        assert error.cause == 'no_answer' and 'did not answer REPLICAOF NO within 0.5 s' in error.msg, error.msg
        assert elapsed < 8, elapsed
        # so does a server stopped before the connection is set up
        error, elapsed = _fails(lambda: connection.connect(_params(server.host, server.port)))
        assert error.cause == 'no_answer' and 'did not answer PING within 1 s' in error.msg, error.msg
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    # the connection comes back by itself, with the same bound
    assert client.call('PING') is True
    assert client.read_timeout == 1.0
    client.close()
    bounded.close()


def test_missing_password_says_authentication_is_required_naming_the_label(redis_bin, start_server, run_module):
    server = start_server(binary=redis_bin, password='ce-Required-Secret-1')
    result = run_module('replication_info', dict(login_host=server.host, login_port=server.port, option_labels=LABELS))
    assert result['rc'] == 1
    _clean(result)
    assert 'server 127.0.0.1:%d requires authentication' % server.port in result['msg'], result['msg']
    assert 'rejected' not in result['msg']
    assert 'Set kvmigrate_target_password (and kvmigrate_target_user for an ACL user)' in result['msg'], result['msg']
    assert 'login_password' not in result['msg']


def test_wrong_password_names_the_labels_and_never_the_password(start_server, run_module):
    server = start_server(password='ce-Right-Secret-2')
    wrong = 'ce-Wrong-Secret-3'
    result = run_module('replication_info', dict(login_host=server.host, login_port=server.port, login_password=wrong,
                                                 option_labels=LABELS))
    assert result['rc'] == 1
    output = _clean(result)
    assert 'rejected the credentials' in result['msg']
    assert 'Check kvmigrate_target_user and kvmigrate_target_password' in result['msg'], result['msg']
    assert wrong not in output and server.password not in output


def test_a_missing_ca_file_is_named_as_a_file_not_a_connection_error(start_server, run_module, tmp_path):
    server = start_server()
    missing = str(tmp_path / 'no-such-ca.pem')
    result = run_module('replication_info', dict(login_host=server.host, login_port=server.port, tls=True,
                                                 ca_certs=missing))
    assert result['rc'] == 1
    _clean(result)
    assert 'Option ca_certs=%s: no such file on the node that runs the module (%s)' % (missing, socket.gethostname()) \
        in result['msg'], result['msg']
    assert 'TLS handshake' not in result['msg'] and '127.0.0.1:%d' % server.port not in result['msg']


@pytest.mark.parametrize('option, value, problem', [
    ('login_host', 'redis one', 'it contains a space'),
    ('login_host', '127.0.0.1\r\n', 'it contains a line break'),
    ('primary_host', 'db1\r\nFLUSHALL', 'it contains a line break'),
    ('primary_host', ' ', None),
])
def test_a_host_with_spaces_or_line_breaks_is_refused_before_anything_is_touched(option, value, problem, start_server,
                                                                                 run_module):
    target = start_server(name='tgt')
    args = dict(login_host=target.host, login_port=target.port, primary_host='127.0.0.1', primary_port=target.port + 1,
                state='replica')
    args[option] = value
    result = run_module('replicaof', args)
    assert result['rc'] == 1 and result.get('changed') is not True
    _clean(result)
    if problem:
        assert 'Option %s=%r is not a host name or address: %s' % (option, value, problem) in result['msg'], result['msg']
    else:
        assert 'Option %s is empty' % option in result['msg'], result['msg']
    replication = target.client().info('replication')
    assert replication['role'] == 'master'


@pytest.mark.parametrize('module, option, value', [
    ('replication_info', 'connect_timeout', float('nan')),
    ('replication_info', 'connect_timeout', float('inf')),
    ('wait_for_sync', 'timeout', float('inf')),
])
def test_non_finite_numbers_are_refused_naming_the_option(module, option, value, start_server, run_module):
    server = start_server()
    result, elapsed = _timed(lambda: run_module(module, {'login_host': server.host, 'login_port': server.port,
                                                         option: value}))
    assert result['rc'] == 1
    _clean(result)
    assert 'Option %s=%s must be a finite number' % (option, value) in result['msg'], result['msg']
    assert elapsed < 30


def test_an_enterprise_url_with_a_space_is_refused_in_one_sentence(run_module):
    result = run_module('enterprise_replica_of', dict(cluster_url='https://cluster .example.com:9443', cluster_user='admin',
                                                      cluster_password='ce-Cluster-Secret-4', database_uid=1))
    assert result['rc'] == 1
    output = _clean(result)
    assert result['msg'].startswith("Option cluster_url='https://cluster .example.com:9443' contains a space"), result['msg']
    assert 'ce-Cluster-Secret-4' not in output


@pytest.mark.parametrize('option', ['request_timeout', 'change_timeout'])
def test_enterprise_float_options_refuse_non_finite_numbers(option, run_module):
    args = dict(cluster_url='https://cluster.example.com:9443', cluster_user='admin', cluster_password='ce-Cluster-Secret-5',
                database_uid=1)
    args[option] = float('nan')
    result = run_module('enterprise_replica_of', args)
    assert result['rc'] == 1
    output = _clean(result)
    assert 'Option %s=nan must be a finite number' % option in result['msg'], result['msg']
    assert 'ce-Cluster-Secret-5' not in output


def test_a_claim_survives_the_reconnect_redis_py_makes_after_a_dropped_connection(start_server):
    server = start_server()
    params = dict(login_host=server.host, login_port=server.port, login_user=None, login_password=None, tls=False,
                  validate_certs=True, ca_certs=None, client_cert_file=None, client_key_file=None, connect_timeout=2.0)
    claimed = connection.connect(params, what='target')

    def names():
        return [c['name'] for c in server.client().client_list() if c['name'].startswith('kvmigrate-op:')]

    try:
        connection.claim_operation(claimed, 'replicaof')
        assert len(names()) == 1
        # the server drops the claimed connection (as after a read that timed out); the next command reconnects
        server.client().execute_command('CLIENT', 'KILL', 'SKIPME', 'yes', 'TYPE', 'normal')
        claimed.call('PING')
        assert len(names()) == 1, 'the reconnected connection lost its claim'
        other = connection.connect(params, what='target')
        try:
            with pytest.raises(connection.KvmigrateError) as raised:
                connection.claim_operation(other, 'replicaof')
            assert raised.value.cause == 'in_flight'
        finally:
            other.close()
    finally:
        claimed.close()
