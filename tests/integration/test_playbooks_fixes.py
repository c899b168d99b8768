"""The playbooks on real servers: preflight refuses two hosts with one target, status.yml reports a broken pair
instead of crashing, rollback.yml handles a sibling, role errors name inventory variables, check mode and the report
folder, and what the collection tarball leaves out (issue 11, sections 3, 5, 7 and 8)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.support.servers import REPO, ansible_env, awx_summary, fill

BIN = os.path.dirname(sys.executable)
LOCAL = {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}
FAST = ['-e', 'preflight_rate_sample_seconds=0', '-e', 'verify_stable_for=0']


def _inventory(tmp_path, hosts):
    path = tmp_path / 'inventory.json'
    path.write_text(json.dumps({'kvmigrate_targets': {'hosts': hosts, 'vars': LOCAL}}))
    return str(path)


def _pair(target, source, **extra):
    pair = dict(kvmigrate_target_host=target.host, kvmigrate_target_port=target.port, kvmigrate_source_host=source.host,
                kvmigrate_source_port=source.port)
    if target.password:
        pair['kvmigrate_target_password'] = target.password
    if source.password:
        pair['kvmigrate_source_password'] = source.password
    pair.update(extra)
    return pair


def _play(name, inventory, *extra, cwd=None, env=None):
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, os.path.join(REPO, 'playbooks', name)] + list(extra)
    proc = subprocess.run(command, env=env or ansible_env(), capture_output=True, text=True, timeout=300, check=False,
                          cwd=cwd)
    proc.output = proc.stdout + proc.stderr
    return proc


def _env_without_pwd():
    # what cron, AWX's runner or `sudo -i` may give: no PWD at all
    env = ansible_env()
    env.pop('PWD', None)
    return env


def _recap(output):
    return {host: dict(ok=int(ok), changed=int(changed), failed=int(failed))
            for host, ok, changed, failed in re.findall(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)',
                                                        output, re.M)}


def _role(server):
    return server.client().info('replication')['role']


def _keys(server):
    """The data keys; the cutover's write check leaves its own probe key (kvmigrate:write-check, 60 s) behind."""
    client = server.client()
    return {key: client.get(key) for key in client.scan_iter(count=1000) if not key.startswith('kvmigrate:')}


def _wait_synced(replica, count, tries=200):
    client = replica.client()
    for dummy in range(tries):
        if client.info('replication').get('master_link_status') == 'up' and len(_keys(replica)) == count:
            return
        time.sleep(0.05)
    raise AssertionError('replica on %d never held %d keys' % (replica.port, count))


def test_preflight_refuses_two_hosts_naming_one_target_and_warns_about_an_unknown_variable(start_server, tmp_path):
    """dup_a and dup_b name one server (127.0.0.1 and localhost, one port) with different sources: both fail in
    preflight, each naming the other and its address, and the server is left a primary. A third pair, whose inventory
    has a typo (kvmigrate_sourc_port) next to its real port, migrates and the typo is reported once."""
    shared = start_server(name='dup-tgt')
    sources = [start_server(name='dup-src%d' % i) for i in range(3)]
    healthy = start_server(name='dup-ok')
    for source in sources:
        fill(source, 50, prefix=source.name)
    hosts = dict(dup_a=_pair(shared, sources[0]),
                 dup_b=dict(_pair(shared, sources[1]), kvmigrate_target_host='localhost'),
                 pair_ok=_pair(healthy, sources[2], kvmigrate_sourc_port=sources[2].port))
    proc = _play('migrate.yml', _inventory(tmp_path, hosts), *FAST, '-e', 'kvmigrate_report_dir=%s' % tmp_path)

    assert proc.returncode != 0, proc.output[-3000:]
    recap = _recap(proc.stdout)
    assert recap['dup_a']['failed'] == 1 and recap['dup_b']['failed'] == 1, proc.output[-3000:]
    assert recap['pair_ok']['failed'] == 0, proc.output[-3000:]
    assert ('dup_a: its target 127.0.0.1:%d is the same server as the target of dup_b (localhost:%d) once addresses are '
            'resolved' % (shared.port, shared.port)) in proc.output, proc.output[-3000:]
    assert ('dup_b: its target localhost:%d is the same server as the target of dup_a (127.0.0.1:%d)'
            % (shared.port, shared.port)) in proc.output, proc.output[-3000:]
    assert _role(shared) == 'master' and shared.client().dbsize() == 0, 'preflight let a change through'
    assert _role(healthy) == 'slave' and _keys(healthy) == _keys(sources[2])
    assert proc.output.count('Variable kvmigrate_sourc_port (set for pair_ok) is not one kvmigrate.replication reads, '
                             'so it changes nothing and the default applies: did you mean kvmigrate_source_port?') == 1


def test_status_reports_every_pair_with_its_error_when_servers_are_down(start_server, tmp_path):
    """Three pairs: healthy, source down (the target still a replica with an offset), target down. status.yml exits 0,
    changes nothing (changed=0 on its first run, which creates the report folder), and the table and the report file,
    written under the working directory when PWD is unset, hold all three pairs with their errors. With --check it
    writes no file."""
    sources = [start_server(name='st-src%d' % i, password='st-Src-pw') for i in range(3)]
    targets = [start_server(name='st-tgt%d' % i, password='st-Tgt-pw') for i in range(3)]
    for i in (0, 1):
        fill(sources[i], 100, prefix='p%d' % i)
        client = targets[i].client()
        client.config_set('masterauth', 'st-Src-pw')
        client.replicaof(sources[i].host, sources[i].port)
        _wait_synced(targets[i], 100)
    sources[1].stop()
    targets[2].stop()
    inventory = _inventory(tmp_path, dict(('pair%d' % i, _pair(targets[i], sources[i])) for i in range(3)))
    workdir = tmp_path / 'run'
    workdir.mkdir()

    proc = _play('status.yml', inventory, cwd=str(workdir), env=_env_without_pwd())

    assert proc.returncode == 0, proc.output[-3000:]
    recap = _recap(proc.stdout)
    assert sorted(recap) == ['pair0', 'pair1', 'pair2']
    assert all(entry['failed'] == 0 and entry['changed'] == 0 for entry in recap.values()), proc.output[-3000:]
    with open(str(workdir / 'reports' / 'status-latest.json')) as handle:
        pairs = dict((pair['target'], pair) for pair in json.load(handle))
    assert sorted(pairs) == ['pair0', 'pair1', 'pair2']
    assert pairs['pair0']['error'] is None and pairs['pair0']['target_role'] == 'replica'
    assert isinstance(pairs['pair0']['lag_bytes'], int) and pairs['pair0']['target_keys'] == 100
    assert pairs['pair1']['target_role'] == 'replica' and pairs['pair1']['lag_bytes'] is None
    assert '127.0.0.1:%d' % sources[1].port in pairs['pair1']['error'], pairs['pair1']
    assert pairs['pair1']['source_keys'] is None and pairs['pair1']['target_keys'] == 100
    assert '127.0.0.1:%d' % targets[2].port in pairs['pair2']['error'] and pairs['pair2']['target_role'] is None
    table = [line for line in proc.stdout.split('PLAY RECAP')[0].splitlines() if re.match(r'\s*"pair\d ', line)]
    assert sorted(line.split()[0].strip('"') for line in table) == ['pair0', 'pair1', 'pair2'], proc.output[-3000:]
    assert 'st-Src-pw' not in proc.output and 'st-Tgt-pw' not in proc.output

    check_dir = tmp_path / 'check'
    check_dir.mkdir()
    check = _play('status.yml', inventory, '--check', cwd=str(check_dir), env=_env_without_pwd())
    assert check.returncode == 0, check.output[-3000:]
    assert os.listdir(str(check_dir)) == []


def test_migrate_check_mode_writes_no_report_and_changes_nothing(start_server, tmp_path):
    source = start_server(name='chk-src')
    target = start_server(name='chk-tgt')
    fill(source, 20)
    env = ansible_env({'PWD': str(tmp_path), 'ANSIBLE_SHOW_CUSTOM_STATS': 'true'})
    proc = _play('migrate.yml', _inventory(tmp_path, dict(pair=_pair(target, source))), '--check', *FAST,
                 cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.output[-3000:]
    assert _recap(proc.stdout)['pair']['changed'] == 1, 'check mode should report the REPLICAOF it would send'
    assert not os.path.exists(str(tmp_path / 'reports')), os.listdir(str(tmp_path / 'reports'))
    assert _role(target) == 'master'
    # the dry run's record still goes to AWX (the run's custom statistics)
    summary = awx_summary(proc.stdout)['kvmigrate_migration']
    assert summary['check_mode'] is True and [pair['target'] for pair in summary['pairs']] == ['pair']
    assert summary['pairs'][0]['promoted'] is False and summary['pairs'][0]['timeline']['sync_started'] is None


def test_a_report_directory_that_cannot_be_written_fails_the_report_naming_it_after_the_migration(start_server, tmp_path):
    """kvmigrate_report_dir names a file: the pair still migrates, and the report task fails saying which directory and
    what to set, with no password in the output."""
    source = start_server(name='rep-src', password='rep-Src-pw')
    target = start_server(name='rep-tgt', password='rep-Tgt-pw')
    fill(source, 20)
    not_a_directory = tmp_path / 'reports-file'
    not_a_directory.write_text('not a directory')
    proc = _play('migrate.yml', _inventory(tmp_path, dict(pair=_pair(target, source))), *FAST,
                 '-e', 'kvmigrate_report_dir=%s' % not_a_directory)
    assert proc.returncode != 0, proc.output[-3000:]
    assert _role(target) == 'slave' and _keys(target) == _keys(source)
    assert ('Could not write the report files in %s: Path %s exists and is not a directory: point path at a directory. '
            'Check that the directory is writable, or set kvmigrate_report_dir to one that is.'
            % (not_a_directory, not_a_directory)) in proc.output, proc.output[-3000:]
    assert not_a_directory.read_text() == 'not a directory'
    assert '"pairs"' not in proc.output, 'the failed report task printed the whole record'
    assert 'rep-Src-pw' not in proc.output and 'rep-Tgt-pw' not in proc.output


def test_migrate_error_names_the_inventory_variable_not_the_module_option_nor_the_password(start_server, tmp_path):
    source = start_server(name='lbl-src', password='lbl-Right-pw')
    target = start_server(name='lbl-tgt')
    pair = _pair(target, source, kvmigrate_source_password='lbl-Wrong-pw-42')
    proc = _play('migrate.yml', _inventory(tmp_path, dict(pair=pair)), *FAST, '-e', 'kvmigrate_report_dir=%s' % tmp_path)
    assert proc.returncode != 0
    assert _recap(proc.stdout)['pair']['failed'] == 1
    assert re.search(r'127\.0\.0\.1:%d rejected the credentials' % source.port, proc.output), proc.output[-3000:]
    assert 'kvmigrate_source_password' in proc.output, proc.output[-3000:]
    assert 'primary_password' not in proc.output, proc.output[-3000:]
    assert 'lbl-Wrong-pw-42' not in proc.output and 'lbl-Right-pw' not in proc.output
    assert _role(target) == 'master'


@pytest.mark.parametrize('order', ['one_run', 'sibling_first'])
def test_rollback_reverse_cutover_with_a_sibling_in_either_order_loses_nothing_and_reruns_unchanged(start_server, tmp_path,
                                                                                                    order):
    """One source, two targets: promoted (kvmigrate_promote true) and sibling (false). migrate.yml promotes; the new
    primary takes writes. rollback.yml runs for both at once, or for the sibling alone first (as under AWX job slicing,
    while the source still follows the promoted target) and then for both. Either way the source is the primary
    again, both targets replicate from it, every key is everywhere, the source served no full sync (nothing was
    flushed), and a second rollback changes nothing."""
    source = start_server(name='rb-src', password='rb-Src-pw')
    promoted = start_server(name='rb-new', password='rb-Tgt-pw')
    sibling = start_server(name='rb-sib', password='rb-Tgt-pw')
    fill(source, 300, prefix='before')
    hosts = dict(promoted=_pair(promoted, source), sibling=_pair(sibling, source, kvmigrate_promote=False))
    inventory = _inventory(tmp_path, hosts)

    migrate = _play('migrate.yml', inventory, *FAST, '-e', 'migrate_promote=true', '-e', 'kvmigrate_report_dir=%s' % tmp_path)
    assert migrate.returncode == 0, migrate.output[-4000:]
    assert _role(promoted) == 'master' and _role(source) == 'slave'
    fill(promoted, 40, prefix='after-cutover')
    _wait_synced(sibling, 340)
    full_syncs = int(source.client().info('stats')['sync_full'])
    outputs = [migrate.output]

    if order == 'sibling_first':
        first = _play('rollback.yml', inventory, '-e', 'kvmigrate_hosts=sibling')
        outputs.append(first.output)
        assert first.returncode == 0, first.output[-4000:]
        assert _recap(first.stdout)['sibling']['changed'] == 1
        assert _role(sibling) == 'slave' and sibling.client().info('replication')['master_port'] == source.port
        assert _role(source) == 'slave', 'the source still follows the promoted target'

    rollback = _play('rollback.yml', inventory)
    outputs.append(rollback.output)
    assert rollback.returncode == 0, rollback.output[-4000:]
    recap = _recap(rollback.stdout)
    assert recap['promoted']['changed'] == 1, rollback.output[-4000:]
    assert recap['sibling']['changed'] == (0 if order == 'sibling_first' else 1), rollback.output[-4000:]
    assert _role(source) == 'master'
    for replica in (promoted, sibling):
        assert replica.client().info('replication')['master_port'] == source.port
        _wait_synced(replica, 340)
    assert len(_keys(source)) == 340 and _keys(sibling) == _keys(source) == _keys(promoted)
    assert int(source.client().info('stats')['sync_full']) == full_syncs, 'the rollback made the source serve a full sync'

    again = _play('rollback.yml', inventory)
    outputs.append(again.output)
    assert again.returncode == 0, again.output[-4000:]
    assert all(entry['changed'] == 0 for entry in _recap(again.stdout).values()), again.output[-4000:]
    for output in outputs:
        assert 'rb-Src-pw' not in output and 'rb-Tgt-pw' not in output


def test_collection_tarball_leaves_out_local_caches(tmp_path):
    """galaxy.yml's build_ignore on a copy of the collection's metadata with the caches a used checkout has."""
    tree = tmp_path / 'collection'
    (tree / 'meta').mkdir(parents=True)
    shutil.copy(os.path.join(REPO, 'galaxy.yml'), str(tree / 'galaxy.yml'))
    shutil.copy(os.path.join(REPO, 'meta', 'runtime.yml'), str(tree / 'meta' / 'runtime.yml'))
    (tree / 'README.md').write_text('readme\n')
    (tree / 'plugins' / 'filter').mkdir(parents=True)
    (tree / 'plugins' / 'filter' / 'kept.py').write_text('# kept\n')
    caches = ['.pytest_cache/v/cache/nodeids', '.mypy_cache/3.11/x.json', '.ruff_cache/0.1/x', '.tox/py/x',
              '.nox/x', '.cache/x', '.coverage', '.coverage.host.1', 'htmlcov/index.html', '.ansible/tmp/x',
              'changelogs/.plugin-cache.yaml', '.idea/x.xml', '.vscode/settings.json', 'plugins/filter/kept.py.swp',
              '.hypothesis/x', 'tests/output/junit/x.xml', 'reports/latest.json', 'plugins/__pycache__/x.pyc']
    for relative in caches:
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('cache\n')
    out = tmp_path / 'dist'
    proc = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out), str(tree)],
                          env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball, = os.listdir(str(out))
    listing = subprocess.run(['tar', '-tzf', str(out / tarball)], capture_output=True, text=True, check=True).stdout.split()
    assert 'plugins/filter/kept.py' in listing
    assert [relative for relative in caches if relative in listing] == []


def test_migrate_validates_every_role_s_variables_once_before_any_server_is_read(start_server, tmp_path):
    """migrate.yml imports its roles without their own validation and validates the union of their specs in one task:
    a bad value of any role is refused there, naming the host and the option, and no server is changed."""
    source = start_server(name='spec-src', password='spec-Src-pw')
    target = start_server(name='spec-tgt', password='spec-Tgt-pw')
    fill(source, 20)
    inventory = _inventory(tmp_path, {'specpair': _pair(target, source)})
    # one option of the verify role and one of the promote role, both roles that run after preflight
    for bad, option in (('verify_timeout=soon', "argument 'verify_timeout' is of type str"),
                        ('promote_cutover_method=fast', "value of promote_cutover_method must be one of")):
        proc = _play('migrate.yml', inventory, *FAST, '-e', 'migrate_promote=true', '-e', bad)
        assert proc.returncode != 0, proc.output[-3000:]
        recap = _recap(proc.stdout)
        assert recap['specpair']['changed'] == 0 and recap['specpair']['failed'] == 1, proc.output[-3000:]
        failed_task = proc.stdout.split('fatal: [specpair]')[0].rsplit('TASK [', 1)[1]
        assert failed_task.startswith('Validate the variables of every role of the migration once'), proc.output[-3000:]
        assert re.search(r'fatal: \[specpair\].*%s' % re.escape(option), proc.output), proc.output[-3000:]
        assert 'spec-Src-pw' not in proc.output and 'spec-Tgt-pw' not in proc.output
        assert _role(target) == 'master' and target.client().dbsize() == 0
    good = _play('migrate.yml', inventory, *FAST, '-e', 'kvmigrate_report_dir=%s' % tmp_path)
    assert good.returncode == 0, good.output[-3000:]
    assert good.stdout.count('Validating arguments against arg spec') == 0, 'a role validated its own arguments again'
    assert good.stdout.count('TASK [Validate the variables of every role of the migration once]') == 1
    # no Sentinel listed, and preflight found none connected to either end: the pair runs no Sentinel task at all, the
    # Sentinel play matches no host
    assert 'Find the Sentinels watching the pair' not in good.stdout, good.output[-3000:]
    assert "Check and shield" not in good.stdout, good.output[-3000:]
    assert re.search(r"PLAY \[Migrate Redis-protocol databases by replication \(the pairs' Sentinels\)\] \*+\nskipping: "
                     r"no hosts matched", good.stdout), good.output[-3000:]
