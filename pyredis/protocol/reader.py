"""Sans-IO reader for client requests (RESP multibulk and inline commands).

Rules, as real Redis applies them (networking.c, processMultibulkBuffer and
processInlineBuffer):

* A request that starts with ``*`` is a multibulk: ``*<n>\\r\\n`` then ``n``
  bulk strings ``$<len>\\r\\n<bytes>\\r\\n``. ``n <= 0`` is an empty request and
  is skipped. ``n > 1024*1024`` is ``invalid multibulk length``; a bulk length
  that is negative, malformed or above ``proto-max-bulk-len`` is ``invalid
  bulk length``; any element that is not a bulk is ``expected '$', got 'x'``.
* Anything else is an inline command: one line split like a shell does
  (:func:`split_args`); an empty line is skipped.
* A header line longer than 64 KiB without its CRLF is an error, and so is a
  query buffer growing past ``client-query-buffer-limit``.

The fast path hands whole buffers to hiredis's C reader. When a buffer ends in
the middle of a request, or hiredis meets something it cannot judge the way
Redis does, the bytes it has not turned into requests are re-read by the pure
Python parser below (one known gap: hiredis takes a ``+simple`` element inside
a multibulk as a bulk, where Redis refuses it), which knows exactly how many bytes the pending request
still needs, so a large value arriving in many reads is scanned once.

``feed(data)`` returns the complete requests found; ``error`` is then set if a
protocol error follows them. The caller runs the requests, replies with the
error and closes the connection.
"""

from __future__ import annotations

import hiredis

from .inline import split_args

INLINE_MAX = 64 * 1024
MULTIBULK_MAX = 1024 * 1024


class ProtocolError(Exception):
    """The peer sent bytes Redis would refuse; ``args[0]`` is Redis's text."""


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
    return -v if neg else v


class RequestReader:
    """Turns the bytes of one client connection into lists of arguments."""

    __slots__ = ("_hi", "_buf", "_need", "max_bulk_len", "max_query_buffer", "error")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024,
                 max_query_buffer: int = 1024 * 1024 * 1024) -> None:
        self._hi = hiredis.Reader()
        # Bytes not yet consumed by the Python parser (only used off the fast path).
        self._buf = bytearray()
        # The Python parser cannot make progress before the buffer holds this much.
        self._need = 0
        self.max_bulk_len = max_bulk_len
        self.max_query_buffer = max_query_buffer
        self.error: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that are not yet part of a complete request."""
        return len(self._buf)

    def feed(self, data: bytes) -> list:
        if self.error is not None:
            return []
        if not self._buf and data[:1] == b"*":
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
        hi = self._hi
        hi.feed(data)
        reqs = []
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
                if r:
                    reqs.append(r)
            # hiredis cannot say whether it stopped between requests or inside
            # one. An empty multibulk tells: only at a boundary does it come
            # back as an empty request; inside one it becomes part of it.
            hi.feed(b"*0\r\n")
            if hi.gets() == []:
                return reqs
        except Exception:
            pass
        self._resync(data, reqs)
        return self._slow(reqs)

    def _resync(self, data: bytes, reqs: list) -> None:
        """Drop the hiredis reader's state and keep the bytes after the
        requests already returned for the Python parser."""
        self._hi = hiredis.Reader()
        used = 0
        for r in reqs:
            used += 3 + len(str(len(r)))
            for a in r:
                n = len(a)
                used += 5 + len(str(n)) + n
        self._buf = bytearray(data[used:])
        self._need = 0

    # -- exact parser ----------------------------------------------------

    def _slow(self, reqs: list) -> list:
        buf = self._buf
        pos = 0
        n = len(buf)
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
        except ProtocolError as e:
            self.error = e
            pos = n
        if pos:
            del buf[:pos]
        if len(buf) > self.max_query_buffer and self.error is None:
            self.error = ProtocolError("closing client that reached max query buffer length")
        return reqs

    def _inline(self, buf: bytearray, pos: int):
        nl = buf.find(b"\n", pos)
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

    def _multibulk(self, buf: bytearray, pos: int):
        start = pos
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            if len(buf) - pos > INLINE_MAX:
                raise ProtocolError("Protocol error: too big mbulk count string")
            self._need = len(buf) - start + 1
            return None, start
        count = _strict_int(bytes(buf[pos + 1:nl]))
        if count is None or count > MULTIBULK_MAX:
            raise ProtocolError("Protocol error: invalid multibulk length")
        pos = nl + 2
        if count <= 0:
            self._need = 0
            return [], pos
        args = []
        for _ in range(count):
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                if len(buf) - pos > INLINE_MAX:
                    raise ProtocolError("Protocol error: too big bulk count string")
                self._need = len(buf) - start + 1
                return None, start
            if buf[pos] != 36:  # '$'
                raise ProtocolError("Protocol error: expected '$', got '%c'" % buf[pos])
            size = _strict_int(bytes(buf[pos + 1:nl]))
            if size is None or size < 0 or size > self.max_bulk_len:
                raise ProtocolError("Protocol error: invalid bulk length")
            pos = nl + 2
            # Like Redis, the two bytes after the payload are skipped unchecked.
            if pos + size + 2 > len(buf):
                self._need = pos + size + 2 - start
                return None, start
            args.append(bytes(buf[pos:pos + size]))
            pos += size + 2
        self._need = 0
        return args, pos

