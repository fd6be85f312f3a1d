"""SLOWLOG, LATENCY, CLIENT PAUSE/UNPAUSE/REPLY and RESET against Redis 6.2."""

from __future__ import annotations

import time

import pytest

from conftest import RawClient


@pytest.fixture
def restore(pyr, ref):
    """Undo the CONFIG SETs a test makes, on both servers."""
    yield
    for port in (pyr.port, ref.port):
        c = RawClient(port)
        try:
            c.call("AUTH", "pw")  # in case a test failed with requirepass set
            c.call("CLIENT", "UNPAUSE")
            for name, value in (("slowlog-log-slower-than", "10000"), ("slowlog-max-len", "128"),
                                ("latency-monitor-threshold", "0"), ("requirepass", "")):
                c.call("CONFIG", "SET", name, value)
            c.call("SLOWLOG", "RESET")
            c.call("LATENCY", "RESET")
        finally:
            c.close()


def _entries(reply):
    """SLOWLOG GET with the fields that differ between servers (time,
    duration, client port) replaced by their types."""
    kind, entries = reply
    assert kind == "*"
    out = []
    for kind, e in entries:
        (_, eid), ts, dur, args, addr, name = e
        assert ts[0] == ":" and abs(ts[1] - time.time()) < 60
        assert dur[0] == ":" and dur[1] >= 0
        assert addr[0] == "$"
        if addr[1] != b"?:0":  # ?:0 is a script's calls
            assert addr[1].startswith(b"127.0.0.1:")
            addr = "client"
        out.append((eid, args, addr, name))
    # Ids count every entry since start-up: compare them relative to the newest.
    return [(e[0] - out[0][0],) + e[1:] for e in out]


def test_slowlog_entries(both, restore):
    both("CONFIG", "SET", "slowlog-log-slower-than", "0")
    both("SLOWLOG", "RESET")
    both("SET", "k", "v")
    both("CLIENT", "SETNAME", "me")
    both("GET", "k")
    both("SET", "long", "x" * 300)
    both("DEL", *[f"key{i}" for i in range(40)])
    both("RPUSH", "l", *[str(i) for i in range(31)])
    both("AUTH", "secret")
    for c in (both.p, both.r):  # the reply names versions and ids
        assert c.call("HELLO", "2", "AUTH", "default", "pw")[0] == "*"
    both("CONFIG", "SET", "masterauth", "pw")
    both("CONFIG", "SET", "masterauth", "")
    both("MULTI")
    both("INCR", "n")
    both("EXEC")
    p = _entries(both.p.call("SLOWLOG", "GET", "-1"))
    r = _entries(both.r.call("SLOWLOG", "GET", "-1"))
    assert p == r
    assert len(p) > 10
    # GET's count (the GET -1 above is the newest entry now), LEN.
    two = _entries(both.p.call("SLOWLOG", "GET", "2"))
    assert two == _entries(both.r.call("SLOWLOG", "GET", "2"))
    assert two[1][1:] == p[0][1:]
    both("SLOWLOG", "GET", "0")
    assert both.p.call("SLOWLOG", "LEN") == both.r.call("SLOWLOG", "LEN")


def test_slowlog_logs_script_calls(both, restore):
    both("CONFIG", "SET", "slowlog-log-slower-than", "0")
    both("SLOWLOG", "RESET")
    both("EVAL", "redis.call('set', KEYS[1], 'b') return redis.call('get', KEYS[1])", "1", "s")
    p, r = both.p.call("SLOWLOG", "GET"), both.r.call("SLOWLOG", "GET")
    assert _entries(p) == _entries(r)
    # A script's own calls come from a client without a socket.
    assert [e[1][4] for e in p[1][:3]] == [("$", b"127.0.0.1:%d" % both.p.sock.getsockname()[1]),
                                          ("$", b"?:0"), ("$", b"?:0")]


def test_slowlog_default_count_and_max_len(both, restore):
    both("CONFIG", "SET", "slowlog-log-slower-than", "0")
    both("CONFIG", "SET", "slowlog-max-len", "3")
    both("SLOWLOG", "RESET")
    for i in range(5):
        both("SET", f"k{i}", "v")
    both("SLOWLOG", "LEN")
    assert _entries(both.p.call("SLOWLOG", "GET")) == _entries(both.r.call("SLOWLOG", "GET"))
    both("CONFIG", "SET", "slowlog-max-len", "128")
    both("CONFIG", "SET", "slowlog-log-slower-than", "0")
    both("SLOWLOG", "RESET")
    for i in range(12):
        both("SET", f"k{i}", "v")
    p, r = both.p.call("SLOWLOG", "GET"), both.r.call("SLOWLOG", "GET")
    assert len(p[1]) == 10
    assert _entries(p) == _entries(r)


def test_slowlog_threshold(both, restore):
    both("CONFIG", "SET", "slowlog-log-slower-than", "-1")
    both("SLOWLOG", "RESET")
    both("SET", "k", "v")
    both("SLOWLOG", "LEN")
    both("CONFIG", "SET", "slowlog-log-slower-than", "100000")
    both("DEBUG", "SLEEP", "0")
    both("SLOWLOG", "LEN")
    both("CONFIG", "SET", "slowlog-log-slower-than", "50000")
    both("DEBUG", "SLEEP", "0.06")
    both("SLOWLOG", "LEN")
    assert _entries(both.p.call("SLOWLOG", "GET")) == _entries(both.r.call("SLOWLOG", "GET"))


def test_slowlog_errors_and_help(both):
    both("SLOWLOG", "HELP")
    both("SLOWLOG", "FOO")
    both("SLOWLOG", "GET", "x")
    both("SLOWLOG", "GET", "1", "2")
    both("SLOWLOG", "LEN", "x")
    both("SLOWLOG")


def test_latency_basics(both, restore):
    both("LATENCY", "HELP")
    both("LATENCY", "RESET")
    both("LATENCY", "LATEST")
    both("LATENCY", "HISTORY", "command")
    both("LATENCY", "GRAPH", "command")
    both("LATENCY", "DOCTOR")
    both("LATENCY", "FOO")
    both("CONFIG", "SET", "latency-monitor-threshold", "20")
    both("DEBUG", "SLEEP", "0.03")
    both("PING")
    for c in (both.p, both.r):
        kind, latest = c.call("LATENCY", "LATEST")
        assert len(latest) == 1
        name, ts, last, worst = latest[0][1]
        assert name == ("$", b"command")
        assert last[1] >= 20 and worst[1] >= last[1]
        kind, hist = c.call("LATENCY", "HISTORY", "command")
        assert len(hist) == 1 and hist[0][1][1][1] >= 20
    both("LATENCY", "RESET", "command", "nosuch")
    both("LATENCY", "LATEST")


# -- CLIENT PAUSE -----------------------------------------------------------------


def test_client_pause_errors(both, restore):
    both("CLIENT", "PAUSE")
    both("CLIENT", "PAUSE", "abc")
    both("CLIENT", "PAUSE", "-1")
    both("CLIENT", "PAUSE", "10", "foo")
    both("CLIENT", "PAUSE", "10", "write", "x")
    both("CLIENT", "UNPAUSE", "x")
    both("CLIENT", "UNPAUSE")


@pytest.mark.parametrize("server", ["pyr", "ref"])
def test_client_pause_write_holds_writes(server, request, restore):
    port = request.getfixturevalue(server).port
    admin, other = RawClient(port), RawClient(port)
    try:
        assert admin.call("CLIENT", "PAUSE", "400", "WRITE") == ("+", b"OK")
        t0 = time.monotonic()
        assert other.call("GET", "nokey") == ("$", None)
        assert time.monotonic() - t0 < 0.2        # reads go on
        assert other.call("SET", "k", "v") == ("+", b"OK")
        assert time.monotonic() - t0 >= 0.3      # the write waited for the pause
        # Held commands are held, in order, until CLIENT UNPAUSE.
        admin.call("CLIENT", "PAUSE", "10000", "WRITE")
        other.send_raw(b"SET k 2\r\nGET k\r\n")
        time.sleep(0.2)
        lines = admin.call("CLIENT", "LIST")[1].decode().splitlines()
        held = [line for line in lines if "flags=b" in line]
        assert len(held) == 1 and " cmd=set " in held[0]
        info = admin.call("INFO", "clients")[1].decode()
        assert "blocked_clients:1\r\n" in info
        assert admin.call("GET", "k") == ("$", b"v")
        assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
        assert other.read() == ("+", b"OK")
        assert other.read() == ("$", b"2")
    finally:
        admin.close()
        other.close()


@pytest.mark.parametrize("server", ["pyr", "ref"])
def test_client_pause_all_holds_everything(server, request, restore):
    port = request.getfixturevalue(server).port
    admin, other = RawClient(port), RawClient(port)
    try:
        t0 = time.monotonic()
        assert admin.call("CLIENT", "PAUSE", "300", "ALL") == ("+", b"OK")
        assert other.call("PING") == ("+", b"PONG")
        assert time.monotonic() - t0 >= 0.25
        # A new pause never shortens the one in place, and WRITE does not
        # weaken ALL.
        admin.call("CLIENT", "PAUSE", "300")
        t0 = time.monotonic()
        admin.send_raw(b"*4\r\n$6\r\nCLIENT\r\n$5\r\nPAUSE\r\n$1\r\n1\r\n$5\r\nWRITE\r\n")
        assert admin.read() == ("+", b"OK")
        assert other.call("GET", "x") == ("$", None)
        assert time.monotonic() - t0 >= 0.2
    finally:
        admin.close()
        other.close()


def test_client_pause_multi(both, restore):
    """WRITE pause: queueing a write inside MULTI is held too (6.2)."""
    for c in (both.p, both.r):
        other = RawClient(c.port)
        try:
            assert other.call("MULTI") == ("+", b"OK")
            assert other.call("GET", "k") == ("+", b"QUEUED")
            c.call("CLIENT", "PAUSE", "250", "WRITE")
            t0 = time.monotonic()
            assert other.call("SET", "k", "v") == ("+", b"QUEUED")
            assert time.monotonic() - t0 >= 0.2
            assert other.call("EXEC")[0] == "*"
        finally:
            other.close()


# -- CLIENT REPLY ---------------------------------------------------------------------


def test_client_reply(both):
    both("CLIENT", "REPLY")
    both("CLIENT", "REPLY", "foo")
    both("CLIENT", "REPLY", "ON")
    # SKIP drops its own reply and the next one; OFF drops until ON.
    both.raw(b"CLIENT REPLY SKIP\r\nPING a\r\nPING b\r\n")
    both.raw(b"CLIENT REPLY OFF\r\nPING c\r\nSET k v\r\nCLIENT REPLY SKIP\r\nPING d\r\n"
             b"CLIENT REPLY ON\r\nGET k\r\n", replies=2)
    both.raw(b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING e\r\nPING f\r\n")
    both.raw(b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING g\r\n", replies=2)
    both.raw(b"CLIENT REPLY SKIP\r\nCLIENT REPLY OFF\r\nPING h\r\nCLIENT REPLY ON\r\n")


def test_client_reply_off_keeps_subscribe_confirmations(both):
    both.raw(b"CLIENT REPLY OFF\r\nSUBSCRIBE chan other\r\n", replies=2)
    both.raw(b"PING\r\nUNSUBSCRIBE chan\r\n")
    both.raw(b"UNSUBSCRIBE\r\n")
    both.raw(b"CLIENT REPLY SKIP\r\nPSUBSCRIBE p*\r\nPUNSUBSCRIBE\r\n", replies=2)
    both.raw(b"CLIENT REPLY ON\r\n")


def test_client_reply_off_keeps_pushes(both):
    """Redis 6.2.14 still delivers pub/sub pushes to a client with replies off."""
    for c in (both.p, both.r):
        pub = RawClient(c.port)
        try:
            # RESP3: a subscribed client may still send CLIENT REPLY.
            c.call("HELLO", "3")
            c.call("SUBSCRIBE", "chan")
            c.send_raw(b"CLIENT REPLY OFF\r\nPING\r\n")
            time.sleep(0.05)
            assert pub.call("PUBLISH", "chan", "pushed") == (":", 1)
            c.send_raw(b"CLIENT REPLY ON\r\n")
            assert c.read() == (">", [("$", b"message"), ("$", b"chan"), ("$", b"pushed")])
            assert c.read() == ("+", b"OK")
            c.call("UNSUBSCRIBE")
            c.call("HELLO", "2")
        finally:
            pub.close()


# -- RESET ----------------------------------------------------------------------------


def test_reset_arity(both):
    both("RESET", "x")


def test_reset_state(both):
    both("SELECT", "3")
    both("CLIENT", "SETNAME", "someone")
    both("WATCH", "w")
    both("MULTI")
    both("SET", "x", "1")
    both("RESET")
    both("EXEC")
    both("CLIENT", "GETNAME")
    both("SET", "indb0", "1")
    both("SELECT", "0")
    both("GET", "indb0")
    both("DEL", "indb0")
    for c in (both.p, both.r):  # HELLO's reply names versions and ids
        assert c.call("HELLO", "3")[0] == "%"
    both("RESET")
    both("HGETALL", "nohash")  # a RESP2 reply again
    both.raw(b"SUBSCRIBE a b\r\nPSUBSCRIBE p*\r\n", replies=3)
    both("RESET")
    both("PING")
    both("PUBSUB", "NUMSUB", "a")
    # RESET's own reply is the one skipped; then replies are back.
    both.raw(b"CLIENT REPLY SKIP\r\nRESET\r\nPING\r\n")
    both.raw(b"CLIENT REPLY OFF\r\nRESET\r\nPING\r\n")


def test_reset_needs_auth_again(both, restore):
    both("CONFIG", "SET", "requirepass", "pw")
    both("AUTH", "pw")
    both("GET", "k")
    both("RESET")
    both("GET", "k")
    both("RESET")
    both("AUTH", "pw")
    both("CONFIG", "SET", "requirepass", "")


def test_reset_leaves_monitor(both):
    for c in (both.p, both.r):
        other = RawClient(c.port)
        try:
            assert c.call("MONITOR") == ("+", b"OK")
            assert c.call("RESET") == ("+", b"RESET")
            other.call("SET", "after", "reset")
            assert c.call("PING") == ("+", b"PONG")
        finally:
            other.close()
