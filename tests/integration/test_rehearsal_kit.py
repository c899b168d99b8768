"""The rehearsal kit run as a user runs it (docs/rehearsal.md): the example scenario copied into a throwaway "user
project" whose staging inventory names local servers, and rehearsal-lab on an inventory of unreachable addresses.
Both run ``molecule test`` to the end: prepare, converge, idempotence, verify (the shipped checks), cleanup."""
import os
import shutil
import subprocess
import sys

import redis
import yaml

from tests.support import servers as support

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, 'docs', 'examples', 'molecule', 'rehearsal')
VENV_BIN = os.path.dirname(sys.executable)
PASSWORD = 'Rehearsal-Staging-Pw-7731'
LAB_PASSWORD = 'Lab-Inventory-Pw-5519'
SAMPLE = 300


def _molecule(cwd, scenario, extra_env, timeout=600):
    env = support.ansible_env(dict(extra_env, PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''), PY_COLORS='0',
                                   ANSIBLE_FORCE_COLOR='0', MOLECULE_NO_LOG='false'))
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)
    proc = subprocess.run([os.path.join(VENV_BIN, 'molecule'), 'test', '-s', scenario], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def _replica_of(server):
    info = server.client().info('replication')
    return info['role'], info.get('master_port')


def test_example_scenario_rehearses_a_user_inventory_and_puts_staging_back(tmp_path, start_server):
    source = start_server(password=PASSWORD)
    promoted = start_server(password=PASSWORD)
    sibling = start_server(password=PASSWORD)
    support.fill(source, 2000, prefix='sample')
    source.client().hset('sample:hash', mapping={'a': '1', 'b': b'\x00\xff'})
    project = tmp_path / 'project'
    shutil.copytree(EXAMPLE, str(project / 'molecule' / 'rehearsal'))
    (project / 'inventory').mkdir()
    vault_file = project / '.vault-pass'
    vault_file.write_text('rehearsal-vault-key\n')
    encrypted = subprocess.run([os.path.join(VENV_BIN, 'ansible-vault'), 'encrypt_string', '--vault-password-file',
                                str(vault_file), PASSWORD, '--name', 'vault_redis_password'],
                               check=True, stdout=subprocess.PIPE, text=True).stdout
    (project / 'inventory' / 'staging.yml').write_text(
        'kvmigrate_targets:\n'
        '  vars:\n'
        '    ansible_connection: local\n'
        '    ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
        '    kvmigrate_source_password: "{{ vault_redis_password }}"\n'
        '    kvmigrate_target_password: "{{ vault_redis_password }}"\n'
        + ''.join('    ' + line + '\n' for line in encrypted.strip().splitlines()) +
        '  hosts:\n'
        '    new-1: {kvmigrate_source_host: 127.0.0.1, kvmigrate_source_port: %d, kvmigrate_target_host: 127.0.0.1, '
        'kvmigrate_target_port: %d}\n'
        '    new-2: {kvmigrate_source_host: 127.0.0.1, kvmigrate_source_port: %d, kvmigrate_target_host: 127.0.0.1, '
        'kvmigrate_target_port: %d, kvmigrate_promote: false}\n' % (source.port, promoted.port, source.port, sibling.port))
    molecule_yml = project / 'molecule' / 'rehearsal' / 'molecule.yml'
    config = yaml.safe_load(molecule_yml.read_text())
    assert config['provisioner']['inventory']['links']['hosts'] == '../../inventory/staging.yml'  # the documented layout

    rc, output = _molecule(str(project), 'rehearsal', dict(ANSIBLE_VAULT_PASSWORD_FILE=str(vault_file),
                                                           KVMIGRATE_REHEARSAL_SAMPLE=str(SAMPLE)))
    assert rc == 0, output[-6000:]
    for step in ('prepare', 'converge', 'idempotence', 'verify', 'cleanup'):
        assert '[rehearsal > %s] Executed: Successful' % step in output, step
    assert '4 passed' in output  # the four shipped checks ran in verify
    assert 'Staging is back as prepare recorded it.' in output
    assert PASSWORD not in output

    # staging is back: the source a writable primary with its data, both targets replicas of it (where replicate put
    # them; the next rehearsal's migrate.yml starts from there)
    assert _replica_of(source)[0] == 'master'
    assert source.client().set('after-rehearsal', 1)
    assert _replica_of(promoted) == ('slave', source.port)
    assert _replica_of(sibling) == ('slave', source.port)
    raw = redis.Redis(host=source.host, port=source.port, password=PASSWORD)
    assert raw.hget('sample:hash', 'b') == b'\x00\xff'

    summary = (project / 'rehearsal-reports' / 'rehearsal-summary.md').read_text()
    assert PASSWORD not in summary
    rows = dict((line.split('|')[1].strip(), line) for line in summary.splitlines() if line.startswith('| new-'))
    assert ' ms |' in rows['new-1'] and ' s |' in rows['new-1'], summary
    assert 'none (stays a replica)' in rows['new-2'], summary
    assert '## Preflight warnings' in summary
    for name in os.listdir(str(project / 'rehearsal-reports')):
        with open(str(project / 'rehearsal-reports' / name), errors='replace') as handle:
            assert PASSWORD not in handle.read(), name


def test_rehearsal_lab_builds_a_source_feeding_two_targets_with_a_password(tmp_path):
    inventory = tmp_path / 'staging.yml'
    # addresses nobody answers on: the lab must not need staging
    inventory.write_text(
        'kvmigrate_targets:\n'
        '  vars:\n'
        '    ansible_connection: local\n'
        '    kvmigrate_source_password: "{{ staging_password }}"\n'
        '    kvmigrate_target_password: "{{ staging_password }}"\n'
        '    staging_password: %s\n'
        '  hosts:\n'
        '    cache-new-1: {kvmigrate_source_host: 192.0.2.11, kvmigrate_target_host: 192.0.2.21,\n'
        '                  rehearsal_lab_source_server: "valkey 8.0", rehearsal_lab_target_server: "redis 7.0"}\n'
        '    cache-new-2: {kvmigrate_source_host: 192.0.2.11, kvmigrate_target_host: 192.0.2.22, kvmigrate_promote: false}\n'
        % LAB_PASSWORD)
    rc, output = _molecule(os.path.join(REPO, 'extensions'), 'rehearsal-lab',
                           dict(KVMIGRATE_REHEARSAL_INVENTORY=str(inventory), KVMIGRATE_REHEARSAL_LAB_KEYS='500',
                                KVMIGRATE_REHEARSAL_SAMPLE='100'))
    assert rc == 0, output[-6000:]
    for step in ('create', 'prepare', 'converge', 'idempotence', 'verify', 'cleanup', 'destroy'):
        assert '[rehearsal-lab > %s] Executed: Successful' % step in output, step
    assert '4 passed' in output
    # the substitution is named; the target's version is installed, so it is not
    assert 'source of cache-new-1 (192.0.2.11:6379) runs redis 7.0.15 in place of valkey 8.0' in output
    assert 'target of cache-new-1 (192.0.2.21:6379) runs' not in output
    assert 'cache-new-2' in output and 'none (stays a replica)' in output
    assert 'Staging is back as prepare recorded it.' in output
    assert LAB_PASSWORD not in output
