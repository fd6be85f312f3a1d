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
