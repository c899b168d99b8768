# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis and Valkey Cluster: reading a cluster's shards, pairing new nodes to them, and replacing every node of a
live cluster by replication (CLUSTER MEET, CLUSTER REPLICATE, the shared sync wait, CLUSTER FAILOVER, CLUSTER
FORGET). Each step is computed from what the cluster reports, so a re-run recognises what is already done.

Every node of a cluster is reached with the same credentials: its nodes replicate from each other, so they share
them already (masterauth on every node is the password of every other)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import multiprocessing
import os
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
    KvmigrateError, claim_operation, connect, endpoint, same_endpoint)
from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import SyncWaiter

SLOT_COUNT = 16384
# A manual failover the old master has not completed within this time is aborted by the server (CLUSTER_MF_TIMEOUT,
# 5000 ms in src/cluster.h); the old master then lifts its pause and stays master, so another attempt is safe.
MANUAL_FAILOVER_TIMEOUT = 5.0
POLL = 0.05


def cluster_argument_spec():
    """Options of the cluster modules besides the connection ones (documented in each module)."""
    return dict(
        seeds=dict(type='list', elements='str', default=[]),
        cluster_timeout=dict(type='float', default=60.0),
    )


def parse_address(text):
    """'host:port' or '[v6]:port' -> (host, port)."""
    text = str(text).strip()
    if text.startswith('['):
        host, _sep, rest = text[1:].partition(']')
        return host, int(rest.lstrip(':'))
    host, _sep, port = text.rpartition(':')
    if not host or not port.isdigit():
        raise KvmigrateError("%r is not an address of the form host:port: write it as 10.0.0.5:6379." % text)
    return host, int(port)


def parse_nodes(text):
    """CLUSTER NODES text -> one dict per node. Redis 7 adds ',hostname' after the bus port; bracketed slot entries
    (a slot being imported or migrated) are not ownership and are left out."""
    nodes = []
    for line in str(text or '').splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split(',')[0].split('@')[0]
        host, _sep, port = address.rpartition(':')
        flags = set(parts[2].split(','))
        slots = []
        for item in parts[8:]:
            if item.startswith('['):
                continue
            start, _sep, end = item.partition('-')
            slots.append((int(start), int(end or start)))
        nodes.append(dict(
            id=parts[0], host=host.strip('[]') or None, port=int(port) if port.isdigit() and int(port) else None,
            flags=sorted(flags), myself='myself' in flags,
            role='master' if 'master' in flags else 'replica' if 'slave' in flags else 'unknown',
            master_id=None if parts[3] == '-' else parts[3], link=parts[7],
            failed=bool(flags & {'fail', 'fail?'}), handshake=bool(flags & {'handshake', 'noaddr'}), slots=slots))
    return nodes


def slot_count(ranges):
    return sum(end - start + 1 for start, end in ranges)


def format_slots(ranges):
    return ','.join('%d-%d' % (start, end) if end != start else str(start) for start, end in sorted(ranges))


def controller_gone():
    """True when this code runs in an Ansible worker (the action plugins run the cluster modules there) whose
    ansible-playbook process is gone. Ansible starts each worker in a session of its own (os.setsid), so killing
    ansible-playbook, even its whole process group, leaves the worker running: it would go on moving shard after shard
    of the looped task, unseen, and race the run started to resume. Run as a module process it cannot tell (False)."""
    parent = multiprocessing.parent_process()
    return parent is not None and os.getppid() != parent.pid


def refuse_without_controller(node_endpoint, before):
    """Stop between two steps once the ansible-playbook that started this worker is gone (``controller_gone``)."""
    if controller_gone():
        raise KvmigrateError(
            "%s: the ansible-playbook that started this task (pid %s) is gone, so this run stopped before %s and changed "
            "nothing more; run the playbook again to resume from what the cluster shows done." % (
                node_endpoint, multiprocessing.parent_process().pid, before), cause='controller_gone')


def root_master_id(by_id, node, hops=8):
    """The id of the master whose shard ``node`` belongs to. Right after a failover the other replicas of the old
    master still name it, now a replica itself, until the cluster re-points them: follow the chain up."""
    current = node
    for _hop in range(hops):
        if current['role'] == 'master':
            return current['id']
        upstream = by_id.get(current.get('master_id'))
        if upstream is None:
            return current.get('master_id')
        current = upstream
    return current['id']


def shards_of(nodes):
    """The shards: one per master that owns slots, ordered by its first slot, with its replicas (a replica of one of
    its replicas counts too, see ``root_master_id``)."""
    by_id = dict((n['id'], n) for n in nodes)
    shards = []
    for master in nodes:
        if master['role'] != 'master' or not master['slots']:
            continue
        replicas = [n for n in nodes if n['role'] == 'replica' and root_master_id(by_id, n) == master['id']]
        shards.append(dict(master=master, replicas=sorted(replicas, key=lambda n: (n['host'] or '', n['port'] or 0)),
                           slots=sorted(master['slots']), first_slot=min(s for s, _e in master['slots'])))
    return sorted(shards, key=lambda shard: shard['first_slot'])


def shard_of_slot(shards, slot):
    for shard in shards:
        if any(start <= slot <= end for start, end in shard['slots']):
            return shard
    return None


def node_at(nodes, host, port):
    """The node a cluster lists at host:port (compared resolved), or None."""
    for node in nodes:
        if node['host'] and node['port'] and same_endpoint(node['host'], node['port'], host, port):
            return node
    return None


def pair_new_nodes(shards, new_nodes):
    """Which new nodes replace which shard: {first_slot: [new node, ...]}, the first of each list to become master.

    ``new_nodes`` are dicts with ``host``, ``port``, optional ``replaces`` (an old node's 'host:port') and optional
    ``id`` and ``shard`` (the first slot of the shard it already belongs to, read from the cluster). A node goes, in
    this order of precedence, to the shard it already belongs to, to the shard of the old node it replaces, else to
    the first shard, by slot order, still short of nodes. Each shard gets one new node per old one (master and
    replicas; ``size`` where a shard says so), so it keeps its replica count. Raises when the nodes do not fit."""
    wanted = dict((shard['first_slot'], shard.get('size') or 1 + len(shard['replicas'])) for shard in shards)
    pairing = dict((shard['first_slot'], []) for shard in shards)
    placed = set()

    def place(first_slot, index, why):
        if len(pairing[first_slot]) >= wanted[first_slot]:
            raise KvmigrateError(
                "New node %s (%s) would give the shard of slots %s more new nodes than its %d old ones: name one old "
                "node per new node in kvmigrate_cluster_replaces, or give fewer new nodes." % (
                    endpoint(new_nodes[index]['host'], new_nodes[index]['port']), why,
                    format_slots(_shard(shards, first_slot)['slots']), wanted[first_slot]))
        pairing[first_slot].append(new_nodes[index])
        placed.add(index)

    for index, node in enumerate(new_nodes):
        if node.get('shard') is not None:
            place(node['shard'], index, 'already in that shard')
    for index, node in enumerate(new_nodes):
        if index in placed or not node.get('replaces'):
            continue
        host, port = parse_address(node['replaces'])
        shard = next((s for s in shards if node_at([s['master']] + s['replicas'], host, port)), None)
        if shard is None:
            raise KvmigrateError(
                "New node %s replaces %s, which is no node of a shard of the cluster: fix kvmigrate_cluster_replaces "
                "(an old node's address as the cluster lists it, host:port)." % (
                    endpoint(node['host'], node['port']), node['replaces']))
        place(shard['first_slot'], index, 'it replaces %s' % node['replaces'])
    for index, node in enumerate(new_nodes):
        if index in placed:
            continue
        free = next((s for s in shards if len(pairing[s['first_slot']]) < wanted[s['first_slot']]), None)
        if free is None:
            raise KvmigrateError("New node %s is one more than the cluster has old nodes (%d): remove it from the "
                                 "inventory or add it after the migration." % (
                                     endpoint(node['host'], node['port']), sum(wanted.values())))
        place(free['first_slot'], index, 'next in slot order')
    short = [s for s in shards if len(pairing[s['first_slot']]) < wanted[s['first_slot']]]
    if short:
        shard = short[0]
        raise KvmigrateError(
            "The shard of slots %s has %d old nodes and only %d new ones: give one new node per old node so that every "
            "shard keeps its replica count." % (format_slots(shard['slots']), wanted[shard['first_slot']],
                                                len(pairing[shard['first_slot']])))
    for first_slot, members in pairing.items():
        # a node already master of its shard stays first, so a re-run does not hand the shard to another node
        members.sort(key=lambda n: 0 if n.get('is_master') else 1)
    return pairing


def _shard(shards, first_slot):
    return next(s for s in shards if s['first_slot'] == first_slot)


def node_view(node):
    """What a report and a diff show of a node."""
    return dict(id=node['id'], address=endpoint(node['host'], node['port']), role=node['role'])


def shard_view(shard):
    return dict(slots=format_slots(shard['slots']), master=endpoint(shard['master']['host'], shard['master']['port']),
                replicas=sorted(endpoint(r['host'], r['port']) for r in shard['replicas']))


class Cluster(object):
    """Connections to the nodes of one cluster, opened on demand with the same options and credentials."""

    def __init__(self, params, clock=time.monotonic, sleep=time.sleep):
        self.params = params
        self.clock = clock
        self.sleep = sleep
        self._servers = {}
        self.seed = None

    # -- connections ----------------------------------------------------------------------------------------------------
    def server(self, host, port, what='cluster node'):
        """The one connection to the node at host:port, however it is spelled (compared resolved): a second one to the
        same node would see this one's claim (claim_operation) as another operation's and refuse."""
        key = endpoint(host, port)
        if key not in self._servers:
            known = next((s for s in self._servers.values() if same_endpoint(s.host, s.port, host, port)), None)
            self._servers[key] = known or connect(self.params, host=host, port=port, what=what)
        return self._servers[key]

    def drop(self, host, port):
        server = self._servers.get(endpoint(host, port))
        if server is not None:
            self._servers = dict((k, s) for k, s in self._servers.items() if s is not server)
            server.close()

    def close(self):
        for server in set(self._servers.values()):
            server.close()
        self._servers = {}

    # -- reading ------------------------------------------------------------------------------------------------------
    @staticmethod
    def info(server):
        return info_utils.parse_info(server.call('CLUSTER', 'INFO'))

    @staticmethod
    def nodes(server):
        return parse_nodes(server.call('CLUSTER', 'NODES'))

    def require_cluster_mode(self, server):
        fields = info_utils.parse_info(server.info_text('cluster'))
        if str(fields.get('cluster_enabled')) != '1':
            raise KvmigrateError("%s %s does not run in cluster mode (cluster_enabled:0): set cluster-enabled yes in its "
                                 "configuration and restart it, or migrate it with playbooks/migrate.yml." % (
                                     server.what, server.endpoint))

    def find_seed(self):
        """The first of login_host and ``seeds`` that belongs to a cluster serving slots: after a migration the node a
        playbook started from may have left it."""
        candidates = [(self.params['login_host'], self.params['login_port'])]
        candidates += [parse_address(seed) for seed in self.params.get('seeds') or []]
        problems = []
        for host, port in candidates:
            try:
                server = self.server(host, port)
                self.require_cluster_mode(server)
                if int(self.info(server).get('cluster_slots_assigned') or 0):
                    self.seed = server
                    return server
                problems.append('%s serves no slot' % server.endpoint)
            except KvmigrateError as exc:
                problems.append(exc.msg.rstrip('.'))
        raise KvmigrateError("No node of a cluster serving slots answered among %s: %s. Set login_host (or seeds) to a "
                             "node of the cluster." % (', '.join(endpoint(h, p) for h, p in candidates),
                                                       '; '.join(problems)))

    def view(self):
        """Nodes as the seed lists them, with ``address`` set."""
        return self.nodes(self.seed)

    def require_healthy(self, during):
        """Fail unless the cluster is ok and every assigned slot is served by a master that is not failing."""
        fields = self.info(self.seed)
        state = fields.get('cluster_state')
        assigned = int(fields.get('cluster_slots_assigned') or 0)
        served = int(fields.get('cluster_slots_ok') or 0)
        if state != 'ok' or served != assigned:
            raise KvmigrateError(
                "Cluster of %s is not healthy %s (cluster_state:%s, %d of %d assigned slots served): nothing more was "
                "changed. Bring every shard's master back (CLUSTER INFO, CLUSTER NODES on that node) and run again." % (
                    self.seed.endpoint, during, state, served, assigned), cluster_state=state)
        return fields

    def wait_until(self, predicate, what, node_endpoint, timeout=None):
        """Poll ``predicate`` (returns a truthy value when done) until cluster_timeout; fail naming what did not
        happen."""
        timeout = self.params['cluster_timeout'] if timeout is None else timeout
        deadline = self.clock() + timeout
        while True:
            value = predicate()
            if value:
                return value
            refuse_without_controller(node_endpoint, 'waiting for %s' % what)
            if self.clock() >= deadline:
                raise KvmigrateError("%s: %s did not happen within cluster_timeout=%s s. Check that the nodes reach each "
                                     "other on their cluster bus ports (port + 10000) and run again." % (
                                         node_endpoint, what, timeout))
            self.sleep(POLL)


def _claimed(server, claimed, module_name):
    if server.endpoint not in claimed:
        claim_operation(server, module_name)
        claimed.add(server.endpoint)


class ShardReplacement(object):
    """Moves one shard (the one that serves ``slot``) to ``new_nodes``: the first becomes its master, the others its
    replicas. Steps: MEET, REPLICATE the old master, wait for sync, CLUSTER FAILOVER; each skipped when the cluster
    shows it done."""

    def __init__(self, cluster, slot, new_nodes, wait_params, check_mode=False, failover_timeout=30.0,
                 clock=time.monotonic):
        self.cluster = cluster
        self.slot = slot
        self.new_nodes = new_nodes
        self.wait_params = wait_params
        self.check_mode = check_mode
        self.failover_timeout = failover_timeout
        self.clock = clock
        self.started = clock()
        self.timeline = []
        self.commands = []
        self.pause_ms = None
        self._claimed = set()

    def _note(self, step, node, **extra):
        # ``time`` (epoch seconds) lets a report put the shards of one run on one clock: each shard's module has its own
        entry = dict(step=step, node=node, at=round(self.clock() - self.started, 3), time=round(time.time(), 3))
        entry.update(extra)
        self.timeline.append(entry)

    def _shard(self):
        shard = shard_of_slot(shards_of(self.cluster.view()), self.slot)
        if shard is None:
            raise KvmigrateError("No master of the cluster of %s serves slot %s: assign it (CLUSTER ADDSLOTS) or name a "
                                 "slot that a shard serves." % (self.cluster.seed.endpoint, self.slot))
        return shard

    def _describe_new(self):
        """Connect each new node and read who it is: (server, its id, its own view of itself)."""
        found = []
        for spec in self.new_nodes:
            server = self.cluster.server(spec['host'], spec['port'], what='new node')
            self.cluster.require_cluster_mode(server)
            node_id = server.call('CLUSTER', 'MYID')
            myself = next(n for n in self.cluster.nodes(server) if n['myself'])
            found.append(dict(server=server, id=node_id, myself=myself, spec=spec))
        return found

    @staticmethod
    def _in_shard(node, shard, members):
        """Whether a new node already belongs to ``shard``. Its own CLUSTER NODES says whom it replicates: the seed
        hears of a CLUSTER REPLICATE only through gossip, and a resumed run that trusted the seed's older view would
        take the node for an outsider and refuse it for the keys it synced from the shard."""
        if node['id'] == shard['master']['id'] or node['id'] in set(r['id'] for r in shard['replicas']):
            return True
        myself = node['myself']
        if myself['role'] != 'replica':
            return False
        return root_master_id(members, dict(myself, id=node['id'])) == shard['master']['id']

    def _refuse_too_many(self, shard, new):
        """One new node per old node of the shard, the pairing of ``pair_new_nodes``: a surplus node would join as a
        replica of a shard the inventory did not give it to. The shard's old nodes are those not among ``new`` (still
        listed after its failover, as replicas, until they leave); once they left, its new ones count."""
        new_ids = set(n['id'] for n in new)
        members = [shard['master']] + shard['replicas']
        size = max(len([m for m in members if m['id'] not in new_ids]), len([m for m in members if m['id'] in new_ids]))
        if len(new) > size:
            raise KvmigrateError(
                "New node %s is one more than the %d old nodes of the shard of slots %s: give one new node per old node "
                "(the pairing of kvmigrate.replication.cluster_info), nothing was changed." % (
                    new[size]['server'].endpoint, size, format_slots(shard['slots'])))

    def plan(self):
        """The steps still to do, from what the cluster and the new nodes report."""
        refuse_without_controller(self.cluster.seed.endpoint, 'planning the shard of slot %s' % self.slot)
        self.cluster.require_healthy('before the shard of slot %s moves' % self.slot)
        shard = self._shard()
        new = self._describe_new()
        members = dict((n['id'], n) for n in self.cluster.view())
        self._refuse_too_many(shard, new)
        steps = []
        for node in new:
            node['in_shard'] = self._in_shard(node, shard, members)
            if node['id'] not in members or members[node['id']]['handshake']:
                if node['myself']['slots']:
                    raise KvmigrateError("New node %s serves slots %s of another cluster: give a node that is empty "
                                         "and belongs to no cluster (CLUSTER RESET on it)." % (
                                             node['server'].endpoint, format_slots(node['myself']['slots'])))
                steps.append(('meet', node))
            elif not node['in_shard'] and members[node['id']]['slots']:
                raise KvmigrateError("New node %s already serves slots %s of this cluster, another shard than the one "
                                     "of slot %s: fix the pairing in the inventory." % (
                                         node['server'].endpoint, format_slots(members[node['id']]['slots']), self.slot))
            if not node['in_shard']:
                keys = node['server'].key_count()
                if keys:
                    raise KvmigrateError("New node %s holds %d keys, which joining a shard as a replica would discard: "
                                         "give an empty node, or flush it yourself if they are not needed." % (
                                             node['server'].endpoint, keys))
        leader = new[0]
        if shard['master']['id'] != leader['id']:
            for node in new:
                if not node['in_shard']:
                    steps.append(('replicate', node))
            for node in new:
                steps.append(('sync', node))
            steps.append(('failover', leader))
        for node in new[1:]:
            steps.append(('follow', node))
        return shard, new, steps

    def describe(self, shard, new):
        before = shard_view(shard)
        after = dict(slots=before['slots'], master=new[0]['server'].endpoint,
                     replicas=sorted(set(before['replicas'] + [before['master']] + [n['server'].endpoint for n in new[1:]])
                                     - set([new[0]['server'].endpoint])))
        return before, after

    def run(self):
        shard, new, steps = self.plan()
        before, after = self.describe(shard, new)
        old_master = shard['master']
        changed = False

        def members_now():
            return set(n['id'] for n in self.cluster.view() if not n['handshake'])

        for step, node in steps:
            server = node['server']
            if not self.check_mode:
                refuse_without_controller(server.endpoint, 'the %s step' % step)
            if not self.check_mode and step != 'sync':
                self.cluster.require_healthy('before the %s step of %s' % (step, server.endpoint))
            if step == 'meet':
                seed_myself = next(n for n in self.cluster.view() if n['myself'])
                seed_host = seed_myself['host'] or self.cluster.seed.host
                self.commands.append('%s: CLUSTER MEET %s %s' % (server.endpoint, seed_host, seed_myself['port']))
                if self.check_mode:
                    changed = True
                    continue
                _claimed(server, self._claimed, 'cluster_replace')
                server.call('CLUSTER', 'MEET', seed_host, seed_myself['port'])
                self.cluster.wait_until(lambda: self._knows_each_other(node, old_master),
                                        'joining the cluster (CLUSTER MEET)', server.endpoint)
                changed = True
                self._note('meet', server.endpoint)
            elif step == 'replicate':
                self.commands.append('%s: CLUSTER REPLICATE %s' % (server.endpoint, old_master['id']))
                if self.check_mode:
                    changed = True
                    continue
                _claimed(server, self._claimed, 'cluster_replace')
                self._replicate(node, old_master['id'])
                changed = True
                self._note('replicate', server.endpoint, master=endpoint(old_master['host'], old_master['port']))
            elif step == 'sync':
                if self.check_mode:
                    continue
                waited = self._wait_sync(server, old_master)
                self._note('synced', server.endpoint, seconds=waited['elapsed'], lag_bytes=waited['lag_bytes'])
            elif step == 'failover':
                self.commands.append('%s: CLUSTER FAILOVER' % server.endpoint)
                if self.check_mode:
                    changed = True
                    continue
                self._failover(node, old_master)
                changed = True
            elif step == 'follow':
                if node['id'] not in members_now() or self._follows(node, new[0]['id']):
                    continue
                if self.check_mode:
                    self.commands.append('%s: CLUSTER REPLICATE %s' % (server.endpoint, new[0]['id']))
                    changed = True
                    continue
                # after the failover the other new nodes move to the new master by themselves (their master lost its
                # slots to it); one that has not within a few seconds is told to
                try:
                    self.cluster.wait_until(lambda: self._follows(node, new[0]['id']), 'following the new master',
                                            server.endpoint, timeout=min(5.0, self.cluster.params['cluster_timeout']))
                except KvmigrateError:
                    self.commands.append('%s: CLUSTER REPLICATE %s' % (server.endpoint, new[0]['id']))
                    _claimed(server, self._claimed, 'cluster_replace')
                    self._replicate(node, new[0]['id'])
                    changed = True
                    self._note('replicate', server.endpoint, master=new[0]['server'].endpoint)
        if not self.check_mode and changed:
            self.cluster.wait_until(self._healthy_now, 'cluster_state:ok after the shard moved', self.cluster.seed.endpoint)
            self.cluster.require_healthy('after the shard of slot %s moved' % self.slot)
        return dict(changed=changed, shard=before['slots'], before=before, after=after, commands=self.commands,
                    timeline=self.timeline, pause_ms=self.pause_ms,
                    new_master=dict(address=new[0]['server'].endpoint, id=new[0]['id']))

    # -- steps ------------------------------------------------------------------------------------------------------
    def _healthy_now(self):
        try:
            self.cluster.require_healthy('')
        except KvmigrateError:
            return False
        return True

    def _knows_each_other(self, node, old_master):
        """The seed lists the new node as a full member, and the new node knows the old master (REPLICATE needs it)."""
        member = next((n for n in self.cluster.view() if n['id'] == node['id']), None)
        if member is None or member['handshake']:
            return False
        known = self.cluster.nodes(node['server'])
        return any(n['id'] == old_master['id'] and not n['handshake'] for n in known)

    def _replicate(self, node, master_id):
        server = node['server']
        self.cluster.wait_until(lambda: any(n['id'] == master_id and not n['handshake'] for n in self.cluster.nodes(server)),
                                'learning of master %s through gossip' % master_id, server.endpoint)
        server.call('CLUSTER', 'REPLICATE', master_id)

    def _wait_sync(self, server, master):
        params = dict(self.wait_params, primary_host=master['host'], primary_port=master['port'],
                      primary_user=self.cluster.params.get('login_user'),
                      primary_password=self.cluster.params.get('login_password'))
        waiter = SyncWaiter(server, params)
        try:
            return waiter.run()
        finally:
            waiter.close()
            # the waiter bounds reads by what was left of its timeout; the next steps need the usual bound back
            server.read_timeout = max(server.read_timeout, self.cluster.params.get('connect_timeout') or 5.0, 10.0)

    def _follows(self, node, master_id):
        myself = next(n for n in self.cluster.nodes(node['server']) if n['myself'])
        return myself['role'] == 'replica' and myself['master_id'] == master_id

    def _known_as_replica(self, node_id, master_id):
        for master in self.cluster.view():
            if master['role'] != 'master' or not master['slots'] or master['failed']:
                continue
            view = self.cluster.nodes(self.cluster.server(master['host'], master['port']))
            entry = next((n for n in view if n['id'] == node_id), None)
            if entry is None or entry['role'] != 'replica' or entry['master_id'] != master_id:
                return False
        return True

    def _is_master(self, server):
        role = server.call('ROLE')
        return bool(role) and str(role[0]) == 'master'

    def _failover(self, node, old_master):
        """CLUSTER FAILOVER (the coordinated form): the old master pauses its clients, the replica catches up to the
        paused offset, wins the election and takes the slots, so no acknowledged write is lost. A manual failover
        the server aborts (MANUAL_FAILOVER_TIMEOUT) leaves the old master in place, so it is retried."""
        server = node['server']
        # the old master ignores a failover request from a node it does not list as its replica, and a master votes
        # only for a replica it knows to be one of the failing-over master: wait until gossip has told them all
        self.cluster.wait_until(lambda: self._known_as_replica(node['id'], old_master['id']),
                                'every master listing it as a replica of %s' % endpoint(old_master['host'], old_master['port']),
                                server.endpoint)
        deadline = self.clock() + self.failover_timeout
        attempts = 0
        while True:
            attempts += 1
            sent = self.clock()
            self._note('failover', server.endpoint, attempt=attempts)
            server.call('CLUSTER', 'FAILOVER')
            while self.clock() - sent < MANUAL_FAILOVER_TIMEOUT + 1.0:
                if self._is_master(server):
                    self.pause_ms = round((self.clock() - sent) * 1000, 1)
                    self._note('master', server.endpoint, pause_ms=self.pause_ms,
                               old_master=endpoint(old_master['host'], old_master['port']))
                    return
                time.sleep(0.002)
            if self.clock() >= deadline:
                raise KvmigrateError(
                    "New node %s did not become master of the shard of slot %s within failover_timeout=%s s (%d CLUSTER "
                    "FAILOVER attempts); %s is still its master and no write was lost. Check that a majority of masters "
                    "is reachable and that the replica is in sync, then run again." % (
                        server.endpoint, self.slot, self.failover_timeout, attempts,
                        endpoint(old_master['host'], old_master['port'])))
            refuse_without_controller(server.endpoint, 'CLUSTER FAILOVER attempt %d' % (attempts + 1))


class Removal(object):
    """Old nodes leave a cluster: CLUSTER FORGET on every node that stays, all within the 60 s the servers keep a
    forgotten node on their ban list (else gossip from a node that still knows it adds it back), then CLUSTER RESET
    SOFT on each removed node so that it stops talking to the cluster (what redis-cli --cluster del-node does)."""

    def __init__(self, cluster, nodes, reset=True, check_mode=False):
        self.cluster = cluster
        self.addresses = [parse_address(n) for n in nodes]
        self.reset = reset
        self.check_mode = check_mode
        self.commands = []
        self._claimed = set()

    def _views(self, members):
        """Each member's own list of nodes: {member id: nodes, or the error sentence when it did not answer}. A member
        the seed flags failing is asked too: under load the flag (fail?) is gossip that may be stale, and a node left
        out would keep listing the old nodes for good."""
        views = {}
        for member in members:
            if member['handshake'] or not member['port']:
                continue
            try:
                views[member['id']] = self.cluster.nodes(self.cluster.server(member['host'], member['port']))
            except KvmigrateError as exc:
                views[member['id']] = exc.msg
        return views

    def _leaving(self, members):
        """The listed nodes the cluster still knows: by the id the node itself reports, else by address."""
        leaving = {}
        for host, port in self.addresses:
            node = node_at(members, host, port)
            if node is None:
                try:
                    node_id = self.cluster.server(host, port, what='old node').call('CLUSTER', 'MYID')
                except KvmigrateError:
                    continue
                node = next((n for n in members if n['id'] == node_id), None)
            if node is not None:
                leaving[node['id']] = node
        return leaving

    @staticmethod
    def _unsafe(members, leaving):
        """Why removing ``leaving`` now would harm the cluster, as a sentence, or None. Roles and slots come from
        ``members``, the view read now: ``leaving`` may hold a node as an earlier view (another node's, gossip behind)
        saw it, a master that has since handed its slots over."""
        current = dict((n['id'], n) for n in members)
        leaving = dict((node_id, current.get(node_id, node)) for node_id, node in leaving.items())
        for node in leaving.values():
            if node['role'] == 'master' and node['slots']:
                return ("Old node %s is still the master of slots %s: move its shard first "
                        "(kvmigrate.replication.cluster_replace), nothing was removed." % (
                            endpoint(node['host'], node['port']), format_slots(node['slots'])))
        for shard in shards_of(members):
            old = [n for n in [shard['master']] + shard['replicas'] if n['id'] in leaving]
            staying = [r for r in shard['replicas'] if r['id'] not in leaving and not r['failed']]
            # the old nodes of a shard are its old master (now a replica) and its old replicas: as many replicas must stay
            if old and len(staying) < len(old) - 1:
                return ("Removing %s would leave the shard of slots %s with %d replicas, fewer than the %d that must stay "
                        "when %d of its nodes leave (one new node per old one): add new replicas to it first, nothing "
                        "was removed." % (
                            ', '.join(endpoint(n['host'], n['port']) for n in old), format_slots(shard['slots']),
                            len(staying), len(old) - 1, len(old)))
        for node in members:
            if node['role'] == 'replica' and node['id'] not in leaving and node['master_id'] in leaving:
                return ("Node %s replicates %s, which would leave: point it at a master that stays first, nothing was "
                        "removed." % (endpoint(node['host'], node['port']),
                                      endpoint(leaving[node['master_id']]['host'], leaving[node['master_id']]['port'])))
        return None

    def _refuse_unsafe(self, leaving):
        """Fail unless removing ``leaving`` is safe. Right after a failover the seed may not have heard yet (gossip)
        that a new replica moved to the new master, so an unsafe-looking state gets cluster_timeout to settle."""
        deadline = self.cluster.clock() + self.cluster.params['cluster_timeout']
        while True:
            reason = self._unsafe(self.cluster.view(), leaving)
            if reason is None:
                return
            if self.cluster.clock() >= deadline:
                raise KvmigrateError(reason)
            self.cluster.sleep(POLL)

    def run(self):
        if not self.check_mode:
            refuse_without_controller(self.cluster.seed.endpoint, 'old nodes leave')
        self.cluster.require_healthy('before old nodes leave')
        members = self.cluster.view()
        seed_id = next(n['id'] for n in members if n['myself'])
        if seed_id in self._leaving(members):
            raise KvmigrateError("%s is one of the nodes to remove: log in to a node that stays (login_host), nothing was "
                                 "removed." % self.cluster.seed.endpoint)
        changed = False
        removed = []
        for _attempt in range(3):
            views = self._views(members)
            known_anywhere = {}
            while True:
                # the seed may not list yet the node that joined last (gossip): ask every node that any node lists
                known_anywhere = dict((n['id'], dict(n, myself=False, failed=False)) for view in views.values()
                                      if isinstance(view, list) for n in view)
                unasked = [n for n in known_anywhere.values() if n['id'] not in views]
                if not unasked:
                    break
                views.update(self._views(unasked))
                views.update(dict((n['id'], None) for n in unasked if n['id'] not in views))
            leaving = self._leaving(list(known_anywhere.values()))
            staying = [n for n in known_anywhere.values() if n['id'] not in leaving and views.get(n['id']) is not None]
            silent = next((m for m in staying if isinstance(views.get(m['id']), str)), None)
            if silent is not None and leaving:
                raise KvmigrateError(
                    "Node %s, which stays in the cluster, did not answer CLUSTER NODES (%s), so it would keep listing the "
                    "old nodes: nothing was removed. Bring it back, or forget it first, and run again." % (
                        endpoint(silent['host'], silent['port']), views[silent['id']].rstrip('.')))
            to_forget = [(m, node_id) for m in staying for node_id in leaving
                         if views.get(m['id']) and any(n['id'] == node_id for n in views[m['id']])]
            if not to_forget:
                break
            self._refuse_unsafe(leaving)
            if not self.check_mode:
                refuse_without_controller(self.cluster.seed.endpoint, 'CLUSTER FORGET of %d old nodes' % len(leaving))
            changed = self._introduce(staying, views) or changed
            for member, node_id in to_forget:
                address = endpoint(member['host'], member['port'])
                self.commands.append('%s: CLUSTER FORGET %s' % (address, node_id))
                if self.check_mode:
                    continue
                server = self.cluster.server(member['host'], member['port'])
                _claimed(server, self._claimed, 'cluster_forget')
                server.call('CLUSTER', 'FORGET', node_id)
            changed = True
            removed = sorted(set(removed) | set(endpoint(n['host'], n['port']) for n in leaving.values()))
            if self.check_mode:
                break
            members = staying
        else:
            raise KvmigrateError("Old nodes kept coming back into the cluster of %s after CLUSTER FORGET on every node: "
                                 "a node the play does not reach still gossips about them. Run again, or forget them "
                                 "there." % self.cluster.seed.endpoint)
        if self.reset:
            changed = self._reset_removed() or changed
        if not self.check_mode and changed:
            self.cluster.wait_until(self._healthy_now, 'cluster_state:ok after old nodes left', self.cluster.seed.endpoint)
            self.cluster.require_healthy('after old nodes left')
        return dict(changed=changed, removed=removed, commands=self.commands)

    @staticmethod
    def _strangers(staying, views):
        """(member, node) for each node that stays and that a member that stays does not list yet."""
        return [(m, n) for m in staying for n in staying if n['id'] != m['id'] and isinstance(views.get(m['id']), list)
                and not any(v['id'] == n['id'] and not v['handshake'] for v in views[m['id']])]

    def _introduce(self, staying, views):
        """CLUSTER MEET between nodes that stay and do not know each other yet, then wait until each lists every other.
        A node that joined last may be known only to the old nodes, through whose gossip the others would learn of it:
        once they leave, nobody would tell them, and it would stay out of their lists for good."""
        strangers = self._strangers(staying, views)
        for member, node in strangers:
            self.commands.append('%s: CLUSTER MEET %s %s' % (endpoint(member['host'], member['port']), node['host'],
                                                             node['port']))
            if self.check_mode:
                continue
            server = self.cluster.server(member['host'], member['port'])
            _claimed(server, self._claimed, 'cluster_forget')
            server.call('CLUSTER', 'MEET', node['host'], node['port'])
        if strangers and not self.check_mode:
            self.cluster.wait_until(lambda: not self._strangers(staying, self._views(staying)),
                                    'every node that stays listing every other one (CLUSTER MEET)',
                                    self.cluster.seed.endpoint)
        return bool(strangers)

    def _healthy_now(self):
        try:
            self.cluster.require_healthy('')
        except KvmigrateError:
            return False
        return True

    def _reset_removed(self):
        """CLUSTER RESET SOFT on each removed node that still knows other nodes. A reset replica is turned into an
        empty master (the server flushes it): its data is on the new nodes."""
        changed = False
        for host, port in self.addresses:
            try:
                server = self.cluster.server(host, port, what='old node')
                known = int(self.cluster.info(server).get('cluster_known_nodes') or 1)
            except KvmigrateError:
                continue  # a stopped old node is gone from the cluster already
            if same_endpoint(host, port, self.cluster.seed.host, self.cluster.seed.port) or known <= 1:
                continue
            self.commands.append('%s: CLUSTER RESET SOFT' % server.endpoint)
            changed = True
            if self.check_mode:
                continue
            _claimed(server, self._claimed, 'cluster_forget')
            server.call('CLUSTER', 'RESET', 'SOFT')
        return changed


def describe_cluster(cluster, new_nodes=None):
    """The cluster's state and shards, and with ``new_nodes`` the pairing of new nodes to shards."""
    fields = cluster.info(cluster.seed)
    members = cluster.view()
    shards = shards_of(members)
    result = dict(cluster_state=fields.get('cluster_state'), slots_assigned=int(fields.get('cluster_slots_assigned') or 0),
                  slots_ok=int(fields.get('cluster_slots_ok') or 0), seed=cluster.seed.endpoint,
                  shards=[shard_view(s) for s in shards], nodes=[node_view(n) for n in members])
    if new_nodes is None:
        return result
    described = []
    by_id = dict((n['id'], n) for n in members)
    for spec in new_nodes:
        node = dict(spec)
        try:
            server = cluster.server(spec['host'], spec['port'], what='new node')
            node['id'] = server.call('CLUSTER', 'MYID')
        except KvmigrateError as exc:
            raise KvmigrateError(exc.msg)
        member = by_id.get(node['id'])
        if member is not None and not member['handshake']:
            # the node's own view of itself: after an interrupted run the seed may not have heard yet (gossip) that
            # it replicates a master, and placing it in another shard would refuse it for the keys it holds
            myself = next((n for n in cluster.nodes(server) if n['myself']), member)
            master_id = root_master_id(by_id, dict(member, role=myself['role'], master_id=myself['master_id']))
            shard = next((s for s in shards if s['master']['id'] == master_id), None)
            if shard is not None:
                node['shard'] = shard['first_slot']
                node['is_master'] = member['role'] == 'master'
        described.append(node)
    new_ids = set(n['id'] for n in described)
    pairing = pair_new_nodes(_old_counts(shards, new_ids), described)
    result['plan'] = [dict(slot=shard['first_slot'], slots=format_slots(shard['slots']),
                           new_nodes=[endpoint(n['host'], n['port']) for n in pairing[shard['first_slot']]])
                      for shard in shards]
    result['old_nodes'] = sorted(endpoint(n['host'], n['port']) for n in members
                                 if n['id'] not in new_ids and not n['handshake'] and n['port'])
    return result


def _old_counts(shards, new_ids):
    """Shards with as many replicas as old nodes they had: a shard counts its old master and old replicas once, whether
    its master is still old or already new (then the old master is one of its replicas)."""
    counted = []
    for shard in shards:
        members = [shard['master']] + shard['replicas']
        old = [m for m in members if m['id'] not in new_ids]
        new = [m for m in members if m['id'] in new_ids]
        size = max(len(old), len(new))
        counted.append(dict(shard, size=size))
    return counted


def node_specs(items, option='new_nodes'):
    """Check and normalise a list of {host, port, replaces} given as an option."""
    specs = []
    for index, item in enumerate(items or []):
        if isinstance(item, str):
            host, port = parse_address(item)
            item = dict(host=host, port=port)
        if not isinstance(item, dict) or not item.get('host'):
            raise KvmigrateError("Option %s[%d] has no host: give each node as {host: ..., port: ...}." % (option, index))
        unknown = sorted(set(item) - set(('host', 'port', 'replaces')))
        if unknown:
            raise KvmigrateError("Option %s[%d] has unknown keys %s: use host, port and replaces." % (
                option, index, ', '.join(unknown)))
        try:
            port = int(item.get('port') or 6379)
        except (TypeError, ValueError):
            port = 0
        if not 1 <= port <= 65535:
            raise KvmigrateError("Option %s[%d].port=%s is not a TCP port: use a number from 1 to 65535." % (
                option, index, item.get('port')))
        specs.append(dict(host=str(item['host']), port=port, replaces=item.get('replaces') or None))
    return specs
