"""Redis's glob-style patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET...),
matched byte for byte the way Redis's ``stringmatchlen`` does.

Syntax: ``*`` any run of bytes, ``?`` one byte, ``[abc]`` one of a set,
``[^abc]`` one byte not in the set, ``[a-z]`` a range, ``\\x`` the byte x.
The corner cases follow Redis, not POSIX fnmatch:

* an empty subject matches only the empty pattern (``**`` does not match
  the key ``""``; KEYS and SCAN special-case the single pattern ``*``);
* a ``[`` class that is never closed runs to the end of the pattern
  (``[ab`` is the class of a and b; ``[`` alone matches nothing; ``[^``
  matches any byte); ``[]`` matches nothing and ``[^]`` any byte;
* inside a class, ``\\x`` is x, ``a-`` followed by a byte is a range whose
  ends may come in either order (``[z-a]``) and may be ``]`` (``[a-]`` is
  the range ]..a and leaves the class open); ranges compare bytes as C's
  signed ``char``, so a range with one end >= 0x80 wraps the way Redis's
  does (``[a-\\xff]`` is the range -1..97, i.e. 0x00..0x61);
* a trailing lone ``\\`` is a literal backslash;
* with ``nocase`` (CONFIG GET), literals and ranges compare ASCII
  case-insensitively but an escaped byte inside a class does not.

Matching never backtracks exponentially. A pattern is compiled once into
segments of fixed-width tokens separated by ``*``; the first segment is
anchored at the start, the last at the end, and each middle segment is
taken at its leftmost position after the previous one. Every token consumes
exactly one byte, so the leftmost position is always safe to take and the
cost is O(len(subject) * len(pattern)) at worst; segments made only of
literal bytes are searched with ``bytes.find``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

_STAR = object()
_ANY = bytes([1]) * 256  # the table of '?': every byte matches


def _signed(b: int) -> int:
    """A byte as C's (signed) char on the platforms Redis runs on."""
    return b - 256 if b >= 128 else b


def _lower(c: int) -> int:
    """C's tolower in the "C" locale (also for negative chars)."""
    return c + 32 if 65 <= c <= 90 else c


def _class(pattern: bytes, j: int, nocase: bool) -> tuple[bytes, int]:
    """Parse a ``[...]`` class whose body starts at ``pattern[j]``.
    Returns (256-entry match table, index after the class)."""
    n = len(pattern)
    negate = j < n and pattern[j] == 94  # '^'
    if negate:
        j += 1
    table = bytearray(256)
    while j < n:
        c = pattern[j]
        if c == 92 and j + 1 < n:  # '\\': the next byte, always case-sensitive
            table[pattern[j + 1]] = 1
            j += 2
        elif c == 93:  # ']'
            j += 1
            break
        elif j + 2 < n and pattern[j + 1] == 45:  # 'x-y'
            lo, hi = _signed(c), _signed(pattern[j + 2])
            if lo > hi:
                lo, hi = hi, lo
            if nocase:
                lo, hi = _lower(lo), _lower(hi)
            for v in range(256):
                sv = _lower(_signed(v)) if nocase else _signed(v)
                if lo <= sv <= hi:
                    table[v] = 1
            j += 3
        else:
            if nocase:
                lc = _lower(c)
                for v in range(256):
                    if _lower(v) == lc:
                        table[v] = 1
            else:
                table[c] = 1
            j += 1
    if negate:
        table = bytearray(1 - x for x in table)
    return bytes(table), j


def tokenize(pattern: bytes, nocase: bool = False) -> list:
    """The pattern as a list of tokens: ``_STAR`` (runs collapsed), an int
    (one literal byte) or a 256-byte table (a class or ``?``). In nocase
    mode literals become tables too."""
    tokens: list = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # '*'
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
            i += 1
            continue
        if c == 63:  # '?'
            tokens.append(_ANY)
            i += 1
            continue
        if c == 91:  # '['
            table, i = _class(pattern, i + 1, nocase)
            tokens.append(table)
            continue
        if c == 92 and i + 1 < n:  # '\\x' is x; a trailing '\\' is itself
            c = pattern[i + 1]
            i += 1
        i += 1
        if nocase and 97 <= (c | 32) <= 122:  # an ASCII letter: either case
            tokens.append(bytes(1 if v == c or v == (c ^ 32) else 0 for v in range(256)))
        else:
            tokens.append(c)
    return tokens


def _segment(tokens: list):
    """A run of fixed-width tokens: bytes if all are literals, else a tuple."""
    if all(type(t) is int for t in tokens):
        return bytes(tokens)
    return tuple(tokens)


def _seg_at(seg: tuple, s: bytes, p: int) -> bool:
    for t in seg:
        c = s[p]
        if t.__class__ is int:
            if c != t:
                return False
        elif not t[c]:
            return False
        p += 1
    return True


def _seg_find(seg, s: bytes, start: int, last: int) -> int:
    """Leftmost p in [start, last] where ``seg`` matches ``s[p:]``, or -1."""
    if seg.__class__ is bytes:
        return s.find(seg, start, last + len(seg))
    first = seg[0]
    p = start
    while p <= last:
        if first.__class__ is int:
            p = s.find(first, p, last + 1)
            if p < 0:
                return -1
        if _seg_at(seg, s, p):
            return p
        p += 1
    return -1


def _at(seg, s: bytes, p: int) -> bool:
    if seg.__class__ is bytes:
        return s.startswith(seg, p)
    return _seg_at(seg, s, p)


def _compile(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    tokens = tokenize(pattern, nocase)
    if not tokens:
        return _is_empty
    # Split into star-separated segments.
    segs: list = []
    run: list = []
    for t in tokens:
        if t is _STAR:
            segs.append(_segment(run))
            run = []
        else:
            run.append(t)
    segs.append(_segment(run))
    if len(segs) == 1:
        seg = segs[0]
        size = len(seg)
        if seg.__class__ is bytes:
            return lambda s: s == seg
        return lambda s: len(s) == size and _seg_at(seg, s, 0)
    head, middle, tail = segs[0], segs[1:-1], segs[-1]
    hlen, tlen = len(head), len(tail)
    fixed = hlen + tlen + sum(len(m) for m in middle)
    if not middle and head.__class__ is bytes and tail.__class__ is bytes:
        if not tail:
            if not head:  # only stars: anything but the empty subject
                return bool
            return lambda s: s.startswith(head)
        if not head:
            return lambda s: s.endswith(tail)
        return lambda s: len(s) >= fixed and s.startswith(head) and s.endswith(tail)

    def match(s: bytes) -> bool:
        n = len(s)
        if n < fixed or n == 0:
            return False
        if hlen and not _at(head, s, 0):
            return False
        end = n - tlen
        if tlen and not _at(tail, s, end):
            return False
        p = hlen
        for m in middle:
            p = _seg_find(m, s, p, end - len(m))
            if p < 0:
                return False
            p += len(m)
        return True

    return match


def _is_empty(s: bytes) -> bool:
    return not s


@lru_cache(maxsize=512)
def _cached(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    return _compile(pattern, nocase)


def compile_pattern(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate ``f(subject) -> bool`` for ``pattern``. Short patterns
    are cached, so calling this per command is cheap."""
    if len(pattern) <= 256:
        return _cached(bytes(pattern), nocase)
    return _compile(bytes(pattern), nocase)


def match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """Does ``subject`` match ``pattern`` (Redis's stringmatchlen)?"""
    return compile_pattern(pattern, nocase)(subject)


def is_literal(pattern: bytes) -> bool:
    """True if ``pattern`` has no special bytes, so it matches only itself."""
    return not any(c in pattern for c in b"*?[\\")
