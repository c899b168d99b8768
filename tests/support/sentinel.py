"""Real Sentinels (redis-server --sentinel) on free loopback ports for tests, and a writer that asks them for the
master on every reconnect. Every process started here is killed by stop()."""
import os
import subprocess
import tempfile
import threading
import time

import redis
from redis.sentinel import Sentinel as SentinelClient

from tests.support.servers import debian_redis_server, free_port, kill, log_tail


class SentinelServer(object):
    def __init__(self, master_name, master, quorum=2, down_after_ms=2000, failover_timeout_ms=10000, password=None,
                 binary=None):
        self.binary = binary or debian_redis_server()
        self.host = '127.0.0.1'
        self.port = free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix='kvm-sentinel-')
        self.config = os.path.join(self.dir, 'sentinel.conf')
        self.lines = ['port %d' % self.port, 'bind 127.0.0.1', 'daemonize no', 'dir %s' % self.dir,
                      'logfile %s' % os.path.join(self.dir, 'sentinel.log'), 'protected-mode no',
                      'sentinel monitor %s %s %d %d' % (master_name, master.host, master.port, quorum),
                      'sentinel down-after-milliseconds %s %d' % (master_name, down_after_ms),
                      'sentinel failover-timeout %s %d' % (master_name, failover_timeout_ms)]
        if master.password:
            self.lines.append('sentinel auth-pass %s %s' % (master_name, master.password))
        if password:
            self.lines.append('requirepass %s' % password)
        self.proc = None

    def start(self, timeout=10):
        with open(self.config, 'w') as handle:
            handle.write('\n'.join(self.lines) + '\n')
        self.proc = subprocess.Popen([self.binary, self.config, '--sentinel'], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.ResponseError):
                time.sleep(0.05)
        raise RuntimeError('Sentinel on port %d did not start: %s' % (self.port, self.log()))

    @property
    def endpoint(self):
        return '%s:%d' % (self.host, self.port)

    def client(self):
        return redis.Redis(host=self.host, port=self.port, password=self.password, decode_responses=True,
                           socket_timeout=10)

    def master_address(self, name):
        """(ip, port) this Sentinel gives clients for ``name``, or None when it does not monitor it."""
        address = self.client().execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)
        return (address[0], int(address[1])) if address else None

    def log(self):
        return log_tail(os.path.join(self.dir, 'sentinel.log'))

    def stop(self):
        kill(self.proc, self.dir)


class SentinelWriter(object):
    """Writes unique keys to whatever master the Sentinels name, asking them again after every error (as a client
    of a Sentinel set-up does), and remembers each acknowledged one."""

    def __init__(self, sentinels, master_name, password=None, sentinel_password=None):
        self.sentinel = SentinelClient([(s.host, s.port) for s in sentinels], socket_timeout=2,
                                       sentinel_kwargs={'password': sentinel_password, 'socket_timeout': 2},
                                       password=password, decode_responses=True)
        self.master_name = master_name
        self.acked = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        sequence = 0
        while not self._stop.is_set():
            try:
                host, port = self.sentinel.discover_master(self.master_name)
                client = redis.Redis(host=host, port=port, password=self.sentinel.connection_kwargs.get('password'),
                                     socket_timeout=2, decode_responses=True)
                while not self._stop.is_set():
                    key = 'w:%d' % sequence
                    client.set(key, sequence)
                    self.acked.append(key)
                    sequence += 1
                    time.sleep(0.005)
            except Exception:  # any refusal or lost master: ask the Sentinels again, as a real client does
                self.errors += 1
                sequence += 1
                time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)
        return self.acked
