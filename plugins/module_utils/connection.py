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

# How long one command may take once connected. REPLICAOF on Dragonfly
# connects to the primary before it answers (up to --master_connect_timeout_ms,
# 20 s by default), so this must be longer than that.
COMMAND_TIMEOUT = 60.0


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
        # refused, timeout, auth, permission, tls, dns, unreachable, loading, in_flight or None
        self.cause = cause
        self.details = details


def require_redis(module):
    if redis is None:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)


def validate_port(value, option):
    if value is None or not 1 <= int(value) <= 65535:
        raise KvmigrateError("Option %s=%s is not a TCP port: use a number from 1 to 65535." % (option, value))


def validate_connection_params(params):
    """Checks that need no connection, so bad input fails before anything is touched."""
    validate_port(params['login_port'], 'login_port')
    if not params['login_host']:
        raise KvmigrateError("Option login_host is empty: set it to the server's address.")
    if params['connect_timeout'] is not None and params['connect_timeout'] <= 0:
        raise KvmigrateError("Option connect_timeout=%s must be a positive number of seconds." % params['connect_timeout'])
    if bool(params.get('client_cert_file')) != bool(params.get('client_key_file')):
        raise KvmigrateError("Options client_cert_file and client_key_file go together: set both or neither.")
    if not params['tls']:
        for option in ('ca_certs', 'client_cert_file', 'client_key_file'):
            if params.get(option):
                raise KvmigrateError("Option %s is set but tls is false: set tls: true to use it." % option)


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


def explain(exc, host, port, what='server', secrets=(), option_prefix='login_'):
    """(cause, sentence) for a client exception: which endpoint, what failed, how to fix it."""
    where = '%s %s' % (what, endpoint(host, port))
    detail = _scrub(exc, secrets).strip().rstrip('.')
    lowered = detail.lower()
    # option_prefix names the options the fix should mention: a prefix ('login_', 'primary_') or, where an end's
    # address and credentials come from differently named options, a dict {'user': ..., 'host': ...}.
    if isinstance(option_prefix, dict):
        user, password, host_opt, port_opt = (option_prefix[o] for o in ('user', 'password', 'host', 'port'))
    else:
        user, password, host_opt, port_opt = ('%s%s' % (option_prefix, o) for o in ('user', 'password', 'host', 'port'))
    if (redis_exceptions is not None and isinstance(exc, redis_exceptions.AuthenticationError)) or \
            'wrongpass' in lowered or 'invalid password' in lowered or 'invalid username-password' in lowered:
        return 'auth', "%s rejected the credentials (%s). Check %s and %s." % (where, detail, user, password)
    if 'noauth' in lowered or 'authentication required' in lowered:
        return 'auth', "%s requires authentication (%s). Set %s (and %s for an ACL user)." % (where, detail, password, user)
    if 'noperm' in lowered or 'no permissions' in lowered:
        return 'permission', ("%s refused a command for lack of permission (%s). Grant the ACL user the commands listed "
                              "in docs/security.md, or use another user." % (where, detail))
    if 'ssl' in lowered or 'certificate' in lowered or 'tls' in lowered or 'wrong version number' in lowered:
        return 'tls', ("%s: TLS handshake failed (%s). Check tls, ca_certs, client_cert_file/client_key_file and that "
                       "the server listens with TLS on that port." % (where, detail))
    if 'name or service not known' in lowered or 'nodename nor servname' in lowered or \
            'temporary failure in name' in lowered or 'no address associated' in lowered:
        return 'dns', "%s: the host name does not resolve (%s). Check %s." % (where, detail, host_opt)
    if 'connection refused' in lowered or 'error 111' in lowered:
        return 'refused', ("%s refused the connection (%s): no server listens there. Check %s/%s and that the server "
                           "runs." % (where, detail, host_opt, port_opt))
    if (redis_exceptions is not None and isinstance(exc, redis_exceptions.TimeoutError)) or 'timed out' in lowered \
            or 'timeout' in lowered:
        return 'timeout', ("%s did not answer in time (%s). Check that the address is reachable (firewall, routing) "
                           "or raise connect_timeout." % (where, detail))
    if 'unreachable' in lowered or 'no route' in lowered:
        return 'unreachable', ("%s is unreachable (%s). Check routing and firewalls between the control node and the "
                               "server." % (where, detail))
    if 'loading' in lowered:
        return 'loading', "%s is loading its dataset into memory (%s). Retry when it has finished." % (where, detail)
    return None, "%s: %s (%s)." % (where, detail, type(exc).__name__)


def _client(host, port, username, password, params, command_timeout=None):
    timeout = params.get('connect_timeout') or 5.0
    kwargs = dict(
        host=host,
        port=int(port),
        username=username or None,
        password=password or None,
        socket_connect_timeout=timeout,
        socket_timeout=command_timeout or max(COMMAND_TIMEOUT, timeout),
        decode_responses=True,
        retry_on_timeout=False,
        client_name='kvmigrate',
    )
    if params.get('tls'):
        kwargs.update(
            ssl=True,
            ssl_cert_reqs='required' if params.get('validate_certs', True) else 'none',
            ssl_check_hostname=bool(params.get('validate_certs', True)),
            ssl_ca_certs=params.get('ca_certs'),
            ssl_certfile=params.get('client_cert_file'),
            ssl_keyfile=params.get('client_key_file'),
        )
    client = redis.Redis(**kwargs)
    # redis-py 6+ retries a failed connect or command many times with exponential backoff: a refused connection took
    # about 5 s, and polls of a dead source overran wait_for_sync's link_down_timeout fourfold. One immediate retry
    # (not of timeouts) still rides over a connection the server closed; a bounded command must fail once.
    client.connection_pool.connection_kwargs['retry'] = Retry(NoBackoff(), 0) if command_timeout else \
        Retry(NoBackoff(), 1, supported_errors=(redis_exceptions.ConnectionError,))
    # Keep INFO as the server's text: the collection's own parser (info.py)
    # understands every flavor, and the raw text is returned to users.
    client.set_response_callback('INFO', lambda response, **kw: response)
    return client


class Server(object):
    """One connected server: a redis-py client plus what the collection knows about it."""

    def __init__(self, client, host, port, what, secrets):
        self.client = client
        self.host = host
        self.port = int(port)
        self.what = what
        self._secrets = secrets
        self.flavor = None
        self.version = None
        self._server_fields = {}

    @property
    def endpoint(self):
        return endpoint(self.host, self.port)

    def call(self, *args):
        """Run one command; any client error becomes a KvmigrateError naming this server."""
        try:
            return self.client.execute_command(*args)
        except Exception as exc:  # redis-py raises many types; all become one clear sentence
            cause, msg = explain(exc, self.host, self.port, self.what, self._secrets)
            raise KvmigrateError('%s (while running %s)' % (msg, ' '.join(str(a) for a in args[:2]).upper()), cause=cause)

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

    def config_get(self, name):
        reply = self.call('CONFIG', 'GET', name)
        if isinstance(reply, dict):
            return reply.get(name)
        if isinstance(reply, (list, tuple)) and len(reply) >= 2:
            return reply[1]
        return None

    def link_credentials(self):
        """(masteruser, masterauth) this server's replication link uses, or (None, None) where CONFIG is denied
        (a least-privilege user) or nothing is set. The password is remembered as a secret to scrub."""
        try:
            user = self.config_get('masteruser') or None
            password = self.config_get('masterauth') or None
        except KvmigrateError:
            return None, None
        if password:
            self._secrets = tuple(self._secrets) + (password,)
        return user, password

    def replication_link_address(self):
        """The local IP of this replica's connection to its primary (``laddr`` of the ``type=master`` client, Redis
        6.2+): the address the primary lists it by, whichever address the module reached it at. None if unknown."""
        try:
            clients = _client_list(self.call('CLIENT', 'LIST', 'TYPE', 'master'))
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

    def close(self):
        try:
            self.client.close()
        except Exception:  # closing a broken connection must never mask the real error
            pass


def connect(params, host=None, port=None, username=None, password=None, what='server', secrets=(), option_prefix='login_',
            command_timeout=None):
    """Open and PING a connection. ``params`` carries the TLS/timeout options;
    host/port/credentials default to the ``login_*`` options. ``command_timeout``
    (seconds) bounds every command and turns off redis-py's retries."""
    host = params['login_host'] if host is None else host
    port = params['login_port'] if port is None else port
    if username is None and password is None and option_prefix == 'login_':
        username, password = params.get('login_user'), params.get('login_password')
    all_secrets = tuple(s for s in (password, params.get('login_password'), params.get('primary_password')) if s) + tuple(secrets)
    try:
        client = _client(host, port, username, password, params, command_timeout)
        client.ping()
    except Exception as exc:  # translated into one sentence; the traceback would only hide it
        cause, msg = explain(exc, host, port, what, all_secrets, option_prefix)
        raise KvmigrateError(msg, cause=cause)
    return Server(client, host, port, what, all_secrets)


OPERATION_PREFIX = 'kvmigrate-op:'


def _client_list(reply):
    """CLIENT LIST text -> one dict per client (``id``, ``addr``, ``name``, ``age``, ...)."""
    clients = []
    for line in str(reply or '').splitlines():
        fields = dict(part.split('=', 1) for part in line.split(' ') if '=' in part)
        if fields.get('id'):
            clients.append(fields)
    return clients


def claim_operation(server, module_name):
    """Mark this connection as a state-changing kvmigrate operation on ``server`` and refuse when another one runs.

    The connection is named ``kvmigrate-op:<module>:<pid>`` (CLIENT SETNAME) before CLIENT LIST is read, by every
    operation. Of two that overlap, the later one always sees the earlier one, so at most one goes on (both may
    refuse when they start at the same instant; a retry then succeeds). The name goes away with the connection, so a
    dead module leaves no stale claim. Raises KvmigrateError naming the other operation; call it before any change.
    """
    server.call('CLIENT', 'SETNAME', '%s%s:%d' % (OPERATION_PREFIX, module_name, os.getpid()))
    own_id = str(server.call('CLIENT', 'ID'))
    others = [c for c in _client_list(server.call('CLIENT', 'LIST'))
              if c.get('name', '').startswith(OPERATION_PREFIX) and c['id'] != own_id]
    if others:
        other = others[0]
        parts = other['name'][len(OPERATION_PREFIX):].split(':')
        raise KvmigrateError(
            "%s %s is being changed by another kvmigrate operation (%s, pid %s, connected from %s for %s s): "
            "nothing was changed. Wait for it to finish, or stop it, and retry." % (
                server.what, server.endpoint, parts[0], parts[-1] if len(parts) > 1 else '?',
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
