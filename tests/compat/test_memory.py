"""MEMORY against the reference redis-server: the declaration, HELP, the
subcommand and option errors, the shapes of USAGE, STATS, DOCTOR,
MALLOC-STATS and PURGE in RESP2 and RESP3, and USAGE growing with the
value on both servers. The numbers themselves are pyredis's accounting
(eviction.py), so the pyredis-only checks compare USAGE with it."""

from __future__ import annotations

import threading

import pytest

from pyredis.eviction import key_cost

EMPTY_DOCTOR = (
    b"Hi Sam, this instance is empty or is using very little memory, my issues detector "
    b"can't be used in these conditions. Please, leave for your mission on Earth and fill it "
    b"with some data. The new Sam and I will be back to our programming as soon as I finished "
    b"rebooting.\n")
OK_DOCTOR = (b"Hi Sam, I can't find any memory issue in your instance. "
             b"I can only account for what occurs on this base.\n")

STATS_FIELDS = [
    b"peak.allocated", b"total.allocated", b"startup.allocated", b"replication.backlog",
    b"clients.slaves", b"clients.normal", b"aof.buffer", b"lua.caches", b"overhead.total",
    b"keys.count", b"keys.bytes-per-key", b"dataset.bytes", b"dataset.percentage",
    b"peak.percentage", b"allocator.allocated", b"allocator.active", b"allocator.resident",
    b"allocator-fragmentation.ratio", b"allocator-fragmentation.bytes", b"allocator-rss.ratio",
    b"allocator-rss.bytes", b"rss-overhead.ratio", b"rss-overhead.bytes", b"fragmentation",
    b"fragmentation.bytes"]


def on_server(pyr, fn):
    """Run ``fn()`` on pyredis's loop thread and return its result."""
    done = threading.Event()
    out = []

    def run():
        try:
            out.append(fn())
        finally:
            done.set()

    pyr.call_soon(run)
    assert done.wait(5)
    return out[0]


def test_command_row_and_keys(both):
    both("COMMAND", "INFO", "memory")
    both("COMMAND", "GETKEYS", "MEMORY", "USAGE", "k")
    both("COMMAND", "GETKEYS", "MEMORY", "USAGE", "k", "SAMPLES", "3")


def test_help_and_subcommand_errors(both):
    both("MEMORY", "HELP")
    both("MEMORY", "help")
    both("MEMORY")
    for args in (("FOO",), ("usage",), ("STATS", "x"), ("DOCTOR", "x"), ("HELP", "x"),
                 ("PURGE", "x"), ("MALLOC-STATS", "x"), ("malloc-stats", "a", "b")):
        both("MEMORY", *args)


def test_usage_options(both):
    for key in ("missing", "k"):
        for opts in ((), ("SAMPLES",), ("SAMPLES", "a"), ("SAMPLES", "-1"), ("FOO", "1"),
                     ("samples", "0", "samples", "1"), ("SAMPLES", "1.5"),
                     ("SAMPLES", "99999999999999999999"), ("SAMPLES", "1", "x")):
            reply = both.r.call("MEMORY", "USAGE", key, *opts)
            got = both.p.call("MEMORY", "USAGE", key, *opts)
            if reply[0] == ":":  # the numbers are each server's own
                assert got[0] == ":" and got[1] > 0, (opts, got)
            else:
                assert got == reply, (key, opts, got, reply)
        both("SET", "k", "v")


def test_usage_grows_with_the_value(both):
    cmds = [("SET", "s1", "x"), ("SET", "s2", "x" * 1000),
            ("RPUSH", "l1", "a"), ("RPUSH", "l2", *[f"e{i}" for i in range(500)]),
            ("HSET", "h1", "f", "v"),
            ("HSET", "h2", *[x for i in range(300) for x in (f"f{i}", "v")]),
            ("SADD", "t1", "a"), ("SADD", "t2", *[f"m{i}" for i in range(500)]),
            ("ZADD", "z1", "1", "a"), ("ZADD", "z2", *[x for i in range(300)
                                                       for x in (str(i), f"m{i}")])]
    both.run(*cmds)
    for c in (both.p, both.r):
        for small, big in (("s1", "s2"), ("l1", "l2"), ("h1", "h2"), ("t1", "t2"),
                           ("z1", "z2")):
            a, b = c.call("MEMORY", "USAGE", small), c.call("MEMORY", "USAGE", big)
            assert a[0] == b[0] == ":" and 0 < a[1] < b[1], (small, a, big, b)
    # A deleted key is nil again.
    both("DEL", "s2")
    both("MEMORY", "USAGE", "s2")


def test_usage_is_the_accounting(raw_pyr, pyr):
    """USAGE with SAMPLES n is eviction.py's key_cost with n samples: what
    maxmemory counts for the key (16 samples by default there)."""
    raw_pyr.call("RPUSH", "l", *[("x" * (i % 50)) for i in range(400)])
    raw_pyr.call("SET", "s", "v" * 100, "EX", "100")
    db = pyr.core.ks.dbs[0]
    for key, samples in ((b"l", 16), (b"l", 1), (b"l", 0), (b"s", 5)):
        want = on_server(pyr, lambda: key_cost(db, key, db.data[key],
                                               samples or 1 << 62))
        assert raw_pyr.call("MEMORY", "USAGE", key, "SAMPLES", str(samples)) == (":", want)
    assert raw_pyr.call("MEMORY", "USAGE", "s") == raw_pyr.call("MEMORY", "USAGE", "s",
                                                                "SAMPLES", "5")


def _stats_shape(reply):
    """(field, reply type) pairs; a db.N entry as its name and fields."""
    kind, items = reply
    if kind == "*":
        items = list(zip(items[0::2], items[1::2]))
    out = []
    for (_, name), (vkind, value) in items:
        if name.startswith(b"db."):
            sub = value if vkind == "%" else list(zip(value[0::2], value[1::2]))
            out.append((name, vkind, [(k[1], v[0]) for k, v in sub]))
        else:
            out.append((name, vkind))
    return out


@pytest.mark.parametrize("resp3", [False, True])
def test_stats_shape(both, resp3):
    if resp3:
        for c in (both.p, both.r):
            assert c.call("HELLO", "3")[0] == "%"
    for keys in ((), (("SET", "a", "1"), ("SET", "b", "2", "EX", "100")),
                 (("SELECT", "3"), ("SET", "c", "1"), ("SELECT", "0"))):
        both.run(*keys)
        got, want = both.p.call("MEMORY", "STATS"), both.r.call("MEMORY", "STATS")
        # RESP2 sends the doubles as bulk strings, RESP3 as doubles.
        assert _stats_shape(got) == _stats_shape(want)
    names = [f[0] for f in _stats_shape(got)]
    assert [n for n in names if not n.startswith(b"db.")] == STATS_FIELDS
    assert [n for n in names if n.startswith(b"db.")] == [b"db.0", b"db.3"]


@pytest.fixture(params=["estimate", "accounting"])
def accounting(request, raw_pyr):
    """pyredis's memory numbers as INFO estimates them, and as the
    maxmemory accounting keeps them."""
    if request.param == "accounting":
        assert raw_pyr.call("CONFIG", "SET", "maxmemory", "10gb") == ("+", b"OK")
    yield request.param
    raw_pyr.call("CONFIG", "SET", "maxmemory", "0")


def test_stats_values(raw_pyr, pyr, accounting):
    def stats():
        _, items = raw_pyr.call("MEMORY", "STATS")
        return {k[1]: v[1] for k, v in zip(items[0::2], items[1::2])}

    s = stats()
    assert s[b"keys.count"] == 0 and b"db.0" not in s
    assert s[b"peak.allocated"] >= s[b"total.allocated"] >= s[b"startup.allocated"] > 0
    raw_pyr.call("RPUSH", "big", *["x" * 100 for _ in range(2000)])
    raw_pyr.call("SET", "t", "v", "EX", "100")
    t = stats()
    assert t[b"keys.count"] == 2
    assert t[b"dataset.bytes"] > s[b"dataset.bytes"] + 200_000
    assert t[b"total.allocated"] == t[b"overhead.total"] + t[b"dataset.bytes"]
    assert t[b"keys.bytes-per-key"] == (t[b"total.allocated"] - t[b"startup.allocated"]) // 2
    assert 0 < float(t[b"dataset.percentage"]) <= 100
    assert 0 < float(t[b"peak.percentage"]) <= 100
    main = dict(zip(t[b"db.0"][0::2], t[b"db.0"][1::2]))
    assert main[("$", b"overhead.hashtable.main")][1] > 0
    assert main[("$", b"overhead.hashtable.expires")][1] > 0
    info = raw_pyr.call("INFO", "memory")[1].decode()
    fields = dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line)
    assert int(fields["used_memory_startup"]) == t[b"startup.allocated"]
    assert t[b"allocator.allocated"] >= t[b"total.allocated"]


@pytest.mark.parametrize("resp3", [False, True])
def test_doctor_malloc_stats_purge(both, resp3):
    if resp3:
        for c in (both.p, both.r):
            assert c.call("HELLO", "3")[0] == "%"
    reply = both("MEMORY", "DOCTOR")
    assert reply[1] == (b"txt:" if resp3 else b"") + EMPTY_DOCTOR
    both("MEMORY", "MALLOC-STATS")
    both("MEMORY", "PURGE")
    both("MEMORY", "purge")


def test_doctor_with_data(both):
    # Enough data for both detectors to work (over 5MB), no issue to report.
    # In requests of about 100 KB: Redis counts a client's query buffer in
    # its memory, and one of 1 MB, until its cron shrinks it, made the
    # reference report "Big client buffers" now and then.
    for i in range(80):
        both("MSET", *[x for j in range(100) for x in (f"k{i}:{j}", "v" * 1000)])
    reply = both("MEMORY", "DOCTOR")
    assert reply == ("$", OK_DOCTOR)


def test_doctor_reports_a_peak(raw_pyr, pyr):
    raw_pyr.call("MSET", *[x for j in range(8000) for x in (f"k{j}", "v" * 1000)])
    memory = pyr.core.memory
    old = memory.peak

    def raise_peak():
        memory.peak = 10 * memory.used_memory()

    on_server(pyr, raise_peak)
    try:
        text = raw_pyr.call("MEMORY", "DOCTOR")[1]
    finally:
        on_server(pyr, lambda: setattr(memory, "peak", old))
    assert text.startswith(b"Sam, I detected a few issues in this Redis instance memory "
                           b"implants:\n\n * Peak memory: In the past this instance used more "
                           b"than 150% the memory that is currently using.")
    assert text.endswith(b"I'm here to keep you safe, Sam. I want to help you.\n")
