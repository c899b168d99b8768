"""Clients that write while a migration runs and remember every write the server acknowledged.

One harness for the integration tests and the demo: threads SET unique keys on
the source; when the fenced source refuses a write (READONLY from a source that
became a replica, NOREPLICAS from the min-replicas fence) a thread moves to the
new primary, if one is given. ``missing_on(server)`` then lists acknowledged
writes the server does not hold: a lost write.
"""
import threading
import time

import redis


def refused_by_fence(exc):
    """True for the errors a fenced source answers with. redis-py raises ReadOnlyError and drops the READONLY word."""
    text = str(exc).upper()
    return isinstance(exc, redis.exceptions.ReadOnlyError) or 'READONLY' in text or 'NOREPLICAS' in text


class LiveWriters(object):
    """``count`` threads writing ``<prefix><n>:<i>`` keys to ``source`` until stopped.

    Use as a context manager (starts, and on exit lets the writes run ``settle``
    seconds more before stopping) or call start()/stop().
    """

    def __init__(self, source, new_primary=None, count=1, prefix='w', pause=0.0, settle=0.2):
        self.source, self.new_primary = source, new_primary
        self.prefix, self.pause, self.settle = prefix, pause, settle
        self.acked = [[] for dummy in range(count)]
        self.refusals = []
        self.errors = []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(count)]

    def _write(self, n):
        client = self.source.client()
        number = 0
        while not self._stop.is_set():
            key = '%s%d:%d' % (self.prefix, n, number)
            try:
                client.set(key, number)
            except redis.exceptions.ResponseError as exc:
                if not refused_by_fence(exc):
                    self.errors.append(repr(exc))
                    return
                self.refusals.append('%s: %s' % (type(exc).__name__, exc))
                if self.new_primary is None:
                    return
                client = self.new_primary.client()
                continue
            except redis.RedisError as exc:
                self.errors.append(repr(exc))
                return
            self.acked[n].append(key)
            number += 1
            if self.pause:
                time.sleep(self.pause)

    @property
    def all_acked(self):
        return [key for keys in self.acked for key in keys]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def __enter__(self):
        self.start()
        time.sleep(self.settle)
        return self

    def __exit__(self, *exc):
        time.sleep(self.settle)
        self.stop()

    def missing_on(self, server):
        """(acknowledged keys the server lacks, how many were acknowledged)."""
        keys = self.all_acked
        pipe = server.client().pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [key for key, found in zip(keys, pipe.execute()) if not found], len(keys)
