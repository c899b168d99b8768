# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` in this process as AnsiballZ runs it in a module process, and return what that process
would have printed. The action plugins use it in the Ansible worker (``in_process.py`` says when); it imports no
controller code, so tests/support/worker_module.py runs it as cheaply as a module process.

The module gets ``ControllerModule``: the real ``AnsibleModule`` with one hook replaced, as in ansible.netcommon. The
arguments reach ``AnsibleModule._load_params`` as the bytes AnsiballZ hands a module process (``ANSIBLE_MODULE_ARGS``
with the ``_ansible_*`` keys of ``ActionBase._update_module_args``, in the serialization profile's encoding), and
``_record_module_result`` keeps the JSON a module process prints (before ansible-core 2.19.1, which lacks the hook,
stdout is captured instead). While ``main()`` runs, the process looks like a module process to
``ansible.module_utils``: warnings and deprecations are recorded into the result (on ansible-core 2.19 the controller
would display them instead, outside the result; before 2.19 they are module-level lists that must start empty). A
crash (an exception out of ``main()``) gives what AnsiballZ gives: on 2.19 its JSON error result, before 2.19 a
traceback on stderr and rc 1, which the controller reports as MODULE FAILURE; ``no_log`` values are masked in both.
Any other ``BaseException`` (``KeyboardInterrupt``) restores the process's state and goes on up.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import io
import json
import traceback

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.common.parameters import remove_values

try:  # ansible-core 2.19+: modules and the controller talk through serialization profiles
    from ansible.module_utils.common.json import Direction, get_module_encoder
    from ansible.module_utils import _internal as module_utils_internal
    AnsibleJSONEncoder = None
except ImportError:  # ansible-core 2.16-2.18
    from ansible.module_utils.common.json import AnsibleJSONEncoder
    module_utils_internal = get_module_encoder = Direction = None
try:  # what AnsiballZ runs a module with, ansible-core 2.19+
    from ansible.module_utils._internal._ansiballz import _loader as ansiballz_loader
except ImportError:
    ansiballz_loader = None

# The serialization profile ansible-core gives a module that declares no METADATA, as none of ours does
# (executor/module_common.py, _DEFAULT_LEGACY_METADATA).
PROFILE = 'legacy'
_HAS_RESULT_HOOK = hasattr(AnsibleModule, '_record_module_result')  # ansible-core 2.19.1+


def encode_module_args(module_args):
    """The bytes a module process reads: ``ANSIBLE_MODULE_ARGS`` encoded as ansible-core encodes them for a module."""
    params = dict(ANSIBLE_MODULE_ARGS=module_args)
    if get_module_encoder is not None:
        return json.dumps(params, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode('utf-8')
    return json.dumps(params, cls=AnsibleJSONEncoder, vault_to_text=True).encode('utf-8')


class _WorkerRun:
    """What one run of a module left behind: the modules it made and the output a module process would have printed."""

    def __init__(self):
        self.modules = []
        self.records = []

    def no_log_values(self):
        values = set()
        for module in self.modules:
            values.update(module.no_log_values)
        return values


class ControllerModule(AnsibleModule):
    """AnsibleModule for a module run in the worker: the arguments come from ``basic._ANSIBLE_ARGS`` (set by
    ``run_module_in_worker``) and the result goes to ``worker_run`` instead of stdout."""

    def __init__(self, *args, **kwargs):
        self._worker_run = kwargs.pop('worker_run')
        self._worker_run.modules.append(self)
        self.no_log_values = set()  # read on a crash in AnsibleModule.__init__, before it sets them
        super(ControllerModule, self).__init__(*args, **kwargs)

    def _record_module_result(self, o):
        encoder = get_module_encoder(PROFILE, Direction.MODULE_TO_CONTROLLER)
        self._worker_run.records.append('\n%s' % json.dumps(o, cls=encoder))


@contextlib.contextmanager
def _module_process_state(encoded_args):
    """The module-side globals of ``ansible.module_utils`` as in a new module process, restored afterwards."""
    saved_args = getattr(basic, '_ANSIBLE_ARGS', None)
    saved_profile = getattr(basic, '_ANSIBLE_PROFILE', None)
    saved_warnings = list(module_warnings._global_warnings)
    saved_deprecations = list(module_warnings._global_deprecations)
    saved_is_controller = getattr(module_utils_internal, 'is_controller', None)
    basic._ANSIBLE_ARGS = encoded_args
    if hasattr(basic, '_ANSIBLE_PROFILE'):
        basic._ANSIBLE_PROFILE = PROFILE
    module_warnings._global_warnings.clear()
    module_warnings._global_deprecations.clear()
    if module_utils_internal is not None:
        module_utils_internal.is_controller = False  # warn()/deprecate() record into the result, as in a module
    try:
        yield
    finally:
        if module_utils_internal is not None:
            module_utils_internal.is_controller = saved_is_controller
        for store, saved in ((module_warnings._global_warnings, saved_warnings),
                             (module_warnings._global_deprecations, saved_deprecations)):
            store.clear()
            if isinstance(store, dict):
                store.update((item, None) for item in saved)
            else:
                store.extend(saved)
        basic._ANSIBLE_ARGS = saved_args
        if hasattr(basic, '_ANSIBLE_PROFILE'):
            basic._ANSIBLE_PROFILE = saved_profile


def _crash_output(exception):
    """(rc, stdout, stderr) of a module process whose ``main()`` raised ``exception``, as AnsiballZ leaves them."""
    if ansiballz_loader is not None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                ansiballz_loader._handle_exception(exception, PROFILE)
            except SystemExit as done:
                return done.code, printed.getvalue(), ''
    return 1, '', traceback.format_exc()


def _exit_status(code):
    """(rc, stderr) of a Python process that ended with ``sys.exit(code)``."""
    if code is None:
        return 0, ''
    if isinstance(code, int):
        return code, ''
    return 1, '%s\n' % code


def _mask(text, secrets):
    """``text`` (a module's output) with the no_log values masked, inside JSON strings too."""
    if not secrets or not text.strip():
        return text
    try:
        return json.dumps(remove_values(json.loads(text), secrets))
    except ValueError:
        return remove_values(text, secrets)


def run_module_in_worker(main, encoded_args):
    """Run a module's ``main(module_class=...)`` in this process as a module process would run; return what that
    process would have left: ``dict(rc=..., stdout=..., stderr=...)``, as ``ActionBase._low_level_execute_command``.

    ``encoded_args`` is ``encode_module_args()`` of the arguments with the ``_ansible_*`` keys."""
    run = _WorkerRun()

    def module_class(*args, **kwargs):
        return ControllerModule(*args, worker_run=run, **kwargs)

    printed = io.StringIO()
    rc, stderr = 1, ''
    crashed = False
    with _module_process_state(encoded_args):
        # before ansible-core 2.19.1 AnsibleModule prints its result; the worker's own output goes through its queue
        with contextlib.nullcontext() if _HAS_RESULT_HOOK else contextlib.redirect_stdout(printed):
            try:
                main(module_class=module_class)
                raise RuntimeError('New-style module did not handle its own exit.')  # AnsiballZ's words
            except SystemExit as done:
                rc, stderr = _exit_status(done.code)
            except Exception as exc:  # pylint: disable=broad-except
                crashed = True
                rc, crash_stdout, stderr = _crash_output(exc)
                printed.write(crash_stdout)
    stdout = ''.join(run.records) + printed.getvalue()
    if crashed:
        # AnsibleModule masks what it returns; a crash's message and traceback it never sees
        secrets = run.no_log_values()
        stdout, stderr = _mask(stdout, secrets), _mask(stderr, secrets)
    return dict(rc=rc, stdout=stdout, stderr=stderr)
