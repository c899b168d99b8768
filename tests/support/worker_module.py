"""Run one module of the collection as the action plugins run it inside the Ansible worker
(plugins/plugin_utils/module_runner.py, run_module_in_worker) and print what a module process would print.

    python tests/support/worker_module.py MODULE_NAME ARGS_FILE

ARGS_FILE holds {"ANSIBLE_MODULE_ARGS": {...}}, as for ``python -m <module> ARGS_FILE``. servers.run_module() uses
this by default (KVMIGRATE_TEST_RUNNER=process turns it off), so the integration tests exercise the in-worker path. It does not load the
controller (0.2 s more per call): while the module runs, run_module_in_worker makes the worker look like a module
process to ansible.module_utils anyway. The controller side (when a task may run in the worker, parsing the output)
is tested through ansible-playbook in tests/integration/test_in_process.py."""
import importlib
import json
import sys

from ansible_collections.kvmigrate.replication.plugins.plugin_utils import module_runner


def main(name, args_path):
    with open(args_path) as handle:
        module_args = json.load(handle)['ANSIBLE_MODULE_ARGS']
    module = importlib.import_module('ansible_collections.kvmigrate.replication.plugins.modules.%s' % name)
    output = module_runner.run_module_in_worker(module.main, module_runner.encode_module_args(module_args))
    sys.stdout.write(output['stdout'])
    sys.stderr.write(output['stderr'])
    return output['rc']


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
