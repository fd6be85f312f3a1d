"""Classic replicas of a global member (G6): how a member's version
metadata rides its classic replication stream, and the *standby* mode in
which a pyredis replica with its own ``global-server-id`` keeps a copy of
its master's global log and key versions, so that once promoted
(``REPLICAOF NO ONE``) it carries the member's links on by op id.

Sans-IO: the codec and the :class:`Standby` mirror work on bytes and on a
``GlobalMember``; the master side feeds the items into its stream
(``gdriver``), the replica's link hands them here (``replica.py``).

Stream items
============
A member with a classic replication backlog sends, in its stream, after
the commands they describe, ``PING <payload>`` with ``payload = MAGIC +
kind + body``. A real redis-server replica runs that PING and drops the
reply (a master's client gets none) and forwards it verbatim to its own
replicas; a pyredis replica without ``global-server-id`` does the same.

``R`` + a record's framed bytes exactly as ``encode_record`` writes them
(its CRC-32 included)
    every record appended to the member's log: its local ops, the ops it
    applied from peers, heartbeats. The replica logs it (with its own LSN),
    moves its vector, and sets every key the record changed to the
    record's *after* version (a tombstone when the key is absent now),
    after the record's flushes (flush version = the op's version).
``K`` + key stamp (db, key, version, flags) + CRC-32
    a key whose version at the master is not what the last record says:
    an op resolved by the rule (the local state won, or the key waits for
    a fetch), a state installed from outside the log (fetch,
    anti-entropy, snapshot), an expiry (expired tombstone), a key a full
    sync showed deleted (``GONE``: no version any more). Carries the
    master's ``volatile`` membership of the key too.
``F`` + db, flush version + CRC-32
    a flush version learnt outside an op (a peer's digest or snapshot).
``V`` + vector + CRC-32
    the master's log restarted after a global full sync: the replica's log
    restarts from the same vector.

Every item comes after the data it describes (the commands ran on the
replica just before), and never inside MULTI/EXEC (items made inside a
unit wait for its end). A record with a bad checksum, or any item that does
not decode, is refused whole: nothing of it is applied, the replica logs
it, drops the link and discards its cached master, so the next sync is a
full one (which brings the metadata again, whole).

Full sync
=========
The RDB a member sends to a replica carries an AUX field
``pyredis-global`` (:func:`encode_meta`): its vector, HLC, flush versions,
``gc_floor``, and per versioned key (live or tombstone) its version and
flags, taken in the snapshot child at the same instant as the data. A
real redis-server ignores AUX fields it does not know (rdb.c: "We ignore
fields we don't understand, as by AUX field contract"). The replica
installs it over the loaded data (:meth:`Standby.full_sync`) and restarts
its log from that vector, like a member after a global snapshot: ops older
than it are not held, a peer that needs them from it gets a full sync.

Keys the stream changed with no record or stamp after them (the master
died between them) are remembered (``dirty``); at promotion they are
stamped as local ops of the promoted member recording their whole state
(RESTORE .. ABSTTL / DEL), so they reach the peers and win or lose by the
rule like any write, instead of keeping data that disagrees with their
version.

Restarts and limits
===================
A standby persists what a member does: its log (the master's records,
relabelled) and checkpoints (none while dirty keys wait). A restarted
standby rebuilds from them like any member (the dump file and AOF are not
trusted), so its data and versions agree; it then syncs with its master
*in full* (the dataset is no longer the one the dump's replication offset
names), which replaces both. If the master is gone, the rebuilt state is
what gets promoted: changes the stream brought after the last checkpoint
as stamps only (states the master installed from outside its log) are
asked again from the peers, as a member's replay does.

* The replica needs a ServerID of its own (a warning says so otherwise).
* Tombstones the master collects stay on the standby until, promoted, it
  collects them itself; it logs no heartbeats while in standby.
* A flush's version entries of keys it deleted stay in the table as on
  the master (only a FLUSHALL that leaves nothing clears it).
* Ops older than the vector of the standby's last full sync are not in
  its log: a peer that lacks one of them gets a global full sync from it.
* While in standby the member has no links (``global-peer`` waits for the
  promotion) and refuses ``GLOBAL SYNC``.
* Every record costs its frame again in the classic stream (about its
  size in the log), only while the member has a replication backlog.
"""

from __future__ import annotations

import logging
import struct
import zlib

from .globallog import CorruptRecord, decode_record
from .gmember import (EXPIRED, PRESENT, KeyState, _flushed_dbs, make_version, state_bytes,
                      state_from_bytes, version_ts)

log = logging.getLogger("pyredis")

MAGIC = b"pyredis-global:"
# The RDB AUX field with the member's version metadata.
AUX_NAME = b"pyredis-global"

RECORD, STAMP, FLUSH, VECTOR = b"R", b"K", b"F", b"V"
# Key stamp flags, beyond gmember's PRESENT/EXPIRED.
VOLATILE = 4
GONE = 8

_U32 = struct.Struct("<I")
_VEC = struct.Struct("<HQ")
_FLUSH = struct.Struct("<HQ")
_META_MAGIC = b"\x89GSTB\r\n\x1a"
_META_HEAD = struct.Struct("<8sQQ")     # magic, HLC last, gc_floor
# Keys stamped as local ops per record at promotion.
_PROMOTE_CHUNK = 256


class StreamItemError(ValueError):
    """A stream item that does not decode (bad checksum, cut short, fields
    out of range): refused whole."""


# -- the codec ---------------------------------------------------------------------

def _sealed(kind: bytes, body: bytes) -> bytes:
    return MAGIC + kind + body + _U32.pack(zlib.crc32(kind + body))


def record_item(frame: bytes) -> bytes:
    """The payload of a record (``frame``: encode_record's bytes; they carry
    their own checksum)."""
    return MAGIC + RECORD + frame


def stamp_item(db: int, key: bytes, version: int, flags: int) -> bytes:
    return _sealed(STAMP, state_bytes(KeyState(db, key, version, flags, 0, b"")))


def flush_item(db: int, fv: int) -> bytes:
    return _sealed(FLUSH, _FLUSH.pack(db, fv))


def vector_item(vector: dict) -> bytes:
    items = sorted(vector.items())
    return _sealed(VECTOR, _U32.pack(len(items)) + b"".join(_VEC.pack(o, v) for o, v in items))


def is_item(payload: bytes) -> bool:
    return payload[:len(MAGIC)] == MAGIC


def decode_item(payload: bytes):
    """``(kind, value)``: for RECORD ``(record, frame)``, for STAMP a
    KeyState, for FLUSH ``(db, fv)``, for VECTOR a dict. Raises
    StreamItemError."""
    if not is_item(payload) or len(payload) <= len(MAGIC):
        raise StreamItemError("not a global stream item")
    kind = payload[len(MAGIC):len(MAGIC) + 1]
    body = payload[len(MAGIC) + 1:]
    if kind == RECORD:
        try:
            got = decode_record(body)
        except CorruptRecord as e:
            raise StreamItemError(f"bad record: {e}") from None
        if got is None or got[1] != len(body):
            raise StreamItemError("record cut short or followed by stray bytes")
        return kind, (got[0], body)
    if len(body) < 4 or zlib.crc32(kind + body[:-4]) != _U32.unpack_from(body, len(body) - 4)[0]:
        raise StreamItemError("checksum mismatch")
    body = body[:-4]
    try:
        if kind == STAMP:
            return kind, state_from_bytes(body)
        if kind == FLUSH:
            if len(body) != _FLUSH.size:
                raise StreamItemError("bad flush item")
            return kind, _FLUSH.unpack(body)
        if kind == VECTOR:
            (n,) = _U32.unpack_from(body, 0)
            if len(body) != 4 + n * _VEC.size:
                raise StreamItemError("bad vector item")
            return kind, dict(_VEC.unpack_from(body, 4 + i * _VEC.size) for i in range(n))
    except (ValueError, struct.error) as e:
        raise StreamItemError(str(e)) from None
    raise StreamItemError(f"unknown item kind {kind!r}")


def key_flags(member, db: int, key: bytes) -> int:
    """A key's stamp flags as ``member`` holds it."""
    k = (db, key)
    flags = 0
    if not member.versions.get(db, key):
        flags |= GONE
    if member.tombs.get(k):
        flags |= EXPIRED
    if k in member.volatile:
        flags |= VOLATILE
    if key in member.ks.dbs[db].data:
        flags |= PRESENT
    return flags


# -- full sync: the metadata in the RDB ---------------------------------------------

def encode_meta(member) -> bytes:
    """The member's version metadata, for the RDB a replica loads (taken in
    the snapshot child, at the instant of the data)."""
    vec = sorted(member.vector.items())
    parts = [_META_HEAD.pack(_META_MAGIC, member.hlc.last, member.gc_floor),
             _U32.pack(len(vec))]
    parts += [_VEC.pack(o, v) for o, v in vec]
    fl = member.flush_versions
    parts.append(_U32.pack(len(fl)) + struct.pack("<%dQ" % len(fl), *fl))
    vdbs = sorted(member.volatile_dbs)
    parts.append(_U32.pack(len(vdbs)) + struct.pack("<%dH" % len(vdbs), *vdbs))
    entries = []
    get = member.versions.get
    for db, key in member.versioned_keys():
        v = get(db, key)
        if v:
            entries.append(state_bytes(KeyState(db, key, v, key_flags(member, db, key), 0, b"")))
    parts.append(_U32.pack(len(entries)))
    for e in entries:
        parts.append(_U32.pack(len(e)))
        parts.append(e)
    return member.sealed_with_wants(parts)


class Meta:
    __slots__ = ("hlc_last", "gc_floor", "vector", "flush", "volatile_dbs", "states", "wants")


def decode_meta(data: bytes) -> Meta:
    """Inverse of :func:`encode_meta`; StreamItemError when damaged."""
    if len(data) < _META_HEAD.size + 4 or \
            zlib.crc32(data[:-4]) != _U32.unpack_from(data, len(data) - 4)[0]:
        raise StreamItemError("global metadata damaged or cut short")
    try:
        magic, hlc_last, floor = _META_HEAD.unpack_from(data, 0)
        if magic != _META_MAGIC:
            raise StreamItemError("not global metadata")
        m = Meta()
        m.hlc_last, m.gc_floor = hlc_last, floor
        p = _META_HEAD.size
        (n,) = _U32.unpack_from(data, p)
        p += 4
        m.vector = {}
        for _ in range(n):
            o, v = _VEC.unpack_from(data, p)
            m.vector[o] = v
            p += _VEC.size
        (n,) = _U32.unpack_from(data, p)
        m.flush = list(struct.unpack_from("<%dQ" % n, data, p + 4))
        p += 4 + 8 * n
        (n,) = _U32.unpack_from(data, p)
        m.volatile_dbs = list(struct.unpack_from("<%dH" % n, data, p + 4))
        p += 4 + 2 * n
        (n,) = _U32.unpack_from(data, p)
        p += 4
        m.states = []
        for _ in range(n):
            (ln,) = _U32.unpack_from(data, p)
            p += 4
            m.states.append(state_from_bytes(data[p:p + ln]))
            p += ln
        (n,) = _U32.unpack_from(data, p)
        p += 4
        m.wants = []
        for _ in range(n):
            db, version, klen = struct.unpack_from("<HQI", data, p)
            p += 14
            m.wants.append((db, bytes(data[p:p + klen]), version))
            p += klen
    except (struct.error, ValueError) as e:
        if isinstance(e, StreamItemError):
            raise
        raise StreamItemError(f"global metadata: {e}") from None
    if p != len(data) - 4:
        raise StreamItemError("stray bytes in global metadata")
    return m


# -- the replica's mirror ---------------------------------------------------------

class Standby:
    """The standby mode of ``member`` while this server is a classic replica
    of a member: local writes (the master's commands) make no ops; the
    stream items install the master's metadata (module doc)."""

    def __init__(self, member) -> None:
        self.member = member
        # (db, key) changed by the stream since the last item naming them.
        self.dirty: dict = {}
        # The last full sync came from a master that is no member.
        self.unversioned = False
        self.records = 0
        self.stamps = 0
        self._warned = False
        # Called when the log restarted (the driver: a checkpoint soon, so
        # that a restart finds one covering the new log).
        self.on_log_reset = None

    # -- what the member's funnel sink calls ------------------------------------

    def stream_effect(self) -> None:
        """An effect of the master's stream ran here: remember its keys."""
        m = self.member
        if m._touched:
            self.dirty.update(m._touched)
            m._touched = {}

    # -- items ---------------------------------------------------------------------

    def receive(self, payload: bytes) -> None:
        """One item from the master's stream (decoded whole before anything
        changes; StreamItemError when it does not)."""
        kind, value = decode_item(payload)
        m = self.member
        ndbs = len(m.ks.dbs)
        if kind == RECORD:
            rec, frame = value
            try:
                make_version(rec.ts, rec.origin)
            except ValueError as e:
                raise StreamItemError(f"bad record: {e}") from None
            dbs = [rec.db] + [k.db for k in rec.keys]
            for args in rec.commands:
                if args and args[0].upper() == b"SELECT":
                    if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 5:
                        raise StreamItemError("bad record: SELECT of no database")
                    dbs.append(int(args[1]))
            if any(d >= ndbs for d in dbs):
                raise StreamItemError("bad record: database index out of range")
            self.record(rec, frame)
        elif kind == STAMP:
            if value.db >= ndbs:
                raise StreamItemError("bad stamp: database index out of range")
            self.stamp(value)
        elif kind == FLUSH:
            db, fv = value
            if db >= ndbs:
                raise StreamItemError("bad flush: database index out of range")
            self.flush([db], fv)
            m.volatile_dbs.add(db)
        else:
            self.restart_log(value)

    def record(self, rec, frame: bytes) -> None:
        """The master logged ``rec``; its commands ran here just before."""
        m = self.member
        if rec.opid <= m.vector.get(rec.origin, 0):
            return      # held already (the metadata of a full sync had it)
        if rec.origin == m.server_id and not self._warned:
            self._warned = True
            log.warning("Global replication: the master's log holds ops of our own ServerID "
                        "%d: a classic replica needs a ServerID of its own, or once promoted "
                        "it may reuse op ids its master gave out", m.server_id)
        m.hlc.update(rec.ts)
        flushed = _flushed_dbs(rec.db, rec.commands, len(m.flush_versions))
        if flushed:
            self.flush(flushed, make_version(rec.ts, rec.origin))
        dirty = self.dirty
        for kdb, key, before, after in rec.keys:
            if before != after:
                m._set_version(kdb, key, after)
            if dirty:
                dirty.pop((kdb, key), None)
        m.log.append(rec, frame)
        m.vector[rec.origin] = rec.opid
        if rec.origin != m.server_id:
            m.frontier[rec.origin] = rec.ts
        self.records += 1

    def stamp(self, st: KeyState) -> None:
        m = self.member
        k = (st.db, st.key)
        if st.flags & GONE:
            m.versions.remove(st.db, st.key)
            m.tombs.pop(k, None)
            m.ttl_keys.discard(k)
        else:
            m._set_version(st.db, st.key, st.version, bool(st.flags & EXPIRED))
            m.hlc.update(version_ts(st.version))
        if st.flags & VOLATILE:
            m.volatile.add(k)
        else:
            m.volatile.discard(k)
        self.dirty.pop(k, None)
        self.stamps += 1

    def flush(self, dbs: list, fv: int) -> None:
        """A flush version reached ``dbs`` (the stream deleted the keys it
        covers just before): what the master's flush bookkeeping did, for
        whichever of its three paths (local, applied, adopted) it took."""
        m = self.member
        m.hlc.update(version_ts(fv))
        for d in dbs:
            if fv > m.flush_versions[d]:
                m.flush_versions[d] = fv
        m._drop_tombs_below(dbs, fv)
        data = m.ks.dbs
        if len(dbs) == len(data) and not m.tombs and not any(d.data for d in data):
            # Everything went (a FLUSHALL and nothing newer): as the
            # master's own flush, no entry of the table is worth keeping.
            m.versions.clear()
            m.ttl_keys.clear()
            m.volatile.clear()
            self.dirty.clear()
            return
        get = m.versions.get
        for s in (m.ttl_keys, m.volatile):
            for k in [k for k in s if k[0] in dbs and k[1] not in data[k[0]].data]:
                s.discard(k)
        if self.dirty:
            # Deleted by the flush itself, not by a write without its record.
            for k in [k for k in self.dirty if k[0] in dbs and k[1] not in data[k[0]].data
                      and get(*k) <= fv]:
                del self.dirty[k]

    def restart_log(self, vector: dict) -> None:
        """The master's log restarted from ``vector`` (a global full sync)."""
        self.member.finish_snapshot(vector)
        if self.on_log_reset is not None:
            self.on_log_reset()

    # -- full sync and promotion ------------------------------------------------------

    def full_sync(self, meta: Meta | None) -> None:
        """The dataset was replaced by the master's RDB: the member's tables
        become the metadata it carried (none: the master is no member, so no
        key has a version), and the log restarts from its vector."""
        m = self.member
        own_last = max(m.log.last_opid(m.server_id), m._opid_floor)
        m.versions.clear()
        m.tombs.clear()
        m.ttl_keys.clear()
        m.volatile.clear()
        m.volatile_dbs.clear()
        m.frontier.clear()
        m.replay_wants.clear()
        for i in range(len(m.flush_versions)):
            m.flush_versions[i] = 0
        self.dirty.clear()
        # The master is no member (a real redis-server, or pyredis without
        # global replication): its keys have no version; promotion logs them.
        self.unversioned = meta is None
        vector = {}
        if meta is not None:
            for i, f in enumerate(meta.flush[:len(m.flush_versions)]):
                m.flush_versions[i] = f
            m.volatile_dbs.update(d for d in meta.volatile_dbs if d < len(m.flush_versions))
            data = m.ks.dbs
            for st in meta.states:
                if st.db >= len(data):
                    continue
                # Present there but absent here: due, so the RDB left it
                # out; the master's expiry will say so, as an expired
                # tombstone, which it is already.
                expired = bool(st.flags & EXPIRED) or (
                    bool(st.flags & PRESENT) and st.key not in data[st.db].data)
                m._set_version(st.db, st.key, st.version, expired)
                if st.flags & VOLATILE:
                    m.volatile.add((st.db, st.key))
            for db, key, version in meta.wants:
                m.replay_wants[(db, key)] = version
            m.hlc.update(meta.hlc_last)
            m.gc_floor = meta.gc_floor
            vector = meta.vector
        m.vector.clear()
        m.log.reset(vector, m.hlc.last)
        m.vector.update(vector)
        # Op ids of ours from before stay used (a peer may hold them).
        m._opid_floor = max(own_last, m._opid_floor)

    def promote(self) -> int:
        """Leaving standby: keys the stream changed with no record after
        them become local ops recording their whole state. Returns how
        many keys were stamped so."""
        m = self.member
        # Slot digests: the stream changed keys before the items that set
        # their versions, which the kept digests follow only once those
        # come; from here on they are kept as on any member.
        m.recount_digests()
        keys = list(self.dirty)
        self.dirty.clear()
        for i in range(0, len(keys), _PROMOTE_CHUNK):
            touched = {k: m.before_version(*k) for k in keys[i:i + _PROMOTE_CHUNK]}
            commands = m._state_commands(0, [], touched, [])
            m._close_general(0, commands, touched)
        if keys:
            log.warning("Global replication: %d keys changed by the master's stream without "
                        "their record were stamped as local ops at promotion", len(keys))
        return len(keys)
