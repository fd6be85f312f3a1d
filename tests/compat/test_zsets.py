"""Sorted set commands against the reference redis-server: every command's
normal cases, edge cases and errors, RESP2 and RESP3 reply shapes, score
parsing and printing, the ziplist/skiplist encodings and their thresholds,
ZSCAN, DEBUG DIGEST-VALUE; blocking BZPOPMIN/BZPOPMAX with several clients
on both servers; and, on pyredis, the effects sent into the funnel and
ZSCAN's guarantee on a big set that changes during the scan."""

from __future__ import annotations

import random
import threading
import time

import pytest

from conftest import Target, encode_command, silent
from pyredis.propagate import Recorder

NAMES = ("zadd", "zincrby", "zcard", "zcount", "zlexcount", "zscore", "zmscore", "zrank",
         "zrevrank", "zrange", "zrevrange", "zrangebyscore", "zrevrangebyscore",
         "zrangebylex", "zrevrangebylex", "zrangestore", "zrem", "zremrangebyrank",
         "zremrangebyscore", "zremrangebylex", "zunionstore", "zinterstore", "zdiffstore",
         "zunion", "zinter", "zdiff", "zpopmin", "zpopmax", "bzpopmin", "bzpopmax",
         "zrandmember", "zscan")


def fill(both, key, *pairs):
    both("ZADD", key, *[x for p in pairs for x in p])


def test_command_info_rows(both):
    for name in NAMES:
        both("COMMAND", "INFO", name)


def test_command_getkeys(both):
    for args in (("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), ("ZUNIONSTORE", "d", "0", "a"),
                 ("ZUNIONSTORE", "d", "5", "a"), ("ZUNIONSTORE", "d", "x", "a"),
                 ("ZUNIONSTORE", "d", " 1x", "a"), ("ZINTERSTORE", "d", "1", "a"),
                 ("ZDIFFSTORE", "d", "2", "a", "b"), ("ZUNION", "2", "a", "b"), ("ZUNION", "3", "a", "b"),
                 ("ZINTER", "1", "a", "WITHSCORES"), ("ZDIFF", "1", "a"), ("ZRANGESTORE", "d", "s", "0", "1"),
                 ("BZPOPMIN", "a", "b", "0"), ("ZADD", "k", "1", "m")):
        both("COMMAND", "GETKEYS", *args)


def test_arity(both):
    for args in (("ZADD", "k", "1"), ("ZINCRBY", "k", "1"), ("ZCARD",), ("ZCOUNT", "k", "1"),
                 ("ZSCORE", "k"), ("ZMSCORE", "k"), ("ZRANK", "k", "a", "b"), ("ZRANGE", "k", "0"),
                 ("ZRANGESTORE", "d", "k", "0"), ("ZREM", "k"), ("ZPOPMIN",),
                 ("BZPOPMIN", "k"), ("ZUNIONSTORE", "d", "1"), ("ZUNION", "1"),
                 ("ZRANDMEMBER",), ("ZSCAN", "k"), ("ZLEXCOUNT", "k", "-"),
                 ("ZREMRANGEBYLEX", "k", "-", "+", "x")):
        both(*args)


# -- ZADD / ZINCRBY ------------------------------------------------------------


def test_zadd_basic_and_scores(both):
    both("ZADD", "z", "1.1", "a", "2", "b", "-0", "c", "inf", "d", "-inf", "e")
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")
    for m in ("a", "b", "c", "d", "e", "nope"):
        both("ZSCORE", "z", m)
    both("ZADD", "z", "0", "c2", "-0", "c3", "5e-324", "t", "1e308", "h")
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")
    both("ZADD", "z", "3", "a", "3", "b")
    both("ZCARD", "z")
    both("ZCARD", "nokey")
    both("ZSCORE", "nokey", "a")


@pytest.mark.parametrize("score", [
    "1", "-1", "0.5", ".5", "5.", "+.5e1", "1e3", "1E-3", "0x10", "0x1p3", "-0x1.8p1",
    "inf", "+inf", "-inf", "Infinity", "-INFINITY", "4e-320", "1e-400", "1e400", "-1e400",
    "nan", "NaN", "1_0", " 1", "1 ", "", "1e", "0x", "abc", "1\x00", "12345678901234567890",
    "3.0000000000000004", "0.1", "1.7976931348623157e308"])
def test_zadd_score_parsing(both, score):
    both("ZADD", "z", score, "m")
    both("ZSCORE", "z", "m")
    both("ZINCRBY", "z", score, "m")
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")


def test_zadd_options(both):
    both("ZADD", "z", "1", "a")
    both("ZADD", "z", "NX", "5", "a", "2", "b")
    both("ZADD", "z", "XX", "5", "a", "3", "c")
    both("ZADD", "z", "CH", "6", "a", "2", "b", "7", "d")
    both("ZADD", "z", "XX", "CH", "6", "a", "8", "b")
    both("ZADD", "z", "GT", "CH", "1", "a", "10", "b")
    both("ZADD", "z", "LT", "CH", "1", "a", "10", "b", "3", "new")
    both("ZADD", "z", "GT", "XX", "CH", "100", "a", "1", "new", "5", "other")
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")
    both("ZADD", "newkey", "XX", "1", "a")
    both("EXISTS", "newkey")
    both("ZADD", "newkey", "GT", "1", "a")
    both("ZRANGE", "newkey", "0", "-1", "WITHSCORES")


def test_zadd_incr(both):
    both("ZADD", "z", "INCR", "1", "a")
    both("ZADD", "z", "INCR", "2.5", "a")
    both("ZADD", "z", "NX", "INCR", "1", "a")
    both("ZADD", "z", "XX", "INCR", "1", "nope")
    both("ZADD", "z", "GT", "INCR", "-1", "a")
    both("ZADD", "z", "LT", "INCR", "1", "a")
    both("ZADD", "z", "LT", "INCR", "-1", "a")
    both("ZADD", "z", "INCR", "inf", "a")
    both("ZADD", "z", "INCR", "-inf", "a")
    both("ZSCORE", "z", "a")
    both("ZADD", "nokey", "XX", "INCR", "1", "a")
    both("EXISTS", "nokey")


def test_zadd_errors(both):
    both("ZADD", "z", "1", "a")
    for args in (("XX", "NX", "1", "a"), ("INCR", "1", "a", "2", "b"), ("GT", "LT", "1", "a"),
                 ("GT", "NX", "1", "a"), ("LT", "NX", "1", "a"), ("1", "a", "2"), ("NX", "1"),
                 ("1", "a", "INCR"), ("foo", "1", "a"), ("1", "a", "x", "b"), ("nx", "a"),
                 ("incr", "a"), ("NX", "XX", "x", "a"), ("XX", "NX", "1", "a", "2")):
        both("ZADD", "z", *args)
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")


def test_zincrby(both):
    both("ZINCRBY", "z", "1", "a")
    both("ZINCRBY", "z", "0.1", "a")
    both("ZINCRBY", "z", "-5", "b")
    both("ZINCRBY", "z", "inf", "c")
    both("ZINCRBY", "z", "-inf", "c")
    both("ZINCRBY", "z", "x", "a")
    both("ZINCRBY", "z", "nan", "a")
    both("ZINCRBY", "z", "nx", "a")
    both("ZINCRBY", "z", "incr", "a")
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")


def test_wrongtype(both):
    both("SET", "s", "v")
    both("RPUSH", "l", "v")
    for args in (("ZADD", "s", "1", "a"), ("ZADD", "s", "XX", "1", "a"), ("ZINCRBY", "s", "1", "a"),
                 ("ZCARD", "s"), ("ZSCORE", "s", "a"), ("ZMSCORE", "s", "a"), ("ZRANK", "s", "a"),
                 ("ZREVRANK", "s", "a"), ("ZCOUNT", "s", "0", "1"), ("ZLEXCOUNT", "s", "-", "+"),
                 ("ZRANGE", "s", "0", "1"), ("ZRANGEBYSCORE", "s", "0", "1"),
                 ("ZRANGEBYLEX", "s", "-", "+"), ("ZREVRANGE", "l", "0", "1"),
                 ("ZRANGESTORE", "d", "s", "0", "1"), ("ZREM", "s", "a"),
                 ("ZREMRANGEBYRANK", "s", "0", "1"), ("ZREMRANGEBYSCORE", "s", "0", "1"),
                 ("ZREMRANGEBYLEX", "s", "-", "+"), ("ZPOPMIN", "s"), ("ZPOPMAX", "l", "2"),
                 ("BZPOPMIN", "s", "0.01"), ("ZRANDMEMBER", "s"), ("ZRANDMEMBER", "s", "2"),
                 ("ZSCAN", "s", "0"), ("ZUNIONSTORE", "d", "2", "s", "x"),
                 ("ZINTER", "1", "l"), ("ZDIFF", "2", "nokey", "s")):
        both(*args)
    # Argument errors come before the type check where Redis parses first.
    both("ZADD", "s", "x", "a")
    both("ZRANGEBYSCORE", "s", "x", "1")
    both("ZREMRANGEBYRANK", "s", "x", "1")
    both("ZPOPMIN", "s", "x")


# -- reads by member -------------------------------------------------------------


def test_rank_and_mscore(both):
    fill(both, "z", ("1", "a"), ("2", "b"), ("2", "c"), ("-1", "d"))
    for m in ("a", "b", "c", "d", "nope"):
        both("ZRANK", "z", m)
        both("ZREVRANK", "z", m)
    both("ZRANK", "nokey", "a")
    both("ZMSCORE", "z", "a", "nope", "d")
    both("ZMSCORE", "nokey", "a", "b")


# -- ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize("start,stop", [
    ("0", "-1"), ("0", "0"), ("1", "2"), ("-2", "-1"), ("-100", "100"), ("3", "1"),
    ("5", "10"), ("-1", "-2"), ("0", "-100"), ("x", "1"), ("1", "1.5")])
def test_rank_ranges(both, start, stop):
    fill(both, "z", ("1", "a"), ("2", "b"), ("3", "c"), ("4", "d"), ("5", "e"))
    both("ZRANGE", "z", start, stop)
    both("ZRANGE", "z", start, stop, "WITHSCORES")
    both("ZREVRANGE", "z", start, stop, "WITHSCORES")
    both("ZRANGE", "z", start, stop, "REV")
    both("ZRANGE", "nokey", start, stop)


@pytest.mark.parametrize("lo,hi", [
    ("-inf", "+inf"), ("1", "3"), ("(1", "3"), ("1", "(3"), ("(1", "(3"), ("3", "1"),
    ("(2", "(2"), ("2", "2"), ("-inf", "-inf"), ("+inf", "+inf"), ("(inf", "inf"),
    ("", ""), ("(", "+inf"), (" 1", "3"), ("( 1", "3"), ("x", "1"), ("1", "x"), ("(nan", "1"),
    ("1e", "2"), ("0x", "1"), ("1e400", "inf"), ("-0", "0"), ("(-0", "0"), ("1", "3 ")])
def test_score_ranges(both, lo, hi):
    fill(both, "z", ("1", "a"), ("2", "b"), ("2", "bb"), ("3", "c"), ("inf", "i"), ("-inf", "n"),
         ("0", "z0"), ("-0", "mz"))
    both("ZCOUNT", "z", lo, hi)
    both("ZRANGEBYSCORE", "z", lo, hi)
    both("ZRANGEBYSCORE", "z", lo, hi, "WITHSCORES")
    both("ZREVRANGEBYSCORE", "z", hi, lo, "WITHSCORES")
    both("ZRANGE", "z", lo, hi, "BYSCORE")
    both("ZRANGE", "z", hi, lo, "BYSCORE", "REV", "WITHSCORES")
    both("ZCOUNT", "nokey", lo, hi)


@pytest.mark.parametrize("offset,count", [
    ("0", "1"), ("1", "2"), ("0", "0"), ("0", "-1"), ("2", "-5"), ("-1", "2"), ("7", "1"),
    ("100", "1"), ("x", "1"), ("1", "x")])
def test_limit(both, offset, count):
    fill(both, "z", *[(str(i), "m%d" % i) for i in range(8)])
    both("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", offset, count)
    both("ZREVRANGEBYSCORE", "z", "+inf", "(1", "LIMIT", offset, count, "WITHSCORES")
    both("ZRANGE", "z", "(2", "6", "BYSCORE", "LIMIT", offset, count)
    both("ZRANGE", "z", "[m6", "-", "BYLEX", "REV", "LIMIT", offset, count)
    fill(both, "l", *[("0", c) for c in "abcdefgh"])
    both("ZRANGEBYLEX", "l", "-", "+", "LIMIT", offset, count)
    both("ZREVRANGEBYLEX", "l", "[g", "(a", "LIMIT", offset, count)


@pytest.mark.parametrize("lo,hi", [
    ("-", "+"), ("[b", "[d"), ("(b", "(d"), ("[b", "(d"), ("+", "-"), ("-", "-"), ("+", "+"),
    ("[d", "[b"), ("(c", "(c"), ("[c", "[c"), ("[", "+"), ("(", "(zz"), ("-", "[bb"),
    ("b", "[c"), ("[a", "c"), ("", "+"), ("-x", "+"), ("+\x00x", "-"), ("[a\x00", "+")])
def test_lex_ranges(both, lo, hi):
    fill(both, "z", *[("0", c) for c in ("a", "b", "bb", "c", "d", "e", "", "a\x00")])
    both("ZLEXCOUNT", "z", lo, hi)
    both("ZRANGEBYLEX", "z", lo, hi)
    both("ZREVRANGEBYLEX", "z", hi, lo)
    both("ZRANGE", "z", lo, hi, "BYLEX")
    both("ZRANGE", "z", hi, lo, "BYLEX", "REV")
    both("ZLEXCOUNT", "nokey", lo, hi)


def test_lex_ranges_with_mixed_scores(both):
    # Unspecified by the docs, but a ziplist answers by its linear scan.
    fill(both, "z", ("1", "d"), ("2", "a"), ("3", "c"), ("4", "b"), ("5", "e"), ("6", "a1"))
    for lo, hi in (("-", "+"), ("[b", "[d"), ("(a", "(c"), ("[c", "+"), ("-", "(b"), ("[e", "[e")):
        both("ZRANGEBYLEX", "z", lo, hi)
        both("ZREVRANGEBYLEX", "z", hi, lo)
        both("ZLEXCOUNT", "z", lo, hi)
        both("ZRANGEBYLEX", "z", lo, hi, "LIMIT", "1", "2")
        both("ZREVRANGEBYLEX", "z", hi, lo, "LIMIT", "1", "1")


def test_zrange_syntax(both):
    fill(both, "z", ("1", "a"), ("2", "b"))
    for args in (("0", "-1", "LIMIT", "0", "1"), ("0", "-1", "LIMIT", "0", "-1"),
                 ("-", "+", "BYLEX", "WITHSCORES"), ("0", "1", "foo"), ("0", "1", "BYSCORE", "BYLEX"),
                 ("0", "1", "REV", "REV"), ("0", "1", "LIMIT", "0"), ("0", "1", "LIMIT", "x", "1"),
                 ("0", "1", "BYSCORE", "LIMIT", "1", "1", "WITHSCORES"), ("x", "y", "BYSCORE"),
                 ("x", "y", "BYLEX"), ("0", "1", "withscores", "rev")):
        both("ZRANGE", "z", *args)
    both("ZRANGEBYSCORE", "z", "0", "1", "REV")
    both("ZRANGEBYSCORE", "z", "0", "1", "BYLEX")
    both("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES")
    both("ZREVRANGE", "z", "0", "1", "REV")
    both("ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1")
    both("ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "0", "1", "LIMIT", "1", "1")


def test_zrangestore(both):
    fill(both, "src", ("1", "a"), ("2", "b"), ("3", "c"))
    both("SET", "dst", "x")
    both("EXPIRE", "dst", "100")
    both("ZRANGESTORE", "dst", "src", "0", "1")
    both("TTL", "dst")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZRANGESTORE", "dst", "src", "(1", "+inf", "BYSCORE", "LIMIT", "0", "1")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZRANGESTORE", "dst", "src", "[c", "-", "BYLEX", "REV")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZRANGESTORE", "dst", "src", "5", "10")
    both("EXISTS", "dst")
    both("ZRANGESTORE", "dst", "src", "0", "-1")
    both("ZRANGESTORE", "dst", "nokey", "0", "-1")
    both("EXISTS", "dst")
    both("ZRANGESTORE", "dst", "src", "0", "-1", "WITHSCORES")
    both("ZRANGESTORE", "src", "src", "1", "1")
    both("ZRANGE", "src", "0", "-1", "WITHSCORES")


# -- removals --------------------------------------------------------------------


def test_zrem(both):
    fill(both, "z", ("1", "a"), ("2", "b"), ("3", "c"))
    both("ZREM", "z", "a", "a", "nope")
    both("ZREM", "z", "nope")
    both("ZREM", "nokey", "a")
    both("ZREM", "z", "b", "c", "d")
    both("EXISTS", "z")


@pytest.mark.parametrize("cmd,lo,hi", [
    ("ZREMRANGEBYRANK", "0", "1"), ("ZREMRANGEBYRANK", "-2", "-1"), ("ZREMRANGEBYRANK", "3", "1"),
    ("ZREMRANGEBYRANK", "0", "-1"), ("ZREMRANGEBYRANK", "10", "20"), ("ZREMRANGEBYRANK", "x", "1"),
    ("ZREMRANGEBYSCORE", "-inf", "2"), ("ZREMRANGEBYSCORE", "(1", "(3"),
    ("ZREMRANGEBYSCORE", "-inf", "+inf"), ("ZREMRANGEBYSCORE", "x", "1"),
    ("ZREMRANGEBYLEX", "-", "+"), ("ZREMRANGEBYLEX", "[b", "(d"), ("ZREMRANGEBYLEX", "x", "+")])
def test_remove_ranges(both, cmd, lo, hi):
    fill(both, "z", ("1", "a"), ("2", "b"), ("3", "c"), ("4", "d"), ("5", "e"))
    both(cmd, "z", lo, hi)
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")
    both("EXISTS", "z")
    both(cmd, "nokey", lo, hi)


# -- pops ---------------------------------------------------------------------------


def test_pops(both):
    fill(both, "z", ("1", "a"), ("2", "b"), ("3", "c"), ("4", "d"))
    both("ZPOPMIN", "z")
    both("ZPOPMAX", "z")
    both("ZPOPMIN", "z", "0")
    both("ZPOPMIN", "z", "-1")
    both("ZPOPMAX", "z", "10")
    both("EXISTS", "z")
    both("ZPOPMIN", "nokey")
    both("ZPOPMIN", "nokey", "2")
    both("ZPOPMIN", "nokey", "x")
    both("ZPOPMIN", "nokey", "1", "2")


def test_bzpop_immediate(both):
    fill(both, "z", ("1", "a"), ("2", "b"))
    both("BZPOPMIN", "nokey", "z", "0")
    both("BZPOPMAX", "z", "0")
    both("EXISTS", "z")
    both("BZPOPMIN", "nokey", "0.01")
    both("SET", "s", "v")
    both("BZPOPMIN", "nokey", "s", "0.01")
    fill(both, "y", ("1", "a"))
    both("BZPOPMIN", "y", "s", "0.01")


@pytest.mark.parametrize("timeout", ["-1", "abc", "inf", "1e400", "9300000000000000", " 1", ""])
def test_bzpop_bad_timeouts(both, timeout):
    both("BZPOPMIN", "k", timeout)
    both("BZPOPMAX", "a", "b", timeout)


# -- set algebra --------------------------------------------------------------------------


def _sources(both):
    fill(both, "a", ("1", "x"), ("2", "y"), ("3", "z"))
    fill(both, "b", ("10", "y"), ("20", "z"), ("30", "w"))
    both("SADD", "s", "y", "w", "q")
    fill(both, "i1", ("inf", "x"), ("-inf", "y"))
    fill(both, "i2", ("-inf", "x"), ("-inf", "y"))


@pytest.mark.parametrize("opts", [
    (), ("WEIGHTS", "2", "3"), ("AGGREGATE", "MIN"), ("AGGREGATE", "max"),
    ("WEIGHTS", "0", "-1", "AGGREGATE", "SUM"), ("WEIGHTS", "inf", "1"), ("WEIGHTS", "0", "0")])
@pytest.mark.parametrize("keys", [("a", "b"), ("a", "s"), ("s", "b"), ("i1", "i2"), ("a", "a"),
                                  ("a", "nokey"), ("nokey", "nokey2")])
def test_union_inter(both, opts, keys):
    _sources(both)
    for op in ("ZUNIONSTORE", "ZINTERSTORE"):
        both(op, "dst", "2", *keys, *opts)
        both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
        both("EXISTS", "dst")
    for op in ("ZUNION", "ZINTER"):
        both(op, "2", *keys, *opts)
        both(op, "2", *keys, *opts, "WITHSCORES")


def test_set_algebra_more(both):
    _sources(both)
    both("ZUNIONSTORE", "dst", "3", "a", "b", "s", "WEIGHTS", "1", "2", "3", "AGGREGATE", "MAX")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZINTERSTORE", "dst", "3", "a", "b", "s")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZDIFFSTORE", "dst", "2", "a", "b")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZDIFFSTORE", "dst", "3", "b", "s", "nokey")
    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("ZDIFFSTORE", "dst", "1", "a")
    both("ZDIFFSTORE", "dst", "2", "a", "a")
    both("EXISTS", "dst")
    both("ZDIFF", "2", "b", "s", "WITHSCORES")
    both("ZDIFF", "2", "s", "a")
    both("ZDIFF", "1", "nokey")
    both("SET", "dst", "v")
    both("ZUNIONSTORE", "dst", "1", "a")
    both("TYPE", "dst")
    both("ZUNIONSTORE", "a", "2", "a", "b")
    both("ZRANGE", "a", "0", "-1", "WITHSCORES")


def test_set_algebra_errors(both):
    _sources(both)
    both("SET", "str", "v")
    for args in (("ZUNIONSTORE", "d", "0", "a"), ("ZUNIONSTORE", "d", "-1", "a"),
                 ("ZUNIONSTORE", "d", "2", "a"), ("ZUNIONSTORE", "d", "x", "a"),
                 ("ZUNION", "0", "a"), ("ZINTER", "0", "a"), ("ZDIFF", "0", "a"),
                 ("ZDIFFSTORE", "d", "0", "a"), ("ZINTERSTORE", "d", "0", "a"),
                 ("ZUNIONSTORE", "d", "1", "a", "WEIGHTS"), ("ZUNIONSTORE", "d", "1", "a", "WEIGHTS", "x"),
                 ("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1"),
                 ("ZUNIONSTORE", "d", "1", "a", "AGGREGATE", "foo"),
                 ("ZUNIONSTORE", "d", "1", "a", "AGGREGATE"),
                 ("ZUNIONSTORE", "d", "1", "a", "WITHSCORES"), ("ZUNION", "1", "a", "foo"),
                 ("ZDIFF", "1", "a", "WEIGHTS", "1"), ("ZDIFF", "1", "a", "AGGREGATE", "SUM"),
                 ("ZUNIONSTORE", "d", "2", "a", "str"), ("ZINTER", "2", "str", "a", "WEIGHTS", "x", "y"),
                 ("ZUNION", "1", "a", "WEIGHTS", "nan")):
        both(*args)


def test_big_union_encoding(both):
    both("ZADD", "a", *[x for i in range(100) for x in (str(i), "a%d" % i)])
    both("ZADD", "b", *[x for i in range(100) for x in (str(i), "b%d" % i)])
    both("ZUNIONSTORE", "u", "2", "a", "b")
    both("OBJECT", "ENCODING", "u")
    both("ZINTERSTORE", "i", "2", "a", "a")
    both("OBJECT", "ENCODING", "i")
    both("ZRANGE", "u", "95", "105", "WITHSCORES")


# -- ZRANDMEMBER ---------------------------------------------------------------------------


def test_zrandmember_fixed_replies(both):
    fill(both, "z", ("1", "a"), ("2", "b"), ("3", "c"))
    both("ZRANDMEMBER", "z", "0")
    both("ZRANDMEMBER", "z", "3")
    both("ZRANDMEMBER", "z", "10", "WITHSCORES")
    both("ZRANDMEMBER", "nokey")
    both("ZRANDMEMBER", "nokey", "5")
    both("ZRANDMEMBER", "nokey", "-5", "WITHSCORES")
    for args in (("5", "foo"), ("x",), ("-9223372036854775808",), ("9223372036854775807", "WITHSCORES"),
                 ("-4611686018427387904", "WITHSCORES"), ("1", "WITHSCORES", "x")):
        both("ZRANDMEMBER", "z", *args)
    fill(both, "one", ("7", "only"))
    both("ZRANDMEMBER", "one")
    both("ZRANDMEMBER", "one", "-3", "WITHSCORES")


def test_zrandmember_shapes(raw_pyr):
    c = raw_pyr
    c.call("ZADD", "z", *[x for i in range(50) for x in (str(i), "m%d" % i)])
    members = {b"m%d" % i for i in range(50)}
    got = c.call("ZRANDMEMBER", "z")
    assert got[0] == "$" and got[1] in members
    distinct = c.call("ZRANDMEMBER", "z", "20")[1]
    assert len(distinct) == 20 and len({x[1] for x in distinct}) == 20
    assert {x[1] for x in distinct} <= members
    repeats = c.call("ZRANDMEMBER", "z", "-200", "WITHSCORES")[1]
    assert len(repeats) == 400
    for m, s in zip(repeats[::2], repeats[1::2]):
        assert s[1] == m[1][1:]
    assert len({x[1] for x in repeats[::2]}) > 20
    assert c.call("HELLO", "3")[0] == "%"
    pairs = c.call("ZRANDMEMBER", "z", "5", "WITHSCORES")[1]
    assert len(pairs) == 5 and all(p[0] == "*" and p[1][1][0] == "," for p in pairs)


# -- ZSCAN --------------------------------------------------------------------------------


def test_zscan_small(both):
    fill(both, "z", ("1", "a"), ("2.5", "b"), ("inf", "c"), ("-0", "d"), ("1e-300", "foo"))
    both("ZSCAN", "z", "0")
    both("ZSCAN", "z", "0", "COUNT", "1")
    both("ZSCAN", "z", "0", "MATCH", "f*")
    both("ZSCAN", "z", "12345")
    both("ZSCAN", "z", "0", "COUNT", "0")
    both("ZSCAN", "z", "0", "TYPE", "zset")
    both("ZSCAN", "z", "x")
    both("ZSCAN", "z", "0", "MATCH")
    both("ZSCAN", "nokey", "0")
    both("ZSCAN", "nokey", "0", "COUNT", "0")


def test_zscan_big_walk(raw_pyr, raw_ref):
    for c in (raw_pyr, raw_ref):
        c.call("ZADD", "z", *[x for i in range(300) for x in (str(i * 0.5), "m%d" % i)])
        assert c.call("OBJECT", "ENCODING", "z") == ("$", b"skiplist")
        seen = {}
        cursor = b"0"
        for _ in range(1000):
            reply = c.call("ZSCAN", "z", cursor, "COUNT", "7")[1]
            cursor = reply[0][1]
            flat = reply[1][1]
            for m, s in zip(flat[::2], flat[1::2]):
                seen[m[1]] = s[1]
            if cursor == b"0":
                break
        assert cursor == b"0"
        assert seen == {b"m%d" % i: (b"%.17g" % (i * 0.5)) for i in range(300)}


def test_zscan_keeps_its_promise_under_changes(raw_pyr):
    c = raw_pyr
    stay = [b"s%d" % i for i in range(400)]
    c.call("ZADD", "z", *[x for i, m in enumerate(stay) for x in (str(i), m)])
    cursor = b"0"
    seen = set()
    rnd = random.Random(3)
    for step in range(2000):
        reply = c.call("ZSCAN", "z", cursor, "COUNT", "10")[1]
        cursor = reply[0][1]
        seen.update(x[1] for x in reply[1][1][::2])
        c.call("ZADD", "z", str(rnd.random()), "tmp%d" % step)
        c.call("ZREM", "z", "tmp%d" % rnd.randrange(step + 1))
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert set(stay) <= seen


# -- RESP3 ----------------------------------------------------------------------------------


def test_resp3_shapes(both):
    for c in (both.p, both.r):
        assert c.call("HELLO", "3")[0] == "%"
    fill(both, "z", ("1.5", "a"), ("2", "b"), ("inf", "c"), ("-0", "d"))
    both("ZRANGE", "z", "0", "-1", "WITHSCORES")
    both("ZRANGE", "z", "0", "-1")
    both("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES", "LIMIT", "1", "2")
    both("ZSCORE", "z", "a")
    both("ZSCORE", "z", "nope")
    both("ZMSCORE", "z", "a", "nope", "c")
    both("ZINCRBY", "z", "0.1", "a")
    both("ZADD", "z", "INCR", "1", "b")
    both("ZADD", "z", "NX", "INCR", "1", "b")
    both("ZRANK", "z", "nope")
    both("ZUNION", "1", "z", "WITHSCORES")
    both("ZSCAN", "z", "0")
    both("ZPOPMIN", "z")
    both("ZPOPMIN", "z", "1")
    both("ZPOPMAX", "z", "2")
    both("ZPOPMIN", "nokey")
    both("BZPOPMIN", "nokey", "0.01")
    fill(both, "z", ("1", "a"))
    both("BZPOPMAX", "z", "0")
    both("ZRANDMEMBER", "nokey")
    both("ZRANDMEMBER", "nokey", "3")


# -- encodings -------------------------------------------------------------------------------


def test_encoding_thresholds(both):
    fill(both, "small", ("1", "a"))
    both("OBJECT", "ENCODING", "small")
    both("ZADD", "long", "1", "x" * 65)
    both("OBJECT", "ENCODING", "long")
    both("ZADD", "edge", "1", "x" * 64)
    both("OBJECT", "ENCODING", "edge")
    both("ZADD", "many", *[x for i in range(128) for x in (str(i), "m%d" % i)])
    both("OBJECT", "ENCODING", "many")
    both("ZADD", "many", "1", "one-more")
    both("OBJECT", "ENCODING", "many")
    both("ZREMRANGEBYRANK", "many", "0", "-3")
    both("OBJECT", "ENCODING", "many")
    both("ZRANGESTORE", "copy", "many", "0", "-1")
    both("OBJECT", "ENCODING", "copy")


def test_encoding_config(both):
    both("CONFIG", "SET", "zset-max-ziplist-entries", "2")
    both("CONFIG", "SET", "zset-max-ziplist-value", "3")
    try:
        fill(both, "c", ("1", "a"), ("2", "b"))
        both("OBJECT", "ENCODING", "c")
        both("ZADD", "c", "3", "c")
        both("OBJECT", "ENCODING", "c")
        both("ZREM", "c", "a", "b")
        both("OBJECT", "ENCODING", "c")
        both("ZUNIONSTORE", "d", "1", "c")
        both("OBJECT", "ENCODING", "d")
        both("ZADD", "v", "1", "abcd")
        both("OBJECT", "ENCODING", "v")
        both("ZINCRBY", "w", "1", "abc")
        both("OBJECT", "ENCODING", "w")
        both("ZADD", "w", "1", "abcd")
        both("OBJECT", "ENCODING", "w")
        both("ZRANGESTORE", "x", "w", "0", "0")
        both("OBJECT", "ENCODING", "x")
        both("CONFIG", "SET", "zset-max-ziplist-entries", "0")
        both("ZADD", "e0", "1", "a")
        both("OBJECT", "ENCODING", "e0")
        both("ZADD", "e1", "INCR", "1", "a")
        both("OBJECT", "ENCODING", "e1")
    finally:
        both("CONFIG", "SET", "zset-max-ziplist-entries", "128")
        both("CONFIG", "SET", "zset-max-ziplist-value", "64")


def test_big_sets(both):
    both("ZADD", "z", *[x for i in range(300) for x in (str(i % 17), "m%03d" % i)])
    both("ZRANGE", "z", "100", "120", "WITHSCORES")
    both("ZRANGEBYSCORE", "z", "(3", "5", "LIMIT", "2", "5")
    both("ZREVRANGEBYSCORE", "z", "5", "(3", "LIMIT", "2", "5")
    both("ZRANK", "z", "m150")
    both("ZREVRANK", "z", "m150")
    both("ZCOUNT", "z", "2", "(9")
    both("ZREMRANGEBYSCORE", "z", "5", "6")
    both("ZCARD", "z")
    both("ZADD", "l", *[x for i in range(200) for x in ("0", "k%03d" % i)])
    both("ZRANGEBYLEX", "l", "[k050", "(k060")
    both("ZREVRANGEBYLEX", "l", "(k060", "[k050", "LIMIT", "1", "3")
    both("ZLEXCOUNT", "l", "(k010", "+")
    both("ZREMRANGEBYLEX", "l", "-", "[k100")
    both("ZRANGE", "l", "0", "3")


def test_digest_value(both):
    fill(both, "z", ("1.5", "a"), ("2", "b"), ("-0", "c"), ("inf", "d"), ("-inf", "e"),
         ("0.1", "f"), ("1e-300", "12"))
    both("DEBUG", "DIGEST-VALUE", "z")
    both("ZADD", "big", *[x for i in range(200) for x in (str(i / 3), "m%d" % i)])
    both("DEBUG", "DIGEST-VALUE", "big")
    both("EXPIRE", "big", "100")
    both("DEBUG", "DIGEST-VALUE", "big", "z", "nokey")
    both("DEBUG", "DIGEST")


# -- blocking pops with several clients (both servers) ----------------------------------------


def test_bzpop_fairness(srv):
    first = srv.block("BZPOPMIN", "z", "0")
    second = srv.block("BZPOPMAX", "other", "z", "0")
    third = srv.block("BZPOPMIN", "z", "0")
    pusher = srv.client()
    assert pusher.call("ZADD", "z", "1", "a", "2", "b") == (":", 2)
    assert first.read() == ("*", [("$", b"z"), ("$", b"a"), ("$", b"1")])
    assert second.read() == ("*", [("$", b"z"), ("$", b"b"), ("$", b"2")])
    assert silent(third, 0.1)
    assert pusher.call("EXISTS", "z") == (":", 0)
    assert pusher.call("ZADD", "z", "3", "c") == (":", 1)
    assert third.read() == ("*", [("$", b"z"), ("$", b"c"), ("$", b"3")])


def test_bzpop_timeout_and_forever(srv):
    c = srv.client()
    t0 = time.monotonic()
    assert c.call("BZPOPMAX", "z", "0.2") == ("*", None)
    assert 0.18 <= time.monotonic() - t0 < 2
    w = srv.block("BZPOPMAX", "z", "0")
    assert silent(w, 0.3)
    srv.client().call("ZADD", "z", "5", "x", "9", "y")
    assert w.read() == ("*", [("$", b"z"), ("$", b"y"), ("$", b"9")])
    c3 = srv.client()
    assert c3.call("HELLO", "3")[0] == "%"
    assert c3.call("BZPOPMIN", "nokey", "0.05") == ("_", None)


def test_bzpop_served_in_resp3_and_after_multi(srv):
    w = srv.client()
    assert w.call("HELLO", "3")[0] == "%"
    w.send_raw(encode_command(["BZPOPMIN", "z", "0"]))
    srv.wait_blocked(1)
    p = srv.client()
    assert p.call("MULTI") == ("+", b"OK")
    assert p.call("ZADD", "z", "1.5", "a") == ("+", b"QUEUED")
    assert p.call("ZREM", "z", "a") == ("+", b"QUEUED")
    assert p.call("ZADD", "z", "2.5", "b") == ("+", b"QUEUED")
    assert p.call("EXEC")[0] == "*"
    assert w.read() == ("*", [("$", b"z"), ("$", b"b"), (",", b"2.5")])


def test_bzpop_wrong_type_key_keeps_waiting(srv):
    w = srv.block("BZPOPMIN", "k", "0")
    p = srv.client()
    assert p.call("SET", "k", "v") == ("+", b"OK")
    assert silent(w, 0.1)
    assert p.call("DEL", "k") == (":", 1)
    assert p.call("ZADD", "k", "1", "m") == (":", 1)
    assert w.read() == ("*", [("$", b"k"), ("$", b"m"), ("$", b"1")])


def test_bzpop_inside_multi_does_not_block(srv):
    c = srv.client()
    assert c.call("MULTI") == ("+", b"OK")
    assert c.call("BZPOPMIN", "z", "0") == ("+", b"QUEUED")
    assert c.call("EXEC") == ("*", [("*", None)])


# -- effects (pyredis) -------------------------------------------------------------------------


@pytest.fixture
def recorded(pyr):
    rec = Recorder()
    done = threading.Event()
    pyr.call_soon(lambda: (pyr.core.funnel.subscribe(rec), done.set()))
    assert done.wait(5)
    t = Target("pyredis", pyr.port, pyr.core)
    yield t, rec
    t.close()
    done.clear()
    pyr.call_soon(lambda: (pyr.core.funnel.unsubscribe(rec), done.set()))
    assert done.wait(5)


def settled(rec: Recorder, n: int) -> list:
    deadline = time.monotonic() + 5
    while len(rec.effects) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    return [e for e in rec.effects if e[0] == 0]


def test_effects(recorded):
    t, rec = recorded
    c = t.client()
    c.call("ZADD", "z", "1", "a", "2", "b", "3", "c")
    c.call("ZADD", "z", "NX", "5", "a")  # changes nothing: not propagated
    c.call("ZREM", "z", "nope")
    c.call("BZPOPMIN", "z", "0")
    c.call("BZPOPMAX", "nokey", "z", "0")
    w = t.block("BZPOPMAX", "w", "0")
    c.call("ZADD", "w", "1", "x", "2", "y")
    assert w.read() == ("*", [("$", b"w"), ("$", b"y"), ("$", b"2")])
    c.call("ZUNIONSTORE", "u", "1", "nokey")
    effects = settled(rec, 5)
    assert [e[1] for e in effects] == [
        [b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c"],
        [b"ZPOPMIN", b"z"],
        [b"ZPOPMAX", b"z"],
        [b"ZADD", b"w", b"1", b"x", b"2", b"y"],
        [b"ZPOPMAX", b"w"],
    ]


def test_blocked_client_served_once_per_element(srv):
    waiters = [srv.block("BZPOPMIN", "z", "0") for _ in range(3)]
    p = srv.client()
    p.send_raw(encode_command(["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]))
    assert p.read() == (":", 4)
    got = [w.read() for w in waiters]
    assert [g[1][1][1] for g in got] == [b"a", b"b", b"c"]
    assert p.call("ZRANGE", "z", "0", "-1") == ("*", [("$", b"d")])


# -- keyspace notifications ------------------------------------------------------------------


@pytest.fixture
def events(pyr, ref):
    from test_notifications import Events
    e = Events(pyr, ref)
    e.config("KEA")
    yield e
    e.config("")
    e.close()


def test_notifications(events):
    events.run(
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"),
        ("ZADD", "z", "1", "a"), ("ZADD", "z", "9", "a"), ("ZADD", "z", "CH", "XX", "9", "a"),
        ("ZADD", "z", "NX", "INCR", "1", "a"), ("ZADD", "z", "INCR", "1", "a"),
        ("ZINCRBY", "z", "1", "b"), ("ZADD", "inf", "inf", "x"), ("ZADD", "inf", "INCR", "-inf", "x"),
        ("ZREM", "z", "nope"), ("ZREM", "z", "a"), ("ZPOPMIN", "z", "2"), ("ZPOPMAX", "z"),
        ("ZPOPMIN", "z", "0"), ("ZREMRANGEBYSCORE", "z", "100", "200"),
        ("ZADD", "y", "1", "a", "2", "b"), ("ZRANGESTORE", "d", "y", "0", "0"),
        ("ZRANGESTORE", "d", "y", "5", "6"), ("ZRANGESTORE", "d", "y", "5", "6"),
        ("ZUNIONSTORE", "u", "2", "y", "z"), ("ZINTERSTORE", "i", "2", "y", "z"),
        ("ZDIFFSTORE", "df", "1", "y"), ("ZDIFFSTORE", "df", "2", "y", "y"),
        ("BZPOPMIN", "y", "0"), ("BZPOPMAX", "y", "0"),
        ("ZREMRANGEBYRANK", "z", "0", "-1"), ("ZADD", "l", "0", "a", "0", "b"),
        ("ZREMRANGEBYLEX", "l", "-", "(b"), ("ZREMRANGEBYLEX", "l", "-", "+"),
        ("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
        ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gs"),
        ("GEORADIUS", "g", "15", "37", "1", "km", "STOREDIST", "gs"),
        ("GEOSEARCHSTORE", "gs", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"),
        ("GEOSEARCHSTORE", "gs", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"),
    )


def test_notification_of_served_blocked_pop(pyr, ref, events):
    waiters = []
    for name, port in (("pyredis", pyr.port), ("redis", ref.port)):
        t = Target(name, port)
        waiters.append((t, t.block("BZPOPMIN", "bz", "0")))
    events.run(("ZADD", "bz", "1", "a", "2", "b"))
    for t, w in waiters:
        assert w.read() == ("*", [("$", b"bz"), ("$", b"a"), ("$", b"1")])
        t.close()
