"""A replica's keyspace never expires keys itself (db.py's replica_mode):
due keys are hidden from clients' reads but kept until the master's DEL,
and the master's own commands (mode 2) still see them."""

from __future__ import annotations

from pyredis.db import Keyspace, now_ms


def due_key(mode: int):
    ks = Keyspace(1)
    db = ks.dbs[0]
    db.set(b"k", b"v")
    db.set_expire(b"k", now_ms() - 10)
    ks.replica_mode = mode
    return ks, db


def test_reads_hide_but_keep_a_due_key():
    ks, db = due_key(1)
    assert db.get(b"k") is None
    assert not db.exists(b"k")
    assert b"k" in db.data and b"k" in db.expires
    assert ks.expired_keys == 0


def test_writes_and_the_masters_commands_see_it():
    ks, db = due_key(1)
    assert db.get_for_write(b"k") == b"v"
    ks.replica_mode = 2
    assert db.get(b"k") == b"v" and db.exists(b"k")


def test_the_masters_del_removes_it():
    ks, db = due_key(1)
    assert db.delete(b"k") is True
    assert b"k" not in db.data and b"k" not in db.expires


def test_no_active_expiry_on_a_replica_but_on_a_master():
    ks, db = due_key(1)
    assert ks.active_expire() == 0
    assert b"k" in db.data
    ks.replica_mode = 0
    deleted = []
    ks.propagate = lambda d, args: deleted.append(args)
    assert ks.active_expire() == 1
    assert deleted == [[b"DEL", b"k"]]


def test_a_replicas_expiry_heap_stays_bounded_under_ttl_churn():
    # Keys with TTLs set and deleted by the master, over and over (what a
    # replica of a cache sees): the dead heap entries are dropped even
    # though the replica never pops the heap (stress.soak found it growing).
    ks = Keyspace(1)
    ks.replica_mode = 1
    db = ks.dbs[0]
    later = now_ms() + 60_000
    for i in range(20_000):
        key = b"k%d" % (i % 500)
        db.set(key, b"v")
        db.set_expire(key, later + i)
        if i % 3 == 0:
            db.set_expire(key, later + i + 1)  # a second EXPIRE kills the first entry
        if i % 2:
            db.delete(key)
        ks.active_expire()
    assert len(db._expiry_heap) <= 3 * len(db.expires) + 1100
    # The keys that are left still expire at their times once promoted.
    assert sorted(w for w, k in db._expiry_heap if db.expires.get(k) == w) == \
        sorted(db.expires.values())
