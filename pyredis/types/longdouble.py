"""Exact emulation of the x87 80-bit ``long double`` that INCRBYFLOAT uses.

Redis 6.2 parses both operands with ``strtold``, adds them in ``long
double`` (64-bit significand, round-half-even, exponent range of the x87
extended format including subnormals) and stores the result printed with
``"%.17Lf"`` minus trailing zeros (its ``ld2string`` human mode). A Python
float (53-bit) gives different digits (``10.5 + 0.1`` prints ``10.6`` in
Redis but ``10.59999...`` in double), so this module does the arithmetic
exactly on integers instead.

A finite value is a pair ``(n, e)`` meaning ``n * 2**e`` with ``n`` a signed
integer of at most 64 bits; the sign of zero is not kept (Redis prints a
negative zero as ``0``). Infinity is the :data:`INF` marker; NaN never
survives parsing.
"""

from __future__ import annotations

import re

MANT_BITS = 64
# Exponent of the smallest subnormal (2**-16445) and the first power of two
# past the largest finite value (2**16384).
MIN_EXP = -16445
OVERFLOW = 1 << 16384

# Redis's string2ld refuses inputs of this many characters or more.
MAX_CHARS = 5 * 1024


class _Inf:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INF"


INF = _Inf()

# strtold's accepted forms, which must cover the whole input (Redis rejects
# anything left over, leading whitespace and embedded NULs).
_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\Z")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?\Z")
_INF = re.compile(rb"[+-]?(?:inf|infinity)\Z", re.IGNORECASE)


# Python refuses int<->str conversions past 4300 digits by default; long
# doubles print up to ~4950 digits, so big ones go through in chunks.
_CHUNK = 4000
_CHUNK_POW = 10 ** _CHUNK


def _digits_to_int(d: bytes) -> int:
    if len(d) <= _CHUNK:
        return int(d)
    return _digits_to_int(d[:-_CHUNK]) * _CHUNK_POW + int(d[-_CHUNK:])


def _int_to_digits(q: int) -> bytes:
    if q.bit_length() < 14000:  # < 10**4215, within the limit; else hi > 0
        return b"%d" % q
    hi, lo = divmod(q, _CHUNK_POW)
    return _int_to_digits(hi) + b"%0*d" % (_CHUNK, lo)


def round_ratio(neg: bool, p: int, q: int):
    """Round ``p / q`` (p >= 0, q > 0) to the nearest long double, ties to
    even. Returns ``(n, e)``, or :data:`INF` on overflow."""
    if p == 0:
        return (0, 0)
    # k = floor(log2(p / q))
    k = p.bit_length() - q.bit_length()
    if (p << -k if k < 0 else p) < (q << k if k > 0 else q):
        k -= 1
    e = k - (MANT_BITS - 1)
    if e < MIN_EXP:
        e = MIN_EXP
    if e >= 0:
        n, r = divmod(p, q << e)
        den = q << e
    else:
        n, r = divmod(p << -e, q)
        den = q
    r2 = r << 1
    if r2 > den or (r2 == den and n & 1):
        n += 1
    if e >= 0 and n << e >= OVERFLOW or e < 0 and n >= OVERFLOW << -e:
        return INF
    return (-n if neg else n, e)


def _clamp_exp(text: bytes) -> int:
    # Exponents beyond any representable magnitude only need their sign.
    if len(text) > 9:
        return -10 ** 9 if text[:1] == b"-" else 10 ** 9
    return int(text)


def parse(b: bytes):
    """The long double Redis's string2ld reads from ``b``: ``(n, e)``,
    :data:`INF` for an infinity (an accepted input), or None when Redis
    answers "value is not a valid float" (syntax, NaN, overflow, or a
    non-zero value that underflows to zero)."""
    if not b or len(b) >= MAX_CHARS:
        return None
    m = _DECIMAL.match(b)
    if m is not None:
        sign, ip, fp, ex = m.groups()
        fp = fp or b""
        if not ip and not fp:
            return None
        digits = (ip + fp).lstrip(b"0")
        if not digits:
            return (0, 0)
        e10 = (_clamp_exp(ex) if ex else 0) - len(fp)
        # value is in [10**(mag-1), 10**mag): settle the far cases without
        # building huge powers of ten (max ~1.19e4932, half the smallest
        # subnormal ~1.82e-4951).
        mag = len(digits) + e10
        if mag > 4934:
            return None
        if mag < -4950:
            return None
        d = _digits_to_int(digits)
        if e10 >= 0:
            r = round_ratio(sign == b"-", d * 10 ** e10, 1)
        else:
            r = round_ratio(sign == b"-", d, 10 ** -e10)
    else:
        m = _HEX.match(b)
        if m is None:
            if _INF.match(b):
                return INF
            return None
        sign, ip, fp, ex = m.groups()
        fp = fp or b""
        if not ip and not fp:
            return None
        h = int(ip + fp, 16) if ip + fp else 0
        if h == 0:
            return (0, 0)
        e2 = (_clamp_exp(ex) if ex else 0) - 4 * len(fp)
        top = h.bit_length() + e2
        if top > 16385:
            return None
        if top < MIN_EXP - 2:
            return None
        if e2 >= 0:
            r = round_ratio(sign == b"-", h << e2, 1)
        else:
            r = round_ratio(sign == b"-", h, 1 << -e2)
    if r is INF or r[0] == 0:
        # ERANGE with a result of +-HUGE_VAL or 0: refused.
        return None
    return r


def add(a, b):
    """``a + b`` rounded as the FPU does: ``(n, e)`` or :data:`INF` (for an
    infinite or NaN result)."""
    if a is INF or b is INF:
        return INF
    (na, ea), (nb, eb) = a, b
    if ea > eb:
        na <<= ea - eb
        ea = eb
    elif eb > ea:
        nb <<= eb - ea
    s = na + nb
    if s == 0:
        return (0, 0)
    if ea >= 0:
        return round_ratio(s < 0, abs(s) << ea, 1)
    return round_ratio(s < 0, abs(s), 1 << -ea)


def from_int(v: int):
    """An integer that fits in 64 bits is exact in long double."""
    return (v, 0)


def format_human(v) -> bytes:
    """``"%.17Lf"`` (exact, ties to even as glibc prints) without trailing
    zeros or a trailing dot, and ``-0`` written as ``0``: Redis's
    ld2string(LD_STR_HUMAN)."""
    if v is INF:
        return b"inf"
    n, e = v
    neg = n < 0
    if neg:
        n = -n
    if e >= 0:
        q = (n << e) * 10 ** 17
    else:
        num = n * 10 ** 17
        den = 1 << -e
        q, r = divmod(num, den)
        r2 = r << 1
        if r2 > den or (r2 == den and q & 1):
            q += 1
    if q == 0:
        return b"0"
    s = _int_to_digits(q).rjust(18, b"0")
    int_part = s[:-17]
    frac = s[-17:].rstrip(b"0")
    out = int_part + b"." + frac if frac else int_part
    return b"-" + out if neg else out


def to_float(v) -> float:
    """Nearest double (for diagnostics and tests)."""
    if v is INF:
        return float("inf")
    n, e = v
    from fractions import Fraction
    return float(Fraction(n) * (Fraction(2) ** e))
