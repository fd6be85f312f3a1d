"""The keyspace: numbered databases, lookup for read and write, expiry, and
the hooks every modification goes through.

Values are plain Python objects, and the Python type *is* the Redis type:

=============  ==================================================
Redis type     value stored
=============  ==================================================
string         ``bytes`` (``bytearray`` after in-place edits such as
               APPEND/SETRANGE/SETBIT, so growing a string is amortised O(1))
list           ``collections.deque``
hash           ``dict``
set            ``set``
zset, stream   classes under ``pyredis.types``
=============  ==================================================

Every write ends in :meth:`Database.modified` (the ``set``/``delete``
helpers call it): it bumps the dirty counter, invalidates WATCHers and, when
global replication keeps per-key versions, bumps the key's version. Expired
keys are removed lazily on access and by :meth:`Keyspace.active_expire`, and
each removal leaves through the propagation funnel as a ``DEL``.
"""

from __future__ import annotations

import heapq
import time
from collections import deque

from .errors import WRONGTYPE, CommandError
from .notify import NOTIFY_EXPIRED, NOTIFY_KEY_MISS, notify

STRING_TYPES = (bytes, bytearray)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def type_name(value) -> str:
    """The name TYPE reports for a stored value."""
    t = type(value)
    if t is bytes or t is bytearray:
        return "string"
    if t is deque:
        return "list"
    if t is dict:
        return "hash"
    if t is set:
        return "set"
    return getattr(value, "TYPE_NAME", "none")


class Database:
    """One numbered database: key -> value, key -> absolute expiry in ms."""

    __slots__ = ("id", "data", "expires", "watched", "blocked", "ks", "_expiry_heap",
                 "_heap_stale")

    def __init__(self, index: int, keyspace: "Keyspace") -> None:
        self.id = index
        self.data: dict = {}
        self.expires: dict = {}
        # key -> set of clients WATCHing it in this database.
        self.watched: dict = {}
        # key -> deque of clients blocked on it, first blocked first (blocking.py).
        self.blocked: dict = {}
        self.ks = keyspace
        # (when_ms, key) for active expiry; entries whose key no longer has
        # that expiry are skipped and counted as stale.
        self._expiry_heap: list = []
        self._heap_stale = 0

    def __len__(self) -> int:
        return len(self.data)

    # -- reads -----------------------------------------------------------

    def get(self, key):
        """The live value at ``key`` or None (expiring it if it is due).
        Counts a keyspace hit or miss, as Redis's lookupKeyRead does."""
        if key in self.expires and self._expired_for_read(key):
            v = None
        else:
            v = self.data.get(key)
            if v is not None:
                self.ks.hits += 1
                return v
        ks = self.ks
        ks.misses += 1
        if ks.notify_flags & NOTIFY_KEY_MISS:
            notify(self, NOTIFY_KEY_MISS, b"keymiss", key)
        return None

    def get_typed(self, key, types):
        """Like :meth:`get` but raises WRONGTYPE unless the value is one of ``types``."""
        v = self.get(key)
        if v is not None and not isinstance(v, types):
            raise CommandError(WRONGTYPE)
        return v

    def get_typed_for_write(self, key, types):
        """Like :meth:`get_for_write` but raises WRONGTYPE unless the value
        is one of ``types``."""
        if key in self.expires and self._expire_if_needed(key):
            return None
        v = self.data.get(key)
        if v is not None and not isinstance(v, types):
            raise CommandError(WRONGTYPE)
        return v

    def get_for_write(self, key):
        """The live value for a write (no hit/miss accounting)."""
        if key in self.expires and self._expire_if_needed(key):
            return None
        return self.data.get(key)

    def exists(self, key) -> bool:
        if key in self.expires and self._expired_for_read(key):
            return False
        return key in self.data

    def ttl_ms(self, key) -> int | None:
        """Absolute expiry of ``key`` in ms, or None if it has none."""
        return self.expires.get(key)

    # -- writes ----------------------------------------------------------

    def set(self, key, value, keep_ttl: bool = False) -> None:
        """Store ``value`` at ``key`` (new or overwrite). Like Redis's
        setKey, an overwrite clears the TTL unless ``keep_ttl``."""
        self.data[key] = value
        if not keep_ttl and key in self.expires:
            del self.expires[key]
            self._heap_stale += 1
        # modified(key), inlined: SET is the hottest write.
        ks = self.ks
        ks.dirty += 1
        if self.watched and key in self.watched:
            for c in self.watched[key]:
                c.watch_dirty = True
        if self.blocked and key in self.blocked:
            ks.ready[(self, key)] = None
        if ks.versions is not None:
            ks.versions.bump(self.id, key)

    def set_many(self, pairs: list) -> None:
        """Store each ``(key, value)`` of ``pairs`` as :meth:`set` would
        (MSET). Without WATCHers, blocked clients or versions to update, one
        dict update does the storing."""
        ks = self.ks
        if self.watched or self.blocked or ks.versions is not None:
            for key, value in pairs:
                self.set(key, value)
            return
        self.data.update(pairs)
        expires = self.expires
        if expires:
            for key, _ in pairs:
                if key in expires:
                    del expires[key]
                    self._heap_stale += 1
        ks.dirty += len(pairs)

    def delete(self, key) -> bool:
        """Remove ``key``; True if it existed (and was not already expired)."""
        if key in self.expires:
            if self._expire_if_needed(key):
                return False
            del self.expires[key]
            self._heap_stale += 1
        if key in self.data:
            del self.data[key]
            self.modified(key)
            return True
        return False

    def set_expire(self, key, when_ms: int) -> None:
        """Give an existing key an absolute expiry time (ms since the epoch)."""
        if key in self.expires:
            self._heap_stale += 1  # its old heap entry is dead now
        self.expires[key] = when_ms
        heapq.heappush(self._expiry_heap, (when_ms, key))
        self.modified(key)

    def persist(self, key) -> bool:
        if key in self.expires:
            del self.expires[key]
            self._heap_stale += 1
            self.modified(key)
            return True
        return False

    def modified(self, key) -> None:
        """Every mutation of ``key`` ends here (Redis's signalModifiedKey
        plus the dirty counter)."""
        ks = self.ks
        ks.dirty += 1
        if self.watched and key in self.watched:
            for c in self.watched[key]:
                c.watch_dirty = True
        if self.blocked and key in self.blocked:
            ks.ready[(self, key)] = None
        if ks.versions is not None:
            ks.versions.bump(self.id, key)

    def flush(self) -> int:
        """Empty the database, touching every WATCHed key. Returns the old size."""
        n = len(self.data)
        if self.watched:
            for key, clients in self.watched.items():
                if key in self.data:
                    for c in clients:
                        c.watch_dirty = True
        self.data = {}
        self.expires = {}
        self._expiry_heap = []
        self._heap_stale = 0
        return n

    # -- expiry ------------------------------------------------------------

    def _expire_if_needed(self, key) -> bool:
        """Delete ``key`` if its time has come. True if it was expired."""
        # Like Redis's keyIsExpired: due once now is past the expiry time.
        if self.expires[key] >= now_ms():
            return False
        if self.ks.replica_mode:
            # A replica never expires keys itself (the master's DEL will
            # come); until then a write sees the key as it is, as Redis's
            # lookupKeyWrite does on a replica.
            return False
        self._expire(key)
        return True

    def _expired_for_read(self, key) -> bool:
        """:meth:`_expire_if_needed` for reads: on a replica a due key is
        hidden from clients but kept, and the master's own commands
        (replica_mode 2 while they run) still see it, as Redis's
        lookupKeyRead does."""
        if self.expires[key] >= now_ms():
            return False
        mode = self.ks.replica_mode
        if mode:
            return mode == 1
        self._expire(key)
        return True

    def _expire(self, key) -> None:
        del self.expires[key]
        self._heap_stale += 1
        self.data.pop(key, None)
        ks = self.ks
        ks.expired_keys += 1
        versions = ks.versions
        if versions is None:
            self.modified(key)
        else:
            # An expiry is no versioned write: every member removes the key
            # at the same absolute time by itself, so modified() must not
            # bump its version; the table hears of it as an expiry instead
            # (just before the DEL below reaches the funnel).
            ks.versions = None
            self.modified(key)
            ks.versions = versions
            versions.expired(self.id, key)
        ks.propagate(self.id, [b"DEL", key])
        if ks.notify_flags:
            notify(self, NOTIFY_EXPIRED, b"expired", key)

    def active_expire(self, now: int, budget_keys: int) -> int:
        """Remove up to ``budget_keys`` keys that are due; returns how many."""
        heap = self._expiry_heap
        expires = self.expires
        done = 0
        while heap and done < budget_keys and heap[0][0] < now:
            when, key = heapq.heappop(heap)
            if expires.get(key) == when:
                self._expire(key)
                self._heap_stale -= 1  # _expire counted the live entry as stale
                done += 1
            else:
                self._heap_stale -= 1
        self.compact_expiry_heap()
        return done

    def compact_expiry_heap(self) -> None:
        """Overwrites, deletes and PERSIST leave dead heap entries behind;
        rebuild the heap from ``expires`` when they dominate."""
        if self._heap_stale > 1024 and self._heap_stale > 2 * len(self.expires):
            self._expiry_heap = [(w, k) for k, w in self.expires.items()]
            heapq.heapify(self._expiry_heap)
            self._heap_stale = 0


class Keyspace:
    """All databases plus the counters and hooks they share."""

    def __init__(self, databases: int = 16) -> None:
        self.dbs = [Database(i, self) for i in range(databases)]
        self.dirty = 0
        self.hits = 0
        self.misses = 0
        self.expired_keys = 0
        # (db, key) pairs that clients block on and that were modified, in
        # order (a dict used as an ordered set); served by blocking.py.
        self.ready: dict = {}
        # Per-key versions for global replication; None until it is enabled.
        self.versions = None
        # 0 on a master. On a replica (set by replication.replica) keys are
        # never expired here, the master's DELs remove them: 1 hides due
        # keys from reads, 2 while the master's own commands run.
        self.replica_mode = 0
        # Set by the core: propagate(db_index, args) sends an effect to the funnel.
        self.propagate = lambda db, args: None
        # Keyspace notifications (notify.py): the enabled classes, 0 when
        # off, and the pub/sub registry they publish to (set by the core).
        self.notify_flags = 0
        self.pubsub = None

    def swap(self, a: int, b: int) -> None:
        """SWAPDB: exchange contents; clients stay on their index."""
        da, db_ = self.dbs[a], self.dbs[b]
        for d in (da, db_):
            for key, clients in d.watched.items():
                for c in clients:
                    c.watch_dirty = True
        da.data, db_.data = db_.data, da.data
        da.expires, db_.expires = db_.expires, da.expires
        da._expiry_heap, db_._expiry_heap = db_._expiry_heap, da._expiry_heap
        da._heap_stale, db_._heap_stale = db_._heap_stale, da._heap_stale
        # Clients blocked in either database may now find their keys.
        for d in (da, db_):
            for key in d.blocked:
                self.ready[(d, key)] = None

    def active_expire(self, budget_keys: int = 200, budget_ms: float = 0) -> int:
        """Remove keys whose time has come: ``budget_keys`` per database,
        again and again while some are still due and ``budget_ms`` of time
        is left (Redis's active expire cycle spends up to a quarter of each
        cron period so; one pass when 0). Returns how many went."""
        if self.replica_mode:
            # A replica expires nothing itself, but its master's DELs and
            # overwrites still leave dead heap entries: without this, the
            # heap of a replica grew for as long as keys with TTLs churned
            # (stress.soak: +17 MB/min).
            for d in self.dbs:
                if d._heap_stale:
                    d.compact_expiry_heap()
            return 0
        now = now_ms()
        deadline = time.perf_counter() + budget_ms / 1000
        total = 0
        while True:
            done = [d.active_expire(now, budget_keys) for d in self.dbs if d._expiry_heap]
            total += sum(done)
            # A database that used its whole budget may have more due.
            if budget_keys not in done or time.perf_counter() >= deadline:
                return total


def watch(client, db: Database, key) -> None:
    """Start WATCHing ``key`` in ``db`` for ``client`` (idempotent)."""
    if client.watched is None:
        client.watched = []
    if (db, key) in client.watched:
        return
    client.watched.append((db, key))
    db.watched.setdefault(key, set()).add(client)


def unwatch_all(client) -> None:
    for db, key in client.watched or ():
        clients = db.watched.get(key)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del db.watched[key]
    client.watched = None
    client.watch_dirty = False
