"""The global replication link, sans-IO: the message codec and the state
machines of its two ends. Bytes in, bytes out; no sockets, no timers (time
comes in through :meth:`ReceiverLink.tick`), so the simulation and the
asyncio driver run the same code.

A link is one-way and pulled by the *receiver*: it connects to the source
(after AUTH, which the driver does), says HELLO with its ServerID and its
version vector, and the source streams the ops the receiver lacks, then
live ops. Rules (G1, G2):

* the source skips ops that originated at the receiver and ops at or below
  the receiver's vector; per origin it sends op ids in increasing order, and
  remembers per origin the highest it sent so live ops and the backlog never
  overlap;
* when the source's log no longer covers the receiver (retention dropped
  what it lacks, ``FullSyncNeeded``), it sends a snapshot instead: SNAPBEGIN
  with its vector, flush versions and ``gc_floor``, a SLOTKEYS of the keys
  whose states it still waits for (ops in that vector resolved by a fetch
  not answered yet: the receiver asks for them too), one SNAPKEY per
  versioned key (values and tombstones), SNAPEND; the receiver installs
  each key only where it is newer than its own (never blindly replacing
  newer keys), drops its keys the snapshot shows deleted (left out, and
  stamped below the floor by an origin the source knows: their tombstones
  were collected there), merges the vector and restarts its log from it;
  then the stream goes on live;
* after the backlog (or the snapshot) the source sends SYNCED; the receiver
  then runs anti-entropy: DIGESTREQ -> DIGEST (flush versions, one 64-bit
  digest per slot), SLOTSREQ for the slots that differ -> SLOTKEYS (key,
  version) -> KEYFETCH for every key the source has newer -> KEYVALUE;
* a key state the source installed from outside (a fetch, anti-entropy, a
  snapshot: not an op) is pushed on as an unsolicited KEYVALUE, so repairs
  travel along chains and rings at once;
* KEYFETCH/KEYVALUE also resolve conflicts: when an op wins on a key but
  cannot be recomputed here (see gmember), the receiver fetches the key from
  the source; an answer older than the op's version (the source is waiting
  for it itself) is asked again after ``retry_ms``;
* the receiver ACKs its vector after its log is flushed (the driver calls
  :meth:`ReceiverLink.ack` after ``log.flush()``), so the source may drop
  log segments every receiver has (retention by acknowledgement);
* on an idle link the receiver sends PING and the source answers PONG, so
  the driver of either end can drop a link that stays silent for its
  timeout (a hung path sends neither FIN nor RST);
* STABLE carries what tombstone collection needs (gmember's module doc):
  once the receiver is caught up, the source sends its frontiers and the
  ``local_stable()`` of itself and the members upstream, in the stream
  after the ops, when they moved (at most every ``stable_ms``); the
  receiver answers with its own ``local_stable()`` after its log flush and
  its ``gc_want()``: the time below which tombstones wait (the source then
  logs heartbeats while idle, and passes it on upstream).

Compression (G7): the source -> receiver direction (OPs, snapshots,
KEYVALUEs: nearly all the bytes) may travel as one zstd streaming frame. A
receiver that can take it says so in HELLO's ``flags`` (``HELLO_ZSTD``; a
HELLO without the field, as older members send it, means no); a source
willing to compress answers with COMPRESS (codec ``ZSTD``) as its first
message, and every byte it sends after that message is the zstd stream of
the messages, flushed (``COMPRESSOBJ_FLUSH_BLOCK``) at the end of each
:meth:`SourceLink.data_to_send`, so a batch is never held back waiting for
more. The receiver's :class:`Decoder` feeds those bytes to a decompressor
before the framing below. Either end may decline (``global-link-compression
no``, or an older member): the stream then stays plain, so mixed groups
interoperate. The receiver -> source direction (HELLO, ACKs, fetches,
digests) is small and always plain. Older sources refuse a HELLO longer
than they know, so the driver asks for compression only from a source that
announced in its handshake reply that it reads the flags. Decompression is
bounded: the decoder inflates only while it lacks a whole message, a slice
of input at a time (a slice can grow only so much: see ``_INFLATE_STEP``),
so a zstd bomb costs at most a message's length plus tens of MB; a corrupt
or ended stream raises ``LinkProtocolError``.

Framing: every message is ``type (u8) | body length (u32 LE) | body``. An OP's
body is a global log record exactly as ``globallog.encode_record`` writes it
(its own length and CRC-32 included), so records cross the wire unchanged.
Other bodies are little-endian fixed-width fields; a key or payload is a u32
length and the bytes. Misuse of the API raises ``LinkUsageError``; a peer
sending bytes that are not a valid message raises ``LinkProtocolError`` (the
driver closes the connection and reconnects).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import zstandard

from .globallog import CorruptRecord, FullSyncNeeded, Record, decode_record, encode_record
from .gmember import KeyState, make_version, state_bytes, state_from_bytes

# Message types.
HELLO, OP, ACK, KEYFETCH, KEYVALUE, SYNCED, DIGESTREQ, DIGEST, SLOTSREQ, SLOTKEYS, \
    SNAPBEGIN, SNAPKEY, SNAPEND, PING, PONG, STABLE, COMPRESS = range(1, 18)

# HELLO flags: what the receiver can take. Unknown bits are ignored, so a
# later flag needs no new message.
HELLO_ZSTD = 1
# COMPRESS codecs.
ZSTD = 1

_HEAD = struct.Struct("<BI")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_VEC = struct.Struct("<HQ")
_SLOTKEY = struct.Struct("<HQI")        # db, version, key length
MAX_MESSAGE = 1 << 30

# zstd level 1, the fastest: on this stream higher levels gain nothing (SET
# records in 256 KB batches: ratio 4.47 at level 1, 4.42 at 3, 4.40 at 6,
# for 2 and 6 times the CPU).
ZSTD_LEVEL = 1
# A frame asking for a larger window is refused (level 1 uses 512 KB).
_ZSTD_MAX_WINDOW = 1 << 23
# The decoder inflates this many compressed bytes per step (plus a share of
# what the message being read still lacks). No zstd input byte makes more
# than 32 KB of output (an RLE block: 4 bytes, 128 KB), so one step yields
# at most 32 MB beyond what the message needs, whatever the peer sends.
_INFLATE_STEP = 1024
_ZSTD_MAX_RATIO = 1 << 15


class LinkProtocolError(ValueError):
    """The peer sent bytes that are not a valid message."""


class LinkUsageError(RuntimeError):
    """The caller used a state machine out of order."""


# -- messages --------------------------------------------------------------------

class Hello(NamedTuple):
    server_id: int
    vector: dict
    # HELLO_* bits; sent only when not 0 (the body older members know).
    flags: int = 0


class Op(NamedTuple):
    record: Record


class Ack(NamedTuple):
    vector: dict


class KeyFetch(NamedTuple):
    db: int
    key: bytes
    want: int = 0       # the version the receiver waits for (0: any)


class KeyValue(NamedTuple):
    state: KeyState


class Synced(NamedTuple):
    pass


class DigestReq(NamedTuple):
    pass


class Digest(NamedTuple):
    flush: list
    slots: list


class SlotsReq(NamedTuple):
    slots: list


class SlotKeys(NamedTuple):
    entries: list        # (db, key, version)


class SnapBegin(NamedTuple):
    vector: dict
    flush: list
    # Keys the snapshot holds (the receiver shows its progress in %).
    total: int = 0
    # The source's gc_floor: a key the snapshot leaves out whose version
    # is stamped below it by an origin in ``vector`` was deleted there
    # (its tombstone collected), so the receiver drops it.
    floor: int = 0


class SnapKey(NamedTuple):
    state: KeyState


class SnapEnd(NamedTuple):
    pass


class Ping(NamedTuple):
    """Receiver -> source on an idle link; the source answers Pong, so each
    end learns within the link timeout that the other is gone."""


class Pong(NamedTuple):
    pass


class Compress(NamedTuple):
    """Source -> receiver, the answer to HELLO_ZSTD: every byte after this
    message is a zstd stream of the messages."""
    codec: int = ZSTD


class Stable(NamedTuple):
    """Source -> receiver: origin -> frontier and member -> local_stable;
    receiver -> source: no frontiers, its own local_stable, and its
    gc_want()."""
    frontiers: dict
    members: dict
    wants: int = 0


def _vec(vector: dict) -> bytes:
    items = sorted(vector.items())
    return _U32.pack(len(items)) + b"".join(_VEC.pack(o, v) for o, v in items)


def _u64s(values: list) -> bytes:
    return _U32.pack(len(values)) + struct.pack("<%dQ" % len(values), *values)


_state = state_bytes


def _frame(mtype: int, body: bytes) -> bytes:
    return _HEAD.pack(mtype, len(body)) + body


def encode(msg) -> bytes:
    """The framed bytes of one message."""
    t = type(msg)
    if t is Op:
        return _frame(OP, encode_record(msg.record))
    if t is Hello:
        body = _U16.pack(msg.server_id) + _vec(msg.vector)
        if msg.flags:
            body += _U32.pack(msg.flags)
        return _frame(HELLO, body)
    if t is Compress:
        return _frame(COMPRESS, _U8.pack(msg.codec))
    if t is Ack:
        return _frame(ACK, _vec(msg.vector))
    if t is KeyFetch:
        return _frame(KEYFETCH, _U16.pack(msg.db) + _U64.pack(msg.want) + msg.key)
    if t is KeyValue:
        return _frame(KEYVALUE, _state(msg.state))
    if t is SnapKey:
        return _frame(SNAPKEY, _state(msg.state))
    if t is Synced:
        return _frame(SYNCED, b"")
    if t is DigestReq:
        return _frame(DIGESTREQ, b"")
    if t is SnapEnd:
        return _frame(SNAPEND, b"")
    if t is Ping:
        return _frame(PING, b"")
    if t is Pong:
        return _frame(PONG, b"")
    if t is Stable:
        return _frame(STABLE, _vec(msg.frontiers) + _vec(msg.members) + _U64.pack(msg.wants))
    if t is Digest:
        return _frame(DIGEST, _u64s(msg.flush) + _u64s(msg.slots))
    if t is SlotsReq:
        return _frame(SLOTSREQ, _U32.pack(len(msg.slots))
                      + struct.pack("<%dI" % len(msg.slots), *msg.slots))
    if t is SlotKeys:
        parts = [_U32.pack(len(msg.entries))]
        for db, key, version in msg.entries:
            parts.append(_SLOTKEY.pack(db, version, len(key)))
            parts.append(key)
        return _frame(SLOTKEYS, b"".join(parts))
    if t is SnapBegin:
        return _frame(SNAPBEGIN, _vec(msg.vector) + _u64s(msg.flush) + _U64.pack(msg.total)
                      + _U64.pack(msg.floor))
    raise LinkUsageError(f"not a link message: {msg!r}")


class _Body:
    """A cursor over one message body; running past its end is the peer's
    protocol error."""

    __slots__ = ("b", "p")

    def __init__(self, b: bytes) -> None:
        self.b = b
        self.p = 0

    def take(self, s: struct.Struct):
        try:
            v = s.unpack_from(self.b, self.p)
        except struct.error:
            raise LinkProtocolError("message body cut short") from None
        self.p += s.size
        return v

    def raw(self, n: int) -> bytes:
        q = self.p + n
        if q > len(self.b):
            raise LinkProtocolError("message body cut short")
        v = self.b[self.p:q]
        self.p = q
        return v

    def rest(self) -> bytes:
        v = self.b[self.p:]
        self.p = len(self.b)
        return v

    def vec(self) -> dict:
        (n,) = self.take(_U32)
        out = {}
        for _ in range(n):
            o, v = self.take(_VEC)
            out[o] = v
        return out

    def u64s(self) -> list:
        (n,) = self.take(_U32)
        return list(struct.unpack("<%dQ" % n, self.raw(8 * n)))

    def state(self) -> KeyState:
        try:
            return state_from_bytes(self.rest())
        except ValueError as e:
            raise LinkProtocolError(str(e)) from None

    def end(self) -> None:
        if self.p != len(self.b):
            raise LinkProtocolError(f"{len(self.b) - self.p} stray bytes after a message")


def decode_body(mtype: int, body: bytes):
    """The message of type ``mtype`` whose body is ``body``."""
    if mtype == OP:
        try:
            got = decode_record(body)
        except CorruptRecord as e:
            raise LinkProtocolError(f"bad op record: {e}") from None
        if got is None or got[1] != len(body):
            raise LinkProtocolError("op record does not fill its message")
        return Op(got[0])
    c = _Body(body)
    if mtype == HELLO:
        (sid,) = c.take(_U16)
        vector = c.vec()
        # An older member's HELLO ends here: it takes no flags.
        flags = c.take(_U32)[0] if c.p < len(body) else 0
        msg = Hello(sid, vector, flags)
    elif mtype == COMPRESS:
        (codec,) = c.take(_U8)
        if codec != ZSTD:
            raise LinkProtocolError(f"unknown compression codec {codec}")
        msg = Compress(codec)
    elif mtype == ACK:
        msg = Ack(c.vec())
    elif mtype == KEYFETCH:
        (db,) = c.take(_U16)
        (want,) = c.take(_U64)
        msg = KeyFetch(db, c.rest(), want)
    elif mtype == KEYVALUE:
        msg = KeyValue(c.state())
    elif mtype == SNAPKEY:
        msg = SnapKey(c.state())
    elif mtype == SYNCED:
        msg = Synced()
    elif mtype == DIGESTREQ:
        msg = DigestReq()
    elif mtype == SNAPEND:
        msg = SnapEnd()
    elif mtype == PING:
        msg = Ping()
    elif mtype == PONG:
        msg = Pong()
    elif mtype == STABLE:
        msg = Stable(c.vec(), c.vec(), c.take(_U64)[0])
    elif mtype == DIGEST:
        msg = Digest(c.u64s(), c.u64s())
    elif mtype == SLOTSREQ:
        (n,) = c.take(_U32)
        msg = SlotsReq(list(struct.unpack("<%dI" % n, c.raw(4 * n))))
    elif mtype == SLOTKEYS:
        (n,) = c.take(_U32)
        entries = []
        for _ in range(n):
            db, version, klen = c.take(_SLOTKEY)
            entries.append((db, c.raw(klen), version))
        msg = SlotKeys(entries)
    elif mtype == SNAPBEGIN:
        msg = SnapBegin(c.vec(), c.u64s(), c.take(_U64)[0], c.take(_U64)[0])
    else:
        raise LinkProtocolError(f"unknown message type {mtype}")
    c.end()
    return msg


class Decoder:
    """Messages from a byte stream fed in pieces: :meth:`feed`, then
    :meth:`next` until it returns None (more bytes needed).

    With ``accept_compress`` (a receiver that sent HELLO_ZSTD), a COMPRESS
    message switches the rest of the stream to zstd: bytes fed from there
    on are inflated as :meth:`next` needs them. Without it, COMPRESS is the
    peer's error."""

    __slots__ = ("_buf", "_pos", "body", "accept_compress", "_z", "_zin", "_zpos", "plain")

    def __init__(self, accept_compress: bool = False) -> None:
        self._buf = bytearray()
        self._pos = 0
        # The body of the message next() returned last (an OP's body is its
        # record's framed bytes: the receiver logs them as they are).
        self.body = b""
        self.accept_compress = accept_compress
        # Once compressed: the decompressor, and the compressed bytes not
        # yet inflated (from _zpos on).
        self._z = None
        self._zin = bytearray()
        self._zpos = 0
        # Bytes of the plain stream so far: what came before COMPRESS, and
        # what was inflated after it.
        self.plain = 0

    @property
    def compressed(self) -> bool:
        return self._z is not None

    def feed(self, data) -> None:
        if self._z is not None:
            if self._zpos:
                del self._zin[:self._zpos]
                self._zpos = 0
            self._zin += data
            return
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data
        self.plain += len(data)

    def next(self):
        while True:
            buf, pos = self._buf, self._pos
            have = len(buf) - pos
            if have >= _HEAD.size:
                mtype, n = _HEAD.unpack_from(buf, pos)
                if n > MAX_MESSAGE:
                    raise LinkProtocolError(f"message length {n} too large")
                end = pos + _HEAD.size + n
                if end <= len(buf):
                    body = bytes(buf[pos + _HEAD.size:end])
                    msg = decode_body(mtype, body)
                    self._pos = end
                    self.body = body
                    if mtype == COMPRESS:
                        self._start_inflating()
                    return msg
                lacking = end - len(buf)
            else:
                lacking = _HEAD.size - have
            if self._z is None or not self._inflate(lacking):
                return None

    def _start_inflating(self) -> None:
        if not self.accept_compress:
            raise LinkProtocolError("COMPRESS that was not asked for")
        if self._z is not None:
            raise LinkProtocolError("second COMPRESS")
        self._z = zstandard.ZstdDecompressor(
            max_window_size=_ZSTD_MAX_WINDOW).decompressobj()
        # What followed COMPRESS in the buffer is already compressed.
        rest = self._buf[self._pos:]
        del self._buf[self._pos:]
        self.plain -= len(rest)
        self._zin = rest
        self._zpos = 0

    def _inflate(self, lacking: int) -> bool:
        """Inflates one step of the compressed input into the buffer; False
        when there is none left. ``lacking``: bytes the message being read
        still needs (a large message is inflated in larger steps)."""
        zin, zpos = self._zin, self._zpos
        if zpos >= len(zin):
            return False
        step = _INFLATE_STEP + lacking // _ZSTD_MAX_RATIO
        chunk = zin[zpos:zpos + step]
        self._zpos = zpos + len(chunk)
        z = self._z
        try:
            out = z.decompress(chunk)
        except zstandard.ZstdError as e:
            raise LinkProtocolError(f"bad compressed stream: {e}") from None
        if z.eof:
            # Our sources never end the frame: what follows would be lost.
            raise LinkProtocolError("the compressed stream ended")
        if out:
            buf = self._buf
            if self._pos:
                del buf[:self._pos]
                self._pos = 0
            buf += out
            self.plain += len(out)
        return True


def check_fields(msg, member) -> None:
    """Refuse (LinkProtocolError) a well-framed message whose fields the
    member would index or parse unchecked: a database index out of range,
    an op timestamp that fits no version, an op's SELECT that is not a
    database. Only a broken or hostile peer sends those; the link closes
    instead of the member failing half-way through applying it."""
    t = type(msg)
    if t is Op:
        rec = msg.record
        try:
            make_version(rec.ts, rec.origin)
        except ValueError as e:
            raise LinkProtocolError(f"bad op: {e}") from None
        commands = rec.commands
        if len(commands) == 1 and len(rec.keys) == 1:
            # The common op; the same checks as below.
            args = commands[0]
            if not (args and args[0].upper() == b"SELECT"):
                n = len(member.ks.dbs)
                for db in (rec.db, rec.keys[0][0]):
                    if db >= n:
                        raise LinkProtocolError(f"database index {db} out of range")
                return
        dbs = [rec.db] + [k.db for k in rec.keys]
        for args in commands:
            if args and args[0].upper() == b"SELECT":
                if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 5:
                    raise LinkProtocolError("bad op: SELECT of no database")
                dbs.append(int(args[1]))
    elif t is KeyFetch:
        dbs = (msg.db,)
    elif t is KeyValue or t is SnapKey:
        dbs = (msg.state.db,)
    elif t is SlotKeys:
        dbs = [e[0] for e in msg.entries]
    else:
        return
    n = len(member.ks.dbs)
    for db in dbs:
        if db >= n:
            raise LinkProtocolError(f"database index {db} out of range")


# -- the receiver's end ------------------------------------------------------------

class ReceiverLink:
    """The pulling end of one link, for ``member`` (a GlobalMember).

    Per connection: :meth:`connect` (returns HELLO and pending fetches;
    ``compress=True`` asks the source for a compressed stream), then
    :meth:`receive_data` with what arrives; :meth:`data_to_send` returns
    what to write. After each turn's ``log.flush()`` the driver
    calls :meth:`ack`. :meth:`tick` with the time retries fetches whose
    answer was older than wanted. Conflict fetches survive reconnects.

    ``state``: "idle" (not connected), "syncing" (HELLO sent), "fullsync"
    (a snapshot is arriving), "synced" (live).
    """

    def __init__(self, member, *, retry_ms: int = 50) -> None:
        self.member = member
        member.receivers.append(self)
        self.retry_ms = retry_ms
        self.state = "idle"
        self._dec = Decoder()
        self._out: list = []
        self.now = 0
        # (db, key) -> version wanted (an op's result, or a newer version
        # the source's digest showed); kept until a state that new is here.
        self.wants: dict = {}
        self._inflight: set = set()
        self._retry: dict = {}
        self._attempts: dict = {}
        self.max_retry_ms = 5000
        self._snap_vector = None
        self._snap_floor = 0
        # During a full sync: our keys the snapshot may show deleted.
        self._snap_stale: dict = {}
        # A full sync's progress: keys announced and keys installed.
        self.snap_total = 0
        self.snap_done = 0
        self._acked: dict = {}
        # What we last told the source in STABLE; when the source first
        # sent one (None: never yet) and when this link was made (ms).
        self._echoed = None
        self._echo_at = None
        self.vouched = None
        self.created = member.clock()
        self.full_syncs = 0
        self.ops_received = 0
        # Bytes received (on the wire) and the plain stream they carried
        # (over all connections): their quotient is the compression ratio.
        self.bytes_in = 0
        self._plain_before = 0
        self.events: list = []

    @property
    def bytes_plain(self) -> int:
        return self._plain_before + self._dec.plain

    @property
    def compressed(self) -> bool:
        """The source of this connection compresses its stream."""
        return self._dec.compressed

    def connect(self, compress: bool = False) -> bytes:
        """A new connection is up (after AUTH): the HELLO, then a fetch for
        every key still wanted. ``compress``: ask for a zstd stream (only
        of a source that reads HELLO's flags: older ones refuse the HELLO)."""
        self._plain_before += self._dec.plain
        self._dec = Decoder(accept_compress=compress)
        self._inflight.clear()
        self._retry.clear()
        self._snap_vector = None
        self.state = "syncing"
        self._acked = {}
        self._echoed = self._echo_at = None
        m = self.member
        self._out = [encode(Hello(m.server_id, dict(m.vector),
                                  HELLO_ZSTD if compress else 0))]
        if m.replay_wants:
            # What the restart's replay could not rebuild: any source that
            # has it (or gets it) answers.
            for k, version in list(m.replay_wants.items()):
                if m.holds(k[0], k[1], version):
                    del m.replay_wants[k]
                elif version > self.wants.get(k, 0):
                    self.wants[k] = version
        for (db, key) in self.wants:
            self._fetch(db, key)
        return self.data_to_send()

    def detach(self) -> None:
        """The link is removed for good (GLOBAL PEER REMOVE)."""
        if self in self.member.receivers:
            self.member.receivers.remove(self)
        self.state = "idle"

    def disconnected(self) -> None:
        """The connection is gone; :meth:`connect` starts the next one."""
        self.state = "idle"
        self._out = []

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out = []
        return out

    def ack(self) -> bytes:
        """An ACK of our vector when it moved, and the STABLE echo when it or
        our tombstones' state did (call after log.flush())."""
        if self.state == "idle":
            return b""
        m = self.member
        out = b""
        vec = m.vector
        if vec != self._acked:
            self._acked = dict(vec)
            out = encode(Ack(self._acked))
        now = m.clock()
        if self._echo_at is None or now - self._echo_at >= m.stable_ms:
            self._echo_at = now
            echo = (m.local_stable(), m.gc_want())
            if echo != self._echoed:
                self._echoed = echo
                out += encode(Stable({}, {m.server_id: echo[0]}, echo[1]))
        return out

    def tick(self, now_ms: int) -> None:
        """The time moved: re-asks for keys whose answer was too old once
        ``retry_ms`` passed (then :meth:`data_to_send`)."""
        self.now = now_ms
        if self.state != "idle" and self._retry:
            for k, due in list(self._retry.items()):
                if due <= now_ms:
                    del self._retry[k]
                    if self._still_wanted(k):
                        self._fetch(*k)

    def ping(self) -> None:
        """Asks the source for a Pong (the driver does it on an idle link)."""
        if self.state != "idle":
            self._out.append(encode(Ping()))

    def request_digest(self) -> None:
        """Starts an anti-entropy round (GLOBAL DIGEST, or on SYNCED)."""
        if self.state != "idle":
            self._out.append(encode(DigestReq()))

    def _fetch(self, db: int, key: bytes) -> None:
        if (db, key) not in self._inflight:
            self._inflight.add((db, key))
            self._out.append(encode(KeyFetch(db, key, self.wants.get((db, key), 0))))

    def want(self, db: int, key: bytes, version: int) -> None:
        """Asks the source for a key until a state at least ``version`` new
        is here (the member calls this when a receiver of ours waits for a
        version we do not have: the need travels towards who has it)."""
        k = (db, key)
        if version > self.wants.get(k, 0):
            self.wants[k] = version
        if self.state != "idle" and k not in self._retry:
            self._fetch(db, key)

    def _still_wanted(self, k) -> bool:
        want = self.wants.get(k)
        if want is None:
            return False
        if self.member.holds(k[0], k[1], want):
            del self.wants[k]
            self._attempts.pop(k, None)
            return False
        return True

    def receive_data(self, data) -> None:
        if self.state == "idle":
            raise LinkUsageError("receive_data before connect")
        self.bytes_in += len(data)
        self._dec.feed(data)
        while (msg := self._dec.next()) is not None:
            check_fields(msg, self.member)
            self._handle(msg)

    def _handle(self, msg) -> None:
        m = self.member
        t = type(msg)
        if t is Op:
            self.ops_received += 1
            # The OP's body is the record as encode_record wrote it (its
            # decoding checked it whole): the log keeps those bytes.
            res = m.apply(msg.record, self._dec.body)
            for db, key, version in res.fetch:
                k = (db, key)
                if version > self.wants.get(k, 0):
                    self.wants[k] = version
                self._fetch(db, key)
        elif t is KeyValue:
            st = msg.state
            k = (st.db, st.key)
            self._inflight.discard(k)
            m.install(st)
            if self._still_wanted(k):
                # Back off per key (up to max_retry_ms): a version that
                # only a partitioned or lost member held is asked for less
                # and less often, never dropped (anti-entropy or the member
                # coming back ends it).
                n = self._attempts.get(k, 0)
                self._attempts[k] = n + 1
                self._retry[k] = self.now + min(self.retry_ms << min(n, 16), self.max_retry_ms)
        elif t is Synced:
            self.state = "synced"
            self.events.append("synced")
            self.request_digest()
        elif t is Digest:
            for db, fv in enumerate(msg.flush[:len(m.flush_versions)]):
                m.adopt_flush(db, fv)
            ours = m.slot_digests()
            if len(ours) != len(msg.slots):
                raise LinkProtocolError("peer uses another number of slots")
            diff = [i for i, (a, b) in enumerate(zip(ours, msg.slots)) if a != b]
            if diff:
                self._out.append(encode(SlotsReq(diff)))
        elif t is SlotKeys:
            for db, key, version in msg.entries:
                if not m.holds(db, key, version):
                    k = (db, key)
                    if version > self.wants.get(k, 0):
                        self.wants[k] = version
                    self._fetch(db, key)
        elif t is SnapBegin:
            self.state = "fullsync"
            self.snap_total = msg.total
            self.snap_done = 0
            self.full_syncs += 1
            self.events.append("fullsync")
            self._snap_vector = msg.vector
            self._snap_stale = m.stale_candidates(msg.vector, msg.floor)
            self._snap_floor = msg.floor
            for db, fv in enumerate(msg.flush[:len(m.flush_versions)]):
                m.adopt_flush(db, fv)
        elif t is SnapKey:
            if self.state != "fullsync":
                raise LinkProtocolError("SNAPKEY outside a snapshot")
            m.install(msg.state)
            self._snap_stale.pop((msg.state.db, msg.state.key), None)
            self.snap_done += 1
        elif t is SnapEnd:
            if self.state != "fullsync":
                raise LinkProtocolError("SNAPEND outside a snapshot")
            m.drop_stale(self._snap_stale)
            m.finish_snapshot(self._snap_vector, self._snap_floor)
            self._snap_vector = None
            self._snap_stale = {}
            self.state = "syncing"
            self.events.append("log_reset")
        elif t is Pong:
            pass  # its arrival is the point (the driver's link timeout)
        elif t is Compress:
            # The decoder switched to inflating the rest (it refuses one
            # not asked for): nothing else changes.
            self.events.append("compressed")
        elif t is Stable:
            m.heard_stable(msg.frontiers, msg.members)
            if self.vouched is None:
                self.vouched = m.clock()
        else:
            raise LinkProtocolError(f"unexpected {t.__name__} from a source")


# -- the source's end ----------------------------------------------------------------

class SourceLink:
    """The serving end of one link, for ``member``. Feed it the receiver's
    bytes with :meth:`receive_data`; take :meth:`data_to_send` after the
    member's log was flushed (never ship an op the log could still lose).
    Live ops reach it through ``member.listeners`` while it is open;
    :meth:`close` detaches it. ``compress``: answer a receiver that asks
    for a zstd stream (``global-link-compression``)."""

    def __init__(self, member, *, compress: bool = True) -> None:
        self.member = member
        self.compress = compress
        # The compressor once the stream is compressed; COMPRESS, which goes
        # out plain before the compressed bytes, until it is sent.
        self._z = None
        self._head = b""
        # The stream's bytes before compression and as sent.
        self.bytes_raw = 0
        self.bytes_wire = 0
        self.peer = 0
        self.state = "waiting"        # HELLO not yet received
        self._dec = Decoder()
        self._out: list = []
        # origin -> highest op id sent (or held by the receiver).
        self.sent: dict = {}
        # The receiver's last acknowledged (durable) vector.
        self.acked: dict = {}
        self.full_syncs = 0
        self.partial_syncs = 0
        self.ops_sent = 0
        # The ops the receiver lacked at HELLO, read from the log as the
        # driver takes bytes (data_to_send's budget), so a long backlog
        # neither blocks the source nor sits in memory at once; None once
        # streamed (then SYNCED went out and live ops follow).
        self._backlog = None
        # A full sync's key states still to send (a generator), or None.
        self._snap = None
        # The last STABLE sent (once the receiver is caught up) and when.
        self._stable_sent = None
        self._stable_at = None

    @property
    def backlog_pending(self) -> bool:
        return self._backlog is not None or self._snap is not None

    def close(self) -> None:
        if self._on_record in self.member.listeners:
            self.member.listeners.remove(self._on_record)
        if self._on_install in self.member.installed:
            self.member.installed.remove(self._on_install)
        self.state = "closed"

    def _on_install(self, st: KeyState) -> None:
        # A repair installed at our member (not an op): the receiver takes
        # it if it is newer than what it holds.
        self._out.append(encode(KeyValue(st)))

    def data_to_send(self, budget: int = 0) -> bytes:
        """What to write now. While the backlog streams, about ``budget``
        bytes of it are read from the log per call (0: all of it)."""
        if self._backlog is not None or self._snap is not None:
            self._pull(budget)
        if self._backlog is None and self._snap is None and self.state == "streaming":
            # Caught up: everything we hold is in the stream before this.
            m = self.member
            now = m.clock()
            if self._stable_at is None or now - self._stable_at >= m.stable_ms:
                self._stable_at = now
                st = (m.stable_frontiers(), m.stable_members())
                if st != self._stable_sent:
                    self._stable_sent = st
                    self._out.append(encode(Stable(*st)))
        out = b"".join(self._out)
        self._out = []
        if out:
            self.bytes_raw += len(out)
            z = self._z
            if z is not None:
                # Flushed at the end of the batch: compression never holds
                # back what the driver is about to write.
                out = z.compress(out) + z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        if self._head:
            out = self._head + out
            self.bytes_raw += len(self._head)
            self._head = b""
        self.bytes_wire += len(out)
        return out

    @property
    def compressed(self) -> bool:
        return self._z is not None

    def _pull(self, budget: int) -> None:
        m = self.member
        size = 0
        snap = self._snap
        if snap is not None:
            # A full sync in progress: its keys first, then its end.
            for st in snap:
                data = encode(SnapKey(st))
                self._out.append(data)
                size += len(data)
                if budget and size >= budget:
                    return
            self._snap = None
            self._out.append(encode(SnapEnd()))
        while self._backlog is not None:
            try:
                # The backlog comes as the log's framed bytes of each record
                # (an OP's body is exactly those): nothing decoded or encoded.
                for origin, opid, data in self._backlog:
                    n = len(self._out)
                    self._on_frame(origin, opid, data)
                    if len(self._out) > n:
                        size += len(self._out[-1])
                        if budget and size >= budget:
                            return
                # Exhausted: ops logged since the iterator was made come
                # next; when there are none, the receiver is caught up.
                more = m.log.ops_missing_for(self.sent, exclude_origin=self.peer, frames=True)
            except FullSyncNeeded:
                # Retention dropped what we were about to send, before the
                # reader got to it or under it (a segment deleted between
                # two budgets): what was sent stays sent, the rest comes as
                # a snapshot.
                self._snapshot(self.sent)
                return self._pull(budget)
            first = next(more, None)
            if first is None:
                self._backlog = None
                self._out.append(encode(Synced()))
                m.listeners.append(self._on_record)
                return
            self._on_frame(*first)
            self._backlog = more

    def receive_data(self, data) -> None:
        if self.state == "closed":
            raise LinkUsageError("receive_data after close")
        self._dec.feed(data)
        while (msg := self._dec.next()) is not None:
            check_fields(msg, self.member)
            self._handle(msg)

    def _on_record(self, rec: Record) -> None:
        if rec.origin != self.peer and rec.opid > self.sent.get(rec.origin, 0):
            self.sent[rec.origin] = rec.opid
            last = self.member.log.last_append
            if last is not None and last[0] is rec:
                # The bytes the log just framed (an OP body is a record as
                # the log writes it; its LSN is the receiver's to replace).
                self._out.append(_frame(OP, last[1]))
            else:
                self._out.append(encode(Op(rec)))
            self.ops_sent += 1

    def _on_frame(self, origin: int, opid: int, data: bytes) -> None:
        """_on_record for a record read from the log as its bytes."""
        if origin != self.peer and opid > self.sent.get(origin, 0):
            self.sent[origin] = opid
            self._out.append(_frame(OP, data))
            self.ops_sent += 1

    def _handle(self, msg) -> None:
        m = self.member
        t = type(msg)
        if t is Hello:
            if self.state != "waiting":
                raise LinkProtocolError("second HELLO")
            self.peer = msg.server_id
            self.sent = dict(msg.vector)
            m.peer_vector(msg.vector)
            m.heard_downstream(self.peer, 0, False)
            try:
                self._backlog = m.log.ops_missing_for(msg.vector, exclude_origin=self.peer,
                                                      frames=True)
                self.partial_syncs += 1
            except FullSyncNeeded:
                self._out = []
                self._snapshot(msg.vector)
            self.state = "streaming"
            m.installed.append(self._on_install)
            if msg.flags & HELLO_ZSTD and self.compress:
                self._head = encode(Compress(ZSTD))
                self._z = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
            return
        if self.state != "streaming":
            raise LinkProtocolError(f"{t.__name__} before HELLO")
        if t is KeyFetch:
            st = m.key_state(msg.db, msg.key)
            if st.version < msg.want:
                st = m.collected_state(msg.db, msg.key, msg.want) or st
            if st.version < msg.want:
                # The receiver waits for a state we do not have yet: ask
                # our own sources for it (in a chain or ring the need
                # travels up to who has it); it retries us meanwhile.
                m.want(msg.db, msg.key, msg.want)
            self._out.append(encode(KeyValue(st)))
        elif t is Ack:
            self.acked = msg.vector
        elif t is DigestReq:
            self._out.append(encode(Digest(list(m.flush_versions), m.slot_digests())))
        elif t is SlotsReq:
            self._out.append(encode(SlotKeys(m.slot_entries(set(msg.slots)))))
        elif t is Ping:
            self._out.append(encode(Pong()))
        elif t is Stable:
            m.heard_downstream(self.peer, msg.members.get(self.peer, 0), msg.wants)
        else:
            raise LinkProtocolError(f"unexpected {t.__name__} from a receiver")

    def _snapshot(self, theirs: dict) -> None:
        """A full sync: every versioned key, with our vector and flush
        versions; the stream goes on from that vector. The keys are read as
        the driver takes bytes (:meth:`_pull`), so the source keeps serving;
        a key written meanwhile goes in its newer state, which the receiver
        takes by the rule like any newer state (and the op that made it,
        streamed after the snapshot, is then a no-op there)."""
        m = self.member
        self.full_syncs += 1
        vector = dict(m.vector)
        total, self._snap = m.snapshot_states()
        self._out.append(encode(SnapBegin(vector, list(m.flush_versions), total, m.gc_floor)))
        pending = m.pending_wants()
        if pending:
            # Ops the vector names whose states we still wait for: the
            # receiver asks for them too (else it would hold the op ids
            # without their effect, and nothing would ever bring it).
            self._out.append(encode(SlotKeys(pending)))
        for o, v in theirs.items():
            if v > vector.get(o, 0):
                vector[o] = v
        self.sent = vector
        # After the keys: the ops logged since (usually none), then SYNCED.
        self._backlog = iter(())
