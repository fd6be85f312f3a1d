"""Set commands: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS,
SRANDMEMBER, SPOP, SMOVE, SINTER/SUNION/SDIFF and their STORE forms, SSCAN.

Values are :class:`pyredis.types.setobj.Set` (encoding flag and O(1)
random draws live there). Replies follow Redis 6.2: SMEMBERS, SINTER,
SUNION, SDIFF and SPOP with a count are RESP3 sets; SRANDMEMBER with a
count and SSCAN are arrays. Where Redis's order is defined (a set that is,
or would be built as, an intset lists its members numerically) the reply
keeps it; elsewhere Redis answers in hash-table order and so do we, in
ours.
"""

from __future__ import annotations

from .. import errors
from ..errors import WRONGTYPE, CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_SET, notify
from ..protocol import ONE, ZERO, Raw
from ..types import digest as _digest
from ..types.glob import compile_pattern
from ..types.scan import cursors
from ..types.setobj import Set, all_integers, intset_order, member_digest
from .args import LLONG_MAX, to_int
from .keys import parse_scan_cursor, scan_options
from .table import command

# SPOP with a count: when the members left would be fewer than count/5,
# Redis builds a new set of those instead of popping one by one, and the
# new set gets its encoding afresh (t_set.c, SPOP_MOVE_STRATEGY_MUL).
_SPOP_MOVE_STRATEGY_MUL = 5
# Effects of SPOP with a count: SREM of the popped members, this many a line.
_SREM_BATCH = 1024

_EMPTY = frozenset()


def _set_for_write(db, key):
    """The set at ``key`` for a change, None if there is none."""
    s = db.get_for_write(key)
    if s is None or type(s) is Set:
        return s
    if isinstance(s, set):  # a plain set stored by other code: adopt it
        s = Set(s)
        db.set(key, s, keep_ttl=True)
        return s
    raise CommandError(WRONGTYPE)


def _after_removal(db, key, s, event: bytes) -> None:
    """Members left ``s``: send ``event``, then drop the key if it emptied
    (with a ``del`` event), as Redis does."""
    notify(db, NOTIFY_SET, event, key)
    if s:
        db.modified(key)
    else:
        db.delete(key)
        notify(db, NOTIFY_GENERIC, b"del", key)


def _max_intset(client) -> int:
    return client.core.config.set_max_intset_entries


def _set_reply(client, members: list) -> Raw:
    """A RESP3 set (RESP2 array) of ``members`` in the given order (the
    encoder's set reply has none, and this is faster for long replies)."""
    head = b"~%d\r\n" if client.resp == 3 else b"*%d\r\n"
    return Raw(head % len(members)
               + b"".join([b"$%d\r\n%b\r\n" % (len(m), m) for m in members]))


def _listed(members, intset: bool) -> list:
    """Members in Redis's reply order: numeric for an intset (or a result
    Redis would build as one), else hash order, here any order."""
    return intset_order(members) if intset else list(members)


def _members_reply(client, s):
    """A set reply listing a stored set."""
    return _set_reply(client, _listed(s, type(s) is Set and s.intset))


def _intsetable(members, max_intset: int) -> bool:
    return len(members) <= max_intset and all_integers(members)


# -- SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS ---------------------------


@command("sadd", -3, "write denyoom fast", (1, 1, 1), "@set", group="set", since="1.0.0")
def sadd(client, args):
    db = client.db
    key = args[1]
    s = db.get_for_write(key) if key in db.expires else db.data.get(key)
    if s.__class__ is Set and len(args) == 3 and not s.intset and s._pool is None:
        # The common SADD: one member into a hash-table set that was never
        # sampled, so there is no encoding to decide and no pool to keep
        # (see types/setobj.py). One hash lookup: the size tells whether
        # the member was new.
        n = len(s)
        s.add(args[2])
        if len(s) == n:
            return 0
        db.modified(key)
        if db.ks.notify_flags:
            notify(db, NOTIFY_SET, b"sadd", key)
        return 1
    if s is None:
        s = Set(args[2:], client.core.config.set_max_intset_entries)
        db.set(key, s)
        notify(db, NOTIFY_SET, b"sadd", key)
        return len(s)
    if type(s) is not Set:
        s = _set_for_write(db, key)
    added = s.add_members(args[2:], client.core.config.set_max_intset_entries)
    if added:
        db.modified(key)
        if db.ks.notify_flags:
            notify(db, NOTIFY_SET, b"sadd", key)
    return added


@command("srem", -3, "write fast", (1, 1, 1), "@set", group="set", since="1.0.0")
def srem(client, args):
    db = client.db
    key = args[1]
    s = _set_for_write(db, key)
    if s is None:
        client.effects = []  # nothing changed (a lazy expiry sent its own DEL)
        return 0
    removed = s.remove_members(args[2:])
    if removed:
        _after_removal(db, key, s, b"srem")
    else:
        client.effects = []
    return removed


@command("scard", 2, "readonly fast", (1, 1, 1), "@set", group="set", since="1.0.0")
def scard(client, args):
    s = client.db.get_typed(args[1], set)
    return 0 if s is None else len(s)


@command("sismember", 3, "readonly fast", (1, 1, 1), "@set", group="set", since="1.0.0")
def sismember(client, args):
    s = client.db.get_typed(args[1], set)
    return ONE if s is not None and args[2] in s else ZERO


@command("smismember", -3, "readonly fast", (1, 1, 1), "@set", group="set", since="6.2.0")
def smismember(client, args):
    s = client.db.get_typed(args[1], set) or _EMPTY
    return [1 if m in s else 0 for m in args[2:]]


@command("smembers", 2, "readonly sort_for_script", (1, 1, 1), "@set", group="set",
         since="1.0.0")
def smembers(client, args):
    s = client.db.get_typed(args[1], set)
    if s is None:
        return _EMPTY
    return _members_reply(client, s)


# -- SRANDMEMBER SPOP SMOVE ---------------------------------------------------


@command("srandmember", -2, "readonly random", (1, 1, 1), "@set", group="set", since="1.0.0")
def srandmember(client, args):
    if len(args) > 3:
        raise CommandError(errors.SYNTAX)
    if len(args) == 2:
        s = client.db.get_typed(args[1], set)
        if not s:
            return None
        return _sampler(client, s).random_member()
    count = to_int(args[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count < -LLONG_MAX:
        raise CommandError(errors.out_of_range(-LLONG_MAX, LLONG_MAX))
    s = client.db.get_typed(args[1], set)
    if not s or count == 0:
        return []
    if count < 0:
        return _sampler(client, s).random_repeated(-count)
    if count >= len(s):
        return _listed(s, type(s) is Set and s.intset)
    return _sampler(client, s).random_distinct(count)


def _sampler(client, s) -> Set:
    """``s`` as a :class:`Set` (a plain set from other code is copied)."""
    return s if type(s) is Set else Set(s, _max_intset(client))


@command("spop", -2, "write random fast", (1, 1, 1), "@set", group="set", since="1.0.0")
def spop(client, args):
    if len(args) > 3:
        raise CommandError(errors.SYNTAX)
    db = client.db
    key = args[1]
    if len(args) == 3:
        return _spop_count(client, db, key, args[2])
    s = _set_for_write(db, key)
    if s is None:
        client.effects = []
        return None
    m = s.pop_random()
    _after_removal(db, key, s, b"spop")
    client.rewrite(b"SREM", key, m)
    return m


def _spop_count(client, db, key, raw_count):
    count = to_int(raw_count)
    if count is None or count < 0:
        raise CommandError(errors.MUST_BE_POSITIVE)
    s = _set_for_write(db, key)
    if s is None or count == 0:
        client.effects = []
        return _EMPTY
    size = len(s)
    if count >= size:
        # Redis answers with SUNION's reply: numeric whenever the members
        # would make an intset, whatever this set's encoding.
        members = _listed(s, s.intset or _intsetable(s, _max_intset(client)))
        s.clear()
    else:
        remaining = size - count
        if remaining * _SPOP_MOVE_STRATEGY_MUL > count:
            pop = s.pop_random
            members = [pop() for _ in range(count)]
        else:
            # Keep a random few in a set built afresh; pop the rest (in
            # the old set's order: numeric if it was an intset).
            keep = s.random_distinct(remaining)
            members = _listed(s.difference(keep), s.intset)
            s.replace(keep, _max_intset(client))
    _after_removal(db, key, s, b"spop")
    client.effects = [[b"SREM", key, *members[i:i + _SREM_BATCH]]
                      for i in range(0, len(members), _SREM_BATCH)]
    return _set_reply(client, members)


@command("smove", 4, "write fast", (1, 2, 1), "@set", group="set", since="1.0.0")
def smove(client, args):
    db = client.db
    src_key, dst_key, member = args[1], args[2], args[3]
    src = _set_for_write(db, src_key)
    dst = db.get_for_write(dst_key)
    if src is None:
        client.effects = []
        return ZERO
    if dst is not None and type(dst) is not Set:
        dst = _set_for_write(db, dst_key)
    if src is dst:
        client.effects = []
        return ONE if member in src else ZERO
    if not src.remove_members((member,)):
        client.effects = []
        return ZERO
    _after_removal(db, src_key, src, b"srem")
    max_intset = _max_intset(client)
    if dst is None:
        db.set(dst_key, Set((member,), max_intset))
        added = True
    else:
        added = dst.add_members((member,), max_intset)
        db.modified(dst_key)
    if added:
        notify(db, NOTIFY_SET, b"sadd", dst_key)
    return ONE


# -- SINTER SUNION SDIFF and the STORE forms -----------------------------------


def _sources(client, keys, for_write: bool) -> list:
    """The sets at ``keys`` (None for a missing key), type-checked all
    before any work, as Redis 6.2 does."""
    db = client.db
    get = db.get_for_write if for_write else db.get
    out = []
    for key in keys:
        v = get(key)
        if v is not None and not isinstance(v, set):
            raise CommandError(WRONGTYPE)
        out.append(v)
    return out


def _store(client, dst, result: set, intset: bool, event: bytes) -> int:
    """Store a computed set at ``dst``, or delete ``dst`` if it is empty."""
    db = client.db
    if result:
        db.set(dst, Set.with_encoding(result, intset))
        notify(db, NOTIFY_SET, event, dst)
    else:
        _delete(db, dst)
    return len(result)


def _delete(db, key) -> None:
    if db.delete(key):
        notify(db, NOTIFY_GENERIC, b"del", key)


def _inter(client, keys, dst=None):
    sets = _sources(client, keys, dst is not None)
    if None in sets:
        if dst is not None:
            _delete(client.db, dst)
            return 0
        return _EMPTY
    # Redis walks the smallest set and keeps its order (numeric for an intset).
    sets.sort(key=len)
    first = sets[0]
    result = first.intersection(*sets[1:])
    if dst is None:
        return _set_reply(client, _listed(result, type(first) is Set and first.intset))
    return _store(client, dst, result, _intsetable(result, _max_intset(client)),
                  b"sinterstore")


def _union(client, keys, dst=None):
    sets = [s for s in _sources(client, keys, dst is not None) if s is not None]
    result = set().union(*sets)
    intset = _intsetable(result, _max_intset(client))
    if dst is None:
        return _set_reply(client, _listed(result, intset))
    return _store(client, dst, result, intset, b"sunionstore")


def _diff(client, keys, dst=None):
    sets = _sources(client, keys, dst is not None)
    first = sets[0]
    max_intset = _max_intset(client)
    if first is None:
        result = set()
        intset = True
    else:
        others = [s for s in sets[1:] if s is not None]
        result = first.difference(*others)
        # Redis picks one of two algorithms by estimated work; the second
        # copies the whole first set before removing, so the result's
        # encoding follows the first set rather than the result.
        algo_one = len(first) * (1 + len(others)) // 2
        algo_two = len(first) + sum(map(len, others))
        if algo_one <= algo_two:
            intset = _intsetable(result, max_intset)
        else:
            intset = _intsetable(first, max_intset)
    if dst is None:
        return _set_reply(client, _listed(result, intset))
    return _store(client, dst, result, intset, b"sdiffstore")


@command("sinter", -2, "readonly sort_for_script", (1, -1, 1), "@set", group="set",
         since="1.0.0")
def sinter(client, args):
    return _inter(client, args[1:])


@command("sinterstore", -3, "write denyoom", (1, -1, 1), "@set", group="set", since="1.0.0")
def sinterstore(client, args):
    return _inter(client, args[2:], args[1])


@command("sunion", -2, "readonly sort_for_script", (1, -1, 1), "@set", group="set",
         since="1.0.0")
def sunion(client, args):
    return _union(client, args[1:])


@command("sunionstore", -3, "write denyoom", (1, -1, 1), "@set", group="set", since="1.0.0")
def sunionstore(client, args):
    return _union(client, args[2:], args[1])


@command("sdiff", -2, "readonly sort_for_script", (1, -1, 1), "@set", group="set",
         since="1.0.0")
def sdiff(client, args):
    return _diff(client, args[1:])


@command("sdiffstore", -3, "write denyoom", (1, -1, 1), "@set", group="set", since="1.0.0")
def sdiffstore(client, args):
    return _diff(client, args[2:], args[1])


# -- SSCAN -------------------------------------------------------------------


@command("sscan", -3, "readonly random", (1, 1, 1), "@set", group="set", since="2.8.0")
def sscan(client, args):
    cursor = parse_scan_cursor(args[2])
    s = client.db.get_typed(args[1], set)
    if s is None:
        return [b"0", []]
    count, pattern, _ = scan_options(args, 3, False)
    if type(s) is Set and s.intset:
        # Redis returns a small encoding whole, whatever the cursor.
        nxt, found = 0, intset_order(s)
    else:
        nxt, found = cursors(client.core).scan(s, cursor, count, lambda: list(s),
                                               s.__contains__)
    if pattern is not None:
        match = compile_pattern(pattern)
        found = [m for m in found if match(m)]
    return [b"%d" % nxt, found]


def digest_set(digest: bytes, s) -> bytes:
    """Mix a set into a key's running digest as Redis 6.2's
    xorObjectDigest does for OBJ_SET (after the type id): the SHA1 of each
    member is xored in, so neither order nor encoding matters."""
    return (int.from_bytes(digest, "big") ^ member_digest(s)).to_bytes(20, "big")


_digest.register(Set, 2, digest_set)
