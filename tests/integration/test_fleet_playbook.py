"""playbooks/migrate.yml over a fleet of 10 pairs (one source feeding 3 targets), run twice."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from tests.integration.test_slicing import FullSyncSampler
from tests.support.servers import REPO, ansible_env, awx_summary, fill, run_role


def _playbook(inventory, *extra):
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
               os.path.join(REPO, 'playbooks', 'migrate.yml')] + list(extra)
    # the default callback prints the run's custom statistics (AWX keeps them as the job's artifacts)
    return subprocess.run(command, env=ansible_env({'ANSIBLE_SHOW_CUSTOM_STATS': 'true'}), capture_output=True,
                          text=True, timeout=900, check=False)


def _recap(output):
    return {host: dict(ok=int(ok), changed=int(changed), failed=int(failed))
            for host, ok, changed, failed in re.findall(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)',
                                                        output, re.M)}


def _all_keys(server):
    client = server.client()
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def test_ten_pairs_one_source_feeding_three_migrate_key_for_key_and_rerun_is_unchanged(start_server):
    sources = [start_server(name='fleet-src%d' % i, password='fleet-Src-pw') for i in range(8)]
    targets = [start_server(name='fleet-tgt%d' % i, password='fleet-Tgt-pw') for i in range(10)]
    # source 0 feeds targets 0, 1 and 2; sources 1..7 feed one target each
    source_of = [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    for i, source in enumerate(sources):
        fill(source, 2000 + 500 * i, prefix='src%d' % i)
    hosts = {}
    for i, target in enumerate(targets):
        source = sources[source_of[i]]
        hosts['tgt%d' % i] = dict(kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=target.port,
                                  kvmigrate_target_password='fleet-Tgt-pw', kvmigrate_source_host='127.0.0.1',
                                  kvmigrate_source_port=source.port, kvmigrate_source_password='fleet-Src-pw')
    inventory = {'kvmigrate_targets': {'hosts': hosts, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}
    workdir = tempfile.mkdtemp(prefix='kvm-fleet-')
    path = os.path.join(workdir, 'inventory.json')
    with open(path, 'w') as handle:
        json.dump(inventory, handle)

    # Source 0 waits 2 s for more replicas before each diskless transfer, so its full syncs last that long. With at
    # most 2 at a time, one of its three targets must queue for a slot in its replicaof task. The sampler counts the
    # full syncs the source serves, as the source lists them, all through the run.
    sources[0].client().config_set('repl-diskless-sync', 'yes')
    sources[0].client().config_set('repl-diskless-sync-delay', '2')
    with FullSyncSampler(sources[0]) as sampler:
        first = _playbook(path, '-f', '10', '-e', 'kvmigrate_report_dir=%s' % workdir, '-e', 'replicate_max_concurrent_syncs=2')
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert sampler.errors == [] and sampler.most == 2, 'source 0 served %d full syncs at once, with a limit of 2' % sampler.most
    recap = _recap(first.stdout)
    assert sorted(recap) == sorted(hosts)
    assert all(entry['changed'] >= 1 and entry['failed'] == 0 for entry in recap.values())

    for i, target in enumerate(targets):
        assert target.client().info('replication')['role'] == 'slave'
        assert _all_keys(target) == _all_keys(sources[source_of[i]]), 'tgt%d differs from its source' % i

    with open(os.path.join(workdir, 'latest.json')) as handle:
        report = json.load(handle)
    assert sorted(pair['target'] for pair in report['pairs']) == sorted(hosts)
    # AWX gets the same record as the file
    assert awx_summary(first.stdout) == {'kvmigrate_migration': report}
    assert all(pair['synced'] for pair in report['pairs'])
    # source 0's third target queued for its slot until the first two had left their full syncs, saw fewer than 2
    # when it went, and its REPLICAOF followed both of theirs; no other target queued
    by_target = dict((pair['target'], pair) for pair in report['pairs'])
    waits = sorted((by_target[host]['sync_slot_wait_seconds'], host) for host in ('tgt0', 'tgt1', 'tgt2'))
    # the first two went at once (they saw 0 and 1 full syncs), the third only after the 2 s transfer delay
    assert sorted(by_target[host]['full_syncs_on_source'] for wait, host in waits[:2]) == [0, 1], waits
    assert waits[2][0] > 0.5, waits
    queued = by_target[waits[2][1]]
    assert queued['queued_for_sync_slot'] is True, queued
    assert [pair['target'] for pair in report['pairs'] if pair['queued_for_sync_slot']] == [queued['target']]
    assert queued['full_syncs_on_source'] in (0, 1), queued
    assert queued['timeline']['sync_started'] > max(by_target[host]['timeline']['sync_started'] for wait, host in waits[:2])
    assert queued['timeline']['sync_requested'] < queued['timeline']['sync_started'] - waits[2][0] + 0.5
    assert all(by_target['tgt%d' % i]['full_syncs_on_source'] == 0 for i in range(3, 10))

    second = _playbook(path, '-f', '10', '-e', 'kvmigrate_report_dir=%s' % workdir)
    assert second.returncode == 0, second.stdout[-4000:]
    assert all(entry['changed'] == 0 for entry in _recap(second.stdout).values()), second.stdout[-3000:]
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert 'fleet-Src-pw' not in output and 'fleet-Tgt-pw' not in output


def test_verify_fails_each_pair_that_exceeds_a_threshold_with_what_it_exceeded(start_server, tmp_path):
    """Four pairs through the verify role with verify_compare_sample on: one healthy replica, one target that never
    became a replica, one replica that holds 10 keys its source lacks (written while replica-read-only was off), and
    one whose every key is there but one value was changed behind the source's back, which only the sampled
    comparison (the check the role makes for Dragonfly targets by default) can see. Only the last three fail, each
    with its own sentence, and the table shows all four."""
    sources = [start_server(name='verify-src%d' % i, password='verify-Src-pw') for i in range(4)]
    targets = [start_server(name='verify-tgt%d' % i, password='verify-Tgt-pw') for i in range(4)]
    for source in sources:
        fill(source, 500)
    for i in (0, 2, 3):
        client = targets[i].client()
        client.config_set('masterauth', 'verify-Src-pw')
        client.replicaof(sources[i].host, sources[i].port)
    for i in (0, 2, 3):
        client = targets[i].client()
        for dummy in range(100):
            if client.info('replication').get('master_link_status') == 'up' and client.dbsize() == 500:
                break
            time.sleep(0.05)
        assert client.dbsize() == 500
    extra = targets[2].client()
    extra.config_set('replica-read-only', 'no')
    for n in range(10):
        extra.set('only-on-target:%d' % n, n)
    changed = targets[3].client()
    changed.config_set('replica-read-only', 'no')
    changed_key = next(iter(changed.scan_iter(count=1000)))
    changed.set(changed_key, 'changed behind the source')
    names = ['healthy', 'not_replica', 'extra_keys', 'changed_value']
    hosts = dict((name, dict(kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=targets[i].port,
                             kvmigrate_target_password='verify-Tgt-pw', kvmigrate_source_host='127.0.0.1',
                             kvmigrate_source_port=sources[i].port, kvmigrate_source_password='verify-Src-pw'))
                 for i, name in enumerate(names))
    proc = run_role(tmp_path, 'verify', hosts, dict(verify_timeout=5, verify_stable_for=0, verify_max_key_difference_ratio=0,
                                                    verify_compare_sample=True, verify_sample_size=500))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    recap = _recap(proc.stdout)
    assert recap['healthy']['failed'] == 0, output[-3000:]
    assert recap['not_replica']['failed'] == 1 and recap['extra_keys']['failed'] == 1, output[-3000:]
    assert recap['changed_value']['failed'] == 1, output[-3000:]
    assert re.search(r'fatal: \[changed_value -> localhost\]: FAILED! => .*%s' % re.escape(changed_key), output), output[-3000:]
    assert 'changed behind the source' not in output
    assert re.search(r'fatal: \[not_replica -> localhost\]: FAILED! => .*Target 127\.0\.0\.1:%d is not a replica' % targets[1].port,
                     output), output[-3000:]
    assert re.search(r'fatal: \[extra_keys -> localhost\]: FAILED! => .*key counts differ by 10 \(allowed 0\): the target holds 510 keys '
                     r'and its source 500', output), output[-3000:]
    table = dict((line.split()[0].strip('"'), line) for line in proc.stdout.split('PLAY RECAP')[0].splitlines()
                 if line.strip().strip('"').split(' ')[0] in names)
    assert sorted(table) == sorted(names), output[-3000:]
    assert table['healthy'].rstrip('",').endswith(' -')
    assert 'key counts differ by 10' in table['extra_keys']
    assert 'verify-Src-pw' not in output and 'verify-Tgt-pw' not in output
