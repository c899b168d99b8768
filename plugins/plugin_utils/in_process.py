# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a collection module inside the Ansible worker process when the task runs on the control node.

Every module of this collection is a network client: it runs where it is delegated (usually ``localhost``) and
talks to Redis over TCP. Run the usual way, each task starts a new Python process that imports
``ansible.module_utils.basic`` and redis-py again, which costs about 0.35 CPU-s. That is most of a fleet migration's
CPU time. When the task's connection is ``local``, the action plugin imports the module and calls its ``main()``
in the worker instead, as ansible.netcommon does for network modules (its ``import_modules`` option).

``module_runner.run_module_in_worker`` runs it there with ``ControllerModule`` (the real ``AnsibleModule`` with
its result hook replaced) and returns what a module process would have printed; ``ModuleAction`` parses that with
``ActionBase._parse_returned_data``, as it parses a module process's output, so both paths give the same result.

The module runs the usual way, as a new process, when any of these is true:

* the variable ``kvmigrate_in_process`` is false;
* the connection is not ``local``;
* ``become``, ``async``, a task ``timeout`` or an ``environment`` is set on the task;
* the Python interpreter set for the host (``ansible_python_interpreter``, templated, or the
  ``interpreter_python`` setting) is not the controller's Python;
* the module needs redis-py and the controller's Python lacks it.

A task ``timeout`` stops the task with an exception raised in the worker wherever it is; in the worker that would be
inside the module, between two Redis commands of a cutover, so such a task runs the module as a process. An
interpreter left to discovery (unset, ``auto``, ``auto_silent``, ``auto_legacy``, ``auto_legacy_silent``) names no
Python: the worker's Python, the one running ``ansible-playbook``, runs the module.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import inspect
import os
import shutil
import sys
import time

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

from ansible_collections.kvmigrate.replication.plugins.plugin_utils.module_runner import (
    PROFILE, encode_module_args, run_module_in_worker)

# Imported here, by the strategy in the main process when it loads the action plugin: each worker forked from it then
# finds redis-py already imported. None when redis-py is missing.
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import redis


def _resolve_filters():
    """Resolve one of the collection's filters in the process that imports this module.

    Ansible finds a collection's filter by loading every filter file of the collection, in the process that templates
    the expression: without this, each worker did so for its first ``kvmigrate.replication`` filter, which every
    module task's ``module_defaults`` uses (15-60 ms per host and task, measured; at 200 hosts, seconds per task).
    The strategy imports this module in the main process, with the first action plugin of the collection, before it
    forks the workers: they inherit the loaded filters. Nothing here changes what a filter or a module does."""
    from ansible.plugins.loader import filter_loader
    try:
        filter_loader.get('kvmigrate.replication.connection_options')
    except Exception:  # pylint: disable=broad-except
        pass  # a worker that uses the filter resolves it again, and reports there what went wrong


_resolve_filters()

INTERPRETER_DISCOVERY = ('auto', 'auto_legacy', 'auto_silent', 'auto_legacy_silent')
_PARSE_TAKES_PROFILE = 'profile' in inspect.signature(ActionBase._parse_returned_data).parameters


def same_python(interpreter, executable):
    """True when ``interpreter`` (a path or a name on PATH) runs as the Python ``executable``: the same binary, found
    in the same directory. A venv's python is a link to its base Python but has other packages, so the directory
    counts as much as the file."""
    path = shutil.which(interpreter)
    if not path:
        return False
    try:
        return os.path.samefile(os.path.dirname(path), os.path.dirname(executable)) and os.path.samefile(path, executable)
    except OSError:
        return False


class ModuleAction(ActionBase):
    """Action plugin of a collection module: runs the module in the worker when it may (see the module docstring).

    Subclasses set MODULE (the FQCN), MAIN (the module's ``main``) and NEEDS_REDIS."""

    _supports_check_mode = True
    _supports_async = True

    MODULE = None
    MAIN = None  # staticmethod(main) of the module
    NEEDS_REDIS = True
    TIMELINE = False  # add timeline.started_at/finished_at (Unix time on the controller) to the result

    def task_var(self, task_vars, name, default=None):
        """A task variable, templated: Ansible hands action plugins the variables as written."""
        if name not in task_vars:
            return default
        return self._templar.template(task_vars[name])

    def _interpreter(self, task_vars):
        """The Python the host's settings name for modules, templated; None when left to interpreter discovery."""
        host_vars = task_vars
        if self._task.delegate_to:  # as ActionBase._configure_module picks them
            host_vars = (task_vars.get('ansible_delegated_vars') or {}).get(self._task.delegate_to, task_vars)
        configured = C.config.get_config_value('INTERPRETER_PYTHON', variables=host_vars)
        interpreter = self._templar.template(configured) if configured else configured
        if not interpreter or str(interpreter).strip() in INTERPRETER_DISCOVERY:
            return None
        return str(interpreter).strip()

    def in_process_refusal(self, task_vars):
        """Why this task must run the module as a new process, or None when it may run in the worker."""
        if not boolean(self.task_var(task_vars, 'kvmigrate_in_process', True), strict=False):
            return 'kvmigrate_in_process is false'
        transport = getattr(self._connection, 'transport', None)
        if transport != 'local':
            return 'the connection is %s, not local' % transport
        if self._play_context.become:
            return 'become is set'
        if self._task.async_val:
            return 'async is set'
        if getattr(self._task, 'timeout', None):
            return 'the task sets timeout (%s s)' % self._task.timeout
        environment = {}
        self._compute_environment_string(environment)
        if environment:
            return 'the task sets an environment (%s)' % ', '.join(sorted(environment))
        interpreter = self._interpreter(task_vars)
        if interpreter is not None and not same_python(interpreter, sys.executable):
            return "the Python interpreter is %s, not the controller's %s" % (interpreter, sys.executable)
        if self.NEEDS_REDIS and redis is None:
            return "redis-py is not installed in the controller's Python"
        return None

    def _result_from_output(self, output):
        """The task result from a module's output, parsed and cleaned as ActionBase._execute_module does."""
        if _PARSE_TAKES_PROFILE:
            data = self._parse_returned_data(output, PROFILE)
        else:
            data = self._parse_returned_data(output)
        remove_internal_keys(data)
        for stream in ('stdout', 'stderr'):
            if stream in data and '%s_lines' % stream not in data:
                data['%s_lines' % stream] = (data[stream] or '').splitlines()
        return data

    def run_module(self, task_vars, wrap_async=False):
        """The module's result, run in the worker or as a new process."""
        host = task_vars.get('inventory_hostname', '?')
        refusal = self.in_process_refusal(task_vars)
        if refusal is None:
            self._display.vvv('%s: %s runs in the controller process' % (host, self.MODULE))
            module_args = dict(self._task.args)
            self._update_module_args(self.MODULE, module_args, task_vars)
            return self._result_from_output(run_module_in_worker(self.MAIN, encode_module_args(module_args)))
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
