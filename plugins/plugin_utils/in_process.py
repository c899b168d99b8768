# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a collection module inside the Ansible worker process when the task runs on the control node.

Every module of this collection is a network client: it runs where it is delegated (usually ``localhost``) and
talks to Redis over TCP. Run the usual way, each task starts a new Python process that imports
``ansible.module_utils.basic`` and redis-py again, which costs about 0.35 CPU-s. That is most of a fleet migration's
CPU time. When the task's connection is ``local``, the action plugin imports the module and calls its ``main()``
in the worker instead. The module gets a ``ControllerModule`` in place of ``AnsibleModule``, with the same argument
validation (``ModuleArgumentSpecValidator``), the same ``no_log`` masking (``remove_values``), and the same result
keys. ansible.netcommon does the same for network modules (its ``import_modules`` option).

The module runs the usual way, as a new process, when any of these is true:

* the connection is not ``local``;
* ``become``, ``async`` or an ``environment`` is set on the task;
* the module needs redis-py and the controller's Python lacks it;
* the variable ``kvmigrate_in_process`` is false.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time
import traceback

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

# Imported here, by the strategy in the main process when it loads the action plugin: each worker forked from it then
# finds redis-py already imported. None when redis-py is missing.
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import redis


class ModuleExit(BaseException):
    """Raised by ControllerModule.exit_json/fail_json; a BaseException, like the SystemExit a module ends with, so
    that a module's ``except Exception`` cannot swallow it while its ``finally`` blocks still run."""

    def __init__(self, result):
        super(ModuleExit, self).__init__('module exited')
        self.result = result


class ControllerModule:
    """The part of AnsibleModule's interface this collection's modules use, for a module run in the worker.

    Constructed with AnsibleModule's keyword arguments plus how the task runs (its arguments, check mode, diff mode,
    the module's name)."""

    def __init__(self, argument_spec, supports_check_mode=False, mutually_exclusive=None, required_together=None,
                 required_one_of=None, required_if=None, required_by=None, task_args=None, check_mode=False,
                 diff=False, name='module'):
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)  # AnsibleModule's name for diff mode
        self._warnings = []
        self.no_log_values = set()
        # The module path sends the arguments as JSON: the same round trip drops Ansible's data tags and copies.
        self.params = json.loads(json.dumps(task_args or {}))
        validator = ModuleArgumentSpecValidator(argument_spec, mutually_exclusive, required_together,
                                                required_one_of, required_if, required_by)
        validation = validator.validate(self.params)
        self.params.update(validation.validated_parameters)
        self.no_log_values.update(validation._no_log_values)  # pylint: disable=protected-access
        if validation.error_messages:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = 'Unsupported parameters for (%s) module: %s' % (name, msg)
            self.fail_json(msg=msg)
        if self.check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg='module (%s) does not support check mode' % name)

    def warn(self, warning):
        self._warnings.append(warning)

    def _result(self, kwargs):
        kwargs.setdefault('invocation', {'module_args': self.params})
        if self._warnings:
            kwargs['warnings'] = list(self._warnings)
        # as AnsibleModule does: mask no_log values everywhere, keep booleans and None at the top level as they are
        preserved = dict((key, value) for key, value in kwargs.items() if value is None or isinstance(value, bool))
        kwargs = remove_values(kwargs, self.no_log_values)
        kwargs.update(preserved)
        # the module path returns JSON: the same round trip fails on a value JSON cannot hold, as a module would
        return json.loads(json.dumps(kwargs))

    def exit_json(self, **kwargs):
        raise ModuleExit(self._result(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs.pop('exception', None)  # AnsibleModule shows a traceback only when asked; the message says it all
        kwargs.update(failed=True, msg=str(msg))
        raise ModuleExit(self._result(kwargs))


def run_in_process(main, name, task_args, check_mode=False, diff=False):
    """Call a module's ``main(module_class=...)`` with a ControllerModule; return the module's result."""
    modules = []

    def factory(**module_kwargs):
        modules.append(ControllerModule(task_args=task_args, check_mode=check_mode, diff=diff, name=name,
                                        **module_kwargs))
        return modules[-1]

    try:
        main(module_class=factory)
    except ModuleExit as done:
        return done.result
    except Exception as exc:  # pylint: disable=broad-except
        # the module path reports a crash as MODULE FAILURE with its traceback: the same here, no_log values masked
        secrets = modules[-1].no_log_values if modules else set()
        return remove_values(dict(failed=True, msg='%s failed in the controller process: %s' % (name, exc),
                                  exception=traceback.format_exc()), secrets)
    return dict(failed=True, msg='%s ended without a result' % name)


class ModuleAction(ActionBase):
    """Action plugin of a collection module: runs the module in the worker when it may (see the module docstring).

    Subclasses set MODULE (the FQCN), MAIN (the module's ``main``) and NEEDS_REDIS."""

    _supports_check_mode = True
    _supports_async = True

    MODULE = None
    MAIN = None  # staticmethod(main) of the module
    NEEDS_REDIS = True
    TIMELINE = False  # add timeline.started_at/finished_at (Unix time on the controller) to the result

    def in_process_refusal(self, task_vars):
        """Why this task must run the module as a new process, or None when it may run in the worker."""
        setting = task_vars.get('kvmigrate_in_process', True)
        if not boolean(setting, strict=False):
            return 'kvmigrate_in_process is false'
        transport = getattr(self._connection, 'transport', None)
        if transport != 'local':
            return 'the connection is %s, not local' % transport
        if self._play_context.become:
            return 'become is set'
        if self._task.async_val:
            return 'async is set'
        environment = {}
        self._compute_environment_string(environment)
        if environment:
            return 'the task sets an environment (%s)' % ', '.join(sorted(environment))
        if self.NEEDS_REDIS and redis is None:
            return "redis-py is not installed in the controller's Python"
        return None

    def run_module(self, task_vars, wrap_async=False):
        """The module's result, run in the worker or as a new process."""
        host = task_vars.get('inventory_hostname', '?')
        refusal = self.in_process_refusal(task_vars)
        if refusal is None:
            self._display.vvv('%s: %s runs in the controller process' % (host, self.MODULE))
            return run_in_process(self.MAIN, self.MODULE, dict(self._task.args),
                                  check_mode=self._task.check_mode, diff=self._task.diff)
        self._display.vvv('%s: %s runs as a module process (%s)' % (host, self.MODULE, refusal))
        return self._execute_module(module_name=self.MODULE, module_args=self._task.args, task_vars=task_vars,
                                    wrap_async=wrap_async)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ModuleAction, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        started_at = time.time()
        result.update(self.run_module(task_vars, wrap_async=wrap_async))
        if self.TIMELINE and not wrap_async:
            result['timeline'] = dict(started_at=round(started_at, 3), finished_at=round(time.time(), 3))
        return result
