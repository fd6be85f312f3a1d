"""Garbage on real sockets: a pyredis server fed random, mutated and
hostile frames on many connections at once while a well-behaved client
keeps working. Each garbage connection gets exactly the replies the
reader's reading of its bytes calls for; one that holds a protocol error
gets Redis's ``-ERR Protocol error: ...`` last and is closed by the server
(without our closing first); the good client sees every reply right; the
server answers and holds no client of theirs afterwards."""

from __future__ import annotations

import random
import socket
import threading
import time

import hiredis
import pytest

from pyredis.testing import ServerThread

from . import cases, gen

CONNECTIONS = 240
THREADS = 8


@pytest.fixture(scope="module")
def server():
    srv = ServerThread().start()
    yield srv
    srv.stop()


def _exchange(port: int, data: bytes, half_close: bool) -> tuple[bytes, bool]:
    """Send ``data`` (half-closing after it if asked); return what came
    back and whether the server closed the connection within 10 s."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    out = []
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close on an error before taking it all
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return b"".join(out), False
            except OSError:
                return b"".join(out), True
            if not chunk:
                return b"".join(out), True
            out.append(chunk)
    finally:
        s.close()


def _replies(data: bytes) -> list:
    r = hiredis.Reader()
    r.feed(data)
    out = []
    while (v := r.gets()) is not False:
        out.append(v)
    assert not r.has_data(), f"trailing bytes in the replies: {data[-100:]!r}"
    return out


def _garbage_worker(port: int, seeds: range, failures: list) -> None:
    for seed in seeds:
        rng = random.Random(seed)
        data = b"".join(gen.frames(rng))
        reqs, err, _ = cases.read_all([data])
        try:
            got, closed = _exchange(port, data, half_close=err is None)
            assert closed, "the server did not close the connection"
            replies = _replies(got)
            if err is None:
                assert len(replies) == len(reqs), (len(replies), len(reqs))
                continue
            last = replies[-1]
            assert isinstance(last, hiredis.ReplyError), last
            if not any(s in err for s in cases._CUT_DEPENDENT):
                # Where the error falls does not depend on the reads: the
                # same requests ran before it, and its text is Redis's.
                assert len(replies) == len(reqs) + 1, (len(replies), len(reqs))
                # Compared as bytes: the text may quote one raw input byte.
                expected = b"-ERR " + err.replace("\r", " ").replace("\n", " ").encode(
                    "latin-1") + b"\r\n"
                assert got.endswith(expected), (got[-100:], expected)
            else:
                assert str(last).startswith("ERR Protocol error: "), last
        except AssertionError as e:
            failures.append((seed, data[:200], e))


def _good_client(port: int, stop: threading.Event, result: dict) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = hiredis.Reader()
    n = 0

    def call(*args):
        s.sendall(gen.multibulk([a if isinstance(a, bytes) else str(a).encode() for a in args]))
        while (v := reader.gets()) is False:
            data = s.recv(65536)
            if not data:
                raise ConnectionError("closed")
            reader.feed(data)
        return v

    try:
        call("DEL", "good:counter")
        while not stop.is_set():
            n += 1
            assert call("INCR", "good:counter") == n
            value = b"v%d" % n
            assert call("SET", b"good:%d" % (n % 50), value) == b"OK"
            assert call("GET", b"good:%d" % (n % 50)) == value
            assert call("PING") == b"PONG"
        result["calls"] = n
    except Exception as e:  # reported by the test
        result["error"] = repr(e)
    finally:
        s.close()


def test_garbage_on_many_connections_while_a_good_client_works(server):
    port = server.port
    before = len(server.core.clients)
    stop = threading.Event()
    good: dict = {}
    g = threading.Thread(target=_good_client, args=(port, stop, good), daemon=True)
    g.start()
    failures: list = []
    per = CONNECTIONS // THREADS
    workers = [threading.Thread(target=_garbage_worker,
                                args=(port, range(1000 + i * per, 1000 + (i + 1) * per), failures),
                                daemon=True) for i in range(THREADS)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    stop.set()
    g.join(10)
    assert not any(w.is_alive() for w in workers), "a garbage connection hung"
    assert not failures, "\n".join(f"seed {s}: {d!r}: {e}" for s, d, e in failures[:5])
    assert "error" not in good, good
    assert good["calls"] > 10, good
    assert time.monotonic() - t0 < 90
    # The server goes on, and none of the garbage connections is left.
    deadline = time.monotonic() + 5
    while len(server.core.clients) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.core.clients) == before
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    s.close()
