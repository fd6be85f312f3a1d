"""The sorted set value (Redis's zset) and the parsing of its scores and
ranges.

A :class:`ZSet` keeps two views of the same members:

* ``scores``: a dict member -> score, for O(1) ZSCORE and membership;
* ``order``: a ``sortedcontainers.SortedList`` of bytes keys, each the
  score's order-preserving 8-byte image followed by the member, so that
  bytes order is Redis's order (score, then memcmp of the members, shorter
  first on a common prefix). Insert, delete, rank and bisect are
  O(log n); a range of m entries by rank, score or lex is O(log n + m).

ZADD / ZREM / ZINCRBY are O(log n), ZRANK O(log n), ZSCORE O(1).

Redis keeps small sorted sets in a "ziplist" and bigger ones in a
"skiplist"; pyredis uses one structure for both but tracks the encoding
Redis would report (``big``), because OBJECT ENCODING shows it, the
conversion is sticky (a skiplist never goes back, except when a command
builds a new set: ZUNIONSTORE & co. call :meth:`ZSet.fit`), ZSCAN answers
a ziplist in one reply, and lex ranges over members of *different* scores
follow the ziplist's linear scan (the result Redis gives there is defined
by its scan, not by an order).

Other parts (RDB loading, DEBUG RELOAD, replication) build a set with
``ZSet.from_pairs(pairs, entries, value)``, which picks the encoding Redis
gives a set it loads, and read one back with :meth:`ZSet.items` (members
and scores in order) and ``big``.

Scores and range bounds are parsed the way Redis's C code reads them
(``strtod``): :func:`parse_score` is getDoubleFromObject (whole string,
no leading space, hex floats and ``inf`` allowed, overflow refused),
:func:`parse_range_bound` is zslParseRange's reading of ``min``/``max``.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from bisect import bisect_left, bisect_right, insort

from sortedcontainers import SortedList

_INF = math.inf
_nextafter = math.nextafter

# C strtod's longest valid prefix (after optional leading white space):
# hex float, decimal float, inf/infinity or nan[(chars)].
_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?)(?:"
    rb"0x((?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
    rb"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)"
    rb"|(inf(?:inity)?)"
    rb"|(nan(?:\([0-9a-z_]*\))?)"
    rb")", re.IGNORECASE)
_ZERO_MANTISSA = re.compile(rb"[0.]*(?:[ep][+-]?[0-9]+)?\Z", re.IGNORECASE)


def strtod(b: bytes):
    """C's strtod on ``b``: ``(value, end, erange)`` where ``end`` is the
    offset after the number (0 when none was read, as ``endptr == nptr``)
    and ``erange`` tells that the value overflowed to infinity or
    underflowed to zero."""
    m = _STRTOD.match(b)
    if m is None:
        return 0.0, 0, False
    sign, hexpart, dec, inf, nan = m.groups()
    neg = sign == b"-"
    erange = False
    if hexpart is not None:
        try:
            v = float.fromhex("0x" + hexpart.decode())
        except OverflowError:
            v = _INF
            erange = True
        else:
            if v == 0.0 and not _ZERO_MANTISSA.match(hexpart):
                erange = True
    elif dec is not None:
        v = float(dec)
        if v == _INF:
            erange = True
        elif v == 0.0 and not _ZERO_MANTISSA.match(dec):
            erange = True
    elif inf is not None:
        v = _INF
    else:
        v = math.nan
    return (-v if neg else v), m.end(), erange


_SPACE = b" \t\n\v\f\r"


def parse_score(b: bytes) -> float | None:
    """A double as Redis's getDoubleFromObject reads it, or None: the whole
    string must be a number, without leading space; NaN and values that
    overflow (or underflow to zero) are refused."""
    if b.isdigit() and len(b) < 300:
        # Plain digits (redis-benchmark's scores): float() rounds them as
        # strtod does, and under 300 digits they cannot overflow (the
        # largest double has 309).
        return float(b)
    if not b or b[0] in _SPACE:
        return None
    # Fast path: Python's float() reads every plain decimal the same way
    # strtod does; it also takes '_' and trailing space, which C refuses.
    # Hex floats, infinities and zeros go the long way.
    try:
        v = float(b)
    except ValueError:
        pass
    else:
        if v != v or b[-1] in _SPACE or b"_" in b:
            return None
        if v != 0.0 and v != _INF and v != -_INF:
            return v
        if v == 0.0 and not b.strip(b"+-.0"):
            # A zero written with zeros only ("0", "-0", "0.0"): no
            # exponent, so strtod cannot have underflowed to it. This is
            # ZADD's most common score (redis-benchmark sends 0), and the
            # regex below costs more than the rest of the command.
            return v
    v, end, erange = strtod(b)
    if end != len(b) or v != v:
        return None
    if erange and (v == 0.0 or v == _INF or v == -_INF):
        return None
    return v


def parse_range_bound(b: bytes):
    """One bound of a score range as zslParseRange reads it: ``(value,
    exclusive)`` or None. ``(`` makes it exclusive; strtod may skip
    leading space and read nothing at all (an empty bound is 0), but
    nothing may follow the number except a NUL byte."""
    ex = b[:1] == b"("
    if ex:
        b = b[1:]
    v, end, _ = strtod(b)
    if v != v or (end < len(b) and b[end] != 0):
        return None
    return v, ex


# -- lex range bounds --------------------------------------------------------

# A lex bound is (kind, value): kind -1 is "-" (below everything), +1 is "+"
# (above everything), 0 a string compared by bytes.
LEX_MIN = (-1, b"")
LEX_MAX = (1, b"")


def parse_lex_bound(b: bytes):
    """zslParseLexRangeItem: ``(bound, exclusive)`` or None."""
    if not b:
        return None
    c = b[0]
    if c == 43 or c == 45:  # '+' / '-': alone (C reads up to a NUL)
        if len(b) > 1 and b[1] != 0:
            return None
        return (LEX_MAX if c == 43 else LEX_MIN), True
    if c == 40:  # '('
        return (0, b[1:]), True
    if c == 91:  # '['
        return (0, b[1:]), False
    return None


def _lexcmp(a, b) -> int:
    """sdscmplex on two bounds (or a bound and a member wrapped as (0, m))."""
    if a == b:
        return 0
    ka, kb = a[0], b[0]
    if ka == -1 or kb == 1:
        return -1
    if ka == 1 or kb == -1:
        return 1
    return -1 if a[1] < b[1] else 1


class LexRange:
    """A parsed lex range: min/max bounds and their exclusiveness."""

    __slots__ = ("lo", "lo_ex", "hi", "hi_ex")

    def __init__(self, lo, lo_ex, hi, hi_ex) -> None:
        self.lo, self.lo_ex, self.hi, self.hi_ex = lo, lo_ex, hi, hi_ex

    def empty(self) -> bool:
        """A range no member can be in (min above max, or equal and open)."""
        c = _lexcmp(self.lo, self.hi)
        return c > 0 or (c == 0 and (self.lo_ex or self.hi_ex))

    def gte_min(self, member: bytes) -> bool:
        c = _lexcmp((0, member), self.lo)
        return c > 0 if self.lo_ex else c >= 0

    def lte_max(self, member: bytes) -> bool:
        c = _lexcmp((0, member), self.hi)
        return c < 0 if self.hi_ex else c <= 0


_pack_d = struct.Struct(">d").pack
_ZERO_KEY = b"\x80" + bytes(7)
_FLIP = bytes(255 - i for i in range(256))


def score_key(score: float) -> bytes:
    """8 bytes whose byte order is the numeric order of ``score``: the
    IEEE bits big-endian, with the sign bit set for positives and every
    bit flipped for negatives. -0.0 gets 0.0's image (Redis compares
    scores with <, so they tie and the member decides).

    A positive score's image is the bits of its negation: IEEE negation
    sets the sign bit and changes nothing else (one pack instead of a
    pack, an unpack, an or and a pack)."""
    if score > 0.0:
        return _pack_d(-score)
    if score == 0.0:
        return _ZERO_KEY
    return _pack_d(score).translate(_FLIP)


def entry_key(score: float, member: bytes) -> bytes:
    """The sort key of one entry: score image then member, so that bytes
    order is Redis's (score, then memcmp of members, shorter first)."""
    if score > 0.0:
        return _pack_d(-score) + member  # see score_key
    if score == 0.0:
        return _ZERO_KEY + member
    return _pack_d(score).translate(_FLIP) + member


class ZSet:
    """A sorted set. Mutate through the methods so both views agree.

    ``order`` holds one bytes key per member (:func:`entry_key`); bytes
    compare with one memcmp and are not tracked by the garbage collector,
    which keeps big sets cheap. Entries come back from the range methods
    as (score, member) pairs, the score taken from ``scores`` (which keeps
    the sign of a zero)."""

    TYPE_NAME = "zset"
    __slots__ = ("scores", "order", "big")

    def __init__(self) -> None:
        self.scores: dict = {}
        self.order = SortedList()
        # Redis would hold this set as a skiplist (sticky once set).
        self.big = False

    @classmethod
    def from_pairs(cls, pairs, entries: int = 128, value: int = 64) -> "ZSet":
        """A new set of (member, score) pairs (later duplicates win), with
        the encoding Redis gives a freshly built set."""
        z = cls()
        scores = z.scores
        for m, s in pairs:
            scores[m] = s
        z.order = SortedList([entry_key(s, m) for m, s in scores.items()])
        z.fit(entries, value)
        return z

    def fit(self, entries: int, value: int) -> None:
        """Set the encoding as Redis does for a set it just built
        (zsetConvertToZiplistIfNeeded): ziplist when it is small enough."""
        self.big = len(self.scores) > entries or any(len(m) > value for m in self.scores)

    @property
    def encoding(self) -> str:
        return "skiplist" if self.big else "ziplist"

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        return f"ZSet({self.items()!r})"

    def items(self) -> list:
        """(member, score) pairs in order."""
        scores = self.scores
        out = []
        for k in self.order:
            m = k[8:]
            out.append((m, scores[m]))
        return out

    def members(self) -> list:
        """The members in order."""
        return [k[8:] for k in self.order]

    def copy(self) -> "ZSet":
        z = ZSet()
        z.scores = dict(self.scores)
        z.order = SortedList(self.order)
        z.big = self.big
        return z

    # -- updates ---------------------------------------------------------

    def insert(self, member: bytes, score: float) -> None:
        """Add a member that is not in the set."""
        self.scores[member] = score
        self.order.add(entry_key(score, member))

    def update(self, member: bytes, old: float, new: float) -> None:
        """Move an existing member from score ``old`` to ``new``.

        This is ``order.remove(old key)`` then ``order.add(new key)``, done
        on the SortedList's sublists (``_lists``, ``_maxes``) in one go
        whenever those two would neither merge nor split a sublist nor
        update a positional index: then they only delete from one sublist
        and insort into another, and their four method calls cost about
        as much as that work (ZADD of an existing member is the common
        write to a big sorted set). The other cases take the two calls."""
        order = self.order
        # entry_key's positive case inline (the usual one: two calls less).
        old_key = _pack_d(-old) + member if old > 0.0 else entry_key(old, member)
        new_key = _pack_d(-new) + member if new > 0.0 else entry_key(new, member)
        lists = order._lists
        maxes = order._maxes
        pos = bisect_left(maxes, old_key)
        src = lists[pos]
        if order._index or len(src) <= (order._load >> 1) + 1:
            order.remove(old_key)
            order.add(new_key)
            self.scores[member] = new
            return
        i = bisect_left(src, old_key)
        if src[i] != old_key:
            raise ValueError(f"{old_key!r} not in the sorted set")  # as remove() would
        del src[i]
        maxes[pos] = src[-1]
        pos = bisect_right(maxes, new_key)
        if pos == len(maxes):
            pos -= 1
            dst = lists[pos]
            dst.append(new_key)
            maxes[pos] = new_key
        else:
            dst = lists[pos]
            insort(dst, new_key)
        if len(dst) > order._load << 1:
            order._expand(pos)  # splits the sublist, as add() would
        self.scores[member] = new

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove(entry_key(score, member))
        return True

    def pop(self, last: bool) -> tuple:
        """Remove and return the (member, score) with the lowest score, or
        the highest when ``last``."""
        member = self.order.pop(-1 if last else 0)[8:]
        return member, self.scores.pop(member)

    def delete_slice(self, start: int, stop: int) -> int:
        """Remove the entries at ranks [start, stop); returns how many."""
        if start >= stop:
            return 0
        order = self.order
        scores = self.scores
        for k in order[start:stop]:
            del scores[k[8:]]
        del order[start:stop]
        return stop - start

    # -- reads -----------------------------------------------------------

    def at(self, rank: int) -> tuple:
        """The (score, member) at a rank."""
        m = self.order[rank][8:]
        return self.scores[m], m

    def slice(self, start: int, stop: int) -> list:
        """The (score, member) entries at ranks [start, stop)."""
        if start >= stop:
            return []
        scores = self.scores
        out = []
        for k in self.order[start:stop]:
            m = k[8:]
            out.append((scores[m], m))
        return out

    def member_slice(self, start: int, stop: int) -> list:
        """The members at ranks [start, stop)."""
        if start >= stop:
            return []
        return [k[8:] for k in self.order[start:stop]]

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return self.order.bisect_left(entry_key(score, member))

    def first_at_or_above(self, score: float) -> int:
        """Rank of the first member whose score is >= ``score``."""
        return self.order.bisect_left(score_key(score))

    def score_span(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple:
        """Ranks [i, j) of the members with lo <(=) score <(=) hi."""
        order = self.order
        if lo_ex:
            if lo == _INF:
                return 0, 0
            i = order.bisect_left(score_key(_nextafter(lo, _INF)))
        else:
            i = order.bisect_left(score_key(lo))
        if hi_ex:
            j = order.bisect_left(score_key(hi))
        elif hi == _INF:
            j = len(order)
        else:
            j = order.bisect_left(score_key(_nextafter(hi, _INF)))
        return i, (j if j > i else i)

    def lex_span(self, r: LexRange) -> tuple:
        """Ranks [i, j) of the members in the lex range ``r``: from the
        first member in range while members stay under max (ZLEXCOUNT,
        ZREMRANGEBYLEX)."""
        if not self.big:
            i = self.lex_first(r)
            if i is None:
                return 0, 0
            keys = self.order
            n = len(keys)
            lte = r.lte_max
            j = i + 1
            while j < n and lte(keys[j][8:]):
                j += 1
            return i, j
        return self._lex_bisect(r)

    def lex_first(self, r: LexRange) -> int | None:
        """Rank of the first member in the lex range, or None."""
        order = self.order
        if not order or r.empty():
            return None
        if self.big:
            i, j = self._lex_bisect(r)
            return i if i < j else None
        # The ziplist scan (zzlFirstInLexRange): the last member must reach
        # min and the first stay under max; then the first member reaching
        # min is the answer if it is under max.
        if not r.gte_min(order[-1][8:]) or not r.lte_max(order[0][8:]):
            return None
        gte = r.gte_min
        for i, k in enumerate(order):
            m = k[8:]
            if gte(m):
                return i if r.lte_max(m) else None
        return None

    def lex_last(self, r: LexRange) -> int | None:
        """Rank of the last member in the lex range, or None."""
        order = self.order
        if not order or r.empty():
            return None
        if self.big:
            i, j = self._lex_bisect(r)
            return j - 1 if i < j else None
        if not r.gte_min(order[-1][8:]) or not r.lte_max(order[0][8:]):
            return None
        lte = r.lte_max
        for i in range(len(order) - 1, -1, -1):
            m = order[i][8:]
            if lte(m):
                return i if r.gte_min(m) else None
        return None

    def _lex_bisect(self, r: LexRange) -> tuple:
        # A skiplist answers lex ranges by walking as if members were in
        # order, which holds when all scores are equal (the documented use).
        # Bisect on members; with mixed scores the answer is unspecified in
        # Redis too.
        order = self.order
        n = len(order)
        if not n:
            return 0, 0
        prefix = order[0][:8]
        if order[-1][:8] == prefix:
            lo, hi = r.lo, r.hi
            if lo[0] == -1:
                i = 0
            elif lo[0] == 1:
                return 0, 0
            elif r.lo_ex:
                i = order.bisect_right(prefix + lo[1])
            else:
                i = order.bisect_left(prefix + lo[1])
            if hi[0] == 1:
                j = n
            elif hi[0] == -1:
                return 0, 0
            elif r.hi_ex:
                j = order.bisect_left(prefix + hi[1])
            else:
                j = order.bisect_right(prefix + hi[1])
            return i, (j if j > i else i)
        gte, lte = r.gte_min, r.lte_max
        a, b = 0, n
        while a < b:
            mid = (a + b) // 2
            if gte(order[mid][8:]):
                b = mid
            else:
                a = mid + 1
        i = a
        b = n
        while a < b:
            mid = (a + b) // 2
            if lte(order[mid][8:]):
                a = mid + 1
            else:
                b = mid
        return i, (a if a > i else i)


# -- DEBUG DIGEST ---------------------------------------------------------------


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def _mix(digest: bytes, data: bytes) -> bytes:
    """debug.c's mixDigest: SHA1(digest xor SHA1(data))."""
    h = _sha1(data)
    return _sha1(bytes(a ^ b for a, b in zip(digest, h)))


def digest(z: ZSet) -> bytes:
    """What Redis 6.2's DEBUG DIGEST xors into a sorted set key's digest:
    for each member, a digest mixing the member then its score printed
    with %.17g; the SHA1 of each of those is xored together (so member
    order does not matter)."""
    acc = 0
    zero = bytes(20)
    for member, score in z.scores.items():
        ele = _mix(_mix(zero, member), format_score(score))
        acc ^= int.from_bytes(_sha1(ele), "big")
    return acc.to_bytes(20, "big")


def format_score(score: float) -> bytes:
    """A score printed with C's %.17g (``inf``, ``-inf``, ``-0``)."""
    if score == _INF:
        return b"inf"
    if score == -_INF:
        return b"-inf"
    return b"%.17g" % score
