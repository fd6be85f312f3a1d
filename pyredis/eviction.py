"""maxmemory: an accounting of the dataset's size, and eviction as Redis
does it (sampling, a pool of 16 candidates, the eight policies).

Accounting
----------
Python gives no cheap "bytes allocated" counter per server (tracemalloc
slows everything down; RSS is shared by every server in a process and
never shrinks), so pyredis accounts for the dataset itself, the way Redis
counts what zmalloc handed out:

* a key costs ``sys.getsizeof(key)`` + :data:`DICT_ENTRY` (its slot in the
  database dict) + the size of its value + :data:`EXPIRE_ENTRY` when it has
  a TTL (the expires dict slot, the int, the expiry heap entry);
* a value's size is ``sys.getsizeof`` of the container plus its length
  times the mean size of up to 16 sampled elements (:func:`value_size`),
  so measuring a big list or hash costs the same as a small one. Strings,
  hashes, lists, sets and sorted sets measured this way match tracemalloc
  within 15% (tests/compat/test_eviction.py calibrates it; most are within
  a few per cent).

The sizes live in a compact per-database table (:class:`KeyTable`: open
addressing over a list of key references and ``array('I')`` columns, 16
bytes a slot with the access clock, 20 to 40 bytes a key), kept up to date
by the after-call hook from the keys each command declares: a write
re-measures its keys, a deleted key leaves the table, expired and evicted
keys leave through the keyspace's DEL propagation. What escapes that
(keys a script touches without declaring them, the destination of a served
BLMOVE, loading a file) is caught by :meth:`Memory.cron`: it re-measures a
few random keys of every database each tick and rebuilds a database's
table when its key count disagrees (at most once a second per database).

``used_memory`` is then the start-up footprint (the process's RSS when the
server modules loaded, Redis's ``used_memory_startup``) plus the dataset
plus these tables, and maxmemory is compared with it, as Redis compares
``used_memory``. The accounting runs only while ``maxmemory`` is set or an
LRU/LFU policy is selected; otherwise INFO estimates the dataset from a
sample of keys scaled to the key count and no command pays anything.

Access clocks
-------------
LRU and LFU need a clock per key. Redis keeps 24 bits in every object;
pyredis keeps a 32-bit column in the same table, written by the after-call
hook for the keys a command names (not for OBJECT, EXISTS, TYPE, TTL,
PTTL, which Redis does not count as an access either), only while an LRU
or LFU policy is selected: LRU stores milliseconds (modulo 2**32), LFU
Redis's 16 bits of minutes and 8-bit logarithmic counter (``lfu-log-factor``,
``lfu-decay-time``). OBJECT IDLETIME and OBJECT FREQ answer from it.

Eviction
--------
Before each command (the ``memory`` gate, installed only while maxmemory
is set), when used memory is over the limit, keys are evicted until it is
not: ``allkeys-random``/``volatile-random`` take a random key of the next
database in turn; the LRU, LFU and TTL policies sample
``maxmemory-samples`` keys of every database into a pool of the 16 best
candidates (idlest, least used, soonest to expire) and evict the best one
that still exists. Volatile policies only consider keys with a TTL. Each
eviction is a DEL in the propagation funnel, an ``evicted`` keyspace event
and one more ``evicted_keys``. When nothing can be evicted (noeviction, or
no candidate), commands flagged ``denyoom`` get
``-OOM command not allowed when used memory > 'maxmemory'.``
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import sys
import time
from array import array
from collections import deque

from . import errors
from .notify import NOTIFY_EVICTED, notify

# Bytes a dict slot costs beyond the key and value objects (CPython's
# compact dict: a 24-byte entry, the index, the growth slack); measured.
DICT_ENTRY = 36
# A TTL: the expires dict slot, the int and the expiry heap's tuple and slot.
EXPIRE_ENTRY = DICT_ENTRY + 32 + 56

_POOL_SIZE = 16
_MAX_SIZE = (1 << 32) - 1
_CLOCK_MASK = (1 << 32) - 1
LFU_INIT_VAL = 5
_MIN_CAP = 8

# Lookups Redis makes without touching the key's access clock.
_NO_TOUCH = frozenset(("object", "exists", "type", "ttl", "pttl", "debug", "memory",
                       "dump", "scan"))
_LRU = ("allkeys-lru", "volatile-lru")
_LFU = ("allkeys-lfu", "volatile-lfu")

_getsizeof = sys.getsizeof
_random = random.random


# -- value sizes ------------------------------------------------------------------


def value_size(value, samples: int = 16) -> int:
    """Estimated bytes held by one stored value (bounded work: big
    containers are measured from a sample of ``samples`` elements; MEMORY
    USAGE passes its SAMPLES count)."""
    t = type(value)
    if t is bytes or t is bytearray:
        return _getsizeof(value)
    if t is dict:
        n = len(value)
        size = _getsizeof(value)
        if n:
            sample = list(itertools.islice(value.items(), samples))
            size += n * sum(_getsizeof(k) + _getsizeof(v) for k, v in sample) // len(sample)
        return size
    if t is deque or isinstance(value, (set, frozenset)):
        n = len(value)
        size = _getsizeof(value)
        if n:
            if t is deque and n > samples > 1:
                sample = [value[0], value[-1], *itertools.islice(value, 1, samples - 1)]
            else:
                sample = list(itertools.islice(value, samples))
            size += n * sum(map(_getsizeof, sample)) // len(sample)
        return size
    name = getattr(value, "TYPE_NAME", None)
    if name == "zset":
        scores = value.scores
        n = len(scores)
        size = _getsizeof(value) + _getsizeof(scores)
        if n:
            sample = list(itertools.islice(scores, samples))
            # member + float in the dict, member image + pointer in the order
            per = sum(2 * _getsizeof(m) + 8 + 24 + 8 for m in sample) // len(sample)
            size += n * per
        return size
    if name == "stream":
        nodes = value.nodes
        size = _getsizeof(value) + _getsizeof(nodes) + 64 * len(value.groups or ())
        if nodes:
            sample = nodes[:2] + nodes[-2:]
            per = sum(_getsizeof(nd.ids) + _getsizeof(nd.values) + 44 * len(nd.ids)
                      + sum(_getsizeof(v) for v in nd.values if v is not None)
                      for nd in sample) // len(sample)
            size += per * len(nodes)
        for g in (value.groups or {}).values():
            size += 120 * len(g.pel)
        return size
    try:
        return _getsizeof(value) + 48 * len(value)
    except TypeError:
        return _getsizeof(value)


def key_cost(db, key, value, samples: int = 16) -> int:
    """What one key costs in total (see the module doc)."""
    size = _getsizeof(key) + DICT_ENTRY + value_size(value, samples)
    if key in db.expires:
        size += EXPIRE_ENTRY
    return min(size, _MAX_SIZE)


# -- the per-database table ---------------------------------------------------------------


class KeyTable:
    """key -> (size, access clock) for one database: open addressing with
    linear probing over a list of key references (shared with the
    database dict, so no new object per key) and two ``array('I')``
    columns; deletion by backward shift. Random slots give random keys,
    which eviction samples."""

    __slots__ = ("keys", "sizes", "clocks", "mask", "used")

    def __init__(self, cap: int = _MIN_CAP) -> None:
        self.keys: list = [None] * cap
        self.sizes = array("I", bytes(4 * cap))
        self.clocks = array("I", bytes(4 * cap))
        self.mask = cap - 1
        self.used = 0

    def __len__(self) -> int:
        return self.used

    @property
    def nbytes(self) -> int:
        cap = len(self.keys)
        return _getsizeof(self.keys) + 8 * cap

    def find(self, key) -> int:
        """The slot of ``key``, or ``-1 - free slot`` where it would go."""
        keys = self.keys
        mask = self.mask
        i = hash(key) & mask
        while True:
            k = keys[i]
            if k is None:
                return -1 - i
            if k is key or k == key:
                return i
            i = (i + 1) & mask

    def insert_at(self, slot: int, key, size: int, clock: int) -> int:
        """Fill the free ``slot`` given by :meth:`find` (grows as needed);
        returns the bytes the table grew by."""
        self.keys[slot] = key
        self.sizes[slot] = size
        self.clocks[slot] = clock
        self.used += 1
        if self.used * 10 > len(self.keys) * 7:
            cap = len(self.keys)
            self._resize(cap * 2)
            return 16 * cap
        return 0

    def remove_at(self, i: int) -> int:
        """Empty slot ``i``; returns the size it held."""
        keys, sizes, clocks = self.keys, self.sizes, self.clocks
        mask = self.mask
        size = sizes[i]
        j = i
        while True:
            j = (j + 1) & mask
            k = keys[j]
            if k is None:
                break
            home = hash(k) & mask
            if (j - home) & mask >= (j - i) & mask:
                keys[i] = k
                sizes[i] = sizes[j]
                clocks[i] = clocks[j]
                i = j
        keys[i] = None
        sizes[i] = 0
        clocks[i] = 0
        self.used -= 1
        return size

    def _resize(self, cap: int) -> None:
        old = self.keys
        old_sizes, old_clocks = self.sizes, self.clocks
        keys = [None] * cap
        sizes = array("I", bytes(4 * cap))
        clocks = array("I", bytes(4 * cap))
        mask = cap - 1
        for idx, k in enumerate(old):
            if k is not None:
                i = hash(k) & mask
                while keys[i] is not None:
                    i = (i + 1) & mask
                keys[i] = k
                sizes[i] = old_sizes[idx]
                clocks[i] = old_clocks[idx]
        self.keys, self.sizes, self.clocks, self.mask = keys, sizes, clocks, mask

    def sample(self, n: int, max_walk: int, accept=None) -> list:
        """Up to ``n`` slots holding keys, from a random place on (Redis's
        dictGetSomeKeys); ``accept(key)`` filters, within ``max_walk`` slots."""
        if not self.used:
            return []
        keys = self.keys
        mask = self.mask
        i = random.getrandbits(32) & mask
        out = []
        for _ in range(min(max_walk, len(keys))):
            k = keys[i]
            if k is not None and (accept is None or accept(k)):
                out.append(i)
                if len(out) >= n:
                    break
            i = (i + 1) & mask
        return out


# -- the server's accounting and eviction -------------------------------------------------


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _minutes() -> int:
    return (int(time.time()) // 60) & 0xFFFF


class Memory:
    """One server's memory accounting, access clocks and eviction."""

    def __init__(self, core) -> None:
        self.core = core
        # One KeyTable per database while accounting runs, else None.
        self.tables: list | None = None
        self.total = 0
        self.peak = 0
        # "lru", "lfu" or None: what the clock column holds.
        self.clock_kind = None
        self.pool: list = []          # (score, db index, key), best last
        self._next_db = 0
        self._last_rebuild: dict = {}
        self._orig_propagate = None
        self._wrapper = None
        self.overhead = 0
        self.lru_clock = 0
        self.minutes = 0
        self._tick_clocks()
        from .commands.info import _STARTUP_RSS
        # Redis's used_memory_startup: the process before any data.
        self.startup = _STARTUP_RSS
        cfg = core.config
        for name in ("maxmemory", "maxmemory-policy"):
            cfg.on_change(name, lambda _v: self.configure())
        self.configure()

    # -- switching on and off ---------------------------------------------------------

    def configure(self) -> None:
        """Follow maxmemory and maxmemory-policy: start or stop the
        accounting, the clocks, the gate; evict at once if now over."""
        core = self.core
        cfg = core.config
        policy = cfg.maxmemory_policy
        kind = "lru" if policy in _LRU else "lfu" if policy in _LFU else None
        want = bool(cfg.maxmemory) or kind is not None
        if want and self.tables is None:
            self.clock_kind = kind
            self._start()
        elif not want and self.tables is not None:
            self._stop()
        if self.tables is not None and kind != self.clock_kind:
            self.clock_kind = kind
            self._reset_clocks()
        self.pool = []
        self._tick_clocks()
        core.set_gate(self._gate if cfg.maxmemory else None, "memory")
        if cfg.maxmemory:
            self.evict()

    def _start(self) -> None:
        core = self.core
        self.tables = [KeyTable() for _ in core.ks.dbs]
        self.total = 0
        for db in core.ks.dbs:
            self.rebuild(db)
        ks = core.ks
        self._orig_propagate = ks.propagate

        def propagate(dbid, args, _orig=ks.propagate):
            # The keyspace's own deletions (expiry) leave as DEL: forget them.
            if args[0] == b"DEL" and len(args) == 2:
                self.forget(dbid, args[1])
            _orig(dbid, args)

        ks.propagate = self._wrapper = propagate
        core.set_after_call(self.after_call, "memory")

    def _stop(self) -> None:
        core = self.core
        if self._orig_propagate is not None:
            # Unless another part wrapped ours since (then ours stays, idle).
            if core.ks.propagate is self._wrapper:
                core.ks.propagate = self._orig_propagate
            self._orig_propagate = self._wrapper = None
        core.set_after_call(None, "memory")
        self.tables = None
        self.total = 0
        self.clock_kind = None

    def _fresh_clock(self) -> int:
        if self.clock_kind == "lfu":
            return (self.minutes << 8) | LFU_INIT_VAL
        return self.lru_clock

    def _reset_clocks(self) -> None:
        fresh = self._fresh_clock()
        for t in self.tables:
            t.clocks = array("I", [fresh]) * len(t.keys)

    # -- bookkeeping ------------------------------------------------------------------

    def rebuild(self, db) -> None:
        """Measure every key of ``db`` again (start, drift, SWAPDB...)."""
        old = self.tables[db.id]
        clocks = {}
        if self.clock_kind is not None:
            for i, k in enumerate(old.keys):
                if k is not None:
                    clocks[k] = old.clocks[i]
        self.total -= sum(old.sizes)
        n = len(db.data)
        cap = _MIN_CAP
        while cap * 7 < n * 10 + 10:
            cap *= 2
        t = self.tables[db.id] = KeyTable(cap)
        fresh = self._fresh_clock()
        total = 0
        for k, v in db.data.items():
            size = key_cost(db, k, v)
            total += size
            t.insert_at(-1 - t.find(k), k, size, clocks.get(k, fresh))
        self.total += total
        self._last_rebuild[db.id] = time.monotonic()
        self.overhead = sum(t.nbytes for t in self.tables)

    def forget(self, dbid: int, key) -> None:
        tables = self.tables
        if tables is None:
            return
        t = tables[dbid]
        i = t.find(key)
        if i >= 0:
            self.total -= t.remove_at(i)

    def after_call(self, client, cmd, args):
        """After each command: re-measure the keys it wrote, forget the
        ones it deleted, move the access clock of the ones it read."""
        name = cmd.name
        if name in _SPECIAL:
            _SPECIAL[name](self, client, cmd, args)
            return None
        write = cmd.is_write
        kind = self.clock_kind
        if not write and (kind is None or name in _NO_TOUCH):
            return None  # a read moves nothing but clocks
        if cmd.keys_fn is None:
            first = cmd.first_key
            if first == 0:
                return None
            # The common single-key shape without the generic slicing.
            keys = (args[1],) if first == cmd.last_key == 1 else cmd.keys(args)
        else:
            keys = cmd.keys(args)
        self.track(client.db, keys, write, kind if name not in _NO_TOUCH else None)
        return None

    def track(self, db, keys, write: bool, kind) -> None:
        """Bring ``keys`` of ``db`` up to date after a command."""
        t = self.tables[db.id]
        data = db.data
        slots = t.keys
        mask = t.mask
        for key in keys:
            # KeyTable.find, inlined: this runs after every command.
            i = hash(key) & mask
            while True:
                k = slots[i]
                if k is None:
                    i = -1 - i
                    break
                if k is key or k == key:
                    break
                i = (i + 1) & mask
            v = data.get(key)
            if v is None:
                if i >= 0:
                    self.total -= t.remove_at(i)
                continue
            if i < 0:
                size = key_cost(db, key, v)
                self.total += size
                self.overhead += t.insert_at(-1 - i, key, size, self._fresh_clock())
                slots = t.keys
                mask = t.mask
                continue
            if write:
                size = key_cost(db, key, v)
                self.total += size - t.sizes[i]
                t.sizes[i] = size
            if kind == "lru":
                t.clocks[i] = self.lru_clock
            elif kind == "lfu":
                # _lfu_touch, inlined.
                clock = t.clocks[i]
                counter = clock & 0xFF
                cfg = self.core.config
                decay = cfg.lfu_decay_time
                if decay:
                    counter = max(0, counter - ((self.minutes - (clock >> 8)) & 0xFFFF) // decay)
                if counter < 255:
                    base = counter - LFU_INIT_VAL
                    if base <= 0 or _random() * (base * cfg.lfu_log_factor + 1) < 1.0:
                        counter += 1
                t.clocks[i] = (self.minutes << 8) | counter

    def _tick_clocks(self) -> None:
        """Redis's cached clocks: read once per tick, not per access."""
        self.lru_clock = _now_ms() & _CLOCK_MASK
        self.minutes = _minutes()

    def _lfu_touch(self, clock: int) -> int:
        counter = self._lfu_decayed(clock)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base <= 0 or _random() * (base * self.core.config.lfu_log_factor + 1) < 1.0:
                counter += 1
        return (self.minutes << 8) | counter

    def _lfu_decayed(self, clock: int) -> int:
        counter = clock & 0xFF
        decay = self.core.config.lfu_decay_time
        if decay:
            elapsed = (self.minutes - (clock >> 8)) & 0xFFFF
            counter = max(0, counter - elapsed // decay)
        return counter

    def cron(self) -> None:
        """Per tick: catch what the per-command bookkeeping missed."""
        tables = self.tables
        if tables is None:
            return
        self._tick_clocks()
        now = time.monotonic()
        for db in self.core.ks.dbs:
            t = tables[db.id]
            if len(t) != len(db.data):
                if now - self._last_rebuild.get(db.id, 0.0) >= 1.0:
                    self.rebuild(db)
                continue
            if len(t.keys) > _MIN_CAP and len(t) * 8 < len(t.keys):
                self.rebuild(db)  # mostly empty after deletions: shrink
                continue
            for i in t.sample(4, 64):
                key = t.keys[i]
                v = db.data.get(key)
                if v is not None:
                    size = key_cost(db, key, v)
                    self.total += size - t.sizes[i]
                    t.sizes[i] = size
        self.overhead = sum(t.nbytes for t in tables)
        used = self.used_memory()
        if used > self.peak:
            self.peak = used
        if self.core.config.maxmemory and used > self.core.config.maxmemory:
            self.evict()

    # -- what INFO and OBJECT read --------------------------------------------------------

    def dataset_bytes(self) -> int:
        """The dataset's accounted (or, when off, estimated) size."""
        if self.tables is None:
            from .commands.info import dataset_estimate
            return dataset_estimate(self.core)
        return self.total

    def overhead_bytes(self) -> int:
        """The accounting's own tables."""
        return self.overhead if self.tables is not None else 0

    def used_memory(self) -> int:
        used = self.startup + self.dataset_bytes() + self.overhead_bytes()
        if used > self.peak:
            self.peak = used
        return used

    def idle_seconds(self, db, key) -> int | None:
        """OBJECT IDLETIME: None when no LRU clock is kept."""
        if self.clock_kind != "lru":
            return None
        t = self.tables[db.id]
        i = t.find(key)
        if i < 0:
            return 0
        return ((_now_ms() - t.clocks[i]) & _CLOCK_MASK) // 1000

    def frequency(self, db, key) -> int | None:
        """OBJECT FREQ: None when no LFU counter is kept."""
        if self.clock_kind != "lfu":
            return None
        t = self.tables[db.id]
        i = t.find(key)
        if i < 0:
            return LFU_INIT_VAL
        return self._lfu_decayed(t.clocks[i])

    # -- eviction -----------------------------------------------------------------------

    def _gate(self, client, cmd, args):
        if self.startup + self.total + self.overhead <= self.core.config.maxmemory:
            return None
        if client.kind == "master":
            return None
        if self.evict():
            return None
        if cmd.denyoom or (cmd.name == "exec" and any(
                c.denyoom for c, _ in client.multi_queue or ())):
            return errors.OOM
        return None

    def evict(self) -> bool:
        """Evict until used memory is within maxmemory. False when it
        cannot be (noeviction, or nothing left to evict)."""
        cfg = self.core.config
        limit = cfg.maxmemory
        if not limit or self.tables is None:
            return True
        if self.core.repl.master is not None and cfg.replica_ignore_maxmemory:
            # As Redis: a replica is an exact copy of its master; it neither
            # evicts nor refuses writes for memory (replica-ignore-maxmemory).
            return True
        used = self.used_memory()
        if used <= limit:
            return True
        if self.core.admin.pause_deadline:
            return True  # as Redis 6.2: a paused server neither evicts nor refuses
        policy = cfg.maxmemory_policy
        if policy == "noeviction":
            return False
        tofree = used - limit
        freed = 0
        start = time.perf_counter()
        deadline = start + _time_limit(cfg.maxmemory_eviction_tenacity)
        n = 0
        ok = True
        while freed < tofree:
            found = self._pick(policy)
            if found is None:
                ok = False
                break
            db, key = found
            before = self.total
            self._evict_key(db, key)
            freed += before - self.total
            n += 1
            if n % 16 == 0 and time.perf_counter() > deadline:
                # Like Redis's EVICT_RUNNING: the next command or tick goes on.
                break
        if n and cfg.latency_monitor_threshold:
            ms = int((time.perf_counter() - start) * 1000)
            if ms >= cfg.latency_monitor_threshold:
                self.core.admin.add_latency("eviction-cycle", ms)
        return ok

    def _evict_key(self, db, key) -> None:
        core = self.core
        self.forget(db.id, key)
        if key in db.expires:
            del db.expires[key]
            db._heap_stale += 1
        if key in db.data:
            del db.data[key]
            db.modified(key)
        core.stats.evicted_keys += 1
        ks = core.ks
        ks.propagate(db.id, [b"DEL", key])
        if ks.notify_flags & NOTIFY_EVICTED:
            notify(db, NOTIFY_EVICTED, b"evicted", key)

    def _pick(self, policy: str):
        dbs = self.core.ks.dbs
        volatile = policy.startswith("volatile")
        if policy.endswith("random"):
            for _ in range(len(dbs)):
                db = dbs[self._next_db]
                self._next_db = (self._next_db + 1) % len(dbs)
                keys = self._sample(db, 1, volatile)
                if keys:
                    return db, keys[0]
            return None
        samples = self.core.config.maxmemory_samples
        pool = self.pool
        for db in dbs:
            for key in self._sample(db, samples, volatile):
                entry = (self._score(policy, db, key), db.id, key)
                if entry in pool:
                    continue
                if len(pool) < _POOL_SIZE:
                    bisect.insort(pool, entry)
                elif entry > pool[0]:
                    bisect.insort(pool, entry)
                    del pool[0]
        while pool:
            _, dbid, key = pool.pop()
            db = dbs[dbid]
            if key in db.data and (not volatile or key in db.expires):
                return db, key
        return None

    def _sample(self, db, n: int, volatile: bool) -> list:
        expires = db.expires
        if volatile:
            if not expires:
                return []
            t = self.tables[db.id]
            found = [t.keys[i] for i in t.sample(n, 16 * n + 64, expires.__contains__)]
            if len(found) < n and len(found) < len(expires):
                start = random.randrange(max(1, len(expires) - n + 1))
                found = list(itertools.islice(expires, start, start + n))
            return found
        if not db.data:
            return []
        t = self.tables[db.id]
        found = t.sample(n, 16 * n + 64)
        if not found and len(t):
            found = t.sample(n, len(t.keys))  # sparse after deletions: walk on
        return [t.keys[i] for i in found]

    def _score(self, policy: str, db, key) -> int:
        """Higher is a better candidate (Redis's pool "idle" value)."""
        if policy.endswith("ttl"):
            return -db.expires.get(key, 0)
        t = self.tables[db.id]
        i = t.find(key)
        if i < 0:
            return 0
        clock = t.clocks[i]
        if self.clock_kind == "lfu":
            return 255 - self._lfu_decayed(clock)
        return (_now_ms() - clock) & _CLOCK_MASK


def _time_limit(tenacity: int) -> float:
    """Redis's evictionTimeLimitUs, in seconds."""
    if tenacity <= 10:
        return 50e-6 * tenacity
    if tenacity < 100:
        return 500e-6 * math.pow(1.15, tenacity - 10)
    return 3600.0


# -- commands that change the keyspace beyond their declared keys ------------------------


def _flushall(mem: Memory, client, cmd, args) -> None:
    for db in client.core.ks.dbs:
        mem.rebuild(db)


def _flushdb(mem: Memory, client, cmd, args) -> None:
    mem.rebuild(client.db)


def _db_arg(client, arg: bytes):
    try:
        return client.core.ks.dbs[int(arg)]
    except (ValueError, IndexError):
        return None


def _swapdb(mem: Memory, client, cmd, args) -> None:
    for a in args[1:3]:
        db = _db_arg(client, a)
        if db is not None:
            mem.rebuild(db)


def _move(mem: Memory, client, cmd, args) -> None:
    """MOVE key db: the key leaves this database for another."""
    mem.track(client.db, args[1:2], True, None)
    dst = _db_arg(client, args[2])
    if dst is not None and dst is not client.db:
        mem.track(dst, args[1:2], True, None)


def _copy(mem: Memory, client, cmd, args) -> None:
    """COPY src dst [DB n]: the copy may land in another database."""
    mem.track(client.db, args[1:3], True, mem.clock_kind)
    for i in range(3, len(args) - 1):
        if args[i].lower() == b"db":
            dst = _db_arg(client, args[i + 1])
            if dst is not None and dst is not client.db:
                mem.track(dst, args[2:3], True, None)


_SPECIAL = {"flushall": _flushall, "flushdb": _flushdb, "swapdb": _swapdb, "move": _move,
            "copy": _copy}
