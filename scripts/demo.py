"""The main job on an embedded default: a local sandbox migrated for real.

Starts two source servers with sample data and a live writer each, three empty
targets (source-a feeds two of them), runs playbooks/migrate.yml with promotion
against that inventory, keeps writing through the cutover, and prints a report:
sync time, lag and write pause at cutover, keys before/after, and acknowledged
writes against writes found on the new primaries. Exits non-zero when any
acknowledged write is missing or the playbook failed. Every server is killed
at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


from tests.support.servers import RedisServer, ansible_env, debian_redis_server  # noqa: E402
from tests.support.writers import LiveWriters  # noqa: E402

PASSWORD = 'demo-%d' % os.getpid()


def sample_data(server, keys):
    client = server.client()
    for start in range(0, keys, 5000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(keys, start + 5000)):
            kind = i % 4
            if kind == 0:
                pipe.set('user:%d:name' % i, 'user-%d' % i)
            elif kind == 1:
                pipe.hset('user:%d:profile' % i, mapping={'visits': i, 'plan': 'pro' if i % 3 else 'free'})
            elif kind == 2:
                pipe.rpush('user:%d:events' % i, 'login', 'view', 'logout')
            else:
                pipe.set('session:%d' % i, 'token-%d' % i, ex=3600)
        pipe.execute()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keys', type=int, default=100000, help='sample keys per source (default 100000)')
    parser.add_argument('--verbose', action='store_true', help='print the whole ansible-playbook output')
    options = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix='kvmigrate-demo-')
    report_dir = os.path.join(REPO, 'reports', 'demo')
    servers = []
    writers = {}
    try:
        print('== sandbox: starting servers (redis-server %s)' % debian_redis_server())
        sources = {name: RedisServer(name=name, password=PASSWORD).start() for name in ('source-a', 'source-b')}
        targets = {name: RedisServer(name=name, password=PASSWORD).start() for name in ('target-a1', 'target-a2', 'target-b')}
        servers = list(sources.values()) + list(targets.values())
        for name, server in sources.items():
            sample_data(server, options.keys)
            print('   %-9s 127.0.0.1:%d  %d keys' % (name, server.port, server.client().dbsize()))
        for name, server in targets.items():
            print('   %-9s 127.0.0.1:%d  empty' % (name, server.port))

        pairs = {'target-a1': ('source-a', True), 'target-a2': ('source-a', False), 'target-b': ('source-b', True)}
        hosts = {}
        for target, (source, promote) in pairs.items():
            hosts[target] = dict(kvmigrate_target_host='127.0.0.1', kvmigrate_target_port=targets[target].port,
                                 kvmigrate_target_password=PASSWORD, kvmigrate_source_host='127.0.0.1',
                                 kvmigrate_source_port=sources[source].port, kvmigrate_source_password=PASSWORD,
                                 kvmigrate_promote=promote)
        inventory = {'kvmigrate_targets': {'hosts': hosts, 'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}
        inventory_path = os.path.join(workdir, 'inventory.json')
        with open(inventory_path, 'w') as handle:
            json.dump(inventory, handle, indent=2)

        keys_before = {name: server.client().dbsize() for name, server in servers_by_name(sources, targets).items()}
        # a short pause between writes keeps the two writers from starving ansible on 2 cores
        writers = {'source-a': LiveWriters(sources['source-a'], targets['target-a1'], prefix='live:a', pause=0.0005).start(),
                   'source-b': LiveWriters(sources['source-b'], targets['target-b'], prefix='live:b', pause=0.0005).start()}
        print('== live writers started on both sources')

        command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory_path,
                   os.path.join(REPO, 'playbooks', 'migrate.yml'), '-e', 'migrate_promote=true',
                   '-e', 'kvmigrate_report_dir=%s' % report_dir]
        print('== running: ansible-playbook -i <sandbox inventory> playbooks/migrate.yml -e migrate_promote=true')
        started = time.time()
        log_path = os.path.join(workdir, 'ansible.log')
        with open(log_path, 'w') as log:
            proc = subprocess.run(command, env=ansible_env(), stdout=log, stderr=subprocess.STDOUT, check=False)
        playbook_seconds = time.time() - started
        with open(log_path) as log:
            output = log.read()
        if options.verbose or proc.returncode:
            print(output)
        print('   playbook finished in %.1f s, rc=%d (full log: %s)' % (playbook_seconds, proc.returncode, log_path))

        time.sleep(1.0)  # let the writers write to the new primaries for a moment
        for writer in writers.values():
            writer.stop()
        # target-a2 follows source-a, which now follows target-a1: give the chain a moment to drain
        time.sleep(0.5)

        with open(os.path.join(report_dir, 'latest.json')) as handle:
            report = json.load(handle)
        lost_total = print_report(report, writers, sources, targets, keys_before, playbook_seconds)
        if PASSWORD in output:
            print('!! the password appeared in the playbook output')
            return 3
        return 0 if proc.returncode == 0 and lost_total == 0 else 1
    finally:
        for writer in writers.values():
            writer.stop()
        for server in servers:
            server.stop()


def servers_by_name(sources, targets):
    merged = dict(sources)
    merged.update(targets)
    return merged


def print_report(report, writers, sources, targets, keys_before, playbook_seconds):
    everyone = servers_by_name(sources, targets)
    print('')
    print('== migration report (reports/demo/latest.json; the page with the timeline and lag charts: reports/demo/latest.html)')
    header = '%-10s %-9s %9s %10s %9s %10s %10s %-10s %s' % (
        'target', 'source', 'sync_s', 'lag_bytes', 'pause_ms', 'keys_then', 'keys_now', 'role_now', 'fence')
    print(header)
    print('-' * len(header))
    for pair in report['pairs']:
        name = pair['target']
        source_name = [n for n, s in sources.items() if pair['source_endpoint'].endswith(':%d' % s.port)][0]
        cutover = pair.get('cutover') or {}
        role = everyone[name].client().info('replication')['role']
        print('%-10s %-9s %9s %10s %9s %10s %10s %-10s %s' % (
            name, source_name, pair.get('sync_seconds'), pair.get('lag_bytes'), cutover.get('pause_ms', '-'),
            keys_before[name], everyone[name].client().dbsize(), 'primary' if role == 'master' else 'replica',
            cutover.get('fence', '-')))
    print('')
    print('%-10s %12s %12s %10s %16s' % ('writer', 'acknowledged', 'found', 'lost', 'refused (fenced)'))
    lost_total = 0
    for name, writer in writers.items():
        missing, acked = writer.missing_on(writer.new_primary)
        lost_total += len(missing) + len(writer.errors)
        print('%-10s %12d %12d %10d %16d' % (name, acked, acked - len(missing), len(missing), len(writer.refusals)))
        for error in writer.errors:
            print('   writer error: %s' % error)
    print('')
    print('playbook wall time %.1f s; acknowledged writes lost: %d' % (playbook_seconds, lost_total))
    return lost_total


if __name__ == '__main__':
    sys.exit(main())
