"""playbooks/migrate.yml over a fleet of 10 pairs (one source feeding 3 targets), run twice."""
import json
import os
import re
import subprocess
import sys
import tempfile

from tests.support.servers import REPO, ansible_env, fill


def _playbook(inventory, *extra):
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
               os.path.join(REPO, 'playbooks', 'migrate.yml')] + list(extra)
    return subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)


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

    first = _playbook(path, '-f', '10', '-e', 'kvmigrate_report_dir=%s' % workdir, '-e', 'replicate_max_concurrent_syncs=2')
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    recap = _recap(first.stdout)
    assert sorted(recap) == sorted(hosts)
    assert all(entry['changed'] >= 1 and entry['failed'] == 0 for entry in recap.values())

    for i, target in enumerate(targets):
        assert target.client().info('replication')['role'] == 'slave'
        assert _all_keys(target) == _all_keys(sources[source_of[i]]), 'tgt%d differs from its source' % i

    with open(os.path.join(workdir, 'latest.json')) as handle:
        report = json.load(handle)
    assert sorted(pair['target'] for pair in report['pairs']) == sorted(hosts)
    assert all(pair['synced'] for pair in report['pairs'])
    # at most 2 full syncs per source at a time: source 0's third target waits for a second wave, which starts only
    # after the first wave of every source has synced
    by_target = dict((pair['target'], pair) for pair in report['pairs'])
    assert sorted(by_target[host]['wave'] for host in ('tgt0', 'tgt1', 'tgt2')) == [0, 0, 1]
    assert all(by_target['tgt%d' % i]['wave'] == 0 for i in range(3, 10))
    second_wave = [pair for pair in report['pairs'] if pair['wave'] == 1]
    first_wave_synced = max(pair['timeline']['synced'] for pair in report['pairs'] if pair['wave'] == 0)
    assert second_wave[0]['timeline']['sync_started'] > first_wave_synced

    second = _playbook(path, '-f', '10', '-e', 'kvmigrate_report_dir=%s' % workdir)
    assert second.returncode == 0, second.stdout[-4000:]
    assert all(entry['changed'] == 0 for entry in _recap(second.stdout).values()), second.stdout[-3000:]
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert 'fleet-Src-pw' not in output and 'fleet-Tgt-pw' not in output
