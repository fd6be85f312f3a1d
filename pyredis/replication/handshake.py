"""The replica's side of the link to its master, as a sans-IO state machine.

What goes over the wire, in order (Redis 6.2's syncWithMaster and
readSyncBulkPayload in replication.c):

1. ``PING``; the reply must be ``+...`` or an authentication error
   (``-NOAUTH``, ``-NOPERM``, ``-ERR operation not permitted``: AUTH comes
   next and settles it).
2. In one write: ``AUTH [user] pass`` (with ``masterauth``),
   ``REPLCONF listening-port N``, ``REPLCONF ip-address IP`` (with an
   announce ip), ``REPLCONF capa eof capa psync2``. Their replies are read
   one by one; an AUTH error ends the attempt, REPLCONF errors are only
   noted (old masters do not know them).
3. ``PSYNC <replid> <offset+1>`` for a cached master, else ``PSYNC ? -1``.
   Newlines may come before the reply (the master keeps the link alive
   while it prepares). ``+FULLRESYNC <replid> <offset>`` or
   ``+CONTINUE [<replid>]``; ``-NOMASTERLINK`` / ``-LOADING`` mean "try
   later" and keep the cached master; anything else ends the attempt and
   the cached master with it.
4. After ``+FULLRESYNC``, the RDB: newlines (keep-alives), then either
   ``$<len>\\r\\n`` and exactly ``len`` bytes, or the diskless form
   ``$EOF:<40 bytes>\\r\\n``, the RDB, and the same 40 bytes.
5. Then (or right after ``+CONTINUE``) the command stream: multibulk
   requests only. Each :class:`Command` carries the exact bytes it took on
   the wire, so the driver advances its offset by what it applied, as
   Redis's ``reploff``. Bare newlines are legal (a master whose own master
   is down sends them); as in Redis they count towards the offset with the
   command that follows them. An inline command or a malformed request is a
   protocol error: the link is closed and the cached master discarded,
   never a half-understood command applied.

How to drive it (no sockets, no clock here; h11's shape)::

    hs = Handshake(settings)
    send(hs.start())                 # once connected: the PING
    hs.receive_data(data)            # b"" at EOF is not needed: just close
    while (ev := hs.next_event()) is not NEED_DATA:
        ...                          # Log, LinkError, FullResync, Continue,
                                     # KeepAlive, PayloadStart/Data/End, Command
        send(hs.data_to_send())      # replies the events triggered

After a :class:`LinkError` the machine is spent (state ``CONNECT``): the
driver closes the connection and makes a new machine for the next try.
Events from :meth:`next_event` come strictly in wire order, so a driver may
stop pulling (while it loads the RDB) and resume later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..persistence.aof import encode_request

EOF_MARK_SIZE = 40          # CONFIG_RUN_ID_SIZE
REPLID_SIZE = 40
# A reply or header line longer than this without its newline is garbage
# (Redis's PROTO_INLINE_MAX_SIZE).
LINE_MAX = 64 * 1024
MULTIBULK_MAX = 2 ** 31 - 1  # Redis accepts up to INT_MAX from a master
BULK_MAX = 2 ** 63 - 1       # proto-max-bulk-len does not apply to a master


class State(enum.Enum):
    """Redis's REPL_STATE_* for the replica side of one connection attempt
    (NONE and CONNECT belong to the driver: no link object exists then)."""

    NONE = 0
    CONNECT = 1
    CONNECTING = 2
    RECEIVE_PING_REPLY = 3
    SEND_HANDSHAKE = 4
    RECEIVE_AUTH_REPLY = 5
    RECEIVE_PORT_REPLY = 6
    RECEIVE_IP_REPLY = 7
    RECEIVE_CAPA_REPLY = 8
    SEND_PSYNC = 9
    RECEIVE_PSYNC_REPLY = 10
    TRANSFER = 11
    CONNECTED = 12

    @property
    def role_name(self) -> str:
        """The state as ROLE (and Redis's slaveIsInHandshakeState) names it."""
        if State.RECEIVE_PING_REPLY.value <= self.value <= State.RECEIVE_PSYNC_REPLY.value:
            return "handshake"
        return _ROLE_NAMES[self]


_ROLE_NAMES = {State.NONE: "none", State.CONNECT: "connect", State.CONNECTING: "connecting",
               State.TRANSFER: "sync", State.CONNECTED: "connected"}


@dataclass
class Settings:
    """What the replica tells its master. ``cached`` is (replid, offset of
    the last byte processed) of the history to continue, or None for a
    full sync."""

    listening_port: int
    announce_ip: str = ""
    masteruser: str = ""
    masterauth: str = ""
    cached: tuple | None = None


# -- events --------------------------------------------------------------------


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass
class Log:
    """A line for the server log (Redis's own text); level "notice" or "warning"."""
    level: str
    text: str


@dataclass
class LinkError:
    """The attempt failed: close the connection. ``discard_cached``: the
    history can no longer be continued (next time ``PSYNC ? -1``)."""
    text: str
    discard_cached: bool = False


@dataclass
class KeepAlive:
    """A newline from the master while we wait: the link is alive."""


@dataclass
class FullResync:
    replid: str
    offset: int


@dataclass
class Continue:
    """Partial resync accepted; ``replid`` is the id the master announced
    (None when it gave none: an old master, the id is unchanged)."""
    replid: str | None


@dataclass
class PayloadStart:
    """The RDB begins; ``size`` in bytes, or None for the EOF-mark form."""
    size: int | None


@dataclass
class PayloadData:
    data: bytes


@dataclass
class PayloadEnd:
    """The whole RDB was received (for the EOF form, the mark checked)."""


class Command:
    """One request of the stream: its arguments and its exact wire bytes
    (including newlines that preceded it)."""

    __slots__ = ("args", "raw")

    def __init__(self, args: list, raw: bytes) -> None:
        self.args = args
        self.raw = raw

    def __repr__(self) -> str:
        return f"Command({self.args!r}, {self.raw!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Command) and (self.args, self.raw) == (other.args, other.raw)


class UsageError(RuntimeError):
    """The driver called the machine out of order (not the peer's fault)."""


# -- the machine -----------------------------------------------------------------


class Handshake:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = State.CONNECTING
        self._buf = bytearray()
        self._out: list = []
        # RDB transfer: bytes still expected ($len form), or the EOF mark.
        self._left = 0
        self._eofmark = b""
        # Payload bytes counted so far (INFO master_sync_read_bytes).
        self.transfer_read = 0
        self.transfer_size = -1
        # Stream parsing state of the request being read: where it starts
        # in _buf, its argument count (-1: header not read yet), the
        # arguments so far and where the next header is.
        self._argc = -1
        self._args: list = []
        self._scan = 0
        # Events decided ahead of the ones the wire gives next.
        self._queue: list = []
        # The EOF mark was found: PayloadEnd is next.
        self._eof_seen = False

    # -- outgoing ----------------------------------------------------------------

    def start(self) -> bytes:
        """The connection is up: the first bytes to send (PING)."""
        if self.state is not State.CONNECTING:
            raise UsageError(f"start() in state {self.state.name}")
        self.state = State.RECEIVE_PING_REPLY
        return encode_request([b"PING"])

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    def data_to_send(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    @staticmethod
    def ack(offset: int) -> bytes:
        """``REPLCONF ACK <offset>``: what we processed (sent every second
        and on REPLCONF GETACK)."""
        return encode_request([b"REPLCONF", b"ACK", b"%d" % offset])

    # -- incoming ----------------------------------------------------------------

    def receive_data(self, data) -> None:
        if self.state in (State.CONNECT, State.NONE):
            return  # spent: the driver is closing
        self._buf += data

    def next_event(self):
        if self._queue:
            return self._queue.pop(0)
        state = self.state
        if state is State.CONNECTED:
            return self._stream_event()
        if state is State.TRANSFER:
            return self._transfer_event()
        if state in (State.CONNECT, State.NONE, State.CONNECTING):
            return NEED_DATA
        line = self._line()
        if line is None:
            return NEED_DATA
        if isinstance(line, LinkError):
            return line
        return self._reply(line)

    # -- the handshake replies ---------------------------------------------------------

    def _line(self):
        """One reply line without its line ending (None: incomplete)."""
        buf = self._buf
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > LINE_MAX:
                return self._fail("Protocol error: too big reply line from MASTER")
            return None
        end = nl - 1 if nl and buf[nl - 1] == 13 else nl
        line = bytes(buf[:end]).decode("latin-1")
        del buf[:nl + 1]
        return line

    def _fail(self, text: str, discard_cached: bool = False) -> LinkError:
        self.state = State.CONNECT
        self._buf.clear()
        return LinkError(text, discard_cached)

    def _reply(self, line: str):
        state = self.state
        s = self.settings
        if state is State.RECEIVE_PING_REPLY:
            if not (line[:1] == "+" or line.startswith(("-NOAUTH", "-NOPERM"))
                    or line.startswith("-ERR operation not permitted")):
                return self._fail(f"Error reply to PING from master: '{line}'")
            self._send_handshake()
            return Log("notice", "Master replied to PING, replication can continue...")
        if state is State.RECEIVE_AUTH_REPLY:
            if line[:1] == "-":
                return self._fail(f"Unable to AUTH to MASTER: {line}")
            self.state = State.RECEIVE_PORT_REPLY
            return self.next_event()
        if state is State.RECEIVE_PORT_REPLY:
            self.state = State.RECEIVE_IP_REPLY if s.announce_ip else State.RECEIVE_CAPA_REPLY
            if line[:1] == "-":
                return Log("notice", "(Non critical) Master does not understand "
                                     f"REPLCONF listening-port: {line}")
            return self.next_event()
        if state is State.RECEIVE_IP_REPLY:
            self.state = State.RECEIVE_CAPA_REPLY
            if line[:1] == "-":
                return Log("notice", "(Non critical) Master does not understand "
                                     f"REPLCONF ip-address: {line}")
            return self.next_event()
        if state is State.RECEIVE_CAPA_REPLY:
            psync = self._send_psync()
            if line[:1] == "-":
                self._queue.append(psync)
                return Log("notice", f"(Non critical) Master does not understand "
                                     f"REPLCONF capa: {line}")
            return psync
        if state is State.RECEIVE_PSYNC_REPLY:
            return self._psync_reply(line)
        raise UsageError(f"reply in state {state.name}")

    def _send_handshake(self) -> None:
        s = self.settings
        out = self._out
        if s.masterauth:
            args = [b"AUTH"]
            if s.masteruser:
                args.append(s.masteruser.encode())
            args.append(s.masterauth.encode())
            out.append(encode_request(args))
        out.append(encode_request([b"REPLCONF", b"listening-port", b"%d" % s.listening_port]))
        if s.announce_ip:
            out.append(encode_request([b"REPLCONF", b"ip-address", s.announce_ip.encode()]))
        out.append(encode_request([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]))
        self.state = State.RECEIVE_AUTH_REPLY if s.masterauth else State.RECEIVE_PORT_REPLY

    def _send_psync(self) -> Log:
        cached = self.settings.cached
        if cached is not None:
            replid, offset = cached[0], "%d" % (cached[1] + 1)
            note = f"Trying a partial resynchronization (request {replid}:{offset})."
        else:
            replid, offset = "?", "-1"
            note = "Partial resynchronization not possible (no cached master)"
        self._out.append(encode_request([b"PSYNC", replid.encode(), offset.encode()]))
        self.state = State.RECEIVE_PSYNC_REPLY
        return Log("notice", note)

    def _psync_reply(self, line: str):
        if line == "":
            # Newlines before the reply keep the link alive.
            return KeepAlive()
        if line.startswith("+FULLRESYNC"):
            parts = line.split(" ")
            if len(parts) < 3 or len(parts[1]) != REPLID_SIZE or not _is_int(parts[2]):
                return self._fail("Master replied with wrong +FULLRESYNC syntax.",
                                  discard_cached=True)
            self.state = State.TRANSFER
            return FullResync(parts[1], int(parts[2]))
        if line.startswith("+CONTINUE"):
            new = line[10:].strip() if len(line) > 9 else ""
            self.state = State.CONNECTED
            self._reset_request()
            return Continue(new if len(new) == REPLID_SIZE else None)
        if line.startswith(("-NOMASTERLINK", "-LOADING")):
            return self._fail("Master is currently unable to PSYNC but should be in the "
                              f"future: {line}")
        if line.startswith("-ERR"):
            return self._fail(f"Master does not support PSYNC or is in error state "
                              f"(reply: {line})", discard_cached=True)
        return self._fail(f"Unexpected reply to PSYNC from master: {line}",
                          discard_cached=True)

    # -- the RDB transfer ----------------------------------------------------------------

    def _transfer_event(self):
        if self.transfer_size < 0:
            return self._payload_header()
        buf = self._buf
        if not self._eofmark:
            if self._left == 0:
                self._end_transfer()
                return PayloadEnd()
            if not buf:
                return NEED_DATA
            take = min(self._left, len(buf))
            data = bytes(buf[:take])
            del buf[:take]
            self._left -= take
            self.transfer_read += take
            return PayloadData(data)
        if self._eof_seen:
            self._end_transfer()
            return PayloadEnd()
        mark = self._eofmark
        at = buf.find(mark)
        if at >= 0:
            data = bytes(buf[:at])
            del buf[:at + EOF_MARK_SIZE]
            self.transfer_read += len(data)
            self._eof_seen = True
            return PayloadData(data) if data else self.next_event()
        # Hold back what could be the start of the mark.
        keep = EOF_MARK_SIZE - 1
        if len(buf) <= keep:
            return NEED_DATA
        data = bytes(buf[:-keep])
        del buf[:-keep]
        self.transfer_read += len(data)
        return PayloadData(data)

    def _end_transfer(self) -> None:
        self.state = State.CONNECTED
        self._reset_request()

    def _payload_header(self):
        line = self._line()
        if line is None:
            return NEED_DATA
        if isinstance(line, LinkError):
            return line
        if line == "":
            return KeepAlive()
        if line[:1] == "-":
            return self._fail(f"MASTER aborted replication with an error: {line[1:]}")
        if line[:1] != "$":
            return self._fail(f"Bad protocol from MASTER, the first byte is not '$' (we "
                              f"received '{line}'), are you sure the host and port are right?")
        if line.startswith("$EOF:") and len(line) - 5 >= EOF_MARK_SIZE:
            self._eofmark = line[5:5 + EOF_MARK_SIZE].encode("latin-1")
            self.transfer_size = 0
            return PayloadStart(None)
        if not _is_int(line[1:]) or int(line[1:]) < 0:
            return self._fail(f"Bad protocol from MASTER, invalid bulk length '{line}'")
        self.transfer_size = self._left = int(line[1:])
        return PayloadStart(self.transfer_size)

    # -- the stream ------------------------------------------------------------------------

    def _reset_request(self) -> None:
        self._argc = -1
        self._args = []
        self._scan = 0

    def _stream_event(self):
        buf = self._buf
        n = len(buf)
        pos = self._scan
        argc = self._argc
        while argc < 0:
            # Between requests: newlines are skipped (they stay in the raw
            # bytes of the next request), and so are empty multibulks.
            if pos >= n:
                self._scan = pos
                return NEED_DATA
            c = buf[pos]
            if c == 10:
                pos += 1
                continue
            if c == 13:
                if pos + 1 >= n:
                    self._scan = pos
                    return NEED_DATA
                if buf[pos + 1] == 10:
                    pos += 2
                    continue
                return self._protocol_error()
            if c != 42:  # '*'
                return self._protocol_error(inline=True)
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                if n - pos > LINE_MAX:
                    return self._fail("Protocol error: too big mbulk count string", True)
                self._scan = pos
                return NEED_DATA
            count = _to_int(buf, pos + 1, nl)
            if count is None or count > MULTIBULK_MAX:
                return self._fail("Protocol error: invalid multibulk length", True)
            pos = nl + 2
            if count <= 0:
                continue
            argc = self._argc = count
            self._args = []
        args = self._args
        while len(args) < argc:
            if pos >= n:
                self._scan = pos
                return NEED_DATA
            if buf[pos] != 36:  # '$'
                return self._fail("Protocol error: expected '$', got '%s'" % chr(buf[pos]), True)
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                if n - pos > LINE_MAX:
                    return self._fail("Protocol error: too big bulk count string", True)
                self._scan = pos
                return NEED_DATA
            size = _to_int(buf, pos + 1, nl)
            if size is None or size < 0 or size > BULK_MAX:
                return self._fail("Protocol error: invalid bulk length", True)
            start = nl + 2
            end = start + size
            if end + 2 > n:
                self._scan = pos
                return NEED_DATA
            if buf[end] != 13 or buf[end + 1] != 10:
                return self._fail("Protocol error: bulk data not terminated by CRLF", True)
            args.append(bytes(buf[start:end]))
            pos = end + 2
        raw = bytes(buf[:pos])
        del buf[:pos]
        self._reset_request()
        return Command(args, raw)

    def _protocol_error(self, inline: bool = False) -> LinkError:
        if inline:
            return self._fail("WARNING: Receiving inline protocol from master, master stream "
                              "corruption? Closing the master connection and discarding the "
                              "cached master.", True)
        return self._fail("Protocol error: bad line ending in the master stream", True)


def _is_int(text: str) -> bool:
    t = text[1:] if text[:1] == "-" else text
    return t.isascii() and t.isdigit()


def _to_int(buf, start: int, end: int) -> int | None:
    """Redis's string2ll on buf[start:end]: optional '-', digits, no
    leading zeros (the master writes canonical numbers)."""
    text = bytes(buf[start:end])
    if not text or len(text) > 20:
        return None
    neg = text[:1] == b"-"
    digits = text[1:] if neg else text
    if not digits.isdigit() or (digits[:1] == b"0" and (len(digits) > 1 or neg)):
        return None
    return int(text)
