"""The hybrid logical clock (pyredis.replication.hlc), driven by a
hand-set wall clock so every case is deterministic."""

import pytest
from hypothesis import given, strategies as st

from pyredis.replication.hlc import (
    HLC, LOGICAL_MASK, WALL_MAX, pack, unpack, wall_ms)


class Wall:
    """A wall clock the test sets by hand (milliseconds)."""

    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_pack_unpack_round_trip_and_order():
    for w, c in [(0, 0), (1, 0), (0, LOGICAL_MASK), (WALL_MAX, LOGICAL_MASK),
                 (1_700_000_000_123, 7)]:
        ts = pack(w, c)
        assert unpack(ts) == (w, c)
        assert wall_ms(ts) == w
        assert 0 <= ts < 1 << 64
    # Packed order is (wall, counter) order.
    assert pack(5, LOGICAL_MASK) < pack(6, 0)
    with pytest.raises(ValueError):
        pack(WALL_MAX + 1, 0)
    with pytest.raises(ValueError):
        pack(0, LOGICAL_MASK + 1)
    with pytest.raises(ValueError):
        pack(-1, 0)


def test_follows_the_wall_clock_when_it_moves():
    wall = Wall()
    clock = HLC(wall)
    assert unpack(clock.now()) == (wall.ms, 0)
    wall.ms += 10
    assert unpack(clock.now()) == (wall.ms, 0)


def test_many_events_in_one_millisecond_count_up():
    wall = Wall()
    clock = HLC(wall)
    stamps = [clock.now() for _ in range(1000)]
    assert [unpack(t) for t in stamps] == [(wall.ms, i) for i in range(1000)]


def test_counter_overflow_carries_into_the_millisecond_part():
    wall = Wall()
    clock = HLC(wall)
    stamps = [clock.now() for _ in range(LOGICAL_MASK + 3)]
    assert unpack(stamps[LOGICAL_MASK]) == (wall.ms, LOGICAL_MASK)
    assert unpack(stamps[LOGICAL_MASK + 1]) == (wall.ms + 1, 0)
    assert unpack(stamps[LOGICAL_MASK + 2]) == (wall.ms + 1, 1)
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    # When the wall catches up with the carried clock, the counter goes on
    # from where it is rather than reusing a value.
    wall.ms += 1
    assert unpack(clock.now()) == (wall.ms, 2)
    wall.ms += 1
    assert unpack(clock.now()) == (wall.ms, 0)


def test_wall_clock_stepping_back_keeps_timestamps_increasing():
    wall = Wall()
    clock = HLC(wall)
    t1 = clock.now()
    wall.ms -= 5000  # NTP steps the clock back five seconds
    t2 = clock.now()
    t3 = clock.now()
    assert t1 < t2 < t3
    # The clock holds the old wall time and counts until the wall passes it.
    assert unpack(t2) == (wall.ms + 5000, 1)
    wall.ms += 5001
    assert unpack(clock.now()) == (wall.ms, 0)


def test_update_from_a_peer_whose_clock_runs_ahead():
    wall = Wall()
    clock = HLC(wall)
    local = clock.now()
    remote = pack(wall.ms + 60_000, 42)  # the peer is a minute ahead
    received = clock.update(remote)
    assert received > remote > local
    assert unpack(received) == (wall.ms + 60_000, 43)
    # Local events after the receipt stay after it, though our wall is behind.
    after = clock.now()
    assert after > received
    assert unpack(after) == (wall.ms + 60_000, 44)
    assert clock.max_ahead_ms == 60_000


def test_update_from_a_peer_behind_uses_our_wall_clock():
    wall = Wall()
    clock = HLC(wall)
    received = clock.update(pack(wall.ms - 1000, 9))
    assert unpack(received) == (wall.ms, 0)
    assert clock.max_ahead_ms == 0


def test_update_in_the_same_millisecond_takes_the_larger_counter():
    wall = Wall()
    clock = HLC(wall)
    for _ in range(3):
        clock.now()  # counter at 2
    assert unpack(clock.update(pack(wall.ms, 10))) == (wall.ms, 11)
    assert unpack(clock.update(pack(wall.ms, 4))) == (wall.ms, 12)


def test_seeded_clock_stays_after_the_previous_run():
    # A restart whose wall clock is behind the last timestamp in the log.
    wall = Wall()
    last = pack(wall.ms + 3000, 5)
    clock = HLC(wall, last=last)
    assert clock.now() == last + 1


def test_negative_wall_clock_counts_as_the_epoch_and_zero_is_never_given():
    # 0 means "no timestamp / no version" elsewhere, so even a clock stuck
    # at the epoch starts at 1.
    clock = HLC(lambda: -50)
    assert clock.now() == pack(0, 1)
    assert clock.now() == pack(0, 2)


def test_float_wall_clock_is_truncated_to_milliseconds():
    clock = HLC(lambda: 1234.9)
    assert unpack(clock.now()) == (1234, 0)


def test_remote_timestamp_out_of_range_is_refused():
    clock = HLC(Wall())
    with pytest.raises(ValueError):
        clock.update(1 << 64)
    with pytest.raises(ValueError):
        clock.update(-1)


# Each step: ("tick", dms) moves the wall clock by dms (negative = step back),
# ("local",) is a local event, ("remote", offset_ms, counter) receives a
# timestamp from a peer whose clock is offset_ms away from ours.
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(-10_000, 10_000)),
        st.tuples(st.just("local")),
        st.tuples(st.just("remote"), st.integers(-100_000, 100_000),
                  st.integers(0, LOGICAL_MASK)),
    ),
    max_size=300,
)


@given(_steps)
def test_strictly_increasing_over_any_sequence_of_events(steps):
    wall = Wall()
    clock = HLC(wall)
    seen = 0  # the largest timestamp given out or received so far
    for step in steps:
        if step[0] == "tick":
            wall.ms = max(0, wall.ms + step[1])
            continue
        if step[0] == "local":
            ts = clock.now()
        else:
            remote = pack(max(0, wall.ms + step[1]), step[2])
            ts = clock.update(remote)
            assert ts > remote
        assert ts > seen
        # Never behind the wall clock: an HLC reads at least physical time.
        assert wall_ms(ts) >= wall.ms
        seen = ts
