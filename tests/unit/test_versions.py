"""The per-key version table (design G8): correct, and compact as measured."""

import random
import sys
from collections import Counter
import tracemalloc

import pytest

from pyredis.db import Keyspace
from pyredis.replication.gmember import EPOCH_MS, make_version
from pyredis.types.versions import VersionTable


def test_set_get_remove_against_a_dict():
    rnd = random.Random(7)
    t = VersionTable()
    model = {}
    keys = [(rnd.randrange(3), b"k%d" % rnd.randrange(5000)) for _ in range(20000)]
    for db, k in keys:
        op = rnd.random()
        if op < 0.6:
            v = rnd.getrandbits(64)
            t.set(db, k, v)
            model[(db, k)] = v
        else:
            assert t.remove(db, k) == ((db, k) in model)
            model.pop((db, k), None)
        if rnd.random() < 0.05:
            for (mdb, mk), mv in rnd.sample(sorted(model.items()), min(20, len(model))):
                assert t.get(mdb, mk) == mv
    assert len(t) == len(model)
    for (db, k), v in model.items():
        assert t.get(db, k) == v
    assert t.get(0, b"never-written") == 0


def test_buckets_split_as_partitions_grow(monkeypatch):
    """Tiny buckets make every partition split many times, so the
    linear-hashing steps run against the dict model."""
    from pyredis.types import versions
    monkeypatch.setattr(versions, "_BUCKET_KEYS", 4)
    rnd = random.Random(11)
    t = VersionTable()
    model = {}
    for _ in range(30000):
        db, k = rnd.randrange(2), b"k%d" % rnd.randrange(8000)
        if rnd.random() < 0.8:
            v = rnd.getrandbits(64)
            t.set(db, k, v)
            model[(db, k)] = v
        else:
            assert t.remove(db, k) == ((db, k) in model)
            model.pop((db, k), None)
    assert len(t) == len(model)
    assert max(len(b) for b in t._parts) > 1
    for (db, k), v in model.items():
        assert t.get(db, k) == v


def test_splits_past_the_low_16_bits(monkeypatch):
    """Once a partition has more than 2^16 buckets, splits test bits of the
    stored ``hi``. Small ints hash to themselves (not salted), so these keys
    all land in partition 0 with known fingerprints."""
    from pyredis.types import versions
    monkeypatch.setattr(versions, "_BUCKET_KEYS", 1)
    t = VersionTable()
    n = 70_000
    for i in range(n):
        t.set(0, i, i + 1)
    assert len(t._parts[0]) > 1 << 16 and len(t) == n
    assert all(t.get(0, i) == i + 1 for i in range(n))
    assert t.get(0, n) == 0
    for i in range(0, n, 7):
        assert t.remove(0, i)
    assert all(t.get(0, i) == (0 if i % 7 == 0 else i + 1) for i in range(n))
    assert len(t) == n - len(range(0, n, 7))


def test_same_key_in_two_databases_has_two_versions():
    t = VersionTable()
    t.set(0, b"k", 1)
    t.set(1, b"k", 2)
    assert (t.get(0, b"k"), t.get(1, b"k")) == (1, 2)


def test_keyspace_bumps_versions_on_every_write():
    ks = Keyspace(2)
    counter = iter(range(1, 1000))
    ks.versions = VersionTable(clock=lambda: next(counter))
    db = ks.dbs[1]
    db.set(b"a", b"1")
    db.set(b"a", b"2")
    db.set_expire(b"a", 10**13)
    assert ks.versions.get(1, b"a") == 3
    assert ks.versions.get(0, b"a") == 0


def _measure(build) -> int:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    obj = build()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    del obj
    return size


def test_versions_cost_a_few_bytes_per_key():
    n = 100_000
    keys = [b"key:%08d" % i for i in range(n)]  # built outside the measurement

    # Versions as gmember makes them: ms since 2020 (a write every 10 µs
    # from mid 2026), a 6-bit counter, ServerID 7.
    versions = [(205_000_000_000 + i // 100) << 22 | (i % 64) << 16 | 7 for i in range(n)]

    def table():
        t = VersionTable()
        for k, v in zip(keys, versions):
            t.set(0, k, v)
        return t

    def naive():
        d = {}
        for k, v in zip(keys, versions):
            d[k] = v
        return d

    packed = _measure(table) / n
    plain = _measure(naive) / n
    sys.stdout.write(f"\nversions: packed {packed:.1f} B/key, dict of ints {plain:.1f} B/key\n")
    assert packed <= 14, packed
    assert packed * 2 < plain


# -- the palette: versions stored as bits 16-47 plus a shared index ---------------

_EXTREMES = [0, 1, 0xFFFF, 0x10000, (1 << 32) - 1, 1 << 32, (1 << 48) - 1, 1 << 48,
             (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 0xFFFF00000000FFFF, 0x0000FFFFFFFF0000,
             0xFFFF0000FFFF0000, 0x0000FFFF0000FFFF, 0x123456789ABCDEF0]


_PAL = 0xFFFF00000000FFFF


def _model_check(t, model):
    assert len(t) == len(model)
    for (db, k), v in model.items():
        assert t.get(db, k) == v, (db, k)


def _in_use(t) -> dict:
    """Palette pairs -> keys counted on them, for the entries some key uses."""
    return {bits: t._pal_refs[ip >> 48] for bits, ip in t._pal_ix.items()
            if t._pal_refs[ip >> 48]}


def _pairs(model) -> dict:
    return dict(Counter(v & _PAL for v in model.values()))


def test_extreme_versions_round_trip_through_every_state():
    """Each extreme value as a new key, as an update of a key holding each
    other extreme, read back through the memo and through a fresh search."""
    t = VersionTable()
    model = {}
    for a, va in enumerate(_EXTREMES):
        for b, vb in enumerate(_EXTREMES):
            k = b"x%d:%d" % (a, b)
            t.set(0, k, va)
            assert t.get(0, k) == va          # memo
            t.set(0, k, vb)
            assert t.get(0, k) == vb          # memo, after an update in place
            model[(0, k)] = vb
    t.get(0, b"elsewhere")
    _model_check(t, model)
    for (db, k), v in list(model.items())[::3]:
        assert t.remove(db, k)
        del model[(db, k)]
    _model_check(t, model)
    # The palette counts each pair's keys exactly.
    assert not t._over and _in_use(t) == _pairs(model)


def test_versions_outside_u64_are_refused_and_change_nothing():
    t = VersionTable()
    t.set(0, b"k", 5)
    for bad in (-1, 1 << 64, -(1 << 64), (1 << 64) + 5, 5 - (1 << 64), 5 + (1 << 70)):
        for memo in (False, True):
            for k in (b"k", b"new"):
                if memo:
                    t.get(0, k)
                with pytest.raises(OverflowError):
                    t.set(0, k, bad)
                assert t.get(0, b"k") == 5 and t.get(0, b"new") == 0 and len(t) == 1


def test_many_server_ids_and_periods():
    """gmember's versions from thousands of origins over many 18.6-hour
    periods: exact round trips, and the palette holds the pairs in use."""
    rnd = random.Random(3)
    t = VersionTable()
    model = {}
    period = 1 << 26  # ms
    now = 6 * 365 * 86_400_000
    for i in range(40_000):
        ms = now + rnd.randrange(60) * period + rnd.randrange(period)
        sid = rnd.choice((1, 2, 65535)) if i % 2 else rnd.randrange(1, 65536)
        v = make_version((ms + EPOCH_MS) << 16 | rnd.randrange(64), sid)
        k = (rnd.randrange(4), b"k%d" % rnd.randrange(30_000))
        t.set(*k, v)
        model[k] = v
    _model_check(t, model)
    assert not t._over
    assert _in_use(t) == _pairs(model) and len(_pairs(model)) > 5000
    # Every key rewritten in one period by one origin: one pair in use.
    v = make_version((now + EPOCH_MS) << 16, 9)
    for k in model:
        t.set(*k, v)
        model[k] = v
    _model_check(t, model)
    assert _in_use(t) == {v & _PAL: len(model)}
    for k in model:
        assert t.remove(*k)
    assert len(t) == 0 and not _in_use(t) and not t._over


def test_a_full_palette_reuses_the_entries_no_key_uses(monkeypatch):
    """Entries whose keys all moved on stay until the palette is full; then
    they are reused, and only pairs past the room left go to the overflow."""
    from pyredis.types import versions
    monkeypatch.setattr(versions, "_PAL_SIZE", 4)
    t = VersionTable()
    model = {}
    base = (EPOCH_MS + 10**11) << 16
    pair = [make_version(base + (d << 42), 1 + d) for d in range(8)]  # 8 periods, 8 origins

    def put(k, v):
        t.set(0, k, v)
        model[(0, k)] = v

    for d in range(4):
        put(b"k%d" % d, pair[d])
    assert len(t._pal) == 4
    for d in range(1, 4):
        put(b"k%d" % d, pair[0] + (d << 16))  # same pair as k0, other counters
    assert _in_use(t) == {pair[0] & _PAL: 4} and len(t._pal_ix) == 4
    for d in range(4, 7):
        put(b"k%d" % d, pair[d])
    assert len(t._pal) == 4 and not t._over
    assert _in_use(t) == _pairs(model)
    put(b"k7", pair[7])  # four pairs in use: no room
    assert len(t._over) == 1 and len(t._pal) == 4
    _model_check(t, model)
    put(b"k4", pair[0])  # pair 4 unused: the overflowed key's pair can come in
    put(b"k7", pair[7] + (1 << 16))
    _model_check(t, model)
    assert not t._over and _in_use(t) == _pairs(model)


def test_a_full_palette_sends_versions_to_the_overflow(monkeypatch):
    """With room for 5 pairs, most random versions go to the overflow dict:
    every transition (palette <-> overflow, splits, removals) against the
    dict model, and the overflow holds exactly the keys that use it."""
    from pyredis.types import versions
    monkeypatch.setattr(versions, "_PAL_SIZE", 5)
    monkeypatch.setattr(versions, "_BUCKET_KEYS", 8)
    rnd = random.Random(5)
    common = [make_version((EPOCH_MS + 10**11 + d) << 16, 1) for d in range(3)]
    t = VersionTable()
    model = {}
    for step in range(40_000):
        k = (rnd.randrange(2), b"k%d" % rnd.randrange(3000))
        r = rnd.random()
        if r < 0.45:
            v = rnd.choice(common) + rnd.randrange(1 << 20 << 16)
        elif r < 0.8:
            v = rnd.choice(_EXTREMES) if rnd.random() < 0.2 else rnd.getrandbits(64)
        else:
            assert t.remove(*k) == (k in model)
            model.pop(k, None)
            continue
        if rnd.random() < 0.5:
            t.get(*k)  # through the memo
        t.set(*k, v)
        model[k] = v
        if step % 5000 == 0:
            _model_check(t, model)
    _model_check(t, model)
    assert len(t._pal) <= 5 and t._over
    # Every key is counted on its pair's entry or held in the overflow.
    assert sum(t._pal_refs) + len(t._over) == len(model)
    pairs = _pairs(model)
    assert all(n <= pairs[bits] for bits, n in _in_use(t).items())
    for k in list(model):
        assert t.remove(*k)
    assert len(t) == 0 and not t._over and sum(t._pal_refs) == 0
