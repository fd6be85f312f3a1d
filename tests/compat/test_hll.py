"""HyperLogLog commands against the reference redis-server: PFADD, PFCOUNT,
PFMERGE, PFDEBUG. The values must be byte-identical (GET of the key after
the same commands), through the sparse encoding, its promotion to dense
(by size and by register value), the cached cardinality, and corrupted or
foreign strings; PFCOUNT must give Redis's numbers. Plus the effects the
commands send into the propagation funnel."""

from __future__ import annotations

import random

import hypothesis.strategies as st
import pytest
from conftest import RawClient, encode_command, run_machine
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule


WRONGTYPE = ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")
NOT_HLL = ("-", b"WRONGTYPE Key is not a valid HyperLogLog string value.")
CORRUPT = ("-", b"INVALIDOBJ Corrupted HLL object detected")

EMPTY_SPARSE = b"HYLL\x01" + bytes(11) + b"\x7f\xff"


@pytest.fixture
def sparse_max(both):
    def set_max(n):
        both("CONFIG", "SET", "hll-sparse-max-bytes", str(n))
    yield set_max
    set_max(3000)


def pipeline(both, commands):
    """Send many commands to both servers at once; compare every reply."""
    data = b"".join(encode_command(c) for c in commands)
    return both.raw(data, len(commands))


def grow(both, key, elements, per_call=7, check_every=1):
    """PFADD ``elements`` a few at a time, comparing replies, and the bytes
    and count every ``check_every`` calls."""
    calls = []
    for i in range(0, len(elements), per_call):
        calls.append(["PFADD", key, *elements[i:i + per_call]])
        if (len(calls) // 2) % check_every == 0:
            calls.append(["GET", key])
    pipeline(both, calls)
    both("GET", key)
    both("PFCOUNT", key)
    both("GET", key)


def test_pfadd_basics(both):
    both("PFADD", "h")                      # creates an empty HLL
    both("GET", "h")
    both("PFADD", "h")
    both("PFADD", "h", "a")
    both("PFADD", "h", "a")                 # no register changed
    both("PFADD", "h", "b", "c", "a")
    both("GET", "h")
    both("TYPE", "h")
    both("OBJECT", "ENCODING", "h")
    both("STRLEN", "h")
    both("PFCOUNT", "h")
    both("PFADD", "h2", "")                 # the empty element is an element
    both("GET", "h2")
    assert both.p.call("GET", "h")[1][:4] == b"HYLL"


def test_elements_of_every_length(both):
    elements = [b"x" * n for n in range(0, 40)] + [bytes(range(256)), b"\x00" * 9, b"\xff" * 17]
    for e in elements:
        both("PFADD", "h", e)
        both("GET", "h")
    both("PFCOUNT", "h")


def test_sparse_to_dense_by_size(both):
    rng = random.Random(1)
    elements = [f"el:{rng.random()}" for _ in range(2600)]
    grow(both, "h", elements, per_call=5, check_every=4)
    both("PFDEBUG", "ENCODING", "h")
    assert both.p.call("STRLEN", "h") == (":", 12304)


@pytest.mark.parametrize("limit", [0, 18, 40, 300, 1000])
def test_sparse_max_bytes(both, sparse_max, limit):
    sparse_max(limit)
    elements = [f"e{i}" for i in range(400)]
    grow(both, "h", elements, per_call=3, check_every=2)
    both("PFDEBUG", "ENCODING", "h")


def test_merge_with_a_big_register(both):
    # Only a dense HLL can hold a register above 32 (an element needs a run
    # of 33 zero bits for it: see the unit tests); merging one makes the
    # destination dense.
    both("PFADD", "h", "a")
    dense = bytearray(b"HYLL\x00" + bytes(11) + bytes(12288))
    dense[16 + 5] = 0x3f            # register 6 (bits 40..45): low bits of byte 21
    both("SET", "big", bytes(dense))
    both("PFCOUNT", "big")
    both("PFMERGE", "m", "h", "big")
    both("GET", "m")
    both("PFDEBUG", "ENCODING", "m")
    both("PFCOUNT", "m")


@pytest.mark.parametrize("n", [0, 1, 10, 100, 1000, 5000])
def test_counts(both, n):
    rng = random.Random(n)
    elements = [f"{rng.getrandbits(64):x}" for _ in range(n)]
    pipeline(both, [["PFADD", "h", *elements[i:i + 100]] for i in range(0, n, 100)]
             or [["PFADD", "h"]])
    both("PFCOUNT", "h")
    both("GET", "h")


def test_large_count(both):
    calls = [["PFADD", "big", *[f"k{j}" for j in range(i, i + 2000)]]
             for i in range(0, 60000, 2000)]
    pipeline(both, calls)
    both("PFCOUNT", "big")
    both("GET", "big")


def test_cached_cardinality(both):
    both("PFADD", "h", "a", "b", "c")
    both("GET", "h")                 # stale mark set
    both("PFCOUNT", "h")
    both("GET", "h")                 # count cached, mark cleared
    both("PFCOUNT", "h")
    both("PFADD", "h", "a")          # no change keeps the cache
    both("GET", "h")
    both("PFADD", "h", "zzz")
    both("GET", "h")
    # a forged valid cache is believed
    value = bytearray(both.r.call("GET", "h")[1])
    value[8:16] = (12345).to_bytes(8, "little")
    both("SET", "f", bytes(value))
    both("PFCOUNT", "f")
    both("PFCOUNT", "f", "h")        # several keys never use the cache


def test_pfcount_many(both):
    both("PFADD", "a", *[f"a{i}" for i in range(300)])
    both("PFADD", "b", *[f"b{i}" for i in range(3000)])
    both("PFADD", "c", *[f"a{i}" for i in range(150)])
    both("PFCOUNT", "a", "b")
    both("PFCOUNT", "a", "c")
    both("PFCOUNT", "a", "nokey", "b", "c", "a")
    both("PFCOUNT", "nokey", "nokey2")
    both("EXISTS", "nokey")
    both("GET", "a")                 # unchanged: no cache written


def test_pfmerge(both):
    rng = random.Random(3)
    for key, n in (("s1", 50), ("s2", 200), ("s3", 10), ("d1", 4000)):
        both("PFADD", key, *[f"{rng.randrange(6000)}" for _ in range(n)])
    for dst, srcs in (("m1", ("s1", "s2")), ("m2", ("s1", "s2", "s3")), ("m3", ("s2", "d1")),
                      ("m4", ("nokey",)), ("m5", ()), ("s3", ("s1",)), ("s3", ("s3",)),
                      ("s2", ("d1",)), ("m6", ("s1", "nokey", "s3"))):
        both("PFMERGE", dst, *srcs)
        both("GET", dst)
        both("PFCOUNT", dst)
        both("GET", dst)


def test_pfmerge_keeps_ttl_and_cache_rules(both):
    both("PFADD", "d", "a", "b")
    both("PFCOUNT", "d")
    both("EXPIRE", "d", "1000")
    both("PFADD", "s", "c")
    both("PFMERGE", "d", "s")
    both("TTL", "d")
    both("GET", "d")


def test_pfmerge_sparse_stays_sparse_until_too_big(both, sparse_max):
    sparse_max(200)
    both("PFADD", "a", *[f"a{i}" for i in range(40)])
    both("PFADD", "b", *[f"b{i}" for i in range(40)])
    both("PFDEBUG", "ENCODING", "a")
    both("PFMERGE", "m", "a", "b")
    both("GET", "m")
    both("PFDEBUG", "ENCODING", "m")


def test_set_value_then_pfadd(both):
    both("PFADD", "h", "a", "b")
    value = both.r.call("GET", "h")[1]
    both("SET", "copy", value)       # a plain string with HLL bytes
    both("PFADD", "copy", "c")
    both("GET", "copy")
    both("PFCOUNT", "copy")
    both("APPEND", "copy", "\x7f\xff")   # now covers too many registers
    both("PFCOUNT", "copy")
    both("PFADD", "copy", "zz")
    both("GET", "copy")


def test_invalid_values(both):
    both("LPUSH", "l", "a")
    for args in (("PFADD", "l", "a"), ("PFCOUNT", "l"), ("PFCOUNT", "l", "nokey"),
                 ("PFMERGE", "l"), ("PFMERGE", "d", "l"), ("PFDEBUG", "GETREG", "l")):
        assert both(*args) == WRONGTYPE, args
    for i, value in enumerate((b"", b"HYLL", b"HYL" + bytes(20), EMPTY_SPARSE[:15],
                               b"HYLL\x02" + bytes(13), b"HYLL\x00" + bytes(11) + bytes(100),
                               b"hyll" + EMPTY_SPARSE[4:], b"123")):
        key = f"bad{i}"
        both("SET", key, value)
        for args in (("PFADD", key, "a"), ("PFCOUNT", key), ("PFCOUNT", key, "nokey"),
                     ("PFMERGE", key), ("PFMERGE", "d", key), ("PFDEBUG", "ENCODING", key)):
            assert both(*args) == NOT_HLL, (args, value)
    both("EXISTS", "d")


@pytest.mark.parametrize("body", [
    b"\x7f\xfe",                 # one register short
    b"\x7f\xff\x00",             # one too many
    b"\x7f\xff\x80",             # a VAL past the end
    b"\x80" * 20,                # far too few
    b"\x7f",                     # XZERO cut short (Redis reads the NUL after it)
    b"",                         # no opcodes at all
    b"\x00" * 256,               # ZEROs only, 256 registers
    b"\x7f\xfc\x83",             # 16381 zeros then VAL:1,4: one past the end
])
def test_corrupted_sparse(both, body):
    value = b"HYLL\x01" + bytes(10) + b"\x80" + body
    both("SET", "c", value)
    both("PFCOUNT", "c")
    both("PFCOUNT", "c", "nokey")
    both("PFMERGE", "m", "c")
    both("EXISTS", "m")
    both("PFADD", "c", "a")
    both("PFADD", "c", "b", "c", "d", "e", "f", "g")
    both("GET", "c")
    both("PFDEBUG", "DECODE", "c")
    both("PFDEBUG", "TODENSE", "c")
    both("SET", "c2", value)
    both("PFDEBUG", "GETREG", "c2")
    both("GET", "c2")


@pytest.mark.parametrize("top", [33, 40, 50, 51, 63])
def test_huge_registers(both, top):
    # Crafted dense values: the estimate overflows llroundl from 50 on,
    # and Redis caches and replies LLONG_MIN (the cache then reads stale).
    from pyredis.types.hll import pack_registers
    body = pack_registers(bytes([top]) * 16384)
    both("SET", "x", b"HYLL\x00" + bytes(10) + b"\x80" + body)
    both("PFCOUNT", "x")
    both("GET", "x")
    both("PFCOUNT", "x", "nokey")
    both("PFCOUNT", "x")


def test_valid_cache_hides_corruption(both):
    both("SET", "c", b"HYLL\x01" + bytes(10) + b"\x00" + b"\x7f\xfe")
    both("PFCOUNT", "c")


def test_pfdebug(both):
    both("PFADD", "h", *[f"x{i}" for i in range(30)])
    both("PFDEBUG", "DECODE", "h")
    both("PFDEBUG", "ENCODING", "h")
    both("PFDEBUG", "decode", "h", "extra")
    both("PFDEBUG", "nosuch", "h")
    both("PFDEBUG", "NoSuch", "h", "extra")
    both("PFDEBUG", "GETREG", "nokey")
    both("PFDEBUG", "nosuch", "nokey")
    both("PFDEBUG", "GETREG", "h")
    both("GET", "h")                         # GETREG made it dense
    both("PFDEBUG", "ENCODING", "h")
    both("PFDEBUG", "DECODE", "h")
    both("PFDEBUG", "TODENSE", "h")
    both("PFADD", "h2", "a")
    both("PFDEBUG", "TODENSE", "h2")
    both("GET", "h2")
    both("PFDEBUG", "TODENSE", "h2", "x")
    both("PFADD", "e")
    both("PFDEBUG", "DECODE", "e")


def test_arity(both):
    for args in (("PFADD",), ("PFCOUNT",), ("PFMERGE",), ("PFDEBUG",), ("PFDEBUG", "GETREG")):
        reply = both(*args)
        assert reply[0] == "-" and b"wrong number of arguments" in reply[1]


def test_command_rows(both):
    for name in ("pfadd", "pfcount", "pfmerge", "pfdebug"):
        both("COMMAND", "INFO", name)


# -- effects -------------------------------------------------------------------


def test_effects(raw_pyr, recorder):
    c = raw_pyr
    c.call("PFADD", "h", "a")
    c.call("PFADD", "h", "a")            # no change: nothing sent
    c.call("PFCOUNT", "h")               # stale cache written: replicated
    c.call("PFCOUNT", "h")               # cached: nothing
    c.call("PFCOUNT", "h", "nokey")      # several keys: nothing
    c.call("PFCOUNT", "nokey")
    c.call("PFMERGE", "m", "h")
    c.call("PFDEBUG", "ENCODING", "m")
    c.call("PFDEBUG", "TODENSE", "m")
    c.call("PFDEBUG", "TODENSE", "m")    # already dense: nothing
    assert recorder.effects == [
        (0, [b"PFADD", b"h", b"a"]),
        (0, [b"PFCOUNT", b"h"]),
        (0, [b"PFMERGE", b"m", b"h"]),
        (0, [b"PFDEBUG", b"TODENSE", b"m"]),
    ]


# -- sparse edits of every shape -----------------------------------------------------


def _elements_by_register(n=40000):
    """register index -> {run length: an element giving it}, from pyredis's
    hash (a wrong hash would show in every comparison with Redis)."""
    from pyredis.types.hll import pattern
    out: dict = {}
    for i in range(n):
        e = f"k{i}".encode()
        index, count = pattern(e)
        out.setdefault(index, {}).setdefault(count, e)
    return out


@pytest.fixture(scope="module")
def by_register():
    return _elements_by_register()


def _run(both, key, elements):
    for e in elements:
        both("PFADD", key, e)
        both("GET", key)
    both("PFDEBUG", "DECODE", key)


@pytest.mark.parametrize("gap", [1, 2, 63, 64, 65, 66, 127, 128, 129, 300])
def test_zero_run_lengths(both, by_register, gap):
    # Registers r and r+gap+1 set, then one in the middle of the zeros: the
    # ZERO/XZERO choice on each side of every split (64 is ZERO's limit).
    starts = [r for r in range(1, 16000 - gap) if 1 in by_register.get(r, {})
              and 1 in by_register.get(r + gap + 1, {})]
    r = starts[0]
    mid = next((m for m in range(r + 1, r + gap + 1) if 2 in by_register.get(m, {})), None)
    elements = [by_register[r][1], by_register[r + gap + 1][1]]
    if mid is not None:
        elements.append(by_register[mid][2])
    _run(both, "h", elements)
    # ... and the same gap from the first register and before the last one
    first = next(g for g in range(gap, gap + 200) if 1 in by_register.get(g, {}))
    last = next(x for x in range(16383 - gap, 16000, -1) if 1 in by_register.get(x, {}))
    _run(both, "e", [by_register[first][1], by_register[last][1]])


def _consecutive(by_register, n, counts=(1,)):
    for r in range(16384 - n):
        if all(all(c in by_register.get(r + i, {}) for c in counts) for i in range(n)):
            return r
    pytest.skip("no run of registers found")


@pytest.mark.parametrize("order", ["up", "down", "middle", "alternate"])
def test_equal_values_merge(both, by_register, order):
    r = _consecutive(by_register, 6)
    regs = list(range(r, r + 6))
    if order == "down":
        regs.reverse()
    elif order == "middle":
        regs = [regs[2], regs[3], regs[1], regs[4], regs[0], regs[5]]
    elif order == "alternate":
        regs = regs[0::2] + regs[1::2]
    _run(both, "h", [by_register[i][1] for i in regs])


def test_value_changes_inside_runs(both, by_register):
    r = _consecutive(by_register, 5, counts=(1, 2))
    ones = [by_register[r + i][1] for i in range(5)]
    twos = [by_register[r + i][2] for i in range(5)]
    # a VAL:1,4 split at its start, middle and end, then merged back at 2
    _run(both, "h", ones[:4] + [twos[1], twos[0], twos[3], twos[2], ones[4], twos[4]])
    _run(both, "g", ones + [twos[2]] + twos[::-1])


# -- random sequences --------------------------------------------------------------

HKEY = st.sampled_from(["h1", "h2", "h3"])
ELEMENTS = st.lists(st.one_of(st.sampled_from([b"a", b"b", b"", b"1"]), st.binary(max_size=12)),
                    max_size=8)


class HllMachine(RuleBasedStateMachine):
    """PFADD/PFCOUNT/PFMERGE interleaved with string edits and limit
    changes; every reply compared, and every key's bytes after each step."""

    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        self.p = RawClient(self.ports[0])
        self.r = RawClient(self.ports[1])
        for c in (self.p, self.r):
            assert c.call("FLUSHALL") == ("+", b"OK")
            assert c.call("CONFIG", "SET", "hll-sparse-max-bytes", "60") == ("+", b"OK")

    def both(self, *args):
        expected, got = self.r.call(*args), self.p.call(*args)
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"

    @rule(key=HKEY, elements=ELEMENTS)
    def pfadd(self, key, elements):
        self.both("PFADD", key, *elements)

    @rule(key=HKEY, elements=st.lists(st.binary(min_size=1, max_size=6), min_size=20,
                                      max_size=60))
    def pfadd_many(self, key, elements):
        self.both("PFADD", key, *elements)

    @rule(keys=st.lists(HKEY, min_size=1, max_size=3))
    def pfcount(self, keys):
        self.both("PFCOUNT", *keys)

    @rule(dst=HKEY, keys=st.lists(HKEY, max_size=3))
    def pfmerge(self, dst, keys):
        self.both("PFMERGE", dst, *keys)

    @rule(key=HKEY, offset=st.sampled_from(["15", "16", "17", "20", "12303"]),
          value=st.sampled_from(["\x00", "\x7f", "\x80", "\xff", "x"]))
    def setrange(self, key, offset, value):
        self.both("SETRANGE", key, offset, value)

    @rule(key=HKEY, sub=st.sampled_from(["ENCODING", "DECODE", "TODENSE", "GETREG"]))
    def pfdebug(self, key, sub):
        self.both("PFDEBUG", sub, key)

    @rule(limit=st.sampled_from(["0", "30", "60", "200", "3000"]))
    def sparse_limit(self, limit):
        self.both("CONFIG", "SET", "hll-sparse-max-bytes", limit)

    @rule(key=HKEY)
    def delete(self, key):
        self.both("DEL", key)

    @invariant()
    def same_bytes(self):
        for key in ("h1", "h2", "h3"):
            self.both("GET", key)

    def teardown(self) -> None:
        for c in (self.p, self.r):
            c.call("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
            c.close()


def test_hll_machine(own_pair):
    HllMachine.ports = (own_pair[0].port, own_pair[1].port)
    run_machine(HllMachine)


def test_keyspace_events(pyr, ref):
    from test_notifications import Events
    events = Events(pyr, ref)
    try:
        events.config("KEA")
        heard = events.run(("PFADD", "h", "a"), ("PFADD", "h", "a"), ("PFADD", "e"),
                           ("PFCOUNT", "h"), ("PFCOUNT", "h", "e"), ("PFMERGE", "m", "h"),
                           ("PFMERGE", "m"), ("PFDEBUG", "TODENSE", "m"))
        assert (b"__keyevent@0__:pfadd", b"h") in heard
    finally:
        events.config("")
        events.close()
