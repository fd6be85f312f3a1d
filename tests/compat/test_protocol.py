"""The wire protocol against real Redis: the same raw bytes go to both
servers, and the replies, and whether the connection is closed, must agree.

Each exchange sends its bytes followed by an inline ``ECHO`` sentinel on a
fresh connection and reads replies until the sentinel's answer (the
connection stayed open) or the end of the stream (the server closed it after
a protocol error, dropping what followed)."""

from __future__ import annotations

import socket

import pytest
from conftest import ReferenceServer, RawClient, encode_command

from pyredis.commands import COMMANDS
from pyredis.testing import ServerThread

SENTINEL = (b"ECHO sentinel-7f3a\r\n", ("$", b"sentinel-7f3a"))
# Before AUTH only AUTH, HELLO and QUIT run: a HELLO that fails the same way.
UNAUTH_SENTINEL = (b"HELLO sentinel\r\n",
                   ("-", b"ERR Protocol version is not an integer or out of range"))


def enc(*args) -> bytes:
    return encode_command(args)


def exchange(port: int, data: bytes, sentinel=SENTINEL):
    """(replies, closed) for ``data`` sent on a new connection."""
    c = RawClient(port, timeout=10)
    try:
        c.send_raw(data + (sentinel[0] if sentinel else b""))
        replies = []
        while True:
            try:
                r = c.read()
            except ConnectionError:
                return replies, True
            if sentinel and r == sentinel[1]:
                return replies, False
            replies.append(r)
    finally:
        c.close()


def same(pyr_port: int, ref_port: int, data: bytes, sentinel=SENTINEL):
    expected = exchange(ref_port, data, sentinel)
    got = exchange(pyr_port, data, sentinel)
    assert got == expected, f"{data[:80]!r}: pyredis {got!r} != redis {expected!r}"
    return got


@pytest.fixture
def watcher(pyr, ref):
    """A client on each server that must not notice the others' errors."""
    p, r = RawClient(pyr.port), RawClient(ref.port)
    assert p.call("SET", "watch", "1") == r.call("SET", "watch", "1")
    yield
    for c in (p, r):
        assert c.call("PING") == ("+", b"PONG")
        assert c.call("GET", "watch") == ("$", b"1")
        c.close()


# -- well-formed and odd-but-valid input ---------------------------------------------

OPEN = [
    b"PING\r\n",
    b"PING\n",
    b"\r\n\n\r\nPING\r\n",
    b"   \r\n",
    b"  ECHO   a  \r\n",
    b"ECHO\ta\r\n",
    b'ECHO "a b"\r\n',
    b"ECHO 'it\\'s'\r\n",
    b'ECHO "\\x41\\n\\t\\\\\\""\r\n',
    b'ECHO "\\X41"\r\n',
    b'ECHO ""\r\n',
    b"ECHO a\x0bb\r\n",
    b'ECHO "a"\x0bb\r\n',
    b"PI\rNG\r\n",
    b"NOSUCH a b\r\n",
    enc(b"\xff\xfe", b"\xe9" * 70, "b"),      # raw bytes in the unknown-command error
    enc("NO\x00SUCH", "a\x00b", "\x00"),       # ... cut at NUL as C strings are
    enc("X", *["abcdefghij"] * 20),           # ... up to 128 bytes of arguments
    b"ping\r\nPiNg\r\n",
    b"*0\r\n*-1\r\n*-5\r\n" + enc("PING"),
    b"*1\rx$4\r\nPING\r\n",
    b"*1\r\n$4\rxPING\r\n",
    b"*1\r\n$1\r\nabcPING\r\n",
    enc("ECHO", b"a\r\nb\x00c*$+\n"),
    enc("ECHO", ""),
    enc("ECHO", "x" * 100000),
    enc("SET", "k", "v") + b"GET k\r\n" + enc("GET", "k") + b"\r\n" + b"PING\n",
    b"".join(enc("ECHO", str(i)) if i % 2 else b"ECHO %d\r\n" % i for i in range(500)),
    b"PING\r\n" + enc("PING") + b"~1\r\n$4\r\nPING\r\n",
    enc("PING") + b"+PING\r\n:1\r\n-ERR x\r\n_\r\n",
]


@pytest.mark.parametrize("data", OPEN, ids=[repr(d[:30]) for d in OPEN])
def test_open(pyr, ref, watcher, data):
    replies, closed = same(pyr.port, ref.port, data)
    assert not closed


def test_one_byte_at_a_time(pyr, ref):
    data = (enc("SET", "k", "v") + b'ECHO "a b"\r\n' + enc("GET", "k") + b"*0\r\n"
            + enc("ECHO", "x" * 300))
    out = []
    for port in (ref.port, pyr.port):
        c = RawClient(port)
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])
        out.append([c.read() for _ in range(4)])
        assert c.call("PING") == ("+", b"PONG")
        c.close()
    assert out[0] == out[1]


def test_pipelined_batch_in_one_write(both):
    batch = b"".join(enc("SET", "k%d" % i, "v%d" % i) for i in range(200))
    batch += b"".join(b"GET k%d\r\n" % i for i in range(200))
    replies = both.raw(batch, replies=400)
    assert replies[0] == ("+", b"OK") and replies[-1] == ("$", b"v199")


# -- malformed input: an error, then the connection is closed ---------------------------

BAD = [
    b"*abc\r\n",
    b"*\r\n",
    b"* 1\r\n",
    b"*+1\r\n",
    b"*01\r\n",
    b"*-0\r\n",
    b"*1\n\r\n",
    b"*99999999999999999999\r\n",
    b"*1048577\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$\r\n",
    b"*1\r\n$01\r\na\r\n",
    b"*1\r\n$ 1\r\na\r\n",
    b"*1\r\n$abc\r\n",
    b"*1\r\n$99999999999999999999\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n",
    b"*1\r\n+PING\r\n",
    b"*1\r\n(12\r\n",
    b"*1\r\n*1\r\n$4\r\nPING\r\n",
    b"*1\r\n\r\n",
    b"*1\r\n\xff\r\n",
    b'SET k "abc\r\n',
    b"SET k 'abc\r\n",
    b'ECHO "a"b\r\n',
    b"ECHO 'a'b\r\n",
    b'ECHO "abc\\"\r\n',
]


@pytest.mark.parametrize("bad", BAD, ids=[repr(d[:30]) for d in BAD])
def test_malformed(pyr, ref, watcher, bad):
    # requests before the bad frame run; what follows it is never read
    data = enc("SET", "k", "before") + b"GET k\r\n" + bad + enc("SET", "k", "after")
    replies, closed = same(pyr.port, ref.port, data)
    assert closed
    assert replies[-1][0] == "-" and replies[-1][1].startswith(b"ERR Protocol error: ")
    assert len(replies) == 3
    both_get = [RawClient(p).call("GET", "k") for p in (pyr.port, ref.port)]
    assert both_get == [("$", b"before")] * 2


@pytest.mark.parametrize("data", [
    b"x" * 70000,                   # too big inline request
    b"*" + b"1" * 70000,            # too big mbulk count string
    b"*1\r\n$" + b"1" * 70000,      # too big bulk count string
], ids=["inline", "mbulk-count", "bulk-count"])
def test_too_big_lines(pyr, ref, watcher, data):
    replies, closed = same(pyr.port, ref.port, data, sentinel=None)
    assert closed and len(replies) == 1 and replies[0][0] == "-"


WAITING = [
    b"*1048576\r\n",                            # a huge request announced
    b"PING\x00\r\n",                            # NUL hides the end of the line
    b"*1\r\n$\x004\r\nPING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc",      # unfinished
]


def test_waiting_for_more(pyr, ref):
    conns = [RawClient(p) for p in (pyr.port, ref.port) for _ in WAITING]
    for c, data in zip(conns, WAITING * 2):
        c.send_raw(data)
    wait = 0.3
    for c in conns:
        assert not c.is_closed(wait=wait)
        assert c.parser.get() is None  # no reply either
        c.close()
        wait = 0.01


# -- limits that need their own servers ---------------------------------------------------------


def _pair(**opts):
    ref = ReferenceServer(*[x for k, v in opts.items() for x in ("--" + k.replace("_", "-"), v)])
    pyr = ServerThread(**opts).start()
    return pyr, ref


@pytest.fixture(scope="module")
def bulk_limited():
    pyr, ref = _pair(proto_max_bulk_len="1mb")
    yield pyr.port, ref.port
    pyr.stop()
    ref.stop()


@pytest.fixture(scope="module")
def qbuf_limited():
    pyr, ref = _pair(client_query_buffer_limit="1mb")
    yield pyr.port, ref.port
    pyr.stop()
    ref.stop()


def test_proto_max_bulk_len(bulk_limited):
    pyr_port, ref_port = bulk_limited
    mb = 1024 * 1024
    same(pyr_port, ref_port, enc("SET", "k", b"x" * mb))
    # Only the start of the oversized value is sent: were the client still
    # sending when the server closes, either server's kernel could answer
    # with a reset that destroys the replies before they are read.
    replies, closed = same(pyr_port, ref_port, enc("PING") + b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"
                           b"$%d\r\n" % (mb + 1) + b"x" * 1000)
    assert closed and replies == [("+", b"PONG"), ("-", b"ERR Protocol error: invalid bulk length")]
    # the header alone is enough
    replies, closed = same(pyr_port, ref_port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (mb + 1))
    assert closed


def test_query_buffer_limit(qbuf_limited):
    """An unfinished request may not hold more than the limit: the client is
    closed without a reply; complete requests never count."""
    pyr_port, ref_port = qbuf_limited
    for port in (pyr_port, ref_port):
        c = RawClient(port)
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000000\r\n")
        try:
            for _ in range(40):
                c.send_raw(b"x" * 65536)
        except OSError:
            pass  # closed while we were still sending
        assert c.is_closed(wait=5)
        assert c.parser.get() is None
        c.close()
    same(pyr_port, ref_port, enc("SET", "k", b"x" * 900000) * 4 + enc("GET", "k"))


@pytest.fixture(scope="module")
def secured():
    ref = ReferenceServer("--requirepass", "s3cret")
    pyr = ServerThread(requirepass="s3cret").start()
    yield pyr.port, ref.port
    pyr.stop()
    ref.stop()


def test_unauthenticated_multibulk_length(secured):
    pyr_port, ref_port = secured

    def check(data):
        return same(pyr_port, ref_port, data, UNAUTH_SENTINEL)

    eleven = enc(*["x"] * 11)
    ten = enc(*["x"] * 10)
    assert check(ten)[0][0][1].startswith(b"ERR unknown command")
    assert check(enc("GET", "k"))[0] == [("-", b"NOAUTH Authentication required.")]
    replies, closed = check(eleven)
    assert closed and replies == [("-", b"ERR Protocol error: unauthenticated multibulk length")]
    # AUTH earlier in the same packet lifts the limit for what follows ...
    replies, closed = same(pyr_port, ref_port, enc("AUTH", "s3cret") + eleven + b"PING\r\n")
    assert not closed and replies[-1] == ("+", b"PONG")
    # ... a failed one does not
    replies, closed = check(enc("AUTH", "nope") + eleven)
    assert closed
    # inline commands are not limited
    assert not check(b"x " * 20 + b"\r\n")[1]


# -- HELLO ---------------------------------------------------------------------------------------


_UNCOMPARED = (("$", b"id"), ("$", b"version"))


def _masked(reply):
    """A HELLO reply with the connection id and the version left out (they
    differ: pyredis speaks for the Redis version it implements)."""
    kind, body = reply
    if kind == "%":
        return kind, [(k, v if k not in _UNCOMPARED else None) for k, v in body]
    if kind == "*":
        out = list(body)
        for i in range(0, len(out) - 1, 2):
            if out[i] in _UNCOMPARED:
                out[i + 1] = None
        return kind, out
    return reply


def hello(both, *args):
    expected = _masked(both.r.call("HELLO", *args))
    got = _masked(both.p.call("HELLO", *args))
    assert got == expected, f"HELLO {args}: pyredis {got!r} != redis {expected!r}"
    return got


def test_hello_switches_protocol(both):
    assert hello(both)[0] == "*"
    assert hello(both, "3")[0] == "%"
    both("GET", "missing")                   # null: _
    both("SET", "k", "v")
    both("GET", "k")
    both("PING")
    both("ECHO", "x")
    both("NOSUCH")
    both("GET")
    assert hello(both)[0] == "%"             # stays RESP3
    assert hello(both, "2")[0] == "*"
    both("GET", "missing")                   # null: $-1


def test_hello_errors(both):
    for args in (("4",), ("1",), ("0",), ("-1",), ("abc",), ("2.5",), ("4", "FOO"), ("3", "FOO"),
                 ("3", "AUTH"), ("3", "AUTH", "default"), ("3", "AUTH", "bob", "x"),
                 ("3", "setname"), ("3", "SETNAME", "a b"), ("AUTH", "default", "x")):
        assert hello(both, *args)[0] == "-"
    # a failed HELLO leaves the protocol as it was
    both("GET", "missing")


def test_hello_setname(both):
    hello(both, "3", "SETNAME", "first", "SETNAME", "second")
    hello(both, "2", "SETNAME", "")
    if "client" in COMMANDS:
        both("CLIENT", "GETNAME")


def test_auth_default_user_without_password(both):
    hello(both, "3", "AUTH", "default", "anything")
    both("AUTH", "default", "anything")


def test_hello_auth(secured):
    pyr_port, ref_port = secured

    class Pair:
        p = RawClient(pyr_port)
        r = RawClient(ref_port)

    b = Pair()
    for args in (("3",), ("3", "AUTH", "default", "wrong"), ("3", "AUTH", "bob", "s3cret"),
                 ("2", "SETNAME", "x")):
        assert hello(b, *args)[0] == "-"
    assert b.p.call("GET", "k") == b.r.call("GET", "k") == ("-", b"NOAUTH Authentication required.")
    assert hello(b, "3", "AUTH", "default", "s3cret", "SETNAME", "me")[0] == "%"
    assert b.p.call("GET", "missing") == b.r.call("GET", "missing") == ("_", None)
    # AUTH with only a password, and the two-argument form
    for c in (RawClient(pyr_port), RawClient(ref_port)):
        assert c.call("AUTH", "wrong")[0] == "-"
        assert c.call("AUTH", "s3cret") == ("+", b"OK")
        assert c.call("AUTH", "default", "s3cret") == ("+", b"OK")
        c.close()


# -- RESP3 shapes of other commands, as they land --------------------------------------------------

RESP3_CASES = [
    ("hset", [("HSET", "h", "a", "1", "b", "2"), ("HGETALL", "h"), ("HGETALL", "nokey")]),
    ("zadd", [("ZADD", "z", "1.5", "m", "inf", "n"), ("ZSCORE", "z", "m"), ("ZSCORE", "z", "n"),
              ("ZSCORE", "z", "nomember"), ("ZRANGE", "z", "0", "-1", "WITHSCORES")]),
    ("sadd", [("SADD", "s", "a"), ("SMEMBERS", "s"), ("SMEMBERS", "nokey")]),
    ("incrbyfloat", [("INCRBYFLOAT", "f", "1.5")]),
    ("mget", [("SET", "a", "1"), ("MGET", "a", "nokey")]),
    ("lpop", [("LPOP", "nolist"), ("LPOP", "nolist", "2")]),
    ("config", [("CONFIG", "GET", "maxmemory")]),
    ("info", [("INFO", "nosuchsection")]),
]


@pytest.mark.parametrize("cmd,calls", RESP3_CASES, ids=[c for c, _ in RESP3_CASES])
def test_resp3_shapes(both, cmd, calls):
    if cmd not in COMMANDS:
        pytest.skip(f"{cmd.upper()} not implemented yet")
    for proto in ("3", "2"):
        hello(both, proto)
        for c in calls:
            both(*c)


def test_other_clients_survive_a_storm_of_bad_frames(pyr, ref, watcher):
    for bad in BAD[:10]:
        for port in (pyr.port, ref.port):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(bad)
            s.close()
