"""The wait_for_sync action plugin: progress lines on the control node with -v, none without."""
import json
import os
import re
import subprocess
import sys
import tempfile

from tests.support.servers import ansible_env, fill

PLAY = '''
- name: Replicate and wait
  hosts: localhost
  gather_facts: false
  vars:
    kvmigrate_progress_interval: 0.2
  tasks:
    - name: Point the target at the source
      kvmigrate.replication.replicaof:
        login_port: "{{ target_port }}"
        primary_host: 127.0.0.1
        primary_port: "{{ source_port }}"
    - name: Wait, holding the sync for a second
      kvmigrate.replication.wait_for_sync:
        login_port: "{{ target_port }}"
        stable_for: 1
        max_lag_bytes: 1048576
      register: waited
    - name: Show the timeline
      ansible.builtin.debug:
        msg: "TIMELINE {{ waited.timeline | to_json }} SAMPLES {{ waited.lag_samples | length }}"
'''

PROGRESS = re.compile(r'^localhost: (initial sync|synced, lag|waiting)', re.M)


def _run(source, target, *extra):
    workdir = tempfile.mkdtemp(prefix='kvm-progress-')
    play = os.path.join(workdir, 'play.yml')
    with open(play, 'w') as handle:
        handle.write(PLAY)
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', play,
               '-e', 'target_port=%d' % target.port, '-e', 'source_port=%d' % source.port] + list(extra)
    return subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)


def test_wait_for_sync_shows_progress_lines_with_verbose_and_none_without(start_server):
    source = start_server(name='progress-src')
    fill(source, 20000)
    quiet_target = start_server(name='progress-tgt-quiet')
    verbose_target = start_server(name='progress-tgt-verbose')

    quiet = _run(source, quiet_target)
    assert quiet.returncode == 0, quiet.stdout[-3000:] + quiet.stderr[-2000:]
    assert not PROGRESS.search(quiet.stdout), quiet.stdout

    verbose = _run(source, verbose_target, '-v')
    assert verbose.returncode == 0, verbose.stdout[-3000:] + verbose.stderr[-2000:]
    assert re.search(r'^localhost: synced, lag \d+ bytes', verbose.stdout, re.M), verbose.stdout[-3000:]

    timeline = json.loads(re.search(r'TIMELINE (\{.*?\}) SAMPLES', quiet.stdout).group(1).replace('\\"', '"'))
    assert timeline['started_at'] <= timeline['wait_started_at'] <= timeline['synced_at'] <= timeline['finished_at']


def test_progress_can_be_switched_off_under_verbose(start_server):
    source = start_server(name='progress-off-src')
    fill(source, 2000)
    target = start_server(name='progress-off-tgt')
    result = _run(source, target, '-v', '-e', 'kvmigrate_progress=false')
    assert result.returncode == 0, result.stdout[-3000:]
    assert not PROGRESS.search(result.stdout), result.stdout


FLEET_PLAY = '''
- name: Replicate and wait on every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Point the host's target at the source
      kvmigrate.replication.replicaof:
        login_port: "{{ target_port }}"
        primary_host: 127.0.0.1
        primary_port: "{{ source_port }}"
    - name: Wait for the sync
      kvmigrate.replication.wait_for_sync:
        login_port: "{{ target_port }}"
        max_lag_bytes: 1048576
'''


def _run_play(play_text, inventory_text, *extra):
    workdir = tempfile.mkdtemp(prefix='kvm-progress-')
    play, inventory = os.path.join(workdir, 'play.yml'), os.path.join(workdir, 'hosts.ini')
    with open(play, 'w') as handle:
        handle.write(play_text)
    with open(inventory, 'w') as handle:
        handle.write(inventory_text)
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, play] + list(extra)
    return subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)


def _fleet_inventory(source, targets):
    lines = ['host%d target_port=%d source_port=%d ansible_connection=local' % (number, target.port, source.port)
             for number, target in enumerate(targets, 1)]
    return '\n'.join(['[all]'] + lines) + '\n'


def test_every_host_of_a_short_sync_ends_with_a_synced_line(start_server):
    source = start_server(name='progress-fleet-src')
    fill(source, 100)
    targets = [start_server(name='progress-fleet-tgt%d' % number) for number in (1, 2, 3)]
    # an interval longer than any of these waits: the periodic lines never come, only the last one can
    result = _run_play(FLEET_PLAY, _fleet_inventory(source, targets), '-v', '-e', 'kvmigrate_progress_interval=30')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for number in (1, 2, 3):
        assert re.search(r'^host%d: synced, lag \d+ bytes \(after [\d.]+ s\)$' % number, result.stdout, re.M), \
            result.stdout[-3000:]


def test_diskless_sync_progress_shows_bytes_and_rate_not_a_percentage(start_server):
    # Redis 7 sends the snapshot diskless by default; rdb-key-save-delay (microseconds per key) makes it last seconds
    source = start_server(name='progress-diskless-src', extra=['repl-diskless-sync yes', 'rdb-key-save-delay 200'])
    fill(source, 20000)
    target = start_server(name='progress-diskless-tgt')
    result = _run(source, target, '-v')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    sync_lines = re.findall(r'^localhost: initial sync.*$', result.stdout, re.M)
    assert sync_lines, 'no initial sync line during a sync of several seconds: ' + result.stdout[-3000:]
    assert not [line for line in sync_lines if '%' in line], sync_lines
    assert [line for line in sync_lines if re.search(r'KiB received \(size unknown\), [\d.]+ (B|KiB|MiB)/s$', line)], \
        sync_lines


def test_progress_settings_may_be_jinja_expressions(start_server):
    source = start_server(name='progress-jinja-src')
    fill(source, 100)
    target = start_server(name='progress-jinja-tgt')
    play = FLEET_PLAY.replace('  gather_facts: false\n', '  gather_facts: false\n  vars:\n'
                              '    kvmigrate_progress: "{{ want_progress | bool }}"\n'
                              '    kvmigrate_progress_interval: "{{ 0.1 + 0.1 }}"\n')
    # no -v: only the templated kvmigrate_progress can turn the lines on
    result = _run_play(play, _fleet_inventory(source, [target]), '-e', 'want_progress=yes')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r'^host1: synced, lag \d+ bytes', result.stdout, re.M), result.stdout[-3000:]
