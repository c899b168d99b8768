"""playbooks/migrate.yml with promotion over a fleet of hosts in network namespaces, each with its own address.

Three sources feed four targets (source 0 feeds two; only one of them is promoted). Writers keep writing to every
source through the whole run and move to the new primary when the fenced source refuses them. The modules run on
the control node (this process, in the root namespace) and connect to the hosts' addresses over the bridge.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from tests.support.servers import REPO, ansible_env, fill
from tests.support.writers import LiveWriters

SOURCE_PASSWORD = 'nf-Src-Secret-1'
TARGET_PASSWORD = 'nf-Tgt-Secret-2'


def _playbook(inventory, *extra):
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
               os.path.join(REPO, 'playbooks', 'migrate.yml'), '-f', '4'] + list(extra)
    return subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)


def _recap(output):
    return {host: dict(changed=int(changed), failed=int(failed))
            for host, changed, failed in re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)',
                                                    output, re.M)}


def test_migrate_playbook_over_namespaced_hosts_promotes_with_live_writers_losing_none_and_reruns_unchanged(
        fleet, record_property, run_module):
    sources = [fleet.add('s%d' % i, password=SOURCE_PASSWORD) for i in range(3)]
    targets = [fleet.add('t%d' % i, password=TARGET_PASSWORD) for i in range(4)]
    source_of = [0, 0, 1, 2]          # target -> source
    promoted = {0: 0, 1: 2, 2: 3}     # source -> the target that takes over its writes (target 1 stays a replica)
    for i, source in enumerate(sources):
        fill(source, 3000 + 1000 * i, prefix='s%d' % i)
    hosts = {}
    for i, target in enumerate(targets):
        source = sources[source_of[i]]
        hosts['t%d' % i] = dict(kvmigrate_target_host=target.address, kvmigrate_target_password=TARGET_PASSWORD,
                                kvmigrate_source_host=source.address, kvmigrate_source_password=SOURCE_PASSWORD,
                                kvmigrate_promote=promoted[source_of[i]] == i)
    workdir = tempfile.mkdtemp(prefix='kvm-netns-fleet-')
    inventory = os.path.join(workdir, 'inventory.json')
    with open(inventory, 'w') as handle:
        json.dump({'kvmigrate_targets': {'hosts': hosts, 'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}, handle)

    writers = [LiveWriters(source, new_primary=targets[promoted[i]], count=1, prefix='live%d-' % i, pause=0.005)
               for i, source in enumerate(sources)]
    for writer in writers:
        writer.start()
    try:
        first = _playbook(inventory, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % workdir,
                          '-e', 'preflight_rate_sample_seconds=0.3')
        time.sleep(0.3)  # writes land on the new primaries too
    finally:
        for writer in writers:
            writer.stop()
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert all(entry['changed'] >= 1 and entry['failed'] == 0 for entry in _recap(first.stdout).values())
    assert sorted(_recap(first.stdout)) == sorted(hosts)

    lost = 0
    for i, writer in enumerate(writers):
        new_primary = targets[promoted[i]]
        assert not writer.errors, writer.errors
        assert writer.refusals, 'writer %d was never refused by its fenced source' % i
        missing, acked = writer.missing_on(new_primary)
        assert acked > 50, 'writer %d acknowledged only %d writes' % (i, acked)
        lost += len(missing)
        assert new_primary.client().info('replication')['role'] == 'master'
        assert sources[i].client().info('replication')['role'] == 'slave'
    assert lost == 0
    # target 1 (not promoted) was moved from source 0 to its new primary, target 0, without a full sync
    sibling = targets[1]
    assert sibling.client().info('replication')['master_host'] == targets[0].address
    assert int(targets[0].client().info('stats')['sync_full']) == 0
    deadline = time.monotonic() + 30
    while sibling.client().dbsize() != targets[0].client().dbsize():
        assert time.monotonic() < deadline, 'the sibling did not catch up with the new primary'
        time.sleep(0.1)
    assert writers[0].missing_on(sibling)[0] == []

    second = _playbook(inventory, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % workdir,
                       '-e', 'preflight_rate_sample_seconds=0.3')
    assert second.returncode == 0, second.stdout[-5000:]
    assert all(entry['changed'] == 0 for entry in _recap(second.stdout).values()), second.stdout[-3000:]
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert SOURCE_PASSWORD not in output and TARGET_PASSWORD not in output
    acked = sum(len(writer.all_acked) for writer in writers)
    record_property('reliability', json.dumps(dict(
        fault='playbooks/migrate.yml -e migrate_promote=true over 7 hosts in network namespaces (3 sources, 4 '
              'targets, one source feeding 2), a live writer on every source',
        expected='every pair promoted, or its sibling moved to the new primary without a full sync; zero lost writes; '
                 'second run changed=0',
        observed='succeeded; %d writes acknowledged; second run changed=0 on all 4 targets' % acked, lost_writes=lost)))
