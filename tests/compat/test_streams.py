"""Stream commands against the reference redis-server: XADD (IDs, NOMKSTREAM,
MAXLEN/MINID with = and ~, LIMIT), XLEN, XRANGE/XREVRANGE (COUNT,
exclusive bounds, ID syntax), XDEL, XTRIM, XREAD, XGROUP, XREADGROUP
(without blocking; see test_streams_blocking.py), XACK, XPENDING, XCLAIM,
XAUTOCLAIM, XINFO, XSETID: replies and errors byte for byte, RESP3 shapes,
macro-node boundaries (XINFO's radix-tree counts and ``~`` trimming) under
several node limits, WATCH, COMMAND rows, OBJECT ENCODING and DEBUG
DIGEST-VALUE.

Effects: what pyredis sends into its funnel is compared with what the
reference writes to its append-only file for the same commands (delivery
times aside), and replaying the effects on fresh servers, pyredis and
Redis, rebuilds the same streams and groups."""

from __future__ import annotations

import os
import random
import time

import pytest

from conftest import RawClient, ReferenceServer
from pyredis.commands import COMMANDS
from pyredis.testing import ServerThread

WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")
INVALID_ID = ("-", b"ERR Invalid stream ID specified as stream command argument")
NIL_ARRAY = ("*", None)
TIME_KEYS = (b"idle", b"seen-time")
MASK = (":", "masked")


@pytest.fixture(autouse=True)
def _reset_node_limits(both):
    yield
    for c in (both.r, both.p):
        c.call("CONFIG", "SET", "stream-node-max-entries", "100")
        c.call("CONFIG", "SET", "stream-node-max-bytes", "4096")
        c.call("HELLO", "2")


# -- helpers ---------------------------------------------------------------------------


def mask_times(r):
    """A reply with the clock-dependent fields replaced: consumer idle and
    seen-time, and the delivery times in XINFO STREAM FULL's pending lists."""
    t, v = r
    if t == "%":
        out = []
        for k, x in v:
            if k[1] in TIME_KEYS:
                x = MASK
            elif k[1] == b"pending" and x[0] == "*":
                x = _mask_pending(x)
            else:
                x = mask_times(x)
            out.append((k, x))
        return t, out
    if t in "*~" and v is not None:
        items = [mask_times(x) for x in v]
        for i in range(1, len(v), 2):
            key = v[i - 1]
            if key[0] == "$" and key[1] in TIME_KEYS:
                items[i] = MASK
            elif key[0] == "$" and key[1] == b"pending" and v[i][0] == "*":
                items[i] = _mask_pending(v[i])
        return t, items
    return r


def _mask_pending(r):
    t, v = r
    out = []
    for e in v:
        items = list(e[1])
        # [id, consumer, delivery-time, count] / [id, delivery-time, count]
        items[2 if len(items) == 4 else 1] = MASK
        out.append((e[0], items))
    return t, out


def mask_idle(r):
    """XPENDING's extended form: the idle time of each entry masked."""
    t, v = r
    if v is None:
        return r
    return t, [(e[0], e[1][:2] + [MASK] + e[1][3:]) for e in v]


def both_masked(both, *args, mask=mask_times):
    expected = mask(both.r.call(*args))
    got = mask(both.p.call(*args))
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


def resp3(both) -> None:
    """Switch both connections to RESP3 (HELLO's own reply differs: id, version)."""
    for c in (both.r, both.p):
        assert c.call("HELLO", "3")[0] == "%"


def setup_group(both, key="s", n=3, group="g"):
    for i in range(1, n + 1):
        both("XADD", key, f"{i}-1", "f", str(i))
    both("XGROUP", "CREATE", key, group, "0")


# -- XADD ------------------------------------------------------------------------------


def test_xadd_explicit_ids(both):
    assert both("XADD", "s", "1-1", "a", "1") == ("$", b"1-1")
    both("XADD", "s", "1-2", "a", "2", "b", "3")
    both("XADD", "s", "2", "a", "2")              # ms alone: seq 0
    both("XADD", "s", "2", "a", "2")              # equal: refused
    both("XADD", "s", "1-5", "a", "2")            # smaller: refused
    both("XADD", "s", "2-0", "a", "2")
    both("XADD", "s", "18446744073709551615-0", "x", "y")
    both("XADD", "s", "18446744073709551615-18446744073709551615", "x", "y")
    both("XADD", "s", "18446744073709551615-18446744073709551615", "x", "y")
    both("XADD", "s", "*", "x", "y")              # exhausted
    both("XLEN", "s")
    both("XRANGE", "s", "-", "+")


def test_xadd_auto_id_after_a_future_id(both):
    # A top ID in the future makes '*' deterministic: same ms, next seq.
    both("XADD", "s", "99999999999999-5", "a", "1")
    assert both("XADD", "s", "*", "a", "2") == ("$", b"99999999999999-6")
    both("XADD", "s", "99999999999999-18446744073709551615", "a", "3")
    assert both("XADD", "s", "*", "a", "4") == ("$", b"100000000000000-0")


def test_xadd_auto_id_uses_the_clock(raw_pyr):
    before = time.time_ns() // 1_000_000
    first = raw_pyr.call("XADD", "s", "*", "a", "1")[1]
    second = raw_pyr.call("XADD", "s", "*", "a", "2")[1]
    after = time.time_ns() // 1_000_000
    ms1, seq1 = map(int, first.split(b"-"))
    ms2, seq2 = map(int, second.split(b"-"))
    assert before <= ms1 <= after and before <= ms2 <= after
    assert (ms2, seq2) > (ms1, seq1)
    assert seq2 == (seq1 + 1 if ms2 == ms1 else 0)


@pytest.mark.parametrize("args", [
    ["s", "0-0", "a", "b"], ["s", "0", "a", "b"], ["s", "0-1", "a"], ["s", "*", "a"],
    ["s", "*", "a", "b", "c"], ["s", "MAXLEN", "5", "*", "a"], ["s", "MAXLEN", "5"],
    ["s", "maxlen", "5", "NOMKSTREAM"], ["s", "0-0", "a", "b", "c"],
    ["s", "5-*", "a", "b"], ["s", "abc", "a", "b"], ["s", "-", "a", "b"], ["s", "+", "a", "b"],
    ["s", "MAXLEN", "-1", "*", "a", "b"], ["s", "MAXLEN", "x", "*", "a", "b"],
    ["s", "MAXLEN", "~", "*", "a", "b"], ["s", "MAXLEN", "=", "1", "LIMIT", "3", "*", "a", "b"],
    ["s", "LIMIT", "3", "*", "a", "b"], ["s", "LIMIT", "-1", "*", "a", "b"],
    ["s", "LIMIT", "0", "*", "a", "b"], ["s", "LIMIT", "x", "*", "a", "b"],
    ["s", "MAXLEN", "1", "MINID", "1", "*", "a", "b"], ["s", "MINID", "x", "*", "a", "b"],
    ["s", "MINID", "-", "*", "a", "b"], ["s", "MINID", "1", "MAXLEN", "1", "*", "a", "b"],
    ["s", "FOO", "*", "a", "b"], ["s", "MAXLEN", "1", "LIMIT", "0", "1-1", "a", "b"],
    ["s", "NOMKSTREAM", "1-1", "a", "b"], ["s", "nomkstream", "maxlen", "~", "1", "*", "a", "b"],
])
def test_xadd_errors_and_nomkstream(both, args):
    both("XADD", *args)
    both("EXISTS", "s")


def test_xadd_wrongtype(both):
    both("SET", "str", "x")
    both("XADD", "str", "*", "a", "b")
    both("XADD", "str", "NOMKSTREAM", "*", "a", "b")
    both("XADD", "str", "1-1", "a", "b", "c")   # arity checks come first
    both("XADD", "str", "0-0", "a", "b")        # then the 0-0 check


def test_xadd_nomkstream_on_an_existing_stream(both):
    both("XADD", "s", "1-1", "a", "b")
    both("XADD", "s", "NOMKSTREAM", "2-1", "a", "b")
    both("XRANGE", "s", "-", "+")


def test_xadd_fields_are_kept_as_given(both):
    both("XADD", "s", "1-1", "f", "v", "f", "w", "", "")
    both("XADD", "s", "2-1", "\x00\xff", "bin\r\nary")
    both("XRANGE", "s", "-", "+")


def test_xadd_maxlen_and_minid(both):
    for i in range(1, 11):
        both("XADD", "s", f"{i}-0", "f", str(i))
    both("XADD", "s", "MAXLEN", "5", "11-0", "f", "11")
    both("XADD", "s", "MAXLEN", "=", "3", "12-0", "f", "12")
    both("XADD", "s", "MINID", "11", "13-0", "f", "13")
    both("XADD", "s", "MINID", "=", "12-1", "14-0", "f", "14")
    both("XADD", "s", "MAXLEN", "0", "15-0", "f", "15")
    both("XINFO", "STREAM", "s")
    both("XADD", "s", "MAXLEN", "~", "0", "LIMIT", "5", "16-0", "f", "16")
    both("XINFO", "STREAM", "s")


# -- XRANGE XREVRANGE XLEN ----------------------------------------------------------------


def test_xrange(both):
    for i in range(1, 6):
        both("XADD", "s", f"{i}-{i}", "f", str(i))
    for args in (
        ["-", "+"], ["-", "+", "COUNT", "2"], ["-", "+", "COUNT", "0"], ["-", "+", "COUNT", "-1"],
        ["-", "+", "COUNT", "1", "COUNT", "3"], ["-", "+", "count", "2"], ["2", "4"], ["2", "2"],
        ["2-2", "2-2"], ["3", "1"], ["+", "-"], ["(1-1", "+"], ["-", "(5-5"], ["(2-2", "(4-4"],
        ["(2", "+"], ["0", "18446744073709551615"], ["(0-0", "(18446744073709551615-18446744073709551615"],
        ["1--01", "+"], [" 1", "+"], ["+1-+2", "+"], ["1- 2", "+"], ["2-00003", "+"],
    ):
        both("XRANGE", "s", *args)
        both("XREVRANGE", "s", *reversed(args[:2]), *args[2:])


@pytest.mark.parametrize("args", [
    ["-", "+", "COUNT"], ["-", "+", "FOO", "1"], ["-", "+", "COUNT", "x"], ["(-", "+"],
    ["-", "(+"], ["(18446744073709551615-18446744073709551615", "+"], ["-", "(0-0"],
    ["(", "+"], ["((1", "+"], ["-1", "+"], ["x", "+"], ["18446744073709551616", "+"],
    ["1-2-3", "+"], ["-01", "+"], ["1-", "+"], ["", "+"], ["x" * 128, "+"],
    ["-", "+", "COUNT", "1", "x"],
])
def test_xrange_errors(both, args):
    both("XADD", "s", "1-1", "f", "v")
    both("XRANGE", "s", *args)
    both("XREVRANGE", "s", *reversed(args[:2]), *args[2:])
    both("XRANGE", "nokey", *args)


def test_xrange_missing_key_and_wrongtype(both):
    both("XRANGE", "nokey", "-", "+")
    both("XRANGE", "nokey", "-", "+", "COUNT", "0")
    both("XREVRANGE", "nokey", "+", "-")
    both("XLEN", "nokey")
    both("SET", "str", "x")
    both("XRANGE", "str", "-", "+")
    both("XRANGE", "str", "x", "+")             # ID errors come first
    both("XRANGE", "str", "-", "+", "COUNT", "x")
    both("XREVRANGE", "str", "+", "-")
    both("XLEN", "str")


def test_xrange_across_many_nodes(both):
    both("CONFIG", "SET", "stream-node-max-entries", "7")
    for i in range(1, 200):
        both("XADD", "s", f"{i // 3}-{i}", "f", str(i))
    for a, b in (("-", "+"), ("10", "20"), ("(10-31", "20-60"), ("33-99", "33-99"), ("0-5", "0-6")):
        both("XRANGE", "s", a, b, "COUNT", "15")
        both("XREVRANGE", "s", b, a, "COUNT", "15")
        both("XRANGE", "s", a, b)


# -- XDEL XTRIM XSETID ----------------------------------------------------------------------


def test_xdel(both):
    for i in range(1, 6):
        both("XADD", "s", f"{i}-0", "f", str(i))
    both("XDEL", "s", "2-0")
    both("XDEL", "s", "2-0", "3", "9-9", "3-0")
    both("XDEL", "s", "1", "x")                  # an invalid ID: nothing deleted
    both("XRANGE", "s", "-", "+")
    both("XDEL", "nokey", "1-1")
    both("XDEL", "nokey", "x")
    for i in (1, 4, 5):
        both("XDEL", "s", f"{i}-0")
    both("XLEN", "s")                             # empty streams stay
    both("EXISTS", "s")
    both("XINFO", "STREAM", "s")
    both("XADD", "s", "5-0", "f", "v")            # IDs keep growing
    both("SET", "str", "x")
    both("XDEL", "str", "1-1")
    both("XDEL", "str", "x")


def test_xtrim(both):
    for i in range(1, 21):
        both("XADD", "s", f"{i}-0", "f", str(i))
    both("XTRIM", "s", "MAXLEN", "15")
    both("XTRIM", "s", "MAXLEN", "=", "12")
    both("XTRIM", "s", "MAXLEN", "~", "5")
    both("XTRIM", "s", "MINID", "10")
    both("XTRIM", "s", "MINID", "=", "12-0")
    both("XTRIM", "s", "MINID", "~", "15")
    both("XTRIM", "s", "maxlen", "100")
    both("XRANGE", "s", "-", "+")
    both("XTRIM", "s", "MAXLEN", "0")
    both("XINFO", "STREAM", "s")
    both("XTRIM", "nokey", "MAXLEN", "1")


@pytest.mark.parametrize("args", [
    [], ["MAXLEN"], ["MAXLEN", "1", "x"], ["LIMIT", "1"], ["MAXLEN", "=", "1", "LIMIT", "1"],
    ["MAXLEN", "x"], ["MAXLEN", "~"], ["MAXLEN", "="], ["MINID", "2", "MINID", "3"],
    ["MAXLEN", "-1"], ["MINID", "x"], ["MINID", "~", "-"], ["FOO", "1"], ["MAXLEN", "1", "LIMIT", "-1"],
    ["MAXLEN", "~", "1", "LIMIT", "x"], ["NOMKSTREAM", "MAXLEN", "1"],
])
def test_xtrim_errors(both, args):
    both("XADD", "s", "1-1", "f", "v")
    both("XTRIM", "s", *args)
    both("XTRIM", "nokey", *args)
    both("SET", "str", "x")
    both("XTRIM", "str", *args)


def test_xsetid(both):
    both("XADD", "s", "5-5", "f", "v")
    both("XSETID", "s", "5-4")
    both("XSETID", "s", "5-5")
    both("XSETID", "s", "10")
    both("XSETID", "s", "x")
    both("XSETID", "s", "-")
    both("XSETID", "nokey", "1-1")
    both("XSETID", "nokey", "x")
    both("XADD", "s", "9-9", "f", "v")
    both("XADD", "s", "10-1", "f", "v")
    both("XDEL", "s", "10-1", "5-5")
    both("XSETID", "s", "1-1")                    # under the entry left
    both("XSETID", "s", "9-9")
    both("XDEL", "s", "9-9")
    both("XSETID", "s", "1-1")                    # empty: anything goes
    both("XINFO", "STREAM", "s")
    both("SET", "str", "x")
    both("XSETID", "str", "1-1")


# -- node boundaries ---------------------------------------------------------------------------


def _random_value(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.3:
        return str(rng.choice([0, 1, 127, 128, -1, 4095, 4096, -4097, 32767, 40000, 2 ** 23,
                               2 ** 31, 2 ** 40, -2 ** 63, 2 ** 63 - 1, 2 ** 63]))
    if k < 0.45:
        return "0" + str(rng.randint(0, 99))
    if k < 0.9:
        return "x" * rng.choice([0, 1, 10, 62, 63, 64, 100, 300])
    return "y" * rng.choice([4094, 4095, 4096, 5000])


@pytest.mark.parametrize("seed,max_entries,max_bytes", [
    (1, 100, 4096), (2, 3, 0), (3, 10, 200), (4, 0, 600), (5, 3, 600), (6, 0, 0),
])
def test_node_boundaries_match(both, seed, max_entries, max_bytes):
    """Listpack sizes decide where Redis opens a new node; XINFO's
    radix-tree counts and what ``~`` trims show whether we agree."""
    rng = random.Random(seed)
    both("CONFIG", "SET", "stream-node-max-entries", str(max_entries))
    both("CONFIG", "SET", "stream-node-max-bytes", str(max_bytes))
    ms, seq = 1, 0
    fields = [["a"], ["a", "b"], ["b", "a"], ["c"]]
    live = []
    for _ in range(150):
        k = rng.random()
        if k < 0.75:
            if rng.random() < 0.5:
                ms += rng.choice([0, 1, 100, 2 ** 31, 2 ** 33])
                seq = rng.choice([0, rng.randint(0, 2 ** 40)])
            else:
                seq += rng.choice([1, 2, 200, 70000])
            args = ["XADD", "s"]
            if rng.random() < 0.1:
                args += ["MAXLEN", "~", str(rng.randint(0, 50))]
            args.append(f"{ms}-{seq}")
            for f in rng.choice(fields):
                args += [f, _random_value(rng)]
            both(*args)
            live.append(f"{ms}-{seq}")
        elif k < 0.85 and live:
            both("XDEL", "s", rng.choice(live))
        elif k < 0.93:
            both("XTRIM", "s", "MAXLEN", "~", str(rng.randint(0, 60)))
        elif live:
            both("XTRIM", "s", "MINID", rng.choice(["~", "="]), rng.choice(live))
        both("XINFO", "STREAM", "s")


def test_node_counters_past_127_entries(both):
    """The live/deleted counters of a node grow a byte at 128."""
    both("CONFIG", "SET", "stream-node-max-entries", "1000")
    rng = random.Random(7)
    for i in range(1, 900):
        both("XADD", "s", f"{i}-0", "f", rng.choice(["1", "x", "abcabc", str(i * 1000)]))
        if i % 7 == 0:
            both("XDEL", "s", f"{i - 3}-0")
        if i % 100 == 0:
            both("XINFO", "STREAM", "s")
    for n in (800, 500, 100, 0):
        both("XTRIM", "s", "MAXLEN", "~", str(n))
        both("XINFO", "STREAM", "s")


def test_approx_trim_limit(both):
    both("CONFIG", "SET", "stream-node-max-entries", "10")
    for i in range(1, 101):
        both("XADD", "s", f"{i}-0", "f", "v")
    both("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "25")   # two whole nodes
    both("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "5")    # not even one
    both("XTRIM", "s", "MINID", "~", "95", "LIMIT", "0")    # 0: no limit
    both("XINFO", "STREAM", "s")
    both("CONFIG", "SET", "stream-node-max-entries", "1")   # default LIMIT 100 * 1
    for i in range(101, 400):
        both("XADD", "s", f"{i}-0", "f", "v")
    both("XTRIM", "s", "MAXLEN", "~", "0")
    both("XLEN", "s")


def test_approx_trim_without_entry_limit(both):
    """stream-node-max-entries 0 leaves ``~`` without a default LIMIT (no
    floor in 6.2): one-entry nodes, more than 10000 of them, all go."""
    from conftest import encode_command

    both("CONFIG", "SET", "stream-node-max-entries", "0")
    both("CONFIG", "SET", "stream-node-max-bytes", "1")
    n = 10100
    batch = b"".join(encode_command(["XADD", "s", f"{i}-0", "f", "v"]) for i in range(1, n + 1))
    for c in (both.r, both.p):
        c.send_raw(batch)
        for _ in range(n):
            assert c.read()[0] == "$"
    both("XINFO", "STREAM", "s")
    assert both("XTRIM", "s", "MAXLEN", "~", "0") == (":", n)


# -- XREAD -----------------------------------------------------------------------------------


def test_xread(both):
    both("XADD", "s", "1-1", "a", "1")
    both("XADD", "s", "2-2", "b", "2")
    both("XADD", "t", "1-1", "c", "3")
    for args in (
        ["STREAMS", "s", "0"], ["COUNT", "1", "STREAMS", "s", "0"], ["COUNT", "-1", "STREAMS", "s", "0"],
        ["COUNT", "0", "STREAMS", "s", "0"], ["STREAMS", "s", "1"], ["STREAMS", "s", "1-1"],
        ["STREAMS", "s", "$"], ["STREAMS", "s", "t", "1", "0"], ["STREAMS", "s", "s", "1", "0"],
        ["STREAMS", "nokey", "0"], ["STREAMS", "nokey", "s", "0", "0"], ["STREAMS", "s", "2-2"],
        ["STREAMS", "s", "18446744073709551615-18446744073709551615"],
        ["COUNT", "1", "COUNT", "2", "STREAMS", "s", "0"], ["count", "1", "streams", "s", "0"],
        ["BLOCK", "10", "STREAMS", "s", "0"], ["BLOCK", "9223372036854775807", "STREAMS", "s", "0"],
        ["STREAMS", "s", "t", "$", "0"],
    ):
        both("XREAD", *args)


@pytest.mark.parametrize("args", [
    ["STREAMS", "s"], ["STREAMS", "s", "t", "0"], ["COUNT", "x", "STREAMS", "s", "0"],
    ["FOO", "STREAMS", "s", "0"], ["GROUP", "g", "c", "STREAMS", "s", "0"],
    ["NOACK", "STREAMS", "s", "0"], ["STREAMS", "s", ">"], ["STREAMS", "s", "x"],
    ["STREAMS", "s", "-"], ["STREAMS", "s", "+"], ["BLOCK", "x", "STREAMS", "s", "0"],
    ["BLOCK", "-1", "STREAMS", "s", "0"], ["BLOCK", "1.5", "STREAMS", "s", "0"],
    ["BLOCK", "10", "COUNT", "1", "s", "0"], ["COUNT", "1"], ["STREAMS"],
    ["STREAMS", "str", "0"], ["STREAMS", "s", "str", "0", "x"], ["STREAMS", "s", "str", "x", "0"],
])
def test_xread_errors(both, args):
    both("XADD", "s", "1-1", "a", "1")
    both("SET", "str", "x")
    both("XREAD", *args)


def test_xread_resp3(both):
    both("XADD", "s", "1-1", "a", "1")
    both("XADD", "t", "1-1", "c", "3")
    resp3(both)
    both("XREAD", "STREAMS", "s", "t", "0", "0")
    both("XREAD", "STREAMS", "s", "s", "0", "1-0")   # a key twice: a map with a repeated key
    both("XREAD", "STREAMS", "s", "5")
    both("XREAD", "BLOCK", "10", "STREAMS", "s", "$")


# -- XGROUP ----------------------------------------------------------------------------------


def test_xgroup(both):
    both("XADD", "s", "1-1", "a", "1")
    both("XADD", "s", "2-2", "b", "2")
    both("XGROUP", "CREATE", "s", "g", "$")
    both("XGROUP", "CREATE", "s", "g", "0")
    both("XGROUP", "CREATE", "s", "g2", "1")
    both("XGROUP", "CREATE", "s", "g3", "18446744073709551615-18446744073709551615")
    both("XGROUP", "create", "s", "g4", "0", "mkstream")
    both("XGROUP", "CREATE", "new", "g", "$", "MKSTREAM")
    both("XGROUP", "CREATE", "new2", "g", "5-5", "MKSTREAM")
    both("XINFO", "GROUPS", "s")
    both("XINFO", "GROUPS", "new2")
    both("XINFO", "STREAM", "new")
    both("XGROUP", "SETID", "s", "g", "0")
    both("XGROUP", "SETID", "s", "g2", "$")
    both("XGROUP", "SETID", "s", "g3", "-")
    both("XGROUP", "SETID", "s", "g4", "+")
    both("XINFO", "GROUPS", "s")
    both("XGROUP", "CREATECONSUMER", "s", "g", "c")
    both("XGROUP", "CREATECONSUMER", "s", "g", "c")
    both("XGROUP", "CREATECONSUMER", "s", "g", "b")
    both("XGROUP", "DELCONSUMER", "s", "g", "c")
    both("XGROUP", "DELCONSUMER", "s", "g", "c")
    both_masked(both, "XINFO", "CONSUMERS", "s", "g")
    both("XGROUP", "DESTROY", "s", "g")
    both("XGROUP", "DESTROY", "s", "g")
    both("XINFO", "GROUPS", "s")
    both("XGROUP", "HELP")


@pytest.mark.parametrize("args", [
    [], ["HELP", "x"], ["FOO"], ["FOO", "nokey", "g"], ["FOO", "s", "g"], ["FOO", "s", "nog"],
    ["CREATE", "nokey", "g", "$"], ["CREATE", "nokey", "g", "$", "MKSTREAM", "x"],
    ["CREATE", "nokey", "g", "$", "FOO"], ["CREATE", "nokey", "g", "x", "MKSTREAM"],
    ["CREATE", "s", "g", "x"], ["CREATE", "s", "g", "-"], ["CREATE", "s", "g", "+"],
    ["CREATE", "s", "g", ">"], ["CREATE", "s", "g"], ["CREATE", "s"], ["CREATE", "str", "g", "0"],
    ["CREATE", "str", "g", "0", "MKSTREAM"], ["SETID", "s", "nog", "0"], ["SETID", "s", "g", "x"],
    ["SETID", "s", "g", "(1"], ["SETID", "s", "g"], ["SETID", "s", "g", "0", "x"],
    ["SETID", "nokey", "g", "0"], ["DESTROY", "s", "nog"], ["DESTROY", "nokey", "g"],
    ["DESTROY", "s", "g", "x"], ["DELCONSUMER", "s", "nog", "c"], ["CREATECONSUMER", "s", "nog", "c"],
    ["DELCONSUMER", "s", "g"], ["CREATECONSUMER", "s", "g", "c", "x"], ["SETID", "str", "g", "0"],
])
def test_xgroup_errors(both, args):
    both("XADD", "s", "1-1", "a", "1")
    both("XGROUP", "CREATE", "s", "g", "0")
    both("SET", "str", "x")
    both("XGROUP", *args)
    both("XINFO", "GROUPS", "s")


def test_xgroup_createconsumer_does_not_refresh(both):
    setup_group(both)
    both("XGROUP", "CREATECONSUMER", "s", "g", "c")
    time.sleep(0.15)
    both("XGROUP", "CREATECONSUMER", "s", "g", "c")
    for c in (both.r, both.p):
        info = dict(zip(*[iter(x[1] for x in c.call("XINFO", "CONSUMERS", "s", "g")[1][0][1])] * 2))
        assert info[b"idle"] >= 140


# -- XREADGROUP (without blocking) --------------------------------------------------------------


def test_xreadgroup(both):
    setup_group(both, n=5)
    both("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">")
    both("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")
    both("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")        # nothing new: nil
    both("XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">")      # not created then
    both("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")
    both("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "0")
    both("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1-1")
    both("XREADGROUP", "GROUP", "g", "dave", "STREAMS", "s", "0")       # created, empty history
    both("XDEL", "s", "2-1")
    both("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")      # deleted: [id, nil]
    both("XPENDING", "s", "g")
    both_masked(both, "XPENDING", "s", "g", "-", "+", "10", mask=mask_idle)
    both_masked(both, "XINFO", "CONSUMERS", "s", "g")
    both_masked(both, "XINFO", "STREAM", "s", "FULL")
    both("XINFO", "GROUPS", "s")


def test_xreadgroup_noack_and_setid_back(both):
    setup_group(both, n=4)
    both("XREADGROUP", "GROUP", "g", "a", "NOACK", "COUNT", "2", "STREAMS", "s", ">")
    both("XPENDING", "s", "g")
    both("XREADGROUP", "GROUP", "g", "b", "COUNT", "1", "STREAMS", "s", ">")
    both("XGROUP", "SETID", "s", "g", "0")
    # 3-1 is pending for b: delivering it again hands it to a, count reset to 1.
    both("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    both("XPENDING", "s", "g")
    both_masked(both, "XPENDING", "s", "g", "-", "+", "10", mask=mask_idle)


def test_xreadgroup_several_streams(both):
    setup_group(both, "s", 3)
    setup_group(both, "t", 2)
    both("XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", "t", ">", ">")
    both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", ">", "0")
    both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "s", ">", "0")
    resp3(both)
    both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", "0", "0")
    both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", ">", ">")


@pytest.mark.parametrize("args", [
    ["STREAMS", "s", "0", "x", "y"], ["GROUP", "g", "STREAMS", "s", "0"], ["GROUP", "g"],
    ["GROUP", "g", "c", "STREAMS", "s"], ["GROUP", "nog", "c", "STREAMS", "s", ">"],
    ["GROUP", "g", "c", "STREAMS", "s", "$"], ["GROUP", "g", "c", "STREAMS", "s", "x"],
    ["GROUP", "g", "c", "STREAMS", "s", "-"], ["GROUP", "g", "c", "STREAMS", "s", "t", ">", ">"],
    ["GROUP", "g", "c", "STREAMS", "nokey", ">"], ["GROUP", "g", "c", "STREAMS", "str", ">"],
    ["GROUP", "g", "c", "STREAMS", "s", "0", "FOO"], ["COUNT", "1", "STREAMS", "s", ">", "x"],
    ["GROUP", "g", "c", "COUNT", "x", "STREAMS", "s", ">"],
    ["GROUP", "g", "c", "BLOCK", "-5", "STREAMS", "s", ">"], ["GROUP", "g", "c", "FOO", "STREAMS", "s", ">"],
    ["GROUP", "nog", "c", "STREAMS", "s", "$"], ["GROUP", "g", "c", "STREAMS", "s", "str", ">", ">"],
])
def test_xreadgroup_errors(both, args):
    setup_group(both, n=1)
    both("SET", "str", "x")
    both("XREADGROUP", *args)
    both("XPENDING", "s", "g")


# -- XACK XPENDING XCLAIM XAUTOCLAIM --------------------------------------------------------------


def test_xack(both):
    setup_group(both, n=4)
    both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    both("XACK", "s", "g", "1-1", "9-9", "1-1")
    both("XACK", "s", "g", "1-1")
    both("XACK", "s", "g", "2-1", "x")           # an invalid ID: nothing acked
    both("XACK", "s", "g", "2-1", "3")
    both("XACK", "s", "nog", "2-1")
    both("XACK", "s", "nog", "x")
    both("XACK", "nokey", "g", "x")
    both("XPENDING", "s", "g")
    both("SET", "str", "x")
    both("XACK", "str", "g", "1-1")


def test_xpending(both):
    setup_group(both, n=6)
    both("XPENDING", "s", "g")
    both("XPENDING", "s", "g", "-", "+", "10")
    both("XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">")
    both("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    both("XREADGROUP", "GROUP", "g", "carol", "NOACK", "STREAMS", "s", ">")
    both("XPENDING", "s", "g")
    for args in (["-", "+", "10"], ["-", "+", "2"], ["-", "+", "0"], ["-", "+", "-3"],
                 ["2", "4", "10"], ["(2-1", "+", "10"], ["-", "(4-1", "10"],
                 ["-", "+", "10", "alice"], ["-", "+", "10", "nobody"], ["-", "+", "1", "bob"],
                 ["IDLE", "0", "-", "+", "10"], ["IDLE", "0", "-", "+", "10", "bob"],
                 ["-", "+", "10", "bob", "extra"], ["4", "2", "10"]):
        both_masked(both, "XPENDING", "s", "g", *args, mask=mask_idle)
    # Nothing has been pending for an hour.
    both("XPENDING", "s", "g", "IDLE", "3600000", "-", "+", "10")
    resp3(both)
    both("XPENDING", "s", "g")
    both("XPENDING", "s", "g2")


@pytest.mark.parametrize("args", [
    ["s", "g", "-"], ["s", "g", "-", "+"], ["s", "g", "-", "+", "10", "c", "x", "y"],
    ["s", "g", "-", "+", "x"], ["s", "g", "x", "+", "10"], ["s", "g", "-", "x", "10"],
    ["s", "g", "IDLE", "x", "-", "+", "10"], ["s", "g", "IDLE", "10", "-", "+"],
    ["s", "g", "(-", "+", "10"], ["s", "g", "(18446744073709551615-18446744073709551615", "+", "1"],
    ["s", "g", "-", "(0-0", "1"], ["s", "nog"], ["nokey", "g"], ["nokey", "g", "-", "+", "10"],
    ["str", "g"], ["s", "nog", "x", "+", "10"],
])
def test_xpending_errors(both, args):
    setup_group(both, n=1)
    both("SET", "str", "x")
    both("XPENDING", *args)


def test_xclaim(both):
    setup_group(both, n=5)
    both("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    both("XCLAIM", "s", "g", "bob", "0", "1-1")
    both("XCLAIM", "s", "g", "bob", "0", "1-1", "JUSTID")          # no delivery counted
    both("XCLAIM", "s", "g", "bob", "3600000", "2-1")              # not idle enough
    both("XCLAIM", "s", "g", "bob", "0", "2-1", "3-1", "9-9", "RETRYCOUNT", "7")
    both("XCLAIM", "s", "g", "carol", "0", "4-1", "IDLE", "50000", "JUSTID")
    both("XCLAIM", "s", "g", "carol", "0", "5-1", "TIME", "1000", "LASTID", "9-9")
    both("XCLAIM", "s", "g", "dave", "0", "5-1", "TIME", "99999999999999")   # future: now
    both("XCLAIM", "s", "g", "dave", "0", "5-1", "IDLE", "-5")             # negative: now
    both("XCLAIM", "s", "g", "erin", "0", "9-9", "FORCE")                  # not in the stream
    both("XACK", "s", "g", "3-1")
    both("XCLAIM", "s", "g", "erin", "0", "3-1", "FORCE", "RETRYCOUNT", "0", "JUSTID")
    both("XDEL", "s", "2-1")
    both("XCLAIM", "s", "g", "erin", "0", "2-1")                           # deleted: nil
    both("XCLAIM", "s", "g", "erin", "0", "2-1", "JUSTID")
    both("XPENDING", "s", "g")
    both_masked(both, "XPENDING", "s", "g", "-", "+", "10", mask=mask_idle)
    both_masked(both, "XINFO", "CONSUMERS", "s", "g")
    both("XINFO", "GROUPS", "s")
    resp3(both)
    both("XCLAIM", "s", "g", "erin", "0", "2-1")


@pytest.mark.parametrize("args", [
    ["nokey", "g", "c", "0", "1-1"], ["s", "nog", "c", "0", "1-1"], ["str", "g", "c", "0", "1-1"],
    ["s", "g", "c", "x", "1-1"], ["s", "g", "c", "-5", "1-1"], ["s", "g", "c", "0", "x"],
    ["s", "g", "c", "0", "1-1", "FOO"], ["s", "g", "c", "0", "1-1", "IDLE"],
    ["s", "g", "c", "0", "1-1", "IDLE", "x"], ["s", "g", "c", "0", "1-1", "TIME", "x"],
    ["s", "g", "c", "0", "1-1", "RETRYCOUNT", "x"], ["s", "g", "c", "0", "1-1", "LASTID", "x"],
    ["s", "g", "c", "0", "1-1", "LASTID", "-"], ["s", "g", "c", "0", "1-1", "JUSTID", "2-1"],
    ["s", "g", "c", "0", "-", "1-1"], ["nokey", "g", "c", "x", "y"],
    ["s", "g", "c", "0", "1-1", "RETRYCOUNT", "-1", "JUSTID"],
])
def test_xclaim_errors_and_edge_cases(both, args):
    setup_group(both, n=2)
    both("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    both("SET", "str", "x")
    both("XCLAIM", *args)
    both("XPENDING", "s", "g")


def test_xclaim_lastid_alone(both):
    setup_group(both, n=2)
    both("XCLAIM", "s", "g", "c", "0", "9-9", "LASTID", "5-5")
    both("XCLAIM", "s", "g", "c", "0", "9-9", "LASTID", "1-1")   # never moves back
    both("XINFO", "GROUPS", "s")
    both_masked(both, "XINFO", "CONSUMERS", "s", "g")


def test_xautoclaim(both):
    setup_group(both, n=6)
    both("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    both("XAUTOCLAIM", "s", "g", "bob", "0", "0", "COUNT", "2")
    both("XAUTOCLAIM", "s", "g", "bob", "0", "3-1", "COUNT", "2", "JUSTID")
    both("XAUTOCLAIM", "s", "g", "bob", "3600000", "0")
    both("XAUTOCLAIM", "s", "g", "carol", "0", "(4-1")
    both("XDEL", "s", "6-1")
    both("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "100")
    both("XAUTOCLAIM", "s", "g", "dave", "0", "+")
    both("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "1", "COUNT", "1")
    both("XPENDING", "s", "g")
    both_masked(both, "XPENDING", "s", "g", "-", "+", "10", mask=mask_idle)


def test_xautoclaim_attempts(both):
    """Each call looks at no more than 10 * COUNT pending entries."""
    setup_group(both, n=30)
    both("XREADGROUP", "GROUP", "g", "a", "COUNT", "25", "STREAMS", "s", ">")
    both("XCLAIM", "s", "g", "a", "0", "25-1", "IDLE", "0")
    both("XAUTOCLAIM", "s", "g", "b", "1000", "0", "COUNT", "1")       # nothing idle
    both("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    both("XCLAIM", "s", "g", "a", "0", "28-1", "TIME", "1000")
    both("XAUTOCLAIM", "s", "g", "b", "1000", "0", "COUNT", "2")
    both("XAUTOCLAIM", "s", "g", "b", "1000", "21-1", "COUNT", "2")


@pytest.mark.parametrize("args", [
    ["nokey", "g", "c", "0", "0"], ["s", "nog", "c", "0", "0"], ["str", "g", "c", "0", "0"],
    ["s", "g", "c", "x", "0"], ["s", "g", "c", "0", "x"], ["s", "g", "c", "0", "0", "COUNT", "0"],
    ["s", "g", "c", "0", "0", "COUNT", "-1"], ["s", "g", "c", "0", "0", "COUNT", "x"],
    ["s", "g", "c", "0", "0", "COUNT"], ["s", "g", "c", "0", "0", "FOO"],
    ["s", "g", "c", "0", "(18446744073709551615-18446744073709551615"],
    ["nokey", "g", "c", "x", "0"], ["nokey", "g", "c", "0", "0", "FOO"],
    ["s", "g", "c", "0", "0", "COUNT", str(2 ** 62)],
])
def test_xautoclaim_errors(both, args):
    setup_group(both, n=2)
    both("SET", "str", "x")
    both("XAUTOCLAIM", *args)


# -- XINFO -----------------------------------------------------------------------------------------


def test_xinfo(both):
    both("XADD", "s", "1-1", "a", "1")
    both("XADD", "s", "2-2", "b", "2", "c", "3")
    both("XINFO", "STREAM", "s")
    both("XGROUP", "CREATE", "s", "g", "0")
    both("XGROUP", "CREATE", "s", "a-group", "$")
    both("XREADGROUP", "GROUP", "g", "zed", "STREAMS", "s", ">")
    both("XGROUP", "CREATECONSUMER", "s", "g", "amy")
    for args in (["STREAM", "s"], ["GROUPS", "s"], ["HELP"], ["help", "x"]):
        both("XINFO", *args)
    for args in (["STREAM", "s", "FULL"], ["STREAM", "s", "FULL", "COUNT", "1"],
                 ["STREAM", "s", "full", "count", "0"], ["STREAM", "s", "FULL", "COUNT", "-5"],
                 ["CONSUMERS", "s", "g"]):
        both_masked(both, "XINFO", *args)
    resp3(both)
    for args in (["STREAM", "s"], ["GROUPS", "s"], ["STREAM", "s", "FULL"], ["CONSUMERS", "s", "g"]):
        both_masked(both, "XINFO", *args)
    both("XTRIM", "s", "MAXLEN", "0")
    both("XINFO", "STREAM", "s")
    both_masked(both, "XINFO", "STREAM", "s", "FULL")


@pytest.mark.parametrize("args", [
    [], ["STREAM"], ["FOO", "s"], ["FOO", "nokey"], ["STREAM", "nokey"], ["GROUPS", "nokey"],
    ["CONSUMERS", "nokey", "g"], ["CONSUMERS", "s", "nog"], ["CONSUMERS", "s"],
    ["GROUPS", "s", "x"], ["STREAM", "s", "FULL", "COUNT"], ["STREAM", "s", "FULL", "COUNT", "x"],
    ["STREAM", "s", "FOO"], ["STREAM", "s", "FULL", "FOO", "1"], ["STREAM", "str"],
    ["CONSUMERS", "str", "g"], ["STREAM", "s", "FULL", "COUNT", "1", "x"],
])
def test_xinfo_errors(both, args):
    setup_group(both, n=1)
    both("SET", "str", "x")
    both("XINFO", *args)


# -- type, encoding, digest, COMMAND, WATCH ----------------------------------------------------------


def test_type_encoding_digest(both):
    both("XADD", "s", "1-1", "a", "1", "c", "22")
    both("XADD", "s", "2-1", "a", "1", "c", "22", "e", "3" * 30)
    both("TYPE", "s")
    both("OBJECT", "ENCODING", "s")
    both("DEBUG", "DIGEST-VALUE", "s")
    both("XGROUP", "CREATE", "s", "g", "0")         # groups are not in the digest
    both("XDEL", "s", "1-1")
    both("DEBUG", "DIGEST-VALUE", "s")
    both("DEBUG", "DIGEST")
    both("XTRIM", "s", "MAXLEN", "0")
    both("DEBUG", "DIGEST-VALUE", "s")


def test_command_rows(both):
    for name in ("xadd", "xrange", "xrevrange", "xlen", "xdel", "xtrim", "xread", "xreadgroup",
                 "xgroup", "xack", "xpending", "xclaim", "xautoclaim", "xinfo", "xsetid"):
        both("COMMAND", "INFO", name)


def test_command_getkeys(both):
    if "command" not in COMMANDS:
        pytest.skip("no COMMAND yet")
    both("COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0")
    both("COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "a", ">")
    both("COMMAND", "GETKEYS", "XREAD", "BLOCK", "1", "STREAMS", "streams", "0")
    both("COMMAND", "GETKEYS", "XGROUP", "CREATE", "k", "g", "0")
    both("COMMAND", "GETKEYS", "XINFO", "STREAM", "k")


@pytest.mark.parametrize("cmd,touches", [
    (["XADD", "s", "9-9", "f", "v"], True), (["XDEL", "s", "1-1"], True), (["XDEL", "s", "7-7"], False),
    (["XTRIM", "s", "MAXLEN", "2"], True), (["XTRIM", "s", "MAXLEN", "9"], False),
    (["XSETID", "s", "99-9"], False), (["XGROUP", "CREATE", "s", "g2", "0"], False),
    (["XGROUP", "SETID", "s", "g", "0"], False), (["XGROUP", "DESTROY", "s", "g"], False),
    (["XGROUP", "CREATECONSUMER", "s", "g", "x"], False), (["XGROUP", "DELCONSUMER", "s", "g", "c"], False),
    (["XCLAIM", "s", "g", "d", "0", "1-1"], False), (["XAUTOCLAIM", "s", "g", "d", "0", "0"], False),
    (["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"], False), (["XACK", "s", "g", "1-1"], False),
])
def test_watch(both, cmd, touches):
    """Redis 6.2 signals a modified stream only when entries change."""
    setup_group(both, n=4)
    both("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">")
    other_r, other_p = RawClient(both.r.port), RawClient(both.p.port)
    try:
        both("WATCH", "s")
        assert other_r.call(*cmd) == other_p.call(*cmd)
        both("MULTI")
        both("PING")
        assert both("EXEC") == (NIL_ARRAY if touches else ("*", [("+", b"PONG")]))
    finally:
        other_r.close()
        other_p.close()


def test_watch_on_a_stream_created_by_xgroup(both):
    other_r, other_p = RawClient(both.r.port), RawClient(both.p.port)
    try:
        both("WATCH", "s")
        cmd = ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]
        assert other_r.call(*cmd) == other_p.call(*cmd)
        both("MULTI")
        both("PING")
        both("EXEC")
    finally:
        other_r.close()
        other_p.close()


def test_commands_in_multi(both):
    setup_group(both, n=3)
    both("MULTI")
    both("XADD", "s", "4-1", "f", "4")
    both("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    both("XREAD", "BLOCK", "0", "STREAMS", "s", "$")      # cannot block: nil
    both("XLEN", "s")
    both("EXEC")


# -- effects --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aof_ref():
    """A reference server writing every effect to its AOF at once."""
    srv = ReferenceServer("--appendonly", "yes", "--appendfsync", "always")
    yield srv
    srv.stop()


def _aof_commands(data: bytes) -> list:
    out = []
    i = 0
    while i < len(data):
        assert data[i:i + 1] == b"*", data[i:i + 40]
        nl = data.index(b"\r\n", i)
        n = int(data[i + 1:nl])
        i = nl + 2
        args = []
        for _ in range(n):
            nl = data.index(b"\r\n", i)
            ln = int(data[i + 1:nl])
            i = nl + 2
            args.append(data[i:i + ln])
            i += ln + 2
        out.append(args)
    return out


class AofReader:
    def __init__(self, srv) -> None:
        self.path = os.path.join(srv.dir, "appendonly.aof")
        self.pos = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def new(self) -> list:
        deadline = time.monotonic() + 5
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        return [c for c in _aof_commands(data) if c[0].upper() != b"SELECT"]


def _mask_effect_times(effects: list) -> list:
    out = []
    for e in effects:
        e = [bytes(x) for x in e]
        for i in range(len(e) - 1):
            if e[i].upper() == b"TIME" and e[0].upper() == b"XCLAIM":
                e[i + 1] = b"<t>"
        out.append(e)
    return out


def _without_limit(e: list) -> list:
    """Redis keeps LIMIT in the ``~`` -> ``=`` rewrite (its replicas ignore
    it); pyredis drops it, since ``=`` refuses LIMIT from a normal client."""
    if e[0].upper() in (b"XADD", b"XTRIM") and b"=" in e:
        for i in range(2, len(e) - 1):
            if e[i].upper() == b"LIMIT":
                return e[:i] + e[i + 2:]
    return e


SCENARIOS = {
    "xadd": [
        ["XADD", "s", "1-1", "f", "1"], ["XADD", "s", "2", "f", "2"], ["XADD", "s", "2-0", "f", "x"],
        ["XADD", "s", "NOMKSTREAM", "3-0", "f", "3"], ["XADD", "nokey", "NOMKSTREAM", "3-0", "f", "3"],
        ["XADD", "s", "MAXLEN", "2", "4-0", "f", "4"], ["XADD", "s", "MAXLEN", "=", "5", "5-0", "f", "5"],
        ["XADD", "s", "MINID", "4", "6-0", "f", "6"], ["XDEL", "s", "9-9"], ["XDEL", "s", "4", "5"],
        ["XTRIM", "s", "MAXLEN", "5"], ["XTRIM", "s", "MAXLEN", "0"], ["XSETID", "s", "10-0"],
        ["XADD", "s", "99999999999999-5", "a", "1"], ["XADD", "s", "*", "a", "2"],
    ],
    "approx": [["CONFIG", "SET", "stream-node-max-entries", "3"]]
    + [["XADD", "s", f"{i}-0", "f", str(i)] for i in range(1, 11)]
    + [["XADD", "s", "MAXLEN", "~", "4", "11-0", "f", "11"],
       ["XADD", "s", "MAXLEN", "~", "2", "LIMIT", "1", "12-0", "f", "12"],
       ["XADD", "s", "MAXLEN", "~", "2", "LIMIT", "3", "13-0", "f", "13"],
       ["XTRIM", "s", "MAXLEN", "~", "100"], ["XTRIM", "s", "MAXLEN", "~", "1"],
       ["XADD", "s", "MINID", "~", "13", "14-0", "f", "14"], ["XTRIM", "s", "MINID", "~", "15"],
       ["XTRIM", "s", "MINID", "~", "99", "LIMIT", "10"],
       ["CONFIG", "SET", "stream-node-max-entries", "100"]],
    "groups": [
        ["XADD", "s", "1-1", "f", "1"], ["XADD", "s", "2-1", "f", "2"], ["XADD", "s", "3-1", "f", "3"],
        ["XGROUP", "CREATE", "s", "g", "0"], ["XGROUP", "CREATE", "s", "g", "0"],
        ["XGROUP", "CREATE", "s", "g2", "$"], ["XGROUP", "CREATE", "t", "g", "$", "MKSTREAM"],
        ["XREADGROUP", "GROUP", "g", "a", "COUNT", "1", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "a", "NOACK", "COUNT", "1", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "b", "NOACK", "STREAMS", "s", "0"],
        ["XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"],
        ["XADD", "s", "4-1", "f", "4"], ["XADD", "s", "5-1", "f", "5"],
        ["XREADGROUP", "GROUP", "g", "e", "NOACK", "STREAMS", "s", "0"],
        ["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "0"],
        ["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "t", ">", ">"],
        ["XCLAIM", "s", "g", "z", "0", "1-1"], ["XCLAIM", "s", "g", "z", "0", "1", "JUSTID"],
        ["XCLAIM", "s", "g", "z", "0", "1-1", "LASTID", "9-9", "RETRYCOUNT", "3"],
        ["XCLAIM", "s", "g", "z", "0", "5-1", "2-1", "7-7", "FORCE"],
        ["XCLAIM", "s", "g", "z", "0", "8-8", "LASTID", "10-0"],
        ["XCLAIM", "s", "g", "z", "3600000", "1-1"],
        ["XAUTOCLAIM", "s", "g", "y", "0", "0", "COUNT", "1"],
        ["XAUTOCLAIM", "s", "g", "y", "0", "0", "JUSTID"],
        ["XACK", "s", "g", "1-1", "7-7"], ["XACK", "s", "g", "1-1"],
        ["XGROUP", "SETID", "s", "g", "$"], ["XGROUP", "SETID", "s", "g", "2"],
        ["XGROUP", "CREATECONSUMER", "s", "g", "n"], ["XGROUP", "CREATECONSUMER", "s", "g", "n"],
        ["XGROUP", "DELCONSUMER", "s", "g", "n"], ["XGROUP", "DELCONSUMER", "s", "g", "nobody"],
        ["XGROUP", "DESTROY", "s", "g2"], ["XGROUP", "DESTROY", "s", "g2"],
        ["XDEL", "s", "2-1"], ["XCLAIM", "s", "g", "w", "0", "2-1"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_effects_match_the_reference_aof(name, pyr, aof_ref, recorder, raw_pyr):
    ref = RawClient(aof_ref.port)
    try:
        ref.call("FLUSHALL")
        aof = AofReader(aof_ref)
        before = len(recorder.effects)
        for cmd in SCENARIOS[name]:
            assert raw_pyr.call(*cmd) == ref.call(*cmd), cmd
        expected = [_without_limit(e) for e in _mask_effect_times(aof.new())]
        got = _mask_effect_times([e for _db, e in recorder.effects[before:]])
        assert got == [[a.upper() if i == 0 else a for i, a in enumerate(e)] for e in expected]
    finally:
        ref.close()


def _state(c: RawClient, keys=("s", "t")) -> list:
    out = []
    for k in keys:
        out.append(c.call("XRANGE", k, "-", "+"))
        info = c.call("XINFO", "STREAM", k, "FULL")
        out.append(_mask_seen(info))
        out.append(c.call("DEBUG", "DIGEST-VALUE", k))
    return out


def _mask_seen(r):
    """Seen-times are when the consumer was last active on that server."""
    t, v = r
    if t == "*" and v is not None:
        items = [_mask_seen(x) for x in v]
        for i in range(1, len(v), 2):
            if v[i - 1] == ("$", b"seen-time"):
                items[i] = MASK
        return t, items
    return r


def test_replaying_the_effects_rebuilds_the_streams(pyr, ref, recorder, raw_pyr):
    """The effects of a session, replayed on a fresh pyredis and on a fresh
    Redis, give the same entries, groups, PELs (delivery times and counts
    included) and digests."""
    c = raw_pyr
    c.call("CONFIG", "SET", "stream-node-max-entries", "4")
    for i in range(1, 30):
        c.call("XADD", "s", "*", "f", str(i), *(["g", "x"] if i % 3 else []))
    c.call("XADD", "s", "MAXLEN", "~", "15", "*", "f", "trim")
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM")
    c.call("XADD", "t", "*", "a", "b")
    c.call("XREADGROUP", "GROUP", "g", "alice", "COUNT", "4", "STREAMS", "s", "t", ">", ">")
    c.call("XREADGROUP", "GROUP", "g", "bob", "NOACK", "COUNT", "3", "STREAMS", "s", ">")
    c.call("XREADGROUP", "GROUP", "g", "carol", "COUNT", "5", "STREAMS", "s", ">")
    entries = c.call("XRANGE", "s", "-", "+")[1]
    ids = [e[1][0][1] for e in entries]
    c.call("XACK", "s", "g", ids[1], ids[2])
    c.call("XCLAIM", "s", "g", "dave", "0", ids[5], ids[6], "IDLE", "5000")
    c.call("XAUTOCLAIM", "s", "g", "erin", "0", "0", "COUNT", "2")
    c.call("XDEL", "s", ids[7], ids[0])
    c.call("XTRIM", "s", "MAXLEN", "~", "8")
    c.call("XGROUP", "DELCONSUMER", "s", "g", "bob")
    c.call("XSETID", "s", "99999999999999-0")
    c.call("CONFIG", "SET", "stream-node-max-entries", "100")
    effects = [e for _db, e in recorder.effects]
    want = _state(c)
    assert want[0][1] and want[3][1]

    # Replicas with the same node limits lay the nodes out the same way.
    with ServerThread(stream_node_max_entries=4) as fresh:
        replica = RawClient(fresh.port)
        for e in effects:
            assert replica.call(*e)[0] != "-", e
        assert _state(replica) == want
        replica.close()
    real = RawClient(ref.port)
    real.call("CONFIG", "SET", "stream-node-max-entries", "4")
    for e in effects:
        assert real.call(*e)[0] != "-", e
    assert _state(real) == want
    real.close()


# -- keyspace notifications ------------------------------------------------------------------


def test_keyspace_notifications(pyr, ref):
    from test_notifications import Events

    events = Events(pyr, ref)
    try:
        events.config("KEA")
        heard = events.run(
            ("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "2-1", "f", "v"),
            ("XADD", "s", "MAXLEN", "1", "3-1", "f", "v"), ("XADD", "s", "MAXLEN", "5", "4-1", "f", "v"),
            ("XADD", "s", "4-0", "f", "v"), ("XADD", "s", "NOMKSTREAM", "5-1", "f", "v"),
            ("XADD", "nokey", "NOMKSTREAM", "5-1", "f", "v"),
            ("XTRIM", "s", "MAXLEN", "1"), ("XTRIM", "s", "MAXLEN", "1"),
            ("XDEL", "s", "9-9"), ("XDEL", "s", "5-1"), ("XSETID", "s", "9-9"),
            ("XGROUP", "CREATE", "s", "g", "0"), ("XGROUP", "CREATE", "s", "g", "0"),
            ("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM"), ("XGROUP", "SETID", "s", "g", "$"),
            ("XGROUP", "CREATECONSUMER", "s", "g", "c"), ("XGROUP", "CREATECONSUMER", "s", "g", "c"),
            ("XGROUP", "DELCONSUMER", "s", "g", "c"), ("XGROUP", "DELCONSUMER", "s", "g", "c"),
            ("XADD", "s", "10-1", "f", "v"), ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"),
            ("XCLAIM", "s", "g", "e", "0", "10-1"), ("XACK", "s", "g", "10-1"),
            ("XGROUP", "DESTROY", "s", "g"), ("XGROUP", "DESTROY", "s", "g"), ("DEL", "s"))
        assert (b"__keyevent@0__:xgroup-create", b"t") in heard
        events.config("Et")
        events.run(("XADD", "s", "1-1", "f", "v"), ("XTRIM", "s", "MAXLEN", "0"), ("DEL", "s"))
    finally:
        events.config("")
        events.close()


def test_nogroup_error_names_end_at_a_nul(both):
    """Redis formats the key and group names with %s: a NUL ends them (the
    differential fuzzer found pyredis quoting the whole name)."""
    both("XADD", "s\x00t", "1-1", "f", "v")
    both("XPENDING", "\x00", "g")
    both("XPENDING", "s\x00t", "g\x00h", "-", "+", "10")
    both("XCLAIM", "s\x00t", "g\x00h", "c", "0", "1-1")
    both("XREADGROUP", "GROUP", "g\x00h", "c", "STREAMS", "s\x00t", ">")
    both("XGROUP", "SETID", "s\x00t", "g\x00h", "$")
    both("XCLAIM", "s\x00t", "g\x00h", "c", "0", "1-1", "BAD\x00OPT")
