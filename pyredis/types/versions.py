"""Compact per-key versions for global replication (design rule G8).

Every key carries a 64-bit version (what it encodes - timestamp, origin,
counter - is the global log's business; here it is an opaque unsigned int,
0 meaning "no version"). Keeping it as ``dict[key] = int`` would cost a dict
entry plus an int object, about 100 bytes a key. This table stores a key in
14 bytes of arrays, about 15 with the buckets' objects and the arrays'
slack (tests/unit/test_versions.py and ``python -m bench.globalrepl``
measure it), and never pauses to rehash:

* A key is known by a 64-bit *fingerprint*: Python's ``hash()`` of the key
  (cached on bytes objects, so free after the first lookup) mixed with the
  database index. Its top 8 bits pick one of 256 *partitions*; its low 48
  bits are stored, as a 32-bit ``hi`` (bits 16-47) and a 16-bit ``lo``
  (bits 0-15). So 56 bits tell keys apart: with n keys the chance that any
  two share a version is about n^2 / 2^57 (7e-6 for a million keys, 7e-4
  for ten million).
* A partition is a *linear hash* of buckets on the low bits of the stored
  48: it splits one bucket at a time (the next in turn) whenever its keys
  average more than ``_BUCKET_KEYS`` per bucket, so growth costs one small
  split now and then, never a rehash of the whole table, and there are no
  empty slots to pay for (an open-addressed table costs its slot size over
  its load factor: 16 bytes at 40-80% load were 20 to 40 bytes a key).
* A bucket is three parallel arrays, ``hi`` ('I', kept sorted), ``lo``
  ('H') and the version ('Q'): a lookup is a ``bisect`` (in C) on ``hi``;
  an insert or a removal moves part of a bucket of about 500 to 2,000 keys
  inside three arrays (a memmove of at most some 16 KB).

The price is the lookup: the bisect reads about ten array items, each made
into an int. A member looks a key it writes up three times in a row (its
version before, the versions the op names, the new version), so the table
remembers the last key looked up and two of the three skip the search. For
1M keys in random order, CPU per written key (get, get, set): 2.0 to 2.4
µs, where the open-addressed table this one replaced took 1.4 and this
table without the memo 2.9 to 3.0; a lone get takes 1.7 to 1.9 µs (the
replaced table 0.85). The replaced table stopped the server while it
doubled (0.13 s of CPU at 840,000 keys), and with it a member's RSS grew by
63 bytes a key over a plain server's for a million keys, where its arrays
held 34 (likely freed arrays of earlier sizes, kept in the heap by malloc);
with this table, 18, of which its arrays hold 14.8 (bench.globalrepl's
memory figure).

Keys are not stored (the keyspace has them), which is why the fingerprint
must be wide. Python's hash is salted per process, so the table is never
written to disk as is: persistence writes (key, version) pairs and rebuilds
the table on load.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from itertools import compress

_MASK64 = (1 << 64) - 1
_DB_MIX = 0x9E3779B97F4A7C15
_STORED = (1 << 48) - 1
_PART_SHIFT = 56
_PARTS = 1 << (64 - _PART_SHIFT)
# Average keys per bucket before a partition splits its next bucket: large
# enough that the buckets' own objects (three arrays and a tuple, about 300
# bytes) cost well under a byte a key, small enough that an insert moves
# only a few KB and a split (a Python pass over one bucket) stays short.
_BUCKET_KEYS = 1024


def _bucket() -> tuple:
    return (array("I"), array("H"), array("Q"))


class VersionTable:
    __slots__ = ("_parts", "_masks", "_splits", "_counts", "_used", "clock", "_c_fp", "_c_b",
                 "_c_j", "_c_found")

    def __init__(self, clock=None) -> None:
        # Per partition: its buckets, the mask of its current level (the
        # buckets before the split pointer already use one more bit), the
        # split pointer, and its number of keys.
        self._parts = [[_bucket()] for _ in range(_PARTS)]
        self._masks = [0] * _PARTS
        self._splits = [0] * _PARTS
        self._counts = [0] * _PARTS
        self._used = 0
        # The last key looked up: its fingerprint, bucket, position (where
        # it is, or where it would go) and whether it is there. A member
        # looks a written key up about three times in a row (its version
        # before, the versions the op names, the new version), so two of
        # the three skip the search. Any insert, removal or split moves
        # positions and forgets it.
        self._c_fp = -1
        self._c_b = None
        self._c_j = 0
        self._c_found = False
        # clock() -> the next version to give a key written locally.
        self.clock = clock

    def __len__(self) -> int:
        return self._used

    @property
    def nbytes(self) -> int:
        """Memory held by the table's buckets (arrays as allocated, their
        tuples and the partitions' lists)."""
        size = sys.getsizeof
        total = 0
        for buckets in self._parts:
            total += size(buckets)
            for b in buckets:
                total += size(b) + size(b[0]) + size(b[1]) + size(b[2])
        return total

    def get(self, db: int, key: bytes) -> int:
        fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
        if fp == self._c_fp:
            return self._c_b[2][self._c_j] if self._c_found else 0
        # The bucket (inlined, as in set: this runs on every write of
        # every key).
        p = fp >> _PART_SHIFT
        x = fp & _STORED
        m = self._masks[p]
        i = x & m
        if i < self._splits[p]:
            i = x & (m + m + 1)
        b = self._parts[p][i]
        his, los, vers = b
        hi = x >> 16
        lo = x & 0xFFFF
        j = bisect_left(his, hi)
        n = len(his)
        found = False
        while j < n and his[j] == hi:
            if los[j] == lo:
                found = True
                break
            j += 1
        self._c_fp, self._c_b, self._c_j, self._c_found = fp, b, j, found
        return vers[j] if found else 0

    def set(self, db: int, key: bytes, version: int) -> None:
        fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
        p = fp >> _PART_SHIFT
        if fp == self._c_fp:
            his, los, vers = self._c_b
            j = self._c_j
            if self._c_found:
                vers[j] = version
                return
            x = fp & _STORED
            hi = x >> 16
            lo = x & 0xFFFF
        else:
            x = fp & _STORED
            m = self._masks[p]
            i = x & m
            if i < self._splits[p]:
                i = x & (m + m + 1)
            his, los, vers = self._parts[p][i]
            hi = x >> 16
            lo = x & 0xFFFF
            j = bisect_left(his, hi)
            n = len(his)
            while j < n and his[j] == hi:
                if los[j] == lo:
                    vers[j] = version
                    return
                j += 1
        self._c_fp = -1
        his.insert(j, hi)
        los.insert(j, lo)
        vers.insert(j, version)
        self._used += 1
        c = self._counts[p] + 1
        self._counts[p] = c
        if c > len(self._parts[p]) * _BUCKET_KEYS:
            self._split(p)

    def bump(self, db: int, key: bytes) -> None:
        """The keyspace's hook: ``key`` was written here, give it a new version."""
        self.set(db, key, self.clock())

    def expired(self, db: int, key: bytes) -> None:
        """The keyspace's hook: ``key`` expired here. An expiry is no write
        (every member removes the key at the same absolute time by itself),
        so the version stays; an owner that tracks absent keys overrides
        this."""

    def remove(self, db: int, key: bytes) -> bool:
        self._c_fp = -1
        fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
        # The bucket (inlined: this runs on every write of every key).
        p = fp >> _PART_SHIFT
        x = fp & _STORED
        m = self._masks[p]
        i = x & m
        if i < self._splits[p]:
            i = x & (m + m + 1)
        his, los, vers = self._parts[p][i]
        hi = x >> 16
        lo = x & 0xFFFF
        j = bisect_left(his, hi)
        n = len(his)
        while j < n and his[j] == hi:
            if los[j] == lo:
                del his[j]
                del los[j]
                del vers[j]
                self._used -= 1
                self._counts[p] -= 1
                # Buckets are not merged back: an emptied bucket costs its
                # few hundred bytes of objects, and keys usually come back.
                return True
            j += 1
        return False

    def clear(self) -> None:
        self.__init__(self.clock)

    def _split(self, p: int) -> None:
        """Linear hashing's step: the partition's next bucket gives the keys
        whose next bit is set to a new bucket at the end. Both halves keep
        ``hi``'s order (a stable filter of a sorted array)."""
        buckets = self._parts[p]
        m = self._masks[p]
        s = self._splits[p]
        his, los, vers = buckets[s]
        bit = m + 1
        if bit <= 0x8000:
            moving = [lo & bit for lo in los]
        else:
            hbit = bit >> 16
            moving = [hi & hbit for hi in his]
        staying = [not f for f in moving]
        buckets[s] = (array("I", compress(his, staying)), array("H", compress(los, staying)),
                      array("Q", compress(vers, staying)))
        buckets.append((array("I", compress(his, moving)), array("H", compress(los, moving)),
                        array("Q", compress(vers, moving))))
        s += 1
        if s > m:
            # Every bucket of the level is split: the next level uses one
            # more bit everywhere.
            self._masks[p] = m + m + 1
            s = 0
        self._splits[p] = s
