"""Generic keyspace commands against the reference redis-server: DEL, UNLINK,
EXISTS, TOUCH, TYPE, the EXPIRE family, TTL/PTTL, PERSIST, KEYS, SCAN,
RANDOMKEY, RENAME/RENAMENX, MOVE, OBJECT; plus pyredis-only checks of SCAN's
guarantee under concurrent changes and of the effects these commands send
into the propagation funnel."""

from __future__ import annotations

import random
import time

import pytest

from conftest import encode_command
from pyredis.commands import COMMANDS
from pyredis.types.scan import cursors

NAMES = ("del", "unlink", "exists", "type", "expire", "pexpire", "expireat", "pexpireat",
         "ttl", "pttl", "persist", "keys", "scan", "randomkey", "rename", "renamenx", "move",
         "touch", "object")


def requires(*names):
    missing = [n for n in names if n.lower() not in COMMANDS]
    if missing:
        pytest.skip(f"pyredis has no {', '.join(missing)} yet")


def fill(*clients, keys, value=b"v"):
    """SET every key (pipelined) on each RawClient."""
    data = b"".join(encode_command([b"SET", k, value]) for k in keys)
    for c in clients:
        c.send_raw(data)
        for _ in keys:
            assert c.read() == ("+", b"OK")


def interleave(a, b):
    """a and b mixed evenly, so that deleting b's members moves a's around
    in the keyspace's order."""
    out = []
    for i, x in enumerate(a):
        out.append(x)
        out.extend(b[i * len(b) // len(a):(i + 1) * len(b) // len(a)])
    return out


def sorted_reply(reply):
    assert reply[0] == "*", reply
    return sorted(item[1] for item in reply[1])


def both_sorted(both, *args):
    """Run a command whose array reply has no defined order; compare sorted."""
    expected = sorted_reply(both.r.call(*args))
    got = sorted_reply(both.p.call(*args))
    assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
    return got


def test_command_info_rows(both):
    probe = both.p.call("COMMAND", "INFO", "get")
    if probe[0] == "-":
        pytest.skip("COMMAND is not implemented yet")
    for name in NAMES:
        both("COMMAND", "INFO", name)


def test_arity(both):
    for args in (("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",), ("TYPE",), ("TYPE", "a", "b"),
                 ("EXPIRE", "k"), ("PEXPIREAT", "k", "1", "2"), ("TTL",), ("PTTL", "a", "b"),
                 ("PERSIST",), ("KEYS",), ("KEYS", "a", "b"), ("SCAN",), ("RANDOMKEY", "x"),
                 ("RENAME", "a"), ("RENAMENX", "a", "b", "c"), ("MOVE", "a"), ("OBJECT",)):
        both(*args)


def test_del_unlink_exists_touch(both):
    fill(both.p, both.r, keys=[b"a", b"b", b"c", b""])
    both("EXISTS", "a", "a", "b", "nokey", "")
    both("TOUCH", "a", "a", "nokey", "")
    both("DEL", "a", "a", "nokey")
    both("EXISTS", "a")
    both("UNLINK", "b", "c", "b", "")
    both("EXISTS", "b", "c", "")
    both("DEL", "nokey")


def test_type(both):
    both("SET", "s", "v")
    both("TYPE", "s")
    both("TYPE", "nokey")
    both("SET", "s", "")
    both("TYPE", "s")


def test_expire_family_replies(both):
    both("SET", "k", "v")
    both("EXPIRE", "k", "100")
    both("TTL", "k")
    both("PEXPIRE", "k", "200000")
    both("TTL", "k")
    both("EXPIREAT", "k", str(int(time.time()) + 1000))
    both("PEXPIREAT", "k", str(int(time.time() * 1000) + 5_000_000))
    both("TTL", "k")
    both("PERSIST", "k")
    both("PERSIST", "k")
    both("TTL", "k")
    both("PTTL", "k")
    both("TTL", "nokey")
    both("PTTL", "nokey")
    both("PERSIST", "nokey")
    for cmd in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"):
        both(cmd, "nokey", "100")
        both(cmd, "k", "x")
        both(cmd, "k", "1.5")
        both(cmd, "k", " 1")
        both(cmd, "k", "")


def test_pttl_close_to_reference(both):
    both("SET", "k", "v")
    both("PEXPIRE", "k", "100000")
    r = both.r.call("PTTL", "k")[1]
    p = both.p.call("PTTL", "k")[1]
    assert 99_000 <= p <= 100_000 and abs(p - r) < 1000


@pytest.mark.parametrize("cmd,value", [
    ("EXPIRE", "9223372036854775807"), ("EXPIRE", "-9223372036854775808"),
    ("EXPIRE", "9223372036854775"), ("EXPIRE", "9223372036854776"),
    ("EXPIRE", "-9223372036854775"), ("EXPIRE", "-9223372036854776"),
    ("EXPIRE", "9223372036854774"),
    ("PEXPIRE", "9223372036854775807"), ("PEXPIRE", "-9223372036854775808"),
    ("PEXPIRE", "9223372036854775806"),
    ("EXPIREAT", "9223372036854775807"), ("EXPIREAT", "-9223372036854775808"),
    ("EXPIREAT", "9223372036854775"), ("EXPIREAT", "9223372036854776"),
    ("EXPIREAT", "-9223372036854775"), ("EXPIREAT", "-9223372036854776"),
    ("PEXPIREAT", "9223372036854775807"), ("PEXPIREAT", "-9223372036854775808"),
    ("EXPIRE", "9223372036854775808"), ("PEXPIRE", "-9223372036854775809"),
    ("EXPIRE", "0"), ("PEXPIRE", "-1"), ("EXPIREAT", "1"), ("PEXPIREAT", "0"),
])
def test_expire_limits(both, cmd, value):
    both("SET", "k", "v")
    both(cmd, "k", value)
    both("EXISTS", "k")
    both(cmd, "nokey", value)
    both("TTL", "k")


def test_short_expiry(both):
    both("SET", "a", "1")
    both("SET", "b", "2")
    both("PEXPIRE", "a", "50")
    both("PEXPIREAT", "b", str(int(time.time() * 1000) + 50))
    both("EXISTS", "a", "b")
    time.sleep(0.12)
    both("EXISTS", "a", "b")
    both("TTL", "a")
    both("PTTL", "b")
    both("TYPE", "a")
    both("PERSIST", "a")
    both("EXPIRE", "b", "100")


def test_overwrite_clears_ttl(both):
    both("SET", "k", "v")
    both("EXPIRE", "k", "100")
    both("SET", "k", "w")
    both("TTL", "k")


def test_keys_basic(both):
    fill(both.p, both.r, keys=[b"foo", b"foobar", b"bar", b"fo", b"", b"f*o"])
    for pattern in ("*", "**", "", "f*", "f?o", "fo", "*o*", "f\\*o", "[fb]*", "[^f]*",
                    "nomatch", "???", "*r", "[", "[^", "\\"):
        both_sorted(both, "KEYS", pattern)


def test_keys_skips_expired(both):
    both("SET", "live", "1")
    both("SET", "gone", "1")
    both("PEXPIRE", "gone", "30")
    time.sleep(0.08)
    both_sorted(both, "KEYS", "*")
    both_sorted(both, "KEYS", "gone")
    both_sorted(both, "KEYS", "g*")


# Bytes the random keys and patterns are made of: glob syntax, letters of
# both cases, and bytes that are negative as a C char.
_KEY_ALPHABET = [b"a", b"b", b"c", b"A", b"z", b"-", b"]", b"[", b"^", b"\\", b"*", b"?",
                 b"\x00", b"\x7f", b"\x80", b"\xff"]
_PATTERN_ALPHABET = _KEY_ALPHABET + [b"*", b"?", b"[", b"]", b"\\", b"-", b"^", b"[a-c]",
                                     b"[^a]", b"*"]


def _random_keys(rng, n):
    keys = {b""}
    while len(keys) < n:
        keys.add(b"".join(rng.choice(_KEY_ALPHABET) for _ in range(rng.randint(1, 8))))
    return sorted(keys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keys_random_patterns(both, seed):
    rng = random.Random(seed)
    keys = _random_keys(rng, 300)
    fill(both.p, both.r, keys=keys)
    for _ in range(400):
        pattern = b"".join(rng.choice(_PATTERN_ALPHABET) for _ in range(rng.randint(0, 9)))
        both_sorted(both, "KEYS", pattern)


def test_keys_long_subjects(both):
    rng = random.Random(7)
    keys = sorted({bytes(rng.choice(b"abc") for _ in range(rng.randint(1, 20)))
                   for _ in range(300)})
    fill(both.p, both.r, keys=keys)
    for _ in range(300):
        pattern = b"".join(rng.choice([b"a", b"b", b"c", b"*", b"?", b"[ab]", b"[^c]"])
                           for _ in range(rng.randint(1, 10)))
        both_sorted(both, "KEYS", pattern)


def test_scan_small_keyspace(both):
    both("SCAN", "0")
    fill(both.p, both.r, keys=[b"a", b"b", b"c", b""])
    both_scan = lambda *args: _scan_compare(both, *args)  # noqa: E731
    both_scan("0")
    both_scan("0", "COUNT", "100")
    both_scan("0", "MATCH", "*")
    both_scan("0", "MATCH", "**")
    both_scan("0", "MATCH", "[ab]")
    both_scan("0", "match", "nomatch", "count", "5")
    both_scan("0", "TYPE", "string")
    both_scan("0", "TYPE", "STRING")
    both_scan("0", "TYPE", "nosuchtype")
    both_scan("0", "MATCH", "*", "TYPE", "string", "COUNT", "1000")
    both_scan("")
    both_scan("+0")
    both_scan("-0")


def _scan_compare(both, *args):
    r = both.r.call("SCAN", *args)
    p = both.p.call("SCAN", *args)
    assert r[0] == p[0] == "*"
    assert p[1][0] == r[1][0] == ("$", b"0"), (args, p, r)
    assert sorted_reply(p[1][1]) == sorted_reply(r[1][1]), args


def test_scan_errors(both):
    both("SET", "k", "v")
    for cursor in (" 1", "x", "0x1", "+", "-", "1 ", "18446744073709551616",
                   "-18446744073709551616", "1.5"):
        both("SCAN", cursor)
    both("SCAN", "x", "COUNT", "0")
    for opts in (("COUNT", "0"), ("COUNT", "-1"), ("COUNT", "x"), ("COUNT",), ("MATCH",),
                 ("TYPE",), ("foo", "bar"), ("COUNT", "1", "COUNT", "0"),
                 ("COUNT", "9223372036854775808"), ("MATCH", "*", "extra")):
        both("SCAN", "0", *opts)


def test_scan_odd_cursors_do_not_fail(both):
    both("SET", "k", "v")
    for cursor in ("-1", "18446744073709551615", "1\x002", "12345"):
        r = both.r.call("SCAN", cursor)
        p = both.p.call("SCAN", cursor)
        assert r[0] == p[0] == "*"


def test_scan_full_iteration(both):
    fill(both.p, both.r, keys=[b"key:%d" % i for i in range(1000)])
    for args in ((), ("COUNT", "7"), ("COUNT", "100"), ("MATCH", "key:1*", "COUNT", "50")):
        seen = {}
        for side in ("p", "r"):
            c = getattr(both, side)
            cursor = b"0"
            got = set()
            for _ in range(3000):
                reply = c.call("SCAN", cursor, *args)
                cursor = reply[1][0][1]
                got.update(item[1] for item in reply[1][1][1])
                if cursor == b"0":
                    break
            assert cursor == b"0"
            seen[side] = got
        assert seen["p"] == seen["r"]


def test_scan_type_expired(both):
    both("SET", "a", "1")
    both("SET", "b", "1")
    both("PEXPIRE", "b", "20")
    time.sleep(0.06)
    _scan_compare(both, "0", "TYPE", "string")
    _scan_compare(both, "0", "TYPE", "none")
    _scan_compare(both, "0")


def test_randomkey(both):
    both("RANDOMKEY")
    both("SET", "only", "v")
    both("RANDOMKEY")
    both("SET", "", "v")
    both("DEL", "only")
    both("RANDOMKEY")
    both("SET", "x", "1")
    both("PEXPIRE", "x", "20")
    both("PEXPIRE", "", "20")
    time.sleep(0.06)
    both("RANDOMKEY")
    both_sorted(both, "KEYS", "*")


def test_randomkey_among_many(raw_pyr):
    keys = [b"k%d" % i for i in range(50)]
    fill(raw_pyr, keys=keys)
    seen = {raw_pyr.call("RANDOMKEY")[1] for _ in range(400)}
    assert seen <= set(keys) and len(seen) > 30


def test_randomkey_skips_expired(raw_pyr):
    dead = [b"dead%d" % i for i in range(200)]
    fill(raw_pyr, keys=dead)
    for k in dead:
        raw_pyr.call("PEXPIRE", k, "10")
    raw_pyr.call("SET", "alive", "v")
    time.sleep(0.05)
    assert raw_pyr.call("RANDOMKEY") == ("$", b"alive")
    raw_pyr.call("PEXPIRE", b"alive", "10")
    time.sleep(0.05)
    assert raw_pyr.call("RANDOMKEY") == ("$", None)
    assert raw_pyr.call("KEYS", "*") == ("*", [])
    # Expired keys RANDOMKEY met were deleted, not only skipped.
    assert raw_pyr.call("EXISTS", *dead) == (":", 0)


def test_rename(both):
    both("RENAME", "nokey", "x")
    both("RENAMENX", "nokey", "x")
    both("RENAME", "nokey", "nokey")
    both("SET", "a", "1")
    both("RENAME", "a", "a")
    both("RENAMENX", "a", "a")
    both("GET", "a")
    both("RENAME", "a", "b")
    both("EXISTS", "a", "b")
    both("GET", "b")
    both("SET", "c", "3")
    both("RENAMENX", "b", "c")
    both("RENAME", "b", "c")
    both("GET", "c")
    both("RENAMENX", "c", "d")
    both("EXISTS", "c", "d")


def test_rename_moves_ttl(both):
    both("SET", "a", "1")
    both("EXPIRE", "a", "100")
    both("SET", "b", "2")
    both("EXPIRE", "b", "500")
    both("RENAME", "a", "b")
    both("TTL", "b")
    both("SET", "c", "3")
    both("RENAME", "b", "c")
    both("TTL", "c")
    both("SET", "d", "4")
    both("EXPIRE", "d", "50")
    both("RENAME", "d", "c")
    both("TTL", "c")
    both("SET", "nottl", "5")
    both("RENAME", "nottl", "c")  # the source's lack of TTL moves too
    both("TTL", "c")
    both("PEXPIRE", "c", "40")
    time.sleep(0.08)
    both("RENAME", "c", "e")
    both("EXISTS", "c", "e")


def test_move(both):
    both("SET", "k", "v")
    for db in ("0", "16", "-1", "x", "2147483648", "-2147483649", "1.0", ""):
        both("MOVE", "k", db)
    both("MOVE", "nokey", "0")
    both("MOVE", "nokey", "1")
    both("EXPIRE", "k", "100")
    both("MOVE", "k", "1")
    both("EXISTS", "k")
    both("SELECT", "1")
    both("GET", "k")
    both("TTL", "k")
    both("SET", "k2", "in db1")
    both("SELECT", "0")
    both("SET", "k2", "in db0")
    both("MOVE", "k2", "1")
    both("GET", "k2")
    both("SELECT", "1")
    both("GET", "k2")
    both("DEL", "k", "k2")
    both("SELECT", "0")


def test_object(both):
    both("OBJECT", "HELP")
    both("object", "help")
    both("OBJECT", "HELP", "x")
    both("OBJECT", "foo")
    both("ObJeCt", "foo", "bar")
    both("OBJECT", "ENCODING")
    both("OBJECT", "ENCODING", "a", "b")
    for sub in ("ENCODING", "REFCOUNT", "FREQ"):
        both("OBJECT", sub, "nokey")
    values = ["0", "1", "9999", "10000", "-1", "123456", "-0", "01", "+1", " 1", "1.5", "",
              "9223372036854775807", "-9223372036854775808", "9223372036854775808",
              "12345678901234567890", "x" * 44, "x" * 45, "abc", "1" * 21]
    for i, v in enumerate(values):
        key = f"k{i}"
        both("SET", key, v)
        both("OBJECT", "ENCODING", key)
        both("OBJECT", "REFCOUNT", key)
    both("OBJECT", "FREQ", "k0")


def test_object_encoding_after_append(both):
    requires("APPEND", "SETRANGE")
    both("SET", "ap", "1")
    both("APPEND", "ap", "2")
    both("OBJECT", "ENCODING", "ap")
    both("OBJECT", "REFCOUNT", "ap")
    both("SETRANGE", "sr", "0", "abc")
    both("OBJECT", "ENCODING", "sr")


def test_scan_type_filter_other_types(both):
    requires("RPUSH")
    fill(both.p, both.r, keys=[b"a", b"b"])
    both("RPUSH", "list", "x")
    _scan_compare(both, "0", "TYPE", "list")
    _scan_compare(both, "0", "TYPE", "string")
    both("TYPE", "list")


# -- pyredis-only: SCAN's guarantee ----------------------------------------


def _scan_all(client, stable, rng, volatile_pool, count=13, changes=True, max_calls=10000):
    """Full SCAN while adding/deleting volatile keys between calls. Returns
    the set of keys seen."""
    cursor = b"0"
    seen = set()
    for _ in range(max_calls):
        reply = client.call("SCAN", cursor, "COUNT", str(count))
        cursor = reply[1][0][1]
        seen.update(item[1] for item in reply[1][1][1])
        if cursor == b"0":
            return seen
        if changes:
            for _ in range(rng.randint(0, 6)):
                k = rng.choice(volatile_pool)
                if rng.random() < 0.5:
                    client.call("SET", k, "v")
                else:
                    client.call("DEL", k)
    raise AssertionError("SCAN did not end")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_scan_returns_every_stable_key_while_keyspace_changes(pyr, raw_pyr, seed):
    rng = random.Random(seed)
    stable = [b"stable:%d" % i for i in range(400)]
    volatile_pool = [b"vol:%d" % i for i in range(600)]
    fill(raw_pyr, keys=interleave(stable, volatile_pool[:300]))
    seen = _scan_all(raw_pyr, stable, rng, volatile_pool)
    assert set(stable) <= seen
    assert seen <= set(stable) | set(volatile_pool)


def test_scan_survives_snapshot_eviction(pyr, raw_pyr):
    """A walk whose snapshot was evicted by other walks restarts and still
    returns every key present throughout, and ends."""
    reg = cursors(pyr.core)
    saved = reg.budget
    reg.budget = 1000
    try:
        rng = random.Random(9)
        stable = [b"s:%d" % i for i in range(250)]
        pool = [b"v:%d" % i for i in range(200)]
        fill(raw_pyr, keys=interleave(stable, pool))
        cursor, seen, calls, evicted = b"0", [], 0, False
        while True:
            reply = raw_pyr.call("SCAN", cursor, "COUNT", "10")
            cursor = reply[1][0][1]
            seen.extend(item[1] for item in reply[1][1][1])
            calls += 1
            assert calls < 1000
            if cursor == b"0":
                break
            if calls == 20:  # other walks push this one's snapshot out
                for _ in range(3):
                    raw_pyr.call("SCAN", "0", "COUNT", "10")
                evicted = True
            k = rng.choice(pool)
            if rng.random() < 0.5:
                raw_pyr.call("SET", k, "v")
            else:
                raw_pyr.call("DEL", k)
        assert evicted and set(stable) <= set(seen)
        assert len(seen) > len(set(seen))  # it did start over
    finally:
        reg.budget = saved


def test_scan_snapshots_are_bounded(pyr, raw_pyr):
    reg = cursors(pyr.core)
    saved = reg.budget
    reg.budget = 1000
    try:
        fill(raw_pyr, keys=[b"k%d" % i for i in range(300)])
        for _ in range(20):  # abandoned walks
            raw_pyr.call("SCAN", "0", "COUNT", "5")
        assert reg.held <= 1000
    finally:
        reg.budget = saved


# -- pyredis-only: effects --------------------------------------------------


class Recorder:
    def __init__(self):
        self.effects = []

    def effect(self, db, args):
        self.effects.append((db, [bytes(a) for a in args]))

    def unit(self, begin):
        pass


def test_expire_effects(raw_pyr, recorder):
    raw_pyr.call("SET", "k", "v")
    before = int(time.time() * 1000)
    assert raw_pyr.call("EXPIRE", "k", "100") == (":", 1)
    after = int(time.time() * 1000)
    db, eff = recorder.effects[-1]
    assert eff[:2] == [b"PEXPIREAT", b"k"]
    assert before + 100_000 <= int(eff[2]) <= after + 100_000
    raw_pyr.call("PEXPIREAT", "k", "99999999999999")
    assert recorder.effects[-1] == (0, [b"PEXPIREAT", b"k", b"99999999999999"])
    raw_pyr.call("EXPIREAT", "k", "99999999999")
    assert recorder.effects[-1] == (0, [b"PEXPIREAT", b"k", b"99999999999000"])
    raw_pyr.call("PEXPIRE", "k", "-5")
    assert recorder.effects[-1] == (0, [b"DEL", b"k"])
    n = len(recorder.effects)
    raw_pyr.call("EXPIRE", "nokey", "10")
    raw_pyr.call("PERSIST", "nokey")
    raw_pyr.call("RENAME", "nokey", "x")
    assert len(recorder.effects) == n


def test_lazy_expiry_sends_only_del(raw_pyr, recorder):
    raw_pyr.call("SET", "k", "v")
    raw_pyr.call("PEXPIRE", "k", "20")
    n = len(recorder.effects)
    time.sleep(0.05)
    # Whether active expiry or EXPIRE's lookup removed it, one DEL leaves
    # and EXPIRE's own argv does not.
    assert raw_pyr.call("EXPIRE", "k", "10") == (":", 0)
    assert recorder.effects[n:] == [(0, [b"DEL", b"k"])]


def test_rename_move_effects(raw_pyr, recorder):
    raw_pyr.call("SET", "a", "1")
    raw_pyr.call("RENAME", "a", "b")
    assert recorder.effects[-1] == (0, [b"RENAME", b"a", b"b"])
    raw_pyr.call("MOVE", "b", "3")
    assert recorder.effects[-1] == (0, [b"MOVE", b"b", b"3"])
    n = len(recorder.effects)
    raw_pyr.call("RENAME", "a", "a")
    raw_pyr.call("MOVE", "nokey", "3")
    assert len(recorder.effects) == n
    raw_pyr.call("SELECT", "3")
    raw_pyr.call("DEL", "b")
    raw_pyr.call("SELECT", "0")


# -- OBJECT ENCODING hooks ---------------------------------------------------


def test_object_encoding_hooks():
    from pyredis.commands.keys import _ENCODINGS, object_encoding, register_encoding

    class WithAttr:
        encoding = "skiplist"

    class WithMethod:
        def encoding(self):
            return "listpack"

    class Frozen(frozenset):
        pass

    assert object_encoding(WithAttr()) == "skiplist"
    assert object_encoding(WithMethod()) == "listpack"
    assert object_encoding(Frozen()) == "unknown"
    register_encoding(Frozen, lambda v: "intset" if len(v) < 3 else "hashtable")
    try:
        assert object_encoding(Frozen({1})) == "intset"
        assert object_encoding(Frozen({1, 2, 3})) == "hashtable"
    finally:
        del _ENCODINGS[Frozen]
    assert object_encoding(bytearray(b"1")) == "raw"
    assert object_encoding(b"1") == "int"
