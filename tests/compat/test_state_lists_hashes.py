"""Random list and hash command sequences on pyredis and real Redis, every
reply compared, and after every step each key's DEBUG DIGEST-VALUE compared
on the two servers (so the data, not only the replies, agree, and the
digest hooks follow Redis's).

Keys collide across types (WRONGTYPE), values include a 65-byte one that
converts hashes to the hashtable encoding (OBJECT ENCODING is compared), and
blocking pops use a 10 ms timeout so that an empty list answers nil quickly.
Replies whose order Redis does not define for the hashtable encoding are
compared sorted."""

from __future__ import annotations

import hypothesis.strategies as st
from conftest import RawClient, run_machine
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule


KEYS = ["a", "b", "c"]
KEY = st.sampled_from(KEYS)
LONG = "L" * 65
VALUE = st.sampled_from(["", "0", "1", "-1", "10", "x", "y", "3.5", " 1", "01", LONG,
                         "9223372036854775807", "\x00\xff"])
FIELD = st.sampled_from(["f", "g", "h", "", "1", LONG])
INDEX = st.sampled_from(["0", "1", "2", "-1", "-2", "5", "-5", "100", "x"])
COUNT = st.sampled_from(["0", "1", "2", "-1", "-2", "5", "x"])
INCR = st.sampled_from(["1", "-1", "0", "100", "9223372036854775807", "x"])
FLOAT = st.sampled_from(["1", "0.1", "-0.5", "1e3", "10.5", "inf", "x", "0x10", "5e-18"])
WHERE = st.sampled_from(["LEFT", "RIGHT"])


def cmd(*parts):
    return st.tuples(*[st.just(p) if isinstance(p, str) else p for p in parts])


def variadic(name, *prefix_and_elem, n_max=3):
    *prefix, elem = prefix_and_elem
    return st.builds(lambda pre, xs: (name, *pre, *xs), st.tuples(*prefix),
                     st.lists(elem, min_size=1, max_size=n_max))


def field_values(name):
    return st.builds(lambda k, xs: (name, k, *[x for fv in xs for x in fv]), KEY,
                     st.lists(st.tuples(FIELD, VALUE), min_size=1, max_size=3))


LIST_COMMANDS = [
    variadic("LPUSH", KEY, VALUE), variadic("RPUSH", KEY, VALUE),
    variadic("LPUSHX", KEY, VALUE), variadic("RPUSHX", KEY, VALUE),
    cmd("LPOP", KEY), cmd("RPOP", KEY), cmd("LPOP", KEY, COUNT), cmd("RPOP", KEY, COUNT),
    cmd("LLEN", KEY), cmd("LINDEX", KEY, INDEX), cmd("LRANGE", KEY, INDEX, INDEX),
    cmd("LSET", KEY, INDEX, VALUE),
    cmd("LINSERT", KEY, st.sampled_from(["BEFORE", "AFTER"]), VALUE, VALUE),
    cmd("LREM", KEY, COUNT, VALUE), cmd("LTRIM", KEY, INDEX, INDEX),
    cmd("RPOPLPUSH", KEY, KEY), cmd("LMOVE", KEY, KEY, WHERE, WHERE),
    cmd("LPOS", KEY, VALUE), cmd("LPOS", KEY, VALUE, "RANK", INDEX),
    cmd("LPOS", KEY, VALUE, "COUNT", COUNT, "MAXLEN", COUNT),
    st.builds(lambda ks: ("BLPOP", *ks, "0.01"), st.lists(KEY, min_size=1, max_size=3)),
    st.builds(lambda ks: ("BRPOP", *ks, "0.01"), st.lists(KEY, min_size=1, max_size=3)),
    cmd("BRPOPLPUSH", KEY, KEY, "0.01"), cmd("BLMOVE", KEY, KEY, WHERE, WHERE, "0.01"),
]
HASH_COMMANDS = [
    field_values("HSET"), field_values("HMSET"), cmd("HSETNX", KEY, FIELD, VALUE),
    cmd("HGET", KEY, FIELD), variadic("HMGET", KEY, FIELD), variadic("HDEL", KEY, FIELD),
    cmd("HLEN", KEY), cmd("HSTRLEN", KEY, FIELD), cmd("HEXISTS", KEY, FIELD),
    cmd("HKEYS", KEY), cmd("HVALS", KEY), cmd("HGETALL", KEY),
    cmd("HINCRBY", KEY, FIELD, INCR), cmd("HINCRBYFLOAT", KEY, FIELD, FLOAT),
    cmd("HSCAN", KEY, "0", "COUNT", "1000"), cmd("HSCAN", KEY, "0", "MATCH", "[fg]*"),
    cmd("HRANDFIELD", KEY, "100"), cmd("HRANDFIELD", KEY, "100", "WITHVALUES"),
]
OTHER_COMMANDS = [
    cmd("OBJECT", "ENCODING", KEY), cmd("TYPE", KEY), variadic("DEL", KEY),
    cmd("SET", KEY, VALUE), variadic("EXISTS", KEY),
]
COMMAND = st.one_of(*LIST_COMMANDS, *HASH_COMMANDS, *OTHER_COMMANDS)
UNORDERED = {"HKEYS", "HVALS", "HRANDFIELD"}


def _normalized(args, reply):
    """Sort what Redis returns in hash-table order."""
    name = args[0]
    if reply[0] != "*" or reply[1] is None:
        return reply
    items = reply[1]
    if name == "HGETALL" or (name == "HRANDFIELD" and len(args) == 4):
        return "*", sorted(zip(items[::2], items[1::2]))
    if name in UNORDERED:
        return "*", sorted(items)
    if name == "HSCAN":
        cursor, (_, flat) = items
        return "*", [cursor, sorted(zip(flat[::2], flat[1::2]))]
    return reply


class ListHashMachine(RuleBasedStateMachine):
    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        self.p = RawClient(self.ports[0])
        self.r = RawClient(self.ports[1])
        for c in (self.p, self.r):
            c.call("DEL", *KEYS)

    @rule(args=COMMAND)
    def command(self, args):
        expected = _normalized(args, self.r.call(*args))
        got = _normalized(args, self.p.call(*args))
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"

    @invariant()
    def same_data(self):
        for args in (("DEBUG", "DIGEST-VALUE", *KEYS), ("DEBUG", "DIGEST")):
            expected = self.r.call(*args)
            assert self.p.call(*args) == expected, args

    def teardown(self) -> None:
        self.p.close()
        self.r.close()


def test_list_hash_machine(own_pair):
    ListHashMachine.ports = (own_pair[0].port, own_pair[1].port)
    run_machine(ListHashMachine)
