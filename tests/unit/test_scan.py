"""The SCAN cursor machinery (pyredis.types.scan) without a server."""

from __future__ import annotations

import random

import pytest

from pyredis.types.scan import ULONG_MAX, Cursors, parse_cursor


class Coll:
    """A dict-backed collection as SCAN sees it."""

    def __init__(self, members=()):
        self.d = dict.fromkeys(members)

    def snapshot(self):
        return list(self.d)

    def alive(self, m):
        return m in self.d


def walk(reg, coll, count=10, token="t", between=None, max_calls=100_000):
    cursor, seen, calls = 0, [], 0
    while True:
        cursor, got = reg.scan(token, cursor, count, coll.snapshot, coll.alive)
        seen.extend(got)
        calls += 1
        assert calls < max_calls
        if cursor == 0:
            return seen, calls
        assert 0 < cursor <= ULONG_MAX
        if between:
            between()


def test_small_collection_in_one_call_not_filed():
    reg = Cursors()
    coll = Coll(range(5))
    assert reg.scan("t", 0, 10, coll.snapshot, coll.alive) == (0, [0, 1, 2, 3, 4])
    assert len(reg) == 0 and reg.held == 0


def test_full_walk_no_duplicates_when_unchanged():
    reg = Cursors()
    coll = Coll(range(1000))
    seen, calls = walk(reg, coll, count=7)
    assert sorted(seen) == list(range(1000))
    assert calls == -(-1000 // 7)
    assert len(reg) == 0 and reg.held == 0  # finished walks drop their snapshot


def test_count_is_a_hint_bounded_by_ten_times():
    reg = Cursors()
    coll = Coll(range(1000))
    cursor, got = reg.scan("t", 0, 5, coll.snapshot, coll.alive)
    assert len(got) == 5
    for m in range(5, 200):
        del coll.d[m]
    cursor, got = reg.scan("t", cursor, 5, coll.snapshot, coll.alive)
    assert got == [] and cursor != 0  # looked at 50 deleted entries only
    cursor, got = reg.scan("t", cursor, 1000, coll.snapshot, coll.alive)
    assert got == list(range(200, 1000)) and cursor == 0


@pytest.mark.parametrize("seed", range(5))
def test_members_present_throughout_are_returned(seed):
    rng = random.Random(seed)
    reg = Cursors()
    stable = set(range(500))
    pool = list(range(1000, 1600))
    # Interleaved, so that deleting pool members moves stable ones around.
    coll = Coll(m for pair in zip(range(500), pool) for m in pair)

    def churn():
        for _ in range(rng.randint(0, 8)):
            m = rng.choice(pool)
            if m in coll.d:
                del coll.d[m]
            else:
                coll.d[m] = None

    seen, _ = walk(reg, coll, count=rng.randint(1, 30), between=churn)
    assert stable <= set(seen)
    assert set(seen) <= stable | set(pool)


def test_evicted_walk_restarts_and_misses_nothing():
    reg = Cursors(budget=1)  # every new snapshot evicts the older ones
    a, b = Coll(range(100)), Coll(range(1000, 1100))
    ca, got_a = reg.scan("a", 0, 10, a.snapshot, a.alive)
    reg.scan("b", 0, 10, b.snapshot, b.alive)  # evicts a's snapshot
    # Delete-and-add-again moves members to the end of the order: a resumed
    # offset would skip some of them; a restart cannot.
    for m in range(10, 30):
        del a.d[m]
    for m in range(10, 20):
        a.d[m] = None
    a.d[500] = None
    while ca:
        ca, more = reg.scan("a", ca, 10, a.snapshot, a.alive)
        got_a += more
    assert set(range(100)) - set(range(20, 30)) <= set(got_a)
    assert got_a[10:20] == list(range(10))  # started over


def test_unknown_cursor_restarts_from_zero():
    reg = Cursors()
    coll = Coll(range(100))
    cursor, got = reg.scan("t", 12345, 200, coll.snapshot, coll.alive)
    assert cursor == 0 and got == list(range(100))
    # A live cursor of another collection is unknown here too.
    c1, _ = reg.scan("t", 0, 10, coll.snapshot, coll.alive)
    other = Coll(range(500, 600))
    c2, got = reg.scan("other", c1, 10, other.snapshot, other.alive)
    assert got == list(range(500, 510))


def test_memory_is_bounded_lru_first():
    reg = Cursors(budget=2000)
    colls = [Coll(range(i * 1000, i * 1000 + 500)) for i in range(10)]
    cursors = [reg.scan(i, 0, 10, c.snapshot, c.alive)[0] for i, c in enumerate(colls)]
    assert reg.held <= 2000 and len(reg) == 3
    # The most recent walks kept their snapshots.
    c, got = reg.scan(9, cursors[9], 10, colls[9].snapshot, colls[9].alive)
    assert got == list(range(9010, 9020))


def test_newest_snapshot_kept_even_over_budget():
    reg = Cursors(budget=10)
    coll = Coll(range(1000))
    cursor, got = reg.scan("t", 0, 10, coll.snapshot, coll.alive)
    assert len(reg) == 1
    coll.d[5000] = None
    cursor, got = reg.scan("t", cursor, 10, coll.snapshot, coll.alive)
    assert got == list(range(10, 20))


@pytest.mark.parametrize("raw,value", [
    (b"0", 0), (b"", 0), (b"+0", 0), (b"-0", 0), (b"007", 7), (b"-1", ULONG_MAX),
    (b"18446744073709551615", ULONG_MAX), (b"-18446744073709551615", 1),
    (b"1\x002", 1), (b"\x00", 0),
    (b" 1", None), (b"1 ", None), (b"x", None), (b"0x1", None), (b"+", None), (b"-", None),
    (b"18446744073709551616", None), (b"-18446744073709551616", None), (b"1.0", None),
    (b"+-1", None), (b"\xd9\xa1", None),
])
def test_parse_cursor(raw, value):
    assert parse_cursor(raw) == value
