"""A fleet of Redis hosts in Linux network namespaces, for tests that need real addresses and partitions.

Each host is a network namespace with two links to the root namespace, where the test (the control node) runs:

* the data link, a veth on bridge ``<prefix>d`` (10.213.N.0/24). Servers replicate over it, and clients reach the
  servers over it. ``cut(host)`` takes this veth down and ``restore(host)`` brings it back: a partition.
* the admin link, a veth on bridge ``<prefix>a`` (10.213.N+1.0/24), which ``cut`` leaves alone. It stands for a
  management network, so the control node can still watch a host whose data link is cut.

Every host runs ``redis-server`` on port 6379 (``ip netns exec <ns> redis-server <conf>``). Names carry the pid of
the test process (``kvf<pid>``), so parallel runs do not collide, and ``close()`` kills the servers and deletes
the namespaces, links and bridges even when a test failed. Leftovers of runs whose process is gone are removed
when a fleet is built. Only addresses in the namespaces built here are ever contacted.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import redis

from tests.support.servers import debian_redis_server, log_tail

PREFIX = 'kvf'
PORT = 6379
BASE = '10.213'


class NetnsError(RuntimeError):
    """The machine cannot build the fleet (not root, no iproute2, no netns/veth/bridge support)."""


def _ip(*args, check=True):
    proc = subprocess.run(['ip'] + list(args), capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise NetnsError('`ip %s` failed (rc %d): %s' % (' '.join(args), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(namespace):
    for pid in _ip('netns', 'pids', namespace, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def remove_stale():
    """Delete namespaces and bridges left by fleets whose test process no longer runs."""
    for line in _ip('netns', 'list', check=False).splitlines():
        name = line.split()[0] if line.split() else ''
        match = re.match(r'^%s(\d+)-' % PREFIX, name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(name)
            _ip('netns', 'del', name, check=False)
    for line in _ip('-o', 'link', 'show', check=False).splitlines():
        match = re.match(r'^\d+:\s+(%s(\d+)[da])[:@]' % PREFIX, line)
        if match and not _pid_alive(int(match.group(2))):
            _ip('link', 'del', match.group(1), check=False)


def _free_subnets():
    """Two free 10.213.N.0/24 subnets (N even) for data and admin, starting at a pid-dependent N."""
    used = set(int(n) for n in re.findall(r'inet %s\.(\d+)\.' % re.escape(BASE), _ip('-4', '-o', 'addr', 'show')))
    start = (os.getpid() % 120) * 2 + 2
    for offset in range(0, 240, 2):
        number = (start + offset - 2) % 240 + 2
        if number not in used and number + 1 not in used:
            return number, number + 1
    raise NetnsError('no free %s.N.0/24 subnet pair for a test fleet' % BASE)


class Host(object):
    """One namespace with a redis-server on PORT. ``address`` is on the data link, ``admin_address`` on the admin link."""

    def __init__(self, fleet, index, name, binary, password, extra):
        self.fleet = fleet
        self.index = index
        self.name = name
        self.namespace = '%s-%s' % (fleet.prefix, name)
        self.data_veth = '%sd%d' % (fleet.prefix, index)
        self.admin_veth = '%sa%d' % (fleet.prefix, index)
        self.address = '%s.%d.%d' % (BASE, fleet.data_net, 10 + index)
        self.admin_address = '%s.%d.%d' % (BASE, fleet.admin_net, 10 + index)
        self.host = self.address
        self.port = PORT
        self.binary = binary or debian_redis_server()
        self.password = password
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix='kvm-netns-%s-' % name)
        self.config = os.path.join(self.dir, 'redis.conf')
        self.proc = None

    def build(self):
        _ip('netns', 'add', self.namespace)
        for veth, bridge, address, prefix_len in ((self.data_veth, self.fleet.data_bridge, self.address, 24),
                                                  (self.admin_veth, self.fleet.admin_bridge, self.admin_address, 24)):
            inside = 'eth%s' % ('0' if veth == self.data_veth else '1')
            _ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', inside, 'netns', self.namespace)
            _ip('link', 'set', veth, 'master', bridge)
            _ip('link', 'set', veth, 'up')
            _ip('-n', self.namespace, 'addr', 'add', '%s/%d' % (address, prefix_len), 'dev', inside)
            _ip('-n', self.namespace, 'link', 'set', inside, 'up')
        _ip('-n', self.namespace, 'link', 'set', 'lo', 'up')

    def write_config(self):
        lines = ['port %d' % PORT, 'bind %s %s 127.0.0.1' % (self.address, self.admin_address), 'protected-mode no',
                 'save ""', 'appendonly no', 'dir %s' % self.dir, 'daemonize no',
                 'logfile %s' % os.path.join(self.dir, 'redis.log'), 'repl-diskless-sync-delay 0']
        if self.password:
            lines += ['requirepass %s' % self.password, 'masterauth %s' % self.password]
        # a directive given in ``extra`` replaces the default one (one line each, so CONFIG REWRITE keeps it simple)
        overridden = set(line.split()[0] for line in self.extra if line.strip())
        lines = [line for line in lines if line.split()[0] not in overridden]
        with open(self.config, 'w') as handle:
            handle.write('\n'.join(lines + self.extra) + '\n')

    def start(self, timeout=15, write_config=True):
        """Start redis-server inside the namespace (keeping a config CONFIG REWRITE changed, unless told otherwise)."""
        if write_config or not os.path.exists(self.config):
            self.write_config()
        # `ip netns exec` enters the namespace and execs the server, so proc.pid is the server's pid.
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', self.namespace, self.binary, self.config],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.admin_client(socket_timeout=2).ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise NetnsError('redis-server in namespace %s did not start: %s' % (self.namespace, self.log()))

    def stop(self, sig=signal.SIGKILL, timeout=20):
        """Stop the server: SIGKILL is a crash of the host's server, SIGTERM a clean shutdown (which saves AOF/RDB
        when configured).

        A crash takes the server's forked children with it. A child sending an RDB to a replica holds a copy of the
        replica's socket, and left alive it keeps that link open until its transfer ends, long after the server died.
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if sig == signal.SIGKILL:
            _kill_namespace_processes(self.namespace)
        self.proc = None

    def restart(self, sig=signal.SIGKILL):
        self.stop(sig)
        return self.start(write_config=False)

    def client(self, **kw):
        """A client over the data link (what applications and the modules use)."""
        kw.setdefault('socket_timeout', 30)
        return redis.Redis(host=self.address, port=PORT, password=self.password, decode_responses=True, **kw)

    def admin_client(self, **kw):
        """A client over the admin link, which cut() leaves up."""
        kw.setdefault('socket_timeout', 30)
        return redis.Redis(host=self.admin_address, port=PORT, password=self.password, decode_responses=True, **kw)

    def log(self):
        return log_tail(os.path.join(self.dir, 'redis.log'))

    def destroy(self):
        self.stop()
        _kill_namespace_processes(self.namespace)
        _ip('netns', 'del', self.namespace, check=False)
        _ip('link', 'del', self.data_veth, check=False)
        _ip('link', 'del', self.admin_veth, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Fleet(object):
    """Hosts in namespaces on two bridges; the root namespace has an address on both."""

    def __init__(self):
        self.prefix = '%s%d' % (PREFIX, os.getpid())
        if len(self.prefix) + 3 > 15:
            raise NetnsError('pid %d makes interface names longer than 15 characters' % os.getpid())
        self.data_bridge = self.prefix + 'd'
        self.admin_bridge = self.prefix + 'a'
        self.data_net, self.admin_net = None, None
        self.hosts = []
        self.built = False

    def build(self):
        if os.geteuid() != 0:
            raise NetnsError('building network namespaces needs root (running as uid %d)' % os.geteuid())
        if shutil.which('ip') is None:
            raise NetnsError('the `ip` command (iproute2) is missing: run scripts/bootstrap.sh')
        remove_stale()
        self.data_net, self.admin_net = _free_subnets()
        self.built = True
        for bridge, net in ((self.data_bridge, self.data_net), (self.admin_bridge, self.admin_net)):
            _ip('link', 'add', bridge, 'type', 'bridge')
            _ip('addr', 'add', '%s.%d.1/24' % (BASE, net), 'dev', bridge)
            _ip('link', 'set', bridge, 'up')
        return self

    def add(self, name, binary=None, password=None, extra=(), start=True):
        """A new host ``name`` (short: it is part of the namespace name) running redis-server on PORT."""
        host = Host(self, len(self.hosts), name, binary, password, extra)
        self.hosts.append(host)
        host.build()
        return host.start() if start else host

    def cut(self, host):
        """Partition ``host``: its data link goes down. TCP connections stay open and see silence, as in a real cut."""
        _ip('link', 'set', host.data_veth, 'down')

    def restore(self, host):
        _ip('link', 'set', host.data_veth, 'up')

    def close(self):
        for host in self.hosts:
            try:
                host.destroy()
            except (NetnsError, OSError, subprocess.SubprocessError):
                pass  # keep tearing down the others; remove_stale() catches what is left
        if self.built:
            for bridge in (self.data_bridge, self.admin_bridge):
                _ip('link', 'del', bridge, check=False)
        self.hosts = []

    def __enter__(self):
        try:
            return self.build()
        except Exception:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


def leftovers():
    """Namespaces and links of this process that still exist (empty after close())."""
    prefix = '%s%d' % (PREFIX, os.getpid())
    names = [line.split()[0] for line in _ip('netns', 'list', check=False).splitlines() if line.startswith(prefix)]
    links = re.findall(r'^\d+:\s+(%s\w*)[:@]' % prefix, _ip('-o', 'link', 'show', check=False), re.M)
    return names + links
