"""Sorted set commands: ZADD/ZINCRBY, reads by member (ZSCORE, ZMSCORE,
ZRANK, ZREVRANK, ZCARD), counts and ranges by rank, score and lex (ZRANGE
in its Redis 6.2 form with BYSCORE/BYLEX/REV/LIMIT, the older Z*RANGE*
commands, ZRANGESTORE), removals (ZREM, ZREMRANGEBY*), pops (ZPOPMIN/MAX
and the blocking BZPOPMIN/MAX), set algebra (ZUNIONSTORE, ZINTERSTORE,
ZDIFFSTORE, ZUNION, ZINTER, ZDIFF; plain sets count as members of score
1), ZRANDMEMBER and ZSCAN.

The structure and its costs are in ``types/zset.py``: ZADD/ZREM/ZINCRBY
O(log n) per member, ZSCORE O(1), ZRANK O(log n), ranges O(log n + m).

Replies follow Redis 6.2: scores are doubles (bulk strings printed with
%.17g in RESP2, RESP3 doubles), and in RESP3 a WITHSCORES reply (or a pop
with a count) is an array of [member, score] pairs. A blocking pop that
was served propagates as the ZPOPMIN/ZPOPMAX that happened.
"""

from __future__ import annotations

import random
import re

from .. import errors
from ..blocking import block
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_ZSET, notify
from ..protocol import NULL_ARRAY, Raw
from ..protocol.encoder import bulk_array
from ..types.glob import compile_pattern
from ..types.scan import cursors
from ..types.zset import (LexRange, ZSet, format_score, parse_lex_bound, parse_range_bound,
                          parse_score)
from ..types.zset import digest as _zset_digest
from .args import LLONG_MAX, parse_int
from .lists import parse_timeout
from .table import command

_EMPTY = Raw(b"*0\r\n")






def _limits(client):
    config = client.core.config
    return config.zset_max_ziplist_entries, config.zset_max_ziplist_value


def _after_removal(db, key, z, event: bytes) -> None:
    """Announce a removal; empty sorted sets disappear, as in Redis."""
    if z.scores:
        db.modified(key)
        notify(db, NOTIFY_ZSET, event, key)
    else:
        # The event goes out first, then the deletion's.
        notify(db, NOTIFY_ZSET, event, key)
        db.delete(key)
        notify(db, NOTIFY_GENERIC, b"del", key)


def store_result(client, dst, pairs, event: bytes) -> int:
    """Replace ``dst`` with a sorted set built from (member, score) pairs
    (deleting it when there are none), encoded as Redis encodes a set it
    just built, and announce ``event`` (or ``del``). Returns the new
    cardinality."""
    db = client.db
    if not pairs:
        if db.delete(dst):
            notify(db, NOTIFY_GENERIC, b"del", dst)
        return 0
    entries, value = _limits(client)
    z = ZSet.from_pairs(pairs, entries, value)
    db.set(dst, z)
    notify(db, NOTIFY_ZSET, event, dst)
    return len(z)


def scored_reply(client, entries, nested: bool = True) -> Raw:
    """(score, member) entries as a reply with scores: member, score, ...
    flat in RESP2 (scores as %.17g bulk strings); in RESP3 scores are
    doubles and, when ``nested``, each entry is a [member, score] pair.
    Encoded here because these replies are long and on hot paths."""
    fmt = format_score
    n = len(entries)
    if client.resp == 3:
        if nested:
            return Raw(b"*%d\r\n" % n + b"".join(
                [b"*2\r\n$%d\r\n%b\r\n,%b\r\n" % (len(m), m, fmt(s)) for s, m in entries]))
        return Raw(b"*%d\r\n" % (2 * n) + b"".join(
            [b"$%d\r\n%b\r\n,%b\r\n" % (len(m), m, fmt(s)) for s, m in entries]))
    parts = []
    for s, m in entries:
        f = fmt(s)
        parts.append(b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(m), m, len(f), f))
    return Raw(b"*%d\r\n" % (2 * n) + b"".join(parts))


def score_reply(client, score: float) -> Raw:
    """One score: a bulk string in RESP2, a double in RESP3."""
    f = format_score(score)
    if client.resp == 3:
        return Raw(b",%b\r\n" % f)
    return Raw(b"$%d\r\n%b\r\n" % (len(f), f))


# -- ZADD ZINCRBY -------------------------------------------------------------

_NX, _XX, _GT, _LT, _CH, _INCR = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT, b"ch": _CH, b"incr": _INCR}


def zadd_generic(client, args, flags: int, first: int = 2):
    """ZADD and ZINCRBY (Redis's zaddGenericCommand). ``args[first:]``
    holds the options, then score/member pairs."""
    n = len(args)
    i = first
    get_flag = _ZADD_FLAGS.get
    while i < n:
        f = get_flag(args[i].lower())
        if f is None:
            break
        flags |= f
        i += 1
    pairs = n - i
    if pairs % 2 or not pairs:
        raise CommandError(errors.SYNTAX)
    pairs //= 2
    nx = flags & _NX
    xx = flags & _XX
    gt = flags & _GT
    lt = flags & _LT
    incr = flags & _INCR
    if nx and xx:
        raise CommandError(errors.ZADD_XX_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(errors.ZADD_GT_LT_NX)
    if incr and pairs > 1:
        raise CommandError(errors.ZADD_INCR_PAIR)
    scores = []
    for j in range(i, n, 2):
        s = parse_score(args[j])
        if s is None:
            raise CommandError(errors.NOT_FLOAT)
        scores.append(s)
    db = client.db
    key = args[1]
    z = db.get_for_write(key)
    created = False
    if z is None:
        if xx:
            return None if incr else 0
        z = ZSet()
        created = True
    elif type(z) is not ZSet:
        raise CommandError(errors.WRONGTYPE)
    entries, max_value = _limits(client)
    zscores = z.scores
    added = updated = processed = 0
    score = 0.0
    for k in range(pairs):
        score = scores[k]
        member = args[i + 2 * k + 1]
        cur = zscores.get(member)
        if cur is not None:
            if nx:
                continue
            if incr:
                score += cur
                if score != score:
                    if added or updated:
                        db.modified(key)
                        notify(db, NOTIFY_ZSET, b"zincr", key)
                    raise CommandError(errors.ZADD_NAN)
            if (lt and score >= cur) or (gt and score <= cur):
                continue
            processed += 1
            if score != cur:
                z.update(member, cur, score)
                updated += 1
        elif not xx:
            z.insert(member, score)
            if not z.big and (len(zscores) > entries or len(member) > max_value):
                z.big = True
            processed += 1
            added += 1
    if added or updated:
        if created:
            db.set(key, z)
        else:
            db.modified(key)
        if db.ks.notify_flags:
            notify(db, NOTIFY_ZSET, b"zincr" if incr else b"zadd", key)
    if incr:
        return score if processed else None
    return added + updated if flags & _CH else added


@command("zadd", -4, "write denyoom fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zadd(client, args):
    if len(args) == 4:
        # ZADD key score member: the common case, without option parsing.
        score = parse_score(args[2])
        if score is None:
            if args[2].lower() in _ZADD_FLAGS:
                raise CommandError(errors.SYNTAX)
            raise CommandError(errors.NOT_FLOAT)
        db = client.db
        key = args[1]
        member = args[3]
        z = db.get_for_write(key) if key in db.expires else db.data.get(key)
        if z is None:
            z = ZSet()
            z.insert(member, score)
            entries, max_value = _limits(client)
            if entries == 0 or len(member) > max_value:
                z.big = True
            db.set(key, z)
            if db.ks.notify_flags:
                notify(db, NOTIFY_ZSET, b"zadd", key)
            return 1
        if type(z) is not ZSet:
            raise CommandError(errors.WRONGTYPE)
        cur = z.scores.get(member)
        if cur is None:
            z.insert(member, score)
            if not z.big:
                entries, max_value = _limits(client)
                if len(z.scores) > entries or len(member) > max_value:
                    z.big = True
            db.modified(key)
            if db.ks.notify_flags:
                notify(db, NOTIFY_ZSET, b"zadd", key)
            return 1
        if score != cur:
            z.update(member, cur, score)
            db.modified(key)
            if db.ks.notify_flags:
                notify(db, NOTIFY_ZSET, b"zadd", key)
        return 0
    return zadd_generic(client, args, 0)


@command("zincrby", 4, "write denyoom fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zincrby(client, args):
    return zadd_generic(client, args, _INCR)


# -- reads by member ----------------------------------------------------------


@command("zcard", 2, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zcard(client, args):
    z = client.db.get_typed(args[1], ZSet)
    return 0 if z is None else len(z.scores)


@command("zscore", 3, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zscore(client, args):
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return None
    score = z.scores.get(args[2])
    return None if score is None else score_reply(client, score)


@command("zmscore", -3, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="6.2.0")
def zmscore(client, args):
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return [None] * (len(args) - 2)
    get = z.scores.get
    return [get(m) for m in args[2:]]


def _rank(client, args, rev: bool):
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return None
    r = z.rank(args[2])
    if r is None:
        return None
    return len(z.scores) - 1 - r if rev else r


@command("zrank", 3, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.0.0")
def zrank(client, args):
    return _rank(client, args, False)


@command("zrevrank", 3, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.0.0")
def zrevrank(client, args):
    return _rank(client, args, True)


# -- range parsing --------------------------------------------------------------


def parse_score_range(lo: bytes, hi: bytes) -> tuple:
    a = parse_range_bound(lo)
    b = parse_range_bound(hi)
    if a is None or b is None:
        raise CommandError(errors.ZRANGE_NOT_FLOAT)
    return a[0], a[1], b[0], b[1]


def parse_lex_range(lo: bytes, hi: bytes) -> LexRange:
    a = parse_lex_bound(lo)
    b = parse_lex_bound(hi)
    if a is None or b is None:
        raise CommandError(errors.ZRANGE_NOT_LEX)
    return LexRange(a[0], a[1], b[0], b[1])


def _rank_slice(length: int, start: int, end: int):
    """Redis's rank range normalisation: (start, end) inclusive, or None."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    if start < 0:
        start = 0
    if start > end or start >= length:
        return None
    if end >= length:
        end = length - 1
    return start, end


@command("zcount", 4, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.0.0")
def zcount(client, args):
    rng = parse_score_range(args[2], args[3])
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return 0
    i, j = z.score_span(*rng)
    return j - i


@command("zlexcount", 4, "readonly fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.8.9")
def zlexcount(client, args):
    rng = parse_lex_range(args[2], args[3])
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return 0
    i, j = z.lex_span(rng)
    return j - i


# -- ZRANGE and friends ------------------------------------------------------------

_RANK, _SCORE, _LEX = 0, 1, 2


def zrange_generic(client, args, first: int, store: bytes | None, kind: int | None,
                   rev: bool | None):
    """Redis 6.2's zrangeGenericCommand: ``args[first]`` is the source key,
    then min, max and options. ``kind``/``rev`` are fixed by the older
    commands and None for ZRANGE/ZRANGESTORE, which take BYSCORE/BYLEX/REV.
    Returns the reply, or with ``store`` the number of members stored."""
    withscores = False
    offset, limit = 0, -1
    n = len(args)
    j = first + 3
    while j < n:
        opt = args[j].lower()
        left = n - j - 1
        if store is None and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = parse_int(args[j + 1])
            limit = parse_int(args[j + 2])
            j += 2
        elif rev is None and opt == b"rev":
            rev = True
        elif kind is None and opt == b"bylex":
            kind = _LEX
        elif kind is None and opt == b"byscore":
            kind = _SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if rev is None:
        rev = False
    if kind is None:
        kind = _RANK
    if limit != -1 and kind == _RANK:
        raise CommandError(errors.ZRANGE_LIMIT_RANK)
    if withscores and kind == _LEX:
        raise CommandError(errors.ZRANGE_WITHSCORES_LEX)
    lo, hi = args[first + 1], args[first + 2]
    if rev and kind != _RANK:
        lo, hi = hi, lo
    if kind == _RANK:
        start, end = parse_int(lo), parse_int(hi)
    elif kind == _SCORE:
        srange = parse_score_range(lo, hi)
    else:
        lrange = parse_lex_range(lo, hi)
    key = args[first]
    z = client.db.get_typed_for_write(key, ZSet) if store is not None else client.db.get_typed(key, ZSet)
    if z is None:
        if store is not None:
            return store_result(client, store, [], b"zrangestore")
        return _EMPTY
    order = z.order
    length = len(order)
    if kind == _RANK:
        span = _rank_slice(length, start, end)
        if span is None:
            lo_i = hi_i = 0
        else:
            start, end = span
            lo_i, hi_i = (length - 1 - end, length - start) if rev else (start, end + 1)
    elif offset < 0 or (offset > 0 and offset >= length):
        lo_i = hi_i = 0
    elif kind == _LEX:
        lo_i = hi_i = None
    else:
        i, k = z.score_span(*srange)
        if rev:
            hi_i = k - offset
            lo_i = i if limit < 0 else max(i, hi_i - limit)
        else:
            lo_i = i + offset
            hi_i = k if limit < 0 else min(k, lo_i + limit)
    if lo_i is None:
        entries = _lex_walk(z, lrange, rev, offset, limit)
    elif store is None and not withscores:
        # Members only: no score lookups.
        members = z.member_slice(lo_i, hi_i)
        if rev:
            members.reverse()
        return _bulks(members)
    else:
        entries = z.slice(lo_i, hi_i)
        if rev:
            entries.reverse()
    if store is not None:
        return store_result(client, store, [(m, s) for s, m in entries], b"zrangestore")
    if withscores:
        return scored_reply(client, entries)
    return _members(entries)


def _lex_walk(z: ZSet, r: LexRange, rev: bool, offset: int, limit: int) -> list:
    """The (score, member) entries of a lex range read forward or backward,
    skipping ``offset`` entries and keeping at most ``limit`` (<0: all).

    As in Redis, the walk starts at the first (last) member in range, the
    skipped entries are not checked, and the walk stops at the first member
    past max (below min). Members are in lex order when the scores are
    equal; with mixed scores this reproduces what a ziplist gives."""
    order = z.order
    n = len(order)
    if z.big:
        i, j = z.lex_span(r)
        if rev:
            top = j - offset
            bottom = i if limit < 0 else max(i, top - limit)
            out = z.slice(bottom, top)
            out.reverse()
            return out
        lo = i + offset
        hi = j if limit < 0 else min(j, lo + limit)
        return z.slice(lo, hi)
    out = []
    if rev:
        k = z.lex_last(r)
        if k is None:
            return out
        k -= offset
        ok = r.gte_min
        while k >= 0 and limit != 0:
            entry = z.at(k)
            if not ok(entry[1]):
                break
            out.append(entry)
            limit -= 1
            k -= 1
        return out
    k = z.lex_first(r)
    if k is None:
        return out
    k += offset
    ok = r.lte_max
    while k < n and limit != 0:
        entry = z.at(k)
        if not ok(entry[1]):
            break
        out.append(entry)
        limit -= 1
        k += 1
    return out


def _bulks(items) -> Raw:
    """A RESP array of bulk strings (the same in RESP2 and RESP3)."""
    return Raw(b"*%d\r\n" % len(items)
               + b"".join([b"$%d\r\n%b\r\n" % (len(m), m) for m in items]))


def _members(entries) -> Raw:
    """The members of (score, member) entries as a RESP array of bulks."""
    return bulk_array([m for _, m in entries])


@command("zrange", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zrange(client, args):
    return zrange_generic(client, args, 1, None, None, None)


@command("zrevrange", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zrevrange(client, args):
    return zrange_generic(client, args, 1, None, _RANK, True)


@command("zrangebyscore", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.0.5")
def zrangebyscore(client, args):
    return zrange_generic(client, args, 1, None, _SCORE, False)


@command("zrevrangebyscore", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.2.0")
def zrevrangebyscore(client, args):
    return zrange_generic(client, args, 1, None, _SCORE, True)


@command("zrangebylex", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.8.9")
def zrangebylex(client, args):
    return zrange_generic(client, args, 1, None, _LEX, False)


@command("zrevrangebylex", -4, "readonly", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.8.9")
def zrevrangebylex(client, args):
    return zrange_generic(client, args, 1, None, _LEX, True)


@command("zrangestore", -5, "write denyoom", (1, 2, 1), "@sortedset", group="sorted_set",
         since="6.2.0")
def zrangestore(client, args):
    return zrange_generic(client, args, 2, args[1], None, None)


# -- removals ---------------------------------------------------------------------


@command("zrem", -3, "write fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zrem(client, args):
    db = client.db
    key = args[1]
    z = db.get_typed_for_write(key, ZSet)
    if z is None:
        return 0
    removed = 0
    remove = z.remove
    for m in args[2:]:
        if remove(m):
            removed += 1
            if not z.scores:
                break
    if removed:
        _after_removal(db, key, z, b"zrem")
    return removed


_ZREMRANGE_EVENTS = {_RANK: b"zremrangebyrank", _SCORE: b"zremrangebyscore",
                     _LEX: b"zremrangebylex"}


def _zremrange(client, args, kind: int):
    if kind == _RANK:
        start, end = parse_int(args[2]), parse_int(args[3])
    elif kind == _SCORE:
        srange = parse_score_range(args[2], args[3])
    else:
        lrange = parse_lex_range(args[2], args[3])
    db = client.db
    key = args[1]
    z = db.get_typed_for_write(key, ZSet)
    if z is None:
        return 0
    if kind == _RANK:
        span = _rank_slice(len(z.order), start, end)
        if span is None:
            return 0
        i, k = span[0], span[1] + 1
    elif kind == _SCORE:
        i, k = z.score_span(*srange)
    else:
        i, k = z.lex_span(lrange)
    removed = z.delete_slice(i, k)
    if removed:
        _after_removal(db, key, z, _ZREMRANGE_EVENTS[kind])
    return removed


@command("zremrangebyrank", 4, "write", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.0.0")
def zremrangebyrank(client, args):
    return _zremrange(client, args, _RANK)


@command("zremrangebyscore", 4, "write", (1, 1, 1), "@sortedset", group="sorted_set",
         since="1.2.0")
def zremrangebyscore(client, args):
    return _zremrange(client, args, _SCORE)


@command("zremrangebylex", 4, "write", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.8.9")
def zremrangebylex(client, args):
    return _zremrange(client, args, _LEX)


# -- pops -------------------------------------------------------------------------


def _zpop(client, args, last: bool):
    count = None
    if len(args) > 3:
        raise CommandError(errors.SYNTAX)
    if len(args) == 3:
        count = parse_int(args[2])
        if count <= 0:
            return _EMPTY
    db = client.db
    key = args[1]
    z = db.get_typed_for_write(key, ZSet)
    if z is None:
        return _EMPTY
    popped = []
    pop = z.pop
    for _ in range(min(count or 1, len(z.scores))):
        m, s = pop(last)
        popped.append((s, m))
    _after_removal(db, key, z, b"zpopmax" if last else b"zpopmin")
    # RESP3 nests pairs only when a count was given (Redis 6.2).
    return scored_reply(client, popped, count is not None)


@command("zpopmin", -2, "write fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="5.0.0")
def zpopmin(client, args):
    return _zpop(client, args, False)


@command("zpopmax", -2, "write fast", (1, 1, 1), "@sortedset", group="sorted_set",
         since="5.0.0")
def zpopmax(client, args):
    return _zpop(client, args, True)


def _pop_server(last: bool):
    name = b"ZPOPMAX" if last else b"ZPOPMIN"
    event = name.lower()

    def serve(client, key):
        db = client.db
        z = db.get_for_write(key)
        if type(z) is not ZSet:
            return None
        member, score = z.pop(last)
        _after_removal(db, key, z, event)
        return [key, member, score], [[name, key]]

    return serve


_SERVE_MIN = _pop_server(False)
_SERVE_MAX = _pop_server(True)


def _bzpop(client, args, last: bool):
    timeout = parse_timeout(args[-1])
    db = client.db
    keys = args[1:-1]
    for key in keys:
        z = db.get_typed_for_write(key, ZSet)
        if z is None:
            continue
        member, score = z.pop(last)
        _after_removal(db, key, z, b"zpopmax" if last else b"zpopmin")
        client.rewrite(b"ZPOPMAX" if last else b"ZPOPMIN", key)
        return [key, member, score]
    if client.deny_blocking:
        return NULL_ARRAY
    return block(client, keys, timeout, _SERVE_MAX if last else _SERVE_MIN, NULL_ARRAY)


@command("bzpopmin", -3, "write noscript fast", (1, -2, 1), "@sortedset @blocking",
         group="sorted_set", since="5.0.0")
def bzpopmin(client, args):
    return _bzpop(client, args, False)


@command("bzpopmax", -3, "write noscript fast", (1, -2, 1), "@sortedset @blocking",
         group="sorted_set", since="5.0.0")
def bzpopmax(client, args):
    return _bzpop(client, args, True)


# -- set algebra ----------------------------------------------------------------------

_UNION, _INTER, _DIFF = 0, 1, 2
_SUM, _MIN, _MAX = 0, 1, 2


def _atoi(b: bytes) -> int:
    """C's atoi: optional space and sign, then the leading digits (0 if none)."""
    m = _ATOI.match(b)
    return int(m.group(1) or b"0") if m else 0


_ATOI = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)?")


def _numkeys_keys(args: list, index: int) -> list:
    """The source keys after a numkeys argument, none when numkeys is out
    of range (Redis's getkeys functions read it with atoi)."""
    n = _atoi(args[index]) if len(args) > index else 0
    if n < 1 or n > len(args) - index - 1:
        return []
    return args[index + 1:index + 1 + n]


def _store_keys(args: list) -> list:
    # Sources first, then the destination, as Redis lists them.
    sources = _numkeys_keys(args, 2)
    return sources + [args[1]] if sources else []


def _plain_keys(args: list) -> list:
    return _numkeys_keys(args, 1)


def _source_scores(v) -> dict:
    """member -> score of a source: a sorted set's scores, a set's members
    at score 1.0, nothing for a missing key."""
    if v is None:
        return {}
    if type(v) is ZSet:
        return v.scores
    return dict.fromkeys(v, 1.0)


def zsetop(client, args, numkeys_index: int, op: int, dst: bytes | None):
    """ZUNION/ZINTER/ZDIFF and their STORE forms (zunionInterDiffGenericCommand).
    Returns the result as (member, score) pairs (in no particular order)
    and whether WITHSCORES was asked."""
    setnum = parse_int(args[numkeys_index])
    if setnum < 1:
        name = args[0].lower().decode("utf-8", "replace")
        raise CommandError(errors.zsetop_no_keys(name))
    n = len(args)
    if setnum > n - numkeys_index - 1:
        raise CommandError(errors.SYNTAX)
    db = client.db
    get = db.get_for_write if dst is not None else db.get
    sources = []
    j = numkeys_index + 1
    for _ in range(setnum):
        v = get(args[j])
        if v is not None and type(v) is not ZSet and not isinstance(v, (set, frozenset)):
            raise CommandError(errors.WRONGTYPE)
        sources.append(v)
        j += 1
    weights = [1.0] * setnum
    aggregate = _SUM
    withscores = False
    while j < n:
        remaining = n - j
        opt = args[j].lower()
        if op != _DIFF and remaining >= setnum + 1 and opt == b"weights":
            j += 1
            for k in range(setnum):
                w = parse_score(args[j])
                if w is None:
                    raise CommandError(errors.WEIGHT_NOT_FLOAT)
                weights[k] = w
                j += 1
        elif op != _DIFF and remaining >= 2 and opt == b"aggregate":
            agg = args[j + 1].lower()
            if agg == b"sum":
                aggregate = _SUM
            elif agg == b"min":
                aggregate = _MIN
            elif agg == b"max":
                aggregate = _MAX
            else:
                raise CommandError(errors.SYNTAX)
            j += 2
        elif dst is None and opt == b"withscores":
            withscores = True
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
    inputs = [(_source_scores(v), w) for v, w in zip(sources, weights)]
    if op == _DIFF:
        first = inputs[0][0]
        others = [s for s, _ in inputs[1:] if s]
        result = {m: s for m, s in first.items() if not any(m in o for o in others)}
        return result, withscores
    # Smallest inputs first, as Redis orders them (a stable sort, so equal
    # sizes keep their order); the order of additions decides float sums.
    inputs.sort(key=lambda p: len(p[0]))
    result = {}
    if op == _INTER:
        if inputs[0][0]:
            base, w0 = inputs[0]
            rest = inputs[1:]
            for m, s in base.items():
                score = w0 * s
                if score != score:
                    score = 0.0
                for other, w in rest:
                    v = other.get(m)
                    if v is None:
                        break
                    score = _aggregate(score, v * w, aggregate)
                else:
                    result[m] = score
    else:
        for scores, w in inputs:
            for m, s in scores.items():
                score = w * s
                if score != score:
                    score = 0.0
                cur = result.get(m)
                result[m] = score if cur is None else _aggregate(cur, score, aggregate)
    return result, withscores


def _aggregate(acc: float, v: float, how: int) -> float:
    if how == _SUM:
        acc = acc + v
        # inf + -inf is NaN; Redis makes it 0.
        return 0.0 if acc != acc else acc
    if how == _MIN:
        return v if v < acc else acc
    return v if v > acc else acc


_STORE_EVENTS = {_UNION: b"zunionstore", _INTER: b"zinterstore", _DIFF: b"zdiffstore"}


def _zsetop_store(client, args, op: int):
    result, _ = zsetop(client, args, 2, op, args[1])
    return store_result(client, args[1], list(result.items()), _STORE_EVENTS[op])


def _zsetop_reply(client, args, op: int):
    result, withscores = zsetop(client, args, 1, op, None)
    entries = sorted((s, m) for m, s in result.items())
    if withscores:
        return scored_reply(client, entries)
    return _members(entries)


@command("zunionstore", -4, "write denyoom movablekeys", (1, 1, 1), "@sortedset",
         group="sorted_set", since="2.0.0", keys_fn=_store_keys)
def zunionstore(client, args):
    return _zsetop_store(client, args, _UNION)


@command("zinterstore", -4, "write denyoom movablekeys", (1, 1, 1), "@sortedset",
         group="sorted_set", since="2.0.0", keys_fn=_store_keys)
def zinterstore(client, args):
    return _zsetop_store(client, args, _INTER)


@command("zdiffstore", -4, "write denyoom movablekeys", (1, 1, 1), "@sortedset",
         group="sorted_set", since="6.2.0", keys_fn=_store_keys)
def zdiffstore(client, args):
    return _zsetop_store(client, args, _DIFF)


@command("zunion", -3, "readonly movablekeys", (0, 0, 0), "@sortedset", group="sorted_set",
         since="6.2.0", keys_fn=_plain_keys)
def zunion(client, args):
    return _zsetop_reply(client, args, _UNION)


@command("zinter", -3, "readonly movablekeys", (0, 0, 0), "@sortedset", group="sorted_set",
         since="6.2.0", keys_fn=_plain_keys)
def zinter(client, args):
    return _zsetop_reply(client, args, _INTER)


@command("zdiff", -3, "readonly movablekeys", (0, 0, 0), "@sortedset", group="sorted_set",
         since="6.2.0", keys_fn=_plain_keys)
def zdiff(client, args):
    return _zsetop_reply(client, args, _DIFF)


# -- ZRANDMEMBER ZSCAN -----------------------------------------------------------------

_HALF_LONG = LLONG_MAX // 2


@command("zrandmember", -2, "readonly random", (1, 1, 1), "@sortedset", group="sorted_set",
         since="6.2.0")
def zrandmember(client, args):
    n = len(args)
    if n == 2:
        z = client.db.get_typed(args[1], ZSet)
        if z is None:
            return None
        return z.order[random.randrange(len(z.order))][8:]
    count = parse_int(args[2])
    if count < -LLONG_MAX:
        raise CommandError(errors.out_of_range(-LLONG_MAX, LLONG_MAX))
    withscores = False
    if n > 4 or (n == 4 and args[3].lower() != b"withscores"):
        raise CommandError(errors.SYNTAX)
    if n == 4:
        withscores = True
        if count < -_HALF_LONG or count > _HALF_LONG:
            raise CommandError(errors.VALUE_OUT_OF_RANGE)
    z = client.db.get_typed(args[1], ZSet)
    if z is None or count == 0:
        return _EMPTY
    order = z.order
    size = len(order)
    if count < 0:
        picked = [z.at(random.randrange(size)) for _ in range(-count)]
    elif count >= size:
        # The whole set, walked from the highest score down as Redis's
        # zset iterator goes.
        picked = z.slice(0, size)
        picked.reverse()
    else:
        picked = [z.at(i) for i in random.sample(range(size), count)]
    if withscores:
        return scored_reply(client, picked)
    return _members(picked)


@command("zscan", -3, "readonly random", (1, 1, 1), "@sortedset", group="sorted_set",
         since="2.8.0")
def zscan(client, args):
    from .keys import parse_scan_cursor, scan_options
    cursor = parse_scan_cursor(args[2])
    key = args[1]
    z = client.db.get_typed(key, ZSet)
    if z is None:
        return [b"0", []]
    count, pattern, _ = scan_options(args, 3, False)
    scores = z.scores
    if not z.big:
        # A ziplist is answered whole, in order, whatever the cursor and COUNT.
        nxt, members = 0, z.members()
    else:
        nxt, members = cursors(client.core).scan((client.db, key), cursor, count,
                                                 lambda: list(scores), scores.__contains__)
    if pattern is not None:
        match = compile_pattern(pattern)
        members = [m for m in members if match(m)]
    out = []
    for m in members:
        out.append(m)
        out.append(format_score(scores[m]))
    return [b"%d" % nxt, out]


# -- OBJECT ENCODING and DEBUG DIGEST ----------------------------------------------

ZSET_TYPE_ID = (3).to_bytes(4, "big")  # OBJ_ZSET, as DEBUG DIGEST mixes it


def digest_zset(digest: bytes, z: ZSet) -> bytes:
    """Mix a sorted set into a key's running digest as Redis 6.2's
    xorObjectDigest does for OBJ_ZSET (after the type id): each member is
    digested with its %.17g score and the SHA1s of those are xored in."""
    return (int.from_bytes(digest, "big")
            ^ int.from_bytes(_zset_digest(z), "big")).to_bytes(20, "big")
