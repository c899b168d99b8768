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
