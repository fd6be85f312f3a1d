"""Generic keyspace commands: DEL/UNLINK/EXISTS/TOUCH/TYPE, expiry
(EXPIRE family, TTL/PTTL, PERSIST), KEYS and SCAN, RANDOMKEY, RENAME/
RENAMENX, MOVE, and OBJECT.

Also home of two helpers other groups reuse: :func:`scan_options` (the
MATCH/COUNT/TYPE parser of the SCAN family) and :func:`object_encoding`
(what OBJECT ENCODING reports; type modules plug in with
:func:`register_encoding` or an ``encoding`` attribute on their class).
"""

from __future__ import annotations

import random
from itertools import islice

from .. import errors
from ..db import now_ms, type_name
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, notify
from ..protocol import OK, ONE, ZERO, Simple
from ..types.glob import compile_pattern, is_literal
from ..types.scan import cursors, parse_cursor
from .args import LLONG_MAX, to_int
from .table import command

# EXPIRE's seconds must survive the conversion to ms (C's LLONG_MIN/1000
# truncates toward zero, hence the symmetric bounds).
_SEC_LIMIT = LLONG_MAX // 1000
_INT_MIN, _INT_MAX = -(2 ** 31), 2 ** 31 - 1


def _no_own_effect(client) -> None:
    """This call changed nothing itself; a lazy expiry during its lookups
    already sent its own DEL, so the argv must not be replayed."""
    client.effects = []


# -- DEL UNLINK EXISTS TOUCH TYPE -----------------------------------------


@command("del", -2, "write", (1, -1, 1), "@keyspace", since="1.0.0")
def del_(client, args):
    db = client.db
    delete = db.delete
    n = 0
    for key in args[1:]:
        if delete(key):
            n += 1
            notify(db, NOTIFY_GENERIC, b"del", key)
    return n


@command("unlink", -2, "write fast", (1, -1, 1), "@keyspace", since="4.0.0")
def unlink(client, args):
    return del_(client, args)


@command("exists", -2, "readonly fast", (1, -1, 1), "@keyspace", since="1.0.0")
def exists(client, args):
    get = client.db.get
    n = 0
    for key in args[1:]:  # duplicates count once each, as in Redis
        if get(key) is not None:
            n += 1
    return n


@command("touch", -2, "readonly fast", (1, -1, 1), "@keyspace", since="3.2.1")
def touch(client, args):
    # No per-key access clock is kept, so TOUCH only counts live keys.
    return exists(client, args)


_TYPE_REPLIES: dict = {}


@command("type", 2, "readonly fast", (1, 1, 1), "@keyspace", since="1.0.0")
def type_(client, args):
    v = client.db.get(args[1])
    name = "none" if v is None else type_name(v)
    r = _TYPE_REPLIES.get(name)
    if r is None:
        r = _TYPE_REPLIES[name] = Simple(name.encode())
    return r


# -- expiry ---------------------------------------------------------------


def _expire(client, args, relative: bool, unit_ms: int):
    """EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (Redis's expireGenericCommand)."""
    when = to_int(args[2])
    if when is None:
        raise CommandError(errors.NOT_INTEGER)
    name = args[0].lower().decode("ascii", "replace")
    if unit_ms == 1000:
        if when > _SEC_LIMIT or when < -_SEC_LIMIT:
            raise CommandError(errors.invalid_expire(name))
        when *= 1000
    if relative:
        base = now_ms()
        if when > LLONG_MAX - base:
            raise CommandError(errors.invalid_expire(name))
        when += base
    db = client.db
    key = args[1]
    if db.get_for_write(key) is None:
        _no_own_effect(client)
        return ZERO
    if when <= now_ms():
        db.delete(key)
        client.rewrite(b"DEL", key)
        notify(db, NOTIFY_GENERIC, b"del", key)
    else:
        db.set_expire(key, when)
        client.rewrite(b"PEXPIREAT", key, b"%d" % when)
        notify(db, NOTIFY_GENERIC, b"expire", key)
    return ONE


@command("expire", 3, "write fast", (1, 1, 1), "@keyspace", since="1.0.0")
def expire(client, args):
    return _expire(client, args, True, 1000)


@command("pexpire", 3, "write fast", (1, 1, 1), "@keyspace", since="2.6.0")
def pexpire(client, args):
    return _expire(client, args, True, 1)


@command("expireat", 3, "write fast", (1, 1, 1), "@keyspace", since="1.2.0")
def expireat(client, args):
    return _expire(client, args, False, 1000)


@command("pexpireat", 3, "write fast", (1, 1, 1), "@keyspace", since="2.6.0")
def pexpireat(client, args):
    return _expire(client, args, False, 1)


def _ttl(client, key, ms: bool) -> int:
    db = client.db
    if db.get(key) is None:
        return -2
    when = db.expires.get(key)
    if when is None:
        return -1
    left = when - now_ms()
    if left < 0:
        left = 0
    return left if ms else (left + 500) // 1000


@command("ttl", 2, "readonly random fast", (1, 1, 1), "@keyspace", since="1.0.0")
def ttl(client, args):
    return _ttl(client, args[1], False)


@command("pttl", 2, "readonly random fast", (1, 1, 1), "@keyspace", since="2.6.0")
def pttl(client, args):
    return _ttl(client, args[1], True)


@command("persist", 2, "write fast", (1, 1, 1), "@keyspace", since="2.2.0")
def persist(client, args):
    db = client.db
    key = args[1]
    if db.get_for_write(key) is None or not db.persist(key):
        _no_own_effect(client)
        return ZERO
    notify(db, NOTIFY_GENERIC, b"persist", key)
    return ONE


# -- KEYS SCAN RANDOMKEY --------------------------------------------------


def _live_keys(db, keys):
    """``keys`` without the logically expired ones (not deleted: KEYS only
    reads, like Redis's keyIsExpired check)."""
    expires = db.expires
    if not expires:
        return keys if type(keys) is list else list(keys)
    now = now_ms()
    get = expires.get
    out = []
    for k in keys:
        when = get(k)
        if when is None or when > now:
            out.append(k)
    return out


@command("keys", 2, "readonly sort_for_script", categories="@keyspace @dangerous",
         since="1.0.0")
def keys(client, args):
    db = client.db
    pattern = args[1]
    data = db.data
    if pattern == b"*":
        return _live_keys(db, data)
    if is_literal(pattern):
        return _live_keys(db, [pattern] if pattern in data else [])
    match = compile_pattern(pattern)
    return _live_keys(db, [k for k in data if match(k)])


def scan_options(args: list, i: int, allow_type: bool):
    """Parse the SCAN family's options from ``args[i:]``: returns
    (count, pattern or None for "match everything", type name or None)."""
    count = 10
    pattern = None
    typename = None
    n = len(args)
    while i < n:
        opt = args[i].lower()
        if i + 1 >= n:
            raise CommandError(errors.SYNTAX)
        if opt == b"count":
            count = to_int(args[i + 1])
            if count is None:
                raise CommandError(errors.NOT_INTEGER)
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif opt == b"match":
            pattern = args[i + 1]
        elif opt == b"type" and allow_type:
            typename = args[i + 1]
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    if pattern == b"*":
        pattern = None
    return count, pattern, typename


def parse_scan_cursor(raw: bytes) -> int:
    cursor = parse_cursor(raw)
    if cursor is None:
        raise CommandError(errors.INVALID_CURSOR)
    return cursor


@command("scan", -2, "readonly random", categories="@keyspace", since="2.8.0")
def scan(client, args):
    cursor = parse_scan_cursor(args[1])
    count, pattern, typename = scan_options(args, 2, True)
    db = client.db
    data = db.data
    nxt, found = cursors(client.core).scan(db, cursor, count, lambda: list(data),
                                           data.__contains__)
    if pattern is not None:
        match = compile_pattern(pattern)
        found = [k for k in found if match(k)]
    out = []
    if typename is None:
        exists = db.exists
        for k in found:
            if exists(k):  # expires the key if it is due, as Redis's SCAN does
                out.append(k)
    else:
        wanted = typename.lower()
        get = db.get
        for k in found:
            v = get(k)
            if v is not None and type_name(v).encode() == wanted:
                out.append(k)
    return [b"%d" % nxt, out]


# Random probes RANDOMKEY makes before it lists the live keys instead.
_RANDOM_PROBES = 16


@command("randomkey", 1, "readonly random", categories="@keyspace", since="1.0.0")
def randomkey(client, args):
    # A dict has no O(1) random access: each probe walks the key order up to
    # a random position (O(n) in C, about 5 ms per million keys). Like
    # Redis, a probe that lands on an expired key deletes it and tries
    # again; after a few such hits one O(n) pass picks among the live keys,
    # so a keyspace full of expired keys costs O(n), not O(n) per key.
    db = client.db
    for _ in range(_RANDOM_PROBES):
        data = db.data
        if not data:
            return None
        key = next(islice(data, random.randrange(len(data)), None))
        if db.exists(key):
            return key
    now = now_ms()
    expires = db.expires
    live = []
    dead = []
    for k in db.data:
        when = expires.get(k)
        (live if when is None or when > now else dead).append(k)
    if live:
        return random.choice(live)
    for k in dead:  # all expired: Redis would have deleted each one it drew
        db.exists(k)
    return None


# -- RENAME RENAMENX MOVE -------------------------------------------------


def _rename(client, args, nx: bool):
    db = client.db
    src, dst = args[1], args[2]
    value = db.get_for_write(src)
    if value is None:
        _no_own_effect(client)
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return ZERO if nx else OK
    when = db.expires.get(src)
    if nx and db.get_for_write(dst) is not None:
        return ZERO
    db.set(dst, value)
    if when is not None:
        db.set_expire(dst, when)
    db.delete(src)
    notify(db, NOTIFY_GENERIC, b"rename_from", src)
    notify(db, NOTIFY_GENERIC, b"rename_to", dst)
    return ONE if nx else OK


@command("rename", 3, "write", (1, 2, 1), "@keyspace", since="1.0.0")
def rename(client, args):
    return _rename(client, args, False)


@command("renamenx", 3, "write fast", (1, 2, 1), "@keyspace", since="1.0.0")
def renamenx(client, args):
    return _rename(client, args, True)


@command("move", 3, "write fast", (1, 1, 1), "@keyspace", since="1.0.0")
def move(client, args):
    index = to_int(args[2])
    if index is None:
        raise CommandError(errors.NOT_INTEGER)
    if not _INT_MIN <= index <= _INT_MAX:
        raise CommandError(errors.out_of_range(_INT_MIN, _INT_MAX))
    dbs = client.core.ks.dbs
    if not 0 <= index < len(dbs):
        raise CommandError(errors.DB_OUT_OF_RANGE)
    src = client.db
    dst = dbs[index]
    if dst is src:
        raise CommandError(errors.SAME_OBJECT)
    key = args[1]
    value = src.get_for_write(key)
    if value is None:
        _no_own_effect(client)
        return ZERO
    if dst.get_for_write(key) is not None:
        return ZERO
    when = src.expires.get(key)
    dst.set(key, value)
    if when is not None:
        dst.set_expire(key, when)
    src.delete(key)
    notify(src, NOTIFY_GENERIC, b"move_from", key)
    notify(dst, NOTIFY_GENERIC, b"move_to", key)
    return ONE


# -- OBJECT ---------------------------------------------------------------

# type -> function(value) -> encoding name, for value types that cannot
# carry an ``encoding`` attribute themselves (dict, set, deque).
_ENCODINGS: dict = {}


def register_encoding(pytype: type, fn) -> None:
    """Let OBJECT ENCODING describe values of ``pytype`` with ``fn(value)``."""
    _ENCODINGS[pytype] = fn


def _string_encoding(value: bytes) -> str:
    # Redis's tryObjectEncoding: a canonical integer that fits a long is
    # "int", a short string "embstr", else "raw".
    if len(value) <= 20 and to_int(value) is not None:
        return "int"
    return "embstr" if len(value) <= 44 else "raw"


def object_encoding(value) -> str:
    """What OBJECT ENCODING reports for a stored value."""
    t = type(value)
    if t is bytes:
        return _string_encoding(value)
    if t is bytearray:
        # Edited in place (APPEND, SETRANGE, SETBIT): Redis's sds is "raw" then.
        return "raw"
    fn = _ENCODINGS.get(t)
    if fn is not None:
        return fn(value)
    enc = getattr(value, "encoding", None)
    if callable(enc):
        enc = enc()
    if isinstance(enc, bytes):
        enc = enc.decode()
    return enc or "unknown"


# Redis's shared integers 0..9999 report this refcount (OBJ_SHARED_REFCOUNT).
_SHARED_REFCOUNT = 2 ** 31 - 1
_NO_SHARED_INTEGER_POLICIES = ("volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu")


def _refcount(client, value) -> int:
    if type(value) is bytes and len(value) <= 4:
        n = to_int(value)
        if n is not None and 0 <= n < 10000:
            config = client.core.config
            if (not config.maxmemory
                    or config.maxmemory_policy not in _NO_SHARED_INTEGER_POLICIES):
                return _SHARED_REFCOUNT
    return 1


_OBJECT_HELP = [Simple(line.encode()) for line in (
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
)]


@command("object", -2, "readonly random", (2, 2, 1), "@keyspace", since="2.2.3")
def object_(client, args):
    sub = args[1].lower()
    if len(args) == 2 and sub == b"help":
        return _OBJECT_HELP
    if len(args) == 3 and sub in (b"encoding", b"refcount", b"freq", b"idletime"):
        value = client.db.get(args[2])
        if value is None:
            return None
        if sub == b"encoding":
            return object_encoding(value).encode()
        if sub == b"refcount":
            return _refcount(client, value)
        # Access clocks are eviction.py's, kept under an LRU or LFU policy.
        memory = client.core.memory
        if sub == b"idletime":
            idle = memory.idle_seconds(client.db, args[2])
            if idle is not None:
                return idle
            if client.core.config.maxmemory_policy.endswith("-lfu"):
                raise CommandError(errors.LRU_NOT_SELECTED)
            raise CommandError(errors.IDLETIME_NOT_TRACKED)
        freq = memory.frequency(client.db, args[2])
        if freq is None:
            raise CommandError(errors.LFU_NOT_SELECTED)
        return freq
    raise CommandError(errors.unknown_subcommand(
        args[1].decode("utf-8", "replace"), args[0].decode("utf-8", "replace")))
