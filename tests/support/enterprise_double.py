"""A test double of the Redis Enterprise Software cluster REST API, backed by real redis-server processes.

What it serves (field names and values as documented; see plugins/module_utils/enterprise.py for sources):

* HTTPS (a self-signed certificate made here), HTTP basic auth: 401 for unknown
  credentials, 403 for a ``db_viewer`` user that tries to change something.
* ``GET /v1/bdbs``, ``GET /v1/bdbs/{uid}`` (``?fields=a,b``), ``PUT /v1/bdbs/{uid}``,
  ``PUT /v1/bdbs/{uid}/flush``, ``PUT /v1/crdbs/{guid}/flush``, ``GET /v1/bdbs/stats/last/{uid}``.
* After each accepted PUT the database is ``active-change-pending`` for
  ``pending_seconds``; another PUT meanwhile gets 409 (documented).
* ``replica_sync`` transitions outside the documented table get 406; so do
  compression outside 0..6 and ``enabled`` without sources. Any state -> disabled
  is accepted (inferred, as in the module).

How Replica Of is acted out on the backing servers:

* enabling (from disabled/stopped) or new sources while enabled: FLUSHALL the
  destination, ``CONFIG SET masteruser/masterauth`` from the URI, ``REPLICAOF host port``;
* paused -> enabled: REPLICAOF again without a flush (inferred behaviour);
* paused / stopped / disabled: ``REPLICAOF NO ONE`` (the destination keeps its data);
* a sampler thread reads the destination's INFO every 50 ms and derives each
  source's ``status`` from it (its own reading of INFO, not the collection's):
  synced -> in-sync, full sync in progress -> syncing (rdb_size/rdb_transferred
  from master_sync_total_bytes/read_bytes), otherwise out-of-sync;
* ``lag`` (ms, the double's own estimate; RS does not document how it measures
  it): 0 when the destination's offset has reached the source's
  ``master_repl_offset``, else the time since the source was last seen at an
  offset the destination has reached;
* a source the double cannot reach sets ``last_error`` (the sync stays
  enabled, connection errors are retried: documented); a source that rejects
  the credentials sets ``last_error`` and ``replica_sync: stopped`` (documented:
  authentication errors stop the sync).

Strict mode (``strict=True``, the default; the tests use it unless they say why not) plays a
cluster that agrees with nothing the module guesses:

* ``mask_bdb_credentials`` (cluster setting, documented) is on: bdb answers carry ``********`` for
  ``authentication_admin_pass``/``authentication_redis_pass`` and the passwords of source URIs,
  omit ``client_key`` and rewrite PEM whitespace (CRLF line ends, a trailing blank);
* undocumented ``replica_sync`` transitions (enabled/paused/stopped -> disabled) get 406;
* every accepted PUT returns an ``action_uid``; ``GET /v1/actions/{uid}`` walks pending -> active ->
  completed, or to ``failed`` (``fail_next_action``), in which case the change is not applied;
* ``unavailable`` answers that many next requests with 503 (node not responding);
* errors carry ``error_code`` with ``message`` (PUT errors, documented) or ``description`` (openapi ``cluster_Error``);
* ``no_of_keys`` is a float, and ``stats/last`` answers 406 while the database is not active;
* Active-Active peers (``add_peer``) are real servers with their own endpoints in ``crdt_sources``, fed by chained
  replication from the instance (``pause_peer`` cuts that link).

The double computes every status from redis-py's parsed INFO itself and imports nothing from the collection.

Limitations: one source per database (RS accepts 32), and the replication link is
never encrypted whatever ``encryption`` says (the fields are stored and echoed).
"""
import base64
import collections
import datetime
import ipaddress
import json
import os
import re
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TRANSITIONS = {
    'disabled': ('enabled',),
    'enabled': ('stopped', 'paused'),
    'paused': ('enabled', 'stopped'),
    'stopped': ('enabled',),
}
STATES = ('disabled', 'enabled', 'paused', 'stopped')
SOURCE_CONFIG = ('uri', 'compression', 'encryption', 'server_cert', 'client_cert', 'client_key', 'replication_tls_sni')
MASKED = '********'


def _mask_uri(uri):
    parsed = urlsplit(uri)
    if parsed.password is None:
        return uri
    return uri.replace(':%s@' % parsed.password, ':%s@' % MASKED, 1)


def _rewrap_pem(pem):
    return '\r\n'.join(line.strip() for line in pem.strip().splitlines()) + '\r\n ' if pem else pem


def _masked_source(source):
    shown = dict(source)
    shown['uri'] = _mask_uri(shown.get('uri') or '')
    shown.pop('client_key', None)
    for field in ('server_cert', 'client_cert'):
        if shown.get(field):
            shown[field] = _rewrap_pem(shown[field])
    return shown


def link_state(info):
    """(status, rdb_size, rdb_transferred, offset) of a destination from redis-py's parsed INFO, read here."""
    if info.get('role') not in ('slave', 'replica'):
        return 'out-of-sync', 0, 0, None
    if info.get('master_sync_in_progress'):
        return 'syncing', int(info.get('master_sync_total_bytes') or 0), int(info.get('master_sync_read_bytes') or 0), None
    if info.get('master_link_status') == 'up':
        return 'in-sync', 0, 0, int(info.get('slave_repl_offset') or 0)
    return 'out-of-sync', 0, 0, None


def make_certificate(directory):
    """A self-signed certificate for localhost/127.0.0.1; returns (cert_path, key_path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost'),
                                                        x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, 'api-cert.pem'), os.path.join(directory, 'api-key.pem')
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return cert_path, key_path


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class ApiError(Exception):
    def __init__(self, status, error_code, description, style='description'):
        super(ApiError, self).__init__(description)
        self.status = status
        self.body = {'error_code': error_code, style: description}


class Database(object):
    """One bdb: its documented fields plus the redis-server that plays it."""

    def __init__(self, uid, name, server, crdt=False, admin_pass=None):
        self.uid = uid
        self.name = name
        self.server = server
        self.crdt = crdt
        self.crdt_guid = str(uuid.uuid4()) if crdt else ''
        self.admin_pass = admin_pass or uuid.uuid4().hex
        self.status = 'active'
        self.pending_until = 0.0
        self.replica_sync = 'disabled'
        self.sources = []  # syncer_sources dicts (config + status fields)
        self.next_source_uid = 1
        self.offset_samples = collections.deque(maxlen=2000)  # (time, source master_repl_offset)
        self.puts = 0
        self.generation = 0  # bumped by every accepted PUT, so a sample taken before it is dropped
        self._client = None
        self.probe = None  # (uri, client) to the source, reused between samples
        self.peers = []  # Active-Active peer instances: RedisServer objects on "other clusters"
        self.action_uid = None

    def client(self):
        if self._client is None:
            self._client = self.server.client()
        return self._client

    def source_client(self, uri):
        if self.probe is None or self.probe[0] != uri:
            parsed = urlsplit(uri)
            self.probe = (uri, redis.Redis(host=parsed.hostname, port=parsed.port,
                                           username=unquote(parsed.username) if parsed.username else None,
                                           password=unquote(parsed.password) if parsed.password else None,
                                           socket_connect_timeout=0.5, socket_timeout=1, decode_responses=True,
                                           retry=Retry(NoBackoff(), 0)))
        return self.probe[1]

    def json(self, now, masked=False):
        if self.pending_until and now >= self.pending_until:
            self.status, self.pending_until = 'active', 0.0
        sources = [_masked_source(s) if masked else dict(s) for s in self.sources]
        peers = [{'uid': index + 1, 'uri': 'redis://admin:%s@%s:%d' % (MASKED if masked else (peer.password or ''), peer.host, peer.port),
                  'status': 'in-sync'} for index, peer in enumerate(self.peers)]

        def hidden(secret):
            return MASKED if masked and secret else secret
        return {
            'uid': self.uid, 'name': self.name, 'type': 'redis', 'status': self.status,
            'crdt': self.crdt, 'crdt_guid': self.crdt_guid, 'crdt_sync': 'enabled' if self.crdt else 'disabled',
            'port': self.server.port,
            'endpoints': [{'uid': '%d:1' % self.uid, 'dns_name': self.server.host, 'addr': [self.server.host],
                           'addr_type': 'external', 'port': self.server.port, 'proxy_policy': 'single'}],
            'authentication_admin_pass': hidden(self.admin_pass),
            'authentication_redis_pass': hidden(self.server.password or ''),
            'replica_sync': self.replica_sync, 'replica_sources': sources, 'replica_sync_dist': True,
            'crdt_sources': peers, 'action_uid': self.action_uid,
            # deprecated since 5.0.1, same values as replica_* (documented)
            'sync': self.replica_sync, 'sync_sources': [dict(s) for s in sources],
            'flush_on_fullsync': True,
        }


class EnterpriseDouble(object):
    def __init__(self, users=None, pending_seconds=0.3, sample_interval=0.05, strict=True):
        self.strict = strict
        self.mask_bdb_credentials = strict
        self.fail_next_action = None  # a reason: the next accepted PUT's action fails and the change is not applied
        self.unavailable = 0  # answer that many next requests with 503
        self.actions = {}
        self.users = users or {'admin@example.com': ('cluster-Secret-1', 'admin')}
        self.pending_seconds = pending_seconds
        self.sample_interval = sample_interval
        self.databases = {}
        self.lock = threading.RLock()
        self.dir = tempfile.mkdtemp(prefix='kvm-rs-')
        self.cert_path, self.key_path = make_certificate(self.dir)
        self.httpd = None
        self.requests = []  # (method, path, status) for assertions
        self._stop = threading.Event()
        self._threads = []

    # -- set-up -------------------------------------------------------------------------------------------------------
    def add_database(self, uid, name, server, crdt=False, admin_pass=None):
        """Register ``server`` (a running RedisServer) as bdb ``uid``. The internal
        ``admin`` user the cluster uses for SYNC from it is created with ACL."""
        db = Database(uid, name, server, crdt=crdt, admin_pass=admin_pass)
        server.client().execute_command('ACL', 'SETUSER', 'admin', 'on', '>' + db.admin_pass, '~*', '&*', '+@all')
        with self.lock:
            self.databases[uid] = db
        return db

    def add_peer(self, uid, server):
        """Make ``server`` a peer instance of Active-Active database ``uid``: it gets the instance's data by chained
        replication, as the seed says the migrating instance copies data on to the other instances."""
        db = self.database(uid)
        client = server.client()
        client.config_set('masterauth', db.server.password or '')
        client.execute_command('REPLICAOF', db.server.host, db.server.port)
        with self.lock:
            db.peers.append(server)
        return server

    def pause_peer(self, server):
        server.client().execute_command('REPLICAOF', 'NO', 'ONE')

    def start(self):
        handler = _handler_for(self)
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        for target in (self.httpd.serve_forever, self._sampler):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    def stop(self):
        self._stop.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def database(self, uid):
        with self.lock:
            return self.databases[uid]

    # -- HTTP ---------------------------------------------------------------------------------------------------------
    def authenticate(self, header):
        if not header or not header.startswith('Basic '):
            raise ApiError(401, 'unauthorized', 'Authentication required')
        try:
            user, dummy, password = base64.b64decode(header[6:]).decode('utf-8').partition(':')
        except (ValueError, UnicodeDecodeError):
            raise ApiError(401, 'unauthorized', 'Malformed credentials')
        known = self.users.get(user)
        if not known or known[0] != password:
            raise ApiError(401, 'unauthorized', 'Invalid credentials')
        return user, known[1]

    def handle(self, method, raw_path, header, body):
        parts = urlsplit(raw_path)
        path, query = parts.path.rstrip('/'), parse_qs(parts.query)
        dummy, role = self.authenticate(header)
        if method != 'GET' and role == 'db_viewer':
            raise ApiError(403, 'insufficient_permissions', 'Insufficient permissions for this action')
        now = time.monotonic()
        masked = self.mask_bdb_credentials
        with self.lock:
            if self.unavailable > 0:
                self.unavailable -= 1
                raise ApiError(503, 'node_not_responding', 'Node not responding, try again later')
            if method == 'GET' and path == '/v1/bdbs':
                return [self._fields(db.json(now, masked), query) for db in sorted(self.databases.values(), key=lambda d: d.uid)]
            match = re.match(r'^/v1/bdbs/stats/last/(\d+)$', path)
            if method == 'GET' and match:
                db = self._db(match.group(1))
                db.json(now)
                if self.strict and db.status != 'active':
                    raise ApiError(406, 'db_not_active', "bdb isn't currently active")
                keys = sum(v.get('keys', 0) for k, v in db.client().info('keyspace').items())
                return {str(db.uid): {'no_of_keys': float(keys), 'stime': _now_iso(), 'etime': _now_iso()}}
            match = re.match(r'^/v1/actions/([0-9a-f-]+)$', path)
            if method == 'GET' and match:
                return self._action(match.group(1), now)
            match = re.match(r'^/v1/bdbs/(\d+)$', path)
            if match and method == 'GET':
                return self._fields(self._db(match.group(1)).json(now, masked), query)
            if match and method == 'PUT':
                return self._update(self._db(match.group(1)), body, now)
            match = re.match(r'^/v1/bdbs/(\d+)/flush$', path)
            if match and method == 'PUT':
                db = self._db(match.group(1))
                self._check_not_pending(db, now)
                db.client().flushall()
                return db.json(now)
            match = re.match(r'^/v1/crdbs/([0-9a-f-]+)/flush$', path)
            if match and method == 'PUT':
                found = [d for d in self.databases.values() if d.crdt and d.crdt_guid == match.group(1)]
                if not found:
                    raise ApiError(404, 'crdb_not_found', 'Active-Active database %s not found' % match.group(1))
                for db in found:
                    db.client().flushall()
                return {'id': str(uuid.uuid4()), 'status': 'finished', 'crdb_guid': match.group(1)}
        raise ApiError(404, 'not_found', 'No route %s %s' % (method, path))

    @staticmethod
    def _fields(obj, query):
        fields = query.get('fields')
        if not fields:
            return obj
        wanted = set(','.join(fields).split(','))
        return dict((k, v) for k, v in obj.items() if k in wanted)

    def _db(self, uid):
        db = self.databases.get(int(uid))
        if db is None:
            raise ApiError(404, 'db_not_exist', 'Database %s does not exist' % uid)
        return db

    def _action(self, action_uid, now):
        action = self.actions.get(action_uid)
        if action is None:
            raise ApiError(404, 'action_not_found', 'Action %s does not exist' % action_uid)
        shown = dict((k, v) for k, v in action.items() if not k.startswith('_'))
        elapsed = now - action['_started']
        if elapsed < action['_seconds'] / 2:
            shown.update(status='pending', progress=0.0)
        elif elapsed < action['_seconds']:
            shown.update(status='active', progress=50.0)
        elif action['_failure']:
            shown.update(status='failed', progress=50.0, pending_ops={'1': {'op_name': 'update_syncer', 'status_code': 'error',
                                                                            'status_description': action['_failure']}})
        else:
            shown.update(status='completed', progress=100.0)
        return shown

    def _new_action(self, db, now, failure=None):
        action_uid = str(uuid.uuid4())
        self.actions[action_uid] = dict(action_uid=action_uid, name='SMUpdateBDB', object_name='bdb:%d' % db.uid, _started=now,
                                        _seconds=self.pending_seconds, _failure=failure)
        db.action_uid = action_uid
        return action_uid

    def _check_not_pending(self, db, now):
        db.json(now)  # refreshes status
        if db.status != 'active':
            raise ApiError(409, 'db_busy', 'Database %d is busy: another change is in progress (%s)' % (db.uid, db.status))

    # -- Replica Of ---------------------------------------------------------------------------------------------------
    def _update(self, db, body, now):
        if not isinstance(body, dict):
            raise ApiError(400, 'invalid_schema', 'Request body must be a JSON object')
        self._check_not_pending(db, now)
        wanted_sync = body.get('replica_sync', db.replica_sync)
        if wanted_sync not in STATES:
            raise ApiError(406, 'invalid_schema', 'replica_sync must be one of %s' % ', '.join(STATES), style='message')
        if self.strict and wanted_sync == 'disabled' and db.replica_sync != 'disabled':
            # documented next states only: nothing leads back to disabled
            raise ApiError(406, 'invalid_transition', 'replica_sync cannot change from %s to disabled' % db.replica_sync,
                           style='message')
        if self.fail_next_action:
            failure, self.fail_next_action = self.fail_next_action, None
            self._new_action(db, now, failure=failure)
            db.status, db.pending_until = 'active-change-pending', now + self.pending_seconds
            return db.json(now, self.mask_bdb_credentials)
        new_sources = None
        if 'replica_sources' in body:
            new_sources = self._validate_sources(body['replica_sources'])
        if wanted_sync != db.replica_sync and wanted_sync != 'disabled' and wanted_sync not in TRANSITIONS[db.replica_sync]:
            raise ApiError(406, 'invalid_transition', 'replica_sync cannot change from %s to %s' % (db.replica_sync, wanted_sync))
        sources_after = new_sources if new_sources is not None else db.sources
        if wanted_sync == 'enabled' and not sources_after:
            raise ApiError(406, 'missing_sources', 'replica_sync enabled requires replica_sources')
        sources_changed = new_sources is not None and [_config(s) for s in new_sources] != [_config(s) for s in db.sources]
        previous = db.replica_sync
        if new_sources is not None:
            if sources_changed:
                for source in new_sources:
                    source.update(uid=db.next_source_uid, status='out-of-sync', lag=0, last_error='', last_update='',
                                  rdb_size=0, rdb_transferred=0)
                    db.next_source_uid += 1
                db.sources = new_sources
        db.replica_sync = wanted_sync
        if wanted_sync == 'enabled' and (previous in ('disabled', 'stopped') or sources_changed):
            self._start_sync(db, flush=True)
        elif wanted_sync == 'enabled' and previous == 'paused':
            self._start_sync(db, flush=False)
        elif wanted_sync != 'enabled' and previous == 'enabled':
            db.client().execute_command('REPLICAOF', 'NO', 'ONE')
        db.puts += 1
        db.generation += 1
        db.status, db.pending_until = 'active-change-pending', now + self.pending_seconds
        self._new_action(db, now)
        return db.json(now, self.mask_bdb_credentials)

    @staticmethod
    def _validate_sources(sources):
        if not isinstance(sources, list):
            raise ApiError(400, 'invalid_schema', 'replica_sources must be a list')
        if len(sources) > 1:
            raise ApiError(406, 'not_supported', 'This test double replicates from one source only (the cluster allows 32)')
        cleaned = []
        for source in sources:
            if not isinstance(source, dict) or not source.get('uri'):
                raise ApiError(406, 'invalid_schema', 'Each replica source needs a uri')
            compression = source.get('compression', 0)
            if not isinstance(compression, int) or not 0 <= compression <= 6:
                raise ApiError(406, 'invalid_schema', 'compression must be an integer from 0 to 6')
            try:
                parsed = urlsplit(source['uri'])
                valid = parsed.scheme in ('redis', 'rediss') and parsed.hostname and parsed.port
            except ValueError:
                valid = False
            if not valid:
                raise ApiError(406, 'invalid_schema', 'Invalid source uri')
            cleaned.append(dict((k, source[k]) for k in SOURCE_CONFIG if k in source))
        return cleaned

    def _start_sync(self, db, flush):
        source = db.sources[0]
        parsed = urlsplit(source['uri'])
        client = db.client()
        client.execute_command('REPLICAOF', 'NO', 'ONE')
        if flush:
            client.flushall()  # documented: the destination is flushed before the migration starts
        client.config_set('masteruser', unquote(parsed.username) if parsed.username else '')
        client.config_set('masterauth', unquote(parsed.password) if parsed.password else '')
        client.execute_command('REPLICAOF', parsed.hostname, parsed.port)
        db.offset_samples.clear()
        source.update(status='out-of-sync', last_error='', lag=0)

    # -- the sampler ----------------------------------------------------------------------------------------------------
    def _sampler(self):
        while not self._stop.wait(self.sample_interval):
            with self.lock:
                work = [(db, db.generation, db.sources[0]['uri']) for db in self.databases.values()
                        if db.replica_sync == 'enabled' and db.sources]
            for db, generation, uri in work:
                try:
                    observed = self._observe(db, uri)  # INFO calls, outside the lock: the API stays responsive
                except Exception as exc:  # a broken sample must not kill the double
                    observed = dict(failure='double: %s' % exc)
                with self.lock:
                    if db.generation == generation and db.replica_sync == 'enabled' and db.sources:
                        self._apply(db, observed)

    @staticmethod
    def _observe(db, uri):
        observed = dict(status=link_state(db.client().info('replication')), source_offset=None, auth_error=None, error=None)
        try:
            info = db.source_client(uri).info('replication')
            observed['source_offset'] = int(info.get('master_repl_offset') or 0)
        except redis.AuthenticationError as exc:
            observed['auth_error'] = str(exc)
        except redis.RedisError as exc:
            observed['error'] = str(exc)
        observed['time'] = time.monotonic()
        return observed

    def _apply(self, db, observed):
        source = db.sources[0]
        if observed.get('failure'):
            source['last_error'] = observed['failure']
            return
        if observed['auth_error']:
            # documented: authentication failures stop the sync; last_error says why
            source.update(status='out-of-sync', last_error='Authentication to the source failed: %s' % observed['auth_error'])
            db.replica_sync = 'stopped'
            db.client().execute_command('REPLICAOF', 'NO', 'ONE')
            return
        status, now, source_offset = observed['status'], observed['time'], observed['source_offset']
        if source_offset is not None:
            db.offset_samples.append((now, source_offset))
        state, rdb_size, rdb_transferred, replica_offset = status
        if state == 'in-sync':
            source.update(status='in-sync', lag=self._lag_ms(db, replica_offset, source_offset, now), last_update=_now_iso())
            if source.get('rdb_size'):
                source['rdb_transferred'] = source['rdb_size']
        elif state == 'syncing':
            source.update(status='syncing', rdb_size=rdb_size, rdb_transferred=rdb_transferred, last_update=_now_iso())
        else:
            source['status'] = 'out-of-sync'
        if observed['error']:
            # documented: connection errors do not stop the sync, the syncer retries
            source['last_error'] = 'Connection to the source failed: %s' % observed['error']

    @staticmethod
    def _lag_ms(db, replica_offset, source_offset, now):
        if source_offset is None or replica_offset >= source_offset:
            return 0
        reached = [t for t, offset in db.offset_samples if offset <= replica_offset]
        since = reached[-1] if reached else (db.offset_samples[0][0] if db.offset_samples else now)
        return int((now - since) * 1000)


def _config(source):
    return tuple(source.get(k) for k in SOURCE_CONFIG)


def _handler_for(double):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def _serve(self, method):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            try:
                try:
                    body = json.loads(raw.decode('utf-8')) if raw else None
                except ValueError:
                    raise ApiError(400, 'invalid_json', 'Request body is not JSON')
                status, payload = 200, double.handle(method, self.path, self.headers.get('Authorization'), body)
            except ApiError as exc:
                status, payload = exc.status, exc.body
            except Exception as exc:  # the double's own failure: answer 500 like a cluster would
                status, payload = 500, dict(error_code='internal_error', description=str(exc))
            double.requests.append((method, self.path, status))
            data = json.dumps(payload).encode('utf-8')
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            if status == 401:
                self.send_header('WWW-Authenticate', 'Basic realm="cluster"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve('GET')

        def do_PUT(self):
            self._serve('PUT')

    return Handler
