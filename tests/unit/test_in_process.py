"""plugin_utils/in_process.py without a server: argument validation, results, masking, and when a task may run in
the worker. The same code against real servers, compared with the module path: tests/integration/test_in_process.py.
"""
import pytest

from ansible_collections.kvmigrate.replication.plugins.plugin_utils import in_process

SECRET = 'unit-Secret-Value-9'
SPEC = dict(login_port=dict(type='int', default=6379), login_password=dict(type='str', no_log=True),
            mode=dict(type='str', default='a', choices=['a', 'b']))


def _main_returning(**result):
    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        module.exit_json(**result)
    return main


def test_params_are_typed_and_defaulted_and_the_result_masks_no_log_values():
    seen = {}

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        seen.update(module.params)
        module.warn('a warning')
        module.exit_json(changed=False, echoed='password is %s' % SECRET, flag=True, nothing=None)

    result = in_process.run_in_process(main, 'x.y.z', dict(login_port='6380', login_password=SECRET))
    assert seen == dict(login_port=6380, login_password=SECRET, mode='a')
    assert result['echoed'] == 'password is ********'
    assert result['invocation']['module_args']['login_password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert result['flag'] is True and result['nothing'] is None and result['changed'] is False
    assert result['warnings'] == ['a warning']


@pytest.mark.parametrize('args, phrase', [
    (dict(login_port='abc'), "argument 'login_port' is of type"),
    (dict(mode='c'), 'value of mode must be one of: a, b, got: c'),
    (dict(other=1), 'Unsupported parameters for (x.y.z) module: other'),
])
def test_invalid_arguments_fail_before_the_module_body_runs(args, phrase):
    ran = []

    def main(module_class):
        module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        ran.append(True)

    result = in_process.run_in_process(main, 'x.y.z', args)
    assert result['failed'] is True
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

    result = in_process.run_in_process(main, 'x.y.z', {})
    assert result['failed'] is True and result['msg'] == 'refused' and result['detail'] == 1
    assert cleaned == [True]


def test_a_crash_is_a_failed_result_with_the_password_masked():
    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        raise ValueError('cannot use %s' % module.params['login_password'])

    result = in_process.run_in_process(main, 'x.y.z', dict(login_password=SECRET))
    assert result['failed'] is True
    assert 'x.y.z failed in the controller process' in result['msg']
    assert SECRET not in result['msg'] and SECRET not in result['exception']
    assert 'ValueError' in result['exception']


def test_check_mode_reaches_the_module_and_unsupported_check_mode_skips():
    modes = []

    def main(module_class):
        module = module_class(argument_spec=dict(SPEC), supports_check_mode=True)
        modes.append(module.check_mode)
        module.exit_json(changed=True)

    assert in_process.run_in_process(main, 'x.y.z', {}, check_mode=True)['changed'] is True
    assert modes == [True]

    def no_check(module_class):
        module_class(argument_spec=dict(SPEC), supports_check_mode=False)
        raise AssertionError('must not run')

    result = in_process.run_in_process(no_check, 'x.y.z', {}, check_mode=True)
    assert result['skipped'] is True


def test_a_main_that_ends_without_exit_is_a_failure():
    result = in_process.run_in_process(lambda module_class: None, 'x.y.z', {})
    assert result == dict(failed=True, msg='x.y.z ended without a result')


class _Thing(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _action(transport='local', become=False, async_val=0, environment=None, needs_redis=True):
    action = in_process.ModuleAction.__new__(in_process.ModuleAction)
    action._connection = _Thing(transport=transport)
    action._play_context = _Thing(become=become)
    action._task = _Thing(async_val=async_val)
    action.NEEDS_REDIS = needs_redis
    action._compute_environment_string = lambda out: out.update(environment or {})
    return action


@pytest.mark.parametrize('kw, task_vars, refusal', [
    (dict(), {}, None),
    (dict(), dict(kvmigrate_in_process='yes'), None),
    (dict(), dict(kvmigrate_in_process=False), 'kvmigrate_in_process is false'),
    (dict(transport='ssh'), {}, 'the connection is ssh, not local'),
    (dict(become=True), {}, 'become is set'),
    (dict(async_val=30), {}, 'async is set'),
    (dict(environment={'HTTPS_PROXY': 'p'}), {}, 'the task sets an environment (HTTPS_PROXY)'),
], ids=['local', 'opt-in-string', 'opted-out', 'ssh', 'become', 'async', 'environment'])
def test_when_a_task_may_run_in_the_worker(kw, task_vars, refusal):
    assert _action(**kw).in_process_refusal(task_vars) == refusal


def test_a_controller_without_redis_py_runs_redis_modules_as_processes(monkeypatch):
    monkeypatch.setattr(in_process, 'redis', None)
    assert _action().in_process_refusal({}) == "redis-py is not installed in the controller's Python"
    assert _action(needs_redis=False).in_process_refusal({}) is None
