"""SORT against the reference redis-server: numeric and ALPHA sorting of
lists, sets and sorted sets, BY and GET patterns (strings, hash fields,
``#``, missing keys, NUL bytes), LIMIT, the BY-nosort orders, STORE,
errors, option parsing, the zset encoding change, COMMAND INFO/GETKEYS,
RESP3 nulls, keyspace events, and a randomized comparison; plus
pyredis-only checks of SORT's effects.

Where Redis answers in hash-table order (an unsorted hashtable set),
replies are compared as sorted lists."""

from __future__ import annotations

import random
import threading

import pytest
from conftest import RawClient


WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")
NOT_DOUBLE = ("-", b"ERR One or more scores can't be converted into double")


def unordered(both, *args):
    expected = both.r.call(*args)
    got = both.p.call(*args)
    assert expected[0] == "*" and got[0] == "*", (got, expected)
    assert sorted(got[1]) == sorted(expected[1]), f"{args!r}: {got!r} != {expected!r}"
    return got


def test_numeric_and_alpha(both):
    both("RPUSH", "l", "3", "-1", "10", "2.5", "1e2", "0x1A", "inf", "-inf", " 7", "")
    both("SORT", "l")
    both("SORT", "l", "DESC")
    both("SORT", "l", "ASC", "DESC", "ASC")
    both("SORT", "l", "ALPHA")
    both("SORT", "l", "alpha", "desc")
    both("SORT", "l", "LIMIT", "2", "3")
    both("SORT", "l", "LIMIT", "-5", "2")
    both("SORT", "l", "LIMIT", "8", "10")
    both("SORT", "l", "LIMIT", "10", "1")
    both("SORT", "l", "LIMIT", "100", "1")
    both("SORT", "l", "LIMIT", "1", "-1")
    both("SORT", "l", "LIMIT", "0", "0")
    both("SORT", "l", "LIMIT", "3", "9223372036854775807")
    both("SORT", "l", "LIMIT", "9223372036854775807", "9223372036854775807")
    both("SORT", "l", "DESC", "LIMIT", "1", "2", "ALPHA")
    both("SORT", "missing")
    both("SORT", "missing", "LIMIT", "1", "2", "ALPHA", "DESC")


def test_ties_broken_by_element(both):
    # Equal numeric values compare as byte strings, also under DESC.
    both("RPUSH", "l", "1.0", "1", "01", "1e0", "2", "0x1", "1.00")
    both("SORT", "l")
    both("SORT", "l", "DESC")
    both("RPUSH", "z", "-0", "0", "0.0", "-0.0")
    both("SORT", "z")


@pytest.mark.parametrize("bad", ["abc", "1x", "5 ", "nan", "1e999", "-1e999", "1e-400", " ",
                                 "0x", "--1"])
def test_not_a_double(both, bad):
    both("RPUSH", "l", "1", bad, "2")
    both("SORT", "l")
    # The same through a BY weight; ALPHA and nosort do not read numbers.
    both("DEL", "l")
    both("RPUSH", "l", "a", "b")
    both("SET", "w_a", bad)
    both("SORT", "l", "BY", "w_*")
    both("SORT", "l", "BY", "w_*", "ALPHA")
    both("SORT", "l", "BY", "nosort")
    both("SORT", "l", "BY", "w_*", "STORE", "dst")
    both("EXISTS", "dst")


def test_numbers_strtod_accepts(both):
    accepted = ["1e-300", "-0x1p3", "INF", "+4", ".5", "5.", "1\x00junk", "  -2", "\t3e1",
                "-infinity", "0e5", "0x1p-1074", "-0x0.8p-1022", "0x1.0000000000001p-1022",
                "2.2250738585072014e-308", "0x.8", "0X1P1", "0.000"]
    both("RPUSH", "l", *accepted)
    assert both("SORT", "l")[0] == "*"
    # A subnormal that strtod had to round sets ERANGE; '_' is not a digit.
    for bad in ["1e-310", "4e-320", "5e-324", "0x1.8p-1074", "-2.2250738585072011e-308", "1_0"]:
        both("RPUSH", "l2", "1", bad)
        assert both("SORT", "l2") == NOT_DOUBLE, bad
        both("DEL", "l2")


def test_containers(both):
    both("SADD", "is", "5", "-3", "12", "0")
    both("SORT", "is")
    both("SORT", "is", "DESC", "LIMIT", "1", "2")
    both("SORT", "is", "BY", "nosort")          # intset order
    both("SORT", "is", "BY", "nosort", "DESC")  # a set has no order to reverse
    both("SADD", "hs", "pear", "apple", "fig", "kiwi", "date")
    both("SORT", "hs", "ALPHA")
    both("SORT", "hs", "ALPHA", "DESC", "LIMIT", "1", "3")
    both("SORT", "hs")
    unordered(both, "SORT", "hs", "BY", "nosort")
    both("SORT", "hs", "BY", "nosort", "STORE", "d")  # stored: sorted ALPHA
    both("LRANGE", "d", "0", "-1")
    both("SORT", "hs", "BY", "nosort", "DESC", "GET", "#", "STORE", "d")
    both("LRANGE", "d", "0", "-1")
    both("ZADD", "z", "5", "a", "3", "b", "9", "c", "1", "d", "3", "bb")
    both("SORT", "z", "ALPHA")
    both("SORT", "z")
    for extra in ([], ["DESC"], ["LIMIT", "1", "2"], ["DESC", "LIMIT", "1", "2"],
                  ["LIMIT", "0", "-1"], ["LIMIT", "10", "2"], ["DESC", "LIMIT", "4", "9"],
                  ["LIMIT", "-3", "1"]):
        both("SORT", "z", "BY", "nosort", *extra)
        both("RPUSH", "l", "c", "a", "d", "b", "e")
        both("SORT", "l", "BY", "nosort", *extra)
        both("DEL", "l")


def test_unsorted_set_in_a_script_is_sorted(both):
    if both.p.call("EVAL", "return 1", "0")[0] == "-":
        pytest.skip("no scripting")
    both("SADD", "hs", "pear", "apple", "fig", "kiwi", "date", "10", "9")
    both("EVAL", "return redis.call('sort', KEYS[1], 'by', 'nosort')", "1", "hs")
    both("EVAL", "return redis.call('sort', KEYS[1], 'by', 'nosort', 'desc', 'limit', '1', '3')",
         "1", "hs")


def test_zset_becomes_skiplist(both):
    both("ZADD", "z", "1", "a", "2", "b")
    both("OBJECT", "ENCODING", "z")
    both("SORT", "z", "LIMIT", "x", "1")         # a parse error converts nothing
    both("OBJECT", "ENCODING", "z")
    both("SORT", "z", "BY", "nosort")
    both("OBJECT", "ENCODING", "z")
    both("ZADD", "z2", "1", "a")
    both("SORT", "z2")                           # even a failed numeric sort
    both("OBJECT", "ENCODING", "z2")


def test_by_and_get(both):
    both("RPUSH", "l", "1", "2", "3", "4")
    both("MSET", "w_1", "40", "w_2", "-5", "w_3", "40", "o_1", "one", "o_3", "three")
    both("HSET", "h_1", "f", "3", "g", "x")
    both("HSET", "h_2", "f", "1")
    both("HSET", "h_4", "f", "2", "->", "arrow")
    both("SORT", "l", "BY", "w_*")               # w_4 missing weighs 0
    both("SORT", "l", "BY", "w_*", "DESC")
    both("SORT", "l", "BY", "h_*->f")
    both("SORT", "l", "BY", "h_*->f", "DESC", "LIMIT", "0", "2")
    both("SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*", "GET", "h_*->f", "GET", "h_*->g")
    both("SORT", "l", "GET", "o_*", "GET", "nostar", "GET", "#")
    both("SORT", "l", "GET", "h_*->")            # "->" with nothing after: a plain key
    both("SORT", "l", "GET", "h_*->->")          # field "->"
    both("SORT", "l", "GET", "*")                # a key named after the element
    both("SORT", "l", "BY", "o_*", "ALPHA")      # missing alpha weights first
    both("SORT", "l", "BY", "o_*", "ALPHA", "DESC")
    both("SORT", "l", "GET", "w_*", "BY", "nosort", "DESC", "LIMIT", "1", "2")
    both("SORT", "l", "BY", "l")                 # no '*': unsorted
    both("SORT", "l", "BY", "nosort", "BY", "w_*")  # and it stays unsorted
    both("SORT", "l", "BY", "w_*", "BY", "h_*->f")  # the last BY wins
    both("SORT", "l", "GET", "l")                # wrong type, missing: nil
    both("SORT", "l", "GET", "h_*")              # a hash without ->: nil
    both("SORT", "l", "GET", "o_*->f")           # a string with ->: nil
    both("SORT", "l", "BY", "h_*->g")            # 'x' is not a number
    both("APPEND", "o_1", "!")                   # a string edited in place
    both("APPEND", "w_2", "0")
    both("SORT", "l", "BY", "w_*", "GET", "o_*")


def test_patterns_with_nul_and_hash(both):
    both("RPUSH", "l", "1", "2")
    both("SET", "k\x00x1", "a")
    both("SET", "1\x00k", "b")
    both("SET", "w_1", "5")
    both("HSET", "h1", "f\x00g", "c", "f", "d")
    both("SORT", "l", "GET", "#\x00zzz")         # '#' as C sees it
    both("SORT", "l", "GET", "k\x00x*")          # no '*' before the NUL
    both("SORT", "l", "GET", "*\x00k")           # the key keeps bytes after a NUL
    both("SORT", "l", "GET", "h*->f\x00g")       # so does the field
    both("SORT", "l", "BY", "w_*\x00", "GET", "w_*")
    both("SORT", "l", "BY", "w\x00_*")           # no '*' before the NUL: unsorted
    both("SORT", "l", "DESC\x00x", "LIMIT\x00", "0", "1")  # option names stop at NUL


def test_alpha_stops_at_nul_without_store(both):
    both("RPUSH", "l", "b\x00a", "a\x00z", "c", "a")
    both("SORT", "l", "ALPHA", "STORE", "d")
    both("LRANGE", "d", "0", "-1")
    both("RPUSH", "l2", "b", "a\x00z", "c")
    both("SORT", "l2", "ALPHA")
    both("SORT", "l2", "ALPHA", "DESC")


def test_store(both):
    both("RPUSH", "l", "3", "1", "2")
    both("SET", "d", "string")
    both("EXPIRE", "d", "100")
    both("SORT", "l", "STORE", "d")
    both("TYPE", "d")
    both("TTL", "d")
    both("LRANGE", "d", "0", "-1")
    both("OBJECT", "ENCODING", "d")
    both("SORT", "l", "GET", "nothing_*", "GET", "#", "STORE", "d")
    both("LRANGE", "d", "0", "-1")
    both("SORT", "l", "LIMIT", "5", "1", "STORE", "d")   # empty result deletes d
    both("EXISTS", "d")
    both("SORT", "l", "LIMIT", "5", "1", "STORE", "d")
    both("SORT", "missing", "STORE", "d")
    both("SORT", "l", "STORE", "x", "STORE", "d", "DESC")  # the last STORE wins
    both("EXISTS", "x")
    both("LRANGE", "d", "0", "-1")
    both("SORT", "l", "STORE", "l")               # onto itself
    both("LRANGE", "l", "0", "-1")


def test_errors(both):
    both("SORT")
    both("SET", "s", "x")
    both("HSET", "h", "f", "v")
    both("SORT", "s")
    both("SORT", "h", "BY", "nosort")
    both("SORT", "s", "bogus")                    # syntax is checked first
    both("RPUSH", "l", "1")
    for opts in (["LIMIT"], ["LIMIT", "1"], ["LIMIT", "a", "1"], ["LIMIT", "1", "1.5"],
                 ["LIMIT", "1", "99999999999999999999"], ["BY"], ["GET"], ["STORE"],
                 ["ALPHA", "foo"], ["LIMIT", "01", "1"]):
        both("SORT", "l", *opts)


def test_command_info_and_getkeys(both):
    both("COMMAND", "INFO", "sort")
    for args in (["k"], ["k", "STORE", "d"], ["k", "store", "d1", "STORE", "d2"],
                 ["k", "LIMIT", "store", "x", "STORE", "d"], ["k", "GET", "store", "x"],
                 ["k", "BY", "store", "STORE"], ["k", "STORE", "d", "LIMIT"],
                 ["k", "STORE", "limit", "a", "b"], ["k", "STORE"], ["k", "ALPHA", "STORE", "z"]):
        both("COMMAND", "GETKEYS", "SORT", *args)


def test_resp3_nulls(both):
    for c in (both.p, both.r):
        assert c.call("HELLO", "3")[0] == "%"
    try:
        both("RPUSH", "l", "2", "1")
        both("SORT", "l", "GET", "x_*", "GET", "#")
    finally:
        for c in (both.p, both.r):
            c.call("HELLO", "2")


def test_keyspace_events(pyr, ref):
    got = {}
    for name, port in (("pyr", pyr.port), ("ref", ref.port)):
        c = RawClient(port)
        sub = RawClient(port)
        try:
            c.call("CONFIG", "SET", "notify-keyspace-events", "KEA")
            sub.call("PSUBSCRIBE", "__key*__:*")
            c.call("RPUSH", "l", "2", "1")
            c.call("SORT", "l", "STORE", "d")
            c.call("SORT", "l", "LIMIT", "9", "1", "STORE", "d")
            c.call("SORT", "l", "LIMIT", "9", "1", "STORE", "d")
            c.call("SET", "end", "1")
            msgs = []
            while True:
                m = sub.read()
                msgs.append(m)
                if m[1][3] == ("$", b"end"):
                    break
            got[name] = msgs
        finally:
            c.call("CONFIG", "SET", "notify-keyspace-events", "")
            c.close()
            sub.close()
    assert got["pyr"] == got["ref"]


def test_randomized(both):
    rng = random.Random(6200)
    nums = ["1", "-2", "3.5", "0", "10", "7", "-0.25", "1e3", "42", "5", "6", "8", "100"]
    words = ["apple", "Banana", "cherry", "date", "elder", "fig", "grape", "Kiwi", "lemon", "m"]
    for _ in range(80):
        both("FLUSHALL")
        numeric = rng.random() < 0.6
        pool = nums if numeric else words
        elems = rng.sample(pool, rng.randint(0, len(pool)))
        kind = rng.choice(["list", "set", "zset"])
        if elems and kind == "list":
            both("RPUSH", "src", *(elems + rng.sample(elems, min(2, len(elems)))))
        elif elems and kind == "set":
            both("SADD", "src", *elems)
        elif elems:
            both("ZADD", "src", *[x for e in elems for x in (str(rng.randint(-3, 3)), e)])
        # Distinct weights; with "full" every element has them.
        full = rng.random() < 0.5
        for e, w in zip(pool, rng.sample(range(1000), len(pool))):
            if full or rng.random() < 0.7:
                both("SET", f"w_{e}", str(w))
            if full or rng.random() < 0.7:
                both("HSET", f"h_{e}", "f", f"v{w}", "n", str(w % 7))
        by = rng.choice([None, None, "w_*", "h_*->n", "h_*->f", "nosort"])
        opts = ["BY", by] if by else []
        alpha = not numeric or by == "h_*->f" or rng.random() < 0.2
        if alpha:
            opts.append("ALPHA")
        if rng.random() < 0.5:
            opts.append(rng.choice(["ASC", "DESC"]))
        limited = rng.random() < 0.5
        if limited:
            opts += ["LIMIT", str(rng.randint(-2, 12)), str(rng.randint(-2, 12))]
        for _ in range(rng.randint(0, 3)):
            opts += ["GET", rng.choice(["#", "w_*", "h_*->f", "h_*->n", "none_*"])]
        store = rng.random() < 0.3
        if store:
            opts += ["STORE", "dst"]
        args = ["SORT", "src", *opts]
        r = both.r.call(*args)
        p = both.p.call(*args)
        # Orders Redis leaves undefined: an unsorted hashtable set (and so
        # which members a LIMIT picks), and ties between ALPHA weights
        # (missing ones, or the repeating "n" field).
        hash_order = kind == "set" and by == "nosort" and not store
        alpha_ties = alpha and by in ("w_*", "h_*->n", "h_*->f") and (
            not full or by == "h_*->n")
        if p[0] == "*" and r[0] == "*" and (hash_order or alpha_ties):
            if limited:
                assert len(p[1]) == len(r[1]), (args, p, r)
            else:
                assert sorted(p[1], key=repr) == sorted(r[1], key=repr), (args, p, r)
        else:
            assert p == r, f"{args!r}: pyredis {p!r} != redis {r!r}"
        if store:
            both("EXISTS", "dst")
            if not alpha_ties:
                both("LRANGE", "dst", "0", "-1")


# -- pyredis only: effects ---------------------------------------------------------


def test_effects(raw_pyr, recorder):
    c = raw_pyr
    c.call("RPUSH", "l", "3", "1", "2")
    c.call("SET", "w_1", "9")
    del recorder.effects[:]
    assert c.call("SORT", "l", "BY", "w_*", "GET", "#") == (
        "*", [("$", b"2"), ("$", b"3"), ("$", b"1")])
    assert recorder.effects == []                 # a read changes nothing
    assert c.call("SORT", "l", "BY", "w_*", "STORE", "d") == (":", 3)
    assert recorder.effects == [(0, [b"RPUSH", b"d", b"2", b"3", b"1"])]
    del recorder.effects[:]
    c.call("SORT", "l", "STORE", "d")
    assert recorder.effects == [(0, [b"DEL", b"d"]), (0, [b"RPUSH", b"d", b"1", b"2", b"3"])]
    del recorder.effects[:]
    c.call("SORT", "l", "LIMIT", "5", "5", "STORE", "d")
    assert recorder.effects == [(0, [b"DEL", b"d"])]
    del recorder.effects[:]
    c.call("SORT", "l", "LIMIT", "5", "5", "STORE", "d")
    assert c.call("SORT", "l", "BY", "w_*", "GET", "x", "STORE", "d", "LIMIT", "5", "1") == (":", 0)
    assert recorder.effects == []
    # A big result leaves in batches.
    c.call("RPUSH", "big", *[str(i) for i in range(2500)])
    del recorder.effects[:]
    assert c.call("SORT", "big", "STORE", "d") == (":", 2500)
    assert [len(e[1]) - 2 for e in recorder.effects] == [1024, 1024, 452]


def test_sort_without_store_does_not_propagate_expiry_as_sort(pyr, raw_pyr, recorder):
    c = raw_pyr
    c.call("RPUSH", "l", "1", "2")
    c.call("SET", "w_1", "5")
    done = threading.Event()

    def expire_in_the_past():
        # Not in the active-expiry heap: only SORT's lookup can expire it.
        pyr.core.ks.dbs[0].expires[b"w_1"] = 1
        done.set()

    pyr.call_soon(expire_in_the_past)
    assert done.wait(5)
    del recorder.effects[:]
    assert c.call("SORT", "l", "BY", "w_*") == ("*", [("$", b"1"), ("$", b"2")])
    assert recorder.effects == [(0, [b"DEL", b"w_1"])]


def _hits_misses(c):
    info = c.call("INFO", "stats")[1].decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return int(fields["keyspace_hits"]), int(fields["keyspace_misses"])


def test_lookups_count_hits_and_misses(both):
    # Without STORE every lookup is a read (hits and misses counted); with
    # STORE every lookup is a write lookup, which counts nothing.
    both("RPUSH", "l", "1", "2", "3")
    both("SET", "w_1", "5")
    both("HSET", "h_2", "f", "1")
    for args in (["BY", "w_*", "GET", "#", "GET", "h_*->f"], ["GET", "nostar"],
                 ["BY", "w_*", "GET", "h_*->f", "STORE", "d"], ["BY", "nosort"]):
        both("CONFIG", "RESETSTAT")
        both("SORT", "l", *args)
        assert _hits_misses(both.p) == _hits_misses(both.r), args
