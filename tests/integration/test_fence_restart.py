"""The fence outlives a restart (issue 12), on real servers.

A source started from a configuration file, cut over by the promote role with its default settings while writers run,
then killed and started again from the same file as a supervisor would: it must come back refusing writes (READONLY
or NOREPLICAS, through the collection's write probe) and no acknowledged write may be lost. A source without a
configuration file cannot keep a fence across a restart: migration_check says so and the cutover refuses before
anything changes.
"""
import json
import os
import subprocess
import sys
import time

from ansible_collections.kvmigrate.replication.plugins.module_utils import probe as probe_utils
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import connect

from tests.support.servers import ansible_env, fill
from tests.support.writers import LiveWriters

SOURCE_PASSWORD = 'fr-Src-pw'
TARGET_PASSWORD = 'fr-Tgt-pw'
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def _wait_until(condition, timeout=20, what='condition'):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, '%s not met within %s s' % (what, timeout)
        time.sleep(0.02)


def _synced_pair(start_server, redis_bin, source_config_file=True):
    source = start_server(binary=redis_bin, name='fr-source', password=SOURCE_PASSWORD, config_file=source_config_file)
    target = start_server(binary=redis_bin, name='fr-target', password=TARGET_PASSWORD)
    fill(source, 300)
    target.client().config_set('masterauth', SOURCE_PASSWORD)
    target.client().replicaof(source.host, source.port)
    _wait_until(lambda: target.client().info('replication').get('master_link_status') == 'up'
                and target.client().dbsize() == 300, what='target in sync')
    return source, target


def _probe(server):
    """The collection's write probe, as write_check and the cutover use it: accepted, refused or unknown."""
    connected = connect(dict(login_host=server.host, login_port=server.port, login_password=server.password,
                             connect_timeout=5.0, tls=False), what='source')
    try:
        return probe_utils.probe_write(connected)
    finally:
        connected.close()


def _promote_with_role_defaults(tmp_path, source, target):
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'kvmigrate_targets': {'hosts': {'tgt': dict(
        kvmigrate_target_host=target.host, kvmigrate_target_port=target.port, kvmigrate_target_password=TARGET_PASSWORD,
        kvmigrate_source_host=source.host, kvmigrate_source_port=source.port, kvmigrate_source_password=SOURCE_PASSWORD)},
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}))
    play = tmp_path / 'promote.yml'
    task = {'name': 'Promote the target with the role defaults',
            'ansible.builtin.include_role': {'name': 'kvmigrate.replication.promote'}}
    play.write_text(json.dumps([dict(name='Cut over', hosts='kvmigrate_targets', gather_facts=False, tasks=[task])]))
    proc = subprocess.run([PLAYBOOK, '-i', str(inventory), str(play)], env=ansible_env(), capture_output=True,
                          text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_source_fenced_by_the_promote_role_defaults_comes_back_refusing_writes_after_a_restart(
        start_server, redis_bin, tmp_path):
    source, target = _synced_pair(start_server, redis_bin)
    with LiveWriters(source, target, count=2) as writers:
        rc, output = _promote_with_role_defaults(tmp_path, source, target)
    assert rc == 0, output[-3000:]
    assert SOURCE_PASSWORD not in output and TARGET_PASSWORD not in output
    assert target.client().info('replication')['role'] == 'master'
    assert _probe(source)['outcome'] == probe_utils.REFUSED

    source.restart()
    # The fence is what the restarted source read from its file, before any link to the target came up.
    assert _probe(source)['outcome'] == probe_utils.REFUSED, _probe(source)
    replication = source.client().info('replication')
    assert replication['role'] == 'slave' and replication['master_port'] == target.port
    with open(target.config) as handle:
        assert 'replicaof' not in handle.read(), 'the new primary would come back as a replica'
    assert not writers.errors, writers.errors
    missing, acked = writers.missing_on(target)
    assert acked > 100, 'writers wrote too little to prove anything: %d' % acked
    assert missing == [], '%d of %d acknowledged writes are missing on the new primary' % (len(missing), acked)
    assert target.client().set('after-restart', '1') is True


def test_a_source_without_a_config_file_is_refused_before_the_cutover_and_preflight_says_so(
        start_server, redis_bin, run_module):
    source, target = _synced_pair(start_server, redis_bin, source_config_file=False)
    args = dict(login_host=target.host, login_port=target.port, login_password=TARGET_PASSWORD,
                primary_host=source.host, primary_port=source.port, primary_password=SOURCE_PASSWORD)
    checked = run_module('migration_check', dict(args, promote=True, persist=True, rate_sample_seconds=0))
    assert checked['rc'] == 0, checked.get('msg')
    finding = [f for f in checked['findings'] if f['check'] == 'fence_durability'][0]
    assert finding['severity'] == 'blocker', finding
    assert '%s:%d' % (source.host, source.port) in finding['message'] and 'configuration file' in finding['message']
    # Without the cutover's persist it is a risk, not a blocker.
    relaxed = run_module('migration_check', dict(args, promote=True, persist=False, rate_sample_seconds=0))
    assert [f['severity'] for f in relaxed['findings'] if f['check'] == 'fence_durability'] == ['warning']

    source.client().config_resetstat()
    cutover = dict(login_host=target.host, login_port=target.port, login_password=TARGET_PASSWORD, state='primary',
                   fence_source=True, fence_timeout_ms=2000, persist=True)
    checked_mode = run_module('replicaof', cutover, check_mode=True)
    assert checked_mode['rc'] == 1 and 'configuration file' in checked_mode['msg'], checked_mode
    refused = run_module('replicaof', cutover)
    assert refused['rc'] == 1, refused
    assert 'Source %s:%d cannot keep its fence' % (source.host, source.port) in refused['msg']
    assert 'persist: false' in refused['msg'] and 'Nothing was changed' in refused['msg']
    assert 'Traceback' not in refused['_stderr']
    for text in (refused['msg'], refused['_stdout'], refused['_stderr']):
        assert SOURCE_PASSWORD not in text and TARGET_PASSWORD not in text
    # Nothing changed: no pause, no guard, no record, and the target is still the source's replica.
    stats = source.client().info('commandstats')
    assert not any(name in stats for name in ('cmdstat_client|pause', 'cmdstat_config|set', 'cmdstat_set')), sorted(stats)
    assert 'cmdstat_info' in stats  # positive control: the module did read the source
    assert source.client().get('kvmigrate:cutover') is None
    assert source.client().config_get('min-replicas-to-write') == {'min-replicas-to-write': '0'}
    assert target.client().info('replication')['role'] == 'slave'
    assert source.client().set('still-primary', '1') is True

    # persist: false accepts the fence a restart undoes: the cutover goes on.
    accepted = run_module('replicaof', dict(cutover, persist=False))
    assert accepted['rc'] == 0 and accepted['changed'], accepted.get('msg')
    assert target.client().info('replication')['role'] == 'master'
