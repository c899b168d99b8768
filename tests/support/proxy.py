"""A TCP proxy on a free loopback port in front of one server, for fault injection.

It forwards bytes both ways until the client side of a connection sends a chosen byte string (a command name or
key), then does to that connection what the test armed it with:

* ``stall``: nothing more goes through, either way, and the held bytes never reach the server (a network that went
  dark). The connection stays open until a side closes it; the server never sees the command.
* ``reset``: the connection is closed at once with a TCP reset, before the command reaches the server.
* ``deliver_then_stall``: the command reaches the server, then nothing more goes through, either way: the server
  acts on it, and its reply never comes back (a network that went dark right after the send).

Other connections, and new ones, go on normally. ``triggered`` is set when the armed action happened, so that a test
can act at that very moment (send a signal, start a clock).
"""
import select
import socket
import struct
import threading

STALL = 'stall'
RESET = 'reset'
DELIVER_THEN_STALL = 'deliver_then_stall'


class StallingProxy(object):
    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, int(upstream_port))
        self.host = '127.0.0.1'
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.triggered = threading.Event()
        self.hits = 0
        self._lock = threading.Lock()
        self._pattern = None
        self._action = None
        self._once = True
        self._closed = False
        self._sockets = []
        self._threads = []

    def start(self):
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def arm(self, pattern, action=STALL, once=True):
        """From now on, the first connection (every one unless ``once``) whose client sends ``pattern`` gets
        ``action``."""
        with self._lock:
            self._pattern, self._action, self._once = pattern, action, once
            self.triggered.clear()

    def disarm(self):
        with self._lock:
            self._pattern = None

    def _match(self, seen):
        with self._lock:
            if self._pattern is None or self._pattern not in seen:
                return None
            action = self._action
            if self._once:
                self._pattern = None
            self.hits += 1
        return action

    def _accept(self):
        while not self._closed:
            try:
                client, dummy = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client, server):
        tail = b''
        stalled = False
        sockets = [client, server]
        try:
            while not self._closed:
                readable, dummy, dummy = select.select(sockets, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if stalled:
                        continue  # dropped: nothing crosses a stalled connection
                    if sock is client:
                        seen = tail + data
                        tail = seen[-256:]
                        action = self._match(seen)
                        if action == RESET:
                            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                            self.triggered.set()
                            return
                        if action == DELIVER_THEN_STALL:
                            server.sendall(data)
                        if action in (STALL, DELIVER_THEN_STALL):
                            stalled = True
                            self.triggered.set()
                            continue
                        server.sendall(data)
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            for sock in sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self):
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
