# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connections to Redis-protocol servers: the shared argspec, the client
factory, and the translation of every client error into one sentence that
names the endpoint, the cause and the fix (never a traceback, never a secret).

The options documented by ``doc_fragments/connection.py`` are defined here and
nowhere else.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import math
import os
import socket
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils

REDIS_IMPORT_ERROR = None
try:
    import redis
    from redis import exceptions as redis_exceptions
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only where redis-py is missing
    redis = None
    redis_exceptions = None
    REDIS_IMPORT_ERROR = traceback.format_exc()


def _quiet_connect_options():
    """The redis-py options that leave out what a connection would send or read beyond the handshake: CLIENT SETINFO
    (library name and version, read from the package metadata for each new connection: 14 % of a module's CPU in a
    profile of a migrate.yml run) and CLIENT MAINT_NOTIFICATIONS (Redis Enterprise and Redis Cloud maintenance notices, which a module
    that runs for seconds has no use for). Each option only where this redis-py has it."""
    if redis is None:
        return {}
    try:
        from inspect import signature
        parameters = signature(redis.connection.AbstractConnection.__init__).parameters
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - redis-py older than 4.x
        return {}
    options = {}
    if 'driver_info' in parameters:
        options['driver_info'] = None  # redis-py with DriverInfo (late 2025 on): None sends no CLIENT SETINFO
    elif 'lib_name' in parameters:
        options.update(lib_name=None, lib_version=None)  # from redis-py 5.0, which added CLIENT SETINFO, until then
    if 'maint_notifications_config' in parameters:
        from redis.maint_notifications import MaintNotificationsConfig
        options['maint_notifications_config'] = MaintNotificationsConfig(enabled=False)
    return options


QUIET_CONNECT_OPTIONS = _quiet_connect_options()

# The bound for commands known to be slow: REPLICAOF on Dragonfly connects to the primary before it answers (up to
# --master_connect_timeout_ms, 20 s by default), so this must be longer than that. Callers pass it (or their own
# bound, such as REPLTAKEOVER's) as Server.call(..., timeout=).
COMMAND_TIMEOUT = 60.0
# The bound for every other reply once connected: far above what INFO, CONFIG or ROLE take on a loaded server, short
# enough that a stopped server (SIGSTOP, a VM paused, a listener that is not Redis) fails a task in seconds, not a minute.
DEFAULT_READ_TIMEOUT = 10.0
# Commands that may legitimately block longer than DEFAULT_READ_TIMEOUT when a caller gives no timeout of its own.
SLOW_COMMANDS = frozenset(('REPLICAOF', 'SLAVEOF', 'REPLTAKEOVER', 'FLUSHALL', 'FLUSHDB', 'SAVE'))


def connection_argument_spec():
    """The ``login_*``/TLS options every module takes (doc fragment ``connection``)."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=6379),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_certs=dict(type='path'),
        client_cert_file=dict(type='path'),
        client_key_file=dict(type='path'),
        connect_timeout=dict(type='float', default=5.0),
        option_labels=dict(type='dict'),
    )


def primary_auth_argument_spec():
    """Credentials of the primary (source) end, shared by ``replicaof`` and ``wait_for_sync``."""
    return dict(
        primary_user=dict(type='str', aliases=['master_user']),
        primary_password=dict(type='str', no_log=True, aliases=['master_password']),
    )


class KvmigrateError(Exception):
    """An error whose message is already a sentence fit for ``msg``."""

    def __init__(self, msg, cause=None, **details):
        super(KvmigrateError, self).__init__(msg)
        self.msg = msg
        # refused, timeout, no_answer, auth, permission, tls, dns, unreachable, loading, in_flight or None
        self.cause = cause
        self.details = details


def require_redis(module):
    if redis is None:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)


def option_label(params, option):
    """The name an error's fix sentence gives ``option``: its ``option_labels`` entry (say, the inventory variable a
    role sets it from), else the module option itself."""
    labels = (params or {}).get('option_labels') or {}
    label = labels.get(option) if isinstance(labels, dict) else None
    return str(label) if label else option


def validate_port(value, option, params=None):
    if value is None or not 1 <= int(value) <= 65535:
        raise KvmigrateError("Option %s=%s is not a TCP port: use a number from 1 to 65535." % (option_label(params, option), value))


def _host_problem(value):
    """Why ``value`` cannot be a host name or address, or None. Resolvers and redis-py would turn these into a
    confusing DNS error, or a CR/LF into a second line of a command."""
    if not value.strip():
        return 'it is empty'
    for char in value:
        if char in '\r\n':
            return 'it contains a line break'
        if ord(char) < 32 or ord(char) == 127:
            return 'it contains the control character %r' % char
        if char.isspace():
            return 'it contains a space'
    return None


def _check_file(params, option):
    path = params.get(option)
    if not path:
        return
    label = option_label(params, option)
    node = socket.gethostname()
    if not os.path.exists(path):
        raise KvmigrateError("Option %s=%s: no such file on the node that runs the module (%s); copy the file there or "
                             "fix the path." % (label, path, node))
    if os.path.isdir(path):
        raise KvmigrateError("Option %s=%s is a directory on the node that runs the module (%s): name the PEM file "
                             "itself." % (label, path, node))
    if not os.access(path, os.R_OK):
        raise KvmigrateError("Option %s=%s is not readable on the node that runs the module (%s): give the user that "
                             "runs the module read access to it." % (label, path, node))


def validate_finite(params):
    """YAML's .nan and .inf pass the argspec as floats; a wait with timeout=.nan would never end."""
    for option in sorted(params):
        value = params[option]
        if isinstance(value, float) and not math.isfinite(value):
            raise KvmigrateError("Option %s=%s must be a finite number: set a plain number such as 5." % (
                option_label(params, option), value))


def validate_connection_params(params):
    """Checks that need no connection, so bad input fails before anything is touched. Every module calls it with
    all its params: the float and ``*_host`` checks cover the module's own options too."""
    validate_finite(params)
    for option in sorted(params):
        value = params[option]
        if option.endswith('_host') and value is not None:
            problem = _host_problem(str(value))
            if problem == 'it is empty':
                raise KvmigrateError("Option %s is empty: set it to the server's address." % option_label(params, option))
            if problem:
                raise KvmigrateError("Option %s=%r is not a host name or address: %s; set a name such as db1.example.com "
                                     "or an address such as 10.0.0.5." % (option_label(params, option), str(value), problem))
    validate_port(params['login_port'], 'login_port', params)
    if not params['login_host']:
        raise KvmigrateError("Option %s is empty: set it to the server's address." % option_label(params, 'login_host'))
    if params['connect_timeout'] is not None and params['connect_timeout'] <= 0:
        raise KvmigrateError("Option %s=%s must be a positive number of seconds." % (
            option_label(params, 'connect_timeout'), params['connect_timeout']))
    if bool(params.get('client_cert_file')) != bool(params.get('client_key_file')):
        raise KvmigrateError("Options %s and %s go together: set both or neither." % (
            option_label(params, 'client_cert_file'), option_label(params, 'client_key_file')))
    if not params['tls']:
        for option in ('ca_certs', 'client_cert_file', 'client_key_file'):
            if params.get(option):
                raise KvmigrateError("Option %s is set but %s is false: set %s: true to use it." % (
                    option_label(params, option), option_label(params, 'tls'), option_label(params, 'tls')))
    for option in ('ca_certs', 'client_cert_file', 'client_key_file'):
        _check_file(params, option)


def endpoint(host, port):
    host = str(host)
    if ':' in host and not host.startswith('['):
        return '[%s]:%s' % (host, port)
    return '%s:%s' % (host, port)


def _scrub(text, secrets):
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, '********')
    return text


# OpenSSL's words for "the peer does not speak TLS": a plain Redis port answers a ClientHello with an error line.
_NOT_TLS_PHRASES = ('wrong version number', 'record layer failure', 'packet length too long', 'unknown protocol',
                    'http request', 'record_layer_failure')


class TlsHandshakeStalled(redis_exceptions.RedisError if redis_exceptions is not None else Exception):
    """The server accepted TCP but did not complete a TLS handshake within the bound (a plain port waits for a
    line that a ClientHello never ends). A RedisError, so redis-py closes the socket; not a ConnectionError, so
    nothing retries it."""


if redis is not None:
    class _TlsConnection(redis.SSLConnection):
        """redis-py's TLS connection, telling a stalled handshake apart from a TCP connect that timed out: redis-py
        reports both as 'Timeout connecting to server', and only the first one means 'no TLS on this port'."""

        def _wrap_socket_with_ssl(self, sock):
            try:
                return super(_TlsConnection, self)._wrap_socket_with_ssl(sock)
            except socket.timeout:
                raise TlsHandshakeStalled('no TLS handshake within %g s' % self.socket_timeout)


def _seconds(value):
    return '%g' % value if value is not None else '?'


def explain(exc, host, port, what='server', secrets=(), option_prefix='login_', params=None, credentials_given=True,
            command='PING', timeout=None, connecting=False):
    """(cause, sentence) for a client exception: which endpoint, what failed, how to fix it.

    ``params`` gives ``tls``/``connect_timeout`` and the ``option_labels`` the fix names; ``credentials_given`` tells
    a missing password from a wrong one (redis-py raises AuthenticationError for both); ``command`` and ``timeout``
    name what went unanswered and for how long; ``connecting`` says the error came while opening the connection."""
    params = params or {}
    where = '%s %s' % (what, endpoint(host, port))
    detail = _scrub(exc, secrets).strip().rstrip('.')
    lowered = detail.lower()
    # option_prefix names the options the fix should mention: a prefix ('login_', 'primary_') or, where an end's
    # address and credentials come from differently named options, a dict {'user': ..., 'host': ...}.
    if isinstance(option_prefix, dict):
        names = [option_prefix[o] for o in ('user', 'password', 'host', 'port')]
    else:
        names = ['%s%s' % (option_prefix, o) for o in ('user', 'password', 'host', 'port')]
    user, password, host_opt, port_opt = (option_label(params, name) for name in names)
    tls_opt = option_label(params, 'tls')
    connect_timeout = params.get('connect_timeout') or 5.0
    is_auth_error = redis_exceptions is not None and isinstance(exc, redis_exceptions.AuthenticationError)
    if is_auth_error and not credentials_given:
        # The server's own text here can be about HELLO, which would send the reader the wrong way.
        return 'auth', "%s requires authentication, and no password was given. Set %s (and %s for an ACL user)." % (
            where, password, user)
    if 'noauth' in lowered or 'authentication required' in lowered:
        return 'auth', "%s requires authentication (%s). Set %s (and %s for an ACL user)." % (where, detail, password, user)
    if is_auth_error or 'wrongpass' in lowered or 'invalid password' in lowered or 'invalid username-password' in lowered:
        return 'auth', "%s rejected the credentials (%s). Check %s and %s." % (where, detail, user, password)
    if 'noperm' in lowered or 'no permissions' in lowered:
        return 'permission', ("%s refused a command for lack of permission (%s). Grant the ACL user the commands listed "
                              "in docs/security.md, or use another user." % (where, detail))
    # Before the TLS checks: a host name such as tls-db.example must not read as a TLS failure.
    if 'name or service not known' in lowered or 'nodename nor servname' in lowered or \
            'temporary failure in name' in lowered or 'no address associated' in lowered:
        return 'dns', "%s: the host name does not resolve (%s). Check %s." % (where, detail, host_opt)
    if 'connection refused' in lowered or 'error 111' in lowered:
        return 'refused', ("%s refused the connection (%s): no server listens there. Check %s/%s and that the server "
                           "runs." % (where, detail, host_opt, port_opt))
    if isinstance(exc, TlsHandshakeStalled):
        return 'tls', ("%s: no TLS on this port? The server accepted TCP but did not complete a TLS handshake within %s s. "
                       "Set %s: false, or point %s at the server's TLS port." % (
                           where, _seconds(timeout if timeout is not None else connect_timeout), tls_opt, port_opt))
    if any(phrase in lowered for phrase in _NOT_TLS_PHRASES):
        return 'tls', ("%s: no TLS on this port? The server accepted TCP but answered the TLS handshake with bytes that "
                       "are not TLS (%s). Set %s: false, or point %s at the server's TLS port." % (
                           where, detail, tls_opt, port_opt))
    if 'ssl' in lowered or 'certificate' in lowered or 'tls' in lowered:
        return 'tls', ("%s: TLS handshake failed (%s). Check %s, %s, %s/%s and that the server listens with TLS on that "
                       "port." % (where, detail, tls_opt, option_label(params, 'ca_certs'),
                                  option_label(params, 'client_cert_file'), option_label(params, 'client_key_file')))
    if connecting and not params.get('tls', True) and (
            'closed by server' in lowered or 'protocol error' in lowered or 'connection reset' in lowered
            or (redis_exceptions is not None and isinstance(exc, redis_exceptions.InvalidResponse))):
        # A TLS-only port takes the plain command as a broken handshake: it closes the connection or sends a TLS alert.
        return 'tls', ("%s closed the connection or answered with bytes that are not Redis protocol (%s): it may "
                       "expect TLS on this port. Set %s: true, or point %s at the server's plain port." % (
                           where, detail, tls_opt, port_opt))
    if 'timeout connecting' in lowered:
        return 'timeout', ("%s did not accept a TCP connection within %s s (host down, or a firewall drops the packets). "
                           "Check %s/%s and the network path from the node that runs the module." % (
                               where, _seconds(connect_timeout), host_opt, port_opt))
    # Only the client's own timeouts: a server reply that mentions a timeout (say, an error about WAIT) is an answer.
    if (redis_exceptions is not None and isinstance(exc, redis_exceptions.TimeoutError)) or 'timed out' in lowered \
            or 'timeout reading' in lowered or 'timeout writing' in lowered:
        return 'no_answer', ("%s accepted the connection but did not answer %s within %s s (stopped, overloaded, or not "
                             "a Redis server). Check that a Redis-protocol server runs at %s/%s and is not paused or "
                             "swamped." % (where, command, _seconds(timeout if timeout is not None else connect_timeout),
                                           host_opt, port_opt))
    if 'unreachable' in lowered or 'no route' in lowered:
        return 'unreachable', ("%s is unreachable (%s). Check routing and firewalls between the control node and the "
                               "server." % (where, detail))
    if 'loading' in lowered:
        return 'loading', "%s is loading its dataset into memory (%s). Retry when it has finished." % (where, detail)
    return None, "%s: %s (%s)." % (where, detail, type(exc).__name__)


def _client(host, port, username, password, params, handshake_timeout, retry):
    """A redis-py client on one connection (so one socket timeout governs every read), already connected: TCP
    connect, TLS handshake and the connection's first commands are bounded as the caller says."""
    kwargs = dict(
        host=host,
        port=int(port),
        username=username or None,
        password=password or None,
        socket_connect_timeout=params.get('connect_timeout') or 5.0,
        socket_timeout=handshake_timeout,
        decode_responses=True,
        client_name='kvmigrate',
        retry=retry,
        **QUIET_CONNECT_OPTIONS
    )
    if params.get('tls'):
        kwargs.update(
            connection_class=_TlsConnection,
            ssl_cert_reqs='required' if params.get('validate_certs', True) else 'none',
            ssl_check_hostname=bool(params.get('validate_certs', True)),
            ssl_ca_certs=params.get('ca_certs'),
            ssl_certfile=params.get('client_cert_file'),
            ssl_keyfile=params.get('client_key_file'),
        )
    pool = redis.ConnectionPool(**kwargs)
    try:
        client = redis.Redis(connection_pool=pool, single_connection_client=True)
    except BaseException:
        pool.disconnect()
        raise
    # The pool is this client's alone: closing the client closes its socket (as Redis.from_pool does).
    client.auto_close_connection_pool = True
    # Keep INFO as the server's text: the collection's own parser (info.py)
    # understands every flavor, and the raw text is returned to users.
    client.set_response_callback('INFO', lambda response, **kw: response)
    return client


class Server(object):
    """One connected server: a redis-py client on a single connection plus what the collection knows about it.

    ``read_timeout`` (seconds, settable) bounds every reply, also those read through ``client``; ``call(...,
    timeout=)`` bounds one reply differently."""

    def __init__(self, client, host, port, what, secrets, params=None, read_timeout=DEFAULT_READ_TIMEOUT,
                 credentials_given=True, option_prefix='login_', slow_command_timeout=COMMAND_TIMEOUT):
        self.client = client
        self.host = host
        self.port = int(port)
        self.what = what
        self._secrets = secrets
        self._params = params or {}
        self._credentials_given = credentials_given
        self._option_prefix = option_prefix
        # None on a bounded connection (connect(command_timeout=)): there every command keeps the caller's bound.
        self._slow_command_timeout = slow_command_timeout
        self.flavor = None
        self.version = None
        self._server_fields = {}
        self._read_timeout = None
        self.read_timeout = read_timeout

    @property
    def endpoint(self):
        return endpoint(self.host, self.port)

    @property
    def read_timeout(self):
        return self._read_timeout

    @read_timeout.setter
    def read_timeout(self, seconds):
        self._read_timeout = float(seconds)
        self._bound_reads(self._read_timeout)

    def _bound_reads(self, seconds):
        connection = self.client.connection
        # socket_timeout outlives a reconnect (redis-py applies it to every new socket); the live socket needs its own.
        connection.socket_timeout = seconds
        connection.update_current_socket_timeout(seconds)

    def explain(self, exc, command, timeout=None):
        """(cause, sentence) for an error of this server, in the words of the options that reached it."""
        return explain(exc, self.host, self.port, self.what, self._secrets, self._option_prefix, self._params,
                       self._credentials_given, command, self._read_timeout if timeout is None else timeout)

    def call(self, *args, timeout=None):
        """Run one command, waiting at most ``timeout`` s for the reply (default ``read_timeout``; COMMAND_TIMEOUT
        for SLOW_COMMANDS unless the connection is bounded); any client error becomes a KvmigrateError naming this
        server."""
        name = str(args[0]).upper() if args else ''
        if timeout is None and name in SLOW_COMMANDS and self._slow_command_timeout:
            timeout = max(self._slow_command_timeout, self._read_timeout)
        bound = self._read_timeout if timeout is None else float(timeout)
        if bound != self._read_timeout:
            self._bound_reads(bound)
        try:
            return self.client.execute_command(*args)
        except Exception as exc:  # redis-py raises many types; all become one clear sentence
            command = ' '.join(str(a) for a in args[:2]).upper()
            cause, msg = self.explain(exc, command, bound)
            if cause != 'no_answer':
                msg = '%s (while running %s)' % (msg, command)
            raise KvmigrateError(msg, cause=cause)
        finally:
            if bound != self._read_timeout:
                self._bound_reads(self._read_timeout)

    def info_text(self, section=None):
        return self.call('INFO', section) if section else self.call('INFO')

    def identify(self):
        """Read INFO server once and remember flavor and version."""
        self._server_fields = info_utils.parse_info(self.info_text('server'))
        self.flavor, self.version = info_utils.detect_flavor(self._server_fields)
        return self.flavor, self.version

    def role(self):
        try:
            return self.client.execute_command('ROLE')
        except Exception:  # ROLE is optional; INFO alone is enough where it fails
            return None

    def status(self, full=False):
        """(raw text, flat fields, normalised replication status) of INFO: every
        section when ``full``, else only replication (cheap enough to poll).
        Dragonfly also answers ROLE, the only place it says a full sync ended."""
        if self.flavor is None:
            self.identify()
        text = self.info_text() if full else self.info_text('replication')
        fields = dict(self._server_fields)
        fields.update(info_utils.parse_info(text))
        role_reply = self.role() if self.flavor == 'dragonfly' else None
        return text, fields, info_utils.replication_status(fields, role_reply=role_reply)

    def replication(self):
        """The normalised replication status alone (``status()``'s third part): role, primary, link, offsets."""
        return self.status()[2]

    def config_file(self):
        """The configuration file the server was started with (INFO server ``config_file``), '' when none: without
        one, CONFIG REWRITE cannot save anything and a restart forgets every CONFIG SET."""
        return info_utils.parse_info(self.info_text('server')).get('config_file') or ''

    def config_get(self, name):
        reply = self.call('CONFIG', 'GET', name)
        if isinstance(reply, dict):
            return reply.get(name)
        if isinstance(reply, (list, tuple)) and len(reply) >= 2:
            return reply[1]
        return None

    def link_credentials(self):
        """(masteruser, masterauth) this server's replication link uses: '' for one that is not set (the link then
        sends no AUTH), (None, None) only where CONFIG is denied (a least-privilege user). The password is remembered
        as a secret to scrub."""
        try:
            user = self.config_get('masteruser') or ''
            password = self.config_get('masterauth') or ''
        except KvmigrateError:
            return None, None
        if password:
            self._secrets = tuple(self._secrets) + (password,)
        return user, password

    def replication_link_address(self):
        """The local IP of this replica's connection to its primary (``laddr`` of the ``type=master`` client, Redis
        6.2+): the address the primary lists it by, whichever address the module reached it at. None if unknown."""
        try:
            clients = parse_client_list(self.call('CLIENT', 'LIST', 'TYPE', 'master'))
        except KvmigrateError:
            return None
        for client in clients:
            laddr = client.get('laddr') or ''
            if ':' in laddr:
                return laddr.rsplit(':', 1)[0].strip('[]')
        return None

    def key_count(self):
        """Keys in every database, from INFO keyspace. DBSIZE counts only the selected database (db 0), and a full
        sync discards all of them: every decision about data that would be lost, and every key comparison, uses this."""
        return info_utils.keyspace(info_utils.parse_info(self.info_text('keyspace')))['dbsize']

    def keys_at_offset(self):
        """(keys in every database, replication offset) from one INFO, whose default sections hold both, so that they
        describe the same moment (no MULTI: the least-privilege ACL user of docs/security.md needs no more commands).
        The offset is ``master_repl_offset``, which on a Redis-family replica is the offset it has applied. Dragonfly
        keeps its offsets per shard: there the keys alone, with offset None."""
        if self.flavor is None:
            self.identify()
        if self.flavor == info_utils.FLAVOR_DRAGONFLY:
            return self.key_count(), None
        fields = info_utils.parse_info(self.info_text())
        offset = fields.get('master_repl_offset')
        return (info_utils.keyspace(fields)['dbsize'],
                int(offset) if offset is not None and str(offset).lstrip('-').isdigit() else None)

    def close(self):
        try:
            self.client.close()
        except Exception:  # closing a broken connection must never mask the real error
            pass


def connect(params, host=None, port=None, username=None, password=None, what='server', secrets=(), option_prefix='login_',
            command_timeout=None):
    """Open a connection and PING it. ``params`` carries the TLS/timeout options;
    host/port/credentials default to the ``login_*`` options.

    TCP connect, TLS handshake and each reply of the connection's set-up and PING are bounded by ``connect_timeout``;
    then every reply by ``read_timeout`` (``command_timeout`` when given, which also turns off redis-py's retries;
    else the larger of connect_timeout and DEFAULT_READ_TIMEOUT)."""
    host = params['login_host'] if host is None else host
    port = params['login_port'] if port is None else port
    if username is None and password is None and option_prefix == 'login_':
        username, password = params.get('login_user'), params.get('login_password')
    all_secrets = tuple(s for s in (password, params.get('login_password'), params.get('primary_password')) if s) + tuple(secrets)
    connect_timeout = params.get('connect_timeout') or 5.0
    setup_timeout = min(connect_timeout, command_timeout) if command_timeout else connect_timeout
    # redis-py 6+ retries a failed connect or command many times with exponential backoff: a refused connection took
    # about 5 s, and polls of a dead source overran wait_for_sync's link_down_timeout fourfold. One immediate retry
    # (not of timeouts) still rides over a connection the server closed; a bounded command must fail once.
    retry = Retry(NoBackoff(), 0) if command_timeout else Retry(NoBackoff(), 1, supported_errors=(redis_exceptions.ConnectionError,))
    credentials_given = bool(username or password)
    client = None
    try:
        client = _client(host, port, username, password, params, setup_timeout, retry)
        client.ping()
    except Exception as exc:  # translated into one sentence; the traceback would only hide it
        if client is not None:
            client.close()
        cause, msg = explain(exc, host, port, what, all_secrets, option_prefix, params, credentials_given, 'PING', setup_timeout,
                             connecting=True)
        raise KvmigrateError(msg, cause=cause)
    return Server(client, host, port, what, all_secrets, params=params,
                  read_timeout=command_timeout or max(connect_timeout, DEFAULT_READ_TIMEOUT),
                  credentials_given=credentials_given, option_prefix=option_prefix,
                  slow_command_timeout=None if command_timeout else COMMAND_TIMEOUT)


class Endpoint(object):
    """One end a module reaches: its address, the credentials it logs in with, what it is called in messages, and the
    options an error's fix names (``option_prefix``, see ``explain``)."""

    def __init__(self, host, port, user=None, password=None, what='server', option_prefix='login_'):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.what = what
        self.option_prefix = option_prefix

    @property
    def endpoint(self):
        return endpoint(self.host, self.port)

    def connect(self, params, secrets=(), command_timeout=None, connector=None):
        """A connected Server for this end (``connector`` defaults to ``connect``; the unit tests pass their own)."""
        return (connector or connect)(params, host=self.host, port=self.port, username=self.user, password=self.password,
                                      what=self.what, secrets=secrets, option_prefix=self.option_prefix,
                                      command_timeout=command_timeout)


def source_endpoint(params, host, port, link_credentials, option_prefix='primary_', what='source'):
    """The source end and the credentials to log in to it with: primary_user/primary_password when either is given,
    else the ones the target's replication link uses. ``link_credentials`` is a callable returning them (usually
    ``target.link_credentials``, read only when needed); where it returns (None, None) because the target denies
    CONFIG GET, the source is reached without credentials, as the options say."""
    user, password = params.get('primary_user'), params.get('primary_password')
    if not (user or password):
        user, password = link_credentials()
    return Endpoint(host, port, user or None, password or None, what=what, option_prefix=option_prefix)


OPERATION_PREFIX = 'kvmigrate-op:'


def parse_client_list(reply):
    """CLIENT LIST text -> one dict per client (``id``, ``addr``, ``name``, ``age``, ...)."""
    clients = []
    for line in str(reply or '').splitlines():
        fields = dict(part.split('=', 1) for part in line.split(' ') if '=' in part)
        if fields.get('id'):
            clients.append(fields)
    return clients


def _claim_name(module_name):
    # The random part makes the name this connection's alone, so CLIENT LIST finds it again without CLIENT ID, which
    # Dragonfly before v1.23 does not know.
    return '%s%s:%d:%s' % (OPERATION_PREFIX, module_name, os.getpid(), binascii.hexlify(os.urandom(8)).decode('ascii'))


def _other_operations(client_list_reply, own_name):
    """The clients of a CLIENT LIST reply that are kvmigrate operations other than the one named ``own_name``."""
    return [c for c in parse_client_list(client_list_reply)
            if c.get('name', '').startswith(OPERATION_PREFIX) and c['name'] != own_name]


def claim_operation(server, module_name):
    """Mark this connection as a state-changing kvmigrate operation on ``server`` and refuse when another one runs.

    The connection is named ``kvmigrate-op:<module>:<pid>:<random>`` (CLIENT SETNAME) before CLIENT LIST is read, by
    every operation. Of two that overlap, the later one always sees the earlier one, so at most one goes on (both may
    refuse when they start at the same instant; a retry then succeeds). The name goes away with the connection, so a
    dead module leaves no stale claim. Raises KvmigrateError naming the other operation; call it before any change.
    """
    own_name = _claim_name(module_name)
    server.call('CLIENT', 'SETNAME', own_name)
    # redis-py reconnects by itself after a read that timed out, and names the new connection with its client_name:
    # without this the claim would vanish at the first reconnect while the operation goes on
    client = getattr(server, 'client', None)
    pool = getattr(client, 'connection_pool', None)
    if pool is not None:
        pool.connection_kwargs['client_name'] = own_name
    if getattr(client, 'connection', None) is not None:
        client.connection.client_name = own_name
    clients = server.call('CLIENT', 'LIST')
    others = _other_operations(clients, own_name)
    if others:
        other = others[0]
        parts = other['name'][len(OPERATION_PREFIX):].split(':')
        raise KvmigrateError(
            "%s %s is being changed by another kvmigrate operation (%s, pid %s, connected from %s for %s s): "
            "nothing was changed. Wait for it to finish, or stop it, and retry." % (
                server.what, server.endpoint, parts[0], parts[1] if len(parts) > 1 else '?',
                other.get('addr', '?').rsplit(':', 1)[0], other.get('age', '?')),
            cause='in_flight', other_operation=other['name'])


def resolve(host):
    """Every address ``host`` resolves to (itself when it is an address or does not resolve)."""
    found = set()
    try:
        for family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, None):
            if family in (socket.AF_INET, socket.AF_INET6):
                found.add(sockaddr[0])
    except (socket.gaierror, UnicodeError):
        pass
    found.add(str(host))
    if found & {'127.0.0.1', '::1'} or str(host).lower() == 'localhost':
        # localhost may resolve to either loopback family depending on /etc/hosts
        found.update({'127.0.0.1', '::1', 'localhost'})
    return found


def same_endpoint(host_a, port_a, host_b, port_b):
    """True when both name the same server: same port and a resolved address in common."""
    if host_a is None or host_b is None or port_a is None or port_b is None:
        return False
    if int(port_a) != int(port_b):
        return False
    return bool(resolve(host_a) & resolve(host_b))


def sanitize(value, secrets):
    """Replace secrets in any string inside ``value`` (dicts/lists walked)."""
    if isinstance(value, dict):
        return dict((k, sanitize(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [sanitize(v, secrets) for v in value]
    if isinstance(value, str):
        return _scrub(value, [s for s in secrets if s])
    return value
