"""Hash commands against the reference redis-server: HSET/HMSET/HSETNX,
HGET/HMGET/HGETALL/HKEYS/HVALS, HDEL, HLEN, HSTRLEN, HEXISTS, HINCRBY,
HINCRBYFLOAT, HSCAN, HRANDFIELD; the ziplist/hashtable encodings (limits,
sticky conversion, what each one shows), RESP3 shapes and DEBUG
DIGEST-VALUE; plus pyredis-only checks of the funnel effects."""

from __future__ import annotations


import pytest

from conftest import RawClient
from pyredis.commands.hashes import HashTable
from pyredis.types.digest import value_digest

WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")
LONG = "x" * 65     # one past hash-max-ziplist-value
EDGE = "y" * 64     # exactly hash-max-ziplist-value


def pairs(reply):
    """A flat field/value array reply as a sorted list of pairs."""
    assert reply[0] == "*", reply
    items = [x[1] for x in reply[1]]
    return sorted(zip(items[::2], items[1::2]))


def both_pairs(both, *args):
    """Run a command whose flat pair reply has no defined order (hashtable
    encoding); compare as sorted pairs."""
    expected = pairs(both.r.call(*args))
    got = pairs(both.p.call(*args))
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


def both_sorted(both, *args):
    expected = sorted(x[1] for x in both.r.call(*args)[1])
    got = sorted(x[1] for x in both.p.call(*args)[1])
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


# -- writes and reads ---------------------------------------------------------------


def test_basics(both):
    both("HSET", "h", "a", "1")
    both("HSET", "h", "b", "2", "c", "3", "a", "10")
    both("HSET", "h", "d", "4", "d", "5")
    both("HMSET", "h", "e", "5", "f", "6")
    both("HGET", "h", "a")
    both("HGET", "h", "zz")
    both("HGET", "nokey", "a")
    both("HMGET", "h", "a", "zz", "d", "a")
    both("HMGET", "nokey", "a", "b")
    both("HLEN", "h")
    both("HLEN", "nokey")
    both("HSTRLEN", "h", "a")
    both("HSTRLEN", "h", "zz")
    both("HSTRLEN", "nokey", "a")
    both("HEXISTS", "h", "a")
    both("HEXISTS", "h", "zz")
    both("HEXISTS", "nokey", "a")
    both("HGETALL", "h")
    both("HKEYS", "h")
    both("HVALS", "h")
    both("HGETALL", "nokey")
    both("HKEYS", "nokey")
    both("HVALS", "nokey")
    both("TYPE", "h")


def test_ziplist_order_is_insertion_order(both):
    both("HSET", "h", "z", "1", "a", "2", "m", "3")
    both("HSET", "h", "a", "20")              # an update keeps its place
    both("HDEL", "h", "z")
    both("HSET", "h", "z", "4")               # deleted and added again: at the end
    both("HSETNX", "h", "b", "5")
    both("HINCRBY", "h", "c", "1")
    both("HINCRBYFLOAT", "h", "m", "0.5")
    both("HGETALL", "h")
    both("HKEYS", "h")
    both("HVALS", "h")


def test_hsetnx(both):
    both("HSETNX", "h", "a", "1")
    both("HSETNX", "h", "a", "2")
    both("HGET", "h", "a")
    both("HSETNX", "h", "b", "")
    both("HGETALL", "h")


def test_hdel(both):
    both("HSET", "h", "a", "1", "b", "2", "c", "3")
    both("HDEL", "h", "zz")
    both("HDEL", "h", "a", "a", "zz")
    both("HDEL", "h", "b", "c", "d")
    both("EXISTS", "h")
    both("HDEL", "nokey", "a")


def test_wrongtype(both):
    both("SET", "s", "v")
    for args in (("HSET", "s", "a", "1"), ("HMSET", "s", "a", "1"), ("HSETNX", "s", "a", "1"),
                 ("HGET", "s", "a"), ("HMGET", "s", "a"), ("HGETALL", "s"), ("HDEL", "s", "a"),
                 ("HLEN", "s"), ("HSTRLEN", "s", "a"), ("HEXISTS", "s", "a"), ("HKEYS", "s"),
                 ("HVALS", "s"), ("HINCRBY", "s", "a", "1"), ("HINCRBYFLOAT", "s", "a", "1"),
                 ("HSCAN", "s", "0"), ("HRANDFIELD", "s"), ("HRANDFIELD", "s", "2"),
                 ("HRANDFIELD", "s", "2", "WITHVALUES")):
        assert both(*args) == WRONGTYPE, args
    both("RPUSH", "l", "a")
    both("HSET", "l", "a", "1")
    both("GET", "s")


def test_arity(both):
    for args in (("HSET", "h", "a"), ("HSET", "h", "a", "1", "b"), ("HMSET", "h", "a"),
                 ("HMSET", "h", "a", "1", "b"), ("HSETNX", "h", "a"), ("HGET", "h"),
                 ("HMGET", "h"), ("HDEL", "h"), ("HLEN",), ("HSTRLEN", "h"), ("HEXISTS", "h"),
                 ("HKEYS",), ("HVALS", "h", "x"), ("HGETALL",), ("HINCRBY", "h", "a"),
                 ("HINCRBYFLOAT", "h", "a"), ("HSCAN", "h"), ("HRANDFIELD",)):
        both(*args)
    both("EXISTS", "h")


def test_binary_fields(both):
    both("HSET", "h", "", "empty", "\x00\xff", "bin", "a\r\nb", "")
    both("HGETALL", "h")
    both("HSET", "h", "big", "v" * 3000)      # (converts: no defined order any more)
    both_pairs(both, "HGETALL", "h")
    both("HSTRLEN", "h", "")
    both("HGET", "h", "\x00\xff")


# -- counters -------------------------------------------------------------------------

INCR_VALUES = ["0", "1", "-1", "100", "9223372036854775807", "-9223372036854775808",
               "1.5", "01", " 1", "abc", "", "-0", "+1"]
INCRS = ["1", "-1", "0", "9223372036854775807", "-9223372036854775808", "x", "1.0", ""]


@pytest.mark.parametrize("value", INCR_VALUES)
def test_hincrby(both, value):
    both("HSET", "h", "f", value)
    for incr in INCRS:
        both("HINCRBY", "h", "f", incr)
        both("HGET", "h", "f")
    both("HINCRBY", "h", "new", "5")
    both("HINCRBY", "nokey", "f", "-7")
    both("HINCRBY", "nokey2", "f", "x")
    both("EXISTS", "nokey2")


FLOAT_VALUES = ["0", "10.50", "1", "-1", "1.5", "3.0", "1e3", "0x10", "inf", "-inf", "nan",
                "abc", " 1", "", "9223372036854775807", "1.7976931348623157e308",
                "0.1", "-0"]
FLOAT_INCRS = ["0.1", "-10.6", "1", "1e3", "5e-18", "0x10", "-0", "1e-5", "inf", "-inf",
               "abc", "1e5000", " 1", "", "nan", "3.0e-1", "1.5E2"]


@pytest.mark.parametrize("value", FLOAT_VALUES)
def test_hincrbyfloat(both, value):
    both("HSET", "h", "f", value)
    for incr in FLOAT_INCRS:
        both("HINCRBYFLOAT", "h", "f", incr)
        both("HGET", "h", "f")


def test_hincrbyfloat_new_keys(both):
    both("HINCRBYFLOAT", "nokey", "f", "1.5")
    both("HINCRBYFLOAT", "n2", "f", "inf")
    both("HINCRBYFLOAT", "n3", "f", "x")
    both("EXISTS", "n2", "n3")
    both("HINCRBYFLOAT", "h", "f", "10.5")
    both("HINCRBYFLOAT", "h", "f", "0.1")
    both("HGETALL", "h")


# -- HSCAN ------------------------------------------------------------------------------


def test_hscan_ziplist_answers_whole(both):
    both("HSET", "h", *[x for i in range(50) for x in (f"f{i}", str(i))])
    both("HSCAN", "h", "0")
    both("HSCAN", "h", "0", "COUNT", "1")
    both("HSCAN", "h", "12345", "COUNT", "2")
    both("HSCAN", "h", "0", "MATCH", "f1*")
    both("HSCAN", "h", "0", "MATCH", "f1?", "COUNT", "3")
    both("HSCAN", "h", "0", "MATCH", "nothing")


def test_hscan_errors(both):
    both("HSET", "h", "a", "1")
    for args in (("HSCAN", "h", "x"), ("HSCAN", "h", "-1"), ("HSCAN", "h", "0", "COUNT", "0"),
                 ("HSCAN", "h", "0", "COUNT", "-1"), ("HSCAN", "h", "0", "COUNT", "x"),
                 ("HSCAN", "h", "0", "COUNT"), ("HSCAN", "h", "0", "MATCH"),
                 ("HSCAN", "h", "0", "TYPE", "string"), ("HSCAN", "h", "0", "FOO", "1"),
                 ("HSCAN", "nokey", "0", "COUNT", "0"), ("HSCAN", "nokey", "x"),
                 ("HSCAN", "nokey", "0", "TYPE", "hash")):
        both(*args)


def _hscan_all(client, key, *opts):
    cursor = b"0"
    seen = {}
    for _ in range(10_000):
        reply = client.call("HSCAN", key, cursor, *opts)
        assert reply[0] == "*"
        cursor = reply[1][0][1]
        items = [x[1] for x in reply[1][1][1]]
        seen.update(zip(items[::2], items[1::2]))
        if cursor == b"0":
            return seen
    raise AssertionError("HSCAN did not finish")


def test_hscan_hashtable_walk(both):
    fields = [x for i in range(700) for x in (f"f{i}", str(i))]
    for c in (both.p, both.r):
        assert c.call("HSET", "h", *fields) == (":", 700)
        assert c.call("OBJECT", "ENCODING", "h") == ("$", b"hashtable")
    full = {f"f{i}".encode(): str(i).encode() for i in range(700)}
    assert _hscan_all(both.p, "h", "COUNT", "7") == full == _hscan_all(both.r, "h", "COUNT", "7")
    assert _hscan_all(both.p, "h", "MATCH", "f1*") == _hscan_all(both.r, "h", "MATCH", "f1*")
    # A small COUNT gives several steps, as in Redis.
    first = both.p.call("HSCAN", "h", "0", "COUNT", "10")
    assert first[1][0][1] != b"0" and 1 <= len(first[1][1][1]) // 2 <= 100


# -- HRANDFIELD ------------------------------------------------------------------------


def test_hrandfield_errors_and_fixed_cases(both):
    both("HSET", "h", "a", "1", "b", "2", "c", "3")
    for args in (("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"),
                 ("HRANDFIELD", "nokey", "-3", "WITHVALUES"), ("HRANDFIELD", "h", "0"),
                 ("HRANDFIELD", "h", "3"), ("HRANDFIELD", "h", "5", "withvalues"),
                 ("HRANDFIELD", "h", "3", "WITHVALUE"), ("HRANDFIELD", "h", "3", "WITHVALUES", "x"),
                 ("HRANDFIELD", "h", "x"), ("HRANDFIELD", "nokey", "x", "WITHVALUES"),
                 ("HRANDFIELD", "h", "-9223372036854775808"),
                 ("HRANDFIELD", "nokey", "-9223372036854775808"),
                 ("HRANDFIELD", "nokey", "3", "WITHVALUE"),
                 ("HRANDFIELD", "nokey", "5000000000000000000", "WITHVALUES"),
                 ("HRANDFIELD", "nokey", "-4611686018427387904", "WITHVALUES"),
                 ("HRANDFIELD", "nokey", "4611686018427387903", "WITHVALUES"),
                 ("HRANDFIELD", "nokey", "5000000000000000000")):
        both(*args)


def test_hrandfield_random_shapes(raw_pyr):
    c = raw_pyr
    c.call("HSET", "h", *[x for i in range(10) for x in (f"f{i}", str(i))])
    fields = {f"f{i}".encode() for i in range(10)}
    one = c.call("HRANDFIELD", "h")
    assert one[0] == "$" and one[1] in fields
    reply = c.call("HRANDFIELD", "h", "4")
    got = [x[1] for x in reply[1]]
    assert len(got) == 4 and len(set(got)) == 4 and set(got) <= fields
    reply = c.call("HRANDFIELD", "h", "-30")
    got = [x[1] for x in reply[1]]
    assert len(got) == 30 and set(got) <= fields and len(set(got)) > 1
    reply = c.call("HRANDFIELD", "h", "-5", "WITHVALUES")
    flat = [x[1] for x in reply[1]]
    assert len(flat) == 10
    for f, v in zip(flat[::2], flat[1::2]):
        assert f == b"f" + v


# -- encodings ---------------------------------------------------------------------------


def enc(both, key):
    return both("OBJECT", "ENCODING", key)[1]


def test_encoding_limits(both):
    both("HSET", "small", "a", EDGE, EDGE, "b")
    assert enc(both, "small") == b"ziplist"
    both("HSET", "longvalue", "a", LONG)
    assert enc(both, "longvalue") == b"hashtable"
    both("HSET", "longfield", LONG, "1")
    assert enc(both, "longfield") == b"hashtable"
    both("HMSET", "hm", "a", "1", "b", LONG)
    assert enc(both, "hm") == b"hashtable"
    fields = [x for i in range(512) for x in (f"f{i}", "v")]
    both("HSET", "many", *fields)
    assert enc(both, "many") == b"ziplist"
    both("HSET", "many", "f0", "again")
    assert enc(both, "many") == b"ziplist"
    both("HSET", "many", "one-more", "v")
    assert enc(both, "many") == b"hashtable"


def test_encoding_is_sticky(both):
    both("HSET", "h", "a", LONG, "b", "1")
    both("HDEL", "h", "a")
    assert enc(both, "h") == b"hashtable"
    both("HSET", "h", "a", "1")
    assert enc(both, "h") == b"hashtable"
    both("HDEL", "h", "a", "b")
    both("HSET", "h", "a", "1")               # the key was deleted: a fresh ziplist
    assert enc(both, "h") == b"ziplist"


def test_conversion_quirks(both):
    # HINCRBY/HINCRBYFLOAT never check lengths; HSETNX checks before it looks.
    both("HINCRBY", "i", LONG, "1")
    assert enc(both, "i") == b"ziplist"
    both("HINCRBYFLOAT", "i", LONG + "z", "1.5")
    assert enc(both, "i") == b"ziplist"
    both("HSET", "n", "f", "1")
    both("HSETNX", "n", "f", LONG)
    assert enc(both, "n") == b"hashtable"
    both("HGET", "n", "f")
    both("HSETNX", "n2", LONG, "1")
    assert enc(both, "n2") == b"hashtable"


@pytest.fixture
def small_limits(pyr, ref):
    """hash-max-ziplist-entries 4 and -value 8 on both servers."""
    raw = RawClient(ref.port)
    cfg = pyr.core.config
    for name, value in (("hash-max-ziplist-entries", "4"), ("hash-max-ziplist-value", "8")):
        assert raw.call("CONFIG", "SET", name, value) == ("+", b"OK")
        cfg.set(name, value)
    yield
    for name, value in (("hash-max-ziplist-entries", "512"), ("hash-max-ziplist-value", "64")):
        raw.call("CONFIG", "SET", name, value)
        cfg.set(name, value)
    raw.close()


def test_encoding_follows_config(both, small_limits):
    both("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    assert enc(both, "h") == b"ziplist"
    both("HSET", "h", "e", "5")
    assert enc(both, "h") == b"hashtable"
    both("HSET", "v", "a", "12345678")
    assert enc(both, "v") == b"ziplist"
    both("HSET", "v", "b", "123456789")
    assert enc(both, "v") == b"hashtable"
    both("HINCRBY", "i", "a", "1")
    both("HINCRBY", "i", "b", "1")
    both("HINCRBY", "i", "c", "1")
    both("HINCRBY", "i", "d", "1")
    assert enc(both, "i") == b"ziplist"
    both("HINCRBYFLOAT", "i", "e", "1")
    assert enc(both, "i") == b"hashtable"


def test_hashtable_replies(both):
    both("HSET", "h", "a", LONG, *[x for i in range(20) for x in (f"f{i}", str(i))])
    both_pairs(both, "HGETALL", "h")
    both_sorted(both, "HKEYS", "h")
    both_sorted(both, "HVALS", "h")
    both_pairs(both, "HRANDFIELD", "h", "100", "WITHVALUES")
    both("HLEN", "h")
    both("HMGET", "h", "a", "f3", "zz")
    both("HDEL", "h", "a", "f1")
    assert _hscan_all(both.p, "h", "COUNT", "1000") == _hscan_all(both.r, "h", "COUNT", "1000")
    assert both.p.call("HSCAN", "h", "0", "COUNT", "1000")[1][0] == ("$", b"0")


# -- RESP3 and digests -------------------------------------------------------------------


@pytest.fixture
def resp3(pyr, ref):
    clients = []
    for port in (pyr.port, ref.port):
        c = RawClient(port)
        assert c.call("HELLO", "3")[0] == "%"
        clients.append(c)
    yield clients
    for c in clients:
        c.close()


def run3(resp3, *args):
    p, r = resp3
    expected = r.call(*args)
    got = p.call(*args)
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


def test_resp3_shapes(resp3):
    run3(resp3, "HSET", "h", "a", "1", "b", "2")
    for args in (("HGETALL", "h"), ("HGETALL", "nokey"), ("HGET", "h", "zz"),
                 ("HMGET", "h", "a", "zz"), ("HKEYS", "h"), ("HSCAN", "h", "0"),
                 ("HRANDFIELD", "h", "5", "WITHVALUES"), ("HRANDFIELD", "h", "5"),
                 ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "2", "WITHVALUES"),
                 ("HINCRBYFLOAT", "h", "a", "1.5")):
        run3(resp3, *args)
    p, _ = resp3
    reply = p.call("HRANDFIELD", "h", "-3", "WITHVALUES")
    assert reply[0] == "*" and len(reply[1]) == 3
    assert all(x[0] == "*" and len(x[1]) == 2 for x in reply[1])


@pytest.mark.parametrize("h", [
    {b"f": b"1"}, {b"a": b"1", b"b": b"2", b"": b""}, {b"x" * 100: b"y", b"1": b"-1"},
    {f"f{i}".encode(): str(i).encode() for i in range(600)},
])
def test_digest_matches_redis(both, h):
    both("HSET", "h", *[x for kv in h.items() for x in kv])
    reply = both("DEBUG", "DIGEST-VALUE", "h")
    assert reply == ("*", [("+", value_digest(h, False).hex().encode())])
    assert value_digest(HashTable(reversed(list(h.items()))), False) == value_digest(h, False)
    both("DEBUG", "DIGEST")


# -- effects (pyredis only) ---------------------------------------------------------------


def test_effects(raw_pyr, recorder):
    c = raw_pyr
    c.call("HSET", "h", "a", "1")
    c.call("HSETNX", "h", "a", "2")
    c.call("HSETNX", "h", "b", "2")
    c.call("HINCRBYFLOAT", "h", "f", "10.5")
    c.call("HINCRBYFLOAT", "h", "f", "0.1")
    c.call("HINCRBY", "h", "i", "3")
    c.call("HDEL", "h", "zz")
    c.call("HDEL", "h", "a")
    c.call("HINCRBY", "h", "f", "1")
    c.call("HGET", "h", "a")
    assert recorder.effects == [
        (0, [b"HSET", b"h", b"a", b"1"]),
        (0, [b"HSETNX", b"h", b"b", b"2"]),
        (0, [b"HSET", b"h", b"f", b"10.5"]),
        (0, [b"HSET", b"h", b"f", b"10.6"]),
        (0, [b"HINCRBY", b"h", b"i", b"3"]),
        (0, [b"HDEL", b"h", b"a"]),
    ]
