"""Resumable cursors for SCAN-style iteration (SCAN; HSCAN, SSCAN and ZSCAN
reuse it).

Redis walks its hash table buckets with a reverse-binary cursor, which lets
it promise: every element present for the whole iteration is returned at
least once, even if the table grows or shrinks in between; elements added or
removed meanwhile may or may not be; duplicates are possible; cursor 0 ends.
Python dicts expose no buckets, so this module keeps the promise with
snapshots instead:

* Cursor 0 takes a snapshot, a list of the collection's members at that
  moment (references only, members are not copied), and files it under a
  snapshot id. A returned cursor packs ``(offset << 32) | id``; it is never
  0 until the walk is done, and always fits the unsigned 64 bits Redis
  clients expect.
* A later call walks the snapshot from the offset. Members removed since the
  snapshot are skipped (the caller's ``alive`` test), members added since are
  not in it, which SCAN allows. Like Redis, COUNT is a hint: a call collects
  up to ``count`` live members and looks at no more than ``10 * count``
  entries, so a call may return nothing while the cursor is not 0.
* The walk that reaches the end drops its snapshot and answers cursor 0.
  Walks that fit in one call are never filed.
* Memory is bounded: live snapshots together hold at most ``budget``
  entries (each snapshot also counts a fixed overhead); past it the least
  recently used snapshots are evicted, the newest one always stays.
* A cursor whose snapshot is gone (evicted, already finished, forged,
  or from another collection) never fails: the walk restarts from a fresh
  snapshot at offset 0. That may repeat members, which SCAN allows, and
  never misses one. Resuming "where it was" in a fresh snapshot is not
  safe: a member deleted and added again moves to the end of a dict's
  order, so no remembered member or offset proves where the unvisited part
  begins. A walk is evicted only when other walks file more than the budget
  between two of its calls (LRU); walks in progress that together need more
  than the budget can keep restarting one another, which takes several
  concurrent walks over collections of millions of members at the default
  budget (2M entries, about 16 MB of references).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Callable, Hashable

_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
ULONG_MAX = (1 << 64) - 1

# Entries a live snapshot is charged for besides its members (list and
# bookkeeping), so many small abandoned walks are bounded too.
_OVERHEAD = 64


class _Snapshot:
    __slots__ = ("id", "token", "items")

    def __init__(self, sid: int, token, items: list) -> None:
        self.id = sid
        self.token = token
        self.items = items


class Cursors:
    """The live snapshots of one server."""

    def __init__(self, budget: int = 2_000_000) -> None:
        self.budget = budget
        self._live: OrderedDict[int, _Snapshot] = OrderedDict()  # LRU order
        self._held = 0
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._live)

    @property
    def held(self) -> int:
        """Entries (members plus overhead) held by live snapshots."""
        return self._held

    def scan(self, token: Hashable, cursor: int, count: int,
             snapshot: Callable[[], list], alive: Callable[[object], bool]) -> tuple[int, list]:
        """One step of a walk over the collection named by ``token``.

        ``snapshot()`` lists its members now; ``alive(m)`` tells whether a
        member is still there. Returns ``(next cursor, members)``; the
        caller applies MATCH/TYPE filters to the members afterwards.
        """
        snap = None
        start = 0
        if cursor:
            snap = self._live.get(cursor & _ID_MASK)
            if snap is not None and snap.token == token:
                self._live.move_to_end(snap.id)
                start = cursor >> _ID_BITS
            else:
                snap = None
        if snap is None:
            items = snapshot()
            if len(items) <= count:
                return 0, [m for m in items if alive(m)]
            snap = self._file(token, items)
        items = snap.items
        n = len(items)
        out: list = []
        i = start
        budget = 10 * count
        while i < n and budget:
            m = items[i]
            i += 1
            budget -= 1
            if alive(m):
                out.append(m)
                if len(out) >= count:
                    break
        if i >= n:
            self._drop(snap.id)
            return 0, out
        return (i << _ID_BITS) | snap.id, out

    # -- internals ---------------------------------------------------------

    def _file(self, token, items: list) -> _Snapshot:
        sid = self._new_id()
        snap = _Snapshot(sid, token, items)
        self._live[sid] = snap
        self._held += len(items) + _OVERHEAD
        while self._held > self.budget and len(self._live) > 1:
            self._drop(next(iter(self._live)))
        return snap

    def _new_id(self) -> int:
        sid = self._last_id
        while True:
            sid = sid + 1 if sid < _ID_MASK else 1
            if sid not in self._live:
                break
        self._last_id = sid
        return sid

    def _drop(self, sid: int) -> None:
        snap = self._live.pop(sid)
        self._held -= len(snap.items) + _OVERHEAD


_registries: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cursors(owner) -> Cursors:
    """The :class:`Cursors` of one server (``owner`` is its core)."""
    reg = _registries.get(owner)
    if reg is None:
        reg = _registries[owner] = Cursors()
    return reg


def parse_cursor(raw: bytes) -> int | None:
    """A SCAN cursor the way Redis reads it (strtoul, base 10): optional
    sign (a minus negates modulo 2**64), digits, nothing after them; the
    text stops at a NUL byte; the empty string is 0; a leading space, no
    digits or a value past 2**64-1 are invalid (None)."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        raw = raw[:nul]
    if not raw:
        return 0
    neg = False
    body = raw
    if body[0] in b"+-":
        neg = body[0] == 45
        body = body[1:]
    if not body or not body.isdigit():
        return None
    v = int(body)
    if v > ULONG_MAX:
        return None
    return (-v) & ULONG_MAX if neg else v
