"""The sans-IO member of global replication: turns this server's writes into
ops of the global log, applies ops received from other members by the
conflict rule, and answers the key-level questions links ask (a key's
versioned state, slot digests for anti-entropy, a snapshot).

No sockets, no timers, no wall clock of its own: time comes in through the
``clock`` callable (ms since the epoch) and the links (``glink.py``) carry
the bytes. The same object runs under the deterministic simulation
(``tests/sim``) and under the asyncio driver.

Versions (G4, G8)
=================
Every key state carries a u64 *version*, unique across the group::

    bit 63 ........ 22 | 21 .... 16 | 15 ....... 0
     ms since 2020-01-01 | HLC counter | ServerID
     (42 bits, to 2159)  | (6 bits)    | (16 bits)

built from the hybrid logical clock's timestamp of the op that wrote it
(:func:`make_version`). Ordered as integers, versions are the
last-writer-wins order: HLC time first, the ServerID breaks ties. The HLC
keeps its counter within 6 bits (it carries into the next millisecond), and
its wall clock never reads below 2020, so the packing is exact and
``version_ts`` inverts it. Invariant: **equal version => equal key state**
(value and absolute expiry) on every member.

* A key that is absent but has a version is a *tombstone* (``tombs``): a DEL,
  or an op that emptied the key, left it; a late older write cannot bring
  it back because it loses to the tombstone's version.
* Expiry changes no version and is no op: every member removes an expired
  key by itself at the same absolute time (``db._expire`` tells the table,
  which records the key as an *expired* tombstone).
* FLUSHDB/FLUSHALL give their databases a *flush version* F (the op's
  version): keys versioned below F are gone, later ones survive. The
  effective version of a key is ``max(its own, F of its database)``
  (:meth:`GlobalMember.version_of`), so keys need not be rewritten.

The conflict rule (G3, G4)
==========================
An op ``(origin, opid)`` carries, per key it changed, the version before and
after, and per key its commands name without changing it (a DEL of a
missing key, the sources of SUNIONSTORE) the version it read (before ==
after). A member receiving it:

1. skips it if it already holds it (``opid <= vector[origin]``) or made it
   (G1);
2. **applies it as it is** - its commands run through the executor on an
   internal client, so types, notifications, blocked clients, the AOF and
   classic replicas see exactly what a client's command gives - when every
   listed key's local version equals the op's *before* (the op was made on
   the state held here: equal versions, equal states; a key absent at the
   origin is absent here too when it has only a tombstone older than the
   op, or is due to expire and not removed yet - it is removed first) and,
   for ops that are not whole-value writes, nothing in it reads the clock
   differently here than at the origin (a key's TTL at or before ``max(op
   time, our now)``, an expired tombstone, a PEXPIREAT already past here),
   and a flush in it would not delete keys newer than itself;
3. otherwise **resolves each changed key by last-writer-wins**: where the
   local version is at least the op's *after*, the local state wins and
   the key is left alone; where the op's *after* is higher the op wins: a
   whole-value write (SET with no condition, MSET, DEL/UNLINK, a shipped
   state - see below) is applied to that key directly; anything else cannot
   be recomputed here, so the member fetches the key's current state from
   the member it got the op from (which holds the op's result or a later
   one; if it does not yet, it asks its own sources: the want travels
   upstream) and installs it if it is newer. A flush in the op is applied
   by its flush version (older keys go, newer ones stay). Keys resolved so
   count in ``conflicts``.

Either way the op is then appended to this member's log with its original
origin, op id and timestamp (so it is forwarded: chains, stars and rings
work) and ``vector[origin]`` advances. States installed from outside (a
fetch, anti-entropy, a snapshot) are pushed on to the members pulling from
us; anti-entropy (slot digests of key versions) repairs whatever a path
missed, so convergence never rests on one op path alone.

Shipped states. An op whose result could differ when its commands run
again - on a member whose clock says otherwise, or in a replay of the log
after a restart - is logged as the states it left instead of its commands:
per changed key ``RESTORE key <abs ttl> <payload> REPLACE ABSTTL`` or
``DEL key`` (after the op's flushes). That is the case when a key it reads
or writes has a TTL, when it sets one (SET .. PX, the EXPIRE family,
GETEX), when it also flushes, or when a key's state may not be rebuilt by
our log alone (``volatile``: it came from a fetch, anti-entropy or a
snapshot, or an op that was resolved rather than run - a replay may decide
otherwise - or from a clean run on such keys; ``volatile_dbs``: the
database's flush version came from a peer's digest or snapshot).
Whole-value writes never need it. Such an op is a whole-value write
everywhere.

Slot digests. Anti-entropy compares, per slot (crc32 of the key name mod
``slots``), the xor of :func:`entry_hash` (database, key, version) over the
live keys. The member keeps these digests as keys change - wherever a
version, a tombstone or a flush version moves (``_set_version``, the expiry
hook, flushes, ``drop_stale``) - so a round does not walk the keyspace; only
keys with a TTL are walked, to leave out expired keys not removed yet.
:meth:`verify_digests` (``GLOBAL DIGEST``) recounts them from the keys, so
a key changed behind the member's back is still found and repaired.

Keys from before. Keys a dump file or AOF held when global replication was
turned on have no version, and neither the log nor anti-entropy (which
lists versioned keys) would ship them. :meth:`log_unversioned` logs their
states as ops of ours (batches of shipped states, each key from version 0
to the op's), after the driver took a checkpoint of the dataset as it is.
They must be ops: a state changed outside the log sits below the
tombstone-collection horizon of members that never saw it, and they would
take it for a delete they collected (the simulation showed it).

Durability (G5). The log plus a :meth:`checkpoint` rebuild the member:
:meth:`restore_checkpoint`, then :meth:`replay` of every record after the
checkpoint's LSN, in log order, by the same rule (records it cannot
recompute leave keys behind, which anti-entropy brings back).

API (for the driver and the links)
==================================
``GlobalMember(core, server_id, log, clock, hlc_last=0)``
    subscribes to the core's funnel and installs the version table.
    ``clock()`` returns wall milliseconds. ``log`` is a ``GlobalLog``.
``listeners``
    callables ``f(record)`` told of every record appended to the log (local
    ops and forwarded ones): source links stream them. The driver must
    ``log.flush()`` before any bytes of a turn leave (replies and links).
``installed``
    callables ``f(KeyState)`` told of every state installed from outside.
``receivers``
    the ``glink.ReceiverLink`` objects pulling into this member (they add
    themselves); :meth:`want` asks them for a key version we lack.
``apply(record, encoded=None) -> Applied``
    a record received on a link (``encoded``: its framed bytes as received,
    which the log then keeps instead of encoding the record again);
    ``Applied.fetch`` lists ``(db, key, version)`` to ask the link's source
    for, until a state at least that new is installed (``key_state`` there,
    ``install`` here).
``key_state(db, key) -> KeyState`` / ``install(state) -> bool``
    the versioned state of one key, and installing one if it is newer.
``slot_digests()``, ``slot_entries(slots)``, ``flush_versions``,
``adopt_flush(db, version)``
    anti-entropy.
``snapshot_states()`` / ``finish_snapshot(vector)``
    full sync: every versioned key, then the vector merge and log reset
    (the driver then takes a checkpoint and restarts the links that pull
    from us: their positions are gone with our old log).
``peer_vector(vector)``
    a receiver's HELLO vector (op ids of ours it holds are never reused).
``has_unversioned()`` / ``log_unversioned() -> int``
    keys from before global replication was on.
``checkpoint() -> bytes`` / ``restore_checkpoint(bytes) -> lsn`` /
``replay(record)``
    restart from durable state.
``vector``
    origin -> highest op id held (applied or made here).
``conflicts``, ``applied_ops``, ``local_ops``, ``apply_errors``
    counters for INFO global.
``stream``
    set by the driver while this server writes a classic replication
    stream: called with each stream item (see below).
``standby``
    a ``gstandby.Standby`` while this server is a classic replica of a
    member, else None.

Classic replicas (G6)
=====================
A classic replica of a member keeps a copy of its log and versions, so
that, promoted, it carries the member's links on by op id
(``gstandby.py`` has the item format and the replica's side). Here, the
master's side: the member is the funnel's *last* sink, so every effect is
in the classic stream before the member describes it; then, with
``stream`` set, it hands over the item: every record it appends (local
ops, applied ops, heartbeats: the record's framed bytes), then a *key
stamp* for every key whose state is not what a replica reading the record
alone would set (the op was resolved for the local state or waits for a
fetch, the key is volatile, a named key expired there), a stamp for every
state installed from outside (fetch, anti-entropy, snapshot), every expiry
and every key a full sync showed deleted, an item for a flush version
adopted outside an op and one for a log restarted by a full sync. Items
made inside a MULTI/EXEC unit wait for its end (``_stream_pending``):
the replica must see the unit's commands first. With ``standby`` set,
effects (the master's commands, run by the replica's link) make no ops:
their keys are remembered until an item names them (``Standby.dirty``),
and no heartbeat or tombstone collection runs (:meth:`tick`).

Collecting tombstones
=====================
A tombstone may go once nothing can ever make it matter again: no op
stamped before it can still reach this member, no member we take key
states from (fetches, anti-entropy, snapshots) still holds a state older
than it, and no member pulling from us still lacks the delete (it would
keep the deleted key after a full sync that no longer carries the
tombstone). Each member works that out from numbers its links carry - no
group membership list, no extra round trips:

* ``frontier[origin]``: we hold every op of that origin stamped at or
  below it (an origin's ops arrive in op id order, and so in HLC order).
  Our own is the highest stamp in our log: our later ops are stamped
  above it, also after a restart (the log seeds the HLC; a state
  installed from outside moves the HLC too, but is not in the log).
* ``local_stable()``: the lowest frontier over every origin we know of (an
  origin in our vector with no frontier yet counts as 0): we hold every op
  stamped at or below it, and our states show them (a key waiting for a
  fetched state counts at its current version). It is 0 while one of our
  sources never sent STABLE (since our start): that source may hold ops of
  origins we never heard of. It stays below every state changed outside
  the log since the last checkpoint (a crash would undo it: the driver
  calls :meth:`checkpoint_mark` / :meth:`checkpoint_done`).
* A source, once its receiver is caught up, sends STABLE in the stream
  after the ops: its frontiers (the receiver then holds what they vouch
  for, and learns of origins it has not heard from yet) and the
  ``local_stable()`` of itself and of every member upstream of it
  (``upstream``: the lowest values say who may still hold a state
  older than a tombstone). Values only grow: what was vouched for stays
  true, on disk, since every message leaves after the log flush.
* A receiver echoes its own ``local_stable()`` back (``downstream``) with
  its ``gc_want()``; a receiver that said HELLO but has not echoed yet
  counts as 0.
* ``gc_horizon()`` is the lowest of all of these; :meth:`tick` drops
  tombstones whose version's timestamp is below it (the version table
  entry with it).

An idle member's HLC does not move, so the horizon would stop below the
last delete: while tombstones wait (ours, or a receiver's ``gc_want()``),
a member with no op for ``beat_ms`` and none stamped above the waiting
tombstones (``gc_want()``, passed upstream in STABLE) logs a *heartbeat*: a record whose only
command is ``PING`` and which names no key; it is forwarded like any op,
moves every frontier and HLC it reaches and changes no data.

Members that are gone for good would hold the horizon forever: a value
that has not grown for ``gc_forget_ms`` (the driver sets it to
``global-log-max-age``) no longer counts. A member that comes back after
that, or a member that took writes before it ever reached the group, may
bring back a key deleted while the others could not count it.

Not handled here: SWAPDB (it moves whole databases without versions; the
driver should refuse it while global replication is on).
"""

from __future__ import annotations

import struct
import zlib
from itertools import islice
from typing import Callable, NamedTuple

from ..executor import run as _run_command
from ..blocking import serve_ready_keys
from ..persistence import rdb
from ..types.versions import VersionTable
from .globallog import KeyVersion, Record
from .hlc import HLC, LOGICAL_BITS

# -- versions -------------------------------------------------------------------

EPOCH_MS = 1_577_836_800_000     # 2020-01-01T00:00:00Z
COUNTER_BITS = 6
SERVER_BITS = 16
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
_SERVER_MASK = (1 << SERVER_BITS) - 1
_MAX_OPID = (1 << 64) - 1
# Op ids reserved at a time by the durable mark (GlobalMember.reserve_opids):
# after a crash, a member's op ids skip at most this many.
OPID_RESERVE = 1 << 20
_MS_SHIFT = COUNTER_BITS + SERVER_BITS
_MS_MAX = (1 << (64 - _MS_SHIFT)) - 1
# The counter bits of an HLC timestamp of ours (the clock keeps them
# within COUNTER_BITS).
_TS_COUNTER = (1 << LOGICAL_BITS) - 1


def make_version(ts: int, server_id: int) -> int:
    """The version of a key written by an op stamped ``ts`` (an HLC value
    whose counter fits COUNTER_BITS) at ``server_id``."""
    ms = (ts >> LOGICAL_BITS) - EPOCH_MS
    counter = ts & ((1 << LOGICAL_BITS) - 1)
    if not 0 <= ms <= _MS_MAX or counter > _COUNTER_MASK:
        raise ValueError(f"timestamp {ts:#x} does not fit a version")
    return (ms << _MS_SHIFT) | (counter << SERVER_BITS) | server_id


def version_ts(version: int) -> int:
    """The HLC timestamp a version was made from (inverse of make_version)."""
    ms = (version >> _MS_SHIFT) + EPOCH_MS
    return (ms << LOGICAL_BITS) | ((version >> SERVER_BITS) & _COUNTER_MASK)


def version_origin(version: int) -> int:
    return version & _SERVER_MASK


def key_slot(key: bytes, slots: int) -> int:
    """Anti-entropy slot of a key: crc32, the same in every process (never
    Python's salted hash)."""
    return zlib.crc32(key) % slots


_M64 = (1 << 64) - 1
_crc32 = zlib.crc32


def entry_hash(db: int, kc: int, version: int) -> int:
    """What one live key adds (by xor) to its slot's digest: the hash of
    the tuple (database, crc32 ``kc`` of its name, version). A tuple of
    ints hashes alike in every process (only str and bytes hashes are
    salted) and on every 64-bit CPython since 3.8, and it is cheap, which
    matters: members keep digests up to date on every write. A signed
    64-bit value; digests are taken mod 2**64 when read."""
    return hash((db, kc, version))


# -- records the links carry -------------------------------------------------------

# KeyState.flags
PRESENT = 1       # the key holds a value (payload is a DUMP payload)
EXPIRED = 2       # absent because it expired (its state had a TTL)


class KeyState(NamedTuple):
    """One key's versioned state, as KEYVALUE and snapshots carry it.
    ``expire`` is the absolute expiry in ms, 0 for none; ``payload`` a
    DUMP payload (RDB value + RDB version + CRC-64), empty when absent."""
    db: int
    key: bytes
    version: int
    flags: int
    expire: int
    payload: bytes


_STATE_HEAD = struct.Struct("<HQBQI")   # db, version, flags, expire, key length


def state_bytes(st: KeyState) -> bytes:
    """A key state's wire form (glink's KEYVALUE body, checkpoint entries):
    db u16, version u64, flags u8, expire u64, key length u32, key, payload
    (to the end)."""
    return _STATE_HEAD.pack(st.db, st.version, st.flags, st.expire, len(st.key)) + st.key \
        + st.payload


def state_from_bytes(b: bytes) -> KeyState:
    """Inverse of state_bytes; ValueError when ``b`` is too short."""
    try:
        db, version, flags, expire, klen = _STATE_HEAD.unpack_from(b, 0)
    except struct.error:
        raise ValueError("key state cut short") from None
    p = _STATE_HEAD.size
    if p + klen > len(b):
        raise ValueError("key state cut short")
    return KeyState(db, b[p:p + klen], version, flags, expire, b[p + klen:])


CHECKPOINT_MAGIC = b"\x89GCKP\r\n\x1a"
_CP_HEAD = struct.Struct("<8sQQI")      # magic, log LSN, HLC last, vector entries
_U32 = struct.Struct("<I")


class CheckpointError(ValueError):
    """Bytes that are not a whole, intact checkpoint."""


class Applied(NamedTuple):
    status: str          # "duplicate", "applied" or "resolved"
    fetch: list          # (db, key, wanted version) to fetch from the source


DUPLICATE = Applied("duplicate", [])
HEARTBEAT = Applied("heartbeat", [])
_HEARTBEAT = [[b"PING"]]

# Commands whose effect on each key they name does not depend on the key's
# prior state (whole-value writes); see _whole_states.
_DEL_NAMES = (b"DEL", b"UNLINK")


def _whole_states(db: int, commands: list):
    """``{(db, key): (value or None, pxat or 0)}``: the final state of every
    key a unit of whole-value writes leaves, or None when a command in it
    depends on prior state."""
    out = {}
    cur = db
    for args in commands:
        name = args[0].upper()
        if name == b"SELECT":
            cur = int(args[1])
        elif name in _DEL_NAMES:
            for k in args[1:]:
                out[(cur, k)] = (None, 0)
        elif name == b"SET":
            pxat = 0
            if len(args) == 5 and args[3].upper() == b"PXAT":
                pxat = int(args[4])
            elif len(args) != 3:
                return None
            out[(cur, args[1])] = (args[2], pxat)
        elif name == b"FLUSHDB" or name == b"FLUSHALL":
            # The flush itself is applied by its flush version; keys the
            # unit wrote before it in those databases end absent.
            for k in out:
                if name == b"FLUSHALL" or k[0] == cur:
                    out[k] = (None, 0)
        elif name == b"MSET":
            for i in range(1, len(args) - 1, 2):
                out[(cur, args[i])] = (args[i + 1], 0)
        elif name == b"RESTORE" and len(args) == 6 and args[4].upper() == b"REPLACE" \
                and args[5].upper() == b"ABSTTL":
            # A state an op shipped (GlobalMember._state_commands).
            out[(cur, args[1])] = (_Payload(args[3]), int(args[2]))
        else:
            return None
    return out


_tuple_new = tuple.__new__


class _Payload(bytes):
    """A DUMP payload in a whole-value state (a RESTORE), not a string."""


_EXPIRE_COMMANDS = frozenset((b"PEXPIREAT", b"EXPIREAT", b"PEXPIRE", b"EXPIRE", b"SETEX",
                              b"PSETEX", b"GETEX"))
_EXPIRE_OPTIONS = frozenset((b"PXAT", b"EXAT", b"PX", b"EX"))


def _sets_expiry(commands: list) -> bool:
    """Whether a command gives a key an expiry: what it leaves then depends
    on the clock of whoever runs it (a time already past deletes, or makes
    a later command of the unit find the key gone)."""
    for args in commands:
        name = args[0].upper()
        if name in _EXPIRE_COMMANDS:
            return True
        if name == b"SET" and any(a.upper() in _EXPIRE_OPTIONS for a in args[3:]):
            return True
        if name == b"RESTORE" and len(args) > 2 and args[2] != b"0":
            return True
    return False


def _flushed_dbs(db: int, commands: list, ndbs: int) -> list:
    """Databases a unit empties with FLUSHDB/FLUSHALL."""
    out = []
    cur = db
    for args in commands:
        name = args[0].upper()
        if name == b"SELECT":
            cur = int(args[1])
        elif name == b"FLUSHDB":
            if cur not in out:
                out.append(cur)
        elif name == b"FLUSHALL":
            return list(range(ndbs))
    return out


def _same_digests(a: list, b: list) -> bool:
    """Per-database kept digests compared (None and all zeros agree)."""
    def norm(d):
        return d if d is not None and any(d) else None
    return all(norm(x) == norm(y) for x, y in zip(a, b))


class _MemberVersions(VersionTable):
    """The keyspace's version table with the member's hooks: a write records
    the key (and its version before) into the op being built; an expiry
    marks the key an expired tombstone."""

    __slots__ = ("member",)

    def __init__(self, member) -> None:
        super().__init__(None)
        self.member = member

    def clear(self) -> None:
        member = self.member
        VersionTable.__init__(self, None)
        self.member = member
        # No version, nothing counted in the anti-entropy digests.
        member._dig = [None] * len(member._dig)

    def bump(self, db: int, key: bytes) -> None:
        m = self.member
        t = m._touched
        k = (db, key)
        if k not in t:
            # m.before_version inlined (this runs on every local write).
            v = self.get(db, key)
            t[k] = 0 if v <= m.flush_versions[db] or k in m.tombs else v

    def expired(self, db: int, key: bytes) -> None:
        m = self.member
        v = self.get(db, key)
        if v > m.flush_versions[db]:
            k = (db, key)
            if k not in m.tombs:
                m._dig_flip(db, key, v)
            m.tombs[k] = True
        # The DEL the keyspace sends next is the expiry's, not an op.
        m._expiry_del = (db, key)


class GlobalMember:
    """One member of a global replication group (see the module doc)."""

    def __init__(self, core, server_id: int, log, clock: Callable[[], int], *,
                 slots: int = 1024, hlc_last: int = 0) -> None:
        if not 1 <= server_id <= _SERVER_MASK:
            raise ValueError("ServerID must be in 1..65535")
        self.core = core
        self.ks = core.ks
        self.server_id = server_id
        self.log = log
        self.clock = clock
        self.slots = slots
        # The wall clock the HLC reads never goes below 2020, so every
        # timestamp packs into a version.
        self.hlc = HLC(clock, max(log.max_ts, hlc_last), logical_bits=COUNTER_BITS,
                       min_wall_ms=EPOCH_MS)
        self.versions = _MemberVersions(self)
        self.ks.versions = self.versions
        ndbs = len(self.ks.dbs)
        # Per database: keys versioned below it are gone.
        self.flush_versions = [0] * ndbs
        # (db, key) -> True when absent by expiry, False when deleted:
        # every absent key that still has a version (tombstones).
        self.tombs: dict = {}
        # (db, key) whose current state has a TTL (expired or not).
        self.ttl_keys: set = set()
        # Per database, None or per slot the xor of entry_hash over its
        # *counted* keys: those with a version above the database's flush
        # version and no tombstone (every live versioned key, by the
        # invariants; expired ones still present are taken out when the
        # digests are read). Kept up to date wherever a version, a
        # tombstone or a flush version changes, so anti-entropy reads the
        # digests without walking the keyspace.
        self._dig: list = [None] * len(self.ks.dbs)
        self.digest_recounts_differed = 0
        # (db, key) whose current state came from outside our log (a fetch,
        # a snapshot): local ops on them ship states (_replay_unsafe).
        # Empty after a restart: the dataset is then what the log rebuilt.
        self.volatile: set = set()
        # origin -> highest op id held (made here, applied or snapshotted).
        self.vector: dict = log.vector
        self.listeners: list = []
        # Databases whose flush version came from outside our log (a
        # digest, a snapshot): like volatile keys, for all their keys.
        self.volatile_dbs: set = set()
        # (db, key) -> version a replay could not rebuild (a received op
        # whose before-state came from outside the log): every link asks
        # its source for them as it connects.
        self.replay_wants: dict = {}
        # Callables f(state) told of every key state installed from outside
        # (no op carries it): source links push it on, so a repair made
        # here reaches the members pulling from us without waiting for
        # their next anti-entropy round.
        self.installed: list = []
        # The ReceiverLinks pulling into this member (they register
        # themselves): want() asks them for a key version we lack.
        self.receivers: list = []
        # Called with each record this member applied from others (the
        # simulation counts applications per op id with it).
        self.on_applied = None
        # Tombstone collection (see the module doc): origin -> frontier;
        # member -> [its local_stable, ms when it last grew] for members
        # upstream (from STABLE) and for our receivers (their echoes); how
        # long a value that stopped growing still counts; the heartbeat
        # period; the highest HLC time below which a receiver said
        # tombstones wait; the stamp of our last op.
        self.frontier: dict = {}
        self.upstream: dict = {}
        self.downstream: dict = {}
        # member -> the value it had when it was forgotten.
        self._forgotten: dict = {}
        self.gc_forget_ms = 7 * 86_400_000
        self.beat_ms = 1000
        self.stable_ms = 100
        self.want_ts = 0
        self._own_ts = 0
        self._idle_ops = -1
        self._idle_since = 0
        self.beats = 0
        self.tombs_collected = 0
        # The highest horizon a collection round used (see holds()), and
        # keys a full sync showed deleted (drop_stale).
        self.gc_floor = 0
        self.stale_dropped = 0
        # Live keys without a version the last restore_checkpoint brought
        # (a checkpoint taken before log_unversioned finished).
        self.unversioned_restored = 0
        # States changed outside the log (installs, adopted flushes, stale
        # keys dropped) since the last checkpoint: a crash would undo them,
        # so local_stable() stays below them until a checkpoint holds them.
        # [seq, stamp] with stamps increasing (a running minimum).
        self._undurable: list = []
        self._undurable_seq = 0
        self.conflicts = 0
        self.applied_ops = 0
        self.local_ops = 0
        self.apply_errors = 0
        self.last_apply_error = None
        # Op ids of ours that a peer holds but our log lost (a crash under
        # fsync everysec/no after they were shipped): never reuse them.
        self._opid_floor = 0
        # The same after a crash, before any peer says what it holds: the
        # owner keeps a durable mark above every op id handed out
        # (``reserve_opids(mark)``, called as op ids reach the last mark;
        # it must not raise), and after a crash starts this member's op ids
        # above it (``_opid_floor``). None: no such mark (the simulation,
        # tests).
        self.reserve_opids: Callable[[int], None] | None = None
        self._opid_reserved = 0
        # Op capture: keys written since the current op opened -> version
        # before; the commands of an open MULTI/EXEC or script unit.
        self._touched: dict = {}
        # Command name as sent -> _simple_kind of it; -> its Command, for
        # the ops _execute runs.
        self._simple_kinds: dict = {}
        self._commands: dict = {}
        self._unit = None
        self._unit_db = 0
        self._unit_cur = 0
        self._applying = 0
        self._expiry_del = None
        # The internal client received ops run on: kind "master" as a
        # replica's master link (no OOM refusals, expired keys restored as
        # they are), gates bypassed (executor.run), never blocking.
        self._client = core.new_client()
        self._client.kind = "master"
        self._client.authenticated = True
        self._client.deny_blocking = True
        self._client.name = b"global-apply"
        # Classic replicas (gstandby): ``stream`` is set by the driver while
        # this server writes a classic replication stream (a master with a
        # backlog): called with each stream item's payload, in order after
        # the data it describes; items made inside a MULTI/EXEC unit wait
        # in ``_stream_pending`` for its end. ``standby`` is a
        # gstandby.Standby while this server is a classic replica of a
        # member: then writes make no ops.
        self.stream = None
        self._stream_pending: list = []
        self.standby = None
        # Last: a record must reach the classic stream after the commands
        # it describes, so the stream's sink sees every effect first.
        core.funnel.subscribe(self, last=True)

    def close(self) -> None:
        """Detaches from the core (the log stays the caller's)."""
        self.core.funnel.unsubscribe(self)
        self.ks.versions = None
        self.core.remove_client(self._client)

    # -- versions ------------------------------------------------------------------

    def version_of(self, db: int, key: bytes) -> int:
        """The effective version of a key: its own, or its database's flush
        version when that is higher (0: never written while versioned)."""
        v = self.versions.get(db, key)
        f = self.flush_versions[db]
        return v if v > f else f

    def before_version(self, db: int, key: bytes) -> int:
        """A key's version as an op records it before changing it (called
        before the op's versions are set, maybe after its data changed): 0
        when the key was absent, whatever tombstone it had. An absent key
        is the same state everywhere, so a member holding it absent applies
        the op as it is (if the op is newer than its tombstone), whether or
        not its tombstone is still there (members collect them at their
        own pace)."""
        v = self.versions.get(db, key)
        if v <= self.flush_versions[db] or (db, key) in self.tombs:
            return 0
        return v

    def _set_version(self, db: int, key: bytes, version: int, expired: bool = False) -> None:
        """Stores ``version`` for a key whose new state is in place, and
        keeps the tombstone and TTL sets and the slot digests in step with
        the data."""
        k = (db, key)
        f = self.flush_versions[db]
        versions = self.versions
        old = versions.get(db, key)
        # The slot digest (_dig_flip inlined: this runs on every write).
        dig = self._dig[db]
        if dig is None:
            dig = self._dig[db] = [0] * self.slots
        kc = _crc32(key)
        slot = kc % self.slots
        if old > f and k not in self.tombs:
            dig[slot] ^= hash((db, kc, old))
        versions.set(db, key, version)
        d = self.ks.dbs[db]
        if key in d.data:
            self.tombs.pop(k, None)
            ttl = key in d.expires
            if version > f:
                dig[slot] ^= hash((db, kc, version))
        else:
            self.tombs[k] = expired
            ttl = expired
        if ttl:
            self.ttl_keys.add(k)
        else:
            self.ttl_keys.discard(k)

    def _dig_flip(self, db: int, key: bytes, version: int) -> None:
        """Adds a counted key to its slot's digest, or takes it out."""
        kc = _crc32(key)
        dig = self._dig[db]
        if dig is None:
            dig = self._dig[db] = [0] * self.slots
        dig[kc % self.slots] ^= entry_hash(db, kc, version)

    def _time_hazard(self, db: int, key: bytes, ts: int) -> bool:
        """Whether the key's expiry may read differently here than it did at
        the origin of an op stamped ``ts``: a TTL not after both the op's
        time and our now, or a tombstone left by expiry."""
        when = self.ks.dbs[db].expires.get(key)
        if when is not None:
            return when <= max(ts >> LOGICAL_BITS, self.clock())
        return self.tombs.get((db, key), False)

    # -- the funnel sink: local writes become ops ---------------------------------

    def effect(self, db: int, args: list) -> None:
        exp = self._expiry_del
        if exp is not None:
            self._expiry_del = None
            if exp[0] == db and len(args) == 2 and args[1] == exp[1]:
                if self.stream is not None:
                    # The DEL went into the classic stream just before.
                    self._stream_key(db, args[1])
                return
        if self._applying:
            return
        if self.standby is not None:
            self.standby.stream_effect()
            return
        if self._unit is not None:
            if not self._unit:
                self._unit_db = self._unit_cur = db
            elif db != self._unit_cur:
                self._unit.append([b"SELECT", b"%d" % db])
                self._unit_cur = db
            self._unit.append(list(args))
            return
        self._close_op(db, [list(args)])

    def unit(self, begin: bool) -> None:
        if not begin and self._stream_pending:
            # Items made inside the unit, now that its EXEC is in the stream.
            pending, self._stream_pending = self._stream_pending, []
            for payload in pending:
                self.stream(payload)
        if self._applying or self.standby is not None:
            return
        if begin:
            self._unit = []
        else:
            cmds, self._unit = self._unit, None
            if cmds:
                self._close_op(self._unit_db, cmds)

    def _close_op(self, db: int, commands: list) -> None:
        """Makes the record of one local op: stamps it, versions its keys,
        appends it to the log and tells the listeners."""
        touched, self._touched = self._touched, {}
        if len(touched) == 1 and len(commands) == 1:
            # The common op: one command that names and writes one key (SET,
            # INCR, HSET, LPUSH...). It is recorded as the general path
            # below would record it, without the work that path does to
            # find out that nothing else applies.
            args = commands[0]
            kind = self._simple_kinds.get(args[0])
            if kind is None:
                kind = self._simple_kind(args[0])
            if kind and (kind == 1 or len(args) == 3):
                for k, before in touched.items():
                    pass
                kdb, key = k
                if kdb == db and key == args[1] and key not in self.ks.dbs[db].expires \
                        and not (self.ttl_keys and k in self.ttl_keys) \
                        and not (self.volatile and k in self.volatile) \
                        and not (self.volatile_dbs and db in self.volatile_dbs):
                    # What _close_general does for it (make_version inlined).
                    sid = self.server_id
                    hlc = self.hlc
                    ts = hlc.now()
                    ms = (ts >> LOGICAL_BITS) - EPOCH_MS
                    counter = ts & _TS_COUNTER
                    if not 0 <= ms <= _MS_MAX or counter > _COUNTER_MASK:
                        make_version(ts, sid)     # raises
                    version = (ms << _MS_SHIFT) | (counter << SERVER_BITS) | sid
                    if before and version <= before:
                        # A version installed from elsewhere ran ahead of
                        # our clock: the op's version must still beat it.
                        ts = hlc.update(version_ts(before))
                        version = make_version(ts, sid)
                    # _set_version for this case, inlined: the key has no
                    # TTL (tested above) and its version before, as the
                    # digest counts it, is ``before`` (0: absent or a
                    # tombstone, so not counted).
                    kc = _crc32(key)
                    slot = kc % self.slots
                    dig = self._dig[db]
                    if dig is None:
                        dig = self._dig[db] = [0] * self.slots
                    if before:
                        dig[slot] ^= hash((db, kc, before))
                    self.versions.set(db, key, version)
                    if key in self.ks.dbs[db].data:
                        if not before and self.tombs:
                            self.tombs.pop(k, None)
                        if version > self.flush_versions[db]:
                            dig[slot] ^= hash((db, kc, version))
                    else:
                        self.tombs[k] = False
                    opid = self.log.last_opid(sid) + 1
                    if opid <= self._opid_floor:
                        opid = self._opid_floor + 1
                    if opid > self._opid_reserved:
                        self._reserve(opid)
                    rec = _tuple_new(Record, (sid, opid, ts, db, commands, [
                        _tuple_new(KeyVersion, (db, key, before, version))], 0))
                    self.log.append(rec)
                    self.vector[sid] = opid
                    self._own_ts = ts
                    self.local_ops += 1
                    for f in self.listeners:
                        f(rec)
                    if self.stream is not None:
                        self._stream_record()
                    return
        self._close_general(db, commands, touched)

    def _simple_kind(self, name: bytes) -> int:
        """How ``_close_op`` may take a command called ``name``: 1 when it
        names exactly one key, its first argument, and neither flushes nor
        sets an expiry; 2 for SET (the same, when it has no options); 0
        otherwise (the general path). Memoised per spelling of the name."""
        cmd = self.core.commands.get(name.decode("latin-1").lower())
        upper = name.upper()
        if cmd is None or cmd.keys_fn is not None or cmd.first_key != 1 \
                or cmd.last_key != 1 or upper in _EXPIRE_COMMANDS or upper == b"RESTORE":
            kind = 0
        elif upper == b"SET":
            kind = 2
        else:
            kind = 1
        if len(self._simple_kinds) < 1024:
            self._simple_kinds[name] = kind
        return kind

    def _close_general(self, db: int, commands: list, touched: dict) -> None:
        sid = self.server_id
        hlc = self.hlc
        ts = hlc.now()
        top = max(touched.values(), default=0)
        if top and make_version(ts, sid) <= top:
            # A version installed from elsewhere ran ahead of our clock:
            # the op's versions must still beat every before.
            ts = hlc.update(version_ts(top))
        flushed = _flushed_dbs(db, commands, len(self.flush_versions))
        # Versions of the keys the commands name, as the op found them
        # (before its own flush, if any, moves them).
        named = {k: self.before_version(*k) for k in self._named_keys(db, commands)}
        # Decided before the op's own flush clears the TTL and volatile
        # sets. A unit that flushes and also computes from prior state
        # ships too: on a member whose flush cannot run as it is (newer
        # keys there), the rest of the unit could not be rerun either.
        if touched and (flushed or self._replay_unsafe(touched, named, commands)) \
                and _whole_states(db, commands) is None:
            commands = self._state_commands(db, commands, touched, flushed)
            named = {}
            for k in touched:
                self.volatile.discard(k)
        if flushed:
            # The flush gets the op's stamp; keys the op wrote get a later
            # one, so a key written after the flush in the same unit
            # survives it everywhere.
            fv = make_version(ts, sid)
            version = make_version(hlc.now(), sid)
            self._local_flush(flushed, fv)
        else:
            version = make_version(ts, sid)
        keys = []
        for (kdb, key), before in touched.items():
            self._set_version(kdb, key, version)
            keys.append(KeyVersion(kdb, key, before, version))
        # Keys the commands name but did not change (DEL of a missing key,
        # the sources of SUNIONSTORE) go in with before == after: the
        # commands' effect on every member depends on their state too.
        for (kdb, key), v in named.items():
            if (kdb, key) not in touched:
                keys.append(KeyVersion(kdb, key, v, v))
        self._log_own(ts, db, commands, keys)
        self.local_ops += 1

    def _log_own(self, ts: int, db: int, commands: list, keys: list) -> None:
        """Appends an op of ours (the next op id) to the log and passes it
        on: to the listeners (source links) and the classic stream. (The
        one-key path of _close_op does the same inline.)"""
        sid = self.server_id
        opid = max(self.log.last_opid(sid), self._opid_floor) + 1
        if opid > self._opid_reserved:
            self._reserve(opid)
        rec = Record(sid, opid, ts, db, commands, keys)
        self.log.append(rec)
        self.vector[sid] = opid
        self._own_ts = ts
        for f in self.listeners:
            f(rec)
        if self.stream is not None:
            self._stream_record()

    def _reserve(self, opid: int) -> None:
        """Op id ``opid`` is about to be handed out, above the durable mark:
        move the mark ``OPID_RESERVE`` ids further (one small synchronous
        write per that many ops)."""
        hook = self.reserve_opids
        if hook is None:
            self._opid_reserved = _MAX_OPID
            return
        mark = min(opid + OPID_RESERVE, _MAX_OPID)
        hook(mark)
        self._opid_reserved = mark

    def _replay_unsafe(self, touched: dict, named: dict, commands: list) -> bool:
        """Whether replaying the op's commands on the state its befores name
        could give another result than here: a key it reads or writes has a
        TTL (before or after: expiry reads the clock, which differs between
        members and between now and a replay after a restart), a command
        sets one (PEXPIREAT deletes when its time is past: later it would),
        or a key's state came from outside our log (a fetch or snapshot: a
        replay of our log alone cannot rebuild it)."""
        if _sets_expiry(commands):
            return True
        ttl, vol, vdbs = self.ttl_keys, self.volatile, self.volatile_dbs
        dbs = self.ks.dbs
        for k in touched:
            if k in ttl or k in vol or k[1] in dbs[k[0]].expires or k[0] in vdbs:
                return True
        for k in named:
            if k in ttl or k in vol or k[0] in vdbs:
                return True
        return False

    def _state_commands(self, db: int, commands: list, touched: dict, flushed: list) -> list:
        """The op rewritten as the states it left: per touched key a DEL or
        a RESTORE .. REPLACE ABSTTL of its value and absolute expiry (after
        the op's flushes, if any). Whole-value, so every member and every
        replay installs exactly this state, whatever its clock says."""
        out = []
        cur = db
        if len(flushed) == len(self.flush_versions):
            out.append([b"FLUSHALL"])
        else:
            for d in flushed:
                if d != cur:
                    out.append([b"SELECT", b"%d" % d])
                    cur = d
                out.append([b"FLUSHDB"])
        dbs = self.ks.dbs
        for kdb, key in touched:
            if kdb != cur:
                out.append([b"SELECT", b"%d" % kdb])
                cur = kdb
            d = dbs[kdb]
            value = d.data.get(key)
            if value is None:
                out.append([b"DEL", key])
            else:
                out.append([b"RESTORE", key, b"%d" % d.expires.get(key, 0),
                            rdb.dump_payload(value), b"REPLACE", b"ABSTTL"])
        if cur != db:
            out.append([b"SELECT", b"%d" % db])
        return out

    def _named_keys(self, db: int, commands: list) -> dict:
        """``{(db, key): None}`` of every key the commands name, by the
        command table's key positions."""
        lookup = self.core.commands.get
        out = {}
        cur = db
        for args in commands:
            cmd = lookup(args[0].decode("latin-1").lower())
            if cmd is None:
                continue
            if cmd.name == "select":
                cur = int(args[1])
                continue
            for k in cmd.keys(args):
                out[(cur, k)] = None
        return out

    def _local_flush(self, dbs: list, fv: int) -> None:
        """This member flushed ``dbs`` itself: the data is gone already."""
        for d in dbs:
            self.flush_versions[d] = fv
            # Every key counted there was older than the flush.
            self._dig[d] = None
        if len(dbs) == len(self.flush_versions):
            self.tombs.clear()
            self.ttl_keys.clear()
            self.volatile.clear()
            self.volatile_dbs.clear()
            # Every entry is below the flush versions now.
            self.versions.clear()
        else:
            self._drop_tombs_below(dbs, fv)

    def _drop_tombs_below(self, dbs, fv: int) -> None:
        get = self.versions.get
        for k in [k for k in self.tombs if k[0] in dbs and get(*k) <= fv]:
            del self.tombs[k]
            self.versions.remove(*k)

    # -- the classic stream of a member with replicas (gstandby) -------------------

    def _stream_item(self, payload: bytes) -> None:
        if self.core.funnel.in_unit:
            # Inside a MULTI/EXEC the item would run before the unit's
            # commands on the replica: it waits for the EXEC (unit()).
            self._stream_pending.append(payload)
        else:
            self.stream(payload)

    def _stream_record(self) -> None:
        """The record just appended to the log, as the log framed it (the
        replica relabels it with its own LSN)."""
        self._stream_item(gstandby.record_item(bytes(self.log.last_append[1])))

    def _stream_key(self, db: int, key: bytes) -> None:
        self._stream_item(gstandby.stamp_item(db, key, self.versions.get(db, key),
                                              gstandby.key_flags(self, db, key)))

    def _stream_outcome(self, rec: Record) -> None:
        """After an applied record: a stamp for each key whose state here is
        not what a replica reading the record alone would set (the record's
        *after* version, deleted when absent, not volatile): keys resolved
        for the local state or waiting for a fetch, volatile ones, named
        keys that became expired tombstones."""
        get = self.versions.get
        tombs, vol = self.tombs, self.volatile
        dbs = self.ks.dbs
        for kdb, key, before, after in rec.keys:
            k = (kdb, key)
            if before != after:
                if get(kdb, key) == after and not tombs.get(k) and k not in vol \
                        and (key in dbs[kdb].data or k in tombs):
                    continue
            elif not tombs.get(k) and k not in vol:
                continue
            self._stream_key(kdb, key)

    # -- collecting tombstones (module doc) -----------------------------------------

    def local_stable(self) -> int:
        """We hold every op stamped at or below this, and our states show
        them, but for keys still waiting for a fetched state: those count
        at their current version (module doc)."""
        now = self.clock()
        for r in self.receivers:
            if r.vouched is None and now - r.created <= self.gc_forget_ms:
                # A source that never sent STABLE (down, or partitioned
                # since we started) may hold ops of origins we never heard
                # of, stamped anywhere.
                return 0
        t = self.log.max_ts
        if self._undurable:
            u = self._undurable[0][1] - 1
            if u < t:
                t = u
        get = self.version_of
        for wants in [r.wants for r in self.receivers] + [self.replay_wants]:
            for k, w in wants.items():
                have = get(*k)
                if have < w and not self.holds(k[0], k[1], w):
                    f = version_ts(have) if have else 0
                    if f < t:
                        t = f
        frontier = self.frontier
        me = self.server_id
        for o in self.vector:
            if o != me:
                f = frontier.get(o, 0)
                if f < t:
                    t = f
        for f in frontier.values():
            if f < t:
                t = f
        return t

    def stable_frontiers(self) -> dict:
        """The frontiers a STABLE message vouches for (ours included)."""
        out = dict(self.frontier)
        out[self.server_id] = self.log.max_ts
        return out

    def stable_members(self) -> dict:
        """``local_stable()`` of this member and of those upstream, for a
        STABLE message."""
        out = {sid: v[0] for sid, v in self.upstream.items()}
        out[self.server_id] = self.local_stable()
        return out

    def heard_stable(self, frontiers: dict, members: dict) -> None:
        """A source's STABLE: it vouches for ``frontiers`` (we are caught up
        with it, so we hold those ops now) and tells the local_stable of
        the members upstream."""
        me = self.server_id
        frontier = self.frontier
        for o, f in frontiers.items():
            if o != me and f > frontier.get(o, 0):
                frontier[o] = f
        self._merge(self.upstream, members)

    def heard_downstream(self, sid: int, value: int, wants: int) -> None:
        """A receiver's echo (or its HELLO, with ``value`` 0): it holds every
        op of ours stamped at or below ``value``; tombstones stamped at or
        below ``wants`` wait there or further down."""
        self._merge(self.downstream, {sid: value})
        if wants > self.want_ts:
            self.want_ts = wants

    def gc_want(self) -> int:
        """Tombstones stamped at or below this wait here or downstream (0:
        none): every origin upstream should log an op stamped above it."""
        if self.tombs and self.hlc.last > self.want_ts:
            return self.hlc.last
        return self.want_ts

    def _merge(self, table: dict, values: dict) -> None:
        now = self.clock()
        me = self.server_id
        forgotten = self._forgotten
        for sid, v in values.items():
            if sid == me:
                continue
            if forgotten and sid in forgotten:
                # Other members still pass on what it last said: only a
                # value that grew (it is back) counts again.
                if v <= forgotten[sid]:
                    continue
                del forgotten[sid]
            entry = table.get(sid)
            if entry is None:
                table[sid] = [v, now]
            elif v > entry[0]:
                entry[0] = v
                entry[1] = now

    def _undone_by_crash(self, version: int) -> None:
        """A state stamped ``version`` changed outside the log."""
        ts = version_ts(version)
        u = self._undurable
        while u and u[-1][1] >= ts:
            u.pop()
        self._undurable_seq += 1
        u.append([self._undurable_seq, ts])

    @property
    def has_undurable(self) -> bool:
        """Whether states changed outside the log wait for a checkpoint."""
        return bool(self._undurable)

    def checkpoint_mark(self) -> int:
        """Call as a checkpoint starts; pass the result to
        :meth:`checkpoint_done` once it is on disk."""
        return self._undurable_seq

    def checkpoint_done(self, mark: int) -> None:
        u = self._undurable
        while u and u[0][0] <= mark:
            u.pop(0)

    def gc_horizon(self) -> int:
        """Tombstones whose version is stamped below this may go."""
        t = self.local_stable()
        now = self.clock()
        forget = self.gc_forget_ms
        for table in (self.upstream, self.downstream):
            for sid, (v, grew) in list(table.items()):
                if now - grew > forget:
                    del table[sid]
                    self._forgotten[sid] = v
                elif v < t:
                    t = v
        return t

    def tick(self, now_ms: int, budget: int = 20_000) -> None:
        """Periodic work (the driver calls it every few ms): a heartbeat
        when tombstones wait and we made no op for ``beat_ms``, then a
        round of collection (at most ``budget`` tombstones looked at).
        Nothing in standby: tombstones the master collects stay here until
        promotion, and a replica logs no heartbeats of its own."""
        if self.standby is not None:
            return
        if self.local_ops != self._idle_ops:
            self._idle_ops = self.local_ops
            self._idle_since = now_ms
        elif now_ms - self._idle_since >= self.beat_ms and self._own_ts <= self.gc_want():
            self._beat()
            self._idle_since = now_ms
        if self.tombs:
            self._collect(budget)
        else:
            h = self.gc_horizon()
            if h > self.gc_floor:
                self.gc_floor = h

    def _beat(self) -> None:
        """Logs a heartbeat: a record of one PING naming no key, which moves
        the HLC of every member it reaches and changes nothing. Only an
        origin beats: no frontier waits for a member that never wrote."""
        if not self.vector.get(self.server_id):
            return
        self._log_own(self.hlc.now(), 0, [[b"PING"]], [])
        self.beats += 1

    def _collect(self, budget: int) -> None:
        """Drops tombstones below the horizon, oldest entries first. One
        still needed goes to the back; the newest tombstones are at the
        back already, so a run of needed ones ends the round."""
        horizon = self.gc_horizon()
        if horizon > self.gc_floor:
            self.gc_floor = horizon
        tombs = self.tombs
        get = self.versions.get
        remove = self.versions.remove
        flush = self.flush_versions
        kept_in_row = 0
        for k in list(islice(tombs, budget)):
            v = get(*k)
            if version_ts(v) < horizon or v <= flush[k[0]]:
                del tombs[k]
                remove(*k)
                self.ttl_keys.discard(k)
                self.volatile.discard(k)
                self.tombs_collected += 1
                kept_in_row = 0
            else:
                tombs[k] = tombs.pop(k)
                kept_in_row += 1
                if kept_in_row >= 64:
                    break

    # -- applying ops from other members ----------------------------------------------

    def apply(self, rec: Record, encoded=None) -> Applied:
        """Applies one op received on a link, by the rule in the module doc,
        and forwards it (appends it to our log). ``encoded``: the record's
        framed bytes as received, if at hand (the log keeps them)."""
        origin = rec.origin
        if origin == self.server_id or rec.opid <= self.vector.get(origin, 0):
            return DUPLICATE
        res = self._apply_rule(rec)
        self.log.append(rec, encoded)
        self.vector[origin] = rec.opid
        self.frontier[origin] = rec.ts
        self.applied_ops += 1
        if self.on_applied is not None:
            self.on_applied(rec)
        for f in self.listeners:
            f(rec)
        if self.stream is not None:
            self._stream_record()
            self._stream_outcome(rec)
        return res

    def replay(self, rec: Record) -> Applied:
        """Re-applies a record of our own durable log at start-up (rebuilding
        the dataset from the log): the same rule, local ops included, nothing
        appended or forwarded. Keys it cannot recompute are left to
        anti-entropy (``Applied.fetch``)."""
        res = self._apply_rule(rec)
        if rec.opid > self.vector.get(rec.origin, 0):
            self.vector[rec.origin] = rec.opid
            if rec.origin != self.server_id:
                self.frontier[rec.origin] = rec.ts
        rw = self.replay_wants
        for db, key, version in res.fetch:
            if version > rw.get((db, key), 0):
                rw[(db, key)] = version
        return res

    def _apply_rule(self, rec: Record) -> Applied:
        origin = rec.origin
        self.hlc.update(rec.ts)
        if not rec.keys and rec.commands == _HEARTBEAT:
            return HEARTBEAT
        commands = rec.commands
        keys = rec.keys
        if len(commands) == 1 and len(keys) == 1:
            # The common op: one command naming and changing one key (see
            # _simple_kind), made on the state held here. The general path
            # below would find it clean and run it; this does the same
            # without its flush, whole-state and expiry bookkeeping.
            args = commands[0]
            kind = self._simple_kinds.get(args[0])
            if kind is None:
                kind = self._simple_kind(args[0])
            kdb, key, before, after = keys[0]
            if kind and (kind == 1 or len(args) == 3) and before != after and kdb == rec.db \
                    and key == args[1] and self.version_of(kdb, key) == before:
                # A SET without options is a whole-value write: no clock
                # hazard; anything else must not read an expiry that
                # differs here.
                if kind == 2 or not self._time_hazard(kdb, key, rec.ts):
                    k = (kdb, key)
                    vol = self.volatile
                    tainted = bool(vol) and k in vol
                    self._execute(kdb, commands)
                    if tainted:
                        vol.add(k)
                    self._set_version(kdb, key, after)
                    return _tuple_new(Applied, ("applied", []))
        ndbs = len(self.flush_versions)
        flushed = _flushed_dbs(rec.db, rec.commands, ndbs)
        fv = make_version(rec.ts, origin) if flushed else 0
        whole = _whole_states(rec.db, rec.commands)
        clean = True
        dbs = self.ks.dbs
        # Keys absent at the origin that are still here only because their
        # expiry has not removed them yet (logically absent: the same state).
        due = []
        for kdb, key, before, after in rec.keys:
            local = self.version_of(kdb, key)
            if local == before:
                if whole is None and self._time_hazard(kdb, key, rec.ts):
                    clean = False
                    break
            elif before or local >= after > before:
                # (Absent at the origin and here is the same state, unless
                # our tombstone is newer than what the op wrote.)
                clean = False
                break
            elif key in dbs[kdb].data:
                # Due as the keyspace judges it (_expire_if_needed: once
                # now is past the expiry time).
                when = dbs[kdb].expires.get(key)
                if when is None or when >= self.clock():
                    clean = False
                    break
                due.append((kdb, key))
        if clean and whole is None and _sets_expiry(rec.commands):
            # Ours ship such ops as states; one that did not cannot be run
            # here with the origin's sense of time.
            clean = False
        if clean and flushed:
            # Running the flush would also delete keys newer than it.
            for d in flushed:
                if self._has_version_above(d, fv):
                    clean = False
                    break
        fetch = []
        if clean:
            for kdb, key in due:
                # Removed as its expiry would (the internal client running
                # the op sees expired keys as they are): the op then finds
                # the key absent, as at its origin.
                if key in dbs[kdb].expires:
                    dbs[kdb]._expire_if_needed(key)
            # Computed from states a replay of our log could not rebuild,
            # the result cannot be rebuilt either.
            vol = self.volatile
            tainted = bool(vol) and any((kdb, key) in vol for kdb, key, _b, _a in rec.keys)
            self._execute(rec.db, rec.commands)
            if tainted:
                for kdb, key, before, after in rec.keys:
                    if before != after:
                        vol.add((kdb, key))
            for d in flushed:
                if fv > self.flush_versions[d]:
                    self.flush_versions[d] = fv
                    # Clean: no key there was newer than the flush.
                    self._dig[d] = None
            if flushed:
                self._drop_tombs_below(flushed, fv)
            for kdb, key, before, after in rec.keys:
                if before != after:
                    self._set_version(kdb, key, after)
                elif key not in self.ks.dbs[kdb].data and (kdb, key) not in self.tombs \
                        and self.versions.get(kdb, key) > self.flush_versions[kdb]:
                    # A named key the op did not change at its origin, gone
                    # here (a DEL of it): its state had expired there.
                    self._dig_flip(kdb, key, self.versions.get(kdb, key))
                    self.tombs[(kdb, key)] = True
            status = "applied"
        else:
            for d in flushed:
                self._adopt_flush(d, fv)
            vol = self.volatile
            for kdb, key, before, after in rec.keys:
                if before == after:
                    continue          # named, not changed: nothing to resolve
                # Whether this op ran or was resolved hung on every key's
                # version; a replay whose states differ somewhere (fetched
                # ones are not in the log) may decide otherwise, so these
                # keys' states are not rebuilt by the log alone.
                vol.add((kdb, key))
                local = self.version_of(kdb, key)
                if local != before and local != after:
                    self.conflicts += 1
                if local >= after:
                    continue          # the local state wins (or is this op's)
                if whole is not None and (kdb, key) in whole:
                    value, pxat = whole[(kdb, key)]
                    self._install_whole(kdb, key, after, value, pxat)
                else:
                    fetch.append((kdb, key, after))
            status = "resolved"
        return Applied(status, fetch)

    def _has_version_above(self, db: int, fv: int) -> bool:
        get = self.versions.get
        if any(get(db, k) > fv for k in self.ks.dbs[db].data):
            return True
        return any(k[0] == db and get(*k) > fv for k in self.tombs)

    def adopt_flush(self, db: int, fv: int) -> None:
        """A flush version of database ``db`` learnt outside any op (a
        peer's digest or snapshot): applied as :meth:`_adopt_flush`, and
        the database is marked ``volatile_dbs`` - a replay of our log would
        not see this flush, so local ops computed on it ship their states."""
        if fv > self.flush_versions[db]:
            self._adopt_flush(db, fv)
            self.volatile_dbs.add(db)
            self._undone_by_crash(fv)
            if self.stream is not None:
                self._stream_item(gstandby.flush_item(db, fv))

    def _adopt_flush(self, db: int, fv: int) -> None:
        """A flush with version ``fv`` of database ``db`` from elsewhere:
        deletes the keys versioned below it (through the executor, so
        clients and sinks see DELs), keeps later ones."""
        if fv <= self.flush_versions[db]:
            return
        # Our next ops must be stamped above it: an op records an absent
        # key's version as 0, so nothing else would lift the HLC past it.
        self.hlc.update(version_ts(fv))
        get = self.versions.get
        data = self.ks.dbs[db].data
        old = [k for k in data if get(db, k) < fv]
        if old and len(old) == len(data):
            self._execute(db, [[b"FLUSHDB"]])
        elif old:
            self._execute(db, [[b"DEL", *old]])
        # Out of the digests, after the DEL: one that found a key expired
        # made it a tombstone (and took it out) already.
        f = self.flush_versions[db]
        tombs = self.tombs
        for k in old:
            v = get(db, k)
            if v > f and (db, k) not in tombs:
                self._dig_flip(db, k, v)
        self.flush_versions[db] = fv
        self._drop_tombs_below([db], fv)
        for k in old:
            self.versions.remove(db, k)

    def _execute(self, db: int, commands: list) -> None:
        """Runs commands through the executor on the internal client, as one
        unit towards the other sinks; they never become local ops."""
        core = self.core
        c = self._client
        c.db = self.ks.dbs[db]
        cmds = self._commands
        funnel = core.funnel
        unit = len(commands) > 1
        self._applying += 1
        if unit:
            funnel.begin_unit()
        try:
            for args in commands:
                cmd = cmds.get(args[0])
                if cmd is None:
                    cmd = core.commands.get(args[0].decode("latin-1").lower())
                    if cmd is not None and len(cmds) < 1024:
                        cmds[args[0]] = cmd
                if cmd is None:
                    self.apply_errors += 1
                    continue
                reply = _run_command(c, cmd, args)
                if reply[:1] == b"-":
                    # Equal versions mean equal states, so a command that
                    # worked at its origin fails here only if that broke.
                    self.apply_errors += 1
                    self.last_apply_error = (args, reply)
        finally:
            if unit:
                funnel.end_unit()
            self._applying -= 1
            self._touched = {}
        if self.ks.ready:
            serve_ready_keys(core)

    def _install_whole(self, db: int, key: bytes, version: int, value, pxat: int) -> None:
        if value is None:
            self._execute(db, [[b"DEL", key]])
        elif type(value) is _Payload:
            self._execute(db, [[b"RESTORE", key, b"%d" % pxat, bytes(value), b"REPLACE",
                                b"ABSTTL"]])
        elif pxat:
            self._execute(db, [[b"SET", key, value, b"PXAT", b"%d" % pxat]])
        else:
            self._execute(db, [[b"SET", key, value]])
        self._set_version(db, key, version)
        self.hlc.update(version_ts(version))

    # -- durable state: the checkpoint ----------------------------------------------------

    def checkpoint(self) -> bytes:
        """This member's dataset and replication state as one blob: every
        key (values as DUMP payloads, versions, TTLs, tombstones), the
        flush versions, the vector, the HLC and the log LSN it covers, what
        our receivers hold (tombstone collection) and the key states still
        awaited for ops it covers.

        With the log, it is what a restart needs (G5): load it with
        :meth:`restore_checkpoint`, then :meth:`replay` the log's records
        after its LSN. The driver takes it only with the log flushed (so
        the dataset never claims an op the log could lose), writes it
        atomically (temporary file, fsync, rename), keeps log segments
        after its LSN, and takes one right after a full sync (which
        restarts the log)."""
        vec = sorted(self.vector.items())
        parts = [_CP_HEAD.pack(CHECKPOINT_MAGIC, self.log.last_lsn, self.hlc.last, len(vec))]
        parts += [struct.pack("<HQ", o, v) for o, v in vec]
        parts.append(_U32.pack(len(self.flush_versions)))
        parts += [struct.pack("<Q", f) for f in self.flush_versions]
        seen = set()
        entries = []
        for d in self.ks.dbs:
            for key in d.data:
                seen.add((d.id, key))
                # Uncompressed: a checkpoint's duration bounds how far the
                # log overshoots its size limit (gdriver's retention).
                entries.append(state_bytes(self.key_state(d.id, key, False)))
        get = self.versions.get
        for k in self.tombs:
            # A tombstone at or below its database's flush version says
            # nothing the flush version does not.
            if k not in seen and get(*k) > self.flush_versions[k[0]]:
                entries.append(state_bytes(self.key_state(*k)))
        parts.append(_U32.pack(len(entries)))
        for e in entries:
            parts.append(_U32.pack(len(e)))
            parts.append(e)
        # What our receivers hold (tombstone collection): kept over a
        # restart, so a receiver that is down meanwhile still counts.
        down = sorted(self.downstream.items())
        parts.append(_U32.pack(len(down)))
        parts += [struct.pack("<HQ", sid, v) for sid, (v, _grew) in down]
        # States still awaited for ops the checkpoint covers (resolved by a
        # fetch not answered yet): after a restart they are asked for again,
        # as the log's replay would not see those ops.
        return self.sealed_with_wants(parts)

    def sealed_with_wants(self, parts: list) -> bytes:
        """``parts`` followed by the states still awaited (pending_wants:
        count, then db, version, key per entry), joined and ended with
        their CRC-32: the tail of a checkpoint and of a standby's
        full-sync metadata (gstandby.encode_meta)."""
        wants = self.pending_wants()
        parts.append(_U32.pack(len(wants)))
        for db, key, version in wants:
            parts.append(struct.pack("<HQI", db, version, len(key)))
            parts.append(key)
        body = b"".join(parts)
        return body + _U32.pack(zlib.crc32(body))

    def restore_checkpoint(self, data: bytes) -> int:
        """Loads a :meth:`checkpoint` into this (empty) member; returns the
        log LSN it covers (replay the records after it)."""
        if len(data) < _CP_HEAD.size + 4 or \
                zlib.crc32(data[:-4]) != _U32.unpack_from(data, len(data) - 4)[0]:
            raise CheckpointError("checkpoint damaged or cut short")
        magic, lsn, hlc_last, nvec = _CP_HEAD.unpack_from(data, 0)
        if magic != CHECKPOINT_MAGIC:
            raise CheckpointError("not a checkpoint")
        p = _CP_HEAD.size
        vector = {}
        for _ in range(nvec):
            o, v = struct.unpack_from("<HQ", data, p)
            vector[o] = v
            p += 10
        (nflush,) = _U32.unpack_from(data, p)
        p += 4
        flush = list(struct.unpack_from("<%dQ" % nflush, data, p))
        p += 8 * nflush
        (n,) = _U32.unpack_from(data, p)
        p += 4
        for i, f in enumerate(flush[:len(self.flush_versions)]):
            self.flush_versions[i] = f
        for _ in range(n):
            (ln,) = _U32.unpack_from(data, p)
            p += 4
            st = state_from_bytes(data[p:p + ln])
            p += ln
            if st.flags & PRESENT:
                self._execute(st.db, [[b"RESTORE", st.key, b"%d" % st.expire, st.payload,
                                       b"REPLACE", b"ABSTTL"]])
            elif st.version <= self.flush_versions[st.db]:
                continue
            if st.version:
                self._set_version(st.db, st.key, st.version, bool(st.flags & EXPIRED))
            elif st.flags & PRESENT:
                self.unversioned_restored += 1
        if p + 4 <= len(data) - 4:
            # Receivers' echoes (absent in checkpoints of older versions).
            (n,) = _U32.unpack_from(data, p)
            p += 4
            now = self.clock()
            for _ in range(n):
                sid, echo = struct.unpack_from("<HQ", data, p)
                p += 10
                self.downstream[sid] = [echo, now]
        if p + 4 <= len(data) - 4:
            (n,) = _U32.unpack_from(data, p)
            p += 4
            rw = self.replay_wants
            for _ in range(n):
                db, version, klen = struct.unpack_from("<HQI", data, p)
                p += 14
                key = bytes(data[p:p + klen])
                p += klen
                if version > rw.get((db, key), 0):
                    rw[(db, key)] = version
        for o, v in vector.items():
            if v > self.vector.get(o, 0):
                self.vector[o] = v
        if hlc_last:
            self.hlc.update(hlc_last)
        return lsn

    # -- key states: fetches, anti-entropy, snapshots ----------------------------------

    def key_state(self, db: int, key: bytes, compress: bool = True) -> KeyState:
        """The versioned state of a key as stored, expired or not (the
        receiver judges expiry by the absolute time, as we do). With
        ``compress`` false long strings are not LZF-compressed (the
        checkpoint's choice: in pure Python LZF took 40 % of its time)."""
        d = self.ks.dbs[db]
        version = self.version_of(db, key)
        value = d.data.get(key)
        if value is None:
            flags = EXPIRED if self.tombs.get((db, key)) else 0
            return KeyState(db, key, version, flags, 0, b"")
        return KeyState(db, key, version, PRESENT, d.expires.get(key, 0),
                        rdb.dump_payload(value, compress))

    def peer_vector(self, vector: dict) -> None:
        """A receiver said which ops it holds (HELLO). If it holds ops of
        ours beyond our log (lost here in a crash before an fsync), our next
        op ids go above them, so no op id ever names two ops (G1); the
        lost ops' keys come back to us through anti-entropy."""
        theirs = vector.get(self.server_id, 0)
        if theirs > max(self.log.last_opid(self.server_id), self._opid_floor):
            self._opid_floor = theirs

    def pending_wants(self) -> list:
        """``(db, key, version)`` of every key whose state we wait for (an op
        we hold was resolved by a fetch not answered yet)."""
        out = {}
        for wants in [r.wants for r in self.receivers] + [self.replay_wants]:
            for k, w in wants.items():
                if w > out.get(k, 0) and not self.holds(k[0], k[1], w):
                    out[k] = w
        return sorted((db, key, w) for (db, key), w in out.items())

    def holds(self, db: int, key: bytes, version: int) -> bool:
        """Whether our state of a key is at least ``version`` new: by its
        version, or because the key is absent and ``version`` is stamped
        below ``gc_floor`` (every key's state then showed every op stamped
        that low, and a key absent with no version since lost a collected
        tombstone at least that new)."""
        if self.version_of(db, key) >= version:
            return True
        return version_ts(version) < self.gc_floor and key not in self.ks.dbs[db].data

    def collected_state(self, db: int, key: bytes, want: int):
        """For a receiver waiting for ``want`` of a key we hold absent at an
        older version: its state *absent at want* when we hold that (see
        :meth:`holds`), else None."""
        if self.version_of(db, key) < want and self.holds(db, key, want):
            return KeyState(db, key, want, 0, 0, b"")
        return None

    def want(self, db: int, key: bytes, version: int) -> None:
        """Someone pulling from us waits for a version of a key we lack:
        every link we pull from asks its source for it."""
        if self.version_of(db, key) < version:
            for r in self.receivers:
                r.want(db, key, version)

    def install(self, st: KeyState) -> bool:
        """Installs a fetched key state when it is newer than ours; True if
        it was."""
        db, key, version = st.db, st.key, st.version
        if self.holds(db, key, version):
            # Not newer, or absent here past a collected tombstone.
            return False
        if st.flags & PRESENT:
            self._execute(db, [[b"RESTORE", key, b"%d" % st.expire, st.payload,
                                b"REPLACE", b"ABSTTL"]])
        else:
            self._execute(db, [[b"DEL", key]])
        self._set_version(db, key, version, bool(st.flags & EXPIRED))
        self.volatile.add((db, key))
        self._undone_by_crash(version)
        self.hlc.update(version_ts(version))
        if self.stream is not None:
            self._stream_key(db, key)
        for f in self.installed:
            f(st)
        return True

    def has_unversioned(self) -> bool:
        """Whether a live key has no version (see :meth:`log_unversioned`)."""
        get = self.versions.get
        for d in self.ks.dbs:
            f = self.flush_versions[d.id]
            i = d.id
            for k in d.data:
                if get(i, k) <= f:
                    return True
        return False

    def log_unversioned(self, batch_keys: int = 1000, batch_bytes: int = 1 << 20) -> int:
        """Logs the state of every live key that has no version as local
        ops, and returns how many keys it logged: the keys a dump file or
        AOF held when global replication was turned on (no op and no
        version names them, so neither the log nor anti-entropy, which
        lists versioned keys only, would ever ship them).

        Each op is a batch of ``RESTORE key <abs ttl> <payload> REPLACE
        ABSTTL`` (the shipped-state form, a whole-value write everywhere)
        with every key going from version 0 to the op's. Ops, not states
        installed from outside the log: peers get them through the log
        (or a snapshot), where two members both held a key the later op
        wins by the usual rule, and tombstone collection stays sound (a
        peer holds such a state only once it holds the op, as the
        frontiers it vouches for say; a state no op carried would sit
        below every horizon, and a peer that never saw it would take it
        for a collected delete). Keys already past their expiry are left
        to expire.

        Durability is the caller's: the data is in place already, so a
        checkpoint taken before (keys unversioned) and the log replayed on
        it rebuild the same dataset; after a crash in the middle, the keys
        the log did not keep are still unversioned and are logged on the
        next start. So each key is logged once."""
        get = self.versions.get
        now = self.clock()
        n = 0
        for d in self.ks.dbs:
            i = d.id
            f = self.flush_versions[i]
            expires = d.expires
            todo = [k for k in d.data if get(i, k) <= f
                    and not (k in expires and expires[k] <= now)]
            for start in range(0, len(todo), batch_keys):
                cmds = []
                size = 0
                for k in todo[start:start + batch_keys]:
                    payload = rdb.dump_payload(d.data[k])
                    cmds.append([b"RESTORE", k, b"%d" % expires.get(k, 0), payload,
                                 b"REPLACE", b"ABSTTL"])
                    size += len(payload) + len(k)
                    if size >= batch_bytes:
                        self._log_states(i, cmds)
                        n += len(cmds)
                        cmds = []
                        size = 0
                if cmds:
                    self._log_states(i, cmds)
                    n += len(cmds)
        return n

    def write_back(self, db: int, states: list) -> int:
        """Makes ``states`` (``(key, value or None, absolute expiry ms or
        0)``, the states a server without global replication left) this
        member's writes: each key of database ``db`` whose state here
        differs is set to it by a local op, as a client's write would be
        (``RESTORE key <pxat> <payload> REPLACE ABSTTL``, or ``DEL``), so it
        gets a new version, goes to the AOF and the classic stream, and
        reaches the group through the log. Returns how many keys it wrote."""
        core = self.core
        d = self.ks.dbs[db]
        restore, delete = core.commands["restore"], core.commands["del"]
        c = core.new_client()
        c.db = d
        n = 0
        try:
            for key, value, pxat in states:
                cur = d.data.get(key)
                if value is None:
                    if cur is None:
                        continue
                    reply = _run_command(c, delete, [b"DEL", key])
                else:
                    payload = rdb.dump_payload(value)
                    if cur is not None and d.expires.get(key, 0) == pxat \
                            and rdb.dump_payload(cur) == payload:
                        continue
                    reply = _run_command(c, restore, [b"RESTORE", key, b"%d" % pxat, payload,
                                                      b"REPLACE", b"ABSTTL"])
                if reply[:1] == b"-":
                    raise ValueError(f"writing back {key!r}: {reply.decode('latin-1').strip()}")
                n += 1
        finally:
            core.remove_client(c)
        return n

    def _log_states(self, db: int, commands: list) -> None:
        """One op of :meth:`log_unversioned`: the RESTOREs of keys of ``db``
        whose state is in place, versioned from 0 to the op's."""
        sid = self.server_id
        ts = self.hlc.now()
        version = make_version(ts, sid)
        keys = []
        for args in commands:
            self._set_version(db, args[1], version)
            keys.append(KeyVersion(db, args[1], 0, version))
        self._log_own(ts, db, commands, keys)
        self.local_ops += 1

    def versioned_keys(self):
        """Every (db, key) with a version: live keys and tombstones."""
        yield from self._live_versioned_keys()
        yield from self.tombs

    def slot_entries(self, slots=None) -> list:
        """``(db, key, version)`` of every versioned key in ``slots`` (all
        when None), sorted so both sides list them alike."""
        n = self.slots
        out = []
        for db, key in self.versioned_keys():
            if slots is None or key_slot(key, n) in slots:
                out.append((db, key, self.version_of(db, key)))
        out.sort()
        return out

    def _live_versioned_keys(self):
        get = self.versions.get
        for d in self.ks.dbs:
            i = d.id
            for k in d.data:
                if get(i, k):
                    yield i, k

    def slot_digests(self) -> list:
        """Per slot, the xor of :func:`entry_hash` of every (db, key,
        version) of a key present in it (and not expired): equal digests
        mean equal versions (and so equal states). Read from the digests
        kept as keys change; only keys with a TTL are walked. Tombstones are left out: members collect them at their
        own pace, and an absent key is absent with or without one (the
        slot's entries, asked for when a digest differs, do list them, so
        a tombstone still beats an older live key there)."""
        n = self.slots
        out = [0] * n
        for d in self._dig:
            if d is not None:
                out = [a ^ b for a, b in zip(out, d)]
        # Expired keys not removed yet are absent, as elsewhere: their
        # entries come out here (only keys with a TTL are walked).
        now = self.clock()
        get = self.versions.get
        tombs = self.tombs
        for d in self.ks.dbs:
            if not d.expires:
                continue
            db = d.id
            f = self.flush_versions[db]
            data = d.data
            for key, when in d.expires.items():
                if when <= now and key in data:
                    v = get(db, key)
                    if v > f and (db, key) not in tombs:
                        kc = _crc32(key)
                        out[kc % n] ^= entry_hash(db, kc, v)
        return [x & _M64 for x in out]

    def _count_digests(self) -> list:
        """The kept digests (``_dig``) recounted from the keyspace: per
        database, every present key with a version above its flush version
        and no tombstone."""
        n = self.slots
        out = []
        get = self.versions.get
        tombs = self.tombs
        for d in self.ks.dbs:
            db = d.id
            f = self.flush_versions[db]
            dig = None
            for key in d.data:
                v = get(db, key)
                if v > f and (db, key) not in tombs:
                    if dig is None:
                        dig = [0] * n
                    kc = _crc32(key)
                    dig[kc % n] ^= entry_hash(db, kc, v)
            out.append(dig)
        return out

    def digests_agree(self) -> bool:
        """Whether the kept digests equal a recount (tests and the
        simulation check this after every run)."""
        return _same_digests(self._count_digests(), self._dig)

    def verify_digests(self) -> bool:
        """Recounts the digests from the keyspace, walking every key (``GLOBAL
        DIGEST`` does this before its anti-entropy round): anti-entropy must
        not rest on every path that changes a key keeping the digests right,
        or a key changed behind the member's back would never be repaired.
        Returns False (and counts ``digest_recounts_differed``) when the kept
        ones were wrong; they are replaced either way."""
        ok = self.recount_digests()
        if not ok:
            self.digest_recounts_differed += 1
        return ok

    def recount_digests(self) -> bool:
        """Replaces the kept digests with a recount; whether they agreed.
        (A standby's drift while its master's stream runs ahead of the
        records that describe it: promotion recounts.)"""
        counted = self._count_digests()
        ok = _same_digests(counted, self._dig)
        self._dig = counted
        return ok

    def snapshot_states(self):
        """A full sync's payload: ``(count, states)``, the number of
        versioned keys now and an iterator of their states, each read when
        the iterator reaches it (the link streams it as the peer drains)."""
        keys = list(self.versioned_keys())
        return len(keys), (self.key_state(db, key) for db, key in keys)

    def stale_candidates(self, vector: dict, floor: int) -> dict:
        """A full sync begins from a source whose ``gc_floor`` is ``floor``:
        ``{(db, key): version}`` of our live keys stamped below it by an
        origin the source knows (it held the op that made them, so a key
        it leaves out was deleted there since). :meth:`drop_stale` drops
        those the snapshot did not name."""
        if not floor:
            return {}
        out = {}
        get = self.versions.get
        for db, key in self._live_versioned_keys():
            v = get(db, key)
            if version_ts(v) < floor and (v & _SERVER_MASK) in vector:
                out[(db, key)] = v
        return out

    def drop_stale(self, stale: dict) -> None:
        """Deletes the keys :meth:`stale_candidates` listed that the
        snapshot left out, unless they changed meanwhile; they stay without
        a version, as at the source."""
        get = self.versions.get
        for (db, key), v in stale.items():
            if get(db, key) == v and key in self.ks.dbs[db].data:
                self._execute(db, [[b"DEL", key]])
                k = (db, key)
                if v > self.flush_versions[db] and k not in self.tombs:
                    self._dig_flip(db, key, v)
                self.tombs.pop(k, None)
                self.versions.remove(db, key)
                self.ttl_keys.discard(k)
                self.volatile.discard(k)
                self.stale_dropped += 1
                self._undone_by_crash(v)
                if self.stream is not None:
                    self._stream_key(db, key)

    def finish_snapshot(self, vector: dict, floor: int = 0) -> None:
        """After a full sync's states were installed: the source's vector
        merges into ours, and the log restarts from it (our log has none of
        the ops the snapshot brought, so members pulling from us need a
        full sync too: their links must be restarted).

        ``floor``: the source's ``gc_floor``, which becomes ours if higher.
        Our states now show what the source's did, and the keys it had
        collected below it are gone here too (``drop_stale``), so a member
        that full-syncs from us next must drop them as well: with our old
        floor its stale keys would survive (the simulation, seed 55084: a
        deleted key stayed on a read-only member pulling from one that had
        synced in full)."""
        if floor > self.gc_floor:
            self.gc_floor = floor
        merged = dict(self.vector)
        for o, v in vector.items():
            if v > merged.get(o, 0):
                merged[o] = v
        self.log.reset(merged, self.hlc.last)
        self.vector.clear()
        self.vector.update(merged)
        if self.stream is not None:
            self._stream_item(gstandby.vector_item(merged))


# Stream items and the standby mode (imported last: it builds on this module).
from . import gstandby  # noqa: E402
