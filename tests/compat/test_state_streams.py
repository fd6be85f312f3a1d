"""Random stream command sequences on pyredis and real Redis, every reply
compared, and after every step each key's XINFO STREAM FULL (entries,
node counts, groups, PELs, consumers) and DEBUG DIGEST-VALUE compared.

Both servers run with small macro nodes (4 entries, 300 bytes) so that
node boundaries, ``~`` trimming and tombstones come into play within a few
steps. Appends mostly use the next free ID so that they succeed; other IDs
come from a small grid that collides with the entries. Clock-dependent
fields (idle times, seen and delivery times) are masked; min-idle arguments
are either 0 or far beyond any test's duration, and explicit delivery times
are far in the past, so no decision depends on the clock."""

from __future__ import annotations

import os

import hypothesis.strategies as st
from conftest import RawClient, run_machine
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pyredis.testing import ServerThread
from test_streams import mask_idle, mask_times

KEYS = ["s", "t", "x"]
KEY = st.sampled_from(KEYS)
STREAM_KEY = st.sampled_from(["s", "t"])
GROUP = st.sampled_from(["g1", "g2"])
CONSUMER = st.sampled_from(["alice", "bob", "carol"])
ID = st.sampled_from(["1-0", "1-1", "2-0", "2-1", "3", "4-2", "5-0", "6-1", "8-0", "0-1",
                      "18446744073709551615-18446744073709551615", "x"])
BOUND = st.sampled_from(["-", "+", "1-0", "2", "(2-0", "(1-1", "4", "6-1", "(9-0", "0"])
COUNT = st.sampled_from(["0", "1", "2", "3", "-1", "x"])
FIELD = st.sampled_from(["f", "g", "n"])
VALUE = st.sampled_from(["v", "1", "127", "128", "-5", "4096", "9223372036854775807", "", "0x",
                         "w" * 70, "z" * 250])
TRIM = st.sampled_from([(), ("MAXLEN", "2"), ("MAXLEN", "~", "2"), ("MAXLEN", "=", "5"),
                        ("MINID", "3"), ("MINID", "~", "4-2"), ("MAXLEN", "~", "0", "LIMIT", "4"),
                        ("NOMKSTREAM",)])
MIN_IDLE = st.sampled_from(["0", "3600000"])


def cmd(*parts):
    return st.tuples(*[st.just(p) if isinstance(p, str) else p for p in parts])


FIELDS = st.lists(st.tuples(FIELD, VALUE), min_size=1, max_size=3).map(
    lambda pairs: tuple(x for p in pairs for x in p))

COMMANDS = st.one_of(
    st.builds(lambda k, i, fv: ("XADD", k, i, *fv), KEY, ID, FIELDS),
    cmd("XLEN", KEY),
    cmd("XRANGE", KEY, BOUND, BOUND), cmd("XRANGE", KEY, BOUND, BOUND, "COUNT", COUNT),
    cmd("XREVRANGE", KEY, BOUND, BOUND), cmd("XREVRANGE", KEY, BOUND, BOUND, "COUNT", COUNT),
    cmd("XDEL", KEY, ID), cmd("XDEL", KEY, ID, ID),
    st.builds(lambda k, t: ("XTRIM", k, *t), KEY, TRIM.filter(lambda t: t and t[0] != "NOMKSTREAM")),
    cmd("XREAD", "COUNT", COUNT, "STREAMS", KEY, ID), cmd("XREAD", "STREAMS", "s", "t", ID, "$"),
    cmd("XGROUP", "CREATE", KEY, GROUP, st.sampled_from(["0", "$", "2-0"])),
    cmd("XGROUP", "CREATE", KEY, GROUP, "$", "MKSTREAM"),
    cmd("XGROUP", "SETID", KEY, GROUP, st.sampled_from(["0", "$", "3-0", "-"])),
    cmd("XGROUP", "DESTROY", KEY, GROUP), cmd("XGROUP", "CREATECONSUMER", KEY, GROUP, CONSUMER),
    cmd("XGROUP", "DELCONSUMER", KEY, GROUP, CONSUMER),
    cmd("XREADGROUP", "GROUP", GROUP, CONSUMER, "COUNT", COUNT, "STREAMS", KEY,
        st.sampled_from([">", ">", "0", "2-0", "$"])),
    cmd("XREADGROUP", "GROUP", GROUP, CONSUMER, "NOACK", "STREAMS", KEY, ">"),
    cmd("XREADGROUP", "GROUP", GROUP, CONSUMER, "STREAMS", "s", "t", ">", ">"),
    cmd("XACK", KEY, GROUP, ID), cmd("XACK", KEY, GROUP, ID, ID),
    cmd("XPENDING", KEY, GROUP),
    cmd("XPENDING", KEY, GROUP, "IDLE", MIN_IDLE, BOUND, BOUND, COUNT),
    cmd("XCLAIM", KEY, GROUP, CONSUMER, MIN_IDLE, ID),
    cmd("XCLAIM", KEY, GROUP, CONSUMER, MIN_IDLE, ID, ID, "JUSTID"),
    cmd("XCLAIM", KEY, GROUP, CONSUMER, "0", ID, "FORCE", "RETRYCOUNT", st.sampled_from(["0", "5"])),
    cmd("XCLAIM", KEY, GROUP, CONSUMER, "0", ID, "TIME", "1000", "LASTID", ID),
    cmd("XAUTOCLAIM", KEY, GROUP, CONSUMER, MIN_IDLE, BOUND, "COUNT", st.sampled_from(["1", "2", "10"])),
    cmd("XAUTOCLAIM", KEY, GROUP, CONSUMER, "0", "0", "JUSTID"),
    cmd("XINFO", "STREAM", KEY), cmd("XINFO", "GROUPS", KEY),
    cmd("XSETID", KEY, st.sampled_from(["5-0", "9-0", "1-0"])),
    cmd("DEL", KEY), cmd("TYPE", KEY), cmd("OBJECT", "ENCODING", KEY), cmd("SET", "x", "str"),
)

# Replies that carry clock-dependent fields.
_MASKS = {"XPENDING": mask_idle}


class StreamMachine(RuleBasedStateMachine):
    pyr: ServerThread | None = None
    ref_port = 0

    def __init__(self) -> None:
        super().__init__()
        self.p = RawClient(self.pyr.port)
        self.r = RawClient(self.ref_port)
        # The next free ID for appends that should succeed.
        self.ms = 10
        for c in (self.p, self.r):
            c.call("DEL", *KEYS)
            c.call("CONFIG", "SET", "stream-node-max-entries", "4")
            c.call("CONFIG", "SET", "stream-node-max-bytes", "300")

    def both(self, *args):
        mask = _MASKS.get(args[0]) if len(args) > 3 else None
        expected = self.r.call(*args)
        got = self.p.call(*args)
        if mask is not None and expected[0] == "*":
            expected, got = mask(expected), mask(got)
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
        return got

    @rule(args=COMMANDS)
    def command(self, args):
        self.both(*args)

    @rule(key=STREAM_KEY, step=st.sampled_from([0, 0, 1, 3]), trim=TRIM, fv=FIELDS)
    def append(self, key, step, trim, fv):
        self.ms += step
        seq = self.ms * 7 % 5
        self.ms += 1
        self.both("XADD", key, *trim, f"{self.ms}-{seq}", *fv)

    @invariant()
    def same_data(self):
        for key in KEYS:
            expected = mask_times(self.r.call("XINFO", "STREAM", key, "FULL"))
            got = mask_times(self.p.call("XINFO", "STREAM", key, "FULL"))
            assert got == expected, f"{key}: pyredis {got!r} != redis {expected!r}"
            self.both("DEBUG", "DIGEST-VALUE", key)
            if expected[0] != "-":
                for g in ("g1", "g2"):
                    expected = mask_times(self.r.call("XINFO", "CONSUMERS", key, g))
                    got = mask_times(self.p.call("XINFO", "CONSUMERS", key, g))
                    assert got == expected, f"{key} {g}: pyredis {got!r} != redis {expected!r}"

    def teardown(self) -> None:
        for c in (self.p, self.r):
            c.call("CONFIG", "SET", "stream-node-max-entries", "100")
            c.call("CONFIG", "SET", "stream-node-max-bytes", "4096")
            c.close()


def test_stream_machine(own_pair):
    StreamMachine.pyr, StreamMachine.ref_port = own_pair[0], own_pair[1].port
    run_machine(StreamMachine, int(os.environ.get("STREAM_EXAMPLES", 50)))
