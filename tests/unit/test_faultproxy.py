"""Tests of the fault-injecting proxy in tests/faultproxy.py.

Each test puts a proxy in front of a bare loopback listener whose accepted
sockets the test gets (``peer.accept()``), so both ends of every forwarded
connection are plain blocking sockets with timeouts the test drives itself;
one test goes through a real pyredis server. Everything is bounded.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time

import pytest

from faultproxy import FaultProxy

T = 5.0  # the bound on any single wait in these tests


class Peer:
    """A listener on a free loopback port standing in for the master: it
    accepts in a thread and hands the accepted sockets to the test."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted: queue.Queue[socket.socket] = queue.Queue()
        self.all: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                s, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            s.settimeout(T)
            self.all.append(s)
            self.accepted.put(s)

    def accept(self, timeout: float = T) -> socket.socket:
        return self.accepted.get(timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        # shutdown() wakes a blocked accept() at once on Linux; elsewhere the
        # accept timeout ends the thread within 0.1 s.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(T)
        self.sock.close()
        for s in self.all:
            s.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def proxy(peer):
    with FaultProxy(("127.0.0.1", peer.port)) as p:
        yield p


def connect(proxy: FaultProxy) -> socket.socket:
    s = socket.create_connection(proxy.address, timeout=T)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def pair(proxy: FaultProxy, peer: Peer) -> tuple[socket.socket, socket.socket]:
    """A client connected through the proxy and the peer's end of it."""
    client = connect(proxy)
    return client, peer.accept()


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_to_eof(sock: socket.socket) -> bytes:
    buf = bytearray()
    while chunk := sock.recv(1 << 20):
        buf += chunk
    return bytes(buf)


def closed(sock: socket.socket) -> bool:
    """True if the peer closed (EOF or reset) within the socket's timeout;
    whatever data is still in flight is skipped."""
    try:
        while sock.recv(1 << 16):
            pass
        return True
    except ConnectionResetError:
        return True


def connect_and_see_closed(proxy: FaultProxy) -> bool:
    """Connect and check the proxy closes at once; on loopback its reset
    can even arrive before connect() returns."""
    try:
        client = connect(proxy)
    except ConnectionResetError:
        return True
    with client:
        return closed(client)


def sender(sock: socket.socket, data: bytes) -> threading.Thread:
    """sendall in a thread, so the test can read the other end meanwhile."""
    def run():
        try:
            sock.sendall(data)
        except OSError:
            pass  # a test that cuts the link mid-send
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_forwards_one_megabyte_each_way_exactly(proxy, peer):
    up, down = os.urandom(1 << 20), os.urandom(1 << 20)
    client, server = pair(proxy, peer)
    with client, server:
        t1, t2 = sender(client, up), sender(server, down)
        got_down = recv_exact(client, len(down))
        got_up = recv_exact(server, len(up))
        t1.join(T), t2.join(T)
        assert got_up == up
        assert got_down == down
    assert proxy.bytes_up == proxy.conn_bytes_up == len(up)
    assert proxy.bytes_down == proxy.conn_bytes_down == len(down)
    assert proxy.connections == 1


def test_half_close_is_passed_on(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        client.sendall(b"last words")
        client.shutdown(socket.SHUT_WR)
        assert recv_to_eof(server) == b"last words"
        # the other direction still works after the client's EOF
        server.sendall(b"reply")
        server.shutdown(socket.SHUT_WR)
        assert recv_to_eof(client) == b"reply"
    proxy.wait_for_active(0)


def test_delay_holds_each_chunk_and_keeps_order(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        proxy.delay(0.2, "down")
        started = time.monotonic()
        for i in range(5):
            server.sendall(b"%d," % i)
            time.sleep(0.01)
        assert recv_exact(client, 10) == b"0,1,2,3,4,"
        assert time.monotonic() - started >= 0.2
        # up was not delayed; a round trip with both delayed takes both
        proxy.delay(0.15)
        started = time.monotonic()
        client.sendall(b"ping")
        assert recv_exact(server, 4) == b"ping"
        server.sendall(b"pong")
        assert recv_exact(client, 4) == b"pong"
        assert time.monotonic() - started >= 0.3
        proxy.delay(0)
        client.sendall(b"fast")
        assert recv_exact(server, 4) == b"fast"


def test_stall_blocks_the_sender_and_resume_delivers_in_order(proxy, peer):
    client, server = pair(proxy, peer)
    # far more than the loopback socket buffers of the peer, the proxy and
    # the client can hold together, so the peer's sendall must block
    data = os.urandom(32 << 20)
    with client, server:
        proxy.stall()
        t = sender(server, data)
        time.sleep(0.2)
        assert t.is_alive(), "sendall finished although the proxy stopped reading"
        assert proxy.bytes_down == 0
        client.settimeout(0.05)
        with pytest.raises(TimeoutError):
            client.recv(1)
        client.settimeout(T)
        proxy.resume()
        assert recv_exact(client, len(data)) == data
        t.join(T)
        assert not t.is_alive()


def test_stall_one_direction_leaves_the_other(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        proxy.stall("up")
        client.sendall(b"held")
        server.sendall(b"flows")
        assert recv_exact(client, 5) == b"flows"
        server.settimeout(0.1)
        with pytest.raises(TimeoutError):
            server.recv(1)
        server.settimeout(T)
        proxy.resume("up")
        assert recv_exact(server, 4) == b"held"


def test_cut_closes_both_sides_and_new_connections_still_work(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        client.sendall(b"hello")
        assert recv_exact(server, 5) == b"hello"
        assert proxy.cut() == 1
        assert proxy.active == 0
        assert closed(client)
        assert closed(server)
    client, server = pair(proxy, peer)
    with client, server:
        client.sendall(b"again")
        assert recv_exact(server, 5) == b"again"
    assert proxy.connections == 2


def test_refuse_resets_new_connections_without_reaching_the_target(proxy, peer):
    proxy.refuse(True)
    assert connect_and_see_closed(proxy)
    proxy.wait_for_connections(1)
    assert proxy.refused == 1
    assert proxy.connections == 1
    with pytest.raises(queue.Empty):
        peer.accept(timeout=0.1)
    proxy.refuse(False)
    client, server = pair(proxy, peer)
    with client, server:
        server.sendall(b"up again")
        assert recv_exact(client, 8) == b"up again"
    assert proxy.connections == 2


@pytest.mark.parametrize("offset", [0, 1, 4096, 65536 + 7, 300_000])
def test_drop_at_delivers_exactly_offset_bytes_down_then_eof(proxy, peer, offset):
    data = os.urandom(500_000)
    proxy.drop_at(offset)
    client, server = pair(proxy, peer)
    with client, server:
        sender(server, data)
        # the replica also talks meanwhile, so the proxy has unread input on
        # its side when it drops; the delivered bytes must survive that
        client.sendall(b"REPLCONF ACK 0\r\n")
        assert recv_to_eof(client) == data[:offset]
        assert closed(server)
    assert proxy.conn_bytes_down == offset


def test_drop_at_up_and_on_the_current_connection(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        client.sendall(b"x" * 10)
        assert recv_exact(server, 10) == b"x" * 10
        proxy.drop_at(25, "up")  # 10 already went: applies to this connection
        client.sendall(bytes(range(40)))
        assert recv_to_eof(server) == bytes(range(15))
        assert closed(client)
    assert proxy.conn_bytes_up == 25
    # it fired once: the next connection is left alone
    client, server = pair(proxy, peer)
    with client, server:
        client.sendall(b"y" * 100)
        assert recv_exact(server, 100) == b"y" * 100


def test_drop_at_past_the_current_offset_waits_for_the_next_connection(proxy, peer):
    client, server = pair(proxy, peer)
    with client, server:
        server.sendall(b"z" * 50)
        assert recv_exact(client, 50) == b"z" * 50
        proxy.drop_at(20)  # this one is past 20 already
        server.sendall(b"more")
        assert recv_exact(client, 4) == b"more"
    client, server = pair(proxy, peer)
    with client, server:
        server.sendall(b"w" * 50)
        assert recv_to_eof(client) == b"w" * 20


def test_drop_each_cuts_successive_connections_at_their_own_offsets(proxy, peer):
    proxy.drop_each([3, 7])
    for cut in (3, 7, None):
        client, server = pair(proxy, peer)
        with client, server:
            server.sendall(b"q" * 10)
            if cut is None:  # the queue is used up: forwarded whole
                assert recv_exact(client, 10) == b"q" * 10
            else:
                assert recv_to_eof(client) == b"q" * cut


def test_corrupt_at_overwrites_bytes_across_chunks(proxy, peer):
    proxy.corrupt_at(3, b"XY", "down")
    proxy.corrupt_at(1, b"!", "up")
    client, server = pair(proxy, peer)
    with client, server:
        server.sendall(b"abcd")          # 'd' is at offset 3
        assert recv_exact(client, 4) == b"abcX"
        server.sendall(b"efgh")          # 'e' is at offset 4
        assert recv_exact(client, 4) == b"Yfgh"
        client.sendall(b"12345")
        assert recv_exact(server, 5) == b"1!345"


def test_counters_and_waits(proxy, peer):
    assert proxy.wait_for_connections(0, timeout=0.1)
    with pytest.raises(TimeoutError):
        proxy.wait_for_connections(1, timeout=0.05)
    a, sa = pair(proxy, peer)
    b, sb = pair(proxy, peer)
    with a, sa, b, sb:
        proxy.wait_for_connections(2, timeout=T)
        proxy.wait_for_active(2, timeout=T)
        a.sendall(b"1234")
        sb.sendall(b"123456")
        proxy.wait_for_bytes(4, "up", timeout=T)
        proxy.wait_for_bytes(6, "down", timeout=T, current=True)
        assert (proxy.bytes_up, proxy.bytes_down) == (4, 6)
        # "current" is the newest connection: b
        assert (proxy.conn_bytes_up, proxy.conn_bytes_down) == (0, 6)
        assert proxy.forwarded("up") == 4
    proxy.wait_for_active(0, timeout=T)
    assert proxy.connections == 2 and proxy.refused == 0 and proxy.failed == 0


def test_unreachable_target_closes_the_client():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again below: nothing listens
    with FaultProxy(port) as proxy:
        assert connect_and_see_closed(proxy)
        deadline = time.monotonic() + T
        while proxy.failed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.failed == 1


def test_set_target_and_heal(peer):
    other = Peer()
    try:
        with FaultProxy(("127.0.0.1", peer.port)) as proxy:
            proxy.set_target(("127.0.0.1", other.port))
            proxy.delay(5)
            proxy.drop_at(1)
            proxy.heal()
            client, server = pair(proxy, other)
            with client, server:
                server.sendall(b"healed")
                assert recv_exact(client, 6) == b"healed"
    finally:
        other.close()


def test_close_ends_connections_and_thread_and_is_idempotent(peer):
    proxy = FaultProxy(("127.0.0.1", peer.port))
    with pytest.raises(RuntimeError):
        proxy.port
    assert proxy.start() is proxy.start()
    name = f"faultproxy-{proxy.port}"
    assert any(t.name == name for t in threading.enumerate())
    client, server = pair(proxy, peer)
    with client, server:
        proxy.close()
        proxy.close()
        assert not any(t.name == name for t in threading.enumerate())
        assert closed(client)
        assert closed(server)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=T).close()
    with pytest.raises(RuntimeError):
        proxy.start()
    # controls on a closed proxy do not hang
    proxy.stall()
    assert proxy.cut() == 0


def test_through_a_pyredis_server():
    from pyredis.testing import ServerThread

    with ServerThread() as srv, FaultProxy(("127.0.0.1", srv.port)) as proxy:
        import redis

        r = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=T)
        try:
            assert r.set("k", "v")
            assert r.get("k") == b"v"
            proxy.cut()
            # redis-py reconnects once after a reset connection
            assert r.get("k") == b"v"
            assert proxy.connections == 2
        finally:
            r.close()
