"""List commands against the reference redis-server: pushes and pops (with
6.2's counts), LLEN, LINDEX, LRANGE, LSET, LINSERT, LREM, LTRIM,
RPOPLPUSH/LMOVE, LPOS, the non-blocking paths of the blocking pops and their
timeout parsing, OBJECT ENCODING, RESP3 shapes, DEBUG DIGEST-VALUE, plus
pyredis-only checks of the effects sent into the funnel and of the range
walks' cost. Blocking behaviour is in test_blocking_lists.py."""

from __future__ import annotations

import time
from collections import deque

import pytest

from conftest import RawClient
from pyredis.commands.lists import list_range
from pyredis.types.digest import value_digest

WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")


def fill(both, key, *items):
    both("RPUSH", key, *items)


# -- push, pop, length -------------------------------------------------------


def test_push_and_pop(both):
    both("LPUSH", "l", "a", "b", "c")
    both("RPUSH", "l", "d", "e")
    both("LRANGE", "l", "0", "-1")
    both("LPOP", "l")
    both("RPOP", "l")
    both("LLEN", "l")
    both("LPUSHX", "l", "x", "y")
    both("RPUSHX", "l", "z")
    both("LRANGE", "l", "0", "-1")
    both("LPUSHX", "nokey", "x")
    both("RPUSHX", "nokey", "x")
    both("EXISTS", "nokey")
    both("LPOP", "nokey")
    both("RPOP", "nokey")
    both("LLEN", "nokey")


def test_empty_list_disappears(both):
    both("RPUSH", "l", "a", "b")
    both("LPOP", "l")
    both("RPOP", "l")
    both("EXISTS", "l")
    both("TYPE", "l")
    both("RPUSH", "l", "a")
    both("LPOP", "l", "5")
    both("EXISTS", "l")


def test_pop_count(both):
    fill(both, "l", *"abcdefg")
    for args in (("LPOP", "l", "0"), ("LPOP", "l", "2"), ("RPOP", "l", "2"),
                 ("LPOP", "l", "-1"), ("LPOP", "l", "x"), ("LPOP", "l", ""),
                 ("RPOP", "l", "9223372036854775807"), ("LPOP", "l", "1"),
                 ("LPOP", "nokey", "0"), ("LPOP", "nokey", "1"), ("RPOP", "nokey", "3"),
                 ("LPOP", "nokey", "-1"), ("LPOP", "l", "1", "2"), ("RPOP", "l", "1", "2")):
        both(*args)
    fill(both, "l", "a")
    both("RPOP", "l", "1")
    both("EXISTS", "l")


def test_wrongtype(both):
    both("SET", "s", "v")
    for args in (("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"),
                 ("RPUSHX", "s", "a"), ("LPOP", "s"), ("RPOP", "s"), ("LPOP", "s", "2"),
                 ("LPOP", "s", "0"), ("LLEN", "s"), ("LINDEX", "s", "0"),
                 ("LINDEX", "s", "x"), ("LRANGE", "s", "0", "-1"), ("LSET", "s", "0", "x"),
                 ("LINSERT", "s", "BEFORE", "a", "b"), ("LREM", "s", "0", "a"),
                 ("LTRIM", "s", "0", "1"), ("RPOPLPUSH", "s", "l"),
                 ("LMOVE", "s", "l", "LEFT", "RIGHT"), ("LPOS", "s", "a"),
                 ("BLPOP", "s", "0"), ("BRPOP", "nokey", "s", "0"),
                 ("BRPOPLPUSH", "s", "l", "0"), ("BLMOVE", "s", "l", "LEFT", "LEFT", "0")):
        assert both(*args) == WRONGTYPE, args
    both("GET", "s")


def test_arity(both):
    for args in (("LPUSH", "l"), ("RPUSH",), ("LPUSHX", "l"), ("LPOP",), ("LLEN",),
                 ("LLEN", "a", "b"), ("LINDEX", "l"), ("LRANGE", "l", "0"),
                 ("LSET", "l", "0"), ("LINSERT", "l", "BEFORE", "a"), ("LREM", "l", "0"),
                 ("LTRIM", "l", "0"), ("RPOPLPUSH", "a"), ("LMOVE", "a", "b", "LEFT"),
                 ("BLPOP", "l"), ("BRPOP", "l"), ("BRPOPLPUSH", "a", "b"),
                 ("BLMOVE", "a", "b", "LEFT", "LEFT"), ("LPOS", "l")):
        both(*args)


def test_binary_and_empty_elements(both):
    both("RPUSH", "l", "", "\x00\xff", "a\r\nb", "1", "-1", "9223372036854775808", "z" * 1023,
         "w" * 5000)
    both("LRANGE", "l", "0", "-1")
    both("LPOS", "l", "")
    both("LREM", "l", "0", "")
    both("LINDEX", "l", "0")


# -- indexed access and ranges ------------------------------------------------


def test_lindex(both):
    fill(both, "l", *[str(i) for i in range(20)])
    for i in ("0", "1", "19", "20", "-1", "-20", "-21", "100", "-100", "x", "1.5", " 1",
              "9223372036854775807", "-9223372036854775808", "99999999999999999999"):
        both("LINDEX", "l", i)
    both("LINDEX", "nokey", "0")
    both("LINDEX", "nokey", "x")


RANGES = [("0", "-1"), ("0", "0"), ("0", "5"), ("3", "7"), ("-5", "-1"), ("-1", "-1"),
          ("-100", "100"), ("5", "3"), ("40", "50"), ("39", "100"), ("-41", "-40"),
          ("-40", "0"), ("10", "-10"), ("-3", "2"), ("0", "-41"), ("25", "-1"),
          ("9223372036854775807", "-1"), ("-9223372036854775808", "9223372036854775807"),
          ("x", "1"), ("0", "1.0"), ("", "1")]


def test_lrange(both):
    fill(both, "l", *[f"e{i}" for i in range(40)])
    for start, end in RANGES:
        both("LRANGE", "l", start, end)
    both("LRANGE", "nokey", "0", "-1")
    both("LRANGE", "nokey", "x", "1")


def test_lset(both):
    fill(both, "l", *"abcde")
    for args in (("LSET", "l", "0", "A"), ("LSET", "l", "-1", "E"), ("LSET", "l", "2", "C"),
                 ("LSET", "l", "5", "x"), ("LSET", "l", "-6", "x"), ("LSET", "l", "x", "y"),
                 ("LSET", "nokey", "0", "x"), ("LSET", "nokey", "x", "y")):
        both(*args)
    both("LRANGE", "l", "0", "-1")
    both("EXISTS", "nokey")


def test_linsert(both):
    fill(both, "l", "a", "b", "a", "c")
    for args in (("LINSERT", "l", "BEFORE", "a", "x"), ("LINSERT", "l", "after", "a", "y"),
                 ("LINSERT", "l", "AFTER", "c", "z"), ("LINSERT", "l", "before", "zz", "q"),
                 ("LINSERT", "l", "middle", "a", "q"), ("LINSERT", "nokey", "BEFORE", "a", "x"),
                 ("LINSERT", "nokey", "middle", "a", "x")):
        both(*args)
    both("LRANGE", "l", "0", "-1")
    both("EXISTS", "nokey")


@pytest.mark.parametrize("count", ["0", "1", "2", "-1", "-2", "100", "-100"])
def test_lrem(both, count):
    fill(both, "l", "a", "b", "a", "c", "a", "b", "a")
    both("LREM", "l", count, "a")
    both("LRANGE", "l", "0", "-1")
    both("LREM", "l", count, "b")
    both("LRANGE", "l", "0", "-1")


def test_lrem_edge(both):
    fill(both, "l", "a", "a")
    both("LREM", "l", "0", "zz")
    both("LREM", "l", "x", "a")
    both("LREM", "l", "0", "a")
    both("EXISTS", "l")
    both("LREM", "nokey", "0", "a")
    both("LREM", "nokey", "x", "a")


TRIMS = [("0", "-1"), ("1", "-2"), ("2", "3"), ("0", "0"), ("-1", "-1"), ("5", "3"),
         ("10", "20"), ("-100", "1"), ("-3", "100"), ("3", "-5"), ("0", "-11"),
         ("7", "9"), ("9", "9")]


@pytest.mark.parametrize("start,end", TRIMS)
def test_ltrim(both, start, end):
    fill(both, "l", *[str(i) for i in range(10)])
    both("LTRIM", "l", start, end)
    both("LRANGE", "l", "0", "-1")
    both("EXISTS", "l")


def test_ltrim_errors(both):
    fill(both, "l", "a")
    both("LTRIM", "l", "x", "1")
    both("LTRIM", "l", "0", "y")
    both("LTRIM", "nokey", "0", "1")
    both("LTRIM", "nokey", "x", "1")


# -- moves ---------------------------------------------------------------------


def test_rpoplpush(both):
    fill(both, "a", "1", "2", "3")
    both("RPOPLPUSH", "a", "b")
    both("RPOPLPUSH", "a", "b")
    both("LRANGE", "b", "0", "-1")
    both("RPOPLPUSH", "a", "a")
    both("LRANGE", "a", "0", "-1")
    both("RPOPLPUSH", "a", "b")
    both("EXISTS", "a")
    both("RPOPLPUSH", "a", "b")
    both("LRANGE", "b", "0", "-1")
    both("RPOPLPUSH", "nokey", "b")
    both("SET", "s", "v")
    both("RPOPLPUSH", "b", "s")
    both("RPOPLPUSH", "nokey", "s")
    both("LRANGE", "b", "0", "-1")


def test_rpoplpush_single_element_onto_itself(both):
    fill(both, "a", "x")
    both("RPOPLPUSH", "a", "a")
    both("LRANGE", "a", "0", "-1")
    both("LMOVE", "a", "a", "LEFT", "RIGHT")
    both("LRANGE", "a", "0", "-1")


@pytest.mark.parametrize("wf", ["LEFT", "RIGHT", "left", "Right"])
@pytest.mark.parametrize("wt", ["LEFT", "RIGHT"])
def test_lmove(both, wf, wt):
    fill(both, "a", "1", "2", "3")
    fill(both, "b", "x", "y")
    both("LMOVE", "a", "b", wf, wt)
    both("LMOVE", "a", "a", wf, wt)
    both("LRANGE", "a", "0", "-1")
    both("LRANGE", "b", "0", "-1")
    both("LMOVE", "a", "c", wf, wt)
    both("LRANGE", "c", "0", "-1")


def test_lmove_errors(both):
    fill(both, "a", "1")
    both("LMOVE", "a", "b", "UP", "LEFT")
    both("LMOVE", "a", "b", "LEFT", "DOWN")
    both("LMOVE", "nokey", "b", "UP", "LEFT")
    both("LMOVE", "nokey", "b", "LEFT", "LEFT")
    both("BLMOVE", "a", "b", "UP", "LEFT", "0")
    both("BLMOVE", "a", "b", "LEFT", "LEFT", "x")
    both("BLMOVE", "a", "b", "UP", "LEFT", "x")
    both("LRANGE", "a", "0", "-1")


# -- LPOS ------------------------------------------------------------------------

LPOS_OPTIONS = [
    (), ("RANK", "1"), ("RANK", "2"), ("RANK", "-1"), ("RANK", "-3"), ("RANK", "5"),
    ("RANK", "0"), ("RANK", "x"), ("RANK", "-9223372036854775808"),
    ("RANK", "9223372036854775807"), ("COUNT", "0"), ("COUNT", "1"), ("COUNT", "2"),
    ("COUNT", "-1"), ("COUNT", "x"), ("MAXLEN", "0"), ("MAXLEN", "3"), ("MAXLEN", "-1"),
    ("MAXLEN", "y"), ("COUNT", "0", "RANK", "2"), ("COUNT", "2", "RANK", "-1"),
    ("COUNT", "0", "RANK", "-1", "MAXLEN", "4"), ("RANK", "-9223372036854775808", "COUNT", "1"),
    ("RANK", "-9223372036854775808", "COUNT", "0", "MAXLEN", "5"),
    ("RANK", "2", "COUNT", "1", "MAXLEN", "4"), ("RANK", "-2", "MAXLEN", "2"),
    ("rank", "1", "RANK", "3"), ("COUNT",), ("FOO", "1"), ("COUNT", "1", "MAXLEN"),
]


@pytest.mark.parametrize("opts", LPOS_OPTIONS, ids=lambda o: " ".join(o) or "plain")
def test_lpos(both, opts):
    fill(both, "l", "a", "b", "c", "a", "b", "c", "a")
    both("LPOS", "l", "a", *opts)
    both("LPOS", "l", "zz", *opts)
    both("LPOS", "nokey", "a", *opts)


# -- blocking commands when they need not block ------------------------------


def test_blocking_pops_with_data(both):
    fill(both, "b", "1", "2", "3")
    fill(both, "c", "x")
    both("BLPOP", "a", "b", "c", "0")
    both("BRPOP", "a", "c", "b", "1")
    both("BLPOP", "c", "b", "0.5")
    both("EXISTS", "c")
    both("BRPOPLPUSH", "b", "d", "0")
    both("BLMOVE", "d", "e", "RIGHT", "LEFT", "0")
    both("LRANGE", "e", "0", "-1")
    both("EXISTS", "b", "d")
    fill(both, "x", "1")
    both("SET", "s", "v")
    both("BRPOPLPUSH", "x", "s", "0")
    both("LRANGE", "x", "0", "-1")


TIMEOUTS_REFUSED = ["x", "", " 1", "1 ", "-1", "-0.5", "inf", "-inf", "+inf", "nan",
                    "1e300", "9223372036854776", "1e", "0x", "--1", "1,5"]


@pytest.mark.parametrize("timeout", TIMEOUTS_REFUSED)
def test_timeout_errors(both, timeout):
    both("SET", "s", "v")
    both("BLPOP", "nokey", timeout)
    both("BRPOP", "s", timeout)
    both("BRPOPLPUSH", "nokey", "s", timeout)
    both("BLMOVE", "nokey", "s", "LEFT", "RIGHT", timeout)


def test_timeout_is_parsed_before_the_keys(both):
    fill(both, "l", "a")
    both("BLPOP", "l", "x")
    both("BLPOP", "l", "-1")
    both("LLEN", "l")


def test_blocking_in_multi_does_not_block(both):
    both("MULTI")
    both("BLPOP", "nokey", "0")
    both("BRPOP", "nokey", "nokey2", "0")
    both("BRPOPLPUSH", "nokey", "x", "0")
    both("BLMOVE", "nokey", "x", "LEFT", "LEFT", "0")
    both("RPUSH", "l", "a")
    both("BLPOP", "l", "0")
    both("EXEC")


# -- encodings, RESP3, digests ---------------------------------------------------


def test_object_encoding(both):
    fill(both, "l", "a")
    both("OBJECT", "ENCODING", "l")
    fill(both, "big", *["x" * 100] * 300)
    both("OBJECT", "ENCODING", "big")


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
    run3(resp3, "RPUSH", "l", "a", "b", "c")
    for args in (("LPOP", "nokey"), ("LPOP", "nokey", "2"), ("LPOP", "l", "0"),
                 ("LPOP", "l", "2"), ("LRANGE", "l", "0", "-1"), ("LINDEX", "l", "5"),
                 ("LPOS", "l", "zz"), ("LPOS", "l", "c", "COUNT", "0"),
                 ("BLPOP", "l", "0"), ("BLPOP", "nokey", "0.01"),
                 ("BRPOPLPUSH", "nokey", "x", "0.01"), ("RPOPLPUSH", "nokey", "x")):
        run3(resp3, *args)
    run3(resp3, "MULTI")
    run3(resp3, "BLPOP", "nokey", "0")
    run3(resp3, "BRPOPLPUSH", "nokey", "x", "0")
    run3(resp3, "EXEC")


@pytest.mark.parametrize("items", [
    [b"a"], [b"a", b"b", b"1", b"2"], [b"", b"\x00", b"-1", b"9223372036854775808"],
    [b"x" * 100, b"y"] * 5, [str(i).encode() for i in range(300)],
])
def test_digest_matches_redis(both, items):
    both("RPUSH", "l", *items)
    reply = both("DEBUG", "DIGEST-VALUE", "l")
    assert reply == ("*", [("+", value_digest(deque(items), False).hex().encode())])
    both("DEBUG", "DIGEST")
    both("EXPIRE", "l", "1000")
    both("DEBUG", "DIGEST-VALUE", "l")
    both("DEBUG", "DIGEST")


# -- effects (pyredis only) -------------------------------------------------------


def test_effects(raw_pyr, recorder):
    c = raw_pyr
    c.call("RPUSH", "l", "a", "b", "c")
    c.call("LPOP", "nokey")
    c.call("BLPOP", "nokey", "l", "0")
    c.call("BRPOP", "l", "0")
    c.call("BRPOPLPUSH", "l", "m", "0")
    c.call("RPUSH", "l", "x")
    c.call("BLMOVE", "l", "m", "LEFT", "RIGHT", "0")
    c.call("LINDEX", "m", "0")
    c.call("LSET", "nokey", "0", "x")
    assert recorder.effects == [
        (0, [b"RPUSH", b"l", b"a", b"b", b"c"]),
        (0, [b"LPOP", b"l"]),
        (0, [b"RPOP", b"l"]),
        (0, [b"RPOPLPUSH", b"l", b"m"]),
        (0, [b"RPUSH", b"l", b"x"]),
        (0, [b"LMOVE", b"l", b"m", b"left", b"right"]),
    ]


# -- complexity (pyredis only) -----------------------------------------------------


def test_ranges_near_either_end_do_not_walk_the_list():
    lst = deque(range(1_000_000))
    t0 = time.perf_counter()
    for _ in range(500):
        assert list_range(lst, -10, -1) == list(range(999_990, 1_000_000))
        assert list_range(lst, 0, 9) == list(range(10))
        assert list_range(lst, -20, -11)[0] == 999_980
    # A walk from the head to the tail end would cost ~5 ms each: 2.5 s here.
    assert time.perf_counter() - t0 < 0.5
