"""AWX job slicing, simulated exactly: slice i of N gets hosts[i::N] of the inventory and the N slices run at once.

One source feeds 3 targets (one promoted, its siblings in other slices) and 3 sources feed one target each, all with
live writers. The same invariants hold sliced and for two unsliced runs of one inventory at once: no acknowledged
write lost, exactly one promoted target per source, siblings follow the new primary without a full sync, never more
full syncs per source at a time than replicate_max_concurrent_syncs (the source's INFO sampled in a thread), and a
second run changes nothing.
"""
import json
import os
import subprocess
import sys
import threading
import time

from tests.support.servers import ansible_env, fill
from tests.support.writers import LiveWriters

SOURCE_PASSWORD = 'slice-Src-pw'
TARGET_PASSWORD = 'slice-Tgt-pw'
MAX_CONCURRENT_SYNCS = 2
FULL_SYNC_STATES = ('wait_bgsave', 'send_bulk')
# source 0 feeds targets 0 (promoted), 1 and 2; sources 1..3 feed targets 3..5
SOURCE_OF = [0, 0, 0, 1, 2, 3]
PROMOTED_OF_SOURCE = {0: 0, 1: 3, 2: 4, 3: 5}


class FullSyncSampler(object):
    """Reads a source's INFO replication every few milliseconds; ``most`` is the largest number of replicas it served
    a full sync at once."""

    def __init__(self, server):
        self.client = server.client()
        self.most = 0
        self.samples = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                info = self.client.info('replication')
            except Exception as exc:  # the sampler must not die silently: the test reads errors
                self.errors.append(repr(exc))
                return
            states = [value.get('state') for name, value in info.items()
                      if name.startswith('slave') and isinstance(value, dict)]
            self.most = max(self.most, len([state for state in states if state in FULL_SYNC_STATES]))
            self.samples += 1
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def _fleet(start_server):
    # Source 0 holds each full sync open 3 s (diskless, waiting for more replicas to share it), so full syncs that
    # overlap are seen by the sampler: without the limit, its three targets would all be in wait_bgsave at once.
    sources = [start_server(name='slice-src%d' % i, password=SOURCE_PASSWORD,
                            extra=['repl-diskless-sync yes', 'repl-diskless-sync-delay 3'] if i == 0 else [])
               for i in range(4)]
    targets = [start_server(name='slice-tgt%d' % i, password=TARGET_PASSWORD) for i in range(6)]
    for i, source in enumerate(sources):
        fill(source, 3000, prefix='src%d' % i)
    hosts = []
    for i, target in enumerate(targets):
        host = dict(kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=target.port,
                    kvmigrate_target_password=TARGET_PASSWORD, kvmigrate_source_port=sources[SOURCE_OF[i]].port,
                    kvmigrate_source_password=SOURCE_PASSWORD,
                    kvmigrate_promote=PROMOTED_OF_SOURCE[SOURCE_OF[i]] == i)
        # source 0 named two ways: by address for its promoted target, by name for the siblings
        host['kvmigrate_source_host'] = 'localhost' if SOURCE_OF[i] == 0 and i != 0 else '127.0.0.1'
        hosts.append(('tgt%d' % i, host))
    return sources, targets, hosts


def _write_inventory(path, hosts):
    with open(path, 'w') as handle:
        json.dump({'kvmigrate_targets': {'hosts': dict(hosts), 'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}, handle)


def _start_playbook(inventory, report_dir, log_path):
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
               'kvmigrate.replication.migrate', '-f', '10', '-e', 'migrate_promote=true',
               '-e', 'kvmigrate_report_dir=%s' % report_dir,
               '-e', 'replicate_max_concurrent_syncs=%d' % MAX_CONCURRENT_SYNCS]
    log = open(log_path, 'w')
    return subprocess.Popen(command, env=ansible_env(), stdout=log, stderr=subprocess.STDOUT, text=True), log


def _run_at_once(inventories, workdir, label):
    """Starts one ansible-playbook per inventory at the same time; returns [(returncode, output)]."""
    started = [_start_playbook(path, os.path.join(workdir, '%s-reports-%d' % (label, n)),
                               os.path.join(workdir, '%s-%d.log' % (label, n)))
               for n, path in enumerate(inventories)]
    results = []
    for n, (proc, log) in enumerate(started):
        proc.wait(timeout=600)
        log.close()
        with open(os.path.join(workdir, '%s-%d.log' % (label, n))) as handle:
            results.append((proc.returncode, handle.read()))
    return results


def _recap(output):
    import re
    return dict((host, int(changed)) for host, changed in
                re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+', output, re.M))


def _migrate_and_check(start_server, tmp_path, label, inventories_of):
    sources, targets, hosts = _fleet(start_server)
    inventories = inventories_of(hosts, tmp_path)
    new_primary_of = dict((s, targets[t]) for s, t in PROMOTED_OF_SOURCE.items())
    writers = [LiveWriters(source, new_primary=new_primary_of[i], prefix='live%d-' % i, pause=0.002).start()
               for i, source in enumerate(sources)]
    with FullSyncSampler(sources[0]) as sampler:
        results = _run_at_once(inventories, str(tmp_path), label)
    time.sleep(0.3)
    for writer in writers:
        writer.stop()
    for code, output in results:
        assert code == 0, output[-5000:]
        assert SOURCE_PASSWORD not in output and TARGET_PASSWORD not in output

    # no acknowledged write lost, on the new primary of each source
    for i, writer in enumerate(writers):
        missing, acked = writer.missing_on(new_primary_of[i])
        assert acked > 50 and missing == [], 'source %d: %d of %d acknowledged writes lost' % (i, len(missing), acked)
        assert writer.errors == []

    # exactly one promoted target per source, each source fenced as a replica of it
    for i, target in enumerate(targets):
        role = target.client().info('replication')['role']
        assert role == ('master' if PROMOTED_OF_SOURCE[SOURCE_OF[i]] == i else 'slave'), 'tgt%d is %s' % (i, role)
    for i, source in enumerate(sources):
        info = source.client().info('replication')
        assert info['role'] == 'slave' and int(info['master_port']) == new_primary_of[i].port

    # siblings follow the new primary, without a full sync: it served none (the fenced source and both siblings
    # continued by partial resync) and they hold every key of it
    new_primary = targets[0]
    for i in (1, 2):
        info = targets[i].client().info('replication')
        assert int(info['master_port']) == new_primary.port and info['master_link_status'] == 'up'
    stats = new_primary.client().info('stats')
    assert stats['sync_full'] == 0 and stats['sync_partial_ok'] >= 3, stats
    deadline = time.time() + 10
    while time.time() < deadline and any(targets[i].client().dbsize() != new_primary.client().dbsize() for i in (1, 2)):
        time.sleep(0.1)
    assert all(targets[i].client().dbsize() == new_primary.client().dbsize() for i in (1, 2))

    # never more full syncs at once on the source with three targets than the limit
    assert sampler.errors == [] and sampler.samples > 100
    # the sampler must have seen a full sync at all, or the limit below would hold vacuously
    assert sampler.most >= 1, 'the sampler never saw source 0 serve a full sync: it proves nothing'
    assert sampler.most <= MAX_CONCURRENT_SYNCS, 'source 0 served %d full syncs at once' % sampler.most

    # a second run of every inventory changes nothing
    again = _run_at_once(inventories, str(tmp_path), label + '-again')
    for code, output in again:
        assert code == 0, output[-5000:]
        recap = _recap(output)
        assert recap and all(changed == 0 for changed in recap.values()), output[-3000:]


def test_three_awx_slices_at_once_keep_every_invariant(start_server, tmp_path):
    def sliced(hosts, workdir, slices=3):
        paths = []
        for i in range(slices):
            path = str(workdir / ('slice-%d.json' % i))
            _write_inventory(path, hosts[i::slices])
            paths.append(path)
        return paths
    _migrate_and_check(start_server, tmp_path, 'sliced', sliced)


def test_two_unsliced_runs_of_one_inventory_at_once_keep_every_invariant(start_server, tmp_path):
    def twice(hosts, workdir):
        path = str(workdir / 'inventory.json')
        _write_inventory(path, hosts)
        return [path, path]
    _migrate_and_check(start_server, tmp_path, 'twice', twice)
