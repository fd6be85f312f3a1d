"""Keyspace notifications against the reference: the same commands with
the same ``notify-keyspace-events`` must publish the same messages, in the
same order, on ``__keyspace@<db>__:<key>`` and ``__keyevent@<db>__:<event>``.

A subscriber on ``__key*@*__:*`` collects everything on both servers until
a sentinel message published on a channel the same pattern matches, and
the two sequences are compared whole.
"""

from __future__ import annotations

import time

import pytest

from pyredis.notify import NOTIFY_ALL, NOTIFY_KEY_MISS, effective_flags, parse_classes
from test_pubsub import Twin

_SENTINEL = b"__keysentinel@0__:end"


class Events:
    """A subscriber twin and a command twin, with one notify setting."""

    def __init__(self, pyr, ref) -> None:
        self.sub = Twin(pyr.port, ref.port)
        self.cmd = Twin(pyr.port, ref.port)
        self.sub.call("PSUBSCRIBE", "__key*@*__:*")

    def config(self, classes: str) -> None:
        self.cmd.call("CONFIG", "SET", "notify-keyspace-events", classes)

    def run(self, *commands) -> list:
        """Run ``commands`` (tuples) on both servers, then compare what the
        subscriber heard. Returns pyredis's messages as (channel, payload)."""
        for c in commands:
            self.cmd.call(*c)
        self.cmd.call("PUBLISH", _SENTINEL, "end")
        got, exp = _until_sentinel(self.sub.p), _until_sentinel(self.sub.r)
        assert got == exp, f"pyredis heard {got!r}\nredis heard {exp!r}"
        return got

    def close(self) -> None:
        self.sub.close()
        self.cmd.close()


def _until_sentinel(client) -> list:
    out = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kind, items = client.read()  # the socket timeout bounds each read
        assert kind == "*" and items[0] == ("$", b"pmessage"), (kind, items)
        channel, payload = items[2][1], items[3][1]
        if channel == _SENTINEL:
            return out
        out.append((channel, payload))
    raise AssertionError("no sentinel")


@pytest.fixture
def events(pyr, ref):
    e = Events(pyr, ref)
    yield e
    # The servers are shared by the session: leave notifications off.
    e.config("")
    e.close()


def _space(key, event, db=0):
    return (b"__keyspace@%d__:%b" % (db, key), event)


def _event(key, event, db=0):
    return (b"__keyevent@%d__:%b" % (db, event), key)


# -- configuration ---------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "KEA", "AKE", "A", "K", "E", "Kx", "Ex", "g$lshzxetmd", "KEAm", "Em", "Kt", "Kd", "$$", "",
    "KEAn", "n", "Kq", "KE A", "a",
])
def test_config_set_and_get(both, value):
    both("CONFIG", "SET", "notify-keyspace-events", value)
    both("CONFIG", "GET", "notify-keyspace-events")
    both("CONFIG", "SET", "notify-keyspace-events", "")


def test_flag_parsing_matches_config():
    assert parse_classes("A") == NOTIFY_ALL
    assert not parse_classes("A") & NOTIFY_KEY_MISS
    assert parse_classes("q") is None
    # Classes without K or E publish nothing, so the fast test sees 0.
    assert effective_flags(parse_classes("A")) == 0
    assert effective_flags(parse_classes("KA")) == parse_classes("KA")


def test_off_by_default_and_cheap(pyr, raw_pyr):
    raw_pyr.call("CONFIG", "SET", "notify-keyspace-events", "")
    assert pyr.core.ks.notify_flags == 0
    raw_pyr.call("CONFIG", "SET", "notify-keyspace-events", "g$")
    assert pyr.core.ks.notify_flags == 0
    raw_pyr.call("CONFIG", "SET", "notify-keyspace-events", "Eg")
    assert pyr.core.ks.notify_flags != 0
    raw_pyr.call("CONFIG", "SET", "notify-keyspace-events", "")
    assert pyr.core.ks.notify_flags == 0


# -- events ------------------------------------------------------------------------


def test_nothing_when_off(events):
    events.config("")
    assert events.run(("SET", "a", "1"), ("DEL", "a"), ("GET", "a")) == []
    events.config("A")
    assert events.run(("SET", "a", "1"), ("DEL", "a")) == []
    events.config("KE")
    assert events.run(("SET", "a", "1"), ("DEL", "a")) == []


def test_keyspace_and_keyevent_channels(events):
    events.config("KEA")
    got = events.run(("SET", "k", "v"))
    assert got == [_space(b"k", b"set"), _event(b"k", b"set")]
    events.config("K$")
    assert events.run(("SET", "k", "v")) == [_space(b"k", b"set")]
    events.config("E$")
    assert events.run(("SET", "k", "v")) == [_event(b"k", b"set")]
    events.config("Eg")
    assert events.run(("SET", "k", "v"), ("DEL", "k")) == [_event(b"k", b"del")]


def test_generic_events(events):
    events.config("KEA")
    events.run(
        ("SET", "a", "1"), ("SET", "b", "2"), ("SET", "c", "3"),
        ("DEL", "a", "nosuch", "b"),
        ("UNLINK", "c"),
        ("SET", "e", "1"),
        ("EXPIRE", "e", "100"), ("PEXPIRE", "e", "100000"), ("EXPIREAT", "e", "99999999999"),
        ("PERSIST", "e"), ("PERSIST", "e"),
        ("EXPIRE", "nosuch", "10"),
        ("PEXPIRE", "e", "-1"),
        ("SET", "r", "1"),
        ("RENAME", "r", "r2"), ("RENAME", "r2", "r2"), ("RENAMENX", "r2", "r3"),
        ("SET", "r4", "x"), ("RENAMENX", "r3", "r4"),
        ("MOVE", "r3", "5"),
        ("SELECT", "5"), ("DEL", "r3"), ("SET", "in5", "x"), ("SELECT", "0"),
        ("MOVE", "nosuch", "3"),
    )
    events.cmd.call("SELECT", "5")
    events.cmd.call("FLUSHDB")
    events.cmd.call("SELECT", "0")


def test_string_events(events):
    events.config("KEA")
    events.run(
        ("SET", "s", "1"), ("SET", "s", "2", "EX", "100"), ("SET", "s", "3", "KEEPTTL"),
        ("SET", "s", "4", "PX", "100000", "GET"), ("SET", "s", "5", "NX"), ("SET", "s", "6", "XX"),
        ("SET", "new", "x", "XX"), ("SET", "s", "7", "EXAT", "99999999999"),
        ("SETNX", "s", "x"), ("SETNX", "s2", "x"),
        ("SETEX", "s3", "100", "v"), ("PSETEX", "s3", "100000", "v"),
        ("GETSET", "s3", "w"),
        ("MSET", "m1", "1", "m2", "2"), ("MSETNX", "m3", "1", "m4", "2"), ("MSETNX", "m3", "1"),
        ("APPEND", "s", "x"), ("APPEND", "ap", "y"), ("APPEND", "ap", "z"),
        ("SETRANGE", "s", "0", "x"), ("SETRANGE", "s", "10", ""), ("SETRANGE", "sr", "0", ""),
        ("SETRANGE", "sr", "2", "ab"),
        ("INCR", "n"), ("INCRBY", "n", "2"), ("DECR", "n"), ("DECRBY", "n", "5"),
        ("INCR", "s"),
        ("INCRBYFLOAT", "n", "1.5"),
        ("SETBIT", "bb", "1", "1"), ("SETBIT", "bb", "1", "1"),
        ("BITOP", "OR", "bo", "bb"), ("BITOP", "AND", "bo", "nosuch"), ("BITOP", "AND", "bo", "x"),
        ("BITFIELD", "bf", "SET", "u8", "0", "1"), ("BITFIELD", "bf", "GET", "u8", "0"),
        ("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "10"),
        ("GET", "s"), ("STRLEN", "s"), ("MGET", "s", "nosuch"),
    )


def test_keymiss_events(events):
    events.config("KEm")
    events.run(
        ("GET", "nosuch"), ("EXISTS", "nosuch", "nosuch2"), ("TYPE", "nosuch"), ("TTL", "nosuch"),
        ("PTTL", "nosuch"), ("MGET", "a", "b"), ("STRLEN", "x"), ("GETRANGE", "x", "0", "1"),
        ("GETBIT", "x", "1"), ("BITCOUNT", "x"), ("SET", "k", "v", "GET"), ("GETSET", "k2", "v"),
        ("INCR", "n"), ("APPEND", "ap", "x"), ("DEL", "nosuch"), ("EXPIRE", "nosuch", "1"),
        ("RENAME", "nosuch", "x"), ("PERSIST", "nosuch"),
        ("GET", "k"),
    )
    events.config("KEA")
    events.run(("GET", "nosuch"), ("EXISTS", "nosuch"))


def test_expired_events(events):
    events.config("KEAm")
    # One key at a time: Redis's active expiry samples keys at random, so
    # two keys due together may expire in either order.
    for key, setup in ((b"lazy", [("SET", "lazy", "v", "PX", "20")]),
                       (b"e2", [("SET", "e2", "v"), ("PEXPIRE", "e2", "20")])):
        events.run(*setup)
        time.sleep(0.15)
        # Whether active or lazy expiry removes it first, the messages are
        # the same: expired (once), then the misses of the reads.
        got = events.run(("GET", key), ("EXISTS", key))
        assert got[:2] == [_space(key, b"expired"), _event(key, b"expired")]


def test_active_expiry_publishes(events):
    events.config("Ex")
    events.cmd.call("SET", "gone", "v", "PX", "10")
    # Nothing touches the key: only the servers' cycles can expire it
    # (each read is bounded by the socket timeout).
    heard = []
    for side in (events.sub.p, events.sub.r):
        kind, items = side.read()
        heard.append(items[2:])
    assert heard[0] == heard[1] == [("$", b"__keyevent@0__:expired"), ("$", b"gone")]


def test_events_in_other_databases(events):
    events.config("KEA")
    events.run(("SELECT", "3"), ("SET", "k", "v"), ("DEL", "k"), ("SET", "m", "v"),
               ("MOVE", "m", "4"), ("SELECT", "4"), ("DEL", "m"), ("SELECT", "0"))


def test_events_inside_multi(events):
    events.config("KEA")
    events.run(("MULTI",), ("SET", "t", "1"), ("INCR", "t"), ("EXPIRE", "t", "10"),
               ("DEL", "t"), ("EXEC",))


def test_resp3_subscriber_gets_pushes(pyr, ref, events):
    events.config("KEA")
    s = Twin(pyr.port, ref.port)
    try:
        s.p.call("HELLO", "3")
        s.r.call("HELLO", "3")
        s.call("SUBSCRIBE", "__keyevent@0__:set")
        events.cmd.call("SET", "x", "1")
        assert s.read()[0] == ">"
        # The client's own writes notify it too, before their replies.
        s.send("SET", "y", "2")
        s.send("GET", "y")
        s.read_n(3)
    finally:
        s.close()
    events.run()


# -- data types: each runs once its module publishes events ------------------------

_TYPE_SEQUENCES = {
    "lists": [
        ("LPUSH", "l", "1", "2"), ("RPUSH", "l", "3"), ("LPUSHX", "l", "0"), ("RPUSHX", "l", "4"),
        ("LPUSHX", "nol", "x"), ("LINSERT", "l", "BEFORE", "1", "x"), ("LINSERT", "l", "AFTER", "zz", "y"),
        ("LSET", "l", "0", "y"), ("LREM", "l", "0", "y"), ("LREM", "l", "0", "zz"),
        ("LTRIM", "l", "0", "3"), ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "1"),
        ("RPOPLPUSH", "l", "l2"), ("LMOVE", "l2", "l3", "LEFT", "RIGHT"), ("RPOP", "l3"),
        ("RPUSH", "b", "1"), ("BLPOP", "b", "0.01"), ("LPOP", "nosuch"),
    ],
    "hashes": [
        ("HSET", "h", "a", "1", "b", "2"), ("HMSET", "h", "c", "3"), ("HSETNX", "h", "a", "9"),
        ("HSETNX", "h", "d", "4"), ("HINCRBY", "h", "a", "1"), ("HINCRBYFLOAT", "h", "a", "0.5"),
        ("HDEL", "h", "nosuch"), ("HDEL", "h", "a", "b"), ("HDEL", "h", "c", "d"), ("HGET", "h", "a"),
    ],
    "sets": [
        ("SADD", "s", "a", "b", "c"), ("SADD", "s", "a"), ("SREM", "s", "a"), ("SREM", "s", "zz"),
        ("SMOVE", "s", "s2", "b"), ("SMOVE", "s", "s2", "c"), ("SINTERSTORE", "s3", "s2"),
        ("SUNIONSTORE", "s4", "s2", "s3"), ("SDIFFSTORE", "s5", "s2", "s3"),
        ("SUNIONSTORE", "s4", "nosuch"), ("SPOP", "s4"), ("SADD", "one", "x"), ("SPOP", "one"),
    ],
    "zsets": [
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"), ("ZADD", "z", "1", "a"),
        ("ZADD", "z", "INCR", "1", "a"), ("ZINCRBY", "z", "1", "a"), ("ZREM", "z", "a"),
        ("ZREMRANGEBYSCORE", "z", "2", "2"), ("ZREMRANGEBYLEX", "z", "(z", "+"),
        ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZUNIONSTORE", "z2", "1", "z"),
        ("ZINTERSTORE", "z3", "1", "z"), ("ZREMRANGEBYRANK", "z", "0", "-1"),
        ("ZUNIONSTORE", "z2", "1", "nosuch"),
    ],
    "streams": [
        ("XADD", "x", "1-1", "f", "v"), ("XADD", "x", "MAXLEN", "1", "2-1", "f", "v"),
        ("XTRIM", "x", "MAXLEN", "5"), ("XTRIM", "x", "MAXLEN", "0"), ("XADD", "x", "3-1", "f", "v"),
        ("XDEL", "x", "3-1"), ("XDEL", "x", "9-9"), ("XGROUP", "CREATE", "x", "g", "$"),
        ("XGROUP", "CREATECONSUMER", "x", "g", "c"),
        ("XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "STREAMS", "x", ">"),
        ("XGROUP", "DELCONSUMER", "x", "g", "c"), ("XGROUP", "SETID", "x", "g", "0"),
        ("XSETID", "x", "5-0"), ("XGROUP", "DESTROY", "x", "g"), ("DEL", "x"),
    ],
}


@pytest.mark.parametrize("module", sorted(_TYPE_SEQUENCES))
def test_type_events(events, module):
    import importlib
    mod = importlib.import_module(f"pyredis.commands.{module}")
    if "notify" not in vars(mod):
        pytest.skip(f"pyredis.commands.{module} does not publish keyspace events yet")
    events.config("KEA")
    events.run(*_TYPE_SEQUENCES[module])
