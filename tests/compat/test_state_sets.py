"""Random set-command sequences on pyredis and real Redis, every reply
compared.

A hypothesis RuleBasedStateMachine draws set commands over three keys (and
a string key for WRONGTYPE) and members mixing canonical integers,
non-canonical ones and plain strings, with set-max-intset-entries lowered
to 4 so that sets cross between the intset and hashtable encodings often.

Replies Redis gives in hash-table order are compared sorted; OBJECT
ENCODING, and SMEMBERS of an intset (numeric order), exactly. The random
commands cannot be compared member for member: SRANDMEMBER is checked for
shape (length, distinctness, membership), and after an SPOP, which leaves
the two servers with different members, both keys are rebuilt to the
reference's remaining members so that the runs go on in step."""

from __future__ import annotations

import hypothesis.strategies as st
from conftest import RawClient, run_machine
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pyredis.types.setobj import is_integer

KEY = st.sampled_from(["a", "b", "c"])
# mostly the set keys, sometimes the string or a missing key
ANY_KEY = st.sampled_from(["a", "b", "c"] * 3 + ["str", "none"])
# mostly a few members, so that commands find what earlier ones added
MEMBER = st.sampled_from(["1", "2", "3", "x"] * 3 + ["-7", "10", "9223372036854775807", "01",
                                                      "+1", " 2", "y", "", "\x00"])
MEMBERS = st.lists(MEMBER, min_size=1, max_size=5)
COUNT = st.sampled_from(["0", "1", "2", "3", "5", "100", "-1", "-4", "x"])
PATTERN = st.sampled_from(["*", "1*", "?", "[xy]"])
SETOP = st.sampled_from(["SINTER", "SUNION", "SDIFF"])


def unordered(reply):
    kind, body = reply
    if kind in "*~" and body is not None and all(isinstance(i, tuple) for i in body):
        return kind, sorted(body)
    return reply


class SetMachine(RuleBasedStateMachine):
    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        self.p = RawClient(self.ports[0])
        self.r = RawClient(self.ports[1])
        for c in (self.p, self.r):
            assert c.call("FLUSHALL") == ("+", b"OK")
            assert c.call("CONFIG", "SET", "set-max-intset-entries", "4") == ("+", b"OK")
            assert c.call("SET", "str", "x") == ("+", b"OK")

    def both(self, *args, sort=False):
        expected = self.r.call(*args)
        got = self.p.call(*args)
        if sort:
            expected, got = unordered(expected), unordered(got)
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
        return expected

    @initialize(a=MEMBERS, b=MEMBERS, c=MEMBERS)
    def fill(self, a, b, c):
        for key, members in (("a", a), ("b", b), ("c", c)):
            self.both("SADD", key, *members)

    @rule(key=ANY_KEY, members=MEMBERS)
    def sadd(self, key, members):
        self.both("SADD", key, *members)

    @rule(key=KEY, members=MEMBERS)
    def sadd_more(self, key, members):
        self.both("SADD", key, *members)

    @rule(key=ANY_KEY, members=MEMBERS)
    def srem(self, key, members):
        self.both("SREM", key, *members)

    @rule(key=ANY_KEY, member=MEMBER)
    def reads(self, key, member):
        self.both("SCARD", key)
        self.both("SISMEMBER", key, member)
        self.both("SMISMEMBER", key, member, "1", "x")
        self.both("EXISTS", key)
        self.both("TYPE", key)

    @rule(key=ANY_KEY)
    def smembers(self, key):
        encoding = self.both("OBJECT", "ENCODING", key)
        # an intset lists its members in numeric order: compare exactly
        self.both("SMEMBERS", key, sort=encoding != ("$", b"intset"))

    @rule(src=ANY_KEY, dst=ANY_KEY, member=MEMBER)
    def smove(self, src, dst, member):
        self.both("SMOVE", src, dst, member)

    @rule(op=SETOP, keys=st.lists(ANY_KEY, min_size=1, max_size=3))
    def algebra(self, op, keys):
        self.both(op, *keys, sort=True)

    @rule(op=SETOP, dst=ANY_KEY, keys=st.lists(ANY_KEY, min_size=1, max_size=3))
    def algebra_store(self, op, dst, keys):
        self.both(op + "STORE", dst, *keys)
        self.both("OBJECT", "ENCODING", dst)

    @rule(key=ANY_KEY, pattern=PATTERN)
    def sscan(self, key, pattern):
        for args in (("SSCAN", key, "0", "COUNT", "1000"),
                     ("SSCAN", key, "0", "MATCH", pattern, "COUNT", "1000")):
            expected, got = self.r.call(*args), self.p.call(*args)
            if expected[0] == "*":
                expected = ("*", [expected[1][0], unordered(expected[1][1])])
                got = ("*", [got[1][0], unordered(got[1][1])]) if got[0] == "*" else got
            assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"

    @rule(key=ANY_KEY, count=st.one_of(st.none(), COUNT))
    def srandmember(self, key, count):
        args = ("SRANDMEMBER", key) if count is None else ("SRANDMEMBER", key, count)
        expected, got = self.r.call(*args), self.p.call(*args)
        if expected[0] != "*":
            if expected[0] == "$" and expected[1] is not None:
                assert got[0] == "$" and got[1] in self._members(key)
            else:
                assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
            return
        assert got[0] == "*" and len(got[1]) == len(expected[1]), (args, got, expected)
        drawn = [i[1] for i in got[1]]
        assert set(drawn) <= self._members(key)
        if int(count) > 0:
            assert len(set(drawn)) == len(drawn)

    @rule(key=ANY_KEY, count=st.one_of(st.none(), COUNT))
    def spop(self, key, count):
        args = ("SPOP", key) if count is None else ("SPOP", key, count)
        before = self._members(key)
        expected, got = self.r.call(*args), self.p.call(*args)
        assert got[0] == expected[0], (args, got, expected)
        if got[0] in "-_" or got[1] is None:
            assert got == expected, (args, got, expected)
            return
        if count is not None and count.isdigit() and int(count) >= len(before):
            # the whole set: the same members, in numeric order when they
            # would make an intset (SUNION's reply), else in hash order
            intset = len(before) <= 4 and all(is_integer(m) for m in before)
            assert (got if intset else unordered(got)) == \
                (expected if intset else unordered(expected)), (args, got, expected)
        popped = [got[1]] if got[0] == "$" else [i[1] for i in got[1]]
        assert set(popped) <= before and len(set(popped)) == len(popped)
        if got[0] != "$":
            assert len(popped) == len(expected[1])
        # the servers popped different members: rebuild both from the reference
        left = sorted(self._members(key, self.r))
        for c in (self.p, self.r):
            c.call("DEL", key)
            if left:
                c.call("SADD", key, *left)

    @rule(key=KEY, string=st.sampled_from([False] * 3 + [True]))
    def reset(self, key, string):
        self.both("SET", key, "v") if string else self.both("DEL", key)

    @invariant()
    def same_keys(self):
        self.both("DBSIZE")
        for key in ("a", "b", "c"):
            self.both("SCARD", key)

    def _members(self, key, client=None) -> set:
        reply = (client or self.r).call("SMEMBERS", key)
        return {i[1] for i in reply[1]} if reply[0] == "*" else set()

    def teardown(self) -> None:
        for c in (self.p, self.r):
            c.call("CONFIG", "SET", "set-max-intset-entries", "512")
            c.close()


def test_set_machine(own_pair):
    SetMachine.ports = (own_pair[0].port, own_pair[1].port)
    run_machine(SetMachine)
