"""The per-key version table (design G8): correct, and compact as measured."""

import random
import sys
import tracemalloc

from pyredis.db import Keyspace
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
    assert packed <= 16.5, packed
    assert packed * 2 < plain
