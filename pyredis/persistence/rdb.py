"""RDB snapshots: one serializer and one parser for files, replication
payloads and DUMP values, over file-like objects and bytes only.

Writing follows RDB version 9 (Redis 5), in the plainest encodings that
Redis 5, 6.2 and 7.0 all load: strings raw, as integers (int8/16/32) or LZF
compressed; lists as RDB_TYPE_LIST, sets as RDB_TYPE_SET or intset, sorted
sets as RDB_TYPE_ZSET_2 (binary doubles), hashes as RDB_TYPE_HASH, streams
as RDB_TYPE_STREAM_LISTPACKS (one listpack per node, as Redis keeps them),
HyperLogLogs as the strings they are. A file is the header ``REDIS0009``,
AUX fields, per non-empty database SELECTDB + RESIZEDB and its keys (an
EXPIRETIME_MS before a key with a TTL), EOF and the CRC-64 of everything
before it (zero when ``rdbchecksum`` is off, which loaders accept).

Reading accepts versions 1 to 11 and every encoding Redis writes: ziplist,
zipmap, intset, quicklist (ziplist and listpack nodes), listpack hashes,
sets and sorted sets, stream listpacks v1-v3 and LZF strings. A damaged or
truncated input raises :class:`RDBError` naming the offset; nothing is
stored in the keyspace until the whole input parsed (a failed load leaves
the keyspace as it was).

API: :func:`dump` / :func:`load` for whole snapshots, :func:`iter_load`
for a load that reports progress, :func:`dump_value` /
:func:`load_value` for one value, and :func:`dump_payload` /
:func:`load_payload` for DUMP/RESTORE's format (value + 2-byte RDB version
+ CRC-64, little-endian).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from itertools import chain
from operator import itemgetter

from .crc64 import crc64
from . import lzf

RDB_VERSION = 9
MAX_READ_VERSION = 11

# Object types.
T_STRING = 0
T_LIST = 1
T_SET = 2
T_ZSET = 3
T_HASH = 4
T_ZSET_2 = 5
T_MODULE = 6
T_MODULE_2 = 7
T_HASH_ZIPMAP = 9
T_LIST_ZIPLIST = 10
T_SET_INTSET = 11
T_ZSET_ZIPLIST = 12
T_HASH_ZIPLIST = 13
T_LIST_QUICKLIST = 14
T_STREAM_LISTPACKS = 15
T_HASH_LISTPACK = 16
T_ZSET_LISTPACK = 17
T_LIST_QUICKLIST_2 = 18
T_STREAM_LISTPACKS_2 = 19
T_SET_LISTPACK = 20
T_STREAM_LISTPACKS_3 = 21

_VALUE_TYPES = frozenset(range(0, 22)) - {8}

# Opcodes.
OP_FUNCTION2 = 245
OP_FUNCTION = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

_ENC_INT8, _ENC_INT16, _ENC_INT32, _ENC_LZF = 0, 1, 2, 3

_STREAM_DELETED = 1
_STREAM_SAMEFIELDS = 2

_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack_from
_pack_q = struct.Struct("<q").pack
_unpack_q = struct.Struct("<q").unpack_from
_MASK64 = (1 << 64) - 1


class RDBError(ValueError):
    """A damaged, truncated or unsupported RDB input."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        if offset is not None:
            message = f"{message} (at offset {offset})"
        super().__init__(message)
        self.offset = offset


# ============================================================================
# Writing
# ============================================================================


def _len(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


_TYPE_BYTES = [bytes((t,)) for t in range(256)]

# Length prefixes of small lengths, precomputed: keys and small values hit them.
_LENS = [_len(n) for n in range(16384)]


class _Encoder:
    """Serialises values into a list of byte chunks."""

    __slots__ = ("out", "compress")

    def __init__(self, compress: bool = True) -> None:
        self.out: list = []
        self.compress = compress

    def length(self, n: int) -> None:
        self.out.append(_LENS[n] if n < 16384 else _len(n))

    def string(self, s) -> None:
        n = len(s)
        out = self.out
        if n <= 11 and n:
            c = s[0]
            # Cheap pre-test before int(): a digit or '-' first.
            if (48 <= c <= 57 or c == 45):
                enc = _int_encoding(s)
                if enc is not None:
                    out.append(enc)
                    return
        elif n > 20 and self.compress:
            packed = lzf.compress(bytes(s))
            if packed is not None and len(packed) + 10 < n:
                out.append(b"\xc3" + _len(len(packed)) + _len(n) + packed)
                return
        out.append(_LENS[n] if n < 16384 else _len(n))
        out.append(s)

    def members(self, elems: list, scores=None) -> None:
        """:meth:`string` of each of ``elems`` (a container's members, a
        list), followed by its score as a binary double when ``scores``
        (an iterable in the same order) is given.

        A big container's members are usually short strings that are
        neither integers nor long enough to compress; for those the
        encoding is just a one-byte length before each member, so the
        whole container becomes one joined blob made by C-level map/zip
        over the list, where the member-by-member loop of :meth:`strings`
        costs about a microsecond a member in CPython. Anything else
        (a member that may take the integer encoding, an empty one, one
        that LZF may shrink or one with a longer length prefix) goes
        through that loop, so the bytes are the same either way."""
        lens = list(map(len, elems))
        if (lens and min(lens) > 0 and max(lens) < (21 if self.compress else 64)
                # No member starts like an integer (it might be one).
                and len(bytes(map(_first, elems)).translate(None, _INT_HEADS)) == len(elems)):
            prefixes = map(_LENS.__getitem__, lens)
            if scores is None:
                parts = zip(prefixes, elems)
            else:
                parts = zip(prefixes, elems, map(_pack_d, scores))
            self.out.append(b"".join(chain.from_iterable(parts)))
        elif scores is None:
            self.strings(elems)
        else:
            self.strings(zip(elems, scores), zset=True)

    def strings(self, items, zset: bool = False) -> None:
        """:meth:`string` of each of ``items`` (a container's members), with
        the common case, a short string that is neither an integer nor
        worth compressing, inline: per-element calls dominate the cost of
        big containers. With ``zset``, items are (member, score) pairs and
        each score follows its member as a binary double."""
        append = self.out.append
        lens = _LENS
        string = self.string
        compress = self.compress
        score = None
        for s in items:
            if zset:
                s, score = s
            n = len(s)
            if n > 11:
                if (n <= 20 or not compress) and n < 16384:
                    append(lens[n])
                    append(s)
                else:
                    string(s)
            elif n and not (48 <= s[0] <= 57 or s[0] == 45):
                append(lens[n])
                append(s)
            else:
                string(s)
            if zset:
                append(_pack_d(score))

    def value(self, v) -> int:
        """Write ``v``'s serialisation; returns its RDB type."""
        t = type(v)
        if t is bytes or t is bytearray:
            self.string(v)
            return T_STRING
        if t is deque:
            self.length(len(v))
            self.members(list(v))
            return T_LIST
        name = getattr(v, "TYPE_NAME", None)
        if t is dict or name == "hash":
            self.length(len(v))
            self.members(list(chain.from_iterable(v.items())))
            return T_HASH
        if name == "set" or t is set:
            if getattr(v, "intset", False) and v:
                self.string(_intset_bytes(v))
                return T_SET_INTSET
            self.length(len(v))
            self.members(list(v))
            return T_SET
        if name == "zset":
            self.length(len(v.scores))
            # Redis writes from the tail so the loader inserts at the head.
            # The members come from the order's keys (score image, then
            # member); the scores from the dict, which keeps a zero's sign.
            members = list(map(_after_score, reversed(v.order)))
            self.members(members, map(v.scores.__getitem__, members))
            return T_ZSET_2
        if name == "stream":
            _write_stream(self, v)
            return T_STREAM_LISTPACKS
        raise TypeError(f"cannot serialise a value of type {t.__name__}")


_first = itemgetter(0)
# The first bytes of a string that :func:`_int_encoding` may accept.
_INT_HEADS = b"-0123456789"
# A sorted set's member from its order key (types/zset.py's entry_key).
_after_score = itemgetter(slice(8, None))


def _int_encoding(s) -> bytes | None:
    try:
        v = int(s)
    except ValueError:
        return None
    if b"%d" % v != s:
        return None
    if -128 <= v <= 127:
        return b"\xc0" + (v & 0xFF).to_bytes(1, "little")
    if -32768 <= v <= 32767:
        return b"\xc1" + (v & 0xFFFF).to_bytes(2, "little")
    if -(1 << 31) <= v < (1 << 31):
        return b"\xc2" + (v & 0xFFFFFFFF).to_bytes(4, "little")
    return None


def _intset_bytes(members) -> bytes:
    values = sorted(int(m) for m in members)
    lo, hi = values[0], values[-1]
    if -32768 <= lo and hi <= 32767:
        width, fmt = 2, "h"
    elif -(1 << 31) <= lo and hi < (1 << 31):
        width, fmt = 4, "i"
    else:
        width, fmt = 8, "q"
    return struct.pack(f"<II{len(values)}{fmt}", width, len(values), *values)


# -- listpacks (stream nodes) ----------------------------------------------------


def _lp_int(v: int) -> bytes:
    """One listpack integer element, encoding + backlen."""
    if 0 <= v <= 127:
        return bytes((v, 1))
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + (v & 0xFFFF).to_bytes(2, "little") + b"\x03"
    if -(1 << 23) <= v < (1 << 23):
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(1 << 31) <= v < (1 << 31):
        return b"\xf3" + (v & 0xFFFFFFFF).to_bytes(4, "little") + b"\x05"
    return b"\xf4" + (v & _MASK64).to_bytes(8, "little") + b"\x09"


def _lp_backlen(n: int) -> bytes:
    """The entry length written to be read from the right: 7 bits a byte,
    the highest group first and every later byte flagged with 0x80 (the
    size thresholds are listpack's)."""
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                      (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128))


def _lp_str(s: bytes) -> bytes:
    n = len(s)
    if n < 64:
        head = bytes((0x80 | n,))
    elif n < 4096:
        head = bytes((0xE0 | (n >> 8), n & 0xFF))
    else:
        head = b"\xf0" + n.to_bytes(4, "little")
    return head + s + _lp_backlen(len(head) + n)


def _lp_elem(s: bytes) -> bytes:
    """A string element, as an integer when it is one written canonically
    (as lpAppend does)."""
    if 0 < len(s) <= 20 and (48 <= s[0] <= 57 or s[0] == 45):
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is not None and -(1 << 63) <= v < (1 << 63) and b"%d" % v == s:
            return _lp_int(v)
    return _lp_str(s)


def _listpack(elems: list) -> bytes:
    body = b"".join(elems)
    n = len(elems)
    total = 6 + len(body) + 1
    return (total.to_bytes(4, "little") + (n if n < 65535 else 65535).to_bytes(2, "little")
            + body + b"\xff")


def _write_stream(enc: _Encoder, s) -> None:
    from ..types.stream import decode_fields
    nodes = [n for n in s.nodes if n.live]
    enc.length(len(nodes))
    for node in nodes:
        master = node.master
        mms, mseq = master >> 64, master & _MASK64
        fields = node.fields
        elems = [_lp_int(node.live), _lp_int(0), _lp_int(len(fields))]
        elems.extend(_lp_elem(f) for f in fields)
        elems.append(_lp_int(0))
        for id_, v in zip(node.ids, node.values):
            if v is None:
                continue
            fv = decode_fields(v)
            dms = _signed64((id_ >> 64) - mms)
            dseq = _signed64((id_ & _MASK64) - mseq)
            if tuple(fv[0::2]) == tuple(fields):
                elems += [_lp_int(_STREAM_SAMEFIELDS), _lp_int(dms), _lp_int(dseq)]
                elems.extend(_lp_elem(x) for x in fv[1::2])
                count = len(fields) + 3
            else:
                elems += [_lp_int(0), _lp_int(dms), _lp_int(dseq), _lp_int(len(fv) // 2)]
                elems.extend(_lp_elem(x) for x in fv)
                count = len(fv) + 4
            elems.append(_lp_int(count))
        enc.string(master.to_bytes(16, "big"))
        enc.string(_listpack(elems))
    enc.length(s.length)
    enc.length(s.last_id >> 64)
    enc.length(s.last_id & _MASK64)
    groups = s.sorted_groups() if s.groups else []
    enc.length(len(groups))
    out = enc.out
    for g in groups:
        enc.string(g.name)
        enc.length(g.last_id >> 64)
        enc.length(g.last_id & _MASK64)
        enc.length(len(g.pel))
        for id_, nack in g.pel.items():
            out.append(id_.to_bytes(16, "big"))
            out.append(_pack_q(nack.delivery_time))
            enc.length(nack.delivery_count)
        consumers = g.sorted_consumers()
        enc.length(len(consumers))
        for c in consumers:
            enc.string(c.name)
            out.append(_pack_q(c.seen_time))
            enc.length(len(c.pel))
            for id_ in c.pel:
                out.append(id_.to_bytes(16, "big"))


def _signed64(d: int) -> int:
    d &= _MASK64
    return d - (1 << 64) if d >> 63 else d


# -- snapshots ----------------------------------------------------------------


class _CRCWriter:
    """Writes chunks to ``stream`` while keeping the running CRC."""

    __slots__ = ("stream", "crc", "checksum", "buf", "size", "written")

    def __init__(self, stream, checksum: bool) -> None:
        self.stream = stream
        self.crc = 0
        self.checksum = checksum
        self.buf: list = []
        self.size = 0
        self.written = 0

    def add(self, chunks: list) -> None:
        self.buf.extend(chunks)
        self.size += sum(map(len, chunks))
        if self.size >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        data = b"".join(self.buf)
        self.buf = []
        self.size = 0
        if self.checksum:
            self.crc = crc64(data, self.crc)
        self.stream.write(data)
        self.written += len(data)


def aux_fields(core=None, preamble: bool = False) -> list:
    """The AUX (name, value) pairs a snapshot starts with."""
    from .. import REDIS_VERSION
    fields = [(b"redis-ver", REDIS_VERSION.encode()), (b"redis-bits", b"64"),
              (b"ctime", b"%d" % int(time.time()))]
    used = 0
    try:
        import resource
        used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except Exception:  # pragma: no cover - no resource module
        pass
    fields.append((b"used-mem", b"%d" % used))
    if core is not None:
        # The replication id and offset the data corresponds to, so a
        # replica that restarts from this file can PSYNC from there (as
        # Redis's rdbPopulateSaveInfo), and the stream's database.
        repl = core.repl
        fields.append((b"repl-stream-db", b"%d" % max(repl.seldb, 0)))
        fields.append((b"repl-id", repl.replid.encode()))
        fields.append((b"repl-offset", b"%d" % repl.master_repl_offset))
    fields.append((b"aof-preamble", b"1" if preamble else b"0"))
    return fields


def dump(core_or_keyspace, stream, *, compress: bool | None = None,
         checksum: bool | None = None, preamble: bool = False, aux: list | None = None) -> int:
    """Write a whole snapshot of every database to ``stream`` (a binary
    file-like object with ``write``). ``core_or_keyspace`` is a Core (its
    config decides compression and checksum) or a bare Keyspace. Keys whose
    TTL has passed are left out. Returns the bytes written."""
    core = None
    ks = core_or_keyspace
    if hasattr(core_or_keyspace, "ks"):
        core = core_or_keyspace
        ks = core.ks
        cfg = core.config
        if compress is None:
            compress = cfg.rdbcompression
        if checksum is None:
            checksum = cfg.rdbchecksum
    compress = True if compress is None else compress
    checksum = True if checksum is None else checksum
    w = _CRCWriter(stream, checksum)
    enc = _Encoder(compress)
    out = enc.out
    out.append(b"REDIS%04d" % RDB_VERSION)
    for name, value in (aux if aux is not None else aux_fields(core, preamble)):
        out.append(b"\xfa")
        enc.string(name)
        enc.string(value)
    now = int(time.time() * 1000)
    for db in ks.dbs:
        data = db.data
        if not data:
            continue
        expires = db.expires
        out.append(b"\xfe")
        enc.length(db.id)
        out.append(b"\xfb")
        enc.length(len(data))
        enc.length(len(expires))
        n = 0
        for key, value in data.items():
            when = expires.get(key) if expires else None
            if when is not None:
                if when < now:
                    continue
                out.append(b"\xfc" + _pack_q(when))
            # The type byte comes first but is known once the value is written.
            pos = len(out)
            out.append(b"")
            enc.string(key)
            out[pos] = _TYPE_BYTES[enc.value(value)]
            n += 1
            if n & 1023 == 0:
                w.add(out)
                out.clear()
    out.append(b"\xff")
    w.add(out)
    w.flush()
    crc = w.crc if checksum else 0
    stream.write(crc.to_bytes(8, "little"))
    return w.written + 8


def dump_value(value, compress: bool = True) -> bytes:
    """One value: its RDB type byte followed by its serialisation."""
    enc = _Encoder(compress)
    enc.out.append(b"")
    enc.out[0] = _TYPE_BYTES[enc.value(value)]
    return b"".join(enc.out)


def dump_payload(value, compress: bool = True) -> bytes:
    """DUMP's reply: the value, the RDB version (2 bytes) and the CRC-64
    of both (8 bytes), little-endian."""
    body = dump_value(value, compress) + RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


# ============================================================================
# Reading
# ============================================================================


class Limits:
    """The encoding thresholds a loader needs to give values the encoding
    Redis would (from a Config, or defaults)."""

    __slots__ = ("max_intset", "zset_entries", "zset_value", "config")

    def __init__(self, config=None) -> None:
        self.config = config
        self.max_intset = getattr(config, "set_max_intset_entries", 512)
        self.zset_entries = getattr(config, "zset_max_ziplist_entries", 128)
        self.zset_value = getattr(config, "zset_max_ziplist_value", 64)


class _Parser:
    """A cursor over an RDB byte buffer."""

    __slots__ = ("buf", "pos", "limits")

    def __init__(self, buf, pos: int = 0, limits: Limits | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.limits = limits or Limits()

    def fail(self, message: str, at: int | None = None):
        raise RDBError(message, self.pos if at is None else at)

    def take(self, n: int):
        p = self.pos
        end = p + n
        if end > len(self.buf):
            self.fail(f"unexpected end of data reading {n} bytes")
        self.pos = end
        return self.buf[p:end]

    def u8(self) -> int:
        p = self.pos
        if p >= len(self.buf):
            self.fail("unexpected end of data")
        self.pos = p + 1
        return self.buf[p]

    def length(self) -> tuple:
        """(value, encoded): a length, or a special string encoding id."""
        b = self.u8()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.u8(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if b == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        self.fail(f"unknown length encoding 0x{b:02x}", self.pos - 1)

    def len_(self) -> int:
        start = self.pos
        n, encoded = self.length()
        if encoded:
            self.fail("a length was expected, found a string encoding", start)
        return n

    def strings(self, count: int, doubles: bool = False) -> list:
        """``count`` strings (a container's members), short raw ones read
        inline; with ``doubles``, each followed by a binary double (a sorted
        set's score), so the list alternates member and score."""
        buf = self.buf
        if type(buf) is not bytes:  # slices of other buffers are not bytes
            out = []
            for _ in range(count):
                out.append(self.string())
                if doubles:
                    out.append(self.binary_double())
            return out
        pos = self.pos
        out = []
        append = out.append
        string = self.string
        # A slice past the end comes back short, but leaves pos past the
        # end, which the check after the loop catches; reading a length
        # byte past the end raises IndexError.
        try:
            if doubles:
                for _ in range(count):
                    n = buf[pos]
                    if n < 64:
                        end = pos + 1 + n
                        append(buf[pos + 1:end])
                    else:
                        self.pos = pos
                        append(string())
                        end = self.pos
                    append(_unpack_d(buf, end)[0])
                    pos = end + 8
            else:
                for _ in range(count):
                    n = buf[pos]
                    if n < 64:
                        end = pos + 1 + n
                        append(buf[pos + 1:end])
                        pos = end
                    else:
                        self.pos = pos
                        append(string())
                        pos = self.pos
        except (IndexError, struct.error):
            self.fail("unexpected end of data reading a string", min(pos, len(buf)))
        if pos > len(buf):
            self.fail("unexpected end of data reading a string", len(buf))
        self.pos = pos
        return out

    def string(self) -> bytes:
        start = self.pos
        n, encoded = self.length()
        if not encoded:
            return bytes(self.take(n))
        if n == _ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if n == _ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if n == _ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if n == _ENC_LZF:
            clen = self.len_()
            ulen = self.len_()
            data = self.take(clen)
            try:
                return lzf.decompress(data, ulen)
            except lzf.LZFError as e:
                self.fail(f"bad LZF string: {e}", start)
        self.fail(f"unknown string encoding {n}", start)

    def millis(self) -> int:
        return _unpack_q(self.take(8))[0]

    def binary_double(self) -> float:
        return _unpack_d(self.take(8))[0]

    def string_double(self) -> float:
        n = self.u8()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        text = self.take(n)
        try:
            return float(bytes(text))
        except ValueError:
            self.fail("bad double value")

    # -- values -----------------------------------------------------------------

    def value(self, rtype: int):
        start = self.pos
        if rtype == T_STRING:
            return self.string()
        if rtype == T_LIST:
            return deque(self.strings(self.len_()))
        if rtype == T_SET:
            return self._set(self.strings(self.len_()), start)
        if rtype == T_ZSET_2:
            items = self.strings(self.len_(), doubles=True)
            return self._zset(list(zip(items[0::2], items[1::2])), start)
        if rtype == T_ZSET:
            pairs = []
            for _ in range(self.len_()):
                m = self.string()
                pairs.append((m, self.string_double()))
            return self._zset(pairs, start)
        if rtype == T_HASH:
            n = self.len_()
            items = self.strings(2 * n)
            h = dict(zip(items[0::2], items[1::2]))
            if len(h) != n:
                # As before: a repeated field keeps its last value.
                h = {}
                for i in range(0, 2 * n, 2):
                    h[items[i]] = items[i + 1]
            return self._hash(h)
        if rtype == T_LIST_QUICKLIST or rtype == T_LIST_QUICKLIST_2:
            out = deque()
            for _ in range(self.len_()):
                container = 2
                if rtype == T_LIST_QUICKLIST_2:
                    container = self.len_()
                at = self.pos
                blob = self.string()
                if rtype == T_LIST_QUICKLIST:
                    out.extend(_ziplist(blob, at))
                elif container == 1:
                    out.append(blob)
                elif container == 2:
                    out.extend(_listpack_items(blob, at))
                else:
                    self.fail(f"unknown quicklist container {container}", at)
            return out
        blob_at = self.pos
        if rtype == T_LIST_ZIPLIST:
            return deque(_ziplist(self.string(), blob_at))
        if rtype == T_SET_INTSET:
            return self._set(_intset(self.string(), blob_at), start)
        if rtype == T_SET_LISTPACK:
            return self._set(_listpack_items(self.string(), blob_at), start)
        if rtype in (T_ZSET_ZIPLIST, T_ZSET_LISTPACK):
            blob = self.string()
            items = _ziplist(blob, blob_at) if rtype == T_ZSET_ZIPLIST else \
                _listpack_items(blob, blob_at)
            if len(items) % 2:
                self.fail("sorted set blob with an odd number of elements", blob_at)
            pairs = []
            for i in range(0, len(items), 2):
                try:
                    pairs.append((items[i], float(items[i + 1])))
                except ValueError:
                    self.fail("bad score in a sorted set blob", blob_at)
            return self._zset(pairs, start)
        if rtype in (T_HASH_ZIPLIST, T_HASH_LISTPACK, T_HASH_ZIPMAP):
            blob = self.string()
            if rtype == T_HASH_ZIPMAP:
                items = _zipmap(blob, blob_at)
            elif rtype == T_HASH_ZIPLIST:
                items = _ziplist(blob, blob_at)
            else:
                items = _listpack_items(blob, blob_at)
            if len(items) % 2:
                self.fail("hash blob with an odd number of elements", blob_at)
            h = dict(zip(items[0::2], items[1::2]))
            if len(h) * 2 != len(items):
                self.fail("hash blob with a duplicate field", blob_at)
            return self._hash(h)
        if rtype in (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3):
            return self._stream(rtype)
        if rtype in (T_MODULE, T_MODULE_2):
            self.fail("module values are not supported", start - 1)
        self.fail(f"unknown value type {rtype}", start - 1)

    def _set(self, members, start):
        from ..types.setobj import Set
        s = Set(members, self.limits.max_intset)
        if len(s) != len(members):
            self.fail("set with a duplicate member", start)
        return s

    def _zset(self, pairs, start):
        from ..types.zset import ZSet
        lim = self.limits
        z = ZSet.from_pairs(pairs, lim.zset_entries, lim.zset_value)
        if len(z) != len(pairs):
            self.fail("sorted set with a duplicate member", start)
        return z

    def _hash(self, h):
        cfg = self.limits.config
        if cfg is None:
            return h
        from ..commands.hashes import fit_hash
        return fit_hash(h, cfg)

    def _stream(self, rtype: int):
        from ..types.stream import NACK, Consumer, Group, Stream, _Node
        s = Stream()
        for _ in range(self.len_()):
            at = self.pos
            key = self.string()
            if len(key) != 16:
                self.fail("stream node key is not a 128-bit ID", at)
            master = int.from_bytes(key, "big")
            at = self.pos
            lp = self.string()
            s.nodes.append(_stream_node(_listpack_items(lp, at, ints=True), master, at, _Node))
            s.masters.append(master)
        s.length = self.len_()
        s.last_id = self.len_() << 64 | self.len_()
        if rtype >= T_STREAM_LISTPACKS_2:
            self.len_(), self.len_()        # first id
            self.len_(), self.len_()        # max deleted entry id
            self.len_()                     # entries added
        ngroups = self.len_()
        if ngroups:
            s.groups = {}
        for _ in range(ngroups):
            name = self.string()
            g = Group(name, self.len_() << 64 | self.len_())
            if rtype >= T_STREAM_LISTPACKS_2:
                self.len_()                 # entries read
            for _ in range(self.len_()):
                id_ = int.from_bytes(self.take(16), "big")
                when = self.millis()
                g.pel[id_] = NACK(None, when, self.len_())
            for _ in range(self.len_()):
                cname = self.string()
                c = Consumer(cname, self.millis())
                if rtype >= T_STREAM_LISTPACKS_3:
                    self.millis()           # active time
                for _ in range(self.len_()):
                    at = self.pos
                    id_ = int.from_bytes(self.take(16), "big")
                    nack = g.pel.get(id_)
                    if nack is None:
                        self.fail("consumer PEL entry missing from the group PEL", at)
                    nack.consumer = c
                    c.pel[id_] = nack
                g.consumers[cname] = c
            s.groups[name] = g
        return s


# -- compact encodings --------------------------------------------------------------


def _ziplist(blob: bytes, at: int) -> list:
    """The elements of a ziplist, as bytes."""
    n = len(blob)
    try:
        if n < 11 or int.from_bytes(blob[0:4], "little") != n:
            raise RDBError("ziplist header does not match its size", at)
        p = 10
        out = []
        while True:
            if blob[p] == 0xFF:
                break
            p += 5 if blob[p] == 254 else 1
            e = blob[p]
            kind = e >> 6
            if kind == 0:
                ln = e & 0x3F
                p += 1
                out.append(blob[p:p + ln])
                p += ln
            elif kind == 1:
                ln = ((e & 0x3F) << 8) | blob[p + 1]
                p += 2
                out.append(blob[p:p + ln])
                p += ln
            elif kind == 2:
                ln = int.from_bytes(blob[p + 1:p + 5], "big")
                p += 5
                out.append(blob[p:p + ln])
                p += ln
            else:
                p += 1
                if e == 0xC0:
                    v, w = int.from_bytes(blob[p:p + 2], "little", signed=True), 2
                elif e == 0xD0:
                    v, w = int.from_bytes(blob[p:p + 4], "little", signed=True), 4
                elif e == 0xE0:
                    v, w = int.from_bytes(blob[p:p + 8], "little", signed=True), 8
                elif e == 0xF0:
                    v, w = int.from_bytes(blob[p:p + 3], "little", signed=True), 3
                elif e == 0xFE:
                    v, w = int.from_bytes(blob[p:p + 1], "little", signed=True), 1
                elif 0xF1 <= e <= 0xFD:
                    v, w = (e & 0x0F) - 1, 0
                else:
                    raise RDBError(f"bad ziplist entry encoding 0x{e:02x}", at)
                p += w
                out.append(b"%d" % v)
            if p > n:
                raise RDBError("ziplist entry runs past its end", at)
    except IndexError:
        raise RDBError("truncated ziplist", at) from None
    if p != n - 1:
        raise RDBError("ziplist end marker not at its end", at)
    count = int.from_bytes(blob[8:10], "little")
    if count != 65535 and count != len(out):
        raise RDBError("ziplist count does not match its entries", at)
    return out


def _listpack_items(blob: bytes, at: int, ints: bool = False) -> list:
    """The elements of a listpack: bytes, or with ``ints`` integers kept as
    ints (stream nodes read their counters so)."""
    n = len(blob)
    out = []
    try:
        if n < 7 or int.from_bytes(blob[0:4], "little") != n:
            raise RDBError("listpack header does not match its size", at)
        p = 6
        while True:
            e = blob[p]
            if e == 0xFF:
                break
            v = None
            if e < 0x80:
                v, size = e, 1
            elif e < 0xC0:
                ln = e & 0x3F
                s = blob[p + 1:p + 1 + ln]
                size = 1 + ln
            elif e < 0xE0:
                u = ((e & 0x1F) << 8) | blob[p + 1]
                v, size = (u - 0x2000 if u >= 0x1000 else u), 2
            elif e < 0xF0:
                ln = ((e & 0x0F) << 8) | blob[p + 1]
                s = blob[p + 2:p + 2 + ln]
                size = 2 + ln
            elif e == 0xF0:
                ln = int.from_bytes(blob[p + 1:p + 5], "little")
                s = blob[p + 5:p + 5 + ln]
                size = 5 + ln
            elif e == 0xF1:
                v, size = int.from_bytes(blob[p + 1:p + 3], "little", signed=True), 3
            elif e == 0xF2:
                v, size = int.from_bytes(blob[p + 1:p + 4], "little", signed=True), 4
            elif e == 0xF3:
                v, size = int.from_bytes(blob[p + 1:p + 5], "little", signed=True), 5
            elif e == 0xF4:
                v, size = int.from_bytes(blob[p + 1:p + 9], "little", signed=True), 9
            else:
                raise RDBError(f"bad listpack entry encoding 0x{e:02x}", at)
            p += size
            p += 1 if size <= 127 else 2 if size < 16383 else 3 if size < 2097151 \
                else 4 if size < 268435455 else 5
            if p > n - 1:
                raise RDBError("listpack entry runs past its end", at)
            if v is None:
                out.append(bytes(s))
            else:
                out.append(v if ints else b"%d" % v)
    except IndexError:
        raise RDBError("truncated listpack", at) from None
    if p != n - 1:
        raise RDBError("listpack end marker not at its end", at)
    return out


def _intset(blob: bytes, at: int) -> list:
    if len(blob) < 8:
        raise RDBError("truncated intset", at)
    width, count = struct.unpack_from("<II", blob)
    fmt = {2: "h", 4: "i", 8: "q"}.get(width)
    if fmt is None or len(blob) != 8 + width * count:
        raise RDBError("intset header does not match its size", at)
    return [b"%d" % v for v in struct.unpack_from(f"<{count}{fmt}", blob, 8)]


def _zipmap(blob: bytes, at: int) -> list:
    out = []
    p = 1
    try:
        while blob[p] != 0xFF:
            for is_value in (False, True):
                ln = blob[p]
                if ln == 254:
                    ln = int.from_bytes(blob[p + 1:p + 5], "little")
                    p += 5
                else:
                    p += 1
                free = 0
                if is_value:
                    free = blob[p]
                    p += 1
                out.append(bytes(blob[p:p + ln]))
                p += ln + free
    except IndexError:
        raise RDBError("truncated zipmap", at) from None
    return out


def _stream_node(items: list, master: int, at: int, node_cls):
    """A stream node (types.stream._Node) from its listpack's elements."""
    try:
        count, deleted, nfields = items[0], items[1], items[2]
        fields = tuple(_as_bytes(x) for x in items[3:3 + nfields])
        p = 3 + nfields
        if items[p] != 0:
            raise RDBError("stream master entry not terminated", at)
        p += 1
        node = node_cls(master, fields)
        mms, mseq = master >> 64, master & _MASK64
        live = dead = 0
        while p < len(items):
            flags = items[p]
            id_ = ((mms + items[p + 1]) & _MASK64) << 64 | ((mseq + items[p + 2]) & _MASK64)
            p += 3
            if flags & _STREAM_SAMEFIELDS:
                values = [_as_bytes(x) for x in items[p:p + nfields]]
                p += nfields
                fv = []
                for f, v in zip(fields, values):
                    fv += (f, v)
            else:
                nf = items[p]
                fv = [_as_bytes(x) for x in items[p + 1:p + 1 + 2 * nf]]
                p += 1 + 2 * nf
            p += 1  # lp-count
            fv = tuple(fv)
            if flags & _STREAM_DELETED:
                node.base += node.entry_size(id_, fv) if fv else 0
                node.ids.append(id_)
                node.values.append(None)
                node.deleted += 1
                dead += 1
            else:
                node.add(id_, fv)
                live += 1
        if p != len(items) or live != count or dead != deleted:
            raise RDBError("stream node counts do not match its entries", at)
    except (IndexError, TypeError):
        raise RDBError("malformed stream node", at) from None
    return node


def _as_bytes(x) -> bytes:
    return b"%d" % x if type(x) is int else x


# -- snapshots ----------------------------------------------------------------


class Snapshot:
    """What a parsed RDB holds: per database index a pair of dicts (key ->
    value, key -> expire ms), and the AUX fields."""

    def __init__(self) -> None:
        self.dbs: dict[int, tuple] = {}
        self.aux: dict[bytes, bytes] = {}
        self.version = 0
        self.keys = 0
        self.end = 0

    def entries(self):
        """(db index, key, value, expire ms or None) for every key."""
        for index, (data, expires) in self.dbs.items():
            for key, value in data.items():
                yield index, key, value, expires.get(key)


def parse(data, limits: Limits | None = None, progress=None, skip_expired: bool = True,
          check_crc: bool = True, trailing: bool = False) -> Snapshot:
    """Parse a whole RDB in ``data`` (bytes-like). ``progress(pos, total,
    keys)`` is called every few thousand keys."""
    for step in iter_parse(data, limits, skip_expired, check_crc, trailing):
        if progress is not None and not isinstance(step, Snapshot):
            progress(*step)
    return step


def iter_parse(data, limits: Limits | None = None, skip_expired: bool = True,
               check_crc: bool = True, trailing: bool = False):
    """Parse step by step: yields (pos, total, keys) every few thousand keys
    and finally the :class:`Snapshot`. With ``trailing``, data after the
    RDB is allowed (an AOF's tail after its preamble); ``Snapshot.end`` is
    where the RDB ends."""
    buf = data if type(data) is bytes else bytes(data)
    total = len(buf)
    if total < 9 or buf[:5] != b"REDIS":
        raise RDBError("not an RDB file (wrong signature)", 0)
    try:
        version = int(buf[5:9])
    except ValueError:
        raise RDBError("not an RDB file (bad version field)", 5) from None
    if not 1 <= version <= MAX_READ_VERSION:
        raise RDBError(f"can't handle RDB format version {version}", 5)
    snap = Snapshot()
    snap.version = version
    p = _Parser(buf, 9, limits)
    now = int(time.time() * 1000)
    data_, expires_ = snap.dbs.setdefault(0, ({}, {}))
    expire = None
    keys = 0
    pos = 9
    value_types = _VALUE_TYPES
    try:
        while True:
            op_at = pos
            op = buf[pos]
            pos += 1
            if op == T_STRING:
                # The common case inline: a short raw key and a short raw
                # (or integer-encoded) value.
                n = buf[pos]
                if n < 64:
                    key = buf[pos + 1:pos + 1 + n]
                    pos += 1 + n
                else:
                    p.pos = pos
                    key = p.string()
                    pos = p.pos
                n = buf[pos]
                if n < 64:
                    value = buf[pos + 1:pos + 1 + n]
                    pos += 1 + n
                    if pos > total:
                        p.fail("unexpected end of data reading a string", op_at)
                else:
                    p.pos = pos
                    value = p.string()
                    pos = p.pos
            elif op in value_types:
                p.pos = pos
                key = p.string()
                value = p.value(op)
                pos = p.pos
            else:
                p.pos = pos
                if op == OP_EXPIRETIME_MS:
                    expire = p.millis()
                elif op == OP_EXPIRETIME:
                    expire = int.from_bytes(p.take(4), "little", signed=True) * 1000
                elif op == OP_SELECTDB:
                    data_, expires_ = snap.dbs.setdefault(p.len_(), ({}, {}))
                elif op == OP_RESIZEDB:
                    p.len_(), p.len_()
                elif op == OP_AUX:
                    name = p.string()
                    snap.aux[name] = p.string()
                elif op == OP_FREQ:
                    p.u8()
                elif op == OP_IDLE:
                    p.len_()
                elif op == OP_EOF:
                    break
                elif op in (OP_MODULE_AUX, OP_FUNCTION, OP_FUNCTION2):
                    p.fail("module data and functions are not supported", op_at)
                else:
                    p.fail(f"unknown value type {op}", op_at)
                pos = p.pos
                continue
            if expire is None:
                n = len(data_)
                data_[key] = value
                if len(data_) == n:
                    p.fail("duplicate key %r" % key[:64], op_at)
            else:
                if not skip_expired or expire >= now:
                    if key in data_:
                        p.fail("duplicate key %r" % key[:64], op_at)
                    data_[key] = value
                    expires_[key] = expire
                expire = None
            keys += 1
            if not keys & 16383:
                yield pos, total, keys
    except IndexError:
        raise RDBError("unexpected end of data", min(pos, total)) from None
    if version >= 5:
        end = pos
        if end + 8 > total:
            raise RDBError("unexpected end of file reading the checksum", end)
        stored = int.from_bytes(buf[end:end + 8], "little")
        if check_crc and stored:
            actual = crc64(memoryview(buf)[:end])
            if actual != stored:
                raise RDBError(
                    f"wrong RDB checksum: expected {stored:016x}, got {actual:016x}", end)
        pos = end + 8
    if pos != total and not trailing:
        raise RDBError("trailing data after the end of the RDB", pos)
    snap.keys = keys
    snap.end = pos
    yield snap


def install(snap: Snapshot, keyspace) -> int:
    """Put a parsed snapshot into ``keyspace`` (its databases are emptied
    first; the parsed dicts become the databases' own). Returns how many
    keys were stored."""
    import heapq
    for index, (data, _) in snap.dbs.items():
        if data and index >= len(keyspace.dbs):
            raise RDBError(f"the RDB has database {index}, this server has "
                           f"{len(keyspace.dbs)} (raise 'databases')")
    for db in keyspace.dbs:
        db.flush()
    n = 0
    for index, (data, expires) in snap.dbs.items():
        if not data:
            continue
        db = keyspace.dbs[index]
        db.data = data
        db.expires = expires
        db._expiry_heap = [(w, k) for k, w in expires.items()]
        heapq.heapify(db._expiry_heap)
        n += len(data)
    return n


def load(stream, keyspace, config=None) -> int:
    """Load a whole snapshot from ``stream`` (binary, with ``read``) into
    ``keyspace``, replacing its contents. Raises :class:`RDBError` and
    leaves the keyspace untouched on a bad input. Returns the key count."""
    data = stream.read()
    snap = parse(data, Limits(config))
    return install(snap, keyspace)


def load_value(data, config=None):
    """The value of a :func:`dump_value` blob (type byte + serialisation)."""
    p = _Parser(data, 0, Limits(config))
    value = p.value(p.u8())
    if p.pos != len(data):
        raise RDBError("trailing data after the value", p.pos)
    return value


def load_payload(payload, config=None):
    """The value in a DUMP payload; RDBError if its version is newer than
    this reader knows or its checksum does not match."""
    if len(payload) < 10:
        raise RDBError("payload too short")
    body = payload[:-8]
    version = int.from_bytes(payload[-10:-8], "little")
    if version > MAX_READ_VERSION:
        raise RDBError(f"payload RDB version {version} is newer than supported")
    if crc64(body) != int.from_bytes(payload[-8:], "little"):
        raise RDBError("payload checksum mismatch")
    return load_value(memoryview(body)[:-2].tobytes(), config)


# -- the AOF's RDB preamble ------------------------------------------------------------


def dump_preamble(core) -> bytes:
    """The dataset as an AOF preamble (aof-preamble:1)."""
    import io
    buf = io.BytesIO()
    dump(core, buf, preamble=True)
    return buf.getvalue()


def rdb_length(data) -> int:
    """How many bytes at the start of ``data`` one RDB takes (RDBError if
    it cannot be read)."""
    return parse(data, trailing=True).end


def load_preamble(core, data) -> int:
    """Load an AOF's RDB preamble into ``core``'s keyspace."""
    snap = parse(data, Limits(core.config))
    return install(snap, core.ks)
