"""plugin_utils/module_runner.py and in_process.py without a server: a module run in this process gives what a module
process prints (validation, masking, warnings, exit, crash), leaves the process as it found it, and a task runs in
the worker only when it may. The same code against real servers, through ansible-playbook, both ways:
tests/integration/test_in_process.py.
"""
import json
import os
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings

from ansible_collections.kvmigrate.replication.plugins.plugin_utils import in_process, module_runner

try:
    from ansible.module_utils import _internal as module_utils_internal
except ImportError:  # ansible-core 2.16-2.18
    module_utils_internal = None

SECRET = 'unit-Secret-Value-9'
SPEC = dict(login_port=dict(type='int', default=6379, aliases=['port']), login_password=dict(type='str', no_log=True),
            mode=dict(type='str', default='a', choices=['a', 'b']))


def _run(main, args, **internal):
    """(rc, the JSON result the module printed, stderr) of ``main`` run in this process."""
    module_args = dict(args)
    module_args.update(('_ansible_%s' % key, value) for key, value in internal.items())
    output = module_runner.run_module_in_worker(main, module_runner.encode_module_args(module_args))
    result = json.loads(output['stdout']) if output['stdout'].strip() else None
    return output['rc'], result, output['stderr']


def _messages(entries):
    """The texts of result warnings or deprecations: ansible-core 2.19 returns them as {"event": {"msg": ...}},
    earlier versions as strings (warnings) and {"msg": ...} (deprecations)."""
    texts = []
    for entry in entries:
        if isinstance(entry, dict):
            entry = entry['event']['msg'] if 'event' in entry else entry['msg']
        texts.append(entry)
    return texts


def test_params_are_typed_and_defaulted_and_the_result_masks_no_log_values():
    seen = {}

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        seen.update(module.params)
        module.exit_json(changed=False, echoed='password is %s' % SECRET, flag=True, nothing=None)

    rc, result, dummy = _run(main, dict(login_port='6380', login_password=SECRET))
    assert rc == 0
    assert seen == dict(login_port=6380, login_password=SECRET, mode='a')
    assert result['echoed'] == 'password is ********'
    assert result['invocation']['module_args']['login_password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert result['flag'] is True and result['nothing'] is None and result['changed'] is False


def test_warnings_and_deprecations_from_argument_validation_and_the_module_reach_the_result():
    # ansible-core's own alias warning comes from module_utils, not from the module: a stand-in lost it before 2.19
    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        module.warn('a warning')
        module.deprecate('an old way', version='9.0.0', collection_name='kvmigrate.replication')
        module.exit_json(changed=False)

    rc, result, dummy = _run(main, dict(login_port=1, port=2))
    assert rc == 0
    assert _messages(result['warnings']) == ['Both option login_port and its alias port are set.', 'a warning']
    assert _messages(result['deprecations']) == ['an old way']


def test_warnings_of_one_run_do_not_leak_into_the_next():
    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        if module.params['mode'] == 'b':
            module.warn('only in the first run')
        module.exit_json(changed=False)

    assert _messages(_run(main, dict(mode='b'))[1]['warnings']) == ['only in the first run']
    assert 'warnings' not in _run(main, dict(mode='a'))[1]


@pytest.mark.parametrize('args, phrase', [
    (dict(login_port='abc'), "argument 'login_port' is of type"),
    (dict(mode='c'), 'value of mode must be one of: a, b, got: c'),
    (dict(other=1, _ansible_module_name='x.y.z'), 'Unsupported parameters for (x.y.z) module: other'),
])
def test_invalid_arguments_fail_before_the_module_body_runs(args, phrase):
    ran = []

    def main(module_class):
        module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        ran.append(True)

    rc, result, dummy = _run(main, args)
    assert rc == 1 and result['failed'] is True
    assert phrase in result['msg']
    assert ran == []


def test_exit_is_not_swallowed_by_except_exception_and_finally_still_runs():
    cleaned = []

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        try:
            try:
                module.fail_json(msg='refused', detail=1)
            except Exception:  # a module's broad handler must not catch the exit
                module.exit_json(changed=True)
        finally:
            cleaned.append(True)

    rc, result, dummy = _run(main, {})
    assert rc == 1 and result['failed'] is True and result['msg'] == 'refused' and result['detail'] == 1
    assert cleaned == [True]


def test_a_crash_gives_what_ansiballz_gives_with_the_password_masked():
    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        raise ValueError('cannot use %s' % module.params['login_password'])

    rc, result, stderr = _run(main, dict(login_password=SECRET))
    assert rc == 1
    assert SECRET not in json.dumps(result) and SECRET not in stderr
    if module_runner.ansiballz_loader is not None:  # 2.19+: AnsiballZ prints an error result
        assert result['failed'] is True
        assert result['exception']['event']['msg'] == 'cannot use ********'
    else:  # before: the traceback on stderr, no JSON; the controller makes it MODULE FAILURE
        assert result is None and 'ValueError: cannot use ********' in stderr


def test_a_main_that_ends_without_exit_is_a_crash():
    rc, result, stderr = _run(lambda module_class: None, {})
    assert rc == 1
    assert 'New-style module did not handle its own exit.' in json.dumps(result) + stderr


def test_check_mode_reaches_the_module_and_unsupported_check_mode_skips():
    modes = []

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        modes.append(module.check_mode)
        module.exit_json(changed=True)

    assert _run(main, {}, check_mode=True)[1]['changed'] is True
    assert modes == [True]

    def no_check(module_class):
        module_class(argument_spec=dict(SPEC), supports_check_mode=False)
        raise AssertionError('must not run')

    assert _run(no_check, {}, check_mode=True)[1]['skipped'] is True


def _process_state():
    return (getattr(module_utils_internal, 'is_controller', None), basic._ANSIBLE_ARGS,
            list(module_warnings._global_warnings), list(module_warnings._global_deprecations))


@pytest.mark.parametrize('interruption', [KeyboardInterrupt, SystemExit])
def test_the_process_is_restored_after_a_run_and_after_an_interruption(interruption):
    before = _process_state()

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        module.warn('during the run')
        raise interruption()

    if interruption is SystemExit:  # sys.exit() without a result: rc 0 and nothing printed, as in a process
        assert _run(main, {})[0] == 0
    else:
        with pytest.raises(KeyboardInterrupt):
            _run(main, {})
    assert _process_state() == before


class _Thing(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Templar(object):
    """Renders ``{{ name }}`` from the variables, enough to tell a templated value from a raw one."""

    def __init__(self, variables):
        self.variables = variables

    def template(self, value):
        if isinstance(value, str) and value.startswith('{{') and value.endswith('}}'):
            return self.variables[value.strip('{} ')]
        return value


def _action(task_vars=None, transport='local', become=False, async_val=0, timeout=0, environment=None, needs_redis=True):
    action = in_process.ModuleAction.__new__(in_process.ModuleAction)
    action._connection = _Thing(transport=transport)
    action._play_context = _Thing(become=become)
    action._task = _Thing(async_val=async_val, timeout=timeout, delegate_to=None)
    action._templar = _Templar(task_vars or {})
    action.NEEDS_REDIS = needs_redis
    action._compute_environment_string = lambda out: out.update(environment or {})
    return action


@pytest.mark.parametrize('kw, task_vars, refusal', [
    (dict(), {}, None),
    (dict(), dict(kvmigrate_in_process='yes'), None),
    (dict(), dict(kvmigrate_in_process=False), 'kvmigrate_in_process is false'),
    (dict(), dict(kvmigrate_in_process='{{ in_worker }}', in_worker=False), 'kvmigrate_in_process is false'),
    (dict(), dict(kvmigrate_in_process='{{ in_worker }}', in_worker=True), None),
    (dict(transport='ssh'), {}, 'the connection is ssh, not local'),
    (dict(become=True), {}, 'become is set'),
    (dict(async_val=30), {}, 'async is set'),
    (dict(timeout=5), {}, 'the task sets timeout (5 s)'),
    (dict(environment={'HTTPS_PROXY': 'p'}), {}, 'the task sets an environment (HTTPS_PROXY)'),
], ids=['local', 'opt-in-string', 'opted-out', 'templated-false', 'templated-true', 'ssh', 'become', 'async',
        'timeout', 'environment'])
def test_when_a_task_may_run_in_the_worker(kw, task_vars, refusal):
    task_vars = dict(task_vars, ansible_python_interpreter='auto_silent')
    assert _action(task_vars, **kw).in_process_refusal(task_vars) == refusal


@pytest.mark.parametrize('interpreter, in_worker', [
    (sys.executable, True),
    ('{{ controller_python }}', True),
    ('auto', True),
    ('auto_legacy_silent', True),
    ('/usr/bin/python3', False),
    ('{{ other_python }}', False),
    ('/nonexistent/python3', False),
    ('/usr/bin/env python3', False),
], ids=['controller', 'templated-controller', 'auto', 'auto_legacy_silent', 'system', 'templated-system', 'missing',
        'command'])
def test_a_task_runs_in_the_worker_only_with_the_controllers_python(interpreter, in_worker):
    task_vars = dict(ansible_python_interpreter=interpreter, controller_python=sys.executable,
                     other_python='/usr/bin/python3')
    refusal = _action(task_vars).in_process_refusal(task_vars)
    if in_worker:
        assert refusal is None
    else:
        assert refusal.startswith('the Python interpreter is ') and "not the controller's" in refusal
        assert '{{' not in refusal


def test_same_python_tells_a_venv_from_the_python_it_links_to():
    base = os.path.realpath(sys.executable)
    assert base != sys.executable, 'the tests run in a venv whose python is a link'
    assert in_process.same_python(sys.executable, sys.executable)
    assert in_process.same_python(os.path.join(os.path.dirname(sys.executable), 'python3'), sys.executable)
    assert not in_process.same_python(base, sys.executable)


def test_a_controller_without_redis_py_runs_redis_modules_as_processes(monkeypatch):
    monkeypatch.setattr(in_process, 'redis', None)
    assert _action().in_process_refusal({}) == "redis-py is not installed in the controller's Python"
    assert _action(needs_redis=False).in_process_refusal({}) is None
