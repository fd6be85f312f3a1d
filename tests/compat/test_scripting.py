"""EVAL/EVALSHA/SCRIPT against the reference: Lua <-> RESP conversions both
ways, error texts, the sandbox, KEYS/ARGV, the script cache; and, on
pyredis alone, the effects a script propagates, BLPOP waiters served after
a script, and the slow-script machinery (BUSY, SCRIPT KILL, UNKILLABLE)."""

from __future__ import annotations

import time

import pytest

from pyredis.core import Core
from pyredis.executor import call

from conftest import RawClient, encode_command


def ev(both, script, *args, keys=()):
    return both("EVAL", script, str(len(keys)), *keys, *args)


# -- Lua -> RESP ----------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "return 1", "return -7", "return 3.99", "return -3.99", "return 1e20", "return -1e20",
    "return 0/0", "return 'str'", "return ''", "return true", "return false", "return nil",
    "return {}", "return {1, 2, 3.7, 'a', nil, 5}", "return {1, {2, {3, 'x'}}, {ok='st'}}",
    "return {ok='fine'}", "return {err='My error'}", "return {err='x\\r\\ny'}",
    "return {ok='a', err='b'}", "return {err=1}", "return {ok=1}", "return {a=1}",
    "return {1, false, 3}", "return {true, false}", "return {1, {err='inner'}, 2}",
    "return {ok='l1\\nl2'}", "return redis.status_reply('S')", "return redis.error_reply('E x')",
    "return redis.error_reply()", "return redis.status_reply(1)", "return print",
    "return {double=1.5}", "return {map={a=1}}",
])
def test_lua_to_resp(both, script):
    ev(both, script)


def test_lua_to_resp3(both):
    both.p.call("HELLO", "3")
    both.r.call("HELLO", "3")
    for s in ("return true", "return false", "return nil", "return {1, false}",
              "redis.setresp(3) return true", "redis.setresp(3) return false",
              "return {double=2.5}"):
        ev(both, s)


# -- RESP -> Lua ------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "return redis.call('ping')",
    "return type(redis.call('ping'))",
    "return redis.call('ping')['ok']",
    "return tostring(redis.call('get', 'nokey'))",
    "return redis.call('get', 'nokey') == false",
    "return redis.call('incr', 'n')",
    "return type(redis.call('incr', 'n2'))",
    "return redis.call('hgetall', 'nokey')",
    "return #redis.call('lrange', 'nolist', 0, -1)",
    "return redis.pcall('incr', 'str')",
    "return redis.pcall('incr', 'str')['err']",
    "return type(redis.pcall('incr', 'str'))",
    "local t = redis.call('lrange', 'l', 0, -1) return {#t, t[1], t[3]}",
    "return redis.call('set', 'a', 1.5)",
    "redis.call('set', 'a', 0.1) return redis.call('get', 'a')",
    "redis.call('set', 'a', 12) return redis.call('get', 'a')",
    "return redis.call('exists', 'l', 'nokey')",
    "return redis.call('xrange', 'nostream', '-', '+')",
    "local select = 5 return redis.call('ping')",
    "local t = {} return type(select(1, next({a = 1}))), #t",
])
def test_resp_to_lua(both, script):
    both("SET", "str", "abc")
    both("RPUSH", "l", "a", "b", "c")
    ev(both, script)


def test_resp3_to_lua(both):
    both("HSET", "h", "f", "v")
    for s in ("redis.setresp(3) local r = redis.call('hgetall', 'h') return r['map']['f']",
              "redis.setresp(3) return type(redis.call('get', 'nokey'))",
              "redis.setresp(3) return redis.call('hgetall', 'h')"):
        ev(both, s)


def test_all_types_written_and_read(both):
    script = """
    redis.call('set', KEYS[1], ARGV[1])
    redis.call('rpush', KEYS[2], 'a', 'b')
    redis.call('hset', KEYS[3], 'f', 'v')
    redis.call('sadd', KEYS[4], 'm')
    redis.call('zadd', KEYS[5], 1.5, 'z')
    redis.call('xadd', KEYS[6], '1-1', 'f', 'v')
    return {redis.call('get', KEYS[1]), redis.call('lrange', KEYS[2], 0, -1),
            redis.call('hgetall', KEYS[3]), redis.call('smembers', KEYS[4]),
            redis.call('zrange', KEYS[5], 0, -1, 'withscores'),
            redis.call('xrange', KEYS[6], '-', '+'),
            redis.call('type', KEYS[6])}
    """
    ev(both, script, "val", keys=("s", "l", "h", "set", "z", "x"))
    for k, t in (("s", "get"), ("l", "lrange"), ("h", "hgetall")):
        both(t.upper(), k, *(("0", "-1") if t == "lrange" else ()))


def test_keys_and_argv(both):
    ev(both, "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "a1", "a2",
       keys=("k1", "k2"))
    ev(both, "return {#KEYS, #ARGV}")
    both("EVAL", "return ARGV", "0", "x", "", "z")


# -- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "return redis.call('nosuch')", "return redis.call()", "return redis.pcall()",
    "return redis.call('get')", "return redis.call('incr', 'str')",
    "return redis.call('multi')", "return redis.call('blpop', 'l', 0)",
    "return redis.call('set', 'a', {})", "return redis.call('set', 'a', nil)",
    "return redis.pcall('nosuch')", "return redis.pcall('set', 'k', 'v', 'x')",
    "local r = redis.call('nosuch') return r",
    "return x", "x = 1", "rawset(_G, 'x', 1)", "string.x = 1", "redis.x = 1",
    "setmetatable(_G, nil)", "error('boom')", "error({err='boom'})", "error('boom', 0)",
    "return error_reply_typo()", "retur 1", "return 'unfinished", "return redis.sha1hex()",
    "return redis.log()", "local t = nil; return t.x",
    "local ok, e = pcall(redis.call, 'nosuch') return e",
    "local ok, e = pcall(redis.call, 'incr', 'str') return e",
    "local ok, e = pcall(error, 'x') return e",
    "return redis.call('set', 'a', true)", "return redis.call('set', 'a', 1, nil)",
    "return redis.call('debug', 'sleep', 0)", "return redis.call('ping', 'a', 'b')",
    "return redis.call('select', 100)", "return redis.call('eval', 'return 1', 0)",
    "return redis.call('xread', 'block', '100', 'streams', 'nos', '$')",
    "return redis.set_repl(7)", "return redis.set_repl()", "return redis.setresp(4)",
    "return redis.setresp()", "return redis.log(99, 'x')", "return redis.log('a', 'x')",
    "return math.random(0)", "return math.random(5, 1)", "return bit.band()", "return bit.lshift(1)", "return bit.tohex(1, 'z')",
    "return cjson.encode(print)", "return bit.band('x')",
    "return redis.call('get', 'str'):foo()",
])
def test_errors(both, script):
    both("SET", "str", "abc")
    ev(both, script)


def test_cjson_options(both):
    for s in ("return {cjson.encode_sparse_array()}", "return {cjson.encode_max_depth()}",
              "return {cjson.decode_max_depth()}", "return {cjson.encode_number_precision()}",
              "return {cjson.encode_keep_buffer()}", "return {cjson.encode_invalid_numbers()}",
              "return {cjson.decode_invalid_numbers()}", "return {cjson._NAME, cjson._VERSION}",
              "return type(cjson.new)", "local n = 0 for k in pairs(cjson) do n = n + 1 end return n",
              "local c = cjson.new() c.encode_number_precision(3) "
              "return {c.encode(math.pi), cjson.encode(math.pi)}",
              "return cjson.encode_number_precision(15)", "return cjson.encode_max_depth(0)",
              "return cjson.encode_keep_buffer('x')"):
        ev(both, s)
    try:
        # Options last across scripts, as in Redis.
        ev(both, "return cjson.encode_number_precision(3)")
        ev(both, "return cjson.encode(math.pi)")
        ev(both, "return cjson.encode_max_depth(2)")
        ev(both, "return cjson.encode({{{1}}})")
        ev(both, "return {cjson.encode_sparse_array(true)}")
        ev(both, "return cjson.encode({[1] = 1, [20] = 2})")
        ev(both, "return cjson.encode_invalid_numbers('null')")
        ev(both, "return cjson.encode({0/0, 1/0})")
        ev(both, "return cjson.encode_invalid_numbers(true)")
        ev(both, "return cjson.encode({1/0, -1/0})")
        ev(both, "return cjson.decode_invalid_numbers(false)")
        ev(both, "return cjson.decode('[0x10]')")
        ev(both, "return cjson.decode('[1.5e2]')")
        ev(both, "return cjson.decode_max_depth(2)")
        ev(both, "return cjson.decode('[[[1]]]')")
    finally:
        ev(both, "cjson.encode_number_precision(14) cjson.encode_max_depth(1000) "
                 "cjson.decode_max_depth(1000) cjson.encode_sparse_array(false, 2, 10) "
                 "cjson.encode_invalid_numbers(false) cjson.decode_invalid_numbers(true) "
                 "return 1")


def test_write_after_random_without_effects_replication(both):
    both("CONFIG", "SET", "lua-replicate-commands", "no")
    try:
        ev(both, "redis.call('randomkey') return redis.call('set', 'a', 'b')")
        ev(both, "redis.call('time') return redis.pcall('set', 'a', 'b')")
        ev(both, "redis.replicate_commands() redis.call('time') return redis.call('set', 'a', 'b')")
        ev(both, "return redis.set_repl(redis.REPL_ALL)")
        ev(both, "redis.call('set', 'a', 'c') redis.call('time') return redis.call('get', 'a')")
        # Replies of sort_for_script commands come sorted in this mode.
        both("SADD", "set", "zeta", "alpha", "mid", "Beta", "10", "9")
        both("SADD", "ints", "30", "4", "100")
        both("HSET", "h", "y", "2", "x", "1")
        ev(both, "return redis.call('smembers', 'set')")
        ev(both, "return redis.call('smembers', 'ints')")
        ev(both, "return redis.call('sunion', 'set', 'ints')")
        ev(both, "return redis.call('hkeys', 'h')")
        ev(both, "return redis.call('hvals', 'h')")
        ev(both, "return redis.call('keys', '*')")
        ev(both, "redis.replicate_commands() return redis.call('smembers', 'ints')")
    finally:
        both("CONFIG", "SET", "lua-replicate-commands", "yes")
    ev(both, "redis.call('randomkey') return redis.call('set', 'a', 'b')")


def test_oom_inside_scripts(both):
    both("SET", "a", "x")
    both("CONFIG", "SET", "maxmemory", "1")
    try:
        ev(both, "return redis.call('set', 'a', 'b')")
        ev(both, "return redis.pcall('set', 'a', 'b')")
        ev(both, "return redis.call('get', 'a')")
        # Only before the script's first write command.
        ev(both, "redis.call('del', 'zz') return redis.call('set', 'a', 'b')")
    finally:
        both("CONFIG", "SET", "maxmemory", "0")


def test_error_messages_lose_their_trailing_newline(both):
    ev(both, "error('two lines\\n', 0)")
    ev(both, "error('mid\\nline', 0)")
    ev(both, "return {err='ends\\r\\n'}")
    ev(both, "return {1, {err='nested\\r\\n'}, {ok='st\\r\\n'}}")
    ev(both, "return {err='\\r\\nstarts'}")


def test_varargs_body(both):
    ev(both, "return {...}")
    ev(both, "return select('#', ...)", "a", "b")


def test_monitor_shows_eval_then_its_commands(pyr, ref):
    lines = {}
    for name, port in (("pyr", pyr.port), ("ref", ref.port)):
        mon = RawClient(port)
        runner = RawClient(port)
        try:
            assert mon.call("MONITOR") == ("+", b"OK")
            runner.call("EVAL", "redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])",
                        "1", "mk")
            runner.call("PING")
            got = []
            while len(got) < 4:
                kind, line = mon.read()
                # "+<time> [<db> <addr>] <args>": the time and address differ.
                ts, rest = line.split(b" ", 1)
                db, addr, args = rest.split(b" ", 2)
                got.append((db, addr == b"lua]", args))
            lines[name] = got
        finally:
            mon.close()
            runner.close()
    assert lines["pyr"] == lines["ref"]
    assert [g[2].split(b" ")[0] for g in lines["pyr"]] == [b'"EVAL"', b'"set"', b'"get"', b'"PING"']


def test_numkeys_errors(both):
    both("EVAL", "return 1", "-1")
    both("EVAL", "return 1", "2", "a")
    both("EVAL", "return 1", "x")
    both("EVALSHA", "return 1", "x")
    both("EVAL", "return 1")


# -- the sandbox -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["os", "io", "require", "loadfile", "dofile", "debug",
                                  "package", "module", "python", "cmsgpack", "cjson", "bit",
                                  "struct"])
def test_sandbox_has_no_host_access(both, name):
    ev(both, f"return {name}")
    ev(both, f"return type(rawget(_G, '{name}'))")


@pytest.mark.parametrize("script", [
    "return type(loadstring)", "return loadstring('return 5')()",
    "return pcall(loadstring('return os'))",
    "return getmetatable('').__index == string", "return ('ab'):upper()",
    "return type(getfenv(0).os)", "return type(getfenv(print).os)",
    "local t = {} t.x = 1 return t.x",
    "local n = 0 for k, v in pairs(_G) do n = n + 1 end return n",
    "local names = {} for k in pairs(_G) do names[#names + 1] = k end table.sort(names) "
    "return names",
    "return {math.random(100), math.random(100), math.floor(math.random() * 1000)}",
    "math.randomseed(7) return {math.random(1000), math.random(5, 9)}",
    "return redis.sha1hex('')", "return redis.sha1hex(12)", "return redis.sha1hex('abc')",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return redis.log(redis.LOG_WARNING, 'from a script')",
    "return redis.replicate_commands()", "return redis.set_repl(redis.REPL_ALL)",
    "return cjson.encode({1, 2, {a=1}})", "return cjson.encode({a='x/y', c=true})",
    "return cjson.encode({})", "return cjson.decode('[1,2.5,\"x\",null]')[4] == cjson.null",
    "return cjson.decode('{\"a\":[1,2]}').a[2]",
    "return cjson.decode('[1,2')", "return cjson.decode('{\"a\" 1}')",
    "return cjson.decode('[1 2]')", "return cjson.decode('1 2')", "return cjson.decode('')",
    "return cjson.decode('\"\\\\u0041\\\\u00e9\"')", "return cjson.decode('[01]')",
    "return cjson.decode('{\"a\":1,}')", "return cjson.decode('{1:2}')",
    "return cjson.decode('[1,]')", "return cjson.decode('\"abc')", "return cjson.decode('\"\\\\q\"')",
    "return cjson.decode('\"\\\\u12\"')", "return cjson.decode('tru')", "return cjson.decode('@')",
    "return cjson.decode('-')", "return cjson.decode('[0x10, -2.5e3, 1E2]')",
    "return cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))",
    "return #cjson.decode(string.rep('[', 999) .. string.rep(']', 999))",
    "local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)",
    "local t = {} local c = t for i = 1, 1001 do c[1] = {} c = c[1] end return cjson.encode(t)",
    "return cjson.decode(12)", "return cjson.decode()",
    "return cjson.encode(cjson.decode('{\"k\":[true,false,null,\"s\",0.5]}'))",
    "return bit.tohex(bit.band(0xff, 0x0f0f))", "return bit.bor(1, 2, 4)",
    "return bit.bxor(5, 3)", "return bit.bnot(0)", "return bit.lshift(1, 31)",
    "return bit.rshift(-1, 28)", "return bit.arshift(-256, 4)", "return bit.tohex(-1, -4)",
    "return bit.tobit(2^32 + 5)",
    "return cmsgpack.pack({1, 2, 3})", "return cmsgpack.pack({a=1})",
    "return cmsgpack.pack(1.5, -1, -100, 300, 70000, 5000000000, -5000000000, 'abc', true, nil)",
    "return cmsgpack.pack(string.rep('x', 40), string.rep('y', 300), 0.1, {[1]=1, [3]=3})",
    "return {cmsgpack.unpack(cmsgpack.pack({1, {2, 'x'}}, 'y', 7))}",
    "return cmsgpack.unpack(cmsgpack.pack({a={b=5}})).a.b",
    "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)",
    "return coroutine.create(5)", "return coroutine.wrap(nil)", "return coroutine.create(print)",
    "local f = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) "
    "return {f(1), f(10)}",
    "local co = coroutine.create(function() error('in co') end) return {coroutine.resume(co)}",
    "local co = coroutine.create(function() return redis.call('ping') end) "
    "local ok, v = coroutine.resume(co) return v",
    "return struct.pack('>I2', 258)", "return struct.pack('<i', -2)",
    "return struct.pack('bBhHlLi3', -1, 255, -2, 65535, -3, 7, 70000)",
    "return struct.pack('>d', 1.5)", "return struct.pack('f', 0.5)", "return struct.pack('s', 'ab')",
    "return struct.pack('c3', 'abcdef')", "return struct.pack('c0', 'abcdef')",
    "return {struct.unpack('>I2', struct.pack('>I2', 258))}",
    "return {struct.unpack('bBs', struct.pack('bBs', -1, 255, 'xy'))}",
    "return {struct.unpack('>d', struct.pack('>d', 1.5))}", "return struct.size('>I2bd')",
    "return struct.pack('!4bi', 1, 2)", "return {struct.unpack('B c0', struct.pack('B c0', 3, 'abc'))}",
    "return struct.pack('x>I', 1)", "return struct.pack('i17', 1)", "return struct.pack('>i9', -1)",
    "return {struct.unpack('<i9', struct.pack('<i9', -1))}",
    "return {struct.unpack('>i3', struct.pack('>i3', -5))}", "return struct.pack('I', -1)",
    "return struct.pack('b', 300.7)", "return {struct.unpack('>I2', 'xxab', 3)}",
    "return struct.pack('s', 1)", "return struct.size('!8bd')",
    "return {struct.unpack('!8bd', struct.pack('!8bd', 1, 2.5))}",
    "return struct.pack('q', 1)", "return {struct.unpack('i', 'ab')}", "return struct.size('s')",
    "return struct.size('c0')", "return struct.pack('i33', 1)", "return struct.pack('c5', 'ab')",
    "return {struct.unpack('s', 'ab')}", "return struct.pack('i', 'x')", "return struct.pack('i')",
    "return struct.pack('!3i', 1)", "return {struct.unpack('i', 'abcd', 2)}",
    "return {struct.unpack('i', 'abcd', 0)}", "return struct.pack()",
    "return cmsgpack.pack()", "return cmsgpack.unpack(string.char(0xc1))",
    "return cmsgpack.unpack(string.char(0x92, 1))", "return cmsgpack.unpack()",
    "return {cmsgpack.unpack(string.char(0x81, 0xc0, 1, 5))}",
])
def test_sandbox_functions(both, script):
    ev(both, script)


# -- the script cache ----------------------------------------------------------------

def test_evalsha_and_script_commands(both):
    sha = both("SCRIPT", "LOAD", "return ARGV[1]")[1].decode()
    both("EVALSHA", sha, "0", "hello")
    both("EVALSHA", sha.upper(), "0", "hello")
    both("SCRIPT", "EXISTS", sha, sha.upper(), "f" * 40, "short")
    both("EVALSHA", "f" * 40, "0")
    both("EVALSHA", "abc", "0")
    both("EVAL", "return 'cached'", "0")
    both("EVALSHA", "ef18bd7c4a6d4ef5d2f5c6c9ed8c2e6a4c4a7b1e", "0")
    both("SCRIPT", "FLUSH")
    both("EVALSHA", sha, "0", "hello")
    both("SCRIPT", "FLUSH", "ASYNC")
    both("SCRIPT", "FLUSH", "SYNC")
    both("SCRIPT", "FLUSH", "bad")
    both("SCRIPT", "LOAD", "retur 1")
    both("SCRIPT", "KILL")
    both("SCRIPT", "HELP")
    both("SCRIPT", "nosuch")
    both("SCRIPT", "DEBUG", "NO")
    both("SCRIPT", "DEBUG", "maybe")
    both("SCRIPT")
    both("COMMAND", "INFO", "eval", "evalsha", "script")
    both("COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c")


def test_eval_caches_the_script(both):
    both("EVAL", "return 42", "0")
    both("EVALSHA", "1e0fd4f5fc6d4a5d0b8da3d2d0ef1c8c7d2c0b6f", "0")
    both("SCRIPT", "EXISTS", "1e0fd4f5fc6d4a5d0b8da3d2d0ef1c8c7d2c0b6f")


def test_select_inside_script_does_not_move_the_caller(both):
    ev(both, "redis.call('select', 1) redis.call('set', 'k', 'in1') return redis.call('get', 'k')")
    both("GET", "k")
    both("SELECT", "1")
    both("GET", "k")
    both("SELECT", "0")


def test_eval_in_multi(both):
    both("MULTI")
    both("EVAL", "return redis.call('incr', 'c')", "0")
    both("EVAL", "return redis.call('incr', 'c')", "0")
    both("EXEC")


# -- pyredis only: effects, waiters, slow scripts ------------------------------------

def test_script_propagates_its_writes_as_one_unit(raw_pyr, recorder):
    raw_pyr.call("EVAL", "redis.call('set', KEYS[1], 'v') redis.call('incr', KEYS[2]) "
                 "redis.call('get', KEYS[1]) return 1", "2", "k", "n")
    raw_pyr.call("EVAL", "return redis.call('get', 'k')", "0")
    raw_pyr.call("EVAL", "redis.call('expire', 'k', 100) return 1", "0")
    raw_pyr.call("PING")
    eff = recorder.effects
    assert eff[:4] == [("MULTI",), (0, [b"set", b"k", b"v"]), (0, [b"incr", b"n"]), ("EXEC",)]
    # A read-only script propagates nothing; EXPIRE leaves as PEXPIREAT.
    assert eff[4] == ("MULTI",) and eff[5][1][0].upper() == b"PEXPIREAT" and eff[6] == ("EXEC",)
    assert len(eff) == 7
    assert not any(e[1][0].upper() in (b"EVAL", b"EVALSHA") for e in eff if len(e) == 2)


class ReplicaStream:
    """The reference's replication stream, read as a replica would (SYNC)."""

    def __init__(self, port: int) -> None:
        self.c = RawClient(port, timeout=5)
        self.c.send_raw(b"SYNC\r\n")
        buf = b""
        while not buf.lstrip(b"\n").startswith(b"$") or b"\r\n" not in buf.lstrip(b"\n"):
            buf += self.c.sock.recv(65536)
        buf = buf.lstrip(b"\n")
        head, rest = buf.split(b"\r\n", 1)
        n = int(head[1:])
        while len(rest) < n:
            rest += self.c.sock.recv(65536)
        self.c.parser.feed(rest[n:])

    def commands(self, count: int) -> list:
        out = []
        while len(out) < count:
            kind, items = self.c.read()
            args = [v for _, v in items]
            if args[0].upper() not in (b"PING", b"SELECT"):
                out.append(args)
        return out

    def close(self) -> None:
        self.c.close()


def test_effects_match_the_reference_replication_stream(ref, raw_ref, raw_pyr, recorder):
    stream = ReplicaStream(ref.port)
    try:
        scripts = [
            ("redis.call('set', KEYS[1], 'v') redis.call('incr', KEYS[2]) "
             "redis.call('get', KEYS[1]) return 1", "2", "k", "n"),
            ("return redis.call('get', 'k')", "0"),
            ("redis.call('rpush', 'l', 'a', 'b') redis.call('lpop', 'l') return 1", "0"),
            # Not compared: a script whose writes change nothing (DEL of a
            # missing key). Redis 6.2 sends an empty MULTI/EXEC for it (it
            # opens the unit when a write command is called); pyredis's
            # funnel opens a unit with its first effect, so sends nothing.
            ("redis.call('hset', 'h', 'f', '1') redis.call('hincrby', 'h', 'f', 2) return 1", "0"),
        ]
        for s in scripts:
            assert raw_ref.call("EVAL", *s) == raw_pyr.call("EVAL", *s)
        for cmd in (("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "LOAD", "return 1"),
                    ("SCRIPT", "FLUSH"), ("SCRIPT", "EXISTS", "x"), ("SCRIPT", "FLUSH", "ASYNC")):
            assert raw_ref.call(*cmd) == raw_pyr.call(*cmd)
        raw_ref.call("SET", "end", "1")
        raw_pyr.call("SET", "end", "1")
        got = [[b"MULTI"] if e == ("MULTI",) else [b"EXEC"] if e == ("EXEC",) else e[1]
               for e in recorder.effects]
        expected = stream.commands(len(got))
        assert got == expected, repr((got, expected))
        assert got[-1] == [b"SET", b"end", b"1"]
    finally:
        stream.close()


def test_set_repl_none_propagates_nothing(raw_pyr, recorder):
    raw_pyr.call("EVAL", "redis.replicate_commands() redis.set_repl(redis.REPL_NONE) "
                 "redis.call('set', 'a', '1') redis.set_repl(redis.REPL_ALL) "
                 "redis.call('set', 'b', '2') return 1", "0")
    assert recorder.effects == [("MULTI",), (0, [b"set", b"b", b"2"]), ("EXEC",)]


def test_script_push_serves_blpop_waiter_after_the_script(pyr, raw_pyr):
    waiter = RawClient(pyr.port)
    try:
        waiter.call("DEL", "q")
        from conftest import encode_command
        waiter.send_raw(encode_command(("BLPOP", "q", "5")))
        import time
        deadline = time.monotonic() + 5
        while pyr.core.blocked_clients == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The waiter is served after the script: it sees the final list.
        assert raw_pyr.call("EVAL", "redis.call('rpush', 'q', 'a', 'b') "
                            "return redis.call('llen', 'q')", "0") == (":", 2)
        assert waiter.read() == ("*", [("$", b"q"), ("$", b"a")])
        assert raw_pyr.call("LRANGE", "q", "0", "-1") == ("*", [("$", b"b")])
    finally:
        waiter.close()


BUSY = b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."


@pytest.mark.parametrize("target", ["ref", "pyr"])
def test_busy_and_script_kill_over_the_wire(pyr, ref, target):
    port = pyr.port if target == "pyr" else ref.port
    admin = RawClient(port)
    runner = RawClient(port)
    other = RawClient(port)
    try:
        admin.call("CONFIG", "SET", "lua-time-limit", "100")
        assert runner.call("PING") == other.call("PING") == ("+", b"PONG")
        runner.send_raw(encode_command(("EVAL", "local i = 0 while true do i = i + 1 end", "0")))
        time.sleep(0.4)
        assert other.call("GET", "x") == ("-", BUSY)
        assert other.call("MULTI") == ("+", b"OK")
        assert other.call("DISCARD") == ("+", b"OK")
        assert other.call("SCRIPT", "FLUSH") == ("-", BUSY)
        assert other.call("SCRIPT", "KILL") == ("+", b"OK")
        kind, text = runner.read()
        assert kind == "-" and text.startswith(b"ERR Error running script (call to f_")
        assert text.endswith(b": @user_script:1: Script killed by user with SCRIPT KILL...")
        assert other.call("PING") == ("+", b"PONG")
        assert runner.call("SCRIPT", "KILL") == ("-", b"NOTBUSY No scripts in execution right now.")
    finally:
        admin.call("CONFIG", "SET", "lua-time-limit", "5000")
        for c in (admin, runner, other):
            c.close()


def test_shutdown_nosave_stops_a_busy_server():
    """SHUTDOWN NOSAVE gets through a busy script and stops the server (Redis
    exits from inside the script; pyredis stops the script at its next
    hook, then shuts down)."""
    from pyredis.testing import ServerThread
    srv = ServerThread(lua_time_limit=50).start()
    runner = RawClient(srv.port)
    other = RawClient(srv.port)
    try:
        assert runner.call("PING") == other.call("PING") == ("+", b"PONG")
        runner.send_raw(encode_command(("EVAL", "while true do end", "0")))
        time.sleep(0.3)
        assert other.call("SET", "k", "v") == ("-", BUSY)
        other.send_raw(encode_command(("SHUTDOWN", "NOSAVE")))
        assert other.is_closed(5)
        srv._thread.join(5)
        assert not srv._thread.is_alive()
    finally:
        runner.close()
        other.close()
        srv.stop()


def _core(limit_ms=20):
    core = Core()
    core.config.lua_time_limit = limit_ms
    return core, core.new_client(), core.new_client()


def test_slow_script_gets_busy_then_killed():
    core, runner, other = _core()
    seen = []

    def pump(caller):
        assert caller is runner
        if not seen:
            seen.append(call(other, [b"GET", b"x"]))
            seen.append(call(other, [b"PING"]))
            seen.append(call(other, [b"SHUTDOWN", b"SAVE"]))
            seen.append(call(other, [b"SCRIPT", b"KILL"]))

    core.process_events_while_blocked = pump
    reply = call(runner, [b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"])
    busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    assert seen == [busy, busy, busy, b"+OK\r\n"]
    assert reply.startswith(b"-ERR Error running script (call to f_")
    assert reply.endswith(b": @user_script:1: Script killed by user with SCRIPT KILL...\r\n")
    # Afterwards everything runs again, and there is nothing to kill.
    assert call(other, [b"PING"]) == b"+PONG\r\n"
    assert call(other, [b"SCRIPT", b"KILL"]) == b"-NOTBUSY No scripts in execution right now.\r\n"


def test_slow_script_that_wrote_is_unkillable():
    core, runner, other = _core()
    seen = []
    state = {"n": 0}

    def pump(caller):
        state["n"] += 1
        if state["n"] == 1:
            seen.append(call(other, [b"SCRIPT", b"KILL"]))
        elif state["n"] > 3:
            # Stop the test script: the kill flag is what ends it.
            core.lua_engine.kill_requested = True

    core.process_events_while_blocked = pump
    reply = call(runner, [b"EVAL", b"redis.call('set', 'w', '1') while true do end", b"0"])
    assert seen[0].startswith(b"-UNKILLABLE Sorry the script already executed write commands")
    assert b"Script killed by user" in reply
    assert call(other, [b"GET", b"w"]) == b"$1\r\n1\r\n"


def test_slow_loop_inside_a_coroutine_is_killed():
    core, runner, other = _core()
    seen = []

    def pump(caller):
        if not seen:
            seen.append(call(other, [b"SCRIPT", b"KILL"]))

    core.process_events_while_blocked = pump
    reply = call(runner, [b"EVAL", b"local co = coroutine.create(function() while true do end end) "
                                   b"local ok, err = coroutine.resume(co) return err", b"0"])
    assert seen == [b"+OK\r\n"]
    # Killed inside the coroutine: resume returns the error, as in Redis.
    assert reply == b"$41\r\nScript killed by user with SCRIPT KILL...\r\n"


def test_fast_script_never_busy():
    core, runner, other = _core(limit_ms=5000)
    core.process_events_while_blocked = lambda caller: pytest.fail("pumped")
    assert call(runner, [b"EVAL", b"local i = 0 for j = 1, 300000 do i = i + j end return i",
                         b"0"]) == b":45000150000\r\n"
    assert core.gate is None


def test_a_script_allocating_without_end_fails_at_the_lua_heap_limit():
    """pyredis only (Redis has no such limit): the Lua heap is bounded by
    lua-max-memory, so the server's memory is not the script's to take."""
    import redis
    from pyredis.testing import ServerThread
    with ServerThread(lua_max_memory="64mb") as srv:
        c = srv.client()
        assert c.eval("return #string.rep('x', 1000000)", 0) == 1000000
        with pytest.raises(redis.ResponseError, match="not enough memory"):
            c.eval("local t = {} while true do t[#t+1] = string.rep('x', 1e7) .. #t end", 0)
        assert c.eval("return 1", 0) == 1  # the Lua state goes on
        c.config_set("lua-max-memory", "0")
        assert c.eval("return #string.rep('x', 1e8)", 0) == 10 ** 8
