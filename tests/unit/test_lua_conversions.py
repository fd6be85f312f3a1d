"""The scripting engine's pure parts, without a server: number rules,
math.random's rand48 sequence, the tail-call rewrite of the body, the
RESP -> Lua parser and the Lua -> RESP encoder, cjson and bit."""

from __future__ import annotations

import pytest

from pyredis.core import Core
from pyredis.scripting import (Rand48, engine, format_lua_number, lua_number_to_int,
                               untail_api_calls)


@pytest.mark.parametrize("n, want", [
    (3.99, 3), (-3.99, -3), (0.5, 0), (7, 7), (2.0 ** 62, 2 ** 62), (1e20, -(2 ** 63)),
    (-1e20, -(2 ** 63)), (float("nan"), -(2 ** 63)), (float("inf"), -(2 ** 63)),
])
def test_number_truncation(n, want):
    assert lua_number_to_int(n) == want


@pytest.mark.parametrize("n, want", [
    (1.5, b"1.5"), (0.1, b"0.10000000000000001"), (12, b"12"), (12.0, b"12"),
    (1e20, b"1e+20"), (float("inf"), b"inf"), (-0.0, b"-0"),
])
def test_number_as_argument(n, want):
    assert format_lua_number(n) == want


def test_rand48_matches_redis_sequence():
    # The first values a script sees from math.random(100) on Redis 6.2.
    r = Rand48()
    first = [int((r.next31() % Rand48.MAX) / Rand48.MAX * 100) + 1 for _ in range(2)]
    assert first == [18, 75]
    r.seed(0)
    assert int((r.next31() % Rand48.MAX) / Rand48.MAX * 100) + 1 == 18


@pytest.mark.parametrize("body, want", [
    (b"return redis.call('get', 'k')", b"return __redis__tail(1, redis.call('get', 'k'))"),
    (b"return redis.call(\"x\", \")\")", b"return __redis__tail(1, redis.call(\"x\", \")\"))"),
    (b"if a then return redis.pcall(f(1)) end",
     b"if a then return __redis__tail(1, redis.pcall(f(1))) end"),
    (b"return math.random(5);", b"return __redis__tail(1, math.random(5));"),
    (b"return pairs(t)", b"return __redis__tail(1, pairs(t))"),
    (b"return redis.call('x').ok", b"return redis.call('x').ok"),
    (b"return redis.call(1), 2", b"return redis.call(1), 2"),
    (b"-- return redis.call(1)\nreturn 1", b"-- return redis.call(1)\nreturn 1"),
    (b"--[[ return redis.call(1) ]] return 1", b"--[[ return redis.call(1) ]] return 1"),
    (b"local s = [[return redis.call(1)]] return s", b"local s = [[return redis.call(1)]] return s"),
    (b"xreturn redis.call(1)", b"xreturn redis.call(1)"),
    (b"return math.modf(1.5)", b"return math.modf(1.5)"),
])
def test_untail(body, want):
    assert untail_api_calls(body) == want


@pytest.fixture(scope="module")
def eng():
    return engine(Core())


@pytest.mark.parametrize("resp", [
    b"$3\r\nabc\r\n", b"$-1\r\n", b":42\r\n", b"+OK\r\n", b"-ERR x\r\n", b"*-1\r\n",
    b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n+st\r\n", b"*0\r\n",
])
def test_resp2_round_trip(eng, resp):
    """A command reply converted to Lua and back is the reply, except that
    nil bulk and nil array both become false and come back as a nil bulk."""
    value, pos = eng._parse(resp, 0)
    assert pos == len(resp)
    out: list = []
    from pyredis.scripting import _Err
    if type(value) is _Err:
        value = eng.lua.table_from({b"err": value.msg})
    eng._encode(value, out, False, False)
    expected = b"$-1\r\n" if resp == b"*-1\r\n" else resp
    assert b"".join(out) == expected


@pytest.mark.parametrize("resp, script, want", [
    (b"%1\r\n$1\r\na\r\n:1\r\n", "return v.map.a", 1),
    (b"~2\r\n$1\r\na\r\n$1\r\nb\r\n", "return v.set.b", True),
    (b",1.5\r\n", "return v.double", 1.5),
    (b"#t\r\n", "return v", True),
    (b"_\r\n", "return v == nil", True),
    (b"(123\r\n", "return v.big_number", b"123"),
    (b"=7\r\ntxt:abc\r\n", "return v.verbatim_string.string", b"abc"),
])
def test_resp3_to_lua(eng, resp, script, want):
    value, pos = eng._parse(resp, 0)
    assert pos == len(resp)
    assert eng.lua.eval(f"function(v) {script} end")(value) == want


def test_lua_to_resp3_types(eng):
    def enc(src, resp3=True):
        out: list = []
        eng._encode(eng.lua.eval(src), out, resp3, False)
        return b"".join(out)
    assert enc("{map={a=1}}") == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert enc("{map={a=1}}", False) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert enc("{set={x=true}}") == b"~1\r\n$1\r\nx\r\n"
    assert enc("{double=0.5}") == b",0.5\r\n"
    assert enc("{double=0.5}", False) == b"$3\r\n0.5\r\n"
    assert enc("{big_number='99'}") == b"(99\r\n"
    assert enc("false") == b"_\r\n"
    assert enc("false", False) == b"$-1\r\n"
    assert enc("{1, 2, nil, 3}") == b"*2\r\n:1\r\n:2\r\n"


def _run(eng, src):
    return eng.lua.eval(f"function(cjson, bit) {src} end")(
        eng.lua.eval("function(t) return t end")(_lib(eng, "cjson")), _lib(eng, "bit"))


def _lib(eng, name):
    from pyredis.types.lua_libs import make_libs
    if not hasattr(eng, "_test_libs"):
        eng._test_libs = make_libs(eng.lua)
    return eng._test_libs[name]


@pytest.mark.parametrize("src, want", [
    ("return cjson.encode({1, 2, 3})", b"[1,2,3]"),
    ("return cjson.encode({})", b"{}"),
    ("return cjson.encode({a = 'x/y\\n'})", b'{"a":"x\\/y\\n"}'),
    ("return cjson.encode({1.5, true, false, cjson.null})", b"[1.5,true,false,null]"),
    ("return cjson.encode({[1] = 1, [3] = 3})", b"[1,null,3]"),
    ("return cjson.encode(0.1)", b"0.1"),
    ("return cjson.decode('[1, 2.5, \"s\"]')[3]", b"s"),
    ("return cjson.decode('{\"a\": {\"b\": [true]}}').a.b[1]", True),
    ("return cjson.decode('null') == cjson.null", True),
    ("return bit.band(0xff, 0x0f0f)", 15),
    ("return bit.bor(1, 2, 4)", 7),
    ("return bit.bnot(0)", -1),
    ("return bit.lshift(1, 31)", -(2 ** 31)),
    ("return bit.rshift(-1, 28)", 15),
    ("return bit.arshift(-256, 4)", -16),
    ("return bit.rol(0x80000001, 1)", 3),
    ("return bit.ror(3, 1)", -(2 ** 31) + 1),
    ("return bit.bswap(0x12345678)", 0x78563412),
    ("return bit.tohex(255)", b"000000ff"),
    ("return bit.tohex(-1, -4)", b"FFFF"),
    ("return bit.tobit(2^32 + 5)", 5),
    ("return bit.tobit(2.5)", 2),
    ("return bit.tobit(3.5)", 4),
])
def test_libraries(eng, src, want):
    assert _run(eng, src) == want
