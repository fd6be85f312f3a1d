"""Compact per-key versions for global replication (design rule G8).

Every key carries a 64-bit version (what it encodes - timestamp, origin,
counter - is the global log's business; here it is an opaque unsigned int,
0 meaning "no version"). Keeping it as ``dict[key] = int`` would cost a dict
entry plus an int object, about 100 bytes a key. This table packs it:

* two ``array('Q')`` of equal power-of-two size: a 64-bit *fingerprint* of
  (database, key) and the version;
* open addressing with linear probing, deletion by backward shift (no
  tombstones), growth at 80% load, so a key costs 16 bytes / load factor:
  20 to 40 bytes, measured in tests/unit/test_versions.py.

The fingerprint is Python's ``hash()`` of the key (cached on bytes objects,
so free after the first lookup) mixed with the database index. Keys are not
stored, so two keys whose 64-bit fingerprints collide would share a slot;
with n keys the chance of any collision is about n^2 / 2^65 (3e-8 for a
million keys). Python's hash is salted per process, so the table is never
written to disk as is: persistence writes (key, version) pairs and rebuilds
the table on load.
"""

from __future__ import annotations

from array import array

_MASK64 = (1 << 64) - 1
_DB_MIX = 0x9E3779B97F4A7C15
_MIN_CAP = 8


def _fingerprint(db: int, key: bytes) -> int:
    fp = (hash(key) ^ (db * _DB_MIX)) & _MASK64
    return fp or 1  # 0 marks an empty slot


class VersionTable:
    __slots__ = ("_fp", "_ver", "_mask", "_used", "clock")

    def __init__(self, clock=None) -> None:
        self._fp = array("Q", bytes(8 * _MIN_CAP))
        self._ver = array("Q", bytes(8 * _MIN_CAP))
        self._mask = _MIN_CAP - 1
        self._used = 0
        # clock() -> the next version to give a key written locally.
        self.clock = clock

    def __len__(self) -> int:
        return self._used

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        return (len(self._fp) + len(self._ver)) * 8

    def get(self, db: int, key: bytes) -> int:
        fp = _fingerprint(db, key)
        fps = self._fp
        mask = self._mask
        i = fp & mask
        while True:
            f = fps[i]
            if f == fp:
                return self._ver[i]
            if f == 0:
                return 0
            i = (i + 1) & mask

    def set(self, db: int, key: bytes, version: int) -> None:
        fp = _fingerprint(db, key)
        fps = self._fp
        mask = self._mask
        i = fp & mask
        while True:
            f = fps[i]
            if f == fp:
                self._ver[i] = version
                return
            if f == 0:
                fps[i] = fp
                self._ver[i] = version
                self._used += 1
                if self._used * 5 > len(fps) * 4:
                    self._resize(len(fps) * 2)
                return
            i = (i + 1) & mask

    def bump(self, db: int, key: bytes) -> None:
        """The keyspace's hook: ``key`` was written here, give it a new version."""
        self.set(db, key, self.clock())

    def expired(self, db: int, key: bytes) -> None:
        """The keyspace's hook: ``key`` expired here. An expiry is no write
        (every member removes the key at the same absolute time by itself),
        so the version stays; an owner that tracks absent keys overrides
        this."""

    def remove(self, db: int, key: bytes) -> bool:
        fp = _fingerprint(db, key)
        fps, vers = self._fp, self._ver
        mask = self._mask
        i = fp & mask
        while True:
            f = fps[i]
            if f == 0:
                return False
            if f == fp:
                break
            i = (i + 1) & mask
        # Backward-shift deletion: pull later members of the probe run into
        # the hole when the hole lies between their home slot and them.
        j = i
        while True:
            j = (j + 1) & mask
            f = fps[j]
            if f == 0:
                break
            home = f & mask
            if (j - home) & mask >= (j - i) & mask:
                fps[i] = f
                vers[i] = vers[j]
                i = j
        fps[i] = 0
        vers[i] = 0
        self._used -= 1
        return True

    def clear(self) -> None:
        self.__init__(self.clock)

    def _resize(self, cap: int) -> None:
        old_fp, old_ver = self._fp, self._ver
        fps = array("Q", bytes(8 * cap))
        vers = array("Q", bytes(8 * cap))
        mask = cap - 1
        for idx, f in enumerate(old_fp):
            if f:
                i = f & mask
                while fps[i]:
                    i = (i + 1) & mask
                fps[i] = f
                vers[i] = old_ver[idx]
        self._fp, self._ver, self._mask = fps, vers, mask
