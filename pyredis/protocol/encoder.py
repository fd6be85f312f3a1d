"""Sans-IO encoder: typed reply values to RESP2 or RESP3 bytes.

Handlers return plain Python values and never choose a wire form; the
connection's protocol version does (``HELLO 3`` switches it). The mapping:

=================  ==========================  ===========================
value              RESP2                       RESP3
=================  ==========================  ===========================
bytes, bytearray   bulk string                 bulk string
int                integer                     integer
None               null bulk ``$-1``           null ``_``
NULL_ARRAY         null array ``*-1``          null ``_``
list, tuple        array                       array
dict               flat array k1 v1 k2 v2      map ``%``
set, frozenset     array                       set ``~``
float              bulk, ``%.17g``             double ``,``
Simple             status ``+OK``              status
Verbatim           bulk string                 verbatim ``=`` (``txt:``)
Push               array                       push ``>``
CommandError       error ``-ERR ...``          error
Raw                emitted as is (pre-encoded, same in both)
=================  ==========================  ===========================
"""

from __future__ import annotations

import math

from ..errors import CommandError, sanitize


class Simple(bytes):
    """A status reply such as ``+OK``."""
    __slots__ = ()


class Verbatim(bytes):
    """Text that RESP3 sends as a verbatim string (INFO, CLIENT LIST)."""
    __slots__ = ()


class Raw(bytes):
    """Already-encoded RESP, identical in RESP2 and RESP3."""
    __slots__ = ()


class Push(list):
    """An out-of-band message (pub/sub, invalidation)."""
    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

OK = Raw(b"+OK\r\n")
PONG = Raw(b"+PONG\r\n")
QUEUED = Raw(b"+QUEUED\r\n")
ZERO = Raw(b":0\r\n")
ONE = Raw(b":1\r\n")
EMPTY_ARRAY = Raw(b"*0\r\n")
# Integer replies 0..1023 encoded once, like Redis's shared integers: SADD,
# HSET, ZADD, counters and lengths are mostly small, and formatting costs
# more than the rest of encoding a reply.
SHARED_INTS = tuple(Raw(b":%d\r\n" % i) for i in range(1024))
# A bulk reply's format for each length below 1024, its header made once:
# ``BULK_FORMATS[len(v)] % v`` is half the time of formatting the length
# too (40 against 80 ns; GET, LPOP and the like reply with a bulk).
BULK_FORMATS = tuple(b"$%d\r\n%%b\r\n" % n for n in range(1024))


def format_double(d: float) -> bytes:
    """A double as Redis 6.2 prints it in replies (``%.17g``, ``inf``)."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    return b"%.17g" % d


def error_bytes(message: str) -> bytes:
    """An error line. Raw bytes a message quotes from the client's input
    travel as surrogateescape characters and go out unchanged."""
    message = sanitize(message)
    try:
        data = message.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = message.encode("utf-8", "replace")
    return b"-" + data + b"\r\n"


# "$<n>\r\n" for the lengths most values have, so arrays of bulks (LRANGE,
# MGET, SMEMBERS...) are built by C iterators from list lookups instead of
# one format operation per element.
_BULK_HEADERS = [b"$%d\r\n" % n for n in range(4096)]
_bulk_header = _BULK_HEADERS.__getitem__
# What goes between two bulks of the same length n: the first one's CRLF
# and the second one's header.
_BULK_SEPARATORS = [b"\r\n$%d\r\n" % n for n in range(4096)]
_ONLY_BYTES = {bytes}


def encode_bulks(items) -> bytes:
    """Each element of ``items`` (all ``bytes``) as a bulk string, concatenated."""
    if not items:
        return b""
    n = len(items[0])
    if n < 4096 and len(items[-1]) == n and len(items[len(items) >> 1]) == n:
        # Maybe all of one length (ids, hashes, fixed-width values: common):
        # then one join with the separator lays the whole reply out. The
        # sample above keeps the count off mixed lists.
        lens = list(map(len, items))
        if lens.count(n) == len(lens):
            return _BULK_HEADERS[n] + _BULK_SEPARATORS[n].join(items) + b"\r\n"
    # header, item, CRLF for each item, laid out by slice assignment so no
    # Python-level step runs per item.
    out = [b"\r\n"] * (3 * len(items))
    try:
        out[0::3] = map(_bulk_header, map(len, items))
    except IndexError:  # an element of 4096 bytes or more
        return b"".join([b"$%d\r\n%b\r\n" % (len(x), x) for x in items])
    out[1::3] = items
    return b"".join(out)


def bulk_array(items) -> Raw:
    """A list of ``bytes`` as an array of bulks, encoded now: handlers with
    long replies return this to skip the generic encoder's type checks."""
    return Raw(b"*%d\r\n" % len(items) + encode_bulks(items))


def _bulk(v) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(v), v)


def encode(v, resp3: bool = False) -> bytes:
    """Encode one reply value."""
    t = type(v)
    if t is bytes or t is Raw:
        return v if t is Raw else b"$%d\r\n%b\r\n" % (len(v), v)
    if t is int:
        return b":%d\r\n" % v
    if v is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    out: list[bytes] = []
    _encode_into(v, out, resp3)
    return b"".join(out)


def _encode_into(v, out: list, resp3: bool) -> None:
    t = type(v)
    if t is bytes or t is bytearray:
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    elif t is int or t is bool:
        out.append(b":%d\r\n" % v)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        if len(v) > 2 and set(map(type, v)) == _ONLY_BYTES:
            out.append(encode_bulks(v))
        else:
            for x in v:
                _encode_into(x, out, resp3)
    elif v is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif t is Raw:
        out.append(v)
    elif t is Simple:
        out.append(b"+%b\r\n" % v)
    elif t is dict:
        out.append((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(v) if resp3 else 2 * len(v)))
        for k, x in v.items():
            _encode_into(k, out, resp3)
            _encode_into(x, out, resp3)
    elif t is float:
        if resp3:
            if math.isnan(v):
                out.append(b",nan\r\n")
            else:
                out.append(b",%b\r\n" % format_double(v))
        else:
            out.append(_bulk(format_double(v)))
    elif v is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif t is set or t is frozenset:
        out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(v))
        for x in v:
            _encode_into(x, out, resp3)
    elif t is Verbatim:
        if resp3:
            out.append(b"=%d\r\ntxt:%b\r\n" % (len(v) + 4, v))
        else:
            out.append(_bulk(v))
    elif t is Push:
        out.append((b">%d\r\n" if resp3 else b"*%d\r\n") % len(v))
        for x in v:
            _encode_into(x, out, resp3)
    elif isinstance(v, CommandError):
        out.append(error_bytes(v.args[0]))
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out.append(_bulk(bytes(v)))
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")
