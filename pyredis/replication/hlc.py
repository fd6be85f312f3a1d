"""A hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical
Clocks", 2014) packed into one unsigned 64-bit int, for the timestamps of
global replication.

Layout of a timestamp::

    bit 63 ............ 16 | 15 ....... 0
        wall milliseconds  | logical counter
        (48 bits)          | (16 bits)

48 bits of milliseconds reach the year 10889; 16 bits let 65536 events share
one millisecond before the clock runs ahead of the wall. Because the wall
part sits above the counter, comparing two timestamps as plain ints is the
HLC order ((l, c) lexicographic), and the record format stores them as one
u64.

The rules, in packed form (``pt`` = wall ms shifted left 16 bits):

* local event: ``ts = max(last + 1, pt)``;
* receipt of a remote ``m``: ``ts = max(last + 1, m + 1, pt)``.

These are the paper's rules: when the wall part stays, the counter grows by
one past the largest counter seen; when the wall clock moves ahead, the
counter restarts at 0. Adding 1 to the packed value also handles counter
overflow: the carry moves into the millisecond part, so the clock runs at
most a hair ahead of the wall and stays strictly increasing.

A clock may keep its counter narrower than 16 bits (``logical_bits``):
global replication packs 42 bits of ms, 6 bits of counter and a 16-bit
ServerID into a key version, so its clock must never hand out a counter
above 63. Such a clock carries into the next millisecond as soon as the
counter would pass its limit (the value stays strictly increasing; it only
runs a little further ahead of the wall while bursts last).

The clock does no I/O and reads no global time: the wall clock is a callable
passed in (``time.time_ns() // 1_000_000`` in the server, a simulated clock in
tests), so a deterministic simulation can drive it.
"""

from __future__ import annotations

from typing import Callable

WALL_BITS = 48
LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
WALL_MAX = (1 << WALL_BITS) - 1
TS_MAX = (1 << 64) - 1


def pack(wall_ms: int, logical: int = 0) -> int:
    """The timestamp of ``(wall_ms, logical)``; both must fit their fields."""
    if not 0 <= wall_ms <= WALL_MAX:
        raise ValueError(f"wall time {wall_ms} ms does not fit in {WALL_BITS} bits")
    if not 0 <= logical <= LOGICAL_MASK:
        raise ValueError(f"logical counter {logical} does not fit in {LOGICAL_BITS} bits")
    return (wall_ms << LOGICAL_BITS) | logical


def unpack(ts: int) -> tuple[int, int]:
    """``(wall_ms, logical)`` of a timestamp."""
    return ts >> LOGICAL_BITS, ts & LOGICAL_MASK


def wall_ms(ts: int) -> int:
    """The wall-clock part of a timestamp, in milliseconds since the epoch."""
    return ts >> LOGICAL_BITS


class HLC:
    """One member's hybrid logical clock.

    Invariant: every value returned by :meth:`now` or :meth:`update` is
    strictly greater than every value this clock returned or received
    before, whatever the wall clock does (steps back, stands still, jumps).
    In particular it is never 0, the value that means "no timestamp".

    ``last`` seeds the clock on restart (the largest timestamp in the
    member's global log), so monotonicity also holds across a restart whose
    wall clock is behind the previous run's.
    """

    __slots__ = ("_wall_ms", "_last", "max_ahead_ms", "_max_logical", "_min_wall")

    def __init__(self, wall_ms_fn: Callable[[], float], last: int = 0,
                 logical_bits: int = LOGICAL_BITS, min_wall_ms: int = 0) -> None:
        if not 0 <= last <= TS_MAX:
            raise ValueError("last must be an unsigned 64-bit timestamp")
        if not 1 <= logical_bits <= LOGICAL_BITS:
            raise ValueError(f"logical_bits must be in 1..{LOGICAL_BITS}")
        if not 0 <= min_wall_ms <= WALL_MAX:
            raise ValueError(f"min_wall_ms must fit in {WALL_BITS} bits")
        # A wall clock reading below this counts as this (the epoch by
        # default: a broken RTC; an owner packing timestamps into a
        # narrower field sets its own floor).
        self._min_wall = min_wall_ms
        # The largest counter this clock hands out (see the module doc).
        self._max_logical = (1 << logical_bits) - 1
        # wall_ms_fn() -> milliseconds since the epoch (int or float).
        self._wall_ms = wall_ms_fn
        self._last = last
        # The largest lead, in ms, of a received timestamp's wall part over
        # our wall clock at receipt: how far ahead the most skewed peer ran.
        # The clock follows such a peer (that is what keeps causality), so
        # the owner shows this figure rather than refusing the peer's ops,
        # which are already committed at their origin.
        self.max_ahead_ms = 0

    @property
    def last(self) -> int:
        """The last timestamp given out or received (0 before any)."""
        return self._last

    def _physical(self) -> int:
        ms = int(self._wall_ms())
        # A wall clock before the epoch (a broken RTC) counts as the epoch,
        # or as the owner's floor; the logical part still keeps the order.
        if ms < self._min_wall:
            ms = self._min_wall
        elif ms > WALL_MAX:
            raise OverflowError("wall clock past the 48-bit millisecond range")
        return ms << LOGICAL_BITS

    def now(self) -> int:
        """A timestamp for a local event (a write executed here)."""
        # _physical and _take inlined: this runs once per local write.
        ms = int(self._wall_ms())
        if ms < self._min_wall:
            ms = self._min_wall
        elif ms > WALL_MAX:
            raise OverflowError("wall clock past the 48-bit millisecond range")
        ts = self._last + 1
        pt = ms << LOGICAL_BITS
        if pt > ts:
            ts = pt
        if ts & LOGICAL_MASK > self._max_logical:
            ts = ((ts >> LOGICAL_BITS) + 1) << LOGICAL_BITS
        if ts > TS_MAX:
            raise OverflowError("hybrid logical clock exhausted its 64 bits")
        self._last = ts
        return ts

    def update(self, remote: int) -> int:
        """Merge a timestamp received from another member; returns a
        timestamp for the receive event, greater than both ``remote`` and
        everything this clock gave out before."""
        if not 0 <= remote <= TS_MAX:
            raise ValueError("remote timestamp is not an unsigned 64-bit int")
        # _physical and _take inlined: this runs once per received op.
        ms = int(self._wall_ms())
        if ms < self._min_wall:
            ms = self._min_wall
        elif ms > WALL_MAX:
            raise OverflowError("wall clock past the 48-bit millisecond range")
        ahead = (remote >> LOGICAL_BITS) - ms
        if ahead > self.max_ahead_ms:
            self.max_ahead_ms = ahead
        ts = self._last + 1
        if remote >= ts:
            ts = remote + 1
        pt = ms << LOGICAL_BITS
        if pt > ts:
            ts = pt
        if ts & LOGICAL_MASK > self._max_logical:
            ts = ((ts >> LOGICAL_BITS) + 1) << LOGICAL_BITS
        if ts > TS_MAX:
            raise OverflowError("hybrid logical clock exhausted its 64 bits")
        self._last = ts
        return ts

    def _take(self, ts: int) -> int:
        """Hands out ``ts``: a counter past its bits carries into the next
        millisecond, and the 64 bits must hold."""
        if ts & LOGICAL_MASK > self._max_logical:
            ts = ((ts >> LOGICAL_BITS) + 1) << LOGICAL_BITS
        if ts > TS_MAX:
            raise OverflowError("hybrid logical clock exhausted its 64 bits")
        self._last = ts
        return ts
