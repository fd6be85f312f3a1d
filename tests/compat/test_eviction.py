"""maxmemory and eviction, compared with Redis 6.2 by behaviour.

The two servers account memory differently (Redis counts what its
allocator handed out, pyredis what Python objects cost, see
pyredis/eviction.py), so a limit is set on each as its own used_memory plus
the same headroom, and the tests compare what clients see: OOM errors and
their text, which keys may go (volatile policies touch only keys with a
TTL), that eviction keeps the server under its limit, the evicted event.
The accounting itself is calibrated against tracemalloc.
"""

from __future__ import annotations

import time
import tracemalloc
from collections import deque

import pytest

from conftest import RawClient, encode_command
from pyredis import errors
from pyredis.eviction import KeyTable, key_cost
from pyredis.types.zset import ZSet

OOM = errors.OOM.encode()


# -- helpers -----------------------------------------------------------------------


def info_field(c: RawClient, field: str) -> int:
    text = c.call("INFO", "all")[1].decode()
    for line in text.split("\r\n"):
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise KeyError(field)


def pipeline(c: RawClient, commands) -> list:
    commands = list(commands)
    c.send_raw(b"".join(encode_command(cmd) for cmd in commands))
    return [c.read() for _ in commands]


def set_limit(c: RawClient, headroom: int, policy: str) -> int:
    c.call("CONFIG", "SET", "maxmemory-policy", policy)
    limit = info_field(c, "used_memory") + headroom
    assert c.call("CONFIG", "SET", "maxmemory", str(limit)) == ("+", b"OK")
    return limit


def dbsize(c: RawClient) -> int:
    return c.call("DBSIZE")[1]


@pytest.fixture
def servers(pyr, ref):
    """One client per server; limits and policies undone afterwards."""
    clients = [RawClient(pyr.port), RawClient(ref.port)]
    yield clients
    for c in clients:
        for name, value in (("maxmemory", "0"), ("maxmemory-policy", "noeviction"),
                            ("maxmemory-samples", "5"), ("notify-keyspace-events", "")):
            c.call("CONFIG", "SET", name, value)
        c.call("FLUSHALL")
        c.close()


VALUE = "v" * 200
HEADROOM = 120_000


# -- the accounting ------------------------------------------------------------------


class _FakeDb:
    def __init__(self) -> None:
        self.data: dict = {}
        self.expires: dict = {}


@pytest.mark.parametrize("kind", ["str", "int-str", "hash", "list", "set", "bigstr", "zset"])
def test_key_cost_matches_tracemalloc(kind):
    """A key's accounted cost is within 15% of what Python allocated for it."""
    n = 2000
    makers = {
        "str": lambda i: b"value:%d:" % i + b"x" * 40,
        "int-str": lambda i: b"%d" % (10 ** 9 + i),
        "hash": lambda i: {b"field%d" % j: b"val%d:%d" % (j, i) for j in range(12)},
        "list": lambda i: deque(b"elem%d:%d" % (j, i) for j in range(30)),
        "set": lambda i: {b"m%d:%d" % (j, i) for j in range(20)},
        "bigstr": lambda i: b"%d" % i + b"y" * 3000,
        "zset": lambda i: ZSet.from_pairs([(b"member%d:%d" % (j, i), float(i + j))
                                           for j in range(25)]),
    }
    make = makers[kind]
    db = _FakeDb()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            db.data[b"key:%d" % i] = make(i)
        real = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    accounted = sum(key_cost(db, k, v) for k, v in db.data.items())
    assert abs(accounted - real) / real < 0.15, (kind, accounted, real)


def test_key_table_holds_every_key_compactly():
    t = KeyTable()
    keys = [b"k%d" % i for i in range(20000)]
    for i, k in enumerate(keys):
        t.insert_at(-1 - t.find(k), k, i, 0)
    assert len(t) == 20000
    assert all(t.sizes[t.find(k)] == i for i, k in enumerate(keys))
    for k in keys[::2]:
        t.remove_at(t.find(k))
    assert len(t) == 10000
    assert all(t.find(k) < 0 for k in keys[::2])
    assert all(t.sizes[t.find(k)] == i for i, k in enumerate(keys) if i % 2)
    # 16 bytes a slot, at most 70% full: under 46 bytes a key at the peak.
    assert t.nbytes / 20000 < 46
    sample = {t.keys[i] for _ in range(50) for i in t.sample(5, 100)}
    assert len(sample) > 100  # random places, not always the same keys


def test_used_memory_follows_the_dataset(pyr, raw_pyr):
    c = raw_pyr
    c.call("CONFIG", "SET", "maxmemory", "1gb")
    try:
        base = info_field(c, "used_memory")
        pipeline(c, (("SET", f"key:{i}", "x" * 1000) for i in range(1000)))
        grown = info_field(c, "used_memory") - base
        # 1000 keys of ~1000 bytes plus Python's per-object overheads.
        assert 1_000_000 < grown < 1_300_000
        pipeline(c, (("APPEND", f"key:{i}", "y" * 1000) for i in range(1000)))
        assert info_field(c, "used_memory") - base > 1_900_000
        c.call("FLUSHALL")
        assert info_field(c, "used_memory") - base < 20_000
    finally:
        c.call("CONFIG", "SET", "maxmemory", "0")


# -- behaviour, both servers ---------------------------------------------------------


def test_noeviction_refuses_denyoom_commands(servers):
    for c in servers:
        set_limit(c, HEADROOM, "noeviction")
        replies = pipeline(c, (("SET", f"k{i}", VALUE) for i in range(2000)))
        errs = [r for r in replies if r[0] == "-"]
        assert errs and all(r == ("-", OOM) for r in errs)
        n = dbsize(c)
        assert 200 < n < 1000
        # Reads and deletions go on; MULTI with a denyoom command aborts.
        assert c.call("GET", "k0") == ("$", VALUE.encode())
        # A value as big as the ones refused (a tiny one may just fit in what
        # the background re-measuring of keys gives back near the limit).
        assert c.call("SET", "another", VALUE) == ("-", OOM)
        assert c.call("MULTI") == ("+", b"OK")
        assert c.call("SET", "another", VALUE) == ("-", OOM)
        assert c.call("EXEC")[0] == "-"
        assert c.call("DEL", *[f"k{i}" for i in range(300)])[0] == ":"
        assert c.call("SET", "another", "x") == ("+", b"OK")
        assert info_field(c, "evicted_keys") == 0


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_evict_to_stay_under_the_limit(servers, policy):
    for c in servers:
        before = info_field(c, "evicted_keys")
        limit = set_limit(c, HEADROOM, policy)
        replies = pipeline(c, (("SET", f"k{i}", VALUE) for i in range(3000)))
        assert all(r == ("+", b"OK") for r in replies)
        n = dbsize(c)
        assert 200 < n < 1000
        assert info_field(c, "evicted_keys") - before == 3000 - n
        assert info_field(c, "used_memory") <= limit + 20_000


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_only_take_keys_with_a_ttl(servers, policy):
    for c in servers:
        pipeline(c, (("SET", f"keep{i}", VALUE) for i in range(100)))
        set_limit(c, HEADROOM, policy)
        replies = pipeline(c, (("SET", f"v{i}", VALUE, "EX", "10000") for i in range(2000)))
        assert all(r == ("+", b"OK") for r in replies)
        assert info_field(c, "evicted_keys") > 0
        assert all(r == (":", 1) for r in pipeline(c, (("EXISTS", f"keep{i}")
                                                         for i in range(100))))
        # Without keys with a TTL there is nothing to evict: OOM.
        replies = pipeline(c, (("SET", f"p{i}", VALUE) for i in range(2000)))
        assert ("-", OOM) in replies
        assert all(r == (":", 1) for r in pipeline(c, (("EXISTS", f"keep{i}")
                                                         for i in range(100))))
        c.call("FLUSHALL")
        c.call("CONFIG", "SET", "maxmemory", "0")


def test_volatile_ttl_takes_the_soonest_first(servers):
    for c in servers:
        set_limit(c, HEADROOM, "volatile-ttl")
        cmds = []
        for i in range(1500):
            ttl = "100" if i % 2 else "100000"
            cmds.append(("SET", f"k{i}", VALUE, "EX", ttl))
        assert all(r == ("+", b"OK") for r in pipeline(c, cmds))
        alive = pipeline(c, (("EXISTS", f"k{i}") for i in range(1500)))
        short = sum(r[1] for i, r in enumerate(alive) if i % 2)
        long_ = sum(r[1] for i, r in enumerate(alive) if not i % 2)
        assert long_ > 2 * short


def test_allkeys_lru_keeps_recently_used_keys(servers):
    for c in servers:
        c.call("CONFIG", "SET", "maxmemory-samples", "10")
        pipeline(c, (("SET", f"hot{i}", VALUE) for i in range(50)))
        pipeline(c, (("SET", f"old{i}", VALUE) for i in range(300)))
        set_limit(c, 30_000, "allkeys-lru")
        time.sleep(1.1)  # Redis's LRU clock ticks in seconds
        pipeline(c, (("GET", f"hot{i}") for i in range(50)))
        pipeline(c, (("SET", f"new{i}", VALUE) for i in range(300)))
        hot = sum(r[1] for r in pipeline(c, (("EXISTS", f"hot{i}") for i in range(50))))
        old = sum(r[1] for r in pipeline(c, (("EXISTS", f"old{i}") for i in range(300))))
        assert hot >= 45 and old < 250


def test_allkeys_lfu_keeps_frequently_used_keys(servers):
    for c in servers:
        c.call("CONFIG", "SET", "maxmemory-samples", "10")
        c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
        pipeline(c, (("SET", f"hot{i}", VALUE) for i in range(50)))
        for _ in range(10):
            pipeline(c, (("GET", f"hot{i}") for i in range(50)))
        pipeline(c, (("SET", f"cold{i}", VALUE) for i in range(200)))
        set_limit(c, 30_000, "allkeys-lfu")
        pipeline(c, (("SET", f"new{i}", VALUE) for i in range(150)))
        hot = sum(r[1] for r in pipeline(c, (("EXISTS", f"hot{i}") for i in range(50))))
        assert hot >= 45


def test_evicted_keyspace_event(servers):
    for c in servers:
        sub = RawClient(c.port)
        try:
            c.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
            sub.call("SUBSCRIBE", "__keyevent@0__:evicted")
            set_limit(c, HEADROOM, "allkeys-random")
            pipeline(c, (("SET", f"k{i}", VALUE) for i in range(1500)))
            kind, msg = sub.read()
            assert msg[:2] == [("$", b"message"), ("$", b"__keyevent@0__:evicted")]
            assert msg[2][1].startswith(b"k")
        finally:
            sub.close()


def test_object_freq_and_idletime(both, servers):
    both("SET", "k", "v")
    both("OBJECT", "FREQ", "k")
    both("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    both("SET", "f", "v")
    both("OBJECT", "FREQ", "f")
    both("GET", "f")
    both("OBJECT", "FREQ", "f")
    both("OBJECT", "IDLETIME", "f")
    both("OBJECT", "FREQ", "nosuchkey")
    both("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    both("SET", "i", "v")
    both("OBJECT", "IDLETIME", "i")
    both("OBJECT", "FREQ", "i")
    both("OBJECT", "IDLETIME", "nosuchkey")


# -- pyredis only ---------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.effects = []

    def effect(self, db, args) -> None:
        self.effects.append((db, list(args)))

    def unit(self, begin) -> None:
        pass


def test_evictions_leave_through_the_funnel_as_del(pyr, raw_pyr):
    core = pyr.core
    sink = _Sink()
    core.funnel.subscribe(sink)
    try:
        before = info_field(raw_pyr, "evicted_keys")
        set_limit(raw_pyr, HEADROOM, "allkeys-random")
        pipeline(raw_pyr, (("SET", f"k{i}", VALUE) for i in range(1500)))
        evicted = info_field(raw_pyr, "evicted_keys") - before
        dels = [args for db, args in sink.effects if args[0] == b"DEL"]
        assert evicted > 500 and len(dels) == evicted
        assert all(raw_pyr.call("EXISTS", args[1]) == (":", 0) for args in dels[:50])
    finally:
        core.funnel.unsubscribe(sink)
        raw_pyr.call("CONFIG", "SET", "maxmemory", "0")
        raw_pyr.call("CONFIG", "SET", "maxmemory-policy", "noeviction")


def test_accounting_catches_up_after_flush_and_swapdb(pyr, raw_pyr):
    c = raw_pyr
    c.call("CONFIG", "SET", "maxmemory", "1gb")
    try:
        mem = pyr.core.memory
        pipeline(c, (("SET", f"k{i}", VALUE) for i in range(100)))
        c.call("SELECT", "1")
        pipeline(c, (("SET", f"j{i}", VALUE) for i in range(50)))
        assert len(mem.tables[0]) == 100 and len(mem.tables[1]) == 50
        c.call("SWAPDB", "0", "1")
        assert len(mem.tables[0]) == 50 and len(mem.tables[1]) == 100
        c.call("MOVE", "k0", "0")
        assert len(mem.tables[0]) == 51 and len(mem.tables[1]) == 99
        c.call("FLUSHDB")
        c.call("SELECT", "0")
        assert len(mem.tables[1]) == 0
        total = sum(key_cost(db, k, v) for db in pyr.core.ks.dbs for k, v in db.data.items())
        assert mem.total == total
    finally:
        c.call("SELECT", "0")
        c.call("CONFIG", "SET", "maxmemory", "0")


@pytest.mark.xfail(strict=True, reason="pyredis keeps access clocks only under an LRU/LFU "
                   "policy (no per-key cost otherwise); Redis always keeps the LRU clock")
def test_object_idletime_without_an_lru_policy(both):
    both("SET", "k", "v")
    both("OBJECT", "IDLETIME", "k")


def test_object_idletime_counts_seconds(both, servers):
    both("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    both("SET", "k", "v")
    time.sleep(1.2)
    both("SET", "touched", "v")
    both("OBJECT", "IDLETIME", "touched")
    for c in (both.p, both.r):
        assert c.call("OBJECT", "IDLETIME", "k")[1] >= 1
    both("GET", "k")
    both("OBJECT", "IDLETIME", "k")


def test_random_eviction_finds_keys_in_a_sparse_table():
    """After mass deletion the key table is mostly empty slots: sampling
    must still find the few keys left, and the periodic pass shrinks it."""
    from pyredis.core import Core
    from pyredis.executor import call

    core = Core()
    core.config.set("maxmemory", "1gb")
    c = core.new_client()
    for i in range(20000):
        call(c, [b"SET", b"k%d" % i, b"v"])
    call(c, [b"DEL"] + [b"k%d" % i for i in range(19997)])
    mem = core.memory
    big = len(mem.tables[0].keys)
    assert len(mem.tables[0]) == 3 and big >= 20000
    db = core.ks.dbs[0]
    assert all(mem._sample(db, 1, False) for _ in range(200))
    core.config.set("maxmemory-policy", "allkeys-random")
    core.config.set("maxmemory", str(mem.used_memory() - 1))
    assert len(db.data) == 2 and core.stats.evicted_keys == 1
    core.config.set("maxmemory", "1gb")
    mem.cron()
    assert len(mem.tables[0]) == 2 and len(mem.tables[0].keys) == 8
