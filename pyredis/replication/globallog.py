"""The durable global log of global replication (design G1, G2, G5): every
write effect this member applied, local or received, in the order it was
applied, kept in segment files so links can resume from where they stopped.

Two layers, kept apart:

* **The record codec** (pure, no I/O): :func:`encode_record` /
  :func:`decode_record` turn a :class:`Record` into bytes and back, and
  :class:`RecordDecoder` does the same over a byte stream fed in pieces. The
  network codec of the replication channel reuses them.
* **The log** (:class:`GlobalLog`): segment files in one directory, start-up
  recovery, the in-memory indexes, appends with a group-commit fsync
  contract, reads from an LSN or from a receiver's version vector, and
  retention. It does file I/O but no networking, and it never reads the
  clock: retention by age takes ``now`` from its caller, so a deterministic
  simulation can drive it.

The byte layout, the checksum and the recovery rules are in
``docs/global-log-format.md``; the constants below are the source of truth
for it.

Identity and order. A record is one op: ``(origin, opid)`` names it
everywhere (G1); ``lsn`` is only its position in *this* member's log. Within
one log the op ids of each origin strictly increase with the LSN: links
deliver each origin's ops in order and a member applies an op only when its
id is above its version vector, so :meth:`GlobalLog.append` refuses
anything else. That is what makes a version vector (origin -> highest op
id) a complete description of what a member holds, and what lets
:meth:`GlobalLog.ops_missing_for` find where to start streaming.

Durability contract (G5). :meth:`GlobalLog.append` only buffers in memory.
The server calls :meth:`GlobalLog.flush` once per event-loop turn *before it
sends any reply*; with fsync policy ``always`` that flush also fsyncs, so
one fsync covers every append of the turn and no client hears OK for an op
that is not on disk. With ``everysec`` the owner's timer calls
:meth:`GlobalLog.sync` once a second; with ``no`` the OS decides. Segments
are always fsynced when they are sealed, so damage in a sealed segment is
corruption, never a torn write.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import struct
import time
import zlib
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple

log = logging.getLogger("pyredis")

# -- the record codec ----------------------------------------------------------

FORMAT_VERSION = 1
MAGIC = b"\x89GLOG\r\n\x1a"  # PNG-style: a high byte, CR LF and ^Z catch text-mode mangling
SEGMENT_SUFFIX = ".glog"
_SEGMENT_NAME = re.compile(r"^(\d{20})\.glog$")

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# Record frame: body length, then CRC-32 (zlib.crc32) of the length field
# and the body.
_FRAME = struct.Struct("<II")
# Body, fixed part: lsn, origin, db, opid, ts, number of commands, number
# of key versions.
_FIXED = struct.Struct("<QHHQQII")
# The fixed part followed by the first command's argument count (a u32,
# as every command's count is): what encode_record packs in one call.
_FIXED_CMD = struct.Struct("<QHHQQIII")
# Per key version, fixed part: db, before, after, key length; the key follows.
_KEYFIX = struct.Struct("<HQQI")
# Segment header, fixed part: magic, format version, flags, header length,
# first LSN, base timestamp, number of base-vector entries; then the entries
# (origin u16, op id u64) and a CRC-32 of everything before it.
_HEADER = struct.Struct("<8sHHIQQI")
_VEC_ENTRY = struct.Struct("<HQ")

FRAME_BYTES = _FRAME.size          # 8
MIN_BODY = _FIXED.size             # 36
MIN_RECORD = FRAME_BYTES + MIN_BODY
MAX_BODY = (1 << 32) - 1
_MAX_U16 = (1 << 16) - 1
_MAX_U64 = (1 << 64) - 1


class KeyVersion(NamedTuple):
    """One key an op touched, with its version before and after the op
    (opaque u64s here; 0 = the key had no version / no longer has one)."""
    db: int
    key: bytes
    before: int
    after: int


class Record(NamedTuple):
    """One op of the global log.

    ``commands`` is the deterministic effect: one or more commands, each a
    list of bytes arguments, applied all-or-nothing (a MULTI/EXEC or a
    script is one record). ``db`` is the database the unit starts in; a unit
    that moves to another database carries the ``SELECT`` in its commands,
    as Redis's replication stream does. Each key carries its own ``db``
    because one op may touch one key name in two databases (MOVE).
    ``lsn`` is 0 until the log assigns it."""
    origin: int
    opid: int
    ts: int
    db: int
    commands: list
    keys: list = []
    lsn: int = 0


# Records and key versions are made with this (skips the Python-level
# __new__ of a NamedTuple: the codec makes one per op).
_tuple_new = tuple.__new__
_KEYFIX_SIZE = _KEYFIX.size


class CorruptRecord(ValueError):
    """Bytes that are not a valid record: bad length, checksum mismatch or
    an inconsistent body."""


class CorruptLogError(Exception):
    """The log cannot be opened without losing good data: damage in a sealed
    segment, or in the active one with good records after it. The message
    names the file and byte offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"global log corrupt: {path} at byte offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class FullSyncNeeded(Exception):
    """The log no longer holds ops a reader needs (retention dropped them):
    the link must fall back to a full sync. ``origin`` is the first origin
    found uncovered, ``have`` the receiver's op id for it and ``dropped`` the
    highest op id of it that the log dropped (0 for a position by LSN)."""

    def __init__(self, message: str, origin: int = 0, have: int = 0, dropped: int = 0) -> None:
        super().__init__(message)
        self.origin = origin
        self.have = have
        self.dropped = dropped


# A record's frame starts with its body length, which its checksum covers
# first: the length's bytes and their CRC, for the short bodies most ops
# have (a record's CRC is then one crc32 call over its body).
_LENGTHS: dict = {}
_LENGTHS_KEPT = 4096


def encode_record(rec: Record, lsn: int | None = None) -> bytes:
    """The framed bytes of ``rec`` (with ``lsn`` instead of ``rec.lsn`` when
    given). Raises ValueError for a field out of range."""
    origin, opid, ts, db, commands, keys, rlsn = rec
    if lsn is None:
        lsn = rlsn
    if not (0 < origin <= _MAX_U16 and 0 < opid <= _MAX_U64):
        if not 1 <= origin <= _MAX_U16:
            raise ValueError(f"origin ServerID {origin} not in 1..65535")
        raise ValueError(f"op id {opid} not in 1..2^64-1")
    if not commands:
        raise ValueError("a record holds at least one command")
    pack_u32 = _U32.pack
    try:
        # The fixed part and the first command's argument count in one pack
        # (most records hold one command).
        cmd = commands[0]
        if not cmd:
            raise ValueError("a command has at least one argument")
        parts = [_FIXED_CMD.pack(lsn, origin, db, opid, ts, len(commands), len(keys), len(cmd))]
        append = parts.append
        for arg in cmd:
            append(pack_u32(len(arg)))
            append(arg)
        if len(keys) == 1 and len(commands) == 1:
            # Most ops: one command that wrote one key (no loops to set up).
            kdb, key, before, after = keys[0]
            append(_KEYFIX.pack(kdb, before, after, len(key)))
            append(key)
        else:
            for i in range(1, len(commands)):
                cmd = commands[i]
                if not cmd:
                    raise ValueError("a command has at least one argument")
                append(pack_u32(len(cmd)))
                for arg in cmd:
                    append(pack_u32(len(arg)))
                    append(arg)
            for kdb, key, before, after in keys:
                append(_KEYFIX.pack(kdb, before, after, len(key)))
                append(key)
    except struct.error as e:
        raise ValueError(f"record field out of range: {e}") from None
    body = b"".join(parts)
    n = len(body)
    framing = _LENGTHS.get(n)
    if framing is None:
        if n > MAX_BODY:
            raise ValueError("record body larger than 4 GiB")
        head = pack_u32(n)
        framing = (head, zlib.crc32(head))
        if n < _LENGTHS_KEPT:
            _LENGTHS[n] = framing
    head, crc = framing
    return head + pack_u32(zlib.crc32(body, crc)) + body


def relabel_record(data, lsn: int) -> bytes:
    """The framed bytes of one encoded record (``encode_record``'s output,
    whole) with ``lsn`` in place of its LSN: equal to encoding the record
    again with ``lsn``, without walking its fields."""
    buf = bytearray(data)
    _U64.pack_into(buf, FRAME_BYTES, lsn)
    mv = memoryview(buf)
    _U32.pack_into(buf, 4, zlib.crc32(mv[FRAME_BYTES:], zlib.crc32(mv[:4])))
    mv.release()
    # A bytearray: the log only joins and writes what it buffers.
    return buf


def _check_frame(buf, pos: int, max_body: int):
    """``(body_length, end)`` of the record framed at ``pos`` when it is
    whole and its checksum holds; None when ``buf`` ends before it does.
    Raises CorruptRecord for an impossible length or a checksum mismatch."""
    if len(buf) - pos < FRAME_BYTES:
        return None
    n, crc = _FRAME.unpack_from(buf, pos)
    if n < MIN_BODY or n > max_body:
        raise CorruptRecord(f"record length {n} out of range")
    end = pos + FRAME_BYTES + n
    if end > len(buf):
        return None
    mv = memoryview(buf)
    if zlib.crc32(mv[pos + FRAME_BYTES:end], zlib.crc32(mv[pos:pos + 4])) != crc:
        raise CorruptRecord("checksum mismatch")
    return n, end


def decode_record(buf, pos: int = 0, max_body: int = MAX_BODY):
    """Decodes the record at ``buf[pos:]``: ``(record, end)`` where ``end``
    is the offset just past it, or None when ``buf`` holds only part of it.
    Raises CorruptRecord for bytes that cannot be a record."""
    framed = _check_frame(buf, pos, max_body)
    if framed is None:
        return None
    n, end = framed
    body = bytes(buf[pos + FRAME_BYTES:end])
    lsn, origin, db, opid, ts, ncmds, nkeys = _FIXED.unpack_from(body, 0)
    p = MIN_BODY
    unpack_u32 = _U32.unpack_from
    try:
        commands = []
        if ncmds == 1 and nkeys == 1:
            # The common record (one command, one key), without the loops'
            # bookkeeping; the same checks.
            (nargs,) = unpack_u32(body, p)
            p += 4
            cmd = []
            for _ in range(nargs):
                (alen,) = unpack_u32(body, p)
                p += 4
                q = p + alen
                if q > n:
                    raise CorruptRecord("argument runs past the record")
                cmd.append(body[p:q])
                p = q
            kdb, before, after, klen = _KEYFIX.unpack_from(body, p)
            p += _KEYFIX_SIZE
            q = p + klen
            if q != n:
                raise CorruptRecord("key runs past the record" if q > n else
                                    f"{n - q} stray bytes after the record's fields")
            return _tuple_new(Record, (origin, opid, ts, db, [cmd], [
                _tuple_new(KeyVersion, (kdb, body[p:q], before, after))], lsn)), end
        for _ in range(ncmds):
            (nargs,) = unpack_u32(body, p)
            p += 4
            cmd = []
            for _ in range(nargs):
                (alen,) = unpack_u32(body, p)
                p += 4
                q = p + alen
                if q > n:
                    raise CorruptRecord("argument runs past the record")
                cmd.append(body[p:q])
                p = q
            commands.append(cmd)
        keys = []
        for _ in range(nkeys):
            kdb, before, after, klen = _KEYFIX.unpack_from(body, p)
            p += _KEYFIX.size
            q = p + klen
            if q > n:
                raise CorruptRecord("key runs past the record")
            keys.append(_tuple_new(KeyVersion, (kdb, body[p:q], before, after)))
            p = q
    except struct.error:
        raise CorruptRecord("field runs past the record") from None
    if p != n:
        raise CorruptRecord(f"{n - p} stray bytes after the record's fields")
    return _tuple_new(Record, (origin, opid, ts, db, commands, keys, lsn)), end


def _scan_record(buf, pos: int):
    """Like decode_record but reads only the fixed fields (for start-up,
    where the checksum is what matters): ``(lsn, origin, opid, ts, end)``
    or None."""
    framed = _check_frame(buf, pos, MAX_BODY)
    if framed is None:
        return None
    lsn, origin, _db, opid, ts, _nc, _nk = _FIXED.unpack_from(buf, pos + FRAME_BYTES)
    return lsn, origin, opid, ts, framed[1]


class RecordDecoder:
    """Sans-IO decoder of a stream of records: :meth:`feed` bytes as they
    come, :meth:`next` returns the next whole record or None until more
    bytes arrive. A CorruptRecord from :meth:`next` is final for the stream."""

    __slots__ = ("_buf", "_pos", "max_body")

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self._buf = bytearray()
        self._pos = 0
        # A peer can claim any length; this bounds what we wait to buffer.
        self.max_body = max_body

    def feed(self, data) -> None:
        # Drop what was consumed before growing, so the buffer stays bounded
        # by one record plus one read.
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def next(self) -> Record | None:
        got = decode_record(self._buf, self._pos, self.max_body)
        if got is None:
            return None
        rec, self._pos = got
        return rec

    def __iter__(self) -> Iterator[Record]:
        while (rec := self.next()) is not None:
            yield rec

    @property
    def pending(self) -> int:
        """Bytes fed but not yet returned as records."""
        return len(self._buf) - self._pos


def encode_header(first_lsn: int, base_ts: int, base_vector: dict) -> bytes:
    """A segment header. ``base_vector`` (origin -> highest op id) and
    ``base_ts`` describe every record *before* this segment, dropped or
    not, so a log whose old segments were removed still knows which op ids
    it has seen and where its clock stood."""
    entries = sorted(base_vector.items())
    hlen = _HEADER.size + _VEC_ENTRY.size * len(entries) + 4
    parts = [_HEADER.pack(MAGIC, FORMAT_VERSION, 0, hlen, first_lsn, base_ts, len(entries))]
    parts += [_VEC_ENTRY.pack(o, v) for o, v in entries]
    raw = b"".join(parts)
    return raw + _U32.pack(zlib.crc32(raw))


def decode_header(buf):
    """``(first_lsn, base_ts, base_vector, header_length)`` of a segment
    header, None when ``buf`` is shorter than the header it starts; raises
    CorruptRecord for a header that cannot be ours."""
    if len(buf) < _HEADER.size:
        return None
    magic, version, _flags, hlen, first_lsn, base_ts, n = _HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise CorruptRecord("not a global log segment (bad magic)")
    if version != FORMAT_VERSION:
        raise CorruptRecord(f"unknown format version {version}")
    if n > _MAX_U16 or hlen != _HEADER.size + _VEC_ENTRY.size * n + 4:
        raise CorruptRecord("inconsistent header length")
    if len(buf) < hlen:
        return None
    (crc,) = _U32.unpack_from(buf, hlen - 4)
    if zlib.crc32(memoryview(buf)[:hlen - 4]) != crc:
        raise CorruptRecord("header checksum mismatch")
    vector = {}
    for i in range(n):
        o, v = _VEC_ENTRY.unpack_from(buf, _HEADER.size + i * _VEC_ENTRY.size)
        vector[o] = v
    return first_lsn, base_ts, vector, hlen


def segment_name(first_lsn: int) -> str:
    """File name of the segment starting at ``first_lsn``: 20 digits, so
    names sort as the LSNs do."""
    return "%020d%s" % (first_lsn, SEGMENT_SUFFIX)


def log_directory(base_dir: str, log_dir: str) -> str:
    """Where ``global-log-dir`` points: a relative one is under ``dir``, as
    the dump file and the AOF are."""
    return log_dir if os.path.isabs(log_dir) else os.path.join(base_dir or ".", log_dir)


# Kept in a member's log directory by a server that runs there without
# global replication, from its first change on (pyredis/server.py): the
# dump file or the AOF then holds changes the log does not, and a member
# restarted on this log, which rebuilds its dataset from the log, writes
# the keys named here back as its own ops (gcheckpoint.recover, then the
# driver). Text lines: ``since <UTC time>`` (the first change), then one
# per key changed, ``<db> <key in hex>``, ``<db> *`` for a whole database
# (FLUSHDB, SWAPDB) and ``* *`` for all of them (FLUSHALL), and
# ``persisted`` when that server stopped with every change in its dump file
# or AOF: only then does the member write the keys back (after a crash, or
# a stop without saving, the file may hold older states of some of them).
CHANGED_WITHOUT_GLOBAL = "changed-without-global"
# In read_changed_without_global's answer: every database / every key.
ALL_DBS = -1
WHOLE_DB = None


class ChangeJournal:
    """The writer of ``CHANGED_WITHOUT_GLOBAL`` for a server without global
    replication, and the funnel sink that feeds it: each change (a write,
    or an expiry or eviction: none of them is in the member's log) names
    the keys it touches, by the command table's key positions (``commands``:
    name -> Command), or whole databases (FLUSHDB, FLUSHALL, SWAPDB). The
    file is made durable (file and directory fsynced) with the first
    change; later lines are appended as they come, each key once, and reach
    the disk as the OS writes them, before the change they name reaches the
    AOF or a dump file (both written later). An OSError stops the noting
    (with a warning)."""

    def __init__(self, directory: str, commands: dict | None = None) -> None:
        self.path = os.path.join(directory, CHANGED_WITHOUT_GLOBAL)
        self.directory = directory
        self.commands = commands or {}
        self.failed = False
        self._fd = -1
        self._seen: set = set()

    def effect(self, db: int, args: list) -> None:
        if self.failed:
            return
        add = self.add
        name = args[0].lower()
        try:
            if name == b"flushall":
                add(ALL_DBS, WHOLE_DB)
            elif name == b"flushdb":
                add(db, WHOLE_DB)
            elif name == b"swapdb":
                add(int(args[1]), WHOLE_DB)
                add(int(args[2]), WHOLE_DB)
            elif name == b"move":
                add(db, args[1])
                add(int(args[2]), args[1])
            else:
                cmd = self.commands.get(name.decode("latin-1"))
                if cmd is None:
                    add(db, WHOLE_DB)
                else:
                    for key in cmd.keys(args):
                        add(db, key)
        except OSError as e:
            self.failed = True
            log.warning("Could not note in %s what changed without global replication: "
                        "%s", self.path, e)

    def unit(self, begin: bool) -> None:
        pass

    def add(self, db: int, key) -> None:
        """``key`` of database ``db`` changed (``WHOLE_DB``: any key of it;
        ``db`` ``ALL_DBS``: any key anywhere)."""
        entry = (db, key)
        if entry in self._seen or (db, WHOLE_DB) in self._seen \
                or (ALL_DBS, WHOLE_DB) in self._seen:
            return
        if self._fd < 0:
            self._open()
        line = b"%s %s\n" % (b"*" if db == ALL_DBS else b"%d" % db,
                              b"*" if key is WHOLE_DB else key.hex().encode())
        os.write(self._fd, line)
        self._seen.add(entry)

    def _open(self) -> None:
        new = not os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if new:
            os.write(self._fd, b"since %s\n" % time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode())
            os.fsync(self._fd)
            _fsync_dir(self.directory)

    def close(self, persisted: bool = False) -> None:
        """The server stops; ``persisted``: its dump file or AOF holds every
        change it made (noted durably, when it made any, and the list has
        them all: not after a change it failed to note)."""
        if self._fd >= 0:
            try:
                if persisted and not self.failed:
                    os.write(self._fd, b"persisted\n")
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


def read_changed_without_global(directory: str):
    """``(since, changed, persisted)`` from the directory's
    ``CHANGED_WITHOUT_GLOBAL``, or None when there is none: ``changed``
    maps a database index (or ``ALL_DBS``) to the set of keys changed
    there, or to ``WHOLE_DB``; ``persisted`` says whether the last run
    that changed something stopped with all of it saved. A last line cut
    short by a crash is skipped."""
    try:
        with open(os.path.join(directory, CHANGED_WITHOUT_GLOBAL), "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return None
    since = "?"
    changed: dict = {}
    persisted = False
    # The piece after the last newline is a line a crash cut short (it may
    # still parse: the hex of a shorter key), or nothing.
    for line in lines[:-1]:
        persisted = line == b"persisted"
        head, _, rest = line.partition(b" ")
        if head == b"since":
            since = rest.decode("ascii", "replace")
            continue
        try:
            db = ALL_DBS if head == b"*" else int(head)
            key = WHOLE_DB if rest == b"*" else bytes.fromhex(rest.decode("ascii"))
        except ValueError:
            continue
        if key is WHOLE_DB:
            changed[db] = WHOLE_DB
        elif changed.get(db, ()) is not WHOLE_DB:
            changed.setdefault(db, set()).add(key)
    return since, changed, persisted


def holds_log(directory: str) -> bool:
    """Whether ``directory`` holds a global log (at least one segment): a
    member kept its log there."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return any(_SEGMENT_NAME.match(name) for name in names)


# -- the log -------------------------------------------------------------------

FSYNC_POLICIES = ("always", "everysec", "no")
# Buffered appends are handed to the OS once they reach this size even
# between flushes, so a huge pipeline or script does not hold them all.
_MAX_BUFFER = 1 << 20
_READ_CHUNK = 1 << 20


class _Segment:
    """One segment file and what the log keeps in memory about it."""

    __slots__ = ("path", "first_lsn", "base_ts", "base_vector", "header_len",
                 "size", "count", "offsets", "max_ts", "first_opids")

    def __init__(self, path: str, first_lsn: int, base_ts: int, base_vector: dict,
                 header_len: int) -> None:
        self.path = path
        self.first_lsn = first_lsn
        self.base_ts = base_ts
        self.base_vector = base_vector
        self.header_len = header_len
        # Bytes in the file, header included, counting appends still in the
        # write buffer (they belong to the active segment).
        self.size = header_len
        self.count = 0
        # Sparse index: offsets[i] is the file offset of record number
        # i * index_every of this segment.
        self.offsets = array("Q")
        # Largest record timestamp (retention by age reads its wall part).
        self.max_ts = base_ts
        # origin -> op id of its first record in this segment.
        self.first_opids: dict[int, int] = {}

    @property
    def last_lsn(self) -> int:
        return self.first_lsn + self.count - 1


@dataclass
class TailCut:
    """What start-up recovery removed from the end of the active segment."""
    path: str
    offset: int        # the file now ends here
    removed_bytes: int
    reason: str


@dataclass
class DropReport:
    """Segments removed by retention. ``vector`` is, per origin, the highest
    op id the log no longer holds: a link whose receiver is below it for any
    origin (see :meth:`GlobalLog.covers`) needs a full sync."""
    reason: str                         # "acknowledged", "size", "age", "reset"
    paths: list = field(default_factory=list)
    first_lsn: int = 0
    last_lsn: int = 0
    records: int = 0
    nbytes: int = 0
    vector: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.paths)


class GlobalLog:
    """The global log in ``directory``, opened (and recovered) on
    construction.

    Invariants: ``first_lsn <= last_lsn + 1``; LSNs are contiguous across
    segments; per origin, op ids strictly increase with the LSN;
    ``durable_lsn <= written_lsn <= last_lsn``.

    Not thread-safe: the owner (the event loop) calls every method from one
    thread.
    """

    def __init__(self, directory: str, *, fsync: str = "everysec",
                 segment_bytes: int = 64 << 20, index_every: int = 64,
                 repair: bool = False) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}")
        if index_every < 1:
            raise ValueError("index_every must be at least 1")
        self.directory = str(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._every = index_every
        self._segments: list[_Segment] = []
        self._fd = -1
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        # (record, its framed bytes) of the last append().
        self.last_append = None
        self._next_lsn = 1
        # LSN up to which records were handed to the OS / fsynced.
        self._written_lsn = 0
        self._durable_lsn = 0
        # origin -> highest op id ever logged (dropped segments included).
        self._vector: dict[int, int] = {}
        self._max_ts = 0
        self._nbytes = 0
        # Bytes of records appended since the log was opened: only grows
        # (retention and reset lower nbytes, not this).
        self._appended = 0
        # Per-origin checkpoints: origin -> (op ids, LSNs), the origin's
        # first op in the log and every index_every-th after, so a vector's
        # start position is found by bisection, not by a scan.
        self._cp: dict[int, tuple[array, array]] = {}
        self._origin_seen: dict[int, int] = {}
        # origin -> LSN of its newest record: where a stream for a receiver
        # that lacks only some origins can stop.
        self._origin_last_lsn: dict[int, int] = {}
        # Set by start-up recovery when it cut a torn tail (also logged).
        self.tail_cut: TailCut | None = None
        os.makedirs(self.directory, exist_ok=True)
        self._recover(repair)

    # -- state -----------------------------------------------------------------

    @property
    def first_lsn(self) -> int:
        """LSN of the oldest record held (== next_lsn when the log is empty)."""
        return self._segments[0].first_lsn

    @property
    def last_lsn(self) -> int:
        """LSN of the newest record (first_lsn - 1 when empty)."""
        return self._next_lsn - 1

    @property
    def next_lsn(self) -> int:
        return self._next_lsn

    @property
    def written_lsn(self) -> int:
        """Records up to here were handed to the OS."""
        return self._written_lsn

    @property
    def durable_lsn(self) -> int:
        """Records up to here were fsynced. A link that must never ship an
        op its origin could still lose passes this as ``end_lsn``."""
        return self._durable_lsn

    @property
    def nbytes(self) -> int:
        """Bytes of all segments, headers and buffered appends included
        (INFO ``global_log_bytes``)."""
        return self._nbytes

    @property
    def appended_bytes(self) -> int:
        """Bytes of the records appended since the log was opened, whatever
        retention dropped since: how much it grew between two moments."""
        return self._appended

    @property
    def max_ts(self) -> int:
        """The largest timestamp ever logged: seeds the HLC on restart."""
        return self._max_ts

    @property
    def vector(self) -> dict:
        """origin -> highest op id ever logged (a copy)."""
        return dict(self._vector)

    @property
    def base_vector(self) -> dict:
        """origin -> highest op id no longer held (dropped or never held:
        a log started after a full sync begins with the synced vector)."""
        return dict(self._segments[0].base_vector)

    @property
    def oldest_ts(self) -> int:
        """The largest timestamp in the oldest segment (retention by age)."""
        return self._segments[0].max_ts

    @property
    def segment_paths(self) -> list:
        return [s.path for s in self._segments]

    @property
    def index_entries(self) -> int:
        """Entries of the in-memory indexes (sparse offsets per segment and
        the per-origin op id checkpoints): INFO shows it so a long run can
        check that retention bounds them too."""
        n = sum(len(seg.offsets) for seg in self._segments)
        return n + sum(len(cp[0]) for cp in self._cp.values())

    def first_opid(self, origin: int) -> int:
        """Op id of the oldest record of ``origin`` still held, 0 if none
        (INFO ``global_log_first_opid`` for the local ServerID)."""
        for seg in self._segments:
            opid = seg.first_opids.get(origin)
            if opid is not None:
                return opid
        return 0

    def last_opid(self, origin: int) -> int:
        """Highest op id of ``origin`` ever logged, held or dropped, 0 if
        none (INFO ``global_log_last_opid``); the next local op id is this
        plus one."""
        return self._vector.get(origin, 0)

    # -- appending and durability ----------------------------------------------

    def append(self, rec: Record, encoded=None) -> int:
        """Adds one op at the end of the log and returns its LSN. Buffered
        only: it reaches the OS and the disk at :meth:`flush` /
        :meth:`sync`. Raises ValueError for an op id not above the origin's
        last one (the op is already held: applying it again would break G1).

        ``encoded``, when given, is ``encode_record(rec, x)`` for some LSN
        ``x`` (the bytes a link received the op in, which decode_record
        checked): the log relabels it with its own LSN instead of encoding
        the record again."""
        origin, opid = rec.origin, rec.opid
        last = self._vector.get(origin, 0)
        if opid <= last:
            raise ValueError(
                f"op {origin}:{opid} not after {origin}:{last} already in the log")
        lsn = self._next_lsn
        data = encode_record(rec, lsn) if encoded is None else relabel_record(encoded, lsn)
        seg = self._segments[-1]
        if seg.count and seg.size + len(data) > self.segment_bytes:
            try:
                self.roll()
            except OSError:
                # Disk full or the like: the active segment stays active
                # (roll leaves it usable) and grows past its size; the error
                # is the next flush's to report, and a later append rolls.
                pass
            seg = self._segments[-1]
        self._index(seg, seg.size, lsn, origin, opid, rec.ts)
        size = len(data)
        seg.size += size
        self._nbytes += size
        self._appended += size
        self._next_lsn = lsn + 1
        self._buf.append(data)
        # The listeners the member calls next (source links) and a classic
        # replication stream send these bytes instead of encoding the
        # record again.
        self.last_append = (rec, data)
        self._buf_bytes += size
        if self._buf_bytes >= _MAX_BUFFER:
            try:
                self._write_out()
            except OSError:
                # The op is in the log either way (its bytes stay buffered):
                # the error is for the flush before the reply to report, so
                # append fails only for a bad record and changes nothing then.
                pass
        return lsn

    def flush(self, durable: bool | None = None) -> None:
        """Hands buffered appends to the OS in one write, and fsyncs when
        ``durable`` is true, or when it is None and the policy is ``always``.
        The server calls ``flush()`` before sending the replies of an
        event-loop turn: that is the group commit of ``always``."""
        self._write_out()
        if durable or (durable is None and self.fsync == "always"):
            self._fsync()

    def sync(self) -> bool:
        """Writes and fsyncs whatever is not durable yet; the ``everysec``
        timer calls it once a second. True when it had something to sync."""
        self._write_out()
        if self._durable_lsn == self._written_lsn:
            return False
        self._fsync()
        return True

    def begin_sync(self):
        """For an fsync off the caller's thread (``everysec``): writes the
        buffer out and returns ``(fd, lsn)``, a duplicate of the active
        segment's descriptor to fsync and close, and the LSN that fsync
        makes durable; None when everything written is durable already.
        Report success with :meth:`end_sync`. (The duplicate stays valid if
        the segment rolls meanwhile; a roll fsyncs the sealed file itself.)"""
        self._write_out()
        if self._durable_lsn == self._written_lsn:
            return None
        return os.dup(self._fd), self._written_lsn

    def end_sync(self, lsn: int) -> None:
        if lsn > self._durable_lsn:
            self._durable_lsn = lsn

    def roll(self) -> None:
        """Seals the active segment (written and fsynced, whatever the
        policy) and starts a new one at the next LSN. No-op on an empty
        active segment."""
        if not self._segments[-1].count:
            return
        self._write_out()
        self._fsync()
        old_fd = self._fd
        # The old segment stays the active one until the new file exists,
        # so a failure here (disk full) leaves a usable log and the next
        # append tries the roll again.
        self._new_segment(self._next_lsn, self._max_ts, dict(self._vector))
        os.close(old_fd)

    def close(self) -> None:
        """Writes and fsyncs what is buffered and closes the active file."""
        if self._fd < 0:
            return
        self._write_out()
        self._fsync()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> "GlobalLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write_out(self) -> None:
        if not self._buf:
            return
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        finally:
            # On a write error (ENOSPC) keep what did not leave, so a later
            # flush retries it rather than leaving a hole in the file.
            if done < len(data):
                self._buf = [data[done:]]
                self._buf_bytes = len(data) - done
        self._buf = []
        self._buf_bytes = 0
        self._written_lsn = self._next_lsn - 1

    def _fsync(self) -> None:
        if self._durable_lsn == self._written_lsn:
            return
        os.fsync(self._fd)
        self._durable_lsn = self._written_lsn

    def _new_segment(self, first_lsn: int, base_ts: int, base_vector: dict) -> None:
        """Creates the segment file starting at ``first_lsn`` and makes it
        the active one. The header is fsynced and the directory too, so a
        crash leaves either no file or a whole header (or a torn one, which
        recovery removes)."""
        header = encode_header(first_lsn, base_ts, base_vector)
        path = os.path.join(self.directory, segment_name(first_lsn))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            os.write(fd, header)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        _fsync_dir(self.directory)
        self._fd = fd
        seg = _Segment(path, first_lsn, base_ts, base_vector, len(header))
        self._segments.append(seg)
        self._nbytes += len(header)

    def _index(self, seg: _Segment, offset: int, lsn: int, origin: int, opid: int,
               ts: int) -> None:
        """Updates the in-memory state for one record (appended, or found by
        recovery) at ``offset`` of ``seg``."""
        every = self._every
        if seg.count % every == 0:
            seg.offsets.append(offset)
        seg.count += 1
        if ts > seg.max_ts:
            seg.max_ts = ts
            if ts > self._max_ts:
                self._max_ts = ts
        if origin not in seg.first_opids:
            seg.first_opids[origin] = opid
        self._vector[origin] = opid
        self._origin_last_lsn[origin] = lsn
        seen = self._origin_seen.get(origin, 0)
        if seen % every == 0:
            cp = self._cp.get(origin)
            if cp is None:
                cp = self._cp[origin] = (array("Q"), array("Q"))
            cp[0].append(opid)
            cp[1].append(lsn)
        self._origin_seen[origin] = seen + 1

    # -- reading ----------------------------------------------------------------

    def read_from(self, lsn: int, end_lsn: int | None = None) -> Iterator[Record]:
        """The records from ``lsn`` to ``end_lsn`` (default: the last one at
        the time of the call), in order, across segments. Raises
        FullSyncNeeded when ``lsn`` was dropped by retention. The iterator
        reads lazily; appends after the call do not reach it."""
        segs, end_lsn = self._segments_for(lsn, end_lsn)
        return self._read(segs, lsn, end_lsn) if segs else iter(())

    def read_frames_from(self, lsn: int, end_lsn: int | None = None):
        """Like :meth:`read_from`, but yields ``(lsn, origin, opid, bytes)``:
        each record's framed bytes, checked by their checksum, with the
        fixed fields a reader filters on, without decoding the rest."""
        segs, end_lsn = self._segments_for(lsn, end_lsn)
        return self._read_frames(segs, lsn, end_lsn) if segs else iter(())

    def _segments_for(self, lsn: int, end_lsn: int | None):
        """The segments holding LSNs ``lsn``..``end_lsn`` (default and at
        most: the last), and that end; no segments when the range is empty.
        Raises FullSyncNeeded when ``lsn`` was dropped by retention."""
        if lsn < self.first_lsn:
            raise FullSyncNeeded(
                f"LSN {lsn} is before the log's first LSN {self.first_lsn}")
        if end_lsn is None or end_lsn > self.last_lsn:
            end_lsn = self.last_lsn
        if lsn > end_lsn:
            return [], end_lsn
        # The reader goes through the files: hand them what is buffered.
        self._write_out()
        starts = [s.first_lsn for s in self._segments]
        i = bisect.bisect_right(starts, lsn) - 1
        return [s for s in self._segments[i:] if s.first_lsn <= end_lsn], end_lsn

    def _open_at(self, seg: _Segment, lsn: int):
        """``seg``'s file, positioned at the sparse-index entry at or before
        ``lsn``; FullSyncNeeded if retention dropped it meanwhile."""
        try:
            f = open(seg.path, "rb")
        except FileNotFoundError:
            raise FullSyncNeeded(
                f"segment {seg.path} was dropped while being read") from None
        f.seek(seg.offsets[max(0, lsn - seg.first_lsn) // self._every])
        return f

    def _read_frames(self, segs: list, lsn: int, end_lsn: int):
        for seg in segs:
            if seg.count == 0:
                continue
            with self._open_at(seg, lsn) as f:
                buf = b""
                pos = 0
                last = seg.last_lsn
                while True:
                    got = _scan_record(buf, pos)
                    if got is None:
                        chunk = f.read(_READ_CHUNK)
                        if not chunk:
                            if len(buf) > pos:
                                raise CorruptLogError(seg.path, f.tell() - (len(buf) - pos),
                                                      "record cut short while reading")
                            break
                        buf = buf[pos:] + chunk
                        pos = 0
                        continue
                    rlsn, origin, opid, _ts, end = got
                    if rlsn > end_lsn:
                        return
                    if rlsn >= lsn:
                        yield rlsn, origin, opid, buf[pos:end]
                    pos = end
                    if rlsn >= end_lsn:
                        return
                    if rlsn == last:
                        break

    def _read(self, segs: list, lsn: int, end_lsn: int) -> Iterator[Record]:
        for seg in segs:
            if seg.count == 0:
                continue
            with self._open_at(seg, lsn) as f:
                dec = RecordDecoder()
                while True:
                    rec = dec.next()
                    if rec is None:
                        chunk = f.read(_READ_CHUNK)
                        if not chunk:
                            if dec.pending:
                                raise CorruptLogError(seg.path, f.tell() - dec.pending,
                                                      "record cut short while reading")
                            break
                        dec.feed(chunk)
                        continue
                    if rec.lsn > end_lsn:
                        return
                    if rec.lsn >= lsn:
                        yield rec
                    if rec.lsn >= end_lsn:
                        return
                    if rec.lsn == seg.last_lsn:
                        break

    def _uncovered(self, vector: dict, exclude_origin: int):
        """The first origin whose ops ``vector`` lacks and the log dropped:
        ``(origin, have, dropped)``, or None when the log covers it."""
        for origin, dropped in self._segments[0].base_vector.items():
            if origin == exclude_origin:
                continue
            have = vector.get(origin, 0)
            if have < dropped:
                return origin, have, dropped
        return None

    def covers(self, vector: dict, exclude_origin: int = 0) -> bool:
        """Whether every op a receiver at ``vector`` lacks (its own origin
        ``exclude_origin`` aside) is still in the log. After a retention
        drop the owner asks this for every link."""
        return self._uncovered(vector, exclude_origin) is None

    def ops_missing_for(self, vector: dict, exclude_origin: int = 0,
                        end_lsn: int | None = None, frames: bool = False) -> Iterator[Record]:
        """The records a receiver whose version vector is ``vector`` lacks:
        origin != ``exclude_origin`` (the receiver's own ServerID: its own
        ops never go back to it) and opid > ``vector.get(origin, 0)``, in log
        order. Raises FullSyncNeeded at once when retention dropped one of
        them. With ``frames``, yields ``(origin, opid, bytes)`` instead of
        records: each record's framed bytes as the log holds them (equal to
        ``encode_record`` of the record read back), checksummed but not
        decoded (a link streaming a backlog sends them as they are)."""
        gap = self._uncovered(vector, exclude_origin)
        if gap is not None:
            origin, have, dropped = gap
            raise FullSyncNeeded(
                f"receiver has op {origin}:{have}, log dropped up to {origin}:{dropped}",
                origin, have, dropped)
        segs = self._segments
        start = None
        stop = 0
        for origin, last in self._vector.items():
            if origin == exclude_origin:
                continue
            have = vector.get(origin, 0)
            if have >= last:
                continue
            # The origin's first op above `have` lies in the last segment
            # whose base vector is <= have: every op of the origin before
            # that segment is covered, and the next segment's base says one
            # in this segment is not. Op ids grow with the LSN, so the base
            # vectors grow along the segments and bisection finds it.
            i = bisect.bisect_right(segs, have, key=lambda s, o=origin: s.base_vector.get(o, 0))
            lb = segs[max(i - 1, 0)].first_lsn
            # Within the segment, it lies at or after the last checkpoint
            # whose op id is <= have.
            cp = self._cp.get(origin)
            if cp is not None:
                j = bisect.bisect_right(cp[0], have) - 1
                if j >= 0 and cp[1][j] > lb:
                    lb = cp[1][j]
            if start is None or lb < start:
                start = lb
            stop = max(stop, self._origin_last_lsn.get(origin, self._next_lsn - 1))
        if start is None:
            return iter(())
        if end_lsn is None or end_lsn > stop:
            end_lsn = stop
        if frames:
            return self._missing_frames(self.read_frames_from(start, end_lsn), vector,
                                        exclude_origin)
        return self._missing(self.read_from(start, end_lsn), vector, exclude_origin)

    @staticmethod
    def _missing(records: Iterable[Record], vector: dict, exclude_origin: int):
        get = vector.get
        for rec in records:
            if rec.origin != exclude_origin and rec.opid > get(rec.origin, 0):
                yield rec

    @staticmethod
    def _missing_frames(frames, vector: dict, exclude_origin: int):
        get = vector.get
        for _lsn, origin, opid, data in frames:
            if origin != exclude_origin and opid > get(origin, 0):
                yield origin, opid, data

    # -- retention ----------------------------------------------------------------

    def truncate_before(self, lsn: int) -> DropReport:
        """Drops the sealed segments whose records all lie below ``lsn``
        (every link acknowledged them). The active segment stays."""
        k = 0
        segs = self._segments
        while k < len(segs) - 1 and segs[k].last_lsn < lsn:
            k += 1
        return self._drop(k, "acknowledged")

    def enforce_limits(self, max_bytes: int = 0, max_age_seconds: float = 0,
                       now: float | None = None) -> DropReport:
        """Drops the oldest sealed segments while the log is over
        ``max_bytes``, or while the oldest one's newest record is older than
        ``max_age_seconds`` before ``now`` (seconds since the epoch, from the
        caller's clock; a segment's age is read from the wall part of its
        largest HLC timestamp). 0 disables a limit. The drop is forced:
        check :meth:`covers` for each link with the report."""
        segs = self._segments
        total = self._nbytes
        k = 0
        reason = ""
        while k < len(segs) - 1:
            s = segs[k]
            if max_bytes and total > max_bytes:
                reason = reason or "size"
            elif (max_age_seconds and now is not None
                  and now - (s.max_ts >> 16) / 1000.0 > max_age_seconds):
                reason = reason or "age"
            else:
                break
            total -= s.size
            k += 1
        return self._drop(k, reason)

    def reset(self, base_vector: dict, base_ts: int = 0) -> DropReport:
        """Empties the log after a full sync: a new segment at the next LSN
        (LSNs never go back) whose base vector is the synced dataset's, then
        every older segment removed. The new segment is on disk before the
        old ones go, so a crash in between leaves the old log intact.
        Op ids of the local origin must still never be reused: the owner
        numbers its ops above ``max(old last_opid, base_vector)``."""
        self.close()
        if not self._segments[-1].count:
            # The new segment takes this empty one's name (same first LSN)
            # and overwrites it: forget it rather than delete it below.
            self._nbytes -= self._segments.pop().size
        old = len(self._segments)
        self._max_ts = max(self._max_ts, base_ts)
        self._vector = dict(base_vector)
        self._new_segment(self._next_lsn, self._max_ts, dict(base_vector))
        self._written_lsn = self._durable_lsn = self._next_lsn - 1
        report = self._drop(old, "reset")
        self._cp.clear()
        self._origin_seen.clear()
        self._origin_last_lsn.clear()
        return report

    def _drop(self, k: int, reason: str) -> DropReport:
        report = DropReport(reason)
        if k <= 0:
            return report
        gone = self._segments[:k]
        for seg in gone:
            try:
                os.unlink(seg.path)
            except FileNotFoundError:
                pass
        _fsync_dir(self.directory)
        del self._segments[:k]
        report.paths = [s.path for s in gone]
        report.first_lsn = gone[0].first_lsn
        report.last_lsn = gone[-1].last_lsn
        report.records = sum(s.count for s in gone)
        report.nbytes = sum(s.size for s in gone)
        self._nbytes -= report.nbytes
        report.vector = dict(self._segments[0].base_vector)
        first = self.first_lsn
        for opids, lsns in self._cp.values():
            j = bisect.bisect_left(lsns, first)
            if j:
                del opids[:j]
                del lsns[:j]
        if reason not in ("acknowledged", "reset"):
            log.warning("global log: retention (%s) dropped LSNs %d..%d (%d records, %d bytes)",
                        reason, report.first_lsn, report.last_lsn, report.records,
                        report.nbytes)
        return report

    # -- start-up recovery ----------------------------------------------------------

    def _recover(self, repair: bool) -> None:
        """Scans every segment, checks each record's frame and checksum and
        rebuilds the in-memory state; cuts a torn tail of the last segment,
        refuses to start on damage anywhere else (CorruptLogError)."""
        names = []
        for name in os.listdir(self.directory):
            m = _SEGMENT_NAME.match(name)
            if m:
                names.append((int(m.group(1)), name))
        names.sort()
        if not names:
            self._new_segment(1, 0, {})
            return
        for i, (name_lsn, name) in enumerate(names):
            last = i == len(names) - 1
            path = os.path.join(self.directory, name)
            with open(path, "rb") as f:
                data = f.read()
            try:
                hdr = decode_header(data)
            except CorruptRecord as e:
                hdr = e
            if not isinstance(hdr, tuple):
                # Only the creation of the last segment can be torn: its
                # header is written and fsynced before any record. A torn
                # one holds nothing, so the file goes and is made again.
                if last and _torn_header(data):
                    self._cut(path, 0, len(data), "torn segment header")
                    os.unlink(path)
                    _fsync_dir(self.directory)
                    if not self._segments:
                        # The log's only file: it starts where its name says.
                        self._next_lsn = name_lsn
                    self._reopen_or_roll(sealed=True)
                    return
                raise CorruptLogError(path, 0, str(hdr) if hdr else "segment header cut short")
            first_lsn, base_ts, base_vector, hlen = hdr
            if first_lsn != name_lsn:
                raise CorruptLogError(path, 0, f"header says first LSN {first_lsn}")
            if self._segments and first_lsn != self._next_lsn:
                raise CorruptLogError(
                    path, 0, f"starts at LSN {first_lsn}, expected {self._next_lsn}"
                    " (a segment is missing)")
            if not self._segments:
                self._vector = dict(base_vector)
                self._max_ts = base_ts
            else:
                # Normally equal to what the records gave; max() keeps the
                # vector from ever going back.
                for o, v in base_vector.items():
                    if v > self._vector.get(o, 0):
                        self._vector[o] = v
                self._max_ts = max(self._max_ts, base_ts)
            seg = _Segment(path, first_lsn, base_ts, base_vector, hlen)
            self._segments.append(seg)
            self._next_lsn = first_lsn
            pos = self._scan_segment(seg, data, hlen, last, repair)
            seg.size = pos
            self._nbytes += pos
        self._written_lsn = self._durable_lsn = self._next_lsn - 1
        self._reopen_or_roll(sealed=False)

    def _scan_segment(self, seg: _Segment, data: bytes, pos: int, last: bool,
                      repair: bool) -> int:
        """Indexes the records of one segment; returns where they end (the
        file length, or the cut)."""
        end_of_data = len(data)
        expected = seg.first_lsn
        while pos < end_of_data:
            try:
                got = _scan_record(data, pos)
                reason = "record cut short" if got is None else ""
                if got is not None and got[0] != expected:
                    reason = f"LSN {got[0]} where {expected} was expected"
            except CorruptRecord as e:
                got, reason = None, str(e)
            if reason:
                if not last:
                    raise CorruptLogError(seg.path, pos, reason + " (in a sealed segment)")
                good = _good_record_after(data, pos + 1, expected)
                if good is not None and not repair:
                    raise CorruptLogError(
                        seg.path, pos, f"{reason}, with a good record at byte offset {good}"
                        " after it (start with repair to cut the log here)")
                self._cut(seg.path, pos, end_of_data - pos, reason)
                return pos
            lsn, origin, opid, ts, end = got
            if opid <= self._vector.get(origin, 0):
                raise CorruptLogError(
                    seg.path, pos, f"op {origin}:{opid} not after {origin}:"
                    f"{self._vector.get(origin, 0)}")
            self._index(seg, pos, lsn, origin, opid, ts)
            self._next_lsn = lsn + 1
            expected = lsn + 1
            pos = end
        return pos

    def _cut(self, path: str, offset: int, removed: int, reason: str) -> None:
        """Truncates the active segment at ``offset`` (the end of its last
        good record), durably, and records and logs the cut."""
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
        self.tail_cut = TailCut(path, offset, removed, reason)
        log.warning("global log: cut %d bytes at the end of %s at byte offset %d (%s)",
                    removed, path, offset, reason)

    def _reopen_or_roll(self, sealed: bool) -> None:
        """Makes the last segment the active one again, or starts a new
        segment when there is none or the last one is sealed (its successor
        was torn away)."""
        self._written_lsn = self._durable_lsn = self._next_lsn - 1
        if sealed or not self._segments:
            self._new_segment(self._next_lsn, self._max_ts, dict(self._vector))
            return
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)


def _torn_header(data: bytes) -> bool:
    """Whether ``data`` can be a segment header whose write was cut short
    (a prefix of one, or zeros where the crash left no data) rather than a
    damaged or foreign file, which must not be deleted."""
    if not data.strip(b"\0"):
        return True
    if len(data) < _HEADER.size:
        return MAGIC.startswith(data[:len(MAGIC)].rstrip(b"\0"))
    magic, version, _flags, hlen = struct.unpack_from("<8sHHI", data, 0)
    # A file of another format version, or a whole header followed by
    # records, is not a torn creation: leave it to the error.
    return magic == MAGIC and version == FORMAT_VERSION and len(data) <= hlen


def _good_record_after(data: bytes, start: int, expected_lsn: int):
    """Offset of the first position at or after ``start`` where a whole
    record with a valid checksum and an LSN from ``expected_lsn`` on begins,
    or None. Telling a torn tail (nothing good after the damage) from
    damage in the middle of the data is exactly this question.

    One pass over the positions; the zero bytes a crash may leave at the end
    of a file are skipped (a record cannot start there: its LSN field is
    nonzero), and the LSN range is bounded by how many records could fit,
    so a checksum is computed only for plausible candidates."""
    stop = len(data.rstrip(b"\0"))
    hi = expected_lsn + (len(data) - start) // MIN_RECORD + 1
    unpack_u32 = _U32.unpack_from
    unpack_u64 = _U64.unpack_from
    last_start = min(stop, len(data) - MIN_RECORD + 1)
    size = len(data)
    for p in range(start, last_start):
        n = unpack_u32(data, p)[0]
        if n < MIN_BODY or p + FRAME_BYTES + n > size:
            continue
        lsn = unpack_u64(data, p + FRAME_BYTES)[0]
        if not expected_lsn <= lsn <= hi:
            continue
        try:
            if _check_frame(data, p, MAX_BODY) is not None:
                return p
        except CorruptRecord:
            continue
    return None


def _fsync_dir(path: str) -> None:
    """Makes file creations and removals in ``path`` durable (POSIX; a no-op
    where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
