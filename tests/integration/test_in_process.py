"""The action plugins run a module inside the Ansible worker when the task runs on the control node
(plugins/plugin_utils/in_process.py). These tests run the same tasks through ansible-playbook both ways, in the
worker and as a module process (kvmigrate_in_process=false), against real servers, and compare: the same result
keys and values, the same error messages for bad input, the same no_log masking, and no password in any output.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

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


def _run_task(tmp_path, task, extra_vars=None, check=False, name='case', env=None):
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
    proc = subprocess.run(command, env=ansible_env(env), capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    found = re.search(r'^(ok|changed|fatal): \[localhost\].*? => (\{.*?\n\})\s*$', output, re.M | re.S)
    assert found, output[-3000:]
    result = json.loads(found.group(2))
    result['_status'] = found.group(1)
    return result, output


def _both(tmp_path, task, check=False, env=None):
    """The task's result in the worker and as a module process, after checking which path each run took."""
    results = {}
    for in_process in (True, False):
        result, output = _run_task(tmp_path, task, dict(kvmigrate_in_process=in_process), check=check,
                                   name='worker' if in_process else 'module', env=env)
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


# A collection made for these tests: one module that warns, deprecates or crashes on request, run by a ModuleAction
# like this collection's. A crash has to come from somewhere: none of this collection's modules crashes on purpose.
PROBE_MODULE = '''
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule


def main(module_class=AnsibleModule):
    module = module_class(argument_spec=dict(behaviour=dict(type='str', default='notes', choices=['notes', 'crash']),
                                             name=dict(type='str', aliases=['label'])),
                          supports_check_mode=True)
    if module.params['behaviour'] == 'crash':
        raise RuntimeError('the probe crashed on purpose')
    module.warn('the probe warns')
    module.deprecate('the probe deprecates', version='9.0.0', collection_name='kvtest.probe')
    module.exit_json(changed=False, name=module.params['name'])


if __name__ == '__main__':
    main()
'''
PROBE_ACTION = '''
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.kvmigrate.replication.plugins.plugin_utils.in_process import ModuleAction
from ansible_collections.kvtest.probe.plugins.modules.probe import main


class ActionModule(ModuleAction):
    MODULE = 'kvtest.probe.probe'
    MAIN = staticmethod(main)
    NEEDS_REDIS = False
'''


def _probe_collection(tmp_path):
    """ANSIBLE_COLLECTIONS_PATH with the probe collection beside this one."""
    root = tmp_path / 'collections'
    plugins = root / 'ansible_collections' / 'kvtest' / 'probe' / 'plugins'
    for kind, source in (('modules', PROBE_MODULE), ('action', PROBE_ACTION)):
        (plugins / kind).mkdir(parents=True)
        (plugins / kind / 'probe.py').write_text(source)
    return dict(ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(root), ansible_env()['ANSIBLE_COLLECTIONS_PATH']]))


def _notices(output, kind):
    """The text of the [WARNING] or [DEPRECATION WARNING] notices the run printed, in order."""
    return re.findall(r'^\[%s\]: (.*)$' % re.escape(kind), output, re.M)


def _both_with_output(tmp_path, task, check=False, env=None):
    """((result, output) in the worker, (result, output) as a module process)."""
    runs = {}
    for in_process in (True, False):
        runs[in_process] = _run_task(tmp_path, task, dict(kvmigrate_in_process=in_process), check=check,
                                     name='worker' if in_process else 'module', env=env)
        assert (WORKER_LINE in runs[in_process][1]) is in_process, runs[in_process][1][-2000:]
    return runs[True], runs[False]


def test_warnings_and_deprecations_are_the_same_both_ways(tmp_path):
    env = _probe_collection(tmp_path)
    (worker, worker_output), (module, module_output) = _both_with_output(
        tmp_path, {'kvtest.probe.probe': dict(name='a', label='b')}, env=env)
    assert worker == module
    for kind in ('WARNING', 'DEPRECATION WARNING'):
        assert _notices(worker_output, kind) == _notices(module_output, kind), kind
    warnings = _notices(worker_output, 'WARNING')
    assert any('Both option name and its alias label are set.' in line for line in warnings), warnings
    assert any('the probe warns' in line for line in warnings), warnings
    assert any('the probe deprecates' in line for line in _notices(worker_output, 'DEPRECATION WARNING'))


def test_an_alias_warning_of_replicaof_is_the_same_both_ways(tmp_path, start_server):
    source = start_server(password=SOURCE_PASSWORD)
    target = start_server(password=TARGET_PASSWORD)
    task = {'kvmigrate.replication.replicaof': dict(_target_args(target), primary_host=source.host,
                                                    master_host=source.host, primary_port=source.port,
                                                    primary_password=SOURCE_PASSWORD)}
    (worker, worker_output), (module, module_output) = _both_with_output(tmp_path, task, check=True)
    assert worker['_status'] == module['_status'] == 'changed'
    assert _notices(worker_output, 'WARNING') == _notices(module_output, 'WARNING')
    assert any('Both option primary_host and its alias master_host are set.' in line
               for line in _notices(worker_output, 'WARNING')), worker_output[-3000:]


def test_a_crash_in_the_worker_is_the_same_module_failure_as_in_a_process(tmp_path):
    # ansible-core 2.19 says "Module failed: <the exception>", earlier versions "MODULE FAILURE" with the traceback in
    # module_stderr; the traceback is asked for so that both show where the module crashed
    env = dict(_probe_collection(tmp_path), ANSIBLE_DISPLAY_TRACEBACK='error')
    (worker, worker_output), (module, module_output) = _both_with_output(
        tmp_path, {'kvtest.probe.probe': dict(behaviour='crash')}, env=env)
    assert worker['_status'] == module['_status'] == 'fatal'
    assert sorted(worker) == sorted(module)
    assert worker['msg'] == module['msg']
    assert 'MODULE FAILURE' in worker['msg'] or 'Module failed: the probe crashed on purpose' in worker['msg']
    for output in (worker_output, module_output):
        assert 'RuntimeError: the probe crashed on purpose' in output, output[-3000:]


def test_a_task_timeout_runs_the_module_as_a_process_and_times_out_the_same_both_ways(tmp_path, start_server):
    # a source that does not answer PSYNC keeps the target waiting for its first sync until the task's timeout
    target = start_server(password=TARGET_PASSWORD)
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(8)
    try:
        task = {'kvmigrate.replication.wait_for_sync': dict(_target_args(target), primary_host='127.0.0.1',
                                                            primary_port=silent.getsockname()[1], timeout=120),
                'timeout': 3}
        target.client().replicaof('127.0.0.1', silent.getsockname()[1])
        results = {}
        for in_process in (True, False):
            started = time.monotonic()
            result, output = _run_task(tmp_path, task, dict(kvmigrate_in_process=in_process),
                                       name='worker' if in_process else 'module')
            assert time.monotonic() - started < 60
            if in_process:
                assert 'runs as a module process (the task sets timeout (3 s))' in output, output[-2000:]
            assert WORKER_LINE not in output
            results[in_process] = result
    finally:
        silent.close()
    assert results[True]['_status'] == results[False]['_status'] == 'fatal'
    assert results[True]['msg'] == results[False]['msg']
    assert 'timed out after 3 second' in results[True]['msg'].lower() or 'expected time frame (3)' in results[True]['msg']


def _python_without_redis():
    python = '/usr/bin/python3'
    probe = subprocess.run([python, '-c', 'import redis'], capture_output=True, text=True, check=False)
    if probe.returncode == 0 or 'No module named' not in probe.stderr:
        pytest.fail('this test needs %s without redis-py (Debian python3 from bindep.txt): %s' % (python, probe.stderr))
    return python


def test_an_interpreter_without_redis_py_fails_the_same_both_ways(tmp_path, start_server):
    python = _python_without_redis()
    target = start_server(password=TARGET_PASSWORD)
    task = {'kvmigrate.replication.replication_info': _target_args(target),
            'vars': {'ansible_python_interpreter': '{{ kvm_test_python }}'}}
    results = {}
    for in_process in (True, False):
        result, output = _run_task(tmp_path, task, dict(kvmigrate_in_process=in_process, kvm_test_python=python),
                                   name='worker' if in_process else 'module')
        assert WORKER_LINE not in output
        if in_process:
            assert "runs as a module process (the Python interpreter is %s, not the controller's" % python in output
        results[in_process] = result
    assert results[True]['_status'] == results[False]['_status'] == 'fatal'
    assert results[True]['msg'] == results[False]['msg']
    assert 'Failed to import the required Python library (redis)' in results[True]['msg']


def test_templated_variables_choose_the_path_and_the_progress_interval(tmp_path, start_server):
    source = start_server(password=SOURCE_PASSWORD)
    target = start_server(password=TARGET_PASSWORD)
    fill(source, 100)
    link = dict(primary_host=source.host, primary_port=source.port, primary_password=SOURCE_PASSWORD)
    target.client().config_set('masterauth', SOURCE_PASSWORD)
    target.client().replicaof(source.host, source.port)
    task = {'kvmigrate.replication.wait_for_sync': dict(_target_args(target), **link)}
    extra = dict(kvm_test_off=False, kvmigrate_progress='{{ not kvm_test_off }}',
                 kvmigrate_progress_interval='{{ 0.2 + 0.1 }}')
    result, output = _run_task(tmp_path, task, dict(extra, kvmigrate_in_process='{{ not kvm_test_off }}'))
    assert WORKER_LINE in output, output[-2000:]
    assert result['_status'] == 'ok' and result['synced'], result
    result, output = _run_task(tmp_path, task, dict(extra, kvmigrate_in_process='{{ kvm_test_off }}'))
    assert 'runs as a module process (kvmigrate_in_process is false)' in output, output[-2000:]
    assert result['_status'] == 'ok' and result['synced'], result
