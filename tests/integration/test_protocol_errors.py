"""Bad and hostile input at the socket: the server answers like Redis, closes
only the offending connection, and goes on.

* A differential fuzzer: hypothesis builds byte strings from request
  frames, inline lines, protocol fragments and mutated frames; each goes to
  pyredis and to real Redis on a new connection that is then half-closed,
  and the whole byte stream that comes back must be identical.
* Robustness: clients that vanish mid-request or reset the connection,
  that never read their replies, that trickle a big value, that pipeline
  before authenticating."""

from __future__ import annotations

import socket
import struct
import time

import hypothesis.strategies as st
import pytest
from conftest import RawClient, ReferenceServer, encode_command
from hypothesis import HealthCheck, given, settings

from pyredis.testing import ServerThread


@pytest.fixture(scope="module")
def servers():
    """Their own pyredis and Redis: the fuzzer's GETs must see the same data."""
    pyr = ServerThread().start()
    ref = ReferenceServer()
    yield pyr, ref
    pyr.stop()
    ref.stop()


def stream(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Everything the server sends back for ``data`` until it closes the
    connection (we half-close ours after sending, so it always does)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(out)
            out.append(chunk)
    finally:
        s.close()


# -- the fuzzer -----------------------------------------------------------------------------------

NAMES = [b"PING", b"ping", b"ECHO", b"GET", b"NOSUCH", b"\xff", b""]
ARGS = [b"", b"k", b"fz", b"a b", b"\r\n", b"\x00", b"*1", b"$", b'"', b"x" * 40]
FRAGMENTS = [b"*", b"$", b"\r", b"\n", b"\r\n", b"\x00", b"+", b":", b"-", b"1", b"-1", b"0", b"01",
             b'"', b"'", b"\\", b" ", b"\t", b"x", b"*1\r\n", b"*2\r\n", b"$3\r\n", b"$-1\r\n",
             b"*-1\r\n", b"*0\r\n", b"\r\n\r\n", b"\\x41", b"*1048577\r\n", b"$abc\r\n"]
SPECIAL = b"*$\r\n\x00+:-0123456789 \"'\\x"

frame = st.builds(lambda name, args: encode_command([name, *args]),
                  st.sampled_from(NAMES), st.lists(st.sampled_from(ARGS), max_size=3))
inline = st.builds(lambda words, end: b" ".join(words) + end,
                   st.lists(st.sampled_from([b"PING", b"ECHO", b"GET", b"fz", b'"a b"', b"'c'",
                                             b'"\\x41"', b'"x', b"y'", b"NOSUCH"]),
                            min_size=0, max_size=3),
                   st.sampled_from([b"\r\n", b"\n"]))


@st.composite
def mutated(draw):
    data = bytearray(draw(frame))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        c = draw(st.sampled_from(SPECIAL))
        if op == "insert" or i == len(data):
            data.insert(i, c)
        elif op == "replace":
            data[i] = c
        else:
            del data[i]
    return bytes(data)


piece = st.one_of(frame, inline, st.sampled_from(FRAGMENTS), mutated())
payload = st.builds(b"".join, st.lists(piece, min_size=1, max_size=6))


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=payload)
def test_fuzz_against_redis(servers, data):
    pyr, ref = servers
    expected = stream(ref.port, data)
    got = stream(pyr.port, data)
    assert got == expected, f"{data!r}:\n pyredis {got!r}\n redis   {expected!r}"


def test_fuzz_corpus(servers):
    """Cases the fuzzer found or that sit on edges, kept as a fixed table."""
    pyr, ref = servers
    for data in [
        b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI",          # EOF inside a request
        b"*2\r\n$4\r\nECHO\r\n$1\r\n\x00\r\n",
        b"*1\r\n$1\r\n\xff\r\n",
        b"ECHO \"\\x41\\x4\"\r\n",
        b"*1\r\n$4\r\nPING\r\r\n",
        b"*1\r\r\n$4\r\nPING\r\n",
        b"$4\r\nPING\r\n",
        b"\x00PING\r\n",
        b"PING\r\nQUIT\r\nPING\r\n",
        b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
    ]:
        assert stream(pyr.port, data) == stream(ref.port, data), data


# -- robustness ----------------------------------------------------------------------------------


def _alive(port: int) -> None:
    c = RawClient(port)
    assert c.call("PING") == ("+", b"PONG")
    c.close()


def test_clients_that_vanish_mid_request(servers):
    pyr, _ = servers
    for data in (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\nabc", b"*2\r\n$3\r\nGET", b"GET k",
                 b"*1\r\n$4\r\nPING\r\n" * 1000 + b"*1\r\n"):
        s = socket.create_connection(("127.0.0.1", pyr.port))
        s.sendall(data)
        s.close()
        # and with a reset instead of a clean close
        s = socket.create_connection(("127.0.0.1", pyr.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(data)
        s.close()
    _alive(pyr.port)
    deadline = time.monotonic() + 5
    while len(pyr.core.clients) > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pyr.core.clients) == 0, "closed connections must leave the client table"


def test_client_that_never_reads_its_replies(servers):
    pyr, _ = servers
    c = RawClient(pyr.port)
    assert c.call("SET", "big", "x" * 100_000) == ("+", b"OK")
    s = socket.create_connection(("127.0.0.1", pyr.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET big\r\n" * 500)      # 50 MB of replies nobody reads
    time.sleep(0.2)
    _alive(pyr.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert c.call("GET", "big")[1] == b"x" * 100_000
    c.close()


def test_big_value_trickled_in_small_writes(servers):
    pyr, _ = servers
    value = bytes(range(256)) * 8192          # 2 MiB
    data = encode_command(["SET", "trickle", value])
    c = RawClient(pyr.port)
    for i in range(0, len(data), 4096):
        c.send_raw(data[i:i + 4096])
    assert c.read() == ("+", b"OK")
    assert c.call("GET", "trickle") == ("$", value)
    c.close()


def test_pipeline_before_auth():
    """Before AUTH requests are parsed one at a time; a long pipeline with
    AUTH in the middle must still run in order and fast."""
    srv = ServerThread(requirepass="pw").start()
    try:
        c = RawClient(srv.port)
        batch = (encode_command(["PING"]) * 300 + encode_command(["AUTH", "pw"])
                 + encode_command(["ECHO", "x"]) * 300 + encode_command(["ECHO", *["a"] * 20]))
        t0 = time.monotonic()
        c.send_raw(batch)
        replies = [c.read() for _ in range(602)]
        assert time.monotonic() - t0 < 5
        assert replies[:300] == [("-", b"NOAUTH Authentication required.")] * 300
        assert replies[300] == ("+", b"OK")
        assert replies[301:601] == [("$", b"x")] * 300
        assert replies[601][0] == "-"    # ECHO with 20 arguments: arity, not a protocol error
        c.close()
    finally:
        srv.stop()


def test_many_bad_clients_at_once(servers):
    pyr, ref = servers
    socks = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", pyr.port))
        s.sendall(b"*1\r\n$x\r\n" if i % 2 else b'ECHO "unbalanced\r\n')
        socks.append(s)
    for s in socks:
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"-ERR Protocol error: ")
        s.close()
    _alive(pyr.port)
