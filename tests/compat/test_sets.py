"""Set commands against the reference redis-server: SADD, SREM, SCARD,
SISMEMBER, SMISMEMBER, SMEMBERS, SRANDMEMBER, SPOP, SMOVE, SINTER/SUNION/
SDIFF and their STORE forms, SSCAN; intset/hashtable encodings and the
reply order they define; RESP3 reply types; plus pyredis-only checks of
random draws (uniformity, O(1) pool upkeep), SPOP's SREM effects and the
DEBUG DIGEST contribution of a set.

Where Redis answers in hash-table order, replies are compared as sorted
lists (same RESP type, same members); where its order is defined (an
intset lists its members numerically) they are compared exactly."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import pytest

from pyredis.commands.sets import digest_set
from pyredis.types.setobj import Set

WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")


def unordered(reply):
    kind, items = reply
    assert kind in "*~", reply
    return kind, sorted(items)


def both_unordered(both, *args):
    """Run a command whose reply lists members in hash order; compare the
    RESP type and the members, not their order."""
    expected = unordered(both.r.call(*args))
    got = unordered(both.p.call(*args))
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


def members(reply) -> list:
    return [item[1] for item in reply[1]]


@pytest.fixture
def resp3(both):
    for c in (both.p, both.r):   # (HELLO's server info differs)
        assert c.call("HELLO", "3")[0] == "%"
    yield both
    for c in (both.p, both.r):
        c.call("HELLO", "2")


@pytest.fixture
def intset_entries(both):
    """Lets a test change set-max-intset-entries on both servers."""
    def set_limit(n):
        both("CONFIG", "SET", "set-max-intset-entries", str(n))
    yield set_limit
    set_limit(512)


# -- SADD SREM SCARD SISMEMBER SMISMEMBER -------------------------------------


def test_sadd_srem_basics(both):
    both("SADD", "s", "a", "b", "a", "c")
    both("SADD", "s", "a", "d")
    both("SADD", "s", "a")
    both("SCARD", "s")
    both("SISMEMBER", "s", "a")
    both("SISMEMBER", "s", "zz")
    both("SMISMEMBER", "s", "a", "zz", "d", "a")
    both("SREM", "s", "zz")
    both("SREM", "s", "a", "a", "b", "zz")
    both("SCARD", "s")
    both("SREM", "s", "c", "d", "e")
    both("EXISTS", "s")   # an empty set disappears
    both("SREM", "s", "c")
    both("SCARD", "s")
    both("SISMEMBER", "s", "a")
    both("SMISMEMBER", "s", "a", "b")


def test_binary_and_empty_members(both):
    both("SADD", "s", "", "\x00", "\xff\x00", "a b")
    both_unordered(both, "SMEMBERS", "s")
    both("SISMEMBER", "s", "")
    both("SREM", "s", "")
    both("SISMEMBER", "s", "")


def test_wrongtype(both):
    both("SET", "str", "x")
    for args in [("SADD", "str", "a"), ("SREM", "str", "a"), ("SCARD", "str"),
                 ("SISMEMBER", "str", "a"), ("SMISMEMBER", "str", "a"), ("SMEMBERS", "str"),
                 ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", "2"),
                 ("SRANDMEMBER", "str", "0"), ("SPOP", "str"), ("SPOP", "str", "0"),
                 ("SPOP", "str", "2"), ("SMOVE", "str", "d", "a"), ("SINTER", "str"),
                 ("SUNION", "str"), ("SDIFF", "str"), ("SINTERSTORE", "d", "str"),
                 ("SUNIONSTORE", "d", "str"), ("SDIFFSTORE", "d", "str"), ("SSCAN", "str", "0"),
                 ("SSCAN", "str", "0", "COUNT", "0")]:
        assert both(*args) == WRONGTYPE, args
    both("SADD", "s", "a")
    assert both("SMOVE", "s", "str", "a") == WRONGTYPE
    both("SMOVE", "nokey", "str", "a")   # a missing source answers 0 first
    both("SMOVE", "s", "nokey", "zz")
    # every key is checked before a missing one ends the work
    for args in [("SINTER", "nokey", "str"), ("SINTER", "s", "nokey", "str"),
                 ("SUNION", "nokey", "str"), ("SDIFF", "nokey", "str"),
                 ("SDIFF", "s", "str"), ("SINTERSTORE", "d", "nokey", "str"),
                 ("SUNIONSTORE", "d", "nokey", "str"), ("SDIFFSTORE", "d", "nokey", "str")]:
        assert both(*args) == WRONGTYPE, args
    both("SADD", "s", "b")
    both_unordered(both, "SMEMBERS", "s")


def test_arity(both):
    for args in [("SADD", "s"), ("SREM", "s"), ("SCARD",), ("SCARD", "s", "t"),
                 ("SISMEMBER", "s"), ("SISMEMBER", "s", "a", "b"), ("SMISMEMBER", "s"),
                 ("SMEMBERS",), ("SMEMBERS", "s", "t"), ("SRANDMEMBER",), ("SPOP",),
                 ("SMOVE", "s", "d"), ("SINTER",), ("SUNION",), ("SDIFF",),
                 ("SINTERSTORE", "d"), ("SUNIONSTORE", "d"), ("SDIFFSTORE", "d"),
                 ("SSCAN", "s")]:
        reply = both(*args)
        assert reply[0] == "-" and b"wrong number of arguments" in reply[1], args


# -- encodings and the reply order they define ------------------------------------


def test_intset_encoding_and_order(both):
    both("SADD", "s", "30", "-5", "7", "0", "9223372036854775807", "-9223372036854775808")
    both("OBJECT", "ENCODING", "s")
    both("SMEMBERS", "s")          # numeric order, compared exactly
    both("SINTER", "s")
    both("SUNION", "s", "nokey")
    both("SDIFF", "s", "nokey")
    both("SRANDMEMBER", "s", "100")
    both("SSCAN", "s", "0")
    both("SREM", "s", "7")
    both("SMEMBERS", "s")
    both("OBJECT", "ENCODING", "s")


@pytest.mark.parametrize("member", ["a", "01", "+1", "-0", " 1", "1 ", "1.0", "0x1",
                                    "9223372036854775808", "-9223372036854775809", ""])
def test_non_canonical_integers_need_a_hashtable(both, member):
    both("SADD", "s", "1", "2")
    both("OBJECT", "ENCODING", "s")
    both("SADD", "s", member)
    both("OBJECT", "ENCODING", "s")
    both("SREM", "s", member)
    both("OBJECT", "ENCODING", "s")   # sticky: it never converts back
    both_unordered(both, "SMEMBERS", "s")
    both("SADD", "n", member)
    both("OBJECT", "ENCODING", "n")


def test_intset_size_limit(both, intset_entries):
    intset_entries(4)
    both("SADD", "s", "1", "2", "3", "4")
    both("OBJECT", "ENCODING", "s")
    both("SADD", "s", "5")
    both("OBJECT", "ENCODING", "s")
    both("SREM", "s", "5", "4")
    both("OBJECT", "ENCODING", "s")
    both("SADD", "t", "1", "2", "3", "4", "5")
    both("OBJECT", "ENCODING", "t")
    intset_entries(0)
    both("SADD", "z", "1")
    both("OBJECT", "ENCODING", "z")
    intset_entries(2)
    both("SADD", "big", "1", "2")
    both("OBJECT", "ENCODING", "big")
    intset_entries(1)
    both("OBJECT", "ENCODING", "big")   # a lower limit converts only on the next add
    both("SADD", "big", "2")
    both("OBJECT", "ENCODING", "big")
    both("SADD", "big", "3")
    both("OBJECT", "ENCODING", "big")


def test_default_intset_limit(both):
    both("SADD", "s", *[str(i) for i in range(512)])
    both("OBJECT", "ENCODING", "s")
    both("SMEMBERS", "s")
    both("SADD", "s", "512")
    both("OBJECT", "ENCODING", "s")
    both_unordered(both, "SMEMBERS", "s")


# -- SMEMBERS and RESP3 ------------------------------------------------------


def test_smembers(both):
    both("SMEMBERS", "nokey")
    both("SADD", "h", "x", "y", "z", "1")
    both_unordered(both, "SMEMBERS", "h")


def test_resp3_reply_types(resp3):
    both = resp3
    both("SADD", "i", "3", "1", "2")
    both("SADD", "h", "b", "a", "c")
    both("SMEMBERS", "i")
    both_unordered(both, "SMEMBERS", "h")
    for name in ("SINTER", "SUNION", "SDIFF"):
        both(name, "i")
        both(name, "nokey")
        both_unordered(both, name, "h")
    both("SMEMBERS", "nokey")
    both("SRANDMEMBER", "i", "10")    # an array, not a set
    both("SRANDMEMBER", "nokey", "3")
    both("SRANDMEMBER", "nokey")
    both("SPOP", "nokey")
    both("SPOP", "nokey", "2")
    both("SPOP", "i", "0")
    both("SMISMEMBER", "i", "1", "5")
    both("SSCAN", "i", "0")
    both("SPOP", "i", "10")           # whole set: numeric order
    assert unordered(both.p.call("SRANDMEMBER", "h", "2"))[0] == "*"
    assert unordered(both.p.call("SPOP", "h", "2"))[0] == "~"
    assert both.p.call("SPOP", "h")[0] == "$"


# -- SRANDMEMBER ---------------------------------------------------------------


def test_srandmember_arguments(both):
    both("SADD", "s", "1", "2", "3")
    for count in ("abc", "1.5", "", "-9223372036854775808", "9223372036854775808"):
        both("SRANDMEMBER", "s", count)
        both("SRANDMEMBER", "nokey", count)
    both("SRANDMEMBER", "s", "1", "2")
    both("SRANDMEMBER", "nokey", "1", "2")
    both("SRANDMEMBER", "s", "0")
    both("SRANDMEMBER", "nokey", "0")
    both("SRANDMEMBER", "nokey", "-5")
    both("SRANDMEMBER", "nokey")
    both("SRANDMEMBER", "s", "3")
    both("SRANDMEMBER", "s", "9223372036854775807")


@pytest.mark.parametrize("kind", ["intset", "hashtable"])
def test_srandmember_counts(both, kind):
    items = [str(i) for i in range(20)] if kind == "intset" else [f"m{i}" for i in range(20)]
    both("SADD", "s", *items)
    members_ = set(x.encode() for x in items)
    for count in (1, 2, 5, 7, 10, 19):
        for c in (both.p, both.r):
            got = members(c.call("SRANDMEMBER", "s", str(count)))
            assert len(got) == count and len(set(got)) == count and set(got) <= members_
    for count in (1, 5, 50):
        for c in (both.p, both.r):
            got = members(c.call("SRANDMEMBER", "s", str(-count)))
            assert len(got) == count and set(got) <= members_
    if kind == "intset":
        both("SRANDMEMBER", "s", "20")
    else:
        both_unordered(both, "SRANDMEMBER", "s", "20")
    both("SCARD", "s")   # reads change nothing
    both("OBJECT", "ENCODING", "s")


def test_srandmember_single(both):
    both("SADD", "s", "only")
    both("SRANDMEMBER", "s")
    both("SRANDMEMBER", "s", "-3")
    both("SADD", "s", "x", "y")
    got = {both.p.call("SRANDMEMBER", "s")[1] for _ in range(60)}
    assert got == {b"only", b"x", b"y"}


# -- SPOP --------------------------------------------------------------------


def test_spop_arguments(both):
    both("SADD", "s", "1", "2")
    for count in ("-1", "abc", "1.5", "-9223372036854775808"):
        both("SPOP", "s", count)
        both("SPOP", "nokey", count)
    both("SPOP", "s", "1", "2")
    both("SPOP", "nokey", "1", "2")
    both("SPOP", "nokey")
    both("SPOP", "nokey", "0")
    both("SPOP", "nokey", "3")
    both("SPOP", "s", "0")
    both("SCARD", "s")


def test_spop_single(both):
    both("SADD", "s", "a", "b", "c")
    popped = set()
    for _ in range(3):
        for c in (both.p, both.r):
            kind, m = c.call("SPOP", "s")
            assert kind == "$" and m in (b"a", b"b", b"c")
            if c is both.p:
                popped.add(m)
    assert popped == {b"a", b"b", b"c"}
    both("EXISTS", "s")
    both("SPOP", "s")


@pytest.mark.parametrize("size,count", [(10, 1), (10, 8), (10, 9), (10, 10), (10, 11),
                                        (100, 50), (100, 90), (100, 99), (7, 6)])
@pytest.mark.parametrize("kind", ["intset", "hashtable", "ints-in-hashtable"])
def test_spop_count(both, kind, size, count):
    items = [str(i) for i in range(size)]
    if kind == "hashtable":
        items = [f"m{i}" for i in range(size)]
    both("SADD", "s", *items)
    if kind == "ints-in-hashtable":
        both("SADD", "s", "x")
        both("SREM", "s", "x")
    for c in (both.p, both.r):
        got = members(c.call("SPOP", "s", str(count)))
        assert len(got) == min(count, size) and len(set(got)) == len(got)
    both("SCARD", "s")
    # Popping most of a set builds a new one, whose encoding is decided afresh.
    both("OBJECT", "ENCODING", "s")
    both("EXISTS", "s")


def test_spop_whole_intset_is_ordered(both):
    both("SADD", "s", "5", "-1", "3")
    both("SPOP", "s", "3")
    both("EXISTS", "s")
    # integers in a hashtable come out in numeric order too (SUNION's reply)
    both("SADD", "h", "30", "1", "2", "3", "x", "10", "20", "-5", "100", "7", "8", "9")
    both("SREM", "h", "x")
    both_unordered(both, "SRANDMEMBER", "h", "100")
    both("SPOP", "h", "100")


def test_spop_then_sadd_keeps_draws_right(raw_pyr):
    # pyredis-only: pops and adds interleaved keep the pool exact.
    c = raw_pyr
    c.call("SADD", "s", *[f"m{i}" for i in range(50)])
    live = {f"m{i}".encode() for i in range(50)}
    for i in range(300):
        op = i % 3
        if op == 0:
            kind, m = c.call("SPOP", "s")
            live.discard(m)
        elif op == 1:
            c.call("SADD", "s", f"n{i}", f"m{i % 50}")
            live |= {f"n{i}".encode(), f"m{i % 50}".encode()}
        else:
            c.call("SREM", "s", f"n{i - 1}", f"m{(i * 7) % 50}")
            live -= {f"n{i - 1}".encode(), f"m{(i * 7) % 50}".encode()}
        got = set(members(c.call("SRANDMEMBER", "s", "-40")))
        assert got <= live
    assert set(members(c.call("SMEMBERS", "s"))) == live


# -- SMOVE -------------------------------------------------------------------


def test_smove(both):
    both("SADD", "src", "1", "2", "a")
    both("SADD", "dst", "3")
    both("SMOVE", "src", "dst", "1")
    both("SMOVE", "src", "dst", "1")
    both("SMOVE", "src", "src", "2")
    both("SMOVE", "src", "src", "zz")
    both("SMOVE", "src", "dst", "a")
    both("OBJECT", "ENCODING", "dst")
    both_unordered(both, "SMEMBERS", "dst")
    both("SMOVE", "src", "new", "2")
    both("EXISTS", "src")            # the last member moved out
    both("SMEMBERS", "new")
    both("OBJECT", "ENCODING", "new")
    both("SMOVE", "dst", "new2", "a")
    both("OBJECT", "ENCODING", "new2")
    both("SMOVE", "nokey", "dst", "a")
    both("SMOVE", "dst", "dst2", "zz")
    both("EXISTS", "dst2")


def test_smove_keeps_ttl(both):
    both("SADD", "src", "1", "2")
    both("SADD", "dst", "3")
    both("EXPIRE", "src", "1000")
    both("EXPIRE", "dst", "1000")
    both("SMOVE", "src", "dst", "1")
    both("TTL", "src")
    both("TTL", "dst")


# -- SINTER SUNION SDIFF and STORE ----------------------------------------------


def _fill(both):
    both("SADD", "i1", "1", "2", "3", "4", "5")
    both("SADD", "i2", "2", "3", "7")
    both("SADD", "h1", "1", "2", "a", "b")
    both("SADD", "h2", "a", "c", "3")
    both("SADD", "big", *[str(i) for i in range(20)], "x")


@pytest.mark.parametrize("op", ["SINTER", "SUNION", "SDIFF"])
def test_set_algebra(both, op):
    _fill(both)
    for keys in [("i1",), ("i1", "i2"), ("i2", "i1"), ("h1", "h2"), ("i1", "h1"),
                 ("h1", "i1"), ("i1", "i2", "h1"), ("i1", "nokey"), ("nokey", "i1"),
                 ("i1", "i1"), ("big", "i1", "h2"), ("i1", "big"), ("h2", "h2", "h1")]:
        both_unordered(both, op, *keys)
        store = op + "STORE"
        both(store, "dst", *keys)
        both("EXISTS", "dst")
        if both.r.call("EXISTS", "dst") == (":", 1):
            both("OBJECT", "ENCODING", "dst")
            if both.r.call("OBJECT", "ENCODING", "dst") == ("$", b"intset"):
                both("SMEMBERS", "dst")
            else:
                both_unordered(both, "SMEMBERS", "dst")


def test_intset_results_are_ordered(both):
    _fill(both)
    both("SINTER", "i1", "i2")       # the smallest set is an intset
    both("SUNION", "i1", "i2")       # the union would be an intset
    both("SDIFF", "i1", "i2")
    both("SDIFF", "i1", "h1")        # the diff of an intset
    both("SUNION", "i2", "nokey", "i1")


def test_sdiff_algorithm_decides_encoding(both):
    # Redis estimates the work of two algorithms; the one that copies the
    # first set before removing keeps the first set's encoding.
    both("SADD", "a", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "x")
    both("SADD", "b", "x", "1")
    both("SADD", "c", "5")
    both("SDIFFSTORE", "d", "a", "b", "c")       # algorithm 2: hashtable
    both("OBJECT", "ENCODING", "d")
    both("SDIFFSTORE", "d", "a", "b")            # algorithm 1: intset
    both("OBJECT", "ENCODING", "d")
    both("SMEMBERS", "d")
    both("SADD", "e", *[str(i) for i in range(3, 30)])
    both("SDIFFSTORE", "d", "a", "e")
    both("OBJECT", "ENCODING", "d")
    both_unordered(both, "SMEMBERS", "d")
    both_unordered(both, "SDIFF", "a", "e")
    both_unordered(both, "SDIFF", "a", "b", "c")


def test_sinterstore_encoding(both):
    both("SADD", "a", "1", "2", "3", "x")
    both("SINTERSTORE", "d", "a", "a")
    both("OBJECT", "ENCODING", "d")
    both("SREM", "a", "x")
    both("SINTERSTORE", "d", "a", "a")
    both("OBJECT", "ENCODING", "d")
    both("SUNIONSTORE", "d", "a")
    both("OBJECT", "ENCODING", "d")


def test_store_replaces_and_deletes(both):
    _fill(both)
    both("SET", "dst", "x")
    both("EXPIRE", "dst", "1000")
    both("SUNIONSTORE", "dst", "i1")      # overwrites any type, drops the TTL
    both("TYPE", "dst")
    both("TTL", "dst")
    both("SINTERSTORE", "dst", "i1", "h2", "i2")   # empty result: deleted
    both("EXISTS", "dst")
    both("SET", "dst", "x")
    both("SINTERSTORE", "dst", "i1", "nokey")     # a missing source: deleted too
    both("EXISTS", "dst")
    both("SET", "dst", "x")
    both("SDIFFSTORE", "dst", "nokey", "i1")
    both("EXISTS", "dst")
    both("SET", "dst", "x")
    both("SUNIONSTORE", "dst", "nokey")
    both("EXISTS", "dst")
    both("SUNIONSTORE", "i1", "i1", "i2")         # destination among the sources
    both("SMEMBERS", "i1")
    both("SDIFFSTORE", "i2", "i2", "i2")
    both("EXISTS", "i2")


@pytest.mark.parametrize("op", ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])
def test_empty_store_of_a_missing_key_touches_no_watcher(both, op):
    for c in (both.p, both.r):
        c.call("SADD", "a", "1")
        c.call("SADD", "b", "1")
        c.call("WATCH", "dst")
    others = [type(c)(c.port) for c in (both.p, both.r)]
    try:
        for c in others:
            assert c.call(op, "dst", "b", "a")[0] == ":"
            c.call("DEL", "dst")
            assert c.call(op, "dst", "nokey")[0] == ":"
    finally:
        for c in others:
            c.close()
    both("MULTI")
    both("PING")
    both("EXEC")
    both("WATCH", "dst")
    both("SUNIONSTORE", "dst", "a")
    both("MULTI")
    both("PING")
    both("EXEC")


# -- SSCAN -------------------------------------------------------------------


def test_sscan_arguments(both):
    both("SADD", "s", "1", "2", "3")
    both("SSCAN", "s", "abc")
    both("SSCAN", "nokey", "abc")
    both("SSCAN", "s", "0", "COUNT", "0")
    both("SSCAN", "s", "0", "COUNT", "x")
    both("SSCAN", "s", "0", "MATCH")
    both("SSCAN", "s", "0", "TYPE", "string")
    both("SSCAN", "s", "0", "FOO", "bar")
    both("SSCAN", "nokey", "0")
    both("SSCAN", "nokey", "0", "COUNT", "0")   # options are not read for a missing key
    both("SSCAN", "nokey", "0", "TYPE", "x", "COUNT")


def test_sscan_intset_whole(both):
    both("SADD", "s", *[str(i) for i in range(100, 0, -3)])
    both("SSCAN", "s", "0")
    both("SSCAN", "s", "12345", "COUNT", "1")   # whatever the cursor
    both("SSCAN", "s", "0", "MATCH", "1*")


def _scan_all(c, key, *opts):
    cursor = b"0"
    seen = []
    for _ in range(1000):
        kind, (cur, items) = c.call("SSCAN", key, cursor, *opts)
        seen += [i[1] for i in items[1]]
        cursor = cur[1]
        if cursor == b"0":
            return seen
    raise AssertionError("SSCAN did not finish")


def test_sscan_hashtable_walk(both):
    items = [f"m{i}" for i in range(300)]
    both("SADD", "s", *items)
    for opts in [(), ("COUNT", "7"), ("MATCH", "m1*"), ("MATCH", "m1*", "COUNT", "50")]:
        got_p = _scan_all(both.p, "s", *opts)
        got_r = _scan_all(both.r, "s", *opts)
        assert set(got_p) == set(got_r)
        assert len(got_p) == len(set(got_p))
    both("SADD", "small", "a", "b", "c")
    both_unordered_scan = [unordered(c.call("SSCAN", "small", "0")[1][1])
                           for c in (both.p, both.r)]
    assert both_unordered_scan[0] == both_unordered_scan[1]


# -- pyredis-only: draws, effects, digest ---------------------------------------------


def test_draws_are_uniform():
    s = Set((f"m{i}".encode() for i in range(10)), 512)
    s.remove_members([b"m0", b"m1", b"m2"])   # gone members must never come out
    s.add_members([b"m1"], 512)                 # ... unless they are back
    counts = Counter(s.random_repeated(16000))
    assert set(counts) == {b"m1"} | {f"m{i}".encode() for i in range(3, 10)}
    for n in counts.values():
        assert 1600 < n < 2400   # expected 2000 each (8 members)


def test_copy_keeps_the_encoding():
    s = Set([b"1", b"2"], 512)
    s.add_members([b"x"], 512)
    s.remove_members([b"x"])
    s.random_member()
    c = s.copy()
    assert type(c) is Set and c == s and not c.intset and c.encoding() == "hashtable"
    c.add_members([b"3"], 512)
    assert b"3" not in s and set(s.random_repeated(50)) == {b"1", b"2"}
    assert Set([b"1"], 512).copy().intset


def test_pool_survives_many_changes():
    s = Set((), 512)
    rng = random.Random(7)
    live: set = set()
    for step in range(3000):
        r = rng.random()
        if r < 0.4:
            new = [f"k{rng.randrange(300)}".encode() for _ in range(3)]
            s.add_members(new, 512)
            live.update(new)
        elif r < 0.7 and live:
            old = [f"k{rng.randrange(300)}".encode() for _ in range(3)]
            s.remove_members(old)
            live.difference_update(old)
        elif live:
            if rng.random() < 0.5:
                live.discard(s.pop_random())
            else:
                assert set(s.random_repeated(5)) <= live
                k = rng.randrange(1, len(live) + 1)
                if k < len(live):
                    got = s.random_distinct(k)
                    assert len(set(got)) == k and set(got) <= live
        assert set(s) == live
        if s._pool is not None:
            # every live member exactly once, and no more gone than live
            assert Counter(m for m in s._pool if m not in s._gone) == Counter(live)
            assert len(s._pool) == len(live) + len(s._gone)
            assert len(s._gone) <= len(live) + 1


def test_effects(raw_pyr, recorder):
    c = raw_pyr
    c.call("SADD", "s", "a", "b", "c", "d", "e")
    c.call("SADD", "s", "a")                 # nothing added: nothing sent
    c.call("SREM", "s", "zz")
    c.call("SREM", "nokey", "a")
    m = c.call("SPOP", "s")[1]
    popped = members(c.call("SPOP", "s", "2"))
    c.call("SPOP", "s", "0")
    c.call("SPOP", "nokey")
    c.call("SRANDMEMBER", "s", "2")
    c.call("SMOVE", "s", "t", "zz")
    rest = members(c.call("SPOP", "s", "10"))
    c.call("SADD", "s", "x")
    c.call("SMOVE", "s", "t", "x")
    # The popped members leave as SREMs, in the order of the reply.
    assert recorder.effects == [
        (0, [b"SADD", b"s", b"a", b"b", b"c", b"d", b"e"]),
        (0, [b"SREM", b"s", m]),
        (0, [b"SREM", b"s", *popped]),
        (0, [b"SREM", b"s", *rest]),
        (0, [b"SADD", b"s", b"x"]),
        (0, [b"SMOVE", b"s", b"t", b"x"]),
    ]
    assert len(rest) == 2


def test_spop_effects_are_batched(raw_pyr, recorder):
    raw_pyr.call("SADD", "s", *[f"m{i}" for i in range(2500)])
    raw_pyr.call("SPOP", "s", "2400")
    srems = recorder.effects[1:]
    assert [len(e[1]) - 2 for e in srems] == [1024, 1024, 352]
    assert all(e[1][:2] == [b"SREM", b"s"] for e in srems)
    assert raw_pyr.call("SCARD", "s") == (":", 100)


def test_digest_matches_redis(raw_ref):
    # DEBUG DIGEST-VALUE is mixDigest(0, htonl(OBJ_SET)) with each member's
    # SHA1 xored in; digest_set does the second part.
    type_id = hashlib.sha1(hashlib.sha1((2).to_bytes(4, "big")).digest()).digest()
    raw_ref.call("SADD", "i", "1", "2", "300")
    raw_ref.call("SADD", "h", b"a", b"b", b"", b"\x00\xff")
    for key, items in (("i", [b"1", b"2", b"300"]), ("h", [b"a", b"b", b"", b"\x00\xff"])):
        kind, value = raw_ref.call("DEBUG", "DIGEST-VALUE", key)
        assert kind == "*"
        assert digest_set(type_id, Set(items, 512)).hex().encode() == value[0][1]
        assert digest_set(type_id, set(items)) == digest_set(type_id, Set(items, 512))


def test_debug_digest(both):
    both("SADD", "i", "1", "2", "300")
    both("SADD", "h", b"a", b"b", b"", b"\x00\xff", "7")
    both("SADD", "h2", "9")
    both("SADD", "h2", "x")
    both("SREM", "h2", "x")           # a hashtable of integers
    both("EXPIRE", "h", "1000")
    both("DEBUG", "DIGEST-VALUE", "i", "h", "h2", "nokey")
    both("DEBUG", "DIGEST")


def test_keyspace_events(pyr, ref):
    from test_notifications import Events
    events = Events(pyr, ref)
    try:
        events.config("KEA")
        heard = events.run(
            ("SADD", "s", "1", "2", "3"), ("SADD", "s", "1"), ("SREM", "s", "9"),
            ("SREM", "s", "1"), ("SMOVE", "s", "t", "2"), ("SADD", "t", "3"),
            ("SMOVE", "s", "t", "3"),             # src emptied; already in dst
            ("SADD", "s", "a", "b", "c", "d", "e", "f"))
        # Random pops: replies differ, events must not.
        for args in (("SPOP", "s"), ("SPOP", "s", "0"), ("SPOP", "s", "1"), ("SPOP", "s", "3"),
                     ("SPOP", "s", "5")):
            events.cmd.p.call(*args)
            events.cmd.r.call(*args)
        heard += events.run(
            ("EXISTS", "s"),
            ("SADD", "u", "x"), ("SPOP", "u"), ("SPOP", "nokey"),
            ("SADD", "a", "1", "2"), ("SADD", "b", "2", "3"),
            ("SINTERSTORE", "d", "a", "b"), ("SUNIONSTORE", "d", "a", "b"),
            ("SDIFFSTORE", "d", "a", "b"), ("SINTERSTORE", "d", "a", "nokey"),
            ("SINTERSTORE", "d", "a", "nokey"), ("SUNIONSTORE", "d", "a"),
            ("SDIFFSTORE", "d", "a", "a"), ("SREM", "a", "1", "2"))
        assert (b"__keyevent@0__:sadd", b"s") in heard
        events.config("Ks")
        events.run(("SADD", "s2", "1"), ("SREM", "s2", "1"), ("SUNIONSTORE", "d2", "b"))
    finally:
        events.config("")
        events.close()
