# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of kvmigrate.replication.wait_for_sync: runs the module once (in the worker when the task runs on
the control node, see plugin_utils/in_process.py), shows progress while it waits, and adds wall-clock times
(``timeline``) to its result."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.kvmigrate.replication.plugins.modules.wait_for_sync import main
from ansible_collections.kvmigrate.replication.plugins.plugin_utils.in_process import ModuleAction

MODULE = 'kvmigrate.replication.wait_for_sync'
DEFAULT_INTERVAL = 2.0
PROGRESS_JOIN_SECONDS = 5.0


def _size(value):
    value = float(value)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(value) < 1024 or unit == 'GiB':
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0
    return '%.1f TiB' % value


def progress_line(host, status, lag_bytes, previous, now=None):
    """One sentence about where the target is: the initial sync with rate and ETA, then the lag.

    ``previous`` is (monotonic time, bytes read) of the last line, for the rate; returns (line, new previous).
    A diskless transfer (and a snapshot not yet begun) has no known size: then bytes received and the rate, with no
    percentage or ETA, which would be made up."""
    now = time.monotonic() if now is None else now
    if status.get('sync_in_progress'):
        read = status.get('sync_read_bytes') or 0
        total = status.get('sync_total_bytes')
        rate = None
        if previous is not None and now > previous[0] and read >= previous[1]:
            rate = (read - previous[1]) / (now - previous[0])
        parts = ['initial sync']
        if total:
            if status.get('sync_percent') is not None:
                parts.append('%.1f%%' % status['sync_percent'])
            parts.append('%s of %s' % (_size(read), _size(total)))
        else:
            parts.append('%s received (size unknown)' % _size(read))
        if rate is not None:
            parts.append('%s/s' % _size(rate))
            if total and rate > 0:
                parts.append('ETA %ds' % max(0, round((total - read) / rate)))
        return '%s: %s' % (host, ', '.join(parts)), (now, read)
    if status.get('synced'):
        return '%s: synced, lag %s' % (host, 'unknown' if lag_bytes is None else '%d bytes' % lag_bytes), None
    return '%s: waiting (%s, link %s)' % (host, status.get('sync_state'), status.get('link_status')), None


class _Progress(threading.Thread):
    """Polls the target (and its source, for the lag) read-only from the control node and displays a line per poll."""

    def __init__(self, display, host, args, interval):
        super(_Progress, self).__init__(name='kvmigrate-progress-%s' % host)
        self.daemon = True
        self.display = display
        self.host = host
        self.args = args
        self.interval = interval
        # ActionModule.run_module waits PROGRESS_JOIN_SECONDS for this thread after the module returns
        self.read_bound = min(PROGRESS_JOIN_SECONDS - 1.0, max(1.0, interval))
        self.done = threading.Event()

    def _params(self):
        """The task's arguments typed and defaulted by the module's own argspec (module_defaults are already in them)."""
        # imported here: redis-py is needed on the control node only when progress is shown
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
        from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
            connection_argument_spec, primary_auth_argument_spec)
        from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import wait_argument_spec
        spec = connection_argument_spec()
        spec.update(primary_auth_argument_spec())
        spec.update(wait_argument_spec())
        spec.update(primary_host=dict(type='str', aliases=['master_host']),
                    primary_port=dict(type='int', aliases=['master_port']))
        validated = ArgumentSpecValidator(spec).validate(self.args)
        if validated.error_messages:
            raise ValueError('; '.join(validated.error_messages))
        return validated.validated_parameters

    def run(self):
        try:
            self._loop()
        except Exception as exc:  # progress is a courtesy: never let it break or delay the task
            self.display.vvv('%s: no progress lines (%s)' % (self.host, exc))

    def _loop(self):
        from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils
        from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import (
            KvmigrateError, connect, resolve, source_endpoint)
        params = self._params()
        secrets = [value for value in (params.get('login_password'), params.get('primary_password')) if value]
        target = source = None
        previous = None
        try:
            target = connect(params, what='target', secrets=secrets)
            # a stopped server must not hold this thread past the module's end: every reply is bounded
            target.read_timeout = self.read_bound
            while not self.done.wait(self.interval):
                try:
                    status = target.replication()
                except KvmigrateError:
                    continue  # the module itself reports a target that does not answer
                lag_bytes = None
                if status.get('synced') and not status.get('sync_in_progress'):
                    try:
                        if source is None:
                            source = source_endpoint(params, params.get('primary_host') or status.get('primary_host'),
                                                     params.get('primary_port') or status.get('primary_port'),
                                                     target.link_credentials).connect(params, secrets=secrets)
                            source.read_timeout = self.read_bound
                        source_status = source.replication()
                        lag_bytes = info_utils.replica_lag(source_status, status, resolve(target.host),
                                                           target.port)['lag_bytes']
                    except KvmigrateError:
                        if source is not None:
                            source.close()
                        source = None
                line, previous = progress_line(self.host, status, lag_bytes, previous)
                if not self.done.is_set():
                    self.display.display(line)
        finally:
            for server in (target, source):
                if server is not None:
                    server.close()


class ActionModule(ModuleAction):
    MODULE = MODULE
    MAIN = staticmethod(main)

    def _progress_wanted(self, task_vars):
        setting = self.task_var(task_vars, 'kvmigrate_progress', 'auto')
        if isinstance(setting, str) and setting.lower() == 'auto':
            # -v asks for it; at verbosity 0 (the default, and AWX's) the output stays as it was
            return self._display.verbosity >= 1
        return boolean(setting, strict=False)

    def _runs_here(self):
        return getattr(self._connection, 'transport', None) == 'local'

    def run_module(self, task_vars, wrap_async=False):
        """ModuleAction.run_module, with progress lines while it runs and the wait's wall-clock times after."""
        progress = None
        host = task_vars.get('inventory_hostname', '?')
        progress_wanted = not wrap_async and self._progress_wanted(task_vars)
        if progress_wanted:
            if self._runs_here():
                interval = float(self.task_var(task_vars, 'kvmigrate_progress_interval', DEFAULT_INTERVAL))
                progress = _Progress(self._display, host, dict(self._task.args), max(0.2, interval))
                progress.start()
            else:
                self._display.vv('%s: no progress lines: the module runs on another host' % host)
        started_at = time.time()
        try:
            result = super(ActionModule, self).run_module(task_vars, wrap_async=wrap_async)
        finally:
            if progress is not None:
                progress.done.set()
                progress.join(PROGRESS_JOIN_SECONDS)
        if progress_wanted and result.get('synced') and not result.get('failed'):
            # a sync shorter than one interval printed no line of its own: every host ends with one
            line = progress_line(host, result.get('replication') or {}, result.get('lag_bytes'), None)[0]
            self._display.display('%s (after %.1f s)' % (line, result.get('elapsed') or 0.0))
        finished_at = time.time()
        if not wrap_async and isinstance(result.get('elapsed'), (int, float)):
            wait_started_at = finished_at - result['elapsed']
            to_synced = (result.get('sync_progress') or {}).get('seconds_to_synced')
            result['timeline'] = dict(
                started_at=round(started_at, 3), wait_started_at=round(wait_started_at, 3),
                synced_at=round(wait_started_at + to_synced, 3) if isinstance(to_synced, (int, float)) else None,
                finished_at=round(finished_at, 3))
        return result
