"""Keys outside db 0 count (issue 11, section 1): every place that decides whether a sync would discard the target's
data (replicaof, its check mode, migration_check, rollback.yml's repoint) counts every database, on real servers."""
import json
import os
import subprocess
import sys

from tests.support.servers import REPO, ansible_env, fill


def _fill_db(server, db, count, prefix):
    client = server.client(db=db)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set('%s:%d' % (prefix, i), 'v%d' % i)
    pipe.execute()


def _keys_per_db(server):
    return {name: stats['keys'] for name, stats in server.client().info('keyspace').items()}


def _replica_args(target, source, **extra):
    args = dict(login_host=target.host, login_port=target.port, primary_host=source.host, primary_port=source.port)
    args.update(extra)
    return args


def test_replicaof_refuses_a_target_whose_keys_are_all_in_db_3_and_keeps_them(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    fill(source, 20)
    _fill_db(target, 3, 50, 'only-in-db3')
    assert target.client().dbsize() == 0  # DBSIZE sees db 0 only: the count that lost these keys

    for check_mode in (True, False):
        refused = run_module('replicaof', _replica_args(target, source), check_mode=check_mode)
        assert refused['rc'] == 1, refused
        assert refused['keys'] == 50
        assert '127.0.0.1:%d holds 50 keys' % target.port in refused['msg'] and 'allow_flush' in refused['msg']
    assert target.client().info('replication')['role'] == 'master'
    assert _keys_per_db(target) == {'db3': 50}

    predicted = run_module('replicaof', _replica_args(target, source, allow_flush=True), check_mode=True)
    assert predicted['rc'] == 0 and predicted['changed'] is True and predicted['keys_discarded'] == 50
    assert _keys_per_db(target) == {'db3': 50}

    allowed = run_module('replicaof', _replica_args(target, source, allow_flush=True))
    assert allowed['rc'] == 0, allowed['msg']
    assert allowed['changed'] is True and allowed['keys_discarded'] == 50
    waited = run_module('wait_for_sync', dict(login_host=target.host, login_port=target.port, timeout=60,
                                              poll_interval=0.05, max_lag_bytes=0))
    assert waited['rc'] == 0, waited['msg']
    assert _keys_per_db(target) == {'db0': 20}


def test_migration_check_and_replicaof_agree_on_keys_outside_db_0(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source')
    target = start_server(redis_bin, name='target')
    _fill_db(target, 3, 50, 'only-in-db3')
    _fill_db(target, 0, 5, 'in-db0')
    checked = run_module('migration_check', dict(_replica_args(target, source), rate_sample_seconds=0))
    assert checked['rc'] == 0, checked['msg']
    finding = [f for f in checked['findings'] if f['check'] == 'target_empty'][0]
    assert finding['severity'] == 'blocker' and '55 keys' in finding['message']
    assert checked['target']['dbsize'] == 55
    refused = run_module('replicaof', _replica_args(target, source))
    assert refused['rc'] == 1 and refused['keys'] == 55


def test_rollback_repoint_refuses_a_target_whose_keys_are_all_in_db_2(start_server, tmp_path):
    source = start_server(name='rollback-src', password='rb-Src-pw')
    target = start_server(name='rollback-tgt', password='rb-Tgt-pw')
    fill(source, 10)
    _fill_db(target, 2, 30, 'only-in-db2')
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'kvmigrate_targets': {'hosts': {'tgt': dict(
        kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=target.port, kvmigrate_target_password='rb-Tgt-pw',
        kvmigrate_source_host='127.0.0.1', kvmigrate_source_port=source.port, kvmigrate_source_password='rb-Src-pw')},
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}))
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
               os.path.join(REPO, 'playbooks', 'rollback.yml'), '-e', 'rollback_mode=repoint']
    proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert '127.0.0.1:%d holds 30 keys' % target.port in output, output[-3000:]
    assert target.client().info('replication')['role'] == 'master'
    assert _keys_per_db(target) == {'db2': 30}
    assert 'rb-Src-pw' not in output and 'rb-Tgt-pw' not in output
