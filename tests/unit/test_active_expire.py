"""The active expire cycle keeps up with keys expiring faster than one
pass's budget (Redis spends up to a quarter of each cron period on it)."""

from __future__ import annotations

from pyredis.db import Keyspace, now_ms


def _expired_keys(n: int) -> Keyspace:
    ks = Keyspace()
    d = ks.dbs[0]
    past = now_ms() - 1000
    for i in range(n):
        key = b"k%d" % i
        d.set(key, b"v")
        d.set_expire(key, past)
    return ks


def test_one_pass_removes_at_most_its_budget():
    ks = _expired_keys(5000)
    assert ks.active_expire() == 200
    assert len(ks.dbs[0].data) == 4800


def test_with_time_left_it_repeats_until_nothing_is_due():
    ks = _expired_keys(5000)
    assert ks.active_expire(budget_ms=10_000) == 5000
    assert not ks.dbs[0].data and not ks.dbs[0].expires


def test_keys_not_due_stay():
    ks = _expired_keys(300)
    d = ks.dbs[0]
    d.set(b"later", b"v")
    d.set_expire(b"later", now_ms() + 60_000)
    assert ks.active_expire(budget_ms=10_000) == 300
    assert list(d.data) == [b"later"]
