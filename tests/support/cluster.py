"""Real Redis Clusters on loopback ports for tests and bench/cluster: nodes started with cluster-enabled, a cluster
made with redis-cli --cluster create, and a cluster-aware writer (redis-py RedisCluster, which follows MOVED/ASK)
that records every write the cluster acknowledged."""
import multiprocessing
import random
import shutil
import socket
import subprocess
import time

from redis.cluster import ClusterNode, RedisCluster

from tests.support import servers as support

# Short, so a failed node is noticed quickly, long enough that a busy 2-CPU machine does not fail healthy nodes.
NODE_TIMEOUT_MS = 3000


def redis_cli():
    path = shutil.which('redis-cli') or '/usr/bin/redis-cli'
    return path


def _bindable(port):
    with socket.socket() as sock:
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def cluster_port():
    """A free port whose cluster bus port (port + 10000, fixed on Redis 6.2) is free too; below 55536 as Redis needs."""
    for _attempt in range(200):
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError('no free port pair for a cluster node')


def cluster_node(binary=None, password=None, name='cluster'):
    """A started, empty cluster-mode node (not yet in any cluster)."""
    extra = ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout %d' % NODE_TIMEOUT_MS,
             'cluster-require-full-coverage yes']
    return support.RedisServer(binary=binary, password=password, extra=extra, name=name, port=cluster_port()).start()


def create_cluster(nodes, replicas=1, password=None, timeout=60):
    """redis-cli --cluster create over ``nodes`` (masters first), then wait until every node says cluster_state:ok."""
    command = [redis_cli(), '--cluster', 'create'] + ['%s:%d' % (n.host, n.port) for n in nodes] + [
        '--cluster-replicas', str(replicas), '--cluster-yes']
    if password:
        command += ['-a', password, '--no-auth-warning']
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError('redis-cli --cluster create failed: %s %s' % (proc.stdout[-2000:], proc.stderr[-2000:]))
    wait_ok(nodes, timeout=timeout, replicas=len(nodes) // (1 + replicas) * replicas)
    return nodes


def wait_ok(nodes, timeout=60, replicas=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = [n.client().execute_command('CLUSTER', 'INFO') for n in nodes]
        if all('cluster_state:ok' in s for s in states):
            # every node must also see every other, or a writer may be sent to a node that does not know the slots yet
            views = [n.client().execute_command('CLUSTER', 'NODES').strip().splitlines() for n in nodes]
            if all(len(view) >= len(nodes) for view in views) and (
                    replicas is None or all(sum(' slave ' in line or ',slave ' in line for line in view) == replicas
                                            for view in views)):
                return
        time.sleep(0.1)
    raise RuntimeError('cluster did not reach cluster_state:ok within %s s' % timeout)


def masters(node):
    """{first slot: 'host:port'} of the masters the node lists."""
    found = {}
    for line in node.client().execute_command('CLUSTER', 'NODES').splitlines():
        parts = line.split()
        if 'master' in parts[2] and len(parts) > 8:
            address = parts[1].split('@')[0].split(',')[0]
            for item in parts[8:]:
                if not item.startswith('['):
                    found[int(item.split('-')[0])] = address
    return found


def client(nodes, password=None):
    return RedisCluster(startup_nodes=[ClusterNode(n.host, n.port) for n in nodes], password=password,
                        decode_responses=True, socket_timeout=15)


def _writer(startup, password, prefix, stop, acked_queue, gaps_queue):
    """Write unique keys across all slots until ``stop``; report the acknowledged ones and each gap (s) between two
    acknowledged writes, with the time it ended, so a caller can tell which gap a failover made."""
    cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in startup], password=password,
                           decode_responses=True, socket_timeout=15, cluster_error_retry_attempts=20)
    acked = []
    gaps = []
    last = time.monotonic()
    number = 0
    while not stop.is_set():
        key = '%s:%d' % (prefix, number)
        number += 1
        try:
            if cluster.set(key, number):
                acked.append(key)
                now = time.monotonic()
                gaps.append((now - last, now, cluster.keyslot(key)))
                last = now
        except Exception:  # any client failure (RedisClusterException is no RedisError): not acknowledged
            time.sleep(0.01)  # not acknowledged: the key is simply not counted
    acked_queue.put(acked)
    gaps_queue.put(gaps)


class ClusterWriter(object):
    """Writer processes (redis-py RedisCluster) busy on every shard; stop() returns the acknowledged keys and gaps."""

    def __init__(self, nodes, password=None, writers=2):
        self.startup = [(n.host, n.port) for n in nodes]
        self.password = password
        self.stop_event = multiprocessing.Event()
        self.acked_queue = multiprocessing.Queue()
        self.gaps_queue = multiprocessing.Queue()
        self.procs = [multiprocessing.Process(target=_writer, args=(
            self.startup, password, 'w%d' % index, self.stop_event, self.acked_queue, self.gaps_queue), daemon=True)
            for index in range(writers)]

    def start(self):
        for proc in self.procs:
            proc.start()
        return self

    def stop(self, timeout=60):
        self.stop_event.set()
        acked, gaps = [], []
        for _proc in self.procs:
            acked.extend(self.acked_queue.get(timeout=timeout))
            gaps.extend(self.gaps_queue.get(timeout=timeout))
        for proc in self.procs:
            proc.join(timeout=timeout)
        return acked, gaps


def missing(nodes, keys, password=None):
    """The keys of ``keys`` that the cluster reached through ``nodes`` does not hold."""
    cluster = client(nodes, password)
    absent = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        pipe = cluster.pipeline()
        for key in chunk:
            pipe.exists(key)
        absent.extend(key for key, found in zip(chunk, pipe.execute()) if not found)
    cluster.close()
    return absent
