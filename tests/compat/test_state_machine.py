"""Random command sequences on pyredis and real Redis, every reply compared.

A hypothesis RuleBasedStateMachine draws string and keyspace commands over a
small alphabet of keys, values, numbers, offsets and TTLs, so that commands
collide on the same keys (type changes, overflow, expiry, renames, moves
between databases). Only commands present in the command table at
collection time are drawn: the machine grows as command groups land.

TTLs are large (at least 1000 s) so that nothing expires during a run, and
only TTL (seconds) is compared, never PTTL. Replies whose order Redis does
not define (KEYS, SCAN) are compared sorted. Under CI the examples are
derandomized so a run is repeatable."""

from __future__ import annotations

import hypothesis.strategies as st
from conftest import RawClient, run_machine
from hypothesis.stateful import RuleBasedStateMachine, rule

from pyredis.commands import COMMANDS

KEY = st.sampled_from(["a", "b", "c"])
VALUE = st.sampled_from(["", "0", "1", "-1", "10", "abc", "x y", "3.5", " 1", "01",
                         "9223372036854775807", "-9223372036854775808", "\x00\xff"])
INT = st.sampled_from(["0", "1", "-1", "7", "100", "-100", "9223372036854775807",
                       "-9223372036854775808", "x", "1.5", "", " 1"])
FLOAT = st.sampled_from(["0", "1.5", "-0.5", "1e3", "10.1", "3", "abc", "inf", "-inf", "1e400",
                         "0x10", " 1"])
OFFSET = st.sampled_from(["0", "1", "2", "5", "-1", "-2", "-100", "100", "x"])
SETRANGE_OFFSET = st.sampled_from(["0", "1", "3", "20", "-1", "x", "536870912"])
SECONDS = st.sampled_from(["1000", "100000", "86400", "0", "-5", "x", "9223372036854775807"])
MILLIS = st.sampled_from(["10000000", "100000000", "0", "-5", "x"])
WHEN = st.sampled_from(["4102444800", "1", "0", "x"])           # absolute: 2100, the past
DB = st.sampled_from(["0", "1", "2"])
# (a non-integer index is left to test_select_non_integer below)
ANY_DB = st.sampled_from(["0", "1", "2", "16", "-1"])
PATTERN = st.sampled_from(["*", "a*", "?", "[ab]", "[^a]", "\\a", "x*"])


def cmd(*parts):
    return st.tuples(*[st.just(p) if isinstance(p, str) else p for p in parts])


def keys(n_max=3):
    return st.lists(KEY, min_size=1, max_size=n_max)


def variadic(name, elem, n_max=3):
    return st.builds(lambda xs: (name, *xs), st.lists(elem, min_size=1, max_size=n_max))


def pairs(name, n_max=3):
    return st.builds(lambda xs: (name, *[x for kv in xs for x in kv]),
                     st.lists(st.tuples(KEY, VALUE), min_size=1, max_size=n_max))


SET_FLAG = st.sampled_from(["NX", "XX", "GET", "KEEPTTL"])
SET_TTL = st.one_of(cmd("EX", SECONDS), cmd("PX", MILLIS), cmd("EXAT", WHEN))

# (commands that must all exist, strategies of full argument tuples)
SPECS = [
    (("get",), [cmd("GET", KEY)]),
    (("set",), [cmd("SET", KEY, VALUE)]),
    # SET's options come with the strings group, as SETNX does
    (("set", "setnx"), [
        cmd("SET", KEY, VALUE, SET_FLAG),
        st.builds(lambda k, v, t: ("SET", k, v, *t), KEY, VALUE, SET_TTL),
        st.builds(lambda k, v, f, t: ("SET", k, v, f, *t), KEY, VALUE, SET_FLAG, SET_TTL),
    ]),
    (("setnx",), [cmd("SETNX", KEY, VALUE)]),
    (("setex",), [cmd("SETEX", KEY, SECONDS, VALUE)]),
    (("psetex",), [cmd("PSETEX", KEY, MILLIS, VALUE)]),
    (("getset",), [cmd("GETSET", KEY, VALUE)]),
    (("getdel",), [cmd("GETDEL", KEY)]),
    (("getex",), [cmd("GETEX", KEY), cmd("GETEX", KEY, "PERSIST"),
                  st.builds(lambda k, t: ("GETEX", k, *t), KEY, SET_TTL)]),
    (("incr",), [cmd("INCR", KEY)]),
    (("decr",), [cmd("DECR", KEY)]),
    (("incrby",), [cmd("INCRBY", KEY, INT)]),
    (("decrby",), [cmd("DECRBY", KEY, INT)]),
    (("incrbyfloat",), [cmd("INCRBYFLOAT", KEY, FLOAT)]),
    (("append",), [cmd("APPEND", KEY, VALUE)]),
    (("strlen",), [cmd("STRLEN", KEY)]),
    (("getrange",), [cmd("GETRANGE", KEY, OFFSET, OFFSET)]),
    (("substr",), [cmd("SUBSTR", KEY, OFFSET, OFFSET)]),
    (("setrange",), [cmd("SETRANGE", KEY, SETRANGE_OFFSET, VALUE)]),
    (("mset",), [pairs("MSET")]),
    (("msetnx",), [pairs("MSETNX")]),
    (("mget",), [variadic("MGET", KEY)]),
    (("del",), [variadic("DEL", KEY)]),
    (("unlink",), [variadic("UNLINK", KEY)]),
    (("exists",), [variadic("EXISTS", KEY)]),
    (("touch",), [variadic("TOUCH", KEY)]),
    (("expire",), [cmd("EXPIRE", KEY, SECONDS)]),
    (("pexpire",), [cmd("PEXPIRE", KEY, MILLIS)]),
    (("expireat",), [cmd("EXPIREAT", KEY, WHEN)]),
    (("persist",), [cmd("PERSIST", KEY)]),
    (("ttl",), [cmd("TTL", KEY)]),
    (("rename",), [cmd("RENAME", KEY, KEY)]),
    (("renamenx",), [cmd("RENAMENX", KEY, KEY)]),
    (("type",), [cmd("TYPE", KEY)]),
    (("keys",), [cmd("KEYS", PATTERN)]),
    (("scan",), [cmd("SCAN", "0", "COUNT", "100"), cmd("SCAN", "0", "MATCH", PATTERN, "COUNT", "100")]),
    (("dbsize",), [cmd("DBSIZE")]),
    (("select",), [cmd("SELECT", ANY_DB)]),
    (("move",), [cmd("MOVE", KEY, DB)]),
    (("copy",), [cmd("COPY", KEY, KEY), cmd("COPY", KEY, KEY, "REPLACE"),
                 cmd("COPY", KEY, KEY, "DB", DB)]),
    (("swapdb",), [cmd("SWAPDB", DB, DB)]),
    (("flushdb",), [cmd("FLUSHDB")]),
    # other types, for WRONGTYPE and TYPE
    (("lpush",), [cmd("LPUSH", KEY, VALUE)]),
    (("sadd",), [cmd("SADD", KEY, VALUE)]),
    (("hset",), [cmd("HSET", KEY, VALUE, VALUE)]),
]

ACTIVE = [s for need, strategies in SPECS if all(n in COMMANDS for n in need)
          for s in strategies]
COMMAND = st.one_of(*ACTIVE)
UNORDERED = {"KEYS", "SCAN"}


def _normalized(args, reply):
    """Sort what Redis returns in hash-table order."""
    name = args[0]
    if name == "KEYS" and reply[0] == "*":
        return "*", sorted(reply[1])
    if name == "SCAN" and reply[0] == "*":
        cursor, items = reply[1]
        return "*", [cursor, (items[0], sorted(items[1]))]
    return reply


class KeyspaceMachine(RuleBasedStateMachine):
    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        self.p = RawClient(self.ports[0])
        self.r = RawClient(self.ports[1])
        for c in (self.p, self.r):
            if "flushall" in COMMANDS:
                assert c.call("FLUSHALL") == ("+", b"OK")
            else:
                for db in ("2", "1", "0"):
                    c.call("SELECT", db)
                    c.call("DEL", "a", "b", "c")
            assert c.call("SELECT", "0") == ("+", b"OK")

    @rule(args=COMMAND)
    def command(self, args):
        expected = _normalized(args, self.r.call(*args))
        got = _normalized(args, self.p.call(*args))
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"

    def teardown(self) -> None:
        self.p.close()
        self.r.close()


def test_commands_drawn():
    # the string core is always there; the rest joins as it lands
    assert len(ACTIVE) >= 3


def test_keyspace_machine(own_pair):
    KeyspaceMachine.ports = (own_pair[0].port, own_pair[1].port)
    run_machine(KeyspaceMachine, 60)


def test_select_non_integer(both):
    both("SELECT", "x")
