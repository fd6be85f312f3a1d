"""Compact per-key versions for global replication (design rule G8).

Every key carries a 64-bit version (0 meaning "no version"). Keeping it as
``dict[key] = int`` would cost a dict entry plus an int object, about 100
bytes a key. This table stores a key in 12 bytes of arrays, about 12.7
with the buckets' objects and the arrays' slack (tests/unit/test_versions.py
and ``python -m bench.globalrepl`` measure it), and never pauses to rehash:

* A key is known by a 64-bit *fingerprint*: Python's ``hash()`` of the key
  (cached on bytes objects, so free after the first lookup) mixed with the
  database index. Its top 8 bits pick one of 256 *partitions*; its low 48
  bits are stored, as a 32-bit ``hi`` (bits 16-47) and a 16-bit ``lo``
  (bits 0-15). So 56 bits tell keys apart: with n keys the chance that any
  two share a version is about n^2 / 2^57 (7e-6 for a million keys, 7e-4
  for ten million).
* A version takes 48 bits of its key's entry, losslessly: its bits 16-47
  as they are, and for its bits 48-63 and 0-15 together a 16-bit index
  into the table's *palette* of the pairs its keys have. For the
  versions gmember makes (make_version: 42-bit ms since 2020, 6-bit HLC
  counter, 16-bit ServerID) a pair is an 18.6-hour period (2^26 ms) and
  an origin, so the palette holds one entry per period and member that
  the table's keys were last written in: a few to some thousands (32
  members writing keys for a year: 15,000). It counts the keys on each
  entry; when it is full, the entries no key uses any more are reused (a
  pass over its counts, not its keys). The assumption, then: at most
  65,535 distinct pairs in use at a time. Past that nothing is lost, only
  room: a key whose pair finds no free entry keeps its whole version in
  an overflow dict, at about 100 bytes. Any version in 0..2^64-1
  round-trips (they are opaque here); one outside is refused with
  OverflowError and changes nothing.
* A partition is a *linear hash* of buckets on the low bits of the stored
  48: it splits one bucket at a time (the next in turn) whenever its keys
  average more than ``_BUCKET_KEYS`` per bucket, so growth costs one small
  split now and then, never a rehash of the whole table, and there are no
  empty slots to pay for (an open-addressed table costs its slot size over
  its load factor: 16 bytes at 40-80% load were 20 to 40 bytes a key).
* A bucket is two parallel arrays: ``hi`` ('I', kept sorted) and one 'Q'
  per key holding the palette index (bits 48-63), the version's bits
  16-47 in place and ``lo`` (bits 0-15). A lookup is a ``bisect`` (in C)
  on ``hi``; an insert or a removal moves part of a bucket of about 500 to
  2,000 keys inside two arrays (a memmove of at most some 16 KB).

The price is the lookup: the bisect reads about ten array items, each made
into an int. A member looks a key it writes up three times in a row (its
version before, the versions the op names, the new version), so the table
remembers the last key looked up, and its version, and two of the three
skip the search; a set right after a get that changes only bits 16-47 (the
same origin within the period) writes the difference into the entry.

Measured for 1M keys in random order against the three-array layout this
one replaced ('I' hi, 'H' lo, 'Q' version: 14 bytes a key), interleaved in
one process on a busy 2-core machine, CPU per written key (get, get, set):
a new key 1.8 to 2.1 µs for both; a rewrite by the same origin in the same
period the same; a rewrite that changes the palette entry (another origin
or period) 0.1 to 0.45 µs more (the palette lookup and the counts). A lone
get takes 1.0 to 1.4 µs for both; a set alone of a new key (a table
rebuilt on load) 1.2 µs where the old layout took 1.1. The open-addressed
table before both took 1.4 µs per written key and 0.85 per get, and
stopped the server while it doubled (0.13 s of CPU at 840,000 keys).

Memory (``python -m bench.globalrepl --only memory``, 1M small keys, the
median of 5 rounds, three runs): a member's RSS grows by 15.2 to 15.6
bytes a key more than a plain server's, where the three-array layout's
grew by 18.1 and the open-addressed table's by 63. Of the 15.6, the
table's objects hold 12.7; about 1.3 to 1.7 is not the table's (a member
whose table stores nothing grows that much more than a plain server), and
the rest is the gaps the arrays leave in the malloc heap as they grow (a
process that only fills a table grows by 14.4 to 14.5 bytes a key).

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
# The 56 bits of a fingerprint that tell keys apart (partition and stored
# bits): the overflow's key.
_FP_BITS = 0xFF00FFFFFFFFFFFF
# Average keys per bucket before a partition splits its next bucket: large
# enough that the buckets' own objects (two arrays and a tuple, about 200
# bytes) cost well under a byte a key, small enough that an insert moves
# only a few KB and a split (a Python pass over one bucket) stays short.
_BUCKET_KEYS = 1024
# A version's bits 16-47 are stored per key as they are, its bits 48-63
# and 0-15 together as a 16-bit index into the table's palette of such
# pairs. Index _OVER means the key's version is in the overflow dict
# instead: the palette holds at most _PAL_SIZE (<= _OVER) pairs at a time.
_PAL_BITS = 0xFFFF00000000FFFF
_MID_BITS = 0x0000FFFFFFFF0000
_OVER = 0xFFFF
_OVER_Q = _OVER << 48
_LOW48 = 1 << 48
_PAL_SIZE = _OVER


def _bucket() -> tuple:
    return (array("I"), array("Q"))


class VersionTable:
    __slots__ = ("_parts", "_masks", "_splits", "_counts", "_used", "clock", "_c_fp", "_c_b",
                 "_c_j", "_c_found", "_c_v", "_pal", "_pal_ix", "_pal_refs", "_pal_free", "_over")

    def __init__(self, clock=None) -> None:
        # Per partition: its buckets, the mask of its current level (the
        # buckets before the split pointer already use one more bit), the
        # split pointer, and its number of keys.
        self._parts = [[_bucket()] for _ in range(_PARTS)]
        self._masks = [0] * _PARTS
        self._splits = [0] * _PARTS
        self._counts = [0] * _PARTS
        self._used = 0
        # The palette: index -> a version's bits 48-63 and 0-15 (None once
        # free), those bits -> index << 48 (as it sits in an entry), keys
        # per index (an entry at 0 stays until the palette fills), the
        # free indices.
        self._pal: list = []
        self._pal_ix: dict = {}
        self._pal_refs = array("I")
        self._pal_free: list = []
        # Fingerprint (its 56 bits that count) -> version, for the keys
        # whose version found no room in the palette.
        self._over: dict = {}
        # The last key looked up: its fingerprint, bucket, position (where
        # it is, or where it would go), whether it is there and its version
        # (0 when it is not). A member looks a written key up about three
        # times in a row (its version before, the versions the op names,
        # the new version), so two of the three skip the search. Any
        # insert, removal or split moves positions and forgets it.
        self._c_fp = -1
        self._c_b = None
        self._c_j = 0
        self._c_found = False
        self._c_v = 0
        # clock() -> the next version to give a key written locally.
        self.clock = clock

    def __len__(self) -> int:
        return self._used

    @property
    def nbytes(self) -> int:
        """Memory held by the table: its buckets (arrays as allocated,
        their tuples and the partitions' lists), its palette and its
        overflow."""
        size = sys.getsizeof
        total = 0
        for buckets in self._parts:
            total += size(buckets)
            for b in buckets:
                total += size(b) + size(b[0]) + size(b[1])
        total += size(self._pal) + size(self._pal_ix) + size(self._pal_refs)
        total += size(self._pal_free) + size(self._over)
        total += sum(size(v) for v in self._pal_ix) + sum(
            size(k) + size(v) for k, v in self._over.items())
        return total

    def get(self, db: int, key: bytes) -> int:
        fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
        if fp == self._c_fp:
            return self._c_v
        # The bucket (inlined, as in set: this runs on every write of
        # every key).
        p = fp >> _PART_SHIFT
        x = fp & _STORED
        m = self._masks[p]
        i = x & m
        if i < self._splits[p]:
            i = x & (m + m + 1)
        b = self._parts[p][i]
        his, rest = b
        hi = x >> 16
        lo = x & 0xFFFF
        j = bisect_left(his, hi)
        n = len(his)
        while j < n and his[j] == hi:
            q = rest[j]
            if q & 0xFFFF == lo:
                i = q >> 48
                v = self._over[fp & _FP_BITS] if i == _OVER else self._pal[i] | q & _MID_BITS
                self._c_fp, self._c_b, self._c_j, self._c_found, self._c_v = fp, b, j, True, v
                return v
            j += 1
        self._c_fp, self._c_b, self._c_j, self._c_found, self._c_v = fp, b, j, False, 0
        return 0

    def set(self, db: int, key: bytes, version: int) -> None:
        fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
        if fp == self._c_fp:
            his, rest = self._c_b
            j = self._c_j
            found = self._c_found
            if found:
                # The key was just looked up (a member's get, get, set):
                # when the new version differs from the one it has in bits
                # 16-47 only, and that one is not in the overflow, its
                # entry takes the difference (a version outside 0..2^64-1
                # differs above).
                q = rest[j]
                d = version ^ self._c_v
                if d | _MID_BITS == _MID_BITS and q < _OVER_Q:
                    rest[j] = q ^ d
                    self._c_v = version
                    return
        else:
            p = fp >> _PART_SHIFT
            x = fp & _STORED
            m = self._masks[p]
            i = x & m
            if i < self._splits[p]:
                i = x & (m + m + 1)
            his, rest = self._parts[p][i]
            hi = x >> 16
            lo = x & 0xFFFF
            j = bisect_left(his, hi)
            n = len(his)
            found = False
            while j < n and his[j] == hi:
                q = rest[j]
                if q & 0xFFFF == lo:
                    found = True
                    break
                j += 1
        if not 0 <= version <= _MASK64:
            raise OverflowError(f"version {version} is not in 0..2**64-1")
        ip = self._pal_ix.get(version & _PAL_BITS)
        if ip is None:
            ip = self._pal_add(version)
        if found:
            if fp == self._c_fp:
                self._c_v = version
            rest[j] = ip | version & _MID_BITS | q & 0xFFFF
            if q ^ ip >= _LOW48:
                # Another palette index.
                if ip != _OVER_Q and q < _OVER_Q:
                    refs = self._pal_refs
                    refs[ip >> 48] += 1
                    refs[q >> 48] -= 1
                else:
                    self._to_from_over(q, ip, fp, version)
            elif ip == _OVER_Q:
                self._over[fp & _FP_BITS] = version
            return
        self._c_fp = -1
        x = fp & _STORED
        his.insert(j, x >> 16)
        rest.insert(j, ip | version & _MID_BITS | x & 0xFFFF)
        if ip == _OVER_Q:
            self._over[fp & _FP_BITS] = version
        else:
            self._pal_refs[ip >> 48] += 1
        self._used += 1
        p = fp >> _PART_SHIFT
        c = self._counts[p] + 1
        self._counts[p] = c
        if c > len(self._parts[p]) * _BUCKET_KEYS:
            self._split(p)

    def _pal_add(self, version: int) -> int:
        """The palette entry (index << 48) for a version whose palette
        bits are not in the palette (no reference counted yet), or _OVER_Q
        when the palette is full of entries in use."""
        bits = version & _PAL_BITS
        if not self._pal_free:
            if len(self._pal) < _PAL_SIZE:
                i = len(self._pal)
                self._pal.append(bits)
                self._pal_refs.append(0)
                self._pal_ix[bits] = i << 48
                return i << 48
            self._pal_reclaim()
            if not self._pal_free:
                return _OVER_Q
        i = self._pal_free.pop()
        self._pal[i] = bits
        self._pal_ix[bits] = i << 48
        return i << 48

    def _pal_reclaim(self) -> None:
        """The palette is full: the entries no key uses any more become
        free. Entries are not freed as their last key leaves, so that a
        key moving back and forth between two pairs (an origin writing it
        once in a while) does not add and drop an entry each time; this
        pass over at most 65,535 counts runs when the palette fills."""
        refs = self._pal_refs
        pal = self._pal
        for i in range(len(pal)):
            if not refs[i] and pal[i] is not None:
                del self._pal_ix[pal[i]]
                pal[i] = None
                self._pal_free.append(i)

    def _to_from_over(self, q: int, ip: int, fp: int, version: int) -> None:
        """A key (fingerprint ``fp``) whose entry was ``q`` took palette
        entry ``ip``, one of them the overflow's: the overflow and the
        palette's counts follow."""
        if ip == _OVER_Q:
            self._over[fp & _FP_BITS] = version
        else:
            self._pal_refs[ip >> 48] += 1
        self._unref(q >> 48, fp)

    def _unref(self, i: int, fp: int) -> None:
        """A key (fingerprint ``fp``) no longer uses palette index ``i``."""
        if i == _OVER:
            del self._over[fp & _FP_BITS]
        else:
            self._pal_refs[i] -= 1

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
        x = fp & _STORED
        p = fp >> _PART_SHIFT
        his, rest = self._bucket_of(fp)
        hi = x >> 16
        lo = x & 0xFFFF
        j = bisect_left(his, hi)
        n = len(his)
        while j < n and his[j] == hi:
            q = rest[j]
            if q & 0xFFFF == lo:
                del his[j]
                del rest[j]
                self._unref(q >> 48, fp)
                self._used -= 1
                self._counts[p] -= 1
                # Buckets are not merged back: an emptied bucket costs its
                # few hundred bytes of objects, and keys usually come back.
                return True
            j += 1
        return False

    def _bucket_of(self, fp: int) -> tuple:
        """The bucket of fingerprint ``fp`` (get and set inline this: they
        run on every write)."""
        p = fp >> _PART_SHIFT
        x = fp & _STORED
        m = self._masks[p]
        i = x & m
        if i < self._splits[p]:
            i = x & (m + m + 1)
        return self._parts[p][i]

    def clear(self) -> None:
        self.__init__(self.clock)

    def _split(self, p: int) -> None:
        """Linear hashing's step: the partition's next bucket gives the keys
        whose next bit is set to a new bucket at the end. Both halves keep
        their order (a stable filter of a sorted array) and are built at
        their exact size."""
        buckets = self._parts[p]
        m = self._masks[p]
        s = self._splits[p]
        his, rest = buckets[s]
        bit = m + 1
        if bit <= 0x8000:
            moving = [q & bit for q in rest]
        else:
            hbit = bit >> 16
            moving = [hi & hbit for hi in his]
        staying = [not f for f in moving]
        buckets[s] = (array("I", list(compress(his, staying))),
                      array("Q", list(compress(rest, staying))))
        buckets.append((array("I", list(compress(his, moving))),
                        array("Q", list(compress(rest, moving)))))
        s += 1
        if s > m:
            # Every bucket of the level is split: the next level uses one
            # more bit everywhere.
            self._masks[p] = m + m + 1
            s = 0
        self._splits[p] = s
