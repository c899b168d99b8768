# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis Enterprise Software (RS) cluster REST API: the shared argspec (doc
fragment ``enterprise``), a small HTTPS client, the Replica Of plan (what a
``PUT /v1/bdbs/{uid}`` must carry) and the wait for every source to be in sync.

What is documented and what is inferred. "RD" is redis.io/docs/latest/operate/rs/.

Documented:

* Basic auth with a cluster user over HTTPS, port 9443 by default; 401 for bad
  credentials, 403 for a role without the permission (RD references/rest-api).
* ``GET /v1/bdbs``, ``GET/PUT /v1/bdbs/{uid}``; PUT answers 409 while another
  change is in progress (retry) and 406 when the configuration is not accepted
  (RD references/rest-api/requests/bdbs).
* bdb ``status`` values, ``active-change-pending`` back to ``active``
  (RD objects/bdb/status).
* ``replica_sync`` values and next states: disabled->enabled;
  enabled->stopped|paused; paused->enabled|stopped; stopped->enabled. When
  stopped or paused, the source's ``last_error`` says why (RD objects/bdb/replica_sync).
* ``replica_sources`` entries (syncer_sources): uid, uri, compression, encryption,
  client_cert, client_key, server_cert, replication_tls_sni, status, lag (ms,
  while synced), last_update, last_error, rdb_size, rdb_transferred
  (RD objects/bdb/syncer_sources).
* Source ``status``: out-of-sync, syncing, in-sync (RD objects/bdb/replica_sources_status).
* Enabling Replica Of deletes the destination's data; restarting a stopped sync
  flushes and starts over; authentication errors stop the sync while connection
  errors are retried (RD databases/import-export/replica-of).
* Source URL forms: ``redis://admin:<password>@<endpoint>:<port>`` for a
  database of the same cluster, ``redis://:<url-encoded password>@host:port``
  for Redis Open Source (RD databases/import-export/migrate-to-active-active).
* The bdb fields ``endpoints[].dns_name/addr/port``, ``authentication_admin_pass``,
  ``crdt``, ``crdt_guid``, ``crdt_sources`` and ``action_uid`` (RD objects/bdb); ``?fields=``
  on ``GET /v1/bdbs[/{uid}]`` (RD references/rest-api/requests/bdbs).
* A PUT answers with ``action_uid``; ``GET /v1/actions/{uid}`` gives its ``status``
  (pending, active, completed, failed) and ``progress`` (RD references/rest-api/requests/actions).
* bdb ``status`` ``creation-failed`` and ``recovery`` (RD objects/bdb/status).
* The cluster setting ``mask_bdb_credentials`` masks database credentials in bdb
  answers (RD references/rest-api/objects/cluster).
* Error bodies: ``error_code`` with ``message`` (RD requests/bdbs, PUT error codes) or
  ``description`` (openapi.json ``cluster_Error``).
* ``GET /v1/bdbs/stats/last/{uid}`` gives ``no_of_keys`` as a float and answers 406
  when the database is not active (RD requests/bdbs/stats/last, objects/statistics/db-metrics).

Inferred (marked ``# inferred`` where used):

* Any state -> ``disabled`` is accepted (the table lists no way out of
  ``enabled`` back to ``disabled``; a cluster may answer 406). The stop step uses
  the documented ``stopped`` (the UI's "Stop sync", status "Sync stopped").
* Changing the sources of an enabled sync flushes like enabling does.
* ``paused`` -> ``enabled`` resumes without a flush.
* 503 (node not responding) is temporary and worth retrying.
* A masked secret is a run of ``*``; a masked cluster may omit ``client_key`` and
  rewrite the whitespace of PEM text, so only non-secret fields are compared.
* How an Active-Active database takes Replica Of: see ``replica_of_path``.
* Peer instances are reached at the host and port of their ``crdt_sources`` URIs.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import socket
import ssl
import time
import uuid

from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urlsplit

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, connect, endpoint, sanitize, validate_finite)

DEFAULT_API_PORT = 9443
MASK = '********'

REPLICA_SYNC_STATES = ('disabled', 'enabled', 'paused', 'stopped')
# Documented next states (RD objects/bdb/replica_sync).
DOCUMENTED_TRANSITIONS = {
    'disabled': ('enabled',),
    'enabled': ('stopped', 'paused'),
    'paused': ('enabled', 'stopped'),
    'stopped': ('enabled',),
}
SOURCE_STATUSES = ('out-of-sync', 'syncing', 'in-sync')
MAX_SOURCES = 32  # documented limit of Replica Of sources
COMPRESSION_LEVELS = (0, 6)  # documented range; the UI's compression is level 6
# The syncer_sources fields a user sets; the rest (status, lag, ...) are reported by the cluster.
SOURCE_CONFIG_FIELDS = ('uri', 'compression', 'encryption', 'server_cert', 'client_cert', 'client_key', 'replication_tls_sni')
SOURCE_STATUS_FIELDS = ('status', 'lag', 'last_update', 'last_error', 'rdb_size', 'rdb_transferred')
# bdb status values during which the cluster answers 409 to another change (documented).
PENDING_STATUSES = ('active-change-pending', 'pending', 'import-pending')
# bdb status values that are no way back to active (documented values; treating them as errors is our choice).
FAILED_STATUSES = ('creation-failed', 'recovery', 'delete-pending')
# GET /v1/actions/{uid} status values (documented): the change is done on 'completed' and lost on 'failed'.
ACTION_DONE, ACTION_FAILED = 'completed', 'failed'
# Only what Replica Of needs: a plain GET returns every credential of the database.
BDB_FIELDS = ('uid', 'name', 'status', 'crdt', 'crdt_guid', 'replica_sync', 'replica_sources', 'crdt_sources', 'endpoints',
              'port', 'action_uid')
SOURCE_BDB_FIELDS = ('uid', 'name', 'status', 'endpoints', 'port', 'authentication_admin_pass')
# The completion marker: written to the source after writes stop, it reaches the Active-Active instance (and, through
# it, the peers) only through the sync, so reading it back there is the final check; it stays in the Active-Active
# database as the cluster's own record that this migration completed (a fresh control node reads it too).
MARKER_KEY = 'kvmigrate:active-active:migrated'


def enterprise_argument_spec():
    """Cluster API and database options every Enterprise module takes (doc fragment ``enterprise``)."""
    return dict(
        cluster_url=dict(type='str', required=True),
        cluster_user=dict(type='str', required=True),
        cluster_password=dict(type='str', required=True, no_log=True),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        request_timeout=dict(type='float', default=30.0),
        database_uid=dict(type='int'),
        database_name=dict(type='str'),
        database_user=dict(type='str'),
        database_password=dict(type='str', no_log=True),
        database_tls=dict(type='bool', default=False),
        database_ca_certs=dict(type='path'),
    )


ENTERPRISE_MUTUALLY_EXCLUSIVE = [('database_uid', 'database_name')]
ENTERPRISE_REQUIRED_ONE_OF = [('database_uid', 'database_name')]


# --------------------------------------------------------------------------
# The Active-Active choice, in one place
# --------------------------------------------------------------------------

def replica_of_path(bdb):
    """Where Replica Of is configured for ``bdb``.

    Documented for a plain database: ``PUT /v1/bdbs/{uid}`` with
    ``replica_sync``/``replica_sources``. For an Active-Active database the docs
    describe only the UI ("Migration using Replica Of" on one instance), and the
    CRDB ``database_config`` object has no replica fields; so we use the same
    bdb form on the participating instance's local bdb (inferred; verify on a
    real cluster). Changing this function (and ``ACTIVE_ACTIVE_FORM``) is all a
    CRDB form would need.
    """
    return '/v1/bdbs/%s' % bdb['uid']


ACTIVE_ACTIVE_FORM = 'bdb'  # 'bdb': PUT /v1/bdbs/{local uid} (inferred for crdt databases)


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------

def _url_problem(url):
    """Why ``url`` cannot be sent as a URL, or None. urllib drops CR/LF/TAB silently (so a pasted line break would
    reach another host) and http.client raises InvalidURL on a space, outside any error handling."""
    for char in url:
        if ord(char) < 32 or ord(char) == 127:
            return 'a line break' if char in '\r\n' else 'the control character %r' % char
        if char.isspace():
            return 'a space'
    return None


def normalize_cluster_url(url):
    """``host``, ``host:port`` or ``https://host[:port][/]`` -> ``https://host:port``; port 9443 by default."""
    url = (url or '').strip()
    if not url:
        raise KvmigrateError("Option cluster_url is empty: set it to the cluster's API address, e.g. https://cluster.example.com:9443.")
    problem = _url_problem(url)
    if problem:
        raise KvmigrateError("Option cluster_url=%r contains %s: set it to the cluster's API address without spaces or "
                             "control characters, e.g. https://cluster.example.com:9443." % (mask_uri(url), problem))
    if '://' not in url:
        url = 'https://' + url
    parts = urlsplit(url)
    if parts.scheme not in ('https', 'http'):
        raise KvmigrateError("Option cluster_url=%s has scheme %s: use https:// (the API listens with TLS on port %d)."
                             % (url, parts.scheme, DEFAULT_API_PORT))
    try:
        port = parts.port or DEFAULT_API_PORT
    except ValueError:
        raise KvmigrateError("Option cluster_url=%s has no valid port: use https://host:%d." % (url, DEFAULT_API_PORT))
    if not parts.hostname:
        raise KvmigrateError("Option cluster_url=%s names no host: use https://host:%d." % (url, DEFAULT_API_PORT))
    if parts.path not in ('', '/'):
        raise KvmigrateError("Option cluster_url=%s has a path (%s): give only scheme, host and port; the module adds /v1/..."
                             % (url, parts.path))
    return '%s://%s' % (parts.scheme, endpoint(parts.hostname, port))


def build_source_uri(host, port, password=None, user=None):
    """A Replica Of source URI: ``redis://[user]:<url-encoded password>@host:port``, or ``redis://host:port``.

    ``user='admin'`` gives the same-cluster form, ``user=None`` the Redis Open
    Source form ``redis://:<password>@host:port`` (both documented). The password
    is URL-encoded as the docs ask for OSS; for RS internal passwords
    (letters and digits) encoding changes nothing.
    """
    if not host:
        raise KvmigrateError("A Replica Of source needs a host: set host (or uri, or database_name/database_uid).")
    if _url_problem(str(host)):
        raise KvmigrateError("A Replica Of source host %r contains %s: set host to a name or address." % (
            str(host), _url_problem(str(host))))
    if port is None or not 1 <= int(port) <= 65535:
        raise KvmigrateError("A Replica Of source port %s is not a TCP port: use a number from 1 to 65535." % port)
    auth = ''
    if password:
        auth = '%s:%s@' % (quote(user or '', safe=''), quote(password, safe=''))
    elif user:
        auth = '%s@' % quote(user, safe='')
    return 'redis://%s%s' % (auth, endpoint(host, port))


def parse_source_uri(uri):
    """``host``, ``port``, ``user``, ``password`` (decoded), ``scheme`` of a source URI; raises on garbage."""
    problem = _url_problem(uri or '')
    if problem:
        raise KvmigrateError("A Replica Of source URI contains %s (%r): URL-encode the password and remove the rest."
                             % (problem, mask_uri(uri)))
    parts = urlsplit(uri or '')
    if parts.scheme not in ('redis', 'rediss'):
        raise KvmigrateError("A Replica Of source URI must start with redis:// (got %s)." % mask_uri(uri))
    try:
        port = parts.port or 6379
    except ValueError:
        raise KvmigrateError("A Replica Of source URI has an invalid port: %s." % mask_uri(uri))
    if not parts.hostname:
        raise KvmigrateError("A Replica Of source URI names no host: %s." % mask_uri(uri))
    return dict(scheme=parts.scheme, host=parts.hostname, port=port,
                user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password is not None else None)


_SCHEME_RE = re.compile(r'^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)')


def mask_uri(uri):
    """The URI with its password replaced by ``********``: ``redis://admin:********@host:port``.

    The user-info part ends at the last ``@``, so an unencoded ``@`` in a
    password is masked too. A user-info part without a colon is masked whole,
    since some clients put the password there (``redis://<password>@host``).
    """
    if not uri:
        return uri
    uri = to_text(uri)
    match = _SCHEME_RE.match(uri)
    if not match:
        return uri
    rest = uri[match.end():]
    if '@' not in rest:
        return uri
    userinfo, dummy, host_part = rest.rpartition('@')
    user, sep, dummy = userinfo.partition(':')
    masked = '%s:%s' % (user, MASK) if sep else MASK
    return match.group('scheme') + masked + '@' + host_part


def uri_password(uri):
    try:
        return parse_source_uri(uri).get('password')
    except KvmigrateError:
        return None


def is_masked(secret):
    """True for a value the cluster masked (``mask_bdb_credentials``): a run of ``*`` (inferred form)."""
    return bool(secret) and set(to_text(secret)) == {'*'}


def same_cluster_source(bdb):
    """(uri, password, endpoint) of a database of the same cluster, in the documented
    ``redis://admin:<database_password>@<endpoint>:<port>`` form.

    The endpoint is the first ``endpoints`` entry's ``dns_name`` (its first
    ``addr`` when there is no DNS name); the password is ``authentication_admin_pass``,
    the internal password the cluster uses for SYNC from that database.
    """
    name = bdb.get('name')
    endpoints = bdb.get('endpoints') or []
    if not endpoints:
        raise KvmigrateError("Source database %r (uid %s) has no endpoint in the API answer: it may still be creating; retry when "
                             "its status is active." % (name, bdb.get('uid')))
    first = endpoints[0]
    host = first.get('dns_name') or (first.get('addr') or [None])[0]
    port = first.get('port') or bdb.get('port')
    password = bdb.get('authentication_admin_pass')
    if is_masked(password):
        raise KvmigrateError("Source database %r (uid %s): the cluster masks database credentials (cluster setting "
                             "mask_bdb_credentials), so the source URL cannot be built from authentication_admin_pass. Give "
                             "the source as uri (the source's Get Replica Of source URL)." % (name, bdb.get('uid')))
    if not password:
        raise KvmigrateError("Source database %r (uid %s): the API returned no authentication_admin_pass, so the source URL cannot "
                             "be built. Use a cluster user allowed to read database credentials (admin), or give the source "
                             "as uri." % (name, bdb.get('uid')))
    return build_source_uri(host, port, password, user='admin'), password, endpoint(host, port)


# --------------------------------------------------------------------------
# Sources and the plan (pure)
# --------------------------------------------------------------------------

def normalize_source(source):
    """The configuration of one syncer source, with the API's defaults filled in."""
    source = source or {}
    return dict(
        uri=source.get('uri') or '',
        compression=int(source.get('compression') or 0),
        encryption=bool(source.get('encryption')),
        server_cert=source.get('server_cert') or '',
        client_cert=source.get('client_cert') or '',
        client_key=source.get('client_key') or '',
        replication_tls_sni=source.get('replication_tls_sni') or '',
    )


def _pem_text(pem):
    # A cluster may re-wrap PEM text (line breaks, trailing spaces): compare its characters without whitespace.
    return ''.join((pem or '').split())


def _uri_identity(uri):
    """Scheme, host, port and user of a source URI, never its password (masked or rotated, it cannot be compared)."""
    try:
        parsed = parse_source_uri(uri)
    except KvmigrateError:
        return ('', mask_uri(uri), 0, '')
    return (parsed['scheme'], parsed['host'].lower(), parsed['port'], parsed['user'] or '')


def _source_key(source):
    normal = normalize_source(source)
    return (_uri_identity(normal['uri']), normal['compression'], normal['encryption'], normal['replication_tls_sni'],
            _pem_text(normal['server_cert']), _pem_text(normal['client_cert']))


def sources_equal(current, wanted):
    """True when both lists configure the same sources in their non-secret fields; order does not matter (documented).

    Passwords and ``client_key`` are left out: a cluster with ``mask_bdb_credentials`` masks them, may omit
    ``client_key`` and rewrite PEM text, and re-sending the sources of an enabled sync flushes the database."""
    current, wanted = current or [], wanted or []
    if len(current) != len(wanted):
        return False
    return sorted(_source_key(s) for s in current) == sorted(_source_key(s) for s in wanted)


def validate_sources(sources):
    if len(sources) > MAX_SOURCES:
        raise KvmigrateError("%d Replica Of sources given; Redis Enterprise accepts at most %d." % (len(sources), MAX_SOURCES))
    for index, source in enumerate(sources):
        level = source.get('compression') or 0
        if not COMPRESSION_LEVELS[0] <= int(level) <= COMPRESSION_LEVELS[1]:
            raise KvmigrateError("sources[%d].compression=%s is out of range: use %d (none) to %d (the UI's level)."
                                 % (index, level, COMPRESSION_LEVELS[0], COMPRESSION_LEVELS[1]))
        parse_source_uri(source.get('uri'))
        if (source.get('client_cert') or source.get('client_key') or source.get('server_cert')
                or source.get('replication_tls_sni')) and not source.get('encryption'):
            raise KvmigrateError("sources[%d] sets certificates or tls_sni but not encryption: set encryption: true to use TLS "
                                 "for the replication link." % index)
        if bool(source.get('client_cert')) != bool(source.get('client_key')):
            raise KvmigrateError("sources[%d]: client_cert and client_key go together; set both or neither." % index)


def transition_allowed(current, wanted):
    """(allowed, documented) for ``replica_sync`` going from ``current`` to ``wanted``."""
    if current == wanted:
        return True, True
    if wanted in DOCUMENTED_TRANSITIONS.get(current, ()):
        return True, True
    if wanted == 'disabled' and current in REPLICA_SYNC_STATES:
        return True, False  # inferred: removing Replica Of is possible from any state
    return False, False


def replica_view(bdb):
    """What a user sees of a database's Replica Of: sync state and masked sources (no secrets)."""
    return dict(replica_sync=bdb.get('replica_sync') or 'disabled',
                replica_sources=[masked_source(s) for s in bdb.get('replica_sources') or []])


def masked_source(source):
    view = normalize_source(source)
    view['uri'] = mask_uri(view['uri'])
    if view['client_key']:
        view['client_key'] = MASK
    for field in SOURCE_STATUS_FIELDS:
        if field in source:
            view[field] = source[field]
    if 'uid' in source:
        view['uid'] = source['uid']
    return view


def plan_replica_of(bdb, wanted_sync, wanted_sources, database_label):
    """The ``PUT`` body that brings ``bdb`` to ``wanted_sync`` with ``wanted_sources``
    (None: keep the current sources), and whether applying it flushes the database.

    Returns ``dict(body, flushes, before, after)``; ``body`` is empty when nothing
    changes. Raises KvmigrateError for a change the API does not allow.
    """
    current_sync = bdb.get('replica_sync') or 'disabled'
    current_sources = bdb.get('replica_sources') or []
    body = {}
    if wanted_sources is not None and not sources_equal(current_sources, wanted_sources):
        body['replica_sources'] = [dict((k, v) for k, v in normalize_source(s).items() if v not in ('', None) or k == 'uri')
                                   for s in wanted_sources]
    sources_after = body.get('replica_sources', current_sources)
    if wanted_sync != current_sync:
        allowed, dummy = transition_allowed(current_sync, wanted_sync)
        if not allowed:
            next_states = DOCUMENTED_TRANSITIONS[current_sync] + (('disabled',) if current_sync != 'disabled' else ())
            raise KvmigrateError(
                "Database %s has replica_sync=%s; the API does not go from %s to %s (from %s it allows: %s). %s" % (
                    database_label, current_sync, current_sync, wanted_sync, current_sync, ', '.join(next_states),
                    "Nothing runs to pause or stop: enable Replica Of first." if current_sync == 'disabled'
                    else "Enable it again first, or set replica_sync: disabled."))
        body['replica_sync'] = wanted_sync
    if wanted_sync == 'enabled' and not sources_after:
        raise KvmigrateError("Database %s: replica_sync=enabled needs at least one source; set sources." % database_label)
    # Documented: enabling (from disabled or stopped) flushes. Inferred: new sources on an enabled sync flush too.
    flushes = wanted_sync == 'enabled' and bool(body) and (
        current_sync in ('disabled', 'stopped') or 'replica_sources' in body)
    before = replica_view(bdb)
    after = dict(replica_sync=wanted_sync, replica_sources=[masked_source(s) for s in sources_after])
    if not body:
        after = before
    return dict(body=body, flushes=flushes, before=before, after=after)


def masked_body(body):
    if 'replica_sources' not in body:
        return dict(body)
    shown = dict(body)
    shown['replica_sources'] = [masked_source(s) for s in body['replica_sources']]
    return shown


# --------------------------------------------------------------------------
# Waiting (pure decision + loop)
# --------------------------------------------------------------------------

def source_report(source):
    """One source as the info module returns it: masked URI, status, lag, transfer progress."""
    view = masked_source(source)
    size, done = source.get('rdb_size'), source.get('rdb_transferred')
    view['rdb_percent'] = round(100.0 * done / size, 1) if size and done is not None else None
    view['last_error'] = source.get('last_error') or ''
    return view


def evaluate_sources(bdb, max_lag_ms=None, database_label='?'):
    """(final_error, unmet) for one look at ``bdb``: ``final_error`` is a sentence when
    waiting cannot succeed (sync stopped, paused, disabled, no sources); ``unmet``
    lists what is not yet in sync (empty: done)."""
    sync = bdb.get('replica_sync') or 'disabled'
    sources = bdb.get('replica_sources') or []
    errors = '; '.join('%s: %s' % (mask_uri(s.get('uri')), s.get('last_error')) for s in sources if s.get('last_error'))
    if sync == 'stopped':
        return ("Replica Of on database %s stopped (replica_sync: stopped, an unrecoverable error)%s. Fix the cause (source "
                "password, memory, cross-slot commands) and enable it again; that flushes the database and starts over."
                % (database_label, ': %s' % errors if errors else '')), []
    if sync in ('disabled', 'paused'):
        return ("Replica Of is not running on database %s (replica_sync: %s): nothing to wait for. Enable it with "
                "kvmigrate.replication.enterprise_replica_of first." % (database_label, sync)), []
    if not sources:
        return "Database %s has replica_sync=enabled but no sources: set sources." % database_label, []
    unmet = []
    for source in sources:
        name = mask_uri(source.get('uri'))
        status = source.get('status')
        if status != 'in-sync':
            report = source_report(source)
            progress = ' %.1f%% of the RDB' % report['rdb_percent'] if status == 'syncing' and report['rdb_percent'] is not None else ''
            unmet.append('%s is %s%s' % (name, status or 'not reporting a status', progress))
        elif max_lag_ms is not None and (source.get('lag') is None or source['lag'] > max_lag_ms):
            unmet.append('%s lag %s ms > max_lag_ms %s' % (name, source.get('lag'), max_lag_ms))
    return None, unmet


def _progress(bdb):
    return tuple((s.get('uid'), s.get('rdb_transferred'), s.get('last_update')) for s in bdb.get('replica_sources') or [])


class ReplicaOfWaiter(object):
    """Polls one database until every source is in-sync with lag under ``max_lag_ms`` for
    ``stable_for`` seconds. Fails at once when the sync is stopped/paused/disabled, after
    ``last_error_timeout`` seconds of a source reporting ``last_error`` without being in
    sync, and at ``timeout``."""

    def __init__(self, client, bdb, params, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.bdb = bdb
        self.params = params
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.samples = 0
        self.label = database_label(bdb)

    def elapsed(self):
        return round(self.clock() - self.started, 3)

    def _details(self, bdb):
        return dict(replica_sync=bdb.get('replica_sync') or 'disabled',
                    sources=[source_report(s) for s in bdb.get('replica_sources') or []],
                    in_sync=False, elapsed=self.elapsed(), samples=self.samples)

    def run(self):
        params = self.params
        stable_since = None
        error_since = None
        progress = None
        bdb = self.bdb
        while True:
            now = self.clock()
            bdb = self.client.get_database(uid=self.bdb['uid'])
            self.samples += 1
            final, unmet = evaluate_sources(bdb, params.get('max_lag_ms'), self.label)
            if final:
                raise KvmigrateError(final, **self._details(bdb))
            erring = [s for s in bdb.get('replica_sources') or [] if s.get('last_error') and s.get('status') != 'in-sync']
            # A source that reports an error while its transfer moves on is retrying successfully: only an error
            # without progress (rdb_transferred, last_update) counts towards last_error_timeout.
            moved, progress = _progress(bdb) != progress, _progress(bdb)
            if erring and moved:
                error_since = now
            elif erring:
                error_since = now if error_since is None else error_since
                if now - error_since >= params['last_error_timeout']:
                    raise KvmigrateError(
                        "Replica Of on database %s: a source has reported an error for %.1f s without getting in sync (limit "
                        "last_error_timeout=%s): %s. Check that the source runs, that this cluster can reach it, and its "
                        "password." % (self.label, now - error_since, params['last_error_timeout'],
                                       '; '.join('%s: %s' % (mask_uri(s.get('uri')), s['last_error']) for s in erring)),
                        **self._details(bdb))
            else:
                error_since = None
            if not unmet:
                stable_since = now if stable_since is None else stable_since
                if now - stable_since >= params['stable_for']:
                    result = self._details(bdb)
                    result['in_sync'] = True
                    return result
            else:
                stable_since = None
            elapsed = now - self.started
            if elapsed >= params['timeout']:
                raise KvmigrateError("Replica Of on database %s was not in sync within timeout=%s s: %s." % (
                    self.label, params['timeout'], '; '.join(unmet) or 'conditions did not hold for stable_for'), **self._details(bdb))
            self.sleep(max(0.0, min(params['poll_interval'], params['timeout'] - elapsed)))


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

def database_label(bdb=None, uid=None, name=None):
    if bdb is not None:
        uid, name = bdb.get('uid'), bdb.get('name')
    if name is not None and uid is not None:
        return "'%s' (uid %s)" % (name, uid)
    if uid is not None:
        return 'uid %s' % uid
    return "'%s'" % name


def _error_text(data, raw):
    if isinstance(data, dict):
        parts = [to_text(data.get(k)) for k in ('error_code', 'description', 'message', 'detail') if data.get(k)]
        if parts:
            return ': '.join(parts)
    return to_text(raw or '').strip()[:300]


def explain_http(status, detail, cluster, method, path, database, user):
    """(cause, sentence) for an HTTP error answer of the cluster API."""
    where = 'Cluster API %s' % cluster
    detail = ' (%s)' % detail if detail else ''
    request = '%s %s' % (method, path)
    if status == 401:
        return 'auth', ("%s rejected the credentials of cluster_user '%s' on %s for database %s (401 Unauthorized%s). Check "
                        "cluster_user and cluster_password: a user of the cluster (often an email address), not a database "
                        "password." % (where, user, request, database, detail))
    if status == 403:
        return 'permission', ("%s refused %s for database %s to cluster_user '%s' (403 Forbidden%s): the user's role lacks "
                              "the permission. Use a user with the admin or db_member role." % (where, request, database, user, detail))
    if status == 404:
        return 'not_found', ("%s has no database %s (404 Not Found on %s%s). Check database_uid/database_name; "
                             "kvmigrate.replication.enterprise_replica_of_info with database_name lists the databases."
                             % (where, database, request, detail))
    if status == 406:
        return 'rejected', ("%s did not accept the change to database %s (406 Not Acceptable%s). The replica_sync transition or "
                            "source settings are not allowed in its current state; see docs/active-active.md for the "
                            "transitions the API documents." % (where, database, detail))
    if status == 409:
        return 'busy', ("%s kept answering 409 Conflict for database %s%s: another change is in progress. Wait until the "
                        "database status is active again, or raise change_timeout." % (where, database, detail))
    if status == 400:
        return 'invalid', "%s rejected %s for database %s as malformed (400 Bad Request%s)." % (where, request, database, detail)
    if status >= 500:
        return 'server', ("%s failed on %s for database %s (%d%s). Retry later; the cluster logs tell more."
                          % (where, request, database, status, detail))
    return None, "%s answered %d to %s for database %s%s." % (where, status, request, database, detail)


def explain_transport(cluster, exc):
    """(cause, sentence) for a failure before any HTTP answer (TLS, refused, DNS, timeout)."""
    reason = getattr(exc, 'reason', exc)
    text = to_text(reason)
    lowered = text.lower()
    where = 'Cluster API %s' % cluster
    if isinstance(reason, ssl.SSLError) or 'certificate' in lowered or 'ssl' in lowered:
        return 'tls', ("%s: TLS handshake failed (%s). Set ca_path to the CA that signed the cluster's API certificate "
                       "(by default the cluster's self-signed proxy certificate), or validate_certs: false for a test cluster."
                       % (where, text))
    if 'refused' in lowered:
        return 'refused', "%s refused the connection (%s). Check cluster_url (API port %d by default)." % (where, text, DEFAULT_API_PORT)
    if 'name or service not known' in lowered or 'nodename nor servname' in lowered or 'temporary failure in name' in lowered:
        return 'dns', "%s: the host name does not resolve (%s). Check cluster_url." % (where, text)
    if isinstance(reason, socket.timeout) or 'timed out' in lowered:
        return 'timeout', "%s did not answer in time (%s). Check routing and firewalls, or raise request_timeout." % (where, text)
    return 'unreachable', "%s could not be reached (%s). Check cluster_url." % (where, text)


def _json(raw):
    if not raw:
        return None
    try:
        return json.loads(to_text(raw))
    except ValueError:
        return None


class EnterpriseClient(object):
    """The few REST calls Replica Of needs, with errors turned into sentences.

    Every secret it learns (cluster password, source passwords) is kept in
    ``secrets`` so that callers can scrub any text they return.
    """

    def __init__(self, params, change_timeout=120.0, clock=time.monotonic, sleep=time.sleep):
        validate_finite(params)
        self.base = normalize_cluster_url(params['cluster_url'])
        self.user = params['cluster_user']
        self.password = params['cluster_password']
        self.validate_certs = params.get('validate_certs', True)
        self.ca_path = params.get('ca_path')
        self.timeout = params.get('request_timeout') or 30.0
        self.change_timeout = change_timeout
        self.clock = clock
        self.sleep = sleep
        self.retries = 0
        self.secrets = [self.password]

    def scrub(self, value):
        return sanitize(value, self.secrets)

    def _open(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        try:
            response = open_url(self.base + path, data=data, headers=headers, method=method, url_username=self.user,
                                url_password=self.password, force_basic_auth=True, validate_certs=self.validate_certs,
                                ca_path=self.ca_path, timeout=self.timeout, follow_redirects='none', use_netrc=False)
            raw = response.read()
            return response.getcode(), _json(raw), raw
        except HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # a body that cannot be read is no reason to hide the status
                raw = b''
            return exc.code, _json(raw), raw
        except (URLError, socket.error, ssl.SSLError, ValueError) as exc:
            cause, msg = explain_transport(self.base, exc)
            raise KvmigrateError(self.scrub(msg), cause=cause)

    def request(self, method, path, body=None, database='?', retry_conflict=False):
        """One API call. Retries, with a bounded backoff until ``change_timeout``: 409 when ``retry_conflict``
        (documented: another change is in progress), 503 (a node not responding) and, for GET, timeouts."""
        deadline = self.clock() + self.change_timeout
        delay = 0.2
        while True:
            try:
                status, data, raw = self._open(method, path, body)
            except KvmigrateError as exc:
                # A PUT that timed out may have been applied: only reads are repeated blindly.
                if method == 'GET' and exc.cause == 'timeout' and self.clock() + delay <= deadline:
                    self.retries += 1
                    self.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise
            if 200 <= status < 300:
                return data
            retryable = status == 503 or (status == 409 and retry_conflict)
            if retryable and self.clock() + delay <= deadline:
                self.retries += 1
                self.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            cause, msg = explain_http(status, _error_text(data, raw), self.base, method, path.split('?')[0], database, self.user)
            raise KvmigrateError(self.scrub(msg), cause=cause, status=status)

    def get_database(self, uid=None, name=None, fields=BDB_FIELDS):
        """The bdb, by uid or by name, with only ``fields`` (a plain GET would return every credential)."""
        if uid is None:
            bdbs = self.request('GET', '/v1/bdbs?fields=uid,name', database=database_label(name=name)) or []
            matches = [b for b in bdbs if b.get('name') == name]
            if not matches:
                known = ', '.join('%s (uid %s)' % (b.get('name'), b.get('uid')) for b in bdbs) or 'none'
                raise KvmigrateError("Cluster API %s has no database named '%s' (databases: %s). Check database_name."
                                     % (self.base, name, known), cause='not_found', status=404)
            if len(matches) > 1:
                raise KvmigrateError("Cluster API %s has %d databases named '%s' (uids %s): use database_uid." % (
                    self.base, len(matches), name, ', '.join(str(b.get('uid')) for b in matches)))
            uid = matches[0]['uid']
        query = '?fields=%s' % ','.join(fields) if fields else ''
        bdb = self.request('GET', '/v1/bdbs/%d%s' % (int(uid), query), database=database_label(uid=uid, name=name))
        if not isinstance(bdb, dict):
            raise KvmigrateError("Cluster API %s answered GET /v1/bdbs/%s with no database object." % (self.base, uid))
        if bdb.get('status') in FAILED_STATUSES:
            raise KvmigrateError("Database %s on %s has status %s, which does not go back to active by itself: fix the "
                                 "database on the cluster (see its events and logs) before changing Replica Of." % (
                                     database_label(bdb), self.base, bdb.get('status')), cause='database_failed')
        for secret in (bdb.get('authentication_admin_pass'),):
            if secret and not is_masked(secret):
                self.secrets.append(secret)
        return bdb

    def key_count(self, bdb):
        """Keys the database holds (documented float ``no_of_keys``), or None when the cluster does not say (then
        assume it holds data)."""
        path = '/v1/bdbs/stats/last/%s?metrics=no_of_keys' % bdb['uid']
        try:
            stats = self.request('GET', path, database=database_label(bdb))
        except KvmigrateError as exc:
            if exc.details.get('status') != 406:
                return None
            # documented: 406 while the database is not active; ask again once it is
            self.wait_active(bdb)
            try:
                stats = self.request('GET', path, database=database_label(bdb))
            except KvmigrateError:
                return None
        if isinstance(stats, dict):
            entry = stats.get(str(bdb['uid'])) or stats
            if isinstance(entry, dict) and entry.get('no_of_keys') is not None:
                try:
                    return int(float(entry['no_of_keys']))
                except (TypeError, ValueError):
                    return None
        return None

    def update(self, bdb, body, expected_sources=None):
        """PUT the change (retrying 409 and 503), follow its action to the end, wait until the database is active
        again and read it back: the change must show in ``replica_sync`` and the sources (non-secret fields)."""
        label = database_label(bdb)
        answer = self.request('PUT', replica_of_path(bdb), body=body, database=label, retry_conflict=True)
        action_uid = answer.get('action_uid') if isinstance(answer, dict) else None
        if action_uid:
            self.follow_action(action_uid, label)
        current = self.wait_active(bdb)
        wanted_sync = body.get('replica_sync', bdb.get('replica_sync') or 'disabled')
        got_sync = current.get('replica_sync') or 'disabled'
        wanted_sources = body.get('replica_sources', expected_sources)
        problems = []
        if got_sync != wanted_sync and not (wanted_sync == 'enabled' and got_sync == 'stopped'):
            problems.append('replica_sync is %s, not %s' % (got_sync, wanted_sync))
        if wanted_sources is not None and not sources_equal(current.get('replica_sources'), wanted_sources):
            problems.append('its sources are %s, not %s' % (
                ', '.join(mask_uri(s.get('uri')) for s in current.get('replica_sources') or []) or 'none',
                ', '.join(mask_uri(s.get('uri')) for s in wanted_sources) or 'none'))
        if problems:
            raise KvmigrateError("Database %s on %s accepted the change but reads back otherwise: %s. Check the cluster's "
                                 "events for database %s before running again." % (label, self.base, '; '.join(problems), label),
                                 cause='not_applied')
        return current

    def follow_action(self, action_uid, label):
        """Poll ``GET /v1/actions/{uid}`` until the change completes; a failed action is an error."""
        deadline = self.clock() + self.change_timeout
        delay = 0.1
        while True:
            try:
                action = self.request('GET', '/v1/actions/%s' % quote(str(action_uid), safe=''), database=label)
            except KvmigrateError as exc:
                if exc.details.get('status') == 404:
                    return None  # documented: no status is kept once an action is over; the database status tells the rest
                raise
            status = (action or {}).get('status')
            if status == ACTION_FAILED:
                ops = (action.get('pending_ops') or {}).values() if isinstance(action.get('pending_ops'), dict) else []
                why = '; '.join(to_text(op.get('status_description')) for op in ops if op.get('status_description'))
                why = why or to_text((action.get('additional_info') or {}).get('error') or action.get('state') or 'no reason given')
                raise KvmigrateError(self.scrub("The cluster %s failed the change to database %s (action %s %s: %s). Nothing "
                                                "more was sent; fix the cause and run again." % (
                                                    self.base, label, action.get('name') or '', action_uid, why)),
                                     cause='action_failed')
            if status == ACTION_DONE:
                return action
            if self.clock() + delay > deadline:
                raise KvmigrateError("The change to database %s on %s was still %s (action %s, %s%% done) after "
                                     "change_timeout=%s s. Check the cluster's actions, or raise change_timeout." % (
                                         label, self.base, status, action_uid, (action or {}).get('progress'), self.change_timeout))
            self.sleep(delay)
            delay = min(delay * 2, 2.0)

    def wait_active(self, bdb):
        deadline = self.clock() + self.change_timeout
        delay = 0.1
        while True:
            current = self.get_database(uid=bdb['uid'])
            if current.get('status') not in PENDING_STATUSES:
                return current
            if self.clock() + delay > deadline:
                raise KvmigrateError("Database %s on %s stayed %s for change_timeout=%s s after the change. Check the cluster's "
                                     "actions and logs, or raise change_timeout." % (
                                         database_label(bdb), self.base, current.get('status'), self.change_timeout))
            self.sleep(delay)
            delay = min(delay * 2, 2.0)


# --------------------------------------------------------------------------
# The instances' own endpoints: completion marker and final check
# --------------------------------------------------------------------------

# Errors about an instance endpoint name the options that fix them.
ENDPOINT_OPTIONS = {'user': 'database_user', 'password': 'database_password', 'host': 'database_name', 'port': 'database_name'}


def _endpoint_params(params, tls=None):
    return dict(tls=params.get('database_tls') if tls is None else tls, validate_certs=params.get('validate_certs', True),
                ca_certs=params.get('database_ca_certs'), connect_timeout=min(float(params.get('request_timeout') or 5.0), 10.0))


def instance_endpoints(bdb):
    """(name, host, port) of the instance's own endpoint, then of each Active-Active peer (inferred: a peer is
    reached at the host and port of its ``crdt_sources`` URI)."""
    endpoints = bdb.get('endpoints') or []
    if not endpoints:
        raise KvmigrateError("Database %s has no endpoint in the API answer: it may still be creating; retry when its "
                             "status is active." % database_label(bdb))
    first = endpoints[0]
    found = [('instance %s' % database_label(bdb), first.get('dns_name') or (first.get('addr') or [None])[0],
              first.get('port') or bdb.get('port'))]
    for source in bdb.get('crdt_sources') or []:
        try:
            parsed = parse_source_uri(source.get('uri'))
        except KvmigrateError:
            continue
        found.append(('peer instance %s' % endpoint(parsed['host'], parsed['port']), parsed['host'], parsed['port']))
    return found


def _open_instance(params, name, host, port, secrets):
    return connect(_endpoint_params(params), host=host, port=port, username=params.get('database_user'),
                   password=params.get('database_password'), what='Active-Active %s' % name, secrets=secrets,
                   option_prefix=ENDPOINT_OPTIONS, command_timeout=_endpoint_params(params)['connect_timeout'])


def _decode_marker(raw):
    if raw is None:
        return None
    try:
        marker = json.loads(raw)
    except ValueError:
        marker = None
    return marker if isinstance(marker, dict) else dict(raw=to_text(raw)[:200])


def read_completion_marker(params, bdb, secrets=()):
    """The completion marker the role left in the database (dict), or None: the cluster's own record that this
    database's migration completed."""
    name, host, port = instance_endpoints(bdb)[0]
    server = _open_instance(params, name, host, port, secrets)
    try:
        return _decode_marker(server.call('GET', MARKER_KEY))
    finally:
        server.close()


def _open_source(params, uri, secrets):
    parsed = parse_source_uri(uri)
    return connect(_endpoint_params(params, tls=parsed['scheme'] == 'rediss'), host=parsed['host'], port=parsed['port'],
                   username=parsed['user'], password=parsed['password'], what='Replica Of source', secrets=secrets,
                   option_prefix={'user': 'sources[].uri', 'password': 'sources[].uri', 'host': 'sources[].uri',
                                  'port': 'sources[].uri'}, command_timeout=_endpoint_params(params)['connect_timeout'])


def final_check(params, bdb, source_uris, timeout, poll_interval=0.2, secrets=(), clock=time.monotonic, sleep=time.sleep):
    """Write the completion marker to every source (after its writes stopped) and wait until the instance's own
    endpoint and every peer's read it back: then the last write reached every instance, whatever ``lag`` says.

    Returns ``dict(marker, checked)``; raises a sentence naming the endpoint that did not get it within ``timeout``."""
    marker = dict(migration_id=uuid.uuid4().hex, database=bdb.get('name'), crdt_guid=bdb.get('crdt_guid') or '',
                  sources=[mask_uri(uri) for uri in source_uris],
                  written_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    value = json.dumps(marker, sort_keys=True)
    for uri in source_uris:
        source = _open_source(params, uri, secrets)
        try:
            source.call('SET', MARKER_KEY, value)
        finally:
            source.close()
    deadline = clock() + timeout
    checked = []
    for name, host, port in instance_endpoints(bdb):
        server = _open_instance(params, name, host, port, secrets)
        try:
            while True:
                seen = _decode_marker(server.call('GET', MARKER_KEY))
                if seen and seen.get('migration_id') == marker['migration_id']:
                    checked.append(endpoint(host, port))
                    break
                if clock() >= deadline:
                    raise KvmigrateError(
                        "Final check: the marker written to the source did not reach the Active-Active %s within "
                        "final_check_timeout=%s s (it reads %s), so the last writes may be missing there. Replica Of was "
                        "left running: check the sync (and, for a peer, the Active-Active sync) and run again." % (
                            name, timeout, 'an older marker' if seen else 'no marker'), cause='final_check', checked=checked)
                sleep(poll_interval)
        finally:
            server.close()
    return dict(marker=marker, checked=checked)


def remove_source_marker(params, source_uris, secrets=()):
    """Delete the marker from the sources once the sync is stopped (it stays in the Active-Active database);
    a sentence for a warning when that fails, else None."""
    failures = []
    for uri in source_uris:
        try:
            source = _open_source(params, uri, secrets)
            try:
                source.call('DEL', MARKER_KEY)
            finally:
                source.close()
        except KvmigrateError as exc:
            failures.append(exc.msg)
    if failures:
        return "The completion marker %s stays on the source: %s Delete it there by hand." % (MARKER_KEY, ' '.join(failures))
    return None
