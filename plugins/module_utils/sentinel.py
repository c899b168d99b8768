# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sentinel-managed pairs: which Sentinels watch a pair, under which master name, and the hand-over of that master
name from the old primary to the new one around a cutover (docs/sentinel.md).

A Sentinel that still watches the old primary after a cutover sees it report ``role:slave``, fails over to another
replica and re-points the new primary at it (``+convert-to-slave``, ``+fix-slave-config``): two writable primaries.
So every Sentinel forgets the master (``SENTINEL REMOVE``) before the cutover and monitors the new primary after it.
What REMOVE forgets (quorum, timeouts, the old primary's other replicas, the address Sentinels should use for the new
primary) is written first to the key ``kvmigrate:sentinel`` on the old primary, which replicates it to the new one:
a run killed between REMOVE and MONITOR finds it there and finishes the hand-over.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, parse_client_list, connect, endpoint, resolve, same_endpoint)

RECORD_KEY = 'kvmigrate:sentinel'
# {new primary endpoint: its replica-priority before the shield}, on the old primary so it replicates to the new one.
PRIORITY_KEY = 'kvmigrate:sentinel:replica-priority'
# As long as the cutover record: a hand-over interrupted on Friday is still finished by Monday's re-run.
RECORD_TTL_MS = 7 * 24 * 3600 * 1000
DEFAULT_SENTINEL_PORT = 26379
# The per-master settings SENTINEL MONITOR resets to defaults, so they are read before REMOVE and set again after.
COPIED_SETTINGS = ('down-after-milliseconds', 'failover-timeout', 'parallel-syncs')
# sentinel.c names its two links to every instance it watches sentinel-<first 8 chars of its myid>-cmd/-pubsub.
_SENTINEL_LINK = re.compile(r'^sentinel-([0-9a-f]{8})-(?:cmd|pubsub)$')


def sentinel_argument_spec():
    """The options naming the Sentinels of a pair, shared by sentinel_info and sentinel_master."""
    return dict(
        sentinels=dict(type='list', elements='raw', default=[]),
        sentinel_user=dict(type='str'),
        sentinel_password=dict(type='str', no_log=True),
        master_name=dict(type='str'),
        source_host=dict(type='str'),
        source_port=dict(type='int', default=6379),
        primary_user=dict(type='str', aliases=['master_user']),
        primary_password=dict(type='str', no_log=True, aliases=['master_password']),
    )


def parse_sentinels(value, label='sentinels'):
    """[(host, port)] from a list of ``host``, ``host:port``, ``[v6]:port`` or ``{host, port}`` entries."""
    found = []
    for entry in value or []:
        if isinstance(entry, dict):
            host, port = entry.get('host'), entry.get('port', DEFAULT_SENTINEL_PORT)
        else:
            text = str(entry).strip()
            match = re.match(r'^\[([^\]]+)\](?::(\d+))?$', text) or re.match(r'^([^:]+)(?::(\d+))?$', text)
            if not match:
                raise KvmigrateError("Entry %r of %s is not host:port: write each Sentinel as host:port, such as "
                                     "10.0.0.21:26379." % (text, label))
            host, port = match.group(1), match.group(2) or DEFAULT_SENTINEL_PORT
        try:
            port = int(port)
        except (TypeError, ValueError):
            port = None
        if not host or port is None or not 1 <= port <= 65535:
            raise KvmigrateError("Entry %r of %s needs a host and a TCP port from 1 to 65535: write each Sentinel as "
                                 "host:port, such as 10.0.0.21:26379." % (entry, label))
        if any(same_endpoint(host, port, other_host, other_port) for other_host, other_port in found):
            raise KvmigrateError("%s names Sentinel %s twice (addresses compared resolved): list each Sentinel once."
                                 % (label, endpoint(host, port)))
        found.append((str(host), port))
    return found


def fields_of(reply):
    """One instance of a SENTINEL MASTER(S)/SENTINELS reply as {field: str}: redis-py gives dicts for some
    subcommands and flat [name, value, ...] lists for others."""
    if isinstance(reply, dict):
        return dict((str(k), str(v)) for k, v in reply.items())
    items = list(reply or [])
    return dict((str(items[i]), str(items[i + 1])) for i in range(0, len(items) - 1, 2))


def instances_of(reply):
    if isinstance(reply, dict):
        reply = list(reply.values())
    return [fields_of(item) for item in reply or []]


def watching_ids(client_list_text):
    """{8-char Sentinel id: [address it connects from]} from CLIENT LIST text."""
    found = {}
    for client in parse_client_list(client_list_text):
        match = _SENTINEL_LINK.match(client.get('name', ''))
        if match:
            address = client.get('addr', '?').rsplit(':', 1)[0]
            found.setdefault(match.group(1), [])
            if address not in found[match.group(1)]:
                found[match.group(1)].append(address)
    return found


def settings_of(master):
    """The settings of a SENTINEL MASTER entry that MONITOR would reset: quorum plus COPIED_SETTINGS, as ints."""
    wanted = dict(quorum=int(master.get('quorum', 1)))
    for name in COPIED_SETTINGS:
        if master.get(name) not in (None, ''):
            wanted[name] = int(master[name])
    return wanted


def monitors(master, host, port, run_id=None):
    """True when a SENTINEL MASTER entry is the server at host:port: by address resolved, or by run id (a Sentinel
    may reach the server at an address the control node does not use)."""
    if master is None:
        return False
    if run_id and master.get('runid') == run_id:
        return True
    return same_endpoint(master.get('ip'), master.get('port'), host, port)


def first_ip(host):
    """An IP address of ``host``: SENTINEL MONITOR takes only addresses unless resolve-hostnames is set."""
    addresses = sorted(a for a in resolve(host) if a != 'localhost')
    ipv4 = [a for a in addresses if ':' not in a and re.match(r'^[0-9.]+$', a)]
    if str(host) in addresses and (str(host) in ipv4 or ':' in str(host)):
        return str(host)
    return (ipv4 or addresses or [str(host)])[0]


def parse_record(text):
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get('master_name') else None


class Sentinel(object):
    """One Sentinel of the inventory, connected: its id and what it monitors."""

    def __init__(self, server):
        self.server = server
        self.endpoint = server.endpoint
        self.myid = str(server.call('SENTINEL', 'MYID'))
        self.masters = instances_of(server.call('SENTINEL', 'MASTERS'))

    @property
    def short_id(self):
        return self.myid[:8]

    def master(self, name):
        for master in self.masters:
            if master.get('name') == name:
                return master
        return None

    def peers(self, name):
        return instances_of(self.server.call('SENTINEL', 'SENTINELS', name))


class Pair(object):
    """The two ends of a hand-over (the old primary Sentinel watches now, the new primary it should watch) and the
    Sentinels of the inventory, all connected, with what each reports. Reads only."""

    def __init__(self, params, new_primary_required=True):
        self.params = params
        self.secrets = [s for s in (params.get('sentinel_password'), params.get('login_password'),
                                    params.get('primary_password'), params.get('auth_password')) if s]
        self.warnings = []
        self.errors = []
        self.sentinels = []
        self.unreachable = []
        self.new_primary = self.old_primary = None
        self.status = {'new': None, 'old': None}
        self.run_ids = {'new': None, 'old': None}
        self.new_primary = self._connect_end('new', required=new_primary_required)
        self.old_primary = self._connect_end('old', required=False) if params.get('source_host') else None
        for host, port in parse_sentinels(params.get('sentinels'), self._label('sentinels')):
            try:
                server = connect(params, host=host, port=port, username=params.get('sentinel_user'),
                                 password=params.get('sentinel_password'), what='Sentinel', secrets=self.secrets,
                                 option_prefix={'user': 'sentinel_user', 'password': 'sentinel_password',
                                                'host': 'sentinels', 'port': 'sentinels'})
                self.sentinels.append(Sentinel(server))
            except KvmigrateError as exc:
                self.unreachable.append(dict(endpoint=endpoint(host, port), error=exc.msg))

    def _label(self, option):
        labels = self.params.get('option_labels') or {}
        return str(labels.get(option) or option)

    def _connect_end(self, end, required):
        if end == 'new':
            kwargs = dict(what='new primary')
        else:
            kwargs = dict(host=self.params['source_host'], port=self.params['source_port'], what='old primary',
                          username=self.params.get('primary_user'), password=self.params.get('primary_password'),
                          option_prefix={'user': 'primary_user', 'password': 'primary_password', 'host': 'source_host',
                                         'port': 'source_port'})
        try:
            server = connect(self.params, secrets=self.secrets, **kwargs)
            server.identify()
            dummy, fields, status = server.status()
        except KvmigrateError as exc:
            if required:
                raise
            self.errors.append(exc.msg)
            return None
        self.status[end] = status
        self.run_ids[end] = fields.get('run_id')
        return server

    def require_every_sentinel(self):
        if self.unreachable:
            raise KvmigrateError(
                "%s; nothing was changed: a Sentinel that cannot be reached cannot be told to stop watching the old "
                "primary, and would fail over after the cutover. Make every Sentinel of %s reachable from the node "
                "that runs the module, or remove it from the list." % (
                    '; '.join(u['error'].rstrip('.') for u in self.unreachable), self._label('sentinels')))

    def end_of(self, master):
        """'old', 'new' or None: which end of the pair a SENTINEL MASTER entry is."""
        if self.new_primary is not None and monitors(master, self.new_primary.host, self.new_primary.port, self.run_ids['new']):
            return 'new'
        if self.params.get('source_host') and monitors(master, self.params['source_host'], self.params['source_port'],
                                                       self.run_ids['old']):
            return 'old'
        return None

    def read_record(self):
        """The hand-over record: on the new primary once it is promoted, else on the old primary."""
        for server in (self.new_primary, self.old_primary):
            if server is None:
                continue
            try:
                record = parse_record(server.call('GET', RECORD_KEY))
            except KvmigrateError:
                continue
            if record:
                return record
        return None

    def master_name(self, record=None):
        """The master name the Sentinels use for this pair: the option, else the record's, else the one name every
        Sentinel that watches either end uses. None when no Sentinel watches either end."""
        if self.params.get('master_name'):
            return self.params['master_name']
        if record:
            return record['master_name']
        names = sorted(set(m['name'] for s in self.sentinels for m in s.masters if self.end_of(m)))
        if len(names) > 1:
            raise KvmigrateError("The Sentinels of %s watch this pair under several master names (%s): set %s to the "
                                 "one to hand over; nothing was changed." % (
                                     self._label('sentinels'), ', '.join(names), self._label('master_name')))
        return names[0] if names else None

    def unknown_watchers(self):
        """[{id, server, addresses}] of Sentinels connected to either end that are not in the list (by their id)."""
        known = set(s.short_id for s in self.sentinels)
        found = []
        for end, server in (('old', self.old_primary), ('new', self.new_primary)):
            if server is None:
                continue
            try:
                clients = server.call('CLIENT', 'LIST')
            except KvmigrateError as exc:
                self.errors.append(exc.msg)
                continue
            for sentinel_id, addresses in sorted(watching_ids(clients).items()):
                if sentinel_id not in known and sentinel_id not in [f['id'] for f in found]:
                    found.append(dict(id=sentinel_id, server=server.endpoint, addresses=addresses, end=end))
        return found

    def unknown_peers(self, name):
        """Sentinels that the listed ones know as peers for ``name`` and that the list does not hold."""
        known = set(s.myid for s in self.sentinels)
        found = {}
        for sentinel in self.sentinels:
            if sentinel.master(name) is None:
                continue
            for peer in sentinel.peers(name):
                if peer.get('runid') and peer['runid'] not in known:
                    found[peer['runid']] = endpoint(peer.get('ip', '?'), peer.get('port', '?'))
        return [dict(id=runid[:8], address=address) for runid, address in sorted(found.items())]

    def refuse_unknown(self, name):
        unknown = self.unknown_watchers()
        if unknown:
            raise KvmigrateError(unknown_watchers_sentence(unknown, self._label('sentinels')) + " Nothing was changed.")
        peers = self.unknown_peers(name) if name else []
        if peers:
            raise KvmigrateError(unknown_peers_sentence(peers, name, self._label('sentinels')) + " Nothing was changed.")

    def new_primary_address(self):
        """(ip, port) the old primary lists the new primary by among its replicas, the address Sentinel learnt it by;
        else an address of the new primary's login host."""
        if self.old_primary is not None and self.status['old'] and self.status['old'].get('role') == info_utils.ROLE_PRIMARY:
            addresses = resolve(self.new_primary.host)
            link_address = self.new_primary.replication_link_address()
            if link_address:
                addresses.add(link_address)
            entry = info_utils.replica_entry(self.status['old'], addresses, self.new_primary.port)
            if entry is not None:
                return entry['ip'], int(entry['port'])
        return first_ip(self.new_primary.host), self.new_primary.port

    def other_replicas(self, new_address):
        """The old primary's replicas other than the new primary, as it lists them: they follow the new primary after
        the hand-over (the old primary itself is fenced by the cutover)."""
        if self.status['old'] is None:
            return []
        new_addresses = resolve(self.new_primary.host) | {new_address[0]}
        link_address = self.new_primary.replication_link_address()
        if link_address:
            new_addresses.add(link_address)
        replicas = []
        for entry in self.status['old'].get('replicas') or []:
            if entry.get('ip') in new_addresses and int(entry.get('port') or 0) == int(self.new_primary.port):
                continue
            replicas.append([entry.get('ip'), int(entry.get('port'))])
        return replicas

    def close(self):
        for server in [self.new_primary, self.old_primary] + [s.server for s in self.sentinels]:
            if server is not None:
                server.close()


def unknown_watchers_sentence(unknown, label='sentinels'):
    described = ', '.join('%s (connected to %s from %s)' % (u['id'], u['server'], '/'.join(u['addresses'])) for u in unknown)
    return ("Sentinel%s %s watch%s this pair but %s not listed in %s: after the cutover such a Sentinel sees the old primary "
            "turn replica, fails over to another replica and re-points the new primary at it, leaving two writable "
            "primaries. List every Sentinel in %s, or remove the master from those Sentinels first (SENTINEL REMOVE "
            "<master name>)." % ('s' if len(unknown) > 1 else '', described, '' if len(unknown) > 1 else 'es',
                                 'are' if len(unknown) > 1 else 'is', label, label))


def unknown_peers_sentence(peers, name, label='sentinels'):
    described = ', '.join('%s at %s' % (p['id'], p['address']) for p in peers)
    return ("The listed Sentinels know other Sentinels for master %s that %s does not name (%s): those would still watch "
            "the old primary after the cutover and fail over from it. List them in %s too, or remove the master from "
            "them first (SENTINEL REMOVE %s)." % (name, label, described, label, name))


def _set_args(name, settings, auth_user=None, auth_password=None):
    args = ['SENTINEL', 'SET', name]
    for option in COPIED_SETTINGS:
        if option in settings:
            args += [option, str(settings[option])]
    if auth_user:
        args += ['auth-user', auth_user]
    if auth_password:
        args += ['auth-pass', auth_password]
    return args


def _describe(master):
    return '%s at %s' % (master['name'], endpoint(master.get('ip'), master.get('port'))) if master else None


class Handover(object):
    """SENTINEL REMOVE on every Sentinel before a cutover (``release``), SENTINEL MONITOR of the new primary after it
    (``monitor``). Plans from the servers' state, so a re-run, another AWX slice or an interrupted run converges;
    applies the plan unless in check mode."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.pair = Pair(params)
        self.commands = []
        self.changed = False

    def _send(self, server, *args):
        shown = ' '.join(str(a) for a in args)
        if args[:2] == ('SET', RECORD_KEY):
            # the record is returned on its own in ``record``
            shown = 'SET %s <record> PX %d' % (RECORD_KEY, RECORD_TTL_MS)
        for secret in self.pair.secrets:
            shown = shown.replace(secret, '********')
        self.commands.append('%s: %s' % (server.endpoint, shown))
        self.changed = True
        if not self.check_mode:
            return server.call(*args)
        return None

    def _views(self, name):
        return dict((s.endpoint, _describe(s.master(name))) for s in self.pair.sentinels)

    def release(self):
        pair = self.pair
        pair.require_every_sentinel()
        record = pair.read_record()
        name = pair.master_name(record)
        pair.refuse_unknown(name)
        if name is None:
            raise KvmigrateError(
                "No Sentinel of %s watches the old primary %s or the new primary %s: set %s to the master name the "
                "Sentinels use, or check the list; nothing was changed." % (
                    pair._label('sentinels'), endpoint(self.params['source_host'], self.params['source_port']),
                    pair.new_primary.endpoint, pair._label('master_name')))
        before = self._views(name)
        to_remove = []
        for sentinel in pair.sentinels:
            master = sentinel.master(name)
            end = pair.end_of(master) if master else None
            if master is not None and end is None:
                raise KvmigrateError(
                    "Sentinel %s monitors master %s at %s, which is neither the old primary %s nor the new primary %s: "
                    "check %s and %s; nothing was changed." % (
                        sentinel.endpoint, name, endpoint(master.get('ip'), master.get('port')),
                        endpoint(self.params['source_host'], self.params['source_port']), pair.new_primary.endpoint,
                        pair._label('master_name'), pair._label('sentinels')))
            if end == 'old':
                to_remove.append(sentinel)
        if to_remove:
            old = pair.old_primary
            if old is None:
                raise KvmigrateError("%s; nothing was changed: the hand-over record is written to the old primary "
                                     "before any Sentinel forgets it." % '; '.join(pair.errors).rstrip('.'))
            if pair.status['old'].get('role') != info_utils.ROLE_PRIMARY:
                raise KvmigrateError(
                    "Sentinels %s still watch %s as master %s, but it is a replica now: the cutover already ran "
                    "without them, so Sentinel may fail over at any moment. Run the promotion again to re-point them "
                    "(sentinel_master state=monitored); nothing was changed." % (
                        ', '.join(s.endpoint for s in to_remove), old.endpoint, name))
            record = record or dict(master_name=name, settings={})
            record['master_name'] = name
            new_address = pair.new_primary_address()
            record.setdefault('new_primary', list(new_address))
            record.setdefault('replicas', pair.other_replicas(new_address))
            for sentinel in to_remove:
                record['settings'][sentinel.myid] = settings_of(sentinel.master(name))
            self._send(old, 'SET', RECORD_KEY, json.dumps(record, sort_keys=True), 'PX', RECORD_TTL_MS)
            for sentinel in to_remove:
                self._send(sentinel.server, 'SENTINEL', 'REMOVE', name)
        after = dict(before)
        after.update((s.endpoint, None) for s in to_remove)
        return self._result(name, record, before, after)

    def shield(self):
        """While the new primary replicates an old primary that Sentinels watch, they learn it as a replica (the old
        primary's INFO lists it) and, should the old primary fail, may promote it half-synced. replica-priority 0 makes
        Sentinel never promote it; its value before is kept in PRIORITY_KEY on the old primary, and ``monitor`` sets it
        back once the new primary took over."""
        pair = self.pair
        pair.require_every_sentinel()
        old = pair.old_primary
        if old is None:
            raise KvmigrateError("%s; nothing was changed: the replica-priority of %s is kept on the old primary before "
                                 "it is changed." % ('; '.join(pair.errors).rstrip('.'), pair.new_primary.endpoint))
        record = pair.read_record()
        name = pair.master_name(record)
        pair.refuse_unknown(name)
        before = self._views(name) if name else {}
        watched = name is not None and any(pair.end_of(s.master(name)) == 'old' for s in pair.sentinels if s.master(name))
        if pair.status['old'].get('role') != info_utils.ROLE_PRIMARY or not watched:
            # cut over already, or no Sentinel watches the old primary: no Sentinel can promote the new one from it
            return self._result(name, record, before, before)
        current = int(pair.new_primary.config_get('replica-priority') or 0)
        kept = old.call('HGET', PRIORITY_KEY, pair.new_primary.endpoint)
        if kept is None and current != 0:
            self._send(old, 'HSET', PRIORITY_KEY, pair.new_primary.endpoint, current)
            self._send(old, 'PEXPIRE', PRIORITY_KEY, RECORD_TTL_MS)
        if current != 0:
            self._send(pair.new_primary, 'CONFIG', 'SET', 'replica-priority', 0)
        result = self._result(name, record, before, before)
        result['replica_priority'] = dict(before=current, after=0)
        return result

    def _unshield(self):
        """The new primary's replica-priority back to its value before the shield, once it is the primary."""
        new = self.pair.new_primary
        kept = new.call('HGET', PRIORITY_KEY, new.endpoint)
        if kept is None:
            return
        if int(new.config_get('replica-priority') or 0) != int(kept):
            self._send(new, 'CONFIG', 'SET', 'replica-priority', int(kept))
        self._send(new, 'HDEL', PRIORITY_KEY, new.endpoint)

    def monitor(self):
        pair = self.pair
        if pair.status['new'].get('role') != info_utils.ROLE_PRIMARY:
            raise KvmigrateError(
                "New primary %s is still a replica, so no Sentinel is pointed at it: run the cutover (replicaof "
                "state=primary fence_source=true) first; nothing was changed." % pair.new_primary.endpoint)
        pair.require_every_sentinel()
        record = pair.read_record()
        name = pair.master_name(record)
        if name is None:
            raise KvmigrateError(
                "No hand-over record (%s) on %s and no Sentinel of %s watches it: set %s to the master name the Sentinels "
                "should use; nothing was changed." % (RECORD_KEY, pair.new_primary.endpoint, pair._label('sentinels'),
                                                      pair._label('master_name')))
        pair.refuse_unknown(name)
        before = self._views(name)
        if record:
            address = tuple(record.get('new_primary') or pair.new_primary_address())
        else:
            address = (first_ip(pair.new_primary.host), pair.new_primary.port)
        fallback = self._fallback_settings(name, record)
        auth_user = self.params.get('auth_user') or self.params.get('login_user')
        auth_password = self.params.get('auth_password') or self.params.get('login_password')
        replica_errors = self._repoint_replicas(record, address) if record else []
        for sentinel in pair.sentinels:
            master = sentinel.master(name)
            wanted = dict(fallback or {})
            wanted.update(((record or {}).get('settings') or {}).get(sentinel.myid) or {})
            if not wanted:
                raise KvmigrateError(
                    "Sentinel %s does not monitor %s and there is no hand-over record (%s) to copy its quorum and "
                    "timeouts from: monitor it by hand (SENTINEL MONITOR %s %s %s <quorum>); nothing was changed." % (
                        sentinel.endpoint, name, RECORD_KEY, name, address[0], address[1]))
            if master is not None and pair.end_of(master) != 'new':
                self._send(sentinel.server, 'SENTINEL', 'REMOVE', name)
                master = None
            if master is None:
                self._send(sentinel.server, 'SENTINEL', 'MONITOR', name, address[0], address[1], wanted['quorum'])
                self._send(sentinel.server, *_set_args(name, wanted, auth_user, auth_password))
                continue
            have = settings_of(master)
            if have.get('quorum') != wanted['quorum']:
                self._send(sentinel.server, 'SENTINEL', 'SET', name, 'quorum', wanted['quorum'])
            differing = dict((k, v) for k, v in wanted.items() if k in COPIED_SETTINGS and have.get(k) != v)
            # auth-pass cannot be read back; while the record is there the hand-over is unfinished, so set it again.
            if differing or record:
                self._send(sentinel.server, *_set_args(name, differing, auth_user if record else None,
                                                       auth_password if record else None))
        for error in replica_errors:
            pair.warnings.append("%s; it was not moved to the new primary %s, so move it by hand (REPLICAOF %s %s)." % (
                error[0].upper() + error[1:], pair.new_primary.endpoint, address[0], address[1]))
        self._unshield()
        if record:
            self._send(pair.new_primary, 'DEL', RECORD_KEY)
        after = dict((s.endpoint, '%s at %s' % (name, endpoint(*address))) for s in pair.sentinels)
        return self._result(name, record, before, after)

    def _fallback_settings(self, name, record):
        """Settings for a Sentinel the record has none for: another Sentinel's from the record, else those of a
        Sentinel that already monitors the new primary."""
        for settings in ((record or {}).get('settings') or {}).values():
            return dict(settings)
        for sentinel in self.pair.sentinels:
            master = sentinel.master(name)
            if master is not None and self.pair.end_of(master) == 'new':
                return settings_of(master)
        return None

    def _repoint_replicas(self, record, address):
        """The old primary's other replicas follow the new primary; they continue its history (the old primary
        replicates from the new one), so a partial resync is possible. Errors become warnings: a replica that cannot be
        moved (a sibling target with other credentials, which the promote role moves itself) must not keep the
        Sentinels from watching the new primary."""
        errors = []
        new = self.pair.new_primary
        for host, port in record.get('replicas') or []:
            try:
                server = connect(self.params, host=host, port=port, username=self.params.get('primary_user'),
                                 password=self.params.get('primary_password'), what='replica of the old primary',
                                 secrets=self.pair.secrets,
                                 option_prefix={'user': 'primary_user', 'password': 'primary_password',
                                                'host': 'source_host', 'port': 'source_port'})
            except KvmigrateError as exc:
                errors.append(exc.msg.rstrip('.'))
                continue
            try:
                server.identify()
                status = server.status()[2]
                if status.get('role') != info_utils.ROLE_REPLICA:
                    errors.append("replica %s of the old primary is a primary now, so it was left alone" % server.endpoint)
                    continue
                if same_endpoint(status.get('primary_host'), status.get('primary_port'), address[0], address[1]) or \
                        same_endpoint(status.get('primary_host'), status.get('primary_port'), new.host, new.port):
                    continue
                wanted_user, wanted_password = self.params.get('login_user') or '', self.params.get('login_password') or ''
                user, password = server.link_credentials()
                if user is not None and (user, password) != (wanted_user, wanted_password):
                    self._send(server, 'CONFIG', 'SET', 'masteruser', wanted_user)
                    self._send(server, 'CONFIG', 'SET', 'masterauth', wanted_password)
                self._send(server, 'REPLICAOF', address[0], address[1])
            except KvmigrateError as exc:
                errors.append(exc.msg.rstrip('.'))
            finally:
                server.close()
        return errors

    def _result(self, name, record, before, after):
        return dict(changed=self.changed, master_name=name, commands=self.commands,
                    record=dict((k, v) for k, v in (record or {}).items()) or None,
                    diff=dict(before=dict(sentinels=before), after=dict(sentinels=after)),
                    warnings=list(self.pair.warnings))

    def close(self):
        self.pair.close()


def report(params):
    """What every listed Sentinel reports for the pair, Sentinels the list misses, and findings (blockers first):
    sentinel_info's result."""
    pair = Pair(params, new_primary_required=False)
    try:
        findings = []
        for unreachable in pair.unreachable:
            findings.append(dict(severity='blocker', check='sentinel_reachable', message=(
                "%s: no hand-over can start while a Sentinel cannot be reached; make it reachable from the node that "
                "runs the module, or remove it from %s." % (unreachable['error'].rstrip('.'), pair._label('sentinels')))))
        for error in pair.errors:
            findings.append(dict(severity='blocker', check='server_reachable', message=error))
        record = pair.read_record()
        try:
            name = pair.master_name(record)
        except KvmigrateError as exc:
            findings.append(dict(severity='blocker', check='master_name', message=exc.msg))
            name = None
        unknown = pair.unknown_watchers()
        if unknown:
            findings.append(dict(severity='blocker', check='unlisted_sentinels',
                                 message=unknown_watchers_sentence(unknown, pair._label('sentinels'))))
        peers = pair.unknown_peers(name) if name else []
        if peers:
            findings.append(dict(severity='blocker', check='unlisted_sentinels',
                                 message=unknown_peers_sentence(peers, name, pair._label('sentinels'))))
        if pair.sentinels and name is None and not findings:
            findings.append(dict(severity='blocker', check='master_name', message=(
                "No Sentinel of %s watches source %s or target %s: set %s to the master name they use, or check the "
                "list." % (pair._label('sentinels'), endpoint(params.get('source_host'), params.get('source_port')),
                           endpoint(params['login_host'], params['login_port']), pair._label('master_name')))))
        sentinels = []
        roles = dict(old=(pair.status['old'] or {}).get('role'), new=(pair.status['new'] or {}).get('role'))
        disagreements = []
        for sentinel in pair.sentinels:
            master = sentinel.master(name) if name else None
            end = pair.end_of(master) if master else None
            entry = dict(endpoint=sentinel.endpoint, id=sentinel.short_id, master_name=name if master else None,
                         master_address=endpoint(master.get('ip'), master.get('port')) if master else None,
                         watches={'old': 'source', 'new': 'target'}.get(end), flags=master.get('flags') if master else None,
                         settings=settings_of(master) if master else None)
            sentinels.append(entry)
            if master is not None and end is None:
                disagreements.append("Sentinel %s reports master %s at %s, which is neither the source nor the target"
                                     % (sentinel.endpoint, name, entry['master_address']))
            elif end is not None and roles[end] == info_utils.ROLE_REPLICA:
                disagreements.append("Sentinel %s reports the %s %s as master %s, but it is a replica: Sentinel will fail "
                                     "over; run the promotion (or the rollback) again to finish the hand-over" % (
                                         sentinel.endpoint, entry['watches'], entry['master_address'], name))
            elif master is None and name is not None and not record:
                disagreements.append("Sentinel %s does not monitor master %s" % (sentinel.endpoint, name))
        addresses = set(s['master_address'] for s in sentinels if s['master_address'])
        if len(addresses) > 1:
            disagreements.append("the Sentinels report master %s at different addresses (%s)" % (name, ', '.join(sorted(addresses))))
        if record:
            disagreements.append("a hand-over of master %s was interrupted (%s is set): run the promotion (or the "
                                 "rollback) again to finish it" % (name, RECORD_KEY))
        findings.extend(dict(severity='warning', check='sentinel_view', message=d[0].upper() + d[1:] + '.')
                        for d in disagreements)
        return dict(changed=False, master_name=name, sentinels=sentinels, unreachable=pair.unreachable,
                    unlisted=unknown + peers, record=record, disagreements=disagreements, findings=findings,
                    blockers=len([f for f in findings if f['severity'] == 'blocker']))
    finally:
        pair.close()
