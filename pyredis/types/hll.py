"""Redis's HyperLogLog, byte for byte: the string a PFADD leaves in the
keyspace is the one Redis 6.2 would leave, and PFCOUNT gives its numbers.

The format (documented at the top of Redis's hyperloglog.c):

* a 16-byte header: ``HYLL``, an encoding byte (0 dense, 1 sparse), three
  unused bytes, and the last computed cardinality as 8 little-endian bytes
  whose top bit, when set, marks it stale;
* 16384 registers of 6 bits. An element's 64-bit MurmurHash64A (seed
  0xadc83b19) picks register ``hash & 16383``; the register keeps the
  largest "position of the first 1 bit" (1..51) seen in the remaining 50
  bits;
* *dense*: the registers packed LSB first, 12288 bytes;
* *sparse*: run-length opcodes, ZERO ``00xxxxxx`` (1..64 zero registers),
  XZERO ``01xxxxxx yyyyyyyy`` (1..16384 zero registers), VAL ``1vvvvvxx``
  (1..4 registers of value 1..32). A new HLL is one XZERO:16384. An update
  splits the opcode covering the register into at most three, then merges
  equal adjacent VALs over the next five opcodes, exactly as Redis does,
  so the bytes agree. It turns dense when a value exceeds 32 or the string
  would grow past ``hll-sparse-max-bytes``.

Cardinality uses the estimator Redis has used since 5.0 (Otmar Ertl, "New
cardinality estimation algorithms for HyperLogLog sketches", 2017) over
the histogram of register values, computed with the same floating-point
steps so the rounding agrees.

Values are ``bytearray`` and change in place. Costs: adding an element is
O(1) on dense; on sparse, finding the opcode is O(sparse size) like in
Redis, but runs at C speed (byte translation and sums over the runs of
one-byte opcodes; Python steps only per XZERO opcode). Counting and
merging unpack the 16384 registers with bytes.translate and big-integer
operations rather than a Python loop per register.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from itertools import accumulate

HDR = 16
P = 14
REGISTERS = 1 << P
Q = 64 - P
DENSE = 0
SPARSE = 1
DENSE_SIZE = HDR + REGISTERS * 6 // 8
SPARSE_VAL_MAX = 32
_SEED = 0xADC83B19
_M = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1
_ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)
_LLONG_OVERFLOW = 1 << 63

_EMPTY = bytes(b"HYLL\x01" + bytes(11) + b"\x7f\xff")


class Corrupt(Exception):
    """A sparse HLL whose opcodes do not cover exactly 16384 registers."""


def new() -> bytearray:
    """An empty HLL: sparse, cached cardinality 0."""
    return bytearray(_EMPTY)


def is_valid(v) -> bool:
    """Redis's isHLLObjectOrReply test of a string value."""
    return (len(v) >= HDR and v[:4] == b"HYLL" and v[4] <= SPARSE
            and (v[4] == SPARSE or len(v) == DENSE_SIZE))


def cached_card(v) -> int | None:
    """The cached cardinality, None when stale."""
    if v[15] & 0x80:
        return None
    return int.from_bytes(v[8:16], "little")


def set_card(h: bytearray, card: int) -> None:
    h[8:16] = card.to_bytes(8, "little")


def invalidate(h: bytearray) -> None:
    h[15] |= 0x80


# -- hashing ---------------------------------------------------------------


def murmurhash64a(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash2, 64-bit version, reading blocks little-endian (as Redis
    does on every platform)."""
    n = len(data)
    h = (seed ^ (n * _M)) & _MASK64
    end = n & ~7
    for i in range(0, end, 8):
        k = (int.from_bytes(data[i:i + 8], "little") * _M) & _MASK64
        k ^= k >> 47
        h ^= (k * _M) & _MASK64
        h = (h * _M) & _MASK64
    if n & 7:
        h = ((h ^ int.from_bytes(data[end:], "little")) * _M) & _MASK64
    h ^= h >> 47
    h = (h * _M) & _MASK64
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """(register index, run length of the 0..01 pattern, 1..51)."""
    h = murmurhash64a(element)
    rest = (h >> P) | (1 << Q)
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


# -- dense -----------------------------------------------------------------


def dense_set(h: bytearray, index: int, count: int) -> int:
    """Raise register ``index`` of a dense HLL to ``count``; 1 if it changed."""
    bit = index * 6
    b = HDR + (bit >> 3)
    fb = bit & 7
    if fb <= 2:  # the register lies in one byte (always so for the last one)
        w = h[b]
        if (w >> fb) & 63 >= count:
            return 0
        h[b] = (w & ~(63 << fb)) | (count << fb)
        return 1
    w = h[b] | (h[b + 1] << 8)
    if (w >> fb) & 63 >= count:
        return 0
    w = (w & ~(63 << fb)) | (count << fb)
    h[b] = w & 0xFF
    h[b + 1] = w >> 8
    return 1


def _table(fn) -> bytes:
    return bytes(fn(b) & 0xFF for b in range(256))


_LOW6 = _table(lambda b: b & 63)
_HIGH2 = _table(lambda b: b >> 6)
_HIGH4 = _table(lambda b: b >> 4)
_HIGH6 = _table(lambda b: b >> 2)
_LOW4_UP2 = _table(lambda b: (b & 15) << 2)
_LOW2_UP4 = _table(lambda b: (b & 3) << 4)
_LOW2_UP6 = _table(lambda b: (b & 3) << 6)
_UP4 = _table(lambda b: (b & 15) << 4)
_UP2 = _table(lambda b: b << 2)


def _or(a: bytes, b: bytes) -> bytes:
    """Bytewise OR of two equal-length strings (bits that do not overlap)."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def dense_registers(h) -> bytes:
    """The 16384 registers of a dense HLL, one byte each. Every 3 bytes
    hold 4 registers: r0 = b0[0:6], r1 = b0[6:8] b1[0:4], r2 = b1[4:8]
    b2[0:2], r3 = b2[2:8]."""
    d = bytes(h[HDR:DENSE_SIZE])
    b0, b1, b2 = d[0::3], d[1::3], d[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_LOW6)
    out[1::4] = _or(b0.translate(_HIGH2), b1.translate(_LOW4_UP2))
    out[2::4] = _or(b1.translate(_HIGH4), b2.translate(_LOW2_UP4))
    out[3::4] = b2.translate(_HIGH6)
    return bytes(out)


def pack_registers(regs: bytes) -> bytes:
    """The dense encoding (without header) of 16384 one-byte registers < 64."""
    r0, r1, r2, r3 = regs[0::4], regs[1::4], regs[2::4], regs[3::4]
    out = bytearray(DENSE_SIZE - HDR)
    out[0::3] = _or(r0, r1.translate(_LOW2_UP6))
    out[1::3] = _or(r1.translate(_HIGH6), r2.translate(_UP4))
    out[2::3] = _or(r2.translate(_HIGH4), r3.translate(_UP2))
    return bytes(out)


_H80 = int.from_bytes(b"\x80" * REGISTERS, "little")


def max_registers(a: bytes, b: bytes) -> bytes:
    """Register-wise maximum of two register strings (values < 128), with
    SWAR arithmetic on big integers: per byte, (a | 0x80) - b keeps its top
    bit exactly when a >= b, and never borrows from the next byte."""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    ge = ((((x | _H80) - y) & _H80) >> 7) * 255
    return ((x & ge) | (y & ~ge)).to_bytes(REGISTERS, "little")


# -- sparse ----------------------------------------------------------------

# Registers a one-byte opcode covers (0 for XZERO's first byte, handled apart).
_SPAN = _table(lambda b: (b & 63) + 1 if b < 0x40 else (b & 3) + 1 if b >= 0x80 else 0)
_XZERO = re.compile(rb"[\x40-\x7f]")
_CHUNK = 128


def _val(value: int, length: int) -> int:
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _zeros(n: int) -> bytes:
    """The opcode for ``n`` zero registers (ZERO up to 64, else XZERO)."""
    if n > 64:
        return bytes((0x40 | ((n - 1) >> 8), (n - 1) & 0xFF))
    return bytes((n - 1,))


def _locate(h, index: int):
    """The sparse opcode covering register ``index``: (offset, its first
    register, its span, offset of the opcode before it or None). Runs of
    one-byte opcodes are summed a chunk at a time at C speed; only XZERO
    opcodes (whose second byte could look like anything) are stepped over
    one by one."""
    n = len(h)
    pos = HDR
    first = 0
    prev = None
    search = _XZERO.search
    while pos < n:
        m = search(h, pos)
        stop = m.start() if m else n
        while pos < stop:
            end = pos + _CHUNK if pos + _CHUNK < stop else stop
            spans = h[pos:end].translate(_SPAN)
            total = sum(spans)
            if index < first + total:
                sums = list(accumulate(spans))
                k = bisect_right(sums, index - first)
                if k:
                    return pos + k, first + sums[k - 1], spans[k], pos + k - 1
                return pos, first, spans[0], prev
            first += total
            prev = end - 1
            pos = end
        if stop >= n:
            break
        # Past the end Redis reads the string's NUL terminator.
        low = h[stop + 1] if stop + 1 < n else 0
        span = (((h[stop] & 0x3F) << 8) | low) + 1
        if index < first + span:
            return stop, first, span, prev
        first += span
        prev = stop
        pos = stop + 2
    raise Corrupt


def _merge_vals(h: bytearray, p: int) -> None:
    """Merge adjacent VAL opcodes of equal value (up to length 4), looking
    at five opcodes from ``p`` on, as Redis does after an update."""
    end = len(h)
    scan = 5
    while p < end and scan:
        scan -= 1
        b = h[p]
        if b < 0x80:
            p += 2 if b >= 0x40 else 1
            continue
        if p + 1 < end:
            b2 = h[p + 1]
            if b2 & 0x80 and b >> 2 == b2 >> 2:
                length = (b & 3) + (b2 & 3) + 2
                if length <= 4:
                    h[p + 1] = (b & 0xFC) | (length - 1)
                    del h[p]
                    end -= 1
                    continue
        p += 1


def sparse_set(h: bytearray, index: int, count: int, max_bytes: int) -> int:
    """Raise register ``index`` of a sparse HLL to ``count``; 1 if it
    changed. May turn ``h`` dense. Raises :class:`Corrupt`."""
    if count > SPARSE_VAL_MAX:
        return _promote(h, index, count)
    op, first, span, prev = _locate(h, index)
    b = h[op]
    if b & 0x80:
        old = ((b >> 2) & 31) + 1
        if old >= count:
            return 0
        if span == 1:
            h[op] = _val(count, 1)
            return _updated(h, prev)
        last = first + span - 1
        seq = bytearray()
        if index != first:
            seq.append(_val(old, index - first))
        seq.append(_val(count, 1))
        if index != last:
            seq.append(_val(old, last - index))
        oldlen = 1
    else:
        if b < 0x40 and span == 1:
            h[op] = _val(count, 1)
            return _updated(h, prev)
        last = first + span - 1
        seq = bytearray()
        if index != first:
            seq += _zeros(index - first)
        seq.append(_val(count, 1))
        if index != last:
            seq += _zeros(last - index)
        oldlen = 1 if b < 0x40 else 2
    new_len = len(h) + len(seq) - oldlen
    if len(seq) > oldlen and new_len > max_bytes:
        return _promote(h, index, count)
    h[op:op + oldlen] = seq
    if len(h) > new_len:
        # An XZERO cut short at the end (corrupt): Redis still counts two
        # bytes for it, and the string ends a byte into the new sequence.
        del h[new_len:]
    return _updated(h, prev)


def _updated(h: bytearray, prev) -> int:
    _merge_vals(h, HDR if prev is None else prev)
    invalidate(h)
    return 1


def _promote(h: bytearray, index: int, count: int) -> int:
    to_dense(h)
    return dense_set(h, index, count)


def sparse_opcodes(h):
    """(kind, value, run length) of each sparse opcode; kind is 'z' (ZERO),
    'Z' (XZERO) or 'v' (VAL). No validation."""
    n = len(h)
    p = HDR
    while p < n:
        b = h[p]
        if b < 0x40:
            yield "z", 0, b + 1
            p += 1
        elif b < 0x80:
            low = h[p + 1] if p + 1 < n else 0
            yield "Z", 0, (((b & 0x3F) << 8) | low) + 1
            p += 2
        else:
            yield "v", ((b >> 2) & 31) + 1, (b & 3) + 1
            p += 1


def sparse_registers(h) -> bytes:
    """The 16384 registers of a sparse HLL, one byte each. Raises
    :class:`Corrupt` unless the opcodes cover exactly 16384 registers, or
    a VAL that would run past the last register comes right after it
    (Redis stops reading there, and then finds the count right)."""
    out = bytearray(REGISTERS)
    i = 0
    for kind, value, run in sparse_opcodes(h):
        if value:
            if i + run > REGISTERS:
                break
            out[i:i + run] = bytes((value,)) * run
        i += run
    if i != REGISTERS:
        raise Corrupt
    return bytes(out)


def registers(h) -> bytes:
    """The 16384 registers of a valid HLL of either encoding."""
    return dense_registers(h) if h[4] == DENSE else sparse_registers(h)


def to_dense(h: bytearray) -> bool:
    """Turn a sparse HLL dense in place (header kept, encoding byte 0);
    False if it already was. Raises :class:`Corrupt`."""
    if h[4] == DENSE:
        return False
    regs = sparse_registers(h)
    head = h[:HDR]
    head[4] = DENSE
    h[:] = head + pack_registers(regs)
    return True


def add(h: bytearray, element: bytes, max_bytes: int) -> int:
    """PFADD of one element: 1 if a register changed."""
    index, count = pattern(element)
    if h[4] == DENSE:
        return dense_set(h, index, count)
    return sparse_set(h, index, count, max_bytes)


def merge_into(h: bytearray, regs: bytes, max_bytes: int) -> None:
    """Raise every register of ``h`` to at least ``regs`` (PFMERGE's write
    of the merged registers, register by register in index order, so a
    sparse result has Redis's exact bytes)."""
    if h[4] == SPARSE:
        for m in re.finditer(rb"[^\x00]", regs):
            j = m.start()
            sparse_set(h, j, regs[j], max_bytes)
            if h[4] == DENSE:
                break
        else:
            return
    h[HDR:] = pack_registers(max_registers(dense_registers(h), regs))


# -- counting ----------------------------------------------------------------


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prev = z
        z += x * y
        y += y
        if z_prev == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prev = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z_prev == z:
            return z / 3


def estimate(hist) -> int:
    """Cardinality from the histogram of register values (index = value;
    values past Q+1 are ignored, as in Redis)."""
    m = float(REGISTERS)
    z = m * _tau((m - hist[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += hist[j]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    e = _ALPHA_INF * m * m / z if z else math.inf
    if e >= _LLONG_OVERFLOW:
        # llroundl out of range (only crafted registers get here): x86
        # gives LLONG_MIN, which Redis caches and replies as is.
        return _LLONG_OVERFLOW
    # llroundl: halves away from zero (e >= 0; x - floor(x) is exact).
    r = math.floor(e)
    return r + 1 if e - r >= 0.5 else r


def signed(card: int) -> int:
    """A cardinality as PFCOUNT replies it (Redis sends the uint64 as a
    long long)."""
    return card - (1 << 64) if card >= _LLONG_OVERFLOW else card


def count_registers(regs: bytes) -> int:
    return estimate([regs.count(v) for v in range(Q + 2)])


def count(h) -> int:
    """The estimated cardinality of a valid HLL. Raises :class:`Corrupt`."""
    if h[4] == DENSE:
        return count_registers(dense_registers(h))
    hist = [0] * 64
    total = 0
    for _, value, run in sparse_opcodes(h):
        hist[value] += run
        total += run
    if total != REGISTERS:
        raise Corrupt
    return estimate(hist)


def decode(h) -> bytes:
    """PFDEBUG DECODE's text for a sparse HLL: "Z:16384", "z:3", "v:2,1"."""
    parts = []
    for kind, value, run in sparse_opcodes(h):
        parts.append("v:%d,%d" % (value, run) if kind == "v" else "%s:%d" % (kind, run))
    return " ".join(parts).encode()
