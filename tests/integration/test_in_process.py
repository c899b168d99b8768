"""The action plugins run a module inside the Ansible worker when the task runs on the control node
(plugins/plugin_utils/in_process.py). These tests run the same tasks through ansible-playbook both ways, in the
worker and as a module process (kvmigrate_in_process=false), against real servers, and compare: the same result
keys and values, the same error messages for bad input, the same no_log masking, and no password in any output.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.servers import ansible_env, fill

TARGET_PASSWORD = 'inproc-Tgt-Secret-7'
SOURCE_PASSWORD = 'inproc-Src-Secret-8'
MASK = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
# values that differ between two runs whatever path ran them
VOLATILE = {'elapsed', 'timeline', 'raw', 'lag_samples', 'sync_progress', 'memory', 'source', 'target', 'checks',
            'uptime_seconds'}
WORKER_LINE = 'runs in the controller process'
MODULE_LINE = 'runs as a module process'


def _run_task(tmp_path, task, extra_vars=None, check=False, name='case'):
    """Run one task on localhost with -vvv; return (its result as the callback printed it, the whole output).

    The callback leaves ``failed`` out of what it prints after ``fatal:``: the result gets ``_status`` (ok, changed
    or fatal) from the line instead."""
    play = [dict(hosts='localhost', gather_facts=False, tasks=[task])]
    path = tmp_path / ('%s.yml' % name)
    path.write_text(json.dumps(play))
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               str(path), '-vvv', '-e', json.dumps(dict(extra_vars or {}))]
    if check:
        command.append('--check')
    proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    found = re.search(r'^(ok|changed|fatal): \[localhost\].*? => (\{.*?\n\})\s*$', output, re.M | re.S)
    assert found, output[-3000:]
    result = json.loads(found.group(2))
    result['_status'] = found.group(1)
    return result, output


def _both(tmp_path, task, check=False):
    """The task's result in the worker and as a module process, after checking which path each run took."""
    results = {}
    for in_process in (True, False):
        result, output = _run_task(tmp_path, task, dict(kvmigrate_in_process=in_process), check=check,
                                   name='worker' if in_process else 'module')
        assert (WORKER_LINE in output) is in_process, output[-2000:]
        assert (MODULE_LINE in output) is (not in_process), output[-2000:]
        for secret in (TARGET_PASSWORD, SOURCE_PASSWORD):
            assert secret not in output, 'a password appeared in the output (in_process=%s)' % in_process
        results[in_process] = result
    return results[True], results[False]


def _comparable(result):
    return dict((key, value) for key, value in result.items() if key not in VOLATILE)


def _target_args(server):
    return dict(login_host=server.host, login_port=server.port, login_password=TARGET_PASSWORD)


def test_replication_info_gives_the_same_result_both_ways_and_masks_the_password(tmp_path, start_server):
    target = start_server(password=TARGET_PASSWORD)
    fill(target, 300)
    worker, module = _both(tmp_path, {'kvmigrate.replication.replication_info': _target_args(target)})
    assert sorted(worker) == sorted(module)
    assert _comparable(worker) == _comparable(module)
    assert worker['keyspace']['dbsize'] == 300
    for result in (worker, module):
        assert result['invocation']['module_args']['login_password'] == MASK


@pytest.mark.parametrize('args, expected', [
    (dict(login_port='not-a-port'), "argument 'login_port' is of type"),
    (dict(bogus_option=1), 'Unsupported parameters for (kvmigrate.replication.replicaof) module: bogus_option'),
    (dict(state='sideways'), 'value of state must be one of'),
])
def test_bad_input_fails_with_the_same_message_both_ways(tmp_path, start_server, args, expected):
    target = start_server(password=TARGET_PASSWORD)
    task_args = dict(_target_args(target), primary_host='127.0.0.1', primary_port=target.port)
    task_args.update(args)
    worker, module = _both(tmp_path, {'kvmigrate.replication.replicaof': task_args})
    assert worker['_status'] == module['_status'] == 'fatal'
    assert worker['msg'] == module['msg']
    assert expected in worker['msg']


def test_a_refusal_has_the_same_message_both_ways_and_changes_nothing(tmp_path, start_server):
    source = start_server(password=SOURCE_PASSWORD)
    target = start_server(password=TARGET_PASSWORD)
    fill(source, 100)
    fill(target, 50, prefix='precious')
    task = {'kvmigrate.replication.replicaof': dict(_target_args(target), primary_host=source.host,
                                                    primary_port=source.port, primary_password=SOURCE_PASSWORD)}
    worker, module = _both(tmp_path, task)
    assert worker['_status'] == module['_status'] == 'fatal'
    assert worker['msg'] == module['msg']
    assert 'allow_flush' in worker['msg']
    client = target.client()
    assert client.info('replication')['role'] == 'master'
    assert client.dbsize() == 50


def test_check_mode_predicts_the_same_change_both_ways_and_changes_nothing(tmp_path, start_server):
    source = start_server(password=SOURCE_PASSWORD)
    target = start_server(password=TARGET_PASSWORD)
    fill(source, 100)
    task = {'kvmigrate.replication.replicaof': dict(_target_args(target), primary_host=source.host,
                                                    primary_port=source.port, primary_password=SOURCE_PASSWORD)}
    worker, module = _both(tmp_path, task, check=True)
    assert worker['_status'] == module['_status'] == 'changed'
    assert _comparable(worker) == _comparable(module)
    assert worker['after']['role'] == 'replica'
    assert target.client().info('replication')['role'] == 'master'
    assert target.client().dbsize() == 0


def test_replicate_then_wait_in_the_worker_moves_the_data(tmp_path, start_server):
    source = start_server(password=SOURCE_PASSWORD)
    target = start_server(password=TARGET_PASSWORD)
    fill(source, 2000)
    link = dict(primary_host=source.host, primary_port=source.port, primary_password=SOURCE_PASSWORD)
    result, output = _run_task(tmp_path, {'kvmigrate.replication.replicaof': dict(_target_args(target), **link)})
    assert WORKER_LINE in output
    assert result['_status'] == 'changed' and result['after']['role'] == 'replica'
    assert result['timeline']['started_at'] <= result['timeline']['finished_at']
    worker, module = _both(tmp_path, {'kvmigrate.replication.wait_for_sync': dict(_target_args(target), **link)})
    assert worker['synced'] and module['synced']
    assert worker['source_keys'] == module['source_keys'] == 2000
    assert worker['target_keys'] == module['target_keys'] == 2000
    assert target.client().dbsize() == 2000
    for secret in (TARGET_PASSWORD, SOURCE_PASSWORD):
        assert secret not in output


def test_a_task_environment_runs_the_module_as_a_process(tmp_path, start_server):
    target = start_server(password=TARGET_PASSWORD)
    task = {'kvmigrate.replication.replication_info': _target_args(target), 'environment': {'KVM_PROBE': '1'}}
    result, output = _run_task(tmp_path, task)
    assert result['_status'] == 'ok', result
    assert 'runs as a module process (the task sets an environment (KVM_PROBE))' in output
    assert WORKER_LINE not in output
