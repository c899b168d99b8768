"""The test harness itself: a server whose picked port is taken before it binds it starts on another port."""
import socket

from tests.support.servers import RedisServer


def test_a_server_whose_picked_port_was_taken_starts_on_another_and_an_explicit_port_is_kept():
    # a port picked for a server can be taken before the server binds it: by another test's server, or as the local
    # port of an outgoing connection (the same range). The holder here listens and never answers.
    holder = socket.socket()
    holder.bind(('127.0.0.1', 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    server = RedisServer(password='harness-pw', name='busy-port')
    server.port = busy
    try:
        server.start()
        assert server.port != busy
        assert server.client().info('server')['process_id'] == server.proc.pid
    finally:
        server.stop()
        holder.close()

    holder = socket.socket()
    holder.bind(('127.0.0.1', 0))
    holder.listen(1)
    fixed = RedisServer(name='fixed-port', port=holder.getsockname()[1])
    try:
        try:
            fixed.start()
        except RuntimeError as exc:
            assert 'Address already in use' in str(exc)
        else:
            raise AssertionError('a server given a busy port started elsewhere')
    finally:
        fixed.stop()
        holder.close()
