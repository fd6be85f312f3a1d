"""SORT: sort a list, set or sorted set, by its elements or by weights read
from other keys, optionally fetching other keys per element (GET) and
storing the result as a list (STORE). Redis 6.2 semantics:

* Options are read left to right; the last ASC/DESC, LIMIT, STORE and BY
  win, every GET adds an output column. An option name is compared as C
  does (up to a NUL byte, ignoring ASCII case).
* ``BY pattern``: each element replaces the first ``*`` of the pattern to
  name a key (a string) or, with ``->field`` after the ``*``, a hash field;
  a missing one weighs 0 (numeric) or sorts first (ALPHA). A pattern
  without ``*`` means "do not sort" (and stays so even if a later BY has
  one, as in Redis). ``GET #`` is the element itself; ``GET`` of a missing
  key or field is nil (an empty string when stored).
* Numeric sorting reads weights with strtod (leading space, hex, inf
  allowed; anything after the number, NaN or overflow/underflow make the
  whole command fail with "One or more scores can't be converted into
  double"); ties are broken by comparing the elements as bytes, so the
  order is total. ALPHA compares bytes, up to a NUL byte unless STORE is
  given (Redis uses strcoll then; the server runs in the C.UTF-8 locale,
  where it is byte order); ties between ALPHA weights are left in load
  order, where Redis leaves them unspecified.
* Without sorting (``BY nosort``) a list or sorted set keeps its own order,
  reversed by DESC, and LIMIT takes a range of it; a set keeps its
  iteration order, except that with STORE or in a script it is sorted
  ALPHA so that the result is deterministic.
* Sorting a sorted set converts it to the skiplist encoding for good, as
  Redis 6.2 does (OBJECT ENCODING shows it).
* STORE writes a list (clearing the destination's TTL) and answers its
  length; an empty result deletes the destination instead.

SORT is declared ``write`` (it may STORE), so it is refused where writes
are. Without STORE it changes nothing and propagates nothing; with STORE
its effect is the result itself (``DEL dst`` then ``RPUSH dst ...`` in
batches of 1024),
which replays identically whatever the other keys hold on the replica.

Complexity: O(n log n) for n elements to sort plus one key lookup per
element for BY and per element and pattern for GET; O(m) to fetch a
LIMIT range of m elements when nothing is sorted.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from fractions import Fraction
from itertools import islice

from .. import errors
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_LIST, notify
from ..types.zset import ZSet, strtod
from .args import to_int
from .hashes import HashTable
from .table import command

# A parsed GET/BY pattern: _SELF for "#", None for a pattern without "*"
# (it never names a key), else (prefix, postfix, field or None).
_SELF = object()
# A stored result leaves as RPUSHes of at most this many elements each.
_PUSH_BATCH = 1024
_INF = float("inf")
_MIN_NORMAL = 2.2250738585072014e-308
_SPACE = b" \t\n\v\f\r"


def _cstr(b: bytes) -> bytes:
    """What C sees of an argument: the bytes up to the first NUL."""
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


def _parse_pattern(p: bytes):
    """lookupKeyByPattern's reading of a pattern. The ``#``, ``*`` and
    ``->`` searches are C string searches (they stop at a NUL byte); the
    key's tail and the field take the rest of the argument."""
    c = _cstr(p)
    if c == b"#":
        return _SELF
    star = c.find(b"*")
    if star < 0:
        return None
    arrow = c.find(b"->", star + 1)
    if arrow >= 0 and arrow + 2 < len(c):
        return p[:star], p[star + 1:arrow], p[arrow + 2:]
    return p[:star], p[star + 1:], None


def _lookup(db, pat, elem: bytes, write: bool):
    """The value a parsed pattern names for ``elem``, or None: a string
    key's value, or a hash field's with ``->``. Read lookups count
    keyspace hits and misses, as Redis's lookupKeyRead does."""
    if pat is _SELF:
        return elem
    if pat is None:
        return None
    prefix, postfix, field = pat
    key = prefix + elem + postfix
    o = db.get_for_write(key) if write else db.get(key)
    if o is None:
        return None
    t = type(o)
    if field is not None:
        if t is dict or t is HashTable:
            return o.get(field)
        return None
    if t is bytes:
        return o
    if t is bytearray:
        return bytes(o)
    return None


def _weight(b: bytes):
    """A numeric weight as sortCommand reads it (strtod up to a NUL, with
    nothing left over, not NaN, no ERANGE), or None."""
    c = _cstr(b)
    # Fast path: float() reads a plain decimal as strtod does (it also takes
    # '_' and trailing space, which strtod leaves over). Zeros, subnormals,
    # infinities, NaN, hex and junk take the exact path.
    try:
        v = float(c)
    except ValueError:
        pass
    else:
        if (_MIN_NORMAL <= v < _INF or -_INF < v <= -_MIN_NORMAL) and c[-1] not in _SPACE \
                and b"_" not in c:
            return v
    v, end, erange = strtod(c)
    if end != len(c) or erange or v != v:
        return None
    if v != 0.0 and -_MIN_NORMAL < v < _MIN_NORMAL and _inexact(c.lstrip(_SPACE), v):
        # glibc's strtod sets ERANGE for a subnormal result that had to be
        # rounded (an exact one, such as 0x1p-1074, passes).
        return None
    return v


def _inexact(text: bytes, v: float) -> bool:
    """Whether the number written ``text`` (a whole strtod number) is not
    exactly ``v``."""
    body = text.lstrip(b"+-").lower()
    if body.startswith(b"0x"):
        mant, _, exp = body[2:].partition(b"p")
        whole, _, frac = mant.partition(b".")
        exact = Fraction(int((whole + frac) or b"0", 16), 16 ** len(frac))
        exact *= Fraction(2) ** int(exp or b"0")
    else:
        exact = Fraction(Decimal(body.decode()))
    return exact != abs(Fraction(v))


def _sort_keys(args: list) -> list:
    """sortGetKeys: the sorted key, then the last STORE destination. Like
    Redis, it skips LIMIT's two arguments and GET's and BY's one, and reads
    STORE's destination as an option name too."""
    n = len(args)
    dst = None
    i = 2
    while i < n:
        opt = _cstr(args[i]).lower()
        if opt == b"limit":
            i += 2
        elif opt == b"store" and i + 1 < n:
            dst = args[i + 1]
        elif opt == b"get" or opt == b"by":
            i += 1
        i += 1
    return [args[1], dst] if dst is not None else [args[1]]


def _limit_arg(b: bytes) -> int:
    v = to_int(b)
    if v is None:
        raise CommandError(errors.NOT_INTEGER)
    return v


@command("sort", -2, "write denyoom movablekeys", (1, 1, 1), "@set @sortedset @list @dangerous",
         group="generic", since="1.0.0", keys_fn=_sort_keys)
def sort(client, args):
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    store = by = None
    gets = []
    n = len(args)
    j = 2
    while j < n:
        opt = _cstr(args[j]).lower()
        left = n - j - 1
        if opt == b"asc":
            desc = False
        elif opt == b"desc":
            desc = True
        elif opt == b"alpha":
            alpha = True
        elif opt == b"limit" and left >= 2:
            limit_start = _limit_arg(args[j + 1])
            limit_count = _limit_arg(args[j + 2])
            j += 2
        elif opt == b"store" and left >= 1:
            store = args[j + 1]
            j += 1
        elif opt == b"by" and left >= 1:
            by = args[j + 1]
            if b"*" not in _cstr(by):
                dontsort = True
            j += 1
        elif opt == b"get" and left >= 1:
            gets.append(_parse_pattern(args[j + 1]))
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1

    # SORT's argv is never its effect: without STORE it changes nothing (a
    # key expired by a lookup has already sent its own DEL); with STORE the
    # effect is recorded below.
    client.effects = []
    db = client.db
    write = store is not None
    v = db.get_for_write(args[1]) if write else db.get(args[1])
    t = type(v)
    if v is None:
        v = deque()
        t = deque
    elif t is not deque and t is not ZSet and not isinstance(v, set):
        raise CommandError(errors.WRONGTYPE)
    is_set = t is not deque and t is not ZSet
    if is_set and dontsort and (write or client.kind == "lua"):
        # A stored set (or one a script reads) is sorted so that replicas
        # store (or the script computes) the same thing.
        dontsort = False
        alpha = True
        by = None
    if t is ZSet:
        v.big = True

    size = len(v)
    start = min(max(limit_start, 0), size)
    count = min(max(limit_count, -1), size)
    end = size - 1 if count < 0 else start + count - 1
    if start >= size:
        start = size - 1
        end = size - 2
    if end >= size:
        end = size - 1

    # Load the elements: only the LIMIT range when nothing is sorted and
    # the container has an order of its own.
    if dontsort and not is_set:
        if end >= start:
            if t is deque:
                vector = list(islice(reversed(v) if desc else v, start, end + 1))
            elif desc:
                vector = v.member_slice(size - 1 - end, size - start)
                vector.reverse()
            else:
                vector = v.member_slice(start, end + 1)
        else:
            vector = []
        end -= start
        start = 0
    elif t is deque:
        vector = list(v)
    elif t is ZSet:
        vector = list(v.scores)
    else:
        vector = list(v.ordered())

    if not dontsort:
        vector = _sorted(client, db, vector, by, alpha, desc, write)
        if vector is None:
            raise CommandError(errors.SORT_NOT_DOUBLE)

    selected = vector[start:end + 1] if end >= start else []
    if not write:
        if not gets:
            return selected
        out = []
        for elem in selected:
            for pat in gets:
                out.append(_lookup(db, pat, elem, False))
        return out

    if gets:
        out = []
        for elem in selected:
            for pat in gets:
                val = _lookup(db, pat, elem, True)
                out.append(b"" if val is None else val)
    else:
        out = selected
    if out:
        existed = db.get_for_write(store) is not None
        db.set(store, deque(out))
        # Redis counts one change per stored element.
        db.ks.dirty += len(out) - 1
        notify(db, NOTIFY_LIST, b"sortstore", store)
        if existed:
            client.also(b"DEL", store)
        for i in range(0, len(out), _PUSH_BATCH):
            client.also(b"RPUSH", store, *out[i:i + _PUSH_BATCH])
    elif db.delete(store):
        notify(db, NOTIFY_GENERIC, b"del", store)
        client.rewrite(b"DEL", store)
    return len(out)


def _sorted(client, db, vector: list, by, alpha: bool, desc: bool, write: bool):
    """The elements in SORT's order, or None when a numeric weight is not
    a number."""
    if by is not None:
        pat = _parse_pattern(by)
        weights = [_lookup(db, pat, elem, write) for elem in vector]
    else:
        weights = None
    if alpha:
        if weights is None:
            if write:
                return sorted(vector, reverse=desc)
            return sorted(vector, key=_cstr, reverse=desc)
        # A missing weight sorts before every present one.
        conv = (lambda w: w) if write else _cstr
        keyed = [((0, b"") if w is None else (1, conv(w)), i)
                 for i, w in enumerate(weights)]
        keyed.sort(key=lambda p: p[0], reverse=desc)
        return [vector[i] for _, i in keyed]
    scores = []
    ok = True
    if weights is None:
        for elem in vector:
            s = _weight(elem)
            if s is None:
                ok = False
                s = 0.0
            scores.append(s)
    else:
        for w in weights:
            if w is None:
                s = 0.0
            else:
                s = _weight(w)
                if s is None:
                    ok = False
                    s = 0.0
            scores.append(s)
    if not ok:
        return None
    pairs = sorted(zip(scores, vector), reverse=desc)
    return [elem for _, elem in pairs]
