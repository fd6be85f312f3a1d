"""Bit commands against the reference redis-server: SETBIT, GETBIT,
BITCOUNT, BITPOS (with its not-found rules), BITOP, BITFIELD and
BITFIELD_RO, every error path, WRONGTYPE, TTLs and the proto-max-bulk-len
limit on offsets; random sequences compared op by op; plus the effects
these commands send into the propagation funnel (pyredis-only)."""

from __future__ import annotations

import random

import pytest

from test_strings import SYNTAX, ProtoMaxBulkLen, make_list, pttl_close

NAMES = ("setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro")
BIT_OFFSET = ("-", b"ERR bit offset is not an integer or out of range")


def test_command_info_rows(both):
    if both.p.call("COMMAND", "INFO", "get")[0] == "-":
        pytest.skip("COMMAND is not implemented yet")
    for name in NAMES:
        both("COMMAND", "INFO", name)


def test_arity(both):
    for args in (("SETBIT", "k", "1"), ("GETBIT", "k"), ("BITCOUNT",), ("BITPOS", "k"),
                 ("BITOP", "and", "d"), ("BITFIELD",), ("BITFIELD_RO",)):
        both(*args)


# -- SETBIT / GETBIT -----------------------------------------------------------


def test_setbit_getbit(both):
    for c in [("SETBIT", "b", "7", "1"), ("GET", "b"), ("SETBIT", "b", "7", "1"),
              ("SETBIT", "b", "7", "0"), ("GET", "b"), ("SETBIT", "b", "100", "1"),
              ("STRLEN", "b"), ("GET", "b"), ("GETBIT", "b", "100"), ("GETBIT", "b", "99"),
              ("GETBIT", "b", "1000"), ("GETBIT", "nope", "0"), ("SETBIT", "b", "0", "1"),
              ("GETBIT", "b", "0"), ("SET", "s", "a"), ("GETBIT", "s", "1"),
              ("GETBIT", "s", "2"), ("SETBIT", "s", "6", "1"), ("GET", "s"),
              ("SETBIT", "s", "-1", "1"), ("SETBIT", "s", "x", "1"), ("SETBIT", "s", "#1", "1"),
              ("SETBIT", "s", "1.0", "1"), ("SETBIT", "s", "4294967296", "1"),
              ("SETBIT", "s", "9223372036854775807", "1"), ("SETBIT", "s", "0", "2"),
              ("SETBIT", "s", "0", "-1"), ("SETBIT", "s", "0", "x"), ("SETBIT", "s", "0", ""),
              ("SETBIT", "s", "x", "x"), ("GETBIT", "s", "-1"), ("GETBIT", "s", "x"),
              ("GETBIT", "s", "#1"), ("GETBIT", "s", "4294967296"),
              ("GETBIT", "s", "4294967295"), ("SET", "n", "1"), ("SETBIT", "n", "6", "1"),
              ("GET", "n"), ("INCR", "n"), ("APPEND", "n", "0"), ("SETBIT", "n", "0", "1"),
              ("GET", "n")]:
        both(*c)


def test_setbit_keeps_ttl_and_wrongtype(both, pyr):
    both("SET", "k", "x", "EX", "100")
    both("SETBIT", "k", "3", "1")
    pttl_close(both, "k", 100_000)
    both("SETBIT", "k2", "3", "1")
    pttl_close(both, "k2", -1)
    make_list(both, pyr, "l")
    for c in [("SETBIT", "l", "0", "1"), ("SETBIT", "l", "0", "5"), ("SETBIT", "l", "x", "1"),
              ("GETBIT", "l", "0"), ("GETBIT", "l", "x"), ("BITCOUNT", "l"),
              ("BITCOUNT", "l", "0"), ("BITPOS", "l", "1"), ("BITPOS", "l", "3"),
              ("BITOP", "and", "d", "l"), ("BITOP", "or", "d", "nope", "l"),
              ("BITOP", "not", "d", "l"), ("BITFIELD", "l"), ("BITFIELD", "l", "get", "u8", "0"),
              ("BITFIELD", "l", "set", "u8", "0", "1"), ("BITFIELD", "l", "get", "u8", "x"),
              ("BITFIELD_RO", "l", "get", "u8", "0"), ("BITFIELD_RO", "l", "set", "u8", "0", "1")]:
        both(*c)
    both("SET", "s", "abc")
    both("BITOP", "or", "l", "s")
    both("GET", "l")


def test_offset_limit_follows_proto_max_bulk_len(both, pyr):
    with ProtoMaxBulkLen(both, pyr, 1024 * 1024):
        for c in [("SETBIT", "z", "8388608", "1"), ("SETBIT", "z", "8388607", "1"),
                  ("STRLEN", "z"), ("GETBIT", "z", "8388608"), ("GETBIT", "z", "8388607"),
                  ("BITFIELD", "z", "set", "u8", "8388608", "1"),
                  ("BITFIELD", "z", "set", "u8", "8388601", "1"), ("STRLEN", "z"),
                  ("BITFIELD", "z", "get", "u8", "8388601"),
                  ("BITFIELD", "z", "get", "u8", "#1048576"),
                  ("BITFIELD", "z", "get", "u8", "#1048575"), ("BITCOUNT", "z"),
                  ("BITPOS", "z", "1", "-3")]:
            both(*c)


# -- BITCOUNT / BITPOS ---------------------------------------------------------


def test_bitcount(both):
    both("SET", "s", "foobar")
    both("SET", "e", "")
    ranges = [(), ("0", "0"), ("1", "1"), ("-2", "-1"), ("5", "1"), ("-100", "-50"),
              ("-100", "100"), ("0", "9223372036854775807"), ("-9223372036854775808", "-1"),
              ("-1", "-2"), ("3", "-1"), ("6", "10"), ("0",), ("0", "1", "2"), ("0", "1", "bit"),
              ("x", "1"), ("1", "x"), ("1.0", "2")]
    for key in ("s", "e", "nope"):
        for r in ranges:
            both("BITCOUNT", key, *r)


def test_bitpos(both):
    both("SET", "b", b"\xff\xf0\x00")
    both("SET", "ones", b"\xff\xff\xff")
    both("SET", "zeros", b"\x00\x00")
    both("SET", "e", "")
    both("SET", "s", b"\x00\x01\x80\xff")
    tails = [(), ("0",), ("1",), ("2",), ("3",), ("5",), ("-1",), ("-2",), ("0", "0"),
             ("0", "-1"), ("1", "-1"), ("1", "1"), ("2", "2"), ("-1", "-2"), ("5", "10"),
             ("-100", "100"), ("-100", "-50"), ("-40", "-50"), ("0", "9223372036854775807"),
             ("9223372036854775807", "-9223372036854775808"),
             ("-9223372036854775808", "9223372036854775807"), ("x",), ("0", "x"),
             ("0", "1", "2"), ("0", "1", "bit")]
    for key in ("b", "ones", "zeros", "e", "s", "nope"):
        for bit in ("0", "1"):
            for t in tails:
                both("BITPOS", key, bit, *t)
    for bad in ("2", "-1", "x", "", "1.0"):
        both("BITPOS", "b", bad)
        both("BITPOS", "nope", bad, "x")


@pytest.mark.parametrize("seed", range(2))
def test_bitcount_bitpos_random(both, seed):
    rng = random.Random(seed)
    for i in range(60):
        n = rng.randint(0, 40)
        pick = rng.random()
        if pick < 0.3:
            value = bytes(rng.choice([0, 255]) for _ in range(n))
        elif pick < 0.6:
            value = bytes(rng.choice([0, 255, 1, 128, 0x7f, 0xfe]) for _ in range(n))
        else:
            value = bytes(rng.getrandbits(8) for _ in range(n))
        both("SET", "r", value)
        for _ in range(6):
            start, end = str(rng.randint(-50, 50)), str(rng.randint(-50, 50))
            both("BITCOUNT", "r", start, end)
            bit = rng.choice("01")
            shape = rng.randint(0, 2)
            both("BITPOS", "r", bit, *((), (start,), (start, end))[shape])


# -- BITOP ---------------------------------------------------------------------


def test_bitop(both):
    both("SET", "a", b"\xff\x0f\x33")
    both("SET", "b", b"\x0f")
    both("SET", "c", b"\xaa\xaa")
    for op in ("AND", "or", "Xor"):
        for srcs in (("a",), ("a", "b"), ("b", "a"), ("a", "b", "c"), ("a", "nope"),
                     ("nope", "a"), ("a", "a", "a")):
            both("BITOP", op, "d", *srcs)
            both("GET", "d")
    for c in [("BITOP", "not", "d", "a"), ("GET", "d"), ("BITOP", "NOT", "d", "b"), ("GET", "d"),
              ("BITOP", "not", "d", "a", "b"), ("BITOP", "not", "d"), ("BITOP", "foo", "d", "a"),
              ("BITOP", "and", "d", "nope1", "nope2"), ("EXISTS", "d"),
              ("SET", "d", "x"), ("BITOP", "or", "d", "nope"), ("EXISTS", "d"),
              ("BITOP", "not", "d", "nope"), ("EXISTS", "d"), ("SET", "e", ""),
              ("SET", "d", "x"), ("BITOP", "or", "d", "e"), ("EXISTS", "d"),
              ("BITOP", "xor", "a", "a", "b"), ("GET", "a"), ("BITOP", "and", "d", "a", "d")]:
        both(*c)
    both("SET", "d", "v", "EX", "100")
    both("BITOP", "or", "d", "b")
    pttl_close(both, "d", -1)


def test_bitop_large(both):
    rng = random.Random(3)
    x = bytes(rng.getrandbits(8) for _ in range(5000))
    y = bytes(rng.getrandbits(8) for _ in range(3001))
    both("SET", "x", x)
    both("SET", "y", y)
    for op in ("and", "or", "xor"):
        both("BITOP", op, "d", "x", "y")
        both("GET", "d")
    both("BITOP", "not", "d", "y")
    both("GET", "d")


# -- BITFIELD ------------------------------------------------------------------


def test_bitfield_basics(both):
    for c in [
        ("BITFIELD", "bf"), ("EXISTS", "bf"), ("BITFIELD", "bf", "get", "u8", "0"),
        ("EXISTS", "bf"), ("BITFIELD", "bf", "set", "i8", "0", "-1"), ("GET", "bf"),
        ("BITFIELD", "bf", "get", "u8", "0", "get", "i8", "0", "get", "u4", "4", "get", "i4", "4",
         "get", "u1", "0", "get", "i64", "0", "get", "u63", "0", "get", "i3", "5"),
        ("BITFIELD", "bf", "set", "u8", "#1", "200", "get", "u8", "#1", "get", "u8", "8"),
        ("BITFIELD", "bf", "incrby", "u8", "0", "100", "incrby", "u8", "0", "100"),
        ("BITFIELD", "bf", "overflow", "sat", "incrby", "u8", "0", "100", "incrby", "i8", "0",
         "-300", "overflow", "fail", "incrby", "u8", "0", "300", "overflow", "wrap", "incrby",
         "u8", "0", "300"),
        ("BITFIELD", "bf", "incrby", "i8", "8", "127", "incrby", "i8", "8", "1"),
        ("BITFIELD", "bf", "set", "i64", "0", "-9223372036854775808", "get", "i64", "0"),
        ("BITFIELD", "bf", "set", "u63", "0", "9223372036854775807", "get", "u63", "0"),
        ("BITFIELD", "bf", "set", "u8", "0", "256", "get", "u8", "0"),
        ("BITFIELD", "bf", "set", "u8", "0", "-1", "get", "u8", "0"),
        ("BITFIELD", "bf", "set", "i8", "0", "128", "get", "i8", "0"),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "set", "i8", "0", "128", "get", "i8", "0"),
        ("BITFIELD", "bf", "overflow", "fail", "set", "i8", "0", "128", "get", "i8", "0"),
        ("BITFIELD", "bf", "overflow", "fail", "set", "u8", "0", "-1", "get", "u8", "0"),
        ("BITFIELD", "bf", "overflow", "sat", "set", "u8", "0", "-1", "get", "u8", "0"),
        ("BITFIELD", "bf", "overflow", "sat", "incrby", "i64", "0", "-9223372036854775808",
         "incrby", "i64", "0", "-1"),
        ("BITFIELD", "bf", "overflow", "wrap", "set", "i64", "0", "9223372036854775807",
         "incrby", "i64", "0", "1"),
        ("BITFIELD", "bf", "overflow", "sat", "incrby", "u63", "0", "9223372036854775807",
         "incrby", "u63", "0", "1"),
        ("BITFIELD", "bf", "overflow", "sat", "incrby", "i8", "0", "-9223372036854775808"),
        ("BITFIELD", "bf", "overflow", "fail", "incrby", "i8", "0", "9223372036854775807"),
        ("BITFIELD", "bf", "overflow", "wrap", "incrby", "u8", "0", "-9223372036854775808",
         "get", "u8", "0"),
        ("BITFIELD", "bf", "overflow", "fail", "incrby", "u8", "0", "-1000", "set", "u2", "3",
         "7", "overflow", "sat", "incrby", "u5", "1", "-1000"),
        ("BITFIELD", "bf", "set", "i5", "13", "-7", "get", "i5", "13", "get", "u5", "13"),
        ("BITFIELD", "bf", "SET", "u16", "3", "65535", "GET", "u16", "3", "get", "u32", "0"),
        ("GET", "bf"),
        ("BITFIELD", "bfx", "get", "u8", "0", "get", "u8", "100000"), ("EXISTS", "bfx"),
        ("BITFIELD", "bfx", "overflow", "fail", "incrby", "u8", "16", "300"), ("GET", "bfx"),
        ("BITFIELD", "bfx", "get", "i64", "#1152921504606846976"),
        ("BITFIELD", "bfx", "get", "u8", "#536870911"),
        ("BITFIELD", "bfx", "get", "i64", "#67108863"),
    ]:
        both(*c)


def test_bitfield_errors(both):
    both("SET", "bf", "abc")
    for tail in [("get", "u64", "0"), ("get", "i65", "0"), ("get", "u0", "0"), ("get", "i0", "0"),
                 ("get", "x8", "0"), ("GET", "U8", "0"), ("get", "u", "0"), ("get", "i-1", "0"),
                 ("get", "u08", "0"), ("get", "u8", "-1"), ("get", "u8", "#-1"),
                 ("get", "u8", "#-0"), ("get", "u8", "#"), ("get", "u8", "#x"),
                 ("get", "u8", "x"), ("get", "u8", "1.0"), ("get", "u8", "4294967296"),
                 ("get", "u8", "#536870912"), ("get", "u8", "9223372036854775807"),
                 ("set", "u8", "#4294967295", "1"), ("get", "u8"), ("get",), ("set", "u8", "0"),
                 ("set", "u8", "0", "x"), ("set", "i64", "0", "9223372036854775808"),
                 ("incrby", "u8", "0", "x"), ("incrby", "u8", "0", "1.5"),
                 ("incrby", "u8", "0"), ("overflow", "foo"), ("overflow",), ("foo",),
                 ("overflow", "wrap", "get", "u8"), ("get", "u8", "0", "set", "u8", "0"),
                 ("get", "u8", "0", "overflow", "nope", "get", "u8", "0"),
                 ("set", "u8", "0", "1", "get", "u64", "0"),
                 ("set", "u8", "0", "1", "bogus"),
                 ("overflow", "sat")]:
        both("BITFIELD", "bf", *tail)
        both("GET", "bf")


def test_bitfield_ro(both):
    both("SET", "bf", b"\x80\x01")
    for tail in [("get", "u8", "0"), ("get", "i8", "0", "get", "u4", "#3"), (),
                 ("set", "u8", "0", "1"), ("incrby", "u8", "0", "1"),
                 ("get", "u8", "0", "set", "u8", "0", "1"), ("overflow", "fail"),
                 ("set", "u8", "0", "x"), ("get", "u64", "0"), ("set", "u99", "0", "1"),
                 ("set", "u8", "-1", "1")]:
        both("BITFIELD_RO", "bf", *tail)
        both("BITFIELD_RO", "nope", *tail)
    both("GET", "bf")
    both("EXISTS", "nope")


def test_bitfield_keeps_ttl(both):
    both("SET", "k", "abc", "EX", "100")
    both("BITFIELD", "k", "set", "u8", "0", "1")
    pttl_close(both, "k", 100_000)


@pytest.mark.parametrize("seed", range(3))
def test_bitfield_random(both, seed):
    rng = random.Random(seed)
    both("SET", "r", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12))))
    for _ in range(120):
        args = ["BITFIELD", "r"]
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.25:
                args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
            signed = rng.random() < 0.5
            bits = rng.randint(1, 64 if signed else 63)
            typ = ("i" if signed else "u") + str(bits)
            offset = (("#%d" % rng.randint(0, 3)) if rng.random() < 0.2
                      else str(rng.randint(0, 130)))
            op = rng.choice(["GET", "SET", "INCRBY"])
            args += [op, typ, offset]
            if op != "GET":
                magnitude = rng.choice([1, 2, 8, 16, 63])
                args.append(str(rng.randint(-(1 << magnitude), (1 << magnitude) - 1)))
        both(*args)
    both("GET", "r")


# -- pyredis-only: effects ------------------------------------------------------


def test_bit_effects(raw_pyr, pyr, recorder):
    raw_pyr.call("SETBIT", "b", "7", "1")
    assert recorder.effects[-1] == (0, [b"SETBIT", b"b", b"7", b"1"])
    raw_pyr.call("SETBIT", "b", "7", "1")  # unchanged, still a write as in Redis
    assert len(recorder.effects) == 2
    assert type(pyr.core.ks.dbs[0].data[b"b"]) is bytearray
    raw_pyr.call("BITOP", "not", "d", "b")
    assert recorder.effects[-1] == (0, [b"BITOP", b"not", b"d", b"b"])
    raw_pyr.call("BITOP", "and", "d", "nope")  # deletes d
    assert recorder.effects[-1] == (0, [b"BITOP", b"and", b"d", b"nope"])
    raw_pyr.call("BITFIELD", "f", "overflow", "fail", "incrby", "u8", "0", "300")
    assert recorder.effects[-1][1][0] == b"BITFIELD"
    n = len(recorder.effects)
    for c in [("BITOP", "and", "d", "nope"), ("GETBIT", "b", "1"), ("BITCOUNT", "b"),
              ("BITPOS", "b", "1"), ("BITFIELD", "b", "get", "u8", "0"),
              ("BITFIELD_RO", "b", "get", "u8", "0"), ("SETBIT", "b", "-1", "1"),
              ("BITFIELD", "b", "set", "u8", "0", "x")]:
        raw_pyr.call(*c)
    assert len(recorder.effects) == n
    assert raw_pyr.call("BITCOUNT", "b", "0") == SYNTAX
