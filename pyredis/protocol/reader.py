"""Sans-IO reader for client requests (RESP multibulk and inline commands).

Rules, as real Redis 6.2 applies them (networking.c, processMultibulkBuffer
and processInlineBuffer):

* A request that starts with ``*`` is a multibulk: ``*<n>\\r\\n`` then ``n``
  bulk strings ``$<len>\\r\\n<bytes>\\r\\n``. ``n <= 0`` is an empty request and
  is skipped. ``n > 1024*1024`` is ``invalid multibulk length`` (and, before
  AUTH, so is ``n > 10``: ``unauthenticated multibulk length``); a bulk length
  that is negative, malformed or above ``proto-max-bulk-len`` is ``invalid
  bulk length``; any element that is not a bulk is ``expected '$', got 'x'``.
  A header line ends at the first ``\\r`` and the byte after it is skipped
  unchecked, as are the two bytes after a bulk's payload.
* Anything else is an inline command: one line up to ``\\n`` (a ``\\r`` before
  it is dropped) split like a shell does (:func:`split_args`); an empty line
  is skipped.
* Redis looks for the end of a line with ``strchr``, so a NUL byte before it
  hides it: the request waits for more bytes like an unfinished one.
* A header or inline line still unfinished after 64 KiB is an error, and so
  is a query buffer growing past ``client-query-buffer-limit``.

The fast path hands whole buffers to hiredis's C reader. hiredis parses
replies, a superset of requests, so what it returns is checked: only lists
of bulks count, and each must have been a multibulk of ``$`` bulks in the
bytes. For small requests, five memchr scans first: when none of the bytes
of a type hiredis returns as a string or a list (``+ ( = ~ |``) is anywhere
in the buffer, nothing but ``$`` and ``*`` headers can have made them, and
that is the usual case. Otherwise one regex scan finds lines that start
with such a type (``>`` too), and for big requests a walk over the headers
checks each one. When a buffer ends in the middle of a
request, or holds anything irregular, the bytes after the last good request
are re-read by the pure Python parser below, which knows exactly how many
bytes the pending request still needs, so a large value arriving in many
reads is scanned once. The regex alone misses a foreign type byte placed
right after the two unchecked bytes that follow a payload, when those bytes
are not CRLF; so the scan also counts ``\r\n$``, which must equal the number
of arguments (more, when payloads hold that sequence, sends the bytes to the
walk). A gap remains only for input crafted so that payloads hold as many
``\r\n$`` as foreign headers replace (such input holds a foreign type
byte, so the memchr test does not pass it either).

``feed(data)`` returns the complete requests found; ``error`` is then set if a
protocol error follows them. The caller runs the requests, replies with the
error and closes the connection. While ``auth_required`` is set (the client
has not authenticated), ``feed`` returns at most one request per call, since
Redis judges each request's size with the authentication state left by the
request before it; the caller updates the flag and calls ``feed(b"")`` for
the rest.
"""

from __future__ import annotations

import re

import hiredis

from .inline import split_args

INLINE_MAX = 64 * 1024
MULTIBULK_MAX = 1024 * 1024
UNAUTH_MULTIBULK_MAX = 10

# A line starting with a reply type that hiredis returns as a plain string
# (status, big number, verbatim) or as a list (set, push, attribute).
_IRREGULAR = re.compile(rb"\n[+(=~>|]")
# An array header of seven digits or more. hiredis allocates a list of the
# declared size as soon as it reads a header (its own limit is 2^32 - 1), so
# ``*2147483647`` would cost 16 GiB of address space and seconds of CPU to
# free or garbage-collect; such bytes go to the exact parser, which refuses
# a count above MULTIBULK_MAX and allocates nothing ahead of the data.
_BIG_COUNT = re.compile(rb"\*[0-9]{7}")


class ProtocolError(Exception):
    """The peer sent bytes Redis would refuse; ``args[0]`` is Redis's text.
    The text is latin-1: a byte quoted from the input is one character."""


def _strict_int(b) -> int | None:
    """string2ll's rules: optional '-', digits, no leading zeros, no spaces or '+'."""
    if not b or len(b) > 20:
        return None
    neg = b[0] == 45  # '-'
    digits = b[1:] if neg else b
    if not digits.isdigit() or (digits[0] == 48 and len(digits) > 1):
        return None
    if neg and digits == b"0":
        return None
    v = int(digits)
    if v > (2 ** 63 if neg else 2 ** 63 - 1):
        return None
    return -v if neg else v


class RequestReader:
    """Turns the bytes of one client connection into lists of arguments."""

    __slots__ = ("_hi", "_buf", "_need", "_part", "max_bulk_len", "max_query_buffer",
                 "auth_required", "error")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024,
                 max_query_buffer: int = 1024 * 1024 * 1024) -> None:
        self._hi = hiredis.Reader()
        # Bytes not yet consumed by the Python parser (only used off the fast path).
        self._buf = bytearray()
        # The Python parser cannot make progress before the buffer holds this much.
        self._need = 0
        # The multibulk at the start of the buffer that the last read left
        # unfinished: (count, arguments read, offset of the next header).
        # Resuming there keeps a request of many arguments that arrives in
        # many reads linear; reparsing it from its start was quadratic.
        self._part = None
        self.max_bulk_len = max_bulk_len
        self.max_query_buffer = max_query_buffer
        self.auth_required = False
        self.error: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that are not yet part of a complete request."""
        return len(self._buf)

    def feed(self, data: bytes) -> list:
        if self.error is not None:
            return []
        if not self._buf and data[:1] == b"*" and not self.auth_required:
            return self._fast(data)
        self._buf += data
        if len(self._buf) < self._need:
            if len(self._buf) > self.max_query_buffer:
                self.error = ProtocolError("closing client that reached max query buffer length")
            return []
        return self._slow([])

    # -- fast path -------------------------------------------------------

    def _fast(self, data: bytes) -> list:
        """Parse ``data`` with hiredis. If it ends inside a request, or holds
        anything irregular, the bytes after the last good request go to the
        exact parser instead."""
        if (len(data) > self.max_bulk_len or len(data) > 6 * MULTIBULK_MAX
                or _BIG_COUNT.search(data) is not None):
            # Rare: a request this big may pass a limit, or a count this
            # large would make hiredis allocate for it; the exact parser judges.
            return self._resync(data, [])
        hi = self._hi
        hi.feed(data)
        got = []
        try:
            while True:
                r = hi.gets()
                if r is False:
                    break
                if r.__class__ is not list:
                    raise ValueError(r)  # '*-1', errors: let the exact parser judge
                for a in r:
                    if a.__class__ is not bytes:
                        raise ValueError(r)  # nested arrays, ints, nulls
                got.append(r)
            # hiredis cannot say whether it stopped between requests or inside
            # one. An empty multibulk tells: only at a boundary does it come
            # back as an empty request; inside one it becomes part of it.
            hi.feed(b"*0\r\n")
            if hi.gets() == []:
                # Small requests: one scan for a line that starts with a
                # foreign type, and a count of argument headers (the fuzzer
                # found a foreign type after a payload's two unchecked bytes
                # read as an argument); big ones: a walk over their headers.
                # The scan costs about 1.5 ns a byte, the walk about 0.1 us
                # an argument, so many short arguments (MSET's) scan too.
                if len(data) < 256 * len(got) or len(data) < 64 * sum(map(len, got)):
                    # First, five memchr scans (about 0.1 ns a byte; the
                    # regex and the count take about 1 ns a byte each): with
                    # none of the types hiredis returns as a string or a
                    # list anywhere, in headers or payloads, every string
                    # came from a ``$`` header and every request from a
                    # ``*`` one (other types are not bytes or lists: tested
                    # above; a push is a list subclass).
                    find = data.find
                    if ((find(b"+") < 0 and find(b"(") < 0 and find(b"=") < 0
                            and find(b"~") < 0 and find(b"|") < 0)
                            or (_IRREGULAR.search(data) is None
                                and data.count(b"\r\n$") == sum(map(len, got)))):
                        return got if all(got) else [r for r in got if r]
                good, used = _walk(data, got)
                if used == len(data):
                    return got if all(got) else [r for r in got if r]
        except Exception:
            pass
        good, used = _walk(data, got)
        return self._resync(data[used:], got[:good])

    def _resync(self, rest: bytes, got: list) -> list:
        """Hand ``rest`` (what follows the requests in ``got``) to the exact
        parser, after the good requests."""
        self._hi = hiredis.Reader()
        self._buf = bytearray(rest)
        self._need = 0
        self._part = None
        return self._slow([r for r in got if r])

    # -- exact parser ----------------------------------------------------

    def _slow(self, reqs: list) -> list:
        buf = self._buf
        pos = 0
        n = len(buf)
        one = self.auth_required
        try:
            while pos < n:
                if buf[pos] == 42:  # '*'
                    req, newpos = self._multibulk(buf, pos)
                else:
                    req, newpos = self._inline(buf, pos)
                if req is None:
                    break
                pos = newpos
                if req:
                    reqs.append(req)
                    if one:
                        break
        except ProtocolError as e:
            # Without its traceback: the frames would hold this reader (and
            # its buffers) in a cycle until the garbage collector runs.
            self.error = e.with_traceback(None)
            pos = n
        if pos:
            del buf[:pos]
        if len(buf) > self.max_query_buffer and self.error is None:
            self.error = ProtocolError("closing client that reached max query buffer length")
        return reqs

    def _inline(self, buf: bytearray, pos: int):
        nl = buf.find(b"\n", pos)
        if nl >= 0 and buf.find(b"\x00", pos, nl) >= 0:
            nl = -1
        if nl < 0:
            if len(buf) - pos > INLINE_MAX:
                raise ProtocolError("Protocol error: too big inline request")
            self._need = len(buf) - pos + 1
            return None, pos
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        args = split_args(bytes(buf[pos:end]))
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        self._need = 0
        return args, nl + 1

    def _line_end(self, buf: bytearray, pos: int) -> int:
        """Where the header line at ``pos`` ends (its ``\\r``), or -1 if it
        is not all there yet (the byte after the ``\\r`` is needed too)."""
        cr = buf.find(b"\r", pos)
        if cr >= 0 and buf.find(b"\x00", pos, cr) >= 0:
            return -1
        if cr + 1 >= len(buf):
            return -1
        return cr

    def _multibulk(self, buf: bytearray, pos: int):
        start = pos
        if self._part is not None:
            count, args, off = self._part
            self._part = None
            return self._bulks(buf, start, start + off, count, args)
        cr = self._line_end(buf, pos)
        if cr < 0:
            if len(buf) - pos > INLINE_MAX:
                raise ProtocolError("Protocol error: too big mbulk count string")
            self._need = len(buf) - start + 1
            return None, start
        count = _strict_int(bytes(buf[pos + 1:cr]))
        if count is None or count > MULTIBULK_MAX:
            raise ProtocolError("Protocol error: invalid multibulk length")
        if count > UNAUTH_MULTIBULK_MAX and self.auth_required:
            raise ProtocolError("Protocol error: unauthenticated multibulk length")
        pos = cr + 2
        if count <= 0:
            self._need = 0
            return [], pos
        return self._bulks(buf, start, pos, count, [])

    def _bulks(self, buf: bytearray, start: int, pos: int, count: int, args: list):
        """The bulks of the multibulk at ``start`` from ``pos`` on, after
        ``args``; an unfinished request is remembered in ``_part``."""
        while len(args) < count:
            hdr = pos
            cr = self._line_end(buf, pos)
            if cr < 0:
                if len(buf) - pos > INLINE_MAX:
                    raise ProtocolError("Protocol error: too big bulk count string")
                self._need = len(buf) - start + 1
                self._part = (count, args, pos - start)
                return None, start
            if buf[pos] != 36:  # '$'
                raise ProtocolError("Protocol error: expected '$', got '%c'" % buf[pos])
            size = _strict_int(bytes(buf[pos + 1:cr]))
            if size is None or size < 0 or size > self.max_bulk_len:
                raise ProtocolError("Protocol error: invalid bulk length")
            pos = cr + 2
            # Like Redis, the two bytes after the payload are skipped unchecked.
            if pos + size + 2 > len(buf):
                self._need = pos + size + 2 - start
                self._part = (count, args, hdr - start)
                return None, start
            args.append(bytes(buf[pos:pos + size]))
            pos += size + 2
        self._need = 0
        return args, pos


def _walk(data: bytes, got: list) -> tuple[int, int]:
    """How many requests of ``got`` (hiredis's reading of ``data``) are
    well-formed multibulks of bulks, and the bytes they span."""
    pos = 0
    try:
        for i, r in enumerate(got):
            if data[pos] != 42:  # '*'
                return i, pos
            p = pos + 3 + len(str(len(r)))
            for a in r:
                if data[p] != 36:  # '$'
                    return i, pos
                n = len(a)
                p += 5 + len(str(n)) + n
            pos = p
    except IndexError:
        return i, pos
    return len(got), pos

